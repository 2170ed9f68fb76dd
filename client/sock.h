/*
 * sock.h -- how the blocking core opens a socket, whoever asks for it
 * (transport.c for queries, resolve.c for c-ares's DNS queries).
 */
#ifndef PORTQ_CLIENT_SOCK_H
#define PORTQ_CLIENT_SOCK_H

/*
 * socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol), but
 * numbered above 2. A program that closed its standard input, output or
 * error (a daemon, say) would otherwise get the socket under that number:
 * its next printf() would go to a server, and a child it starts would
 * inherit it as its stdout. Returns the descriptor, or -1 with errno set.
 */
int sock_open(int family, int type, int protocol);

#endif /* PORTQ_CLIENT_SOCK_H */
