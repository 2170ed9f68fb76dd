/*
 * test_parity.c -- portq_getservbyport() and portq_getservbyname() give
 * what glibc's getservbyport() and getservbyname() give, when glibc reads
 * a services(5) file made from the same registry.
 *
 * portqd serves the real IANA CSV on loopback; `portq --services` writes
 * the file. glibc must read that file as /etc/services, with nsswitch
 * saying "services: files", and nothing else on the machine may change:
 * so the glibc side runs in a child with a private mount namespace, where
 * both files are bind-mounted over the real ones. That needs root
 * (CAP_SYS_ADMIN); without it the test fails and says so, since a parity
 * test that skips itself would prove nothing.
 *
 * The lookups are drawn at random (fixed seed) from the CSV, read here
 * with a reader of its own: ports of every row (assigned, reserved,
 * free, ranges), names of every row (assigned, de-registered, without a
 * port), with tcp, udp and no protocol, plus ports and names that do not
 * exist. glibc's answer, the first match in file order, is the reference.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_main.h"
#include "csv_oracle.h"
#include "mount_ns.h"
#include "portq.h"
#include "portqd_process.h"

#define CSV_PATH PORTQ_DATA_DIR "/service-names-port-numbers.csv"

#define N_LOOKUPS   12000
#define SEED        0x706f727471ULL      /* "portq" */
#define RESULT_MAX  512                  /* one formatted answer */
#define SHOW_MAX    20                   /* mismatches printed */

/* ---- the CSV, read independently of srv/ ------------------------------ */

typedef csv_row_t row_t;

static csv_oracle_t csv;

static void
csv_load(void)
{
	csv_oracle_load(&csv, CSV_PATH);
}

/* ---- portqd and the portq command -------------------------------------- */

static portqd_process_t portqd;

static void
daemon_start(void)
{
	const char *const args[] = { "--registry", CSV_PATH, NULL };
	portqd_process_start(&portqd, "127.0.0.1:0", args);
	/* libportq asks this server only, never the machine's portq.conf. */
	setenv("PORTQ_SERVER", portqd.server, 1);
}

/* A temporary file's path in `path` (a mkstemp template); its fd. */
static int
temp_file(char *path, size_t len, const char *stem)
{
	snprintf(path, len, "/tmp/test_parity_%s.XXXXXX", stem);
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* `portq --services` against the daemon, into a new temporary file. */
static void
services_make(char *path, size_t len)
{
	int fd = temp_file(path, len, "services");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fd, STDOUT_FILENO);
		execl(PORTQ_CLI_PATH, "portq", "--server", portqd.server, "--services",
		      (char *)NULL);
		_exit(127);
	}
	close(fd);
	int status = child_wait(pid, 60000);
	ck_assert_msg(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "portq --services failed (status %d)", status);
}

/* ---- lookups ------------------------------------------------------------ */

typedef struct {
	int by_port;
	unsigned port;            /* host order */
	char name[64];
	const char *proto;        /* "tcp", "udp" or NULL */
} lookup_t;

static lookup_t lookups[N_LOOKUPS];

static csv_rng_t rng;

/*
 * 40% ports of registry rows (any row: assigned, reserved, unassigned,
 * de-registered, inside ranges), 10% ports drawn uniformly, 40% names of
 * registry rows, 10% names no row has; each with tcp, udp or no protocol.
 */
