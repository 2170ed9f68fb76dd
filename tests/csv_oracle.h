/*
 * csv_oracle.h -- the IANA CSV read independently of srv/, for the tests
 * that check the server's and the client's answers against the file
 * itself (test_client, test_parity).
 */
#ifndef PORTQ_TESTS_CSV_ORACLE_H
#define PORTQ_TESTS_CSV_ORACLE_H

#include <stddef.h>

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

#endif /* PORTQ_TESTS_CSV_ORACLE_H */
