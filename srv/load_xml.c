/*
 * load_xml.c -- the IANA registry's XML export, parsed with expat.
 *
 * Each <record> becomes one row, with the same texts the CSV export gives
 * for it: <br/> is a line break, person xrefs are "[Name]" contacts (the
 * <assignee> one, or else the contact, is the assignee), every other xref
 * is a "[...]" reference (rfc5326 -> [RFC5326]), an xref inside a
 * description or note is written inline in the same brackets. A line that
 * ends in a space runs on into the next, indented one (the CSV joins them
 * with one space). <record date="" updated=""> gives the registration and
 * modification dates.
 */
#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

enum {
	X_NAME, X_PROTO, X_NUMBER, X_DESC, X_ASSIGNEE, X_CONTACT, X_REFERENCE,
	X_NOTES, X_SC, X_UNAUTH, X_REGISTERED, X_MODIFIED, X_UPDATED, X_COUNT,
	X_NONE = -1
};

typedef struct {
	char *p;
	size_t n, cap;
} buf_t;

typedef struct {
	reg_load_t *ld;
	XML_Parser parser;
	int rc;
	int depth;              /* element depth; the root is 1 */
	int in_record;
	int field;              /* X_* receiving character data, or X_NONE */
	int in_assignee;
	uint32_t record_line;
	uint32_t records;
	buf_t text[X_COUNT];
} xml_t;

static int
buf_add(xml_t *x, buf_t *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			x->rc = reg_load_fail(x->ld, 0, "out of memory");
			XML_StopParser(x->parser, XML_FALSE);
			return -1;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
	return 0;
}

static void
buf_bracket(xml_t *x, buf_t *b, const char *s, int upper_rfc)
{
	if (buf_add(x, b, "[", 1) < 0)
		return;
	if (upper_rfc && strncmp(s, "rfc", 3) == 0) {
		if (buf_add(x, b, "RFC", 3) < 0)
			return;
		s += 3;
	}
	if (buf_add(x, b, s, strlen(s)) == 0)
		buf_add(x, b, "]", 1);
}

static const char *
attr(const XML_Char **atts, const char *key)
{
	for (int i = 0; atts[i] != NULL; i += 2)
		if (strcmp(atts[i], key) == 0)
			return atts[i + 1];
	return NULL;
}

static int
field_of(const char *el)
{
	static const struct { const char *el; int f; } map[] = {
		{ "name", X_NAME }, { "protocol", X_PROTO }, { "number", X_NUMBER },
		{ "description", X_DESC }, { "note", X_NOTES }, { "sc", X_SC },
		{ "unauthorized", X_UNAUTH },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].el, el) == 0)
			return map[i].f;
	return X_NONE;
}

static int xml_record_done(xml_t *x);

static void XMLCALL
on_start(void *ud, const XML_Char *el, const XML_Char **atts)
{
	xml_t *x = ud;
	x->depth++;
	if (x->depth == 1) {
		if (strcmp(el, "registry") != 0) {
			x->rc = reg_load_fail(x->ld, (uint32_t)XML_GetCurrentLineNumber(x->parser),
			                      "root element is <%s>, not an IANA <registry>", el);
			XML_StopParser(x->parser, XML_FALSE);
		}
		return;
	}
	if (!x->in_record) {
		if (x->depth == 2 && strcmp(el, "record") == 0) {
			x->in_record = 1;
			x->record_line = (uint32_t)XML_GetCurrentLineNumber(x->parser);
			for (int i = 0; i < X_COUNT; i++)
				x->text[i].n = 0;
			const char *d = attr(atts, "date"), *u = attr(atts, "updated");
			if (d != NULL)
				buf_add(x, &x->text[X_REGISTERED], d, strlen(d));
			if (u != NULL)
				buf_add(x, &x->text[X_MODIFIED], u, strlen(u));
		} else if (x->depth == 2 && strcmp(el, "updated") == 0) {
			x->field = X_UPDATED;
		}
		return;
	}
	if (strcmp(el, "br") == 0) {
		if (x->field != X_NONE)
			buf_add(x, &x->text[x->field], "\n", 1);
	} else if (strcmp(el, "assignee") == 0) {
		x->in_assignee = 1;
	} else if (strcmp(el, "xref") == 0) {
		const char *type = attr(atts, "type"), *data = attr(atts, "data");
		if (type == NULL)
			return;
		if (x->field != X_NONE && data != NULL) {
			buf_bracket(x, &x->text[x->field], data, strcmp(type, "rfc") == 0);
		} else if (strcmp(type, "person") == 0 && data != NULL) {
			buf_bracket(x, &x->text[x->in_assignee ? X_ASSIGNEE : X_CONTACT], data, 0);
		} else if (strcmp(type, "text") == 0) {
			buf_add(x, &x->text[X_REFERENCE], "[", 1);
			x->field = X_REFERENCE;            /* its text follows; "]" at the end */
		} else if (data != NULL) {
			buf_bracket(x, &x->text[X_REFERENCE], data, strcmp(type, "rfc") == 0);
		}
	} else if (x->field == X_NONE) {
		x->field = field_of(el);
	}
}

