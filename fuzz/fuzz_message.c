/*
 * fuzz_message.c -- the message decoders, as a client reads a response
 * (the proto readers and libportq's result_decode), and the server's
 * whole answer path, as it reads a query. Every OK or NOT-FOUND answer
 * the server writes, zero-padded or not over UDP, the client must read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "format.h"
#include "result.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char registry_csv[] =
	"Service Name,Port Number,Transport Protocol,Description\n"
	"echo,7,tcp,Echo\n" "echo,7,udp,Echo\n" ",8-79,,Unassigned\n"
	"http,80,tcp,World Wide Web HTTP\n" ",81,tcp,Reserved\n"
	"sftsrv,1303,,sftsrv\n" "names-only,,tcp,no port\n";

static registry_t *
fixture(void)
{
	static registry_t *reg;
	if (reg == NULL) {
		reg_builder_t *b = reg_builder_new();
		reg_error_t err;
		if (reg_builder_load_mem(b, "fuzz.csv", registry_csv, sizeof(registry_csv) - 1,
		                         REG_FMT_AUTO, &err) != PORTQ_OK)
			abort();
		reg = registry_build(b, 1);
	}
	return reg;
}

static void
read_response(const uint8_t *data, size_t size)
{
	wire_t r = wire_reader(data, size);
	portq_header_t h;
	portq_question_t q;
	if (portq_header_read(&r, &h) != PORTQ_OK || portq_question_read(&r, &q) != PORTQ_OK)
		return;
	if (h.opcode == PORTQ_OP_PORT) {
		portq_context_t c;
		if (portq_context_read(&r, &c) != PORTQ_OK)
			return;
	}
	if (h.opcode == PORTQ_OP_INFO) {
		portq_str_t k, v;
		for (unsigned i = 0; i < h.ancount; i++)
			if (portq_info_read(&r, &k, &v) != PORTQ_OK)
				return;
		return;
	}
	for (unsigned i = 0; i < (unsigned)h.ancount + h.adcount; i++) {
		portq_record_t rec;
		if (portq_record_read(&r, &rec) != PORTQ_OK)
			return;
		/* Every string must lie inside the input. */
		if (rec.name.len && ((const uint8_t *)rec.name.ptr < data ||
		    (const uint8_t *)rec.name.ptr + rec.name.len > data + size))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[PORTQ_MSG_MAX];
	read_response(data, size);
	portq_result_t *res = NULL;
	size_t used = 0;
	if (result_decode(data, size, "fuzz", size > 2 && (data[2] & 1), &res, &used) == PORTQ_OK) {
		if (used > size)
			abort();
		free(res);
	}

	answer_stats_t st;
	memset(&st, 0, sizeof(st));
	answer_ctx_t ctx = { fixture(), &st, NULL, NULL, size > 1 && (data[1] & 1),
	                     size > 3 && (data[3] & 2) && !(data[1] & 1) };
	size_t max = size > 0 && (data[0] & 1) ? PORTQ_UDP_MAX : PORTQ_MSG_MAX;
	answer_t a = answer_query(&ctx, data, size, out, max);
	size_t n = a.len;
	if (n > max)
		abort();
	if (n > 0) {
		/* What the server writes, its own decoder must read back; the
		 * rcode and flags answer_query() returns are the header's. */
		wire_t r = wire_reader(out, n);
		portq_header_t h;
		if (portq_header_read(&r, &h) != PORTQ_OK || !(h.flags & PORTQ_FLAG_QR) ||
		    h.rcode != a.rcode || h.flags != a.flags)
			abort();
		read_response(out, n);
		if (h.rcode != PORTQ_RC_OK && h.rcode != PORTQ_RC_NOTFOUND)
			return 0;
		if (result_decode(out, n, "fuzz", ctx.stream, &res, &used) != PORTQ_OK || used != n)
			abort();
		free(res);
		/* A UDP answer in a GSO group: zeros up to the group's length. */
		size_t pad = size > 3 ? data[3] : 0;
		if (!ctx.stream && n + pad <= PORTQ_UDP_MAX) {
			memset(out + n, 0, pad);
			if (result_decode(out, n + pad, "fuzz", 0, &res, &used) != PORTQ_OK ||
			    used != n)
				abort();      /* the padding is known as such */
			free(res);
		}
	}
	return 0;
}
