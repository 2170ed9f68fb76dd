/*
 * client.h -- the inside of a portq_client_t, shared by libportq.c (the
 * handle and its queries) and servent.c (the libc-style lookups).
 */
#ifndef PORTQ_CLIENT_CLIENT_H
#define PORTQ_CLIENT_CLIENT_H

#include "conf.h"
#include "portq.h"
#include "resolve.h"
#include "transport.h"

#define CLIENT_MAX_ADDRS  16    /* addresses of every server, resolved */
#define CLIENT_ERROR_MAX  512
/* "HOST:PORT,..." of every configured server: the cache's scope. */
#define CLIENT_SCOPE_MAX  (CONF_MAX_SERVERS * (CONF_HOST_MAX + 9))

struct portq_client {
	conf_t conf;                /* servers, timeout, attempts after overrides */
	int tcp;
	int cache_ttl;              /* seconds; 0: no cache */
	char scope[CLIENT_SCOPE_MAX];
	int resolved;               /* addrs[] holds every server's addresses */
	resolve_addr_t addrs[CLIENT_MAX_ADDRS];
	size_t n_addrs;
	char resolve_error[CLIENT_ERROR_MAX];
	char error[CLIENT_ERROR_MAX];
	uint8_t buf[TRANSPORT_BUF_MAX];   /* one answer at a time; last, and
	                                     not cleared by portq_client_new() */
};

/*
 * Append "; text" to dst[0..cap) unless dst says it already: each
 * server's failure once, however many attempts repeated it.
 */
void client_error_add(char *dst, size_t cap, const char *text);

/* The protocol code for "tcp", "udp", ..., NULL or "any" (0); -1 if unknown. */
int client_proto_parse(const char *proto);

#endif /* PORTQ_CLIENT_CLIENT_H */
