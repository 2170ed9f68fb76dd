/*
 * test_loaders.c -- the registry file parsers (srv/load_*.c) on the
 * fixtures in tests/fixtures/: what each good file yields, format
 * detection, and the exact "path:line: reason" of every malformed file.
 *
 * Expected counts and texts are read off the fixtures themselves;
 * tests/fixtures/README.md says what each fixture holds and on which line.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "error.h"
#include "format.h"
#include "msg.h"
#include "reg_testutil.h"
#include "registry.h"
#include "utf8.h"

#define WHOISPP_DESC \
	"whois++\nIANA assigned this well-formed service name as a " \
	"replacement for \"whois++\"."
#define WHOIS_NOTES \
	"This entry is an alias to \"whoispp\".\nThis entry is now historic, " \
	"not usable for use with many\ncommon service discovery mechanisms."

/* Load from memory into a fresh builder; the registry, or NULL. */
static registry_t *
load_mem(const char *name, const char *data, size_t len, reg_format_t f,
         int *rc, reg_error_t *err)
{
	reg_builder_t *b = reg_builder_new();
	ck_assert_ptr_nonnull(b);
	*rc = reg_builder_load_mem(b, name, data, len, f, err);
	if (*rc != PORTQ_OK) {
		reg_builder_free(b);
		return NULL;
	}
	registry_t *r = registry_build(b, 7);
	ck_assert_ptr_nonnull(r);
	return r;
}

static registry_t *
load_str_ok(const char *data, reg_format_t f)
{
	reg_error_t err;
	int rc;
	registry_t *r = load_mem("mem", data, strlen(data), f, &rc, &err);
	ck_assert_msg(r != NULL, "rc %d: %s", rc, err.text);
	ck_assert_str_eq(err.text, "");
	return r;
}

/* The load must fail with rc and exactly "mem:line: ..." holding reason. */
static void
load_str_fails(const char *data, size_t len, reg_format_t f, int want_rc,
               unsigned line, const char *reason)
{
	reg_error_t err;
	int rc;
	char prefix[64];
	ck_assert_ptr_null(load_mem("mem", data, len, f, &rc, &err));
	ck_assert_int_eq(rc, want_rc);
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "mem:%u: ", line);
	else
		snprintf(prefix, sizeof(prefix), "mem: ");
	ck_assert_msg(strncmp(err.text, prefix, strlen(prefix)) == 0,
	              "\"%s\" does not start with \"%s\"", err.text, prefix);
	ck_assert_msg(strstr(err.text, reason) != NULL,
	              "\"%s\" does not say \"%s\"", err.text, reason);
}

static void
assert_source(const reg_source_t *s, const char *path, reg_format_t f,
              uint32_t rows)
{
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s->path, path);
	ck_assert_int_eq(s->format, f);
	ck_assert_uint_eq(s->rows, rows);
	/* Each breakdown must account for every row. */
	uint32_t st = 0, tp = 0;
	for (int i = 0; i <= PORTQ_ST_LOCAL; i++)
		st += s->by_status[i];
	for (int i = 0; i < PORTQ_TP_COUNT; i++)
		tp += s->by_transport[i];
	ck_assert_uint_eq(st, rows);
	ck_assert_uint_eq(tp, rows);
	ck_assert_uint_eq(s->ranges + s->singles + s->portless, rows);
}

/* ------------------------------------------------------------- IANA CSV */

/* The line each row of iana-small.csv starts on, in file order. */
static const uint32_t csv_small_lines[] = {
	2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19, 22, 24,
	27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 39
};
/* The same records in iana-small.xml: the line of each <record>. */
static const uint32_t xml_small_lines[] = {
	12, 18, 24, 31, 38, 42, 50, 58, 62, 70, 78, 87, 91, 95, 100, 104, 112,
	122, 130, 140, 147, 152, 157, 164, 175, 183, 191, 199, 204, 209, 216
};
#define SMALL_ROWS (sizeof(csv_small_lines) / sizeof(csv_small_lines[0]))

/* Counts shared by iana-small.csv and iana-small.xml (same records). */
static void
assert_small_counts(const reg_source_t *s)
{
	ck_assert_uint_eq(s->by_status[PORTQ_ST_UNLISTED], 0);
	ck_assert_uint_eq(s->by_status[PORTQ_ST_ASSIGNED], 19);
	ck_assert_uint_eq(s->by_status[PORTQ_ST_RESERVED], 6);
	ck_assert_uint_eq(s->by_status[PORTQ_ST_UNASSIGNED], 4);
	ck_assert_uint_eq(s->by_status[PORTQ_ST_DEREGISTERED], 2);
	ck_assert_uint_eq(s->by_status[PORTQ_ST_LOCAL], 0);
	ck_assert_uint_eq(s->by_transport[PORTQ_TP_ANY], 11);
	ck_assert_uint_eq(s->by_transport[PORTQ_TP_TCP], 11);
	ck_assert_uint_eq(s->by_transport[PORTQ_TP_UDP], 7);
	ck_assert_uint_eq(s->by_transport[PORTQ_TP_SCTP], 1);
	ck_assert_uint_eq(s->by_transport[PORTQ_TP_DCCP], 1);
	ck_assert_uint_eq(s->ranges, 6);
	ck_assert_uint_eq(s->singles, 22);
	ck_assert_uint_eq(s->portless, 3);
	ck_assert_uint_eq(s->nameless, 11);
	ck_assert_uint_eq(s->skipped, 0);
}

START_TEST(csv_counts)
{
	registry_t *r = load_ok(CSV_SMALL);

	ck_assert_uint_eq(registry_source_count(r), 1);
	const reg_source_t *s = registry_source(r, 0);
	assert_source(s, CSV_SMALL, REG_FMT_IANA_CSV, SMALL_ROWS);
	assert_small_counts(s);
	/* The newest date is sieve's modification date on line 31. */
	ck_assert_str_eq(s->date, "2025-07-14");
	ck_assert_str_eq(registry_date(r), "2025-07-14");
	ck_assert_uint_eq(registry_count(r), SMALL_ROWS);
	ck_assert_uint_eq(registry_serial(r), 1);
	ck_assert_ptr_null(registry_source(r, 1));
	ck_assert_ptr_null(registry_entry(r, SMALL_ROWS));
	registry_free(r);
}
END_TEST

START_TEST(csv_lines_and_origin)
{
	registry_t *r = load_ok(CSV_SMALL);

	/* The file is in port order with the portless rows last, so the
	 * registry's order is the file's: every row starts where we say. */
	for (size_t i = 0; i < SMALL_ROWS; i++) {
		const reg_entry_t *e = registry_entry(r, i);
		ck_assert_msg(e->line == csv_small_lines[i], "entry %zu (%s) line %u, want %u",
		              i, e->name, e->line, csv_small_lines[i]);
		ck_assert_uint_eq(e->origin, PORTQ_ORIGIN_IANA);
		ck_assert_str_eq(e->source, CSV_SMALL);
		ck_assert_ptr_nonnull(e->wire);
		ck_assert_uint_ge(e->wire_len, PORTQ_RECORD_MIN);
	}
	registry_free(r);
}
END_TEST

START_TEST(csv_multiline_fields)
{
	registry_t *r = load_ok(CSV_SMALL);

	/* Lines 17-18 end in CRLF, 22-23 in LF: the same text either way,
	 * with the doubled quotes undone. */
	const reg_entry_t *e = find_one(r, "whoispp", 63, PORTQ_TP_TCP, PORTQ_ORIGIN_IANA);
	ck_assert_str_eq(e->description, WHOISPP_DESC);
	ck_assert_str_eq(e->assignee, "[Rickard_Schoultz]");
	ck_assert_str_eq(e->contact, "[Rickard_Schoultz]");
	ck_assert_str_eq(e->notes, "");
	ck_assert_uint_eq(e->status, PORTQ_ST_ASSIGNED);
	e = find_one(r, "whoispp", 63, PORTQ_TP_UDP, PORTQ_ORIGIN_IANA);
	ck_assert_str_eq(e->description, WHOISPP_DESC);

	e = find_one(r, "whois++", 63, PORTQ_TP_TCP, PORTQ_ORIGIN_IANA);
	ck_assert_str_eq(e->description, "whois++");
	ck_assert_str_eq(e->notes, WHOIS_NOTES);
	ck_assert_uint_eq(e->line, 19);
	e = find_one(r, "whois++", 63, PORTQ_TP_UDP, PORTQ_ORIGIN_IANA);
	ck_assert_str_eq(e->notes, WHOIS_NOTES);
	ck_assert_uint_eq(e->line, 24);

	/* A quoted comma stays in its field. */
	e = find_one(r, "adisk", -1, PORTQ_TP_TCP, PORTQ_ORIGIN_IANA);
	ck_assert_str_eq(e->notes, "Defined TXT keys: sys=waMa=<MAC address>,adVF=<flags>");
	registry_free(r);
}
END_TEST

