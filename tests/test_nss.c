/*
 * test_nss.c -- libnss_portq.so.2 as glibc uses it.
 *
 * portqd serves the real IANA CSV on loopback, plus a small services(5)
 * file of entries with aliases. Two kinds of test:
 *
 *   - the module's entry points, dlopen()ed here and called directly, for
 *     the exact status and *errnop of every outcome (found, no entry,
 *     small buffer, bad arguments, server refused, server silent);
 *   - glibc's own getservbyname()/getservbyport() and their _r forms in a
 *     child whose /etc/nsswitch.conf says "services: portq" (or "portq
 *     files"), where glibc finds and loads the built module through
 *     LD_LIBRARY_PATH. The answers must be libportq's own for a few
 *     hundred lookups drawn from the CSV (fixed seed) and for known
 *     cases; with no server, "files" must still answer, in bounded time.
 *
 * The child changes nothing on the machine: it runs in a mount namespace
 * of its own where temporary files are bind-mounted over
 * /etc/nsswitch.conf and /etc/services. That needs root (CAP_SYS_ADMIN);
 * without it the test fails and says so: a test of glibc's path that
 * skips itself would prove nothing.
 */
#include <arpa/inet.h>
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <nss.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_main.h"
#include "clock.h"
#include "csv_oracle.h"
#include "loopback.h"
#include "mount_ns.h"
#include "portq.h"
#include "portqd_process.h"

#define CSV_PATH PORTQ_DATA_DIR "/service-names-port-numbers.csv"

#define N_DRAWN     400
#define N_LOOKUPS   (N_DRAWN + 64)
#define SEED        0x6e73737071ULL      /* "nsspq" */
#define RESULT_MAX  2048                 /* one formatted answer */
#define SHOW_MAX    20                   /* mismatches printed */
#define BIG_BUF     16384                /* fits every entry */

/* One lookup through glibc with every server silent: the documented
 * worst case (docs/nss.md), the lookup budget, plus room for a noisy
 * 2-core machine or a sanitizer. Before the budget it took 4 s
 * (timeout x attempts). */
#define SLACK_MS        1500
#define LOOKUP_BOUND_MS (PORTQ_CLIENT_LOOKUP_BUDGET_MS + SLACK_MS)
/* One getaddrinfo() with a service name: glibc asks the module once per
 * protocol of its table (5). The first lookup finds the server silent
 * and the others skip it, so the bound is one budget, not five; it took
 * 20 s before. */
#define GAI_BOUND_MS    (PORTQ_CLIENT_LOOKUP_BUDGET_MS + SLACK_MS)

/* Ports the IANA registry leaves unassigned (288-299): the registry's
 * services file uses 290 and 291, the fallback file 292; 293 stays free. */
#define PORT_ALIAS  290
#define PORT_MANY   291
#define PORT_FILES  292
#define PORT_FREE   293
#define MANY_ALIASES 32                  /* PORTQ_MAX_ALIASES */

/* ---- the CSV, portqd ---------------------------------------------------- */

static csv_oracle_t csv;

static portqd_process_t portqd;
static char registry_path[64];       /* the services file portqd also loads */

/* A temporary file's path in `path` (a mkstemp template); its fd. */
static int
temp_file(char *path, size_t len, const char *stem)
{
	snprintf(path, len, "/tmp/test_nss_%s.XXXXXX", stem);
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	return fd;
}

static void
temp_write(char *path, size_t len, const char *stem, const char *text)
{
	int fd = temp_file(path, len, stem);
	size_t n = strlen(text);
	ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
	close(fd);
}

/* The alias i of the entry with MANY_ALIASES, 40 bytes: together more
 * than glibc's first 1024-byte buffer for getservbyname(). */
static void
many_alias(char *out, size_t len, int i)
{
	snprintf(out, len, "nss-many-alias-%02d-xxxxxxxxxxxxxxxxxxxxxxx", i);
}

static void
registry_write(void)
{
	char text[4096];
	int used = snprintf(text, sizeof(text),
	                    "# test_nss: entries with aliases\n"
	                    "nss-alias %d/tcp nssa nssb\n"
	                    "nss-many %d/udp", PORT_ALIAS, PORT_MANY);
	for (int i = 0; i < MANY_ALIASES; i++) {
		char alias[64];
		many_alias(alias, sizeof(alias), i);
		used += snprintf(text + used, sizeof(text) - (size_t)used, " %s", alias);
	}
	snprintf(text + used, sizeof(text) - (size_t)used, "\n");
	temp_write(registry_path, sizeof(registry_path), "registry", text);
}

static void
daemon_start(void)
{
	char services_arg[80];
	snprintf(services_arg, sizeof(services_arg), "services:%s", registry_path);
	const char *const args[] = { "--registry", CSV_PATH, "--registry", services_arg,
	                             NULL };
	portqd_process_start(&portqd, "127.0.0.1:0", args);
	/* libportq, here and in the children, asks this server only. */
	setenv("PORTQ_SERVER", portqd.server, 1);
}

/* "127.0.0.1:PORT" where nothing listens: queries are refused at once. */
static void
server_refusing(char *out, size_t len)
{
	snprintf(out, len, "127.0.0.1:%u", loopback_port_closed(SOCK_DGRAM));
}

/* ---- lookups and answers -------------------------------------------------- */

/* OP_GAI: getaddrinfo("127.0.0.1", name), glibc side only. */
typedef enum { OP_PORT, OP_NAME, OP_RPORT, OP_RNAME, OP_GAI } op_t;

static const char *const op_names[] = { "port", "name", "rport", "rname", "gai" };

