/*
 * test_reload_faults.c -- reloads of a registry file that has gone bad:
 * cut mid-row, binary garbage, emptied, gone, unreadable, and rewritten
 * in place while the server reads it. Each time the registry being
 * served must keep serving (answers still carry the old serial), and the
 * log must say "reload failed, still serving serial N: <why>" with the
 * file and line, or the system's reason. A good file put back afterwards
 * moves the serial forward.
 *
 * The server runs in-process on its own loop thread (server_fixture.h)
 * on a private copy of the IANA snapshot; reloads are asked for through
 * a uv_async, which is what SIGHUP does. log.c writes to stderr, so the
 * fixture points fd 2 at a file and reads it back.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check_main.h"
#include "answer.h"
#include "clock.h"
#include "server.h"
#include "server_fixture.h"

static server_fixture_t fx;

/* The server's log: fd 2 points at this file while a test runs. */
static struct {
	char path[160];
	int saved_stderr;
	long off;                      /* how far it has been read */
} server_log;

/* Write `len` bytes as the whole content of `path`, through a rename. */
static void
put_file(const char *path, const void *data, size_t len)
{
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(rename(tmp, path), 0);
}

/* The snapshot's bytes (NUL-terminated; the NUL is not counted). */
static char *
snapshot(size_t *len)
{
	FILE *f = fopen(FIXTURE_SNAPSHOT, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	ck_assert_int_gt(n, 0);
	rewind(f);
	char *data = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(fread(data, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	data[n] = '\0';
	*len = (size_t)n;
	return data;
}

static void
put_good_file(void)
{
	size_t len;
	char *data = snapshot(&len);
	put_file(fx.file, data, len);
	free(data);
}

/*
 * Each test runs in a child process that ends at the first failed
 * assertion, without its teardown. So the tests' folders live in one
 * folder that the parent makes before the tests and removes after them.
 */
static char base_dir[32];

static void
suite_setup(void)
{
	strcpy(base_dir, "/tmp/portq-reload-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base_dir));
}

static void
suite_teardown(void)
{
	fixture_tree_remove(base_dir);
}

static void
setup(void)
{
	fixture_init(&fx);
	fixture_copy_registry(&fx, base_dir);
	snprintf(server_log.path, sizeof(server_log.path), "%s/portqd.log", fx.dir);
	server_log.off = 0;

	/* Everything the server logs from here on lands in server_log. */
	int lfd = open(server_log.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	ck_assert_int_ge(lfd, 0);
	fflush(stderr);
	server_log.saved_stderr = dup(2);
	ck_assert_int_ge(server_log.saved_stderr, 0);
	ck_assert_int_eq(dup2(lfd, 2), 2);
	close(lfd);

	fx.cfg.watch = 0;                  /* reloads only when the test asks */
	fx.cfg.registry_max_bytes = 8 << 20; /* the snapshot is 1.1 MB */
	fx.cfg.workers = 2;                /* a worker on a thread takes the swap too */
	fixture_start(&fx);
}

static void
teardown(void)
{
	int close_rc = fixture_stop(&fx);
	/* Put stderr back, and show what the server said about reloads. */
	fflush(stderr);
	dup2(server_log.saved_stderr, 2);
	close(server_log.saved_stderr);
	FILE *f = fopen(server_log.path, "r");
	if (f != NULL) {
		char line[1200];
		while (fgets(line, sizeof(line), f) != NULL)
			if (strstr(line, "reload") != NULL)
				fputs(line, stderr);
		fclose(f);
	}
	ck_assert_int_eq(close_rc, 0);
	fixture_free(&fx);
}

/* ------------------------------------------------------------ helpers */

/*
 * The next reload outcome in the log ("reload failed ..." or
 * "reloaded: ..."), waiting up to timeout_ms; "" if none came.
 */
static const char *
next_reload_line(int timeout_ms)
{
	static char line[1200];
	long long end = portq__clock_ms() + timeout_ms;
	for (;;) {
		FILE *f = fopen(server_log.path, "r");
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(fseek(f, server_log.off, SEEK_SET), 0);
		while (fgets(line, sizeof(line), f) != NULL) {
			size_t n = strlen(line);
			if (n == 0 || line[n - 1] != '\n')
				break;                   /* a line still being written */
			server_log.off += (long)n;
			if (strstr(line, "reload failed") || strstr(line, "reloaded:")) {
				fclose(f);
				line[n - 1] = '\0';
				return line;
			}
		}
		fclose(f);
		if (portq__clock_ms() >= end)
			return "";
		usleep(10 * 1000);
	}
}

/* Ask a PORT question over UDP; 1 and its header when answered. */
static int
ask_port(uint16_t port, portq_header_t *h)
{
	uint8_t req[64], resp[PORTQ_MSG_MAX];
	portq_question_t q = { .port_lo = port, .transport = PORTQ_TP_TCP };
	size_t len = fixture_encode(req, sizeof(req), PORTQ_OP_PORT, port, &q);
	size_t n = fixture_udp_raw(&fx, req, len, resp, sizeof(resp), 2000);
	if (n < PORTQ_HEADER_LEN)
		return 0;
	wire_t r = wire_reader(resp, n);
	ck_assert_int_eq(portq_header_read(&r, h), PORTQ_OK);
	ck_assert_uint_eq(h->id, port);
	return 1;
}

/* The serial answers carry now; the answer must be a good one. */
static uint32_t
served_serial(void)
{
	portq_header_t h;
	ck_assert(ask_port(22, &h));                /* ssh: always assigned */
	ck_assert_uint_eq(h.rcode, PORTQ_RC_OK);
	ck_assert_uint_gt(h.ancount, 0);
	return h.serial;
}

/* One INFO counter, asked over UDP (the answer fits: no TC). */
static long long
info_counter(const char *key)
{
	uint8_t req[64], resp[PORTQ_MSG_MAX];
	portq_question_t q = { 0 };
	size_t len = fixture_encode(req, sizeof(req), PORTQ_OP_INFO, 5, &q);
	size_t n = fixture_udp_raw(&fx, req, len, resp, sizeof(resp), 2000);
	ck_assert_msg(n > 0, "no answer to INFO within 2 s");
	wire_t r = wire_reader(resp, n);
	portq_header_t h;
	portq_question_t echoed;
	ck_assert_int_eq(portq_header_read(&r, &h), PORTQ_OK);
	ck_assert(!(h.flags & PORTQ_FLAG_TC));
	ck_assert_int_eq(portq_question_read(&r, &echoed), PORTQ_OK);
	for (unsigned i = 0; i < h.ancount; i++) {
		portq_str_t k, v;
		ck_assert_int_eq(portq_info_read(&r, &k, &v), PORTQ_OK);
		if (k.len == strlen(key) && memcmp(k.ptr, key, k.len) == 0) {
			char val[32];
			snprintf(val, sizeof(val), "%.*s", (int)(v.len < 31 ? v.len : 31), v.ptr);
			return atoll(val);
		}
	}
	ck_abort_msg("INFO has no \"%s\"", key);
	return -1;
}

/* 1 when `line` holds "<path>:<digits>: " -- a file:line reason. */
static int
names_file_line(const char *line, const char *path)
{
	size_t plen = strlen(path);
	for (const char *p = strstr(line, path); p != NULL; p = strstr(p + 1, path)) {
		const char *q = p + plen;
		if (*q++ != ':' || *q < '0' || *q > '9')
			continue;
		while (*q >= '0' && *q <= '9')
			q++;
		if (q[0] == ':' && q[1] == ' ')
			return 1;
	}
	return 0;
}

/*
 * Ask for a reload of the file as it now is; it must fail with a line
 * naming `why` (a substring), and the registry already served must go
 * on answering with its serial. Returns the log line.
 */
static const char *
reload_must_fail(uint32_t serial, const char *why)
{
	long long failures = info_counter("reload-failures");
	fixture_reload(&fx);
	const char *line = next_reload_line(10000);
	ck_assert_msg(line[0] != '\0', "no reload outcome was logged");
	char want[80];
	snprintf(want, sizeof(want), "reload failed, still serving serial %u: ", serial);
	ck_assert_msg(strstr(line, want) != NULL, "expected \"%s\" in: %s", want, line);
	ck_assert_msg(strstr(line, why) != NULL, "expected \"%s\" in: %s", why, line);
	ck_assert_msg(strstr(line, "portqd[err]") != NULL, "not logged as an error: %s", line);
	/* The old registry keeps answering, with its serial. */
	for (int i = 0; i < 20; i++)
		ck_assert_uint_eq(served_serial(), serial);
	ck_assert_int_eq(info_counter("reload-failures"), failures + 1);
	ck_assert_int_eq(info_counter("records"), (long long)fx.records);
	return line;
}

/* Put the good file back: the reload succeeds and the serial moves on. */
static void
restore_moves_serial(uint32_t old)
{
	put_good_file();
	fixture_reload(&fx);
	const char *line = next_reload_line(10000);
	ck_assert_msg(strstr(line, "reloaded: ") != NULL, "good file did not load: %s", line);
	char want[64];
	snprintf(want, sizeof(want), "reloaded: %zu records, serial ", fx.records);
	ck_assert_msg(strstr(line, want) != NULL, "expected \"%s\" in: %s", want, line);
	/* Every worker switches between two batches: ask until both have. */
	uint32_t now = 0;
	for (int i = 0; i < 50; i++) {
		now = served_serial();
		if (now > old)
			break;
		usleep(20 * 1000);
	}
	ck_assert_uint_gt(now, old);
	for (int i = 0; i < 20; i++)
		ck_assert_uint_eq(served_serial(), now);
}

/*
 * The first row starting past `from` whose first `fields` fields hold no
 * quote and whose next field starts with three plain bytes: its offset,
 * and its line number (as load_csv counts lines, those inside quoted
 * fields included).
 */
static size_t
plain_row_after(const char *data, size_t len, size_t from, int fields, unsigned *line)
{
	int quoted = 0;
	unsigned ln = 1;
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '"')
			quoted = !quoted;
		if (data[i] != '\n')
			continue;
		ln++;
		if (quoted || i + 1 < from)
			continue;
		size_t row = i + 1, k = row;
		int commas = 0;
		while (k < len && data[k] != '\n' && data[k] != '"' && commas < fields)
			commas += data[k++] == ',';
		/* ...and at least three plain bytes in the field after them. */
		int plain = k + 3 <= len;
		for (size_t m = k; plain && m < k + 3; m++)
			plain = data[m] != ',' && data[m] != '\n' && data[m] != '\r' && data[m] != '"';
		if (commas == fields && plain) {
			*line = ln;
			return row;
		}
	}
	ck_abort_msg("no plain row after offset %zu", from);
	return 0;
}

/* ------------------------------------------------------------ tests */

START_TEST(truncated_mid_row)
{
	uint32_t serial = served_serial();
	ck_assert_uint_eq(serial, 1000);
	size_t len;
	char *data = snapshot(&len);
	/* Cut inside the description of a row halfway through the file. */
	unsigned line;
	size_t row = plain_row_after(data, len, len / 2, 3, &line);
	size_t cut = row;
	for (int commas = 0; commas < 3; cut++)
		commas += data[cut] == ',';
	cut += 2;                                     /* two bytes of the description */
	put_file(fx.file, data, cut);
	char why[200];
	snprintf(why, sizeof(why), "%s:%u: row has 4 fields, the header has 12", fx.file, line);
	reload_must_fail(serial, why);
	/* Cut in the middle of a port number: a row of two fields. */
	row = plain_row_after(data, len, len / 3, 1, &line);
	cut = row;
	while (data[cut] != ',')
		cut++;
	cut += 2;
	put_file(fx.file, data, cut);
	snprintf(why, sizeof(why), "%s:%u: row has 2 fields, the header has 12", fx.file, line);
	reload_must_fail(serial, why);
	free(data);
	restore_moves_serial(serial);
}
END_TEST

START_TEST(binary_garbage)
{
	uint32_t serial = served_serial();
	/* The header, then binary bytes with NULs: named by the NUL's line. */
	uint8_t junk[8192];
	unsigned seed = 12345;
	static const char header[] = "Service Name,Port Number,Transport Protocol,Description,"
	                             "Assignee,Contact,Registration Date,Modification Date,"
	                             "Reference,Service Code,Unauthorized Use Reported,"
	                             "Assignment Notes\n";
	memcpy(junk, header, sizeof(header) - 1);
	for (size_t i = sizeof(header) - 1; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand_r(&seed);
	junk[sizeof(header) - 1] = 0xFF;
	junk[sizeof(header)] = 0x00;                  /* the first NUL, on line 2 */
	put_file(fx.file, junk, sizeof(junk));
	char why[200];
	snprintf(why, sizeof(why), "%s:2: NUL byte", fx.file);
	reload_must_fail(serial, why);

	/* Random bytes without a NUL and without a header: still file:line. */
	for (size_t i = 0; i < sizeof(junk); i++)
		do
			junk[i] = (uint8_t)rand_r(&seed);
		while (junk[i] == 0);
	put_file(fx.file, junk, sizeof(junk));
	const char *line = reload_must_fail(serial, fx.file);
	ck_assert_msg(names_file_line(line, fx.file), "no file:line in: %s", line);

	/* An ELF binary where the registry should be. */
	int fd = open(PORTQD_PATH, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	static uint8_t elf[1 << 20];
	ssize_t n = read(fd, elf, sizeof(elf));
	close(fd);
	ck_assert_int_gt(n, 64);
	put_file(fx.file, elf, (size_t)n);
	line = reload_must_fail(serial, "NUL byte");
	ck_assert_msg(names_file_line(line, fx.file), "no file:line in: %s", line);
	restore_moves_serial(serial);
}
END_TEST

START_TEST(vanished_file)
{
	uint32_t serial = served_serial();
	ck_assert_int_eq(unlink(fx.file), 0);
	char why[200];
	snprintf(why, sizeof(why), "%s: %s", fx.file, strerror(ENOENT));
	reload_must_fail(serial, why);
	/* Twice in a row: nothing is left half-done by the first failure. */
	reload_must_fail(serial, why);
	restore_moves_serial(serial);
}
END_TEST

/*
 * A file the server may not read. As root, permissions do not stop a
 * read, so the path is made a folder instead, which open() accepts and
 * the loader must refuse all the same.
 */
START_TEST(unreadable_file)
{
	uint32_t serial = served_serial();
	char why[200];
	if (geteuid() == 0) {
		ck_assert_int_eq(unlink(fx.file), 0);
		ck_assert_int_eq(mkdir(fx.file, 0755), 0);
		snprintf(why, sizeof(why), "%s: not a regular file", fx.file);
		reload_must_fail(serial, why);
		ck_assert_int_eq(rmdir(fx.file), 0);
	} else {
		ck_assert_int_eq(chmod(fx.file, 0), 0);
		snprintf(why, sizeof(why), "%s: %s", fx.file, strerror(EACCES));
		reload_must_fail(serial, why);
		ck_assert_int_eq(chmod(fx.file, 0644), 0);
	}
	restore_moves_serial(serial);
}
END_TEST

/*
 * A file emptied (">" in a shell, or the first instant of a copy over
 * it) has nothing to serve: replacing a full registry with it must fail
 * like any other broken file, not leave every query NOTFOUND.
 */
START_TEST(emptied_file)
{
	uint32_t serial = served_serial();
	put_file(fx.file, "", 0);
	reload_must_fail(serial, fx.file);
	restore_moves_serial(serial);
}
END_TEST

/*
 * A FIFO put where the registry was: opening it used to wait for a
 * writer forever, and every later reload queued behind it. It must be
 * refused at once, and the next reload must run.
 */
START_TEST(fifo_swapped_in)
{
	uint32_t serial = served_serial();
	char fifo[200], why[240];
	snprintf(fifo, sizeof(fifo), "%s.fifo", fx.file);
	ck_assert_int_eq(mkfifo(fifo, 0644), 0);
	ck_assert_int_eq(rename(fifo, fx.file), 0);
	snprintf(why, sizeof(why), "%s: not a regular file (a FIFO)", fx.file);
	reload_must_fail(serial, why);
	reload_must_fail(serial, why);              /* the next one is not stuck */
	ck_assert_int_eq(unlink(fx.file), 0);
	restore_moves_serial(serial);
}
END_TEST

/* Appends to the registry file as fast as it can until told to stop. */
typedef struct {
	int stop;                          /* atomic */
	size_t written;
} grower_t;

static void *
grower_thread(void *arg)
{
	grower_t *g = arg;
	static char chunk[1 << 20];
	static const char row[] = "growing,40000,tcp,appended for ever,,,,,,,,\n";
	for (size_t i = 0; i + sizeof(row) - 1 <= sizeof(chunk); i += sizeof(row) - 1)
		memcpy(chunk + i, row, sizeof(row) - 1);
	size_t usable = sizeof(chunk) / (sizeof(row) - 1) * (sizeof(row) - 1);
	int fd = open(fx.file, O_WRONLY | O_APPEND | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	/* Bounded: 1 GiB, or 20 s, whichever comes first. */
	long long end = portq__clock_ms() + 20000;
	while (!__atomic_load_n(&g->stop, __ATOMIC_ACQUIRE) && g->written < ((size_t)1 << 30) &&
	       portq__clock_ms() < end) {
		ssize_t n = write(fd, chunk, usable);
		ck_assert_int_gt(n, 0);
		g->written += (size_t)n;
	}
	close(fd);
	return NULL;
}

/*
 * A registry file that keeps growing (a runaway writer, a log sent to
 * the wrong path): the reload used to chase it for as long as it grew.
 * It must stop at registry-max-bytes (8 MiB here) and say so, soon.
 */
START_TEST(growing_file)
{
	uint32_t serial = served_serial();
	grower_t g = { 0 };
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, grower_thread, &g), 0);
	while (__atomic_load_n(&g.written, __ATOMIC_RELAXED) < (8u << 20) + 1)
		usleep(1000);
	uint64_t t0 = portq__clock_ms();
	long long failures = info_counter("reload-failures");
	fixture_reload(&fx);
	const char *line = next_reload_line(10000);
	uint64_t took = portq__clock_ms() - t0;
	__atomic_store_n(&g.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	fprintf(stderr, "growing_file: reload refused in %llu ms, the file at %zu bytes when "
	        "the writer stopped\n", (unsigned long long)took, g.written);
	ck_assert_msg(line[0] != '\0', "no reload outcome within 10 s");
	ck_assert_msg(strstr(line, "reload failed, still serving serial") != NULL, "%s", line);
	ck_assert_msg(strstr(line, "registry-max-bytes (8388608)") != NULL, "%s", line);
	ck_assert_msg(strstr(line, fx.file) != NULL, "%s", line);
	ck_assert_int_eq(info_counter("reload-failures"), failures + 1);
	for (int i = 0; i < 20; i++)
		ck_assert_uint_eq(served_serial(), serial);
	restore_moves_serial(serial);
}
END_TEST

static const char csv_header[] = "Service Name,Port Number,Transport Protocol,Description,"
	"Assignee,Contact,Registration Date,Modification Date,Reference,Service Code,"
	"Unauthorized Use Reported,Assignment Notes\n";

/* A CSV with its header and nothing else: used to load as 0 records,
 * after which every lookup on every client failed. */
START_TEST(header_only_refused)
{
	uint32_t serial = served_serial();
	put_file(fx.file, csv_header, sizeof(csv_header) - 1);
	char why[240];
	snprintf(why, sizeof(why), "%s: no records", fx.file);
	reload_must_fail(serial, why);
	/* A comment alone reads as an empty services(5) file: refused too. */
	put_file(fx.file, "# nothing here\n", 15);
	reload_must_fail(serial, why);
	restore_moves_serial(serial);
}
END_TEST

static void
force_reload(server_fixture_t *f)
{
	server_reload_forced(f->srv);
}

/*
 * A reload to a registry far smaller than the one served (a cut
 * download, a half-copied file) is refused by reload-max-shrink (10 %
 * by default); a forced reload (SIGUSR2) takes it all the same.
 */
START_TEST(shrink_refused_unless_forced)
{
	uint32_t serial = served_serial();
	size_t len;
	char *data = snapshot(&len);
	/* The header and the first 10 rows. */
	size_t cut = 0;
	for (int lines = 0; lines < 11; cut++)
		lines += data[cut] == '\n';
	put_file(fx.file, data, cut);
	char why[200];
	snprintf(why, sizeof(why), "it would drop %zu of %zu records", fx.records - 10,
	         fx.records);
	const char *line = reload_must_fail(serial, why);
	ck_assert_msg(strstr(line, "more than reload-max-shrink (10%); SIGUSR2 reloads anyway"),
	              "%s", line);
	/* A small shrink passes: the file less its last 5 % of bytes, cut
	 * at the start of a row outside any quoted field. */
	unsigned ln;
	size_t keep = plain_row_after(data, len, len / 100 * 95, 0, &ln);
	put_file(fx.file, data, keep);
	fixture_reload(&fx);
	line = next_reload_line(10000);
	ck_assert_msg(strstr(line, "reloaded: ") != NULL, "a 9%% shrink was refused: %s", line);
	/* Forced: 10 records. */
	put_file(fx.file, data, cut);
	fixture_call(&fx, force_reload);
	line = next_reload_line(10000);
	ck_assert_msg(strstr(line, "reloaded: 10 records") != NULL, "forced: %s", line);
	free(data);
	restore_moves_serial(serial);
}
END_TEST

/*
 * A file written in place by one writer that pauses halfway (a copy over
 * a slow link; an editor's write): a reload at the pause, as the watch
 * makes one reload-delay after a change, used to serve the first half
 * (7,729 of 14,500 records). Now the half is refused (reload-max-shrink)
 * and the whole file, once written, is served.
 */
START_TEST(written_in_place_with_pause)
{
	uint32_t serial = served_serial();
	size_t len;
	char *data = snapshot(&len);
	unsigned line_no;
	size_t half = plain_row_after(data, len, len / 2, 0, &line_no);
	int fd = open(fx.file, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, half), (ssize_t)half);
	/* The pause: longer than reload-delay, so the file looks settled. */
	usleep(400 * 1000);
	fixture_reload(&fx);
	const char *line = next_reload_line(10000);
	ck_assert_msg(strstr(line, "reload failed, still serving serial") != NULL,
	              "the half-written file was served: %s", line);
	ck_assert_msg(strstr(line, "more than reload-max-shrink") != NULL, "%s", line);
	ck_assert_int_eq(info_counter("records"), (long long)fx.records);
	ck_assert_uint_eq(served_serial(), serial);
	ck_assert_int_eq(write(fd, data + half, len - half), (ssize_t)(len - half));
	ck_assert_int_eq(close(fd), 0);
	fixture_reload(&fx);
	line = next_reload_line(10000);
	char want[64];
	snprintf(want, sizeof(want), "reloaded: %zu records", fx.records);
	ck_assert_msg(strstr(line, want) != NULL, "the whole file: %s", line);
	free(data);
}
END_TEST

/* ---- a file rewritten while it is being read */

typedef struct {
	const char *data;
	size_t len;
	size_t *cuts, n_cuts;              /* where a piece may end */
	int rounds;
	int done;                          /* atomic */
	unsigned long pieces;
} writer_t;

/*
 * Where a prefix of the file cannot load: just after the first comma of
 * a row (a row of two fields), for rows that start outside any quoted
 * field and have no quote before that comma.
 */
static void
find_cuts(writer_t *wr)
{
	wr->cuts = malloc(wr->len * sizeof(*wr->cuts));
	ck_assert_ptr_nonnull(wr->cuts);
	int quoted = 0;
	for (size_t i = 0; i < wr->len; i++) {
		if (wr->data[i] == '"')
			quoted = !quoted;
		if (wr->data[i] != '\n' || quoted)
			continue;
		size_t k = i + 1;
		while (k < wr->len && wr->data[k] != ',' && wr->data[k] != '"' && wr->data[k] != '\n')
			k++;
		if (k < wr->len && wr->data[k] == ',')
			wr->cuts[wr->n_cuts++] = k + 1;
	}
	ck_assert_uint_gt(wr->n_cuts, 1000);
}

/*
 * Rewrite the file in place, in pieces of a few KiB, each ending in the
 * middle of a row (just after its first comma), with a pause between
 * pieces, over and over. So that no moment shows a valid file but the
 * last, each round starts by putting a NUL at offset 0 and cutting the
 * file to that one byte, and each piece is written back to front: its
 * tail first (leaving a hole of zeros, a NUL, at its first byte), then
 * its first byte. A reader can still catch a mix of two moments; then
 * it sees whatever it sees, and the server must cope.
 */
static void *
writer_thread(void *arg)
{
	writer_t *wr = arg;
	unsigned seed = 99;
	int fd = open(fx.file, O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	for (int round = 0; round < wr->rounds; round++) {
		ck_assert_int_eq(pwrite(fd, "", 1, 0), 1);
		ck_assert_int_eq(ftruncate(fd, 1), 0);
		size_t a = 0;
		while (a < wr->len) {
			/* The first cut at least a few KiB on, or the end. */
			size_t b = a + 2048 + (size_t)rand_r(&seed) % 8192, lo = 0, hi = wr->n_cuts;
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				if (wr->cuts[mid] < b)
					lo = mid + 1;
				else
					hi = mid;
			}
			b = lo < wr->n_cuts ? wr->cuts[lo] : wr->len;
			if (b - a > 1)
				ck_assert_int_eq(pwrite(fd, wr->data + a + 1, b - a - 1, (off_t)a + 1),
				                 (ssize_t)(b - a - 1));
			ck_assert_int_eq(pwrite(fd, wr->data + a, 1, (off_t)a), 1);
			wr->pieces++;
			a = b;
			usleep(1000 + (useconds_t)(rand_r(&seed) % 2000));
		}
	}
	close(fd);
	__atomic_store_n(&wr->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

START_TEST(rewritten_while_read)
{
	uint32_t first = served_serial();
	writer_t wr = { 0 };
	wr.data = snapshot(&wr.len);
	wr.rounds = 6;
	find_cuts(&wr);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, writer_thread, &wr), 0);
	/* Ask for reloads again and again, and questions between them. The
	 * two workers switch one after the other, so an answer may carry
	 * the serial before the last one seen: collect them all. */
	uint32_t seen[4096];
	int n_seen = 0, asked = 0, answered = 0;
	while (!__atomic_load_n(&wr.done, __ATOMIC_ACQUIRE)) {
		fixture_reload(&fx);
		for (int i = 0; i < 3; i++) {
			portq_header_t h;
			asked++;
			if (!ask_port((uint16_t)(20 + i), &h))
				continue;
			answered++;
			ck_assert(h.rcode == PORTQ_RC_OK || h.rcode == PORTQ_RC_NOTFOUND);
			int known = 0;
			for (int k = 0; k < n_seen && !known; k++)
				known = seen[k] == h.serial;
			if (!known && n_seen < 4096)
				seen[n_seen++] = h.serial;
		}
		usleep(5000);
	}
	pthread_join(th, NULL);
	free((void *)wr.data);
	free(wr.cuts);
	/* The file is whole again: one more reload takes it. */
	fixture_reload(&fx);
	usleep(100 * 1000);

	/* Read every outcome: each failure names the serial being served and
	 * a reason; each success moves the serial forward. */
	uint32_t cur = first, announced[4096];
	int failed = 0, loaded = 0, partial = 0;
	for (;;) {
		const char *line = next_reload_line(loaded + failed == 0 ? 10000 : 3000);
		if (line[0] == '\0')
			break;
		unsigned s;
		size_t records;
		const char *p;
		if ((p = strstr(line, "reload failed, still serving serial ")) != NULL) {
			ck_assert_int_eq(sscanf(p, "reload failed, still serving serial %u", &s), 1);
			ck_assert_msg(s == cur, "failure says serial %u, %u was served: %s", s, cur, line);
			ck_assert_msg(strstr(line, fx.file) != NULL, "no file named: %s", line);
			failed++;
		} else {
			p = strstr(line, "reloaded: ");
			ck_assert_ptr_nonnull(p);
			ck_assert_int_eq(sscanf(p, "reloaded: %zu records, serial %u", &records, &s), 2);
			ck_assert_uint_gt(s, cur);
			cur = s;
			if (loaded < 4096)
				announced[loaded] = s;
			loaded++;
			partial += records != fx.records;
		}
	}
	fprintf(stderr, "rewritten_while_read: %lu pieces in %d rounds; %d reloads failed, "
	        "%d succeeded (%d with part of the file); %d of %d questions answered\n",
	        wr.pieces, wr.rounds, failed, loaded, partial, answered, asked);
	ck_assert_int_eq(answered, asked);
	/* The server reads a file only once it has been quiet for
	 * reload-delay, and reads it again if it changed while read: so
	 * most asks merge into reloads that wait for the writer. Whatever
	 * it caught, it never served part of the file. */
	ck_assert_int_ge(loaded, 1);                  /* whole at the end */
	ck_assert_msg(partial == 0, "%d reloads served part of the file", partial);
	/* Every serial an answer carried was one the server announced. */
	for (int i = 0; i < n_seen; i++) {
		int known = seen[i] == first;
		for (int k = 0; k < loaded && k < 4096; k++)
			known |= announced[k] == seen[i];
		ck_assert_msg(known, "an answer carried serial %u, never announced", seen[i]);
	}
	/* The last outcome loaded the whole file, and it is what is served. */
	ck_assert_uint_eq(info_counter("records"), fx.records);
	ck_assert_uint_eq(served_serial(), cur);
	ck_assert_uint_gt(cur, first);
}
END_TEST

static Suite *
reload_faults_suite(void)
{
	Suite *s = suite_create("reload_faults");
	TCase *tc = tcase_create("faults");
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, truncated_mid_row);
	tcase_add_test(tc, binary_garbage);
	tcase_add_test(tc, vanished_file);
	tcase_add_test(tc, unreadable_file);
	tcase_add_test(tc, emptied_file);
	tcase_add_test(tc, rewritten_while_read);
	tcase_add_test(tc, fifo_swapped_in);
	tcase_add_test(tc, growing_file);
	tcase_add_test(tc, header_only_refused);
	tcase_add_test(tc, shrink_refused_unless_forced);
	tcase_add_test(tc, written_in_place_with_pause);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = reload_faults_suite, .ignore_sigpipe = 1 };
