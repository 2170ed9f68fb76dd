/*
 * registry.c -- the registry builder, its indexes and its lookups.
 *
 * Everything a lookup needs is computed once, when the registry is built:
 * a port -> records table, a case-folded name hash, per-transport port
 * states with their free blocks and assigned neighbours, lower-cased
 * search text, and each record's wire encoding. A lookup then only reads.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "loader.h"
#include "registry.h"
#include "search.h"
#include "utf8.h"

struct reg_builder {
	arena_t arena;
	reg_entry_t *entries;
	size_t n, cap;
	reg_source_t *sources;
	size_t n_sources, cap_sources;
	size_t max_bytes;        /* of one file; 0: REG_MAX_BYTES_DEFAULT */
	uint64_t deadline_ms;    /* CLOCK_MONOTONIC; 0: none */
	uint32_t *hashes;        /* per entry: row_hash() of its content */
	uint32_t *dup_slots;     /* entry index + 1 by content hash; 0 is free */
	size_t dup_mask;
	size_t range_slots;      /* port-table slots the ranges will take */
};

typedef struct {
	const char *lname;       /* case-folded name; NULL marks a free slot */
	uint32_t hash;
	uint32_t start, count;   /* run in name_list */
} name_slot_t;

/* Per-transport view of the port space, for PORT contexts. */
typedef struct {
	uint8_t state[REG_PORTS];
	uint16_t free_lo[REG_PORTS], free_hi[REG_PORTS];
	int32_t below[REG_PORTS], above[REG_PORTS];
} port_map_t;

struct registry {
	arena_t arena;
	uint32_t serial;
	reg_entry_t *entries;    /* ported ones first, by first port */
	size_t n, n_ported;
	reg_source_t *sources;
	size_t n_sources;
	char date[11];
	uint32_t *port_start;    /* REG_PORTS + 1 offsets into port_list */
	uint32_t *port_list;
	port_map_t *maps;        /* one per transport, PORTQ_TP_ANY first */
	name_slot_t *slots;
	size_t slot_mask, n_names;
	uint32_t *name_list;
	search_doc_t *docs;      /* per entry: case-folded name, aliases and
	                            description, as consecutive strings */
	search_index_t *search;  /* n-grams over docs */
};

/* ---------------------------------------------------------------- builder */

reg_builder_t *
reg_builder_new(void)
{
	reg_builder_t *b = calloc(1, sizeof(*b));
	if (b != NULL)
		arena_init(&b->arena);
	return b;
}

void
reg_builder_set_limits(reg_builder_t *b, size_t max_bytes, uint64_t deadline_ms)
{
	if (b == NULL)
		return;
	b->max_bytes = max_bytes;
	b->deadline_ms = deadline_ms;
}

size_t
reg_builder_count(const reg_builder_t *b)
{
	return b != NULL ? b->n : 0;
}

uint64_t
reg_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
reg_builder_free(reg_builder_t *b)
{
	if (b == NULL)
		return;
	arena_free(&b->arena);
	free(b->entries);
	free(b->sources);
	free(b->hashes);
	free(b->dup_slots);
	free(b);
}

const reg_entry_t *
reg_builder_entry(const reg_builder_t *b, size_t i)
{
	return b != NULL && i < b->n ? &b->entries[i] : NULL;
}

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

static const char *
copy_text(reg_builder_t *b, reg_text_t t)
{
	if (t.n == 0)
		return "";
	return arena_strndup(&b->arena, t.p, t.n);
}

static int
same_text(const char *stored, reg_text_t t)
{
	/* An absent field is {NULL, 0}: memcmp() must not see the NULL. */
	return strlen(stored) == t.n && (t.n == 0 || memcmp(stored, t.p, t.n) == 0);
}

/* The TEXT fields (proto/fields.h) of a row, of an entry `e`, their
 * places in `e`, and their names in messages, in list order. */
#define ROW_TEXT(m, api, wire, what)        &row->m,
#define ENTRY_TEXT(m, api, wire, what)      e->m,
#define ENTRY_TEXT_SLOT(m, api, wire, what) &e->m,
#define TEXT_WHAT(m, api, wire, what)       what,

static uint32_t
hash_bytes(uint32_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 16777619u;        /* FNV-1a */
	return h;
}

