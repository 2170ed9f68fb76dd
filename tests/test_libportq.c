/*
 * test_libportq.c -- the rich API (client/libportq.c): PORT, NAME,
 * RANGE, SEARCH and INFO through a handle on the real portqd, checked
 * against the CSV; bad arguments; portqd stopping cleanly.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_main.h"
#include "client_fixture.h"

/* ---- the rich API ----------------------------------------------------- */

START_TEST(port_free_block_and_neighbours)
{
	csv_load();
	const unsigned port = 293;
	ck_assert_msg(port_free(port), "the CSV no longer has %u free", port);
	unsigned lo = port, hi = port, below = 0, above = 0;
	while (lo > 0 && port_free(lo - 1))
		lo--;
	while (hi < 65535 && port_free(hi + 1))
		hi++;
	for (below = port - 1; below > 0 && !port_assigned(below); below--)
		;
	for (above = port + 1; above < 65535 && !port_assigned(above); above++)
		;
	ck_assert(port_assigned(below) && port_assigned(above));

	portq_client_t *c = client_new(NULL, 2000, 2, 0);
	portq_result_t *r = NULL;
	ck_assert_int_eq(portq_query_port(c, port, NULL, &r), PORTQ_OK);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(r->port);
	ck_assert_uint_eq(r->port->port, port);
	ck_assert_str_eq(r->port->state, "unassigned");
	ck_assert_str_eq(r->port->range_class, "system");
	ck_assert_int_eq(r->port->privileged, 1);
	ck_assert_int_eq(r->port->has_free, 1);
	ck_assert_uint_eq(r->port->free_lo, lo);
	ck_assert_uint_eq(r->port->free_hi, hi);
	ck_assert_int_eq(r->port->has_below, 1);
	ck_assert_int_eq(r->port->has_above, 1);
	ck_assert_uint_eq(r->port->below, below);
	ck_assert_uint_eq(r->port->above, above);
	for (size_t i = 0; i < r->n_entries; i++)
		ck_assert_int_eq(r->entries[i].assigned, 0);

	/* The neighbours are exactly the CSV's assigned rows at those ports. */
	size_t n_below = 0, n_above = 0;
	for (size_t i = 0; i < csv.n; i++) {
		n_below += row_covers(&csv.rows[i], below) && row_assigned(&csv.rows[i]);
		n_above += row_covers(&csv.rows[i], above) && row_assigned(&csv.rows[i]);
	}
	ck_assert_uint_eq(r->n_neighbours, n_below + n_above);
	ck_assert_uint_eq(r->n_below, n_below);
	for (size_t i = 0; i < r->n_neighbours; i++) {
		const portq_entry_t *e = &r->neighbours[i];
		ck_assert(e->assigned);
		ck_assert_uint_eq(e->port_lo, i < r->n_below ? below : above);
		ck_assert_ptr_nonnull(row_named(e->name, e->protocol));
	}
	ck_assert_str_eq(r->server, server_env);
	ck_assert_int_eq(r->tcp, 0);
	portq_result_free(r);

	/* An assigned port: its records, and no free block. */
	ck_assert_int_eq(portq_query_port(c, 1303, "udp", &r), PORTQ_OK);
	ck_assert_str_eq(r->port->state, "assigned");
	ck_assert_int_eq(r->port->has_free, 0);
	ck_assert_int_eq(r->port->privileged, 0);
	ck_assert_uint_eq(r->n_entries, 1);
	ck_assert_str_eq(r->entries[0].name, "sftsrv");
	ck_assert_str_eq(r->entries[0].protocol, "udp");
	ck_assert_str_eq(r->entries[0].origin, "iana");
	ck_assert_str_eq(r->entries[0].assignee, "[Robert_Frazier]");
	ck_assert_str_eq(r->entries[0].registered, "");
	portq_result_free(r);
	portq_client_free(c);
}
END_TEST

START_TEST(range_neighbour_on_both_sides)
{
	/* A port inside a long assigned range: the range is its neighbour
	 * below and above, so the same record comes twice. */
	csv_load();
	const row_t *wide = NULL;
	for (size_t i = 0; i < csv.n && wide == NULL; i++)
		if (row_assigned(&csv.rows[i]) && csv.rows[i].has_port && csv.rows[i].hi - csv.rows[i].lo >= 4)
			wide = &csv.rows[i];
	ck_assert_ptr_nonnull(wide);
	unsigned port = wide->lo + 2;
	size_t n_below = 0, n_above = 0;
	for (size_t i = 0; i < csv.n; i++) {
		n_below += row_covers(&csv.rows[i], port - 1) && row_assigned(&csv.rows[i]);
		n_above += row_covers(&csv.rows[i], port + 1) && row_assigned(&csv.rows[i]);
	}
	portq_client_t *c = client_new(NULL, 2000, 2, 1);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_port(c, port, NULL, &r), PORTQ_OK);
	ck_assert_uint_eq(r->port->below, port - 1);
	ck_assert_uint_eq(r->port->above, port + 1);
	ck_assert_uint_eq(r->n_below, n_below);
	ck_assert_uint_eq(r->n_neighbours - r->n_below, n_above);
	portq_result_free(r);
	portq_client_free(c);
}
END_TEST

