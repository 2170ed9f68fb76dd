/*
 * test_frame.c -- TCP frame reassembly (proto/frame.h). "Need more bytes"
 * (EAGAIN) must stay distinct from "this stream is broken" (EMALFORMED,
 * ETOOBIG), because the first waits for the next read and the others close
 * the connection.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "error.h"
#include "frame.h"

#define MAX 1024

/* Pointers the reassembler must leave alone when it has no frame. */
static const uint8_t sentinel[1];

START_TEST(zero_bytes)
{
	static const uint8_t b[1] = { 0 };
	const uint8_t *msg = sentinel;
	size_t len = 77;

	ck_assert_int_eq(portq_frame_next(b, 0, MAX, &msg, &len), PORTQ_EAGAIN);
	ck_assert_ptr_eq(msg, sentinel);
	ck_assert_uint_eq(len, 77);
}
END_TEST

START_TEST(one_byte)
{
	/* Half a length prefix: wait, even if that byte alone says "huge". */
	static const uint8_t b[1] = { 0xFF };
	const uint8_t *msg = sentinel;
	size_t len = 77;

	ck_assert_int_eq(portq_frame_next(b, 1, MAX, &msg, &len), PORTQ_EAGAIN);
	ck_assert_ptr_eq(msg, sentinel);
}
END_TEST

START_TEST(prefix_only)
{
	static const uint8_t b[2] = { 0x00, 0x05 };
	const uint8_t *msg = sentinel;
	size_t len = 77;

	ck_assert_int_eq(portq_frame_next(b, 2, MAX, &msg, &len), PORTQ_EAGAIN);
	ck_assert_ptr_eq(msg, sentinel);
	ck_assert_uint_eq(len, 77);
}
END_TEST

START_TEST(exact)
{
	static const uint8_t b[] = { 0x00, 0x03, 'a', 'b', 'c' };
	const uint8_t *msg = NULL;
	size_t len = 0;

	ck_assert_int_eq(portq_frame_next(b, sizeof(b), MAX, &msg, &len), 5);
	ck_assert_ptr_eq(msg, b + 2);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(msg, "abc", 3);
}
END_TEST

START_TEST(one_short)
{
	static const uint8_t b[] = { 0x00, 0x03, 'a', 'b', 'c' };
	const uint8_t *msg = sentinel;
	size_t len = 77;

	ck_assert_int_eq(portq_frame_next(b, sizeof(b) - 1, MAX, &msg, &len),
	                 PORTQ_EAGAIN);
	ck_assert_ptr_eq(msg, sentinel);
	ck_assert_uint_eq(len, 77);
}
END_TEST

START_TEST(one_over)
{
	/* The byte after the frame belongs to the next one: not consumed. */
	static const uint8_t b[] = { 0x00, 0x03, 'a', 'b', 'c', 0x00 };
	const uint8_t *msg = NULL;
	size_t len = 0;

	ck_assert_int_eq(portq_frame_next(b, sizeof(b), MAX, &msg, &len), 5);
	ck_assert_uint_eq(len, 3);
	ck_assert_int_eq(portq_frame_next(b + 5, 1, MAX, &msg, &len),
	                 PORTQ_EAGAIN);
}
END_TEST

START_TEST(two_pipelined)
{
	static const uint8_t b[] = {
		0x00, 0x02, 'h', 'i',
		0x00, 0x04, 'p', 'o', 'r', 't',
	};
	const uint8_t *msg = NULL;
	size_t len = 0, off = 0;

	int n = portq_frame_next(b + off, sizeof(b) - off, MAX, &msg, &len);
	ck_assert_int_eq(n, 4);
	ck_assert_uint_eq(len, 2);
	ck_assert_mem_eq(msg, "hi", 2);
	off += (size_t)n;

	n = portq_frame_next(b + off, sizeof(b) - off, MAX, &msg, &len);
	ck_assert_int_eq(n, 6);
	ck_assert_uint_eq(len, 4);
	ck_assert_mem_eq(msg, "port", 4);
	ck_assert_ptr_eq(msg, b + 6);
	off += (size_t)n;

	ck_assert_uint_eq(off, sizeof(b));
	ck_assert_int_eq(portq_frame_next(b + off, 0, MAX, &msg, &len),
	                 PORTQ_EAGAIN);
}
END_TEST

START_TEST(byte_by_byte)
{
	/* A frame arriving one byte per read completes exactly once, on its
	 * last byte. */
	static const uint8_t b[] = { 0x00, 0x04, 1, 2, 3, 4 };
	const uint8_t *msg = NULL;
	size_t len = 0;

	for (size_t have = 0; have < sizeof(b); have++)
		ck_assert_int_eq(portq_frame_next(b, have, MAX, &msg, &len),
		                 PORTQ_EAGAIN);
	ck_assert_int_eq(portq_frame_next(b, sizeof(b), MAX, &msg, &len), 6);
	ck_assert_uint_eq(len, 4);
}
END_TEST