/* A hash of everything that makes a record what it is (not where it was). */
static uint32_t
row_hash(const reg_row_t *row, uint8_t origin, const reg_text_t *const *fields,
         size_t n_fields)
{
	uint8_t head[] = { (uint8_t)(row->port_lo >> 8), (uint8_t)row->port_lo,
		(uint8_t)(row->port_hi >> 8), (uint8_t)row->port_hi, row->has_port,
		row->transport, row->status, origin, row->n_aliases };
	uint32_t h = hash_bytes(2166136261u, head, sizeof(head));
	for (size_t i = 0; i < n_fields; i++) {
		uint32_t n = (uint32_t)fields[i]->n;
		h = hash_bytes(hash_bytes(h, &n, sizeof(n)), fields[i]->p, fields[i]->n);
	}
	for (unsigned i = 0; i < row->n_aliases; i++) {
		uint32_t n = (uint32_t)row->aliases[i].n;
		h = hash_bytes(hash_bytes(h, &n, sizeof(n)), row->aliases[i].p,
		               row->aliases[i].n);
	}
	return h;
}

static int
row_equals(const reg_entry_t *e, const reg_row_t *row, uint8_t origin,
           const reg_text_t *const *fields)
{
	if (e->port_lo != row->port_lo || e->port_hi != row->port_hi ||
	    e->has_port != row->has_port || e->transport != row->transport ||
	    e->status != row->status || e->origin != origin ||
	    e->n_aliases != row->n_aliases)
		return 0;
	const char *const stored[] = { PORTQ_TEXT_FIELDS(ENTRY_TEXT) };
	for (size_t i = 0; i < sizeof(stored) / sizeof(stored[0]); i++)
		if (!same_text(stored[i], *fields[i]))
			return 0;
	for (unsigned i = 0; i < row->n_aliases; i++)
		if (!same_text(e->aliases[i], row->aliases[i]))
			return 0;
	return 1;
}

/* Keep the duplicate table at most half full; 0, or -1 when out of memory. */
static int
dup_grow(reg_builder_t *b)
{
	size_t slots = b->dup_mask ? (b->dup_mask + 1) * 2 : 512;
	uint32_t *t = calloc(slots, sizeof(*t));
	if (t == NULL)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		size_t s = b->hashes[i] & (slots - 1);
		while (t[s] != 0)
			s = (s + 1) & (slots - 1);
		t[s] = (uint32_t)i + 1;
	}
	free(b->dup_slots);
	b->dup_slots = t;
	b->dup_mask = slots - 1;
	return 0;
}

int
reg_load_add(reg_load_t *ld, const reg_row_t *row)
{
	reg_builder_t *b = ld->b;
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

	/* An exact repeat (same origin and every field) is dropped and
	 * counted: served twice it would only repeat itself in answers. */
	if ((b->n + 1) * 2 > b->dup_mask && dup_grow(b) < 0)
		goto nomem;
	uint32_t h = row_hash(row, ld->origin, fields, n_fields);
	size_t slot = h & b->dup_mask;
	for (; b->dup_slots[slot] != 0; slot = (slot + 1) & b->dup_mask) {
		uint32_t k = b->dup_slots[slot] - 1;
		if (b->hashes[k] == h && row_equals(&b->entries[k], row, ld->origin, fields)) {
			if (ld->src->duplicates++ == 0)
				ld->src->first_duplicate = row->line;
			return PORTQ_OK;
		}
	}

	/* Each port of a range is a slot in the port table (registry.h). */
	if (row->has_port && row->port_lo != row->port_hi) {
		size_t span = (size_t)row->port_hi - row->port_lo + 1;
		if (b->range_slots + span > REG_MAX_RANGE_SLOTS)
			return reg_load_fail(ld, row->line, "port ranges cover more than %u "
			                     "ports in all (one table slot per port and record); "
			                     "merge or narrow the ranges", REG_MAX_RANGE_SLOTS);
		b->range_slots += span;
	}

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		reg_entry_t *e = realloc(b->entries, cap * sizeof(*e));
		if (e != NULL)
			b->entries = e;
		uint32_t *hs = e != NULL ? realloc(b->hashes, cap * sizeof(*hs)) : NULL;
		if (hs == NULL)
			goto nomem;
		b->hashes = hs;
		b->cap = cap;
	}
	reg_entry_t *e = &b->entries[b->n];
	memset(e, 0, sizeof(*e));
	e->port_lo = row->port_lo;
	e->port_hi = row->port_hi;
	e->has_port = row->has_port;
	e->transport = row->transport;
	e->status = row->status;
	e->origin = ld->origin;
	e->source = ld->src->path;
	e->line = row->line;
	e->seq = (uint32_t)b->n;
	const char **dst[] = { PORTQ_TEXT_FIELDS(ENTRY_TEXT_SLOT) };
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if ((*dst[i] = copy_text(b, *fields[i])) == NULL)
			goto nomem;
	if (row->n_aliases > 0) {
		e->aliases = arena_alloc(&b->arena, row->n_aliases * sizeof(char *));
		if (e->aliases == NULL)
			goto nomem;
		for (unsigned i = 0; i < row->n_aliases; i++)
			if ((e->aliases[i] = copy_text(b, row->aliases[i])) == NULL)
				goto nomem;
		e->n_aliases = row->n_aliases;
	}
	b->hashes[b->n] = h;
	b->dup_slots[slot] = (uint32_t)b->n + 1;
	b->n++;

	reg_source_t *s = ld->src;
	s->rows++;
	s->by_status[e->status]++;
	s->by_transport[e->transport]++;
	if (!e->has_port)
		s->portless++;
	else if (e->port_lo != e->port_hi)
		s->ranges++;
	else
		s->singles++;
	if (e->name[0] == '\0')
		s->nameless++;
	return PORTQ_OK;
