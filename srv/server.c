/*
 * server.c -- UDP and TCP listeners, reloads and signals (see server.h).
 *
 * The I/O callbacks only frame, call answer_query() and send. UDP answers
 * are built in one per-server buffer and sent with uv_udp_try_send, so the
 * UDP path allocates nothing unless the socket's send buffer is full.
 */
#include <libgen.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frame.h"
#include "log.h"
#include "server.h"

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define WRITE_QUEUE_MAX (1024 * 1024)  /* unread answers before we give up on a client */

typedef struct conn {
	uv_tcp_t tcp;
	uv_timer_t idle;
	uv_shutdown_t shutdown;
	struct server *srv;
	struct conn *prev, *next;
	int open_handles;
	int closing;
	size_t len, cap;
	uint8_t buf[];               /* partial frames read so far */
} conn_t;

typedef struct {
	uv_write_t req;
	uint8_t data[];
} out_write_t;

typedef struct {
	uv_udp_send_t req;
	uint8_t data[];
} out_send_t;

typedef struct {
	uv_fs_event_t ev;
	struct server *srv;
	char dir[4096];
} watch_t;

struct server {
	uv_loop_t *loop;
	const config_t *cfg;
	registry_t *reg;
	answer_stats_t stats;
	uint64_t tcp_accepted, tcp_refused, tcp_idle_closed, reloads, reload_failures;
	uint64_t send_errors;
	time_t started;

	uv_udp_t udp[CONFIG_MAX_LIST];
	uv_tcp_t tcp[CONFIG_MAX_LIST];
	int n_udp, n_tcp, ports[CONFIG_MAX_LIST];
	uv_signal_t sig_hup, sig_term, sig_int, sig_usr1;
	int signals_on;
	watch_t *watch[CONFIG_MAX_LIST];
	int n_watch;
	uv_timer_t reload_timer;
	int reload_timer_on;

	uv_work_t reload_work;
	int reload_running, reload_again;
	uint32_t reload_serial;
	registry_t *reload_result;
	reg_error_t reload_error;

	conn_t *conns;
	long n_conns;
	int stopping;

	uint8_t udp_in[PORTQ_MSG_MAX];
	uint8_t out[PORTQ_FRAME_PREFIX + PORTQ_MSG_MAX];
};

/* ---------------------------------------------------------------- loading */

registry_t *
server_load_registry(const config_list_t *files, uint32_t serial, reg_error_t *err)
{
	reg_builder_t *b = reg_builder_new();
	if (b == NULL) {
		snprintf(err->text, sizeof(err->text), "out of memory");
		return NULL;
	}
	for (int i = 0; i < files->n; i++) {
		const char *spec = files->items[i], *colon = strchr(spec, ':');
		reg_format_t fmt = REG_FMT_AUTO;
		if (colon != NULL) {
			fmt = reg_format_parse(spec, (size_t)(colon - spec));
			if (fmt != REG_FMT_AUTO)
				spec = colon + 1;
		}
		if (reg_builder_load(b, spec, fmt, err) != PORTQ_OK) {
			reg_builder_free(b);
			return NULL;
		}
	}
	registry_t *r = registry_build(b, serial);
	if (r == NULL)
		snprintf(err->text, sizeof(err->text), "out of memory while indexing");
	return r;
}

/* ---------------------------------------------------------------- answers */

static void
info_stats(wire_t *w, void *arg)
{
	const server_t *s = arg;
	char v[32];
#define STAT(key, value) \
	do { snprintf(v, sizeof(v), "%llu", (unsigned long long)(value)); \
	     portq_info_write(w, (key), v); } while (0)
	for (unsigned op = PORTQ_OP_PORT; op <= PORTQ_OP_INFO; op++) {
		char key[32];
		snprintf(key, sizeof(key), "queries-%s", portq_opcode_name(op));
		STAT(key, s->stats.by_opcode[op]);
	}
	STAT("queries-unknown-opcode", s->stats.by_opcode[0]);
	for (unsigned rc = 0; rc <= PORTQ_RC_NOTIMPL; rc++) {
		char key[32];
		snprintf(key, sizeof(key), "rcode-%s", portq_rcode_name(rc));
		STAT(key, s->stats.by_rcode[rc]);
	}
	STAT("truncated", s->stats.truncated);
	STAT("dropped", s->stats.dropped);
	STAT("tcp-accepted", s->tcp_accepted);
	STAT("tcp-refused", s->tcp_refused);
	STAT("tcp-open", s->n_conns);
	STAT("reloads", s->reloads);
	STAT("reload-failures", s->reload_failures);
	STAT("uptime", time(NULL) - s->started);
#undef STAT
}

