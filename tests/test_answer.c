/*
 * test_answer.c -- the pure answering function: request bytes in,
 * response bytes out, against a small registry built in memory.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "answer.h"
#include "format.h"

static const char fixture_csv[] =
	"Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,"
	"Registration Date,Modification Date,Reference,Service Code,"
	"Unauthorized Use Reported,Assignment Notes\n"
	",0,tcp,Reserved,,,,,,,,\n"
	"echo,7,tcp,Echo,,,,,,,,\n"
	"echo,7,udp,Echo,,,,,,,,\n"
	",8-9,,Unassigned,,,,,,,,\n"
	",10,tcp,Reserved,,,,,,,,\n"
	",11-19,,Unassigned,,,,,,,,\n"
	"http,80,tcp,World Wide Web HTTP,,,,2021-10-01,[RFC9110],,,\n"
	"www,80,tcp,World Wide Web HTTP,,,,,,,,\n"
	"Big,1000,tcp,\"" /* a record too large for one UDP answer */
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"\",,,,,,,,\n";

static registry_t *reg;
static answer_stats_t stats;
static uint8_t out[PORTQ_MSG_MAX];

static void
setup(void)
{
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	ck_assert_int_eq(reg_builder_load_mem(b, "fixture.csv", fixture_csv,
	                                      strlen(fixture_csv), REG_FMT_AUTO, &err), PORTQ_OK);
	/* 200 more rows so that range scans need several pages. */
	char more[64 * 200 + 200] = "Service Name,Port Number,Transport Protocol,Description\n";
	for (int i = 0; i < 200; i++) {
		char row[64];
		snprintf(row, sizeof(row), "svc%d,%d,udp,Service %d\n", i, 2000 + i, i);
		strcat(more, row);
	}
	ck_assert_int_eq(reg_builder_load_mem(b, "more.csv", more, strlen(more),
	                                      REG_FMT_AUTO, &err), PORTQ_OK);
	reg = registry_build(b, 4242);
	ck_assert_ptr_nonnull(reg);
	memset(&stats, 0, sizeof(stats));
}

static void
teardown(void)
{
	registry_free(reg);
	reg = NULL;
}

/* The rcode and flags answer_query() returns are those its header carries. */
static size_t
as_written(answer_t a, const uint8_t *resp)
{
	if (a.len > 0) {
		portq_header_t h;
		wire_t r = wire_reader(resp, a.len);
		ck_assert_int_eq(portq_header_read(&r, &h), PORTQ_OK);
		ck_assert_uint_eq(a.rcode, h.rcode);
		ck_assert_uint_eq(a.flags, h.flags);
	}
	return a.len;
}

static size_t
ask_max(const portq_question_t *q, uint8_t op, size_t max)
{
	uint8_t req[512];
	portq_header_t h = { .opcode = op, .id = 0xBEEF };
	int n = msg_query_encode(req, sizeof(req), &h, q);
	ck_assert_int_gt(n, 0);
	answer_ctx_t ctx = { reg, &stats, NULL, NULL, 0, 0 };
	return as_written(answer_query(&ctx, req, (size_t)n, out, max), out);
}

static size_t
ask(const portq_question_t *q, uint8_t op)
{
	return ask_max(q, op, PORTQ_MSG_MAX);
}

/* Read header and echoed question of a response in out[0..len). */
static wire_t
open_reply(size_t len, portq_header_t *h)
{
	wire_t r = wire_reader(out, len);
	ck_assert_int_eq(portq_header_read(&r, h), PORTQ_OK);
	ck_assert(h->flags & PORTQ_FLAG_QR);
	ck_assert_uint_eq(h->id, 0xBEEF);
	ck_assert_uint_eq(h->serial, 4242);
	if (h->rcode != PORTQ_RC_MALFORMED) {
		portq_question_t q;
		ck_assert_int_eq(portq_question_read(&r, &q), PORTQ_OK);
	}
	return r;
}

static int
str_is(portq_str_t s, const char *text)
{
	return s.len == strlen(text) && memcmp(s.ptr, text, s.len) == 0;
}

