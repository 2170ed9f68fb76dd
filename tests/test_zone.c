/*
 * test_zone.c -- the DNS zone export (contrib/portq-zone.c) on a small
 * in-memory registry: label escaping, TXT quoting and splitting at 255
 * bytes, which records become TXT and SRV records and the counts of what
 * is left out, and the DNS queries built for a lookup.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

#define PORTQ_ZONE_NO_MAIN
#include "../contrib/portq-zone.c"
#include "format.h"

/* What a writer produced, as a NUL-terminated string the caller frees. */
typedef struct {
	FILE *f;
	char *text;
	size_t len;
} capture_t;

static void
capture_open(capture_t *c)
{
	c->text = NULL;
	c->len = 0;
	c->f = open_memstream(&c->text, &c->len);
	ck_assert_ptr_nonnull(c->f);
}

static char *
capture_close(capture_t *c)
{
	ck_assert_int_eq(fclose(c->f), 0);
	return c->text;
}

/* ------------------------------------------------------------- labels */

static void
check_label(const char *in, const char *want, int want_escaped)
{
	capture_t c;
	capture_open(&c);
	int escaped = zone_label_write(c.f, in);
	char *out = capture_close(&c);
	ck_assert_str_eq(out, want);
	ck_assert_int_eq(escaped, want_escaped);
	free(out);
}

START_TEST(label_escapes)
{
	check_label("http", "http", 0);
	check_label("acmaint_dbd", "acmaint_dbd", 0);
	check_label("LiebDevMgmt-A", "LiebDevMgmt-A", 0);
	check_label("whois++", "whois\\043\\043", 1);
	check_label("sql*net", "sql\\042net", 1);
	check_label("z39.50", "z39\\04650", 1);    /* a dot would split the label */
	check_label("cl/1", "cl\\0471", 1);
	check_label("a b", "a\\032b", 1);
	check_label("\xc3\xa9", "\\195\\169", 1);   /* UTF-8 bytes one by one */
	check_label("", "", 0);
}
END_TEST

START_TEST(origin_validity)
{
	ck_assert_int_eq(zone_origin_valid("ports.portq.test."), 1);
	ck_assert_int_eq(zone_origin_valid("a."), 1);
	ck_assert_int_eq(zone_origin_valid("ports.portq.test"), 0);  /* relative */
	ck_assert_int_eq(zone_origin_valid("."), 0);
	ck_assert_int_eq(zone_origin_valid("a..b."), 0);
	ck_assert_int_eq(zone_origin_valid("a b."), 0);
	char label[80];
	memset(label, 'x', 63);
	strcpy(label + 63, ".");
	ck_assert_int_eq(zone_origin_valid(label), 1);
	memset(label, 'x', 64);
	strcpy(label + 64, ".");
	ck_assert_int_eq(zone_origin_valid(label), 0);
}
END_TEST

/* ------------------------------------------------------------------ TXT */

static char *
txt(const char *in, size_t *strings)
{
	capture_t c;
	capture_open(&c);
	*strings = zone_txt_write(c.f, in);
	return capture_close(&c);
}

START_TEST(txt_quoting)
{
	size_t n;
	char *out = txt("a \"q\" \\ b", &n);
	ck_assert_str_eq(out, "\"a \\\"q\\\" \\\\ b\"");
	ck_assert_uint_eq(n, 1);
	free(out);
	out = txt("line\nnext;(x)", &n);           /* ; and ( are plain in quotes */
	ck_assert_str_eq(out, "\"line\\010next;(x)\"");
	free(out);
	out = txt("", &n);
	ck_assert_str_eq(out, "\"\"");
	ck_assert_uint_eq(n, 1);
	free(out);
	out = txt("caf\xc3\xa9", &n);
	ck_assert_str_eq(out, "\"caf\\195\\169\"");
	free(out);
}
END_TEST

/* A string of n copies of c. */
static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

