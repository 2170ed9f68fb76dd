/*
 * resolve.h -- turn configured servers into socket addresses. Numeric
 * addresses are used as they are; names go through c-ares, never through
 * the libc resolver (which may itself be configured to ask portq).
 */
#ifndef PORTQ_CLIENT_RESOLVE_H
#define PORTQ_CLIENT_RESOLVE_H

#include <netinet/in.h>
#include <stddef.h>
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

/*
 * Append the addresses of `s` to out[*n..max), in the resolver's order.
 * A name is looked up (A and AAAA) with c-ares for at most about
 * timeout_ms * tries. Returns PORTQ_OK (at least one address added),
 * PORTQ_ENOTFOUND (the name has no address; err says why), PORTQ_ETIMEDOUT,
 * PORTQ_ENOMEM or PORTQ_EIO.
 */
int resolve_server(const conf_server_t *s, int timeout_ms, int tries,
                   resolve_addr_t *out, size_t max, size_t *n,
                   char *err, size_t errlen);

#endif /* PORTQ_CLIENT_RESOLVE_H */