static void
lookups_draw(void)
{
	static const char *const protos[] = { "tcp", "udp", NULL };
	rng.state = SEED;
	for (size_t i = 0; i < N_LOOKUPS; i++) {
		lookup_t *l = &lookups[i];
		unsigned kind = csv_rng_below(&rng, 10);
		l->proto = protos[csv_rng_below(&rng, 3)];
		if (kind < 4) {
			const row_t *r = csv_oracle_random_row(&csv, &rng, 1, 0);
			l->by_port = 1;
			l->port = r->lo + csv_rng_below(&rng, r->hi - r->lo + 1);
		} else if (kind < 5) {
			l->by_port = 1;
			l->port = csv_rng_below(&rng, 65536);
		} else if (kind < 9) {
			const row_t *r = csv_oracle_random_row(&csv, &rng, 0, 1);
			snprintf(l->name, sizeof(l->name), "%s", r->name);
		} else {
			do
				snprintf(l->name, sizeof(l->name), "nx-%08x",
				         (unsigned)csv_rng_next(&rng));
			while (csv_oracle_has_name(&csv, l->name));
		}
	}
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "name port proto alias,alias" (aliases sorted), "-" for no entry. */
static void
format_servent(const struct servent *se, int err, char *out, size_t len)
{
	if (se == NULL) {
		if (err != 0)
			snprintf(out, len, "error %s", strerror(err));
		else
			snprintf(out, len, "-");
		return;
	}
	const char *aliases[64];
	size_t n = 0;
	for (; se->s_aliases[n] != NULL && n < 64; n++)
		aliases[n] = se->s_aliases[n];
	qsort(aliases, n, sizeof(aliases[0]), str_cmp);
	int used = snprintf(out, len, "%s %d %s ", se->s_name, ntohs((uint16_t)se->s_port),
	                    se->s_proto);
	for (size_t i = 0; i < n && used > 0 && (size_t)used < len; i++)
		used += snprintf(out + used, len - (size_t)used, "%s%s", i ? "," : "",
		                 aliases[i]);
}

static void
format_lookup(const lookup_t *l, char *out, size_t len)
{
	if (l->by_port)
		snprintf(out, len, "port %u/%s", l->port, l->proto ? l->proto : "NULL");
	else
		snprintf(out, len, "name %s/%s", l->name, l->proto ? l->proto : "NULL");
}

/* ---- the glibc side, in a private mount namespace ----------------------- */

/*
 * The glibc side, run as `test_parity --glibc-side SERVICES NSSWITCH
 * LOOKUPS`: a mount namespace of its own, / private so that nothing
 * propagates back, the generated files over /etc/services and
 * /etc/nsswitch.conf, then every lookup of the LOOKUPS file ("port PORT
 * PROTO" or "name NAME PROTO", PROTO "-" for none) through glibc. One
 * line per lookup on stdout; a first line "ERROR ..." when the set-up
 * failed. A program of its own (exec'd, not forked) so that valgrind,
 * which follows forks, does not slow glibc's reading of a 600 kB file
 * thousands of times.
 */
static int
glibc_side(const char *services, const char *nsswitch, const char *list)
{
	FILE *report = stdout;
	if (mount_ns_enter(report, "the parity test") < 0 ||
	    mount_ns_bind(services, "/etc/services", report) < 0 ||
	    mount_ns_bind(nsswitch, "/etc/nsswitch.conf", report) < 0)
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
		const char *pr = strcmp(proto, "-") == 0 ? NULL : proto;
		struct servent *se = strcmp(kind, "port") == 0
		    ? getservbyport((int)htons((uint16_t)strtoul(what, NULL, 10)), pr)
		    : getservbyname(what, pr);
		format_servent(se, 0, out, sizeof(out));
		fprintf(report, "%s\n", out);
	}
	endservent();
	fclose(in);
	return fflush(report) == 0 && !ferror(report) ? 0 : 4;
}

/* This program, to run again as the glibc side (argv[0]: under valgrind,
 * /proc/self/exe is valgrind). */
static const char *self_path = "/proc/self/exe";

/* Run the glibc side; its answers, one per lookup, in glibc[]. */
static void
glibc_answers(const char *services, const char *nsswitch, char (*glibc)[RESULT_MAX])
{
	char list[64], path[64];
	FILE *f = fdopen(temp_file(list, sizeof(list), "lookups"), "w");
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < N_LOOKUPS; i++) {
		const lookup_t *l = &lookups[i];
		if (l->by_port)
			fprintf(f, "port %u %s\n", l->port, l->proto ? l->proto : "-");
		else
			fprintf(f, "name %s %s\n", l->name, l->proto ? l->proto : "-");
	}
	ck_assert_int_eq(fclose(f), 0);

	int fd = temp_file(path, sizeof(path), "glibc");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fd, STDOUT_FILENO);
		execl(self_path, "test_parity", "--glibc-side", services, nsswitch, list,
		      (char *)NULL);
		_exit(127);
	}
	close(fd);
	int status = child_wait(pid, 240000);
	unlink(list);
	f = fopen(path, "r");
	unlink(path);
	ck_assert_ptr_nonnull(f);
	char line[RESULT_MAX];
	size_t n = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (n == 0 && strncmp(line, "ERROR ", 6) == 0) {
			fclose(f);
			ck_abort_msg("glibc side could not run: %s", line + 6);
		}
		ck_assert_uint_lt(n, N_LOOKUPS);
		snprintf(glibc[n++], RESULT_MAX, "%s", line);
	}
	fclose(f);
	ck_assert_msg(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "glibc side failed (wait status %d)", status);
	ck_assert_uint_eq(n, N_LOOKUPS);
}

