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
	int resolve_failed;         /* the last resolution's error, PORTQ_OK: */
	long long resolve_failed_ms;   /* none; when (not tried again for a
	                                  while: client_resolve()) */
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
 * `budget_ms` > 0 bounds the whole wait (resolving host names included)
 * however many servers and attempts there are; 0: timeout x attempts x
 * addresses. Addresses held down (health.h) are not asked; when none is
 * left, PORTQ_ETIMEDOUT at once.
 */
int client_ask(portq_client_t *c, portq_question_t *q, uint8_t opcode, int budget_ms,
               portq_result_t **out);

/*
 * Which of c's addresses a query asks: ask[i] = 1 for those not held down
 * after a timeout (health.h), including the one probe of an address whose
 * hold ended; the others are named in err[0..errlen), in case no address
 * answers. Returns how many are asked; 0: fail at once, PORTQ_ETIMEDOUT.
 * Used by the blocking and the libuv query alike.
 */
size_t client_addrs_choose(const portq_client_t *c, unsigned char *ask, char *err,
                           size_t errlen);

/*
 * What one query learnt of each address, in seen[0..n_addrs) (all
 * CLIENT_ADDR_UNTRIED when it starts): client_addr_note() after each try
 * of address i, client_addrs_report() once when the query ends, however
 * it ends. An address is held down (health_timeout) only when every try
 * the query made of it timed out, and once per query whatever the
 * attempts: a datagram lost on the first try neither makes the others
 * skip the address meanwhile nor doubles its hold. An answer clears a
 * hold at once (health_answer).
 */
enum {
	CLIENT_ADDR_UNTRIED = 0,
	CLIENT_ADDR_SILENT,         /* every try so far timed out */
	CLIENT_ADDR_NOT_SILENT      /* it answered, refused or failed otherwise */
};
void client_addr_note(const portq_client_t *c, unsigned char *seen, size_t i, int rc,
                      int answered);
void client_addrs_report(const portq_client_t *c, const unsigned char *seen);

/*
 * Append "; text" to dst[0..cap) unless dst says it already: each
 * server's failure once, however many attempts repeated it.
 */
void client_error_add(char *dst, size_t cap, const char *text);

/* The protocol code for "tcp", "udp", ..., NULL or "any" (0); -1 if unknown. */
int client_proto_parse(const char *proto);

#endif /* PORTQ_CLIENT_CLIENT_H */
