/*
 * test_stats.c -- srv/stats.c: the INFO answer and the SIGUSR1 log line
 * report the same counters with the same values, because both come from
 * one sum (stats_sum) walked by one list (stats_each).
 *
 * Against a counter set where every counter has a value of its own, and
 * then against a running server: the INFO items its hook writes and the
 * line SIGUSR1 logs (read from stderr) name the same keys, in the same
 * order, with the same values but for what the INFO query itself moved.
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "server_fixture.h"
#include "stats.h"

#define MAX_ITEMS 128

typedef struct {
	char key[MAX_ITEMS][40];
	unsigned long long value[MAX_ITEMS];
	unsigned n;
} items_t;

static void
items_add(items_t *it, const char *key, size_t klen, const char *val, size_t vlen)
{
	ck_assert_uint_lt(it->n, MAX_ITEMS);
	ck_assert_uint_lt(klen, sizeof(it->key[0]));
	memcpy(it->key[it->n], key, klen);
	it->key[it->n][klen] = '\0';
	char v[32];
	ck_assert_uint_lt(vlen, sizeof(v));
	memcpy(v, val, vlen);
	v[vlen] = '\0';
	char *end;
	it->value[it->n] = strtoull(v, &end, 10);
	ck_assert_msg(vlen > 0 && *end == '\0', "%s: \"%s\" is not a number", it->key[it->n], v);
	it->n++;
}

/* INFO items in r from the one named `from` on (all of them: NULL). */
static void
items_from_info(wire_t *r, unsigned count, const char *from, items_t *it)
{
	int on = from == NULL;
	memset(it, 0, sizeof(*it));
	for (unsigned i = 0; i < count; i++) {
		portq_str_t k, v;
		ck_assert_int_eq(portq_info_read(r, &k, &v), PORTQ_OK);
		on |= from != NULL && k.len == strlen(from) && memcmp(k.ptr, from, k.len) == 0;
		if (on)
			items_add(it, k.ptr, k.len, v.ptr, v.len);
	}
	ck_assert_msg(it->n > 0, "no INFO item %s", from);
}

/* "key value, key value, ..." as stats_line() writes it. */
static void
items_from_line(const char *line, items_t *it)
{
	memset(it, 0, sizeof(*it));
	const char *p = line;
	while (*p != '\0' && *p != '\n') {
		const char *sp = strchr(p, ' ');
		ck_assert_ptr_nonnull(sp);
		const char *end = sp + 1;
		while (*end >= '0' && *end <= '9')
			end++;
		items_add(it, p, (size_t)(sp - p), sp + 1, (size_t)(end - sp - 1));
		if (end[0] == ',' && end[1] == ' ')
			end += 2;
		else
			ck_assert_msg(*end == '\0' || *end == '\n', "unexpected \"%s\"", end);
		p = end;
	}
}

static unsigned
items_find(const items_t *it, const char *key)
{
	for (unsigned i = 0; i < it->n; i++)
		if (strcmp(it->key[i], key) == 0)
			return i;
	ck_abort_msg("no %s", key);
	return 0;
}

/* ------------------------------------------------------------ the two reports */

/* Every counter its own value, so that a value reported under the wrong key shows. */
static void
distinct_counters(stats_t *sum)
{
	uint64_t *c = (uint64_t *)sum;
	_Static_assert(sizeof(stats_t) % sizeof(uint64_t) == 0, "stats_t is counters only");
	for (size_t i = 0; i < sizeof(*sum) / sizeof(uint64_t); i++)
		c[i] = 1000003u * (i + 1) + 7;
}

START_TEST(info_and_log_report_every_counter_alike)
{
	stats_t sum;
	distinct_counters(&sum);
	uint8_t buf[8192];
	wire_t w = wire_writer(buf, sizeof(buf));
	stats_info_write(&w, &sum);
	ck_assert_int_eq(w.error, PORTQ_OK);
	wire_t r = wire_reader(buf, wire_used(&w));
	items_t info, log;
	unsigned n = 0;
	portq_str_t k, v;
	for (wire_t c = r; wire_left(&c) > 0 && portq_info_read(&c, &k, &v) == PORTQ_OK;)
		n++;
	items_from_info(&r, n, NULL, &info);
	ck_assert_uint_eq(wire_left(&r), 0);

	char line[STATS_LINE_MAX];
	ck_assert_uint_lt(stats_line(&sum, line, sizeof(line)), sizeof(line));
	items_from_line(line, &log);

	/* Every counter of stats_t, once each, in both. */
	ck_assert_uint_eq(info.n, sizeof(stats_t) / sizeof(uint64_t));
	ck_assert_uint_eq(log.n, info.n);
	for (unsigned i = 0; i < info.n; i++) {
		ck_assert_str_eq(log.key[i], info.key[i]);
		ck_assert_uint_eq(log.value[i], info.value[i]);
		for (unsigned j = 0; j < i; j++) {
			ck_assert_str_ne(info.key[j], info.key[i]);
			ck_assert_uint_ne(info.value[j], info.value[i]);
		}
	}
	/* What the SIGUSR1 line left out before there was one list. */
	static const char *const once_missing[] = {
		"rcode-refused", "rcode-server-failure", "acl-refused", "rrl-limited",
		"rrl-slipped", "udp-send-errors", "udp-holds", "tcp-evicted", "uptime",
	};
	for (size_t i = 0; i < sizeof(once_missing) / sizeof(once_missing[0]); i++)
		(void)items_find(&log, once_missing[i]);
	ck_assert_uint_eq(log.value[items_find(&log, "uptime")], sum.uptime);
	ck_assert_uint_eq(log.value[items_find(&log, "tcp-open")], sum.tcp_open);
}
END_TEST

