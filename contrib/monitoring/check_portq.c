/*
 * check_portq.c -- a monitoring plugin for portqd (Nagios, Icinga, Naemon,
 * Sensu and the like), built on libportq: no network code of its own.
 *
 * It asks a server for INFO and checks the answer: how long it took, how
 * many records the registry holds, how old its registry date is; then,
 * optionally, a few lookups whose answers the caller knows. The result is
 * one line, "PORTQ STATE - text | perfdata" (more lines only with -v), and
 * the exit code of the Monitoring Plugins guidelines: 0 OK, 1 WARNING,
 * 2 CRITICAL, 3 UNKNOWN. docs/monitoring.md describes every option.
 *
 * The whole run is bounded by --timeout: every query is given what is
 * left of it, and SIGALRM ends the plugin if something still overruns
 * (a host name that takes long to resolve, say).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "portq.h"

#ifndef CHECK_PORTQ_VERSION
#define CHECK_PORTQ_VERSION PORTQ_CLIENT_VERSION
#endif

/* Exit codes and their names, as the guidelines fix them. */
typedef enum { STATE_OK = 0, STATE_WARNING = 1, STATE_CRITICAL = 2, STATE_UNKNOWN = 3 } state_t;

static const char *const state_names[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };

#define TIMEOUT_DEFAULT_S 10
#define TIMEOUT_MAX_S     3600
#define SERVERS_MAX       8       /* libportq keeps at most 8 */
#define ATTEMPTS_MAX      100
#define TEXT_MAX          2048    /* per state, in the status line */

/* ---- options -------------------------------------------------------- */

enum {
	OPT_AGE_WARNING = 256,
	OPT_AGE_CRITICAL,
	OPT_MIN_RECORDS,
	OPT_EXPECT,
};

/*
 * Every option, once: getopt's tables and --help both come from here.
 * Help lines are separated by '\n' and indented when printed.
 */
typedef struct {
	const char *name;
	int key;                  /* the short letter, or an OPT_ value */
	const char *arg;          /* the argument's name; NULL: none */
	const char *help;
} option_doc_t;

static const option_doc_t option_docs[] = {
	{ "server", 'H', "HOST[:PORT]",
	  "the portq server to ask (IPv6 as [ADDR]:PORT); repeat for fallbacks,\n"
	  "asked in order. Default: $PORTQ_SERVER, then the server lines of\n"
	  PORTQ_CLIENT_CONFIG_FILE ", then 127.0.0.1:5380" },
	{ "timeout", 't', "SECONDS[:STATE]",
	  "the most the whole check may take (default 10); STATE (ok, warning,\n"
	  "critical, unknown; default critical) is the result when the servers\n"
	  "do not answer within it" },
	{ "warning", 'w', "SECONDS",
	  "WARNING when INFO takes longer than this (a plain number: 0.5)" },
	{ "critical", 'c', "SECONDS",
	  "CRITICAL when INFO takes longer than this" },
	{ "age-warning", OPT_AGE_WARNING, "DAYS",
	  "WARNING when the registry date is more than DAYS days ago" },
	{ "age-critical", OPT_AGE_CRITICAL, "DAYS",
	  "CRITICAL when the registry date is more than DAYS days ago" },
	{ "min-records", OPT_MIN_RECORDS, "N",
	  "CRITICAL when the server holds fewer than N records (a truncated\n"
	  "or wrong registry)" },
	{ "expect", OPT_EXPECT, "QUERY=ANSWER",
	  "CRITICAL unless QUERY is answered with ANSWER; repeatable.\n"
	  "PORT[/PROTO]=NAME: a service assigned at the port is NAME (22/tcp=ssh);\n"
	  "NAME[/PROTO]=PORT: the service is assigned that port (sftsrv=1303)" },
	{ "tcp", 'T', NULL,
	  "ask over TCP only (default: UDP, TCP when an answer is truncated)" },
	{ "verbose", 'v', NULL,
	  "more lines after the status line: -v the answering server, sources\n"
	  "and lookups; -vv every INFO item" },
	{ "help", 'h', NULL, "this help (exits 3, as the guidelines ask)" },
	{ "version", 'V', NULL, "the version (exits 3)" },
};

#define N_OPTIONS (sizeof(option_docs) / sizeof(option_docs[0]))

/* One --expect. */
typedef struct {
	const char *arg;          /* as given, for messages */
	char query[256];          /* a service name, or the port as typed */
	char proto[8];            /* "" for any */
	int by_port;              /* the query is a port */
	unsigned port;
	char want[256];           /* the expected answer */
	unsigned want_port;       /* NAME queries */
} expect_t;

