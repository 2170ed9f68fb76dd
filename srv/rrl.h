/*
 * rrl.h -- response rate limiting per source prefix, in the spirit of
 * DNS RRL: each IPv4 /24 or IPv6 /56 gets `rate` UDP answers a second
 * (a token bucket holding one second's worth). Past that, every
 * `slip`-th answer is sent truncated (TC, no records: a real client asks
 * again over TCP, which is not limited) and the others are dropped, so a
 * forged source cannot turn portqd into an amplifier.
 *
 * One table per worker: no locks. The table is fixed in size; when it is
 * full the least recently seen prefix gives up its place.
 */
#ifndef PORTQ_RRL_H
#define PORTQ_RRL_H

#include <stdint.h>
#include <sys/socket.h>

#define RRL_SLOTS 4096

typedef enum { RRL_SEND = 0, RRL_SLIP, RRL_DROP } rrl_verdict_t;

typedef struct {
	uint8_t key[8];             /* /24 or /56 prefix, family in key[7] */
	uint64_t last_ms;           /* when tokens were last added; 0 = free */
	uint32_t tokens_x1000;      /* thousandths of a token */
	uint32_t limited;           /* answers limited so far, for the slip */
} rrl_slot_t;

typedef struct {
	uint32_t rate;              /* answers a second per prefix; 0 = off */
	uint32_t slip;              /* every slip-th limited answer is sent truncated; 0 = none */
	uint64_t limited, slipped;  /* counters */
	rrl_slot_t slot[RRL_SLOTS];
} rrl_t;

void rrl_init(rrl_t *r, uint32_t rate, uint32_t slip);

/* May an answer go to `sa` at time now_ms (monotonic milliseconds)? */
rrl_verdict_t rrl_check(rrl_t *r, const struct sockaddr *sa, uint64_t now_ms);

#endif /* PORTQ_RRL_H */
