/*
 * fuzz_registry.c -- one registry parser (chosen at build time with
 * FUZZ_FORMAT), with checks on every record it accepted; on some inputs
 * also indexing and a few lookups.
 *
 * Building a registry costs the same few milliseconds for any input (it
 * fills tables for all 65,536 ports and five protocols), which held the
 * parsers to 80-260 inputs a second. So the builder runs on one input in
 * FUZZ_BUILD_EVERY, picked by a hash of the input's bytes: the choice is
 * the same every time an input is run, so a builder crash reproduces from
 * its file alone, and mutations of any input keep reaching the builder.
 * The corpus replay in CTest (FUZZ_REPLAY) builds every input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "utf8.h"

#ifndef FUZZ_BUILD_EVERY
#define FUZZ_BUILD_EVERY 256
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
want_build(const uint8_t *data, size_t size)
{
#ifdef FUZZ_REPLAY
	(void)data;
	(void)size;
	return 1;
#else
	uint32_t h = 2166136261u;          /* FNV-1a */
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	return h % FUZZ_BUILD_EVERY == 0;
#endif
}

static void
check_text(const char *s)
{
	if (s == NULL || portq_utf8_valid_prefix(s, strlen(s)) != strlen(s))
		abort();                /* loaded text is always UTF-8 */
}

/* What every accepted record must satisfy, checked without indexing. */
static void
check_loaded(const reg_builder_t *b, size_t size)
{
	size_t n = reg_builder_count(b), range_slots = 0;
	for (size_t i = 0; i < n; i++) {
		const reg_entry_t *e = reg_builder_entry(b, i);
		if (e->port_lo > e->port_hi || e->transport >= PORTQ_TP_COUNT ||
		    e->status > PORTQ_ST_LOCAL || e->n_aliases > PORTQ_MAX_ALIASES ||
		    e->line == 0 || e->line > size + 1 || e->seq != i ||
		    strcmp(e->source, "fuzz") != 0)
			abort();
#define ENTRY_TEXT(m, api, wire, what) e->m,
		const char *fields[] = { PORTQ_TEXT_FIELDS(ENTRY_TEXT) };
#undef ENTRY_TEXT
		for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
			check_text(fields[k]);
		for (unsigned k = 0; k < e->n_aliases; k++)
			check_text(e->aliases[k]);
		if (e->has_port && e->port_lo != e->port_hi)
			range_slots += (size_t)e->port_hi - e->port_lo + 1;
	}
	if (range_slots > REG_MAX_RANGE_SLOTS)
		abort();
	if (reg_builder_entry(b, n) != NULL)
		abort();
}

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
	check_loaded(b, size);
	if (!want_build(data, size)) {
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