typedef struct {
	char servers[2048];       /* the --server list, comma-separated */
	size_t servers_len;
	int n_servers;            /* 0: libportq's default list */
	unsigned timeout_s;
	state_t timeout_state;
	const char *warn_text, *crit_text;   /* NULL: no threshold */
	double warn_s, crit_s;
	long age_warn, age_crit;  /* -1: no threshold */
	unsigned long min_records;           /* 0: no threshold */
	expect_t *expects;
	size_t n_expects;
	int tcp;
	int verbose;
} config_t;

/* ---- the report ----------------------------------------------------- */

/*
 * What the plugin found, one text per state: the status line shows the
 * problems first (CRITICAL, WARNING, UNKNOWN), then what is fine.
 */
typedef struct {
	char text[4][TEXT_MAX];
	char perf[1024];
	char detail[16384];       /* -v lines */
	int seen[4];
} report_t;

/* CRITICAL outranks WARNING, which outranks UNKNOWN, which outranks OK. */
static int
state_rank(state_t s)
{
	static const int rank[] = { 0, 2, 3, 1 };
	return rank[s];
}

static state_t
report_state(const report_t *r)
{
	state_t worst = STATE_OK;
	for (int s = 0; s < 4; s++)
		if (r->seen[s] && state_rank((state_t)s) > state_rank(worst))
			worst = (state_t)s;
	return worst;
}

/*
 * Append to dst what a monitoring system may show: '|' would start the
 * performance data and a line break a new line, so server-given text
 * (names, errors, file names) is flattened. Cuts what does not fit.
 */
static void
text_append_clean(char *dst, size_t cap, const char *sep, const char *text)
{
	size_t used = strlen(dst);
	if (used > 0 && sep != NULL) {
		size_t n = strlen(sep);
		if (used + n >= cap)
			return;
		memcpy(dst + used, sep, n + 1);
		used += n;
	}
	for (; *text && used + 1 < cap; text++) {
		unsigned char ch = (unsigned char)*text;
		dst[used++] = ch == '|' ? '/' : ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
	}
	dst[used] = '\0';
}

static void __attribute__((format(printf, 3, 4)))
report_add(report_t *r, state_t s, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	r->seen[s] = 1;
	text_append_clean(r->text[s], sizeof(r->text[s]), "; ", text);
}

static void __attribute__((format(printf, 2, 3)))
report_detail(report_t *r, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	text_append_clean(r->detail, sizeof(r->detail) - 1, NULL, text);
	size_t used = strlen(r->detail);
	r->detail[used] = '\n';
	r->detail[used + 1] = '\0';
}

static void __attribute__((format(printf, 2, 3)))
report_perf(report_t *r, const char *fmt, ...)
{
	size_t used = strlen(r->perf);
	if (used > 0 && used + 1 < sizeof(r->perf))
		r->perf[used++] = ' ';
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->perf + used, sizeof(r->perf) - used, fmt, ap);
	va_end(ap);
	/* "time=1s;;;0" but "records=5", not "records=5;;;" */
	for (used = strlen(r->perf); used > 0 && r->perf[used - 1] == ';'; used--)
		r->perf[used - 1] = '\0';
}

/* ---- the time budget ------------------------------------------------ */

static long long
mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * SIGALRM's message, written by the handler as it is: the text names what
 * the plugin was doing. Changed only with SIGALRM blocked.
 */
static char alarm_text[512];
static size_t alarm_len;
static volatile sig_atomic_t alarm_exit = STATE_CRITICAL;

static void
alarm_fired(int sig)
{
	(void)sig;
	if (write(STDOUT_FILENO, alarm_text, alarm_len) < 0) {
		/* Nothing to do: the exit code still tells. */
	}
	_exit(alarm_exit);
}

static void
alarm_block(int block)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

static const char *
servers_label(const config_t *cfg)
{
	return cfg->servers_len > 0 ? cfg->servers : "the default servers";
}

/* Say what is being done, for the alarm's message. */
static void __attribute__((format(printf, 2, 3)))
stage_set(const config_t *cfg, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	alarm_block(1);
	alarm_text[0] = '\0';
	char line[512];
	snprintf(line, sizeof(line), "PORTQ %s - no answer within %u s (--timeout) while %s",
	         state_names[cfg->timeout_state], cfg->timeout_s, what);
	text_append_clean(alarm_text, sizeof(alarm_text) - 1, NULL, line);
	alarm_len = strlen(alarm_text);
	alarm_text[alarm_len++] = '\n';
	alarm_block(0);
}