START_TEST(name_lookup)
{
	csv_load();
	size_t expect = 0;
	for (size_t i = 0; i < csv.n; i++)
		expect += strcasecmp(csv.rows[i].name, "http") == 0;
	portq_client_t *c = client_new(NULL, 2000, 2, 0);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_name(c, "http", NULL, &r), PORTQ_OK);
	ck_assert_uint_eq(r->n_entries, expect);
	ck_assert_ptr_null(r->port);
	portq_result_free(r);
	ck_assert_int_eq(portq_query_name(c, "no-such-service-here", "tcp", &r), PORTQ_OK);
	ck_assert_uint_eq(r->n_entries, 0);
	portq_result_free(r);
	portq_client_free(c);
}
END_TEST

/* Rows overlapping lo..hi, as RANGE counts them. */
static size_t
csv_range_count(unsigned lo, unsigned hi)
{
	size_t n = 0;
	for (size_t i = 0; i < csv.n; i++)
		n += csv.rows[i].has_port && csv.rows[i].lo <= hi && csv.rows[i].hi >= lo;
	return n;
}

START_TEST(range_paging)
{
	csv_load();
	const unsigned lo = 1300, hi = 1310, limit = 4;
	size_t expect = csv_range_count(lo, hi);
	ck_assert_uint_gt(expect, 2 * limit);
	portq_client_t *c = client_new(NULL, 2000, 2, 0);
	uint32_t offset = 0, serial = 0;
	size_t got = 0;
	unsigned last_port = 0;
	int pages = 0, more = 1;
	for (; more && pages < 100; pages++) {
		portq_result_t *r;
		ck_assert_int_eq(portq_query_range(c, lo, hi, NULL, offset, limit, &r), PORTQ_OK);
		if (pages == 0)
			serial = r->serial;
		ck_assert_uint_eq(r->serial, serial);
		ck_assert_uint_le(r->n_entries, limit);
		for (size_t i = 0; i < r->n_entries; i++) {
			ck_assert(r->entries[i].has_port);
			ck_assert_uint_le(r->entries[i].port_lo, hi);
			ck_assert_uint_ge(r->entries[i].port_hi, lo);
			ck_assert_uint_ge(r->entries[i].port_lo, last_port);
			last_port = r->entries[i].port_lo;
		}
		got += r->n_entries;
		offset += (uint32_t)r->n_entries;
		more = r->more;
		if (more)
			ck_assert_uint_eq(r->n_entries, limit);
		portq_result_free(r);
	}
	ck_assert_int_eq(more, 0);
	ck_assert_uint_eq(got, expect);
	ck_assert_int_eq(pages, (int)((expect + limit - 1) / limit));

	/* Past the end: an empty page, not an error. */
	portq_result_t *r;
	ck_assert_int_eq(portq_query_range(c, lo, hi, NULL, (uint32_t)expect, limit, &r), PORTQ_OK);
	ck_assert_uint_eq(r->n_entries, 0);
	ck_assert_int_eq(r->more, 0);
	portq_result_free(r);
	portq_client_free(c);
}
END_TEST

START_TEST(search_paging)
{
	csv_load();
	const char *text = "backup";
	size_t expect = 0;
	for (size_t i = 0; i < csv.n; i++)
		expect += strcasestr(csv.rows[i].name, text) != NULL ||
		          strcasestr(csv.rows[i].desc, text) != NULL;
	ck_assert_uint_gt(expect, 10);
	portq_client_t *c = client_new(NULL, 2000, 2, 0);
	uint32_t offset = 0;
	size_t got = 0;
	int more = 1;
	for (int pages = 0; more && pages < 100; pages++) {
		portq_result_t *r;
		ck_assert_int_eq(portq_query_search(c, "BackUp", NULL, offset, 10, &r), PORTQ_OK);
		for (size_t i = 0; i < r->n_entries; i++)
			ck_assert(strcasestr(r->entries[i].name, text) != NULL ||
			          strcasestr(r->entries[i].description, text) != NULL);
		got += r->n_entries;
		offset += (uint32_t)r->n_entries;
		more = r->more;
		portq_result_free(r);
	}
	ck_assert_int_eq(more, 0);
	ck_assert_uint_eq(got, expect);
	portq_client_free(c);
}
END_TEST

