/*
 * frame.c -- TCP frame reassembly (see frame.h).
 */
#include "frame.h"
#include "wire.h"

int
portq_frame_next(const uint8_t *buf, size_t len, size_t max_len,
                 const uint8_t **msg, size_t *msg_len)
{
	if (buf == NULL || msg == NULL || msg_len == NULL)
		return PORTQ_EINVAL;
	wire_t r = wire_reader(buf, len);
	uint16_t n = wire_read_u16(&r);
	if (r.error != PORTQ_OK)
		return PORTQ_EAGAIN;
	if (n == 0)
		return PORTQ_EMALFORMED;
	if (n > max_len)
		return PORTQ_ETOOBIG;
	const uint8_t *p = wire_read_span(&r, n);
	if (r.error != PORTQ_OK)
		return PORTQ_EAGAIN;
	*msg = p;
	*msg_len = n;
	return (int)(PORTQ_FRAME_PREFIX + n);
}

int
portq_frame_prefix(uint8_t out[PORTQ_FRAME_PREFIX], size_t msg_len)
{
	if (out == NULL || msg_len == 0 || msg_len > UINT16_MAX)
		return PORTQ_EINVAL;
	wire_t w = wire_writer(out, PORTQ_FRAME_PREFIX);
	wire_write_u16(&w, (uint16_t)msg_len);
	return w.error;
}