START_TEST(port_assigned)
{
	portq_question_t q = { .port_lo = 80, .transport = PORTQ_TP_TCP };
	portq_header_t h;
	wire_t r = open_reply(ask(&q, PORTQ_OP_PORT), &h);
	ck_assert_uint_eq(h.rcode, PORTQ_RC_OK);
	ck_assert_uint_eq(h.ancount, 2);
	portq_context_t c;
	ck_assert_int_eq(portq_context_read(&r, &c), PORTQ_OK);
	ck_assert_uint_eq(c.state, PORTQ_ST_ASSIGNED);
	ck_assert_uint_eq(c.range_class, PORTQ_CLASS_SYSTEM);
	ck_assert(!(c.cflags & PORTQ_CF_FREE));
	portq_record_t rec;
	ck_assert_int_eq(portq_record_read(&r, &rec), PORTQ_OK);
	ck_assert(str_is(rec.name, "http"));         /* file order */
	ck_assert(str_is(rec.reference, "[RFC9110]"));
	ck_assert(str_is(rec.modified, "2021-10-01"));
	ck_assert_int_eq(portq_record_read(&r, &rec), PORTQ_OK);
	ck_assert(str_is(rec.name, "www"));
	/* Additional: the assigned neighbours, echo (7) below and Big (1000) above. */
	ck_assert_uint_eq(h.adcount, 2);
	ck_assert_int_eq(portq_record_read(&r, &rec), PORTQ_OK);
	ck_assert_uint_eq(rec.port_lo, 7);
	ck_assert_int_eq(portq_record_read(&r, &rec), PORTQ_OK);
	ck_assert_uint_eq(rec.port_lo, 1000);
	ck_assert_uint_eq(wire_left(&r), 0);
}
END_TEST

START_TEST(port_unassigned_context)
{
	portq_question_t q = { .port_lo = 12, .transport = PORTQ_TP_ANY };
	portq_header_t h;
	wire_t r = open_reply(ask(&q, PORTQ_OP_PORT), &h);
	ck_assert_uint_eq(h.rcode, PORTQ_RC_OK);
	ck_assert_uint_eq(h.ancount, 1);             /* the 11-19 Unassigned row */
	portq_context_t c;
	ck_assert_int_eq(portq_context_read(&r, &c), PORTQ_OK);
	ck_assert_uint_eq(c.state, PORTQ_ST_UNASSIGNED);
	ck_assert(c.cflags & PORTQ_CF_FREE);
	/* 10 is reserved for tcp, and ANY counts every protocol: 11..79 free. */
	ck_assert_uint_eq(c.free_lo, 11);
	ck_assert_uint_eq(c.free_hi, 79);
	ck_assert_uint_eq(c.below, 7);
	ck_assert_uint_eq(c.above, 80);
	portq_record_t rec;
	ck_assert_int_eq(portq_record_read(&r, &rec), PORTQ_OK);
	ck_assert_uint_eq(rec.status, PORTQ_ST_UNASSIGNED);
	ck_assert_uint_eq(rec.port_lo, 11);
	ck_assert_uint_eq(rec.port_hi, 19);
}
END_TEST

START_TEST(port_free_block_per_transport)
{
	/* For udp, the tcp-only reservation of 10 does not break the block. */
	portq_context_t c;
	registry_context(reg, 12, PORTQ_TP_UDP, &c);
	ck_assert_uint_eq(c.free_lo, 8);
	ck_assert_uint_eq(c.free_hi, 1999);           /* 80 and 1000 are tcp only */
	ck_assert_uint_eq(c.below, 7);
	ck_assert_uint_eq(c.above, 2000);
}
END_TEST

