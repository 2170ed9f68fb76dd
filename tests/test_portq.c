/*
 * test_portq.c -- the portq command (client/portq.c), run as a
 * program against the real portqd: human and JSON output, exit codes, the
 * services(5) file.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>

#include "check_main.h"
#include "client_fixture.h"
#include "clock.h"
#include "loopback.h"
#include "utf8.h"

/* Run portq with args; its stdout in out, its stderr in err[0..errlen)
 * unless err is NULL; returns the exit status. */
static int
run_cli_err(char *out, size_t outlen, char *err, size_t errlen, const char *const *args)
{
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	FILE *errf = err != NULL ? tmpfile() : NULL;
	ck_assert(err == NULL || errf != NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		int null = open("/dev/null", O_WRONLY);
		dup2(errf != NULL ? fileno(errf) : null, STDERR_FILENO);
		close(pfd[0]);
		char *argv[16];
		int n = 0;
		argv[n++] = (char *)"portq";
		for (; args[n - 1] != NULL && n < 15; n++)
			argv[n] = (char *)args[n - 1];
		argv[n] = NULL;
		execv(PORTQ_CLI_PATH, argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t used = 0;
	long long deadline = portq__clock_ms() + 20000;
	while (portq__clock_ms() < deadline) {
		struct pollfd p = { pfd[0], POLLIN, 0 };
		if (poll(&p, 1, 1000) <= 0)
			continue;
		ssize_t n = read(pfd[0], out + used, outlen - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
		if (used == outlen - 1)
			break;
	}
	out[used] = '\0';
	close(pfd[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	if (errf != NULL) {
		rewind(errf);
		size_t n = fread(err, 1, errlen - 1, errf);
		err[n] = '\0';
		fclose(errf);
	}
	return WEXITSTATUS(status);
}

static int
run_cli(char *out, size_t outlen, const char *const *args)
{
	return run_cli_err(out, outlen, NULL, 0, args);
}

START_TEST(cli_outputs_and_exit_codes)
{
	csv_load();
	static char out[1 << 20];
	unsigned lo = 293, hi = 293;
	while (lo > 0 && port_free(lo - 1))
		lo--;
	while (hi < 65535 && port_free(hi + 1))
		hi++;
	char block[64];
	snprintf(block, sizeof(block), "%u-%u (%u ports)", lo, hi, hi - lo + 1);

	const char *free_port[] = { "--server", server_env, "293", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), free_port), 1);
	ck_assert_msg(strstr(out, block) != NULL, "no \"%s\" in:\n%s", block, out);
	ck_assert(strstr(out, "binding needs privileges") != NULL);

	const char *two[] = { "--server", server_env, "sftsrv", "1303/udp", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), two), 0);
	ck_assert(strstr(out, "sftsrv") != NULL);
	ck_assert(strstr(out, "[Robert_Frazier]") != NULL);

	const char *mixed[] = { "--server", server_env, "sftsrv", "no-such-service-here", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), mixed), 1);

	const char *json[] = { "--json", "--server", server_env, "293", "--info", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), json), 1);
	const char *head = "{\"version\":1,\"results\":[";
	ck_assert(strncmp(out, head, strlen(head)) == 0);
	ck_assert(strstr(out, "\"status\":\"not-assigned\"") != NULL);
	char fb[96];
	snprintf(fb, sizeof(fb), "\"free_block\":{\"first\":%u,\"last\":%u,\"size\":%u}",
	         lo, hi, hi - lo + 1);
	ck_assert_msg(strstr(out, fb) != NULL, "no %s", fb);
	ck_assert(strstr(out, "\"type\":\"info\"") != NULL);

	/* A name that is not UTF-8 is echoed as U+FFFD: the document stays
	 * JSON (before, the raw bytes went out). Valid UTF-8 goes out as is. */
	const char *latin1[] = { "--json", "--server", server_env, "caf\xE9", "\xC3\xA9t\xC3",
		"\xE2\x82\xAC\"", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), latin1), 1);
	ck_assert_msg(strstr(out, "\"query\":\"caf\\ufffd\"") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "\"query\":\"\xC3\xA9t\\ufffd\"") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "\"query\":\"\xE2\x82\xAC\\\"\"") != NULL, "%s", out);
	ck_assert_uint_eq(portq_utf8_valid_prefix(out, strlen(out)), strlen(out));

	const char *range[] = { "--server", server_env, "1300-1310", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), range), 0);
	ck_assert(strstr(out, "sftsrv") != NULL);

	char dead[64];
	snprintf(dead, sizeof(dead), "127.0.0.1:%u", loopback_port_closed(SOCK_DGRAM));
	const char *down[] = { "--server", dead, "--timeout", "200", "22", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), down), 2);
	const char *usage[] = { "--bogus", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), usage), 2);
	const char *bad_port[] = { "70000", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), bad_port), 2);
}
END_TEST