/*
 * A handle for one query with budget_ms left. libportq waits timeout_ms
 * per server and attempt: the attempts are sized near libportq's default
 * wait, as many as the budget holds (at least two, so one lost datagram
 * is not an outage), and together they end before the alarm. The answer
 * cache is off: a check must see the server as it is now.
 */
static int
client_open(const config_t *cfg, long long budget_ms, portq_client_t **out)
{
	int n = cfg->n_servers;
	if (n == 0) {
		/* PORTQ_SERVER's list, else one server; a config file listing
		 * several is left to the alarm. */
		const char *env = getenv("PORTQ_SERVER");
		n = 1;
		for (const char *p = env; p != NULL && *p; p++)
			n += *p == ',';
	}
	long long attempts = budget_ms / ((long long)n * PORTQ_CLIENT_TIMEOUT_MS);
	if (attempts < 2)
		attempts = 2;
	if (attempts > ATTEMPTS_MAX)
		attempts = ATTEMPTS_MAX;
	long long per = budget_ms / (n * attempts);
	portq_options_t o;
	memset(&o, 0, sizeof(o));
	o.servers = cfg->servers_len > 0 ? cfg->servers : NULL;
	o.timeout_ms = per > 0 ? (int)per : 1;
	o.attempts = (int)attempts;
	o.tcp = cfg->tcp;
	o.cache_ttl = PORTQ_CACHE_OFF;
	return portq_client_new(out, &o);
}

/* What is left of the run, less a margin for printing before the alarm. */
static long long
budget_left_ms(long long deadline_ns, unsigned timeout_s)
{
	long long margin = timeout_s * 1000LL / 10;
	if (margin > 250)
		margin = 250;
	return (deadline_ns - mono_ns()) / 1000000 - margin;
}

/* "no answer", "no server could answer" ... and libportq's detail. */
static void
failure_report(const config_t *cfg, report_t *rep, const char *what, int rc,
               const portq_client_t *c)
{
	const char *why = portq_client_error(c);
	char text[64];
	state_t s = STATE_CRITICAL;
	switch (rc) {
	case PORTQ_ETIMEDOUT:
		/* The timeout is the caller's to judge: -t SECONDS:STATE. */
		s = cfg->timeout_state;
		snprintf(text, sizeof(text), "no answer within %u s", cfg->timeout_s);
		break;
	case PORTQ_EIO:
		snprintf(text, sizeof(text), "no server could answer");
		break;
	case PORTQ_EMALFORMED:
		snprintf(text, sizeof(text), "no valid answer");
		break;
	default:   /* EINVAL, ENOMEM: the plugin's trouble, not the server's */
		s = STATE_UNKNOWN;
		snprintf(text, sizeof(text), "%s", portq_strerror(rc));
		break;
	}
	report_add(rep, s, "%s: %s%s%s", what, text, why[0] ? ": " : "", why);
}

/* ---- INFO ----------------------------------------------------------- */

static const char *
info_get(const portq_result_t *r, const char *key)
{
	for (size_t i = 0; i < r->n_info; i++)
		if (strcmp(r->info[i].key, key) == 0)
			return r->info[i].value;
	return NULL;
}

static int
parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -1;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Whole days from a YYYY-MM-DD date (UTC midnight) to now; -1 if unreadable. */
static int
date_age_days(const char *date, long *days)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (date == NULL || strlen(date) != 10)
		return -1;
	const char *end = strptime(date, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	time_t now = time(NULL);
	/* A date ahead of the clock is a skewed clock, not a young registry. */
	*days = now > t ? (long)((now - t) / 86400) : 0;
	return 0;
}

static void
time_text(double s, char *out, size_t len)
{
	if (s < 1.0)
		snprintf(out, len, "%.1f ms", s * 1000.0);
	else
		snprintf(out, len, "%.3f s", s);
}

/* The round trip against -w and -c. */
static void
check_time(const config_t *cfg, report_t *rep, double took, const portq_result_t *r)
{
	char t[32];
	time_text(took, t, sizeof(t));
	const char *via = r->tcp ? " over tcp" : "";
	if (cfg->crit_text != NULL && took > cfg->crit_s)
		report_add(rep, STATE_CRITICAL, "INFO took %s (critical above %s s) at %s%s", t,
		           cfg->crit_text, r->server, via);
	else if (cfg->warn_text != NULL && took > cfg->warn_s)
		report_add(rep, STATE_WARNING, "INFO took %s (warning above %s s) at %s%s", t,
		           cfg->warn_text, r->server, via);
	else
		report_add(rep, STATE_OK, "INFO in %s from %s%s", t, r->server, via);
}

