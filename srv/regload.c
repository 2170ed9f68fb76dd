/*
 * regload.c -- the configured registry files into a registry, within
 * limits, on the caller's thread or one of its own (see regload.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "format.h"
#include "log.h"
#include "regload.h"

static unsigned n_stuck;                 /* atomic */

void
regload_limits(const config_t *cfg, regload_limits_t *lim)
{
	lim->max_bytes = (size_t)cfg->registry_max_bytes;
	lim->timeout_ms = cfg->reload_timeout;
	lim->settle_ms = cfg->reload_delay;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
same_version(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ino == b->st_ino;
}

/*
 * Wait until `path` has not changed for settle_ms: its time is that old,
 * or two looks settle_ms apart saw the same size, time and inode. A file
 * written in place with pauses is thus read once its writer has gone
 * quiet. PORTQ_OK (also when stat fails: the read will say why), or
 * PORTQ_ETIMEDOUT at the deadline.
 */
static int
wait_quiet(const char *path, long settle_ms, size_t max_bytes, uint64_t deadline,
           reg_error_t *err)
{
	struct stat prev = { 0 }, st;
	int have_prev = 0;
	if (settle_ms <= 0)
		return PORTQ_OK;
	for (;;) {
		/* Not there, not a regular file, or too large already: the
		 * read refuses it at once, with its reason. */
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size > (max_bytes ? max_bytes : REG_MAX_BYTES_DEFAULT))
			return PORTQ_OK;
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		int64_t age_ms = ((int64_t)now.tv_sec - st.st_mtim.tv_sec) * 1000 +
		                 (now.tv_nsec - st.st_mtim.tv_nsec) / 1000000;
		if (age_ms >= settle_ms || (have_prev && same_version(&prev, &st)))
			return PORTQ_OK;
		uint64_t t = portq__clock_ms();
		if (deadline != 0 && t + (uint64_t)settle_ms > deadline) {
			snprintf(err->text, sizeof(err->text), "%s: still being written "
			         "(it kept changing until reload-timeout)", path);
			return PORTQ_ETIMEDOUT;
		}
		prev = st;
		have_prev = 1;
		sleep_ms(settle_ms);
	}
}

/* A registry that answers nothing, or a source that gave nothing, is a
 * broken download or a file caught at its first moment: never served. */
static int
check_floor(const registry_t *r, reg_error_t *err)
{
	for (size_t i = 0; i < registry_source_count(r); i++) {
		const reg_source_t *s = registry_source(r, i);
		if (s->rows == 0 && s->format != REG_FMT_LOCAL) {
			snprintf(err->text, sizeof(err->text), "%s: no records in this %s file "
			         "(a registry without records is never served)", s->path,
			         reg_format_name(s->format));
			return PORTQ_EPARSE;
		}
	}
	if (registry_count(r) == 0) {
		snprintf(err->text, sizeof(err->text), "%s: no records "
		         "(a registry without records is never served)",
		         registry_source_count(r) > 0 ? registry_source(r, 0)->path : "registry");
		return PORTQ_EPARSE;
	}
	return PORTQ_OK;
}

/* Exact repeats are dropped by the builder; the operator hears of them. */
static void
log_duplicates(const registry_t *r)
{
	for (size_t i = 0; i < registry_source_count(r); i++) {
		const reg_source_t *src = registry_source(r, i);
		if (src->duplicates > 0)
			log_warn("%s: %u duplicates dropped (rows that repeat an earlier "
			         "record exactly; the first on line %u)", src->path,
			         src->duplicates, src->first_duplicate);
	}
}

/* What the loading thread is at: a file's index, or -1 while indexing. */
typedef struct {
	pthread_mutex_t *lock;
	int *at;
} progress_t;

static void
progress_set(const progress_t *p, int at)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(p->lock);
	*p->at = at;
	pthread_mutex_unlock(p->lock);
}

