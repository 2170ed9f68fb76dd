/*
 * portq.c -- the portq command: ask the portq server about ports and
 * service names, through libportq only (no network code here).
 *
 * Output is for people by default, grouped the way a reference page
 * would group it (one block per service, its protocols together); --json
 * is the stable form for programs (docs/client.md); --services writes the
 * whole registry as an /etc/services file.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fields.h"
#include "portq.h"
#include "utf8.h"

enum { EXIT_FOUND = 0, EXIT_NOTFOUND = 1, EXIT_TROUBLE = 2 };

#define PAGE_LIMIT     500     /* records asked per page of a range or search */
#define MAX_PAGES      2000    /* bounds a listing even if a server never ends it */
#define MAX_RESTARTS   3       /* registry reloaded while paging: start over */

typedef enum { Q_PORT, Q_NAME, Q_RANGE, Q_SEARCH, Q_INFO } query_kind_t;

static const char *const kind_names[] = { "port", "name", "range", "search", "info" };

typedef struct {
	query_kind_t kind;
	const char *arg;          /* as typed, for messages and JSON */
	char text[256];           /* name or search text */
	char proto[8];            /* "" for any */
	unsigned lo, hi;
} query_t;

/* What a query brought back: one page, or every page of a listing. */
typedef struct {
	int rc;                   /* PORTQ_OK or the error */
	char error[512];
	portq_result_t **pages;
	size_t n_pages;
} answer_t;

typedef enum { V_FOUND, V_NOTASSIGNED, V_NOTFOUND, V_ERROR } verdict_t;

static const char *const verdict_names[] = { "found", "not-assigned", "not-found", "error" };

/* ---- usage ---------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
"usage: portq [OPTIONS] QUERY...\n"
"       portq [OPTIONS] --services\n"
"\n"
"Ask the portq registry server what runs on a port or which port a service\n"
"uses (IANA Service Name and Transport Protocol Port Number Registry).\n"
"\n"
"Queries (any number, answered in order):\n"
"  PORT[/PROTO]          what is on a port: 293, 1303/udp\n"
"  NAME[/PROTO]          where a service lives: sftsrv, http/tcp\n"
"  LO-HI[/PROTO]         every record in a port range: 1300-1310\n"
"  --search TEXT         records whose name, alias or description contains TEXT\n"
"  --info                the registry the server holds (serial, sources, date)\n"
"  PROTO is tcp, udp, sctp or dccp; without it, any protocol.\n"
"\n"
"Options:\n"
"  -s, --server HOST[:PORT]  ask this server (repeat for fallbacks, tried in\n"
"                            order; IPv6 as [ADDR]:PORT). Default: $PORTQ_SERVER,\n"
"                            then the server lines of %s,\n"
"                            then 127.0.0.1:%d\n"
"  -t, --timeout MS          wait per server and attempt (default %d)\n"
"  -a, --attempts N          rounds over the server list (default %d)\n"
"  -T, --tcp                 ask over TCP only\n"
"  -j, --json                print JSON (schema in docs/client.md)\n"
"      --services            write the registry in services(5) format\n"
"  -h, --help                this help\n"
"  -V, --version             the version\n"
"\n"
"Exit status (as getent):\n"
"  0  every query found an assigned service (or --info, --services worked)\n"
"  1  a query found nothing, or only ports that are not assigned\n"
"     (free, reserved, de-registered)\n"
"  2  usage error, or no server gave an answer (timeout, refused, failure),\n"
"     or a search too broad for the server (it stopped at its work limit)\n",
	        PORTQ_CLIENT_CONFIG_FILE, PORTQ_CLIENT_DEFAULT_PORT,
	        PORTQ_CLIENT_TIMEOUT_MS, PORTQ_CLIENT_ATTEMPTS);
}

/* ---- query parsing -------------------------------------------------- */

