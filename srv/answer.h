/*
 * answer.h -- the answering function of portqd: request bytes in,
 * response bytes out, nothing else. No sockets, no clock, no allocation,
 * so it is unit-tested directly and every listener shares it.
 */
#ifndef PORTQ_ANSWER_H
#define PORTQ_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "registry.h"

#define ANSWER_MAX_RECORDS   1024  /* records one response may carry */
#define ANSWER_DEFAULT_LIMIT 100   /* page size when a query gives 0 */

/*
 * Add to a counter that only its own thread writes and others may read
 * (INFO sums every worker's): relaxed atomic load and store, no locked
 * instruction on the query path.
 */
#define STAT_ADD(counter, n) \
	__atomic_store_n(&(counter), __atomic_load_n(&(counter), __ATOMIC_RELAXED) + (n), \
	                 __ATOMIC_RELAXED)
#define STAT_GET(counter) __atomic_load_n(&(counter), __ATOMIC_RELAXED)

/* Counters the answering function keeps; the server adds its own. */
typedef struct {
	uint64_t by_opcode[PORTQ_OP_INFO + 1];  /* [0]: unknown opcodes */
	uint64_t by_rcode[PORTQ_RC_NOTIMPL + 1];
	uint64_t truncated;
	uint64_t dropped;                       /* not portq, or a response */
} answer_stats_t;

/* Extra INFO items a caller appends (server statistics); may be NULL. */
typedef void (*answer_info_fn)(wire_t *w, void *arg);

typedef struct {
	const registry_t *reg;    /* NULL: answer SERVFAIL (nothing loaded) */
	answer_stats_t *stats;    /* may be NULL */
	answer_info_fn info;
	void *info_arg;
	int stream;               /* TCP: a page cut by the size limit ends
	                             with MORE, never TC (there is no retry
	                             transport above TCP) */
	int slip;                 /* rate limiting slips this answer: header
	                             and question with TC, no lookup made */
} answer_ctx_t;

/*
 * What an answering function built: the response's length, and the rcode
 * and flags its header carries, so that a caller decides on them (may
 * this answer be padded? was it cut?) without reading the bytes back.
 * len 0: no response at all, the request is dropped (rcode, flags 0).
 */
typedef struct {
	size_t len;
	uint8_t rcode;            /* PORTQ_RC_* */
	uint8_t flags;            /* PORTQ_FLAG_*: QR, and TC, MORE, PARTIAL as set */
} answer_t;

/* A request decoded once, for the caller to decide on and then answer. */
typedef struct {
	int rc;                   /* msg_query_decode()'s result */
	portq_header_t h;
	portq_question_t q;
} answer_req_t;

/*
 * Decode req[0..req_len). Returns 1 when the request gets an answer (of
 * some rcode), 0 when it must be dropped without one (shorter than a
 * header, wrong magic, or itself a response; counted in stats->dropped,
 * stats may be NULL).
 */
int answer_decode(answer_stats_t *stats, const uint8_t *req, size_t req_len,
                  answer_req_t *ar);

/*
 * Answer a request answer_decode() accepted into out[0..out_max). out_max
 * is the transport's limit (PORTQ_UDP_MAX for UDP); what does not fit is
 * cut at a record boundary and the TC flag set. With ctx->slip the answer
 * is the header and the echoed question with TC set, both counts zero and
 * no lookup made: rcode OK, or the error the request itself shows
 * (MALFORMED, NOT-IMPLEMENTED, SERVFAIL with no registry). Returns the
 * response's length, rcode and flags; len 0 only when out_max is below
 * a header.
 */
answer_t answer_decoded(const answer_ctx_t *ctx, const answer_req_t *ar, uint8_t *out,
                      size_t out_max);

/*
 * answer_decode() then answer_decoded(): returns the response's length,
 * rcode and flags, or len 0 when the request must be dropped without an
 * answer.
 */
answer_t answer_query(const answer_ctx_t *ctx, const uint8_t *req, size_t req_len,
                    uint8_t *out, size_t out_max);

/*
 * The answer for a client the access list refuses: the header and the
 * question echoed, rcode REFUSED, no records. Returns its length, rcode
 * and flags; len 0 (drop) for what answer_query() would drop too.
 */
answer_t answer_refused(answer_stats_t *stats, const uint8_t *req, size_t req_len,
                      uint8_t *out, size_t out_max);

#endif /* PORTQ_ANSWER_H */