nomem:
	snprintf(ld->err->text, sizeof(ld->err->text), "%s: out of memory", ld->path);
	return PORTQ_ENOMEM;
}

reg_format_t
reg_format_detect(const char *data, size_t len)
{
	size_t i = 0;
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < len && isspace((unsigned char)data[i]))
		i++;
	if (i < len && data[i] == '<')
		return REG_FMT_IANA_XML;
	if (len - i >= 13 && strncasecmp(data + i, "Service Name,", 13) == 0)
		return REG_FMT_IANA_CSV;
	/* The first line that is neither blank nor a comment. */
	while (i < len) {
		size_t eol = i;
		while (eol < len && data[eol] != '\n')
			eol++;
		reg_text_t line = reg_text_trim(reg_text(data + i, eol - i));
		if (line.n > 0 && line.p[0] != '#') {
			if (line.n >= 11 && strncmp(line.p, "portq-local", 11) == 0 &&
			    (line.n == 11 || isspace((unsigned char)line.p[11])))
				return REG_FMT_LOCAL;
			break;
		}
		i = eol + 1;
	}
	return REG_FMT_SERVICES;
}

static const char *const format_names[] = { "auto", "iana-csv", "iana-xml",
	"services", "local" };

const char *
reg_format_name(reg_format_t f)
{
	return (unsigned)f < 5 ? format_names[f] : "unknown";
}

reg_format_t
reg_format_parse(const char *s, size_t len)
{
	static const struct { const char *word; reg_format_t f; } words[] = {
		{ "csv", REG_FMT_IANA_CSV }, { "iana-csv", REG_FMT_IANA_CSV },
		{ "xml", REG_FMT_IANA_XML }, { "iana-xml", REG_FMT_IANA_XML },
		{ "services", REG_FMT_SERVICES }, { "local", REG_FMT_LOCAL },
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i].word) == len && strncmp(words[i].word, s, len) == 0)
			return words[i].f;
	return REG_FMT_AUTO;
}

int
reg_builder_load_mem(reg_builder_t *b, const char *name, const char *data,
                     size_t len, reg_format_t format, reg_error_t *err)
{
	if (b == NULL || name == NULL || (data == NULL && len > 0) || err == NULL)
		return PORTQ_EINVAL;
	if (data == NULL)
		data = "";                     /* the parsers pass it to memchr() */
	if (b->n_sources == b->cap_sources) {
		size_t cap = b->cap_sources ? b->cap_sources * 2 : 4;
		reg_source_t *s = realloc(b->sources, cap * sizeof(*s));
		if (s == NULL) {
			snprintf(err->text, sizeof(err->text), "%s: out of memory", name);
			return PORTQ_ENOMEM;
		}
		b->sources = s;
		b->cap_sources = cap;
	}
	if (format == REG_FMT_AUTO)
		format = reg_format_detect(data ? data : "", len);
	reg_source_t *src = &b->sources[b->n_sources];
	memset(src, 0, sizeof(*src));
	src->format = format;
	src->path = arena_strndup(&b->arena, name, strlen(name));
	if (src->path == NULL) {
		snprintf(err->text, sizeof(err->text), "%s: out of memory", name);
		return PORTQ_ENOMEM;
	}
	b->n_sources++;

	reg_load_t ld = { b, src, err, src->path,
		format == REG_FMT_LOCAL ? PORTQ_ORIGIN_LOCAL :
		format == REG_FMT_SERVICES ? PORTQ_ORIGIN_SERVICES : PORTQ_ORIGIN_IANA };
	err->text[0] = '\0';
	switch (format) {
	case REG_FMT_IANA_CSV: return load_csv(&ld, data, len);
	case REG_FMT_IANA_XML: return load_xml(&ld, data, len);
	case REG_FMT_SERVICES: return load_services(&ld, data, len);
	case REG_FMT_LOCAL:    return load_local(&ld, data, len);
	default:
		snprintf(err->text, sizeof(err->text), "%s: unknown format", name);
		return PORTQ_EFORMAT;
	}
}

