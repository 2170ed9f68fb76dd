/*
 * clock.h -- the one monotonic clock, in milliseconds, for the server,
 * the client library and the tests: deadlines, budgets and ages never
 * read the wall clock, which an administrator or NTP may step.
 */
#ifndef PORTQ_CLOCK_H
#define PORTQ_CLOCK_H

/* Milliseconds of CLOCK_MONOTONIC: the clock of deadlines and budgets. */
long long portq__clock_ms(void);

/*
 * Milliseconds of CLOCK_MONOTONIC_COARSE: read through the vDSO without
 * a system call, but up to a tick (a few ms) behind. For ages measured
 * in seconds (cache entries, health holds), never for a budget.
 */
long long portq__clock_coarse_ms(void);

#endif /* PORTQ_CLOCK_H */
