/*
 * answer.c -- build the response to one query (see answer.h and
 * docs/protocol.md). Records are copied from their precomputed wire form.
 */
#include <stdio.h>
#include <string.h>

#include "answer.h"
#include "format.h"

typedef struct {
	wire_t w;
	portq_header_t h;
	int truncated;
} reply_t;

/* Append records until one does not fit; then mark the reply truncated. */
static uint16_t
put_records(reply_t *rp, const reg_entry_t *const *e, size_t n)
{
	uint16_t put = 0;
	for (size_t i = 0; i < n && !rp->truncated; i++) {
		size_t mark = wire_used(&rp->w);
		wire_write_bytes(&rp->w, e[i]->wire, e[i]->wire_len);
		if (rp->w.error != PORTQ_OK) {
			wire_rewind(&rp->w, mark);
			rp->truncated = 1;
			break;
		}
		put++;
	}
	return put;
}

/*
 * Put one page: page[0..fetched) are the matches from the question's
 * offset on, `left` how many there are from there to the end (which may
 * exceed what was fetched). MORE is set when matches remain after the page.
 */
static void
put_page(reply_t *rp, const portq_question_t *q, const reg_entry_t *const *page,
         size_t fetched, size_t left)
{
	size_t limit = q->limit ? q->limit : ANSWER_DEFAULT_LIMIT;
	size_t n = fetched < limit ? fetched : limit;
	rp->h.ancount = put_records(rp, page, n);
	if (left > rp->h.ancount)
		rp->h.flags |= PORTQ_FLAG_MORE;
}

/* For lookups that fetch every match from 0: skip to the question's offset. */
static void
put_from_offset(reply_t *rp, const portq_question_t *q, const reg_entry_t *const *all,
                size_t total)
{
	size_t fetched = total < ANSWER_MAX_RECORDS ? total : ANSWER_MAX_RECORDS;
	size_t skip = q->offset < fetched ? q->offset : fetched;
	put_page(rp, q, all + skip, fetched - skip, total > q->offset ? total - q->offset : 0);
	if (total == 0)
		rp->h.rcode = PORTQ_RC_NOTFOUND;
}

/* For scans that start at the question's offset themselves. */
static void
put_scanned(reply_t *rp, const portq_question_t *q, const reg_entry_t *const *page,
            size_t total)
{
	size_t left = total > q->offset ? total - q->offset : 0;
	put_page(rp, q, page, left < ANSWER_MAX_RECORDS ? left : ANSWER_MAX_RECORDS, left);
	if (total == 0)
		rp->h.rcode = PORTQ_RC_NOTFOUND;
}

static void
answer_port(const answer_ctx_t *ctx, reply_t *rp, const portq_question_t *q)
{
	const reg_entry_t *hits[ANSWER_MAX_RECORDS];
	portq_context_t c;
	registry_context(ctx->reg, q->port_lo, q->transport, &c);
	portq_context_write(&rp->w, &c);
	size_t total = registry_by_port(ctx->reg, q->port_lo, q->transport, hits,
	                                ANSWER_MAX_RECORDS);
	put_from_offset(rp, q, hits, total);

	/* Additional: the assigned records at the nearest assigned ports. */
	const uint16_t near[2] = { c.below, c.above };
	const int have[2] = { c.cflags & PORTQ_CF_BELOW, c.cflags & PORTQ_CF_ABOVE };
	for (int k = 0; k < 2 && !rp->truncated; k++) {
		if (!have[k])
			continue;
		size_t m = registry_by_port(ctx->reg, near[k], q->transport, hits,
		                            ANSWER_MAX_RECORDS);
		if (m > ANSWER_MAX_RECORDS)
			m = ANSWER_MAX_RECORDS;
		size_t keep = 0;
		for (size_t i = 0; i < m; i++)
			if (hits[i]->status == PORTQ_ST_ASSIGNED ||
			    hits[i]->status == PORTQ_ST_LOCAL)
				hits[keep++] = hits[i];
		rp->h.adcount = (uint16_t)(rp->h.adcount + put_records(rp, hits, keep));
	}
}

