/*
 * config.c -- the option table and the parsers it drives (see config.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "config.h"
#include "log.h"
#include "msg.h"

typedef enum { OPT_BOOL, OPT_INT, OPT_STR, OPT_LIST } opt_type_t;

enum { OPT_CLI_ONLY = 1 };

typedef struct {
	const char *name;
	opt_type_t type;
	size_t offset;
	long min, max;
	const char *def;           /* default, as it would be written */
	const char *arg;           /* the value's name in --help */
	const char *help;
	int flags;
} opt_t;

#define OFF(field) offsetof(config_t, field)
#define STRINGIFY(x) #x
#define XSTR(x) STRINGIFY(x)

/* The listen addresses when none is given; without IPv6, the second is skipped. */
#define LISTEN_DEFAULT_V4 "127.0.0.1:" XSTR(PORTQ_DEFAULT_PORT)
#define LISTEN_DEFAULT_V6 "[::1]:" XSTR(PORTQ_DEFAULT_PORT)

/*
 * A list's default (listen) is what an empty list means, not a first
 * item: config_init() leaves lists empty, a list given replaces it whole.
 */
static const opt_t options[] = {
	{ "listen", OPT_LIST, OFF(listen), 0, 0, LISTEN_DEFAULT_V4 " " LISTEN_DEFAULT_V6,
	  "ADDR:PORT", "listen on UDP and TCP there (repeatable; [::1]:PORT for IPv6; "
	  "without IPv6 the default [::1] is skipped)", 0 },
	{ "registry", OPT_LIST, OFF(registry), 0, 0, NULL, "[FORMAT:]FILE",
	  "load this file (repeatable); FORMAT is csv, xml, services or local "
	  "and is detected when omitted; default: see docs/operating.md", 0 },
	{ "tcp-idle-timeout", OPT_INT, OFF(tcp_idle_timeout), 100, 3600000, "10000",
	  "MS", "close a TCP connection idle this long", 0 },
	{ "tcp-max-connections", OPT_INT, OFF(tcp_max_connections), 1, 100000, "256",
	  "N", "TCP connections open at once; a new one past this closes the one "
	  "that has gone longest without an answer", 0 },
	{ "tcp-rate", OPT_INT, OFF(tcp_rate), 0, 1000000, "2000", "N",
	  "TCP queries a second per /24 or /56 source prefix, per worker, over all its "
	  "connections; past it their reading pauses until the budget refills (0: off)", 0 },
	{ "tcp-max-frame", OPT_INT, OFF(tcp_max_frame), 32, 65535, "512",
	  "BYTES", "largest query frame accepted over TCP", 0 },
	{ "udp-rcvbuf", OPT_INT, OFF(udp_rcvbuf), 0, 268435456, "8388608", "BYTES",
	  "UDP receive buffer per socket, to ride out busy moments (0: the system's)", 0 },
	{ "udp-gso", OPT_BOOL, OFF(udp_gso), 0, 1, "yes", NULL,
	  "send the answers to one client from one batch as one segmented (GSO) send", 0 },
	{ "udp-hold", OPT_INT, OFF(udp_hold), 0, 1000, "0", "US",
	  "after reading 2 or more datagrams, wait this long before reading again: "
	  "bigger batches, less CPU per query, up to this much more latency (0: off)", 0 },
	{ "tcp-max-per-source", OPT_INT, OFF(tcp_max_per_source), 1, 100000, "32",
	  "N", "TCP connections from one /24 or /56 (per worker); a new one past this "
	  "closes that prefix's connection that has gone longest without an answer", 0 },
	{ "tcp-read-timeout", OPT_INT, OFF(tcp_read_timeout), 100, 600000, "2000",
	  "MS", "close a connection whose started query takes longer to arrive", 0 },
	{ "tcp-max-pending", OPT_INT, OFF(tcp_max_pending), 4096, 67108864, "262144",
	  "BYTES", "answers queued for a client that does not read them; more closes it", 0 },
	{ "tcp-max-queries", OPT_INT, OFF(tcp_max_queries), 1, 100000000, "10000",
	  "N", "queries answered on one TCP connection; then it is closed", 0 },
	{ "tcp-max-lifetime", OPT_INT, OFF(tcp_max_lifetime), 1000, 86400000, "120000",
	  "MS", "how long a TCP connection may stay open, busy or not", 0 },
	{ "allow", OPT_LIST, OFF(allow), 0, 0, NULL, "CIDR",
	  "clients that may ask (repeatable: 192.0.2.0/24, 2001:db8::/32); default everyone", 0 },
	{ "refused", OPT_STR, OFF(refused), 0, 0, "refuse", "ACTION",
	  "for clients not allowed: refuse (answer REFUSED over UDP, close TCP) or drop", 0 },
	{ "rrl-rate", OPT_INT, OFF(rrl_rate), 0, 1000000, "0", "N",
	  "UDP answers a second per /24 or /56 source prefix, per worker; 0 turns limiting off", 0 },
	{ "rrl-slip", OPT_INT, OFF(rrl_slip), 0, 100, "2", "N",
	  "send every N-th rate-limited answer truncated (0: drop them all)", 0 },
	{ "user", OPT_STR, OFF(user), 0, 0, NULL, "NAME",
	  "after binding, drop root privileges to this user", 0 },
	{ "reload-delay", OPT_INT, OFF(reload_delay), 0, 60000, "200",
	  "MS", "wait this long after a registry file changes, then reload", 0 },
	{ "reload-timeout", OPT_INT, OFF(reload_timeout), 100, 3600000, "30000", "MS",
	  "give up on a load of the registry (start, --check, reload) that takes "
	  "longer, e.g. on a hung network mount; the registry served stays", 0 },
	{ "reload-max-shrink", OPT_INT, OFF(reload_max_shrink), 0, 100, "10", "PERCENT",
	  "refuse a reload (and --check --previous) that drops more of the records; "
	  "SIGUSR2 reloads anyway; 100: any loss (never to no records)", 0 },
	{ "registry-max-bytes", OPT_INT, OFF(registry_max_bytes), 4096, 1073741824,
	  "67108864", "BYTES", "refuse a registry file larger than this", 0 },
	{ "workers", OPT_INT, OFF(workers), 1, CONFIG_MAX_WORKERS, "1", "N",
	  "event loops answering queries, one per core, on SO_REUSEPORT sockets", 0 },
	{ "watch", OPT_BOOL, OFF(watch), 0, 1, "yes", NULL,
	  "reload when a registry file changes", 0 },
	{ "log-level", OPT_STR, OFF(log_level), 0, 0, "info", "LEVEL",
	  "err, warn, info or debug", 0 },
	{ "syslog", OPT_BOOL, OFF(syslog), 0, 1, "no", NULL,
	  "log to syslog instead of stderr", 0 },
	{ "check", OPT_BOOL, OFF(check), 0, 1, "no", NULL,
	  "load and validate the config and the registry, print a summary, exit",
	  OPT_CLI_ONLY },
	{ "previous", OPT_STR, OFF(previous), 0, 0, NULL, "[FORMAT:]FILE",
	  "with --check: also load FILE, the registry this one would replace, and "
	  "apply reload-max-shrink", OPT_CLI_ONLY },
	{ "config", OPT_STR, OFF(config_file), 0, 0, NULL, "FILE",
	  "read settings from FILE (\"name value\" lines, # comments)", OPT_CLI_ONLY },
	{ "help", OPT_BOOL, OFF(help), 0, 1, "no", NULL, "print this help and exit",
	  OPT_CLI_ONLY },
};
#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