static int
all_digits(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

static int
port_of(const char *s, size_t n, unsigned *out)
{
	if (!all_digits(s, n) || n > 5)
		return -1;
	unsigned long v = strtoul(s, NULL, 10);
	if (v > 65535)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Split "WHAT/PROTO"; *what_len is the length of WHAT. */
static int
proto_split(const char *arg, size_t *what_len, char proto[8])
{
	const char *slash = strrchr(arg, '/');
	proto[0] = '\0';
	*what_len = strlen(arg);
	if (slash == NULL)
		return 0;
	const char *p = slash + 1;
	static const char *const known[] = { "tcp", "udp", "sctp", "dccp", "any" };
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcasecmp(p, known[i]) == 0) {
			if (i < 4)
				snprintf(proto, 8, "%s", known[i]);
			*what_len = (size_t)(slash - arg);
			return 0;
		}
	return -1;
}

static int
query_parse(const char *arg, query_t *q)
{
	memset(q, 0, sizeof(*q));
	q->arg = arg;
	size_t n;
	if (proto_split(arg, &n, q->proto) < 0) {
		fprintf(stderr, "portq: %s: unknown protocol (tcp, udp, sctp, dccp)\n", arg);
		return -1;
	}
	if (n == 0) {
		fprintf(stderr, "portq: \"%s\": empty query\n", arg);
		return -1;
	}
	const char *dash = memchr(arg, '-', n);
	if (all_digits(arg, n)) {
		q->kind = Q_PORT;
		if (port_of(arg, n, &q->lo) < 0)
			goto bad_port;
		return 0;
	}
	if (dash != NULL && all_digits(arg, (size_t)(dash - arg)) &&
	    all_digits(dash + 1, n - (size_t)(dash - arg) - 1)) {
		q->kind = Q_RANGE;
		if (port_of(arg, (size_t)(dash - arg), &q->lo) < 0 ||
		    port_of(dash + 1, n - (size_t)(dash - arg) - 1, &q->hi) < 0)
			goto bad_port;
		if (q->lo > q->hi) {
			fprintf(stderr, "portq: %s: range ends before it starts\n", arg);
			return -1;
		}
		return 0;
	}
	if (n >= sizeof(q->text)) {
		fprintf(stderr, "portq: %s: name too long\n", arg);
		return -1;
	}
	q->kind = Q_NAME;
	memcpy(q->text, arg, n);
	q->text[n] = '\0';
	return 0;
bad_port:
	fprintf(stderr, "portq: %s: ports are 0 to 65535\n", arg);
	return -1;
}

/* ---- asking --------------------------------------------------------- */

static const char *
proto_arg(const query_t *q)
{
	return q->proto[0] ? q->proto : NULL;
}

static int
pages_add(answer_t *a, portq_result_t *r)
{
	portq_result_t **p = realloc(a->pages, (a->n_pages + 1) * sizeof(*p));
	if (p == NULL) {
		portq_result_free(r);
		return PORTQ_ENOMEM;
	}
	a->pages = p;
	a->pages[a->n_pages++] = r;
	return PORTQ_OK;
}

static void
pages_clear(answer_t *a)
{
	for (size_t i = 0; i < a->n_pages; i++)
		portq_result_free(a->pages[i]);
	free(a->pages);
	a->pages = NULL;
	a->n_pages = 0;
}

/*
 * Every page of a range or search: offset moves by what each page held,
 * while the server says MORE. A changed serial means the registry was
 * reloaded between pages, and offsets no longer line up: start again.
 * A search page the server stopped at its work limit (partial) fails the
 * whole listing, with the reason in a->error.
 */
static int
fetch_listing(portq_client_t *c, const query_t *q, answer_t *a)
{
	for (int restart = 0; restart <= MAX_RESTARTS; restart++) {
		uint32_t offset = 0;
		int rc = PORTQ_OK, reloaded = 0;
		for (int page = 0; page < MAX_PAGES; page++) {
			portq_result_t *r;
			if (q->kind == Q_RANGE)
				rc = portq_query_range(c, q->lo, q->hi, proto_arg(q), offset,
				                       PAGE_LIMIT, &r);
			else
				rc = portq_query_search(c, q->text, proto_arg(q), offset,
				                        PAGE_LIMIT, &r);
			if (rc < 0)
				return rc;
			if (a->n_pages > 0 && r->serial != a->pages[0]->serial) {
				portq_result_free(r);
				reloaded = 1;
				break;
			}
			if (r->partial) {
				/* The server did not look at every record: an empty
				 * or short listing would be a wrong answer. */
				portq_result_free(r);
				snprintf(a->error, sizeof(a->error), "search too broad: the server "
				         "stopped at its work limit; give a longer text");
				return PORTQ_EIO;
			}
			int more = r->more && r->n_entries > 0;
			offset += (uint32_t)r->n_entries;
			if ((rc = pages_add(a, r)) < 0)
				return rc;
			if (!more)
				return PORTQ_OK;
		}
		if (!reloaded) {
			snprintf(a->error, sizeof(a->error), "more than %d pages", MAX_PAGES);
			return PORTQ_EIO;
		}
		pages_clear(a);
	}
	snprintf(a->error, sizeof(a->error), "the registry kept changing while paging");
	return PORTQ_EIO;
}

/* How a failed query reads: the library's detail follows. */
static const char *
failure_text(int rc)
{
	switch (rc) {
	case PORTQ_ETIMEDOUT:  return "no answer (timed out)";
	case PORTQ_EIO:        return "no server could answer";
	case PORTQ_EMALFORMED: return "no valid answer";
	default:               return portq_strerror(rc);
	}
}

static void
ask(portq_client_t *c, const query_t *q, answer_t *a)
{
	memset(a, 0, sizeof(*a));
	portq_result_t *r = NULL;
	switch (q->kind) {
	case Q_PORT:
		a->rc = portq_query_port(c, q->lo, proto_arg(q), &r);
		break;
	case Q_NAME:
		a->rc = portq_query_name(c, q->text, proto_arg(q), &r);
		break;
	case Q_INFO:
		a->rc = portq_query_info(c, &r);
		break;
	case Q_RANGE:
	case Q_SEARCH:
		a->rc = fetch_listing(c, q, a);
		break;
	}
	if (r != NULL && a->rc == PORTQ_OK)
		a->rc = pages_add(a, r);
	if (a->rc < 0 && a->error[0] == '\0') {
		const char *why = portq_client_error(c);
		snprintf(a->error, sizeof(a->error), "%s%s%s", failure_text(a->rc),
		         why[0] ? ": " : "", why);
	}
}

/* Call fn for every answer record of every page. */
#define FOR_EACH_ENTRY(a, e)                                                  \
	for (size_t pg_ = 0; pg_ < (a)->n_pages; pg_++)                       \
		for (const portq_entry_t *e = (a)->pages[pg_]->entries;       \
		     e < (a)->pages[pg_]->entries + (a)->pages[pg_]->n_entries; e++)

static size_t
entry_count(const answer_t *a)
{
	size_t n = 0;
	for (size_t i = 0; i < a->n_pages; i++)
		n += a->pages[i]->n_entries;
	return n;
}

static verdict_t
verdict_of(const query_t *q, const answer_t *a)
{
	if (a->rc < 0)
		return V_ERROR;
	if (q->kind == Q_INFO)
		return V_FOUND;
	int any = 0;
	FOR_EACH_ENTRY(a, e) {
		if (e->assigned)
			return V_FOUND;
		any = 1;
	}
	/* A port is "there" even when nothing covers it: it is free. */
	return any || q->kind == Q_PORT ? V_NOTASSIGNED : V_NOTFOUND;
}

static int
exit_of(verdict_t v)
{
	return v == V_FOUND ? EXIT_FOUND : v == V_ERROR ? EXIT_TROUBLE : EXIT_NOTFOUND;
}

/* ---- human output --------------------------------------------------- */

static const char *
class_of(unsigned port)
{
	return port < 1024 ? "system" : port < 49152 ? "user" : "dynamic";
}

static const char *
class_span(const char *cls)
{
	return strcmp(cls, "system") == 0 ? "0-1023" :
	       strcmp(cls, "user") == 0 ? "1024-49151" : "49152-65535";
}

/* Print text on one line: the registry's notes may hold line breaks. */
static void
put_flat(FILE *f, const char *s)
{
	int space = 0;
	for (; *s; s++) {
		if (*s == '\n' || *s == '\r' || *s == '\t' || *s == ' ') {
			space = 1;
			continue;
		}
		if (space)
			fputc(' ', f);
		space = 0;
		fputc((unsigned char)*s < 0x20 ? '?' : *s, f);
	}
}

static void
put_ports(const portq_entry_t *e)
{
	if (!e->has_port)
		printf("no port");
	else if (e->port_lo == e->port_hi)
		printf("%u", e->port_lo);
	else
		printf("%u-%u", e->port_lo, e->port_hi);
}

static int
str_eq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static int
list_eq(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (!str_eq(a[i], b[i]))
			return 0;
	return 1;
}

/*
 * Records that differ only in protocol are shown as one block: every
 * field of the list (proto/fields.h) but the protocol must be the same.
 */
#define SAME(m, api, kind, wire, max, rank, label, what) && SAME_##kind(api)
#define SAME_TEXT(api)  str_eq(a->api, b->api)
#define SAME_LIST(api)  list_eq(a->api, a->n_##api, b->api, b->n_##api)
#define SAME_ENUM(api)  (&a->api == &a->protocol || str_eq(a->api, b->api))
#define SAME_PORTS(api) (a->has_##api == b->has_##api && a->api##_lo == b->api##_lo && \
                         a->api##_hi == b->api##_hi)
#define SAME_FLAG(api)  a->api == b->api

static int
same_but_protocol(const portq_entry_t *a, const portq_entry_t *b)
{
	return 1 PORTQ_RECORD_FIELDS(SAME);
}

static const char *
protocol_label(const char *p)
{
	return strcmp(p, "any") == 0 ? "all protocols" : p;
}

/*
 * The group of records like list[i] (same but protocol) that have not been
 * printed yet: marks them in `done` and writes their protocols.
 */
static void
group_protocols(const portq_entry_t *const *list, size_t n, size_t i,
                unsigned char *done, char *out, size_t outlen)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t j = i; j < n; j++) {
		if (done[j] || !same_but_protocol(list[i], list[j]))
			continue;
		done[j] = 1;
		int w = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "",
		                 protocol_label(list[j]->protocol));
		if (w < 0 || (size_t)w >= outlen - used)
			break;
		used += (size_t)w;
	}
}

