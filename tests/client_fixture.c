/*
 * client_fixture.c -- the portqd fixture, the CSV and child processes for
 * libportq's suites (client_fixture.h).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client_fixture.h"

/* ---- work for a child process ----------------------------------------- */

void
child_expect(child_fn_t fn)
{
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char why[512];
		const char *fail = fn(why, sizeof(why));
		if (fail != NULL && write(pfd[1], fail, strlen(fail)) < 0)
			_exit(2);
		_exit(fail == NULL ? 0 : 1);
	}
	close(pfd[1]);
	int status = -1;
	int waited = 0;
	for (; waited < 1200 && waitpid(pid, &status, WNOHANG) != pid; waited++)
		usleep(50 * 1000);          /* 60 s: valgrind is slow */
	if (waited == 1200) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	char msg[512] = "";
	ssize_t n = read(pfd[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s (wait status %d)",
	              msg[0] ? msg : "the child did not finish", status);
}

/* ---- the CSV, read independently of srv/ --------------------------- */

csv_oracle_t csv;

void
csv_load(void)
{
	if (csv.rows == NULL)
		csv_oracle_load(&csv, CSV_PATH);
}

int
row_covers(const row_t *r, unsigned port)
{
	return r->has_port && r->lo <= port && port <= r->hi;
}

int
row_assigned(const row_t *r)
{
	return r->name[0] != '\0' && strcasecmp(r->desc, "De-registered") != 0;
}

int
row_unassigned(const row_t *r)
{
	return r->name[0] == '\0' && strcasestr(r->desc, "unassigned") != NULL;
}

int
port_assigned(unsigned port)
{
	for (size_t i = 0; i < csv.n; i++)
		if (row_covers(&csv.rows[i], port) && row_assigned(&csv.rows[i]))
			return 1;
	return 0;
}

int
port_free(unsigned port)
{
	for (size_t i = 0; i < csv.n; i++)
		if (row_covers(&csv.rows[i], port) && !row_unassigned(&csv.rows[i]))
			return 0;
	return 1;
}

int
port_assigned_tcp(unsigned port)
{
	for (size_t i = 0; i < csv.n; i++)
		if (row_covers(&csv.rows[i], port) && row_assigned(&csv.rows[i]) &&
		    (csv.rows[i].proto[0] == '\0' || strcmp(csv.rows[i].proto, "tcp") == 0))
			return 1;
	return 0;
}

const row_t *
row_named(const char *name, const char *proto)
{
	for (size_t i = 0; i < csv.n; i++)
		if (strcasecmp(csv.rows[i].name, name) == 0 && csv.rows[i].has_port &&
		    (proto == NULL || strcasecmp(csv.rows[i].proto, proto) == 0))
			return &csv.rows[i];
	return NULL;
}

/* ---- portqd ---------------------------------------------------------- */

portqd_process_t server;

const char *const csv_args[] = { "--registry", CSV_PATH, NULL };

char server_env[64];

void
fixture_up(void)
{
	portqd_process_start(&server, "127.0.0.1:0", csv_args);
	snprintf(server_env, sizeof(server_env), "127.0.0.1:%u", server.port);
	/* Only the servers a test names: never the machine's own portq.conf. */
	setenv("PORTQ_SERVER", server_env, 1);
}

void
fixture_down(void)
{
	portqd_process_stop(&server);
}

void
broad_server_start(portqd_process_t *d)
{
	char path[] = "/tmp/portq-broad-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs("Service Name,Port Number,Transport Protocol,Description\n", f);
	/* Names s0..: none holds the text, so it occurs once a record. */
	for (unsigned i = 0; i < BROAD_RECORDS; i++)
		fprintf(f, "s%u,%u,%s,%sq\n", i, 1 + i % 60000, i % 2 ? "udp" : "tcp",
		        BROAD_TEXT);
	ck_assert_int_eq(fclose(f), 0);
	char reg[64];
	snprintf(reg, sizeof(reg), "csv:%s", path);
	/* Not watched: the file goes once it is loaded, so a test that
	 * fails leaves none behind. */
	const char *const args[] = { "--registry", reg, "--watch", "no", NULL };
	portqd_process_start(d, "127.0.0.1:0", args);
	unlink(path);
}

void
client_options(portq_options_t *o, const char *servers, int timeout_ms, int attempts, int tcp)
{
	memset(o, 0, sizeof(*o));
	o->servers = servers ? servers : server_env;
	o->config_file = "";
	o->timeout_ms = timeout_ms;
	o->attempts = attempts;
	o->tcp = tcp;
}

portq_client_t *
client_new(const char *servers, int timeout_ms, int attempts, int tcp)
{
	portq_options_t o;
	client_options(&o, servers, timeout_ms, attempts, tcp);
	portq_client_t *c = NULL;
	ck_assert_int_eq(portq_client_new(&c, &o), PORTQ_OK);
	ck_assert_ptr_nonnull(c);
	return c;
}