static void *
field(config_t *c, const opt_t *o)
{
	return (char *)c + o->offset;
}

static const opt_t *
find(const char *name, size_t len)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
			return &options[i];
	return NULL;
}

/* Set one option from text; on error fill why[] and return -1. */
static int
set(config_t *c, const opt_t *o, const char *value, char *why, size_t whylen)
{
	void *f = field(c, o);
	switch (o->type) {
	case OPT_BOOL:
		if (value == NULL || strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 ||
		    strcmp(value, "1") == 0)
			*(int *)f = 1;
		else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
		         strcmp(value, "0") == 0)
			*(int *)f = 0;
		else
			return snprintf(why, whylen, "%s takes yes or no, not \"%s\"",
			                o->name, value), -1;
		return 0;
	case OPT_INT: {
		char *end;
		errno = 0;
		long v = strtol(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' || v < o->min || v > o->max)
			return snprintf(why, whylen, "%s takes a whole number from %ld to %ld, not \"%s\"",
			                o->name, o->min, o->max, value), -1;
		*(long *)f = v;
		return 0;
	}
	case OPT_STR: {
		char *dup = strdup(value);
		if (dup == NULL)
			return snprintf(why, whylen, "out of memory"), -1;
		free(*(char **)f);
		*(char **)f = dup;
		if (strcmp(o->name, "refused") == 0 && strcmp(dup, "refuse") != 0 &&
		    strcmp(dup, "drop") != 0)
			return snprintf(why, whylen, "refused is refuse or drop, not \"%s\"",
			                value), -1;
		if (strcmp(o->name, "log-level") == 0 && log_level_parse(dup) < 0)
			return snprintf(why, whylen, "log-level is err, warn, info or debug, not \"%s\"",
			                value), -1;
		/* Checked here, not only when privileges are dropped, so that
		 * --check (and portq-update, which runs it) names the line. */
		if (strcmp(o->name, "user") == 0) {
			struct passwd pw, *found = NULL;
			char buf[4096];
			int e = getpwnam_r(dup, &pw, buf, sizeof(buf), &found);
			if (found == NULL)
				return snprintf(why, whylen, "user \"%s\": %s", value,
				                e != 0 ? strerror(e) : "no such user"), -1;
		}
		return 0;
	}
	case OPT_LIST: {
		config_list_t *l = f;
		if (l->n == CONFIG_MAX_LIST)
			return snprintf(why, whylen, "%s given more than %d times", o->name,
			                CONFIG_MAX_LIST), -1;
		if ((l->items[l->n] = strdup(value)) == NULL)
			return snprintf(why, whylen, "out of memory"), -1;
		l->n++;
		return 0;
	}
	}
	return -1;
}

