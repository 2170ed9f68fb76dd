/*
 * cache.c -- the process-wide answer cache (see cache.h).
 *
 * A chained hash table over the entries (see entry_t). Exact LRU without
 * a use list: each entry has a slot in a table of CACHE_MAX_ENTRIES, and a hit
 * writes the next value of a use clock into the slot's stamp. A hit thus
 * writes one word of a 32 KiB array, where moving the entry to the front
 * of a doubly-linked list wrote into its two neighbours, two more cache
 * misses among megabytes of entries. Eviction wants the smallest stamp:
 * one scan of the stamps keeps the CACHE_VICTIMS oldest entries, taken
 * oldest first by the evictions that follow while their stamps are
 * unchanged. Every entry not among them was used after all of them, so
 * the first unchanged one is the least recently used of all; when none is
 * left, the stamps are scanned again.
 *
 * Everything runs under one mutex: a hit costs a hash, a compare, a copy
 * and a stamp, some tens of nanoseconds. Exact LRU means every hit
 * writes, so a reader-writer lock would not let hits run side by side;
 * the mutex is adaptive (it spins briefly before sleeping in the kernel)
 * because it is never held for longer than a hit, or an insertion and
 * its eviction.
 *
 * The clock is CLOCK_MONOTONIC_COARSE: always answered by the vDSO, never
 * a system call, and its few milliseconds of granularity are nothing
 * against TTLs counted in seconds.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"

#define CACHE_BUCKETS 8192          /* a power of two, twice the entries */
#define CACHE_VICTIMS 64            /* oldest entries kept by one scan */

/*
 * An entry is two allocations. The first holds what a hit reads: the
 * header, then the key and the view side by side, a hundred bytes or so,
 * so that a few thousand entries stay within a core's cache. The second
 * holds what only a handle's hit copies: the message and the label.
 */
typedef struct entry entry_t;
struct entry {
	entry_t *chain;                 /* next in the bucket */
	uint32_t slot;                  /* in slots[] and stamps[] */
	uint32_t hash;
	uint8_t scope;
	uint8_t tcp;
	uint16_t klen;
	uint32_t vlen;                  /* 0: no view */
	long long born_ms;
	uint8_t *cold;                  /* message, then label */
	uint32_t len;                   /* of the message */
	uint32_t serial;                /* of the answer */
	uint16_t label_size;            /* with its NUL */
	uint8_t data[];                 /* key, view */
};

static uint8_t *
entry_view(entry_t *e)
{
	return e->data + e->klen;
}

static char *
entry_label(entry_t *e)
{
	return (char *)e->cold + e->len;
}

/* An eviction candidate: a slot and its stamp when it was collected. */
typedef struct {
	uint64_t stamp;
	uint32_t slot;
} victim_t;

typedef struct {
	char *servers;                  /* NULL: free slot */
	uint32_t serial;
	int has_serial;
} scope_t;

static pthread_mutex_t lock = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
static entry_t *buckets[CACHE_BUCKETS];
static entry_t *slots[CACHE_MAX_ENTRIES];   /* NULL: free */
static uint64_t stamps[CACHE_MAX_ENTRIES];  /* last use; 0: free */
static uint32_t free_slots[CACHE_MAX_ENTRIES];
static size_t n_free = (size_t)-1;          /* -1: free_slots[] not set up */
static uint64_t use_clock;
static victim_t victims[CACHE_VICTIMS];     /* oldest last */
static size_t n_victims;
static size_t n_entries, n_bytes;
static scope_t scopes[CACHE_MAX_SCOPES];

long long
cache_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t
cache_key(uint8_t *key, uint8_t opcode, const portq_question_t *q)
{
	/* Every field of the question, packed by hand: the wire cursor's
	 * checks cost more than the rest of a cached lookup's key. */
	key[0] = opcode;
	key[1] = q->transport;
	key[2] = q->qflags;
	key[3] = (uint8_t)(q->port_lo >> 8);
	key[4] = (uint8_t)q->port_lo;
	key[5] = (uint8_t)(q->port_hi >> 8);
	key[6] = (uint8_t)q->port_hi;
	key[7] = (uint8_t)(q->offset >> 24);
	key[8] = (uint8_t)(q->offset >> 16);
	key[9] = (uint8_t)(q->offset >> 8);
	key[10] = (uint8_t)q->offset;
	key[11] = (uint8_t)(q->limit >> 8);
	key[12] = (uint8_t)q->limit;
	key[13] = q->text_len;
	memcpy(key + 14, q->text, q->text_len);
	return 14 + (size_t)q->text_len;
}

