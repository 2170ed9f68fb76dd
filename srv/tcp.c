/*
 * tcp.c -- portqd's TCP connections (see tcp.h): accepting within the
 * access list and the connection limits (per worker, per /24 or /56,
 * making room by closing the connection longest without an answer),
 * reassembling query frames, answering, writing, and closing on idle,
 * slow, greedy or old connections.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stats.h"
#include "tcp.h"

#define TCP_BACKLOG 512                  /* uv_listen()'s, for every listener */

static void
conn_handle_closed(uv_handle_t *h)
{
	conn_t *c = h->data;
	if (--c->open_handles > 0)
		return;
	worker_t *w = c->w;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	STAT_ADD(w->tcp_open, -1);
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
conn_shutdown_done(uv_shutdown_t *req, int status)
{
	(void)status;
	conn_close(req->data);
}

/* Close after the answers already queued have left. */
static void
conn_finish(conn_t *c)
{
	if (c->closing || c->retiring)
		return;
	c->retiring = 1;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->shutdown.data = c;
	if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, conn_shutdown_done) < 0)
		conn_close(c);
}

static int
conn_expired(const conn_t *c)
{
	return uv_now(c->w->loop) - c->born_ms >= (uint64_t)c->w->srv->cfg->tcp_max_lifetime;
}

static void conn_idle(uv_timer_t *t);

/* Run the idle or read timer for `ms`, or to the end of the connection's lifetime if sooner. */
static void
conn_arm(conn_t *c, uint64_t ms)
{
	uint64_t age = uv_now(c->w->loop) - c->born_ms;
	uint64_t life = (uint64_t)c->w->srv->cfg->tcp_max_lifetime;
	uint64_t left = life > age ? life - age : 0;
	uv_timer_start(&c->idle, conn_idle, ms < left ? ms : left, 0);
}