static size_t
answer(server_t *s, const uint8_t *req, size_t len, uint8_t *out, size_t max, int stream)
{
	answer_ctx_t ctx = { s->reg, &s->stats, info_stats, s, stream };
	return answer_query(&ctx, req, len, out, max);
}

/* ---------------------------------------------------------------- UDP */

static void
udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	server_t *s = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)s->udp_in, sizeof(s->udp_in));
}

static void
udp_sent(uv_udp_send_t *req, int status)
{
	out_send_t *o = container_of(req, out_send_t, req);
	if (status < 0 && status != UV_ECANCELED)
		log_warn("udp send: %s", uv_strerror(status));
	free(o);
}

static void
udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
         const struct sockaddr *addr, unsigned flags)
{
	server_t *s = h->data;
	if (nread < 0) {
		log_warn("udp receive: %s", uv_strerror((int)nread));
		return;
	}
	if (addr == NULL || s->stopping)
		return;
	if (flags & UV_UDP_PARTIAL) {
		s->stats.dropped++;     /* larger than any query can be */
		return;
	}
	size_t n = answer(s, (const uint8_t *)buf->base, (size_t)nread, s->out, PORTQ_UDP_MAX, 0);
	if (n == 0)
		return;
	uv_buf_t b = uv_buf_init((char *)s->out, (unsigned)n);
	int rc = uv_udp_try_send(h, &b, 1, addr);
	if (rc == UV_EAGAIN || rc == UV_ENOSYS) {
		/* The socket buffer is full: queue a copy rather than lose it. */
		out_send_t *o = malloc(sizeof(*o) + n);
		if (o == NULL) {
			s->send_errors++;
			return;
		}
		memcpy(o->data, s->out, n);
		b = uv_buf_init((char *)o->data, (unsigned)n);
		rc = uv_udp_send(&o->req, h, &b, 1, addr, udp_sent);
		if (rc < 0)
			free(o);
	}
	if (rc < 0) {
		s->send_errors++;
		log_debug("udp send: %s", uv_strerror(rc));
	}
}

/* ---------------------------------------------------------------- TCP */

static void
conn_handle_closed(uv_handle_t *h)
{
	conn_t *c = h->data;
	if (--c->open_handles > 0)
		return;
	server_t *s = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	free(c);
}

static void
conn_close(conn_t *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
}

static void
conn_idle(uv_timer_t *t)
{
	conn_t *c = t->data;
	c->srv->tcp_idle_closed++;
	conn_close(c);
}

static void
conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	conn_t *c = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void
conn_written(uv_write_t *req, int status)
{
	out_write_t *o = container_of(req, out_write_t, req);
	if (status < 0 && status != UV_ECANCELED)
		log_debug("tcp write: %s", uv_strerror(status));
	free(o);
}

/* Frame and queue one answer; writes on one stream go out in order. */
static int
conn_send(conn_t *c, const uint8_t *msg, size_t n)
{
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > WRITE_QUEUE_MAX)
		return -1;              /* the client does not read its answers */
	out_write_t *o = malloc(sizeof(*o) + PORTQ_FRAME_PREFIX + n);
	if (o == NULL)
		return -1;
	portq_frame_prefix(o->data, n);
	memcpy(o->data + PORTQ_FRAME_PREFIX, msg, n);
	uv_buf_t b = uv_buf_init((char *)o->data, (unsigned)(PORTQ_FRAME_PREFIX + n));
	if (uv_write(&o->req, (uv_stream_t *)&c->tcp, &b, 1, conn_written) < 0) {
		free(o);
		return -1;
	}
	return 0;
}

