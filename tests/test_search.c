/*
 * test_search.c -- the SEARCH index (srv/search.c) against the linear
 * scan it replaced: the same records, in the same order, for every
 * question below the work bound; and the bound itself, where a question
 * reaches it.
 *
 * The oracle is the scan portqd did before the index (every record's
 * lower-cased name, aliases and description, strstr on each), written
 * here again from the records themselves.
 */
#include <check.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "answer.h"
#include "format.h"
#include "registry.h"
#include "search.h"

#define IANA_CSV PORTQ_DATA_DIR "/service-names-port-numbers.csv"

static registry_t *
load_file(const char *path)
{
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	ck_assert_int_eq(reg_builder_load(b, path, REG_FMT_AUTO, &err), PORTQ_OK);
	registry_t *r = registry_build(b, 1);
	ck_assert_ptr_nonnull(r);
	return r;
}

static registry_t *
load_mem(const char *data, size_t len)
{
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	ck_assert_int_eq(reg_builder_load_mem(b, "mem.csv", data, len, REG_FMT_IANA_CSV, &err),
	                 PORTQ_OK);
	registry_t *r = registry_build(b, 1);
	ck_assert_ptr_nonnull(r);
	return r;
}

static int
holds(const char *hay, const char *folded)
{
	char low[4096];
	size_t n = strlen(hay);
	if (n >= sizeof(low))
		n = sizeof(low) - 1;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)hay[i]);
	low[n] = '\0';
	return strstr(low, folded) != NULL;
}

/* The linear scan: every match counted, the page [offset, offset + max). */
static size_t
linear_search(const registry_t *r, const char *text, uint8_t tp, size_t offset,
              const reg_entry_t **out, size_t max)
{
	char folded[PORTQ_TEXT_MAX + 1];
	size_t n = strlen(text), found = 0;
	if (n > PORTQ_TEXT_MAX)
		return 0;
	for (size_t i = 0; i <= n; i++)
		folded[i] = (char)tolower((unsigned char)text[i]);
	for (size_t i = 0; i < registry_count(r); i++) {
		const reg_entry_t *e = registry_entry(r, i);
		if (tp != PORTQ_TP_ANY && e->transport != PORTQ_TP_ANY && e->transport != tp)
			continue;
		int hit = holds(e->name, folded) || holds(e->description, folded);
		for (unsigned a = 0; a < e->n_aliases && !hit; a++)
			hit = holds(e->aliases[a], folded);
		if (!hit)
			continue;
		if (found >= offset && found - offset < max)
			out[found - offset] = e;
		found++;
	}
	return found;
}

/*
 * One question both ways, as answer.c asks it: counted up to one past the
 * page, within SEARCH_WORK_MAX. Returns 1 when the index stopped at the bound.
 */
static int
same_as_linear(const registry_t *r, const char *text, uint8_t tp, size_t offset,
               size_t max)
{
	static const reg_entry_t *want[REG_SEARCH_PAGE_MAX], *got[REG_SEARCH_PAGE_MAX];
	size_t all = linear_search(r, text, tp, offset, want, max);
	search_query_t q = { .text = text, .transport = tp, .offset = offset,
	                     .count_max = offset + max + 1, .work_max = SEARCH_WORK_MAX };
	size_t found = registry_search(r, &q, got, max);
	if (q.capped)
		return 1;
	size_t expect = all < offset + max + 1 ? all : offset + max + 1;
	if (found != expect)
		ck_abort_msg("\"%s\" tp %u offset %zu max %zu: %zu found, linear %zu",
		             text, tp, offset, max, found, all);
	size_t page = all > offset ? all - offset : 0;
	for (size_t i = 0; i < page && i < max; i++)
		if (got[i] != want[i])
			ck_abort_msg("\"%s\" tp %u offset %zu: record %zu differs", text, tp,
			             offset, i);
	return 0;
}