static void
conn_idle(uv_timer_t *t)
{
	conn_t *c = t->data;
	if (c->retiring)
		;                                     /* its answers did not drain in time */
	else if (conn_expired(c))
		STAT_ADD(c->w->tcp_retired, 1);
	else if (c->partial)
		STAT_ADD(c->w->tcp_slow_closed, 1);   /* a query that never finished */
	else
		STAT_ADD(c->w->tcp_idle_closed, 1);
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

/*
 * Send one framed answer (`frame`: the 2-byte prefix, then the message;
 * `n` bytes in all). It goes out at once when nothing waits before it
 * and the socket takes it; only what is left is copied and queued, so
 * writes on one stream stay in order and a client that reads its answers
 * costs no allocation.
 */
static int
conn_send(conn_t *c, const uint8_t *frame, size_t n)
{
	uv_stream_t *st = (uv_stream_t *)&c->tcp;
	if (uv_stream_get_write_queue_size(st) > (size_t)c->w->srv->cfg->tcp_max_pending)
		return -1;                       /* the client does not read its answers */
	uv_buf_t b = uv_buf_init((char *)(uintptr_t)frame, (unsigned)n);
	int done = uv_try_write(st, &b, 1);  /* UV_EAGAIN while writes are queued */
	if (done == (int)n)
		return 0;
	if (done < 0 && done != UV_EAGAIN)
		return -1;
	size_t off = done > 0 ? (size_t)done : 0;
	out_write_t *o = malloc(sizeof(*o) + n - off);
	if (o == NULL)
		return -1;
	memcpy(o->data, frame + off, n - off);
	b = uv_buf_init((char *)o->data, (unsigned)(n - off));
	if (uv_write(&o->req, st, &b, 1, conn_written) < 0) {
		free(o);
		return -1;
	}
	return 0;
}

/* Answer one framed query of a connection into out. */
static size_t
answer(worker_t *w, const uint8_t *req, size_t len, uint8_t *out, size_t max, int stream)
{
	answer_ctx_t ctx = { w->reg->reg, &w->stats, stats_info, w, stream, 0 };
	return answer_query(&ctx, req, len, out, max).len;
}

static void conn_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void conn_resume(uv_timer_t *t);

/*
 * The prefix's tcp-rate is spent: stop reading the connection, keep what
 * it has sent (no query already read is dropped), and look again when the
 * bucket holds a token anew (at least 10 ms later, so that a paused
 * prefix's connections wake a hundred times a second at most).
 */
static void
conn_pause(conn_t *c)
{
	uint64_t rate = (uint64_t)c->w->srv->cfg->tcp_rate;
	uint64_t ms = (1000 + rate - 1) / rate;
	c->paused = 1;
	STAT_ADD(c->w->tcp_paused, 1);
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_timer_start(&c->idle, conn_resume, ms < 10 ? 10 : ms, 0);
}

/*
 * Answer every whole frame in the buffer, as far as the prefix's
 * tcp-rate allows, then arm the idle or read timer (or the resume timer
 * when paused). May close or retire the connection.
 */
static void
conn_process(conn_t *c)
{
	worker_t *w = c->w;
	size_t off = 0;
	for (;;) {
		const uint8_t *msg;
		size_t mlen;
		int used = portq_frame_next(c->buf + off, c->len - off,
		                            (size_t)w->srv->cfg->tcp_max_frame, &msg, &mlen);
		if (used == PORTQ_EAGAIN)
			break;
		if (used < 0) {
			log_debug("tcp: bad frame (%s), closing", portq_strerror(used));
			STAT_ADD(w->stats.dropped, 1);
			conn_close(c);
			return;
		}
		/* A token per query from the prefix's bucket, over all its
		 * connections, before any work is done for it. */
		if (rrl_check(w->tcp_rrl, (struct sockaddr *)&c->peer, uv_now(w->loop)) != RRL_SEND) {
			conn_pause(c);
			break;
		}
		off += (size_t)used;
		size_t n = answer(w, msg, mlen, w->out + PORTQ_FRAME_PREFIX, PORTQ_MSG_MAX, 1);
		if (n > 0)
			portq_frame_prefix(w->out, n);
		if (n == 0 || conn_send(c, w->out, PORTQ_FRAME_PREFIX + n) < 0) {
			conn_close(c);               /* not portq at all, or a client that does not read */
			return;
		}
		c->served = ++w->serve_seq;
		if (++c->queries >= w->srv->cfg->tcp_max_queries) {
			STAT_ADD(w->tcp_retired, 1);  /* what follows in the buffer is not answered */
			c->paused = 0;
			conn_finish(c);
			uv_timer_start(&c->idle, conn_idle, (uint64_t)w->srv->cfg->tcp_read_timeout, 0);
			return;
		}
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	if (c->paused)
		return;

	/* Between queries the idle timeout runs; once a query has started,
	 * the read timeout, which more bytes of the same query do not
	 * extend: a client trickling a byte at a time cannot hold on. */
	const config_t *cfg = w->srv->cfg;
	if (c->len == 0) {
		c->partial = 0;
		conn_arm(c, (uint64_t)cfg->tcp_idle_timeout);
	} else if (!c->partial || off > 0) {
		c->partial = 1;
		conn_arm(c, (uint64_t)cfg->tcp_read_timeout);
	}
}

/* The pause is over: answer what waits, then read again. */
static void
conn_resume(uv_timer_t *t)
{
	conn_t *c = t->data;
	if (c->closing || c->retiring)
		return;
	if (conn_expired(c)) {
		STAT_ADD(c->w->tcp_retired, 1);
		conn_close(c);
		return;
	}
	c->paused = 0;
	c->partial = 0;                      /* the read timer starts over from here */
	conn_process(c);
	if (!c->paused && !c->closing && !c->retiring &&
	    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) < 0)
		conn_close(c);
}

static void
conn_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	conn_t *c = stream->data;
	(void)buf;
	c->was_read = 1;
	if (nread < 0) {
		conn_close(c);                   /* EOF or error: nothing left to answer */
		return;
	}
	c->len += (size_t)nread;
	conn_process(c);
}

/*
 * Has the connection had its chance to be read? libuv accepts a whole
 * burst of connections in one callback before it reads any of them, and
 * polls a new one first in the next loop iteration; by the end of that
 * one, a client that sent its query on connecting has been read.
 */
