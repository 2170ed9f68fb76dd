/*
 * test_snapshot.c -- the registry engine against the real IANA snapshots
 * in PORTQ_DATA_DIR (never copied into the repository).
 *
 * Nothing here is taken on trust from the loaders: the CSV is read again
 * by a small RFC 4180 reader written below, the XML is scanned for its
 * <record> elements as plain text, and the expected counts, lookups and
 * port contexts are computed from those raw rows.
 */
#include <check.h>
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check_main.h"
#include "error.h"
#include "format.h"
#include "msg.h"
#include "port_oracle.h"
#include "reg_testutil.h"
#include "registry.h"

#define SNAP_CSV PORTQ_DATA_DIR "/service-names-port-numbers.csv"
#define SNAP_XML PORTQ_DATA_DIR "/service-names-port-numbers.xml"
#define MAX_OUT 512

/*
 * The two snapshots are two years apart, so some shared records really
 * did change: 8 descriptions, each with a CSV modification date after the
 * XML's 2024-03-18. More than this means the loaders disagree.
 */
#define MAX_DIFFERENCES 12
/*
 * Notes: "wot" (tcp and udp) lays its note out in <paragraph> elements
 * that the CSV renders with its own indentation; portq does not copy it.
 */
#define MAX_NOTE_DIFFERENCES 4

/* ------------------------------------------------------------- raw CSV */

enum {
	C_NAME, C_PORT, C_PROTO, C_DESC, C_ASSIGNEE, C_CONTACT, C_REGISTERED,
	C_MODIFIED, C_REFERENCE, C_SC, C_UNAUTH, C_NOTES, C_COUNT
};

typedef struct {
	uint32_t line;
	char *f[C_COUNT];
} raw_row_t;

typedef struct {
	raw_row_t *rows;
	size_t n;
} raw_csv_t;

/*
 * RFC 4180 the plain way: a quoted field runs to the lone quote that
 * closes it, "" inside is one quote; CRLF ends a row like LF does. The
 * header must be the twelve columns of the IANA export, in its order.
 */
static void
raw_csv_read(const char *data, size_t len, raw_csv_t *csv)
{
	static const char *const header[C_COUNT] = {
		"Service Name", "Port Number", "Transport Protocol", "Description",
		"Assignee", "Contact", "Registration Date", "Modification Date",
		"Reference", "Service Code", "Unauthorized Use Reported",
		"Assignment Notes",
	};
	size_t cap = 1024, i = 0;
	uint32_t line = 1;
	char *field[64], *out = malloc(len + 1);
	csv->rows = malloc(cap * sizeof(raw_row_t));
	csv->n = 0;
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(csv->rows);
	for (int first = 1; i < len; first = 0) {
		uint32_t start = line;
		size_t nf = 0;
		for (;;) {
			size_t n = 0;
			if (data[i] == '"') {
				for (i++;; i++) {
					ck_assert_msg(i < len, "raw CSV: quote from line %u never closed",
					              line);
					if (data[i] == '"' && i + 1 < len && data[i + 1] == '"') {
						out[n++] = '"';
						i++;
					} else if (data[i] == '"') {
						i++;
						break;
					} else if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n') {
						continue;
					} else {
						line += data[i] == '\n';
						out[n++] = data[i];
					}
				}
			} else {
				while (i < len && data[i] != ',' && data[i] != '\n' &&
				       !(data[i] == '\r' && i + 1 < len && data[i + 1] == '\n'))
					out[n++] = data[i++];
			}
			ck_assert_uint_lt(nf, 64);
			field[nf] = strndup(out, n);
			ck_assert_ptr_nonnull(field[nf]);
			nf++;
			if (i < len && data[i] == ',') {
				i++;
				continue;
			}
			if (i < len && data[i] == '\r')
				i++;
			if (i < len && data[i] == '\n') {
				i++;
				line++;
			}
			break;
		}
		if (first) {
			ck_assert_uint_eq(nf, C_COUNT);
			for (size_t k = 0; k < nf; k++) {
				ck_assert_str_eq(field[k], header[k]);
				free(field[k]);
			}
			continue;
		}
		ck_assert_msg(nf == C_COUNT, "raw CSV: line %u has %zu fields", start, nf);
		if (csv->n == cap) {
			cap *= 2;
			csv->rows = realloc(csv->rows, cap * sizeof(raw_row_t));
			ck_assert_ptr_nonnull(csv->rows);
		}
		raw_row_t *row = &csv->rows[csv->n++];
		row->line = start;
		memcpy(row->f, field, sizeof(row->f));
	}
	free(out);
}