static void
conn_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	conn_t *c = stream->data;
	server_t *s = c->srv;
	(void)buf;
	if (nread < 0) {
		conn_close(c);          /* EOF or error: nothing left to answer */
		return;
	}
	c->len += (size_t)nread;
	uv_timer_again(&c->idle);

	size_t off = 0;
	for (;;) {
		const uint8_t *msg;
		size_t mlen;
		int used = portq_frame_next(c->buf + off, c->len - off,
		                            (size_t)s->cfg->tcp_max_frame, &msg, &mlen);
		if (used == PORTQ_EAGAIN)
			break;
		if (used < 0) {
			log_debug("tcp: bad frame (%s), closing", portq_strerror(used));
			s->stats.dropped++;
			conn_close(c);
			return;
		}
		off += (size_t)used;
		size_t n = answer(s, msg, mlen, s->out, PORTQ_MSG_MAX, 1);
		if (n == 0 || conn_send(c, s->out, n) < 0) {
			conn_close(c);      /* not portq at all, or a client that does not read */
			return;
		}
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
}

static void
tcp_accept(uv_stream_t *server, int status)
{
	server_t *s = server->data;
	if (status < 0) {
		log_warn("tcp accept: %s", uv_strerror(status));
		return;
	}
	size_t cap = PORTQ_FRAME_PREFIX + (size_t)s->cfg->tcp_max_frame;
	conn_t *c = calloc(1, sizeof(*c) + cap);
	if (c == NULL)
		return;
	c->srv = s;
	c->cap = cap;
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->idle);
	c->tcp.data = c->idle.data = c;
	c->open_handles = 2;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	if (s->n_conns > s->cfg->tcp_max_connections || s->stopping) {
		s->tcp_refused++;
		conn_close(c);
		return;
	}
	s->tcp_accepted++;
	uv_tcp_nodelay(&c->tcp, 1);
	uv_timer_start(&c->idle, conn_idle, (uint64_t)s->cfg->tcp_idle_timeout,
	               (uint64_t)s->cfg->tcp_idle_timeout);
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) < 0)
		conn_close(c);
}

/* ---------------------------------------------------------------- reload */

static void reload_start(server_t *s);

static void
reload_work(uv_work_t *w)
{
	server_t *s = container_of(w, server_t, reload_work);
	s->reload_result = server_load_registry(&s->cfg->registry, s->reload_serial,
	                                        &s->reload_error);
}

static void
reload_done(uv_work_t *w, int status)
{
	server_t *s = container_of(w, server_t, reload_work);
	s->reload_running = 0;
	registry_t *fresh = s->reload_result;
	s->reload_result = NULL;
	if (status < 0 || fresh == NULL) {
		s->reload_failures++;
		log_err("reload failed, still serving serial %u: %s",
		        registry_serial(s->reg),
		        status < 0 ? uv_strerror(status) : s->reload_error.text);
	} else if (s->stopping) {
		registry_free(fresh);
	} else {
		/* The swap: between two callbacks, so no query sees a mix. */
		registry_t *old = s->reg;
		s->reg = fresh;
		registry_free(old);
		s->reloads++;
		log_info("reloaded: %zu records, serial %u", registry_count(fresh),
		         registry_serial(fresh));
	}
	if (s->reload_again && !s->stopping) {
		s->reload_again = 0;
		reload_start(s);
	}
}

static void
reload_start(server_t *s)
{
	if (s->stopping)
		return;
	if (s->reload_running) {
		s->reload_again = 1;    /* the file changed again while loading */
		return;
	}
	/* A serial that always moves forward, even twice in one second. */
	uint32_t now = (uint32_t)time(NULL), cur = registry_serial(s->reg);
	s->reload_serial = now > cur ? now : cur + 1;
	s->reload_running = 1;
	int rc = uv_queue_work(s->loop, &s->reload_work, reload_work, reload_done);
	if (rc < 0) {
		s->reload_running = 0;
		log_err("reload: %s", uv_strerror(rc));
	}
}

void
server_reload(server_t *s)
{
	reload_start(s);
}

static void
reload_timer_fired(uv_timer_t *t)
{
	reload_start(t->data);
}

static void
watch_event(uv_fs_event_t *ev, const char *filename, int events, int status)
{
	watch_t *wt = container_of(ev, watch_t, ev);
	server_t *s = wt->srv;
	(void)events;
	if (status < 0 || s->stopping)
		return;
	/* The directory is watched, so that a file replaced by rename counts. */
	int ours = filename == NULL;
	for (int i = 0; i < s->cfg->registry.n && !ours; i++) {
		char path[4096];
		const char *spec = s->cfg->registry.items[i], *colon = strchr(spec, ':');
		if (colon && reg_format_parse(spec, (size_t)(colon - spec)) != REG_FMT_AUTO)
			spec = colon + 1;
		snprintf(path, sizeof(path), "%s", spec);
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s", spec);
		if (strcmp(basename(path), filename) == 0 && strcmp(dirname(dir), wt->dir) == 0)
			ours = 1;
	}
	if (ours)
		uv_timer_start(&s->reload_timer, reload_timer_fired,
		               (uint64_t)s->cfg->reload_delay, 0);
}

