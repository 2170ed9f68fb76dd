/*
 * fuzz_registry.c -- one registry parser (chosen at build time with
 * FUZZ_FORMAT), then indexing and a few lookups on whatever it accepted.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	int rc = reg_builder_load_mem(b, "fuzz", (const char *)data, size, FUZZ_FORMAT, &err);
	if (rc != PORTQ_OK) {
		/* A refusal must say where: "fuzz:" and a reason. */
		if (strncmp(err.text, "fuzz", 4) != 0)
			abort();
		reg_builder_free(b);
		return 0;
	}
	registry_t *r = registry_build(b, 1);
	if (r == NULL)
		return 0;
	const reg_entry_t *out[8];
	portq_context_t ctx;
	for (size_t i = 0; i < registry_count(r) && i < 64; i++) {
		const reg_entry_t *e = registry_entry(r, i);
		if (e->has_port) {
			if (registry_by_port(r, e->port_lo, e->transport, out, 8) == 0)
				abort();        /* every record is found by its port */
			registry_context(r, e->port_hi, PORTQ_TP_ANY, &ctx);
		}
		if (e->name[0] && registry_by_name(r, e->name, PORTQ_TP_ANY, out, 8) == 0)
			abort();                /* and by its name */
	}
	registry_range(r, 0, 65535, PORTQ_TP_ANY, 3, out, 8);
	search_query_t sq = { .text = "a", .count_max = SIZE_MAX, .work_max = SEARCH_WORK_MAX };
	registry_search(r, &sq, out, 8);
	registry_free(r);
	return 0;
}
