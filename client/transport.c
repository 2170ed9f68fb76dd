/*
 * transport.c -- one query, one server, UDP or TCP (see transport.h).
 *
 * Blocking calls with poll() and a monotonic deadline: the library has no
 * event loop of its own and none of its caller's, and a lookup must not
 * outlive its timeout whatever the network does.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "frame.h"
#include "msg.h"
#include "sock.h"
#include "transport.h"

/* Datagrams dropped in one wait before giving up: a flood must not spin. */
#define UDP_MAX_STRAYS 256

static int
wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - portq__clock_ms();
		if (left <= 0)
			return PORTQ_ETIMEDOUT;
		struct pollfd p = { fd, events, 0 };
		int rc = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (rc > 0)
			return PORTQ_OK;
		if (rc < 0 && errno != EINTR)
			return PORTQ_EIO;
	}
}

/*
 * IDs come from getrandom() 32 at a time, into a buffer of the thread's: a
 * system call per query cost more than the client's own work on a round
 * trip. A child after fork() may repeat its parent's next few IDs; that is
 * harmless, as its socket, and so its source port, is its own (a handle's
 * kept socket is replaced in a child: fork.h).
 */
static _Thread_local uint16_t id_pool[32];
static _Thread_local unsigned id_left;

uint16_t
transport_new_id(void)
{
	if (id_left == 0 &&
	    getrandom(id_pool, sizeof(id_pool), GRND_NONBLOCK) == (ssize_t)sizeof(id_pool))
		id_left = sizeof(id_pool) / sizeof(id_pool[0]);
	if (id_left > 0)
		return id_pool[--id_left];
	/* No entropy yet (early boot): the ID is a match key, not a secret. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint16_t)(ts.tv_nsec ^ (ts.tv_nsec >> 16) ^ getpid());
}

int
transport_matches(const uint8_t *query, size_t qlen, const uint8_t *msg, size_t len)
{
	portq_header_t qh, rh;
	wire_t q = wire_reader(query, qlen);
	wire_t r = wire_reader(msg, len);
	if (portq_header_read(&q, &qh) != PORTQ_OK || portq_header_read(&r, &rh) != PORTQ_OK)
		return 0;
	if (!(rh.flags & PORTQ_FLAG_QR) || rh.id != qh.id || rh.opcode != qh.opcode)
		return 0;
	if (rh.rcode == PORTQ_RC_MALFORMED)
		return 1;           /* the header alone, no question echoed */
	/* The echoed question must be ours byte for byte (as DNS checks). */
	size_t n = wire_left(&q);
	const uint8_t *mine = wire_read_span(&q, n);
	const uint8_t *echo = wire_read_span(&r, n);
	return mine != NULL && echo != NULL && memcmp(mine, echo, n) == 0;
}

int
transport_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

int
transport_udp(const resolve_addr_t *a, int *sock, const uint8_t *query, size_t qlen,
              int timeout_ms, uint8_t *buf, size_t buflen, size_t *rlen,
              char *err, size_t errlen)
{
	long long deadline = portq__clock_ms() + timeout_ms;
	int fd = *sock;
	int rc = PORTQ_EIO;
	if (fd < 0) {
		fd = sock_open(a->ss.ss_family, SOCK_DGRAM, 0);
		if (fd < 0) {
			snprintf(err, errlen, "%s: socket: %s", a->label, strerror(errno));
			return PORTQ_EIO;
		}
		/*
		 * A connected socket hears the ICMP "port unreachable" of a
		 * closed port as ECONNREFUSED, so a dead server costs no
		 * timeout. The source is still compared below, which also
		 * covers kernels that do not filter connected UDP sockets.
		 */
		if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0) {
			snprintf(err, errlen, "%s: %s", a->label, strerror(errno));
			goto out;
		}
	}
	if (send(fd, query, qlen, 0) != (ssize_t)qlen) {
		snprintf(err, errlen, "%s: %s", a->label,
		         errno == ECONNREFUSED ? "connection refused (no server on that port)"
		                               : strerror(errno));
		goto out;
	}
	for (int strays = 0; strays < UDP_MAX_STRAYS; ) {
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc == PORTQ_ETIMEDOUT) {
			snprintf(err, errlen, "%s: timed out", a->label);
			goto out;
		}
		if (rc < 0) {
			snprintf(err, errlen, "%s: poll: %s", a->label, strerror(errno));
			goto out;
		}
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(fd, buf, buflen, MSG_TRUNC, (struct sockaddr *)&from, &flen);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			rc = PORTQ_EIO;
			snprintf(err, errlen, "%s: %s", a->label,
			         errno == ECONNREFUSED ? "connection refused (no server on that port)"
			                               : strerror(errno));
			goto out;
		}
		if ((size_t)n > buflen || !transport_same_addr(&from, &a->ss) ||
		    !transport_matches(query, qlen, buf, (size_t)n)) {
			strays++;
			continue;
		}
		*rlen = (size_t)n;
		*sock = fd;
		return PORTQ_OK;
	}
	rc = PORTQ_ETIMEDOUT;
	snprintf(err, errlen, "%s: no matching answer among %d datagrams", a->label,
	         UDP_MAX_STRAYS);
