/*
 * engine.c -- one query's decisions (see engine.h).
 *
 * Every rule of a query is here once: the order of the addresses, the
 * share of a budget, TC then TCP, what an RCODE means, when to give up,
 * what the cache keeps, what the health memory learns. An answer's header
 * is read once, where it is matched to the query; the TC flag, the RCODE
 * and the decoder all work on that one reading.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "health.h"
#include "result.h"

/* What a query learnt of an address, in seen[]. */
enum {
	ADDR_UNTRIED = 0,
	ADDR_SILENT,                /* every try so far timed out */
	ADDR_NOT_SILENT             /* it answered, refused or failed otherwise */
};

/*
 * IDs come from getrandom() 32 at a time, into a buffer of the thread's: a
 * system call per query cost more than the client's own work on a round
 * trip. A child after fork() may repeat its parent's next few IDs; that is
 * harmless, as its socket, and so its source port, is its own (a handle's
 * kept socket is replaced in a child: client.h).
 */
static _Thread_local uint16_t id_pool[32];
static _Thread_local unsigned id_left;

static uint16_t
query_id_new(void)
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

static void
error_add(engine_t *e, const char *text)
{
	client_error_add(e->error, sizeof(e->error), text);
}

/*
 * The query is over. An address is held down (health_timeout) only when
 * every try the query made of it timed out, and once per query whatever
 * the attempts: a datagram lost on the first try neither makes other
 * queries skip the address meanwhile nor doubles its hold.
 */
static engine_next_t
done(engine_t *e, int status)
{
	if (e->started) {
		for (size_t i = 0; i < e->c->n_addrs; i++)
			if (e->seen[i] == ADDR_SILENT)
				health_timeout(&e->c->addrs[i].ss);
		e->started = 0;
	}
	e->status = status;
	if (status != PORTQ_OK)
		e->result = NULL;
	return ENGINE_DONE;
}

/* What the try of the current address showed; an answer clears a hold at once. */
static void
addr_note(engine_t *e, int rc, int answered)
{
	unsigned char *seen = &e->seen[e->addr];
	if (answered) {
		health_answer(&e->c->addrs[e->addr].ss);
		*seen = ADDR_NOT_SILENT;
	} else if (rc != PORTQ_ETIMEDOUT) {
		*seen = ADDR_NOT_SILENT;
	} else if (*seen == ADDR_UNTRIED) {
		*seen = ADDR_SILENT;
	}
}

/*
 * The addresses this query asks: those not held down after a timeout,
 * including the one probe of an address whose hold ended; the others are
 * named in the error, in case no address answers. Returns how many.
 */
static size_t
addrs_choose(engine_t *e)
{
	const portq_client_t *c = e->c;
	size_t n = 0;
	for (size_t i = 0; i < c->n_addrs; i++) {
		long long since = 0, hold = 0;
		e->ask[i] = (unsigned char)health_ask(&c->addrs[i].ss, &since, &hold);
		if (e->ask[i]) {
			n++;
			continue;
		}
		char text[160];
		snprintf(text, sizeof(text), "%s: not asked (timed out %lld.%lld s ago; "
		         "asked again %lld s after that)", c->addrs[i].label, since / 1000,
		         since % 1000 / 100, hold / 1000);
		error_add(e, text);
	}
	return n;
}

/* Ask the current address, with a query of a fresh ID: a late answer to
 * an earlier try is then not taken for this one's. */
static engine_next_t
send_query(engine_t *e, int tcp, int wait_ms)
{
	portq_header_t h;
	memset(&h, 0, sizeof(h));
	h.opcode = e->opcode;
	h.id = query_id_new();
	int qlen = msg_query_encode(e->query, sizeof(e->query), &h, e->q);
	if (qlen < 0)
		return done(e, qlen);
	e->qlen = (size_t)qlen;
	e->id = h.id;
	e->tcp = tcp;
	e->wait_ms = wait_ms;
	return ENGINE_SEND;
}

