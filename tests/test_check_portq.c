/*
 * test_check_portq.c -- the monitoring plugin (contrib/monitoring) run as
 * a monitoring system runs it: a child process whose one line of output
 * and exit code are the result, against the real portqd on loopback
 * serving the IANA CSV snapshot.
 *
 * What the plugin should report is read here through libportq (INFO, PORT
 * and NAME answers), never written into the test: the snapshot can change.
 */
#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_main.h"
#include "clock.h"
#include "loopback.h"
#include "portq.h"
#include "portqd_process.h"

#define CSV_PATH PORTQ_DATA_DIR "/service-names-port-numbers.csv"

enum { OK = 0, WARNING = 1, CRITICAL = 2, UNKNOWN = 3 };

/* ---- portqd ------------------------------------------------------------ */

static portqd_process_t portqd;
static const char *server = portqd.server;   /* "127.0.0.1:PORT" */

/* portqd on an ephemeral loopback port, its stderr in a file. */
static void
fixture_up(void)
{
	const char *const args[] = { "--registry", CSV_PATH, NULL };
	portqd_process_start(&portqd, "127.0.0.1:0", args);
	/* The plugin is always given -H; nothing from the environment. */
	unsetenv("PORTQ_SERVER");
}

static void
fixture_down(void)
{
	portqd_process_stop(&portqd);
}

/* ---- what libportq says ------------------------------------------------- */

static portq_client_t *
client_new(void)
{
	portq_options_t o;
	memset(&o, 0, sizeof(o));
	o.servers = server;
	o.config_file = "";
	o.timeout_ms = 2000;
	o.cache_ttl = PORTQ_CACHE_OFF;
	portq_client_t *c = NULL;
	ck_assert_int_eq(portq_client_new(&c, &o), PORTQ_OK);
	return c;
}

/* INFO's value for key, copied into out. */
static void
info_value(const char *key, char *out, size_t len)
{
	portq_client_t *c = client_new();
	portq_result_t *r;
	ck_assert_int_eq(portq_query_info(c, &r), PORTQ_OK);
	out[0] = '\0';
	for (size_t i = 0; i < r->n_info; i++)
		if (strcmp(r->info[i].key, key) == 0)
			snprintf(out, len, "%s", r->info[i].value);
	ck_assert_msg(out[0] != '\0', "INFO has no %s", key);
	portq_result_free(r);
	portq_client_free(c);
}

/* ---- running the plugin ------------------------------------------------- */

/*
 * Run check_portq with args, stdout and stderr together in out (a
 * monitoring system may keep either); returns the exit code. Every wait
 * is bounded: a plugin that hangs is killed and fails the test.
 */
