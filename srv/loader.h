/*
 * loader.h -- the helpers the file parsers (load_*.c) share, and the
 * parsers themselves. Internal to srv/: a parser turns its format into
 * reg_row_t rows (registry.h) and hands each to reg_load_add(), which
 * checks it and gives it to the builder; the builder copies what it
 * keeps. Which parser reads a file is the format table's choice
 * (format.c); nothing here knows the table.
 */
#ifndef PORTQ_LOADER_H
#define PORTQ_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "registry.h"

typedef struct {
	reg_builder_t *b;
	reg_source_t *src;
	reg_error_t *err;
	const char *path;
	uint8_t origin;
} reg_load_t;

/*
 * Check a row and copy it into the builder. PORTQ_OK; PORTQ_EPARSE when
 * a field is too long for the wire or not UTF-8, or the ranges cover too
 * many ports; PORTQ_ENOMEM. err is set on failure.
 */
int reg_load_add(reg_load_t *ld, const reg_row_t *row);

/* Set "path:line: reason" and return PORTQ_EPARSE. */
int reg_load_fail(reg_load_t *ld, uint32_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* PORTQ_OK, or "path:line: NUL byte" for binary data (PORTQ_EPARSE). */
int reg_load_text_only(reg_load_t *ld, const char *data, size_t len);

/* Note a date ("YYYY-MM-DD...") the file states, keeping the newest. */
void reg_load_date(reg_load_t *ld, reg_text_t date);

/*
 * Parse "N" or "N-M" (0..65535, N <= M). Returns 1 and sets lo/hi, or 0
 * when the text is not a port or range.
 */
int reg_parse_ports(reg_text_t t, uint16_t *lo, uint16_t *hi);

/* Transport from text: "" means all protocols; -1 if unknown. */
int reg_parse_transport(reg_text_t t);

/*
 * The status an IANA row means: named rows are assigned unless their
 * description says "De-registered"; nameless rows are unassigned,
 * de-registered or reserved by what their description says.
 */
uint8_t reg_iana_status(reg_text_t name, reg_text_t description);

reg_text_t reg_text_trim(reg_text_t t);
static inline reg_text_t
reg_text(const char *p, size_t n)
{
	reg_text_t t = { p, n };
	return t;
}

/* The parsers: PORTQ_OK, or the first failure with ld->err set. */
int load_csv(reg_load_t *ld, const char *data, size_t len);
int load_xml(reg_load_t *ld, const char *data, size_t len);
int load_services(reg_load_t *ld, const char *data, size_t len);
int load_local(reg_load_t *ld, const char *data, size_t len);

#endif /* PORTQ_LOADER_H */