START_TEST(port_unlisted)
{
	portq_question_t q = { .port_lo = 60000, .transport = PORTQ_TP_ANY };
	portq_header_t h;
	wire_t r = open_reply(ask(&q, PORTQ_OP_PORT), &h);
	ck_assert_uint_eq(h.rcode, PORTQ_RC_NOTFOUND);
	ck_assert_uint_eq(h.ancount, 0);
	portq_context_t c;
	ck_assert_int_eq(portq_context_read(&r, &c), PORTQ_OK);
	ck_assert_uint_eq(c.state, PORTQ_ST_UNLISTED);
	ck_assert_uint_eq(c.range_class, PORTQ_CLASS_DYNAMIC);
	ck_assert_uint_eq(c.free_lo, 2200);
	ck_assert_uint_eq(c.free_hi, 65535);
	ck_assert(c.cflags & PORTQ_CF_BELOW);
	ck_assert(!(c.cflags & PORTQ_CF_ABOVE));
	ck_assert_uint_eq(c.below, 2199);
	ck_assert_uint_eq(h.adcount, 1);
}
END_TEST

START_TEST(name_case_insensitive)
{
	portq_question_t q = { .transport = PORTQ_TP_ANY };
	portq_question_set_text(&q, "ECHO");
	portq_header_t h;
	wire_t r = open_reply(ask(&q, PORTQ_OP_NAME), &h);
	ck_assert_uint_eq(h.rcode, PORTQ_RC_OK);
	ck_assert_uint_eq(h.ancount, 2);
	portq_record_t rec;
	ck_assert_int_eq(portq_record_read(&r, &rec), PORTQ_OK);
	ck_assert_uint_eq(rec.transport, PORTQ_TP_TCP);
	ck_assert_int_eq(portq_record_read(&r, &rec), PORTQ_OK);
	ck_assert_uint_eq(rec.transport, PORTQ_TP_UDP);

	q.transport = PORTQ_TP_UDP;
	r = open_reply(ask(&q, PORTQ_OP_NAME), &h);
	ck_assert_uint_eq(h.ancount, 1);
	portq_question_set_text(&q, "nosuch");
	r = open_reply(ask(&q, PORTQ_OP_NAME), &h);
	ck_assert_uint_eq(h.rcode, PORTQ_RC_NOTFOUND);
	ck_assert_uint_eq(h.ancount, 0);
}
END_TEST

START_TEST(empty_text_is_malformed)
{
	portq_question_t q = { 0 };
	portq_header_t h;
	wire_t r = open_reply(ask(&q, PORTQ_OP_NAME), &h);
	ck_assert_uint_eq(h.rcode, PORTQ_RC_MALFORMED);
	ck_assert_uint_eq(wire_left(&r), 0);
	r = open_reply(ask(&q, PORTQ_OP_SEARCH), &h);
	ck_assert_uint_eq(h.rcode, PORTQ_RC_MALFORMED);
	q.port_lo = 9;
	q.port_hi = 8;
	r = open_reply(ask(&q, PORTQ_OP_RANGE), &h);
	ck_assert_uint_eq(h.rcode, PORTQ_RC_MALFORMED);
}
END_TEST

START_TEST(range_pages_concatenate)
{
	/* Walk 0-65535 in pages of 7 and count every record exactly once. */
	portq_question_t q = { .port_lo = 0, .port_hi = 65535, .limit = 7 };
	size_t seen = 0;
	int last_port = -1;
	for (int page = 0; page < 100; page++) {
		portq_header_t h;
		wire_t r = open_reply(ask(&q, PORTQ_OP_RANGE), &h);
		ck_assert_uint_eq(h.rcode, PORTQ_RC_OK);
		ck_assert(!(h.flags & PORTQ_FLAG_TC));
		for (unsigned i = 0; i < h.ancount; i++) {
			portq_record_t rec;
			ck_assert_int_eq(portq_record_read(&r, &rec), PORTQ_OK);
			ck_assert_int_ge((int)rec.port_lo, last_port);
			last_port = rec.port_lo;
		}
		seen += h.ancount;
		q.offset += h.ancount;
		if (!(h.flags & PORTQ_FLAG_MORE))
			break;
		ck_assert_uint_eq(h.ancount, 7);
	}
	ck_assert_uint_eq(seen, registry_count(reg));
}
END_TEST