static void
raw_csv_free(raw_csv_t *csv)
{
	for (size_t i = 0; i < csv->n; i++)
		for (int k = 0; k < C_COUNT; k++)
			free(csv->rows[i].f[k]);
	free(csv->rows);
}

/* "N" or "N-M"; 0 for an empty field. Anything else fails the test. */
static int
raw_ports(const char *s, unsigned *lo, unsigned *hi)
{
	if (s[0] == '\0')
		return 0;
	char *end;
	*lo = *hi = (unsigned)strtoul(s, &end, 10);
	if (*end == '-')
		*hi = (unsigned)strtoul(end + 1, &end, 10);
	ck_assert_msg(*end == '\0' && *lo <= *hi && *hi <= 65535, "raw port \"%s\"", s);
	return 1;
}

static uint8_t
raw_transport(const char *s)
{
	static const char *const names[] = { "", "tcp", "udp", "sctp", "dccp" };
	for (uint8_t tp = 0; tp < PORTQ_TP_COUNT; tp++)
		if (strcmp(s, names[tp]) == 0)
			return tp;
	ck_abort_msg("raw protocol \"%s\"", s);
	return 0;
}

/* The status rule of loader.h, restated over raw text. */
static uint8_t
raw_status(int named, const char *desc)
{
	if (named)
		return strcasecmp(desc, "De-registered") == 0 ? PORTQ_ST_DEREGISTERED :
		       PORTQ_ST_ASSIGNED;
	if (strcasestr(desc, "unassigned"))
		return PORTQ_ST_UNASSIGNED;
	if (strcasestr(desc, "de-registered"))
		return PORTQ_ST_DEREGISTERED;
	return PORTQ_ST_RESERVED;
}

/* ------------------------------------------------------------- fixtures */

static raw_csv_t raw;
static registry_t *csv_reg, *xml_reg;

static void
snapshot_setup(void)
{
	size_t len;
	char *data = slurp(SNAP_CSV, &len);
	raw_csv_read(data, len, &raw);
	free(data);
	csv_reg = load_ok(SNAP_CSV);
	xml_reg = load_ok(SNAP_XML);
}

static void
snapshot_teardown(void)
{
	raw_csv_free(&raw);
	registry_free(csv_reg);
	registry_free(xml_reg);
}

/* ------------------------------------------------------------- counts */

START_TEST(csv_counts_match_raw)
{
	reg_source_t want;
	memset(&want, 0, sizeof(want));
	for (size_t i = 0; i < raw.n; i++) {
		char **f = raw.rows[i].f;
		unsigned lo, hi;
		want.rows++;
		want.by_status[raw_status(f[C_NAME][0] != '\0', f[C_DESC])]++;
		want.by_transport[raw_transport(f[C_PROTO])]++;
		if (!raw_ports(f[C_PORT], &lo, &hi))
			want.portless++;
		else if (lo != hi)
			want.ranges++;
		else
			want.singles++;
		want.nameless += f[C_NAME][0] == '\0';
		for (int k = C_REGISTERED; k <= C_MODIFIED; k++)
			if (strncmp(f[k], want.date, 10) > 0)
				snprintf(want.date, sizeof(want.date), "%.10s", f[k]);
	}

	const reg_source_t *s = registry_source(csv_reg, 0);
	printf("csv: %u rows (%u assigned, %u reserved, %u unassigned, %u "
	       "de-registered), %u ranges, %u portless, newest date %s\n", s->rows,
	       s->by_status[PORTQ_ST_ASSIGNED], s->by_status[PORTQ_ST_RESERVED],
	       s->by_status[PORTQ_ST_UNASSIGNED], s->by_status[PORTQ_ST_DEREGISTERED],
	       s->ranges, s->portless, s->date);
	ck_assert_int_eq(s->format, REG_FMT_IANA_CSV);
	ck_assert_uint_eq(s->rows, want.rows);
	for (int k = 0; k <= PORTQ_ST_LOCAL; k++)
		ck_assert_uint_eq(s->by_status[k], want.by_status[k]);
	for (int k = 0; k < PORTQ_TP_COUNT; k++)
		ck_assert_uint_eq(s->by_transport[k], want.by_transport[k]);
	ck_assert_uint_eq(s->ranges, want.ranges);
	ck_assert_uint_eq(s->singles, want.singles);
	ck_assert_uint_eq(s->portless, want.portless);
	ck_assert_uint_eq(s->nameless, want.nameless);
	ck_assert_uint_eq(s->skipped, 0);
	ck_assert_str_eq(s->date, want.date);
	ck_assert_uint_eq(registry_count(csv_reg), want.rows);

	/* The raw reader, too, must have seen more than a handful of rows. */
	ck_assert_uint_gt(raw.n, 10000);
}
END_TEST

