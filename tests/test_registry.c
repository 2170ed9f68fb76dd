/*
 * test_registry.c -- the registry's indexes and lookups (srv/registry.c)
 * on the fixtures: by port, by name, answer order, port context, paged
 * range and search scans, and local files layered over IANA data.
 *
 * Hand-worked answers come from reading tests/fixtures/iana-small.csv;
 * the whole-port-space checks compare with a brute-force model written
 * here, so the index and the model must agree on every port.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check_main.h"
#include "error.h"
#include "format.h"
#include "msg.h"
#include "port_oracle.h"
#include "reg_testutil.h"
#include "registry.h"

#define MAX_OUT 64

static registry_t *iana;        /* iana-small.csv alone */
static registry_t *layered;     /* iana-small.csv, services-small, local-small.conf */

static void
setup(void)
{
	const char *paths[] = { CSV_SMALL, SERVICES_SMALL, LOCAL_SMALL };
	reg_error_t err;
	int rc;
	iana = load_ok(CSV_SMALL);
	layered = load_files(paths, 3, &rc, &err);
	ck_assert_msg(layered != NULL, "%s", err.text);
}

static void
teardown(void)
{
	registry_free(iana);
	registry_free(layered);
	iana = layered = NULL;
}

/* Does out[0..n) hold exactly these (origin, transport, line) triples? */
typedef struct {
	uint8_t origin, transport;
	uint32_t line;
} want_t;

static void
assert_answer(const reg_entry_t *const *out, size_t n, const want_t *want,
              size_t n_want)
{
	ck_assert_uint_eq(n, n_want);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(out[i]->origin == want[i].origin &&
		              out[i]->transport == want[i].transport &&
		              out[i]->line == want[i].line,
		              "answer %zu is %s/%s line %u, want %s/%s line %u", i,
		              portq_origin_name(out[i]->origin),
		              portq_transport_name(out[i]->transport), out[i]->line,
		              portq_origin_name(want[i].origin),
		              portq_transport_name(want[i].transport), want[i].line);
	}
}

#define ANSWER(out, n, ...) do {                                          \
	static const want_t w_[] = { __VA_ARGS__ };                         \
	assert_answer((out), (n), w_, sizeof(w_) / sizeof(w_[0]));          \
} while (0)

#define I(tp, line) { PORTQ_ORIGIN_IANA, PORTQ_TP_##tp, line }
#define S(tp, line) { PORTQ_ORIGIN_SERVICES, PORTQ_TP_##tp, line }
#define L(tp, line) { PORTQ_ORIGIN_LOCAL, PORTQ_TP_##tp, line }

/* ------------------------------------------------------------- by port */

/* Every match counted, no work bound: the search as a plain function. */
static size_t
search_all(const registry_t *r, const char *text, uint8_t tp, size_t offset,
           const reg_entry_t **out, size_t max)
{
	search_query_t q = { .text = text, .transport = tp, .offset = offset,
	                     .count_max = SIZE_MAX, .work_max = SIZE_MAX };
	return registry_search(r, &q, out, max);
}

START_TEST(by_port_transport)
{
	const reg_entry_t *out[MAX_OUT];
	size_t n;

	n = registry_by_port(iana, 7, PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, I(TCP, 7), I(UDP, 8));
	n = registry_by_port(iana, 7, PORTQ_TP_UDP, out, MAX_OUT);
	ANSWER(out, n, I(UDP, 8));
	ck_assert_uint_eq(registry_by_port(iana, 7, PORTQ_TP_SCTP, out, MAX_OUT), 0);

	n = registry_by_port(iana, 9, PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, I(TCP, 10), I(SCTP, 11), I(DCCP, 12));
	ck_assert_uint_eq(registry_by_port(iana, 9, PORTQ_TP_UDP, out, MAX_OUT), 0);

	/* A row for all protocols answers whatever transport is asked. */
	for (uint8_t tp = PORTQ_TP_ANY; tp < PORTQ_TP_COUNT; tp++) {
		n = registry_by_port(iana, 4, tp, out, MAX_OUT);
		ANSWER(out, n, I(ANY, 6));
		n = registry_by_port(iana, 6, tp, out, MAX_OUT);    /* range end */
		ANSWER(out, n, I(ANY, 6));
	}

	/* Several names on one port, in file order. */
	n = registry_by_port(iana, 63, PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, I(TCP, 17), I(TCP, 19), I(UDP, 22), I(UDP, 24));
	ck_assert_str_eq(out[0]->name, "whoispp");
	ck_assert_str_eq(out[1]->name, "whois++");
	n = registry_by_port(iana, 63, PORTQ_TP_TCP, out, MAX_OUT);
	ANSWER(out, n, I(TCP, 17), I(TCP, 19));

	/* Inside and at both ends of a named range. */
	for (unsigned p = 6000; p <= 6063; p += 63) {
		n = registry_by_port(iana, (uint16_t)p, PORTQ_TP_ANY, out, MAX_OUT);
		ANSWER(out, n, I(TCP, 33), I(UDP, 34));
	}
	n = registry_by_port(iana, 6031, PORTQ_TP_UDP, out, MAX_OUT);
	ANSWER(out, n, I(UDP, 34));
	ck_assert_uint_eq(registry_by_port(iana, 5999, PORTQ_TP_ANY, out, MAX_OUT), 0);
	ck_assert_uint_eq(registry_by_port(iana, 6064, PORTQ_TP_ANY, out, MAX_OUT), 0);

	/* Unlisted ports, and the ends of the port space. */
	ck_assert_uint_eq(registry_by_port(iana, 25, PORTQ_TP_ANY, out, MAX_OUT), 0);
	ck_assert_uint_eq(registry_by_port(iana, 65535, PORTQ_TP_ANY, out, MAX_OUT), 0);
	n = registry_by_port(iana, 0, PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, I(TCP, 2), I(UDP, 3));
	n = registry_by_port(iana, 49151, PORTQ_TP_DCCP, out, MAX_OUT);
	ANSWER(out, n, I(ANY, 35));
}
END_TEST