/* How a note spells an enum value: where the record comes from. */
static const char *
note_words(const char *value)
{
	return strcmp(value, "iana") == 0 ? "IANA registry" :
	       strcmp(value, "services") == 0 ? "services file" : "local assignment";
}

/*
 * One field's part of the lines of its rank, by kind: a labelled field
 * starts a line (an empty one is left out; fields of one rank come in
 * list order), a field without a label is a note in brackets on the line
 * already started. Each returns whether a line is started.
 */
static void
human_line(const char *label, int open)
{
	if (open)
		putchar('\n');
	printf("    %-13s", label);
}

static int
human_text(const char *label, const char *value, int open)
{
	if (label == NULL) {
		if (open && value[0])
			printf(" (%s)", value);
		return open;
	}
	if (value[0] == '\0')
		return open;
	human_line(label, open);
	put_flat(stdout, value);
	return 1;
}

static int
human_list(const char *label, const char *const *list, size_t n, int open)
{
	if (label == NULL || n == 0)
		return open;
	human_line(label, open);
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? " " : "", list[i]);
	return 1;
}

static int
human_enum(const char *label, const char *value, int open)
{
	if (label == NULL) {
		if (open)
			printf(" (%s)", note_words(value));
		return open;
	}
	human_line(label, open);
	fputs(value, stdout);
	return 1;
}

