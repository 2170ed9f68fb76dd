/*
 * conf.c -- server lists and the configuration file (see conf.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "error.h"
#include "msg.h"

static int
port_parse(const char *s, size_t len, uint16_t *out)
{
	unsigned long v = 0;
	if (len == 0 || len > 5)
		return PORTQ_EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return PORTQ_EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return PORTQ_EINVAL;
	*out = (uint16_t)v;
	return PORTQ_OK;
}

static int
host_set(conf_server_t *out, const char *s, size_t len)
{
	if (len == 0 || len > CONF_HOST_MAX)
		return PORTQ_EINVAL;
	for (size_t i = 0; i < len; i++)
		if (isspace((unsigned char)s[i]) || s[i] == '\0' || s[i] == '[' ||
		    s[i] == ']' || s[i] == ',')
			return PORTQ_EINVAL;
	memcpy(out->host, s, len);
	out->host[len] = '\0';
	return PORTQ_OK;
}

int
conf_server_parse(const char *text, size_t len, uint16_t default_port,
                  conf_server_t *out)
{
	if (text == NULL || out == NULL)
		return PORTQ_EINVAL;
	out->port = default_port;
	if (len > 0 && text[0] == '[') {
		const char *close = memchr(text, ']', len);
		if (close == NULL)
			return PORTQ_EINVAL;
		size_t hlen = (size_t)(close - text) - 1;
		size_t rest = len - hlen - 2;
		if (rest > 0 && (close[1] != ':' ||
		                 port_parse(close + 2, rest - 1, &out->port) < 0))
			return PORTQ_EINVAL;
		return host_set(out, text + 1, hlen);
	}
	const char *colon = memchr(text, ':', len);
	if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon - text) - 1) == NULL) {
		size_t hlen = (size_t)(colon - text);
		if (port_parse(colon + 1, len - hlen - 1, &out->port) < 0)
			return PORTQ_EINVAL;
		return host_set(out, text, hlen);
	}
	return host_set(out, text, len);   /* a name, IPv4, or a bare IPv6 */
}

static const char *
trim(const char *s, const char *end, size_t *len)
{
	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*len = (size_t)(end - s);
	return s;
}

int
conf_servers_set(conf_t *c, const char *list, char *err, size_t errlen)
{
	if (c == NULL || list == NULL)
		return PORTQ_EINVAL;
	conf_t fresh = *c;
	fresh.n_servers = 0;
	const char *p = list;
	for (;;) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		size_t len;
		const char *item = trim(p, end, &len);
		if (len > 0) {
			if (fresh.n_servers == CONF_MAX_SERVERS) {
				snprintf(err, errlen, "more than %d servers", CONF_MAX_SERVERS);
				return PORTQ_EINVAL;
			}
			if (conf_server_parse(item, len, PORTQ_DEFAULT_PORT,
			                      &fresh.servers[fresh.n_servers]) < 0) {
				snprintf(err, errlen, "server \"%.*s\": not HOST[:PORT]",
				         (int)(len > 64 ? 64 : len), item);
				return PORTQ_EINVAL;
			}
			fresh.n_servers++;
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	if (fresh.n_servers == 0) {
		snprintf(err, errlen, "empty server list");
		return PORTQ_EINVAL;
	}
	*c = fresh;
	return PORTQ_OK;
}

void
conf_init(conf_t *c)
{
	memset(c, 0, sizeof(*c));
	c->cache_ttl = -1;
	c->lookup_budget_ms = -1;
}

/* A decimal int from 0 to max; -1 when the text is not one. */
static int
number_parse(const char *s, size_t len, int max)
{
	long v = 0;
	if (len == 0 || len > 9)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? (int)v : -1;
}

/* A positive decimal int up to max; 0 when the text is not one. */
static int
count_parse(const char *s, size_t len, int max)
{
	int v = number_parse(s, len, max);
	return v > 0 ? v : 0;
}

static void
line_apply(conf_t *c, conf_t *file, const char *line)
{
	const char *end = line + strcspn(line, "#;\r\n");
	size_t len;
	const char *s = trim(line, end, &len);
	end = s + len;
	const char *kw = s;
	while (s < end && !isspace((unsigned char)*s))
		s++;
	size_t kwlen = (size_t)(s - kw);
	size_t vlen;
	const char *v = trim(s, end, &vlen);

	if (kwlen == 6 && memcmp(kw, "server", 6) == 0) {
		if (file->n_servers < CONF_MAX_SERVERS &&
		    conf_server_parse(v, vlen, PORTQ_DEFAULT_PORT,
		                      &file->servers[file->n_servers]) == PORTQ_OK)
			file->n_servers++;
	} else if (kwlen == 7 && memcmp(kw, "timeout", 7) == 0) {
		int t = count_parse(v, vlen, 600000);
		if (t > 0)
			c->timeout_ms = t;
	} else if (kwlen == 8 && memcmp(kw, "attempts", 8) == 0) {
		int a = count_parse(v, vlen, 100);
		if (a > 0)
			c->attempts = a;
	} else if (kwlen == 9 && memcmp(kw, "cache-ttl", 9) == 0) {
		int t = number_parse(v, vlen, CONF_CACHE_TTL_MAX);
		if (t >= 0)
			c->cache_ttl = t;
	} else if (kwlen == 13 && memcmp(kw, "lookup-budget", 13) == 0) {
		int b = number_parse(v, vlen, CONF_LOOKUP_BUDGET_MAX);
		if (b >= 0)
			c->lookup_budget_ms = b;
	}
}

int
conf_read_file(conf_t *c, const char *path)
{
	if (c == NULL || path == NULL)
		return PORTQ_EINVAL;
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return errno == ENOENT || errno == ENOTDIR ? PORTQ_OK : PORTQ_EIO;
	/* The file's server lines replace, never add to, what c holds. */
	conf_t file = *c;
	file.n_servers = 0;
	char line[1024];
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strchr(line, '\n') == NULL && !feof(f)) {
			int ch;
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;           /* an overlong line is skipped whole */
			continue;
		}
		line_apply(c, &file, line);
	}
	int failed = ferror(f);
	fclose(f);
	if (failed)
		return PORTQ_EIO;
	if (file.n_servers > 0) {
		memcpy(c->servers, file.servers, sizeof(c->servers));
		c->n_servers = file.n_servers;
	}
	return PORTQ_OK;
}