/* The record count against --min-records; -1 in *n when not reported. */
static void
check_records(const config_t *cfg, report_t *rep, const portq_result_t *r, long long *n)
{
	unsigned long v;
	*n = -1;
	if (parse_ulong(info_get(r, "records"), 4294967295UL, &v) < 0) {
		if (cfg->min_records > 0)
			report_add(rep, STATE_UNKNOWN, "the server reports no record count");
		return;
	}
	*n = (long long)v;
	if (cfg->min_records > 0 && v < cfg->min_records)
		report_add(rep, STATE_CRITICAL, "%lu records, fewer than %lu (truncated registry?)",
		           v, cfg->min_records);
	else
		report_add(rep, STATE_OK, "%lu records", v);
}

/* The registry date against --age-*; -1 in *days when not known. */
static void
check_age(const config_t *cfg, report_t *rep, const portq_result_t *r, long *days)
{
	const char *date = info_get(r, "registry-date");
	int asked = cfg->age_warn >= 0 || cfg->age_crit >= 0;
	*days = -1;
	if (date == NULL || date[0] == '\0' || date_age_days(date, days) < 0) {
		const char *what = date == NULL || date[0] == '\0' ? "no registry date" :
		                   "an unreadable registry date";
		*days = -1;
		if (asked)
			report_add(rep, STATE_UNKNOWN, "the server reports %s: cannot check its age",
			           what);
		else
			report_add(rep, STATE_OK, "%s", what);
		return;
	}
	if (cfg->age_crit >= 0 && *days > cfg->age_crit)
		report_add(rep, STATE_CRITICAL, "registry %s is %ld days old (critical above %ld)",
		           date, *days, cfg->age_crit);
	else if (cfg->age_warn >= 0 && *days > cfg->age_warn)
		report_add(rep, STATE_WARNING, "registry %s is %ld days old (warning above %ld)",
		           date, *days, cfg->age_warn);
	else
		report_add(rep, STATE_OK, "registry %s (%ld days old)", date, *days);
}

/*
 * The performance data: only what the server told. Days have no unit of
 * measurement in the perfdata grammar (a "d" breaks some parsers), so
 * the label carries it.
 */
static void
info_perfdata(const config_t *cfg, report_t *rep, double took, long long records,
              uint32_t serial, long days)
{
	char w[24] = "", c[24] = "";
	report_perf(rep, "time=%.6fs;%s;%s;0", took, cfg->warn_text ? cfg->warn_text : "",
	            cfg->crit_text ? cfg->crit_text : "");
	if (records >= 0 && cfg->min_records > 0)
		report_perf(rep, "records=%lld;;%lu:;0", records, cfg->min_records);
	else if (records >= 0)
		report_perf(rep, "records=%lld;;;0", records);
	report_perf(rep, "serial=%u", (unsigned)serial);
	if (days < 0)
		return;
	if (cfg->age_warn >= 0)
		snprintf(w, sizeof(w), "%ld", cfg->age_warn);
	if (cfg->age_crit >= 0)
		snprintf(c, sizeof(c), "%ld", cfg->age_crit);
	report_perf(rep, "age_days=%ld;%s;%s;0", days, w, c);
}

static void
info_details(const config_t *cfg, report_t *rep, const portq_result_t *r)
{
	if (cfg->verbose < 1)
		return;
	report_detail(rep, "server %s (%s)", r->server, r->tcp ? "tcp" : "udp");
	for (size_t i = 0; i < r->n_info; i++)
		if (cfg->verbose >= 2 || strcmp(r->info[i].key, "source") == 0)
			report_detail(rep, "%s %s", r->info[i].key, r->info[i].value);
}