/* Eight bytes at a time with a 64-bit mix (splitmix64's constants): a
 * byte-wise hash is a chain of dependent multiplies as long as the key. */
static uint32_t
key_hash(int scope, const uint8_t *key, size_t klen)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)scope ^ ((uint64_t)klen << 40);
	size_t i = 0;
	for (; i + 8 <= klen; i += 8) {
		uint64_t w;
		memcpy(&w, key + i, sizeof(w));
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 31;
	}
	uint64_t w = 0;
	if (i < klen && klen >= 8)
		memcpy(&w, key + klen - 8, sizeof(w));   /* the last 8, overlapping */
	else
		for (; i < klen; i++)
			w = (w << 8) | key[i];
	h = (h ^ w) * 0x94d049bb133111ebULL;
	h ^= h >> 29;
	return (uint32_t)(h ^ (h >> 32));
}

static void
slot_take(entry_t *e)
{
	if (n_free == (size_t)-1) {
		for (size_t i = 0; i < CACHE_MAX_ENTRIES; i++)
			free_slots[i] = (uint32_t)(CACHE_MAX_ENTRIES - 1 - i);
		n_free = CACHE_MAX_ENTRIES;
	}
	e->slot = free_slots[--n_free];    /* the caller made room */
	slots[e->slot] = e;
	stamps[e->slot] = ++use_clock;
}

static void
use_touch(entry_t *e)
{
	stamps[e->slot] = ++use_clock;
}

static void
entry_drop(entry_t *e)
{
	entry_t **pp = &buckets[e->hash & (CACHE_BUCKETS - 1)];
	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	slots[e->slot] = NULL;
	stamps[e->slot] = 0;
	free_slots[n_free++] = e->slot;
	n_entries--;
	n_bytes -= e->len + e->vlen;
	free(e->cold);
	free(e);
}

static void
victim_swap(size_t a, size_t b)
{
	victim_t t = victims[a];
	victims[a] = victims[b];
	victims[b] = t;
}

/* Restore the max-heap below position i, among the first n. */
static void
victim_sift_down(size_t i, size_t n)
{
	for (;;) {
		size_t big = i, l = 2 * i + 1, r = l + 1;
		if (l < n && victims[l].stamp > victims[big].stamp)
			big = l;
		if (r < n && victims[r].stamp > victims[big].stamp)
			big = r;
		if (big == i)
			return;
		victim_swap(i, big);
		i = big;
	}
}

/*
 * victims[]: the CACHE_VICTIMS entries with the smallest stamps, largest
 * first (evict_one() takes from the end). A max-heap of the smallest seen
 * so far while scanning, then sorted: O(n log k) whatever the order.
 */
static void
victims_collect(void)
{
	size_t n = 0;
	for (uint32_t i = 0; i < CACHE_MAX_ENTRIES; i++) {
		uint64_t st = stamps[i];
		if (st == 0)
			continue;
		if (n < CACHE_VICTIMS) {
			size_t at = n++;
			victims[at] = (victim_t){ st, i };
			while (at > 0 && victims[(at - 1) / 2].stamp < st) {
				victim_swap(at, (at - 1) / 2);
				at = (at - 1) / 2;
			}
		} else if (st < victims[0].stamp) {
			victims[0] = (victim_t){ st, i };
			victim_sift_down(0, n);
		}
	}
	/* Heap sort: ascending; then reversed, so the oldest is last. */
	for (size_t end = n; end > 1; end--) {
		victim_swap(0, end - 1);
		victim_sift_down(0, end - 1);
	}
	for (size_t a = 0, b = n; a + 1 < b; a++, b--)
		victim_swap(a, b - 1);
	n_victims = n;
}

