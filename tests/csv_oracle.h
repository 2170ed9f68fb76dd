/*
 * csv_oracle.h -- the IANA CSV read independently of srv/, for the tests
 * that check the server's and the client's answers against the file
 * itself (the client suites, test_parity, test_nss), and lookups
 * drawn from it at random.
 */
#ifndef PORTQ_TESTS_CSV_ORACLE_H
#define PORTQ_TESTS_CSV_ORACLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	char *name, *proto, *desc;  /* as in the file; "" when empty */
	int has_port;               /* a name-only row has none */
	unsigned lo, hi;            /* the port, or the range "lo-hi" */
} csv_row_t;

typedef struct {
	csv_row_t *rows;            /* every data row, in file order */
	size_t n;
	char *text;                 /* the file; the rows' strings point into it */
} csv_oracle_t;

/*
 * Read the CSV at `path` into `t`: RFC 4180 (quoted fields may hold
 * commas, "" and line breaks), LF or CRLF, the header skipped. Fails the
 * calling test if the file cannot be read or holds 10,000 rows or fewer.
 */
void csv_oracle_load(csv_oracle_t *t, const char *path);

/* Free what csv_oracle_load() allocated. */
void csv_oracle_free(csv_oracle_t *t);

/* Whether a row has `name` (ignoring case). */
int csv_oracle_has_name(const csv_oracle_t *t, const char *name);

/* splitmix64: from one seed, the same sequence on every machine. */
typedef struct {
	uint64_t state;             /* the seed to start */
} csv_rng_t;

uint64_t csv_rng_next(csv_rng_t *rng);

/* A number in [0, n), n > 0. */
unsigned csv_rng_below(csv_rng_t *rng, unsigned n);

/* A row drawn uniformly among those with a port (if want_port) and a
 * name (if want_name); t must hold such rows. */
const csv_row_t *csv_oracle_random_row(const csv_oracle_t *t, csv_rng_t *rng,
                                       int want_port, int want_name);

#endif /* PORTQ_TESTS_CSV_ORACLE_H */