/* The servers that were never asked say why, then the query ends. */
static engine_next_t
give_up(engine_t *e)
{
	if (e->c->resolve_error[0] != '\0')
		error_add(e, e->c->resolve_error);
	return done(e, e->failure);
}

/* The next address to ask, in this attempt or the next, or the end. */
static engine_next_t
next_address(engine_t *e, long long now)
{
	const portq_client_t *c = e->c;
	do {
		if (++e->addr >= c->n_addrs) {
			e->addr = 0;
			e->attempt++;
		}
		if (e->attempt >= c->conf.attempts)
			return give_up(e);
	} while (!e->ask[e->addr]);
	/* With a budget, each try has its share of what is left, so a silent
	 * first server leaves time for the others. */
	int wait = c->conf.timeout_ms;
	if (e->deadline > 0) {
		long long left = e->deadline - now;
		if (left <= 0) {
			char text[96];
			snprintf(text, sizeof(text), "lookup budget of %d ms spent", e->budget_ms);
			error_add(e, text);
			return give_up(e);
		}
		long long share = left / (long long)e->tries_left;
		if (share < 1)
			share = 1;
		if (share < wait)
			wait = (int)share;
	}
	e->tries_left--;
	e->answered = 0;
	return send_query(e, c->tcp, wait);
}

/* The current address failed in a way that moves the query on. */
static engine_next_t
address_failed(engine_t *e, int rc, long long now)
{
	if (rc == PORTQ_ENOMEM || rc == PORTQ_EINVAL)
		return done(e, rc);
	if (rc != PORTQ_ETIMEDOUT)
		e->failure = rc;    /* timeouts only when nothing else went wrong */
	return next_address(e, now);
}

/* Attach the caller's view of r to its cache entry, or pass it to cache_put. */
static int
view_of(engine_t *e, const portq_result_t *r, const uint8_t **view, size_t *len)
{
	*view = NULL;
	*len = 0;
	return e->view != NULL && e->view(e->view_ctx, r, view, len) == PORTQ_OK && *len > 0;
}

void
engine_init(engine_t *e, uint8_t opcode, const portq_question_t *q, int budget_ms)
{
	e->c = NULL;
	e->opcode = opcode;
	e->q = q;
	e->budget_ms = budget_ms;
	e->deadline = 0;
	/* INFO describes the server as it is now: never from the cache. */
	e->klen = opcode == PORTQ_OP_INFO ? 0 : cache_key(e->key, opcode, q);
	e->cache_checked = 0;
	e->view = NULL;
	e->view_ctx = NULL;
	e->error[0] = '\0';
	e->started = 0;
	e->status = PORTQ_ETIMEDOUT;
	e->result = NULL;
}

engine_next_t
engine_begin(engine_t *e, const portq_client_t *c, long long now, uint8_t *scratch,
             size_t cap)
{
	e->c = c;
	cache_msg_t m = { scratch, cap, 0, "", 0 };
	if (!e->cache_checked && e->klen > 0 && c->cache_ttl > 0 &&
	    cache_get(c->scope, e->key, e->klen, c->cache_ttl, cache_now_ms(), NULL, NULL,
	              &m) == CACHE_MESSAGE &&
	    /* It decoded when it was kept; only memory can fail now. */
	    result_decode(m.msg, m.len, m.label, m.tcp, &e->result, NULL) == PORTQ_OK) {
		e->result->cached = 1;
		const uint8_t *view;
		size_t vlen;
		if (view_of(e, e->result, &view, &vlen))
			cache_view_attach(c->scope, e->key, e->klen, e->result->serial, view, vlen);
		return done(e, PORTQ_OK);
	}
	e->deadline = e->budget_ms > 0 ? now + e->budget_ms : 0;
	return ENGINE_RESOLVE;
}