/* INFO and its checks; 0 when the server answered. */
static int
check_info(const config_t *cfg, report_t *rep, long long deadline_ns)
{
	stage_set(cfg, "asking %s for INFO", servers_label(cfg));
	portq_client_t *c;
	int rc = client_open(cfg, budget_left_ms(deadline_ns, cfg->timeout_s), &c);
	if (rc == PORTQ_EINVAL) {
		/* Only a server list that does not parse: the options are ours. */
		report_add(rep, STATE_UNKNOWN, "--server %s: expected HOST[:PORT], IPv6 as [ADDR]:PORT",
		           cfg->servers);
		return -1;
	}
	if (rc < 0) {
		report_add(rep, STATE_UNKNOWN, "%s", portq_strerror(rc));
		return -1;
	}
	portq_result_t *r;
	long long t0 = mono_ns();
	rc = portq_query_info(c, &r);
	double took = (double)(mono_ns() - t0) / 1e9;
	if (rc < 0) {
		failure_report(cfg, rep, "INFO", rc, c);
		portq_client_free(c);
		return -1;
	}
	portq_client_free(c);
	if (r->cached) {
		/* INFO is never cached and the cache is off: cannot happen. */
		report_add(rep, STATE_UNKNOWN, "INFO came from the cache, not the server");
		portq_result_free(r);
		return -1;
	}
	long long records;
	long days;
	report_add(rep, STATE_OK, "serial %u", (unsigned)r->serial);
	check_records(cfg, rep, r, &records);
	check_age(cfg, rep, r, &days);
	check_time(cfg, rep, took, r);
	info_perfdata(cfg, rep, took, records, r->serial, days);
	info_details(cfg, rep, r);
	portq_result_free(r);
	return 0;
}

/* ---- --expect ------------------------------------------------------- */

/* Add item to a ", "-separated list unless it is there already. */
static void
list_add(char *list, size_t cap, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = list; *p;) {
		const char *end = strstr(p, ", ");
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && strncmp(p, item, n) == 0)
			return;
		if (end == NULL)
			break;
		p = end + 2;
	}
	text_append_clean(list, cap, ", ", item);
}

static int
entry_named(const portq_entry_t *e, const char *name)
{
	if (strcasecmp(e->name, name) == 0)
		return 1;
	for (size_t i = 0; i < e->n_aliases; i++)
		if (strcasecmp(e->aliases[i], name) == 0)
			return 1;
	return 0;
}

/*
 * Whether the answer holds what x expects; *got says what it holds, for
 * the message, and *found whether it holds anything at all. Only assigned
 * (or local) records count: they are what getservbyport() and
 * getservbyname() return.
 */
static int
expect_met(const expect_t *x, const portq_result_t *r, char *got, size_t len, int *found)
{
	int met = 0;
	got[0] = '\0';
	*found = 0;
	for (size_t i = 0; i < r->n_entries; i++) {
		const portq_entry_t *e = &r->entries[i];
		if (!e->assigned || e->name[0] == '\0')
			continue;
		*found = 1;
		if (x->by_port) {
			met |= entry_named(e, x->want);
			list_add(got, len, e->name);
			continue;
		}
		/* A name registered without a port (a DNS-SD name, as IANA
		 * lists "ssh" beside ssh 22/tcp) says nothing about ports. */
		if (!e->has_port)
			continue;
		char spec[24];
		if (e->port_lo == e->port_hi)
			snprintf(spec, sizeof(spec), "%u", e->port_lo);
		else
			snprintf(spec, sizeof(spec), "%u-%u", e->port_lo, e->port_hi);
		met |= e->port_lo <= x->want_port && x->want_port <= e->port_hi;
		list_add(got, len, spec);
	}
	if (*found && got[0] == '\0')
		snprintf(got, len, "registered without a port");
	if (*found)
		return met;
	if (x->by_port && r->port != NULL)
		snprintf(got, len, "no service assigned (the port is %s)", r->port->state);
	else
		snprintf(got, len, r->n_entries ? "not assigned" : "no such service");
	return 0;
}

