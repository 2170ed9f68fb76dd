/*
 * load_local.c -- the organisation's own assignments (docs/local-format.md):
 *
 *   portq-local 1
 *   # name   ports[/protocols]   key=value ...
 *   billing-api  8443/tcp        description="Billing API" contact=ops@example.org
 *   metrics      9100-9110/tcp,udp  alias=node-exporter description="Exporters"
 *   -            7000            status=reserved description="Held for the data team"
 *
 * "-" as the name declares a port without a service name; no protocol
 * means all protocols. Values are a bare word or a double-quoted string
 * with \" and \\ escapes. Keys: description, assignee, contact, reference,
 * notes, alias (repeatable), registered, modified, status (local or
 * reserved). Anything else is an error with its line.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

typedef struct {
	reg_load_t *ld;
	uint32_t line;
	const char *p, *end;
	char *out;                  /* unescaped values of this line */
} local_t;

static void
skip_space(local_t *l)
{
	while (l->p < l->end && isspace((unsigned char)*l->p))
		l->p++;
	if (l->p < l->end && *l->p == '#')
		l->p = l->end;
}

/* A bare word (up to space, or '=' when stop_eq) or a quoted string. */
static int
local_word(local_t *l, int stop_eq, reg_text_t *t)
{
	char *o = l->out;
	if (l->p < l->end && *l->p == '"') {
		l->p++;
		for (;;) {
			if (l->p >= l->end)
				return reg_load_fail(l->ld, l->line, "unterminated quoted value");
			char c = *l->p++;
			if (c == '"')
				break;
			if (c == '\\') {
				if (l->p >= l->end || (*l->p != '"' && *l->p != '\\'))
					return reg_load_fail(l->ld, l->line,
					                     "only \\\" and \\\\ may be escaped");
				c = *l->p++;
			}
			*o++ = c;
		}
		if (l->p < l->end && !isspace((unsigned char)*l->p) && *l->p != '#')
			return reg_load_fail(l->ld, l->line, "text after a closing quote");
	} else {
		while (l->p < l->end && !isspace((unsigned char)*l->p) &&
		       *l->p != '#' && !(stop_eq && *l->p == '=')) {
			if (*l->p == '"')
				return reg_load_fail(l->ld, l->line, "quote inside a bare word");
			*o++ = *l->p++;
		}
	}
	*t = reg_text(l->out, (size_t)(o - l->out));
	l->out = o;
	return PORTQ_OK;
}

static int
text_eq(reg_text_t t, const char *s)
{
	return t.n == strlen(s) && memcmp(t.p, s, t.n) == 0;
}