/* The text between open and close inside [p, end), or NULL. */
static const char *
xml_between(const char *p, const char *end, const char *open, const char *close,
            size_t *n)
{
	const char *a = memmem(p, (size_t)(end - p), open, strlen(open));
	if (a == NULL)
		return NULL;
	a += strlen(open);
	const char *z = memmem(a, (size_t)(end - a), close, strlen(close));
	ck_assert_ptr_nonnull(z);
	*n = (size_t)(z - a);
	return a;
}

/* A record attribute (date="..." or updated="...") into the newest date. */
static void
xml_date(const char *tag, const char *tag_end, const char *attr, char date[11])
{
	const char *a = memmem(tag, (size_t)(tag_end - tag), attr, strlen(attr));
	if (a == NULL)
		return;
	a += strlen(attr);
	size_t n = strcspn(a, "\"");
	if (n > 10)
		n = 10;
	if (strncmp(a, date, n) > 0 || (strncmp(a, date, n) == 0 && n > strlen(date))) {
		memcpy(date, a, n);
		date[n] = '\0';
	}
}

START_TEST(xml_counts_match_raw)
{
	size_t len;
	char *data = slurp(SNAP_XML, &len);
	const char *p = data, *end = data + len;
	reg_source_t want;
	memset(&want, 0, sizeof(want));

	/* The registry's own <updated> comes before the first record. */
	const char *first = strstr(data, "<record");
	ck_assert_ptr_nonnull(first);
	size_t n;
	const char *upd = xml_between(data, first, "<updated>", "</updated>", &n);
	ck_assert_ptr_nonnull(upd);
	snprintf(want.date, sizeof(want.date), "%.*s", (int)n, upd);

	while ((p = memmem(p, (size_t)(end - p), "<record", 7)) != NULL) {
		p += 7;
		if (*p != '>' && *p != ' ')
			continue;
		const char *tag_end = strchr(p, '>');
		const char *rec_end = memmem(p, (size_t)(end - p), "</record>", 9);
		ck_assert_ptr_nonnull(rec_end);
		want.rows++;
		xml_date(p, tag_end, "date=\"", want.date);
		xml_date(p, tag_end, "updated=\"", want.date);

		const char *name = xml_between(tag_end, rec_end, "<name>", "</name>", &n);
		int named = name != NULL && n > 0;
		want.nameless += !named;
		/* As for the CSV, "N-N" (there are some) is a single port. */
		char text[4096] = "";
		unsigned lo, hi;
		const char *num = xml_between(tag_end, rec_end, "<number>", "</number>", &n);
		if (num != NULL)
			snprintf(text, sizeof(text), "%.*s", (int)n, num);
		if (!raw_ports(text, &lo, &hi))
			want.portless++;
		else if (lo != hi)
			want.ranges++;
		else
			want.singles++;
		text[0] = '\0';
		const char *proto = xml_between(tag_end, rec_end, "<protocol>", "</protocol>", &n);
		if (proto != NULL)
			snprintf(text, sizeof(text), "%.*s", (int)n, proto);
		want.by_transport[raw_transport(text)]++;
		const char *desc = xml_between(tag_end, rec_end, "<description>",
		                               "</description>", &n);
		text[0] = '\0';
		if (desc != NULL)
			snprintf(text, sizeof(text), "%.*s", (int)n, desc);
		want.by_status[raw_status(named, text)]++;
		p = rec_end;
	}
	free(data);

	const reg_source_t *s = registry_source(xml_reg, 0);
	printf("xml: %u rows (%u assigned, %u reserved, %u unassigned, %u "
	       "de-registered), %u ranges, %u portless, newest date %s\n", s->rows,
	       s->by_status[PORTQ_ST_ASSIGNED], s->by_status[PORTQ_ST_RESERVED],
	       s->by_status[PORTQ_ST_UNASSIGNED], s->by_status[PORTQ_ST_DEREGISTERED],
	       s->ranges, s->portless, s->date);
	ck_assert_int_eq(s->format, REG_FMT_IANA_XML);
	ck_assert_uint_eq(s->rows, want.rows);
	for (int k = 0; k <= PORTQ_ST_LOCAL; k++)
		ck_assert_uint_eq(s->by_status[k], want.by_status[k]);
	for (int k = 0; k < PORTQ_TP_COUNT; k++)
		ck_assert_uint_eq(s->by_transport[k], want.by_transport[k]);
	ck_assert_uint_eq(s->ranges, want.ranges);
	ck_assert_uint_eq(s->singles, want.singles);
	ck_assert_uint_eq(s->portless, want.portless);
	ck_assert_uint_eq(s->nameless, want.nameless);
	ck_assert_str_eq(s->date, want.date);
	ck_assert_uint_gt(want.rows, 10000);
}
END_TEST