START_TEST(csv_every_column)
{
	registry_t *r = load_ok(CSV_SMALL);

	const reg_entry_t *e = find_one(r, "discard", 9, PORTQ_TP_DCCP, PORTQ_ORIGIN_IANA);
	ck_assert_str_eq(e->description, "Discard");
	ck_assert_str_eq(e->assignee, "[Eddie_Kohler]");
	ck_assert_str_eq(e->contact, "[Eddie_Kohler]");
	ck_assert_str_eq(e->reference, "[RFC4340]");
	ck_assert_str_eq(e->service_code, "1145656131");
	ck_assert_str_eq(e->registered, "");
	ck_assert_str_eq(e->modified, "");

	e = find_one(r, "sieve", 4190, PORTQ_TP_TCP, PORTQ_ORIGIN_IANA);
	ck_assert_str_eq(e->assignee, "[IESG]");
	ck_assert_str_eq(e->contact, "[IETF_Chair]");
	ck_assert_str_eq(e->registered, "2009-03-03");
	ck_assert_str_eq(e->modified, "2025-07-14");
	ck_assert_str_eq(e->reference, "[RFC5804]");

	e = find_one(r, "msql", 4333, PORTQ_TP_TCP, PORTQ_ORIGIN_IANA);
	ck_assert_str_eq(e->unauthorized, "Unauthorized use by a game server");
	ck_assert_str_eq(e->notes, "");
	ck_assert_uint_eq(e->n_aliases, 0);
	ck_assert_ptr_null(e->aliases);
	registry_free(r);
}
END_TEST

START_TEST(csv_ports_and_status)
{
	registry_t *r = load_ok(CSV_SMALL);

	/* A nameless range for every protocol. */
	const reg_entry_t *e = find_one(r, "", 2, PORTQ_TP_ANY, PORTQ_ORIGIN_IANA);
	ck_assert_uint_eq(e->has_port, 1);
	ck_assert_uint_eq(e->port_lo, 2);
	ck_assert_uint_eq(e->port_hi, 6);
	ck_assert_uint_eq(e->status, PORTQ_ST_UNASSIGNED);
	e = find_one(r, "", 10, PORTQ_TP_ANY, PORTQ_ORIGIN_IANA);
	ck_assert_uint_eq(e->port_hi, 12);
	ck_assert_uint_eq(e->status, PORTQ_ST_RESERVED);
	e = find_one(r, "", 0, PORTQ_TP_TCP, PORTQ_ORIGIN_IANA);
	ck_assert_uint_eq(e->status, PORTQ_ST_RESERVED);
	ck_assert_uint_eq(e->port_hi, 0);

	/* De-registered, nameless (line 15) and named in another case (27). */
	e = find_one(r, "", 20, PORTQ_TP_ANY, PORTQ_ORIGIN_IANA);
	ck_assert_uint_eq(e->status, PORTQ_ST_DEREGISTERED);
	ck_assert_str_eq(e->notes, "Use of 20 is not recommended, use 21 instead");
	e = find_one(r, "sua", 64, PORTQ_TP_UDP, PORTQ_ORIGIN_IANA);
	ck_assert_uint_eq(e->status, PORTQ_ST_DEREGISTERED);
	ck_assert_str_eq(e->description, "De-Registered");

	/* A named range, and the same name on several ports. */
	e = find_one(r, "x11", 6000, PORTQ_TP_UDP, PORTQ_ORIGIN_IANA);
	ck_assert_uint_eq(e->port_hi, 6063);
	find_one(r, "msql", 1112, PORTQ_TP_TCP, PORTQ_ORIGIN_IANA);
	find_one(r, "msql", 4333, PORTQ_TP_TCP, PORTQ_ORIGIN_IANA);

	/* Name-only rows: no port, with and without a protocol. */
	e = find_one(r, "adisk", -1, PORTQ_TP_TCP, PORTQ_ORIGIN_IANA);
	ck_assert_uint_eq(e->has_port, 0);
	ck_assert_uint_eq(e->status, PORTQ_ST_ASSIGNED);
	size_t rdp = 0;
	for (size_t i = 0; i < registry_count(r); i++) {
		e = registry_entry(r, i);
		if (strcmp(e->name, "rdp") != 0)
			continue;
		ck_assert_uint_eq(e->has_port, 0);
		ck_assert_uint_eq(e->transport, PORTQ_TP_ANY);
		rdp++;
	}
	ck_assert_uint_eq(rdp, 2);
	registry_free(r);
}
END_TEST

START_TEST(csv_bom_and_column_order)
{
	/* A byte-order mark is not part of the first column's name. */
	registry_t *r = load_str_ok("\xEF\xBB\xBFService Name,Port Number,"
	                            "Transport Protocol,Description\r\nfoo,1,tcp,Foo\r\n",
	                            REG_FMT_AUTO);
	ck_assert_int_eq(registry_source(r, 0)->format, REG_FMT_IANA_CSV);
	ck_assert_uint_eq(registry_count(r), 1);
	ck_assert_str_eq(registry_entry(r, 0)->name, "foo");
	ck_assert_str_eq(registry_entry(r, 0)->description, "Foo");
	registry_free(r);

	/* Columns are found by name: reordered, with one portq does not know,
	 * and without the optional ones. */
	r = load_str_ok("Port Number,Description,Extra,Transport Protocol,Service Name\n"
	                "5,Five,ignored,UDP,five\n", REG_FMT_IANA_CSV);
	const reg_entry_t *e = registry_entry(r, 0);
	ck_assert_uint_eq(registry_count(r), 1);
	ck_assert_str_eq(e->name, "five");
	ck_assert_str_eq(e->description, "Five");
	ck_assert_uint_eq(e->transport, PORTQ_TP_UDP);
	ck_assert_uint_eq(e->port_lo, 5);
	ck_assert_str_eq(e->assignee, "");
	registry_free(r);
}
END_TEST

START_TEST(csv_last_row_and_blanks)
{
	/* No newline after the last row, quoted or not; blank rows between. */
	registry_t *r = load_str_ok("Service Name,Port Number,Transport Protocol,Description\n"
	                            "\n"
	                            " echo , 7 , tcp , Echo \n"
	                            "\r\n"
	                            "finger,79,tcp,Finger", REG_FMT_AUTO);
	ck_assert_uint_eq(registry_count(r), 2);
	const reg_entry_t *e = registry_entry(r, 0);
	ck_assert_str_eq(e->name, "echo");         /* fields are trimmed */
	ck_assert_str_eq(e->description, "Echo");
	ck_assert_uint_eq(e->port_lo, 7);
	ck_assert_uint_eq(e->line, 3);
	e = registry_entry(r, 1);
	ck_assert_str_eq(e->description, "Finger");
	ck_assert_uint_eq(e->line, 5);
	registry_free(r);

	r = load_str_ok("Service Name,Port Number,Transport Protocol,Description\n"
	                "finger,79,tcp,\"Finger, \"\"quoted\"\"\"", REG_FMT_AUTO);
	ck_assert_uint_eq(registry_count(r), 1);
	ck_assert_str_eq(registry_entry(r, 0)->description, "Finger, \"quoted\"");
	registry_free(r);

	/* A header and nothing else is a valid, empty registry. */
	r = load_str_ok("Service Name,Port Number,Transport Protocol,Description\n",
	                REG_FMT_AUTO);
	ck_assert_uint_eq(registry_count(r), 0);
	registry_free(r);
}
END_TEST

/* A literal with a NUL inside it, and its full length. */
#define STR_LEN(lit) (lit), sizeof(lit) - 1

#define HDR4 "Service Name,Port Number,Transport Protocol,Description\n"

START_TEST(csv_port_edges)
{
	registry_t *r = load_str_ok(HDR4 ",0,,Zero\n,65535,,Last\n,1-65535,,All\n"
	                            ",5-5,,One\n,007,,Seven\n", REG_FMT_AUTO);
	const reg_source_t *s = registry_source(r, 0);
	ck_assert_uint_eq(s->rows, 5);
	ck_assert_uint_eq(s->ranges, 1);         /* 5-5 is a single port */
	ck_assert_uint_eq(s->singles, 4);
	const reg_entry_t *e = find_one(r, "", 65535, PORTQ_TP_ANY, PORTQ_ORIGIN_IANA);
	ck_assert_uint_eq(e->port_hi, 65535);
	e = find_one(r, "", 1, PORTQ_TP_ANY, PORTQ_ORIGIN_IANA);
	ck_assert_uint_eq(e->port_hi, 65535);
	e = find_one(r, "", 7, PORTQ_TP_ANY, PORTQ_ORIGIN_IANA);
	ck_assert_str_eq(e->description, "Seven");
	registry_free(r);

	static const char *const bad[] = {
		"65536", "-5", "5-", "1-2-3", "6-5", "000007", "7a", "0x10", "1 2",
		"99999-100000",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char data[256], reason[64];
		snprintf(data, sizeof(data), HDR4 "echo,7,tcp,Echo\nx,%s,tcp,X\n", bad[i]);
		snprintf(reason, sizeof(reason), "bad port number \"%s\"", bad[i]);
		load_str_fails(data, strlen(data), REG_FMT_AUTO, PORTQ_EPARSE, 3, reason);
	}
}
END_TEST

