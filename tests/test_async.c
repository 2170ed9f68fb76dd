/*
 * test_async.c -- the async API on a libuv loop (client/async.c):
 * every query type, failing and silent servers, TCP, closing with
 * queries out, host names; the blocking and the async API share the
 * cache.
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

#include "async_loop.h"
#include "check_main.h"
#include "client_fixture.h"
#include "clock.h"
#include "loopback.h"

START_TEST(async_queries)
{
	portq_cache_flush();
	test_loop_t l;
	loop_open(&l);
	portq_async_t *a = async_new(&l, NULL, 2000, 2, 0);
	outcome_t o[6];
	memset(o, 0, sizeof(o));
	outcomes_done = 0;
	ck_assert_int_eq(portq_async_port(a, 1303, "udp", on_counted, &o[0]), PORTQ_OK);
	ck_assert_int_eq(portq_async_name(a, "sftsrv", NULL, on_counted, &o[1]), PORTQ_OK);
	ck_assert_int_eq(portq_async_port(a, 293, NULL, on_counted, &o[2]), PORTQ_OK);
	/* 200 records do not fit a datagram: truncated, then asked over TCP. */
	ck_assert_int_eq(portq_async_range(a, 0, 65535, NULL, 0, 200, on_counted, &o[3]),
	                 PORTQ_OK);
	ck_assert_int_eq(portq_async_search(a, "backup", NULL, 0, 5, on_counted, &o[4]),
	                 PORTQ_OK);
	ck_assert_int_eq(portq_async_info(a, on_counted, &o[5]), PORTQ_OK);
	/* Never from inside the call that started the query. */
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(o[i].called, 0);
	ck_assert(loop_until(&l, &outcomes_done, 6, 10000));
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(o[i].called, 1);
		ck_assert_msg(o[i].status == PORTQ_OK, "query %d: %s", i, o[i].error);
		ck_assert_str_eq(o[i].error, "");
		ck_assert_int_eq(o[i].result->cached, 0);
		ck_assert_str_eq(o[i].result->server, server_env);
	}
	ck_assert_uint_eq(o[0].result->n_entries, 1);
	ck_assert_str_eq(o[0].result->entries[0].name, "sftsrv");
	ck_assert_str_eq(o[0].result->entries[0].protocol, "udp");
	ck_assert_int_eq(o[0].result->tcp, 0);
	ck_assert_uint_ge(o[1].result->n_entries, 2);
	ck_assert_int_eq(o[2].result->port->has_free, 1);
	ck_assert_uint_eq(o[3].result->n_entries, 200);
	ck_assert_int_eq(o[3].result->tcp, 1);
	ck_assert_int_eq(o[3].result->more, 1);
	ck_assert_uint_eq(o[4].result->n_entries, 5);
	ck_assert_uint_gt(o[5].result->n_info, 2);
	for (int i = 0; i < 6; i++)
		portq_result_free(o[i].result);

	/* The blocking API and the async API share the cache. */
	outcome_t hit;
	memset(&hit, 0, sizeof(hit));
	outcomes_done = 0;
	ck_assert_int_eq(portq_async_port(a, 1303, "udp", on_counted, &hit), PORTQ_OK);
	ck_assert_int_eq(hit.called, 0);
	ck_assert(loop_until(&l, &outcomes_done, 1, 5000));
	ck_assert_int_eq(hit.status, PORTQ_OK);
	ck_assert_int_eq(hit.result->cached, 1);
	ck_assert_str_eq(hit.result->entries[0].name, "sftsrv");
	portq_result_free(hit.result);
	portq_client_t *c = client_new(NULL, 2000, 1, 0);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_name(c, "sftsrv", NULL, &r), PORTQ_OK);
	ck_assert_int_eq(r->cached, 1);
	portq_result_free(r);
	portq_client_free(c);

	/* Bad arguments: refused at once, no callback. */
	ck_assert_int_eq(portq_async_port(a, 65536, NULL, on_counted, &hit), PORTQ_EINVAL);
	ck_assert_int_eq(portq_async_port(a, 22, "icmp", on_counted, &hit), PORTQ_EINVAL);
	ck_assert_int_eq(portq_async_port(a, 22, NULL, NULL, &hit), PORTQ_EINVAL);
	ck_assert_int_eq(portq_async_port(NULL, 22, NULL, on_counted, &hit), PORTQ_EINVAL);
	ck_assert_int_eq(portq_async_name(a, "", NULL, on_counted, &hit), PORTQ_EINVAL);
	ck_assert_int_eq(portq_async_name(a, NULL, NULL, on_counted, &hit), PORTQ_EINVAL);
	ck_assert_int_eq(portq_async_range(a, 10, 9, NULL, 0, 0, on_counted, &hit), PORTQ_EINVAL);
	ck_assert_int_eq(portq_async_search(a, "", NULL, 0, 0, on_counted, &hit), PORTQ_EINVAL);
	ck_assert_int_eq(hit.called, 1);
	loop_close(&l, a);
	ck_assert_int_eq(portq_async_new(NULL, &l.loop, NULL), PORTQ_EINVAL);
	ck_assert_int_eq(portq_async_new(&a, NULL, NULL), PORTQ_EINVAL);
	ck_assert_ptr_null(a);
	portq_async_close(NULL, NULL, NULL);
}
END_TEST