static int
human_ports(const char *label, int has, unsigned lo, int open)
{
	if (label == NULL || !has)
		return open;
	const char *cls = class_of(lo);
	human_line(label, open);
	printf("%s ports (%s)%s", cls, class_span(cls),
	       lo < 1024 ? ", binding needs privileges" : "");
	return 1;
}

#define HUMAN(m, api, kind, wire, max, rank_, label, what) \
	if ((rank_) == rank)                               \
		open = HUMAN_##kind(api, label);
#define HUMAN_TEXT(api, label)  human_text(label, e->api, open)
#define HUMAN_LIST(api, label)  human_list(label, e->api, e->n_##api, open)
#define HUMAN_ENUM(api, label)  human_enum(label, e->api, open)
#define HUMAN_PORTS(api, label) human_ports(label, e->has_##api, e->api##_lo, open)
#define HUMAN_FLAG(api, label)  open

/* The head line (name, ports, protocols), then a line per rank (fields.h). */
static void
print_entry_block(const portq_entry_t *e, const char *protocols)
{
	printf("  %s  ", e->name[0] ? e->name : "(no name)");
	put_ports(e);
	printf("  %s\n", protocols);
	for (int rank = 1; rank <= PORTQ_FIELD_RANK_MAX; rank++) {
		int open = 0;
		PORTQ_RECORD_FIELDS(HUMAN)
		if (open)
			putchar('\n');
	}
}

/* Called once for each group of records that differ only in protocol. */
typedef void group_fn(const portq_entry_t *e, const char *protocols, void *ctx);

/* The groups of list[0..n) in order of first appearance; done[] all 0. */
static void
for_each_group(const portq_entry_t *const *list, size_t n, unsigned char *done,
               group_fn *fn, void *ctx)
{
	for (size_t i = 0; i < n; i++) {
		if (done[i])
			continue;
		char protocols[128];
		group_protocols(list, n, i, done, protocols, sizeof(protocols));
		fn(list[i], protocols, ctx);
	}
}

/* The groups of every answer record of every page. */
static void
answer_groups(const answer_t *a, group_fn *fn, void *ctx)
{
	size_t n = entry_count(a), k = 0;
	const portq_entry_t **list = malloc((n ? n : 1) * sizeof(*list));
	unsigned char *done = calloc(n ? n : 1, 1);
	if (list == NULL || done == NULL) {
		free(list);
		free(done);
		fprintf(stderr, "portq: out of memory\n");
		return;
	}
	FOR_EACH_ENTRY(a, e)
		list[k++] = e;
	for_each_group(list, n, done, fn, ctx);
	free(list);
	free(done);
}

static void
entry_block(const portq_entry_t *e, const char *protocols, void *skip_unassigned)
{
	/* An "Unassigned" row only restates the free block shown above. */
	if (*(const int *)skip_unassigned && strcmp(e->status, "unassigned") == 0)
		return;
	putchar('\n');
	print_entry_block(e, protocols);
}

/* Print the records of an answer as blocks, protocols grouped. */
static void
print_entry_blocks(const answer_t *a, int skip_unassigned)
{
	answer_groups(a, entry_block, &skip_unassigned);
}

typedef struct {
	unsigned port;
	int first;
} neighbour_t;

static void
neighbour_line(const portq_entry_t *e, const char *protocols, void *ctx)
{
	neighbour_t *nb = ctx;
	if (!nb->first)
		printf("\n  %-13s%u", "", nb->port);
	nb->first = 0;
	printf(" %s (%s)", e->name[0] ? e->name : "(no name)", protocols);
	if (e->description[0] && strcasecmp(e->description, e->name)) {
		printf(": ");
		put_flat(stdout, e->description);
	}
}