START_TEST(csv_status_rules)
{
	registry_t *r = load_str_ok(HDR4
		",15,tcp,Unassigned [was netstat]\n"
		",24,tcp,any private mail system\n"
		",585,,De-registered\n"
		"sua,14001,udp,De-Registered\n"
		"echo,7,TCP,Echo\n", REG_FMT_AUTO);
	ck_assert_uint_eq(find_one(r, "", 15, PORTQ_TP_TCP, PORTQ_ORIGIN_IANA)->status,
	                  PORTQ_ST_UNASSIGNED);
	/* Nameless, neither unassigned nor de-registered: held back. */
	ck_assert_uint_eq(find_one(r, "", 24, PORTQ_TP_TCP, PORTQ_ORIGIN_IANA)->status,
	                  PORTQ_ST_RESERVED);
	ck_assert_uint_eq(find_one(r, "", 585, PORTQ_TP_ANY, PORTQ_ORIGIN_IANA)->status,
	                  PORTQ_ST_DEREGISTERED);
	ck_assert_uint_eq(find_one(r, "sua", 14001, PORTQ_TP_UDP, PORTQ_ORIGIN_IANA)->status,
	                  PORTQ_ST_DEREGISTERED);
	/* Protocol names are case-insensitive. */
	ck_assert_uint_eq(find_one(r, "echo", 7, PORTQ_TP_TCP, PORTQ_ORIGIN_IANA)->status,
	                  PORTQ_ST_ASSIGNED);
	registry_free(r);

	/* "any" is a question's wildcard, not a protocol a row may carry. */
	load_str_fails(HDR4 "echo,7,any,Echo\n", sizeof(HDR4 "echo,7,any,Echo\n") - 1,
	               REG_FMT_AUTO, PORTQ_EPARSE, 2, "unknown transport protocol \"any\"");
}
END_TEST

START_TEST(csv_field_limits)
{
	/* CSV_MAX_FIELDS is 64: a header of 64 columns loads, 65 do not. */
	char data[1024];
	size_t n = (size_t)snprintf(data, sizeof(data), "%s", "Service Name,Port Number,"
	                            "Transport Protocol,Description");
	for (int i = 4; i < 64; i++)
		n += (size_t)snprintf(data + n, sizeof(data) - n, ",x%d", i);
	size_t hdr64 = n;
	n += (size_t)snprintf(data + n, sizeof(data) - n, "\necho,7,tcp,Echo");
	for (int i = 4; i < 64; i++)
		n += (size_t)snprintf(data + n, sizeof(data) - n, ",");
	data[n++] = '\n';
	data[n] = '\0';
	registry_t *r = load_str_ok(data, REG_FMT_AUTO);
	ck_assert_uint_eq(registry_count(r), 1);
	registry_free(r);

	memmove(data + hdr64 + 4, data + hdr64, n - hdr64 + 1);
	memcpy(data + hdr64, ",x64", 4);
	load_str_fails(data, n + 4, REG_FMT_AUTO, PORTQ_EPARSE, 1, "more than 64 fields");
}
END_TEST

START_TEST(csv_record_size_limits)
{
	/* A record's wire form is 10 bytes plus 3 + n per field; it must fit
	 * in 65535. A nameless row with only a description can have 65522. */
	const size_t fit = 65535 - PORTQ_RECORD_MIN - 3;
	char *data = malloc(sizeof(HDR4) + 65536 + 64);
	ck_assert_ptr_nonnull(data);
	size_t n = (size_t)sprintf(data, HDR4 ",5,,");
	memset(data + n, 'd', fit);
	strcpy(data + n + fit, "\n");
	registry_t *r = load_str_ok(data, REG_FMT_AUTO);
	ck_assert_uint_eq(strlen(registry_entry(r, 0)->description), fit);
	ck_assert_uint_eq(registry_entry(r, 0)->wire_len, 65535);
	registry_free(r);

	memset(data + n, 'd', fit + 1);
	strcpy(data + n + fit + 1, "\n");
	load_str_fails(data, strlen(data), REG_FMT_AUTO, PORTQ_EPARSE, 2,
	               "record of 65536 bytes is too large");

	memset(data + n, 'd', 65536);
	strcpy(data + n + 65536, "\n");
	load_str_fails(data, strlen(data), REG_FMT_AUTO, PORTQ_EPARSE, 2,
	               "field of 65536 bytes is too long");
	free(data);
}
END_TEST

START_TEST(csv_empty)
{
	load_str_fails("", 0, REG_FMT_IANA_CSV, PORTQ_EPARSE, 1, "empty file");
	/* The API allows data == NULL with no bytes. */
	load_str_fails(NULL, 0, REG_FMT_IANA_CSV, PORTQ_EPARSE, 1, "empty file");
}
END_TEST

/* ------------------------------------------------------------- IANA XML */

START_TEST(xml_counts)
{
	registry_t *r = load_ok(XML_SMALL);

	const reg_source_t *s = registry_source(r, 0);
	assert_source(s, XML_SMALL, REG_FMT_IANA_XML, SMALL_ROWS);
	assert_small_counts(s);
	/* The registry's own <updated> is newer than any record's date; the
	 * person's <updated> in <people> is not a date of the registry. */
	ck_assert_str_eq(s->date, "2025-08-01");
	for (size_t i = 0; i < SMALL_ROWS; i++) {
		const reg_entry_t *e = registry_entry(r, i);
		ck_assert_msg(e->line == xml_small_lines[i], "entry %zu (%s) line %u, want %u",
		              i, e->name, e->line, xml_small_lines[i]);
		ck_assert_uint_eq(e->origin, PORTQ_ORIGIN_IANA);
		ck_assert_str_eq(e->source, XML_SMALL);
	}
	registry_free(r);
}
END_TEST

START_TEST(xml_same_texts_as_csv)
{
	/* The two fixtures hold the same records: <br/>, xrefs, <assignee>,
	 * entities and record dates must come out as the CSV writes them. */
	registry_t *c = load_ok(CSV_SMALL), *x = load_ok(XML_SMALL);

	ck_assert_uint_eq(registry_count(c), registry_count(x));
	for (size_t i = 0; i < registry_count(c); i++) {
		const reg_entry_t *a = registry_entry(c, i), *b = registry_entry(x, i);
		ck_assert_str_eq(a->name, b->name);
		ck_assert_uint_eq(a->has_port, b->has_port);
		ck_assert_uint_eq(a->port_lo, b->port_lo);
		ck_assert_uint_eq(a->port_hi, b->port_hi);
		ck_assert_uint_eq(a->transport, b->transport);
		ck_assert_uint_eq(a->status, b->status);
#define SAME_TEXT(m, api, wire, what) ck_assert_str_eq(a->m, b->m);
		PORTQ_TEXT_FIELDS(SAME_TEXT)            /* name, description, ... */
#undef SAME_TEXT
		ck_assert_uint_eq(a->wire_len, b->wire_len);
		ck_assert_mem_eq(a->wire, b->wire, a->wire_len);
	}
	/* Spot checks, so that both being wrong the same way still fails. */
	ck_assert_str_eq(find_one(x, "whoispp", 63, PORTQ_TP_TCP,
	                          PORTQ_ORIGIN_IANA)->description, WHOISPP_DESC);
	/* xrefs inside a note are bracketed where they stand. */
	ck_assert_str_eq(find_one(x, "x11", 6000, PORTQ_TP_TCP, PORTQ_ORIGIN_IANA)->notes,
	                 "See [RFC1013], [Stephen_Gildea] and [https://www.x.org/].");
	/* "Window \n      System": a line ending in a space runs on... */
	ck_assert_str_eq(find_one(x, "x11", 6000, PORTQ_TP_UDP,
	                          PORTQ_ORIGIN_IANA)->description, "X Window System");
	/* ...one that does not keeps its break and indentation. */
	const reg_entry_t *out[4];
	ck_assert_uint_eq(registry_by_name(x, "rdp", PORTQ_TP_ANY, out, 4), 2);
	ck_assert_str_eq(out[1]->notes, "Defined TXT keys:\n      None");
	ck_assert_str_eq(find_one(x, "whois++", 63, PORTQ_TP_TCP,
	                          PORTQ_ORIGIN_IANA)->notes, WHOIS_NOTES);
	ck_assert_str_eq(find_one(x, "sieve", 4190, PORTQ_TP_TCP,
	                          PORTQ_ORIGIN_IANA)->assignee, "[IESG]");
	registry_free(c);
	registry_free(x);
}
END_TEST

