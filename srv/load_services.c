/*
 * load_services.c -- services(5) files such as /etc/services:
 *
 *   name  port/protocol  [alias ...]  [# comment]
 *
 * The merged form "64/tcp/udp" declares the service for each protocol.
 * Protocols portq does not carry (ddp, for AppleTalk) are counted as
 * skipped, never silently dropped: --check and the log report them.
 */
#include <ctype.h>
#include <string.h>

#include "loader.h"

/* The next whitespace-separated word of [*p, end), stopping at '#'. */
static reg_text_t
next_word(const char **p, const char *end)
{
	while (*p < end && isspace((unsigned char)**p))
		(*p)++;
	const char *s = *p;
	if (s < end && *s == '#')
		return reg_text(s, 0);
	while (*p < end && !isspace((unsigned char)**p) && **p != '#')
		(*p)++;
	return reg_text(s, (size_t)(*p - s));
}

static int
services_line(reg_load_t *ld, uint32_t line, const char *p, const char *end)
{
	reg_text_t name = next_word(&p, end);
	if (name.n == 0)
		return PORTQ_OK;                       /* blank or comment */
	reg_text_t spec = next_word(&p, end);
	const char *slash = memchr(spec.p, '/', spec.n);
	if (spec.n == 0 || slash == NULL)
		return reg_load_fail(ld, line, "expected \"port/protocol\" after \"%.*s\"",
		                     (int)(name.n > 40 ? 40 : name.n), name.p);

	reg_row_t row;
	memset(&row, 0, sizeof(row));
	row.line = line;
	row.name = name;
	row.status = PORTQ_ST_ASSIGNED;
	row.has_port = 1;
	reg_text_t port = reg_text(spec.p, (size_t)(slash - spec.p));
	if (!reg_parse_ports(port, &row.port_lo, &row.port_hi) ||
	    row.port_lo != row.port_hi)
		return reg_load_fail(ld, line, "bad port number \"%.*s\"",
		                     (int)(port.n > 40 ? 40 : port.n), port.p);
	for (reg_text_t a = next_word(&p, end); a.n > 0; a = next_word(&p, end)) {
		if (row.n_aliases == PORTQ_MAX_ALIASES)
			return reg_load_fail(ld, line, "more than %d aliases",
			                     PORTQ_MAX_ALIASES);
		row.aliases[row.n_aliases++] = a;
	}
	if (p < end && *p == '#')
		row.description = reg_text_trim(reg_text(p + 1, (size_t)(end - p - 1)));

	/* One row per protocol of "port/proto[/proto...]". */
	const char *q = slash + 1, *stop = spec.p + spec.n;
	while (q <= stop) {
		const char *s = q;
		while (q < stop && *q != '/')
			q++;
		reg_text_t proto = reg_text(s, (size_t)(q - s));
		q++;
		if (proto.n == 0)
			return reg_load_fail(ld, line, "empty protocol in \"%.*s\"",
			                     (int)spec.n, spec.p);
		int tp = reg_parse_transport(proto);
		if (tp < 0) {
			ld->src->skipped++;
			continue;
		}
		row.transport = (uint8_t)tp;
		int rc = reg_load_add(ld, &row);
		if (rc < 0)
			return rc;
	}
	return PORTQ_OK;
}

int
load_services(reg_load_t *ld, const char *data, size_t len)
{
	const char *p = data, *end = data + len;
	int nul = reg_load_text_only(ld, data, len);
	if (nul < 0)
		return nul;
	for (uint32_t line = 1; p < end; line++) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		int rc = services_line(ld, line, p, eol);
		if (rc < 0)
			return rc;
		p = eol + 1;
	}
	return PORTQ_OK;
}