START_TEST(range_starting_inside_a_range)
{
	portq_question_t q = { .port_lo = 15, .port_hi = 80 };
	portq_header_t h;
	wire_t r = open_reply(ask(&q, PORTQ_OP_RANGE), &h);
	ck_assert_uint_eq(h.ancount, 3);             /* 11-19, http, www */
	portq_record_t rec;
	ck_assert_int_eq(portq_record_read(&r, &rec), PORTQ_OK);
	ck_assert_uint_eq(rec.port_lo, 11);
	ck_assert_uint_eq(rec.port_hi, 19);
}
END_TEST

START_TEST(udp_truncation_at_record_boundary)
{
	portq_question_t q = { .port_lo = 0, .port_hi = 65535, .limit = 500 };
	portq_header_t h;
	size_t len = ask_max(&q, PORTQ_OP_RANGE, PORTQ_UDP_MAX);
	ck_assert_uint_le(len, PORTQ_UDP_MAX);
	wire_t r = open_reply(len, &h);
	ck_assert(h.flags & PORTQ_FLAG_TC);
	ck_assert(h.flags & PORTQ_FLAG_MORE);
	ck_assert_uint_gt(h.ancount, 0);
	for (unsigned i = 0; i < h.ancount; i++) {
		portq_record_t rec;
		ck_assert_int_eq(portq_record_read(&r, &rec), PORTQ_OK);
	}
	ck_assert_uint_eq(wire_left(&r), 0);         /* nothing half-written */
	ck_assert_uint_eq(stats.truncated, 1);

	/* The same over TCP's limit fits whole. */
	len = ask(&q, PORTQ_OP_RANGE);
	r = open_reply(len, &h);
	ck_assert(!(h.flags & PORTQ_FLAG_TC));
	ck_assert_uint_eq(h.ancount, registry_count(reg));
}
END_TEST

START_TEST(tcp_page_cut_is_more_not_tc)
{
	/* A page bigger than a TCP message: MORE, and no TC over TCP. */
	uint8_t req[512];
	portq_question_t q = { .port_lo = 1000, .port_hi = 65535, .limit = 1000 };
	portq_header_t h = { .opcode = PORTQ_OP_RANGE, .id = 0xBEEF };
	int n = msg_query_encode(req, sizeof(req), &h, &q);
	answer_ctx_t ctx = { reg, &stats, NULL, NULL, 1, 0 };
	size_t len = answer_query(&ctx, req, (size_t)n, out, 4000).len;
	wire_t r = open_reply(len, &h);
	ck_assert(!(h.flags & PORTQ_FLAG_TC));
	ck_assert(h.flags & PORTQ_FLAG_MORE);
	ck_assert_uint_gt(h.ancount, 0);
	ck_assert_uint_lt(h.ancount, 201);
	for (unsigned i = 0; i < h.ancount; i++) {
		portq_record_t rec;
		ck_assert_int_eq(portq_record_read(&r, &rec), PORTQ_OK);
	}
	/* The same over UDP is truncated. */
	ctx.stream = 0;
	open_reply(answer_query(&ctx, req, (size_t)n, out, 4000).len, &h);
	ck_assert(h.flags & PORTQ_FLAG_TC);
}
END_TEST

START_TEST(big_record_alone_truncates)
{
	portq_question_t q = { .port_lo = 1000, .transport = PORTQ_TP_TCP };
	portq_header_t h;
	wire_t r = open_reply(ask_max(&q, PORTQ_OP_PORT, PORTQ_UDP_MAX), &h);
	ck_assert(h.flags & PORTQ_FLAG_TC);
	ck_assert_uint_eq(h.ancount, 0);
	portq_context_t c;
	ck_assert_int_eq(portq_context_read(&r, &c), PORTQ_OK);
	ck_assert_uint_eq(wire_left(&r), 0);
}
END_TEST

