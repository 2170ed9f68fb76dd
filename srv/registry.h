/*
 * registry.h -- the registry engine: records loaded from IANA CSV/XML,
 * services(5) and local-assignment files, indexed for lookups from memory.
 *
 * Life cycle: a builder collects records from one or more files (any
 * failure discards the builder: a registry that failed to load is never
 * served, not even in part); registry_build() turns it into an immutable
 * registry_t with every index and every record's wire form precomputed.
 * A built registry is read-only, so any number of threads may query it.
 */
#ifndef PORTQ_REGISTRY_H
#define PORTQ_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "msg.h"
#include "search.h"

#define REG_PORTS 65536

/*
 * The port table lists a record under every port it covers, so a range
 * costs one 4-byte slot per port. This caps the slots that ranges take in
 * one registry (IANA's ranges take about 43,000); a load that goes past
 * it fails with the line that crossed it.
 */
#define REG_MAX_RANGE_SLOTS (1u << 22)

typedef enum {
	REG_FMT_AUTO = 0,
	REG_FMT_IANA_CSV,
	REG_FMT_IANA_XML,
	REG_FMT_SERVICES,
	REG_FMT_LOCAL
} reg_format_t;

/*
 * One record: a member per field of proto/fields.h (TEXT a string, LIST
 * an array and its count n_<member>, ENUM a byte as in portq_record_t,
 * PORTS has_port, port_lo, port_hi), then where it came from. Strings are
 * NUL-terminated, "" when absent, never NULL.
 */
#define REG_ENTRY_MEMBER(m, api, kind, wire, max, rank, label, what) REG_ENTRY_MEMBER_##kind(m)
#define REG_ENTRY_MEMBER_TEXT(m)  const char *m;
#define REG_ENTRY_MEMBER_LIST(m)  const char **m; uint8_t n_##m;
#define REG_ENTRY_MEMBER_ENUM(m)  uint8_t m;
#define REG_ENTRY_MEMBER_PORTS(m) uint16_t m##_lo, m##_hi; uint8_t has_##m;
#define REG_ENTRY_MEMBER_FLAG(m)
typedef struct {
	PORTQ_RECORD_FIELDS(REG_ENTRY_MEMBER)
	const char *source;              /* file it came from */
	uint32_t line;                   /* line its row starts on */
	uint32_t seq;                    /* load order */
	const uint8_t *wire;             /* precomputed record encoding */
	uint16_t wire_len;
} reg_entry_t;

/* Where loading stopped: "file:line: reason". */
typedef struct {
	char text[512];
} reg_error_t;

/* Counts of one source file, for --check and the INFO query. */
typedef struct {
	const char *path;
	reg_format_t format;
	uint32_t rows;
	uint32_t by_status[PORTQ_ST_LOCAL + 1];
	uint32_t by_transport[PORTQ_TP_COUNT];
	uint32_t ranges, singles, portless, nameless;
	uint32_t skipped;                /* entries for protocols portq does not carry */
	uint32_t duplicates;             /* rows identical to an earlier one, dropped */
	uint32_t first_duplicate;        /* line of the first of them, 0 if none */
	char date[11];                   /* newest date the file states, or "" */
} reg_source_t;

typedef struct reg_builder reg_builder_t;
typedef struct registry registry_t;

/* A new, empty builder; NULL when memory runs out. */
reg_builder_t *reg_builder_new(void);
void reg_builder_free(reg_builder_t *b);

/* What reg_builder_load() reads of one file when no limit is set. */
#define REG_MAX_BYTES_DEFAULT ((size_t)64 << 20)

/*
 * Bound what reg_builder_load() may cost: at most `max_bytes` of one
 * file (0: REG_MAX_BYTES_DEFAULT), and no reading once reg_clock_ms()
 * has reached `deadline_ms` (0: no deadline). A NULL builder is ignored.
 */
void reg_builder_set_limits(reg_builder_t *b, size_t max_bytes, uint64_t deadline_ms);

/* Milliseconds of CLOCK_MONOTONIC, the clock of deadlines. */
uint64_t reg_clock_ms(void);

