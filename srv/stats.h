/*
 * stats.h -- portqd's counters as the operator sees them: summed over
 * the workers for the INFO answer and for the line SIGUSR1 logs.
 */
#ifndef PORTQ_STATS_H
#define PORTQ_STATS_H

#include "worker.h"

/*
 * The INFO hook (answer_info_fn): append the server's counters, summed
 * over every worker, to w as INFO items. arg is the answering worker_t.
 * Any worker's thread: the counters are read with relaxed atomics.
 */
void stats_info(wire_t *w, void *arg);

/* Log the server's counters at level info (what SIGUSR1 does). */
void stats_log(const server_t *s);

#endif /* PORTQ_STATS_H */