static const char *
file_type_name(mode_t m)
{
	return S_ISDIR(m) ? "a folder" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ?
	       "a character device" : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ?
	       "a socket" : "not a regular file";
}

/*
 * Read a whole registry file without ever waiting on it: opened
 * non-blocking (a FIFO opens at once instead of waiting for a writer,
 * and is then refused), only a regular file is read, never more than
 * max bytes (a file that keeps growing is refused, not chased), and
 * never past the deadline. A file whose size or time changed while it
 * was read is refused too: what was read is no single version of it.
 */
static int
read_file(reg_builder_t *b, const char *path, char **out, size_t *out_len,
          reg_error_t *err)
{
	size_t max = b->max_bytes ? b->max_bytes : REG_MAX_BYTES_DEFAULT;
	char *data = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		goto io_error;
	struct stat st, after;
	if (fstat(fd, &st) != 0)
		goto io_error;
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err->text, sizeof(err->text), "%s: not a regular file (%s)",
		         path, file_type_name(st.st_mode));
		return PORTQ_EIO;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		snprintf(err->text, sizeof(err->text), "%s: file of %lld bytes is larger "
		         "than registry-max-bytes (%zu)", path, (long long)st.st_size, max);
		return PORTQ_EPARSE;
	}
	/* Read to the end rather than trusting st_size, but one byte past
	 * the limit at most: that byte says the file grew past it. */
	size_t cap = (size_t)st.st_size + 1, len = 0;
	if ((data = malloc(cap)) == NULL)
		goto nomem;
	for (;;) {
		if (b->deadline_ms != 0 && reg_clock_ms() >= b->deadline_ms) {
			free(data);
			close(fd);
			snprintf(err->text, sizeof(err->text), "%s: reading took too long "
			         "(%zu bytes read; reload-timeout)", path, len);
			return PORTQ_ETIMEDOUT;
		}
		if (len == cap) {
			if (len > max)
				break;
			size_t want = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *grown = realloc(data, want);
			if (grown == NULL)
				goto nomem;
			data = grown;
			cap = want;
		}
		ssize_t got = read(fd, data + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			goto io_error;
		if (got == 0)
			break;
		len += (size_t)got;
	}
	if (len > max) {
		free(data);
		close(fd);
		snprintf(err->text, sizeof(err->text), "%s: file grew past registry-max-bytes "
		         "(%zu) while being read", path, max);
		return PORTQ_EPARSE;
	}
	if (fstat(fd, &after) != 0)
		goto io_error;
	close(fd);
	fd = -1;
	if (after.st_size != st.st_size || after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
	    after.st_mtim.tv_nsec != st.st_mtim.tv_nsec || (off_t)len != after.st_size) {
		free(data);
		snprintf(err->text, sizeof(err->text), "%s: file changed while being read",
		         path);
		return PORTQ_EAGAIN;
	}
	*out = data;
	*out_len = len;
	return PORTQ_OK;
nomem:
	free(data);
	close(fd);
	snprintf(err->text, sizeof(err->text), "%s: out of memory", path);
	return PORTQ_ENOMEM;
io_error:
	{
		int e = errno;
		free(data);
		if (fd >= 0)
			close(fd);
		snprintf(err->text, sizeof(err->text), "%s: %s", path,
		         e == EAGAIN ? "read would block" : strerror(e));
	}
	return PORTQ_EIO;
}

int
reg_builder_load(reg_builder_t *b, const char *path, reg_format_t format,
                 reg_error_t *err)
{
	if (b == NULL || path == NULL || err == NULL)
		return PORTQ_EINVAL;
	char *data;
	size_t len;
	int rc = read_file(b, path, &data, &len, err);
	if (rc != PORTQ_OK)
		return rc;
	/* An emptied file (a "> file" or the first moment of a copy) would
	 * load as an empty services file and answer NOT-FOUND to everything. */
	if (len == 0) {
		free(data);
		snprintf(err->text, sizeof(err->text), "%s: empty file", path);
		return PORTQ_EPARSE;
	}
	rc = reg_builder_load_mem(b, path, data, len, format, err);
	free(data);
	return rc;
}

/* ---------------------------------------------------------------- indexing */

