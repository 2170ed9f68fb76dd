/*
 * rrl.c -- response rate limiting (see rrl.h).
 *
 * Two rules keep a sender from getting around its limit by pushing its
 * target out of the table (a prefix coming back used to find a full
 * bucket, so rotating a few prefixes onto the target's slots sent it every
 * answer):
 *
 * - The slot is chosen by SipHash-2-4 under a key drawn at random for
 *   each table, so nobody outside the process can tell which prefixes
 *   share slots. SipHash is the keyed hash made for exactly this
 *   (hash-flooding-proof tables); we take it from libsodium
 *   (crypto_shorthash) rather than carry our own copy: a packaged, tested
 *   implementation and its random source, for one library that Debian
 *   ships everywhere, is cheaper to trust than 60 lines of our own.
 *
 * - A slot changes hands only when it is free or settled: its bucket,
 *   refilled to now, is full, so the prefix that loses it loses nothing it
 *   would not have got back anyway. Knot's RRL does the same (a bucket is
 *   free once a second has passed). When every slot near the hash still
 *   owes tokens, the newcomer takes no slot and draws from the bucket of
 *   its home slot (Knot likewise shares a bucket it just took over): the
 *   owner keeps its debt, the newcomer's answers count against it, and
 *   always against the same bucket, so a prefix without a slot cannot
 *   collect the tokens of all 8 slots by turns.
 */
#include <sodium.h>
#include <string.h>

#include "rrl.h"

#define PROBES 8

_Static_assert(RRL_KEY_BYTES == crypto_shorthash_KEYBYTES, "SipHash-2-4 takes a 16-byte key");
_Static_assert((RRL_SLOTS & (RRL_SLOTS - 1)) == 0, "the slot count is a power of two");

int
rrl_init(rrl_t *r, uint32_t rate, uint32_t slip)
{
	memset(r, 0, sizeof(*r));
	r->rate = rate;
	r->slip = slip;
	if (sodium_init() < 0)
		return -1;
	randombytes_buf(r->key, sizeof(r->key));
	return 0;
}

static unsigned
prefix_home(const rrl_t *r, const prefix_t *p)
{
	uint8_t h[crypto_shorthash_BYTES];
	crypto_shorthash(h, p->b, sizeof(p->b), r->key);
	uint32_t v;
	memcpy(&v, h, sizeof(v));
	return v & (RRL_SLOTS - 1);
}

unsigned
rrl_home(const rrl_t *r, const struct sockaddr *sa)
{
	prefix_t p = prefix_of(sa);
	return prefix_home(r, &p);
}

/* Add the tokens earned since the slot was last seen, up to a full bucket. */
static void
refill(const rrl_t *r, rrl_slot_t *s, uint64_t now_ms)
{
	const uint32_t full = r->rate * 1000;
	uint64_t elapsed = now_ms > s->last_ms ? now_ms - s->last_ms : 0;
	uint64_t earned = elapsed * r->rate;    /* thousandths: rate per 1000 ms */
	s->tokens_x1000 = earned >= full - s->tokens_x1000 ? full :
	                  s->tokens_x1000 + (uint32_t)earned;
	s->last_ms = now_ms;
}

/* Would the slot's bucket be full at now_ms? */
static int
settled(const rrl_t *r, const rrl_slot_t *s, uint64_t now_ms)
{
	uint64_t elapsed = now_ms > s->last_ms ? now_ms - s->last_ms : 0;
	return s->tokens_x1000 + elapsed * r->rate >= (uint64_t)r->rate * 1000;
}

rrl_verdict_t
rrl_check(rrl_t *r, const struct sockaddr *sa, uint64_t now_ms)
{
	if (r->rate == 0)
		return RRL_SEND;
	prefix_t p = prefix_of(sa);
	unsigned home = prefix_home(r, &p);
	now_ms += 1;                        /* 0 marks a free slot */

	/* The prefix's own slot, else a free or the stalest settled one,
	 * else its home slot to share. */
	rrl_slot_t *slot = NULL, *take = NULL;
	for (unsigned i = 0; i < PROBES; i++) {
		rrl_slot_t *s = &r->slot[(home + i) & (RRL_SLOTS - 1)];
		if (s->last_ms == 0) {
			if (take == NULL || take->last_ms != 0)
				take = s;
			continue;
		}
		if (prefix_eq(&s->prefix, &p)) {
			slot = s;
			break;
		}
		if (settled(r, s, now_ms) &&
		    (take == NULL || (take->last_ms != 0 && s->last_ms < take->last_ms)))
			take = s;
	}
	if (slot == NULL && take != NULL) {
		slot = take;
		slot->prefix = p;
		slot->tokens_x1000 = r->rate * 1000;
		slot->last_ms = now_ms;
		slot->limited = 0;
	} else if (slot == NULL) {
		slot = &r->slot[home];          /* shared: it keeps its owner */
	}
	refill(r, slot, now_ms);
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
