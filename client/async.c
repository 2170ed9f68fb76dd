/*
 * async.c -- libportq on the caller's libuv loop (see portq_async.h): the
 * query engine's event-loop driver.
 *
 * What a query asks, where, for how long and what an answer means is the
 * engine's (engine.h), as for the blocking client (transport.c); this
 * file moves the bytes and reports each event to the engine. One
 * probe is one exchange with one address; it owns one socket handle
 * (uv_udp_t or uv_tcp_t) and is freed in that handle's close callback,
 * after libuv has cancelled whatever the handle still had pending. The
 * query's timer is its probe's deadline, and closing it is the query's
 * last act: the caller's callback runs from the close callback of the
 * last handle, so it never runs inside the call that started the query,
 * and when it runs nothing of the query is left on the loop.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "engine.h"
#include "frame.h"
#include "msg.h"
#include "portq_async.h"
#include "resolve_uv.h"
#include "transport.h"

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define UDP_MAX_STRAYS 256   /* datagrams dropped by one probe: a flood must not spin */

typedef struct query query_t;
typedef struct probe probe_t;

typedef enum { RESOLVE_NONE, RESOLVE_RUNNING, RESOLVE_DONE } resolve_state_t;

struct portq_async {
	uv_loop_t *loop;
	portq_client_t *c;          /* options, servers, addresses, cache scope */
	resolve_uv_t resolver;      /* c-ares on the loop; its timer is always open */
	resolve_state_t resolve;
	query_t *queries;           /* every query whose callback has not run */
	int closing;
	int resolver_closed;
	portq_async_close_cb close_cb;
	void *close_arg;
	uint8_t scratch[CLIENT_BUF_MAX];  /* one datagram or cached answer at a time */
};

struct query {
	portq_async_t *a;
	query_t *prev, *next;
	uv_timer_t timer;           /* the probe's deadline */
	int open;                   /* the timer and probes not yet closed */
	int resolving;              /* waits for the addresses */
	int done;
	portq_question_t q;
	engine_t e;                 /* decides; e.error is the callback's text */
	probe_t *probe;             /* in flight, or NULL */
	int status;
	portq_result_t *result;
	portq_async_cb cb;
	void *arg;
};

struct probe {
	query_t *q;
	resolve_addr_t addr;
	int tcp;
	int finished;               /* its outcome is known; the handle is closing */
	int strays;
	union {
		uv_handle_t handle;
		uv_udp_t udp;
		uv_tcp_t tcp;
	} h;
	uv_udp_send_t send;
	uv_connect_t connect;
	uv_write_t write;
	uint8_t out[PORTQ_FRAME_PREFIX + ENGINE_QUERY_MAX];   /* prefix, then the query */
	size_t qlen;
	uint8_t *tbuf;              /* TCP reassembly, CLIENT_BUF_MAX */
	size_t have;
};

static void query_step(query_t *q, engine_next_t next);

/* ---- the handle's end -------------------------------------------------- */

static void
async_maybe_closed(portq_async_t *a)
{
	if (!a->closing || !a->resolver_closed || a->queries != NULL)
		return;
	if (a->close_cb != NULL)
		a->close_cb(a, a->close_arg);    /* closing: nothing it calls acts */
	client_free(a->c);
	free(a);
}

static void
resolver_closed(resolve_uv_t *r)
{
	portq_async_t *a = container_of(r, portq_async_t, resolver);
	a->resolver_closed = 1;
	async_maybe_closed(a);
}

/* ---- delivery ----------------------------------------------------------- */

static void
query_maybe_deliver(query_t *q)
{
	if (!q->done || q->open > 0)
		return;
	portq_async_t *a = q->a;
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		a->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	q->cb(q->status, q->result, q->status == PORTQ_OK ? "" : q->e.error, q->arg);
	free(q);
	async_maybe_closed(a);
}

static void
timer_closed(uv_handle_t *h)
{
	query_t *q = container_of(h, query_t, timer);
	q->open--;
	query_maybe_deliver(q);
}

static void
probe_closed(uv_handle_t *h)
{
	probe_t *p = h->data;
	query_t *q = p->q;
	free(p->tbuf);
	free(p);
	q->open--;
	query_maybe_deliver(q);
}