out:
	close(fd);
	*sock = -1;
	return rc;
}

static int
tcp_connect(const resolve_addr_t *a, long long deadline, char *err, size_t errlen)
{
	int fd = sock_open(a->ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0) {
		snprintf(err, errlen, "%s: socket: %s", a->label, strerror(errno));
		return PORTQ_EIO;
	}
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		snprintf(err, errlen, "%s: tcp: %s", a->label, strerror(errno));
		close(fd);
		return PORTQ_EIO;
	}
	int rc = wait_fd(fd, POLLOUT, deadline);
	if (rc < 0) {
		snprintf(err, errlen, "%s: tcp connect: %s", a->label,
		         rc == PORTQ_ETIMEDOUT ? "timed out" : strerror(errno));
		close(fd);
		return rc;
	}
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0) {
		snprintf(err, errlen, "%s: tcp: %s", a->label, strerror(soerr ? soerr : errno));
		close(fd);
		return PORTQ_EIO;
	}
	return fd;
}

int
transport_tcp(const resolve_addr_t *a, const uint8_t *query, size_t qlen,
              int timeout_ms, uint8_t *buf, size_t buflen, size_t *rlen,
              char *err, size_t errlen)
{
	long long deadline = portq__clock_ms() + timeout_ms;
	uint8_t out[PORTQ_FRAME_PREFIX + 512];
	if (qlen > sizeof(out) - PORTQ_FRAME_PREFIX || buflen < TRANSPORT_BUF_MAX)
		return PORTQ_EINVAL;
	int fd = tcp_connect(a, deadline, err, errlen);
	if (fd < 0)
		return fd;

	/* The prefix and the query in one write, so one segment carries both. */
	portq_frame_prefix(out, qlen);
	memcpy(out + PORTQ_FRAME_PREFIX, query, qlen);
	size_t todo = qlen + PORTQ_FRAME_PREFIX, sent = 0;
	int rc = PORTQ_OK;
	while (sent < todo) {
		ssize_t n = send(fd, out + sent, todo - sent, MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if ((rc = wait_fd(fd, POLLOUT, deadline)) < 0)
				break;
			continue;
		}
		snprintf(err, errlen, "%s: tcp send: %s", a->label, strerror(errno));
		rc = PORTQ_EIO;
		break;
	}
	size_t have = 0;
	while (rc == PORTQ_OK) {
		const uint8_t *msg;
		size_t mlen;
		int used = portq_frame_next(buf, have, PORTQ_MSG_MAX, &msg, &mlen);
		if (used > 0) {
			if (!transport_matches(query, qlen, msg, mlen)) {
				snprintf(err, errlen, "%s: tcp answer does not match the query",
				         a->label);
				rc = PORTQ_EMALFORMED;
				break;
			}
			memmove(buf, msg, mlen);
			*rlen = mlen;
			break;
		}
		if (used != PORTQ_EAGAIN) {
			snprintf(err, errlen, "%s: bad tcp frame: %s", a->label, portq_strerror(used));
			rc = PORTQ_EMALFORMED;
			break;
		}
		ssize_t n = recv(fd, buf + have, buflen - have, 0);
		if (n > 0) {
			have += (size_t)n;
			continue;
		}
		if (n == 0) {
			snprintf(err, errlen, "%s: tcp connection closed before the answer", a->label);
			rc = PORTQ_EIO;
			break;
		}
		if (errno == EAGAIN || errno == EINTR) {
			rc = wait_fd(fd, POLLIN, deadline);
			continue;
		}
		snprintf(err, errlen, "%s: tcp receive: %s", a->label, strerror(errno));
		rc = PORTQ_EIO;
	}
	if (rc == PORTQ_ETIMEDOUT)
		snprintf(err, errlen, "%s: tcp: timed out", a->label);
	close(fd);
	return rc;
}