static void
watch_closed(uv_handle_t *h)
{
	free(container_of((uv_fs_event_t *)h, watch_t, ev));
}

static int
watch_start(server_t *s)
{
	for (int i = 0; i < s->cfg->registry.n; i++) {
		char dir[4096];
		const char *spec = s->cfg->registry.items[i], *colon = strchr(spec, ':');
		if (colon && reg_format_parse(spec, (size_t)(colon - spec)) != REG_FMT_AUTO)
			spec = colon + 1;
		snprintf(dir, sizeof(dir), "%s", spec);
		const char *d = dirname(dir);
		int seen = 0;
		for (int k = 0; k < s->n_watch; k++)
			seen |= strcmp(s->watch[k]->dir, d) == 0;
		if (seen)
			continue;
		watch_t *wt = calloc(1, sizeof(*wt));
		if (wt == NULL)
			return UV_ENOMEM;
		wt->srv = s;
		snprintf(wt->dir, sizeof(wt->dir), "%s", d);
		uv_fs_event_init(s->loop, &wt->ev);
		s->watch[s->n_watch++] = wt;
		int rc = uv_fs_event_start(&wt->ev, watch_event, wt->dir, 0);
		if (rc < 0)
			log_warn("cannot watch %s for changes (%s); SIGHUP still reloads",
			         wt->dir, uv_strerror(rc));
	}
	return 0;
}

/* ---------------------------------------------------------------- signals */

static void
log_stats(server_t *s)
{
	log_info("serial %u, %zu records; queries port %llu name %llu range %llu "
	         "search %llu info %llu; ok %llu not-found %llu malformed %llu "
	         "not-implemented %llu; truncated %llu, dropped %llu; tcp accepted %llu "
	         "refused %llu idle-closed %llu open %ld; reloads %llu failed %llu",
	         registry_serial(s->reg), registry_count(s->reg),
	         (unsigned long long)s->stats.by_opcode[PORTQ_OP_PORT],
	         (unsigned long long)s->stats.by_opcode[PORTQ_OP_NAME],
	         (unsigned long long)s->stats.by_opcode[PORTQ_OP_RANGE],
	         (unsigned long long)s->stats.by_opcode[PORTQ_OP_SEARCH],
	         (unsigned long long)s->stats.by_opcode[PORTQ_OP_INFO],
	         (unsigned long long)s->stats.by_rcode[PORTQ_RC_OK],
	         (unsigned long long)s->stats.by_rcode[PORTQ_RC_NOTFOUND],
	         (unsigned long long)s->stats.by_rcode[PORTQ_RC_MALFORMED],
	         (unsigned long long)s->stats.by_rcode[PORTQ_RC_NOTIMPL],
	         (unsigned long long)s->stats.truncated,
	         (unsigned long long)s->stats.dropped,
	         (unsigned long long)s->tcp_accepted, (unsigned long long)s->tcp_refused,
	         (unsigned long long)s->tcp_idle_closed, s->n_conns,
	         (unsigned long long)s->reloads, (unsigned long long)s->reload_failures);
}

static void
on_signal(uv_signal_t *h, int signum)
{
	server_t *s = h->data;
	switch (signum) {
	case SIGHUP:
		log_info("SIGHUP: reloading");
		reload_start(s);
		break;
	case SIGUSR1:
		log_stats(s);
		break;
	default:
		log_info("signal %d: stopping", signum);
		server_stop(s);
		break;
	}
}

/* ---------------------------------------------------------------- life cycle */

server_t *
server_new(uv_loop_t *loop, const config_t *cfg, registry_t *reg)
{
	server_t *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->loop = loop;
	s->cfg = cfg;
	s->reg = reg;
	s->started = time(NULL);
	for (int i = 0; i < CONFIG_MAX_LIST; i++)
		s->ports[i] = -1;
	uv_timer_init(loop, &s->reload_timer);
	s->reload_timer.data = s;
	s->reload_timer_on = 1;
	return s;
}

