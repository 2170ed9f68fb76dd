/*
 * load_csv.c -- the IANA registry's CSV export (RFC 4180).
 *
 * Fields may be quoted; a quoted field may hold commas, doubled quotes and
 * line breaks. Lines end in LF or CRLF; CRLF inside a quoted field becomes
 * LF. Columns are found by their header names, so a reordered or extended
 * export still loads. Any row that breaks the format stops the load with
 * "file:line: reason"; the line is where the row starts.
 */
#include <stdlib.h>
#include <string.h>

#include "loader.h"

#define CSV_MAX_FIELDS 64

enum {
	COL_NAME, COL_PORT, COL_PROTO, COL_DESC, COL_ASSIGNEE, COL_CONTACT,
	COL_REGISTERED, COL_MODIFIED, COL_REFERENCE, COL_SERVICE_CODE,
	COL_UNAUTHORIZED, COL_NOTES, COL_COUNT
};

static const char *const column_names[COL_COUNT] = {
	"Service Name", "Port Number", "Transport Protocol", "Description",
	"Assignee", "Contact", "Registration Date", "Modification Date",
	"Reference", "Service Code", "Unauthorized Use Reported",
	"Assignment Notes",
};

typedef struct {
	const char *p, *end;
	uint32_t line;
	char *scratch;               /* unquoted copies of the current row */
	size_t used;
	reg_text_t field[CSV_MAX_FIELDS];
	size_t n_fields;
} csv_t;

/*
 * Read one row into c->field. Returns 1 for a row, 0 at the end of the
 * data, or PORTQ_EPARSE (err set) for broken quoting.
 */
static int
csv_row(reg_load_t *ld, csv_t *c)
{
	c->used = 0;
	c->n_fields = 0;
	if (c->p >= c->end)
		return 0;
	for (;;) {
		if (c->n_fields == CSV_MAX_FIELDS)
			return reg_load_fail(ld, c->line, "more than %d fields",
			                     CSV_MAX_FIELDS);
		char *out = c->scratch + c->used;
		size_t n = 0;
		if (c->p < c->end && *c->p == '"') {
			uint32_t opened = c->line;
			c->p++;
			for (;;) {
				if (c->p >= c->end)
					return reg_load_fail(ld, opened, "unterminated quoted field");
				char ch = *c->p++;
				if (ch == '"') {
					if (c->p < c->end && *c->p == '"') {
						out[n++] = '"';
						c->p++;
						continue;
					}
					break;
				}
				if (ch == '\r' && c->p < c->end && *c->p == '\n')
					continue;
				if (ch == '\n')
					c->line++;
				out[n++] = ch;
			}
			if (c->p < c->end && *c->p != ',' && *c->p != '\n' &&
			    !(*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n'))
				return reg_load_fail(ld, c->line,
				                     "text after the closing quote of field %zu",
				                     c->n_fields + 1);
		} else {
			while (c->p < c->end && *c->p != ',' && *c->p != '\n') {
				if (*c->p == '"')
					return reg_load_fail(ld, c->line,
					                     "quote inside unquoted field %zu",
					                     c->n_fields + 1);
				if (*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n') {
					c->p++;
					continue;
				}
				out[n++] = *c->p++;
			}
		}
		c->field[c->n_fields++] = reg_text(out, n);
		c->used += n;
		if (c->p >= c->end)
			return 1;
		if (*c->p == '\r')
			c->p++;
		if (*c->p++ == '\n') {
			c->line++;
			return 1;
		}
		/* a comma: another field follows */
	}
}

static int
header_map(reg_load_t *ld, const csv_t *c, int col[COL_COUNT])
{
	for (int k = 0; k < COL_COUNT; k++) {
		col[k] = -1;
		for (size_t i = 0; i < c->n_fields; i++) {
			reg_text_t f = reg_text_trim(c->field[i]);
			if (f.n == strlen(column_names[k]) &&
			    memcmp(f.p, column_names[k], f.n) == 0)
				col[k] = (int)i;
		}
		if (col[k] < 0 && k <= COL_DESC)
			return reg_load_fail(ld, 1, "header has no \"%s\" column",
			                     column_names[k]);
	}
	return PORTQ_OK;
}

static int
csv_blank(const csv_t *c)
{
	return c->n_fields == 1 && reg_text_trim(c->field[0]).n == 0;
}

int
load_csv(reg_load_t *ld, const char *data, size_t len)
{
	int rc = reg_load_text_only(ld, data, len);
	if (rc < 0)
		return rc;
	csv_t c = { data, data + len, 1, malloc(len + 1), 0, { { 0, 0 } }, 0 };
	if (c.scratch == NULL)
		return reg_load_fail(ld, 0, "out of memory");
	if (len >= 3 && memcmp(c.p, "\xEF\xBB\xBF", 3) == 0)
		c.p += 3;

	int col[COL_COUNT];
	rc = csv_row(ld, &c);
	if (rc == 0)
		rc = reg_load_fail(ld, 1, "empty file: no header row");
	if (rc < 0 || (rc = header_map(ld, &c, col)) < 0)
		goto out;
	size_t width = c.n_fields;

	for (;;) {
		uint32_t line = c.line;
		rc = csv_row(ld, &c);
		if (rc <= 0)
			break;
		if (csv_blank(&c))
			continue;
		if (c.n_fields != width) {
			rc = reg_load_fail(ld, line, "row has %zu fields, the header has %zu",
			                   c.n_fields, width);
			break;
		}
		reg_row_t row;
		memset(&row, 0, sizeof(row));
		row.line = line;
#define FIELD(k) (col[k] >= 0 ? c.field[col[k]] : reg_text("", 0))
		row.name = reg_text_trim(FIELD(COL_NAME));
		reg_text_t port = reg_text_trim(FIELD(COL_PORT));
		reg_text_t proto = FIELD(COL_PROTO);
		if (port.n > 0) {
			if (!reg_parse_ports(port, &row.port_lo, &row.port_hi)) {
				rc = reg_load_fail(ld, line, "bad port number \"%.*s\"",
				                   (int)(port.n > 40 ? 40 : port.n), port.p);
				break;
			}
			row.has_port = 1;
		}
		int tp = reg_parse_transport(proto);
		if (tp < 0) {
			rc = reg_load_fail(ld, line, "unknown transport protocol \"%.*s\"",
			                   (int)(proto.n > 40 ? 40 : proto.n), proto.p);
			break;
		}
		if (row.name.n == 0 && !row.has_port) {
			rc = reg_load_fail(ld, line,
			                   "row has neither a service name nor a port number");
			break;
		}
		row.transport = (uint8_t)tp;
		row.description = reg_text_trim(FIELD(COL_DESC));
		row.assignee = reg_text_trim(FIELD(COL_ASSIGNEE));
		row.contact = reg_text_trim(FIELD(COL_CONTACT));
		row.registered = reg_text_trim(FIELD(COL_REGISTERED));
		row.modified = reg_text_trim(FIELD(COL_MODIFIED));
		row.reference = reg_text_trim(FIELD(COL_REFERENCE));
		row.service_code = reg_text_trim(FIELD(COL_SERVICE_CODE));
		row.unauthorized = reg_text_trim(FIELD(COL_UNAUTHORIZED));
		row.notes = reg_text_trim(FIELD(COL_NOTES));
#undef FIELD
		row.status = reg_iana_status(row.name, row.description);
		reg_load_date(ld, row.registered);
		reg_load_date(ld, row.modified);
		if ((rc = reg_load_add(ld, &row)) < 0)
			break;
	}
out:
	free(c.scratch);
	return rc < 0 ? rc : PORTQ_OK;
}
