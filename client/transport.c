/*
 * transport.c -- the query engine's blocking driver (see transport.h).
 *
 * Blocking calls with poll() and a monotonic deadline: the library has no
 * event loop of its own and none of its caller's, and a lookup must not
 * outlive its timeout whatever the network does. What to send where, how
 * long to wait and what an answer means is the engine's (engine.h): this
 * file only moves the bytes, one exchange at a time, and reports each.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "error.h"
#include "frame.h"
#include "msg.h"
#include "sock.h"
#include "transport.h"

/* Datagrams dropped in one wait before giving up: a flood must not spin. */
#define UDP_MAX_STRAYS 256

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();
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

/*
 * Send e's query over UDP and wait at most timeout_ms for its answer: a
 * datagram from the same address and port that the engine matches to the
 * query. Anything else is dropped and the wait goes on. The answer is
 * copied into buf (buflen >= CLIENT_BUF_MAX); *rlen is its length.
 * Returns PORTQ_OK, PORTQ_ETIMEDOUT, or PORTQ_EIO (the port is closed:
 * ICMP port unreachable; or a socket error) with err set.
 *
 * *sock is a socket this function connected to `a` before, kept by the
 * caller between queries, or -1 to open one. It is left open in *sock
 * after an answer and closed (*sock = -1) after any failure or timeout,
 * so that a late answer or a late ICMP error of a failed exchange never
 * meets the next query; answers on a kept socket are checked as strictly
 * as on a new one.
 */
static int
udp_exchange(const resolve_addr_t *a, int *sock, engine_t *e, int timeout_ms,
             uint8_t *buf, size_t buflen, size_t *rlen, char *err, size_t errlen)
{
	long long deadline = now_ms() + timeout_ms;
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
	if (send(fd, e->query, e->qlen, 0) != (ssize_t)e->qlen) {
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
		    !engine_reply_match(e, buf, (size_t)n)) {
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

/*
 * The same over TCP: connect, send one framed query, read one framed
 * answer, close. An answer that does not match the query is a failure
 * here (PORTQ_EMALFORMED): TCP answers arrive in order. On success the
 * message starts at buf (the prefix is removed).
 */
static int
tcp_exchange(const resolve_addr_t *a, engine_t *e, int timeout_ms, uint8_t *buf,
             size_t buflen, size_t *rlen, char *err, size_t errlen)
{
	const uint8_t *query = e->query;
	size_t qlen = e->qlen;
	long long deadline = now_ms() + timeout_ms;
	uint8_t out[PORTQ_FRAME_PREFIX + 512];
	if (qlen > sizeof(out) - PORTQ_FRAME_PREFIX || buflen < CLIENT_BUF_MAX)
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
			if (!engine_reply_match(e, msg, mlen)) {
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

/*
 * One UDP exchange with address a, on the handle's kept socket when it is
 * connected to a, was opened in this process (not inherited over fork)
 * and has not carried udp_uses_max queries yet; else on a new one, kept
 * in its place unless udp_uses_max is 1.
 */
static int
udp_ask(portq_client_t *c, const resolve_addr_t *a, engine_t *e, size_t *len, char *err,
        size_t errlen)
{
	size_t which = (size_t)(a - c->addrs);
	unsigned f = client_forks();
	if (c->udp_fd >= 0 && !client_udp_ours(c))
		c->udp_fd = -1;                  /* gone: forget it, close nothing */
	if (c->udp_fd >= 0 && (c->udp_addr != which || c->udp_forks != f ||
	                       c->udp_uses >= c->udp_uses_max))
		client_close(c);
	if (c->udp_fd < 0) {
		c->udp_addr = which;
		c->udp_forks = f;
		c->udp_uses = 0;
	}
	c->udp_uses++;
	int rc = udp_exchange(a, &c->udp_fd, e, e->wait_ms, c->buf, sizeof(c->buf), len, err,
	                      errlen);
	if (c->udp_fd < 0)
		return rc;
	if (c->udp_uses >= c->udp_uses_max) {
		/* Spent: closed now rather than at the next query, so that no
		 * descriptor stays open in the program meanwhile. It was ours
		 * when this call began, and only this call used it since. */
		close(c->udp_fd);
		c->udp_fd = -1;
		return rc;
	}
	struct stat st;
	if (c->udp_uses == 1) {
		if (fstat(c->udp_fd, &st) == 0) {
			c->udp_dev = st.st_dev;
			c->udp_ino = st.st_ino;
		} else {
			close(c->udp_fd);            /* cannot tell it later: do not keep it */
			c->udp_fd = -1;
		}
	}
	return rc;
}

int
transport_run(portq_client_t *c, engine_t *e)
{
	engine_next_t next = engine_begin(e, c, now_ms(), c->buf, sizeof(c->buf));
	if (next == ENGINE_RESOLVE) {
		int rc = client_resolve(c, e->deadline);
		next = engine_resolved(e, rc, now_ms());
	}
	while (next == ENGINE_SEND) {
		const resolve_addr_t *a = &c->addrs[e->addr];
		char err[256] = "";
		size_t len = 0;
		int rc = e->tcp ? tcp_exchange(a, e, e->wait_ms, c->buf, sizeof(c->buf), &len, err,
		                               sizeof(err))
		                : udp_ask(c, a, e, &len, err, sizeof(err));
		next = rc == PORTQ_OK ? engine_reply(e, c->buf, len, now_ms())
		                      : engine_fail(e, rc, err, now_ms());
	}
	memcpy(c->error, e->error, strlen(e->error) + 1);
	return e->status;
}
