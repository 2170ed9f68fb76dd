/*
 * wire.h -- the bounds-checked cursor through which every byte of a portq
 * message is read or written.
 *
 * Modelled on the sticky-error idea of Knot DNS's wire_ctx: the first
 * out-of-bounds access sets `error`, every later read returns zero and
 * every later write does nothing, so a decoder runs straight through and
 * checks `error` once at the end. Multi-byte integers are big-endian
 * (network order). No other file does pointer arithmetic on packets.
 */
#ifndef PORTQ_WIRE_H
#define PORTQ_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "error.h"

typedef struct {
	uint8_t *base;   /* start of the buffer */
	uint8_t *pos;    /* next byte to read or write */
	uint8_t *end;    /* one past the last usable byte */
	int error;       /* PORTQ_OK, or the first failure (sticky) */
} wire_t;

/* A cursor for writing into buf[0..len). */
static inline wire_t
wire_writer(uint8_t *buf, size_t len)
{
	wire_t w = { buf, buf, buf + len, PORTQ_OK };
	return w;
}

/* A cursor for reading buf[0..len); the buffer is never written. */
static inline wire_t
wire_reader(const uint8_t *buf, size_t len)
{
	/* The cast is safe: the read functions never store through base. */
	uint8_t *b = (uint8_t *)(uintptr_t)buf;
	wire_t w = { b, b, b + len, PORTQ_OK };
	return w;
}

static inline size_t wire_left(const wire_t *w) { return (size_t)(w->end - w->pos); }
static inline size_t wire_used(const wire_t *w) { return (size_t)(w->pos - w->base); }

/* Reserve n bytes; on failure the cursor turns to its error state. */
static inline int
wire_need(wire_t *w, size_t n, int err)
{
	if (w->error != PORTQ_OK)
		return 0;
	if (wire_left(w) < n) {
		w->error = err;
		return 0;
	}
	return 1;
}

static inline uint8_t
wire_read_u8(wire_t *w)
{
	if (!wire_need(w, 1, PORTQ_ESHORT))
		return 0;
	return *w->pos++;
}

static inline uint16_t
wire_read_u16(wire_t *w)
{
	if (!wire_need(w, 2, PORTQ_ESHORT))
		return 0;
	uint16_t v = (uint16_t)((w->pos[0] << 8) | w->pos[1]);
	w->pos += 2;
	return v;
}

static inline uint32_t
wire_read_u32(wire_t *w)
{
	if (!wire_need(w, 4, PORTQ_ESHORT))
		return 0;
	uint32_t v = ((uint32_t)w->pos[0] << 24) | ((uint32_t)w->pos[1] << 16) |
	             ((uint32_t)w->pos[2] << 8) | (uint32_t)w->pos[3];
	w->pos += 4;
	return v;
}

/*
 * Borrow n bytes in place: returns a pointer into the buffer, valid as long
 * as the buffer is, or NULL (and the error state) when fewer remain.
 */
static inline const uint8_t *
wire_read_span(wire_t *w, size_t n)
{
	if (!wire_need(w, n, PORTQ_ESHORT))
		return NULL;
	const uint8_t *p = w->pos;
	w->pos += n;
	return p;
}

static inline void
wire_skip(wire_t *w, size_t n)
{
	(void)wire_read_span(w, n);
}

static inline void
wire_write_u8(wire_t *w, uint8_t v)
{
	if (!wire_need(w, 1, PORTQ_ESPACE))
		return;
	*w->pos++ = v;
}

static inline void
wire_write_u16(wire_t *w, uint16_t v)
{
	if (!wire_need(w, 2, PORTQ_ESPACE))
		return;
	w->pos[0] = (uint8_t)(v >> 8);
	w->pos[1] = (uint8_t)v;
	w->pos += 2;
}

static inline void
wire_write_u32(wire_t *w, uint32_t v)
{
	if (!wire_need(w, 4, PORTQ_ESPACE))
		return;
	w->pos[0] = (uint8_t)(v >> 24);
	w->pos[1] = (uint8_t)(v >> 16);
	w->pos[2] = (uint8_t)(v >> 8);
	w->pos[3] = (uint8_t)v;
	w->pos += 4;
}

static inline void
wire_write_bytes(wire_t *w, const void *src, size_t n)
{
	if (n == 0 || !wire_need(w, n, PORTQ_ESPACE))
		return;
	memcpy(w->pos, src, n);
	w->pos += n;
}

/* Overwrite a 16-bit value at an absolute offset already written. */
static inline void
wire_patch_u16(wire_t *w, size_t offset, uint16_t v)
{
	if (w->error != PORTQ_OK || offset + 2 > wire_used(w))
		return;
	w->base[offset] = (uint8_t)(v >> 8);
	w->base[offset + 1] = (uint8_t)v;
}

/* Move the write position back to an earlier offset (drop what follows). */
static inline void
wire_rewind(wire_t *w, size_t offset)
{
	if (offset <= wire_used(w)) {
		w->pos = w->base + offset;
		w->error = PORTQ_OK;
	}
}

#endif /* PORTQ_WIRE_H */