START_TEST(search_and_paging)
{
	portq_question_t q = { .limit = 150 };
	portq_question_set_text(&q, "SERVICE 1");
	portq_header_t h;
	wire_t r = open_reply(ask(&q, PORTQ_OP_SEARCH), &h);
	/* "service 1", "service 10".."service 19", "service 100".."service 199" */
	ck_assert_uint_eq(h.ancount, 111);
	ck_assert(!(h.flags & PORTQ_FLAG_MORE));
	q.limit = 100;
	r = open_reply(ask(&q, PORTQ_OP_SEARCH), &h);
	ck_assert_uint_eq(h.ancount, 100);
	ck_assert(h.flags & PORTQ_FLAG_MORE);
	q.offset = 100;
	r = open_reply(ask(&q, PORTQ_OP_SEARCH), &h);
	ck_assert_uint_eq(h.ancount, 11);
	ck_assert(!(h.flags & PORTQ_FLAG_MORE));
	(void)r;
}
END_TEST

START_TEST(info_items)
{
	portq_question_t q = { 0 };
	portq_header_t h;
	wire_t r = open_reply(ask(&q, PORTQ_OP_INFO), &h);
	ck_assert_uint_eq(h.rcode, PORTQ_RC_OK);
	int saw_serial = 0, saw_records = 0, sources = 0;
	for (unsigned i = 0; i < h.ancount; i++) {
		portq_str_t k, v;
		ck_assert_int_eq(portq_info_read(&r, &k, &v), PORTQ_OK);
		if (str_is(k, "serial"))
			saw_serial = str_is(v, "4242");
		if (str_is(k, "records")) {
			char want[16];
			snprintf(want, sizeof(want), "%zu", registry_count(reg));
			saw_records = str_is(v, want);
		}
		sources += str_is(k, "source");
	}
	ck_assert(saw_serial && saw_records);
	ck_assert_int_eq(sources, 2);
	ck_assert_uint_eq(wire_left(&r), 0);
}
END_TEST

START_TEST(dropped_inputs)
{
	answer_ctx_t ctx = { reg, &stats, NULL, NULL, 0, 0 };
	uint8_t req[64] = { 0 };
	/* Shorter than a header, wrong magic, and a response: no answer. */
	req[0] = PORTQ_MAGIC;
	for (size_t n = 0; n < PORTQ_HEADER_LEN; n++)
		ck_assert_uint_eq(answer_query(&ctx, req, n, out, sizeof(out)).len, 0);
	req[0] = 0x00;
	ck_assert_uint_eq(answer_query(&ctx, req, 29, out, sizeof(out)).len, 0);
	portq_question_t q = { .port_lo = 7 };
	portq_header_t h = { .opcode = PORTQ_OP_PORT };
	int n = msg_query_encode(req, sizeof(req), &h, &q);
	req[4] |= PORTQ_FLAG_QR;
	ck_assert_uint_eq(answer_query(&ctx, req, (size_t)n, out, sizeof(out)).len, 0);
	ck_assert_uint_eq(stats.dropped, PORTQ_HEADER_LEN + 2);
}
END_TEST

START_TEST(malformed_and_notimpl)
{
	answer_ctx_t ctx = { reg, &stats, NULL, NULL, 0, 0 };
	uint8_t req[64];
	portq_question_t q = { .port_lo = 7 };
	portq_header_t h = { .opcode = PORTQ_OP_PORT, .id = 0xBEEF };
	int n = msg_query_encode(req, sizeof(req), &h, &q);
	/* Every cut of the question is MALFORMED, with the header echoed. */
	for (int cut = PORTQ_HEADER_LEN; cut < n; cut++) {
		size_t len = answer_query(&ctx, req, (size_t)cut, out, sizeof(out)).len;
		ck_assert_uint_eq(len, PORTQ_HEADER_LEN);
		portq_header_t rh;
		open_reply(len, &rh);
		ck_assert_uint_eq(rh.rcode, PORTQ_RC_MALFORMED);
		ck_assert_uint_eq(rh.opcode, PORTQ_OP_PORT);
	}
	/* A trailing byte too. */
	req[n] = 0;
	ck_assert_uint_eq(answer_query(&ctx, req, (size_t)n + 1, out, sizeof(out)).len,
	                  PORTQ_HEADER_LEN);
	/* Unknown opcodes: NOT-IMPLEMENTED, question echoed. */
	for (unsigned op = 0; op < 256; op++) {
		if (op >= PORTQ_OP_PORT && op <= PORTQ_OP_INFO)
			continue;
		req[1] = (uint8_t)op;
		size_t len = answer_query(&ctx, req, (size_t)n, out, sizeof(out)).len;
		portq_header_t rh;
		wire_t r = open_reply(len, &rh);
		ck_assert_uint_eq(rh.rcode, PORTQ_RC_NOTIMPL);
		ck_assert_uint_eq(wire_left(&r), 0);
	}
	ck_assert_uint_eq(stats.by_rcode[PORTQ_RC_NOTIMPL], 256 - 5);
}
END_TEST

