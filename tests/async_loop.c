/*
 * async_loop.c -- a libuv loop for the async API's suites (async_loop.h).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "async_loop.h"
#include "client_fixture.h"
#include "clock.h"

void
on_outcome(int status, portq_result_t *result, const char *error, void *arg)
{
	outcome_t *o = arg;
	o->called++;
	o->status = status;
	o->result = result;
	snprintf(o->error, sizeof(o->error), "%s", error);
}

void
on_async_closed(portq_async_t *a, void *arg)
{
	(void)a;
	(*(int *)arg)++;
}

static void
on_tick(uv_timer_t *t)
{
	(void)t;     /* only wakes uv_run(UV_RUN_ONCE) up */
}

void
loop_open(test_loop_t *l)
{
	ck_assert_int_eq(uv_loop_init(&l->loop), 0);
	uv_timer_init(&l->loop, &l->tick);
	uv_timer_start(&l->tick, on_tick, 50, 50);
}

int
loop_until(test_loop_t *l, const int *done, int want, int timeout_ms)
{
	long long deadline = portq__clock_ms() + timeout_ms;
	while (*done < want && portq__clock_ms() < deadline)
		uv_run(&l->loop, UV_RUN_ONCE);
	return *done >= want;
}

void
loop_close(test_loop_t *l, portq_async_t *a)
{
	int closed = 0;
	portq_async_close(a, on_async_closed, &closed);
	portq_async_close(a, on_async_closed, &closed);   /* again: nothing */
	ck_assert(loop_until(l, &closed, 1, 5000));
	ck_assert_int_eq(closed, 1);
	uv_close((uv_handle_t *)&l->tick, NULL);
	for (int i = 0; i < 10 && uv_loop_alive(&l->loop); i++)
		uv_run(&l->loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(uv_loop_close(&l->loop), 0);
}

portq_async_t *
async_new(test_loop_t *l, const char *servers, int timeout_ms, int attempts, int tcp)
{
	portq_options_t o;
	client_options(&o, servers, timeout_ms, attempts, tcp);
	portq_async_t *a = NULL;
	ck_assert_int_eq(portq_async_new(&a, &l->loop, &o), PORTQ_OK);
	ck_assert_ptr_nonnull(a);
	return a;
}

int outcomes_done;

void
on_counted(int status, portq_result_t *result, const char *error, void *arg)
{
	on_outcome(status, result, error, arg);
	outcomes_done++;
}

long long
async_port_once(const char *servers, int timeout_ms, int attempts, int tcp,
                unsigned port, const char *proto, outcome_t *o)
{
	test_loop_t l;
	loop_open(&l);
	portq_async_t *a = async_new(&l, servers, timeout_ms, attempts, tcp);
	outcomes_done = 0;
	long long t0 = portq__clock_ms();
	ck_assert_int_eq(portq_async_port(a, port, proto, on_counted, o), PORTQ_OK);
	ck_assert(loop_until(&l, &outcomes_done, 1, 5000));
	long long took = portq__clock_ms() - t0;
	loop_close(&l, a);
	return took;
}
