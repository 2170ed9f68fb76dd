/*
 * test_result.c -- libportq's response decoder (client/result.c) on the
 * answers portqd's own answering function writes: read back whole, with
 * UDP zero padding accepted and measured off, and refused over TCP or
 * when the bytes after the last record are not zeros.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "answer.h"
#include "format.h"
#include "result.h"

static const char registry_csv[] =
	"Service Name,Port Number,Transport Protocol,Description\n"
	"echo,7,tcp,Echo\n" "echo,7,udp,Echo\n" ",8-79,,Unassigned\n"
	"http,80,tcp,World Wide Web HTTP\n" "sftsrv,1303,,sftsrv\n";

static registry_t *reg;

static void
setup(void)
{
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	ck_assert_int_eq(reg_builder_load_mem(b, "test.csv", registry_csv,
	                                      sizeof(registry_csv) - 1, REG_FMT_AUTO, &err),
	                 PORTQ_OK);
	reg = registry_build(b, 1);
	ck_assert_ptr_nonnull(reg);
}

static void
teardown(void)
{
	registry_free(reg);
}

/* portqd's answer to op/q from registry r, as it would leave over UDP. */
static size_t
server_answer_from(const registry_t *r, uint8_t op, const portq_question_t *q,
                   uint8_t *out)
{
	uint8_t req[PORTQ_UDP_MAX];
	portq_header_t h = { .opcode = op, .id = 0x4242 };
	int len = msg_query_encode(req, sizeof(req), &h, q);
	ck_assert_int_gt(len, 0);
	answer_ctx_t ctx = { r, NULL, NULL, NULL, 0, 0 };
	size_t n = answer_query(&ctx, req, (size_t)len, out, PORTQ_UDP_MAX).len;
	ck_assert_uint_gt(n, PORTQ_HEADER_LEN);
	return n;
}

static size_t
server_answer(uint8_t op, const portq_question_t *q, uint8_t *out)
{
	return server_answer_from(reg, op, q, out);
}

