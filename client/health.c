/*
 * health.c -- the addresses that timed out lately (see health.h).
 *
 * Each slot is keyed by a 64-bit hash of an address (family, address,
 * port) and holds three atomic words. Slots are taken with a
 * compare-and-swap and never freed, only reused once their hold is long
 * over, so a reader never follows a pointer and a fork() can interrupt
 * nothing that matters. Two writers racing on one slot can at worst leave
 * an address held a moment too long or too short; a lookup then waits
 * once more, or skips once more, within its own bounds.
 */
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "clock.h"
#include "health.h"

typedef struct {
	atomic_uint_least64_t key;     /* 0: free */
	atomic_llong timed_out_at;     /* ms of the last timeout */
	atomic_llong held_until;       /* ms; 0: up */
	atomic_uint fails;             /* timeouts in a row */
} slot_t;

static slot_t slots[HEALTH_SLOTS];

/* FNV-1a over what tells two server addresses apart; never 0. */
static uint64_t
key_of(const struct sockaddr_storage *ss)
{
	const uint8_t *p;
	size_t n;
	uint16_t port;
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		p = s6->sin6_addr.s6_addr;
		n = sizeof(s6->sin6_addr);
		port = s6->sin6_port;
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;
		p = (const uint8_t *)&s4->sin_addr;
		n = sizeof(s4->sin_addr);
		port = s4->sin_port;
	}
	uint64_t h = 0xcbf29ce484222325ULL;
	uint8_t head[3] = { (uint8_t)ss->ss_family, (uint8_t)(port >> 8), (uint8_t)port };
	for (size_t i = 0; i < sizeof(head); i++)
		h = (h ^ head[i]) * 0x100000001b3ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h != 0 ? h : 1;
}

static slot_t *
slot_find(uint64_t key)
{
	for (size_t i = 0; i < HEALTH_SLOTS; i++)
		if (atomic_load_explicit(&slots[i].key, memory_order_acquire) == key)
			return &slots[i];
	return NULL;
}

/* The slot of `key`, taking a free one or one whose hold ended a while
 * ago; NULL when every slot is in use (the address is then not
 * remembered: asked every time, as without this table). */
static slot_t *
slot_take(uint64_t key, long long now)
{
	slot_t *s = slot_find(key);
	if (s != NULL)
		return s;
	for (size_t i = 0; i < HEALTH_SLOTS; i++) {
		uint64_t old = atomic_load_explicit(&slots[i].key, memory_order_acquire);
		long long until = atomic_load_explicit(&slots[i].held_until, memory_order_relaxed);
		/* Free, up, or released from its hold long ago. */
		if (old != 0 && until != 0 && now - until < HEALTH_HOLD_MAX_MS)
			continue;
		if (atomic_compare_exchange_strong(&slots[i].key, &old, key)) {
			atomic_store(&slots[i].fails, 0);
			atomic_store(&slots[i].held_until, 0);
			atomic_store(&slots[i].timed_out_at, 0);
			return &slots[i];
		}
	}
	return slot_find(key);             /* another thread may have taken it */
}

static long long
hold_for(unsigned fails)
{
	long long hold = HEALTH_HOLD_MIN_MS;
	for (unsigned i = 1; i < fails && hold < HEALTH_HOLD_MAX_MS; i++)
		hold *= 2;
	return hold < HEALTH_HOLD_MAX_MS ? hold : HEALTH_HOLD_MAX_MS;
}

int
health_ask(const struct sockaddr_storage *ss, long long *since_ms, long long *hold_ms)
{
	long long now_ms = portq__clock_coarse_ms();
	slot_t *s = slot_find(key_of(ss));
	if (s == NULL)
		return 1;
	long long until = atomic_load_explicit(&s->held_until, memory_order_acquire);
	if (until == 0)
		return 1;
	long long at = atomic_load_explicit(&s->timed_out_at, memory_order_relaxed);
	if (now_ms >= until) {
		/* The hold is over: one probe, the others keep skipping it. */
		long long renewed = now_ms + hold_for(atomic_load(&s->fails));
		if (atomic_compare_exchange_strong(&s->held_until, &until, renewed))
			return 1;
	}
	if (since_ms != NULL)
		*since_ms = now_ms - at;
	if (hold_ms != NULL)
		*hold_ms = hold_for(atomic_load(&s->fails));
	return 0;
}

void
health_timeout(const struct sockaddr_storage *ss)
{
	long long now_ms = portq__clock_coarse_ms();
	slot_t *s = slot_take(key_of(ss), now_ms);
	if (s == NULL)
		return;
	unsigned fails = atomic_fetch_add(&s->fails, 1) + 1;
	atomic_store_explicit(&s->timed_out_at, now_ms, memory_order_relaxed);
	atomic_store_explicit(&s->held_until, now_ms + hold_for(fails), memory_order_release);
}

void
health_answer(const struct sockaddr_storage *ss)
{
	slot_t *s = slot_find(key_of(ss));
	if (s == NULL)
		return;
	atomic_store(&s->fails, 0);
	atomic_store_explicit(&s->held_until, 0, memory_order_release);
}