static void
check_expects(const config_t *cfg, report_t *rep, long long deadline_ns)
{
	size_t ok = 0;
	for (size_t i = 0; i < cfg->n_expects; i++) {
		const expect_t *x = &cfg->expects[i];
		const char *proto = x->proto[0] ? x->proto : NULL;
		char label[300];
		snprintf(label, sizeof(label), "%s%s%s", x->query, x->proto[0] ? "/" : "", x->proto);
		stage_set(cfg, "asking %s for %s", servers_label(cfg), label);
		long long budget = budget_left_ms(deadline_ns, cfg->timeout_s);
		if (budget <= 0) {
			report_add(rep, cfg->timeout_state, "%s: not asked, no time left", label);
			continue;
		}
		portq_client_t *c;
		int rc = client_open(cfg, budget, &c);
		if (rc < 0) {
			report_add(rep, STATE_UNKNOWN, "%s: %s", label, portq_strerror(rc));
			continue;
		}
		portq_result_t *r;
		rc = x->by_port ? portq_query_port(c, x->port, proto, &r)
		                : portq_query_name(c, x->query, proto, &r);
		if (rc < 0) {
			failure_report(cfg, rep, label, rc, c);
			portq_client_free(c);
			continue;
		}
		portq_client_free(c);
		char got[512];
		int found;
		if (expect_met(x, r, got, sizeof(got), &found)) {
			ok++;
			if (cfg->verbose >= 1)
				report_detail(rep, "%s is %s, as expected", label, got);
		} else {
			report_add(rep, STATE_CRITICAL, "%s%s%s, expected %s", label,
			           found ? " is " : ": ", got, x->want);
		}
		portq_result_free(r);
	}
	if (ok > 0)
		report_add(rep, STATE_OK, "%zu %s as expected", ok, ok == 1 ? "lookup" : "lookups");
}

/* ---- arguments ------------------------------------------------------ */

static void
usage(void)
{
	printf("check_portq %s - check a portq registry server (portqd)\n\n"
	       "Usage: check_portq [-H HOST[:PORT]]... [-t SECONDS[:STATE]] [-w SECONDS]\n"
	       "         [-c SECONDS] [--age-warning DAYS] [--age-critical DAYS]\n"
	       "         [--min-records N] [--expect QUERY=ANSWER]... [-T] [-v]\n\n"
	       "Asks the server for INFO through libportq and reports its answer time,\n"
	       "record count, registry serial and registry age; checks the lookups of\n"
	       "--expect. Thresholds are plain numbers: a value above the threshold\n"
	       "(below, for --min-records) raises the state.\n\nOptions:\n",
	       CHECK_PORTQ_VERSION);
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const option_doc_t *o = &option_docs[i];
		char head[64];
		if (o->key < 256)
			snprintf(head, sizeof(head), "-%c, --%s%s%s", o->key, o->name,
			         o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(head, sizeof(head), "    --%s%s%s", o->name, o->arg ? " " : "",
			         o->arg ? o->arg : "");
		printf("  %s\n", head);
		for (const char *p = o->help; *p;) {
			const char *nl = strchr(p, '\n');
			int n = nl ? (int)(nl - p) : (int)strlen(p);
			printf("        %.*s\n", n, p);
			p += n + (nl != NULL);
		}
	}
	printf("\nStates: OK all is well; WARNING a warning threshold is passed;\n"
	       "CRITICAL no answer, a critical threshold passed or a lookup differs;\n"
	       "UNKNOWN bad arguments, or a threshold the answer cannot be checked against.\n"
	       "Exit codes 0, 1, 2, 3. Details: docs/monitoring.md.\n\n"
	       "Examples:\n"
	       "  check_portq -H portq1.example.net -w 0.2 -c 1 --age-warning 45 \\\n"
	       "      --min-records 10000 --expect 22/tcp=ssh --expect sftsrv=1303\n");
}

/* The one line of a usage error; the run ends UNKNOWN. */
static int __attribute__((format(printf, 1, 2)))
arg_error(const char *fmt, ...)
{
	char text[512], line[600] = "";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	text_append_clean(line, sizeof(line), NULL, text);
	printf("PORTQ UNKNOWN - %s (see check_portq --help)\n", line);
	return -1;
}

/* A plain non-negative decimal, "2" or "0.25": no ranges, no exponent. */
static int
parse_seconds(const char *opt, const char *s, double *out)
{
	size_t digits = strspn(s, "0123456789");
	const char *p = s + digits;
	size_t frac = 0;
	if (*p == '.') {
		frac = strspn(p + 1, "0123456789");
		p += 1 + frac;
	}
	/* "0.5", not ".5" or "5.": the text goes into the perfdata as typed. */
	if (digits == 0 || (p > s + digits && frac == 0) || *p != '\0' || strlen(s) > 16)
		return arg_error("--%s %s: expected seconds as a plain number (0.5, 2); "
		                 "threshold ranges are not supported", opt, s);
	*out = strtod(s, NULL);
	return 0;
}

static int
parse_count(const char *opt, const char *s, unsigned long min, unsigned long max,
            unsigned long *out)
{
	if (parse_ulong(s, max, out) < 0 || *out < min)
		return arg_error("--%s %s: expected a whole number from %lu to %lu", opt, s, min,
		                 max);
	return 0;
}