START_TEST(xml_minimal)
{
	/* No declaration, no namespace, no dates: still a registry. */
	registry_t *r = load_str_ok("  <registry><record><name>a</name><number>5</number>"
	                            "</record></registry>", REG_FMT_AUTO);
	ck_assert_int_eq(registry_source(r, 0)->format, REG_FMT_IANA_XML);
	ck_assert_uint_eq(registry_count(r), 1);
	ck_assert_str_eq(registry_entry(r, 0)->name, "a");
	ck_assert_uint_eq(registry_entry(r, 0)->transport, PORTQ_TP_ANY);
	ck_assert_uint_eq(registry_entry(r, 0)->line, 1);
	ck_assert_str_eq(registry_source(r, 0)->date, "");
	registry_free(r);

	load_str_fails("<registry/>", 11, REG_FMT_AUTO, PORTQ_EPARSE, 0,
	               "no <record> elements");
	load_str_fails("", 0, REG_FMT_IANA_XML, PORTQ_EPARSE, 1, "XML error");
	load_str_fails(NULL, 0, REG_FMT_IANA_XML, PORTQ_EPARSE, 1, "XML error");
	load_str_fails("<registry>\n<record>\n", 20, REG_FMT_AUTO, PORTQ_EPARSE, 3,
	               "XML error");
}
END_TEST

START_TEST(xml_text_rules)
{
	/* <br/> is a break wherever it stands, runs of breaks are one; an
	 * inline xref is bracketed, rfc upper-cased; "word \n   word" runs
	 * on with one space whatever the spaces and tabs around the break. */
	registry_t *r = load_str_ok(
		"<registry><record><name>a</name><number>5</number>\n"
		"<description>one<br/>two<br/><br/>three  \n\t  four</description>\n"
		"<note>see <xref type=\"rfc\" data=\"rfc6335\"/> and "
		"<xref type=\"draft\" data=\"draft-x-01\"/>; line \nkept</note>\n"
		"<xref type=\"text\">free text</xref>"
		"<xref type=\"draft\" data=\"rfc-like\"/>"
		"</record></registry>", REG_FMT_AUTO);
	const reg_entry_t *e = registry_entry(r, 0);
	ck_assert_str_eq(e->description, "one\ntwo\nthree four");
	ck_assert_str_eq(e->notes, "see [RFC6335] and [draft-x-01]; line \nkept");
	ck_assert_str_eq(e->reference, "[free text][rfc-like]");
	registry_free(r);
}
END_TEST

/* ------------------------------------------------------------- services */

START_TEST(services_counts)
{
	registry_t *r = load_ok(SERVICES_SMALL);

	const reg_source_t *s = registry_source(r, 0);
	assert_source(s, SERVICES_SMALL, REG_FMT_SERVICES, 15);
	ck_assert_uint_eq(s->by_status[PORTQ_ST_ASSIGNED], 15);
	ck_assert_uint_eq(s->by_transport[PORTQ_TP_ANY], 0);
	ck_assert_uint_eq(s->by_transport[PORTQ_TP_TCP], 10);
	ck_assert_uint_eq(s->by_transport[PORTQ_TP_UDP], 4);
	ck_assert_uint_eq(s->by_transport[PORTQ_TP_SCTP], 1);
	ck_assert_uint_eq(s->by_transport[PORTQ_TP_DCCP], 0);
	ck_assert_uint_eq(s->singles, 15);
	ck_assert_uint_eq(s->nameless, 0);
	/* Four ddp lines and the ddp half of "4333/tcp/ddp". */
	ck_assert_uint_eq(s->skipped, 5);
	ck_assert_str_eq(s->date, "");
	for (size_t i = 0; i < registry_count(r); i++) {
		ck_assert_uint_eq(registry_entry(r, i)->origin, PORTQ_ORIGIN_SERVICES);
		ck_assert_uint_eq(registry_entry(r, i)->status, PORTQ_ST_ASSIGNED);
	}
	registry_free(r);
}
END_TEST

START_TEST(services_fields)
{
	registry_t *r = load_ok(SERVICES_SMALL);

	const reg_entry_t *e = find_one(r, "tcpmux", 1, PORTQ_TP_TCP, PORTQ_ORIGIN_SERVICES);
	ck_assert_str_eq(e->description, "TCP port service multiplexer");
	ck_assert_uint_eq(e->n_aliases, 0);
	ck_assert_uint_eq(e->line, 5);

	/* Line 9 ends in CRLF: the CR is not part of the last alias. */
	e = find_one(r, "discard", 9, PORTQ_TP_UDP, PORTQ_ORIGIN_SERVICES);
	ck_assert_uint_eq(e->n_aliases, 2);
	ck_assert_str_eq(e->aliases[0], "sink");
	ck_assert_str_eq(e->aliases[1], "null");
	ck_assert_str_eq(e->description, "");
	ck_assert_uint_eq(e->line, 9);

	e = find_one(r, "http", 80, PORTQ_TP_TCP, PORTQ_ORIGIN_SERVICES);
	ck_assert_uint_eq(e->n_aliases, 2);
	ck_assert_str_eq(e->aliases[0], "www");
	ck_assert_str_eq(e->aliases[1], "www-http");
	ck_assert_str_eq(e->description, "WorldWideWeb HTTP");

	e = find_one(r, "kerberos", 88, PORTQ_TP_UDP, PORTQ_ORIGIN_SERVICES);
	ck_assert_uint_eq(e->n_aliases, 3);
	ck_assert_str_eq(e->aliases[2], "kerberos-sec");
	ck_assert_uint_eq(e->line, 16);

	/* The merged form gives one entry per protocol, same line, same text. */
	for (uint8_t tp = PORTQ_TP_TCP; tp <= PORTQ_TP_UDP; tp++) {
		e = find_one(r, "covia", 64, tp, PORTQ_ORIGIN_SERVICES);
		ck_assert_uint_eq(e->line, 12);
		ck_assert_uint_eq(e->n_aliases, 1);
		ck_assert_str_eq(e->aliases[0], "ci");
		ck_assert_str_eq(e->description, "merged form: one entry per protocol");
	}

	/* A comment right after the protocol, with no space before '#'. */
	e = find_one(r, "sieve", 4190, PORTQ_TP_TCP, PORTQ_ORIGIN_SERVICES);
	ck_assert_uint_eq(e->n_aliases, 0);
	ck_assert_str_eq(e->description, "no space before this comment");

	/* "4333/tcp/ddp": the tcp half is kept with its alias. */
	e = find_one(r, "msql", 4333, PORTQ_TP_TCP, PORTQ_ORIGIN_SERVICES);
	ck_assert_str_eq(e->aliases[0], "mini-sql");
	find_one(r, "ssh", 22, PORTQ_TP_SCTP, PORTQ_ORIGIN_SERVICES);

	/* Nothing of the ddp lines is kept. */
	const reg_entry_t *out[4];
	ck_assert_uint_eq(registry_by_name(r, "rtmp", PORTQ_TP_ANY, out, 4), 0);
	ck_assert_uint_eq(registry_by_name(r, "zip", PORTQ_TP_ANY, out, 4), 0);
	ck_assert_uint_eq(registry_by_port(r, 4, PORTQ_TP_ANY, out, 4), 0);
	ck_assert_uint_eq(registry_by_port(r, 2, PORTQ_TP_ANY, out, 4), 0);
	registry_free(r);
}
END_TEST

START_TEST(services_edges)
{
	/* Empty, comment-only and unterminated-last-line files. */
	registry_t *r = load_str_ok("", REG_FMT_SERVICES);
	ck_assert_uint_eq(registry_count(r), 0);
	registry_free(r);
	r = load_str_ok("# nothing but a comment\n\n", REG_FMT_AUTO);
	ck_assert_int_eq(registry_source(r, 0)->format, REG_FMT_SERVICES);
	ck_assert_uint_eq(registry_count(r), 0);
	registry_free(r);
	r = load_str_ok("echo 7/tcp\nfinger 79/tcp", REG_FMT_AUTO);
	ck_assert_uint_eq(registry_count(r), 2);
	ck_assert_uint_eq(registry_entry(r, 1)->line, 2);
	registry_free(r);

	/* PORTQ_MAX_ALIASES aliases fit, one more does not. */
	char line[1024];
	size_t n = (size_t)snprintf(line, sizeof(line), "svc 5/tcp");
	for (int i = 0; i < PORTQ_MAX_ALIASES; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " a%d", i);
	r = load_str_ok(line, REG_FMT_AUTO);
	ck_assert_uint_eq(registry_entry(r, 0)->n_aliases, PORTQ_MAX_ALIASES);
	ck_assert_str_eq(registry_entry(r, 0)->aliases[PORTQ_MAX_ALIASES - 1], "a31");
	registry_free(r);
	snprintf(line + n, sizeof(line) - n, " one-more");
	load_str_fails(line, strlen(line), REG_FMT_AUTO, PORTQ_EPARSE, 1,
	               "more than 32 aliases");

	load_str_fails(STR_LEN("echo 7/tcp\nbad 7\0/tcp\n"), REG_FMT_SERVICES, PORTQ_EPARSE, 2,
	               "NUL byte");
	load_str_fails("echo 7/\n", 8, REG_FMT_SERVICES, PORTQ_EPARSE, 1, "empty protocol");
	load_str_fails("echo /tcp\n", 10, REG_FMT_SERVICES, PORTQ_EPARSE, 1,
	               "bad port number \"\"");
}
END_TEST

