/*
 * reg_testutil.h -- what the registry suites (test_loaders, test_registry,
 * test_snapshot) share: fixture paths, loading files into a registry and
 * finding one entry. Header-only because every test_*.c is built alone.
 */
#ifndef PORTQ_REG_TESTUTIL_H
#define PORTQ_REG_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "format.h"
#include "registry.h"

#define FIXTURE(name) PORTQ_FIXTURES "/" name

#define CSV_SMALL      FIXTURE("iana-small.csv")
#define XML_SMALL      FIXTURE("iana-small.xml")
#define SERVICES_SMALL FIXTURE("services-small")
#define LOCAL_SMALL    FIXTURE("local-small.conf")

/* The whole file, NUL-terminated (the NUL is not counted in *len). */
static inline char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	for (;;) {
		if (n + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		if (got == 0)
			break;
		n += got;
	}
	ck_assert_int_eq(ferror(f), 0);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * Load `n` files (format detected) into one registry. On the first
 * failure the builder is freed, as the API requires, and NULL comes back
 * with *rc and err saying why.
 */
static inline registry_t *
load_files(const char *const *paths, size_t n, int *rc, reg_error_t *err)
{
	reg_builder_t *b = reg_builder_new();
	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < n; i++) {
		*rc = reg_builder_load(b, paths[i], REG_FMT_AUTO, err);
		if (*rc != PORTQ_OK) {
			reg_builder_free(b);
			return NULL;
		}
	}
	registry_t *r = registry_build(b, 1);
	ck_assert_ptr_nonnull(r);
	return r;
}

/* One file that must load. */
static inline registry_t *
load_ok(const char *path)
{
	reg_error_t err;
	int rc;
	registry_t *r = load_files(&path, 1, &rc, &err);
	ck_assert_msg(r != NULL, "%s: rc %d: %s", path, rc, err.text);
	return r;
}

/*
 * The one entry with this name, port (-1: no port), transport and origin.
 * Fails the test unless exactly one entry matches.
 */
static inline const reg_entry_t *
find_one(const registry_t *r, const char *name, long port, uint8_t tp,
         uint8_t origin)
{
	const reg_entry_t *hit = NULL;
	size_t hits = 0;
	for (size_t i = 0; i < registry_count(r); i++) {
		const reg_entry_t *e = registry_entry(r, i);
		if (strcmp(e->name, name) != 0 || e->transport != tp ||
		    e->origin != origin)
			continue;
		if (port < 0 ? e->has_port : !e->has_port || e->port_lo != port)
			continue;
		hit = e;
		hits++;
	}
	ck_assert_msg(hits == 1, "%zu entries for \"%s\" port %ld tp %u origin %u",
	              hits, name, port, tp, origin);
	return hit;
}

#endif /* PORTQ_REG_TESTUTIL_H */