static void
probe_close(probe_t *p)
{
	p->finished = 1;
	if (p->q->probe == p)
		p->q->probe = NULL;
	uv_close(&p->h.handle, probe_closed);
}

/* The engine's verdict is in: close what the query holds; the callback follows. */
static void
query_end(query_t *q)
{
	q->done = 1;
	q->status = q->e.status;
	q->result = q->e.status == PORTQ_OK ? q->e.result : NULL;
	if (q->probe != NULL)
		probe_close(q->probe);
	uv_timer_stop(&q->timer);
	uv_close((uv_handle_t *)&q->timer, timer_closed);
}

/* ---- what a probe brought ----------------------------------------------- */

/*
 * A probe's outcome: rc PORTQ_OK with the answer msg[0..len) (matched to
 * the query already), or a failure with its text. The handle closes;
 * msg is read before its buffer goes.
 */
static void
probe_end(probe_t *p, int rc, const uint8_t *msg, size_t len, const char *fmt,
          const char *detail)
{
	if (p->finished)
		return;
	query_t *q = p->q;
	uv_timer_stop(&q->timer);
	probe_close(p);
	long long now = (long long)uv_now(q->a->loop);
	if (rc < 0) {
		char text[256];
		snprintf(text, sizeof(text), fmt, p->addr.label, detail);
		query_step(q, engine_fail(&q->e, rc, text, now));
		return;
	}
	query_step(q, engine_reply(&q->e, msg, len, now));
}

static void
on_timeout(uv_timer_t *t)
{
	query_t *q = container_of(t, query_t, timer);
	if (q->probe != NULL)
		probe_end(q->probe, PORTQ_ETIMEDOUT, NULL, 0,
		          q->probe->tcp ? "%s: tcp: timed out%s" : "%s: timed out%s", "");
}

/* ---- UDP ---------------------------------------------------------------- */

static void
udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	probe_t *p = h->data;
	/* Read and used at once in udp_read(): one buffer serves every probe. */
	*buf = uv_buf_init((char *)p->q->a->scratch, sizeof(p->q->a->scratch));
}

static void
udp_read(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
         unsigned flags)
{
	probe_t *p = h->data;
	if (p->finished || (nread == 0 && from == NULL))
		return;
	if (nread < 0) {
		probe_end(p, PORTQ_EIO, NULL, 0, "%s: %s", nread == UV_ECONNREFUSED ?
		          "connection refused (no server on that port)" : uv_strerror((int)nread));
		return;
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (from != NULL)
		memcpy(&ss, from, from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                              : sizeof(struct sockaddr_in));
	if ((flags & UV_UDP_PARTIAL) || from == NULL || !transport_same_addr(&ss, &p->addr.ss) ||
	    !engine_reply_match(&p->q->e, (const uint8_t *)buf->base, (size_t)nread)) {
		if (++p->strays >= UDP_MAX_STRAYS)
			probe_end(p, PORTQ_ETIMEDOUT, NULL, 0, "%s: %s",
			          "no matching answer among 256 datagrams");
		return;
	}
	probe_end(p, PORTQ_OK, (const uint8_t *)buf->base, (size_t)nread, NULL, NULL);
}

static void
udp_sent(uv_udp_send_t *req, int status)
{
	probe_t *p = req->data;
	if (status < 0 && status != UV_ECANCELED && !p->finished)
		probe_end(p, PORTQ_EIO, NULL, 0, "%s: %s", status == UV_ECONNREFUSED ?
		          "connection refused (no server on that port)" : uv_strerror(status));
}

static int
udp_begin(probe_t *p, const char **why)
{
	uv_loop_t *loop = p->q->a->loop;
	int rc = uv_udp_init_ex(loop, &p->h.udp, p->addr.ss.ss_family);
	if (rc < 0) {
		*why = uv_strerror(rc);
		return -1;             /* no handle: nothing to close */
	}
	p->h.udp.data = p;
	p->q->open++;
	/* Connected, so that a closed port's ICMP error ends the probe at once. */
	uv_buf_t b = uv_buf_init((char *)p->out + PORTQ_FRAME_PREFIX, (unsigned)p->qlen);
	p->send.data = p;
	if ((rc = uv_udp_connect(&p->h.udp, (const struct sockaddr *)&p->addr.ss)) < 0 ||
	    (rc = uv_udp_recv_start(&p->h.udp, udp_alloc, udp_read)) < 0 ||
	    (rc = uv_udp_send(&p->send, &p->h.udp, &b, 1, NULL, udp_sent)) < 0) {
		*why = uv_strerror(rc);
		return 1;              /* a handle to close */
	}
	return 0;
}

/* ---- TCP ---------------------------------------------------------------- */

static void
tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	probe_t *p = h->data;
	if (p->tbuf == NULL)
		p->tbuf = malloc(CLIENT_BUF_MAX);
	if (p->tbuf == NULL) {
		*buf = uv_buf_init(NULL, 0);      /* the read callback gets UV_ENOBUFS */
		return;
	}
	*buf = uv_buf_init((char *)p->tbuf + p->have, (unsigned)(CLIENT_BUF_MAX - p->have));
}

