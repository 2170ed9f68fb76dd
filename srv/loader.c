/*
 * loader.c -- the helpers the file parsers share (see loader.h): reading
 * ports, protocols and IANA statuses out of text, saying where a file
 * went wrong, and checking each row before the builder copies it.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "loader.h"
#include "utf8.h"

int
reg_load_fail(reg_load_t *ld, uint32_t line, const char *fmt, ...)
{
	char reason[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	/* Reasons quote the file; its control characters stay out of logs. */
	for (char *p = reason; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7F)
			*p = '?';
	if (line > 0)
		snprintf(ld->err->text, sizeof(ld->err->text), "%s:%u: %s",
		         ld->path, line, reason);
	else
		snprintf(ld->err->text, sizeof(ld->err->text), "%s: %s",
		         ld->path, reason);
	return PORTQ_EPARSE;
}

int
reg_load_text_only(reg_load_t *ld, const char *data, size_t len)
{
	const char *nul = memchr(data, '\0', len);
	if (nul == NULL)
		return PORTQ_OK;
	uint32_t line = 1;
	for (const char *p = data; p < nul; p++)
		line += *p == '\n';
	return reg_load_fail(ld, line, "NUL byte: not a text file");
}

reg_text_t
reg_text_trim(reg_text_t t)
{
	while (t.n > 0 && isspace((unsigned char)t.p[0])) {
		t.p++;
		t.n--;
	}
	while (t.n > 0 && isspace((unsigned char)t.p[t.n - 1]))
		t.n--;
	return t;
}

static int
text_is(reg_text_t t, const char *word)
{
	t = reg_text_trim(t);
	return strlen(word) == t.n && strncasecmp(t.p, word, t.n) == 0;
}

static int
text_has(reg_text_t t, const char *word)
{
	size_t w = strlen(word);
	for (size_t i = 0; i + w <= t.n; i++)
		if (strncasecmp(t.p + i, word, w) == 0)
			return 1;
	return 0;
}

uint8_t
reg_iana_status(reg_text_t name, reg_text_t description)
{
	if (reg_text_trim(name).n > 0)
		return text_is(description, "De-registered") ?
		       PORTQ_ST_DEREGISTERED : PORTQ_ST_ASSIGNED;
	if (text_has(description, "unassigned"))
		return PORTQ_ST_UNASSIGNED;
	if (text_has(description, "de-registered"))
		return PORTQ_ST_DEREGISTERED;
	return PORTQ_ST_RESERVED;
}

int
reg_parse_ports(reg_text_t t, uint16_t *lo, uint16_t *hi)
{
	unsigned long v[2] = { 0, 0 };
	int k = 0, digits = 0;
	t = reg_text_trim(t);
	for (size_t i = 0; i < t.n; i++) {
		char c = t.p[i];
		if (c >= '0' && c <= '9') {
			v[k] = v[k] * 10 + (unsigned long)(c - '0');
			if (v[k] > 65535 || ++digits > 5)
				return 0;
		} else if (c == '-' && k == 0 && digits > 0) {
			k = 1;
			digits = 0;
		} else {
			return 0;
		}
	}
	if (digits == 0)
		return 0;
	if (k == 0)
		v[1] = v[0];
	if (v[0] > v[1])
		return 0;
	*lo = (uint16_t)v[0];
	*hi = (uint16_t)v[1];
	return 1;
}

int
reg_parse_transport(reg_text_t t)
{
	t = reg_text_trim(t);
	if (t.n == 0)
		return PORTQ_TP_ANY;
	int tp = portq_transport_parse(t.p, t.n);
	return tp == PORTQ_TP_ANY ? -1 : tp;   /* "any" is not a row's protocol */
}

void
reg_load_date(reg_load_t *ld, reg_text_t date)
{
	date = reg_text_trim(date);
	if (date.n < 4)
		return;
	char d[11] = "";
	memcpy(d, date.p, date.n < 10 ? date.n : 10);
	if (strcmp(d, ld->src->date) > 0)
		memcpy(ld->src->date, d, sizeof(d));
}

/* The TEXT fields (proto/fields.h) of a row, and their names in
 * messages, in list order. */
#define ROW_TEXT(m, api, wire, what)  &row->m,
#define TEXT_WHAT(m, api, wire, what) what,

int
reg_load_add(reg_load_t *ld, const reg_row_t *row)
{
	static const char *const field_names[] = { PORTQ_TEXT_FIELDS(TEXT_WHAT) };
	const reg_text_t *const fields[] = { PORTQ_TEXT_FIELDS(ROW_TEXT) };
	const size_t n_fields = sizeof(fields) / sizeof(fields[0]);

	/* Reject what the wire could not carry instead of cutting it. */
	size_t wire = PORTQ_RECORD_MIN;
	for (size_t i = 0; i < n_fields; i++) {
		if (fields[i]->n > UINT16_MAX)
			return reg_load_fail(ld, row->line, "field of %zu bytes is too long",
			                     fields[i]->n);
		wire += fields[i]->n ? 3 + fields[i]->n : 0;
	}
	for (unsigned i = 0; i < row->n_aliases; i++)
		wire += 3 + row->aliases[i].n;
	if (wire > UINT16_MAX)
		return reg_load_fail(ld, row->line, "record of %zu bytes is too large", wire);
	/* A name no question could carry could never be looked up. */
	if (row->name.n > PORTQ_TEXT_MAX)
		return reg_load_fail(ld, row->line, "service name of %zu bytes is longer "
		                     "than %d", row->name.n, PORTQ_TEXT_MAX);
	for (unsigned i = 0; i < row->n_aliases; i++)
		if (row->aliases[i].n > PORTQ_TEXT_MAX)
			return reg_load_fail(ld, row->line, "alias of %zu bytes is longer "
			                     "than %d", row->aliases[i].n, PORTQ_TEXT_MAX);
	/* The protocol, the client and its JSON all speak UTF-8: text in
	 * another encoding is refused here, at its line, rather than guessed
	 * at (a wrong guess would serve different text without a word). */
	for (size_t i = 0; i < n_fields + row->n_aliases; i++) {
		reg_text_t t = i < n_fields ? *fields[i] : row->aliases[i - n_fields];
		size_t ok = portq_utf8_valid_prefix(t.p, t.n);
		if (ok < t.n) {
			/* Quote up to 40 bytes before it, from a character's start. */
			size_t from = ok > 40 ? ok - 40 : 0;
			while (from < ok && ((unsigned char)t.p[from] & 0xC0) == 0x80)
				from++;
			return reg_load_fail(ld, row->line, "%s is not UTF-8: byte 0x%02X "
			                     "after \"%.*s\"; convert the file to UTF-8",
			                     i < n_fields ? field_names[i] : "alias",
			                     (unsigned char)t.p[ok], (int)(ok - from), t.p + from);
		}
	}

	switch (reg_builder_add(ld->b, ld->src, ld->origin, row)) {
	case PORTQ_OK:
		return PORTQ_OK;
	case PORTQ_ESPACE:
		return reg_load_fail(ld, row->line, "port ranges cover more than %u "
		                     "ports in all (one table slot per port and record); "
		                     "merge or narrow the ranges", REG_MAX_RANGE_SLOTS);
	default:
		snprintf(ld->err->text, sizeof(ld->err->text), "%s: out of memory",
		         ld->path);
		return PORTQ_ENOMEM;
	}
}