START_TEST(by_port_max)
{
	/* The count is of all matches; only max are stored. */
	const reg_entry_t *out[4] = { NULL, NULL, NULL, NULL };
	ck_assert_uint_eq(registry_by_port(iana, 63, PORTQ_TP_ANY, out, 2), 4);
	ck_assert_uint_eq(out[0]->line, 17);
	ck_assert_uint_eq(out[1]->line, 19);
	ck_assert_ptr_null(out[2]);
	ck_assert_uint_eq(registry_by_port(iana, 63, PORTQ_TP_ANY, NULL, 0), 4);
	ck_assert_uint_eq(registry_by_port(iana, 63, PORTQ_TP_ANY, out, 4), 4);
	ck_assert_uint_eq(out[3]->line, 24);
}
END_TEST

START_TEST(by_port_every_entry)
{
	/* Every ported entry is found on each of its ports' first and last,
	 * and portless ones on none. */
	for (size_t i = 0; i < registry_count(layered); i++) {
		const reg_entry_t *e = registry_entry(layered, i), *out[MAX_OUT];
		if (!e->has_port)
			continue;
		uint16_t ends[2] = { e->port_lo, e->port_hi };
		for (int k = 0; k < 2; k++) {
			size_t n = registry_by_port(layered, ends[k], e->transport, out, MAX_OUT);
			int seen = 0;
			for (size_t j = 0; j < n && j < MAX_OUT; j++)
				seen |= out[j] == e;
			ck_assert_msg(seen, "%s line %u not found on port %u", e->source,
			              e->line, ends[k]);
		}
	}
	size_t total = 0;
	for (unsigned p = 0; p < REG_PORTS; p++)
		total += registry_by_port(iana, (uint16_t)p, PORTQ_TP_ANY, NULL, 0);
	/* Each ported row once per port it covers: computed off the fixture. */
	size_t want = 0;
	for (size_t i = 0; i < registry_count(iana); i++) {
		const reg_entry_t *e = registry_entry(iana, i);
		if (e->has_port)
			want += (size_t)e->port_hi - e->port_lo + 1;
	}
	ck_assert_uint_eq(total, want);
	/* 22 single ports, then 2-6, 10-12, 13-19, 21-24 and 6000-6063 twice. */
	ck_assert_uint_eq(want, 22 + 5 + 3 + 7 + 4 + 64 * 2);
}
END_TEST

/* ------------------------------------------------------------- by name */

START_TEST(by_name_case)
{
	const reg_entry_t *out[MAX_OUT];
	size_t n;

	n = registry_by_name(iana, "ECHO", PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, I(TCP, 7), I(UDP, 8));
	n = registry_by_name(iana, "Echo", PORTQ_TP_UDP, out, MAX_OUT);
	ANSWER(out, n, I(UDP, 8));
	n = registry_by_name(iana, "WHOIS++", PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, I(TCP, 19), I(UDP, 24));
	n = registry_by_name(iana, "whoisPP", PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, I(TCP, 17), I(UDP, 22));

	/* The same name on several ports, and with no port at all. */
	n = registry_by_name(iana, "msql", PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, I(TCP, 30), I(TCP, 32));
	ck_assert_uint_eq(out[0]->port_lo, 1112);
	ck_assert_uint_eq(out[1]->port_lo, 4333);
	n = registry_by_name(iana, "RDP", PORTQ_TP_SCTP, out, MAX_OUT);
	ANSWER(out, n, I(ANY, 36), I(ANY, 37));
	ck_assert_str_eq(out[0]->description, "Reliable Data Protocol");
	n = registry_by_name(iana, "adisk", PORTQ_TP_TCP, out, MAX_OUT);
	ANSWER(out, n, I(TCP, 39));
	ck_assert_uint_eq(registry_by_name(iana, "adisk", PORTQ_TP_UDP, out, MAX_OUT), 0);

	/* Not names: nameless rows, prefixes, descriptions. */
	ck_assert_uint_eq(registry_by_name(iana, "", PORTQ_TP_ANY, out, MAX_OUT), 0);
	ck_assert_uint_eq(registry_by_name(iana, "ech", PORTQ_TP_ANY, out, MAX_OUT), 0);
	ck_assert_uint_eq(registry_by_name(iana, "echoo", PORTQ_TP_ANY, out, MAX_OUT), 0);
	ck_assert_uint_eq(registry_by_name(iana, "Mini SQL", PORTQ_TP_ANY, out, MAX_OUT), 0);
	ck_assert_uint_eq(registry_by_name(iana, "Reserved", PORTQ_TP_ANY, out, MAX_OUT), 0);
}
END_TEST

START_TEST(by_name_aliases)
{
	const reg_entry_t *out[MAX_OUT];
	size_t n;

	n = registry_by_name(layered, "WWW", PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, S(TCP, 13));
	ck_assert_str_eq(out[0]->name, "http");
	n = registry_by_name(layered, "krb5", PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, S(TCP, 15), S(UDP, 16));
	n = registry_by_name(layered, "null", PORTQ_TP_UDP, out, MAX_OUT);
	ANSWER(out, n, S(UDP, 9));
	/* The alias was written "Prom-Exporter". */
	n = registry_by_name(layered, "prom-exporter", PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, L(TCP, 7), L(UDP, 7));
	/* A name that is also another entry's alias: both, local first. */
	n = registry_by_name(layered, "whois++", PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, L(ANY, 12), I(TCP, 19), I(UDP, 24));
	ck_assert_str_eq(out[0]->name, "whoisd");
}
END_TEST

