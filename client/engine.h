/*
 * engine.h -- one query of libportq, decided without I/O.
 *
 * The engine is the client's one state machine, as ares_process.c is
 * c-ares's: it answers from the cache, walks the server addresses in
 * their configured order (each once per attempt, those held down after a
 * timeout skipped: health.h), shares a lookup budget among the tries,
 * retries a truncated answer over TCP, maps an answer's RCODE to an
 * error, decodes the answer and caches it. It opens no socket, never
 * waits and takes the time from its driver (only the cache reads its own
 * clock, for the age of its entries): a driver moves the bytes and
 * reports what happened, and the engine says what to do next.
 *
 * Two drivers run it: transport.c on blocking sockets (portq_query_*(),
 * getservby*()) and async.c on the caller's libuv loop. A driver's loop:
 *
 *     engine_init(&e, opcode, &q, budget_ms);
 *     next = engine_begin(&e, c, now, scratch, cap);
 *     if (next == ENGINE_RESOLVE)            // make c->addrs current
 *             next = engine_resolved(&e, rc, now);
 *     while (next == ENGINE_SEND) {          // e.query to e.addr, e.tcp
 *             ... each datagram or frame: engine_reply_match(&e, msg, len)
 *             next = matched ? engine_reply(&e, msg, len, now)
 *                            : engine_fail(&e, rc, "why", now);
 *     }
 *     // ENGINE_DONE: e.status, e.error, and e.result on PORTQ_OK
 *
 * `now` is the driver's monotonic clock in milliseconds, the same clock at
 * every call of one query.
 */
#ifndef PORTQ_CLIENT_ENGINE_H
#define PORTQ_CLIENT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "client.h"
#include "msg.h"

#define ENGINE_QUERY_MAX (PORTQ_HEADER_LEN + PORTQ_QUESTION_MIN + PORTQ_TEXT_MAX)

/* What the driver does next. */
typedef enum {
	ENGINE_RESOLVE,   /* make c->addrs current, then engine_resolved() */
	ENGINE_SEND,      /* send query[0..qlen) to c->addrs[addr], over TCP if
	                     `tcp`; report within wait_ms */
	ENGINE_DONE       /* over: status, and result on PORTQ_OK */
} engine_next_t;

/*
 * A view of an answer for the cache to keep beside it (cache.h): made
 * from every result the engine delivers, whether from the network or the
 * cache. On PORTQ_OK *view (owned by ctx, which frees it) and *len; a
 * failure only means nothing is attached.
 */
typedef int (*engine_view_fn)(void *ctx, const portq_result_t *r, const uint8_t **view,
                              size_t *len);

typedef struct engine {
	/* The question (engine_init). */
	uint8_t opcode;
	const portq_question_t *q;  /* the caller's, read until the end */
	/* budget_ms, cache_checked and view may be set between engine_init()
	 * and engine_begin(). */
	int budget_ms;              /* > 0: bounds the whole query */
	long long deadline;         /* `now` + budget_ms; 0: none */
	uint8_t key[CACHE_KEY_MAX];
	size_t klen;                /* 0: not cached (INFO) */
	int cache_checked;          /* the caller looked in the cache already */
	engine_view_fn view;        /* NULL: no view */
	void *view_ctx;
	/* What went wrong, each server's failure once; "" on success. */
	char error[CLIENT_ERROR_MAX];

	/* The handle asked through (engine_begin). */
	const portq_client_t *c;    /* servers, addresses, cache scope and TTL */

	/* The walk over the addresses. */
	int started;                /* addresses chosen: seen[] is reported */
	unsigned char ask[CLIENT_MAX_ADDRS];    /* not held down (health.h) */
	unsigned char seen[CLIENT_MAX_ADDRS];   /* what the query learnt of each */
	size_t tries_left;
	int attempt;
	int failure;                /* what to report if no server answers */

	/* ENGINE_SEND: the exchange under way. */
	size_t addr;                /* index in c->addrs */
	int tcp;
	int wait_ms;
	int answered;               /* the address answered this try (TC) */
	uint8_t query[ENGINE_QUERY_MAX];
	size_t qlen;
	uint16_t id;                /* query's ID */
	portq_header_t reply;       /* of the answer engine_reply_match() took */

	/* ENGINE_DONE. */
	int status;
	portq_result_t *result;     /* the caller's to free */
} engine_t;

/*
 * Set e up for a question, with budget_ms > 0 bounding the whole query
 * (resolving host names included) however many servers and attempts
 * there are; 0: timeout x attempts x addresses. Computes the cache key
 * (e->key, e->klen): a caller may look in the cache with it first, then
 * set cache_checked.
 */
void engine_init(engine_t *e, uint8_t opcode, const portq_question_t *q, int budget_ms);

/*
 * Ask through handle c, which outlives the query. Answer from the cache
 * (one lookup, into scratch[0..cap)): ENGINE_DONE; else ENGINE_RESOLVE,
 * and e->deadline is set.
 */
engine_next_t engine_begin(engine_t *e, const portq_client_t *c, long long now,
                           uint8_t *scratch, size_t cap);

/* The addresses are current (rc PORTQ_OK) or could not be had (rc < 0, with
 * c->resolve_error saying why): the first send, or the end. */
engine_next_t engine_resolved(engine_t *e, int rc, long long now);

/*
 * Whether msg[0..len) answers the query under way: QR set, its ID and
 * opcode, and its question echoed byte for byte (a MALFORMED answer
 * echoes none). The header is read here, once, and kept for
 * engine_reply(). A datagram that does not match is the driver's to
 * drop; a TCP frame that does not match is a failure.
 */
int engine_reply_match(engine_t *e, const uint8_t *msg, size_t len);

/* The exchange brought msg[0..len), which engine_reply_match() took. */
engine_next_t engine_reply(engine_t *e, const uint8_t *msg, size_t len, long long now);

/*
 * The exchange failed: rc PORTQ_ETIMEDOUT, PORTQ_EIO (refused, a socket
 * error), PORTQ_EMALFORMED (a bad or unmatched TCP frame), PORTQ_ENOMEM;
 * `why` is the text for the error ("label: what").
 */
engine_next_t engine_fail(engine_t *e, int rc, const char *why, long long now);

/*
 * End the query now with status rc (< 0), `why` (NULL: nothing) added to
 * its error: the driver cannot go on (its handle closes, memory ran
 * out). What the query learnt of the addresses still counts.
 */
engine_next_t engine_cancel(engine_t *e, int rc, const char *why);

#endif /* PORTQ_CLIENT_ENGINE_H */
