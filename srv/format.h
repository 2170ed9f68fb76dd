/*
 * format.h -- the registry file formats, described once, and loading a
 * file into a builder by its format.
 *
 * REG_FORMAT_LIST is the one table of formats: the enum below, the
 * names that --check, the INFO answer and "FORMAT:path" use, the origin
 * of each format's records, which parser reads it and how a file is
 * recognised all come from it (format.c). A new format is a row here and
 * its parser, a load_*.c declared in loader.h (docs/architecture.md).
 */
#ifndef PORTQ_FORMAT_H
#define PORTQ_FORMAT_H

#include <stddef.h>

#include "registry.h"

/*
 * X(id, name, alias, origin, parser, detect): the format REG_FMT_<id>
 * is called `name` (and `alias`, or NULL, in "FORMAT:path"); its records
 * have origin `origin` (portq_origin_t); `parser` (loader.h) reads it;
 * `detect` (format.c) says whether a file's first bytes (after a UTF-8
 * byte order mark and white space) are this format's, and NULL marks the
 * one format of every file that no other detect claims: services(5),
 * whose files have no signature.
 */
#define REG_FORMAT_LIST(X)                                                          \
	X(IANA_CSV, "iana-csv", "csv", PORTQ_ORIGIN_IANA,     load_csv,      detect_csv)   \
	X(IANA_XML, "iana-xml", "xml", PORTQ_ORIGIN_IANA,     load_xml,      detect_xml)   \
	X(SERVICES, "services", NULL,  PORTQ_ORIGIN_SERVICES, load_services, NULL)         \
	X(LOCAL,    "local",    NULL,  PORTQ_ORIGIN_LOCAL,    load_local,    detect_local)

typedef enum {
	REG_FMT_AUTO = 0,                /* detect it from the file's first bytes */
#define REG_FMT_ENUM(id, name, alias, origin, parser, detect) REG_FMT_##id,
	REG_FORMAT_LIST(REG_FMT_ENUM)
#undef REG_FMT_ENUM
	REG_FMT_COUNT
} reg_format_t;

/* The format a file's first bytes say. */
reg_format_t reg_format_detect(const char *data, size_t len);

/* "iana-csv", ..., "auto" for REG_FMT_AUTO, "unknown" past the table. */
const char *reg_format_name(reg_format_t f);

/* A name or alias ("csv", "iana-csv", ...) -> format; REG_FMT_AUTO if
 * s[0..len) is none. */
reg_format_t reg_format_parse(const char *s, size_t len);

/*
 * The path of a registry spec "[FORMAT:]FILE", and in *fmt (if not NULL)
 * the format it names, REG_FMT_AUTO when it names none. A prefix that is
 * no format's name is part of the path ("C:/x" is the file "C:/x").
 */
const char *reg_format_spec(const char *spec, reg_format_t *fmt);

/*
 * Load one file into the builder. The format is detected when `format` is
 * REG_FMT_AUTO. The file is read by regfile_read() within the builder's
 * limits (reg_builder_set_limits()). Returns PORTQ_OK, or PORTQ_EIO (it
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

#endif /* PORTQ_FORMAT_H */
