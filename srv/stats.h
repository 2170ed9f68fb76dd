/*
 * stats.h -- portqd's counters as the operator sees them: one sum over
 * the workers, reported by the INFO answer and by the line SIGUSR1 logs,
 * with the same keys, in the same order, from the same sum.
 */
#ifndef PORTQ_STATS_H
#define PORTQ_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "worker.h"

/* The counters of the server as a whole, reported after the workers'. */
#define SERVER_COUNTERS(X) \
	X(rrl_limited,     "rrl-limited")     /* summed over the workers' RRL tables */ \
	X(rrl_slipped,     "rrl-slipped") \
	X(workers,         "workers") \
	X(reloads,         "reloads") \
	X(reload_failures, "reload-failures") \
	X(reload_timeouts, "reload-timeouts") \
	X(reload_stuck,    "reload-stuck")    /* regload threads given up on, still stuck */ \
	X(uptime,          "uptime")          /* seconds since server_new() */

/* Every counter the server reports, at one moment. */
typedef struct {
	answer_stats_t answers;  /* queries by opcode, answers by rcode, truncated, dropped */
#define X(field, key) uint64_t field;
	WORKER_COUNTERS(X)
	SERVER_COUNTERS(X)
#undef X
} stats_t;

/*
 * Sum the counters of every worker of s, and the server's own, into
 * *sum. Any thread: the counters are read with relaxed atomics, each on
 * its own, so a sum taken under load is not one instant's.
 */
void stats_sum(const server_t *s, stats_t *sum);

/*
 * Call fn(arg, key, value) for each counter of sum, in the order INFO
 * and the log report them: queries-OPCODE..., queries-unknown-opcode,
 * rcode-RCODE..., truncated, dropped, WORKER_COUNTERS, SERVER_COUNTERS.
 */
typedef void (*stats_fn)(void *arg, const char *key, uint64_t value);
void stats_each(const stats_t *sum, stats_fn fn, void *arg);

/* Append each counter of sum to w as an INFO item (key, decimal value). */
void stats_info_write(wire_t *w, const stats_t *sum);

/*
 * Write sum as "key value, key value, ..." into buf[0..cap), NUL-ended,
 * cut short if cap is too small. Returns the length it needed (as
 * snprintf does). STATS_LINE_MAX always suffices.
 */
#define STATS_LINE_MAX 2048
size_t stats_line(const stats_t *sum, char *buf, size_t cap);

/*
 * The INFO hook (answer_info_fn): stats_sum() then stats_info_write().
 * arg is the answering worker_t.
 */
void stats_info(wire_t *w, void *arg);

/*
 * What SIGUSR1 does: log "statistics, serial N: " and stats_line() of
 * stats_sum(), at level info.
 */
void stats_log(const server_t *s);

#endif /* PORTQ_STATS_H */