typedef struct {
	op_t op;
	unsigned port;            /* host order */
	char name[128];
	const char *proto;        /* NULL for any */
} lookup_t;

static void
lookup_set(lookup_t *l, op_t op, unsigned port, const char *name, const char *proto)
{
	memset(l, 0, sizeof(*l));
	l->op = op;
	l->port = port;
	snprintf(l->name, sizeof(l->name), "%s", name != NULL ? name : "");
	l->proto = proto;
}

static int
op_by_port(op_t op)
{
	return op == OP_PORT || op == OP_RPORT;
}

/* "name port proto alias,alias" in the servent's order, "-" for none. */
static void
format_servent(const struct servent *se, char *out, size_t len)
{
	if (se == NULL) {
		snprintf(out, len, "-");
		return;
	}
	int used = snprintf(out, len, "%s %d %s", se->s_name, ntohs((uint16_t)se->s_port),
	                    se->s_proto);
	for (size_t i = 0; se->s_aliases[i] != NULL && used > 0 && (size_t)used < len; i++)
		used += snprintf(out + used, len - (size_t)used, "%s%s", i ? "," : " ",
		                 se->s_aliases[i]);
}

typedef int (*servent_r_fn)(const lookup_t *l, struct servent *se, char *buf,
                            size_t buflen, struct servent **res);

static int
glibc_r(const lookup_t *l, struct servent *se, char *buf, size_t buflen,
        struct servent **res)
{
	return op_by_port(l->op)
	    ? getservbyport_r((int)htons((uint16_t)l->port), l->proto, se, buf, buflen, res)
	    : getservbyname_r(l->name, l->proto, se, buf, buflen, res);
}

static int
portq_r(const lookup_t *l, struct servent *se, char *buf, size_t buflen,
        struct servent **res)
{
	return op_by_port(l->op)
	    ? portq_getservbyport_r((int)htons((uint16_t)l->port), l->proto, se, buf,
	                            buflen, res)
	    : portq_getservbyname_r(l->name, l->proto, se, buf, buflen, res);
}

/*
 * The _r form as a careful caller runs it: a 1-byte buffer first, then
 * twice as large while the answer is ERANGE. "FIRST ANSWER", FIRST the
 * first call's return ("ERANGE", "0" or a number).
 */
static void
answer_r(servent_r_fn fn, const lookup_t *l, char *out, size_t len)
{
	static char buf[BIG_BUF];
	struct servent se, *res = NULL;
	int first = fn(l, &se, buf, 1, &res);
	int rc = first;
	for (size_t n = 2; rc == ERANGE && n <= sizeof(buf); n *= 2)
		rc = fn(l, &se, buf, n, &res);
	int used = first == ERANGE ? snprintf(out, len, "ERANGE ")
	                           : snprintf(out, len, "%d ", first);
	if (used < 0 || (size_t)used >= len)
		return;
	if (rc != 0)
		snprintf(out + used, len - (size_t)used, "error %d", rc);
	else
		format_servent(res, out + used, len - (size_t)used);
}

/* What libportq itself answers: the reference. */
static void
answer_portq(const lookup_t *l, char *out, size_t len)
{
	if (l->op == OP_RPORT || l->op == OP_RNAME) {
		answer_r(portq_r, l, out, len);
		return;
	}
	static char buf[BIG_BUF];
	struct servent se, *res = NULL;
	int rc = portq_r(l, &se, buf, sizeof(buf), &res);
	if (rc != 0)
		snprintf(out, len, "error %d", rc);
	else
		format_servent(res, out, len);
}

/* ---- the glibc side, in a private mount namespace --------------------------- */

/* getaddrinfo("127.0.0.1", service), any socket type: "gai N" (results)
 * or "gai error TEXT". */
static void
answer_gai(const char *service, char *out, size_t len)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	int rc = getaddrinfo("127.0.0.1", service, &hints, &res);
	if (rc != 0) {
		snprintf(out, len, "gai error %s", gai_strerror(rc));
		return;
	}
	size_t n = 0;
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
		n++;
	freeaddrinfo(res);
	snprintf(out, len, "gai %zu", n);
}

/*
 * The glibc side, run as `test_nss --nss-side NSSWITCH SERVICES LOOKUPS`
 * with LD_LIBRARY_PATH naming the module's folder: a mount namespace of
 * its own, / private so that nothing propagates back, NSSWITCH over
 * /etc/nsswitch.conf and SERVICES ("-": none) over /etc/services; the
 * machine's /etc/portq.conf, if any, hidden (libportq's defaults apply)
 * and so is nscd's socket (glibc asks the module, not a cache). Then
 * every lookup of LOOKUPS ("OP WHAT PROTO", PROTO "-" for none) through
 * glibc: one line "MS<TAB>ANSWER" each, then "MODULE PATH" (the module
 * glibc loaded, "-" for none). A first line "ERROR ..." when the set-up
 * failed.
 */
