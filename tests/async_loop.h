/*
 * async_loop.h -- the scaffold of the libuv suites (test_async,
 * test_resolve): a loop with a ticking timer, an async handle on it, the
 * outcome a query's callback saw, and one query run to its end.
 */
#ifndef PORTQ_ASYNC_LOOP_H
#define PORTQ_ASYNC_LOOP_H

#include <uv.h>

#include "portq_async.h"

/* What one async query's callback saw. */
typedef struct {
	int called;
	int status;
	portq_result_t *result;
	char error[512];
} outcome_t;

/* A loop with a ticking timer, so that a bounded wait can look at the clock. */
typedef struct {
	uv_loop_t loop;
	uv_timer_t tick;
} test_loop_t;

/* Count of outcomes whose callback ran, for loop_until(). */
extern int outcomes_done;

void on_outcome(int status, portq_result_t *result, const char *error, void *arg);
/* on_outcome(), and outcomes_done counted. */
void on_counted(int status, portq_result_t *result, const char *error, void *arg);
/* Counts the closes in *(int *)arg. */
void on_async_closed(portq_async_t *a, void *arg);

void loop_open(test_loop_t *l);
/* Run until *done reaches `want` or timeout_ms pass; returns *done >= want. */
int loop_until(test_loop_t *l, const int *done, int want, int timeout_ms);
/* Close the async handle and the loop; every handle must be gone. */
void loop_close(test_loop_t *l, portq_async_t *a);
/* A handle on l for servers (NULL: the fixture's server), no config file. */
portq_async_t *async_new(test_loop_t *l, const char *servers, int timeout_ms, int attempts,
                         int tcp);

/*
 * One PORT query on a loop and a handle of its own (async_new's
 * arguments), run until its callback ran, within 5 s: what that saw in
 * *o, and the handle and the loop closed. Returns the ms from the query
 * to its outcome.
 */
long long async_port_once(const char *servers, int timeout_ms, int attempts, int tcp,
                          unsigned port, const char *proto, outcome_t *o);

#endif