/* Distinct folded names and aliases, counted the slow way. */
static size_t
count_names(const registry_t *r)
{
	const char **seen = malloc((registry_count(r) * (PORTQ_MAX_ALIASES + 1) + 1) *
	                           sizeof(*seen));
	size_t n = 0;
	ck_assert_ptr_nonnull(seen);
	for (size_t i = 0; i < registry_count(r); i++) {
		const reg_entry_t *e = registry_entry(r, i);
		for (int a = -1; a < (int)e->n_aliases; a++) {
			const char *s = a < 0 ? e->name : e->aliases[a];
			size_t k = 0;
			while (k < n && strcasecmp(seen[k], s) != 0)
				k++;
			if (s[0] != '\0' && k == n)
				seen[n++] = s;
		}
	}
	free(seen);
	return n;
}

START_TEST(name_count)
{
	/* tcpmux echo discard whoispp whois++ sua msql sieve x11 rdp adisk */
	ck_assert_uint_eq(registry_name_count(iana), 11);
	ck_assert_uint_eq(count_names(iana), 11);
	ck_assert_uint_eq(registry_name_count(layered), count_names(layered));

	/* Every name and alias finds its entry. */
	for (size_t i = 0; i < registry_count(layered); i++) {
		const reg_entry_t *e = registry_entry(layered, i), *out[MAX_OUT];
		for (int a = -1; a < (int)e->n_aliases; a++) {
			const char *s = a < 0 ? e->name : e->aliases[a];
			if (s[0] == '\0')
				continue;
			size_t n = registry_by_name(layered, s, e->transport, out, MAX_OUT);
			int seen = 0;
			for (size_t j = 0; j < n && j < MAX_OUT; j++)
				seen |= out[j] == e;
			ck_assert_msg(seen, "\"%s\" does not find line %u of %s", s, e->line,
			              e->source);
		}
	}
}
END_TEST

START_TEST(name_length_limit)
{
	/* A question's text holds PORTQ_TEXT_MAX bytes; a name that long is
	 * found, and a longer question finds nothing (and does not overflow). */
	char data[2 * PORTQ_TEXT_MAX + 64], name[PORTQ_TEXT_MAX + 2];
	memset(name, 'n', PORTQ_TEXT_MAX);
	name[PORTQ_TEXT_MAX] = '\0';
	snprintf(data, sizeof(data), "%s 5/tcp\n", name);
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	ck_assert_int_eq(reg_builder_load_mem(b, "m", data, strlen(data),
	                                      REG_FMT_SERVICES, &err), PORTQ_OK);
	registry_t *r = registry_build(b, 1);
	ck_assert_ptr_nonnull(r);
	const reg_entry_t *out[2];
	ck_assert_uint_eq(registry_by_name(r, name, PORTQ_TP_ANY, out, 2), 1);
	name[PORTQ_TEXT_MAX - 1] = '\0';
	ck_assert_uint_eq(registry_by_name(r, name, PORTQ_TP_ANY, out, 2), 0);
	name[PORTQ_TEXT_MAX - 1] = 'n';
	name[PORTQ_TEXT_MAX] = 'n';
	name[PORTQ_TEXT_MAX + 1] = '\0';
	ck_assert_uint_eq(registry_by_name(r, name, PORTQ_TP_ANY, out, 2), 0);
	ck_assert_uint_eq(search_all(r, name, PORTQ_TP_ANY, 0, out, 2), 0);
	name[PORTQ_TEXT_MAX] = '\0';
	ck_assert_uint_eq(search_all(r, name, PORTQ_TP_ANY, 0, out, 2), 1);
	registry_free(r);
}
END_TEST

/* ------------------------------------------------------------- answer order */

START_TEST(answer_order_by_origin)
{
	const reg_entry_t *out[MAX_OUT];
	size_t n;

	/* Local, then services, then IANA; file order within each. */
	n = registry_by_port(layered, 7, PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, L(TCP, 9), S(TCP, 6), S(UDP, 7), I(TCP, 7), I(UDP, 8));
	n = registry_by_port(layered, 7, PORTQ_TP_UDP, out, MAX_OUT);
	ANSWER(out, n, S(UDP, 7), I(UDP, 8));
	n = registry_by_port(layered, 63, PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, L(ANY, 12), I(TCP, 17), I(TCP, 19), I(UDP, 22), I(UDP, 24));
	n = registry_by_name(layered, "echo", PORTQ_TP_TCP, out, MAX_OUT);
	ANSWER(out, n, L(TCP, 9), S(TCP, 6), I(TCP, 7));
	n = registry_by_port(layered, 9, PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, S(TCP, 8), S(UDP, 9), I(TCP, 10), I(SCTP, 11), I(DCCP, 12));

	/* The order does not depend on the order the files were loaded in. */
	const char *rev[] = { LOCAL_SMALL, SERVICES_SMALL, CSV_SMALL };
	reg_error_t err;
	int rc;
	registry_t *r = load_files(rev, 3, &rc, &err);
	ck_assert_ptr_nonnull(r);
	n = registry_by_port(r, 7, PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, L(TCP, 9), S(TCP, 6), S(UDP, 7), I(TCP, 7), I(UDP, 8));
	n = registry_by_name(r, "whois++", PORTQ_TP_ANY, out, MAX_OUT);
	ANSWER(out, n, L(ANY, 12), I(TCP, 19), I(UDP, 24));
	registry_free(r);
}
END_TEST