static int
nss_side(const char *nsswitch, const char *services, const char *list)
{
	FILE *report = stdout;
	if (mount_ns_enter(report, "test_nss") < 0 ||
	    mount_ns_bind(nsswitch, "/etc/nsswitch.conf", report) < 0 ||
	    (strcmp(services, "-") != 0 && mount_ns_bind(services, "/etc/services", report) < 0))
		return 3;
	const char *hide[] = { PORTQ_CLIENT_CONFIG_FILE, "/var/run/nscd/socket",
	                       "/run/nscd/socket" };
	for (size_t i = 0; i < sizeof(hide) / sizeof(hide[0]); i++)
		if (access(hide[i], F_OK) == 0 && mount_ns_bind("/dev/null", hide[i], report) < 0)
			return 3;
	FILE *in = fopen(list, "r");
	if (in == NULL) {
		fprintf(report, "ERROR %s: %s\n", list, strerror(errno));
		return 3;
	}
	char line[256], kind[8], what[128], proto[8], out[RESULT_MAX];
	while (fgets(line, sizeof(line), in) != NULL) {
		if (sscanf(line, "%7s %127s %7s", kind, what, proto) != 3)
			break;
		lookup_t l;
		op_t op = OP_PORT;
		while (op < OP_GAI && strcmp(op_names[op], kind) != 0)
			op++;
		lookup_set(&l, op, (unsigned)strtoul(what, NULL, 10), what,
		           strcmp(proto, "-") == 0 ? NULL : proto);
		long long start = portq__clock_ms();
		if (op == OP_GAI) {
			answer_gai(l.name, out, sizeof(out));
		} else if (op == OP_RPORT || op == OP_RNAME) {
			answer_r(glibc_r, &l, out, sizeof(out));
		} else {
			struct servent *se = op == OP_PORT
			    ? getservbyport((int)htons((uint16_t)l.port), l.proto)
			    : getservbyname(l.name, l.proto);
			format_servent(se, out, sizeof(out));
		}
		fprintf(report, "%lld\t%s\n", portq__clock_ms() - start, out);
	}
	fclose(in);
	/* Which module glibc loaded, if any: by its soname, without loading. */
	void *h = dlopen("libnss_portq.so.2", RTLD_NOW | RTLD_NOLOAD);
	Dl_info info;
	void *sym = h != NULL ? dlsym(h, "_nss_portq_getservbyport_r") : NULL;
	if (sym != NULL && dladdr(sym, &info) != 0 && info.dli_fname != NULL)
		fprintf(report, "MODULE %s\n", info.dli_fname);
	else
		fprintf(report, "MODULE -\n");
	if (h != NULL)
		dlclose(h);
	endservent();
	return fflush(report) == 0 && !ferror(report) ? 0 : 4;
}

/* This program, to run again as the glibc side (argv[0]: under valgrind,
 * /proc/self/exe is valgrind). */
static const char *self_path = "/proc/self/exe";

/* The answers of one glibc side. */
typedef struct {
	char answer[N_LOOKUPS][RESULT_MAX];
	long long ms[N_LOOKUPS];
	char module[PATH_MAX];
} glibc_t;

/*
 * Run the glibc side with `nsswitch_line` as /etc/nsswitch.conf, a file
 * of `services_text` (NULL: the machine's) as /etc/services, and libportq
 * pointed at `server`; its answers to lookups[0..n) in *g. Fails the test
 * unless glibc loaded the module built here.
 */
static void
glibc_run(const char *nsswitch_line, const char *services_text, const char *server,
          const lookup_t *lookups, size_t n, glibc_t *g)
{
	char nsswitch[64], services[64] = "-", list[64], path[64];
	temp_write(nsswitch, sizeof(nsswitch), "nsswitch", nsswitch_line);
	if (services_text != NULL)
		temp_write(services, sizeof(services), "services", services_text);
	FILE *f = fdopen(temp_file(list, sizeof(list), "lookups"), "w");
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < n; i++) {
		const lookup_t *l = &lookups[i];
		const char *proto = l->proto != NULL ? l->proto : "-";
		if (op_by_port(l->op))
			fprintf(f, "%s %u %s\n", op_names[l->op], l->port, proto);
		else
			fprintf(f, "%s %s %s\n", op_names[l->op], l->name, proto);
	}
	ck_assert_int_eq(fclose(f), 0);

	int fd = temp_file(path, sizeof(path), "glibc");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fd, STDOUT_FILENO);
		/* Read by the dynamic loader at start: glibc's dlopen() of
		 * libnss_portq.so.2 then finds the module built here. */
		setenv("LD_LIBRARY_PATH", NSS_PORTQ_DIR ":" PORTQ_LIB_DIR, 1);
		setenv("PORTQ_SERVER", server, 1);
		execl(self_path, "test_nss", "--nss-side", nsswitch, services, list,
		      (char *)NULL);
		_exit(127);
	}
	close(fd);
	int status = child_wait(pid, 240000);
	unlink(list);
	unlink(nsswitch);
	if (services_text != NULL)
		unlink(services);
	f = fopen(path, "r");
	unlink(path);
	ck_assert_ptr_nonnull(f);
	static char line[RESULT_MAX + 64];
	size_t got = 0;
	g->module[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (got == 0 && strncmp(line, "ERROR ", 6) == 0) {
			fclose(f);
			ck_abort_msg("glibc side could not run: %s", line + 6);
		}
		if (strncmp(line, "MODULE ", 7) == 0) {
			snprintf(g->module, sizeof(g->module), "%s", line + 7);
			continue;
		}
		char *tab = strchr(line, '\t');
		ck_assert_ptr_nonnull(tab);
		ck_assert_uint_lt(got, n);
		*tab = '\0';
		g->ms[got] = strtoll(line, NULL, 10);
		snprintf(g->answer[got++], RESULT_MAX, "%s", tab + 1);
	}
	fclose(f);
	ck_assert_msg(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "glibc side failed (wait status %d)", status);
	ck_assert_uint_eq(got, n);
	char built[PATH_MAX], loaded[PATH_MAX];
	ck_assert_ptr_nonnull(realpath(NSS_PORTQ_PATH, built));
	ck_assert_msg(g->module[0] != '\0' && strcmp(g->module, "-") != 0 &&
	              realpath(g->module, loaded) != NULL && strcmp(loaded, built) == 0,
	              "glibc did not load %s (loaded: %s)", built, g->module);
}

