/*
 * port_oracle.h -- the port-state rule, written here apart from
 * srv/registry.c, for the suites that check the registry's answers about
 * a port against it (test_registry on entries, test_snapshot on the raw
 * CSV): a port's state is the strongest claim of any record for its
 * transport that covers it.
 */
#ifndef PORTQ_PORT_ORACLE_H
#define PORTQ_PORT_ORACLE_H

#include <stdint.h>

/* Whether a record for transport `record_tp` speaks for a question about `tp`. */
int port_oracle_matches(uint8_t tp, uint8_t record_tp);

/* A record with status st covers ports lo..hi: each keeps the stronger claim. */
void port_oracle_claim(uint8_t *state, unsigned lo, unsigned hi, uint8_t st);

/* Whether a port in state st is free: listed nowhere, or listed unassigned. */
int port_oracle_free(uint8_t st);

#endif