static int
run_plugin(const char *const *args, char *out, size_t outlen, long long *took_ms)
{
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	long long start = portq__clock_ms();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		dup2(pfd[1], STDERR_FILENO);
		close(pfd[0]);
		close(pfd[1]);
		char *argv[32];
		int n = 0;
		argv[n++] = (char *)"check_portq";
		for (; args[n - 1] != NULL && n < 31; n++)
			argv[n] = (char *)args[n - 1];
		argv[n] = NULL;
		execv(CHECK_PORTQ_PATH, argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t used = 0;
	long long deadline = start + 30000;
	while (portq__clock_ms() < deadline && used < outlen - 1) {
		struct pollfd p = { pfd[0], POLLIN, 0 };
		if (poll(&p, 1, 500) <= 0)
			continue;
		ssize_t n = read(pfd[0], out + used, outlen - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	out[used] = '\0';
	close(pfd[0]);
	int status = 0;
	pid_t w = 0;
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && portq__clock_ms() < deadline)
		usleep(10 * 1000);
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		ck_abort_msg("check_portq still running after 30 s; said: %s", out);
	}
	if (took_ms != NULL)
		*took_ms = portq__clock_ms() - start;
	ck_assert_msg(WIFEXITED(status), "check_portq died (signal %d)", WTERMSIG(status));
	return WEXITSTATUS(status);
}

static int
line_count(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The plugin's output is one line ending in '\n' starting with want. */
static void
assert_one_line(const char *out, const char *want)
{
	ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "want \"%s...\", got: %s", want,
	              out);
	ck_assert_msg(line_count(out) == 1 && out[strlen(out) - 1] == '\n',
	              "not one line: %s", out);
}

#define RUN(code, out, ...)                                                    \
	do {                                                                   \
		const char *args_[] = { __VA_ARGS__, NULL };                   \
		ck_assert_int_eq(run_plugin(args_, (out), sizeof(out), NULL), (code)); \
	} while (0)

/* ---- the tests ---------------------------------------------------------- */

START_TEST(ok_with_perfdata)
{
	char out[4096], records[32], serial[32], want[96];
	info_value("records", records, sizeof(records));
	info_value("serial", serial, sizeof(serial));
	RUN(OK, out, "-H", server);
	assert_one_line(out, "PORTQ OK - ");
	const char *perf = strstr(out, " | ");
	ck_assert_msg(perf != NULL, "no perfdata: %s", out);
	ck_assert_msg(strncmp(perf, " | time=", 8) == 0, "perfdata not time first: %s", out);
	snprintf(want, sizeof(want), " records=%s;;;0", records);
	ck_assert_msg(strstr(perf, want) != NULL, "no \"%s\" in: %s", want, out);
	snprintf(want, sizeof(want), " serial=%s", serial);
	ck_assert_msg(strstr(perf, want) != NULL, "no \"%s\" in: %s", want, out);
	ck_assert(strstr(perf, " age_days=") != NULL);
	/* Text before the '|', numbers after it. */
	snprintf(want, sizeof(want), "%s records", records);
	ck_assert(strstr(out, want) != NULL && strstr(out, want) < perf);

	/* Thresholds it meets: OK still, and they show in the perfdata. */
	RUN(OK, out, "-H", server, "-w", "5", "-c", "9.5", "--min-records", records);
	assert_one_line(out, "PORTQ OK - ");
	ck_assert_msg(strstr(out, "s;5;9.5;0 ") != NULL, "thresholds: %s", out);
	snprintf(want, sizeof(want), " records=%s;;%s:;0", records, records);
	ck_assert_msg(strstr(out, want) != NULL, "no \"%s\" in: %s", want, out);

	/* Over TCP, and more lines only with -v. */
	RUN(OK, out, "-H", server, "--tcp", "-v");
	ck_assert_msg(strncmp(out, "PORTQ OK - ", 11) == 0 && line_count(out) > 1, "%s", out);
	ck_assert(strstr(out, "over tcp") != NULL);
	ck_assert(strstr(out, "\nsource iana-csv ") != NULL);
}
END_TEST

/* Whole days from the date INFO reports to now, as the plugin counts them. */
static long
registry_age_days(char *date, size_t len)
{
	info_value("registry-date", date, len);
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	ck_assert_ptr_nonnull(strptime(date, "%Y-%m-%d", &tm));
	return (long)((time(NULL) - timegm(&tm)) / 86400);
}

START_TEST(age_thresholds)
{
	char out[4096], date[32], below[24], above[24];
	long days = registry_age_days(date, sizeof(date));
	ck_assert_msg(days >= 2, "the snapshot (%s) is too recent to test its age", date);
	/* One day of margin either side: midnight may pass meanwhile. */
	snprintf(below, sizeof(below), "%ld", days - 2);
	snprintf(above, sizeof(above), "%ld", days + 2);

	RUN(WARNING, out, "-H", server, "--age-warning", below, "--age-critical", above);
	assert_one_line(out, "PORTQ WARNING - ");
	ck_assert_msg(strstr(out, date) != NULL, "no date %s in: %s", date, out);
	RUN(CRITICAL, out, "-H", server, "--age-warning", below, "--age-critical", below);
	assert_one_line(out, "PORTQ CRITICAL - registry ");
	RUN(OK, out, "-H", server, "--age-warning", above);
	assert_one_line(out, "PORTQ OK - ");
}
END_TEST

START_TEST(min_records)
{
	char out[4096], records[32], more[32];
	info_value("records", records, sizeof(records));
	snprintf(more, sizeof(more), "%lu", strtoul(records, NULL, 10) + 1);
	RUN(CRITICAL, out, "-H", server, "--min-records", more);
	assert_one_line(out, "PORTQ CRITICAL - ");
	char want[96];
	snprintf(want, sizeof(want), "%s records, fewer than %s", records, more);
	ck_assert_msg(strstr(out, want) != NULL, "no \"%s\" in: %s", want, out);
	RUN(OK, out, "-H", server, "--min-records", records);
}
END_TEST

START_TEST(expectations)
{
	/* What libportq says runs on 22/tcp, and where that service lives. */
	portq_client_t *c = client_new();
	portq_result_t *r;
	ck_assert_int_eq(portq_query_port(c, 22, "tcp", &r), PORTQ_OK);
	char name[64] = "";
	for (size_t i = 0; i < r->n_entries && name[0] == '\0'; i++)
		if (r->entries[i].assigned && r->entries[i].name[0])
			snprintf(name, sizeof(name), "%s", r->entries[i].name);
	portq_result_free(r);
	ck_assert_msg(name[0] != '\0', "nothing assigned at 22/tcp");
	ck_assert_int_eq(portq_query_name(c, name, "tcp", &r), PORTQ_OK);
	unsigned port = 0, past = 0;
	for (size_t i = 0; i < r->n_entries && past == 0; i++)
		if (r->entries[i].assigned && r->entries[i].has_port) {
			port = r->entries[i].port_lo;
			past = r->entries[i].port_hi + 1;
		}
	portq_result_free(r);
	ck_assert_msg(past != 0, "%s/tcp has no port", name);
	portq_client_free(c);

	char out[4096], x1[128], x2[128], x3[128], x4[128], want[160];
	snprintf(x1, sizeof(x1), "22/tcp=%s", name);
	snprintf(x2, sizeof(x2), "%s/tcp=%u", name, port);
	RUN(OK, out, "-H", server, "--expect", x1, "--expect", x2);
	assert_one_line(out, "PORTQ OK - ");
	ck_assert_msg(strstr(out, "2 lookups as expected") != NULL, "%s", out);

	/* Wrong answers: CRITICAL, naming what came back. */
	snprintf(x3, sizeof(x3), "22/tcp=not-%s", name);
	snprintf(x4, sizeof(x4), "%s/tcp=%u", name, past);
	RUN(CRITICAL, out, "-H", server, "--expect", x1, "--expect", x3, "--expect", x4);
	assert_one_line(out, "PORTQ CRITICAL - ");
	snprintf(want, sizeof(want), "22/tcp is %s, expected not-%s", name, name);
	ck_assert_msg(strstr(out, want) != NULL, "no \"%s\" in: %s", want, out);
	snprintf(want, sizeof(want), "%s/tcp is %u, expected %u", name, port, past);
	ck_assert_msg(strstr(out, want) != NULL, "no \"%s\" in: %s", want, out);
	ck_assert_msg(strstr(out, "1 lookup as expected") != NULL, "%s", out);

	RUN(CRITICAL, out, "-H", server, "--expect", "no-such-service-here=1");
	assert_one_line(out, "PORTQ CRITICAL - no-such-service-here: no such service");
}
END_TEST

START_TEST(no_server)
{
	char out[4096], list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", loopback_port_closed(SOCK_DGRAM));
	long long took;
	const char *args[] = { "-H", list, "-t", "5", NULL };
	ck_assert_int_eq(run_plugin(args, out, sizeof(out), &took), CRITICAL);
	assert_one_line(out, "PORTQ CRITICAL - ");
	ck_assert_msg(strstr(out, list) != NULL, "the server is not named: %s", out);
	ck_assert_msg(strchr(out, '|') == NULL, "perfdata with no answer: %s", out);
	ck_assert_msg(took < 5000, "took %lld ms with -t 5", took);
}
END_TEST

START_TEST(silent_server)
{
	/* Reads nothing, answers nothing; no TCP listener on the port. */
	unsigned port;
	int fd = loopback_socket_bound(SOCK_DGRAM, &port);
	char out[4096], list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", port);

	long long took;
	const char *args[] = { "-H", list, "-t", "1", NULL };
	ck_assert_int_eq(run_plugin(args, out, sizeof(out), &took), CRITICAL);
	assert_one_line(out, "PORTQ CRITICAL - ");
	ck_assert_msg(strstr(out, "no answer") != NULL, "%s", out);
	/* About the second it was given, not libportq's 2 x 2 s; the bound
	 * leaves room for a loaded machine. */
	ck_assert_msg(took < 2500, "took %lld ms with -t 1", took);
	/* It did ask. */
	char b[512];
	ck_assert_int_gt(recv(fd, b, sizeof(b), MSG_DONTWAIT), 0);

	/* The caller may want UNKNOWN for a timeout. */
	const char *unknown[] = { "-H", list, "-t", "1:unknown", NULL };
	ck_assert_int_eq(run_plugin(unknown, out, sizeof(out), NULL), UNKNOWN);
	assert_one_line(out, "PORTQ UNKNOWN - ");
	close(fd);
}
END_TEST

START_TEST(bad_arguments)
{
	static const char *const bad[][4] = {
		{ "--frobnicate", NULL },
		{ "-w", "abc", NULL },
		{ "-c", "10:20", NULL },
		{ "-w", ".5", NULL },
		{ "-t", "0", NULL },
		{ "-t", "5:sometimes", NULL },
		{ "--age-warning", "-1", NULL },
		{ "--min-records", "many", NULL },
		{ "--expect", "22/tcp", NULL },
		{ "--expect", "22/xyz=ssh", NULL },
		{ "--expect", "22=23", NULL },
		{ "--expect", "ssh=ftp", NULL },
		{ "-H", "a,b", NULL },
		{ "-H", "[::1", NULL },
		{ "stray", NULL },
		{ "-t", NULL },
	};
	char out[4096];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[8] = { "-H", server };
		for (size_t k = 0; bad[i][k] != NULL; k++)
			args[2 + k] = bad[i][k];
		ck_assert_msg(run_plugin(args, out, sizeof(out), NULL) == UNKNOWN,
		              "%s %s: not UNKNOWN: %s", bad[i][0], bad[i][1] ? bad[i][1] : "", out);
		assert_one_line(out, "PORTQ UNKNOWN - ");
	}
	/* --help and --version exit UNKNOWN too, as the guidelines ask. */
	RUN(UNKNOWN, out, "--help");
	ck_assert(strstr(out, "Usage: check_portq") != NULL);
	RUN(UNKNOWN, out, "-V");
	ck_assert(strncmp(out, "check_portq ", 12) == 0);
}
END_TEST

static Suite *
check_portq_suite(void)
{
	Suite *s = suite_create("check_portq");
	TCase *tc = tcase_create("plugin");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, ok_with_perfdata);
	tcase_add_test(tc, age_thresholds);
	tcase_add_test(tc, min_records);
	tcase_add_test(tc, expectations);
	tcase_add_test(tc, no_server);
	tcase_add_test(tc, silent_server);
	tcase_add_test(tc, bad_arguments);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = check_portq_suite };