static unsigned
origin_rank(uint8_t origin)
{
	/* The organisation's word first, then the host's file, then IANA. */
	return origin == PORTQ_ORIGIN_LOCAL ? 0 : origin == PORTQ_ORIGIN_SERVICES ? 1 : 2;
}

static unsigned
status_rank(uint8_t status)
{
	switch (status) {
	case PORTQ_ST_LOCAL:        return 5;
	case PORTQ_ST_ASSIGNED:     return 4;
	case PORTQ_ST_RESERVED:     return 3;
	case PORTQ_ST_DEREGISTERED: return 2;
	case PORTQ_ST_UNASSIGNED:   return 1;
	}
	return 0;
}

static int
entry_cmp(const void *pa, const void *pb)
{
	const reg_entry_t *a = pa, *b = pb;
	if (a->has_port != b->has_port)
		return a->has_port ? -1 : 1;
	if (a->has_port && a->port_lo != b->port_lo)
		return a->port_lo < b->port_lo ? -1 : 1;
	unsigned ra = origin_rank(a->origin), rb = origin_rank(b->origin);
	if (ra != rb)
		return ra < rb ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int
answer_order_cmp(const void *pa, const void *pb, void *arg)
{
	const reg_entry_t *entries = arg;
	const reg_entry_t *a = &entries[*(const uint32_t *)pa];
	const reg_entry_t *b = &entries[*(const uint32_t *)pb];
	unsigned ra = origin_rank(a->origin), rb = origin_rank(b->origin);
	if (ra != rb)
		return ra < rb ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static inline int
matches(const reg_entry_t *e, uint8_t tp)
{
	return tp == PORTQ_TP_ANY || e->transport == PORTQ_TP_ANY || e->transport == tp;
}

static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;          /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static char *
fold_dup(arena_t *a, const char *s)
{
	size_t n = strlen(s);
	char *p = arena_alloc(a, n + 1);
	if (p == NULL)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		p[i] = (char)tolower((unsigned char)s[i]);
	return p;
}

static int
build_port_index(registry_t *r)
{
	r->port_start = arena_alloc(&r->arena, (REG_PORTS + 1) * sizeof(uint32_t));
	uint32_t *order = malloc(r->n_ported * sizeof(uint32_t) + 1);
	if (r->port_start == NULL || order == NULL) {
		free(order);
		return PORTQ_ENOMEM;
	}
	memset(r->port_start, 0, (REG_PORTS + 1) * sizeof(uint32_t));
	size_t total = 0;
	for (size_t i = 0; i < r->n_ported; i++) {
		const reg_entry_t *e = &r->entries[i];
		for (unsigned p = e->port_lo; p <= e->port_hi; p++)
			r->port_start[p + 1]++;
		total += (size_t)e->port_hi - e->port_lo + 1;
		order[i] = (uint32_t)i;
	}
	if (total > UINT32_MAX) {
		free(order);
		return PORTQ_ENOMEM;
	}
	for (unsigned p = 0; p < REG_PORTS; p++)
		r->port_start[p + 1] += r->port_start[p];
	r->port_list = arena_alloc(&r->arena, total * sizeof(uint32_t) + 1);
	uint32_t *fill = malloc(REG_PORTS * sizeof(uint32_t));
	if (r->port_list == NULL || fill == NULL) {
		free(order);
		free(fill);
		return PORTQ_ENOMEM;
	}
	memcpy(fill, r->port_start, REG_PORTS * sizeof(uint32_t));
	qsort_r(order, r->n_ported, sizeof(uint32_t), answer_order_cmp, r->entries);
	for (size_t k = 0; k < r->n_ported; k++) {
		const reg_entry_t *e = &r->entries[order[k]];
		for (unsigned p = e->port_lo; p <= e->port_hi; p++)
			r->port_list[fill[p]++] = order[k];
	}
	free(order);
	free(fill);
	return PORTQ_OK;
}

static void
build_port_map(const registry_t *r, uint8_t tp, port_map_t *m)
{
	for (unsigned p = 0; p < REG_PORTS; p++) {
		uint8_t best = PORTQ_ST_UNLISTED;
		for (uint32_t k = r->port_start[p]; k < r->port_start[p + 1]; k++) {
			const reg_entry_t *e = &r->entries[r->port_list[k]];
			if (matches(e, tp) && status_rank(e->status) > status_rank(best))
				best = e->status;
		}
		m->state[p] = best;
	}
#define IS_FREE(s)     ((s) == PORTQ_ST_UNASSIGNED || (s) == PORTQ_ST_UNLISTED)
#define IS_ASSIGNED(s) ((s) == PORTQ_ST_ASSIGNED || (s) == PORTQ_ST_LOCAL)
	int32_t last = -1;
	unsigned run = 0;
	for (unsigned p = 0; p < REG_PORTS; p++) {
		m->below[p] = last;
		if (IS_ASSIGNED(m->state[p]))
			last = (int32_t)p;
		if (IS_FREE(m->state[p])) {
			if (p == 0 || !IS_FREE(m->state[p - 1]))
				run = p;
			m->free_lo[p] = (uint16_t)run;
		}
	}
	last = -1;
	for (unsigned p = REG_PORTS; p-- > 0;) {
		m->above[p] = last;
		if (IS_ASSIGNED(m->state[p]))
			last = (int32_t)p;
		if (IS_FREE(m->state[p])) {
			if (p == REG_PORTS - 1 || !IS_FREE(m->state[p + 1]))
				run = p;
			m->free_hi[p] = (uint16_t)run;
		}
	}
}

typedef struct {
	const char *lname;
	uint32_t entry;
} name_ref_t;

static int
name_ref_cmp(const void *pa, const void *pb, void *arg)
{
	const name_ref_t *a = pa, *b = pb;
	int c = strcmp(a->lname, b->lname);
	if (c != 0)
		return c;
	return answer_order_cmp(&a->entry, &b->entry, arg);
}

static int
build_name_index(registry_t *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += (r->entries[i].name[0] != '\0') + r->entries[i].n_aliases;
	name_ref_t *refs = malloc(n * sizeof(*refs) + 1);
	r->name_list = arena_alloc(&r->arena, n * sizeof(uint32_t) + 1);
	if (refs == NULL || r->name_list == NULL) {
		free(refs);
		return PORTQ_ENOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < r->n; i++) {
		const reg_entry_t *e = &r->entries[i];
		for (int a = -1; a < (int)e->n_aliases; a++) {
			const char *s = a < 0 ? e->name : e->aliases[a];
			if (s[0] == '\0')
				continue;
			if ((refs[k].lname = fold_dup(&r->arena, s)) == NULL) {
				free(refs);
				return PORTQ_ENOMEM;
			}
			refs[k++].entry = (uint32_t)i;
		}
	}
	qsort_r(refs, n, sizeof(*refs), name_ref_cmp, r->entries);

	size_t distinct = 0;
	for (size_t i = 0; i < n; i++)
		distinct += (i == 0 || strcmp(refs[i].lname, refs[i - 1].lname) != 0);
	size_t slots = 16;
	while (slots < distinct * 2)
		slots *= 2;
	r->slots = arena_alloc(&r->arena, slots * sizeof(name_slot_t));
	if (r->slots == NULL) {
		free(refs);
		return PORTQ_ENOMEM;
	}
	memset(r->slots, 0, slots * sizeof(name_slot_t));
	r->slot_mask = slots - 1;
	r->n_names = distinct;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && strcmp(refs[j].lname, refs[i].lname) == 0) {
			r->name_list[j] = refs[j].entry;
			j++;
		}
		uint32_t h = name_hash(refs[i].lname);
		size_t s = h & r->slot_mask;
		while (r->slots[s].lname != NULL)
			s = (s + 1) & r->slot_mask;
		r->slots[s] = (name_slot_t){ refs[i].lname, h, (uint32_t)i, (uint32_t)(j - i) };
		i = j;
	}
	free(refs);
	return PORTQ_OK;
}