void
config_init(config_t *c)
{
	memset(c, 0, sizeof(*c));
	char why[256];
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (options[i].def != NULL && options[i].type != OPT_LIST)
			(void)set(c, &options[i], options[i].def, why, sizeof(why));
}

const config_list_t *
config_listen(const config_t *c)
{
	static char v4[] = LISTEN_DEFAULT_V4, v6[] = LISTEN_DEFAULT_V6;
	static const config_list_t listen_default = { { v4, v6 }, 2 };
	return c->listen.n > 0 ? &c->listen : &listen_default;
}

static void
list_clear(config_list_t *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->items[i]);
	l->n = 0;
}

void
config_free(config_t *c)
{
	list_clear(&c->listen);
	list_clear(&c->registry);
	list_clear(&c->allow);
	free(c->refused);
	free(c->user);
	free(c->log_level);
	free(c->config_file);
	free(c->previous);
	memset(c, 0, sizeof(*c));
}

/*
 * Read one line (without its '\n') into buf[0..cap). Returns 1 for a line,
 * 0 at the end of the file, -1 for a line of cap bytes or more; *len is
 * its length and *nul whether it holds a NUL byte, which would cut it
 * short for every string function that reads it afterwards.
 */
static int
read_line(FILE *f, char *buf, size_t cap, size_t *len, int *nul)
{
	int ch;
	*len = 0;
	*nul = 0;
	while ((ch = getc(f)) != EOF && ch != '\n') {
		if (*len + 1 >= cap)
			return -1;
		*nul |= ch == '\0';
		buf[(*len)++] = (char)ch;
	}
	buf[*len] = '\0';
	return ch == EOF && *len == 0 ? 0 : 1;
}

int
config_load_stream(config_t *c, FILE *f, const char *path, FILE *err)
{
	char line[4096], why[512];
	int rc = 0, got, nul;
	size_t len;
	for (unsigned n = 1; (got = read_line(f, line, sizeof(line), &len, &nul)) != 0; n++) {
		if (got < 0) {
			fprintf(err, "%s:%u: line longer than %zu bytes\n", path, n, sizeof(line) - 2);
			rc = -1;
			break;
		}
		if (nul) {
			fprintf(err, "%s:%u: NUL byte at column %zu: not a text file\n", path, n,
			        strlen(line) + 1);
			rc = -1;
			break;
		}
		char *p = line, *hash = strchr(p, '#');
		if (hash != NULL)
			*hash = '\0';
		while (isspace((unsigned char)*p))
			p++;
		char *end = p + strlen(p);
		while (end > p && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (*p == '\0')
			continue;
		char *name = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		size_t nlen = (size_t)(p - name);
		while (isspace((unsigned char)*p))
			p++;
		const opt_t *o = find(name, nlen);
		if (o == NULL || (o->flags & OPT_CLI_ONLY)) {
			fprintf(err, "%s:%u: unknown setting \"%.*s\"\n", path, n, (int)nlen, name);
			rc = -1;
			break;
		}
		if (*p == '\0' && o->type != OPT_BOOL) {
			fprintf(err, "%s:%u: %s needs a value\n", path, n, o->name);
			rc = -1;
			break;
		}
		if (set(c, o, *p ? p : NULL, why, sizeof(why)) < 0) {
			fprintf(err, "%s:%u: %s\n", path, n, why);
			rc = -1;
			break;
		}
	}
	return rc;
}

static int
load_file(config_t *c, const char *path, FILE *err)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(err, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	int rc = config_load_stream(c, f, path, err);
	fclose(f);
	return rc;
}

/* Parse argv into c; flags only (no file). */
static int
load_argv(config_t *c, int argc, char **argv, FILE *err)
{
	char why[512];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0) {
			fprintf(err, "portqd: unexpected argument \"%s\" (try --help)\n", a);
			return -1;
		}
		a += 2;
		const char *eq = strchr(a, '=');
		size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
		const opt_t *o = find(a, nlen);
		if (o == NULL) {
			fprintf(err, "portqd: unknown option \"--%.*s\" (try --help)\n", (int)nlen, a);
			return -1;
		}
		const char *value = eq ? eq + 1 : NULL;
		/* "--watch no" as well as "--watch=no" and a bare "--watch". */
		if (value == NULL && o->type == OPT_BOOL && i + 1 < argc &&
		    (strcmp(argv[i + 1], "yes") == 0 || strcmp(argv[i + 1], "no") == 0))
			value = argv[++i];
		if (value == NULL && o->type != OPT_BOOL) {
			if (i + 1 >= argc) {
				fprintf(err, "portqd: --%s needs a value\n", o->name);
				return -1;
			}
			value = argv[++i];
		}
		if (set(c, o, value, why, sizeof(why)) < 0) {
			fprintf(err, "portqd: --%s\n", why);
			return -1;
		}
	}
	return 0;
}