START_TEST(info_items)
{
	csv_load();
	portq_client_t *c = client_new(NULL, 2000, 2, 0);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_info(c, &r), PORTQ_OK);
	ck_assert_uint_gt(r->n_info, 2);
	ck_assert_uint_eq(r->n_entries, 0);
	int seen_serial = 0, seen_records = 0;
	for (size_t i = 0; i < r->n_info; i++) {
		if (strcmp(r->info[i].key, "serial") == 0) {
			ck_assert_uint_eq(strtoul(r->info[i].value, NULL, 10), r->serial);
			seen_serial = 1;
		} else if (strcmp(r->info[i].key, "records") == 0) {
			ck_assert_uint_eq(strtoul(r->info[i].value, NULL, 10), csv.n);
			seen_records = 1;
		}
	}
	ck_assert(seen_serial && seen_records);
	portq_result_free(r);
	portq_client_free(c);
}
END_TEST

START_TEST(bad_arguments)
{
	portq_result_t *r = (portq_result_t *)1;
	ck_assert_int_eq(portq_query_port(NULL, 22, NULL, &r), PORTQ_EINVAL);
	ck_assert_ptr_null(r);
	portq_client_t *c = client_new(NULL, 2000, 1, 0);
	ck_assert_int_eq(portq_query_port(c, 22, NULL, NULL), PORTQ_EINVAL);
	ck_assert_int_eq(portq_query_port(c, 65536, NULL, &r), PORTQ_EINVAL);
	ck_assert_int_eq(portq_query_port(c, 22, "icmp", &r), PORTQ_EINVAL);
	ck_assert(strstr(portq_client_error(c), "icmp") != NULL);
	ck_assert_int_eq(portq_query_name(c, "", NULL, &r), PORTQ_EINVAL);
	ck_assert_int_eq(portq_query_name(c, NULL, NULL, &r), PORTQ_EINVAL);
	ck_assert_int_eq(portq_query_range(c, 10, 9, NULL, 0, 0, &r), PORTQ_EINVAL);
	ck_assert_int_eq(portq_query_search(c, "", NULL, 0, 0, &r), PORTQ_EINVAL);
	ck_assert_ptr_null(r);
	portq_client_free(c);
	portq_client_free(NULL);
	portq_result_free(NULL);
	ck_assert_str_eq(portq_client_error(NULL), "no client handle");

	portq_options_t o;
	memset(&o, 0, sizeof(o));
	o.config_file = "";
	const char *bad[] = { "127.0.0.1:0", "127.0.0.1:65536", "[::1", "[::1]x", "a b", "," };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.servers = bad[i];
		c = (portq_client_t *)1;
		ck_assert_msg(portq_client_new(&c, &o) == PORTQ_EINVAL, "accepted %s", bad[i]);
		ck_assert_ptr_null(c);
	}
	ck_assert_int_eq(portq_client_new(NULL, NULL), PORTQ_EINVAL);
	o.servers = NULL;
	o.timeout_ms = -1;
	ck_assert_int_eq(portq_client_new(&c, &o), PORTQ_EINVAL);
}
END_TEST

/* ---- shutdown ----------------------------------------------------------- */

START_TEST(daemon_stops_cleanly)
{
	portqd_process_t d;
	portqd_process_start(&d, "127.0.0.1:0", csv_args);
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", d.port);
	portq_client_t *c = client_new(list, 2000, 1, 0);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_info(c, &r), PORTQ_OK);
	portq_result_free(r);
	portq_client_free(c);
	ck_assert_int_eq(portqd_process_stop(&d), 0);
}
END_TEST

static Suite *
libportq_suite(void)
{
	Suite *s = suite_create("libportq");
	TCase *tc = tcase_create("api");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, port_free_block_and_neighbours);
	tcase_add_test(tc, range_neighbour_on_both_sides);
	tcase_add_test(tc, name_lookup);
	tcase_add_test(tc, range_paging);
	tcase_add_test(tc, search_paging);
	tcase_add_test(tc, info_items);
	tcase_add_test(tc, bad_arguments);
	suite_add_tcase(s, tc);

	tc = tcase_create("shutdown");
	tcase_add_test(tc, daemon_stops_cleanly);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = libportq_suite };