static int
build_search_text(registry_t *r)
{
	r->docs = arena_alloc(&r->arena, r->n * sizeof(search_doc_t) + 1);
	if (r->docs == NULL)
		return PORTQ_ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		const reg_entry_t *e = &r->entries[i];
		size_t len = strlen(e->name) + strlen(e->description) + 2;
		for (unsigned a = 0; a < e->n_aliases; a++)
			len += strlen(e->aliases[a]) + 1;
		char *h = arena_alloc(&r->arena, len + 1), *p = h;
		if (h == NULL)
			return PORTQ_ENOMEM;
		/* Separate strings, not one joined by '\n': descriptions hold
		 * line breaks, and a match must not span two parts. */
		p += sprintf(p, "%s", e->name) + 1;
		for (unsigned a = 0; a < e->n_aliases; a++)
			p += sprintf(p, "%s", e->aliases[a]) + 1;
		strcpy(p, e->description);
		for (p = h; p < h + len; p++)
			*p = (char)tolower((unsigned char)*p);
		r->docs[i] = (search_doc_t){ h, (uint8_t)(2 + e->n_aliases), e->transport };
	}
	r->search = search_index_build(r->docs, r->n);
	return r->search != NULL ? PORTQ_OK : PORTQ_ENOMEM;
}

/* Each field of the entry into its wire form, by kind (proto/fields.h). */
#define TO_RECORD(m, api, kind, wire, max, rank, label, what) TO_RECORD_##kind(m)
#define TO_RECORD_TEXT(m) rec->m = (portq_str_t){ e->m, (uint16_t)strlen(e->m) };
#define TO_RECORD_LIST(m)                                                     \
	for (unsigned i = 0; i < e->n_##m; i++)                               \
		rec->m[i] = (portq_str_t){ e->m[i], (uint16_t)strlen(e->m[i]) }; \
	rec->n_##m = e->n_##m;
#define TO_RECORD_ENUM(m) rec->m = e->m;
#define TO_RECORD_PORTS(m)                                                    \
	rec->rflags = e->has_##m ? PORTQ_RF_HAS_PORT : 0;                     \
	rec->m##_lo = e->has_##m ? e->m##_lo : 0;                             \
	rec->m##_hi = e->has_##m ? e->m##_hi : 0;
#define TO_RECORD_FLAG(m)

void
reg_entry_to_record(const reg_entry_t *e, portq_record_t *rec)
{
	memset(rec, 0, sizeof(*rec));
	PORTQ_RECORD_FIELDS(TO_RECORD)
}

static int
build_wire(registry_t *r)
{
	uint8_t *buf = malloc(PORTQ_MSG_MAX);
	if (buf == NULL)
		return PORTQ_ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		reg_entry_t *e = &r->entries[i];
		portq_record_t rec;
		reg_entry_to_record(e, &rec);
		wire_t w = wire_writer(buf, PORTQ_MSG_MAX);
		portq_record_write(&w, &rec);
		/* reg_load_add() already refused records the wire cannot carry. */
		uint8_t *copy = w.error == PORTQ_OK ? arena_alloc(&r->arena, wire_used(&w)) : NULL;
		if (copy == NULL) {
			free(buf);
			return PORTQ_ENOMEM;
		}
		memcpy(copy, buf, wire_used(&w));
		e->wire = copy;
		e->wire_len = (uint16_t)wire_used(&w);
	}
	free(buf);
	return PORTQ_OK;
}