static int
local_line(local_t *l)
{
	reg_row_t row;
	memset(&row, 0, sizeof(row));
	row.line = l->line;
	row.status = PORTQ_ST_LOCAL;
	reg_text_t name, spec;
	int rc;

	skip_space(l);
	if (l->p >= l->end)
		return PORTQ_OK;
	if ((rc = local_word(l, 0, &name)) < 0)
		return rc;
	skip_space(l);
	if ((rc = local_word(l, 0, &spec)) < 0)
		return rc;
	if (spec.n == 0)
		return reg_load_fail(l->ld, l->line, "expected ports after the name");
	if (!text_eq(name, "-"))
		row.name = name;

	const char *slash = memchr(spec.p, '/', spec.n);
	reg_text_t ports = reg_text(spec.p, slash ? (size_t)(slash - spec.p) : spec.n);
	if (!reg_parse_ports(ports, &row.port_lo, &row.port_hi))
		return reg_load_fail(l->ld, l->line, "bad port or range \"%.*s\"",
		                     (int)(ports.n > 40 ? 40 : ports.n), ports.p);
	row.has_port = 1;

	for (skip_space(l); l->p < l->end; skip_space(l)) {
		reg_text_t key, val;
		if ((rc = local_word(l, 1, &key)) < 0)
			return rc;
		if (l->p >= l->end || *l->p != '=' || key.n == 0)
			return reg_load_fail(l->ld, l->line, "expected key=value, got \"%.*s\"",
			                     (int)(key.n > 40 ? 40 : key.n), key.p);
		l->p++;
		if ((rc = local_word(l, 0, &val)) < 0)
			return rc;
		if (val.n == 0)
			return reg_load_fail(l->ld, l->line, "empty value for \"%.*s\"",
			                     (int)key.n, key.p);
		reg_text_t *slot = NULL;
		if (text_eq(key, "description"))     slot = &row.description;
		else if (text_eq(key, "assignee"))   slot = &row.assignee;
		else if (text_eq(key, "contact"))    slot = &row.contact;
		else if (text_eq(key, "reference"))  slot = &row.reference;
		else if (text_eq(key, "notes"))      slot = &row.notes;
		else if (text_eq(key, "registered")) slot = &row.registered;
		else if (text_eq(key, "modified"))   slot = &row.modified;
		if (slot != NULL) {
			if (slot->n != 0)
				return reg_load_fail(l->ld, l->line, "\"%.*s\" given twice",
				                     (int)key.n, key.p);
			*slot = val;
		} else if (text_eq(key, "alias")) {
			if (row.n_aliases == PORTQ_MAX_ALIASES)
				return reg_load_fail(l->ld, l->line, "more than %d aliases",
				                     PORTQ_MAX_ALIASES);
			row.aliases[row.n_aliases++] = val;
		} else if (text_eq(key, "status")) {
			if (text_eq(val, "local"))
				row.status = PORTQ_ST_LOCAL;
			else if (text_eq(val, "reserved"))
				row.status = PORTQ_ST_RESERVED;
			else
				return reg_load_fail(l->ld, l->line,
				                     "status must be local or reserved");
		} else {
			return reg_load_fail(l->ld, l->line, "unknown key \"%.*s\"",
			                     (int)(key.n > 40 ? 40 : key.n), key.p);
		}
	}
	if (row.name.n == 0 && row.status == PORTQ_ST_LOCAL && row.description.n == 0)
		return reg_load_fail(l->ld, l->line,
		                     "a nameless assignment needs a description");
	reg_load_date(l->ld, row.registered);
	reg_load_date(l->ld, row.modified);

	if (slash == NULL) {
		row.transport = PORTQ_TP_ANY;
		return reg_load_add(l->ld, &row);
	}
	/* "tcp,udp": one row per protocol. */
	const char *q = slash + 1, *stop = spec.p + spec.n;
	while (q <= stop) {
		const char *s = q;
		while (q < stop && *q != ',')
			q++;
		reg_text_t proto = reg_text(s, (size_t)(q - s));
		q++;
		int tp = reg_parse_transport(proto);
		if (tp < 0 || proto.n == 0)
			return reg_load_fail(l->ld, l->line, "unknown protocol \"%.*s\"",
			                     (int)(proto.n > 40 ? 40 : proto.n), proto.p);
		row.transport = (uint8_t)tp;
		if ((rc = reg_load_add(l->ld, &row)) < 0)
			return rc;
	}
	return PORTQ_OK;
}

int
load_local(reg_load_t *ld, const char *data, size_t len)
{
	int nul = reg_load_text_only(ld, data, len);
	if (nul < 0)
		return nul;
	char *scratch = malloc(len + 1);
	if (scratch == NULL)
		return reg_load_fail(ld, 0, "out of memory");
	const char *p = data, *end = data + len;
	int seen_magic = 0, rc = PORTQ_OK;
	for (uint32_t line = 1; p < end && rc == PORTQ_OK; line++) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		local_t l = { ld, line, p, eol, scratch };
		p = eol + 1;
		if (!seen_magic) {
			reg_text_t t = reg_text_trim(reg_text(l.p, (size_t)(eol - l.p)));
			if (t.n == 0 || t.p[0] == '#')
				continue;
			if (!text_eq(t, "portq-local 1"))
				rc = reg_load_fail(ld, line, "expected the format line \"portq-local 1\"");
			seen_magic = 1;
			continue;
		}
		rc = local_line(&l);
	}
	if (rc == PORTQ_OK && !seen_magic)
		rc = reg_load_fail(ld, 0, "no \"portq-local 1\" format line");
	free(scratch);
	return rc;
}
