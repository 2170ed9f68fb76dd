/*
 * portqd_process.c -- the real portqd as a child of a test (see
 * portqd_process.h).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "portqd_process.h"

#define ARGS_MAX 16

/* The port of the log's "listening" line once "serving" follows it (the
 * registry is loaded); 0 until then. */
static unsigned
log_serving_port(const char *log)
{
	FILE *f = fopen(log, "r");
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
	return serving ? port : 0;
}

void
portqd_process_start(portqd_process_t *d, const char *listen, const char *const *args)
{
	char *argv[ARGS_MAX + 4];
	int n = 0;
	argv[n++] = (char *)"portqd";
	for (; args != NULL && args[n - 1] != NULL; n++) {
		ck_assert_int_lt(n, ARGS_MAX);
		argv[n] = (char *)args[n - 1];
	}
	argv[n++] = (char *)"--listen";
	argv[n++] = (char *)listen;
	argv[n] = NULL;

	memset(d, 0, sizeof(*d));
	snprintf(d->log, sizeof(d->log), "/tmp/portqd_process.XXXXXX");
	int fd = mkstemp(d->log);
	ck_assert_int_ge(fd, 0);
	d->pid = fork();
	ck_assert_int_ge(d->pid, 0);
	if (d->pid == 0) {
		dup2(fd, STDERR_FILENO);
		execv(PORTQD_PATH, argv);
		_exit(127);
	}
	close(fd);
	for (int tries = 0; tries < 600 && d->port == 0; tries++) {
		d->port = log_serving_port(d->log);
		int status;
		ck_assert_msg(waitpid(d->pid, &status, WNOHANG) == 0,
		              "portqd exited early (see %s)", d->log);
		if (d->port == 0)
			usleep(50 * 1000);
	}
	ck_assert_msg(d->port != 0, "portqd logged no port within 30 s (see %s)", d->log);
	/* The host part of `listen` ("127.0.0.1", "[::1]") with the port. */
	const char *colon = strrchr(listen, ':');
	int host_len = colon != NULL ? (int)(colon - listen) : (int)strlen(listen);
	snprintf(d->server, sizeof(d->server), "%.*s:%u", host_len, listen, d->port);
}

int
portqd_process_stop(portqd_process_t *d)
{
	if (d->pid <= 0)
		return -1;
	kill(d->pid, SIGTERM);
	int status = child_wait(d->pid, 10000);
	d->pid = 0;
	unlink(d->log);
	if (status < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int
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