/* ---- the test ----------------------------------------------------------- */

static size_t
compare(char (*glibc)[RESULT_MAX], size_t *found)
{
	size_t mismatches = 0;
	*found = 0;
	for (size_t i = 0; i < N_LOOKUPS; i++) {
		const lookup_t *l = &lookups[i];
		errno = 0;
		struct servent *se = l->by_port
		    ? portq_getservbyport((int)htons((uint16_t)l->port), l->proto)
		    : portq_getservbyname(l->name, l->proto);
		char mine[RESULT_MAX];
		format_servent(se, se == NULL ? errno : 0, mine, sizeof(mine));
		*found += se != NULL;
		if (strcmp(mine, glibc[i]) == 0)
			continue;
		if (mismatches++ < SHOW_MAX) {
			char what[128];
			format_lookup(l, what, sizeof(what));
			fprintf(stderr, "parity: %s: glibc \"%s\", libportq \"%s\"\n", what,
			        glibc[i], mine);
		}
	}
	return mismatches;
}

/* Temporary files, made and removed outside the forked test. */
static char services_path[64], nsswitch_path[64];

/*
 * In the runner process, so that the daemon is stopped and the files are
 * removed also when a check fails (that ends the forked test at once).
 */
static void
fixture_up(void)
{
	csv_load();
	daemon_start();
	services_make(services_path, sizeof(services_path));
	int fd = temp_file(nsswitch_path, sizeof(nsswitch_path), "nsswitch");
	const char line[] = "services: files\n";
	ck_assert_int_eq(write(fd, line, sizeof(line) - 1), (int)sizeof(line) - 1);
	close(fd);
}

static void
fixture_down(void)
{
	portqd_process_stop(&portqd);
	if (services_path[0] != '\0')
		unlink(services_path);
	if (nsswitch_path[0] != '\0')
		unlink(nsswitch_path);
	csv_oracle_free(&csv);
}

START_TEST(getservby_parity)
{
	lookups_draw();
	static char glibc[N_LOOKUPS][RESULT_MAX];
	glibc_answers(services_path, nsswitch_path, glibc);

	size_t glibc_found = 0;
	for (size_t i = 0; i < N_LOOKUPS; i++)
		glibc_found += glibc[i][0] != '-';
	/* A file glibc could not read would make "nothing" agree with nothing. */
	ck_assert_msg(glibc_found > N_LOOKUPS / 4, "glibc found only %zu of %d",
	              glibc_found, N_LOOKUPS);

	/* Twice: the second round is answered from libportq's cache. */
	for (int round = 0; round < 2; round++) {
		size_t found;
		size_t bad = compare(glibc, &found);
		ck_assert_msg(bad == 0, "round %d: %zu of %d lookups differ from glibc "
		              "(first %d on stderr)", round + 1, bad, N_LOOKUPS, SHOW_MAX);
		ck_assert_uint_eq(found, glibc_found);
	}
}
END_TEST

static Suite *
parity_suite(void)
{
	Suite *s = suite_create("parity");
	TCase *tc = tcase_create("glibc");
	tcase_set_timeout(tc, 300);
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, getservby_parity);
	suite_add_tcase(s, tc);
	return s;
}

/* Run again by a test as the other side (argv[1]), or as itself. */
static int
parity_role(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "--glibc-side") == 0)
		return glibc_side(argv[2], argv[3], argv[4]);
	if (argc > 0 && strchr(argv[0], '/') != NULL)
		self_path = argv[0];
	return -1;
}

const check_suite_t check_suite = { .suite = parity_suite, .role = parity_role };