static int
parse_timeout(const char *s, config_t *cfg)
{
	char num[16];
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	unsigned long v;
	if (n >= sizeof(num))
		return arg_error("--timeout %s: expected SECONDS[:STATE]", s);
	memcpy(num, s, n);
	num[n] = '\0';
	if (parse_count("timeout", num, 1, TIMEOUT_MAX_S, &v) < 0)
		return -1;
	cfg->timeout_s = (unsigned)v;
	if (colon == NULL)
		return 0;
	for (int st = 0; st < 4; st++)
		if (strcasecmp(colon + 1, state_names[st]) == 0 ||
		    (colon[1] == '0' + st && colon[2] == '\0')) {
			cfg->timeout_state = (state_t)st;
			return 0;
		}
	return arg_error("--timeout %s: the state is ok, warning, critical or unknown", s);
}

static int
parse_server(const char *s, config_t *cfg)
{
	size_t n = strlen(s);
	if (n == 0 || strchr(s, ',') != NULL)
		return arg_error("--server \"%s\": one HOST[:PORT] per --server", s);
	if (cfg->n_servers == SERVERS_MAX || cfg->servers_len + n + 2 > sizeof(cfg->servers))
		return arg_error("more than %d --server options", SERVERS_MAX);
	if (cfg->servers_len > 0)
		cfg->servers[cfg->servers_len++] = ',';
	memcpy(cfg->servers + cfg->servers_len, s, n + 1);
	cfg->servers_len += n;
	cfg->n_servers++;
	return 0;
}

/* "QUERY=ANSWER": QUERY is PORT[/PROTO] or NAME[/PROTO]. */
static int
parse_expect(const char *arg, expect_t *x)
{
	memset(x, 0, sizeof(*x));
	x->arg = arg;
	const char *eq = strchr(arg, '=');
	if (eq == NULL || eq == arg || eq[1] == '\0')
		return arg_error("--expect %s: expected QUERY=ANSWER (22/tcp=ssh, sftsrv=1303)",
		                 arg);
	size_t qlen = (size_t)(eq - arg);
	const char *slash = memchr(arg, '/', qlen);
	if (slash != NULL) {
		static const char *const known[] = { "tcp", "udp", "sctp", "dccp" };
		size_t plen = qlen - (size_t)(slash + 1 - arg);
		for (size_t i = 0; i < 4 && x->proto[0] == '\0'; i++)
			if (plen == strlen(known[i]) && strncasecmp(slash + 1, known[i], plen) == 0)
				snprintf(x->proto, sizeof(x->proto), "%s", known[i]);
		if (x->proto[0] == '\0')
			return arg_error("--expect %s: the protocol is tcp, udp, sctp or dccp", arg);
		qlen = (size_t)(slash - arg);
	}
	if (qlen == 0 || qlen >= sizeof(x->query) || strlen(eq + 1) >= sizeof(x->want))
		return arg_error("--expect %s: the query and the answer take 1 to 255 bytes", arg);
	memcpy(x->query, arg, qlen);
	x->query[qlen] = '\0';
	snprintf(x->want, sizeof(x->want), "%s", eq + 1);
	unsigned long v;
	if (strspn(x->query, "0123456789") == qlen) {
		if (parse_ulong(x->query, 65535, &v) < 0)
			return arg_error("--expect %s: ports are 0 to 65535", arg);
		x->by_port = 1;
		x->port = (unsigned)v;
	}
	int want_port = strspn(x->want, "0123456789") == strlen(x->want);
	if (x->by_port && want_port)
		return arg_error("--expect %s: a port is answered with a service name", arg);
	if (!x->by_port && !want_port)
		return arg_error("--expect %s: a service name is answered with a port", arg);
	if (!x->by_port) {
		if (parse_ulong(x->want, 65535, &v) < 0)
			return arg_error("--expect %s: ports are 0 to 65535", arg);
		x->want_port = (unsigned)v;
	}
	return 0;
}