START_TEST(layering_keeps_both)
{
	/* A local file over the CSV: nothing replaced, each entry knows its
	 * origin and its file. */
	const char *paths[] = { CSV_SMALL, LOCAL_SMALL };
	reg_error_t err;
	int rc;
	registry_t *r = load_files(paths, 2, &rc, &err);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(registry_count(r), registry_count(iana) + 7);
	ck_assert_uint_eq(registry_source_count(r), 2);
	ck_assert_int_eq(registry_source(r, 0)->format, REG_FMT_IANA_CSV);
	ck_assert_int_eq(registry_source(r, 1)->format, REG_FMT_LOCAL);

	const reg_entry_t *out[MAX_OUT];
	size_t n = registry_by_name(r, "echo", PORTQ_TP_TCP, out, MAX_OUT);
	ANSWER(out, n, L(TCP, 9), I(TCP, 7));
	ck_assert_str_eq(out[0]->source, LOCAL_SMALL);
	ck_assert_str_eq(out[0]->description, "Echo behind the proxy");
	ck_assert_uint_eq(out[0]->status, PORTQ_ST_LOCAL);
	ck_assert_str_eq(out[1]->source, CSV_SMALL);
	ck_assert_str_eq(out[1]->description, "Echo");
	ck_assert_uint_eq(out[1]->status, PORTQ_ST_ASSIGNED);

	size_t origins[4] = { 0, 0, 0, 0 };
	for (size_t i = 0; i < registry_count(r); i++) {
		const reg_entry_t *e = registry_entry(r, i);
		origins[e->origin]++;
		ck_assert_str_eq(e->source, e->origin == PORTQ_ORIGIN_LOCAL ?
		                 LOCAL_SMALL : CSV_SMALL);
	}
	ck_assert_uint_eq(origins[PORTQ_ORIGIN_IANA], registry_count(iana));
	ck_assert_uint_eq(origins[PORTQ_ORIGIN_LOCAL], 7);
	ck_assert_uint_eq(origins[PORTQ_ORIGIN_SERVICES], 0);

	/* The local assignment on port 30 splits IANA's free block 21-62. */
	portq_context_t c;
	registry_context(iana, 30, PORTQ_TP_ANY, &c);
	ck_assert_uint_eq(c.state, PORTQ_ST_UNLISTED);
	ck_assert_uint_eq(c.free_lo, 21);
	ck_assert_uint_eq(c.free_hi, 62);
	registry_context(r, 30, PORTQ_TP_ANY, &c);
	ck_assert_uint_eq(c.state, PORTQ_ST_LOCAL);
	ck_assert_uint_eq(c.cflags, PORTQ_CF_BELOW | PORTQ_CF_ABOVE);
	ck_assert_uint_eq(c.below, 9);
	ck_assert_uint_eq(c.above, 63);
	registry_context(r, 29, PORTQ_TP_ANY, &c);
	ck_assert_uint_eq(c.cflags, PORTQ_CF_FREE | PORTQ_CF_BELOW | PORTQ_CF_ABOVE);
	ck_assert_uint_eq(c.free_lo, 21);
	ck_assert_uint_eq(c.free_hi, 29);
	ck_assert_uint_eq(c.above, 30);
	registry_context(r, 31, PORTQ_TP_UDP, &c);
	ck_assert_uint_eq(c.free_lo, 31);
	ck_assert_uint_eq(c.free_hi, 62);
	ck_assert_uint_eq(c.below, 30);
	/* A local reservation is not free and not assigned. */
	registry_context(r, 7000, PORTQ_TP_TCP, &c);
	ck_assert_uint_eq(c.state, PORTQ_ST_RESERVED);
	ck_assert_uint_eq(c.cflags, PORTQ_CF_BELOW | PORTQ_CF_ABOVE);
	ck_assert_uint_eq(c.below, 6063);
	ck_assert_uint_eq(c.above, 8443);
	registry_context(r, 6999, PORTQ_TP_ANY, &c);
	ck_assert_uint_eq(c.free_lo, 6064);
	ck_assert_uint_eq(c.free_hi, 6999);
	/* The local echo on 7/tcp makes 7 "local" for tcp, assigned for udp. */
	registry_context(r, 7, PORTQ_TP_TCP, &c);
	ck_assert_uint_eq(c.state, PORTQ_ST_LOCAL);
	registry_context(r, 7, PORTQ_TP_UDP, &c);
	ck_assert_uint_eq(c.state, PORTQ_ST_ASSIGNED);
	registry_free(r);
}
END_TEST

/* ------------------------------------------------------------- context */

static void
assert_context(const registry_t *r, uint16_t port, uint8_t tp, uint8_t cls,
               uint8_t state, uint8_t cflags, uint16_t free_lo, uint16_t free_hi,
               uint16_t below, uint16_t above)
{
	portq_context_t c;
	memset(&c, 0xA5, sizeof(c));
	registry_context(r, port, tp, &c);
	ck_assert_msg(c.range_class == cls && c.state == state && c.cflags == cflags,
	              "port %u/%s: class %u state %s flags %#x", port,
	              portq_transport_name(tp), c.range_class,
	              portq_status_name(c.state), c.cflags);
	/* Fields whose flag is clear are zero, not left over. */
	ck_assert_uint_eq(c.free_lo, cflags & PORTQ_CF_FREE ? free_lo : 0);
	ck_assert_uint_eq(c.free_hi, cflags & PORTQ_CF_FREE ? free_hi : 0);
	ck_assert_uint_eq(c.below, cflags & PORTQ_CF_BELOW ? below : 0);
	ck_assert_uint_eq(c.above, cflags & PORTQ_CF_ABOVE ? above : 0);
}

#define SYS PORTQ_CLASS_SYSTEM
#define USR PORTQ_CLASS_USER
#define DYN PORTQ_CLASS_DYNAMIC
#define F   PORTQ_CF_FREE
#define B   PORTQ_CF_BELOW
#define A   PORTQ_CF_ABOVE