/* ------------------------------------------------------------- lookups */

/* Does e hold exactly the raw row? */
static int
same_as_raw(const reg_entry_t *e, const raw_row_t *row)
{
	char *const *f = row->f;
	unsigned lo = 0, hi = 0;
	int has = raw_ports(f[C_PORT], &lo, &hi);
	return e->line == row->line && e->origin == PORTQ_ORIGIN_IANA &&
	       strcmp(e->name, f[C_NAME]) == 0 && e->has_port == has &&
	       (!has || (e->port_lo == lo && e->port_hi == hi)) &&
	       e->transport == raw_transport(f[C_PROTO]) &&
	       e->status == raw_status(f[C_NAME][0] != '\0', f[C_DESC]) &&
	       strcmp(e->description, f[C_DESC]) == 0 &&
	       strcmp(e->assignee, f[C_ASSIGNEE]) == 0 &&
	       strcmp(e->contact, f[C_CONTACT]) == 0 &&
	       strcmp(e->registered, f[C_REGISTERED]) == 0 &&
	       strcmp(e->modified, f[C_MODIFIED]) == 0 &&
	       strcmp(e->reference, f[C_REFERENCE]) == 0 &&
	       strcmp(e->service_code, f[C_SC]) == 0 &&
	       strcmp(e->unauthorized, f[C_UNAUTH]) == 0 &&
	       strcmp(e->notes, f[C_NOTES]) == 0;
}

static int
found_in(const reg_entry_t *const *out, size_t n, const raw_row_t *row)
{
	ck_assert_uint_le(n, MAX_OUT);
	for (size_t i = 0; i < n; i++)
		if (same_as_raw(out[i], row))
			return 1;
	return 0;
}

START_TEST(every_csv_row_found)
{
	const reg_entry_t *out[MAX_OUT];
	size_t by_port = 0, by_name = 0;
	for (size_t i = 0; i < raw.n; i++) {
		const raw_row_t *row = &raw.rows[i];
		unsigned lo, hi;
		uint8_t tp = raw_transport(row->f[C_PROTO]);
		if (raw_ports(row->f[C_PORT], &lo, &hi)) {
			/* On its first and last port, asked for its own transport. */
			size_t n = registry_by_port(csv_reg, (uint16_t)lo, tp, out, MAX_OUT);
			ck_assert_msg(found_in(out, n, row), "line %u not found by port %u",
			              row->line, lo);
			n = registry_by_port(csv_reg, (uint16_t)hi, tp, out, MAX_OUT);
			ck_assert_msg(found_in(out, n, row), "line %u not found by port %u",
			              row->line, hi);
			by_port++;
		}
		if (row->f[C_NAME][0] != '\0') {
			size_t n = registry_by_name(csv_reg, row->f[C_NAME], tp, out, MAX_OUT);
			ck_assert_msg(found_in(out, n, row), "line %u not found by name \"%s\"",
			              row->line, row->f[C_NAME]);
			by_name++;
		}
	}
	printf("csv: %zu rows found by port, %zu by name\n", by_port, by_name);
	ck_assert_uint_eq(by_port + registry_source(csv_reg, 0)->portless, raw.n);
	ck_assert_uint_eq(by_name + registry_source(csv_reg, 0)->nameless, raw.n);
}
END_TEST