START_TEST(async_failing_servers)
{
	portq_cache_flush();
	unsigned silent_port;
	int silent = loopback_socket_bound(SOCK_DGRAM, &silent_port);
	char dead[64], quiet[64], list[256];
	snprintf(dead, sizeof(dead), "127.0.0.1:%u", loopback_port_closed(SOCK_DGRAM));
	snprintf(quiet, sizeof(quiet), "127.0.0.1:%u", silent_port);

	/* A closed port, a server that never answers, then the real one. */
	snprintf(list, sizeof(list), "%s,%s,%s", dead, quiet, server_env);
	outcome_t o[3];
	memset(o, 0, sizeof(o));
	async_port_once(list, 150, 1, 0, 1303, "tcp", &o[0]);
	ck_assert_msg(o[0].status == PORTQ_OK, "%s", o[0].error);
	ck_assert_str_eq(o[0].result->server, server_env);
	portq_result_free(o[0].result);

	uint8_t b[512];
	int got = 0;
	for (int i = 0; i < 4 && recv(silent, b, sizeof(b), MSG_DONTWAIT) > 0; i++)
		got++;
	ck_assert_int_eq(got, 1);       /* asked once on the way to the real one */

	/* Another silent one, never asked before: a timeout per attempt, then
	 * ETIMEDOUT. */
	unsigned silent2_port;
	int silent2 = loopback_socket_bound(SOCK_DGRAM, &silent2_port);
	char quiet2[64];
	snprintf(quiet2, sizeof(quiet2), "127.0.0.1:%u", silent2_port);
	long long took = async_port_once(quiet2, 150, 2, 0, 22, NULL, &o[1]);
	ck_assert_int_eq(o[1].status, PORTQ_ETIMEDOUT);
	ck_assert_ptr_null(o[1].result);
	ck_assert_msg(strstr(o[1].error, "timed out") != NULL, "%s", o[1].error);
	ck_assert_msg(strstr(o[1].error, quiet2) != NULL, "%s", o[1].error);
	ck_assert_int_ge(took, 2 * 150 - 20);
	got = 0;
	for (int i = 0; i < 4 && recv(silent2, b, sizeof(b), MSG_DONTWAIT) > 0; i++)
		got++;
	ck_assert_int_eq(got, 2);       /* both attempts were sent */

	/* Held down by that query once: for 5 s, not once per attempt. */
	async_port_once(quiet2, 150, 2, 0, 22, NULL, &o[1]);
	ck_assert_int_eq(o[1].status, PORTQ_ETIMEDOUT);
	ck_assert_msg(strstr(o[1].error, "asked again 5 s after that") != NULL, "%s",
	              o[1].error);
	close(silent2);

	/* The first silent one timed out a moment ago: held down, not asked,
	 * ETIMEDOUT at once (client.md, "Silent servers"). */
	async_port_once(quiet, 150, 2, 0, 23, NULL, &o[1]);
	ck_assert_int_eq(o[1].status, PORTQ_ETIMEDOUT);
	ck_assert_msg(strstr(o[1].error, "not asked (timed out") != NULL, "%s", o[1].error);
	ck_assert_msg(strstr(o[1].error, quiet) != NULL, "%s", o[1].error);
	got = 0;
	for (int i = 0; i < 4 && recv(silent, b, sizeof(b), MSG_DONTWAIT) > 0; i++)
		got++;
	ck_assert_int_eq(got, 0);

	/* Only the closed port: refused, EIO. */
	async_port_once(dead, 2000, 1, 0, 22, NULL, &o[2]);
	ck_assert_int_eq(o[2].status, PORTQ_EIO);
	ck_assert_msg(strstr(o[2].error, "refused") != NULL, "%s", o[2].error);
	close(silent);
}
END_TEST

START_TEST(async_tcp_and_silent_tcp)
{
	portq_cache_flush();
	outcome_t o[2];
	memset(o, 0, sizeof(o));
	async_port_once(NULL, 2000, 1, 1, 293, NULL, &o[0]);
	ck_assert_msg(o[0].status == PORTQ_OK, "%s", o[0].error);
	ck_assert_int_eq(o[0].result->tcp, 1);
	ck_assert_int_eq(o[0].result->port->has_free, 1);
	portq_result_free(o[0].result);

	/* A listener that accepts (the kernel does) and never answers. */
	unsigned port;
	int fd = loopback_socket_bound(SOCK_STREAM, &port);
	ck_assert_int_eq(listen(fd, 4), 0);
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", port);
	async_port_once(list, 150, 1, 1, 22, NULL, &o[1]);
	ck_assert_int_eq(o[1].status, PORTQ_ETIMEDOUT);
	ck_assert_msg(strstr(o[1].error, "tcp: timed out") != NULL, "%s", o[1].error);
	close(fd);
}
END_TEST

