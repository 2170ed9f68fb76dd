/*
 * client.h -- the handle core (handle.c): the inside of a portq_client_t,
 * its set-up from a configuration, its server addresses and kept UDP
 * socket. libportq.c's entry points, the default client (default.c), the
 * query engine (engine.h) and its drivers (transport.c, async.c) share it.
 */
#ifndef PORTQ_CLIENT_CLIENT_H
#define PORTQ_CLIENT_CLIENT_H

#include <sys/types.h>

#include "conf.h"
#include "msg.h"
#include "portq.h"
#include "resolve.h"

#define CLIENT_MAX_ADDRS  16    /* addresses of every server, resolved */
#define CLIENT_ERROR_MAX  512
/* Large enough for any message plus its TCP length prefix. */
#define CLIENT_BUF_MAX    (65535 + 2)
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
	unsigned udp_forks;         /* client_forks() when it was opened */
	dev_t udp_dev;              /* what it is (fstat), so that a descriptor */
	ino_t udp_ino;              /* the program closed and reused is left alone */
	char resolve_error[CLIENT_ERROR_MAX];
	char error[CLIENT_ERROR_MAX];
	uint8_t buf[CLIENT_BUF_MAX];   /* one answer at a time; last, and
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

/* Close what c holds and free it; NULL is ignored. */
void client_free(portq_client_t *c);

/*
 * Whether c's kept UDP socket (c->udp_fd >= 0) still is that socket. A
 * program may close descriptors it did not open (a daemon closing
 * everything, say) and open something else under the same number: that
 * is not ours to write a query into, nor to close.
 */
int client_udp_ours(const portq_client_t *c);

/*
 * Make c->addrs current: the addresses of every server, resolved at most
 * once per resolve_max_age_ms. `deadline` (CLOCK_MONOTONIC ms; 0: none)
 * bounds the lookups of host names. A resolution that found nothing is
 * not tried again for HEALTH_HOLD_MIN_MS: a silent DNS server costs one
 * wait, not one per query. On failure c->resolve_error says why.
 */
int client_resolve(portq_client_t *c, long long deadline);

/* portq_cache_set_ttl(): the process's TTL, -1 for unset. */
void client_ttl_set(int seconds);

/*
 * Forks this process has seen: a counter that the child of every fork()
 * (not vfork(), not posix_spawn(), which exec at once) finds one higher
 * than its parent left it (client_fork_child(), from fork.c's handler).
 * A handle compares it with the value its kept socket was opened under,
 * so that it never writes into or reads from a socket it shares with its
 * parent. Never decreases; no system call.
 */
unsigned client_forks(void);
void client_fork_child(void);

/*
 * Append "; text" to dst[0..cap) unless dst says it already: each
 * server's failure once, however many attempts repeated it.
 */
void client_error_add(char *dst, size_t cap, const char *text);

/* The protocol code for "tcp", "udp", ..., NULL or "any" (0); -1 if unknown. */
int client_proto_parse(const char *proto);

#endif /* PORTQ_CLIENT_CLIENT_H */