/* "287 k-block (tcp, udp): K-BLOCK", one line per service at that port. */
static void
print_neighbour(const char *label, unsigned port, const portq_entry_t *list, size_t n)
{
	const portq_entry_t *at[64];
	unsigned char done[64] = { 0 };
	if (n > 64)
		n = 64;
	for (size_t i = 0; i < n; i++)
		at[i] = &list[i];
	printf("  %-13s%u", label, port);
	neighbour_t nb = { port, 1 };
	for_each_group(at, n, done, neighbour_line, &nb);
	putchar('\n');
}

static void
print_port(const query_t *q, const answer_t *a)
{
	const portq_result_t *r = a->pages[0];
	const portq_port_t *p = r->port;
	printf("port %u%s%s\n", q->lo, q->proto[0] ? "/" : "", q->proto);
	printf("  %-13s%s\n", "state", p->state);
	printf("  %-13s%s ports (%s)%s\n", "range", p->range_class,
	       class_span(p->range_class),
	       p->privileged ? ", binding needs privileges" : ", no privileges needed to bind");
	if (p->has_free)
		printf("  %-13s%u-%u (%u port%s)\n", "free block", p->free_lo, p->free_hi,
		       p->free_hi - p->free_lo + 1, p->free_hi == p->free_lo ? "" : "s");
	if (p->has_below)
		print_neighbour("below", p->below, r->neighbours, r->n_below);
	if (p->has_above)
		print_neighbour("above", p->above, r->neighbours + r->n_below,
		                r->n_neighbours - r->n_below);
	print_entry_blocks(a, 1);
}

static void
table_line(const portq_entry_t *e, const char *protocols, void *ctx)
{
	(void)ctx;
	char ports[16];
	if (!e->has_port)
		snprintf(ports, sizeof(ports), "-");
	else if (e->port_lo == e->port_hi)
		snprintf(ports, sizeof(ports), "%u", e->port_lo);
	else
		snprintf(ports, sizeof(ports), "%u-%u", e->port_lo, e->port_hi);
	printf("%-11s %-15s %-13s %-13s ", ports, e->name[0] ? e->name : "-",
	       protocols, e->status);
	put_flat(stdout, e->description);
	putchar('\n');
}

static void
print_table(const answer_t *a)
{
	answer_groups(a, table_line, NULL);
}

static void
print_info(const answer_t *a)
{
	const portq_result_t *r = a->pages[0];
	int width = (int)strlen("server");
	for (size_t i = 0; i < r->n_info; i++)
		if ((int)strlen(r->info[i].key) > width)
			width = (int)strlen(r->info[i].key);
	for (size_t i = 0; i < r->n_info; i++) {
		printf("%-*s  ", width, r->info[i].key);
		put_flat(stdout, r->info[i].value);
		putchar('\n');
	}
	printf("%-*s  %s (%s)\n", width, "server", r->server, r->tcp ? "tcp" : "udp");
}

static void
print_human(const query_t *q, const answer_t *a, verdict_t v)
{
	if (v == V_ERROR) {
		fprintf(stderr, "portq: %s: %s\n", q->arg, a->error);
		return;
	}
	switch (q->kind) {
	case Q_PORT:
		print_port(q, a);
		break;
	case Q_NAME:
		if (v == V_NOTFOUND) {
			fprintf(stderr, "portq: %s: no such service\n", q->arg);
			return;
		}
		printf("service %s%s%s\n", q->text, q->proto[0] ? "/" : "", q->proto);
		print_entry_blocks(a, 0);
		break;
	case Q_RANGE:
	case Q_SEARCH:
		if (v == V_NOTFOUND) {
			fprintf(stderr, "portq: %s: nothing matches\n", q->arg);
			return;
		}
		print_table(a);
		break;
	case Q_INFO:
		print_info(a);
		break;
	}
}

/* ---- JSON output ---------------------------------------------------- */

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		/* JSON is UTF-8: a byte that starts no valid character (from an
		 * argument, or a server that let one through) shows as U+FFFD
		 * rather than making the whole document invalid. */
		if (ch >= 0x80) {
			size_t len = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : 2;
			if (portq_utf8_valid_prefix(s, strnlen(s, len)) != len) {
				fputs("\\ufffd", stdout);
				continue;
			}
			fwrite(s, 1, len, stdout);
			s += len - 1;
			continue;
		}
		switch (ch) {
		case '"':  fputs("\\\"", stdout); break;
		case '\\': fputs("\\\\", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		default:
			if (ch < 0x20 || ch == 0x7f)
				printf("\\u%04x", ch);
			else
				putchar(ch);
		}
	}
	putchar('"');
}

/* A string member, or null when the registry gives no value. */
static void
json_opt(const char *key, const char *value)
{
	printf("\"%s\":", key);
	if (value[0] == '\0')
		fputs("null", stdout);
	else
		json_str(value);
}