START_TEST(same_as_linear_on_iana)
{
	if (access(IANA_CSV, R_OK) != 0) {
		fprintf(stderr, "same_as_linear_on_iana: skipped, %s not found\n", IANA_CSV);
		return;
	}
	registry_t *r = load_file(IANA_CSV);
	size_t n = registry_count(r), asked = 0, capped = 0;
	srand(11);
	char text[PORTQ_TEXT_MAX + 2];
	/* Every 1-byte question, and every 2-byte one of letters, digits and
	 * a few others: the n-gram lists alone answer those. */
	const char alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -./()+_";
	for (size_t i = 0; alpha[i]; i++) {
		text[0] = alpha[i];
		text[1] = '\0';
		capped += same_as_linear(r, text, (uint8_t)(i % 5), (size_t)rand() % 300, 100);
		for (size_t j = 0; j < sizeof(alpha) - 1; j += 3) {
			text[1] = alpha[j];
			text[2] = '\0';
			capped += same_as_linear(r, text, (uint8_t)(j % 5), (size_t)rand() % 50,
			                         1 + (size_t)rand() % 20);
			asked++;
		}
	}
	/* Random pieces of real text, of every length, in random case, at
	 * random offsets (some past the end), with the odd byte changed. */
	for (int k = 0; k < 6000; k++) {
		const reg_entry_t *e = registry_entry(r, (size_t)rand() % n);
		const char *src = rand() % 4 ? e->description : e->name;
		size_t len = strlen(src);
		if (len == 0)
			continue;
		size_t a = (size_t)rand() % len;
		size_t take = 1 + (size_t)rand() % (len - a);
		if (rand() % 3 == 0 && take > 12)
			take = 1 + (size_t)rand() % 12;
		memcpy(text, src + a, take);
		text[take] = '\0';
		for (size_t i = 0; i < take; i++)
			if (rand() % 2)
				text[i] = (char)toupper((unsigned char)text[i]);
		if (rand() % 8 == 0)
			text[(size_t)rand() % take] = (char)('a' + rand() % 26);
		size_t offset = rand() % 3 == 0 ? (size_t)rand() % 4000 : (size_t)rand() % 20;
		size_t max = 1 + (size_t)rand() % (rand() % 5 == 0 ? REG_SEARCH_PAGE_MAX : 100);
		capped += same_as_linear(r, text, (uint8_t)(rand() % 5), offset, max);
		asked++;
	}
	/* Every page of the broadest 4-byte question, the deepest work
	 * a real question does here. */
	for (size_t off = 0; off < 3400; off += 100)
		capped += same_as_linear(r, "serv", PORTQ_TP_TCP, off, 100);
	fprintf(stderr, "same_as_linear_on_iana: %zu questions, %zu stopped at the bound\n",
	        asked, capped);
	ck_assert_uint_eq(capped, 0);
	registry_free(r);
}
END_TEST

