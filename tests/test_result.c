/*
 * test_result.c -- libportq's response decoder (client/result.c) on the
 * answers portqd's own answering function writes: read back whole, with
 * UDP zero padding accepted and measured off, and refused over TCP or
 * when the bytes after the last record are not zeros.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "answer.h"
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

/* portqd's answer to op/q, as it would leave over UDP. */
static size_t
server_answer(uint8_t op, const portq_question_t *q, uint8_t *out)
{
	uint8_t req[PORTQ_UDP_MAX];
	portq_header_t h = { .opcode = op, .id = 0x4242 };
	int len = portq_query_encode(req, sizeof(req), &h, q);
	ck_assert_int_gt(len, 0);
	answer_ctx_t ctx = { reg, NULL, NULL, NULL, 0, 0 };
	size_t n = answer_query(&ctx, req, (size_t)len, out, PORTQ_UDP_MAX);
	ck_assert_uint_gt(n, PORTQ_HEADER_LEN);
	return n;
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

static Suite *
result_suite(void)
{
	Suite *s = suite_create("result");
	TCase *tc = tcase_create("decode");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, padding_read_and_measured_off);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = result_suite };
