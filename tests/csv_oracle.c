/*
 * csv_oracle.c -- the IANA CSV read independently of srv/ (see
 * csv_oracle.h).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "csv_oracle.h"

void
csv_oracle_load(csv_oracle_t *t, const char *path)
{
	memset(t, 0, sizeof(*t));
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *text = malloc((size_t)size + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)size, f), (size_t)size);
	text[size] = '\0';
	fclose(f);
	t->text = text;

	size_t cap = 20000;
	t->rows = calloc(cap, sizeof(*t->rows));
	ck_assert_ptr_nonnull(t->rows);
	char *field[12];
	int nf = 0, header = 1;
	char *out = text, *start = text;
	for (char *p = text; p <= text + size; ) {
		if (*p == '"') {      /* a quoted part: "" is a quote */
			for (p++; p < text + size; p++) {
				if (*p == '"' && p[1] == '"') {
					*out++ = '"';
					p++;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					*out++ = *p;
				}
			}
			continue;
		}
		if (*p == ',' || *p == '\n' || *p == '\r' || p == text + size) {
			char ch = *p;
			*out = '\0';
			if (nf < 12)
				field[nf++] = start;
			out = start = p + 1;
			if (ch == '\r' && p[1] == '\n')
				out = start = ++p + 1;
			if (ch != ',') {
				if (!header && nf >= 4) {
					ck_assert_uint_lt(t->n, cap);
					csv_row_t *r = &t->rows[t->n++];
					r->name = field[0];
					r->proto = field[2];
					r->desc = field[3];
					r->has_port = field[1][0] != '\0';
					if (r->has_port) {
						r->lo = r->hi = (unsigned)strtoul(field[1], NULL, 10);
						char *dash = strchr(field[1], '-');
						if (dash != NULL)
							r->hi = (unsigned)strtoul(dash + 1, NULL, 10);
					}
				}
				header = 0;
				nf = 0;
			}
			p++;
			continue;
		}
		*out++ = *p++;
	}
	ck_assert_uint_gt(t->n, 10000);
}

void
csv_oracle_free(csv_oracle_t *t)
{
	free(t->rows);
	free(t->text);
	memset(t, 0, sizeof(*t));
}

int
csv_oracle_has_name(const csv_oracle_t *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcasecmp(t->rows[i].name, name) == 0)
			return 1;
	return 0;
}

uint64_t
csv_rng_next(csv_rng_t *rng)
{
	uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

unsigned
csv_rng_below(csv_rng_t *rng, unsigned n)
{
	return (unsigned)(csv_rng_next(rng) % n);
}

const csv_row_t *
csv_oracle_random_row(const csv_oracle_t *t, csv_rng_t *rng, int want_port,
                      int want_name)
{
	for (;;) {    /* most rows qualify: this ends after a few draws */
		const csv_row_t *r = &t->rows[csv_rng_below(rng, (unsigned)t->n)];
		if ((!want_port || r->has_port) && (!want_name || r->name[0] != '\0'))
			return r;
	}
}