START_TEST(zero_length)
{
	/* A zero length can never be a message; more bytes will not help. */
	static const uint8_t b[] = { 0x00, 0x00, 0x00, 0x01, 'x' };
	const uint8_t *msg = sentinel;
	size_t len = 77;

	ck_assert_int_eq(portq_frame_next(b, 2, MAX, &msg, &len),
	                 PORTQ_EMALFORMED);
	ck_assert_int_eq(portq_frame_next(b, sizeof(b), MAX, &msg, &len),
	                 PORTQ_EMALFORMED);
	ck_assert_ptr_eq(msg, sentinel);
}
END_TEST

START_TEST(over_max)
{
	/* Too big is known from the prefix alone: do not wait for a body
	 * that will be refused anyway. */
	uint8_t b[2 + MAX + 1];
	memset(b, 0x5A, sizeof(b));
	const uint8_t *msg = sentinel;
	size_t len = 77;

	b[0] = (MAX + 1) >> 8;
	b[1] = (MAX + 1) & 0xFF;
	ck_assert_int_eq(portq_frame_next(b, 2, MAX, &msg, &len), PORTQ_ETOOBIG);
	ck_assert_int_eq(portq_frame_next(b, sizeof(b), MAX, &msg, &len),
	                 PORTQ_ETOOBIG);
	ck_assert_ptr_eq(msg, sentinel);

	b[0] = MAX >> 8;                                /* exactly the maximum */
	b[1] = MAX & 0xFF;
	ck_assert_int_eq(portq_frame_next(b, 2, MAX, &msg, &len), PORTQ_EAGAIN);
	ck_assert_int_eq(portq_frame_next(b, 2 + MAX, MAX, &msg, &len), 2 + MAX);
	ck_assert_uint_eq(len, MAX);
}
END_TEST

START_TEST(largest_frame)
{
	static uint8_t b[2 + 65535];
	const uint8_t *msg = NULL;
	size_t len = 0;

	ck_assert_int_eq(portq_frame_prefix(b, 65535), PORTQ_OK);
	ck_assert_uint_eq(b[0], 0xFF);
	ck_assert_uint_eq(b[1], 0xFF);
	ck_assert_int_eq(portq_frame_next(b, sizeof(b), 65535, &msg, &len),
	                 2 + 65535);
	ck_assert_uint_eq(len, 65535);
	ck_assert_int_eq(portq_frame_next(b, sizeof(b), 65534, &msg, &len),
	                 PORTQ_ETOOBIG);
}
END_TEST

START_TEST(null_arguments)
{
	static const uint8_t b[] = { 0x00, 0x01, 'x' };
	const uint8_t *msg;
	size_t len;

	ck_assert_int_eq(portq_frame_next(NULL, 3, MAX, &msg, &len), PORTQ_EINVAL);
	ck_assert_int_eq(portq_frame_next(b, 3, MAX, NULL, &len), PORTQ_EINVAL);
	ck_assert_int_eq(portq_frame_next(b, 3, MAX, &msg, NULL), PORTQ_EINVAL);
	ck_assert_int_eq(portq_frame_prefix(NULL, 1), PORTQ_EINVAL);
}
END_TEST

START_TEST(prefix_edges)
{
	uint8_t p[PORTQ_FRAME_PREFIX] = { 0xEE, 0xEE };

	ck_assert_int_eq(portq_frame_prefix(p, 0), PORTQ_EINVAL);
	ck_assert_int_eq(portq_frame_prefix(p, 65536), PORTQ_EINVAL);
	ck_assert_uint_eq(p[0], 0xEE);                  /* untouched on error */
	ck_assert_int_eq(portq_frame_prefix(p, 1), PORTQ_OK);
	ck_assert_mem_eq(p, "\x00\x01", 2);
	ck_assert_int_eq(portq_frame_prefix(p, 0x1234), PORTQ_OK);
	ck_assert_mem_eq(p, "\x12\x34", 2);
}
END_TEST

START_TEST(prefix_round_trip)
{
	uint8_t b[2 + 300];
	const uint8_t *msg = NULL;
	size_t len = 0;

	memset(b, 'q', sizeof(b));
	ck_assert_int_eq(portq_frame_prefix(b, 300), PORTQ_OK);
	ck_assert_int_eq(portq_frame_next(b, sizeof(b), MAX, &msg, &len), 302);
	ck_assert_uint_eq(len, 300);
	ck_assert_ptr_eq(msg, b + 2);
}
END_TEST

static Suite *
frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = tcase_create("next");
	tcase_add_test(tc, zero_bytes);
	tcase_add_test(tc, one_byte);
	tcase_add_test(tc, prefix_only);
	tcase_add_test(tc, exact);
	tcase_add_test(tc, one_short);
	tcase_add_test(tc, one_over);
	tcase_add_test(tc, two_pipelined);
	tcase_add_test(tc, byte_by_byte);
	tcase_add_test(tc, zero_length);
	tcase_add_test(tc, over_max);
	tcase_add_test(tc, largest_frame);
	tcase_add_test(tc, null_arguments);
	suite_add_tcase(s, tc);

	tc = tcase_create("prefix");
	tcase_add_test(tc, prefix_edges);
	tcase_add_test(tc, prefix_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = frame_suite };