static void
format_lookup(const lookup_t *l, char *out, size_t len)
{
	const char *proto = l->proto != NULL ? l->proto : "NULL";
	if (op_by_port(l->op))
		snprintf(out, len, "%s %u/%s", op_names[l->op], l->port, proto);
	else
		snprintf(out, len, "%s %s/%s", op_names[l->op], l->name, proto);
}

/* Lookups whose glibc answer differs from libportq's (first few on stderr). */
static size_t
glibc_vs_portq(const lookup_t *lookups, size_t n, const glibc_t *g)
{
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		char mine[RESULT_MAX];
		answer_portq(&lookups[i], mine, sizeof(mine));
		if (strcmp(mine, g->answer[i]) == 0)
			continue;
		if (bad++ < SHOW_MAX) {
			char what[128];
			format_lookup(&lookups[i], what, sizeof(what));
			fprintf(stderr, "nss: %s: glibc \"%s\", libportq \"%s\"\n", what,
			        g->answer[i], mine);
		}
	}
	return bad;
}

/* ---- lookups drawn from the CSV --------------------------------------------- */

static csv_rng_t rng;

/*
 * 40% ports of registry rows (assigned, reserved, free, inside ranges),
 * 10% ports drawn uniformly, 40% names of registry rows, 10% names no row
 * has; tcp, udp or no protocol; one in ten through the _r form, starting
 * from a 1-byte buffer.
 */
static size_t
lookups_draw(lookup_t *out)
{
	static const char *const protos[] = { "tcp", "udp", NULL };
	rng.state = SEED;
	for (size_t i = 0; i < N_DRAWN; i++) {
		unsigned kind = csv_rng_below(&rng, 10);
		const char *proto = protos[csv_rng_below(&rng, 3)];
		int r_form = csv_rng_below(&rng, 10) == 0;
		if (kind < 5) {
			unsigned port;
			if (kind < 4) {
				const csv_row_t *r = csv_oracle_random_row(&csv, &rng, 1, 0);
				port = r->lo + csv_rng_below(&rng, r->hi - r->lo + 1);
			} else {
				port = csv_rng_below(&rng, 65536);
			}
			lookup_set(&out[i], r_form ? OP_RPORT : OP_PORT, port, NULL, proto);
			continue;
		}
		char name[64];
		if (kind < 9) {
			const csv_row_t *r = csv_oracle_random_row(&csv, &rng, 0, 1);
			snprintf(name, sizeof(name), "%s", r->name);
		} else {
			do
				snprintf(name, sizeof(name), "nx-%08x", (unsigned)csv_rng_next(&rng));
			while (csv_oracle_has_name(&csv, name));
		}
		lookup_set(&out[i], r_form ? OP_RNAME : OP_NAME, 0, name, proto);
	}
	return N_DRAWN;
}

/* ---- the fixture, in the runner ------------------------------------------- */

static void
fixture_up(void)
{
	csv_oracle_load(&csv, CSV_PATH);
	registry_write();
	daemon_start();
}

static void
fixture_down(void)
{
	portqd_process_stop(&portqd);
	if (registry_path[0] != '\0')
		unlink(registry_path);
	csv_oracle_free(&csv);
}

/* ---- the module's entry points, called directly ------------------------------ */

typedef enum nss_status (*byname_fn)(const char *, const char *, struct servent *,
                                     char *, size_t, int *);
typedef enum nss_status (*byport_fn)(int, const char *, struct servent *, char *,
                                     size_t, int *);

static byname_fn nss_byname;
static byport_fn nss_byport;