static void
answer_info(const answer_ctx_t *ctx, reply_t *rp)
{
	char v[96];
	size_t mark;
	uint16_t n = 0;
#define ITEM(key, value)                                        \
	do {                                                    \
		mark = wire_used(&rp->w);                       \
		portq_info_write(&rp->w, (key), (value));       \
		if (rp->w.error != PORTQ_OK) {                  \
			wire_rewind(&rp->w, mark);              \
			rp->truncated = 1;                      \
		} else {                                        \
			n++;                                    \
		}                                               \
	} while (0)
	const registry_t *r = ctx->reg;
	snprintf(v, sizeof(v), "%u", registry_serial(r));
	ITEM("serial", v);
	snprintf(v, sizeof(v), "%zu", registry_count(r));
	ITEM("records", v);
	snprintf(v, sizeof(v), "%zu", registry_name_count(r));
	ITEM("names", v);
	if (registry_date(r)[0] != '\0')
		ITEM("registry-date", registry_date(r));
	for (size_t i = 0; i < registry_source_count(r) && !rp->truncated; i++) {
		const reg_source_t *s = registry_source(r, i);
		char src[600];
		snprintf(src, sizeof(src), "%s %u %s", reg_format_name(s->format),
		         s->rows, s->path);
		ITEM("source", src);
	}
#undef ITEM
	rp->h.ancount = n;
	if (ctx->info != NULL && !rp->truncated) {
		/* The hook appends items; count what it added by reading them back. */
		size_t start = wire_used(&rp->w);
		ctx->info(&rp->w, ctx->info_arg);
		if (rp->w.error != PORTQ_OK) {
			wire_rewind(&rp->w, start);
			rp->truncated = 1;
		} else {
			wire_t rd = wire_reader(rp->w.base + start, wire_used(&rp->w) - start);
			portq_str_t k, val;
			while (wire_left(&rd) > 0 && portq_info_read(&rd, &k, &val) == PORTQ_OK)
				rp->h.ancount++;
		}
	}
}

/* One SEARCH page: found only as far as the page needs, within the budget. */
static void
answer_search(const answer_ctx_t *ctx, reply_t *rp, const portq_question_t *q)
{
	const reg_entry_t *hits[ANSWER_MAX_RECORDS];
	size_t limit = q->limit ? q->limit : ANSWER_DEFAULT_LIMIT;
	if (limit > ANSWER_MAX_RECORDS)
		limit = ANSWER_MAX_RECORDS;
	/* One match past the page says whether MORE is due. */
	search_query_t sq = { .text = q->text, .transport = q->transport,
	                      .offset = q->offset, .count_max = q->offset + limit + 1,
	                      .work_max = SEARCH_WORK_MAX };
	size_t total = registry_search(ctx->reg, &sq, hits, limit);
	put_scanned(rp, q, hits, total);
	if (sq.capped) {
		/* Over the work bound the search returns no match at all
		 * (total 0, so ANCOUNT 0 and MORE clear: protocol.md 6.4); not
		 * every record was looked at, so never NOT-FOUND either. */
		rp->h.flags |= PORTQ_FLAG_PARTIAL;
		rp->h.rcode = PORTQ_RC_OK;
	}
}

int
answer_decode(answer_stats_t *stats, const uint8_t *req, size_t req_len,
              answer_req_t *ar)
{
	ar->rc = msg_query_decode(req, req_len, &ar->h, &ar->q);
	if (ar->rc == PORTQ_ESHORT && req_len < PORTQ_HEADER_LEN)
		ar->rc = PORTQ_EMAGIC;
	if (ar->rc == PORTQ_EMAGIC || ar->rc == PORTQ_EINVAL ||
	    (ar->rc != PORTQ_OK && (ar->h.flags & PORTQ_FLAG_QR))) {
		if (stats != NULL)
			STAT_ADD(stats->dropped, 1);
		return 0;
	}
	return 1;
}