/* ------------------------------------------------------------- local */

START_TEST(local_counts)
{
	registry_t *r = load_ok(LOCAL_SMALL);

	const reg_source_t *s = registry_source(r, 0);
	assert_source(s, LOCAL_SMALL, REG_FMT_LOCAL, 7);
	ck_assert_uint_eq(s->by_status[PORTQ_ST_LOCAL], 6);
	ck_assert_uint_eq(s->by_status[PORTQ_ST_RESERVED], 1);
	ck_assert_uint_eq(s->by_transport[PORTQ_TP_ANY], 3);
	ck_assert_uint_eq(s->by_transport[PORTQ_TP_TCP], 3);
	ck_assert_uint_eq(s->by_transport[PORTQ_TP_UDP], 1);
	ck_assert_uint_eq(s->ranges, 2);
	ck_assert_uint_eq(s->singles, 5);
	ck_assert_uint_eq(s->portless, 0);
	ck_assert_uint_eq(s->nameless, 2);
	ck_assert_uint_eq(s->skipped, 0);
	ck_assert_str_eq(s->date, "2026-03-01");
	for (size_t i = 0; i < registry_count(r); i++)
		ck_assert_uint_eq(registry_entry(r, i)->origin, PORTQ_ORIGIN_LOCAL);
	registry_free(r);
}
END_TEST

START_TEST(local_fields)
{
	registry_t *r = load_ok(LOCAL_SMALL);

	const reg_entry_t *e = find_one(r, "billing-api", 8443, PORTQ_TP_TCP,
	                                PORTQ_ORIGIN_LOCAL);
	ck_assert_str_eq(e->description, "Billing API");
	ck_assert_str_eq(e->contact, "ops@example.org");
	ck_assert_str_eq(e->registered, "2025-01-10");
	ck_assert_uint_eq(e->status, PORTQ_ST_LOCAL);
	ck_assert_uint_eq(e->line, 6);

	/* "tcp,udp" gives two entries with the same texts; escapes undone. */
	for (uint8_t tp = PORTQ_TP_TCP; tp <= PORTQ_TP_UDP; tp++) {
		e = find_one(r, "metrics", 9100, tp, PORTQ_ORIGIN_LOCAL);
		ck_assert_uint_eq(e->port_hi, 9110);
		ck_assert_str_eq(e->description, "Exporters of the \"metrics\" family");
		ck_assert_str_eq(e->assignee, "Data \\ Platform");
		ck_assert_uint_eq(e->n_aliases, 2);
		ck_assert_str_eq(e->aliases[0], "node-exporter");
		ck_assert_str_eq(e->aliases[1], "Prom-Exporter");
		ck_assert_uint_eq(e->line, 7);
	}

	/* "-" is no name; no protocol is all protocols. */
	e = find_one(r, "", 7000, PORTQ_TP_ANY, PORTQ_ORIGIN_LOCAL);
	ck_assert_uint_eq(e->status, PORTQ_ST_RESERVED);
	ck_assert_str_eq(e->description, "Held for the data team");

	e = find_one(r, "echo", 7, PORTQ_TP_TCP, PORTQ_ORIGIN_LOCAL);
	ck_assert_str_eq(e->description, "Echo behind the proxy");
	ck_assert_str_eq(e->modified, "2026-03-01");
	ck_assert_uint_eq(e->line, 9);

	/* Line 11 ends in CRLF. */
	e = find_one(r, "", 30, PORTQ_TP_ANY, PORTQ_ORIGIN_LOCAL);
	ck_assert_uint_eq(e->status, PORTQ_ST_LOCAL);
	ck_assert_str_eq(e->notes, "temporary");
	ck_assert_str_eq(e->reference, "TICKET-42");
	ck_assert_uint_eq(e->line, 11);

	e = find_one(r, "whoisd", 63, PORTQ_TP_ANY, PORTQ_ORIGIN_LOCAL);
	ck_assert_uint_eq(e->n_aliases, 1);
	ck_assert_str_eq(e->aliases[0], "whois++");
	ck_assert_uint_eq(e->line, 12);
	registry_free(r);
}
END_TEST

#define MAGIC "portq-local 1\n"

