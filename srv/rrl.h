/*
 * rrl.h -- response rate limiting per source prefix, in the spirit of
 * DNS RRL: each IPv4 /24 or IPv6 /56 gets `rate` UDP answers a second
 * (a token bucket holding one second's worth). Past that, every
 * `slip`-th answer is sent truncated (TC, no records: a real client asks
 * again over TCP, which is not limited) and the others are dropped, so a
 * forged source cannot turn portqd into an amplifier.
 *
 * One table per worker: no locks. The table is fixed in size and keyed
 * with a secret random key (SipHash), so a sender cannot choose prefixes
 * that land on another's slots. A prefix keeps its slot as long as its
 * bucket is not full again: only a settled slot is given to another
 * prefix, so being pushed out never refills anyone's bucket. A prefix
 * that finds no settled slot near its hash shares the bucket of the
 * slot its search starts at (see rrl.c).
 */
#ifndef PORTQ_RRL_H
#define PORTQ_RRL_H

#include <stdint.h>
#include <sys/socket.h>

#include "prefix.h"

#define RRL_SLOTS 4096
#define RRL_KEY_BYTES 16            /* SipHash-2-4's key */

typedef enum { RRL_SEND = 0, RRL_SLIP, RRL_DROP } rrl_verdict_t;

typedef struct {
	prefix_t prefix;            /* /24 or /56 */
	uint64_t last_ms;           /* when tokens were last added; 0 = free */
	uint32_t tokens_x1000;      /* thousandths of a token */
	uint32_t limited;           /* answers limited so far, for the slip */
} rrl_slot_t;

typedef struct {
	uint32_t rate;              /* answers a second per prefix; 0 = off */
	uint32_t slip;              /* every slip-th limited answer is sent truncated; 0 = none */
	uint64_t limited, slipped;  /* counters */
	uint8_t key[RRL_KEY_BYTES]; /* the hash key, random per table */
	rrl_slot_t slot[RRL_SLOTS];
} rrl_t;

/*
 * Clear the table, set its rate and slip and draw a new random key.
 * Returns 0, or -1 when no random key could be had (the table must not
 * be used then).
 */
int rrl_init(rrl_t *r, uint32_t rate, uint32_t slip);

/* May an answer go to `sa` at time now_ms (monotonic milliseconds)? */
rrl_verdict_t rrl_check(rrl_t *r, const struct sockaddr *sa, uint64_t now_ms);

/*
 * The slot where the search for `sa`'s prefix starts (0..RRL_SLOTS-1).
 * For tests that need prefixes which meet on the same slots.
 */
unsigned rrl_home(const rrl_t *r, const struct sockaddr *sa);

#endif /* PORTQ_RRL_H */