/* ------------------------------------------------------------- CSV vs XML */

static int
key_cmp(const void *pa, const void *pb)
{
	const reg_entry_t *a = *(const reg_entry_t *const *)pa;
	const reg_entry_t *b = *(const reg_entry_t *const *)pb;
	int c = strcmp(a->name, b->name);
	if (c != 0)
		return c;
	if (a->has_port != b->has_port)
		return a->has_port < b->has_port ? -1 : 1;
	if (a->port_lo != b->port_lo)
		return a->port_lo < b->port_lo ? -1 : 1;
	if (a->port_hi != b->port_hi)
		return a->port_hi < b->port_hi ? -1 : 1;
	if (a->transport != b->transport)
		return a->transport < b->transport ? -1 : 1;
	return 0;
}

/* Key order, then file order, so that repeated keys pair up in turn. */
static int
key_line_cmp(const void *pa, const void *pb)
{
	int c = key_cmp(pa, pb);
	if (c != 0)
		return c;
	const reg_entry_t *a = *(const reg_entry_t *const *)pa;
	const reg_entry_t *b = *(const reg_entry_t *const *)pb;
	return a->line < b->line ? -1 : a->line > b->line;
}

static const reg_entry_t **
sorted_entries(const registry_t *r)
{
	const reg_entry_t **v = malloc(registry_count(r) * sizeof(*v) + 1);
	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < registry_count(r); i++)
		v[i] = registry_entry(r, i);
	qsort(v, registry_count(r), sizeof(*v), key_line_cmp);
	return v;
}

static void
print_key(const reg_entry_t *a, const reg_entry_t *b)
{
	if (a->has_port)
		printf("  \"%s\" %u-%u/%s", a->name, a->port_lo, a->port_hi,
		       portq_transport_name(a->transport));
	else
		printf("  \"%s\" (no port)/%s", a->name, portq_transport_name(a->transport));
	printf(" (csv line %u, xml line %u; modified csv \"%s\", xml \"%s\")\n",
	       a->line, b->line, a->modified, b->modified);
}

/* The text fields compared besides the status, by offset in the entry. */
static const struct {
	const char *name;
	size_t off;
} text_fields[] = {
	{ "description",  offsetof(reg_entry_t, description) },
	{ "assignee",     offsetof(reg_entry_t, assignee) },
	{ "contact",      offsetof(reg_entry_t, contact) },
	{ "registered",   offsetof(reg_entry_t, registered) },
	{ "modified",     offsetof(reg_entry_t, modified) },
	{ "reference",    offsetof(reg_entry_t, reference) },
	{ "notes",        offsetof(reg_entry_t, notes) },
	{ "service code", offsetof(reg_entry_t, service_code) },
	{ "unauthorized", offsetof(reg_entry_t, unauthorized) },
};
#define N_TEXT_FIELDS (sizeof(text_fields) / sizeof(text_fields[0]))

static const char *
field_of(const reg_entry_t *e, size_t k)
{
	return *(const char *const *)((const char *)e + text_fields[k].off);
}