static registry_t *
load(char *const *specs, int n, uint32_t serial, const regload_limits_t *lim,
     reg_error_t *err, int *rc_out, const progress_t *progress)
{
	uint64_t deadline = lim->timeout_ms > 0 ?
	                    portq__clock_ms() + (uint64_t)lim->timeout_ms : 0;
	int rc = PORTQ_OK;
	for (;;) {
		reg_builder_t *b = reg_builder_new();
		if (b == NULL) {
			snprintf(err->text, sizeof(err->text), "out of memory");
			rc = PORTQ_ENOMEM;
			break;
		}
		reg_builder_set_limits(b, lim->max_bytes, deadline);
		for (int i = 0; i < n && rc == PORTQ_OK; i++) {
			reg_format_t fmt;
			const char *path = reg_format_spec(specs[i], &fmt);
			progress_set(progress, i);
			rc = wait_quiet(path, lim->settle_ms, lim->max_bytes, deadline, err);
			if (rc == PORTQ_OK)
				rc = reg_builder_load(b, path, fmt, err);
		}
		if (rc == PORTQ_EAGAIN &&
		    (deadline == 0 || portq__clock_ms() + (uint64_t)lim->settle_ms < deadline)) {
			/* Changed while being read: read it all again once quiet. */
			reg_builder_free(b);
			rc = PORTQ_OK;
			sleep_ms(lim->settle_ms > 0 ? lim->settle_ms : 10);
			continue;
		}
		if (rc != PORTQ_OK) {
			reg_builder_free(b);
			break;
		}
		progress_set(progress, -1);
		registry_t *r = registry_build(b, serial);
		if (r == NULL) {
			snprintf(err->text, sizeof(err->text), "out of memory while indexing");
			rc = PORTQ_ENOMEM;
			break;
		}
		if ((rc = check_floor(r, err)) != PORTQ_OK) {
			registry_free(r);
			break;
		}
		log_duplicates(r);
		if (rc_out != NULL)
			*rc_out = PORTQ_OK;
		return r;
	}
	if (rc_out != NULL)
		*rc_out = rc;
	return NULL;
}

registry_t *
regload_files(const config_list_t *files, uint32_t serial,
              const regload_limits_t *lim, reg_error_t *err, int *rc)
{
	return load(files->items, files->n, serial, lim, err, rc, NULL);
}

int
regload_shrink_check(size_t before, size_t after, long max_pct, reg_error_t *err)
{
	if (after >= before || max_pct >= 100)
		return PORTQ_OK;
	size_t lost = before - after;
	/* lost / before > max_pct / 100, in integers. */
	if ((unsigned long long)lost * 100 <= (unsigned long long)before * (unsigned long long)max_pct)
		return PORTQ_OK;
	snprintf(err->text, sizeof(err->text), "it would drop %zu of %zu records (%.1f%%), "
	         "more than reload-max-shrink (%ld%%)", lost, before,
	         100.0 * (double)lost / (double)before, max_pct);
	return PORTQ_EPARSE;
}

/* ------------------------------------------------------------ on a thread */

struct regload_job {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int refs, done, abandoned;
	int at;                              /* progress: file index, -1 indexing */
	char **specs;
	int n;
	uint32_t serial;
	regload_limits_t lim;
	regload_notify_t notify;
	void *arg;
	registry_t *result;
	reg_error_t err;
	int rc;
};

static void
job_free(regload_job_t *j)
{
	int stuck = j->abandoned;
	for (int i = 0; i < j->n; i++)
		free(j->specs[i]);
	free(j->specs);
	registry_free(j->result);
	pthread_mutex_destroy(&j->lock);
	pthread_cond_destroy(&j->cv);
	free(j);
	/* Only now is an abandoned job's work over: main() takes the normal
	 * exit() once regload_stuck() is 0, which must not happen while
	 * its thread is still freeing what it built. */
	if (stuck)
		__atomic_sub_fetch(&n_stuck, 1, __ATOMIC_ACQ_REL);
}

/* Drop one reference; the last frees. Called with the lock held. */
static void
job_unref_locked(regload_job_t *j)
{
	int last = --j->refs == 0;
	pthread_mutex_unlock(&j->lock);
	if (last)
		job_free(j);
}

