/*
 * resolve.c -- server addresses, numeric or through c-ares (see resolve.h).
 *
 * c-ares runs on its own here: its sockets are polled by a small loop
 * bounded by a deadline, so the library needs no event loop from its
 * caller and a resolver that never answers cannot hang a lookup.
 */
#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "resolve.h"
#include "sock.h"

void
resolve_addr_label(resolve_addr_t *a)
{
	char text[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof(text));
		port = ntohs(s6->sin6_port);
		snprintf(a->label, sizeof(a->label), "[%s]:%u", text, port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;
		inet_ntop(AF_INET, &s4->sin_addr, text, sizeof(text));
		port = ntohs(s4->sin_port);
		snprintf(a->label, sizeof(a->label), "%s:%u", text, port);
	}
}

int
resolve_add_sockaddr(const struct sockaddr *sa, uint16_t port, resolve_addr_t *out,
                     size_t max, size_t *n)
{
	if (*n >= max)
		return 0;
	resolve_addr_t *a = &out[*n];
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;
		memcpy(s4, sa, sizeof(*s4));
		s4->sin_port = htons(port);
		a->len = sizeof(*s4);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
		memcpy(s6, sa, sizeof(*s6));
		s6->sin6_port = htons(port);
		a->len = sizeof(*s6);
	} else {
		return 0;
	}
	resolve_addr_label(a);
	(*n)++;
	return 1;
}

int
resolve_numeric(const conf_server_t *s, resolve_addr_t *out, size_t max, size_t *n)
{
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;
	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	if (inet_pton(AF_INET, s->host, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		resolve_add_sockaddr((struct sockaddr *)&s4, s->port, out, max, n);
		return 1;
	}
	if (inet_pton(AF_INET6, s->host, &s6.sin6_addr) == 1) {
		s6.sin6_family = AF_INET6;
		resolve_add_sockaddr((struct sockaddr *)&s6, s->port, out, max, n);
		return 1;
	}
	return 0;
}

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_status = ARES_ENOTINITIALIZED;

/*
 * ares_library_init() is not thread-safe in c-ares 1.18, and libportq may
 * be called from many threads at once (portq_getservbyport); once per
 * process, and never cleaned up, since another thread may be mid-lookup.
 */
static void
ares_once_init(void)
{
	ares_init_status = ares_library_init(ARES_LIB_INIT_ALL);
}

int
resolve_library_init(char *err, size_t errlen)
{
	pthread_once(&ares_once, ares_once_init);
	if (ares_init_status != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(ares_init_status));
		return PORTQ_EIO;
	}
	return PORTQ_OK;
}

int
resolve_outcome(int status, size_t added, const char *host, char *err, size_t errlen)
{
	if (status == ARES_SUCCESS && added > 0)
		return PORTQ_OK;
	if (status == ARES_ETIMEOUT || status == ARES_ECANCELLED) {
		snprintf(err, errlen, "resolving %s: timed out", host);
		return PORTQ_ETIMEDOUT;
	}
	if (status == ARES_ENOMEM) {
		snprintf(err, errlen, "resolving %s: out of memory", host);
		return PORTQ_ENOMEM;
	}
	snprintf(err, errlen, "resolving %s: %s", host,
	         status == ARES_SUCCESS ? "no usable address" : ares_strerror(status));
	return PORTQ_ENOTFOUND;
}

typedef struct {
	int done;
	int status;
	const conf_server_t *s;
	resolve_addr_t *out;
	size_t max;
	size_t *n;
	size_t added;
} lookup_t;

static void
on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	(void)timeouts;
	lookup_t *l = arg;
	l->done = 1;
	l->status = status;
	if (status == ARES_SUCCESS && res != NULL)
		for (struct ares_addrinfo_node *ai = res->nodes; ai != NULL; ai = ai->ai_next)
			l->added += (size_t)resolve_add_sockaddr(ai->ai_addr, l->s->port,
			                                         l->out, l->max, l->n);
	if (res != NULL)
		ares_freeaddrinfo(res);
}

