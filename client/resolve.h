/*
 * resolve.h -- turn configured servers into socket addresses. Numeric
 * addresses are used as they are; names go through c-ares, never through
 * the libc resolver (which may itself be configured to ask portq).
 */
#ifndef PORTQ_CLIENT_RESOLVE_H
#define PORTQ_CLIENT_RESOLVE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf.h"

#define RESOLVE_LABEL_MAX (INET6_ADDRSTRLEN + 8)

typedef struct {
	struct sockaddr_storage ss;
	socklen_t len;
	char label[RESOLVE_LABEL_MAX];   /* "ADDR:PORT" or "[ADDR]:PORT" */
} resolve_addr_t;

/* "ADDR:PORT" (IPv4) or "[ADDR]:PORT" (IPv6) for a socket address. */
void resolve_addr_label(resolve_addr_t *a);

/* Append sa, with `port`, to out[*n..max); 0 when full or not IP. */
int resolve_add_sockaddr(const struct sockaddr *sa, uint16_t port, resolve_addr_t *out,
                         size_t max, size_t *n);

/* 1 and the address appended when s->host is a numeric address, else 0. */
int resolve_numeric(const conf_server_t *s, resolve_addr_t *out, size_t max, size_t *n);

/* ares_library_init() once per process; PORTQ_EIO with err if it failed. */
int resolve_library_init(char *err, size_t errlen);

/*
 * The outcome of a c-ares lookup of `host` that ended with `status` (an
 * ARES_ code) and gave `added` addresses: PORTQ_OK, or the error of
 * resolve_server() with err set.
 */
int resolve_outcome(int status, size_t added, const char *host, char *err, size_t errlen);

/*
 * Append the addresses of `s` to out[*n..max), in the resolver's order.
 * A name is looked up (A and AAAA) with c-ares for at most
 * timeout_ms * tries (then cancelled). Returns PORTQ_OK (at least one address added),
 * PORTQ_ENOTFOUND (the name has no address; err says why), PORTQ_ETIMEDOUT,
 * PORTQ_ENOMEM or PORTQ_EIO.
 */
int resolve_server(const conf_server_t *s, int timeout_ms, int tries,
                   resolve_addr_t *out, size_t max, size_t *n,
                   char *err, size_t errlen);

#endif /* PORTQ_CLIENT_RESOLVE_H */
