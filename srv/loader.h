/*
 * loader.h -- what the file parsers (load_*.c) share with the builder.
 * Internal to srv/: a parser turns its format into reg_row_t rows and
 * hands each to reg_load_add(); the builder copies what it keeps.
 */
#ifndef PORTQ_LOADER_H
#define PORTQ_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "registry.h"

/* Text borrowed from the file being parsed; need not be NUL-terminated. */
typedef struct {
	const char *p;
	size_t n;
} reg_text_t;

typedef struct {
	uint32_t line;
	uint16_t port_lo, port_hi;
	uint8_t  has_port;
	uint8_t  transport;
	uint8_t  status;
#define REG_ROW_TEXT(m, api, wire, what) reg_text_t m;
	PORTQ_TEXT_FIELDS(REG_ROW_TEXT)  /* name, description, ... (fields.h) */
	reg_text_t aliases[PORTQ_MAX_ALIASES];
	uint8_t  n_aliases;
} reg_row_t;

typedef struct {
	reg_builder_t *b;
	reg_source_t *src;
	reg_error_t *err;
	const char *path;
	uint8_t origin;
} reg_load_t;

/* Copy a row into the builder. PORTQ_OK, or PORTQ_ENOMEM (err is set). */
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

int load_csv(reg_load_t *ld, const char *data, size_t len);
int load_xml(reg_load_t *ld, const char *data, size_t len);
int load_services(reg_load_t *ld, const char *data, size_t len);
int load_local(reg_load_t *ld, const char *data, size_t len);

#endif /* PORTQ_LOADER_H */