START_TEST(local_edges)
{
	/* A nameless reservation needs no description; a quoted name works. */
	registry_t *r = load_str_ok(MAGIC "- 7000 status=reserved\n"
	                            "\"two words\" 7001/dccp description=x\n", REG_FMT_AUTO);
	ck_assert_uint_eq(registry_count(r), 2);
	ck_assert_str_eq(find_one(r, "two words", 7001, PORTQ_TP_DCCP,
	                          PORTQ_ORIGIN_LOCAL)->description, "x");
	registry_free(r);

	/* Only a format line: an empty registry. */
	r = load_str_ok("# header\n" MAGIC, REG_FMT_AUTO);
	ck_assert_int_eq(registry_source(r, 0)->format, REG_FMT_LOCAL);
	ck_assert_uint_eq(registry_count(r), 0);
	registry_free(r);

	char line[1024];
	size_t n = (size_t)snprintf(line, sizeof(line), MAGIC "svc 5");
	for (int i = 0; i < PORTQ_MAX_ALIASES; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " alias=a%d", i);
	r = load_str_ok(line, REG_FMT_AUTO);
	ck_assert_uint_eq(registry_entry(r, 0)->n_aliases, PORTQ_MAX_ALIASES);
	registry_free(r);
	snprintf(line + n, sizeof(line) - n, " alias=more");
	load_str_fails(line, strlen(line), REG_FMT_AUTO, PORTQ_EPARSE, 2,
	               "more than 32 aliases");

	static const struct { const char *text; const char *reason; } bad[] = {
		{ MAGIC "a 5 description=\"x\\n\"\n", "only \\\" and \\\\ may be escaped" },
		{ MAGIC "a 5 description=\"x\"y\n",   "text after a closing quote" },
		{ MAGIC "a 5 description=x\"y\n",     "quote inside a bare word" },
		{ MAGIC "a 5 description\n",          "expected key=value, got \"description\"" },
		{ MAGIC "a 5 =x\n",                   "expected key=value" },
		{ MAGIC "a 5 description=\n",         "empty value for \"description\"" },
		{ MAGIC "a 5 description=\"\"\n",     "empty value for \"description\"" },
		{ MAGIC "a 5/\n",                     "unknown protocol \"\"" },
		{ MAGIC "a 5/tcp,\n",                 "unknown protocol \"\"" },
		{ MAGIC "a 5/any\n",                  "unknown protocol \"any\"" },
		{ MAGIC "a 9-8\n",                    "bad port or range \"9-8\"" },
		{ MAGIC "a\n",                        "expected ports after the name" },
		{ MAGIC "a 5 status=\"LOCAL\"\n",      "status must be local or reserved" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		load_str_fails(bad[i].text, strlen(bad[i].text), REG_FMT_AUTO, PORTQ_EPARSE,
		               2, bad[i].reason);

	load_str_fails("# only comments\n\n", 17, REG_FMT_LOCAL, PORTQ_EPARSE, 0,
	               "no \"portq-local 1\" format line");
	load_str_fails(NULL, 0, REG_FMT_LOCAL, PORTQ_EPARSE, 0,
	               "no \"portq-local 1\" format line");
	load_str_fails(STR_LEN(MAGIC "a 5\0 description=x\n"), REG_FMT_LOCAL, PORTQ_EPARSE, 2,
	               "NUL byte");
}
END_TEST

/* ------------------------------------------------------- rows: text, repeats, ranges */

#define CSV_HEAD "Service Name,Port Number,Transport Protocol,Description,Assignee," \
	"Contact,Registration Date,Modification Date,Reference,Service Code," \
	"Unauthorized Use Reported,Assignment Notes\n"

START_TEST(utf8_checker)
{
	static const struct { const char *s; size_t valid; } cases[] = {
		{ "plain", 5 }, { "caf\xC3\xA9", 5 }, { "\xE2\x82\xAC", 3 },
		{ "\xF0\x9F\x98\x80!", 5 }, { "\xF4\x8F\xBF\xBF", 4 },  /* U+10FFFF */
		{ "caf\xE9", 3 },                      /* Latin-1 */
		{ "a\xC0\xAF", 1 }, { "\xC1\xBF", 0 },  /* overlong */
		{ "\xE0\x9F\xBF", 0 }, { "\xF0\x8F\xBF\xBF", 0 },
		{ "x\xED\xA0\x80", 1 },                /* surrogate */
		{ "\xF4\x90\x80\x80", 0 },             /* above U+10FFFF */
		{ "\xF5\x80\x80\x80", 0 }, { "\xFF", 0 },
		{ "ab\xE2\x82", 2 }, { "\xC3", 0 },     /* cut short */
		{ "\xE2\x28\xA1", 0 }, { "\x80", 0 },   /* stray continuation */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(portq_utf8_valid_prefix(cases[i].s, strlen(cases[i].s)) ==
		              cases[i].valid, "case %zu", i);
}
END_TEST

START_TEST(non_utf8_refused_with_line)
{
	/* Before, each of these loaded, and portq --json then printed the
	 * raw byte: invalid JSON. Every format refuses it at its line. */
	load_str_fails(STR_LEN(CSV_HEAD "a,5,tcp,ok,,,,,,,,\nb,6,tcp,Caf\xE9,,,,,,,,\n"),
	               REG_FMT_IANA_CSV, PORTQ_EPARSE, 3,
	               "description is not UTF-8: byte 0xE9 after \"Caf\"");
	load_str_fails(STR_LEN(CSV_HEAD "a,5,tcp,ok,,,,,,,,\n\"b\xC3\",6,tcp,x,,,,,,,,\n"),
	               REG_FMT_IANA_CSV, PORTQ_EPARSE, 3, "service name is not UTF-8");
	load_str_fails(STR_LEN("a 5/tcp\n\nb 6/tcp # M\xFCller's\n"), REG_FMT_SERVICES,
	               PORTQ_EPARSE, 3, "description is not UTF-8: byte 0xFC after \"M\"");
	load_str_fails(STR_LEN("a 5/tcp al\xE9\n"), REG_FMT_SERVICES, PORTQ_EPARSE, 1,
	               "alias is not UTF-8");
	load_str_fails(STR_LEN(MAGIC "a 5\nb 6 contact=\"Jos\xE9\"\n"), REG_FMT_LOCAL,
	               PORTQ_EPARSE, 3, "contact is not UTF-8");
	load_str_fails(STR_LEN(MAGIC "a 5 notes=\xED\xA0\x80\n"), REG_FMT_LOCAL,
	               PORTQ_EPARSE, 2, "notes is not UTF-8");
	/* The quote before the bad byte starts on a character, never inside
	 * one: a 2-byte character and 39 ASCII bytes, then the bad byte; the
	 * last 40 bytes would begin with the character's second byte. */
	load_str_fails(STR_LEN(MAGIC "a 5 notes=\"\xC3\xA9" "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
	                       "\xFF\"\n"), REG_FMT_LOCAL, PORTQ_EPARSE, 2,
	               "byte 0xFF after \"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm\";");
	/* XML: expat refuses bytes that do not match the declared encoding,
	 * and converts a declared Latin-1 file to UTF-8, which is right. */
	load_str_fails(STR_LEN("<registry>\n<record><name>a</name><number>5</number>"
	                       "<description>Caf\xE9</description></record></registry>"),
	               REG_FMT_IANA_XML, PORTQ_EPARSE, 2, "XML error");
	registry_t *r = load_str_ok("<?xml version='1.0' encoding='ISO-8859-1'?>\n"
	                            "<registry><record><name>a</name><number>5</number>"
	                            "<description>Caf\xE9</description></record></registry>",
	                            REG_FMT_IANA_XML);
	ck_assert_str_eq(registry_entry(r, 0)->description, "Caf\xC3\xA9");
	registry_free(r);

	/* Well-formed UTF-8 loads as it is. */
	r = load_str_ok(MAGIC "caf\xC3\xA9 5 description=\"\xE2\x82\xAC \xF0\x9F\x98\x80\"\n",
	                REG_FMT_LOCAL);
	ck_assert_str_eq(registry_entry(r, 0)->name, "caf\xC3\xA9");
	ck_assert_str_eq(registry_entry(r, 0)->description, "\xE2\x82\xAC \xF0\x9F\x98\x80");
	registry_free(r);
}
END_TEST

START_TEST(duplicates_collapse_and_count)
{
	/* Before, line 4 loaded again: port 5 answered with the record twice. */
	registry_t *r = load_str_ok(MAGIC "a 5/tcp description=x\n"
	                            "a 5/tcp description=y\n"
	                            "a 5/tcp description=x\n"
	                            "a 5/tcp,udp,tcp description=x\n", REG_FMT_LOCAL);
	const reg_source_t *s = registry_source(r, 0);
	ck_assert_uint_eq(registry_count(r), 3);        /* x/tcp, y/tcp, x/udp */
	ck_assert_uint_eq(s->rows, 3);
	ck_assert_uint_eq(s->duplicates, 3);
	ck_assert_uint_eq(s->first_duplicate, 4);
	const reg_entry_t *out[8];
	ck_assert_uint_eq(registry_by_port(r, 5, PORTQ_TP_TCP, out, 8), 2);
	ck_assert_str_eq(out[0]->description, "x");
	ck_assert_uint_eq(out[0]->line, 2);             /* the first one stays */
	ck_assert_str_eq(out[1]->description, "y");
	registry_free(r);

	/* Any field, an alias, the range or the status makes it another record. */
	r = load_str_ok(MAGIC "a 5 alias=b\na 5 alias=c\na 5 alias=b alias=c\n"
	                "a 5-6\na 5 status=reserved\na 5\na 5 alias=b\n", REG_FMT_LOCAL);
	ck_assert_uint_eq(registry_count(r), 6);
	ck_assert_uint_eq(registry_source(r, 0)->duplicates, 1);
	ck_assert_uint_eq(registry_source(r, 0)->first_duplicate, 8);
	registry_free(r);

	r = load_str_ok("ssh 22/tcp # x\nssh 22/tcp # x\nssh 22/udp\n", REG_FMT_SERVICES);
	ck_assert_uint_eq(registry_count(r), 2);
	ck_assert_uint_eq(registry_source(r, 0)->duplicates, 1);
	registry_free(r);
	r = load_str_ok(CSV_HEAD "a,5,tcp,x,,,,,,,,\n\"a\",5,tcp,\"x\",,,,,,,,\n",
	                REG_FMT_IANA_CSV);
	ck_assert_uint_eq(registry_count(r), 1);
	ck_assert_uint_eq(registry_source(r, 0)->first_duplicate, 3);
	registry_free(r);

	/* The same record from another origin is kept: answers show both. */
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	ck_assert_int_eq(reg_builder_load_mem(b, "s", STR_LEN("a 5/tcp\n"),
	                                      REG_FMT_SERVICES, &err), PORTQ_OK);
	ck_assert_int_eq(reg_builder_load_mem(b, "l", STR_LEN(MAGIC "a 5/tcp status=reserved\n"
	                                      "a 5/tcp\n"), REG_FMT_LOCAL, &err), PORTQ_OK);
	ck_assert_int_eq(reg_builder_load_mem(b, "l2", STR_LEN(MAGIC "a 5/tcp\n"),
	                                      REG_FMT_LOCAL, &err), PORTQ_OK);
	ck_assert_uint_eq(reg_builder_count(b), 3);
	r = registry_build(b, 1);
	ck_assert_uint_eq(registry_source(r, 1)->duplicates, 0);
	ck_assert_uint_eq(registry_source(r, 2)->duplicates, 1);  /* across files */
	registry_free(r);

	/* Many repeats: one record, the rest counted. */
	char *big = malloc(300 * 32 + 32);
	size_t n = (size_t)sprintf(big, MAGIC);
	for (int i = 0; i < 300; i++)
		n += (size_t)sprintf(big + n, "all 0-65535 description=d\n");
	r = load_str_ok(big, REG_FMT_LOCAL);
	ck_assert_uint_eq(registry_count(r), 1);
	ck_assert_uint_eq(registry_source(r, 0)->duplicates, 299);
	registry_free(r);
	free(big);
}
END_TEST

START_TEST(range_slots_capped)
{
	/* Before, 300 such lines (with four protocols) took 320 MB of port
	 * table for a 12 KB file. Each line is 65,536 slots: 64 fit the cap
	 * exactly, the 65th (line 66) crosses it and the load stops there. */
	ck_assert_uint_eq(REG_MAX_RANGE_SLOTS / 65536, 64);
	char *big = malloc(300 * 48 + 32);
	size_t n = (size_t)sprintf(big, MAGIC);
	for (int i = 0; i < 64; i++)
		n += (size_t)sprintf(big + n, "s%d 0-65535\n", i);
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	ck_assert_int_eq(reg_builder_load_mem(b, "mem", big, n, REG_FMT_LOCAL, &err), PORTQ_OK);
	ck_assert_uint_eq(reg_builder_count(b), 64);
	reg_builder_free(b);
	for (int i = 64; i < 300; i++)
		n += (size_t)sprintf(big + n, "s%d 0-65535/tcp,udp,sctp,dccp\n", i);
	load_str_fails(big, n, REG_FMT_LOCAL, PORTQ_EPARSE, 66,
	               "port ranges cover more than 4194304 ports in all");
	free(big);

	/* Single ports take one slot each and do not count; a range of the
	 * real registry's size loads. */
	registry_t *r = load_str_ok(MAGIC "a 5\nb 49152-65535/tcp,udp\n", REG_FMT_LOCAL);
	ck_assert_uint_eq(registry_count(r), 3);
	registry_free(r);
}
END_TEST

/* ------------------------------------------------------------- detection */

START_TEST(detect_fixtures)
{
	static const struct { const char *path; reg_format_t f; } files[] = {
		{ CSV_SMALL, REG_FMT_IANA_CSV },
		{ XML_SMALL, REG_FMT_IANA_XML },
		{ SERVICES_SMALL, REG_FMT_SERVICES },
		{ LOCAL_SMALL, REG_FMT_LOCAL },
		/* No format line: nothing says "local", so it reads as services. */
		{ FIXTURE("bad-local-magic.conf"), REG_FMT_SERVICES },
		{ FIXTURE("bad-local-version.conf"), REG_FMT_LOCAL },
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t len;
		char *data = slurp(files[i].path, &len);
		ck_assert_msg(reg_format_detect(data, len) == files[i].f, "%s: %s",
		              files[i].path, reg_format_name(reg_format_detect(data, len)));
		free(data);
	}
}
END_TEST

START_TEST(detect_edges)
{
	static const struct { const char *data; reg_format_t f; } cases[] = {
		{ "", REG_FMT_SERVICES },
		{ "\xEF\xBB\xBF<registry/>", REG_FMT_IANA_XML },
		{ " \r\n\t<?xml version='1.0'?>", REG_FMT_IANA_XML },
		{ "\xEF\xBB\xBFService Name,Port Number", REG_FMT_IANA_CSV },
		{ "service name,port number", REG_FMT_IANA_CSV },
		{ "Service Name", REG_FMT_SERVICES },       /* one byte short */
		{ "# c\n\n   # c\nportq-local 1\n", REG_FMT_LOCAL },
		{ "portq-local", REG_FMT_LOCAL },
		{ "portq-local\t1", REG_FMT_LOCAL },
		{ "portq-localx 1", REG_FMT_SERVICES },
		{ "echo 7/tcp\nportq-local 1\n", REG_FMT_SERVICES },
		{ "# portq-local 1\necho 7/tcp\n", REG_FMT_SERVICES },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(reg_format_detect(cases[i].data, strlen(cases[i].data)) ==
		              cases[i].f, "case %zu", i);

	/* Names and parsing round-trip; unknown words are AUTO. */
	for (reg_format_t f = REG_FMT_IANA_CSV; f <= REG_FMT_LOCAL; f++) {
		const char *name = reg_format_name(f);
		ck_assert_int_eq(reg_format_parse(name, strlen(name)), f);
	}
	ck_assert_int_eq(reg_format_parse("csv", 3), REG_FMT_IANA_CSV);
	ck_assert_int_eq(reg_format_parse("xml", 3), REG_FMT_IANA_XML);
	ck_assert_int_eq(reg_format_parse("cs", 2), REG_FMT_AUTO);
	ck_assert_int_eq(reg_format_parse("csvx", 4), REG_FMT_AUTO);
	ck_assert_str_eq(reg_format_name(REG_FMT_AUTO), "auto");
	ck_assert_str_eq(reg_format_name((reg_format_t)99), "unknown");
}
END_TEST

/* ------------------------------------------------------------- failures */

static const struct {
	const char *path;
	reg_format_t format;         /* what to load it as */
	reg_format_t detected;       /* what detection makes of it */
	unsigned line;               /* 0: the message has no line */
	const char *reason;
} bad_files[] = {
	{ FIXTURE("bad-csv-unterminated.csv"), REG_FMT_AUTO, REG_FMT_IANA_CSV, 6,
	  "unterminated quoted field" },
	{ FIXTURE("bad-csv-fields.csv"), REG_FMT_AUTO, REG_FMT_IANA_CSV, 5,
	  "row has 11 fields, the header has 12" },
	{ FIXTURE("bad-csv-port.csv"), REG_FMT_AUTO, REG_FMT_IANA_CSV, 4,
	  "bad port number \"70000\"" },
	{ FIXTURE("bad-csv-range.csv"), REG_FMT_AUTO, REG_FMT_IANA_CSV, 3,
	  "bad port number \"10-5\"" },
	{ FIXTURE("bad-csv-proto.csv"), REG_FMT_AUTO, REG_FMT_IANA_CSV, 5,
	  "unknown transport protocol \"icmp\"" },
	{ FIXTURE("bad-csv-header.csv"), REG_FMT_AUTO, REG_FMT_IANA_CSV, 1,
	  "header has no \"Transport Protocol\" column" },
	{ FIXTURE("bad-csv-nul.csv"), REG_FMT_AUTO, REG_FMT_IANA_CSV, 5,
	  "NUL byte" },
	{ FIXTURE("bad-csv-noname.csv"), REG_FMT_AUTO, REG_FMT_IANA_CSV, 3,
	  "neither a service name nor a port number" },
	{ FIXTURE("bad-csv-afterquote.csv"), REG_FMT_AUTO, REG_FMT_IANA_CSV, 3,
	  "text after the closing quote of field 4" },
	{ FIXTURE("bad-csv-strayquote.csv"), REG_FMT_AUTO, REG_FMT_IANA_CSV, 4,
	  "quote inside unquoted field 4" },
	{ FIXTURE("bad-xml-wellformed.xml"), REG_FMT_AUTO, REG_FMT_IANA_XML, 10,
	  "XML error: mismatched tag" },
	{ FIXTURE("bad-xml-root.xml"), REG_FMT_AUTO, REG_FMT_IANA_XML, 4,
	  "root element is <registries>, not an IANA <registry>" },
	{ FIXTURE("bad-xml-number.xml"), REG_FMT_AUTO, REG_FMT_IANA_XML, 11,
	  "bad port number \"65536\"" },
	{ FIXTURE("bad-xml-proto.xml"), REG_FMT_AUTO, REG_FMT_IANA_XML, 9,
	  "unknown transport protocol \"icmp\"" },
	{ FIXTURE("bad-xml-noname.xml"), REG_FMT_AUTO, REG_FMT_IANA_XML, 10,
	  "record has neither a name nor a number" },
	{ FIXTURE("bad-xml-norecords.xml"), REG_FMT_AUTO, REG_FMT_IANA_XML, 0,
	  "no <record> elements" },
	{ FIXTURE("bad-services-noport"), REG_FMT_AUTO, REG_FMT_SERVICES, 5,
	  "expected \"port/protocol\" after \"finger\"" },
	{ FIXTURE("bad-services-noproto"), REG_FMT_AUTO, REG_FMT_SERVICES, 3,
	  "expected \"port/protocol\" after \"finger\"" },
	{ FIXTURE("bad-services-port"), REG_FMT_AUTO, REG_FMT_SERVICES, 3,
	  "bad port number \"70000\"" },
	{ FIXTURE("bad-services-range"), REG_FMT_AUTO, REG_FMT_SERVICES, 2,
	  "bad port number \"6000-6063\"" },
	{ FIXTURE("bad-services-emptyproto"), REG_FMT_AUTO, REG_FMT_SERVICES, 4,
	  "empty protocol in \"64/tcp/\"" },
	{ FIXTURE("bad-local-key.conf"), REG_FMT_AUTO, REG_FMT_LOCAL, 5,
	  "unknown key \"owner\"" },
	{ FIXTURE("bad-local-magic.conf"), REG_FMT_LOCAL, REG_FMT_SERVICES, 3,
	  "expected the format line \"portq-local 1\"" },
	{ FIXTURE("bad-local-status.conf"), REG_FMT_AUTO, REG_FMT_LOCAL, 3,
	  "status must be local or reserved" },
	{ FIXTURE("bad-local-version.conf"), REG_FMT_AUTO, REG_FMT_LOCAL, 2,
	  "expected the format line \"portq-local 1\"" },
	{ FIXTURE("bad-local-nameless.conf"), REG_FMT_AUTO, REG_FMT_LOCAL, 3,
	  "a nameless assignment needs a description" },
	{ FIXTURE("bad-local-quote.conf"), REG_FMT_AUTO, REG_FMT_LOCAL, 3,
	  "unterminated quoted value" },
	{ FIXTURE("bad-local-proto.conf"), REG_FMT_AUTO, REG_FMT_LOCAL, 4,
	  "unknown protocol \"icmp\"" },
	{ FIXTURE("bad-local-twice.conf"), REG_FMT_AUTO, REG_FMT_LOCAL, 2,
	  "\"contact\" given twice" },
};
#define N_BAD_FILES (sizeof(bad_files) / sizeof(bad_files[0]))

static void
assert_error_text(const char *text, const char *name, unsigned line,
                  const char *reason)
{
	char prefix[600];
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%u: ", name, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", name);
	ck_assert_msg(strncmp(text, prefix, strlen(prefix)) == 0,
	              "\"%s\" does not start with \"%s\"", text, prefix);
	ck_assert_msg(strstr(text, reason) != NULL, "\"%s\" does not say \"%s\"",
	              text, reason);
}

START_TEST(bad_file_rejected)
{
	const char *path = bad_files[_i].path;
	size_t len;
	char *data = slurp(path, &len);
	ck_assert_int_eq(reg_format_detect(data, len), bad_files[_i].detected);

	/* From the file... */
	reg_builder_t *b = reg_builder_new();
	ck_assert_ptr_nonnull(b);
	reg_error_t err;
	int rc = reg_builder_load(b, path, bad_files[_i].format, &err);
	ck_assert_int_eq(rc, PORTQ_EPARSE);
	assert_error_text(err.text, path, bad_files[_i].line, bad_files[_i].reason);
	reg_builder_free(b);

	/* ...and from memory, where the name given is the one reported. */
	b = reg_builder_new();
	rc = reg_builder_load_mem(b, "in-memory", data, len, bad_files[_i].format, &err);
	ck_assert_int_eq(rc, PORTQ_EPARSE);
	assert_error_text(err.text, "in-memory", bad_files[_i].line, bad_files[_i].reason);
	reg_builder_free(b);
	free(data);
}
END_TEST

START_TEST(bad_file_spoils_whole_load)
{
	/* Good files before the bad one do not make a partial registry: the
	 * builder holding them must be thrown away, never built. */
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	ck_assert_int_eq(reg_builder_load(b, CSV_SMALL, REG_FMT_AUTO, &err), PORTQ_OK);
	ck_assert_int_eq(reg_builder_load(b, LOCAL_SMALL, REG_FMT_AUTO, &err), PORTQ_OK);
	ck_assert_int_eq(reg_builder_load(b, bad_files[_i].path, bad_files[_i].format, &err),
	                 PORTQ_EPARSE);
	assert_error_text(err.text, bad_files[_i].path, bad_files[_i].line,
	                  bad_files[_i].reason);
	reg_builder_free(b);

	/* load_files(), which detects formats, gives no registry either
	 * (a file that must be named local would load as services there). */
	if (bad_files[_i].format == REG_FMT_AUTO) {
		const char *paths[] = { CSV_SMALL, bad_files[_i].path };
		int rc = PORTQ_OK;
		ck_assert_ptr_null(load_files(paths, 2, &rc, &err));
		ck_assert_int_eq(rc, PORTQ_EPARSE);
	}
}
END_TEST

START_TEST(load_io_errors)
{
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	const char *missing = FIXTURE("no-such-file.csv");

	ck_assert_int_eq(reg_builder_load(b, missing, REG_FMT_AUTO, &err), PORTQ_EIO);
	char want[600];
	snprintf(want, sizeof(want), "%s: %s", missing, strerror(ENOENT));
	ck_assert_str_eq(err.text, want);
	reg_builder_free(b);

	b = reg_builder_new();
	ck_assert_int_eq(reg_builder_load(b, PORTQ_FIXTURES, REG_FMT_AUTO, &err), PORTQ_EIO);
	ck_assert_str_eq(err.text, PORTQ_FIXTURES ": not a regular file (a folder)");
	reg_builder_free(b);
}
END_TEST

START_TEST(load_bad_arguments)
{
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;

	ck_assert_int_eq(reg_builder_load(NULL, CSV_SMALL, REG_FMT_AUTO, &err), PORTQ_EINVAL);
	ck_assert_int_eq(reg_builder_load(b, NULL, REG_FMT_AUTO, &err), PORTQ_EINVAL);
	ck_assert_int_eq(reg_builder_load(b, CSV_SMALL, REG_FMT_AUTO, NULL), PORTQ_EINVAL);
	ck_assert_int_eq(reg_builder_load_mem(NULL, "m", "", 0, REG_FMT_AUTO, &err),
	                 PORTQ_EINVAL);
	ck_assert_int_eq(reg_builder_load_mem(b, NULL, "", 0, REG_FMT_AUTO, &err),
	                 PORTQ_EINVAL);
	ck_assert_int_eq(reg_builder_load_mem(b, "m", NULL, 1, REG_FMT_AUTO, &err),
	                 PORTQ_EINVAL);
	ck_assert_int_eq(reg_builder_load_mem(b, "m", "", 0, REG_FMT_AUTO, NULL),
	                 PORTQ_EINVAL);
	ck_assert_int_eq(reg_builder_load_mem(b, "m", "x", 1, (reg_format_t)42, &err),
	                 PORTQ_EFORMAT);
	ck_assert_str_eq(err.text, "m: unknown format");
	reg_builder_free(b);
	reg_builder_free(NULL);
	ck_assert_ptr_null(registry_build(NULL, 1));
	registry_free(NULL);
}
END_TEST

START_TEST(load_several_sources)
{
	/* One builder, four files: one source each, in load order. */
	const char *paths[] = { CSV_SMALL, XML_SMALL, SERVICES_SMALL, LOCAL_SMALL };
	reg_error_t err;
	int rc;
	registry_t *r = load_files(paths, 4, &rc, &err);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(registry_source_count(r), 4);
	size_t rows = 0;
	for (size_t i = 0; i < 4; i++) {
		ck_assert_str_eq(registry_source(r, i)->path, paths[i]);
		rows += registry_source(r, i)->rows;
	}
	ck_assert_uint_eq(registry_count(r), rows);
	/* The XML fixture holds the CSV's records to the letter: loaded
	 * after it, every one is an exact duplicate, dropped and counted. */
	ck_assert_uint_eq(rows, SMALL_ROWS + 15 + 7);
	ck_assert_uint_eq(registry_source(r, 0)->duplicates, 0);
	ck_assert_uint_eq(registry_source(r, 1)->duplicates, SMALL_ROWS);
	ck_assert_uint_eq(registry_source(r, 1)->rows, 0);
	ck_assert_uint_eq(registry_source(r, 1)->first_duplicate, 12);
	/* The newest date of any source: the local file's. */
	ck_assert_str_eq(registry_date(r), "2026-03-01");
	registry_free(r);
}
END_TEST

static Suite *
loaders_suite(void)
{
	Suite *s = suite_create("loaders");
	TCase *tc = tcase_create("csv");
	tcase_add_test(tc, csv_counts);
	tcase_add_test(tc, csv_lines_and_origin);
	tcase_add_test(tc, csv_multiline_fields);
	tcase_add_test(tc, csv_every_column);
	tcase_add_test(tc, csv_ports_and_status);
	tcase_add_test(tc, csv_bom_and_column_order);
	tcase_add_test(tc, csv_last_row_and_blanks);
	tcase_add_test(tc, csv_port_edges);
	tcase_add_test(tc, csv_status_rules);
	tcase_add_test(tc, csv_field_limits);
	tcase_add_test(tc, csv_record_size_limits);
	tcase_add_test(tc, csv_empty);
	suite_add_tcase(s, tc);

	tc = tcase_create("xml");
	tcase_add_test(tc, xml_counts);
	tcase_add_test(tc, xml_same_texts_as_csv);
	tcase_add_test(tc, xml_minimal);
	tcase_add_test(tc, xml_text_rules);
	suite_add_tcase(s, tc);

	tc = tcase_create("services");
	tcase_add_test(tc, services_counts);
	tcase_add_test(tc, services_fields);
	tcase_add_test(tc, services_edges);
	suite_add_tcase(s, tc);

	tc = tcase_create("local");
	tcase_add_test(tc, local_counts);
	tcase_add_test(tc, local_fields);
	tcase_add_test(tc, local_edges);
	suite_add_tcase(s, tc);

	tc = tcase_create("detect");
	tcase_add_test(tc, detect_fixtures);
	tcase_add_test(tc, detect_edges);
	suite_add_tcase(s, tc);

	tc = tcase_create("failures");
	tcase_add_loop_test(tc, bad_file_rejected, 0, (int)N_BAD_FILES);
	tcase_add_loop_test(tc, bad_file_spoils_whole_load, 0, (int)N_BAD_FILES);
	tcase_add_test(tc, load_io_errors);
	tcase_add_test(tc, load_bad_arguments);
	tcase_add_test(tc, load_several_sources);
	suite_add_tcase(s, tc);
	tc = tcase_create("rows");
	tcase_add_test(tc, utf8_checker);
	tcase_add_test(tc, non_utf8_refused_with_line);
	tcase_add_test(tc, duplicates_collapse_and_count);
	tcase_add_test(tc, range_slots_capped);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = loaders_suite };
