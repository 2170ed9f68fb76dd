/*
 * fuzz_frame.c -- TCP frame reassembly: the input is a byte stream cut
 * into chunks of fuzzer-chosen sizes, reassembled the way portqd does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum { MAX_FRAME = 512 };
	uint8_t buf[PORTQ_FRAME_PREFIX + MAX_FRAME];
	size_t len = 0, pos = 0, frames_bytes = 0;
	if (size < 1)
		return 0;
	size_t chunk = (size_t)data[0] % 17 + 1;
	pos = 1;
	while (pos < size) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		if (n > sizeof(buf) - len)
			n = sizeof(buf) - len;
		memcpy(buf + len, data + pos, n);
		len += n;
		pos += n;
		size_t off = 0;
		for (;;) {
			const uint8_t *msg;
			size_t mlen;
			int used = portq_frame_next(buf + off, len - off, MAX_FRAME, &msg, &mlen);
			if (used == PORTQ_EAGAIN)
				break;
			if (used < 0)
				return 0;       /* the server closes the connection */
			if (mlen == 0 || mlen > MAX_FRAME || msg != buf + off + 2 ||
			    (size_t)used != mlen + 2)
				abort();
			off += (size_t)used;
			frames_bytes += (size_t)used;
		}
		memmove(buf, buf + off, len - off);
		len -= off;
		if (len == sizeof(buf))
			abort();            /* a complete frame always fits */
	}
	if (frames_bytes + len != size - 1)
		abort();                    /* every byte is in a frame or pending */
	return 0;
}
