/*
 * arena.h -- a grow-only allocator for a registry's strings and tables.
 *
 * Everything a registry holds is freed at once when it is replaced, so a
 * chain of large blocks beats one malloc per string.
 */
#ifndef PORTQ_ARENA_H
#define PORTQ_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block_t;

typedef struct {
	arena_block_t *head;
	size_t total;           /* bytes handed out, for statistics */
} arena_t;

void arena_init(arena_t *a);
/* n bytes aligned for any object, or NULL when memory runs out. */
void *arena_alloc(arena_t *a, size_t n);
/* A NUL-terminated copy of s[0..len), or NULL when memory runs out. */
char *arena_strndup(arena_t *a, const char *s, size_t len);
void arena_free(arena_t *a);

#endif /* PORTQ_ARENA_H */
