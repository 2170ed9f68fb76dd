/*
 * prefix.h -- the unit portqd limits by: a client's IPv4 /24 or IPv6 /56.
 *
 * One host rarely holds a whole /24 or /56, but one user, network or
 * attacker usually does, so RRL (rrl.c) and the TCP per-source limit
 * (tcp.c) count clients by these prefixes, never by single addresses.
 */
#ifndef PORTQ_PREFIX_H
#define PORTQ_PREFIX_H

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* A /24 or /56 prefix: its leading bytes, the family (4 or 6) in byte 7. */
typedef struct {
	uint8_t b[8];
} prefix_t;

/*
 * The prefix of `sa` (AF_INET or AF_INET6). An IPv4 client of a
 * dual-stack socket (::ffff:a.b.c.d) is keyed as that IPv4 client.
 */
prefix_t prefix_of(const struct sockaddr *sa);

/* 1 if `a` and `b` are the same prefix of the same family, else 0. */
static inline int
prefix_eq(const prefix_t *a, const prefix_t *b)
{
	return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

#endif /* PORTQ_PREFIX_H */