START_TEST(no_registry_is_servfail)
{
	answer_ctx_t ctx = { NULL, NULL, NULL, NULL, 0, 0 };
	uint8_t req[64];
	portq_question_t q = { .port_lo = 7 };
	portq_header_t h = { .opcode = PORTQ_OP_PORT, .id = 0xBEEF };
	int n = msg_query_encode(req, sizeof(req), &h, &q);
	size_t len = answer_query(&ctx, req, (size_t)n, out, sizeof(out)).len;
	wire_t r = wire_reader(out, len);
	ck_assert_int_eq(portq_header_read(&r, &h), PORTQ_OK);
	ck_assert_uint_eq(h.rcode, PORTQ_RC_SERVFAIL);
}
END_TEST

/* Found by fuzz_services: a name longer than any question could carry. */
START_TEST(overlong_name_refused)
{
	char data[600] = "";
	strcat(data, "echo 7/tcp\n");
	size_t at = strlen(data);
	memset(data + at, 'w', 300);
	strcpy(data + at + 300, " 8/tcp\n");
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	ck_assert_int_eq(reg_builder_load_mem(b, "long", data, strlen(data),
	                                      REG_FMT_SERVICES, &err), PORTQ_EPARSE);
	ck_assert_str_eq(err.text, "long:2: service name of 300 bytes is longer than 255");
	reg_builder_free(b);
}
END_TEST

/* ----------------------------------------------------------- SEARCH work */

#define IANA_CSV PORTQ_DATA_DIR "/service-names-port-numbers.csv"

/*
 * What a SEARCH answer may cost, in the index's work units (search.h):
 * a question of up to 2 bytes reads its page of one per-transport list,
 * page + 1 units, whatever the transport and however deep the page (a
 * PORT answer is one lookup and its page of records: the same order).
 * A longer question found nowhere reads no entry at all (its binary search
 * over the suffix array is not counted); the bound leaves it one unit.
 */
#define SHORT_WORK_MAX(page) ((page) + 1)
#define NOMATCH_WORK_MAX     1

/* One SEARCH as answer_search() asks it (one match past the page), but
 * with no budget, so that q->work is what the question really needs. */
static size_t
search_work(const registry_t *r, const char *text, uint8_t tp, size_t offset, size_t page,
            size_t *total)
{
	static const reg_entry_t *hits[ANSWER_MAX_RECORDS];
	search_query_t q = { .text = text, .transport = tp, .offset = offset,
	                     .count_max = offset + page + 1, .work_max = SIZE_MAX };
	size_t found = registry_search(r, &q, hits, page);
	if (q.capped)
		ck_abort_msg("capped without a budget");
	if (total != NULL)
		*total = found;
	return q.work;
}

/* How many documents match in all (counted to the end, no page). */
static size_t
search_total(const registry_t *r, const char *text, uint8_t tp)
{
	search_query_t q = { .text = text, .transport = tp, .count_max = SIZE_MAX,
	                     .work_max = SIZE_MAX };
	return registry_search(r, &q, NULL, 0);
}

/* The text as C escapes, for a failure message. */
static const char *
shown(const char *text)
{
	static char buf[4 * 8 + 8];
	size_t n = 0;
	for (size_t i = 0; text[i] != '\0' && i < 8; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\\x%02x",
		                      (unsigned char)text[i]);
	buf[n] = '\0';
	return buf;
}

/*
 * The bound over every question of 0, 1 and 2 bytes (every byte value a
 * question may carry: 1-255), every transport, three page sizes in turn,
 * at offsets 0, the middle of its matches, the last match, the end, one
 * page past it and far past it; then over 255-byte texts found nowhere:
 * random letters, common words run together, a byte repeated, and a real
 * description followed by what never follows it. No clock: the same
 * figures on any machine, under any sanitizer.
 */