START_TEST(csv_and_xml_agree)
{
	const reg_entry_t **c = sorted_entries(csv_reg), **x = sorted_entries(xml_reg);
	size_t nc = registry_count(csv_reg), nx = registry_count(xml_reg);
	size_t i = 0, j = 0, shared = 0, only_csv = 0, only_xml = 0;
	size_t status_diff = 0, differ = 0, field_diff[N_TEXT_FIELDS] = { 0 };

	printf("csv vs xml, shared keys whose records differ:\n");
	while (i < nc || j < nx) {
		int k = i == nc ? 1 : j == nx ? -1 : key_cmp(&c[i], &x[j]);
		if (k < 0) {
			only_csv++, i++;
			continue;
		}
		if (k > 0) {
			only_xml++, j++;
			continue;
		}
		const reg_entry_t *a = c[i++], *b = x[j++];
		int st = a->status != b->status, any = st;
		shared++;
		status_diff += st;
		for (size_t f = 0; f < N_TEXT_FIELDS; f++)
			any |= strcmp(field_of(a, f), field_of(b, f)) != 0;
		if (!any)
			continue;
		print_key(a, b);
		if (st)
			printf("    status: csv %s, xml %s\n", portq_status_name(a->status),
			       portq_status_name(b->status));
		for (size_t f = 0; f < N_TEXT_FIELDS; f++) {
			if (strcmp(field_of(a, f), field_of(b, f)) == 0)
				continue;
			field_diff[f]++;
			printf("    %s: csv \"%s\"\n    %*s  xml \"%s\"\n", text_fields[f].name,
			       field_of(a, f), (int)strlen(text_fields[f].name), "",
			       field_of(b, f));
		}
		differ += st || strcmp(a->description, b->description) != 0;
	}
	printf("csv vs xml: %zu csv records, %zu xml records, %zu keys shared, "
	       "%zu only in csv, %zu only in xml\n", nc, nx, shared, only_csv, only_xml);
	printf("csv vs xml: of the shared, %zu differ in status or description "
	       "(%zu in status)\n", differ, status_diff);
	for (size_t f = 0; f < N_TEXT_FIELDS; f++)
		printf("csv vs xml: %zu differ in %s\n", field_diff[f], text_fields[f].name);
	free(c);
	free(x);

	ck_assert_uint_eq(shared + only_csv, nc);
	ck_assert_uint_eq(shared + only_xml, nx);
	/* Most of the registry did not change in two years. */
	ck_assert_uint_gt(shared, nx * 95 / 100);
	ck_assert_msg(differ < MAX_DIFFERENCES, "%zu shared records differ", differ);
	for (size_t f = 0; f < N_TEXT_FIELDS; f++)
		if (strcmp(text_fields[f].name, "notes") == 0)
			ck_assert_msg(field_diff[f] < MAX_NOTE_DIFFERENCES, "%zu notes differ",
			              field_diff[f]);
}
END_TEST

/* ------------------------------------------------------------- context */

/* Each port's state for tp, from the raw CSV rows alone. */
static uint8_t *
raw_states(uint8_t tp)
{
	uint8_t *state = calloc(REG_PORTS, 1);
	ck_assert_ptr_nonnull(state);
	for (size_t i = 0; i < raw.n; i++) {
		char **f = raw.rows[i].f;
		unsigned lo, hi;
		uint8_t rtp = raw_transport(f[C_PROTO]);
		if (raw_ports(f[C_PORT], &lo, &hi) && port_oracle_matches(tp, rtp))
			port_oracle_claim(state, lo, hi, raw_status(f[C_NAME][0] != '\0', f[C_DESC]));
	}
	return state;
}

/* What registry_context must say about port p, worked out by walking. */
static void
raw_context(const uint8_t *state, unsigned p, portq_context_t *want)
{
	memset(want, 0, sizeof(*want));
	want->range_class = p <= 1023 ? PORTQ_CLASS_SYSTEM :
	                    p <= 49151 ? PORTQ_CLASS_USER : PORTQ_CLASS_DYNAMIC;
	want->state = state[p];
	if (port_oracle_free(state[p])) {
		unsigned lo = p, hi = p;
		while (lo > 0 && port_oracle_free(state[lo - 1]))
			lo--;
		while (hi < REG_PORTS - 1 && port_oracle_free(state[hi + 1]))
			hi++;
		want->cflags |= PORTQ_CF_FREE;
		want->free_lo = (uint16_t)lo;
		want->free_hi = (uint16_t)hi;
	}
	for (long q = (long)p - 1; q >= 0; q--)
		if (state[q] == PORTQ_ST_ASSIGNED) {
			want->cflags |= PORTQ_CF_BELOW;
			want->below = (uint16_t)q;
			break;
		}
	for (unsigned q = p + 1; q < REG_PORTS; q++)
		if (state[q] == PORTQ_ST_ASSIGNED) {
			want->cflags |= PORTQ_CF_ABOVE;
			want->above = (uint16_t)q;
			break;
		}
}

