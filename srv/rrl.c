/*
 * rrl.c -- response rate limiting (see rrl.h).
 */
#include <netinet/in.h>
#include <string.h>

#include "rrl.h"

#define PROBES 8

void
rrl_init(rrl_t *r, uint32_t rate, uint32_t slip)
{
	memset(r, 0, sizeof(*r));
	r->rate = rate;
	r->slip = slip;
}

static void
prefix_key(const struct sockaddr *sa, uint8_t key[8])
{
	memset(key, 0, 8);
	const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (sa->sa_family == AF_INET) {
		memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 3);   /* /24 */
		key[7] = 4;
	} else if (IN6_IS_ADDR_V4MAPPED(in6)) {
		/* An IPv4 client of a dual-stack socket is that IPv4 client. */
		memcpy(key, in6->s6_addr + 12, 3);
		key[7] = 4;
	} else {
		memcpy(key, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, 7); /* /56 */
		key[7] = 6;
	}
}

static uint32_t
key_hash(const uint8_t key[8])
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 8; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

rrl_verdict_t
rrl_check(rrl_t *r, const struct sockaddr *sa, uint64_t now_ms)
{
	if (r->rate == 0)
		return RRL_SEND;
	uint8_t key[8];
	prefix_key(sa, key);
	uint32_t h = key_hash(key);
	now_ms += 1;                        /* 0 marks a free slot */

	/* Find the prefix, or take a free or the stalest slot nearby. */
	rrl_slot_t *slot = NULL, *stalest = NULL;
	for (int i = 0; i < PROBES; i++) {
		rrl_slot_t *s = &r->slot[(h + (uint32_t)i) & (RRL_SLOTS - 1)];
		if (s->last_ms != 0 && memcmp(s->key, key, 8) == 0) {
			slot = s;
			break;
		}
		if (stalest == NULL || s->last_ms < stalest->last_ms)
			stalest = s;
	}
	const uint32_t full = r->rate * 1000;
	if (slot == NULL) {
		slot = stalest;
		memcpy(slot->key, key, 8);
		slot->tokens_x1000 = full;
		slot->last_ms = now_ms;
		slot->limited = 0;
	}
	uint64_t elapsed = now_ms > slot->last_ms ? now_ms - slot->last_ms : 0;
	uint64_t refill = elapsed * r->rate;    /* thousandths: rate per 1000 ms */
	slot->tokens_x1000 = refill >= full - slot->tokens_x1000 ? full :
	                     slot->tokens_x1000 + (uint32_t)refill;
	slot->last_ms = now_ms;
	if (slot->tokens_x1000 >= 1000) {
		slot->tokens_x1000 -= 1000;
		return RRL_SEND;
	}
	__atomic_store_n(&r->limited, r->limited + 1, __ATOMIC_RELAXED);
	slot->limited++;
	if (r->slip != 0 && slot->limited % r->slip == 0) {
		__atomic_store_n(&r->slipped, r->slipped + 1, __ATOMIC_RELAXED);
		return RRL_SLIP;
	}
	return RRL_DROP;
}