static int
conn_had_its_chance(const conn_t *c)
{
	return c->was_read || c->w->iterations >= c->born_iter + 2;
}

/* Order connections by prefix, so that each prefix's are one run. */
static int
conn_cmp_prefix(const void *a, const void *b)
{
	const conn_t *x = *(conn_t *const *)a, *y = *(conn_t *const *)b;
	return memcmp(&x->prefix, &y->prefix, sizeof(x->prefix));
}

/*
 * Of the connections in run[0..n) (one prefix), the one to close: a
 * retiring one first (it only waits for its answers to leave), else the
 * one longest without an answer. Never `keep`, one closing already, or
 * one that has not had its first read callback (a connection accepted in
 * the same burst as others has not been given a chance to ask yet: conn_had_its_chance).
 */
static conn_t *
conn_victim(conn_t *const *run, size_t n, const conn_t *keep)
{
	conn_t *best = NULL;
	for (size_t i = 0; i < n; i++) {
		conn_t *o = run[i];
		if (o == keep || o->closing || !conn_had_its_chance(o))
			continue;
		if (best == NULL || (o->retiring && !best->retiring) ||
		    (o->retiring == best->retiring && o->served < best->served))
			best = o;
	}
	return best;
}

/*
 * Make room for the new connection `c` if its prefix or the worker is
 * full. Every open connection counts, retiring ones too (each still holds
 * a descriptor and its buffers). When the prefix is full, one of its own
 * goes; when the worker is, one of the prefix holding the most
 * connections (the oldest prefix's oldest on a tie), so that a few
 * prefixes filling the worker push out only themselves as long as each
 * holds more than anyone else. Within the prefix: see conn_victim.
 * Returns 0, or -1 when there is nothing to close.
 */
static int
conn_make_room(worker_t *w, conn_t *c)
{
	const config_t *cfg = w->srv->cfg;
	size_t live = 0;
	for (conn_t *o = w->conns; o != NULL; o = o->next)
		live += !o->closing;
	/* The limits are per worker: each holds its share of the total. */
	long limit = (cfg->tcp_max_connections + w->srv->n_workers - 1) / w->srv->n_workers;
	conn_t **all = malloc((live ? live : 1) * sizeof(*all));
	if (all == NULL)
		return -1;
	size_t n = 0;
	for (conn_t *o = w->conns; o != NULL; o = o->next)
		if (!o->closing)
			all[n++] = o;
	qsort(all, n, sizeof(*all), conn_cmp_prefix);

	conn_t *victim = NULL;
	int full = 0;
	size_t best_len = 0;
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && prefix_eq(&all[j]->prefix, &all[i]->prefix); j++)
			;
		conn_t *v = conn_victim(all + i, j - i, c);
		if (prefix_eq(&all[i]->prefix, &c->prefix) &&
		    (long)(j - i) > cfg->tcp_max_per_source) {
			full = 1;                    /* its own prefix is full: one of its own */
			victim = v;
			break;
		}
		if ((long)live > limit && v != NULL &&
		    (j - i > best_len || (j - i == best_len && v->served < victim->served))) {
			best_len = j - i;
			victim = v;
		}
	}
	free(all);
	if (!full && (long)live <= limit)
		return 0;
	if (victim == NULL)
		return -1;
	STAT_ADD(w->tcp_evicted, 1);
	conn_close(victim);
	return 0;
}

/*
 * The connection waiting on listener `server` could not be taken (no
 * memory): accept it into the worker's drop handle and close it. libuv
 * stops watching a listener while an accepted descriptor waits for
 * uv_accept(), so leaving it there would stop that listener for good.
 * While the drop handle is closing, a listener in the same plight waits
 * for it (drop_wait) and is served when it has closed.
 */
static void tcp_drop(worker_t *w, uv_stream_t *server);
static void tcp_accept(uv_stream_t *server, int status);


static void
tcp_drop_closed(uv_handle_t *h)
{
	worker_t *w = h->data;
	w->drop_busy = 0;
	for (int i = 0; i < w->n_tcp; i++)
		if (w->drop_wait[i] && !w->drop_busy) {
			w->drop_wait[i] = 0;
			if (!w->stopping)
				tcp_drop(w, (uv_stream_t *)&w->tcp[i]);
		}
}

