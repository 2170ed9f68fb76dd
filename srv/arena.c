/*
 * arena.c -- grow-only allocator (see arena.h).
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"

/* Blocks double from the first to the last size: a small file (or a
 * fuzz input) costs a small block, a big registry few blocks. */
#define ARENA_FIRST_BLOCK (8 * 1024)
#define ARENA_BLOCK (256 * 1024)

struct arena_block {
	arena_block_t *next;
	size_t used, size;
	max_align_t data[];
};

void
arena_init(arena_t *a)
{
	a->head = NULL;
	a->total = 0;
}

void *
arena_alloc(arena_t *a, size_t n)
{
	const size_t align = sizeof(max_align_t);
	n = (n + align - 1) & ~(align - 1);
	if (n == 0)
		n = align;
	arena_block_t *b = a->head;
	if (b == NULL || b->size - b->used < n) {
		size_t size = b == NULL ? ARENA_FIRST_BLOCK :
		              b->size >= ARENA_BLOCK / 2 ? ARENA_BLOCK : b->size * 2;
		if (size < n)
			size = n;
		b = malloc(sizeof(*b) + size);
		if (b == NULL)
			return NULL;
		b->size = size;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += n;
	a->total += n;
	return p;
}

char *
arena_strndup(arena_t *a, const char *s, size_t len)
{
	char *p = arena_alloc(a, len + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void
arena_free(arena_t *a)
{
	arena_block_t *b = a->head;
	while (b != NULL) {
		arena_block_t *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
	a->total = 0;
}