int
config_load(config_t *c, int argc, char **argv, FILE *err)
{
	/* Flags win over the file: read flags to find the file, read the
	 * file into the defaults, then apply the flags again on top. */
	config_t flags;
	config_init(&flags);
	if (load_argv(&flags, argc, argv, err) < 0) {
		config_free(&flags);
		return -1;
	}
	int rc = 0;
	if (flags.config_file != NULL)
		rc = load_file(c, flags.config_file, err);
	if (rc == 0) {
		/* Lists from the command line replace the file's lists. */
		if (flags.listen.n > 0)
			list_clear(&c->listen);
		if (flags.registry.n > 0)
			list_clear(&c->registry);
		if (flags.allow.n > 0)
			list_clear(&c->allow);
		rc = load_argv(c, argc, argv, err);
	}
	config_free(&flags);
	return rc;
}

int
config_parse_addr(const char *text, struct sockaddr_storage *ss)
{
	char host[64];
	const char *port;
	memset(ss, 0, sizeof(*ss));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
			return -1;
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = '\0';
		port = close + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
			return -1;
		memcpy(host, text, (size_t)(colon - text));
		host[colon - text] = '\0';
		port = colon + 1;
	}
	char *end;
	errno = 0;
	long p = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || errno != 0 || p < 0 || p > 65535)
		return -1;
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)p);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		return 0;
	}
	return -1;
}

int
config_validate(const config_t *c, FILE *err)
{
	struct sockaddr_storage ss;
	acl_t acl;
	acl.n = 0;
	for (int i = 0; i < c->allow.n; i++)
		if (acl_add(&acl, c->allow.items[i]) < 0) {
			fprintf(err, "portqd: allow \"%s\" is not an address or CIDR prefix\n",
			        c->allow.items[i]);
			return -1;
		}
	for (int i = 0; i < c->listen.n; i++)
		if (config_parse_addr(c->listen.items[i], &ss) < 0) {
			fprintf(err, "portqd: listen \"%s\" is not ADDR:PORT or [ADDR]:PORT "
			             "with a numeric address\n", c->listen.items[i]);
			return -1;
		}
	return 0;
}

void
config_usage(FILE *out)
{
	fprintf(out, "usage: portqd [--option value ...]\n\n"
	             "portqd answers port and service-name queries from the IANA\n"
	             "registry, services(5) files and local assignments.\n\noptions:\n");
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const opt_t *o = &options[i];
		char head[64];
		if (o->type == OPT_BOOL)
			snprintf(head, sizeof(head), "--%s", o->name);
		else
			snprintf(head, sizeof(head), "--%s %s", o->name, o->arg);
		fprintf(out, "  %-30s %s", head, o->help);
		if (o->def != NULL && o->type != OPT_BOOL)
			fprintf(out, " (default %s)", o->def);
		else if (o->type == OPT_BOOL && !(o->flags & OPT_CLI_ONLY))
			fprintf(out, " (default %s)", o->def);
		fputc('\n', out);
	}
	fprintf(out, "\nEvery option but check, config and help may also be set in the\n"
	             "config file as \"name value\" (booleans: yes or no).\n");
}

void
config_print(const config_t *c, FILE *out)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const opt_t *o = &options[i];
		if (o->flags & OPT_CLI_ONLY)
			continue;
		const void *f = (const char *)c + o->offset;
		switch (o->type) {
		case OPT_BOOL: fprintf(out, "%s %s\n", o->name, *(const int *)f ? "yes" : "no"); break;
		case OPT_INT:  fprintf(out, "%s %ld\n", o->name, *(const long *)f); break;
		case OPT_STR:
			if (*(char *const *)f)
				fprintf(out, "%s %s\n", o->name, *(char *const *)f);
			break;
		case OPT_LIST: {
			const config_list_t *l = f;
			for (int k = 0; k < l->n; k++)
				fprintf(out, "%s %s\n", o->name, l->items[k]);
			break;
		}
		}
	}
}