/* Edges the IANA file may not have: parts, bytes above 0x7f, lengths. */
START_TEST(same_as_linear_at_the_edges)
{
	static const char csv[] =
	    "Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,"
	    "Registration Date,Modification Date,Reference,Service Code,"
	    "Unauthorized Use Reported,Assignment Notes\n"
	    "abc,1,tcp,\"xyz\nabc\",,,,,,,,\n"
	    "abcd,2,udp,Caf\xc3\xa9 abcabcabc,,,,,,,,\n"
	    "ab,3,,aaaa aaab,,,,,,,,\n"
	    ",4,tcp,Unassigned,,,,,,,,\n"
	    "zz,5,sctp,ABCDEFGHIJKLMNOPQRSTUVWXYZ,,,,,,,,\n";
	registry_t *r = load_mem(csv, sizeof(csv) - 1);
	const char *texts[] = { "a", "b", "ab", "abc", "abcd", "abca", "bcab", "zab",
	                        "c\nab", "z\na", "\xc3\xa9", "caf\xc3\xa9 ", "\xc3",
	                        "aaa", "aaaa", "aaaaa", "aab", "aaab ", "KLMNOPQ",
	                        "unassigned", "unassignedx", "q", "qqqq", "" };
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		for (uint8_t tp = 0; tp < PORTQ_TP_COUNT; tp++)
			for (size_t off = 0; off < 4; off++)
				for (size_t max = 1; max < 4; max++)
					ck_assert_int_eq(same_as_linear(r, texts[i], tp, off, max), 0);
	/* Longer than any question may be: nothing. */
	char big[PORTQ_TEXT_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	search_query_t q = { .text = big, .count_max = SIZE_MAX, .work_max = SIZE_MAX };
	const reg_entry_t *out[4];
	ck_assert_uint_eq(registry_search(r, &q, out, 4), 0);
	registry_free(r);
}
END_TEST

/*
 * A registry of 70,000 records, more than one bitmap window (32,768):
 * every fortieth holds "xyzw", the others "xyzq"; tcp and udp by turns.
 * Questions across the windows agree with the scan. "xyz" (in all
 * 70,000, read once per window) needs more than the bound: it stops there
 * and says so; without a bound it finds what the scan finds. "x" and ""
 * over one transport deep in the list are a slice of that transport's
 * list, and cost their page.
 */
START_TEST(bound_reached)
{
	size_t rows = 70000, cap = 64 + rows * 48;
	char *csv = malloc(cap);
	size_t len = (size_t)snprintf(csv, cap, "Service Name,Port Number,Transport Protocol,"
	                              "Description\n");
	for (size_t i = 0; i < rows; i++)
		len += (size_t)snprintf(csv + len, cap - len, "s%zu,%zu,%s,%s\n", i,
		                        1 + i % 60000, i % 2 ? "udp" : "tcp",
		                        i % 40 ? "xyzq" : "xyzw");
	registry_t *r = load_mem(csv, len);
	free(csv);
	ck_assert_uint_eq(registry_count(r), rows);

	const size_t offsets[] = { 0, 4999, 5000, 9990, 9999, 10000, 20000 };
	for (uint8_t tp = 0; tp < 3; tp++)
		for (size_t k = 0; k < sizeof(offsets) / sizeof(offsets[0]); k++) {
			ck_assert_int_eq(same_as_linear(r, "xyzw", tp, offsets[k], 1), 0);
			ck_assert_int_eq(same_as_linear(r, "XYZW", tp, offsets[k], 100), 0);
			ck_assert_int_eq(same_as_linear(r, "x", tp, offsets[k] / 8, 10), 0);
		}

	static const reg_entry_t *out[REG_SEARCH_PAGE_MAX], *want[REG_SEARCH_PAGE_MAX];
	search_query_t q = { .text = "xyz", .offset = 30000, .count_max = 30101,
	                     .work_max = SEARCH_WORK_MAX };
	ck_assert_uint_eq(registry_search(r, &q, out, 100), 0);
	ck_assert_int_eq(q.capped, 1);
	ck_assert_uint_le(q.work, SEARCH_WORK_MAX);
	q = (search_query_t){ .text = "xyz", .offset = 30000, .count_max = SIZE_MAX,
	                      .work_max = SIZE_MAX };
	ck_assert_uint_eq(registry_search(r, &q, out, 100), rows);
	ck_assert_int_eq(q.capped, 0);
	ck_assert_uint_gt(q.work, SEARCH_WORK_MAX);
	ck_assert_uint_eq(linear_search(r, "xyz", 0, 30000, want, 100), rows);
	ck_assert_mem_eq(out, want, 100 * sizeof(out[0]));

	/* A short question filtered by transport, past its last match, is a
	 * slice of that transport's list: a unit, not a read of every
	 * document holding the byte (70,001 units before). */
	q = (search_query_t){ .text = "x", .transport = PORTQ_TP_TCP, .offset = 40000,
	                      .count_max = 40011, .work_max = SEARCH_WORK_MAX };
	ck_assert_uint_eq(registry_search(r, &q, out, 10), rows / 2);
	ck_assert_int_eq(q.capped, 0);
	ck_assert_uint_le(q.work, 1);
	q = (search_query_t){ .text = "", .transport = PORTQ_TP_UDP, .offset = 34990,
	                      .count_max = 35001, .work_max = SEARCH_WORK_MAX };
	ck_assert_uint_eq(registry_search(r, &q, out, 10), rows / 2);
	ck_assert_uint_le(q.work, 11);
	ck_assert_int_eq(same_as_linear(r, "", PORTQ_TP_UDP, 34990, 10), 0);

	/* Over the wire: rcode OK (not NOT-FOUND: not all was looked at),
	 * no records, PARTIAL set, MORE clear. */
	uint8_t req[512], resp[PORTQ_UDP_MAX];
	portq_header_t h = { .opcode = PORTQ_OP_SEARCH, .id = 7 };
	portq_question_t qq = { .offset = 30000 };
	portq_question_set_text(&qq, "xyz");
	wire_t w = wire_writer(req, sizeof(req));
	portq_header_write(&w, &h);
	portq_question_write(&w, &qq);
	answer_ctx_t ctx = { .reg = r };
	size_t n = answer_query(&ctx, req, wire_used(&w), resp, sizeof(resp)).len;
	wire_t rd = wire_reader(resp, n);
	ck_assert_int_eq(portq_header_read(&rd, &h), PORTQ_OK);
	ck_assert_uint_eq(h.rcode, PORTQ_RC_OK);
	ck_assert_uint_eq(h.ancount, 0);
	ck_assert_uint_eq(h.flags, PORTQ_FLAG_QR | PORTQ_FLAG_PARTIAL);
	registry_free(r);
}
END_TEST

static Suite *
search_suite(void)
{
	Suite *s = suite_create("search");
	TCase *tc = tcase_create("search");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, same_as_linear_on_iana);
	tcase_add_test(tc, same_as_linear_at_the_edges);
	tcase_add_test(tc, bound_reached);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = search_suite };
