/*
 * test_getservby.c -- portq_getservbyname() and portq_getservbyport(),
 * plain and reentrant, through the default client (client/servent.c,
 * client/default.c) against the real portqd; the answers are checked
 * against the CSV.
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
#include <pthread.h>
#include <stdalign.h>

#include "check_main.h"
#include "client_fixture.h"
#include "fake_server.h"

/* ---- libc-style lookups --------------------------------------------- */

START_TEST(servbyport_protocols)
{
	csv_load();
	const row_t *ssh = row_named("ssh", "tcp");
	ck_assert_ptr_nonnull(ssh);

	struct servent *se = portq_getservbyport(htons((uint16_t)ssh->lo), "tcp");
	ck_assert_ptr_nonnull(se);
	ck_assert_str_eq(se->s_name, "ssh");
	ck_assert_str_eq(se->s_proto, "tcp");
	ck_assert_int_eq(ntohs((uint16_t)se->s_port), (int)ssh->lo);
	ck_assert_ptr_nonnull(se->s_aliases);
	ck_assert_ptr_null(se->s_aliases[0]);

	const row_t *sft = row_named("sftsrv", "udp");
	ck_assert_ptr_nonnull(sft);
	se = portq_getservbyport(htons((uint16_t)sft->lo), "udp");
	ck_assert_ptr_nonnull(se);
	ck_assert_str_eq(se->s_name, "sftsrv");
	ck_assert_str_eq(se->s_proto, "udp");

	/* Any protocol: the registry's first record, with its own protocol. */
	se = portq_getservbyport(htons((uint16_t)ssh->lo), NULL);
	ck_assert_ptr_nonnull(se);
	ck_assert_str_eq(se->s_name, "ssh");
	ck_assert_str_eq(se->s_proto, ssh->proto);

	/* A free port, and a protocol portq does not carry: no entry. */
	csv_load();
	ck_assert(port_free(293));
	errno = EINVAL;
	ck_assert_ptr_null(portq_getservbyport(htons(293), NULL));
	ck_assert_int_eq(errno, 0);
	ck_assert_ptr_null(portq_getservbyport(htons(22), "icmp"));
}
END_TEST