/* Each field as a JSON member, by kind, in list order (proto/fields.h). */
#define JSON(m, api, kind, wire, max, rank, label, what) \
	fputs(sep, stdout);                              \
	sep = ",";                                       \
	JSON_##kind(api);
#define JSON_TEXT(api) json_opt(#api, e->api)
#define JSON_LIST(api)                                                        \
	fputs("\"" #api "\":[", stdout);                                      \
	for (size_t i = 0; i < e->n_##api; i++) {                             \
		if (i)                                                        \
			putchar(',');                                         \
		json_str(e->api[i]);                                          \
	}                                                                     \
	putchar(']')
#define JSON_ENUM(api) printf("\"" #api "\":\"%s\"", e->api)
#define JSON_FLAG(api) printf("\"" #api "\":%s", e->api ? "true" : "false")
#define JSON_PORTS(api)                                                       \
	if (e->has_##api)                                                     \
		printf("\"" #api "_first\":%u,\"" #api "_last\":%u,\"range_class\":\"%s\"," \
		       "\"privileged\":%s", e->api##_lo, e->api##_hi,           \
		       class_of(e->api##_lo), e->api##_lo < 1024 ? "true" : "false"); \
	else                                                                  \
		fputs("\"" #api "_first\":null,\"" #api "_last\":null,"           \
		      "\"range_class\":null,\"privileged\":null", stdout)

static void
json_entry(const portq_entry_t *e)
{
	const char *sep = "";
	putchar('{');
	PORTQ_RECORD_FIELDS(JSON)
	putchar('}');
}

static void
json_neighbour(const char *key, int has, unsigned port, const portq_entry_t *list,
               size_t n)
{
	printf("\"%s\":", key);
	if (!has) {
		fputs("null", stdout);
		return;
	}
	printf("{\"port\":%u,\"records\":[", port);
	for (size_t i = 0; i < n; i++) {
		if (i)
			putchar(',');
		json_entry(&list[i]);
	}
	fputs("]}", stdout);
}

static void
json_result(const query_t *q, const answer_t *a, verdict_t v)
{
	fputs("{\"query\":", stdout);
	json_str(q->arg);
	printf(",\"type\":\"%s\",\"protocol\":\"%s\",\"status\":\"%s\"",
	       kind_names[q->kind], q->proto[0] ? q->proto : "any", verdict_names[v]);
	if (v == V_ERROR) {
		fputs(",\"error\":", stdout);
		json_str(a->error);
		fputs("}", stdout);
		return;
	}
	const portq_result_t *r = a->pages[0];
	fputs(",\"server\":", stdout);
	json_str(r->server);
	printf(",\"transport\":\"%s\",\"serial\":%u", r->tcp ? "tcp" : "udp", r->serial);
	if (q->kind == Q_PORT) {
		const portq_port_t *p = r->port;
		printf(",\"port\":{\"port\":%u,\"range_class\":\"%s\",\"privileged\":%s,"
		       "\"state\":\"%s\",\"free_block\":", p->port, p->range_class,
		       p->privileged ? "true" : "false", p->state);
		if (p->has_free)
			printf("{\"first\":%u,\"last\":%u,\"size\":%u}", p->free_lo, p->free_hi,
			       p->free_hi - p->free_lo + 1);
		else
			fputs("null", stdout);
		putchar(',');
		json_neighbour("below", p->has_below, p->below, r->neighbours, r->n_below);
		putchar(',');
		json_neighbour("above", p->has_above, p->above, r->neighbours + r->n_below,
		               r->n_neighbours - r->n_below);
		putchar('}');
	}
	if (q->kind == Q_INFO) {
		fputs(",\"info\":[", stdout);
		for (size_t i = 0; i < r->n_info; i++) {
			fputs(i ? ",{\"key\":" : "{\"key\":", stdout);
			json_str(r->info[i].key);
			fputs(",\"value\":", stdout);
			json_str(r->info[i].value);
			putchar('}');
		}
		fputs("]}", stdout);
		return;
	}
	fputs(",\"records\":[", stdout);
	int first = 1;
	FOR_EACH_ENTRY(a, e) {
		if (!first)
			putchar(',');
		first = 0;
		json_entry(e);
	}
	fputs("]}", stdout);
}

/* ---- services(5) ---------------------------------------------------- */

static int
services_name_ok(const char *s)
{
	if (s[0] == '\0' || s[0] == '#')
		return 0;
	for (; *s; s++)
		if (isspace((unsigned char)*s) || (unsigned char)*s < 0x20)
			return 0;
	return 1;
}

static void
services_line(const portq_entry_t *e, unsigned port, const char *proto)
{
	char pp[24];
	snprintf(pp, sizeof(pp), "%u/%s", port, proto);
	int comment = e->description[0] && strcasecmp(e->description, e->name) != 0;
	int aliases = 0;
	for (size_t i = 0; i < e->n_aliases; i++)
		aliases += services_name_ok(e->aliases[i]);
	printf("%-15s %s", e->name, pp);
	size_t w = strlen(pp);
	if ((aliases > 0 || comment) && w < 15)
		printf("%*s", (int)(15 - w), "");   /* pad only before more text */
	for (size_t i = 0; i < e->n_aliases; i++)
		if (services_name_ok(e->aliases[i]))
			printf(" %s", e->aliases[i]);
	if (comment) {
		fputs("\t# ", stdout);
		put_flat(stdout, e->description);
	}
	putchar('\n');
}

/* One services(5) line to be: a record at one port of its port or range. */
typedef struct {
	unsigned port;
	unsigned rank;            /* origin: local, services, IANA */
	size_t seq;               /* position in the listing */
	const portq_entry_t *e;
} services_item_t;

static unsigned
origin_rank(const char *origin)
{
	return strcmp(origin, "local") == 0 ? 0 : strcmp(origin, "services") == 0 ? 1 : 2;
}

static int
services_item_cmp(const void *pa, const void *pb)
{
	const services_item_t *a = pa, *b = pb;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/*
 * The registry as /etc/services: assigned or local records with a name and
 * a protocol, one line per port (services(5) has no ranges, so a range
 * gives a line for each of its ports); a record for all protocols gives a
 * tcp and a udp line. At each port the lines come in the order the server
 * answers a PORT query (local, services, IANA; then registry order), so
 * that glibc's first match is libportq's. Lines already written for the
 * same port are not repeated (a local assignment and the IANA record may
 * say the same).
 */
static int
print_services(portq_client_t *c)
{
	query_t q;
	memset(&q, 0, sizeof(q));
	q.kind = Q_RANGE;
	q.arg = "0-65535";
	q.hi = 65535;
	answer_t a;
	memset(&a, 0, sizeof(a));
	a.rc = fetch_listing(c, &q, &a);
	if (a.rc < 0) {
		if (a.error[0] == '\0')
			snprintf(a.error, sizeof(a.error), "%s: %s", failure_text(a.rc),
			         portq_client_error(c));
		fprintf(stderr, "portq: --services: %s\n", a.error);
		pages_clear(&a);
		return EXIT_TROUBLE;
	}

	size_t n = 0, cap = 0, seq = 0;
	services_item_t *items = NULL;
	FOR_EACH_ENTRY(&a, e) {
		seq++;
		if (!e->assigned || !e->has_port || !services_name_ok(e->name))
			continue;
		for (unsigned p = e->port_lo; p <= e->port_hi; p++) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16384;
				services_item_t *more = realloc(items, cap * sizeof(*items));
				if (more == NULL) {
					free(items);
					pages_clear(&a);
					fprintf(stderr, "portq: --services: out of memory\n");
					return EXIT_TROUBLE;
				}
				items = more;
			}
			items[n++] = (services_item_t){ p, origin_rank(e->origin), seq, e };
		}
	}
	qsort(items, n, sizeof(*items), services_item_cmp);

	printf("# services(5) from the portq registry, serial %u, server %s\n",
	       a.n_pages ? a.pages[0]->serial : 0, a.n_pages ? a.pages[0]->server : "-");
	printf("# name          port/protocol   aliases  # description\n");
	const portq_entry_t *same_port[256];
	size_t n_same = 0;
	unsigned cur = 70000;
	for (size_t k = 0; k < n; k++) {
		const portq_entry_t *e = items[k].e;
		if (items[k].port != cur) {
			cur = items[k].port;
			n_same = 0;
		}
		const char *protos[2] = { e->protocol, NULL };
		if (strcmp(e->protocol, "any") == 0) {
			protos[0] = "tcp";
			protos[1] = "udp";
		}
		for (int j = 0; j < 2 && protos[j] != NULL; j++) {
			int dup = 0;
			for (size_t i = 0; i < n_same && !dup; i++) {
				const char *p = strcmp(same_port[i]->protocol, "any") == 0 ? NULL :
				                same_port[i]->protocol;
				dup = strcasecmp(same_port[i]->name, e->name) == 0 &&
				      (p == NULL ? (strcmp(protos[j], "tcp") == 0 ||
				                    strcmp(protos[j], "udp") == 0)
				                 : strcmp(p, protos[j]) == 0);
			}
			if (!dup)
				services_line(e, cur, protos[j]);
		}
		if (n_same < sizeof(same_port) / sizeof(same_port[0]))
			same_port[n_same++] = e;
	}
	free(items);
	pages_clear(&a);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "portq: writing: %s\n", strerror(errno));
		return EXIT_TROUBLE;
	}
	return EXIT_FOUND;
}

/* ---- main ----------------------------------------------------------- */

static int
count_arg(const char *opt, const char *s, int max, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > max) {
		fprintf(stderr, "portq: %s %s: expected a number from 1 to %d\n", opt, s, max);
		return -1;
	}
	*out = (int)v;
	return 0;
}