/* Load the module as glibc does, by path; its entry points by name. */
static void
module_load(void)
{
	void *h = dlopen(NSS_PORTQ_PATH, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(h != NULL, "dlopen %s: %s", NSS_PORTQ_PATH, dlerror());
	*(void **)&nss_byname = dlsym(h, "_nss_portq_getservbyname_r");
	*(void **)&nss_byport = dlsym(h, "_nss_portq_getservbyport_r");
	ck_assert_ptr_nonnull(nss_byname);
	ck_assert_ptr_nonnull(nss_byport);
	/* Enumeration is not offered: glibc must skip the module for it. */
	ck_assert_ptr_null(dlsym(h, "_nss_portq_getservent_r"));
	ck_assert_ptr_null(dlsym(h, "_nss_portq_setservent"));
	ck_assert_ptr_null(dlsym(h, "_nss_portq_endservent"));
}

static char mod_buf[BIG_BUF];

START_TEST(module_found)
{
	module_load();
	struct servent se, ref, *res;
	static char ref_buf[BIG_BUF];
	int err = -1;
	ck_assert_int_eq(nss_byport((int)htons(22), "tcp", &se, mod_buf, sizeof(mod_buf),
	                            &err), NSS_STATUS_SUCCESS);
	ck_assert_int_eq(portq_getservbyport_r((int)htons(22), "tcp", &ref, ref_buf,
	                                       sizeof(ref_buf), &res), 0);
	ck_assert_ptr_eq(res, &ref);
	ck_assert_str_eq(se.s_name, ref.s_name);
	ck_assert_str_eq(se.s_name, "ssh");
	ck_assert_int_eq(se.s_port, (int)htons(22));
	ck_assert_str_eq(se.s_proto, "tcp");
	/* The strings and the alias array live in the caller's buffer. */
	ck_assert(se.s_name >= mod_buf && se.s_name < mod_buf + sizeof(mod_buf));
	ck_assert(se.s_aliases != NULL && (char *)se.s_aliases >= mod_buf &&
	          (char *)se.s_aliases < mod_buf + sizeof(mod_buf));

	ck_assert_int_eq(nss_byname("nssb", NULL, &se, mod_buf, sizeof(mod_buf), &err),
	                 NSS_STATUS_SUCCESS);
	ck_assert_str_eq(se.s_name, "nss-alias");
	ck_assert_int_eq(se.s_port, (int)htons(PORT_ALIAS));
	ck_assert_str_eq(se.s_proto, "tcp");
	ck_assert_str_eq(se.s_aliases[0], "nssa");
	ck_assert_str_eq(se.s_aliases[1], "nssb");
	ck_assert_ptr_null(se.s_aliases[2]);

	/* As glibc calls it, errnop is &errno: a success leaves it alone. */
	errno = 4242;
	ck_assert_int_eq(nss_byname("SSH", "udp", &se, mod_buf, sizeof(mod_buf), &errno),
	                 NSS_STATUS_SUCCESS);
	ck_assert_int_eq(errno, 4242);
	ck_assert_str_eq(se.s_name, "ssh");
	ck_assert_str_eq(se.s_proto, "udp");
}
END_TEST

START_TEST(module_notfound)
{
	module_load();
	struct servent se;
	int err = 0;
	ck_assert_int_eq(nss_byport((int)htons(PORT_FREE), NULL, &se, mod_buf,
	                            sizeof(mod_buf), &err), NSS_STATUS_NOTFOUND);
	ck_assert_int_eq(err, ENOENT);
	err = 0;
	ck_assert_int_eq(nss_byname("nss-no-such-service", "tcp", &se, mod_buf,
	                            sizeof(mod_buf), &err), NSS_STATUS_NOTFOUND);
	ck_assert_int_eq(err, ENOENT);
	err = 0;
	ck_assert_int_eq(nss_byport((int)htons(PORT_ALIAS), "udp", &se, mod_buf,
	                            sizeof(mod_buf), &err), NSS_STATUS_NOTFOUND);
	ck_assert_int_eq(err, ENOENT);
	err = 0;      /* a protocol portq does not carry */
	ck_assert_int_eq(nss_byname("ssh", "ddp", &se, mod_buf, sizeof(mod_buf), &err),
	                 NSS_STATUS_NOTFOUND);
	ck_assert_int_eq(err, ENOENT);
	err = 0;
	ck_assert_int_eq(nss_byname("", NULL, &se, mod_buf, sizeof(mod_buf), &err),
	                 NSS_STATUS_NOTFOUND);
	ck_assert_int_eq(err, ENOENT);
}
END_TEST

START_TEST(module_small_buffer)
{
	module_load();
	struct servent se;
	/* Every size below what the entry needs: ERANGE, so glibc retries. */
	size_t need = 0;
	for (size_t n = 0; n <= 4096 && need == 0; n++) {
		int err = 0;
		enum nss_status st = nss_byname("nss-many", "udp", &se, mod_buf, n, &err);
		if (st == NSS_STATUS_SUCCESS) {
			need = n;
			break;
		}
		ck_assert_msg(st == NSS_STATUS_TRYAGAIN && err == ERANGE,
		              "buflen %zu: status %d, errno %d", n, (int)st, err);
	}
	/* 32 aliases of 40 bytes and their pointers. */
	ck_assert_uint_gt(need, MANY_ALIASES * 41);
	ck_assert_str_eq(se.s_name, "nss-many");
	size_t n_aliases = 0;
	while (se.s_aliases[n_aliases] != NULL)
		n_aliases++;
	ck_assert_uint_eq(n_aliases, MANY_ALIASES);
	/* A missing entry needs no room: not found, not ERANGE. */
	int err = 0;
	ck_assert_int_eq(nss_byport((int)htons(PORT_FREE), "tcp", &se, mod_buf, 1, &err),
	                 NSS_STATUS_NOTFOUND);
	ck_assert_int_eq(err, ENOENT);
}
END_TEST

START_TEST(module_bad_arguments)
{
	module_load();
	struct servent se;
	int err = 0;
	ck_assert_int_eq(nss_byname(NULL, "tcp", &se, mod_buf, sizeof(mod_buf), &err),
	                 NSS_STATUS_NOTFOUND);
	ck_assert_int_eq(err, EINVAL);
	ck_assert_int_eq(nss_byname("ssh", "tcp", NULL, mod_buf, sizeof(mod_buf), &err),
	                 NSS_STATUS_NOTFOUND);
	ck_assert_int_eq(nss_byport((int)htons(22), "tcp", &se, NULL, sizeof(mod_buf), &err),
	                 NSS_STATUS_NOTFOUND);
	ck_assert_int_eq(nss_byport((int)htons(22), "tcp", NULL, NULL, 0, NULL),
	                 NSS_STATUS_NOTFOUND);
	/* No errnop: still an answer, never a crash. */
	ck_assert_int_eq(nss_byport((int)htons(22), "tcp", &se, mod_buf, sizeof(mod_buf),
	                            NULL), NSS_STATUS_SUCCESS);
}
END_TEST

/* Call fn with stdout and stderr in a file; whether it wrote nothing. */
static int
quietly(enum nss_status (*fn)(int *), enum nss_status *st, int *err)
{
	char path[64];
	int fd = temp_file(path, sizeof(path), "quiet");
	unlink(path);
	fflush(stdout);
	fflush(stderr);
	int out = dup(STDOUT_FILENO), errfd = dup(STDERR_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	*st = fn(err);
	fflush(stdout);
	fflush(stderr);
	dup2(out, STDOUT_FILENO);
	dup2(errfd, STDERR_FILENO);
	close(out);
	close(errfd);
	struct stat sb;
	int quiet = fstat(fd, &sb) == 0 && sb.st_size == 0;
	close(fd);
	return quiet;
}

static enum nss_status
ask_by_name(int *err)
{
	struct servent se;
	return nss_byname("ssh", "tcp", &se, mod_buf, sizeof(mod_buf), err);
}

static enum nss_status
ask_by_port(int *err)
{
	struct servent se;
	return nss_byport((int)htons(22), "udp", &se, mod_buf, sizeof(mod_buf), err);
}

/*
 * Point the module at `server`. It has its own copy of libportq's core
 * (not libportq.so, which would bring libuv), so portq_config_reload()
 * here does not reach it: like any process, it reads PORTQ_SERVER again
 * at most once a second (docs/client.md 2.1). Wait that second out.
 */
static void
module_server_set(const char *server)
{
	setenv("PORTQ_SERVER", server, 1);
	portq_config_reload();
	usleep(1200 * 1000);
}

START_TEST(module_unavailable)
{
	module_load();
	char refused[64];
	server_refusing(refused, sizeof(refused));
	module_server_set(refused);
	enum nss_status st;
	int err = 0;
	ck_assert_msg(quietly(ask_by_name, &st, &err), "the module wrote something");
	ck_assert_int_eq(st, NSS_STATUS_UNAVAIL);
	ck_assert_int_eq(err, EIO);

	/* A server that never answers: ETIMEDOUT after libportq's timeouts. */
	unsigned port;
	int silent = loopback_socket_bound(SOCK_DGRAM, &port);
	char where[64];
	snprintf(where, sizeof(where), "127.0.0.1:%u", port);
	module_server_set(where);
	err = 0;
	ck_assert_msg(quietly(ask_by_port, &st, &err), "the module wrote something");
	ck_assert_int_eq(st, NSS_STATUS_UNAVAIL);
	ck_assert_int_eq(err, ETIMEDOUT);
	/* Now held down: the next lookup fails at once, the same way. */
	err = 0;
	ck_assert_msg(quietly(ask_by_name, &st, &err), "the module wrote something");
	ck_assert_int_eq(st, NSS_STATUS_UNAVAIL);
	ck_assert_int_eq(err, ETIMEDOUT);
	close(silent);
	module_server_set(portqd.server);
}
END_TEST

/*
 * Loading the module must not load libuv: it lives in every process
 * that looks up a service. nss_probe, a program linked with nothing but
 * libc, dlopen()s it and lists what the process then holds and what the
 * module needs. Before the split, libportq.so.0 came with it, and
 * libuv.so.1 with that.
 */
START_TEST(module_loads_no_libuv)
{
	char path[64];
	int fd = temp_file(path, sizeof(path), "probe");
	unlink(path);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fd, STDOUT_FILENO);
		execl(NSS_PROBE_PATH, "nss_probe", NSS_PORTQ_PATH, (char *)NULL);
		_exit(127);
	}
	int status = child_wait(pid, 30000);
	ck_assert_msg(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "nss_probe failed (wait status %d)", status);
	FILE *f = fdopen(fd, "r");
	ck_assert_ptr_nonnull(f);
	rewind(f);
	char line[PATH_MAX + 16];
	int module_seen = 0, libc_needed = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		ck_assert_msg(strstr(line, "libuv") == NULL, "the module brings libuv: %s", line);
		ck_assert_msg(strstr(line, "libportq.so") == NULL,
		              "the module brings libportq.so (and its libuv): %s", line);
		module_seen += strncmp(line, "LOADED ", 7) == 0 &&
		               strstr(line, "libnss_portq.so") != NULL;
		libc_needed += strcmp(line, "NEEDED libc.so.6") == 0;
	}
	fclose(f);
	/* The probe did see the module and read its dynamic section. */
	ck_assert_int_eq(module_seen, 1);
	ck_assert_int_eq(libc_needed, 1);
}
END_TEST