static void XMLCALL
on_end(void *ud, const XML_Char *el)
{
	xml_t *x = ud;
	x->depth--;
	if (!x->in_record) {
		if (x->field == X_UPDATED) {
			reg_load_date(x->ld, reg_text(x->text[X_UPDATED].p, x->text[X_UPDATED].n));
			x->field = X_NONE;
		}
		return;
	}
	if (strcmp(el, "assignee") == 0) {
		x->in_assignee = 0;
	} else if (strcmp(el, "xref") == 0 && x->field == X_REFERENCE) {
		buf_add(x, &x->text[X_REFERENCE], "]", 1);
		x->field = X_NONE;
	} else if (x->field != X_NONE && field_of(el) == x->field) {
		x->field = X_NONE;
	} else if (x->depth == 1 && strcmp(el, "record") == 0) {
		x->in_record = 0;
		x->field = X_NONE;
		x->records++;
		if (xml_record_done(x) < 0)
			XML_StopParser(x->parser, XML_FALSE);
	}
}

static void XMLCALL
on_text(void *ud, const XML_Char *s, int len)
{
	xml_t *x = ud;
	if (x->field != X_NONE && len > 0)
		buf_add(x, &x->text[x->field], s, (size_t)len);
}

static reg_text_t
field_text(xml_t *x, int f)
{
	buf_t *b = &x->text[f];
	if (b->n == 0)
		return reg_text("", 0);
	/* <br/><br/> followed by a line break reads as one break, and
	 * "text \n    more" as "text more", as in the CSV. */
	size_t o = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (b->p[i] == '\n' && o > 0 && b->p[o - 1] == ' ' && i + 1 < b->n &&
		    (b->p[i + 1] == ' ' || b->p[i + 1] == '\t')) {
			while (o > 1 && b->p[o - 2] == ' ')
				o--;
			while (i + 1 < b->n && (b->p[i + 1] == ' ' || b->p[i + 1] == '\t'))
				i++;
			continue;
		}
		if (!(b->p[i] == '\n' && o > 0 && b->p[o - 1] == '\n'))
			b->p[o++] = b->p[i];
	}
	b->n = o;
	return reg_text_trim(reg_text(b->p, b->n));
}

static int
xml_record_done(xml_t *x)
{
	reg_row_t row;
	memset(&row, 0, sizeof(row));
	row.line = x->record_line;
	row.name = field_text(x, X_NAME);
	row.description = field_text(x, X_DESC);
	row.contact = field_text(x, X_CONTACT);
	row.assignee = field_text(x, X_ASSIGNEE);
	if (row.assignee.n == 0)
		row.assignee = row.contact;
	row.reference = field_text(x, X_REFERENCE);
	row.notes = field_text(x, X_NOTES);
	row.service_code = field_text(x, X_SC);
	row.unauthorized = field_text(x, X_UNAUTH);
	row.registered = field_text(x, X_REGISTERED);
	row.modified = field_text(x, X_MODIFIED);

	reg_text_t number = field_text(x, X_NUMBER);
	if (number.n > 0) {
		if (!reg_parse_ports(number, &row.port_lo, &row.port_hi))
			return x->rc = reg_load_fail(x->ld, row.line, "bad port number \"%.*s\"",
			                             (int)(number.n > 40 ? 40 : number.n), number.p);
		row.has_port = 1;
	}
	reg_text_t proto = field_text(x, X_PROTO);
	int tp = reg_parse_transport(proto);
	if (tp < 0)
		return x->rc = reg_load_fail(x->ld, row.line,
		                             "unknown transport protocol \"%.*s\"",
		                             (int)(proto.n > 40 ? 40 : proto.n), proto.p);
	if (row.name.n == 0 && !row.has_port)
		return x->rc = reg_load_fail(x->ld, row.line,
		                             "record has neither a name nor a number");
	row.transport = (uint8_t)tp;
	row.status = reg_iana_status(row.name, row.description);
	reg_load_date(x->ld, row.registered);
	reg_load_date(x->ld, row.modified);
	return x->rc = reg_load_add(x->ld, &row);
}

int
load_xml(reg_load_t *ld, const char *data, size_t len)
{
	xml_t x;
	memset(&x, 0, sizeof(x));
	x.ld = ld;
	x.field = X_NONE;
	x.parser = XML_ParserCreate(NULL);
	if (x.parser == NULL)
		return reg_load_fail(ld, 0, "out of memory");
	XML_SetUserData(x.parser, &x);
	XML_SetElementHandler(x.parser, on_start, on_end);
	XML_SetCharacterDataHandler(x.parser, on_text);

	/* expat takes an int length; feed large files in pieces. */
	const size_t chunk = 1 << 20;
	size_t off = 0;
	do {
		size_t n = len - off < chunk ? len - off : chunk;
		int last = off + n == len;
		if (XML_Parse(x.parser, data + off, (int)n, last) == XML_STATUS_ERROR) {
			if (x.rc == PORTQ_OK)
				x.rc = reg_load_fail(ld, (uint32_t)XML_GetCurrentLineNumber(x.parser),
				                     "XML error: %s",
				                     XML_ErrorString(XML_GetErrorCode(x.parser)));
			break;
		}
		off += n;
	} while (off < len);
	if (x.rc == PORTQ_OK && x.records == 0)
		x.rc = reg_load_fail(ld, 0, "no <record> elements: not an IANA registry export");
	XML_ParserFree(x.parser);
	for (int i = 0; i < X_COUNT; i++)
		free(x.text[i].p);
	return x.rc;
}