/* Run c-ares until the lookup is done or the deadline passes. */
static void
channel_run(ares_channel ch, lookup_t *l, long long deadline)
{
	/* Each turn waits at most 100 ms or so, so the turns are bounded. */
	for (int turn = 0; !l->done && turn < 100000; turn++) {
		long long left = deadline - portq__clock_ms();
		if (left <= 0)
			break;
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		/* Unsigned: ARES_GETSOCK_WRITABLE() shifts an int by up to 31. */
		unsigned bits = (unsigned)ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		nfds_t nfd = 0;
		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			short ev = 0;
			if ((bits >> i) & 1u)
				ev |= POLLIN;
			if ((bits >> (i + ARES_GETSOCK_MAXNUM)) & 1u)
				ev |= POLLOUT;
			if (ev == 0)
				continue;
			pfd[nfd].fd = socks[i];
			pfd[nfd].events = ev;
			pfd[nfd].revents = 0;
			nfd++;
		}
		struct timeval maxtv = { left / 1000, (left % 1000) * 1000 }, tv;
		struct timeval *tvp = ares_timeout(ch, &maxtv, &tv);
		int wait = (int)(tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000);
		if (wait > 100)
			wait = 100;
		int rc = poll(pfd, nfd, wait);
		if (rc < 0 && errno != EINTR)
			break;
		if (rc <= 0) {
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);   /* timeouts */
			continue;
		}
		for (nfds_t i = 0; i < nfd; i++) {
			if (pfd[i].revents == 0)
				continue;
			ares_socket_t r = pfd[i].revents & (POLLIN | POLLERR | POLLHUP) ?
			                  pfd[i].fd : ARES_SOCKET_BAD;
			ares_socket_t w = pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD;
			ares_process_fd(ch, r, w);
		}
	}
}

/*
 * c-ares's sockets, opened as the core's own are (sock.h): above 2 and
 * close-on-exec. Left to itself, c-ares 1.18 takes the lowest free
 * number, so a daemon that closed its standard descriptors had its DNS
 * socket as descriptor 0 while a server's host name was looked up.
 */
static ares_socket_t
dns_socket(int family, int type, int protocol, void *data)
{
	(void)data;
	int fd = sock_open(family, type, protocol);
	return fd < 0 ? ARES_SOCKET_BAD : fd;
}

static int
dns_close(ares_socket_t fd, void *data)
{
	(void)data;
	return close(fd);
}

static int
dns_connect(ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len, void *data)
{
	(void)data;
	return connect(fd, sa, len);
}

static ares_ssize_t
dns_recvfrom(ares_socket_t fd, void *buf, size_t len, int flags, struct sockaddr *from,
             ares_socklen_t *from_len, void *data)
{
	(void)data;
	return recvfrom(fd, buf, len, flags, from, from_len);
}

static ares_ssize_t
dns_sendv(ares_socket_t fd, const struct iovec *iov, int n, void *data)
{
	(void)data;
	return writev(fd, iov, n);
}

static const struct ares_socket_functions dns_sockets = {
	dns_socket, dns_close, dns_connect, dns_recvfrom, dns_sendv,
};

int
resolve_server(const conf_server_t *s, int timeout_ms, int tries,
               resolve_addr_t *out, size_t max, size_t *n,
               char *err, size_t errlen)
{
	if (s == NULL || out == NULL || n == NULL)
		return PORTQ_EINVAL;
	if (resolve_numeric(s, out, max, n))
		return PORTQ_OK;
	int rc = resolve_library_init(err, errlen);
	if (rc < 0)
		return rc;
	struct ares_options opts;
	memset(&opts, 0, sizeof(opts));
	opts.timeout = timeout_ms;
	opts.tries = tries;
	ares_channel ch;
	rc = ares_init_options(&ch, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		return rc == ARES_ENOMEM ? PORTQ_ENOMEM : PORTQ_EIO;
	}
	ares_set_socket_functions(ch, &dns_sockets, NULL);
	struct ares_addrinfo_hints hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	lookup_t l = { 0, ARES_ETIMEOUT, s, out, max, n, 0 };
	ares_getaddrinfo(ch, s->host, NULL, &hints, on_addrinfo, &l);
	/* c-ares keeps its own per-try timeouts; this is the backstop, exact,
	 * so that a caller's budget (the getservby*() path) holds. */
	channel_run(ch, &l, portq__clock_ms() + (long long)timeout_ms * tries);
	if (!l.done)
		ares_cancel(ch);   /* runs the callback with ARES_ECANCELLED */
	ares_destroy(ch);
	return resolve_outcome(l.status, l.added, s->host, err, errlen);
}
