/*
 * test_wire.c -- the bounds-checked cursor (proto/wire.h) at every edge:
 * length 0, exact, one short, one over, and the sticky error that lets a
 * decoder check once at the end.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "error.h"
#include "wire.h"

/* A byte no test writes, to see that a failed write touched nothing. */
#define POISON 0xEE

START_TEST(reader_empty)
{
	static const uint8_t none[1] = { 0x55 };
	wire_t r = wire_reader(none, 0);

	ck_assert_uint_eq(wire_left(&r), 0);
	ck_assert_uint_eq(wire_used(&r), 0);
	ck_assert_uint_eq(wire_read_u8(&r), 0);
	ck_assert_int_eq(r.error, PORTQ_ESHORT);
	ck_assert_uint_eq(wire_used(&r), 0);
}
END_TEST

START_TEST(reader_empty_span_of_zero)
{
	/* Borrowing nothing at the very end is not an error: a zero-length
	 * text at the end of a message must decode. */
	static const uint8_t b[2] = { 1, 2 };
	wire_t r = wire_reader(b, 2);

	wire_skip(&r, 2);
	const uint8_t *p = wire_read_span(&r, 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(r.error, PORTQ_OK);
	ck_assert_uint_eq(wire_left(&r), 0);
}
END_TEST

START_TEST(read_u8_edges)
{
	static const uint8_t b[2] = { 0xAB, 0xCD };
	wire_t r = wire_reader(b, 1);

	ck_assert_uint_eq(wire_read_u8(&r), 0xAB);     /* exact */
	ck_assert_int_eq(r.error, PORTQ_OK);
	ck_assert_uint_eq(wire_left(&r), 0);
	ck_assert_uint_eq(wire_read_u8(&r), 0);        /* one over */
	ck_assert_int_eq(r.error, PORTQ_ESHORT);

	r = wire_reader(b, 2);                          /* one byte to spare */
	ck_assert_uint_eq(wire_read_u8(&r), 0xAB);
	ck_assert_uint_eq(wire_left(&r), 1);
	ck_assert_int_eq(r.error, PORTQ_OK);
}
END_TEST

START_TEST(read_u16_edges)
{
	static const uint8_t b[3] = { 0x12, 0x34, 0x56 };
	wire_t r = wire_reader(b, 2);

	ck_assert_uint_eq(wire_read_u16(&r), 0x1234);  /* exact, big-endian */
	ck_assert_int_eq(r.error, PORTQ_OK);
	ck_assert_uint_eq(wire_left(&r), 0);

	r = wire_reader(b, 1);                          /* one short */
	ck_assert_uint_eq(wire_read_u16(&r), 0);
	ck_assert_int_eq(r.error, PORTQ_ESHORT);
	ck_assert_uint_eq(wire_used(&r), 0);            /* nothing consumed */

	r = wire_reader(b, 3);                          /* one over */
	ck_assert_uint_eq(wire_read_u16(&r), 0x1234);
	ck_assert_uint_eq(wire_left(&r), 1);
	ck_assert_int_eq(r.error, PORTQ_OK);

	r = wire_reader(b, 0);
	ck_assert_uint_eq(wire_read_u16(&r), 0);
	ck_assert_int_eq(r.error, PORTQ_ESHORT);
}
END_TEST

START_TEST(read_u32_edges)
{
	static const uint8_t b[5] = { 0xDE, 0xAD, 0xBE, 0xEF, 0x01 };
	wire_t r = wire_reader(b, 4);

	ck_assert_uint_eq(wire_read_u32(&r), 0xDEADBEEFu);
	ck_assert_int_eq(r.error, PORTQ_OK);
	ck_assert_uint_eq(wire_left(&r), 0);

	r = wire_reader(b, 3);
	ck_assert_uint_eq(wire_read_u32(&r), 0);
	ck_assert_int_eq(r.error, PORTQ_ESHORT);
	ck_assert_uint_eq(wire_used(&r), 0);

	r = wire_reader(b, 5);
	ck_assert_uint_eq(wire_read_u32(&r), 0xDEADBEEFu);
	ck_assert_uint_eq(wire_left(&r), 1);

	r = wire_reader(b, 0);
	ck_assert_uint_eq(wire_read_u32(&r), 0);
	ck_assert_int_eq(r.error, PORTQ_ESHORT);
}
END_TEST

START_TEST(read_span_edges)
{
	static const uint8_t b[4] = { 'a', 'b', 'c', 'd' };
	wire_t r = wire_reader(b, 3);

	const uint8_t *p = wire_read_span(&r, 3);      /* exact */
	ck_assert_ptr_eq(p, b);
	ck_assert_int_eq(r.error, PORTQ_OK);

	r = wire_reader(b, 3);                          /* one short */
	ck_assert_ptr_null(wire_read_span(&r, 4));
	ck_assert_int_eq(r.error, PORTQ_ESHORT);
	ck_assert_uint_eq(wire_used(&r), 0);

	r = wire_reader(b, 4);                          /* one over */
	ck_assert_ptr_eq(wire_read_span(&r, 3), b);
	ck_assert_uint_eq(wire_left(&r), 1);

	r = wire_reader(b, 4);
	wire_skip(&r, 5);
	ck_assert_int_eq(r.error, PORTQ_ESHORT);
	ck_assert_uint_eq(wire_used(&r), 0);
}
END_TEST

START_TEST(read_sticky_error)
{
	/* After the first failure every read returns zero, even one that
	 * would fit, and the position no longer moves. */
	static const uint8_t b[3] = { 0x11, 0x22, 0x33 };
	wire_t r = wire_reader(b, 3);

	ck_assert_uint_eq(wire_read_u32(&r), 0);
	ck_assert_int_eq(r.error, PORTQ_ESHORT);
	ck_assert_uint_eq(wire_read_u8(&r), 0);
	ck_assert_uint_eq(wire_read_u16(&r), 0);
	ck_assert_ptr_null(wire_read_span(&r, 0));
	ck_assert_ptr_null(wire_read_span(&r, 1));
	ck_assert_uint_eq(wire_used(&r), 0);
	ck_assert_uint_eq(wire_left(&r), 3);
	ck_assert_int_eq(r.error, PORTQ_ESHORT);
}
END_TEST

START_TEST(sticky_keeps_first_error)
{
	/* A write error stays the error even if a read fails afterwards. */
	uint8_t b[1];
	wire_t w = wire_writer(b, 0);

	wire_write_u8(&w, 1);
	ck_assert_int_eq(w.error, PORTQ_ESPACE);
	(void)wire_read_u8(&w);
	ck_assert_int_eq(w.error, PORTQ_ESPACE);
}
END_TEST

START_TEST(writer_empty)
{
	uint8_t b[1] = { POISON };
	wire_t w = wire_writer(b, 0);

	ck_assert_uint_eq(wire_left(&w), 0);
	wire_write_bytes(&w, "x", 0);                   /* nothing to write: fine */
	ck_assert_int_eq(w.error, PORTQ_OK);
	wire_write_u8(&w, 0x42);
	ck_assert_int_eq(w.error, PORTQ_ESPACE);
	ck_assert_uint_eq(b[0], POISON);
}
END_TEST

START_TEST(write_u8_edges)
{
	uint8_t b[2] = { POISON, POISON };
	wire_t w = wire_writer(b, 1);

	wire_write_u8(&w, 0x7F);
	ck_assert_int_eq(w.error, PORTQ_OK);
	ck_assert_uint_eq(wire_used(&w), 1);
	wire_write_u8(&w, 0x80);                        /* one over */
	ck_assert_int_eq(w.error, PORTQ_ESPACE);
	ck_assert_uint_eq(b[0], 0x7F);
	ck_assert_uint_eq(b[1], POISON);
}
END_TEST

START_TEST(write_u16_edges)
{
	uint8_t b[3];
	memset(b, POISON, sizeof(b));
	wire_t w = wire_writer(b, 2);

	wire_write_u16(&w, 0xA1B2);                     /* exact */
	ck_assert_int_eq(w.error, PORTQ_OK);
	ck_assert_uint_eq(b[0], 0xA1);
	ck_assert_uint_eq(b[1], 0xB2);
	ck_assert_uint_eq(wire_left(&w), 0);

	memset(b, POISON, sizeof(b));
	w = wire_writer(b, 1);                          /* one short */
	wire_write_u16(&w, 0xA1B2);
	ck_assert_int_eq(w.error, PORTQ_ESPACE);
	ck_assert_uint_eq(b[0], POISON);                /* no half write */
	ck_assert_uint_eq(wire_used(&w), 0);

	w = wire_writer(b, 3);                          /* one over */
	wire_write_u16(&w, 0x0102);
	ck_assert_int_eq(w.error, PORTQ_OK);
	ck_assert_uint_eq(wire_left(&w), 1);
}
END_TEST

START_TEST(write_u32_edges)
{
	uint8_t b[5];
	memset(b, POISON, sizeof(b));
	wire_t w = wire_writer(b, 4);

	wire_write_u32(&w, 0x01020304u);
	ck_assert_int_eq(w.error, PORTQ_OK);
	ck_assert_mem_eq(b, "\x01\x02\x03\x04", 4);

	memset(b, POISON, sizeof(b));
	w = wire_writer(b, 3);
	wire_write_u32(&w, 0x01020304u);
	ck_assert_int_eq(w.error, PORTQ_ESPACE);
	ck_assert_uint_eq(b[0], POISON);

	w = wire_writer(b, 5);
	wire_write_u32(&w, 0xFFFFFFFFu);
	ck_assert_uint_eq(wire_left(&w), 1);
	ck_assert_int_eq(w.error, PORTQ_OK);
}
END_TEST

START_TEST(write_bytes_edges)
{
	uint8_t b[4];
	memset(b, POISON, sizeof(b));
	wire_t w = wire_writer(b, 3);

	wire_write_bytes(&w, "abc", 3);
	ck_assert_int_eq(w.error, PORTQ_OK);
	ck_assert_mem_eq(b, "abc", 3);
	ck_assert_uint_eq(b[3], POISON);

	memset(b, POISON, sizeof(b));
	w = wire_writer(b, 3);
	wire_write_bytes(&w, "abcd", 4);
	ck_assert_int_eq(w.error, PORTQ_ESPACE);
	ck_assert_uint_eq(b[0], POISON);
}
END_TEST

START_TEST(write_sticky_error)
{
	/* After a write fails, a later write that would fit does nothing. */
	uint8_t b[4];
	memset(b, POISON, sizeof(b));
	wire_t w = wire_writer(b, 4);

	wire_write_u8(&w, 1);
	wire_write_u32(&w, 2);                          /* needs 4, 3 left */
	ck_assert_int_eq(w.error, PORTQ_ESPACE);
	wire_write_u8(&w, 3);
	wire_write_u16(&w, 4);
	wire_write_bytes(&w, "z", 1);
	ck_assert_uint_eq(wire_used(&w), 1);
	ck_assert_uint_eq(b[1], POISON);
	ck_assert_int_eq(w.error, PORTQ_ESPACE);
}
END_TEST

START_TEST(patch_u16)
{
	uint8_t b[4];
	wire_t w = wire_writer(b, sizeof(b));

	wire_write_u16(&w, 0);
	wire_write_u16(&w, 0xFFFF);
	wire_patch_u16(&w, 0, 0xBEEF);
	ck_assert_mem_eq(b, "\xBE\xEF\xFF\xFF", 4);

	/* Only bytes already written may be patched. */
	w = wire_writer(b, sizeof(b));
	wire_write_u8(&w, 0x01);
	b[1] = POISON;
	wire_patch_u16(&w, 0, 0x1234);
	ck_assert_uint_eq(b[0], 0x01);
	ck_assert_uint_eq(b[1], POISON);

	/* A cursor in error patches nothing. */
	w = wire_writer(b, 2);
	wire_write_u16(&w, 0x0A0B);
	wire_write_u8(&w, 0);
	ck_assert_int_eq(w.error, PORTQ_ESPACE);
	wire_patch_u16(&w, 0, 0x1234);
	ck_assert_mem_eq(b, "\x0A\x0B", 2);
}
END_TEST

START_TEST(rewind_clears_error)
{
	/* Rewinding is how a truncating writer drops the record that did
	 * not fit and carries on; it must leave a usable cursor. */
	uint8_t b[4];
	wire_t w = wire_writer(b, sizeof(b));

	wire_write_u16(&w, 0x0102);
	wire_write_u32(&w, 0);
	ck_assert_int_eq(w.error, PORTQ_ESPACE);
	wire_rewind(&w, 2);
	ck_assert_int_eq(w.error, PORTQ_OK);
	ck_assert_uint_eq(wire_used(&w), 2);
	wire_write_u16(&w, 0x0304);
	ck_assert_int_eq(w.error, PORTQ_OK);
	ck_assert_mem_eq(b, "\x01\x02\x03\x04", 4);

	/* An offset past what was written is ignored. */
	w = wire_writer(b, sizeof(b));
	wire_write_u8(&w, 0);
	wire_rewind(&w, 3);
	ck_assert_uint_eq(wire_used(&w), 1);
	wire_rewind(&w, 0);
	ck_assert_uint_eq(wire_used(&w), 0);
}
END_TEST

START_TEST(mixed_round_trip)
{
	uint8_t b[7];
	wire_t w = wire_writer(b, sizeof(b));

	wire_write_u8(&w, 0xA1);
	wire_write_u16(&w, 5301);
	wire_write_u32(&w, 2026022501u);
	ck_assert_int_eq(w.error, PORTQ_OK);
	ck_assert_uint_eq(wire_left(&w), 0);

	wire_t r = wire_reader(b, wire_used(&w));
	ck_assert_uint_eq(wire_read_u8(&r), 0xA1);
	ck_assert_uint_eq(wire_read_u16(&r), 5301);
	ck_assert_uint_eq(wire_read_u32(&r), 2026022501u);
	ck_assert_int_eq(r.error, PORTQ_OK);
	ck_assert_uint_eq(wire_left(&r), 0);
}
END_TEST

START_TEST(error_texts)
{
	/* Every code has its own text; unknown codes still get one. */
	static const int codes[] = {
#define CODE(name, value, text) PORTQ_##name,
		PORTQ_ERROR_MAP(CODE)
#undef CODE
	};
	size_t n = sizeof(codes) / sizeof(codes[0]);

	ck_assert_int_eq(PORTQ_OK, 0);
	for (size_t i = 0; i < n; i++) {
		const char *t = portq_strerror(codes[i]);
		ck_assert_ptr_nonnull(t);
		ck_assert_str_ne(t, "unknown error");
		if (i > 0)
			ck_assert_int_lt(codes[i], 0);
		for (size_t j = 0; j < i; j++)
			ck_assert_int_ne(codes[i], codes[j]);
	}
	ck_assert_str_eq(portq_strerror(1), "unknown error");
	ck_assert_str_eq(portq_strerror(-1000), "unknown error");
}
END_TEST

static Suite *
wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("read");
	tcase_add_test(tc, reader_empty);
	tcase_add_test(tc, reader_empty_span_of_zero);
	tcase_add_test(tc, read_u8_edges);
	tcase_add_test(tc, read_u16_edges);
	tcase_add_test(tc, read_u32_edges);
	tcase_add_test(tc, read_span_edges);
	tcase_add_test(tc, read_sticky_error);
	tcase_add_test(tc, sticky_keeps_first_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("write");
	tcase_add_test(tc, writer_empty);
	tcase_add_test(tc, write_u8_edges);
	tcase_add_test(tc, write_u16_edges);
	tcase_add_test(tc, write_u32_edges);
	tcase_add_test(tc, write_bytes_edges);
	tcase_add_test(tc, write_sticky_error);
	tcase_add_test(tc, patch_u16);
	tcase_add_test(tc, rewind_clears_error);
	tcase_add_test(tc, mixed_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("error");
	tcase_add_test(tc, error_texts);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = wire_suite };