static void
tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	probe_t *p = s->data;
	if (p->finished || nread == 0)
		return;
	if (nread == UV_ENOBUFS) {
		probe_end(p, PORTQ_ENOMEM, NULL, 0, "%s: %s", "out of memory");
		return;
	}
	if (nread < 0) {
		probe_end(p, PORTQ_EIO, NULL, 0, "%s: %s", nread == UV_EOF ?
		          "tcp connection closed before the answer" : uv_strerror((int)nread));
		return;
	}
	p->have += (size_t)nread;
	const uint8_t *msg;
	size_t mlen;
	int used = portq_frame_next(p->tbuf, p->have, PORTQ_MSG_MAX, &msg, &mlen);
	if (used == PORTQ_EAGAIN)
		return;
	if (used < 0)
		probe_end(p, PORTQ_EMALFORMED, NULL, 0, "%s: bad tcp frame: %s",
		          portq_strerror(used));
	else if (!engine_reply_match(&p->q->e, msg, mlen))
		probe_end(p, PORTQ_EMALFORMED, NULL, 0, "%s: %s",
		          "tcp answer does not match the query");
	else
		probe_end(p, PORTQ_OK, msg, mlen, NULL, NULL);
}

static void
tcp_written(uv_write_t *req, int status)
{
	probe_t *p = req->data;
	if (status < 0 && status != UV_ECANCELED && !p->finished)
		probe_end(p, PORTQ_EIO, NULL, 0, "%s: tcp send: %s", uv_strerror(status));
}

static void
tcp_connected(uv_connect_t *req, int status)
{
	probe_t *p = req->data;
	if (status == UV_ECANCELED || p->finished)
		return;
	if (status < 0) {
		probe_end(p, PORTQ_EIO, NULL, 0, "%s: tcp: %s", uv_strerror(status));
		return;
	}
	/* The prefix and the query in one write, so one segment carries both. */
	portq_frame_prefix(p->out, p->qlen);
	uv_buf_t b = uv_buf_init((char *)p->out, (unsigned)(p->qlen + PORTQ_FRAME_PREFIX));
	p->write.data = p;
	int rc = uv_write(&p->write, (uv_stream_t *)&p->h.tcp, &b, 1, tcp_written);
	if (rc == 0)
		rc = uv_read_start((uv_stream_t *)&p->h.tcp, tcp_alloc, tcp_read);
	if (rc < 0)
		probe_end(p, PORTQ_EIO, NULL, 0, "%s: tcp: %s", uv_strerror(rc));
}

static int
tcp_begin(probe_t *p, const char **why)
{
	int rc = uv_tcp_init(p->q->a->loop, &p->h.tcp);
	if (rc < 0) {
		*why = uv_strerror(rc);
		return -1;
	}
	p->h.tcp.data = p;
	p->q->open++;
	p->connect.data = p;
	rc = uv_tcp_connect(&p->connect, &p->h.tcp, (const struct sockaddr *)&p->addr.ss,
	                    tcp_connected);
	if (rc < 0) {
		*why = uv_strerror(rc);
		return 1;
	}
	return 0;
}

/* ---- probes --------------------------------------------------------------- */

