/*
 * frame.h -- TCP framing: each message is preceded by its length as a
 * 16-bit big-endian integer (as DNS over TCP does).
 *
 *   +-------+-------+---------------------------+
 *   |    LENGTH     |  message (LENGTH bytes)   |
 *   +-------+-------+---------------------------+
 */
#ifndef PORTQ_FRAME_H
#define PORTQ_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define PORTQ_FRAME_PREFIX 2

/*
 * Find the first complete frame in buf[0..len).
 *
 * On success returns the number of bytes the frame takes (prefix included,
 * so the caller drops that many) and points *msg / *msg_len at the message.
 * Returns PORTQ_EAGAIN when the bytes end before the frame does ("need
 * more", not an error), PORTQ_ETOOBIG when the announced length exceeds
 * max_len, PORTQ_EMALFORMED for a zero length, PORTQ_EINVAL for NULLs.
 */
int portq_frame_next(const uint8_t *buf, size_t len, size_t max_len,
                     const uint8_t **msg, size_t *msg_len);

/* Write the 2-byte prefix for a message of msg_len bytes into out. */
int portq_frame_prefix(uint8_t out[PORTQ_FRAME_PREFIX], size_t msg_len);

#endif /* PORTQ_FRAME_H */