static void
check_search_work(const registry_t *r, const char *what)
{
	static const size_t pages[] = { 1, ANSWER_DEFAULT_LIMIT, ANSWER_MAX_RECORDS };
	size_t asked = 0, worst = 0, worst_page = 0;
	char text[PORTQ_TEXT_MAX + 1];
	for (unsigned len = 1; len <= 3; len++)          /* 3: the empty text, last */
		for (unsigned g = 0; g < (len == 3 ? 1u : len == 1 ? 255u : 255u * 255u); g++) {
			text[0] = (char)(len == 1 ? 1 + g : 1 + g / 255);
			text[1] = (char)(1 + g % 255);
			text[len % 3] = '\0';
			for (uint8_t tp = 0; tp < PORTQ_TP_COUNT; tp++) {
				size_t page = pages[(g + tp) % 3], total = search_total(r, text, tp);
				size_t offsets[] = { 0, total / 2, total ? total - 1 : 0, total,
				                     total + page, (size_t)UINT32_MAX };
				for (size_t k = 0; k < sizeof(offsets) / sizeof(offsets[0]); k++) {
					size_t w = search_work(r, text, tp, offsets[k], page, NULL);
					asked++;
					if (w > SHORT_WORK_MAX(page))
						ck_abort_msg("%s: \"%s\" tp %u offset %zu of %zu, page %zu: "
						             "%zu units, more than %zu",
						             what, shown(text), tp, offsets[k], total, page,
						             w, (size_t)SHORT_WORK_MAX(page));
					if (w > worst) {
						worst = w;
						worst_page = page;
					}
				}
			}
		}
	fprintf(stderr, "search work on %s: %zu questions of 0-2 bytes, most %zu units "
	        "(page %zu; bound page + 1)\n", what, asked, worst, worst_page);

	static const char words[] = "service protocol server network ";
	size_t long_asked = 0, long_worst = 0, found_some = 0;
	uint32_t seed = 5;
	for (size_t i = 0; i < 255 + 3 * 64; i++) {
		if (i < 255) {
			memset(text, (char)(1 + i), PORTQ_TEXT_MAX);
		} else if (i < 255 + 64) {
			for (size_t j = 0; j < PORTQ_TEXT_MAX; j++) {
				seed = seed * 1103515245u + 12345u;
				text[j] = (char)('a' + (seed >> 16) % 26);
			}
		} else if (i < 255 + 128) {
			for (size_t j = 0; j < PORTQ_TEXT_MAX; j++)
				text[j] = words[(i + j) % (sizeof(words) - 1)];
		} else {
			const reg_entry_t *e = registry_entry(r, (i * 7919) % registry_count(r));
			size_t n = strlen(e->description);
			n = n < PORTQ_TEXT_MAX ? n : PORTQ_TEXT_MAX;
			memcpy(text, e->description, n);
			memset(text + n, '\x7f', PORTQ_TEXT_MAX - n);
		}
		text[PORTQ_TEXT_MAX] = '\0';
		for (uint8_t tp = 0; tp < PORTQ_TP_COUNT; tp++) {
			size_t total, w = search_work(r, text, tp, 0, ANSWER_DEFAULT_LIMIT, &total);
			if (total != 0) {
				found_some++;       /* found after all: not this bound's */
				continue;
			}
			long_asked++;
			if (w > NOMATCH_WORK_MAX)
				ck_abort_msg("%s: 255-byte text %zu (\"%s...\") tp %u found nowhere: "
				             "%zu units, more than %d", what, i, shown(text), tp, w,
				             NOMATCH_WORK_MAX);
			long_worst = w > long_worst ? w : long_worst;
		}
	}
	fprintf(stderr, "search work on %s: %zu 255-byte texts found nowhere, most %zu units "
	        "(bound %d); %zu found something\n", what, long_asked, long_worst,
	        NOMATCH_WORK_MAX, found_some);
	ck_assert_uint_ge(long_asked, 5 * 255);
}