static int
listen_one(server_t *s, const char *text, int idx)
{
	struct sockaddr_storage ss;
	if (config_parse_addr(text, &ss) < 0) {
		log_err("listen %s: not ADDR:PORT", text);
		return UV_EINVAL;
	}
	uv_tcp_t *t = &s->tcp[s->n_tcp];
	uv_tcp_init(s->loop, t);
	t->data = s;
	s->n_tcp++;
	int rc = uv_tcp_bind(t, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)t, 128, tcp_accept);
	if (rc < 0) {
		log_err("listen tcp %s: %s", text, uv_strerror(rc));
		return rc;
	}
	/* With port 0, UDP takes the port the kernel gave TCP. */
	struct sockaddr_storage bound;
	int blen = sizeof(bound);
	uv_tcp_getsockname(t, (struct sockaddr *)&bound, &blen);
	uint16_t port = ntohs(ss.ss_family == AF_INET ?
	                      ((struct sockaddr_in *)&bound)->sin_port :
	                      ((struct sockaddr_in6 *)&bound)->sin6_port);
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);

	uv_udp_t *u = &s->udp[s->n_udp];
	uv_udp_init(s->loop, u);
	u->data = s;
	s->n_udp++;
	rc = uv_udp_bind(u, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_udp_recv_start(u, udp_alloc, udp_recv);
	if (rc < 0) {
		log_err("listen udp %s: %s", text, uv_strerror(rc));
		return rc;
	}
	s->ports[idx] = port;
	log_info("listening on udp and tcp %s (port %u)", text, port);
	return 0;
}

int
server_start(server_t *s)
{
	static const char *const defaults[] = { "127.0.0.1:5380", "[::1]:5380" };
	int rc;
	if (s->cfg->listen.n == 0) {
		for (int i = 0; i < 2; i++)
			if ((rc = listen_one(s, defaults[i], i)) < 0 && i == 0)
				return rc;     /* no IPv6 loopback is not fatal */
	} else {
		for (int i = 0; i < s->cfg->listen.n; i++)
			if ((rc = listen_one(s, s->cfg->listen.items[i], i)) < 0)
				return rc;
	}
	uv_signal_t *sigs[] = { &s->sig_hup, &s->sig_term, &s->sig_int, &s->sig_usr1 };
	int nums[] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1 };
	for (int i = 0; i < 4; i++) {
		uv_signal_init(s->loop, sigs[i]);
		sigs[i]->data = s;
		uv_signal_start(sigs[i], on_signal, nums[i]);
	}
	s->signals_on = 1;
	if (s->cfg->watch && (rc = watch_start(s)) < 0)
		return rc;
	log_info("serving %zu records, serial %u", registry_count(s->reg),
	         registry_serial(s->reg));
	return 0;
}

static void
conn_shutdown_done(uv_shutdown_t *req, int status)
{
	(void)status;
	conn_close(req->data);
}

void
server_stop(server_t *s)
{
	if (s->stopping)
		return;
	s->stopping = 1;
	for (int i = 0; i < s->n_udp; i++)
		uv_close((uv_handle_t *)&s->udp[i], NULL);
	for (int i = 0; i < s->n_tcp; i++)
		uv_close((uv_handle_t *)&s->tcp[i], NULL);
	if (s->signals_on) {
		uv_close((uv_handle_t *)&s->sig_hup, NULL);
		uv_close((uv_handle_t *)&s->sig_term, NULL);
		uv_close((uv_handle_t *)&s->sig_int, NULL);
		uv_close((uv_handle_t *)&s->sig_usr1, NULL);
	}
	for (int i = 0; i < s->n_watch; i++)
		uv_close((uv_handle_t *)&s->watch[i]->ev, watch_closed);
	s->n_watch = 0;
	if (s->reload_timer_on)
		uv_close((uv_handle_t *)&s->reload_timer, NULL);
	/* Answers already queued are flushed by the shutdown, then we close. */
	for (conn_t *c = s->conns; c != NULL; c = c->next) {
		if (c->closing)
			continue;
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->shutdown.data = c;
		if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, conn_shutdown_done) < 0)
			conn_close(c);
	}
	log_info("stopped accepting queries");
}

void
server_free(server_t *s)
{
	if (s == NULL)
		return;
	registry_free(s->reg);
	free(s);
}

uint32_t
server_serial(const server_t *s)
{
	return registry_serial(s->reg);
}

int
server_port(const server_t *s, int i)
{
	return i >= 0 && i < CONFIG_MAX_LIST ? s->ports[i] : -1;
}
