/*
 * client.h -- the inside of a portq_client_t, shared by libportq.c (the
 * handle and its queries) and servent.c (the libc-style lookups).
 */
#ifndef PORTQ_CLIENT_CLIENT_H
#define PORTQ_CLIENT_CLIENT_H

#include <sys/types.h>

#include "conf.h"
#include "msg.h"
#include "portq.h"
#include "resolve.h"
#include "transport.h"

#define CLIENT_MAX_ADDRS  16    /* addresses of every server, resolved */
#define CLIENT_ERROR_MAX  512
/* "HOST:PORT,..." of every configured server: the cache's scope. */
#define CLIENT_SCOPE_MAX  (CONF_MAX_SERVERS * (CONF_HOST_MAX + 9))

/* Queries one UDP socket of a handle carries before it is replaced: the
 * source port keeps changing, so an off-path forger must guess it with
 * the ID. The default client uses a socket per query (default.h). */
#define CLIENT_UDP_USES_MAX 100

struct portq_client {
	conf_t conf;                /* servers, timeout, attempts after overrides */
	int tcp;
	int cache_ttl;              /* seconds; 0: no cache */
	char scope[CLIENT_SCOPE_MAX];
	int resolved;               /* addrs[] holds every server's addresses */
	long long resolved_ms;      /* when (CLOCK_MONOTONIC_COARSE, ms) */
	int resolve_max_age_ms;     /* host names are looked up again after
	                               this long; 0: never (numeric addresses
	                               never are) */
	int has_names;              /* some server is a host name */
	resolve_addr_t addrs[CLIENT_MAX_ADDRS];
	size_t n_addrs;
	int udp_fd;                 /* kept UDP socket, connected to
	                               addrs[udp_addr]; -1: none */
	size_t udp_addr;
	unsigned udp_uses;          /* queries it carried */
	unsigned udp_uses_max;      /* then it is replaced; 1: closed after
	                               each query, nothing kept */
	unsigned udp_forks;         /* fork_generation() when it was opened */
	dev_t udp_dev;              /* what it is (fstat), so that a descriptor */
	ino_t udp_ino;              /* the program closed and reused is left alone */
	char resolve_error[CLIENT_ERROR_MAX];
	char error[CLIENT_ERROR_MAX];
	uint8_t buf[TRANSPORT_BUF_MAX];   /* one answer at a time; last, and
	                                     not cleared by client_init() */
};

/* Fill in what conf leaves unset: 127.0.0.1:5380, portq.h's timeout and
 * attempts. */
void client_conf_finish(conf_t *conf);

/* The cache's scope of a finished conf: "HOST:PORT,..." into out[0..cap). */
void client_scope_make(const conf_t *conf, char *out, size_t cap);

/*
 * The TTL to use: `opt` (a handle's cache_ttl option; 0 for none), else
 * the process setting (portq_cache_set_ttl), else `file` (the file's
 * cache-ttl, -1 if unset), else PORTQ_CLIENT_CACHE_TTL. 0: no cache.
 */
int client_ttl(int opt, int file);

/*
 * Set up c (allocated by the caller, portq_client_t's size) from a parsed
 * configuration: `conf` as read from the file and the environment, before
 * client_conf_finish(). `cache_ttl` is the TTL to use, in seconds.
 */
void client_init(portq_client_t *c, const conf_t *conf, int tcp, int cache_ttl);

/* Close what c holds open (its kept UDP socket); c stays usable. */
void client_close(portq_client_t *c);

/*
 * Answer one question from the cache or the servers (see client_ask() in
 * libportq.c): PORTQ_OK with *out, or an error with c->error set.
 */
int client_ask(portq_client_t *c, portq_question_t *q, uint8_t opcode,
               portq_result_t **out);

/*
 * Append "; text" to dst[0..cap) unless dst says it already: each
 * server's failure once, however many attempts repeated it.
 */
void client_error_add(char *dst, size_t cap, const char *text);

/* The protocol code for "tcp", "udp", ..., NULL or "any" (0); -1 if unknown. */
int client_proto_parse(const char *proto);

#endif /* PORTQ_CLIENT_CLIENT_H */