/* ---- glibc's getservby*() with the module ------------------------------------- */

static lookup_t cases[N_LOOKUPS];
static glibc_t glibc;

/* Add a known lookup; its index. */
static size_t
known(size_t *n, op_t op, unsigned port, const char *name, const char *proto)
{
	ck_assert_uint_lt(*n, N_LOOKUPS);
	lookup_set(&cases[*n], op, port, name, proto);
	return (*n)++;
}

START_TEST(glibc_matches_libportq)
{
	size_t n = lookups_draw(cases);
	size_t ssh_tcp = known(&n, OP_PORT, 22, NULL, "tcp");
	size_t ssh_udp = known(&n, OP_NAME, 0, "ssh", "udp");
	known(&n, OP_PORT, 22, NULL, NULL);
	known(&n, OP_NAME, 0, "ssh", NULL);
	known(&n, OP_NAME, 0, "SSH", "tcp");          /* portq ignores case */
	known(&n, OP_PORT, 53, NULL, "udp");
	known(&n, OP_NAME, 0, "domain", "sctp");
	size_t free_port = known(&n, OP_PORT, PORT_FREE, NULL, NULL);
	size_t nx_name = known(&n, OP_NAME, 0, "nss-no-such-service", NULL);
	size_t alias = known(&n, OP_NAME, 0, "nssb", "tcp");
	size_t alias_udp = known(&n, OP_NAME, 0, "nssb", "udp");
	size_t alias_port = known(&n, OP_PORT, PORT_ALIAS, NULL, NULL);
	/* More than glibc's first 1024 bytes: getservbyname() retries. */
	size_t many = known(&n, OP_NAME, 0, "nss-many", NULL);
	known(&n, OP_PORT, PORT_MANY, NULL, "udp");
	/* The _r forms from a 1-byte buffer: ERANGE first, then the entry. */
	size_t r_many = known(&n, OP_RNAME, 0, "nss-many", "udp");
	size_t r_ssh = known(&n, OP_RPORT, 22, NULL, "tcp");
	known(&n, OP_RNAME, 0, "nssa", NULL);
	size_t r_free = known(&n, OP_RPORT, PORT_FREE, NULL, "tcp");
	known(&n, OP_RNAME, 0, "nss-no-such-service", NULL);

	glibc_run("services: portq\n", NULL, portqd.server, cases, n, &glibc);

	/* Known answers, spelled out: not only "the same as libportq". */
	ck_assert_str_eq(glibc.answer[ssh_tcp], "ssh 22 tcp");
	ck_assert_str_eq(glibc.answer[ssh_udp], "ssh 22 udp");
	ck_assert_str_eq(glibc.answer[free_port], "-");
	ck_assert_str_eq(glibc.answer[nx_name], "-");
	ck_assert_str_eq(glibc.answer[alias], "nss-alias 290 tcp nssa,nssb");
	ck_assert_str_eq(glibc.answer[alias_udp], "-");
	ck_assert_str_eq(glibc.answer[alias_port], "nss-alias 290 tcp nssa,nssb");
	ck_assert_msg(strncmp(glibc.answer[many], "nss-many 291 udp nss-many-alias-00-", 35) == 0,
	              "nss-many: %s", glibc.answer[many]);
	ck_assert_uint_gt(strlen(glibc.answer[many]), 1024);
	ck_assert_str_eq(glibc.answer[r_ssh], "ERANGE ssh 22 tcp");
	ck_assert_str_eq(glibc.answer[r_free], "0 -");
	ck_assert_msg(strncmp(glibc.answer[r_many], "ERANGE nss-many 291 udp ", 24) == 0,
	              "nss-many _r: %s", glibc.answer[r_many]);

	size_t found = 0, r_erange = 0;
	for (size_t i = 0; i < N_DRAWN; i++) {
		found += strcmp(glibc.answer[i], "-") != 0 && strcmp(glibc.answer[i], "0 -") != 0;
		r_erange += strncmp(glibc.answer[i], "ERANGE ", 7) == 0;
	}
	/* Nothing found would make "nothing" agree with nothing. */
	ck_assert_msg(found > N_DRAWN / 4, "glibc found only %zu of %d", found, N_DRAWN);
	ck_assert_uint_gt(r_erange, 5);

	size_t bad = glibc_vs_portq(cases, n, &glibc);
	ck_assert_msg(bad == 0, "%zu of %zu lookups through glibc differ from libportq "
	              "(first %d on stderr)", bad, n, SHOW_MAX);
}
END_TEST