static void
on_then_close(int status, portq_result_t *result, const char *error, void *arg)
{
	on_counted(status, result, error, arg);
	portq_async_t **a = (portq_async_t **)((outcome_t *)arg + 1);
	portq_async_close(*a, NULL, NULL);      /* from inside a callback */
}

START_TEST(async_close_cancels)
{
	portq_cache_flush();
	unsigned port;
	int silent = loopback_socket_bound(SOCK_DGRAM, &port);
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", port);
	test_loop_t l;
	loop_open(&l);
	portq_async_t *a = async_new(&l, list, 5000, 2, 0);
	outcome_t o[2];
	memset(o, 0, sizeof(o));
	outcomes_done = 0;
	ck_assert_int_eq(portq_async_port(a, 22, NULL, on_counted, &o[0]), PORTQ_OK);
	ck_assert_int_eq(portq_async_name(a, "ssh", "tcp", on_counted, &o[1]), PORTQ_OK);
	uv_run(&l.loop, UV_RUN_NOWAIT);       /* the probes are out */
	int closed = 0;
	long long t0 = portq__clock_ms();
	portq_async_close(a, on_async_closed, &closed);
	ck_assert_int_eq(portq_async_port(a, 22, NULL, on_counted, &o[0]), PORTQ_EINVAL);
	ck_assert_int_eq(o[0].called, 0);      /* not from inside close either */
	ck_assert(loop_until(&l, &closed, 1, 2000));
	ck_assert_int_lt(portq__clock_ms() - t0, 1000);     /* no waiting for the timeout */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(o[i].called, 1);
		ck_assert_int_eq(o[i].status, PORTQ_EIO);
		ck_assert_ptr_null(o[i].result);
		ck_assert_str_eq(o[i].error, "cancelled");
	}
	uv_close((uv_handle_t *)&l.tick, NULL);
	uv_run(&l.loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(uv_loop_close(&l.loop), 0);

	/* Closing from inside a query's callback, with another still out. */
	struct {
		outcome_t o;
		portq_async_t *a;
	} first;
	outcome_t second;
	memset(&first, 0, sizeof(first));
	memset(&second, 0, sizeof(second));
	loop_open(&l);
	char two[128];
	snprintf(two, sizeof(two), "%s", server_env);
	first.a = async_new(&l, two, 2000, 1, 0);
	portq_async_t *quiet = async_new(&l, list, 5000, 1, 0);
	outcomes_done = 0;
	ck_assert_int_eq(portq_async_port(first.a, 1303, NULL, on_then_close, &first), PORTQ_OK);
	ck_assert_int_eq(portq_async_port(quiet, 22, NULL, on_counted, &second), PORTQ_OK);
	ck_assert(loop_until(&l, &outcomes_done, 1, 5000));
	ck_assert_int_eq(first.o.status, PORTQ_OK);
	portq_result_free(first.o.result);
	loop_close(&l, quiet);
	ck_assert_int_eq(second.status, PORTQ_EIO);
	close(silent);
}
END_TEST

START_TEST(async_host_names)
{
	portq_cache_flush();
	test_loop_t l;
	loop_open(&l);
	char list[64];
	snprintf(list, sizeof(list), "localhost:%u", server.port);
	portq_async_t *a = async_new(&l, list, 2000, 1, 0);
	outcome_t o[3];
	memset(o, 0, sizeof(o));
	outcomes_done = 0;
	/* Two queries wait for the one resolution. */
	ck_assert_int_eq(portq_async_port(a, 22, "tcp", on_counted, &o[0]), PORTQ_OK);
	ck_assert_int_eq(portq_async_port(a, 23, "tcp", on_counted, &o[1]), PORTQ_OK);
	ck_assert(loop_until(&l, &outcomes_done, 2, 5000));
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(o[i].status == PORTQ_OK, "%s", o[i].error);
		/* localhost may come first as ::1, where nobody listens */
		ck_assert(strstr(o[i].result->server, "127.0.0.1") != NULL);
		portq_result_free(o[i].result);
	}
	loop_close(&l, a);

	/* c-ares refuses .onion itself (RFC 7686): nothing leaves the machine. */
	async_port_once("portq-test.onion", 1000, 1, 0, 22, NULL, &o[2]);
	ck_assert_int_eq(o[2].status, PORTQ_EIO);
	ck_assert_msg(strstr(o[2].error, "resolving portq-test.onion") != NULL, "%s",
	              o[2].error);
}
END_TEST

static Suite *
async_suite(void)
{
	Suite *s = suite_create("async");
	TCase *tc = tcase_create("async");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, async_queries);
	tcase_add_test(tc, async_failing_servers);
	tcase_add_test(tc, async_tcp_and_silent_tcp);
	tcase_add_test(tc, async_close_cancels);
	tcase_add_test(tc, async_host_names);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = async_suite };