static void
tcp_drop(worker_t *w, uv_stream_t *server)
{
	if (w->drop_busy) {
		w->drop_wait[(uv_tcp_t *)server - w->tcp] = 1;
		return;
	}
	w->drop_busy = 1;
	uv_tcp_init(w->loop, &w->drop);
	w->drop.data = w;
	if (uv_accept(server, (uv_stream_t *)&w->drop) < 0)
		(void)uv_listen(server, TCP_BACKLOG, tcp_accept);   /* see tcp_accept */
	uv_close((uv_handle_t *)&w->drop, tcp_drop_closed);
}

/* Testing only: how many of the next connection allocations fail. */
static int fail_conn_allocs;

void
tcp_fail_allocs(int n)
{
	__atomic_store_n(&fail_conn_allocs, n, __ATOMIC_RELAXED);
}

static conn_t *
conn_new(size_t cap)
{
	int fail = __atomic_load_n(&fail_conn_allocs, __ATOMIC_RELAXED);
	if (fail > 0 && __atomic_compare_exchange_n(&fail_conn_allocs, &fail, fail - 1, 0,
	                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return NULL;
	return calloc(1, sizeof(conn_t) + cap);
}

static void
tcp_accept(uv_stream_t *server, int status)
{
	worker_t *w = server->data;
	const config_t *cfg = w->srv->cfg;
	if (status < 0) {
		/* libuv has already dropped the connection (with its spare
		 * descriptor when the process is out of them) and goes on. */
		if (STAT_GET(w->tcp_dropped) == 0)
			log_warn("tcp accept: %s (counted in tcp-dropped from now on)",
			         uv_strerror(status));
		STAT_ADD(w->tcp_dropped, 1);
		return;
	}
	size_t cap = PORTQ_FRAME_PREFIX + (size_t)cfg->tcp_max_frame;
	conn_t *c = conn_new(cap);
	if (c == NULL) {
		if (STAT_GET(w->tcp_dropped) == 0)
			log_warn("tcp accept: out of memory, connection dropped "
			         "(counted in tcp-dropped from now on)");
		STAT_ADD(w->tcp_dropped, 1);
		tcp_drop(w, server);
		return;
	}
	c->w = w;
	c->cap = cap;
	uv_tcp_init(w->loop, &c->tcp);
	uv_timer_init(w->loop, &c->idle);
	c->tcp.data = c->idle.data = c;
	c->open_handles = 2;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	STAT_ADD(w->tcp_open, 1);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		/* The descriptor is closed, but libuv (1.44) only watches the
		 * listener again after a uv_accept() that worked: listen anew. */
		(void)uv_listen(server, TCP_BACKLOG, tcp_accept);
		STAT_ADD(w->tcp_dropped, 1);
		conn_close(c);
		return;
	}
	int plen = sizeof(c->peer);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &plen) < 0) {
		conn_close(c);
		return;
	}
	if (!acl_allows(&w->srv->acl, (struct sockaddr *)&c->peer)) {
		STAT_ADD(w->acl_refused, 1);
		conn_close(c);
		return;
	}
	c->prefix = prefix_of((struct sockaddr *)&c->peer);
	c->born_ms = uv_now(w->loop);
	c->born_iter = w->iterations;
	c->served = ++w->serve_seq;
	if (w->stopping || conn_make_room(w, c) < 0) {
		STAT_ADD(w->tcp_refused, 1);
		conn_close(c);
		return;
	}
	STAT_ADD(w->tcp_accepted, 1);
	uv_tcp_nodelay(&c->tcp, 1);
	conn_arm(c, (uint64_t)cfg->tcp_idle_timeout);
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) < 0)
		conn_close(c);
}

int
tcp_listen(uv_tcp_t *t)
{
	return uv_listen((uv_stream_t *)t, TCP_BACKLOG, tcp_accept);
}

void
tcp_conns_finish(worker_t *w)
{
	for (conn_t *c = w->conns; c != NULL; c = c->next)
		conn_finish(c);                  /* one retiring already is on its way */
}