START_TEST(cli_services_file)
{
	csv_load();
	static char out[4 << 20];
	const char *args[] = { "--server", server_env, "--services", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), args), 0);
	/* Every line the CSV says should be there, for a few known names. */
	const char *names[] = { "ssh", "sftsrv", "http" };
	for (size_t k = 0; k < 3; k++)
		for (size_t i = 0; i < csv.n; i++) {
			const row_t *r = &csv.rows[i];
			if (strcmp(r->name, names[k]) != 0 || !r->has_port || r->lo != r->hi ||
			    !row_assigned(r))
				continue;
			char line[64];
			snprintf(line, sizeof(line), "\n%-15s %u/%s", r->name, r->lo, r->proto);
			ck_assert_msg(strstr(out, line) != NULL, "no line \"%s\"", line + 1);
		}
	/* Nothing unassigned, nothing unnamed, no ranges. */
	ck_assert(strstr(out, "\n288-") == NULL);
	ck_assert(strstr(out, "\n ") == NULL);
}
END_TEST

/*
 * A search the server stops at its work limit (PARTIAL, no records) is an
 * error, not "nothing matches": exit 2 with the reason on stderr, and
 * status "error" with that reason in JSON, the other queries answered as
 * usual. Before, portq printed "nothing matches" and exited 1 (JSON:
 * "not-found", "records":[]). A narrower search of the same server still
 * lists its matches.
 */
START_TEST(cli_search_too_broad)
{
	portqd_process_t d;
	broad_server_start(&d);
	static char out[1 << 20];
	char err[1024];
	const char *why = "search too broad: the server stopped at its work limit";

	const char *human[] = { "--server", d.server, "--search", BROAD_TEXT, NULL };
	ck_assert_int_eq(run_cli_err(out, sizeof(out), err, sizeof(err), human), 2);
	ck_assert_msg(strstr(err, why) != NULL, "stderr: %s", err);
	ck_assert_msg(strstr(err, "portq: " BROAD_TEXT ": ") == err, "stderr: %s", err);
	ck_assert_msg(strstr(err, "nothing matches") == NULL, "stderr: %s", err);
	ck_assert_str_eq(out, "");

	const char *json[] = { "--json", "--server", d.server, "--search", BROAD_TEXT,
		"s12345", NULL };
	ck_assert_int_eq(run_cli_err(out, sizeof(out), err, sizeof(err), json), 2);
	char want[256];
	snprintf(want, sizeof(want), "{\"query\":\"" BROAD_TEXT "\",\"type\":\"search\","
	         "\"protocol\":\"any\",\"status\":\"error\",\"error\":\"%s", why);
	ck_assert_msg(strstr(out, want) != NULL, "no %s in:\n%s", want, out);
	ck_assert_msg(strstr(out, "\"query\":\"s12345\",\"type\":\"name\","
	                          "\"protocol\":\"any\",\"status\":\"found\"") != NULL,
	              "%s", out);
	ck_assert_uint_eq(portq_utf8_valid_prefix(out, strlen(out)), strlen(out));

	/* A longer text matches a few records: well within the limit. */
	const char *narrow[] = { "--server", d.server, "--search", "s1234", NULL };
	ck_assert_int_eq(run_cli_err(out, sizeof(out), err, sizeof(err), narrow), 0);
	ck_assert_msg(strstr(out, "s12345") != NULL, "%s", out);
	ck_assert_str_eq(err, "");
	portqd_process_stop(&d);
}
END_TEST

static Suite *
portq_suite(void)
{
	Suite *s = suite_create("portq");
	TCase *tc = tcase_create("cli");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, cli_outputs_and_exit_codes);
	tcase_add_test(tc, cli_services_file);
	suite_add_tcase(s, tc);
	/* Its own server, on a generated registry: runs without the IANA data. */
	tc = tcase_create("too-broad");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, cli_search_too_broad);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = portq_suite };