START_TEST(servbyname_protocols)
{
	csv_load();
	const row_t *sft = row_named("sftsrv", NULL);
	ck_assert_ptr_nonnull(sft);
	struct servent *se = portq_getservbyname("sftsrv", NULL);
	ck_assert_ptr_nonnull(se);
	ck_assert_str_eq(se->s_name, "sftsrv");
	ck_assert_int_eq(ntohs((uint16_t)se->s_port), (int)sft->lo);
	ck_assert_str_eq(se->s_proto, sft->proto);

	const row_t *http = row_named("http", "udp");
	ck_assert_ptr_nonnull(http);
	se = portq_getservbyname("HTTP", "udp");     /* names ignore case */
	ck_assert_ptr_nonnull(se);
	ck_assert_str_eq(se->s_name, "http");
	ck_assert_str_eq(se->s_proto, "udp");
	ck_assert_int_eq(ntohs((uint16_t)se->s_port), (int)http->lo);

	ck_assert_ptr_null(row_named("no-such-service-here", NULL));
	errno = EINVAL;
	ck_assert_ptr_null(portq_getservbyname("no-such-service-here", NULL));
	ck_assert_int_eq(errno, 0);
	ck_assert_ptr_null(portq_getservbyname(NULL, "tcp"));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(servby_reentrant)
{
	struct servent se, *res = &se;
	char buf[1024], tiny[4];

	ck_assert_int_eq(portq_getservbyname_r("sftsrv", "tcp", &se, buf, sizeof(buf), &res), 0);
	ck_assert_ptr_eq(res, &se);
	ck_assert_str_eq(se.s_name, "sftsrv");
	ck_assert_str_eq(se.s_proto, "tcp");
	/* Every string of the entry lives in the caller's buffer. */
	ck_assert(se.s_name >= buf && se.s_name < buf + sizeof(buf));
	ck_assert(se.s_proto >= buf && se.s_proto < buf + sizeof(buf));
	ck_assert((char *)se.s_aliases >= buf && (char *)se.s_aliases < buf + sizeof(buf));

	ck_assert_int_eq(portq_getservbyport_r(htons(1303), "udp", &se, buf, sizeof(buf), &res), 0);
	ck_assert_ptr_eq(res, &se);
	ck_assert_int_eq(ntohs((uint16_t)se.s_port), 1303);

	res = &se;
	ck_assert_int_eq(portq_getservbyport_r(htons(1303), "udp", &se, tiny, sizeof(tiny), &res),
	                 ERANGE);
	ck_assert_ptr_null(res);
	res = &se;
	ck_assert_int_eq(portq_getservbyname_r("sftsrv", NULL, &se, tiny, sizeof(tiny), &res),
	                 ERANGE);
	ck_assert_ptr_null(res);

	/* Exactly the room it takes (the alias array's NULL, "sftsrv", "tcp")
	 * and one byte less, each from the network and from the cache. */
	alignas(char *) char exact[sizeof(char *) + 7 + 4];
	for (size_t first = 0; first < 2; first++) {
		portq_cache_flush();
		for (size_t k = 0; k < 2; k++) {
			size_t room = sizeof(exact) - (k == first);
			int want = room < sizeof(exact) ? ERANGE : 0;
			res = &se;
			ck_assert_int_eq(portq_getservbyname_r("sftsrv", "tcp", &se, exact, room,
			                                       &res), want);
			ck_assert_ptr_eq(res, want == 0 ? &se : NULL);
			if (want == 0) {
				ck_assert_str_eq(se.s_name, "sftsrv");
				ck_assert_str_eq(se.s_proto, "tcp");
				ck_assert_ptr_null(se.s_aliases[0]);
			}
		}
	}

	res = &se;
	ck_assert_int_eq(portq_getservbyport_r(htons(293), NULL, &se, buf, sizeof(buf), &res), 0);
	ck_assert_ptr_null(res);
	ck_assert_int_eq(portq_getservbyname_r("sftsrv", NULL, NULL, buf, sizeof(buf), &res),
	                 EINVAL);
	ck_assert_int_eq(portq_getservbyname_r("sftsrv", NULL, &se, buf, sizeof(buf), NULL),
	                 EINVAL);
}
END_TEST

typedef struct {
	struct servent *se;
	char name[32];
} thread_out_t;

static void *
lookup_thread(void *arg)
{
	thread_out_t *o = arg;
	o->se = portq_getservbyname("sftsrv", "tcp");
	if (o->se != NULL)
		snprintf(o->name, sizeof(o->name), "%s", o->se->s_name);
	return NULL;
}

START_TEST(servby_thread_local)
{
	/* Each thread gets its own storage: the pointers differ. */
	thread_out_t out[2];
	pthread_t t[2];
	memset(out, 0, sizeof(out));
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, lookup_thread, &out[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_ptr_nonnull(out[0].se);
	ck_assert_ptr_nonnull(out[1].se);
	ck_assert_ptr_ne(out[0].se, out[1].se);
	ck_assert_str_eq(out[0].name, "sftsrv");
	ck_assert_str_eq(out[1].name, "sftsrv");
	struct servent *mine = portq_getservbyname("sftsrv", "tcp");
	ck_assert_ptr_nonnull(mine);
	ck_assert_ptr_ne(mine, out[0].se);
}
END_TEST

/* ---- the default client ---------------------------------------------- */

#define SOURCE_QUERIES 50

/*
 * The default client (getservby*(), and so the NSS module) sends each
 * query from a new socket: a new source port each time, so that an
 * off-path forger must guess the port with the ID every time. On 71efc69
 * all 50 came from one port (a socket kept for 100 queries).
 */
static const char *
source_ports_run(char *why, size_t len)
{
	counter_t k;
	counter_start(&k);
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", k.port);
	setenv("PORTQ_SERVER", list, 1);
	portq_config_reload();
	portq_cache_set_ttl(0);
	struct servent se, *res;
	char buf[1024];
	for (int i = 0; i < SOURCE_QUERIES; i++)
		(void)portq_getservbyport_r(htons(4000), "tcp", &se, buf, sizeof(buf), &res);
	int queries = k.queries;
	counter_stop(&k);
	int distinct = 0;
	for (int i = 0; i < queries && i < COUNTER_PORTS_MAX; i++) {
		int seen = 0;
		for (int j = 0; j < i && !seen; j++)
			seen = k.from_ports[j] == k.from_ports[i];
		distinct += !seen;
	}
	/* The kernel picks each port at random among some 28,000: a repeat
	 * or two is chance, not reuse. */
	if (queries != SOURCE_QUERIES || distinct < SOURCE_QUERIES - 5) {
		snprintf(why, len, "%d queries from %d distinct source ports", queries,
		         distinct);
		return why;
	}
	return NULL;
}

START_TEST(default_source_port_per_query)
{
	child_expect(source_ports_run);
}
END_TEST

static Suite *
getservby_suite(void)
{
	Suite *s = suite_create("getservby");
	TCase *tc = tcase_create("libc");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, servbyport_protocols);
	tcase_add_test(tc, servbyname_protocols);
	tcase_add_test(tc, servby_reentrant);
	tcase_add_test(tc, servby_thread_local);
	suite_add_tcase(s, tc);

	tc = tcase_create("default");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, default_source_port_per_query);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = getservby_suite };