/* Drop the least recently used entry; there is one. */
static void
evict_one(void)
{
	for (int scans = 0; scans < 2; scans++) {
		while (n_victims > 0) {
			const victim_t *v = &victims[--n_victims];
			/* Used again since, or dropped and its slot reused: not
			 * the oldest any more. */
			if (slots[v->slot] != NULL && stamps[v->slot] == v->stamp) {
				entry_drop(slots[v->slot]);
				return;
			}
		}
		victims_collect();
	}
}

static void
drop_scope(int scope)
{
	for (size_t i = 0; i < CACHE_MAX_ENTRIES; i++)
		if (slots[i] != NULL && (scope < 0 || slots[i]->scope == scope))
			entry_drop(slots[i]);
	n_victims = 0;
}

static void
drop_all(void)
{
	drop_scope(-1);
	for (int i = 0; i < CACHE_MAX_SCOPES; i++) {
		free(scopes[i].servers);
		scopes[i].servers = NULL;
		scopes[i].has_serial = 0;
	}
}

/* The slot of a server list; -1 if it has none and `add` is 0. */
static int
scope_find(const char *servers, int add)
{
	int free_slot = -1;
	for (int i = 0; i < CACHE_MAX_SCOPES; i++) {
		if (scopes[i].servers == NULL) {
			if (free_slot < 0)
				free_slot = i;
		} else if (strcmp(scopes[i].servers, servers) == 0) {
			return i;
		}
	}
	if (!add)
		return -1;
	if (free_slot < 0) {
		drop_all();       /* a process juggling more server lists: rare */
		free_slot = 0;
	}
	if ((scopes[free_slot].servers = strdup(servers)) == NULL)
		return -1;
	scopes[free_slot].has_serial = 0;
	return free_slot;
}

static entry_t *
entry_find(int scope, uint32_t h, const uint8_t *key, size_t klen)
{
	for (entry_t *e = buckets[h & (CACHE_BUCKETS - 1)]; e != NULL; e = e->chain)
		if (e->hash == h && e->scope == scope && e->klen == klen &&
		    memcmp(e->data, key, klen) == 0)
			return e;
	return NULL;
}

/* The entry of the key if it is younger than ttl_s at now; under the lock. */
static entry_t *
fresh_find(const char *scope, const uint8_t *key, size_t klen, int ttl_s, long long now)
{
	int s = scope_find(scope, 0);
	entry_t *e = s < 0 ? NULL : entry_find(s, key_hash(s, key, klen), key, klen);
	if (e == NULL || now - e->born_ms >= (long long)ttl_s * 1000)
		return NULL;
	return e;
}

cache_found_t
cache_get(const char *scope, const uint8_t *key, size_t klen, int ttl_s, long long now_ms,
          cache_view_fn fn, void *ctx, cache_msg_t *m)
{
	if (ttl_s <= 0 || klen == 0)
		return CACHE_MISS;
	cache_found_t found = CACHE_MISS;
	pthread_mutex_lock(&lock);
	entry_t *e = fresh_find(scope, key, klen, ttl_s, now_ms);
	if (e != NULL && fn != NULL && e->vlen > 0) {
		fn(ctx, entry_view(e), e->vlen);
		found = CACHE_VIEW;
	} else if (e != NULL && m == NULL) {
		found = CACHE_MESSAGE;
	} else if (e != NULL && e->len <= m->cap) {
		memcpy(m->msg, e->cold, e->len);
		m->len = e->len;
		memcpy(m->label, entry_label(e), e->label_size);
		m->tcp = e->tcp;
		found = CACHE_MESSAGE;
	}
	if (found != CACHE_MISS)
		use_touch(e);
	pthread_mutex_unlock(&lock);
	return found;
}

static void
bounds_keep(void)
{
	while (n_entries > 0 && n_bytes > CACHE_MAX_BYTES)
		evict_one();
}

/* Put n in e's place in its bucket and its slot. */
static void
entry_replace(entry_t *e, entry_t *n)
{
	entry_t **pp = &buckets[e->hash & (CACHE_BUCKETS - 1)];
	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = n;
	slots[n->slot] = n;
}