/*
 * Load one file into the builder. The format is detected when `format` is
 * REG_FMT_AUTO. The file is opened non-blocking and must be a regular
 * file within the builder's limits. Returns PORTQ_OK, or PORTQ_EIO (it
 * cannot be read, or is no regular file) / PORTQ_EPARSE (malformed,
 * empty, or too large) / PORTQ_EFORMAT / PORTQ_ENOMEM / PORTQ_ETIMEDOUT
 * (the deadline passed while reading) / PORTQ_EAGAIN (the file changed
 * while being read: try again once it is quiet), with `err` saying
 * "file:line: reason" or "file: reason"; after a failure the builder
 * must be freed, not built.
 *
 * Every text field must be UTF-8 (a field that is not fails the load at
 * its row's line); a record identical in every field and origin to one
 * already loaded is dropped and counted in its source's `duplicates`;
 * ranges past REG_MAX_RANGE_SLOTS fail the load.
 */
int reg_builder_load(reg_builder_t *b, const char *path, reg_format_t format,
                     reg_error_t *err);

/*
 * Load from memory: `name` is used in messages and as the source path.
 * Same results as reg_builder_load().
 */
int reg_builder_load_mem(reg_builder_t *b, const char *name, const char *data,
                         size_t len, reg_format_t format, reg_error_t *err);

/* Records loaded so far (0 for NULL), and the i-th of them (for tests and
 * the fuzz targets); NULL past the end. */
size_t reg_builder_count(const reg_builder_t *b);
const reg_entry_t *reg_builder_entry(const reg_builder_t *b, size_t i);

/*
 * Index what the builder holds into a registry with this serial. The
 * builder is consumed (freed) whether or not this succeeds. Returns NULL
 * only when memory runs out.
 */
registry_t *registry_build(reg_builder_t *b, uint32_t serial);
void registry_free(registry_t *r);

/* Detect a file's format from its first bytes. */
reg_format_t reg_format_detect(const char *data, size_t len);
const char *reg_format_name(reg_format_t f);
/* "csv", "xml", "services", "local" -> format; REG_FMT_AUTO if unknown. */
reg_format_t reg_format_parse(const char *s, size_t len);

/* --- queries: all read-only, allocation-free and thread-safe --- */

uint32_t registry_serial(const registry_t *r);
size_t registry_count(const registry_t *r);
const reg_entry_t *registry_entry(const registry_t *r, size_t i);
size_t registry_source_count(const registry_t *r);
const reg_source_t *registry_source(const registry_t *r, size_t i);
/* Distinct service names and aliases, case-folded. */
size_t registry_name_count(const registry_t *r);
/* The newest date any source states ("YYYY-MM-DD"), or "". */
const char *registry_date(const registry_t *r);

/*
 * The records covering `port` that match transport `tp` (PORTQ_TP_ANY
 * matches every record; a record for all protocols matches every `tp`).
 * Fills out[0..max) in answer order (local, services, IANA; then file
 * order) and returns how many match in all, which may exceed max.
 */
size_t registry_by_port(const registry_t *r, uint16_t port, uint8_t tp,
                        const reg_entry_t **out, size_t max);

/* Like registry_by_port() for a name or alias, compared case-insensitively. */
size_t registry_by_name(const registry_t *r, const char *name, uint8_t tp,
                        const reg_entry_t **out, size_t max);

/*
 * The context of a port for transport `tp`: range class, state, the free
 * block around a free (unassigned or unlisted) port, and the nearest
 * assigned ports below and above.
 */
void registry_context(const registry_t *r, uint16_t port, uint8_t tp,
                      portq_context_t *ctx);

/*
 * Paged scan: records with a port in [lo, hi] (ranges that start below lo
 * first, then by port), skipping the first `offset`; fills out[0..max)
 * and returns how many match in all.
 */
size_t registry_range(const registry_t *r, uint16_t lo, uint16_t hi, uint8_t tp,
                      size_t offset, const reg_entry_t **out, size_t max);

#define REG_SEARCH_PAGE_MAX 1024

/*
 * Paged search through the index (search.h): records whose name, aliases
 * or description contain q->text, case-insensitively, in answer order,
 * skipping the first q->offset; fills out[0..max) (max is taken as at
 * most REG_SEARCH_PAGE_MAX) and returns how many match, counting no
 * further than q->count_max and spending no more than q->work_max (see
 * search_run() for q->work and q->capped).
 */
size_t registry_search(const registry_t *r, search_query_t *q, const reg_entry_t **out,
                       size_t max);

/* Fill a wire record view from an entry (strings borrowed from it). */
void reg_entry_to_record(const reg_entry_t *e, portq_record_t *rec);

#endif /* PORTQ_REGISTRY_H */
