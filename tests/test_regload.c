/*
 * test_regload.c -- srv/regload.c: a load on a thread of its own, and
 * what happens when its deadline passes (regload_job_expire): a job done
 * by then is kept, not thrown away as timed out; a job still reading is
 * abandoned and counted as stuck until its thread has returned.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "regload.h"

#define SMALL PORTQ_FIXTURES "/iana-small.csv"

/*
 * A load that finished just as its deadline fired used to be freed by
 * the abandon and logged as timed out (the wait said "not done", the
 * thread finished, the abandon dropped the last reference). Now the
 * decision is taken under the job's lock and a done job is the caller's.
 */
START_TEST(expire_keeps_a_done_job)
{
	config_list_t files = { { (char *)"csv:" SMALL }, 1 };
	regload_limits_t lim = { .max_bytes = 1 << 20, .timeout_ms = 10000, .settle_ms = 0 };
	regload_job_t *j = regload_job_start(&files, 7, &lim, NULL, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(regload_job_wait(j, 10000), 1);
	char where[256];
	ck_assert_int_eq(regload_job_expire(j, where, sizeof(where)), REGLOAD_DONE);
	reg_error_t err;
	int rc = -1;
	registry_t *r = regload_job_finish(j, &err, &rc);
	ck_assert_msg(r != NULL, "the done load was lost: %s", err.text);
	ck_assert_int_eq(rc, PORTQ_OK);
	ck_assert_uint_eq(registry_serial(r), 7);
	ck_assert_uint_gt(registry_count(r), 0);
	registry_free(r);
	ck_assert_uint_eq(regload_stuck(), 0);
}
END_TEST

/* A job still reading (here: waiting a second for a file that was just
 * written to stay unchanged) is abandoned at its deadline, counted as
 * stuck, and no longer once its thread has returned and freed its work. */
START_TEST(expire_abandons_a_reading_job)
{
	char path[] = "/tmp/test_regload.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	FILE *in = fopen(SMALL, "r");
	ck_assert_ptr_nonnull(in);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
	fclose(in);
	ck_assert_int_eq(fclose(f), 0);
	char spec[64];
	snprintf(spec, sizeof(spec), "csv:%s", path);
	config_list_t files = { { spec }, 1 };
	regload_limits_t lim = { .max_bytes = 1 << 20, .timeout_ms = 10000, .settle_ms = 1000 };
	regload_job_t *j = regload_job_start(&files, 1, &lim, NULL, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(regload_job_wait(j, 100), 0);
	char where[256];
	ck_assert_int_eq(regload_job_expire(j, where, sizeof(where)), REGLOAD_ABANDONED);
	ck_assert_msg(strstr(where, "reading ") == where && strstr(where, path) != NULL,
	              "where: %s", where);
	ck_assert_uint_eq(regload_stuck(), 1);
	/* The file stays unchanged, the thread loads it, finds the job
	 * abandoned, frees what it built, and only then the count drops. */
	for (int i = 0; i < 500 && regload_stuck() > 0; i++)
		usleep(20 * 1000);
	ck_assert_uint_eq(regload_stuck(), 0);
	unlink(path);
}
END_TEST

static Suite *
regload_suite(void)
{
	Suite *s = suite_create("regload");
	TCase *tc = tcase_create("job");
	tcase_add_test(tc, expire_keeps_a_done_job);
	tcase_add_test(tc, expire_abandons_a_reading_job);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = regload_suite };
