/*
 * transport.h -- one query to one server address over UDP or TCP, with a
 * deadline. Knows the header only as far as matching an answer to its
 * query; what the answer says is the caller's business.
 */
#ifndef PORTQ_CLIENT_TRANSPORT_H
#define PORTQ_CLIENT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "resolve.h"

/* Large enough for any message plus its TCP length prefix. */
#define TRANSPORT_BUF_MAX (65535 + 2)

/*
 * Send query[0..qlen) over UDP and wait at most timeout_ms for its answer:
 * a datagram from the same address and port, with QR set and the query's
 * ID, opcode and question. Anything else is dropped and the wait goes on.
 * The answer is copied into buf (buflen >= TRANSPORT_BUF_MAX); *rlen is
 * its length. Returns PORTQ_OK, PORTQ_ETIMEDOUT, or PORTQ_EIO (the port is
 * closed: ICMP port unreachable; or a socket error) with err set.
 *
 * *sock is a socket this function connected to `a` before, kept by the
 * caller between queries, or -1 to open one. It is left open in *sock
 * after an answer and closed (*sock = -1) after any failure or timeout,
 * so that a late answer or a late ICMP error of a failed exchange never
 * meets the next query; answers on a kept socket are checked as strictly
 * as on a new one.
 */
int transport_udp(const resolve_addr_t *a, int *sock, const uint8_t *query, size_t qlen,
                  int timeout_ms, uint8_t *buf, size_t buflen, size_t *rlen,
                  char *err, size_t errlen);

/*
 * The same over TCP: connect, send one framed query, read one framed
 * answer, close. An answer that does not match the query is a failure
 * here (PORTQ_EMALFORMED): TCP answers arrive in order. On success the
 * message starts at buf (the prefix is removed).
 */
int transport_tcp(const resolve_addr_t *a, const uint8_t *query, size_t qlen,
                  int timeout_ms, uint8_t *buf, size_t buflen, size_t *rlen,
                  char *err, size_t errlen);

/* 1 when msg[0..len) is a response to query[0..qlen), else 0. */
int transport_matches(const uint8_t *query, size_t qlen, const uint8_t *msg, size_t len);

/* 1 when a and b are the same IPv4 or IPv6 address and port. */
int transport_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/* A random query ID (getrandom, buffered per thread; else a clock-seeded
 * fallback). */
uint16_t transport_new_id(void);

#endif /* PORTQ_CLIENT_TRANSPORT_H */