engine_next_t
engine_resolved(engine_t *e, int rc, long long now)
{
	const portq_client_t *c = e->c;
	if (rc < 0) {
		error_add(e, c->resolve_error);
		return done(e, rc);
	}
	memset(e->seen, ADDR_UNTRIED, sizeof(e->seen));
	e->started = 1;
	e->tries_left = addrs_choose(e) * (size_t)c->conf.attempts;
	e->failure = PORTQ_ETIMEDOUT;
	e->addr = c->n_addrs;            /* next_address() moves on to 0, attempt 0 */
	e->attempt = -1;
	return next_address(e, now);
}

int
engine_reply_match(engine_t *e, const uint8_t *msg, size_t len)
{
	wire_t w = wire_reader(msg, len);
	portq_header_t *h = &e->reply;
	if (portq_header_read(&w, h) != PORTQ_OK)
		return 0;
	if (!(h->flags & PORTQ_FLAG_QR) || h->id != e->id || h->opcode != e->opcode)
		return 0;
	if (h->rcode == PORTQ_RC_MALFORMED)
		return 1;           /* the header alone, no question echoed */
	/* The echoed question must be ours byte for byte (as DNS checks). */
	size_t n = e->qlen - PORTQ_HEADER_LEN;
	const uint8_t *echo = wire_read_span(&w, n);
	return echo != NULL && memcmp(e->query + PORTQ_HEADER_LEN, echo, n) == 0;
}

engine_next_t
engine_reply(engine_t *e, const uint8_t *msg, size_t len, long long now)
{
	const portq_client_t *c = e->c;
	const resolve_addr_t *a = &c->addrs[e->addr];
	const portq_header_t *h = &e->reply;
	if (!e->answered)
		addr_note(e, PORTQ_OK, 1);   /* whatever it says, it is up */
	e->answered = 1;
	if (!e->tcp && (h->flags & PORTQ_FLAG_TC)) {
		/* The same server over TCP, within the try's wait and the budget. */
		int wait = e->wait_ms;
		if (e->deadline > 0) {
			long long left = e->deadline - now;
			wait = left < 1 ? 1 : left < wait ? (int)left : wait;
		}
		return send_query(e, 1, wait);
	}
	char text[160];
	if (h->rcode != PORTQ_RC_OK && h->rcode != PORTQ_RC_NOTFOUND) {
		snprintf(text, sizeof(text), "%s: server answered %s", a->label,
		         portq_rcode_name(h->rcode));
		error_add(e, text);
		/* MALFORMED means the server could not read our query: a server
		 * of another version, most likely; the others may do better. */
		return address_failed(e, h->rcode == PORTQ_RC_MALFORMED ? PORTQ_EMALFORMED
		                                                       : PORTQ_EIO, now);
	}
	size_t used = 0;
	int rc = result_decode_reply(h, msg, len, a->label, e->tcp, &e->result, &used);
	if (rc == PORTQ_OK) {
		e->error[0] = '\0';
		const uint8_t *view;
		size_t vlen;
		view_of(e, e->result, &view, &vlen);
		/* Without UDP padding: it adds nothing to a cached answer. */
		cache_put(c->scope, e->key, e->klen, e->result->serial, msg, used, a->label,
		          e->tcp, c->cache_ttl > 0, view, vlen);
		return done(e, PORTQ_OK);
	}
	if (rc != PORTQ_ENOMEM) {
		snprintf(text, sizeof(text), "%s: malformed answer", a->label);
		error_add(e, text);
	}
	return address_failed(e, rc, now);
}

engine_next_t
engine_fail(engine_t *e, int rc, const char *why, long long now)
{
	if (!e->answered)
		addr_note(e, rc, 0);
	if (why != NULL)
		error_add(e, why);
	return address_failed(e, rc, now);
}

engine_next_t
engine_cancel(engine_t *e, int rc, const char *why)
{
	if (why != NULL)
		error_add(e, why);
	return done(e, rc);
}