registry_t *
registry_build(reg_builder_t *b, uint32_t serial)
{
	if (b == NULL)
		return NULL;
	registry_t *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		reg_builder_free(b);
		return NULL;
	}
	/* The registry takes over the builder's arena and arrays. */
	r->arena = b->arena;
	r->entries = b->entries;
	r->n = b->n;
	r->sources = b->sources;
	r->n_sources = b->n_sources;
	r->serial = serial;
	free(b->hashes);
	free(b->dup_slots);
	free(b);

	if (r->n > 0)                      /* entries is NULL when nothing loaded */
		qsort(r->entries, r->n, sizeof(reg_entry_t), entry_cmp);
	while (r->n_ported < r->n && r->entries[r->n_ported].has_port)
		r->n_ported++;
	for (size_t i = 0; i < r->n_sources; i++)
		if (strcmp(r->sources[i].date, r->date) > 0)
			memcpy(r->date, r->sources[i].date, sizeof(r->date));

	r->maps = malloc(PORTQ_TP_COUNT * sizeof(port_map_t));
	if (r->maps == NULL || build_port_index(r) != PORTQ_OK ||
	    build_name_index(r) != PORTQ_OK || build_search_text(r) != PORTQ_OK ||
	    build_wire(r) != PORTQ_OK) {
		registry_free(r);
		return NULL;
	}
	for (uint8_t tp = 0; tp < PORTQ_TP_COUNT; tp++)
		build_port_map(r, tp, &r->maps[tp]);
	return r;
}

void
registry_free(registry_t *r)
{
	if (r == NULL)
		return;
	search_index_free(r->search);
	arena_free(&r->arena);
	free(r->entries);
	free(r->sources);
	free(r->maps);
	free(r);
}

/* ---------------------------------------------------------------- lookups */

uint32_t registry_serial(const registry_t *r) { return r->serial; }
size_t registry_count(const registry_t *r) { return r->n; }
size_t registry_source_count(const registry_t *r) { return r->n_sources; }
size_t registry_name_count(const registry_t *r) { return r->n_names; }
const char *registry_date(const registry_t *r) { return r->date; }

const reg_entry_t *
registry_entry(const registry_t *r, size_t i)
{
	return i < r->n ? &r->entries[i] : NULL;
}

