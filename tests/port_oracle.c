/*
 * port_oracle.c -- the port-state rule for the registry suites.
 */
#include "port_oracle.h"

#include "msg.h"

/* The strength of each state's claim on a port. */
static unsigned
rank(uint8_t st)
{
	static const unsigned r[] = {
		[PORTQ_ST_UNLISTED] = 0, [PORTQ_ST_UNASSIGNED] = 1,
		[PORTQ_ST_DEREGISTERED] = 2, [PORTQ_ST_RESERVED] = 3,
		[PORTQ_ST_ASSIGNED] = 4, [PORTQ_ST_LOCAL] = 5,
	};
	return r[st];
}

int
port_oracle_matches(uint8_t tp, uint8_t record_tp)
{
	return tp == PORTQ_TP_ANY || record_tp == PORTQ_TP_ANY || record_tp == tp;
}

void
port_oracle_claim(uint8_t *state, unsigned lo, unsigned hi, uint8_t st)
{
	for (unsigned p = lo; p <= hi; p++)
		if (rank(st) > rank(state[p]))
			state[p] = st;
}

int
port_oracle_free(uint8_t st)
{
	return st == PORTQ_ST_UNLISTED || st == PORTQ_ST_UNASSIGNED;
}