/* The exchange the engine asks for: its query to its address. */
static void
probe_start(query_t *q)
{
	engine_t *e = &q->e;
	const resolve_addr_t *addr = &q->a->c->addrs[e->addr];
	probe_t *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		query_step(q, engine_cancel(e, PORTQ_ENOMEM, NULL));
		return;
	}
	p->q = q;
	p->addr = *addr;
	p->tcp = e->tcp;
	memcpy(p->out + PORTQ_FRAME_PREFIX, e->query, e->qlen);
	p->qlen = e->qlen;
	const char *why = NULL;
	int rc = p->tcp ? tcp_begin(p, &why) : udp_begin(p, &why);
	if (rc < 0) {
		char text[256];
		snprintf(text, sizeof(text), "%s: %s", addr->label, why);
		free(p);
		query_step(q, engine_fail(e, PORTQ_EIO, text, (long long)uv_now(q->a->loop)));
		return;
	}
	q->probe = p;
	if (rc > 0) {
		probe_end(p, PORTQ_EIO, NULL, 0, "%s: %s", why);
		return;
	}
	uv_timer_start(&q->timer, on_timeout, (uint64_t)e->wait_ms, 0);
}

static void
query_step(query_t *q, engine_next_t next)
{
	if (q->done)
		return;
	if (next == ENGINE_SEND)
		probe_start(q);
	else if (next == ENGINE_DONE)
		query_end(q);
}

/* ---- server addresses ------------------------------------------------------ */

/* Resolution ended: start the queries that waited, or fail them. */
static void
resolved(portq_async_t *a, int rc)
{
	a->resolve = rc == PORTQ_OK ? RESOLVE_DONE : RESOLVE_NONE;  /* none: next query retries */
	for (query_t *q = a->queries; q != NULL; q = q->next) {
		if (!q->resolving || q->done)
			continue;
		q->resolving = 0;
		query_step(q, engine_resolved(&q->e, rc, (long long)uv_now(a->loop)));
	}
}

static void
on_resolved(resolve_uv_t *r, int rc)
{
	resolved(container_of(r, portq_async_t, resolver), rc);
}

static void
resolve_begin(portq_async_t *a)
{
	portq_client_t *c = a->c;
	a->resolve = RESOLVE_RUNNING;
	int rc = resolve_uv_run(&a->resolver, &c->conf, c->conf.timeout_ms, c->conf.attempts,
	                        c->addrs, CLIENT_MAX_ADDRS, &c->n_addrs, c->resolve_error,
	                        sizeof(c->resolve_error), on_resolved);
	if (rc != PORTQ_EAGAIN)
		resolved(a, rc);      /* numeric servers, or names answered at once */
}

/* ---- starting a query -------------------------------------------------------- */

/* A new query for `a`, its question checked and set up; NULL on error. */
static query_t *
query_new(portq_async_t *a, uint8_t opcode, const char *proto, portq_async_cb cb,
          void *arg, int *rc)
{
	*rc = PORTQ_EINVAL;
	if (a == NULL || cb == NULL || a->closing)
		return NULL;
	int tp = client_proto_parse(proto);
	if (tp < 0)
		return NULL;
	query_t *q = calloc(1, sizeof(*q));
	if (q == NULL) {
		*rc = PORTQ_ENOMEM;
		return NULL;
	}
	q->a = a;
	q->e.opcode = opcode;       /* engine_init() at query_submit() */
	q->q.transport = (uint8_t)tp;
	q->cb = cb;
	q->arg = arg;
	*rc = PORTQ_OK;
	return q;
}

static int
query_submit(query_t *q)
{
	portq_async_t *a = q->a;
	engine_init(&q->e, q->e.opcode, &q->q, 0);
	uv_timer_init(a->loop, &q->timer);
	q->open = 1;
	q->next = a->queries;
	if (a->queries != NULL)
		a->queries->prev = q;
	a->queries = q;

	engine_next_t next = engine_begin(&q->e, a->c, (long long)uv_now(a->loop), a->scratch,
	                                  sizeof(a->scratch));
	if (next != ENGINE_RESOLVE) {
		query_step(q, next);       /* from the cache: the callback comes from the loop */
		return PORTQ_OK;
	}
	q->resolving = 1;
	if (a->resolve == RESOLVE_DONE)
		resolved(a, PORTQ_OK);
	else if (a->resolve == RESOLVE_NONE)
		resolve_begin(a);
	return PORTQ_OK;
}