answer_t
answer_decoded(const answer_ctx_t *ctx, const answer_req_t *ar, uint8_t *out,
               size_t out_max)
{
	answer_stats_t scratch;
	answer_stats_t *st = ctx->stats ? ctx->stats : &scratch;
	const portq_question_t *qp = &ar->q;
	reply_t rp;
	memset(&rp, 0, sizeof(rp));
	rp.h = ar->h;
	if (out_max < PORTQ_HEADER_LEN) {
		STAT_ADD(st->dropped, 1);
		return (answer_t){ 0, 0, 0 };
	}
	uint8_t op = rp.h.opcode;
	STAT_ADD(st->by_opcode[op <= PORTQ_OP_INFO ? op : 0], 1);
	rp.h.flags = PORTQ_FLAG_QR;
	rp.h.ancount = rp.h.adcount = 0;
	rp.h.rcode = PORTQ_RC_OK;
	rp.h.serial = ctx->reg ? registry_serial(ctx->reg) : 0;
	rp.w = wire_writer(out, out_max);
	wire_skip(&rp.w, PORTQ_HEADER_LEN);     /* header written last */

	if (ar->rc != PORTQ_OK) {
		rp.h.rcode = PORTQ_RC_MALFORMED;    /* no question: it did not parse */
		goto done;
	}
	portq_question_write(&rp.w, qp);
	if (rp.w.error != PORTQ_OK) {           /* out_max below one question */
		wire_rewind(&rp.w, PORTQ_HEADER_LEN);
		rp.truncated = 1;
		goto done;
	}
	if (op < PORTQ_OP_PORT || op > PORTQ_OP_INFO) {
		rp.h.rcode = PORTQ_RC_NOTIMPL;
		goto done;
	}
	if (ctx->reg == NULL) {
		rp.h.rcode = PORTQ_RC_SERVFAIL;
		goto done;
	}
	if (((op == PORTQ_OP_NAME || op == PORTQ_OP_SEARCH) && qp->text_len == 0) ||
	    (op == PORTQ_OP_RANGE && qp->port_lo > qp->port_hi)) {
		rp.h.rcode = PORTQ_RC_MALFORMED;
		wire_rewind(&rp.w, PORTQ_HEADER_LEN);   /* a MALFORMED answer has no body */
		goto done;
	}
	if (ctx->slip)
		goto done;                          /* the question alone, TC */

	const reg_entry_t *hits[ANSWER_MAX_RECORDS];
	size_t total;
	switch (op) {
	case PORTQ_OP_PORT:
		answer_port(ctx, &rp, qp);
		break;
	case PORTQ_OP_NAME:
		total = registry_by_name(ctx->reg, qp->text, qp->transport, hits,
		                         ANSWER_MAX_RECORDS);
		put_from_offset(&rp, qp, hits, total);
		break;
	case PORTQ_OP_RANGE:
		total = registry_range(ctx->reg, qp->port_lo, qp->port_hi, qp->transport,
		                       qp->offset, hits, ANSWER_MAX_RECORDS);
		put_scanned(&rp, qp, hits, total);
		break;
	case PORTQ_OP_SEARCH:
		answer_search(ctx, &rp, qp);
		break;
	case PORTQ_OP_INFO:
		answer_info(ctx, &rp);
		break;
	}
done:
	if (ctx->slip) {
		rp.h.ancount = rp.h.adcount = 0;
		rp.truncated = 1;
	}
	if (rp.truncated && !(ctx->stream && (rp.h.flags & PORTQ_FLAG_MORE))) {
		rp.h.flags |= PORTQ_FLAG_TC;
		STAT_ADD(st->truncated, 1);
	}
	STAT_ADD(st->by_rcode[rp.h.rcode], 1);
	size_t len = wire_used(&rp.w);
	wire_t hw = wire_writer(out, PORTQ_HEADER_LEN);
	portq_header_write(&hw, &rp.h);
	return (answer_t){ len, rp.h.rcode, rp.h.flags };
}

answer_t
answer_query(const answer_ctx_t *ctx, const uint8_t *req, size_t req_len,
             uint8_t *out, size_t out_max)
{
	answer_req_t ar;
	if (!answer_decode(ctx->stats, req, req_len, &ar))
		return (answer_t){ 0, 0, 0 };
	return answer_decoded(ctx, &ar, out, out_max);
}

answer_t
answer_refused(answer_stats_t *stats, const uint8_t *req, size_t req_len,
               uint8_t *out, size_t out_max)
{
	portq_header_t h;
	portq_question_t q;
	int rc = msg_query_decode(req, req_len, &h, &q);
	if (rc == PORTQ_EMAGIC || rc == PORTQ_EINVAL || req_len < PORTQ_HEADER_LEN ||
	    (h.flags & PORTQ_FLAG_QR) || out_max < PORTQ_HEADER_LEN) {
		STAT_ADD(stats->dropped, 1);
		return (answer_t){ 0, 0, 0 };
	}
	h.flags = PORTQ_FLAG_QR;
	h.ancount = h.adcount = 0;
	h.serial = 0;                       /* a refused client learns nothing */
	h.rcode = PORTQ_RC_REFUSED;
	wire_t w = wire_writer(out, out_max);
	portq_header_write(&w, &h);
	if (rc == PORTQ_OK)
		portq_question_write(&w, &q);
	if (w.error != PORTQ_OK)
		wire_rewind(&w, PORTQ_HEADER_LEN);
	STAT_ADD(stats->by_rcode[PORTQ_RC_REFUSED], 1);
	return (answer_t){ wire_used(&w), h.rcode, h.flags };
}