/*
 * A generated registry, so that this never skips: 6,000 records over
 * every transport in unequal shares (tcp half, then udp, all-protocols,
 * sctp, dccp), each with a description of 10-80 bytes drawn from all of
 * printable ASCII and a few UTF-8 letters: long lists for the common
 * bytes, which a transport thins out. Before the per-transport lists
 * (baa0f72) a question naming a transport read its list entry by entry
 * up to its page: "e" over dccp at its middle took thousands of units.
 */
START_TEST(search_work_is_bounded)
{
	static const char *const tps[] = { "tcp", "udp", "tcp", "", "tcp", "sctp", "udp",
	                                   "tcp", "dccp", "tcp" };
	static const char *const utf8[] = { "caf\xc3\xa9", "\xc3\xbc" "ber", "\xe2\x86\x92" };
	size_t rows = 6000, cap = 64 + rows * 128, len;
	char *csv = malloc(cap);
	ck_assert_ptr_nonnull(csv);
	len = (size_t)snprintf(csv, cap, "Service Name,Port Number,Transport Protocol,"
	                       "Description\n");
	uint32_t seed = 11;
	for (size_t i = 0; i < rows; i++) {
		len += (size_t)snprintf(csv + len, cap - len, "g%zu,%zu,%s,", i, 1 + i % 60000,
		                        tps[i % 10]);
		seed = seed * 1103515245u + 12345u;
		size_t n = 10 + (seed >> 16) % 71;
		for (size_t j = 0; j < n; j++) {
			seed = seed * 1103515245u + 12345u;
			char c = (char)(' ' + (seed >> 16) % 95);
			csv[len++] = c == ',' || c == '"' ? ' ' : c;
		}
		if (i % 13 == 0)
			len += (size_t)snprintf(csv + len, cap - len, " %s", utf8[i % 3]);
		csv[len++] = '\n';
	}
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	ck_assert_int_eq(reg_builder_load_mem(b, "generated.csv", csv, len, REG_FMT_IANA_CSV,
	                                      &err), PORTQ_OK);
	free(csv);
	registry_t *r = registry_build(b, 1);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(registry_count(r), rows);
	check_search_work(r, "a generated registry");
	registry_free(r);
}
END_TEST

/* The same on the IANA registry, when it is there. */
START_TEST(search_work_is_bounded_on_iana)
{
	if (access(IANA_CSV, R_OK) != 0) {
		fprintf(stderr, "search_work_is_bounded_on_iana: skipped, %s not found\n",
		        IANA_CSV);
		return;
	}
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	ck_assert_int_eq(reg_builder_load(b, IANA_CSV, REG_FMT_AUTO, &err), PORTQ_OK);
	registry_t *iana = registry_build(b, 1);
	ck_assert_ptr_nonnull(iana);
	check_search_work(iana, "the IANA registry");
	registry_free(iana);
}
END_TEST

static Suite *
answer_suite(void)
{
	Suite *s = suite_create("answer");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, port_assigned);
	tcase_add_test(tc, port_unassigned_context);
	tcase_add_test(tc, port_free_block_per_transport);
	tcase_add_test(tc, port_unlisted);
	tcase_add_test(tc, name_case_insensitive);
	tcase_add_test(tc, empty_text_is_malformed);
	tcase_add_test(tc, range_pages_concatenate);
	tcase_add_test(tc, range_starting_inside_a_range);
	tcase_add_test(tc, udp_truncation_at_record_boundary);
	tcase_add_test(tc, big_record_alone_truncates);
	tcase_add_test(tc, tcp_page_cut_is_more_not_tc);
	tcase_add_test(tc, search_and_paging);
	tcase_add_test(tc, info_items);
	tcase_add_test(tc, dropped_inputs);
	tcase_add_test(tc, malformed_and_notimpl);
	tcase_add_test(tc, no_registry_is_servfail);
	tcase_add_test(tc, overlong_name_refused);
	tcase_add_test(tc, search_work_is_bounded);
	tcase_add_test(tc, search_work_is_bounded_on_iana);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = answer_suite };