START_TEST(context_classes)
{
	/* The class edges, each port's state read off iana-small.csv. */
	assert_context(iana, 0, PORTQ_TP_ANY, SYS, PORTQ_ST_RESERVED, A, 0, 0, 0, 1);
	assert_context(iana, 1023, PORTQ_TP_ANY, SYS, PORTQ_ST_RESERVED, B | A, 0, 0, 63, 1112);
	assert_context(iana, 1024, PORTQ_TP_ANY, USR, PORTQ_ST_RESERVED, B | A, 0, 0, 63, 1112);
	assert_context(iana, 49151, PORTQ_TP_ANY, USR, PORTQ_ST_RESERVED, B, 0, 0, 6063, 0);
	assert_context(iana, 49152, PORTQ_TP_ANY, DYN, PORTQ_ST_UNLISTED, F | B,
	               49152, 65535, 6063, 0);
	assert_context(iana, 65535, PORTQ_TP_UDP, DYN, PORTQ_ST_UNLISTED, F | B,
	               49152, 65535, 6063, 0);
}
END_TEST

START_TEST(context_free_blocks)
{
	/* An unassigned range between assigned ports. */
	assert_context(iana, 4, PORTQ_TP_ANY, SYS, PORTQ_ST_UNASSIGNED, F | B | A, 2, 6, 1, 7);
	assert_context(iana, 2, PORTQ_TP_TCP, SYS, PORTQ_ST_UNASSIGNED, F | B | A, 2, 6, 1, 7);
	/* A one-port block. */
	assert_context(iana, 8, PORTQ_TP_ANY, SYS, PORTQ_ST_UNASSIGNED, F | B | A, 8, 8, 7, 9);
	/* For udp nothing is on 9, so the block runs on to the reserved 10. */
	assert_context(iana, 8, PORTQ_TP_UDP, SYS, PORTQ_ST_UNASSIGNED, F | B | A, 8, 9, 7, 63);
	assert_context(iana, 9, PORTQ_TP_UDP, SYS, PORTQ_ST_UNLISTED, F | B | A, 8, 9, 7, 63);
	/* Reserved 10-12 and de-registered 20 bound the block 13-19. */
	assert_context(iana, 15, PORTQ_TP_ANY, SYS, PORTQ_ST_UNASSIGNED, F | B | A, 13, 19, 9, 63);
	assert_context(iana, 12, PORTQ_TP_ANY, SYS, PORTQ_ST_RESERVED, B | A, 0, 0, 9, 63);
	assert_context(iana, 20, PORTQ_TP_TCP, SYS, PORTQ_ST_DEREGISTERED, B | A, 0, 0, 9, 63);
	/* Unassigned 21-24 and unlisted 25-62 are one free block. */
	assert_context(iana, 21, PORTQ_TP_ANY, SYS, PORTQ_ST_UNASSIGNED, F | B | A, 21, 62, 9, 63);
	assert_context(iana, 40, PORTQ_TP_ANY, SYS, PORTQ_ST_UNLISTED, F | B | A, 21, 62, 9, 63);
	/* sua is de-registered on 64/udp only: free for tcp up to 1022. */
	assert_context(iana, 64, PORTQ_TP_UDP, SYS, PORTQ_ST_DEREGISTERED, B | A, 0, 0, 63, 6000);
	assert_context(iana, 64, PORTQ_TP_TCP, SYS, PORTQ_ST_UNLISTED, F | B | A,
	               64, 1022, 63, 1112);
	assert_context(iana, 64, PORTQ_TP_ANY, SYS, PORTQ_ST_DEREGISTERED, B | A, 0, 0, 63, 1112);
	/* Nothing dccp below 9: the rows for tcp and udp do not count. */
	assert_context(iana, 0, PORTQ_TP_DCCP, SYS, PORTQ_ST_UNLISTED, F | A, 0, 8, 0, 9);
	assert_context(iana, 6000, PORTQ_TP_SCTP, USR, PORTQ_ST_UNLISTED, F | B,
	               1025, 49150, 9, 0);
	/* Inside and at the ends of an assigned range. */
	assert_context(iana, 6000, PORTQ_TP_ANY, USR, PORTQ_ST_ASSIGNED, B | A, 0, 0, 4333, 6001);
	assert_context(iana, 6030, PORTQ_TP_UDP, USR, PORTQ_ST_ASSIGNED, B | A, 0, 0, 6029, 6031);
	assert_context(iana, 6063, PORTQ_TP_ANY, USR, PORTQ_ST_ASSIGNED, B, 0, 0, 6062, 0);
	/* A transport past the enum reads as any. */
	assert_context(iana, 64, 200, SYS, PORTQ_ST_DEREGISTERED, B | A, 0, 0, 63, 1112);
}
END_TEST

#define IS_TAKEN_ST(st) ((st) == PORTQ_ST_ASSIGNED || (st) == PORTQ_ST_LOCAL)

/*
 * Every port and transport against a model built from the entries alone:
 * states by brute force, then free runs and neighbours in plain passes.
 */