static int
config_parse(int argc, char **argv, config_t *cfg)
{
	struct option longopts[N_OPTIONS + 1];
	char shortopts[2 * N_OPTIONS + 2] = ":";
	size_t ns = 1;
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const option_doc_t *o = &option_docs[i];
		longopts[i] = (struct option){ o->name, o->arg ? required_argument : no_argument,
		                               NULL, o->key };
		if (o->key < 256) {
			shortopts[ns++] = (char)o->key;
			if (o->arg)
				shortopts[ns++] = ':';
		}
	}
	shortopts[ns] = '\0';
	longopts[N_OPTIONS] = (struct option){ NULL, 0, NULL, 0 };

	memset(cfg, 0, sizeof(*cfg));
	cfg->timeout_s = TIMEOUT_DEFAULT_S;
	cfg->timeout_state = STATE_CRITICAL;
	cfg->age_warn = cfg->age_crit = -1;
	cfg->expects = calloc((size_t)argc, sizeof(*cfg->expects));
	if (cfg->expects == NULL)
		return arg_error("out of memory");

	/* --help wins over everything else, bad arguments included. */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage();
			return 1;
		}
	opterr = 0;   /* the errors are ours to word, on stdout */
	int ch;
	unsigned long v;
	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			if (parse_server(optarg, cfg) < 0)
				return -1;
			break;
		case 't':
			if (parse_timeout(optarg, cfg) < 0)
				return -1;
			break;
		case 'w':
			if (parse_seconds("warning", optarg, &cfg->warn_s) < 0)
				return -1;
			cfg->warn_text = optarg;
			break;
		case 'c':
			if (parse_seconds("critical", optarg, &cfg->crit_s) < 0)
				return -1;
			cfg->crit_text = optarg;
			break;
		case OPT_AGE_WARNING:
		case OPT_AGE_CRITICAL:
			if (parse_count(ch == OPT_AGE_WARNING ? "age-warning" : "age-critical", optarg,
			                0, 1000000, &v) < 0)
				return -1;
			*(ch == OPT_AGE_WARNING ? &cfg->age_warn : &cfg->age_crit) = (long)v;
			break;
		case OPT_MIN_RECORDS:
			if (parse_count("min-records", optarg, 1, 4294967295UL, &cfg->min_records) < 0)
				return -1;
			break;
		case OPT_EXPECT:
			if (parse_expect(optarg, &cfg->expects[cfg->n_expects]) < 0)
				return -1;
			cfg->n_expects++;
			break;
		case 'T':
			cfg->tcp = 1;
			break;
		case 'v':
			cfg->verbose++;
			break;
		case 'h':
			usage();
			return 1;
		case 'V':
			printf("check_portq %s (libportq %s)\n", CHECK_PORTQ_VERSION,
			       PORTQ_CLIENT_VERSION);
			return 1;
		case ':':
			if (optopt != 0 && optopt < 256)
				return arg_error("-%c needs an argument", optopt);
			return arg_error("%s needs an argument", argv[optind - 1]);
		default:
			if (optopt != 0)
				return arg_error("unknown option -%c", optopt);
			return arg_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return arg_error("unexpected argument \"%s\"", argv[optind]);
	return 0;
}

/* ---- main ----------------------------------------------------------- */

static state_t
report_print(const report_t *rep)
{
	state_t worst = report_state(rep);
	static const state_t order[] = { STATE_CRITICAL, STATE_WARNING, STATE_UNKNOWN, STATE_OK };
	printf("PORTQ %s - ", state_names[worst]);
	int first = 1;
	for (size_t i = 0; i < 4; i++) {
		if (rep->text[order[i]][0] == '\0')
			continue;
		printf("%s%s", first ? "" : "; ", rep->text[order[i]]);
		first = 0;
	}
	if (rep->perf[0] != '\0')
		printf(" | %s", rep->perf);
	putchar('\n');
	fputs(rep->detail, stdout);
	return worst;
}

int
main(int argc, char **argv)
{
	config_t cfg;
	int rc = config_parse(argc, argv, &cfg);
	if (rc != 0) {
		free(cfg.expects);
		return STATE_UNKNOWN;   /* also after --help and --version */
	}
	long long deadline_ns = mono_ns() + cfg.timeout_s * 1000000000LL;
	alarm_exit = cfg.timeout_state;
	stage_set(&cfg, "starting");
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = alarm_fired;
	sigaction(SIGALRM, &sa, NULL);
	alarm(cfg.timeout_s);

	static report_t rep;
	if (check_info(&cfg, &rep, deadline_ns) == 0)
		check_expects(&cfg, &rep, deadline_ns);
	else if (cfg.n_expects > 0 && cfg.verbose >= 1)
		report_detail(&rep, "--expect: not asked, INFO failed");

	/* From here the answer is known: the alarm must not cut it in two. */
	alarm_block(1);
	alarm(0);
	state_t s = report_print(&rep);
	free(cfg.expects);
	if (fflush(stdout) != 0)
		return STATE_UNKNOWN;
	return s;
}