static void *
job_thread(void *arg)
{
	regload_job_t *j = arg;
	/* A reload beside a serving loop (one with notify) builds at the
	 * lowest priority: on a busy machine the new index may take longer,
	 * but the loops answering queries keep their CPU and their sockets
	 * do not overflow meanwhile (Linux: per thread). */
	if (j->notify != NULL)
		setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	progress_t p = { &j->lock, &j->at };
	reg_error_t err;
	int rc;
	registry_t *r = load(j->specs, j->n, j->serial, &j->lim, &err, &rc, &p);
	pthread_mutex_lock(&j->lock);
	j->result = r;
	j->err = err;
	j->rc = rc;
	j->done = 1;
	if (!j->abandoned && j->notify != NULL)
		j->notify(j->arg);
	pthread_cond_broadcast(&j->cv);
	job_unref_locked(j);
	return NULL;
}

regload_job_t *
regload_job_start(const config_list_t *files, uint32_t serial,
                  const regload_limits_t *lim, regload_notify_t notify, void *arg)
{
	regload_job_t *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return NULL;
	pthread_mutex_init(&j->lock, NULL);
	/* The waits are deadlines in elapsed time: a step of the wall clock
	 * must not shorten or stretch them. */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cv, &ca);
	pthread_condattr_destroy(&ca);
	j->specs = calloc((size_t)files->n + 1, sizeof(char *));
	if (j->specs == NULL) {
		job_free(j);
		return NULL;
	}
	for (; j->n < files->n; j->n++)
		if ((j->specs[j->n] = strdup(files->items[j->n])) == NULL) {
			job_free(j);
			return NULL;
		}
	j->serial = serial;
	j->lim = *lim;
	j->notify = notify;
	j->arg = arg;
	j->refs = 2;                         /* the thread's and the caller's */
	j->at = 0;
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&t, &attr, job_thread, j);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		job_free(j);
		return NULL;
	}
	return j;
}

int
regload_job_wait(regload_job_t *j, long timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&j->lock);
	while (!j->done && timeout_ms > 0 &&
	       pthread_cond_timedwait(&j->cv, &j->lock, &until) == 0)
		;
	int done = j->done;
	pthread_mutex_unlock(&j->lock);
	return done;
}

registry_t *
regload_job_finish(regload_job_t *j, reg_error_t *err, int *rc)
{
	pthread_mutex_lock(&j->lock);
	registry_t *r = j->result;
	j->result = NULL;
	*err = j->err;
	if (rc != NULL)
		*rc = j->rc;
	job_unref_locked(j);
	return r;
}

/* What the job is doing, under its lock. */
static void
job_where_locked(const regload_job_t *j, char *where, size_t n)
{
	if (where == NULL || n == 0)
		return;
	if (j->at >= 0 && j->at < j->n)
		snprintf(where, n, "reading %s", reg_format_spec(j->specs[j->at], NULL));
	else
		snprintf(where, n, "indexing");
}

void
regload_job_abandon(regload_job_t *j, char *where, size_t n)
{
	pthread_mutex_lock(&j->lock);
	job_where_locked(j, where, n);
	if (!j->done) {
		j->abandoned = 1;
		__atomic_add_fetch(&n_stuck, 1, __ATOMIC_ACQ_REL);
	}
	job_unref_locked(j);
}

regload_expiry_t
regload_job_expire(regload_job_t *j, char *where, size_t n)
{
	pthread_mutex_lock(&j->lock);
	job_where_locked(j, where, n);
	regload_expiry_t e = j->done ? REGLOAD_DONE :
	                     j->at < 0 ? REGLOAD_INDEXING : REGLOAD_ABANDONED;
	if (e != REGLOAD_ABANDONED) {
		/* Decided under the lock: a job done by now is the caller's
		 * to finish, never thrown away as "timed out". */
		pthread_mutex_unlock(&j->lock);
		return e;
	}
	j->abandoned = 1;
	__atomic_add_fetch(&n_stuck, 1, __ATOMIC_ACQ_REL);
	job_unref_locked(j);
	return e;
}

unsigned
regload_stuck(void)
{
	return __atomic_load_n(&n_stuck, __ATOMIC_ACQUIRE);
}