static void
check_all_contexts(const registry_t *r)
{
	uint8_t *state = malloc(REG_PORTS);
	long *lo = malloc(REG_PORTS * sizeof(long)), *hi = malloc(REG_PORTS * sizeof(long));
	long *below = malloc(REG_PORTS * sizeof(long)), *above = malloc(REG_PORTS * sizeof(long));
	ck_assert(state && lo && hi && below && above);
	for (uint8_t tp = 0; tp < PORTQ_TP_COUNT; tp++) {
		memset(state, PORTQ_ST_UNLISTED, REG_PORTS);
		for (size_t i = 0; i < registry_count(r); i++) {
			const reg_entry_t *e = registry_entry(r, i);
			if (e->has_port && port_oracle_matches(tp, e->transport))
				port_oracle_claim(state, e->port_lo, e->port_hi, e->status);
		}
		/* Free runs: find each run's ends, then label its ports. */
		for (long p = 0; p < REG_PORTS;) {
			if (!port_oracle_free(state[p])) {
				lo[p] = hi[p] = -1;
				p++;
				continue;
			}
			long end = p;
			while (end + 1 < REG_PORTS && port_oracle_free(state[end + 1]))
				end++;
			for (long q = p; q <= end; q++) {
				lo[q] = p;
				hi[q] = end;
			}
			p = end + 1;
		}
		long last = -1;
		for (long p = 0; p < REG_PORTS; p++) {
			below[p] = last;
			if (IS_TAKEN_ST(state[p]))
				last = p;
		}
		last = -1;
		for (long p = REG_PORTS - 1; p >= 0; p--) {
			above[p] = last;
			if (IS_TAKEN_ST(state[p]))
				last = p;
		}

		for (unsigned p = 0; p < REG_PORTS; p++) {
			portq_context_t c;
			registry_context(r, (uint16_t)p, tp, &c);
			uint8_t flags = (lo[p] >= 0 ? F : 0) | (below[p] >= 0 ? B : 0) |
			                (above[p] >= 0 ? A : 0);
			ck_assert_msg(c.state == state[p] && c.cflags == flags &&
			              c.range_class == portq_port_class(p) &&
			              (lo[p] < 0 || (c.free_lo == lo[p] && c.free_hi == hi[p])) &&
			              (below[p] < 0 || c.below == below[p]) &&
			              (above[p] < 0 || c.above == above[p]),
			              "port %u/%s: got state %u flags %#x free %u-%u below %u "
			              "above %u; want %u %#x %ld-%ld %ld %ld", p,
			              portq_transport_name(tp), c.state, c.cflags, c.free_lo,
			              c.free_hi, c.below, c.above, state[p], flags, lo[p], hi[p],
			              below[p], above[p]);
		}
	}
	free(state);
	free(lo);
	free(hi);
	free(below);
	free(above);
}

START_TEST(context_every_port)
{
	check_all_contexts(iana);
	check_all_contexts(layered);
}
END_TEST

/* ------------------------------------------------------------- range */

/* Independent expectation for registry_range: filter, then order. */
static size_t
model_range(const registry_t *r, uint16_t lo, uint16_t hi, uint8_t tp,
            const reg_entry_t **out)
{
	size_t n = 0;
	/* Two passes: ranges reaching in from below (in answer order), then
	 * the rest by first port, then answer order. */
	for (int pass = 0; pass < 2; pass++) {
		unsigned last = pass == 0 ? lo : hi;
		for (unsigned p = lo; p <= last; p++) {
			const reg_entry_t *here[MAX_OUT];
			size_t k = registry_by_port(r, (uint16_t)p, tp, here, MAX_OUT);
			ck_assert_uint_le(k, MAX_OUT);
			for (size_t i = 0; i < k; i++)
				if (pass == 0 ? here[i]->port_lo < lo : here[i]->port_lo == p)
					out[n++] = here[i];
		}
	}
	return n;
}

