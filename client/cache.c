/*
 * cache.c -- the process-wide answer cache (see cache.h).
 *
 * A chained hash table for lookups and one doubly-linked list in order of
 * use for eviction, both over the same entries; one allocation per entry
 * holds its key and its message. Everything runs under one mutex: a hit
 * costs a hash, a compare and a copy, far below the round trip it saves,
 * so finer locking would buy nothing measurable.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"

#define CACHE_BUCKETS 8192          /* a power of two, twice the entries */

typedef struct entry entry_t;
struct entry {
	entry_t *chain;                 /* next in the bucket */
	entry_t *newer, *older;         /* the use list */
	uint32_t hash;
	uint8_t scope;
	uint8_t tcp;
	uint16_t klen;
	uint32_t len;
	long long born_ms;
	char label[RESOLVE_LABEL_MAX];
	uint8_t data[];                 /* key, then message */
};

typedef struct {
	char *servers;                  /* NULL: free slot */
	uint32_t serial;
	int has_serial;
} scope_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry_t *buckets[CACHE_BUCKETS];
static entry_t *newest, *oldest;
static size_t n_entries, n_bytes;
static scope_t scopes[CACHE_MAX_SCOPES];

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t
cache_key(uint8_t *key, uint8_t opcode, const portq_question_t *q)
{
	wire_t w = wire_writer(key, CACHE_KEY_MAX);
	wire_write_u8(&w, opcode);
	portq_question_write(&w, q);
	return w.error == PORTQ_OK ? wire_used(&w) : 0;
}

static uint32_t
key_hash(int scope, const uint8_t *key, size_t klen)
{
	uint32_t h = 2166136261u ^ (uint32_t)scope;     /* FNV-1a */
	for (size_t i = 0; i < klen; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

static void
use_unlink(entry_t *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		newest = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		oldest = e->newer;
	e->newer = e->older = NULL;
}

static void
use_push(entry_t *e)
{
	e->older = newest;
	e->newer = NULL;
	if (newest != NULL)
		newest->newer = e;
	newest = e;
	if (oldest == NULL)
		oldest = e;
}

static void
entry_drop(entry_t *e)
{
	entry_t **pp = &buckets[e->hash & (CACHE_BUCKETS - 1)];
	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	use_unlink(e);
	n_entries--;
	n_bytes -= e->len;
	free(e);
}

static void
drop_scope(int scope)
{
	for (entry_t *e = oldest, *next; e != NULL; e = next) {
		next = e->newer;
		if (scope < 0 || e->scope == scope)
			entry_drop(e);
	}
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

int
cache_get(const char *scope, const uint8_t *key, size_t klen, int ttl_s,
          uint8_t *msg, size_t cap, size_t *len, char label[RESOLVE_LABEL_MAX],
          int *tcp)
{
	if (ttl_s <= 0 || klen == 0)
		return 0;
	int hit = 0;
	pthread_mutex_lock(&lock);
	int s = scope_find(scope, 0);
	entry_t *e = s < 0 ? NULL : entry_find(s, key_hash(s, key, klen), key, klen);
	if (e != NULL && now_ms() - e->born_ms < (long long)ttl_s * 1000 && e->len <= cap) {
		memcpy(msg, e->data + e->klen, e->len);
		*len = e->len;
		memcpy(label, e->label, RESOLVE_LABEL_MAX);
		*tcp = e->tcp;
		use_unlink(e);
		use_push(e);
		hit = 1;
	}
	pthread_mutex_unlock(&lock);
	return hit;
}

void
cache_put(const char *scope, const uint8_t *key, size_t klen, uint32_t serial,
          const uint8_t *msg, size_t len, const char *label, int tcp, int keep)
{
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
	entry_t *e = malloc(sizeof(*e) + klen + len);
	if (e == NULL)
		goto out;
	e->hash = h;
	e->scope = (uint8_t)s;
	e->tcp = tcp != 0;
	e->klen = (uint16_t)klen;
	e->len = (uint32_t)len;
	e->born_ms = now_ms();
	snprintf(e->label, sizeof(e->label), "%s", label);
	memcpy(e->data, key, klen);
	memcpy(e->data + klen, msg, len);
	e->chain = buckets[h & (CACHE_BUCKETS - 1)];
	buckets[h & (CACHE_BUCKETS - 1)] = e;
	use_push(e);
	n_entries++;
	n_bytes += len;
	while (n_entries > CACHE_MAX_ENTRIES || n_bytes > CACHE_MAX_BYTES)
		entry_drop(oldest);
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

size_t
cache_count(void)
{
	pthread_mutex_lock(&lock);
	size_t n = n_entries;
	pthread_mutex_unlock(&lock);
	return n;
}