START_TEST(line_fits_the_largest_counters)
{
	stats_t sum;
	memset(&sum, 0xff, sizeof(sum));
	char line[STATS_LINE_MAX];
	size_t need = stats_line(&sum, line, sizeof(line));
	ck_assert_uint_lt(need, sizeof(line));
	ck_assert_uint_eq(strlen(line), need);
	/* and is cut, NUL-ended, where it does not fit */
	char small[40];
	ck_assert_uint_eq(stats_line(&sum, small, sizeof(small)), need);
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
}
END_TEST

/* ------------------------------------------------------------ a running server */

static server_fixture_t fx;

static void
setup(void)
{
	fixture_init(&fx);
	fixture_list_add(&fx.cfg.registry, FIXTURE_SNAPSHOT);
	fx.cfg.workers = 2;
	fixture_start(&fx);
}

static void
teardown(void)
{
	ck_assert_int_eq(fixture_stop(&fx), 0);
	fixture_free(&fx);
}

/* The line SIGUSR1 logs, read back from stderr. */
static void
sigusr1_line(char *line, size_t cap)
{
	char path[] = "/tmp/portq-stats-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	ck_assert_int_eq(raise(SIGUSR1), 0);
	static const char mark[] = "statistics, serial 1000: ";
	char text[8192];
	const char *at = NULL;
	for (int tries = 0; tries < 300 && at == NULL; tries++) {
		usleep(10 * 1000);
		ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
		text[n > 0 ? n : 0] = '\0';
		if ((at = strstr(text, mark)) != NULL && strchr(at, '\n') == NULL)
			at = NULL;                       /* not all of it yet */
	}
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
	ck_assert_msg(at != NULL, "no statistics line logged");
	snprintf(line, cap, "%s", at + strlen(mark));
}

START_TEST(info_and_sigusr1_agree_on_a_running_server)
{
	/* Some of everything: answers, a drop, an unknown opcode, a cut page. */
	uint8_t req[512], resp[PORTQ_MSG_MAX];
	portq_question_t q = { .port_lo = 80, .transport = PORTQ_TP_ANY };
	size_t len = fixture_encode(req, sizeof(req), PORTQ_OP_PORT, 1, &q);
	ck_assert_uint_gt(fixture_udp_raw(&fx, req, len, resp, sizeof(resp), 2000), 0);
	len = fixture_encode(req, sizeof(req), 9, 2, &q);
	ck_assert_uint_gt(fixture_udp_raw(&fx, req, len, resp, sizeof(resp), 2000), 0);
	portq_question_t r = { .port_lo = 1, .port_hi = 5000, .transport = PORTQ_TP_ANY };
	len = fixture_encode(req, sizeof(req), PORTQ_OP_RANGE, 3, &r);
	ck_assert_uint_gt(fixture_udp_raw(&fx, req, len, resp, sizeof(resp), 2000), 0);
	ck_assert_uint_eq(fixture_udp_raw(&fx, (const uint8_t *)"not portq at all, no",
	                                  20, resp, sizeof(resp), 300), 0);

	/* INFO over TCP (it does not fit a datagram), the connection kept open. */
	int fd = fixture_tcp_connect(&fx);
	portq_question_t none = { 0 };
	ck_assert_int_eq(fixture_tcp_send_query(fd, PORTQ_OP_INFO, 4, &none), 0);
	size_t n = fixture_tcp_read_frame(fd, resp, sizeof(resp));
	ck_assert_uint_ge(n, PORTQ_HEADER_LEN);
	wire_t rd = wire_reader(resp, n);
	portq_header_t h;
	portq_question_t echo;
	ck_assert_int_eq(portq_header_read(&rd, &h), PORTQ_OK);
	ck_assert_uint_eq(h.rcode, PORTQ_RC_OK);
	ck_assert_int_eq(portq_question_read(&rd, &echo), PORTQ_OK);
	items_t info, log;
	items_from_info(&rd, h.ancount, "queries-port", &info);

	char line[STATS_LINE_MAX];
	sigusr1_line(line, sizeof(line));
	close(fd);
	items_from_line(line, &log);

	ck_assert_uint_eq(log.n, info.n);
	for (unsigned i = 0; i < info.n; i++) {
		ck_assert_str_eq(log.key[i], info.key[i]);
		unsigned long long want = info.value[i];
		if (strcmp(info.key[i], "rcode-ok") == 0)
			want++;                          /* the INFO answer itself, counted after */
		if (strcmp(info.key[i], "uptime") == 0)
			ck_assert_uint_le(log.value[i] - want, 1);
		else
			ck_assert_msg(log.value[i] == want, "%s: INFO %llu, log %llu",
			              info.key[i], want, log.value[i]);
	}
	ck_assert_uint_eq(info.value[items_find(&info, "queries-port")], 1);
	ck_assert_uint_eq(info.value[items_find(&info, "queries-unknown-opcode")], 1);
	ck_assert_uint_eq(info.value[items_find(&info, "dropped")], 1);
	ck_assert_uint_ge(info.value[items_find(&info, "truncated")], 1);
	ck_assert_uint_eq(info.value[items_find(&info, "tcp-open")], 1);
	ck_assert_uint_eq(info.value[items_find(&info, "workers")], 2);
}
END_TEST

static Suite *
stats_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("reports");
	tcase_add_test(tc, info_and_log_report_every_counter_alike);
	tcase_add_test(tc, line_fits_the_largest_counters);
	suite_add_tcase(s, tc);
	TCase *live = tcase_create("running server");
	tcase_add_checked_fixture(live, setup, teardown);
	tcase_add_test(live, info_and_sigusr1_agree_on_a_running_server);
	suite_add_tcase(s, live);
	return s;
}

const check_suite_t check_suite = { .suite = stats_suite, .ignore_sigpipe = 1 };
