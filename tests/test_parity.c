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
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "csv_oracle.h"
#include "portq.h"

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

static int
csv_has_name(const char *name)
{
	for (size_t i = 0; i < csv.n; i++)
		if (strcasecmp(csv.rows[i].name, name) == 0)
			return 1;
	return 0;
}

/* ---- portqd and the portq command -------------------------------------- */

static pid_t daemon_pid;
static unsigned daemon_port;
static char daemon_log[64];
static char server_env[64];

static void
daemon_start(void)
{
	snprintf(daemon_log, sizeof(daemon_log), "/tmp/test_parity.XXXXXX");
	int fd = mkstemp(daemon_log);
	ck_assert_int_ge(fd, 0);
	daemon_pid = fork();
	ck_assert_int_ge(daemon_pid, 0);
	if (daemon_pid == 0) {
		dup2(fd, STDERR_FILENO);
		execl(PORTQD_PATH, "portqd", "--registry", CSV_PATH,
		      "--listen", "127.0.0.1:0", (char *)NULL);
		_exit(127);
	}
	close(fd);
	/* The port is logged on listening; "serving" follows once loaded. */
	for (int tries = 0; tries < 600; tries++) {
		FILE *f = fopen(daemon_log, "r");
		char line[512];
		unsigned port = 0;
		int serving = 0;
		while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
			const char *p = strstr(line, "listening on udp and tcp");
			if (p != NULL && (p = strstr(p, "(port ")) != NULL)
				port = (unsigned)strtoul(p + 6, NULL, 10);
			serving |= strstr(line, "serving ") != NULL;
		}
		if (f != NULL)
			fclose(f);
		int status;
		ck_assert_msg(waitpid(daemon_pid, &status, WNOHANG) == 0,
		              "portqd exited early (see %s)", daemon_log);
		if (port != 0 && serving) {
			daemon_port = port;
			break;
		}
		usleep(50 * 1000);
	}
	ck_assert_msg(daemon_port != 0, "portqd logged no port within 30 s (see %s)",
	              daemon_log);
	snprintf(server_env, sizeof(server_env), "127.0.0.1:%u", daemon_port);
	/* libportq asks this server only, never the machine's portq.conf. */
	setenv("PORTQ_SERVER", server_env, 1);
}

static void
daemon_stop(void)
{
	if (daemon_pid <= 0)
		return;
	kill(daemon_pid, SIGTERM);
	int tries = 0;
	for (; tries < 200 && waitpid(daemon_pid, NULL, WNOHANG) != daemon_pid; tries++)
		usleep(50 * 1000);
	if (tries == 200) {
		kill(daemon_pid, SIGKILL);
		waitpid(daemon_pid, NULL, 0);
	}
	daemon_pid = 0;
	unlink(daemon_log);
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

/* Wait at most timeout_ms for a child; its wait status, or -1. */
static int
child_wait(pid_t pid, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(20 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
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
		execl(PORTQ_CLI_PATH, "portq", "--server", server_env, "--services",
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

static uint64_t rng_state;

/* splitmix64: the same sequence on every machine. */
static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned
rng_below(unsigned n)
{
	return (unsigned)(rng_next() % n);
}

static const row_t *
random_row(int want_port, int want_name)
{
	for (;;) {    /* most rows qualify: this ends after a few draws */
		const row_t *r = &csv.rows[rng_below((unsigned)csv.n)];
		if ((!want_port || r->has_port) && (!want_name || r->name[0] != '\0'))
			return r;
	}
}

/*
 * 40% ports of registry rows (any row: assigned, reserved, unassigned,
 * de-registered, inside ranges), 10% ports drawn uniformly, 40% names of
 * registry rows, 10% names no row has; each with tcp, udp or no protocol.
 */
static void
lookups_draw(void)
{
	static const char *const protos[] = { "tcp", "udp", NULL };
	rng_state = SEED;
	for (size_t i = 0; i < N_LOOKUPS; i++) {
		lookup_t *l = &lookups[i];
		unsigned kind = rng_below(10);
		l->proto = protos[rng_below(3)];
		if (kind < 4) {
			const row_t *r = random_row(1, 0);
			l->by_port = 1;
			l->port = r->lo + rng_below(r->hi - r->lo + 1);
		} else if (kind < 5) {
			l->by_port = 1;
			l->port = rng_below(65536);
		} else if (kind < 9) {
			snprintf(l->name, sizeof(l->name), "%s", random_row(0, 1)->name);
		} else {
			do
				snprintf(l->name, sizeof(l->name), "nx-%08x",
				         (unsigned)rng_next());
			while (csv_has_name(l->name));
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

/* Bind-mount `src` over `dst` and check that `dst` now is `src`. */
static int
bind_over(const char *src, const char *dst, FILE *report)
{
	struct stat a, b;
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0) {
		fprintf(report, "ERROR bind-mounting %s over %s: %s\n", src, dst,
		        strerror(errno));
		return -1;
	}
	if (stat(src, &a) < 0 || stat(dst, &b) < 0 || a.st_ino != b.st_ino ||
	    a.st_dev != b.st_dev) {
		fprintf(report, "ERROR %s is not %s after the bind mount\n", dst, src);
		return -1;
	}
	return 0;
}

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
	if (unshare(CLONE_NEWNS) < 0) {
		fprintf(report, "ERROR unshare(CLONE_NEWNS): %s%s\n", strerror(errno),
		        errno == EPERM ? " -- the parity test needs root (CAP_SYS_ADMIN) "
		                         "for a private mount namespace" : "");
		return 3;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(report, "ERROR making / private: %s\n", strerror(errno));
		return 3;
	}
	if (bind_over(services, "/etc/services", report) < 0 ||
	    bind_over(nsswitch, "/etc/nsswitch.conf", report) < 0)
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
	daemon_stop();
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

int
main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "--glibc-side") == 0)
		return glibc_side(argv[2], argv[3], argv[4]);
	if (argc > 0 && strchr(argv[0], '/') != NULL)
		self_path = argv[0];
	SRunner *sr = srunner_create(parity_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
