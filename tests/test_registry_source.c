/*
 * test_registry_source.c -- the real portqd (PORTQD_PATH) given registry
 * files that block, or that hold too little: a FIFO and a hung mount at
 * --check, at start and at reload; SIGTERM while a reload is stuck; a
 * CSV with only its header; --check --previous and the shrink rule.
 * Every child is waited for with a deadline (child_wait): a hang fails
 * the test instead of hanging it.
 *
 * The hung mount is a FUSE file system served by this test (hung_fs.h),
 * in a private mount namespace: it answers until told to hang, and then
 * answers nothing, as a dead NFS server does.
 *
 * Every registry here is the small fixture (tests/fixtures/iana-small.csv,
 * 39 rows), never the IANA snapshot: the hung phases need a short
 * reload-timeout (1 s), and the loads that must succeed under that same
 * limit (the start, the good file after the hung ones) then index in
 * milliseconds, not in the ~0.1 s (1 s and more under AddressSanitizer on
 * a loaded machine) that the 14,000-row snapshot takes. What is proved is
 * the same: a blocked read is given up on, a good file then loads.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_main.h"
#include "clock.h"
#include "hung_fs.h"
#include "mount_ns.h"
#include "portqd_process.h"
#include "server_fixture.h"

#define REGISTRY PORTQ_FIXTURES "/iana-small.csv"

static char dir[64];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/portq-regsrc-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	fixture_tree_remove(dir);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	char *data = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n + 65536 > cap) {
			cap = cap * 2 + 65536;
			data = realloc(data, cap + 1);
			ck_assert_ptr_nonnull(data);
		}
		size_t got = fread(data + n, 1, 65536, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	data[n] = '\0';
	if (len != NULL)
		*len = n;
	return data;
}

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/*
 * Run portqd with args (NULL-terminated) and wait at most timeout_ms:
 * its exit code, or -1 if it had to be killed. Its stdout and stderr
 * land in out[0..n).
 */
