/*
 * clock.c -- the monotonic clock in milliseconds (see clock.h).
 */
#include <time.h>

#include "clock.h"

static long long
read_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long
portq__clock_ms(void)
{
	return read_ms(CLOCK_MONOTONIC);
}

long long
portq__clock_coarse_ms(void)
{
	return read_ms(CLOCK_MONOTONIC_COARSE);
}