static int
text_ok(const char *text)
{
	return text != NULL && text[0] != '\0' && strlen(text) <= PORTQ_TEXT_MAX;
}

PORTQ_EXPORT int
portq_async_port(portq_async_t *a, unsigned port, const char *proto, portq_async_cb cb,
                 void *arg)
{
	if (port > 65535)
		return PORTQ_EINVAL;
	int rc;
	query_t *q = query_new(a, PORTQ_OP_PORT, proto, cb, arg, &rc);
	if (q == NULL)
		return rc;
	q->q.port_lo = (uint16_t)port;
	return query_submit(q);
}

PORTQ_EXPORT int
portq_async_name(portq_async_t *a, const char *name, const char *proto, portq_async_cb cb,
                 void *arg)
{
	if (!text_ok(name))
		return PORTQ_EINVAL;
	int rc;
	query_t *q = query_new(a, PORTQ_OP_NAME, proto, cb, arg, &rc);
	if (q == NULL)
		return rc;
	portq_question_set_text(&q->q, name);
	return query_submit(q);
}

PORTQ_EXPORT int
portq_async_range(portq_async_t *a, unsigned lo, unsigned hi, const char *proto,
                  uint32_t offset, unsigned limit, portq_async_cb cb, void *arg)
{
	if (lo > hi || hi > 65535 || limit > 65535)
		return PORTQ_EINVAL;
	int rc;
	query_t *q = query_new(a, PORTQ_OP_RANGE, proto, cb, arg, &rc);
	if (q == NULL)
		return rc;
	q->q.port_lo = (uint16_t)lo;
	q->q.port_hi = (uint16_t)hi;
	q->q.offset = offset;
	q->q.limit = (uint16_t)limit;
	return query_submit(q);
}

PORTQ_EXPORT int
portq_async_search(portq_async_t *a, const char *text, const char *proto, uint32_t offset,
                   unsigned limit, portq_async_cb cb, void *arg)
{
	if (!text_ok(text) || limit > 65535)
		return PORTQ_EINVAL;
	int rc;
	query_t *q = query_new(a, PORTQ_OP_SEARCH, proto, cb, arg, &rc);
	if (q == NULL)
		return rc;
	portq_question_set_text(&q->q, text);
	q->q.offset = offset;
	q->q.limit = (uint16_t)limit;
	return query_submit(q);
}

PORTQ_EXPORT int
portq_async_info(portq_async_t *a, portq_async_cb cb, void *arg)
{
	int rc;
	query_t *q = query_new(a, PORTQ_OP_INFO, NULL, cb, arg, &rc);
	if (q == NULL)
		return rc;
	return query_submit(q);
}

/* ---- the handle ---------------------------------------------------------------- */

PORTQ_EXPORT int
portq_async_new(portq_async_t **out, uv_loop_t *loop, const portq_options_t *opts)
{
	if (out == NULL)
		return PORTQ_EINVAL;
	*out = NULL;
	if (loop == NULL)
		return PORTQ_EINVAL;
	portq_async_t *a = malloc(sizeof(*a));
	if (a == NULL)
		return PORTQ_ENOMEM;
	memset(a, 0, offsetof(portq_async_t, scratch));
	int rc = portq_client_new(&a->c, opts);
	if (rc < 0) {
		free(a);
		return rc;
	}
	a->loop = loop;
	resolve_uv_init(&a->resolver, loop);
	*out = a;
	return PORTQ_OK;
}

PORTQ_EXPORT void
portq_async_close(portq_async_t *a, portq_async_close_cb close_cb, void *arg)
{
	if (a == NULL || a->closing)
		return;
	a->closing = 1;
	a->close_cb = close_cb;
	a->close_arg = arg;
	for (query_t *q = a->queries; q != NULL; q = q->next) {
		if (!q->done)
			query_step(q, engine_cancel(&q->e, PORTQ_EIO, "cancelled"));
	}
	resolve_uv_close(&a->resolver, resolver_closed);
}