void
cache_view_attach(const char *scope, const uint8_t *key, size_t klen, uint32_t serial,
                  const uint8_t *view, size_t len)
{
	if (klen == 0 || len == 0 || len > CACHE_MAX_BYTES)
		return;
	pthread_mutex_lock(&lock);
	int s = scope_find(scope, 0);
	entry_t *e = s < 0 ? NULL : entry_find(s, key_hash(s, key, klen), key, klen);
	/* The entry grows by the view: a new allocation in its place, so
	 * that key and view stay side by side; the message stays. */
	entry_t *n = NULL;
	if (e != NULL && e->serial == serial)
		n = malloc(sizeof(*n) + e->klen + len);
	if (n != NULL) {
		*n = *e;
		n->vlen = (uint32_t)len;
		memcpy(n->data, e->data, e->klen);
		memcpy(entry_view(n), view, len);
		entry_replace(e, n);
		n_bytes = n_bytes - e->vlen + len;
		free(e);
		bounds_keep();
	}
	pthread_mutex_unlock(&lock);
}

void
cache_put(const char *scope, const uint8_t *key, size_t klen, uint32_t serial,
          const uint8_t *msg, size_t len, const char *label, int tcp, int keep,
          const uint8_t *view, size_t vlen)
{
	if (vlen > CACHE_MAX_BYTES)
		vlen = 0;                 /* no view rather than no answer */
	pthread_mutex_lock(&lock);
	int s = scope_find(scope, keep);
	if (s >= 0) {
		if (scopes[s].has_serial && scopes[s].serial != serial)
			drop_scope(s);
		scopes[s].serial = serial;
		scopes[s].has_serial = 1;
	}
	if (s < 0 || !keep || klen == 0 || len > CACHE_MAX_BYTES)
		goto out;
	uint32_t h = key_hash(s, key, klen);
	entry_t *old = entry_find(s, h, key, klen);
	if (old != NULL)
		entry_drop(old);
	if (n_entries == CACHE_MAX_ENTRIES)
		evict_one();          /* room in the slot table */
	size_t label_size = strnlen(label, RESOLVE_LABEL_MAX - 1) + 1;
	entry_t *e = malloc(sizeof(*e) + klen + vlen);
	uint8_t *cold = malloc(len + label_size);
	if (e == NULL || cold == NULL) {
		free(e);
		free(cold);
		goto out;
	}
	e->cold = cold;
	e->hash = h;
	e->scope = (uint8_t)s;
	e->tcp = tcp != 0;
	e->klen = (uint16_t)klen;
	e->len = (uint32_t)len;
	e->serial = serial;
	e->vlen = (uint32_t)vlen;
	e->label_size = (uint16_t)label_size;
	e->born_ms = cache_now_ms();
	memcpy(e->data, key, klen);
	if (vlen > 0)
		memcpy(entry_view(e), view, vlen);
	memcpy(e->cold, msg, len);
	memcpy(entry_label(e), label, label_size - 1);
	entry_label(e)[label_size - 1] = '\0';
	e->chain = buckets[h & (CACHE_BUCKETS - 1)];
	buckets[h & (CACHE_BUCKETS - 1)] = e;
	slot_take(e);
	n_entries++;
	n_bytes += len + vlen;
	bounds_keep();
out:
	pthread_mutex_unlock(&lock);
}

void
cache_flush(void)
{
	pthread_mutex_lock(&lock);
	drop_all();
	pthread_mutex_unlock(&lock);
}

void
cache_fork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

void
cache_fork_parent(void)
{
	pthread_mutex_unlock(&lock);
}

void
cache_fork_child(void)
{
	/* Held by the thread that forked, which in the child has another
	 * thread ID: a new mutex rather than an unlock by a stranger. */
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&lock, &attr);
	pthread_mutexattr_destroy(&attr);
}

size_t
cache_count(void)
{
	pthread_mutex_lock(&lock);
	size_t n = n_entries;
	pthread_mutex_unlock(&lock);
	return n;
}