static int
run_portqd(const char *const *args, int timeout_ms, char *out, size_t n)
{
	char log[96];
	snprintf(log, sizeof(log), "%s/run.log", dir);
	char *argv[24];
	int k = 0;
	argv[k++] = (char *)"portqd";
	for (; args[k - 1] != NULL; k++)
		argv[k] = (char *)args[k - 1];
	argv[k] = NULL;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(PORTQD_PATH, argv);
		_exit(127);
	}
	int status = child_wait(pid, timeout_ms);
	char *text = slurp(log, NULL);
	snprintf(out, n, "%s", text);
	free(text);
	if (status < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Wait up to timeout_ms for `what` in the file `log`; 1 if it came. */
static int
log_has(const char *log, const char *what, int timeout_ms)
{
	long long end = portq__clock_ms() + timeout_ms;
	do {
		char *text = slurp(log, NULL);
		int found = strstr(text, what) != NULL;
		free(text);
		if (found)
			return 1;
		usleep(20 * 1000);
	} while (portq__clock_ms() < end);
	return 0;
}

/* Lines of `log` holding `what`. */
static int
log_count(const char *log, const char *what)
{
	char *text = slurp(log, NULL);
	int n = 0;
	for (const char *p = strstr(text, what); p != NULL; p = strstr(p + 1, what))
		n++;
	free(text);
	return n;
}

/* The serial of an answer to PORT 22 from the running portqd; 0 if none. */
static uint32_t
served_serial(const portqd_process_t *d)
{
	server_fixture_t f;
	memset(&f, 0, sizeof(f));
	f.port = (uint16_t)d->port;
	uint8_t req[64], resp[PORTQ_MSG_MAX];
	portq_question_t q = { .port_lo = 22, .transport = PORTQ_TP_TCP };
	size_t len = fixture_encode(req, sizeof(req), PORTQ_OP_PORT, 22, &q);
	size_t n = fixture_udp_raw(&f, req, len, resp, sizeof(resp), 2000);
	if (n < PORTQ_HEADER_LEN)
		return 0;
	wire_t r = wire_reader(resp, n);
	portq_header_t h;
	ck_assert_int_eq(portq_header_read(&r, &h), PORTQ_OK);
	ck_assert_uint_eq(h.rcode, PORTQ_RC_OK);
	return h.serial;
}

/* A private mount namespace and a FUSE file holding REGISTRY; NULL
 * (after saying why) where FUSE or namespaces cannot be had. */
static hung_fs_t *
mount_hung_fs(char *file, size_t n)
{
	if (mount_ns_enter(stderr, "test_registry_source") < 0)
		return NULL;
	char mnt[96], why[256];
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	ck_assert_int_eq(mkdir(mnt, 0755), 0);
	size_t len;
	char *data = slurp(REGISTRY, &len);
	hung_fs_t *fs = hung_fs_mount(mnt, "registry.csv", data, len, why, sizeof(why));
	free(data);
	if (fs == NULL)
		fprintf(stderr, "SKIP: no FUSE here (%s)\n", why);
	snprintf(file, n, "%s/registry.csv", mnt);
	return fs;
}

/* Unmount the hung file system before the teardown walks the folder. */
static void
release_hung_fs(hung_fs_t *fs)
{
	char mnt[96];
	hung_fs_release(fs);
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	rmdir(mnt);
}

/* ------------------------------------------------------------ FIFOs */

/* --check on a FIFO used to wait in open() for a writer that never came. */
START_TEST(check_fifo_refused)
{
	char fifo[96], out[4096];
	snprintf(fifo, sizeof(fifo), "%s/registry.csv", dir);
	ck_assert_int_eq(mkfifo(fifo, 0644), 0);
	const char *args[] = { "--check", "--registry", fifo, NULL };
	int rc = run_portqd(args, 10000, out, sizeof(out));
	ck_assert_msg(rc == 1, "portqd --check on a FIFO: %s (exit %d): %s",
	              rc < 0 ? "still waiting after 10 s" : "wrong exit", rc, out);
	char want[160];
	snprintf(want, sizeof(want), "%s: not a regular file (a FIFO)", fifo);
	ck_assert_msg(strstr(out, want) != NULL, "expected \"%s\" in: %s", want, out);
}
END_TEST

/* ... and so did the start. */
START_TEST(start_fifo_refused)
{
	char fifo[96], out[4096];
	snprintf(fifo, sizeof(fifo), "%s/registry.csv", dir);
	ck_assert_int_eq(mkfifo(fifo, 0644), 0);
	const char *args[] = { "--registry", fifo, "--listen", "127.0.0.1:0", NULL };
	int rc = run_portqd(args, 10000, out, sizeof(out));
	ck_assert_msg(rc == 1, "portqd on a FIFO: exit %d: %s", rc, out);
	ck_assert_msg(strstr(out, "not a regular file (a FIFO)") != NULL, "%s", out);
}
END_TEST

/* ------------------------------------------------------------ a hung mount */

/* --check on a file whose mount does not answer: an error within
 * reload-timeout (here 1 s), not a hang. */
START_TEST(check_hung_mount_times_out)
{
	char file[128], out[4096];
	hung_fs_t *fs = mount_hung_fs(file, sizeof(file));
	if (fs == NULL)
		return;
	hung_fs_hang(fs);
	const char *args[] = { "--check", "--reload-timeout", "1000", "--registry", file, NULL };
	uint64_t t0 = portq__clock_ms();
	int rc = run_portqd(args, 10000, out, sizeof(out));
	uint64_t took = portq__clock_ms() - t0;
	release_hung_fs(fs);
	ck_assert_msg(rc == 1, "portqd --check on a hung mount: exit %d: %s", rc, out);
	ck_assert_msg(strstr(out, "timed out after 1000 ms reading") != NULL, "%s", out);
	ck_assert_msg(strstr(out, file) != NULL, "the file is not named: %s", out);
	fprintf(stderr, "check_hung_mount_times_out: exit 1 after %llu ms\n",
	        (unsigned long long)took);
}
END_TEST

/*
 * A reload of a file on a mount that stops answering: given up on at
 * reload-timeout (1 s here), logged and counted; the registry served
 * stays; the next reload is not skipped (it times out too, while the
 * first one's thread is still stuck); a good file then loads; and
 * SIGTERM ends portqd at once while a reload is stuck.
 */
START_TEST(reload_hung_mount)
{
	char file[128], good[96];
	hung_fs_t *fs = mount_hung_fs(file, sizeof(file));
	if (fs == NULL)
		return;
	char link[96];
	snprintf(link, sizeof(link), "%s/registry.csv", dir);
	ck_assert_int_eq(symlink(file, link), 0);
	portqd_process_t d;
	const char *args[] = { "--registry", link, "--watch", "no", "--reload-timeout", "1000",
	                       NULL };
	portqd_process_start(&d, "127.0.0.1:0", args);
	uint32_t serial = served_serial(&d);
	ck_assert_uint_gt(serial, 0);

	hung_fs_hang(fs);
	kill(d.pid, SIGHUP);
	ck_assert_msg(log_has(d.log, "timed out after 1000 ms reading", 8000),
	              "no timeout logged (see %s)", d.log);
	char want[160];
	snprintf(want, sizeof(want), "reload failed, still serving serial %u: timed out", serial);
	ck_assert_msg(log_count(d.log, want) == 1, "expected \"%s\" (see %s)", want, d.log);
	ck_assert_uint_eq(served_serial(&d), serial);
	/* The next reload runs (and waits) too: not silently skipped. */
	kill(d.pid, SIGHUP);
	long long end = portq__clock_ms() + 8000;
	while (log_count(d.log, want) < 2 && portq__clock_ms() < end)
		usleep(20 * 1000);
	ck_assert_int_eq(log_count(d.log, want), 2);
	kill(d.pid, SIGUSR1);
	ck_assert_msg(log_has(d.log, "reload-failures 2, reload-timeouts 2, reload-stuck 2", 5000),
	              "statistics do not count the timeouts (see %s)", d.log);

	/* A good file in its place loads, stuck threads or not. */
	snprintf(good, sizeof(good), "%s/good.csv", dir);
	size_t len;
	char *data = slurp(REGISTRY, &len);
	write_file(good, data, len);
	free(data);
	ck_assert_int_eq(rename(good, link), 0);
	/* One SIGHUP: the small file loads well within the 1 s limit. */
	kill(d.pid, SIGHUP);
	ck_assert_msg(log_has(d.log, "reloaded: ", 8000), "no reload (see %s)", d.log);
	ck_assert_int_eq(log_count(d.log, "reload failed"), 2);
	uint32_t now = served_serial(&d);
	ck_assert_uint_gt(now, serial);

	/* And one more stuck reload, under way when SIGTERM comes. */
	ck_assert_int_eq(unlink(link), 0);
	ck_assert_int_eq(symlink(file, link), 0);
	kill(d.pid, SIGHUP);
	usleep(500 * 1000);
	ck_assert(hung_fs_pending(fs));
	uint64_t t0 = portq__clock_ms();
	kill(d.pid, SIGTERM);
	int status = child_wait(d.pid, 10000);
	uint64_t took = portq__clock_ms() - t0;
	int left_behind = log_count(d.log, "stopping with a reload still running (reading ");
	d.pid = 0;
	unlink(d.log);
	release_hung_fs(fs);
	fprintf(stderr, "reload_hung_mount: SIGTERM with a reload stuck: status %d in %llu ms\n",
	        status, (unsigned long long)took);
	ck_assert_msg(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "portqd did not stop on SIGTERM with a reload stuck (status %d)", status);
	ck_assert_int_eq(left_behind, 1);
	ck_assert_uint_lt(took, 5000);
}
END_TEST

/* ------------------------------------------------------------ too little */

static const char csv_header[] = "Service Name,Port Number,Transport Protocol,Description,"
	"Assignee,Contact,Registration Date,Modification Date,Reference,Service Code,"
	"Unauthorized Use Reported,Assignment Notes\n";

/* A CSV with only its header used to pass --check (0 records). */
START_TEST(check_header_only_refused)
{
	char file[96], out[4096];
	snprintf(file, sizeof(file), "%s/registry.csv", dir);
	write_file(file, csv_header, sizeof(csv_header) - 1);
	const char *args[] = { "--check", "--registry", file, NULL };
	int rc = run_portqd(args, 10000, out, sizeof(out));
	ck_assert_msg(rc == 1, "header-only CSV: exit %d: %s", rc, out);
	ck_assert_msg(strstr(out, "no records") != NULL, "%s", out);
	/* And the start refuses it too. */
	const char *start[] = { "--registry", file, "--listen", "127.0.0.1:0", NULL };
	rc = run_portqd(start, 10000, out, sizeof(out));
	ck_assert_msg(rc == 1, "portqd started on a header-only CSV: %d: %s", rc, out);
}
END_TEST

/* --check --previous: the shrink rule against the installed copy. */
START_TEST(check_previous_shrink)
{
	char tiny[96], full[96], out[4096];
	snprintf(tiny, sizeof(tiny), "%s/tiny.csv", dir);
	snprintf(full, sizeof(full), "%s/full.csv", dir);
	size_t len;
	char *data = slurp(REGISTRY, &len);
	write_file(full, data, len);
	size_t cut = 0;
	for (int lines = 0; lines < 2; cut++)
		lines += data[cut] == '\n';
	write_file(tiny, data, cut);               /* the header and one row */
	free(data);
	char prev[128], cur[128];
	snprintf(prev, sizeof(prev), "csv:%s", full);
	snprintf(cur, sizeof(cur), "csv:%s", tiny);
	const char *a1[] = { "--check", "--registry", cur, "--previous", prev, NULL };
	int rc = run_portqd(a1, 10000, out, sizeof(out));
	ck_assert_msg(rc == 1, "a 1-record registry replacing the full one: %d: %s", rc, out);
	ck_assert_msg(strstr(out, "would drop") && strstr(out, "reload-max-shrink (10%)"),
	              "%s", out);
	const char *a2[] = { "--check", "--registry", cur, "--previous", prev,
	                     "--reload-max-shrink", "100", NULL };
	rc = run_portqd(a2, 10000, out, sizeof(out));
	ck_assert_msg(rc == 0, "with reload-max-shrink 100: %d: %s", rc, out);
	const char *a3[] = { "--check", "--registry", prev, "--previous", cur, NULL };
	rc = run_portqd(a3, 10000, out, sizeof(out));
	ck_assert_msg(rc == 0, "growing is fine: %d: %s", rc, out);
	const char *a4[] = { "--registry", cur, "--previous", prev, NULL };
	rc = run_portqd(a4, 10000, out, sizeof(out));
	ck_assert_msg(rc == 2, "--previous without --check: %d: %s", rc, out);
}
END_TEST

static Suite *
registry_source_suite(void)
{
	Suite *s = suite_create("registry_source");
	TCase *tc = tcase_create("blocking");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, check_fifo_refused);
	tcase_add_test(tc, start_fifo_refused);
	tcase_add_test(tc, check_hung_mount_times_out);
	tcase_add_test(tc, reload_hung_mount);
	suite_add_tcase(s, tc);
	tc = tcase_create("too_little");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, check_header_only_refused);
	tcase_add_test(tc, check_previous_shrink);
	suite_add_tcase(s, tc);
	return s;
}

/* The hung mount needs a test per process (a namespace of its own). */
const check_suite_t check_suite = { .suite = registry_source_suite, .ignore_sigpipe = 1,
                                    .fork_each = 1 };