int
main(int argc, char **argv)
{
	enum { OPT_SERVICES = 256 };
	static const struct option longopts[] = {
		{ "server",   required_argument, NULL, 's' },
		{ "timeout",  required_argument, NULL, 't' },
		{ "attempts", required_argument, NULL, 'a' },
		{ "tcp",      no_argument,       NULL, 'T' },
		{ "json",     no_argument,       NULL, 'j' },
		{ "search",   required_argument, NULL, 'S' },
		{ "info",     no_argument,       NULL, 'I' },
		{ "services", no_argument,       NULL, OPT_SERVICES },
		{ "help",     no_argument,       NULL, 'h' },
		{ "version",  no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	portq_options_t opts;
	memset(&opts, 0, sizeof(opts));
	int json = 0, services = 0, status = EXIT_FOUND;
	char servers[2048] = "";
	size_t servers_len = 0;
	query_t *queries = calloc((size_t)argc + 1, sizeof(*queries));
	int nq = 0, ch;
	if (queries == NULL) {
		fprintf(stderr, "portq: out of memory\n");
		return EXIT_TROUBLE;
	}
	/* "-" first: operands come back in order, interleaved with --search. */
	while ((ch = getopt_long(argc, argv, "-s:t:a:TjhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 1:
			if (query_parse(optarg, &queries[nq]) < 0)
				goto usage_error;
			nq++;
			break;
		case 'S':
			if (optarg[0] == '\0' || strlen(optarg) >= sizeof(queries[nq].text)) {
				fprintf(stderr, "portq: --search: text of 1 to 255 bytes\n");
				goto usage_error;
			}
			queries[nq].kind = Q_SEARCH;
			queries[nq].arg = optarg;
			snprintf(queries[nq].text, sizeof(queries[nq].text), "%s", optarg);
			nq++;
			break;
		case 'I':
			queries[nq].kind = Q_INFO;
			queries[nq].arg = "--info";
			nq++;
			break;
		case 's': {
			size_t n = strlen(optarg);
			if (servers_len + n + 2 > sizeof(servers)) {
				fprintf(stderr, "portq: too many --server options\n");
				goto usage_error;
			}
			if (servers_len > 0)
				servers[servers_len++] = ',';
			memcpy(servers + servers_len, optarg, n + 1);
			servers_len += n;
			break;
		}
		case 't':
			if (count_arg("--timeout", optarg, 600000, &opts.timeout_ms) < 0)
				goto usage_error;
			break;
		case 'a':
			if (count_arg("--attempts", optarg, 100, &opts.attempts) < 0)
				goto usage_error;
			break;
		case 'T':
			opts.tcp = 1;
			break;
		case 'j':
			json = 1;
			break;
		case OPT_SERVICES:
			services = 1;
			break;
		case 'h':
			usage(stdout);
			free(queries);
			return EXIT_FOUND;
		case 'V':
			printf("portq %s\n", PORTQ_CLIENT_VERSION);
			free(queries);
			return EXIT_FOUND;
		default:
			goto usage_error;
		}
	}
	if (services ? nq > 0 || json : nq == 0) {
		fprintf(stderr, services ? "portq: --services takes no queries and no --json\n"
		                         : "portq: nothing to ask\n");
		goto usage_error;
	}
	if (servers_len > 0)
		opts.servers = servers;
	if (services)
		opts.tcp = 1;   /* the whole registry: pages far beyond one datagram */

	portq_client_t *c;
	int rc = portq_client_new(&c, &opts);
	if (rc < 0) {
		fprintf(stderr, "portq: %s%s%s\n", portq_strerror(rc),
		        servers_len ? ": --server " : "", servers_len ? servers : "");
		free(queries);
		return EXIT_TROUBLE;
	}
	if (services) {
		status = print_services(c);
	} else {
		if (json)
			fputs("{\"version\":1,\"results\":[", stdout);
		for (int i = 0; i < nq; i++) {
			answer_t a;
			ask(c, &queries[i], &a);
			verdict_t v = verdict_of(&queries[i], &a);
			int code = exit_of(v);
			if (code > status)
				status = code;
			if (json) {
				if (i > 0)
					putchar(',');
				putchar('\n');
				json_result(&queries[i], &a, v);
			} else {
				if (i > 0 && v != V_ERROR)
					putchar('\n');
				print_human(&queries[i], &a, v);
			}
			pages_clear(&a);
		}
		if (json)
			fputs("\n]}\n", stdout);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, "portq: writing: %s\n", strerror(errno));
			status = EXIT_TROUBLE;
		}
	}
	portq_client_free(c);
	free(queries);
	return status;

usage_error:
	fprintf(stderr, "Try 'portq --help'.\n");
	free(queries);
	return EXIT_TROUBLE;
}
