/*
 * loopback.c -- loopback ports for tests (see loopback.h).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback.h"

int
loopback_socket_bound(int type, unsigned *port)
{
	int fd = socket(AF_INET, type, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

unsigned
loopback_port_closed(int type)
{
	unsigned port;
	close(loopback_socket_bound(type, &port));
	return port;
}