/* The fallback services file: one entry on a port IANA leaves free. */
#define FILES_TEXT "nss-files 292/tcp nssf\n"
#define FILES_ANSWER "nss-files 292 tcp nssf"

/*
 * With a server: "portq files" asks files after portq's NOTFOUND; with
 * [NOTFOUND=return] portq's "no such entry" is final.
 */
START_TEST(glibc_notfound_action)
{
	size_t n = 0;
	size_t by_name = known(&n, OP_NAME, 0, "nss-files", "tcp");
	size_t by_port = known(&n, OP_PORT, PORT_FILES, NULL, "tcp");
	size_t ssh = known(&n, OP_NAME, 0, "ssh", "tcp");

	glibc_run("services: portq files\n", FILES_TEXT, portqd.server, cases, n, &glibc);
	ck_assert_str_eq(glibc.answer[by_name], FILES_ANSWER);
	ck_assert_str_eq(glibc.answer[by_port], FILES_ANSWER);
	ck_assert_str_eq(glibc.answer[ssh], "ssh 22 tcp");     /* not in the file */

	glibc_run("services: portq [NOTFOUND=return] files\n", FILES_TEXT, portqd.server,
	          cases, n, &glibc);
	ck_assert_str_eq(glibc.answer[by_name], "-");
	ck_assert_str_eq(glibc.answer[by_port], "-");
	ck_assert_str_eq(glibc.answer[ssh], "ssh 22 tcp");
}
END_TEST

/* Lookups answered by files when portq is unavailable, each in bounded time. */
static void
fallback_check(const char *server, int with_misses)
{
	size_t n = 0;
	size_t by_name = known(&n, OP_NAME, 0, "nss-files", "tcp");
	size_t by_port = known(&n, OP_PORT, PORT_FILES, NULL, "tcp");
	size_t miss = 0, r_alias = 0;
	if (with_misses) {
		known(&n, OP_NAME, 0, "nssf", NULL);
		miss = known(&n, OP_NAME, 0, "ssh", "tcp");       /* not in the file */
		r_alias = known(&n, OP_RNAME, 0, "nssf", "tcp");
	}
	glibc_run("services: portq files\n", FILES_TEXT, server, cases, n, &glibc);
	ck_assert_str_eq(glibc.answer[by_name], FILES_ANSWER);
	ck_assert_str_eq(glibc.answer[by_port], FILES_ANSWER);
	if (with_misses) {
		ck_assert_str_eq(glibc.answer[miss], "-");
		ck_assert_str_eq(glibc.answer[r_alias], "ERANGE " FILES_ANSWER);
	}
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(glibc.ms[i] <= LOOKUP_BOUND_MS, "lookup %zu took %lld ms (bound %d)",
		              i, glibc.ms[i], LOOKUP_BOUND_MS);
}