START_TEST(padding_read_and_measured_off)
{
	portq_question_t by_port = { .port_lo = 7 }, by_name = { 0 };
	ck_assert_int_eq(portq_question_set_text(&by_name, "http"), PORTQ_OK);
	const struct { uint8_t op; const portq_question_t *q; const char *name; } cases[] = {
		{ PORTQ_OP_PORT, &by_port, "echo" },
		{ PORTQ_OP_NAME, &by_name, "http" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t msg[PORTQ_UDP_MAX];
		size_t n = server_answer(cases[i].op, cases[i].q, msg);
		memset(msg + n, 0, sizeof(msg) - n);
		const size_t pads[] = { 0, 1, 64, PORTQ_UDP_MAX - n };
		for (size_t k = 0; k < sizeof(pads) / sizeof(pads[0]); k++) {
			portq_result_t *r = NULL;
			size_t used = 0;
			ck_assert_int_eq(result_decode(msg, n + pads[k], "t", 0, &r, &used), PORTQ_OK);
			ck_assert_uint_eq(used, n);                  /* the padding is not the answer */
			ck_assert_uint_ge(r->n_entries, 1);
			ck_assert_str_eq(r->entries[0].name, cases[i].name);
			free(r);                                     /* one allocation */
			/* What a cache keeps, msg[0..used), reads back the same. */
			ck_assert_int_eq(result_decode(msg, used, "t", 1, &r, NULL), PORTQ_OK);
			ck_assert_str_eq(r->entries[0].name, cases[i].name);
			free(r);
		}
		/* Over TCP nothing may follow the last record. */
		portq_result_t *r = (portq_result_t *)1;
		ck_assert_int_eq(result_decode(msg, n + 1, "t", 1, &r, NULL), PORTQ_EMALFORMED);
		/* Over UDP only zeros may. */
		msg[n + 3] = 1;
		ck_assert_int_eq(result_decode(msg, n + 8, "t", 0, &r, NULL), PORTQ_EMALFORMED);
	}
}
END_TEST

/*
 * Every field of the list (proto/fields.h), set by kind in a registry
 * entry, through the server's wire form and libportq's decoder into the
 * caller's portq_entry_t: a field added to the list that one of them
 * drops fails here.
 */
static char entry_text[PORTQ_MAX_ALIASES][32];
static const char *entry_list[PORTQ_MAX_ALIASES];

#define ENTRY_SET(m, api, kind, wire, max, rank, label, what) ENTRY_SET_##kind(m, max, what)
#define ENTRY_SET_TEXT(m, max, what) e->m = what;
#define ENTRY_SET_LIST(m, max, what)                                          \
	for (unsigned i = 0; i < (max); i++) {                                \
		snprintf(entry_text[i], sizeof(entry_text[i]), "%s %u", what, i); \
		entry_list[i] = entry_text[i];                                \
	}                                                                     \
	e->m = entry_list;                                                    \
	e->n_##m = (max);
#define ENTRY_SET_ENUM(m, max, what) e->m = (max);
#define ENTRY_SET_PORTS(m, max, what)                                         \
	e->has_##m = 1;                                                       \
	e->m##_lo = 1000;                                                     \
	e->m##_hi = 2000;
#define ENTRY_SET_FLAG(m, max, what)

#define ENTRY_CHECK(m, api, kind, wire, max, rank, label, what) ENTRY_CHECK_##kind(m, api)
#define ENTRY_CHECK_TEXT(m, api) ck_assert_str_eq(out->api, e->m);
#define ENTRY_CHECK_LIST(m, api)                                              \
	ck_assert_uint_eq(out->n_##api, e->n_##m);                            \
	for (unsigned i = 0; i < e->n_##m; i++)                               \
		ck_assert_str_eq(out->api[i], e->m[i]);                       \
	ck_assert_ptr_null(out->api[e->n_##m]);
#define ENTRY_CHECK_ENUM(m, api) ck_assert_str_eq(out->api, portq_##m##_name(e->m));
#define ENTRY_CHECK_PORTS(m, api)                                             \
	ck_assert_int_eq(out->has_##api, e->has_##m);                         \
	ck_assert_uint_eq(out->api##_lo, e->m##_lo);                          \
	ck_assert_uint_eq(out->api##_hi, e->m##_hi);
#define ENTRY_CHECK_FLAG(m, api) ck_assert_int_eq(out->api, portq_record_##m(&rec));

START_TEST(every_field_reaches_the_caller)
{
	static reg_entry_t entry;
	static portq_record_t rec;
	static uint8_t msg[PORTQ_MSG_MAX];
	reg_entry_t *e = &entry;
	PORTQ_RECORD_FIELDS(ENTRY_SET)
	reg_entry_to_record(e, &rec);

	portq_question_t q = { 0 };
	ck_assert_int_eq(portq_question_set_text(&q, e->name), PORTQ_OK);
	portq_header_t h = { .opcode = PORTQ_OP_NAME, .id = 1, .flags = PORTQ_FLAG_QR,
	                     .ancount = 1 };
	wire_t w = wire_writer(msg, sizeof(msg));
	portq_header_write(&w, &h);
	portq_question_write(&w, &q);
	portq_record_write(&w, &rec);
	ck_assert_int_eq(w.error, PORTQ_OK);

	portq_result_t *r = NULL;
	ck_assert_int_eq(result_decode(msg, wire_used(&w), "t", 1, &r, NULL), PORTQ_OK);
	ck_assert_uint_eq(r->n_entries, 1);
	const portq_entry_t *out = &r->entries[0];
	PORTQ_RECORD_FIELDS(ENTRY_CHECK)
	free(r);
}
END_TEST

/*
 * portqd's answer to a SEARCH it stopped at its work limit (PARTIAL, rcode
 * OK, no records, MORE clear) reads as `partial`, not as "nothing
 * matched"; so does the form a cache keeps. A search within the limit,
 * and a flag on an answer other than SEARCH, do not. Before, the decoder
 * dropped the flag: the result was an empty page like any other.
 */
START_TEST(partial_search_read)
{
	const size_t rows = 40000;   /* two bitmap windows: "xyz" costs ~81,000 units */
	size_t cap = 64 + rows * 32;
	char *csv = malloc(cap);
	ck_assert_ptr_nonnull(csv);
	size_t len = (size_t)snprintf(csv, cap, "Service Name,Port Number,Transport Protocol,"
	                              "Description\n");
	for (size_t i = 0; i < rows; i++)
		len += (size_t)snprintf(csv + len, cap - len, "s%zu,%zu,%s,xyzq\n", i,
		                        1 + i % 60000, i % 2 ? "udp" : "tcp");
	ck_assert_uint_lt(len, cap);
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	ck_assert_int_eq(reg_builder_load_mem(b, "broad.csv", csv, len, REG_FMT_AUTO, &err),
	                 PORTQ_OK);
	free(csv);
	registry_t *broad = registry_build(b, 9);
	ck_assert_ptr_nonnull(broad);

	uint8_t msg[PORTQ_UDP_MAX];
	portq_question_t q = { .limit = 10 };
	ck_assert_int_eq(portq_question_set_text(&q, "xyz"), PORTQ_OK);
	size_t n = server_answer_from(broad, PORTQ_OP_SEARCH, &q, msg);
	ck_assert_uint_eq(msg[4], PORTQ_FLAG_QR | PORTQ_FLAG_PARTIAL);   /* the premise */
	portq_result_t *r = NULL;
	size_t used = 0;
	ck_assert_int_eq(result_decode(msg, n, "t", 0, &r, &used), PORTQ_OK);
	ck_assert_int_eq(r->partial, 1);
	ck_assert_uint_eq(r->n_entries, 0);
	ck_assert_int_eq(r->more, 0);
	free(r);
	ck_assert_int_eq(result_decode(msg, used, "t", 1, &r, NULL), PORTQ_OK);
	ck_assert_int_eq(r->partial, 1);
	free(r);

	ck_assert_int_eq(portq_question_set_text(&q, "s1234"), PORTQ_OK);
	n = server_answer_from(broad, PORTQ_OP_SEARCH, &q, msg);
	ck_assert_int_eq(result_decode(msg, n, "t", 0, &r, NULL), PORTQ_OK);
	ck_assert_int_eq(r->partial, 0);
	ck_assert_uint_eq(r->n_entries, 10);
	ck_assert_int_eq(r->more, 1);
	free(r);
	registry_free(broad);

	/* PARTIAL means something for SEARCH only. */
	portq_question_t by_port = { .port_lo = 7 };
	n = server_answer(PORTQ_OP_PORT, &by_port, msg);
	msg[4] |= PORTQ_FLAG_PARTIAL;
	ck_assert_int_eq(result_decode(msg, n, "t", 0, &r, NULL), PORTQ_OK);
	ck_assert_int_eq(r->partial, 0);
	ck_assert_str_eq(r->entries[0].name, "echo");
	free(r);
}
END_TEST

static Suite *
result_suite(void)
{
	Suite *s = suite_create("result");
	TCase *tc = tcase_create("decode");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, padding_read_and_measured_off);
	tcase_add_test(tc, every_field_reaches_the_caller);
	tcase_add_test(tc, partial_search_read);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = result_suite };
