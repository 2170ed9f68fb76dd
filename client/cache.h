/*
 * cache.h -- libportq's answer cache: one per process, shared by every
 * handle and by the getservby*() functions, behind one mutex.
 *
 * An entry is an answer message as it came off the wire, with the server
 * that sent it, keyed by the server list that was asked (the "scope": two
 * handles on different servers never share answers) and the query's
 * opcode and question bytes. The wire form is kept rather than a decoded
 * result so that every hit gives the caller a result of its own to free.
 * An entry may also hold a "view": a derived form of the answer that its
 * user (servent.c: a struct servent ready to copy out) attached to it, so
 * that a hit costs a copy, not a decoding. The view lives and dies with
 * its entry: TTL, serial changes, eviction and flushes treat both as one.
 *
 * Lifetime: an entry is used while it is younger than the asking handle's
 * TTL. Every answer that comes from the network carries its registry
 * serial; one that differs from the serial of the scope's cached answers
 * drops all of them (the registry was reloaded, and answers from two
 * registries must not mix). Size: at most CACHE_MAX_ENTRIES entries and
 * CACHE_MAX_BYTES of messages; the least recently used go first.
 */
#ifndef PORTQ_CLIENT_CACHE_H
#define PORTQ_CLIENT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "resolve.h"

#define CACHE_MAX_ENTRIES 4096
#define CACHE_MAX_BYTES   (4u << 20)
#define CACHE_MAX_SCOPES  8         /* more server lists flush everything */
#define CACHE_KEY_MAX     (1 + PORTQ_QUESTION_MIN + PORTQ_TEXT_MAX)  /* opcode, question */

/*
 * The key of a query: its opcode and every field of its question, packed
 * (the wire's order, not necessarily its form), into key[0..CACHE_KEY_MAX).
 * Returns the length, never 0.
 */
size_t cache_key(uint8_t *key, uint8_t opcode, const portq_question_t *q);

/*
 * A hit on a view: called under the cache's lock with the view's bytes;
 * it must copy what it needs and nothing else (no cache call, no
 * blocking).
 */
typedef void (*cache_view_fn)(void *ctx, const uint8_t *view, size_t len);

/*
 * The cache's clock, in milliseconds: CLOCK_MONOTONIC_COARSE, read
 * through the vDSO (no system call).
 */
long long cache_now_ms(void);

/* Where a hit's message goes (cache_get), and what came with it. */
typedef struct {
	uint8_t *msg;               /* in: room for the message, cap bytes */
	size_t cap;
	size_t len;                 /* out: the message's length */
	char label[RESOLVE_LABEL_MAX];   /* out: the server that sent it */
	int tcp;                    /* out: whether it came over TCP */
} cache_msg_t;

/* What cache_get() found. */
typedef enum {
	CACHE_MISS = 0,             /* no answer younger than the TTL */
	CACHE_VIEW,                 /* its view, given to fn */
	CACHE_MESSAGE               /* the message, copied into m (if m) */
} cache_found_t;

/*
 * One look, under one lock, for the answer to `key` no older than ttl_s
 * seconds at `now_ms` (a cache_now_ms() reading the caller just made, and
 * may use for its own checks). If it has a view and fn is not NULL:
 * fn(ctx, view, len), CACHE_VIEW. Else CACHE_MESSAGE, with the message
 * copied into *m when m is not NULL (the caller without a buffer then
 * knows to ask again with one). Allocates nothing and makes no system
 * call.
 */
cache_found_t cache_get(const char *scope, const uint8_t *key, size_t klen, int ttl_s,
                        long long now_ms, cache_view_fn fn, void *ctx, cache_msg_t *m);

/*
 * Note an answer from the network, under one lock: first drop the
 * scope's entries if their serial is not `serial`, then keep msg[0..len)
 * under the key (replacing an older answer), with view[0..vlen) beside it
 * when vlen > 0, unless `keep` is 0. Memory running out only means the
 * answer is not kept.
 */
void cache_put(const char *scope, const uint8_t *key, size_t klen, uint32_t serial,
               const uint8_t *msg, size_t len, const char *label, int tcp, int keep,
               const uint8_t *view, size_t vlen);

/*
 * Attach view[0..len) to the kept answer to `key` if that answer carries
 * registry serial `serial` (the view was made from an answer of the same
 * registry, so it says the same); replaces an older view. No entry, an
 * entry of another serial, or memory running out: nothing is attached.
 */
void cache_view_attach(const char *scope, const uint8_t *key, size_t klen,
                       uint32_t serial, const uint8_t *view, size_t len);

/* Drop every entry of every scope. */
void cache_flush(void);

/*
 * fork() (fork.c): prepare takes the cache's lock, so that no thread is
 * inside the cache when the process is copied; parent releases it; child
 * sets it up afresh, unheld, with every entry kept (they are whole).
 */
void cache_fork_prepare(void);
void cache_fork_parent(void);
void cache_fork_child(void);

/* Entries held now (for tests). */
size_t cache_count(void);

#endif /* PORTQ_CLIENT_CACHE_H */
