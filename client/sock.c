/*
 * sock.c -- sockets above the standard descriptors (see sock.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sock.h"

int
sock_open(int family, int type, int protocol)
{
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
	if (fd < 0 || fd > STDERR_FILENO)
		return fd;
	/* F_DUPFD_CLOEXEC takes the lowest free number from 3 up. */
	int high = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	int err = errno;
	close(fd);
	errno = err;
	return high;
}