static void
assert_context_eq(unsigned p, uint8_t tp, const portq_context_t *want)
{
	portq_context_t got;
	registry_context(csv_reg, (uint16_t)p, tp, &got);
	ck_assert_msg(got.range_class == want->range_class && got.state == want->state &&
	              got.cflags == want->cflags && got.free_lo == want->free_lo &&
	              got.free_hi == want->free_hi && got.below == want->below &&
	              got.above == want->above,
	              "port %u/%s: got %s flags %#x free %u-%u below %u above %u; want "
	              "%s %#x %u-%u %u %u", p, portq_transport_name(tp),
	              portq_status_name(got.state), got.cflags, got.free_lo, got.free_hi,
	              got.below, got.above, portq_status_name(want->state), want->cflags,
	              want->free_lo, want->free_hi, want->below, want->above);
}

START_TEST(port_293_context)
{
	/* The row that covers 293, as the raw file has it. */
	const raw_row_t *cover = NULL;
	size_t covers = 0;
	for (size_t i = 0; i < raw.n; i++) {
		unsigned lo, hi;
		if (raw_ports(raw.rows[i].f[C_PORT], &lo, &hi) && lo <= 293 && 293 <= hi) {
			cover = &raw.rows[i];
			covers++;
		}
	}
	ck_assert_uint_eq(covers, 1);
	printf("port 293: covered by csv line %u: \"%s\",%s,%s,%s\n", cover->line,
	       cover->f[C_NAME], cover->f[C_PORT], cover->f[C_PROTO], cover->f[C_DESC]);

	for (uint8_t tp = PORTQ_TP_ANY; tp < PORTQ_TP_COUNT; tp++) {
		uint8_t *state = raw_states(tp);
		portq_context_t want;
		raw_context(state, 293, &want);
		if (tp == PORTQ_TP_ANY) {
			printf("port 293: %s, free %u-%u, assigned below %u, above %u\n",
			       portq_status_name(want.state), want.free_lo, want.free_hi,
			       want.below, want.above);
			/* The covering row decides the state... */
			ck_assert_uint_eq(want.state, raw_status(cover->f[C_NAME][0] != '\0',
			                                         cover->f[C_DESC]));
		}
		assert_context_eq(293, tp, &want);
		free(state);
	}
	/* ...and for a free port the block contains the covering range. */
	portq_context_t got;
	unsigned lo, hi;
	raw_ports(cover->f[C_PORT], &lo, &hi);
	registry_context(csv_reg, 293, PORTQ_TP_ANY, &got);
	if (got.cflags & PORTQ_CF_FREE) {
		ck_assert_uint_le(got.free_lo, lo);
		ck_assert_uint_ge(got.free_hi, hi);
		ck_assert_uint_lt(got.below, got.free_lo);
		ck_assert_uint_gt(got.above, got.free_hi);
	}
}
END_TEST

START_TEST(every_port_context)
{
	/* The same derivation for every port, for any, tcp and udp. Free
	 * blocks and neighbours are found by walking, so step through each
	 * block once and spot-check inside it. */
	static const uint8_t tps[] = { PORTQ_TP_ANY, PORTQ_TP_TCP, PORTQ_TP_UDP };
	for (size_t t = 0; t < sizeof(tps) / sizeof(tps[0]); t++) {
		uint8_t *state = raw_states(tps[t]);
		size_t checked = 0;
		for (unsigned p = 0; p < REG_PORTS; p++) {
			portq_context_t want;
			raw_context(state, p, &want);
			assert_context_eq(p, tps[t], &want);
			checked++;
			/* In a long free block, neighbours are the same throughout:
			 * check its last port and move on. */
			if ((want.cflags & PORTQ_CF_FREE) && want.free_hi > p + 1)
				p = want.free_hi - 1u;
		}
		ck_assert_uint_gt(checked, 1000);
		free(state);
	}
}
END_TEST

static Suite *
snapshot_suite(void)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("snapshot");
	/* Loaded once; the tests only read. */
	tcase_add_unchecked_fixture(tc, snapshot_setup, snapshot_teardown);
	/* Generous: the whole registry under valgrind or the sanitizers. */
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, csv_counts_match_raw);
	tcase_add_test(tc, xml_counts_match_raw);
	tcase_add_test(tc, every_csv_row_found);
	tcase_add_test(tc, csv_and_xml_agree);
	tcase_add_test(tc, port_293_context);
	tcase_add_test(tc, every_port_context);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = snapshot_suite };