START_TEST(glibc_fallback_refused)
{
	char refused[64];
	server_refusing(refused, sizeof(refused));
	fallback_check(refused, 1);
}
END_TEST

START_TEST(glibc_fallback_silent)
{
	unsigned port;
	int silent = loopback_socket_bound(SOCK_DGRAM, &port);
	char where[64];
	snprintf(where, sizeof(where), "127.0.0.1:%u", port);
	fallback_check(where, 0);
	close(silent);
}
END_TEST

/* Datagrams waiting on `fd`, read and counted. */
static unsigned
datagrams_drain(int fd)
{
	unsigned n = 0;
	char buf[1024];
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		n++;
	return n;
}

/*
 * Every server silent, `services: portq` alone (no fallback to hide a
 * wait): in a new process, one lookup waits at most the lookup budget,
 * and a second one skips the server it found silent; in another new
 * process, one getaddrinfo() of a service name (glibc asks once per
 * protocol) waits one budget, not one per protocol. The silent server
 * counts what reached it: one lookup's tries, then nothing. On 71efc69
 * the lookup took 4 s and the getaddrinfo() 20 s.
 */
START_TEST(glibc_silent_bounded)
{
	unsigned port;
	int silent = loopback_socket_bound(SOCK_DGRAM, &port);
	char where[64];
	snprintf(where, sizeof(where), "127.0.0.1:%u", port);

	size_t n = 0;
	size_t first = known(&n, OP_PORT, 1303, NULL, "tcp");
	size_t second = known(&n, OP_NAME, 0, "sftsrv", "udp");
	glibc_run("services: portq\n", NULL, where, cases, n, &glibc);
	unsigned sent_lookups = datagrams_drain(silent);
	ck_assert_str_eq(glibc.answer[first], "-");
	ck_assert_str_eq(glibc.answer[second], "-");
	fprintf(stderr, "nss: silent server: lookup %lld ms, next lookup %lld ms, "
	        "%u datagrams\n", glibc.ms[first], glibc.ms[second], sent_lookups);
	/* A floor: it did wait for a silent server (not a refusing one). */
	ck_assert_int_ge(glibc.ms[first], PORTQ_CLIENT_LOOKUP_BUDGET_MS / 2);
	ck_assert_msg(glibc.ms[first] <= LOOKUP_BOUND_MS, "lookup took %lld ms (bound %d)",
	              glibc.ms[first], LOOKUP_BOUND_MS);
	ck_assert_msg(glibc.ms[second] <= LOOKUP_BOUND_MS, "next lookup took %lld ms "
	              "(bound %d)", glibc.ms[second], LOOKUP_BOUND_MS);
	/* The first lookup's attempts reached the server; the second, none. */
	ck_assert_uint_ge(sent_lookups, 1);
	ck_assert_uint_le(sent_lookups, PORTQ_CLIENT_ATTEMPTS);

	n = 0;
	size_t gai = known(&n, OP_GAI, 0, "sftsrv", NULL);
	glibc_run("services: portq\n", NULL, where, cases, n, &glibc);
	unsigned sent_gai = datagrams_drain(silent);
	fprintf(stderr, "nss: silent server: getaddrinfo %lld ms (%s), %u datagrams\n",
	        glibc.ms[gai], glibc.answer[gai], sent_gai);
	ck_assert_msg(strncmp(glibc.answer[gai], "gai error ", 10) == 0, "getaddrinfo: %s",
	              glibc.answer[gai]);
	ck_assert_int_ge(glibc.ms[gai], PORTQ_CLIENT_LOOKUP_BUDGET_MS / 2);
	ck_assert_msg(glibc.ms[gai] <= GAI_BOUND_MS, "getaddrinfo took %lld ms (bound %d)",
	              glibc.ms[gai], GAI_BOUND_MS);
	ck_assert_uint_ge(sent_gai, 1);
	ck_assert_uint_le(sent_gai, PORTQ_CLIENT_ATTEMPTS);
	close(silent);
}
END_TEST

static Suite *
nss_suite(void)
{
	Suite *s = suite_create("nss");
	TCase *mod = tcase_create("module");
	tcase_set_timeout(mod, 60);
	tcase_add_unchecked_fixture(mod, fixture_up, fixture_down);
	tcase_add_test(mod, module_found);
	tcase_add_test(mod, module_notfound);
	tcase_add_test(mod, module_small_buffer);
	tcase_add_test(mod, module_bad_arguments);
	tcase_add_test(mod, module_unavailable);
	tcase_add_test(mod, module_loads_no_libuv);
	suite_add_tcase(s, mod);

	TCase *gl = tcase_create("glibc");
	tcase_set_timeout(gl, 300);
	tcase_add_unchecked_fixture(gl, fixture_up, fixture_down);
	tcase_add_test(gl, glibc_matches_libportq);
	tcase_add_test(gl, glibc_notfound_action);
	tcase_add_test(gl, glibc_fallback_refused);
	tcase_add_test(gl, glibc_fallback_silent);
	tcase_add_test(gl, glibc_silent_bounded);
	suite_add_tcase(s, gl);
	return s;
}

/* Run again by a test as the other side (argv[1]), or as itself. */
static int
nss_role(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "--nss-side") == 0)
		return nss_side(argv[2], argv[3], argv[4]);
	if (argc > 0 && strchr(argv[0], '/') != NULL)
		self_path = argv[0];
	return -1;
}

const check_suite_t check_suite = { .suite = nss_suite, .role = nss_role };
