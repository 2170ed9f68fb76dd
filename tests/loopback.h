/*
 * loopback.h -- IPv4 loopback ports for the suites that need one with
 * nothing behind it, or a socket that never answers (the client suites,
 * test_check_portq, test_nss).
 */
#ifndef PORTQ_TESTS_LOOPBACK_H
#define PORTQ_TESTS_LOOPBACK_H

/* A socket of `type` (SOCK_DGRAM, SOCK_STREAM) bound to 127.0.0.1 on an
 * ephemeral port; *port is that port. Fails the calling test on error. */
int loopback_socket_bound(int type, unsigned *port);

/* A 127.0.0.1 port that was free a moment ago: bound, then closed. */
unsigned loopback_port_closed(int type);

#endif /* PORTQ_TESTS_LOOPBACK_H */