const reg_source_t *
registry_source(const registry_t *r, size_t i)
{
	return i < r->n_sources ? &r->sources[i] : NULL;
}

static size_t
collect(const registry_t *r, const uint32_t *list, size_t n, uint8_t tp,
        const reg_entry_t **out, size_t max)
{
	size_t found = 0;
	for (size_t k = 0; k < n; k++) {
		const reg_entry_t *e = &r->entries[list[k]];
		if (!matches(e, tp))
			continue;
		if (found < max)
			out[found] = e;
		found++;
	}
	return found;
}

size_t
registry_by_port(const registry_t *r, uint16_t port, uint8_t tp,
                 const reg_entry_t **out, size_t max)
{
	uint32_t a = r->port_start[port], z = r->port_start[port + 1];
	return collect(r, r->port_list + a, z - a, tp, out, max);
}

size_t
registry_by_name(const registry_t *r, const char *name, uint8_t tp,
                 const reg_entry_t **out, size_t max)
{
	char folded[PORTQ_TEXT_MAX + 1];
	size_t n = 0;
	for (; name[n] != '\0'; n++) {
		if (n == PORTQ_TEXT_MAX)
			return 0;
		folded[n] = (char)tolower((unsigned char)name[n]);
	}
	folded[n] = '\0';
	uint32_t h = name_hash(folded);
	for (size_t s = h & r->slot_mask; r->slots[s].lname != NULL;
	     s = (s + 1) & r->slot_mask) {
		const name_slot_t *slot = &r->slots[s];
		if (slot->hash == h && strcmp(slot->lname, folded) == 0)
			return collect(r, r->name_list + slot->start, slot->count, tp,
			               out, max);
	}
	return 0;
}

void
registry_context(const registry_t *r, uint16_t port, uint8_t tp,
                 portq_context_t *ctx)
{
	const port_map_t *m = &r->maps[tp < PORTQ_TP_COUNT ? tp : PORTQ_TP_ANY];
	memset(ctx, 0, sizeof(*ctx));
	ctx->range_class = (uint8_t)portq_port_class(port);
	ctx->state = m->state[port];
	if (IS_FREE(ctx->state)) {
		ctx->cflags |= PORTQ_CF_FREE;
		ctx->free_lo = m->free_lo[port];
		ctx->free_hi = m->free_hi[port];
	}
	if (m->below[port] >= 0) {
		ctx->cflags |= PORTQ_CF_BELOW;
		ctx->below = (uint16_t)m->below[port];
	}
	if (m->above[port] >= 0) {
		ctx->cflags |= PORTQ_CF_ABOVE;
		ctx->above = (uint16_t)m->above[port];
	}
}

/* Count a match; store it if it falls in the page [offset, offset+max). */
static inline void
page_add(const reg_entry_t *e, size_t *found, size_t offset,
         const reg_entry_t **out, size_t max)
{
	if (*found >= offset && *found - offset < max)
		out[*found - offset] = e;
	(*found)++;
}

size_t
registry_range(const registry_t *r, uint16_t lo, uint16_t hi, uint8_t tp,
               size_t offset, const reg_entry_t **out, size_t max)
{
	size_t found = 0;
	if (lo > hi)
		return 0;
	/* Ranges that begin below lo but reach into it come first. */
	for (uint32_t k = r->port_start[lo]; k < r->port_start[lo + 1]; k++) {
		const reg_entry_t *e = &r->entries[r->port_list[k]];
		if (e->port_lo < lo && matches(e, tp))
			page_add(e, &found, offset, out, max);
	}
	size_t a = 0, z = r->n_ported;          /* first entry with port_lo >= lo */
	while (a < z) {
		size_t mid = a + (z - a) / 2;
		if (r->entries[mid].port_lo < lo)
			a = mid + 1;
		else
			z = mid;
	}
	for (size_t i = a; i < r->n_ported && r->entries[i].port_lo <= hi; i++)
		if (matches(&r->entries[i], tp))
			page_add(&r->entries[i], &found, offset, out, max);
	return found;
}

size_t
registry_search(const registry_t *r, search_query_t *q, const reg_entry_t **out, size_t max)
{
	uint32_t idx[REG_SEARCH_PAGE_MAX];
	if (max > REG_SEARCH_PAGE_MAX)
		max = REG_SEARCH_PAGE_MAX;
	size_t found = search_run(r->search, q, idx, max);
	size_t stored = found > q->offset ? found - q->offset : 0;
	for (size_t i = 0; i < stored && i < max; i++)
		out[i] = &r->entries[idx[i]];
	return found;
}