START_TEST(txt_split_edges)
{
	size_t n;
	/* 255 bytes: one string; 256: two (255 + 1); 600: three. */
	char *in = repeat('a', 255), *out = txt(in, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(strlen(out), 257);
	free(in);
	free(out);

	in = repeat('a', 256);
	out = txt(in, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(strlen(out), 257 + 1 + 3);
	ck_assert_str_eq(out + 257, " \"a\"");
	free(in);
	free(out);

	in = repeat('a', 600);
	out = txt(in, &n);
	ck_assert_uint_eq(n, 3);
	/* "255" "255" "90": each of the first two strings and its space is 258. */
	ck_assert_uint_eq(strlen(out), 3 * 2 + 600 + 2);
	char *a90 = repeat('a', 90), last[100];
	snprintf(last, sizeof(last), "\"%s\"", a90);
	ck_assert_str_eq(out + 2 * 258, last);
	free(a90);
	free(in);
	free(out);
}
END_TEST

START_TEST(txt_split_keeps_utf8_whole)
{
	/* 254 'a', then a 2-byte character at bytes 254-255: the first
	 * string stops before it rather than cutting it in two. */
	char in[260];
	memset(in, 'a', 254);
	strcpy(in + 254, "\xc3\xa9" "b");
	size_t n;
	char *out = txt(in, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(strlen(out), 1 + 254 + 1 + 1 + 1 + 8 + 1 + 1);
	ck_assert_str_eq(out + 256, " \"\\195\\169b\"");
	free(out);
}
END_TEST

/* ----------------------------------------------------------------- zone */

static const char csv_head[] =
	"Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,"
	"Registration Date,Modification Date,Reference,Service Code,"
	"Unauthorized Use Reported,Assignment Notes\n";

static registry_t *
small_registry(void)
{
	char *longdesc = repeat('d', 300);
	char data[4096];
	snprintf(data, sizeof(data),
	         "%s"
	         "http,80,tcp,World Wide Web HTTP,,,,2020-01-02,,,,\n"
	         "http,80,udp,World Wide Web HTTP,,,,,,,,\n"
	         "www,80,tcp,World Wide Web HTTP,,,,,,,,\n"
	         "whois++,63,tcp,\"whois \"\"plus\"\" \\ plus\",,,,,,,,\n"
	         ",81,tcp,Unassigned,,,,,,,,\n"
	         ",82,udp,Reserved,,,,,,,,\n"
	         "gone,83,tcp,De-registered,,,,,,,,\n"
	         "x11,6000-6002,tcp,X Window System,,,,,,,,\n"
	         "nameonly,,,A name without a port,,,,,,,,\n"
	         "allproto,7000,,Every protocol,,,,,,,,\n"
	         "long,100,tcp,%s,,,,,,,,\n",
	         csv_head, longdesc);
	free(longdesc);
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	ck_assert_int_eq(reg_builder_load_mem(b, "small.csv", data, strlen(data),
	                                      REG_FMT_IANA_CSV, &err), PORTQ_OK);
	registry_t *r = registry_build(b, 7);
	ck_assert_ptr_nonnull(r);
	return r;
}

static size_t
count_lines(const char *text, const char *needle)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

START_TEST(zone_records_and_counts)
{
	registry_t *r = small_registry();
	zone_opts_t o = { "ports.portq.test.", ".", "127.0.0.1", 2020010200, 300 };
	zone_stats_t st;
	capture_t c;
	capture_open(&c);
	ck_assert_int_eq(zone_write(c.f, r, &o, &st), PORTQ_OK);
	char *z = capture_close(&c);

	ck_assert_ptr_nonnull(strstr(z, "$ORIGIN ports.portq.test.\n$TTL 300\n"));
	ck_assert_ptr_nonnull(strstr(z, "@\tSOA\tns hostmaster 2020010200 "));
	ck_assert_ptr_nonnull(strstr(z, "@\tNS\tns\nns\tA\t127.0.0.1\n"));

	/* Two records on 80/tcp: one RRset of two TXT records, in file order. */
	ck_assert_ptr_nonnull(strstr(z,
		"_80._tcp\tTXT\t\"http\" \"World Wide Web HTTP\"\n"
		"_80._tcp\tTXT\t\"www\" \"World Wide Web HTTP\"\n"));
	ck_assert_ptr_nonnull(strstr(z, "_80._udp\tTXT\t\"http\" \"World Wide Web HTTP\"\n"));
	ck_assert_ptr_nonnull(strstr(z,
		"_63._tcp\tTXT\t\"whois++\" \"whois \\\"plus\\\" \\\\ plus\"\n"));
	ck_assert_ptr_nonnull(strstr(z, "_whois\\043\\043._tcp\tSRV\t0 0 63 .\n"));
	ck_assert_ptr_nonnull(strstr(z, "_http._tcp\tSRV\t0 0 80 .\n"));
	ck_assert_ptr_nonnull(strstr(z, "_http._udp\tSRV\t0 0 80 .\n"));
	ck_assert_ptr_nonnull(strstr(z, "_www._tcp\tSRV\t0 0 80 .\n"));

	/* A range: a TXT record on each port, one SRV record at its first. */
	ck_assert_ptr_nonnull(strstr(z, "_6000._tcp\tTXT\t\"x11\""));
	ck_assert_ptr_nonnull(strstr(z, "_6001._tcp\tTXT\t\"x11\""));
	ck_assert_ptr_nonnull(strstr(z, "_6002._tcp\tTXT\t\"x11\""));
	ck_assert_ptr_null(strstr(z, "_6003._tcp"));
	ck_assert_uint_eq(count_lines(z, "_x11._"), 1);
	ck_assert_ptr_nonnull(strstr(z, "_x11._tcp\tSRV\t0 0 6000 .\n"));

	/* All protocols: under each of the four. */
	ck_assert_uint_eq(count_lines(z, "._tcp\tTXT\t\"allproto\""), 1);
	ck_assert_uint_eq(count_lines(z, "._udp\tTXT\t\"allproto\""), 1);
	ck_assert_uint_eq(count_lines(z, "._sctp\tTXT\t\"allproto\""), 1);
	ck_assert_uint_eq(count_lines(z, "._dccp\tTXT\t\"allproto\""), 1);
	ck_assert_uint_eq(count_lines(z, "_allproto._"), 4);

	/* Not assigned, or without a port: absent, and counted. */
	ck_assert_ptr_null(strstr(z, "_81._"));
	ck_assert_ptr_null(strstr(z, "_82._"));
	ck_assert_ptr_null(strstr(z, "gone"));
	ck_assert_ptr_null(strstr(z, "nameonly"));

	/* The 300-byte description: 255 bytes, then 45. */
	char *d255 = repeat('d', 255), *d45 = repeat('d', 45), want[400];
	snprintf(want, sizeof(want), "_100._tcp\tTXT\t\"long\" \"%s\" \"%s\"\n", d255, d45);
	ck_assert_ptr_nonnull(strstr(z, want));
	free(d255);
	free(d45);

	/* 80/tcp x2, 80/udp, 63, 6000-6002 (3), 7000 x4, 100. */
	ck_assert_uint_eq(st.txt, 2 + 1 + 1 + 3 + 4 + 1);
	ck_assert_uint_eq(st.txt_owners, 1 + 1 + 1 + 3 + 4 + 1);
	ck_assert_uint_eq(count_lines(z, "\tTXT\t"), st.txt);
	/* http x2, www, whois++, x11, allproto x4, long. */
	ck_assert_uint_eq(st.srv, 2 + 1 + 1 + 1 + 4 + 1);
	ck_assert_uint_eq(count_lines(z, "\tSRV\t"), st.srv);
	ck_assert_uint_eq(st.escaped, 1);
	ck_assert_uint_eq(st.split, 1);
	ck_assert_uint_eq(st.all_protocols, 1);
	ck_assert_uint_eq(st.not_assigned, 3);
	ck_assert_uint_eq(st.portless, 1);
	ck_assert_uint_eq(st.too_long, 0);
	free(z);
	registry_free(r);
}
END_TEST

START_TEST(zone_srv_target_and_bad_arguments)
{
	registry_t *r = small_registry();
	zone_opts_t o = { "example.", "host.example.", "192.0.2.1", 1, 60 };
	zone_stats_t st;
	capture_t c;
	capture_open(&c);
	ck_assert_int_eq(zone_write(c.f, r, &o, &st), PORTQ_OK);
	char *z = capture_close(&c);
	ck_assert_ptr_nonnull(strstr(z, "_http._tcp\tSRV\t0 0 80 host.example.\n"));
	ck_assert_ptr_nonnull(strstr(z, "ns\tA\t192.0.2.1\n"));
	free(z);

	o.origin = "example";                       /* not absolute */
	ck_assert_int_eq(zone_write(stdout, r, &o, &st), PORTQ_EINVAL);
	o.origin = "example.";
	ck_assert_int_eq(zone_write(NULL, r, &o, &st), PORTQ_EINVAL);
	ck_assert_int_eq(zone_write(stdout, NULL, &o, &st), PORTQ_EINVAL);
	ck_assert_int_eq(zone_write(stdout, r, NULL, &st), PORTQ_EINVAL);
	registry_free(r);
}
END_TEST

/* --------------------------------------------------------------- queries */

START_TEST(query_txt_by_port)
{
	static const uint8_t want[] = {
		0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,   /* id, flags, qd 1 */
		0x00, 0x00, 0x00, 0x01,                           /* ar 1: the OPT */
		0x03, '_', '8', '0', 0x04, '_', 't', 'c', 'p',
		0x05, 'p', 'o', 'r', 't', 's', 0x05, 'p', 'o', 'r', 't', 'q',
		0x04, 't', 'e', 's', 't', 0x00,
		0x00, 0x10, 0x00, 0x01,                           /* TXT, IN */
		0x00, 0x00, 0x29, 0x04, 0xd0,                     /* OPT, 1232 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	uint8_t buf[512];
	int len = zone_query_encode(buf, sizeof(buf), "80", "tcp", "ports.portq.test.",
	                            DNS_TYPE_TXT, 1232);
	ck_assert_int_eq(len, (int)sizeof(want));
	ck_assert_mem_eq(buf, want, sizeof(want));
	/* Exactly enough room, then one byte short. */
	ck_assert_int_eq(zone_query_encode(buf, sizeof(want), "80", "tcp",
	                                   "ports.portq.test.", DNS_TYPE_TXT, 1232),
	                 (int)sizeof(want));
	ck_assert_int_eq(zone_query_encode(buf, sizeof(want) - 1, "80", "tcp",
	                                   "ports.portq.test.", DNS_TYPE_TXT, 1232),
	                 PORTQ_ESPACE);
	/* Without EDNS: ARCOUNT 0 and no OPT record. */
	len = zone_query_encode(buf, sizeof(buf), "80", "tcp", "ports.portq.test.",
	                        DNS_TYPE_TXT, 0);
	ck_assert_int_eq(len, (int)sizeof(want) - 11);
	ck_assert_uint_eq(buf[11], 0);
}
END_TEST

START_TEST(query_srv_by_name_raw_bytes)
{
	/* The zone writes whois++ as \043\043; the query carries the bytes. */
	uint8_t buf[512];
	int len = zone_query_encode(buf, sizeof(buf), "whois++", "udp", "a.",
	                            DNS_TYPE_SRV, 0);
	static const uint8_t want[] = {
		0x08, '_', 'w', 'h', 'o', 'i', 's', '+', '+',
		0x04, '_', 'u', 'd', 'p', 0x01, 'a', 0x00, 0x00, 0x21, 0x00, 0x01,
	};
	ck_assert_int_eq(len, 12 + (int)sizeof(want));
	ck_assert_mem_eq(buf + 12, want, sizeof(want));

	char name[70];
	memset(name, 'n', 62);
	name[62] = '\0';                            /* "_" + 62 = 63: fits */
	ck_assert_int_gt(zone_query_encode(buf, sizeof(buf), name, "tcp", "a.",
	                                   DNS_TYPE_SRV, 0), 0);
	name[62] = 'n';
	name[63] = '\0';                            /* 64: does not */
	ck_assert_int_eq(zone_query_encode(buf, sizeof(buf), name, "tcp", "a.",
	                                   DNS_TYPE_SRV, 0), PORTQ_EINVAL);
	ck_assert_int_eq(zone_query_encode(buf, sizeof(buf), "", "tcp", "a.",
	                                   DNS_TYPE_SRV, 0), PORTQ_EINVAL);
	ck_assert_int_eq(zone_query_encode(buf, sizeof(buf), "x", "tcp", "a",
	                                   DNS_TYPE_SRV, 0), PORTQ_EINVAL);
	ck_assert_int_eq(zone_query_encode(NULL, 0, "x", "tcp", "a.",
	                                   DNS_TYPE_SRV, 0), PORTQ_EINVAL);
}
END_TEST

static Suite *
zone_suite(void)
{
	Suite *s = suite_create("zone");
	TCase *tc = tcase_create("names");
	tcase_add_test(tc, label_escapes);
	tcase_add_test(tc, origin_validity);
	suite_add_tcase(s, tc);

	tc = tcase_create("txt");
	tcase_add_test(tc, txt_quoting);
	tcase_add_test(tc, txt_split_edges);
	tcase_add_test(tc, txt_split_keeps_utf8_whole);
	suite_add_tcase(s, tc);

	tc = tcase_create("zone");
	tcase_add_test(tc, zone_records_and_counts);
	tcase_add_test(tc, zone_srv_target_and_bad_arguments);
	suite_add_tcase(s, tc);

	tc = tcase_create("queries");
	tcase_add_test(tc, query_txt_by_port);
	tcase_add_test(tc, query_srv_by_name_raw_bytes);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = zone_suite };
