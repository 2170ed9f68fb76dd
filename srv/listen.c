/*
 * listen.c -- portqd's sockets (see listen.h): each listen address bound
 * by every worker, UDP and TCP, with SO_REUSEPORT so that the kernel
 * spreads queries over the workers; or the sockets systemd hands over.
 * The socket options (receive buffer, GSO probe) are set here too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "tcp.h"
#include "udp.h"

static int
set_reuseport(uv_handle_t *h)
{
	uv_os_fd_t fd;
	int yes = 1;
	if (uv_fileno(h, &fd) < 0)
		return UV_EBADF;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof(yes)) < 0)
		return -errno;
	return 0;
}

/*
 * A receive buffer deep enough to ride out a moment without CPU (a busy
 * machine, a reload): root may exceed net.core.rmem_max, others get what
 * the kernel allows. The size reached is logged once.
 */
static void
set_rcvbuf(worker_t *w, uv_handle_t *h)
{
	uv_os_fd_t fd;
	int want = (int)w->srv->cfg->udp_rcvbuf, got = 0;
	socklen_t len = sizeof(got);
	if (want <= 0 || uv_fileno(h, &fd) < 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
	if (w->id == 0 && getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0 &&
	    got < want)
		log_warn("udp receive buffer is %d bytes, not the %d asked for "
		         "(raise net.core.rmem_max, or run as root)", got / 2, want);
}

/*
 * GSO only where the kernel knows UDP_SEGMENT (Linux 4.18): elsewhere a
 * cmsg of an unknown kind is ignored, and a group would leave as one
 * long datagram.
 */
static void
probe_gso(worker_t *w, uv_handle_t *h)
{
	uv_os_fd_t fd;
	int off = 0;
	if (!w->gso || uv_fileno(h, &fd) < 0)
		return;
	if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &off, sizeof(off)) < 0) {
		if (w->id == 0)
			log_info("udp: no segmentation offload here (%s); answers leave one by one",
			         strerror(errno));
		w->gso = 0;
	}
}

static void
set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* Bind this worker's UDP and TCP sockets on one address. */
int
listen_addr(worker_t *w, const char *text, int idx)
{
	server_t *s = w->srv;
	struct sockaddr_storage ss;
	if (config_parse_addr(text, &ss) < 0) {
		log_err("listen %s: not ADDR:PORT", text);
		return UV_EINVAL;
	}
	/* Later workers, and UDP, take the port the first TCP socket got. */
	if (s->ports[idx] >= 0)
		set_port(&ss, (uint16_t)s->ports[idx]);
	int reuse = s->n_workers > 1;

	uv_tcp_t *t = &w->tcp[w->n_tcp];
	int rc = uv_tcp_init_ex(w->loop, t, ss.ss_family);
	if (rc < 0)
		return rc;
	t->data = w;
	w->n_tcp++;
	if (reuse && (rc = set_reuseport((uv_handle_t *)t)) < 0)
		goto fail_tcp;
	/* [::] means IPv6 only, so that 0.0.0.0 may be listed beside it. */
	unsigned v6only = ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
	if ((rc = uv_tcp_bind(t, (struct sockaddr *)&ss, v6only)) < 0 ||
	    (rc = tcp_listen(t)) < 0)
		goto fail_tcp;
	if (s->ports[idx] < 0) {
		struct sockaddr_storage bound;
		int blen = sizeof(bound);
		uv_tcp_getsockname(t, (struct sockaddr *)&bound, &blen);
		s->ports[idx] = ntohs(bound.ss_family == AF_INET ?
		                      ((struct sockaddr_in *)&bound)->sin_port :
		                      ((struct sockaddr_in6 *)&bound)->sin6_port);
		set_port(&ss, (uint16_t)s->ports[idx]);
	}

	uv_udp_t *u = &w->udp[w->n_udp];
	rc = uv_udp_init_ex(w->loop, u, ss.ss_family | UV_UDP_RECVMMSG);
	if (rc < 0)
		return rc;
	u->data = w;
	w->n_udp++;
	if (reuse && (rc = set_reuseport((uv_handle_t *)u)) < 0)
		goto fail_udp;
	if ((rc = uv_udp_bind(u, (struct sockaddr *)&ss,
	                      ss.ss_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0)) < 0 ||
	    (rc = udp_read_start(u)) < 0)
		goto fail_udp;
	set_rcvbuf(w, (uv_handle_t *)u);
	probe_gso(w, (uv_handle_t *)u);
	if (w->id == 0)
		log_info("listening on udp and tcp %s (port %d)", text, s->ports[idx]);
	return 0;
fail_tcp:
	log_err("listen tcp %s: %s", text, uv_strerror(rc));
	return rc;
fail_udp:
	log_err("listen udp %s: %s", text, uv_strerror(rc));
	return rc;
}

/*
 * Sockets handed over by systemd (LISTEN_FDS, starting at fd 3): served
 * by worker 0 as they are, UDP or TCP. Returns how many were taken, or a
 * negative libuv error.
 */
int
listen_activated(worker_t *w)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	if (pid == NULL || fds == NULL || atol(pid) != (long)getpid())
		return 0;
	int n = atoi(fds), rc;
	if (n <= 0 || n > CONFIG_MAX_LIST)
		return UV_EINVAL;
	for (int fd = 3; fd < 3 + n; fd++) {
		int type = 0;
		socklen_t len = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
			return -errno;
		if (type == SOCK_DGRAM) {
			uv_udp_t *u = &w->udp[w->n_udp];
			if ((rc = uv_udp_init_ex(w->loop, u, AF_UNSPEC | UV_UDP_RECVMMSG)) < 0)
				return rc;
			u->data = w;
			w->n_udp++;
			if ((rc = uv_udp_open(u, fd)) < 0 ||
			    (rc = udp_read_start(u)) < 0)
				return rc;
			probe_gso(w, (uv_handle_t *)u);
		} else {
			uv_tcp_t *t = &w->tcp[w->n_tcp];
			if ((rc = uv_tcp_init(w->loop, t)) < 0)
				return rc;
			t->data = w;
			w->n_tcp++;
			if ((rc = uv_tcp_open(t, fd)) < 0 ||
			    (rc = tcp_listen(t)) < 0)
				return rc;
		}
		log_info("serving socket %d from systemd (%s)", fd,
		         type == SOCK_DGRAM ? "udp" : "tcp");
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	return n;
}