/* Page through with size `page` and compare with the one-shot answer. */
static void
check_range(const registry_t *r, uint16_t lo, uint16_t hi, uint8_t tp, size_t want)
{
	const reg_entry_t *all[256], *model[256], *page[256];
	size_t n = registry_range(r, lo, hi, tp, 0, all, 256);
	ck_assert_uint_eq(n, want);
	ck_assert_uint_eq(model_range(r, lo, hi, tp, model), n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(all[i] == model[i], "range %u-%u: item %zu is line %u, want %u",
		              lo, hi, i, all[i]->line, model[i]->line);
	for (size_t size = 1; size <= n + 1; size++) {
		size_t got = 0;
		for (size_t off = 0; off < n; off += size) {
			memset(page, 0, sizeof(page));
			ck_assert_uint_eq(registry_range(r, lo, hi, tp, off, page, size), n);
			size_t k = n - off < size ? n - off : size;
			for (size_t i = 0; i < k; i++)
				ck_assert_ptr_eq(page[i], all[got + i]);
			ck_assert_ptr_null(page[k]);           /* nothing past the page */
			got += k;
		}
		ck_assert_uint_eq(got, n);
	}
	/* Past the end: the total, nothing stored. */
	page[0] = NULL;
	ck_assert_uint_eq(registry_range(r, lo, hi, tp, n, page, 4), n);
	ck_assert_ptr_null(page[0]);
}

START_TEST(range_paging)
{
	const reg_entry_t *out[MAX_OUT];

	/* 2-6 reaches into [5, 63] from below and comes first. */
	size_t n = registry_range(iana, 5, 63, PORTQ_TP_ANY, 0, out, MAX_OUT);
	ANSWER(out, n, I(ANY, 6), I(TCP, 7), I(UDP, 8), I(ANY, 9), I(TCP, 10), I(SCTP, 11),
	       I(DCCP, 12), I(ANY, 13), I(ANY, 14), I(ANY, 15), I(ANY, 16), I(TCP, 17),
	       I(TCP, 19), I(UDP, 22), I(UDP, 24));
	n = registry_range(iana, 6010, 6020, PORTQ_TP_UDP, 0, out, MAX_OUT);
	ANSWER(out, n, I(UDP, 34));
	/* A range that ends below lo is not in it. */
	n = registry_range(iana, 7, 7, PORTQ_TP_ANY, 0, out, MAX_OUT);
	ANSWER(out, n, I(TCP, 7), I(UDP, 8));
	n = registry_range(layered, 7, 7, PORTQ_TP_ANY, 0, out, MAX_OUT);
	ANSWER(out, n, L(TCP, 9), S(TCP, 6), S(UDP, 7), I(TCP, 7), I(UDP, 8));

	check_range(iana, 5, 63, PORTQ_TP_ANY, 15);
	check_range(iana, 5, 63, PORTQ_TP_UDP, 9);
	check_range(iana, 0, 65535, PORTQ_TP_ANY, 28);   /* every ported row */
	check_range(iana, 3, 10, PORTQ_TP_DCCP, 4);
	check_range(iana, 6063, 65535, PORTQ_TP_ANY, 3);
	check_range(iana, 65535, 65535, PORTQ_TP_ANY, 0);
	check_range(iana, 25, 62, PORTQ_TP_ANY, 0);
	check_range(layered, 0, 65535, PORTQ_TP_ANY, 28 + 15 + 7);
	check_range(layered, 9105, 9200, PORTQ_TP_TCP, 1);
	check_range(layered, 1, 100, PORTQ_TP_TCP, 21);
	ck_assert_uint_eq(registry_range(iana, 10, 9, PORTQ_TP_ANY, 0, out, MAX_OUT), 0);
}
END_TEST

/* ------------------------------------------------------------- search */

START_TEST(search_text)
{
	const reg_entry_t *out[MAX_OUT];
	size_t n;

	/* Names, case-insensitively. */
	n = search_all(iana, "ECHO", PORTQ_TP_ANY, 0, out, MAX_OUT);
	ANSWER(out, n, I(TCP, 7), I(UDP, 8));
	n = search_all(iana, "whois", PORTQ_TP_UDP, 0, out, MAX_OUT);
	ANSWER(out, n, I(UDP, 22), I(UDP, 24));
	/* Descriptions, including their second line. */
	n = search_all(iana, "well-formed SERVICE", PORTQ_TP_ANY, 0, out, MAX_OUT);
	ANSWER(out, n, I(TCP, 17), I(UDP, 22));
	n = search_all(iana, "reserved", PORTQ_TP_ANY, 0, out, MAX_OUT);
	ANSWER(out, n, I(TCP, 2), I(UDP, 3), I(ANY, 13), I(ANY, 28), I(ANY, 29), I(ANY, 35));
	/* Portless rows come after the ported ones. */
	n = search_all(iana, "protocol", PORTQ_TP_ANY, 0, out, MAX_OUT);
	ANSWER(out, n, I(TCP, 31), I(ANY, 36), I(ANY, 37));
	/* Aliases. */
	n = search_all(layered, "KRB", PORTQ_TP_ANY, 0, out, MAX_OUT);
	ANSWER(out, n, S(TCP, 15), S(UDP, 16));
	n = search_all(layered, "node-exp", PORTQ_TP_UDP, 0, out, MAX_OUT);
	ANSWER(out, n, L(UDP, 7));
	/* Not searched: notes, references, contacts. */
	ck_assert_uint_eq(search_all(iana, "historic", PORTQ_TP_ANY, 0, out, MAX_OUT), 0);
	ck_assert_uint_eq(search_all(iana, "RFC862", PORTQ_TP_ANY, 0, out, MAX_OUT), 0);
	ck_assert_uint_eq(search_all(iana, "Postel", PORTQ_TP_ANY, 0, out, MAX_OUT), 0);
	/* Everything matches the empty text. */
	ck_assert_uint_eq(search_all(iana, "", PORTQ_TP_ANY, 0, NULL, 0),
	                  registry_count(iana));
}
END_TEST

START_TEST(search_within_one_field)
{
	const reg_entry_t *out[MAX_OUT];

	/* A line break inside a description is part of it... */
	size_t n = search_all(iana, "whois++\niana", PORTQ_TP_TCP, 0, out, MAX_OUT);
	ANSWER(out, n, I(TCP, 17));
	/* ...but a match may not run from one field into the next. */
	ck_assert_uint_eq(search_all(iana, "tcpmux\ntcp", PORTQ_TP_ANY, 0, out, MAX_OUT), 0);
	ck_assert_uint_eq(search_all(iana, "whoispp\nwhois", PORTQ_TP_ANY, 0, out,
	                                  MAX_OUT), 0);
	ck_assert_uint_eq(search_all(layered, "www\nwww", PORTQ_TP_ANY, 0, out,
	                                  MAX_OUT), 0);
	ck_assert_uint_eq(search_all(layered, "http\n", PORTQ_TP_ANY, 0, out,
	                                  MAX_OUT), 0);
}
END_TEST

START_TEST(search_paging)
{
	const reg_entry_t *all[256], *page[8];
	size_t n = search_all(layered, "", PORTQ_TP_ANY, 0, all, 256);
	ck_assert_uint_eq(n, registry_count(layered));
	/* Registry order, which is the stable order of every scan. */
	for (size_t i = 0; i < n; i++)
		ck_assert_ptr_eq(all[i], registry_entry(layered, i));
	for (size_t size = 1; size <= 8; size++) {
		size_t got = 0;
		for (size_t off = 0; off < n + size; off += size) {
			memset(page, 0, sizeof(page));
			ck_assert_uint_eq(search_all(layered, "", PORTQ_TP_ANY, off, page,
			                                  size), n);
			for (size_t i = 0; i < size && off + i < n; i++, got++)
				ck_assert_ptr_eq(page[i], all[off + i]);
			if (off >= n)
				ck_assert_ptr_null(page[0]);
		}
		ck_assert_uint_eq(got, n);
	}

	/* The tcp pages of "E": whatever tcp can use with an "e" in its
	 * name, aliases or description, in registry order. */
	const reg_entry_t *want[256];
	size_t n_want = 0;
	for (size_t i = 0; i < n; i++) {
		const reg_entry_t *e = all[i];
		if (e->transport != PORTQ_TP_ANY && e->transport != PORTQ_TP_TCP)
			continue;
		int has = strcasestr(e->name, "e") || strcasestr(e->description, "e");
		for (unsigned a = 0; a < e->n_aliases; a++)
			has |= strcasestr(e->aliases[a], "e") != NULL;
		if (has)
			want[n_want++] = e;
	}
	ck_assert_uint_gt(n_want, 8);
	ck_assert_uint_lt(n_want, n);
	ck_assert_uint_eq(search_all(layered, "E", PORTQ_TP_TCP, 0, NULL, 0), n_want);
	size_t got = 0;
	for (size_t off = 0; off < n_want; off += 3) {
		memset(page, 0, sizeof(page));
		ck_assert_uint_eq(search_all(layered, "E", PORTQ_TP_TCP, off, page, 3),
		                  n_want);
		for (size_t i = 0; i < 3 && off + i < n_want; i++, got++)
			ck_assert_ptr_eq(page[i], want[off + i]);
	}
	ck_assert_uint_eq(got, n_want);
}
END_TEST

START_TEST(empty_registry)
{
	/* A registry of a file with no rows still answers every query. */
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	ck_assert_int_eq(reg_builder_load_mem(b, "empty", "# none\n", 7, REG_FMT_SERVICES,
	                                      &err), PORTQ_OK);
	registry_t *r = registry_build(b, 9);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(registry_count(r), 0);
	ck_assert_uint_eq(registry_name_count(r), 0);
	ck_assert_uint_eq(registry_serial(r), 9);
	ck_assert_str_eq(registry_date(r), "");
	ck_assert_ptr_null(registry_entry(r, 0));
	const reg_entry_t *out[2];
	ck_assert_uint_eq(registry_by_port(r, 80, PORTQ_TP_ANY, out, 2), 0);
	ck_assert_uint_eq(registry_by_name(r, "http", PORTQ_TP_ANY, out, 2), 0);
	ck_assert_uint_eq(registry_range(r, 0, 65535, PORTQ_TP_ANY, 0, out, 2), 0);
	ck_assert_uint_eq(search_all(r, "", PORTQ_TP_ANY, 0, out, 2), 0);
	assert_context(r, 80, PORTQ_TP_TCP, SYS, PORTQ_ST_UNLISTED, F, 0, 65535, 0, 0);
	registry_free(r);

	/* And a builder that loaded nothing at all. */
	r = registry_build(reg_builder_new(), 1);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(registry_source_count(r), 0);
	assert_context(r, 65535, PORTQ_TP_ANY, DYN, PORTQ_ST_UNLISTED, F, 0, 65535, 0, 0);
	registry_free(r);
}
END_TEST

/* A borrowed wire string against an entry's C string. */
static int
wire_str_is(portq_str_t s, const char *want)
{
	return s.len == strlen(want) && (s.len == 0 || memcmp(s.ptr, want, s.len) == 0);
}

START_TEST(wire_form)
{
	/* Each entry's precomputed encoding decodes back to the entry. */
	for (size_t i = 0; i < registry_count(layered); i++) {
		const reg_entry_t *e = registry_entry(layered, i);
		wire_t w = wire_reader(e->wire, e->wire_len);
		portq_record_t rec;
		ck_assert_int_eq(portq_record_read(&w, &rec), PORTQ_OK);
		ck_assert_uint_eq(wire_left(&w), 0);
		ck_assert_uint_eq(rec.status, e->status);
		ck_assert_uint_eq(rec.transport, e->transport);
		ck_assert_uint_eq(rec.origin, e->origin);
		ck_assert_uint_eq(rec.rflags, e->has_port ? PORTQ_RF_HAS_PORT : 0);
		ck_assert_uint_eq(rec.port_lo, e->has_port ? e->port_lo : 0);
		ck_assert_uint_eq(rec.port_hi, e->has_port ? e->port_hi : 0);
		ck_assert(wire_str_is(rec.name, e->name));
		ck_assert(wire_str_is(rec.description, e->description));
		ck_assert(wire_str_is(rec.assignee, e->assignee));
		ck_assert(wire_str_is(rec.contact, e->contact));
		ck_assert(wire_str_is(rec.registered, e->registered));
		ck_assert(wire_str_is(rec.modified, e->modified));
		ck_assert(wire_str_is(rec.reference, e->reference));
		ck_assert(wire_str_is(rec.notes, e->notes));
		ck_assert(wire_str_is(rec.service_code, e->service_code));
		ck_assert(wire_str_is(rec.unauthorized, e->unauthorized));
		ck_assert_uint_eq(rec.n_aliases, e->n_aliases);
		for (unsigned a = 0; a < e->n_aliases; a++)
			ck_assert(wire_str_is(rec.aliases[a], e->aliases[a]));
	}
}
END_TEST

static Suite *
registry_suite(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("by_port");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, by_port_transport);
	tcase_add_test(tc, by_port_max);
	tcase_add_test(tc, by_port_every_entry);
	suite_add_tcase(s, tc);

	tc = tcase_create("by_name");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, by_name_case);
	tcase_add_test(tc, by_name_aliases);
	tcase_add_test(tc, name_count);
	tcase_add_test(tc, name_length_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("order");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, answer_order_by_origin);
	tcase_add_test(tc, layering_keeps_both);
	suite_add_tcase(s, tc);

	tc = tcase_create("context");
	tcase_add_checked_fixture(tc, setup, teardown);
	/* Every port of every transport: allow for valgrind and sanitizers. */
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, context_classes);
	tcase_add_test(tc, context_free_blocks);
	tcase_add_test(tc, context_every_port);
	suite_add_tcase(s, tc);

	tc = tcase_create("scan");
	tcase_add_checked_fixture(tc, setup, teardown);
	/* Pages of every size over the whole port space, likewise. */
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, range_paging);
	tcase_add_test(tc, search_text);
	tcase_add_test(tc, search_within_one_field);
	tcase_add_test(tc, search_paging);
	suite_add_tcase(s, tc);

	tc = tcase_create("misc");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, empty_registry);
	tcase_add_test(tc, wire_form);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = registry_suite };
