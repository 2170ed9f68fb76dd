/*
 * format.c -- the format table (format.h), and a file into a builder by
 * it: detect the format if need be, open a source, run its parser.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "format.h"
#include "loader.h"
#include "regfile.h"

/* The detects of REG_FORMAT_LIST: each sees the text after a byte order
 * mark and white space. No two can claim the same file. */

static int
detect_xml(const char *p, size_t n)
{
	return n > 0 && p[0] == '<';
}

static int
detect_csv(const char *p, size_t n)
{
	return n >= 13 && strncasecmp(p, "Service Name,", 13) == 0;
}

/* The first line that is neither blank nor a comment is "portq-local". */
static int
detect_local(const char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t eol = i;
		while (eol < n && p[eol] != '\n')
			eol++;
		reg_text_t line = reg_text_trim(reg_text(p + i, eol - i));
		if (line.n > 0 && line.p[0] != '#')
			return line.n >= 11 && strncmp(line.p, "portq-local", 11) == 0 &&
			       (line.n == 11 || isspace((unsigned char)line.p[11]));
		i = eol + 1;
	}
	return 0;
}

typedef struct {
	const char *name, *alias;
	uint8_t origin;
	int (*parser)(reg_load_t *ld, const char *data, size_t len);
	int (*detect)(const char *data, size_t len);
} format_t;

static const format_t formats[REG_FMT_COUNT] = {
	[REG_FMT_AUTO] = { "auto", NULL, 0, NULL, NULL },
#define REG_FMT_ROW(id, name, alias, origin, parser, detect) \
	[REG_FMT_##id] = { name, alias, origin, parser, detect },
	REG_FORMAT_LIST(REG_FMT_ROW)
#undef REG_FMT_ROW
};

reg_format_t
reg_format_detect(const char *data, size_t len)
{
	size_t i = 0;
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < len && isspace((unsigned char)data[i]))
		i++;
	reg_format_t unclaimed = REG_FMT_AUTO;
	for (reg_format_t f = REG_FMT_AUTO + 1; f < REG_FMT_COUNT; f++) {
		if (formats[f].detect == NULL)
			unclaimed = f;
		else if (formats[f].detect(data + i, len - i))
			return f;
	}
	return unclaimed;
}

const char *
reg_format_name(reg_format_t f)
{
	return (unsigned)f < REG_FMT_COUNT ? formats[f].name : "unknown";
}

static int
word_is(const char *word, const char *s, size_t len)
{
	return word != NULL && strlen(word) == len && strncmp(word, s, len) == 0;
}

reg_format_t
reg_format_parse(const char *s, size_t len)
{
	for (reg_format_t f = REG_FMT_AUTO + 1; f < REG_FMT_COUNT; f++)
		if (word_is(formats[f].name, s, len) || word_is(formats[f].alias, s, len))
			return f;
	return REG_FMT_AUTO;
}

const char *
reg_format_spec(const char *spec, reg_format_t *fmt)
{
	const char *colon = strchr(spec, ':');
	reg_format_t f = colon != NULL ? reg_format_parse(spec, (size_t)(colon - spec)) :
	                 REG_FMT_AUTO;
	if (fmt != NULL)
		*fmt = f;
	return f != REG_FMT_AUTO ? colon + 1 : spec;
}

int
reg_builder_load_mem(reg_builder_t *b, const char *name, const char *data,
                     size_t len, reg_format_t format, reg_error_t *err)
{
	if (b == NULL || name == NULL || (data == NULL && len > 0) || err == NULL)
		return PORTQ_EINVAL;
	if (data == NULL)
		data = "";                     /* the parsers pass it to memchr() */
	if (format == REG_FMT_AUTO)
		format = reg_format_detect(data, len);
	reg_source_t *src = reg_builder_source_add(b, name, (uint8_t)format);
	if (src == NULL) {
		snprintf(err->text, sizeof(err->text), "%s: out of memory", name);
		return PORTQ_ENOMEM;
	}
	err->text[0] = '\0';
	if ((unsigned)format >= REG_FMT_COUNT || formats[format].parser == NULL) {
		snprintf(err->text, sizeof(err->text), "%s: unknown format", name);
		return PORTQ_EFORMAT;
	}
	reg_load_t ld = { b, src, err, src->path, formats[format].origin };
	return formats[format].parser(&ld, data, len);
}

int
reg_builder_load(reg_builder_t *b, const char *path, reg_format_t format,
                 reg_error_t *err)
{
	if (b == NULL || path == NULL || err == NULL)
		return PORTQ_EINVAL;
	size_t max_bytes;
	uint64_t deadline_ms;
	reg_builder_limits(b, &max_bytes, &deadline_ms);
	char *data;
	size_t len;
	int rc = regfile_read(path, max_bytes, deadline_ms, &data, &len, err);
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
