/*
 * reload.c -- the registry portqd serves and its replacement (see
 * reload.h). The registry is shared read-only by all workers and
 * counted: a reload, run by regload.c on a thread of its own and given
 * up on at reload-timeout, publishes a new one under a mutex and wakes
 * every worker, each of which takes it between two batches and drops
 * the old one; the last to drop it frees it. A reload comes from
 * SIGHUP/SIGUSR2 (server.c), server_reload(), or a change that the
 * watch on the registry files' folders sees.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format.h"
#include "log.h"
#include "reload.h"

shared_reg_t *
shared_new(registry_t *reg)
{
	shared_reg_t *sr = malloc(sizeof(*sr));
	if (sr != NULL) {
		sr->reg = reg;
		sr->refs = 1;
	}
	return sr;
}

void
shared_release(shared_reg_t *sr)
{
	if (sr != NULL && __atomic_sub_fetch(&sr->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		registry_free(sr->reg);
		free(sr);
	}
}

shared_reg_t *
shared_acquire(server_t *s)
{
	pthread_mutex_lock(&s->reg_lock);
	shared_reg_t *sr = s->current;
	__atomic_add_fetch(&sr->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&s->reg_lock);
	return sr;
}
void
worker_refresh(worker_t *w)
{
	shared_reg_t *fresh = shared_acquire(w->srv);
	shared_reg_t *old = w->reg;
	w->reg = fresh;
	shared_release(old);
}

uint32_t
reload_serial(const server_t *s)
{
	return registry_serial(s->current->reg);
}

static void
reload_failed(server_t *s, const char *why, int timed_out)
{
	STAT_ADD(s->reload_failures, 1);
	if (timed_out)
		STAT_ADD(s->reload_timeouts, 1);
	log_err("reload failed, still serving serial %u: %s", reload_serial(s), why);
}

/* The job is done (or was given up on): start the next one if asked. */
static void
reload_next(server_t *s)
{
	uv_timer_stop(&s->reload_deadline);
	if (s->reload_again && !s->stopping) {
		int forced = s->reload_again_forced;
		s->reload_again = s->reload_again_forced = 0;
		reload_start(s, forced);
	}
}

static void
reload_publish(server_t *s, registry_t *fresh)
{
	shared_reg_t *sr = shared_new(fresh);
	if (sr == NULL) {
		registry_free(fresh);
		reload_failed(s, "out of memory", 0);
		return;
	}
	/* Publish; each worker switches between two batches. */
	pthread_mutex_lock(&s->reg_lock);
	shared_reg_t *old = s->current;
	s->current = sr;
	pthread_mutex_unlock(&s->reg_lock);
	shared_release(old);
	worker_refresh(s->workers[0]);
	for (int i = 1; i < s->n_workers; i++)
		uv_async_send(&s->workers[i]->wake);
	STAT_ADD(s->reloads, 1);
	log_info("reloaded: %zu records, serial %u", registry_count(fresh),
	         registry_serial(fresh));
}

static void
reload_done(server_t *s)
{
	reg_error_t err;
	int rc;
	registry_t *fresh = regload_job_finish(s->reload_job, &err, &rc);
	s->reload_job = NULL;
	if (fresh == NULL) {
		reload_failed(s, err.text, rc == PORTQ_ETIMEDOUT);
	} else if (s->stopping) {
		registry_free(fresh);
	} else if (!s->reload_forced &&
	           regload_shrink_check(registry_count(s->current->reg), registry_count(fresh),
	                                s->cfg->reload_max_shrink, &err) != PORTQ_OK) {
		char why[sizeof(err.text) + 64];
		snprintf(why, sizeof(why), "%s; SIGUSR2 reloads anyway", err.text);
		registry_free(fresh);
		reload_failed(s, why, 0);
	} else {
		reload_publish(s, fresh);
	}
	reload_next(s);
}

/* On the reload thread: wake the loop (never after abandon). */
static void
reload_notify(void *arg)
{
	uv_async_send(arg);
}

static void
reload_async_fired(uv_async_t *a)
{
	server_t *s = a->data;
	if (s->reload_job != NULL && regload_job_wait(s->reload_job, 0))
		reload_done(s);
}

static void
reload_deadline_fired(uv_timer_t *t)
{
	server_t *s = t->data;
	if (s->reload_job == NULL)
		return;
	char where[4200], why[4400];
	regload_expiry_t e = regload_job_expire(s->reload_job, where, sizeof(where));
	if (e == REGLOAD_DONE) {
		reload_done(s);                  /* it made it after all */
		return;
	}
	if (e == REGLOAD_INDEXING) {             /* cannot block; slow at nice 19 */
		uv_timer_start(t, reload_deadline_fired, (uint64_t)s->cfg->reload_timeout, 0);
		return;
	}
	s->reload_job = NULL;
	snprintf(why, sizeof(why), "timed out after %ld ms %s (reload-timeout); "
	         "its thread is left to finish on its own", s->cfg->reload_timeout, where);
	reload_failed(s, why, 1);
	reload_next(s);
}

void
reload_start(server_t *s, int forced)
{
	if (s->stopping)
		return;
	if (s->reload_job != NULL) {
		s->reload_again = 1;             /* the file changed again while loading */
		s->reload_again_forced |= forced;
		return;
	}
	if (regload_stuck() >= REGLOAD_MAX_STUCK) {
		char why[160];
		snprintf(why, sizeof(why), "%u earlier reloads are still stuck reading "
		         "their files; not starting another", regload_stuck());
		reload_failed(s, why, 0);
		return;
	}
	/* A serial that always moves forward, even twice in one second. */
	uint32_t now = (uint32_t)time(NULL), cur = reload_serial(s);
	uint32_t serial = now > cur ? now : cur + 1;
	regload_limits_t lim;
	regload_limits(s->cfg, &lim);
	s->reload_forced = forced;
	s->reload_job = regload_job_start(&s->cfg->registry, serial, &lim, reload_notify,
	                                  &s->reload_async);
	if (s->reload_job == NULL) {
		reload_failed(s, "cannot start the reload thread", 0);
		return;
	}
	uv_timer_start(&s->reload_deadline, reload_deadline_fired,
	               (uint64_t)s->cfg->reload_timeout, 0);
}

static void
reload_timer_fired(uv_timer_t *t)
{
	reload_start(t->data, 0);
}

static void
watch_event(uv_fs_event_t *ev, const char *filename, int events, int status)
{
	watch_t *wt = container_of(ev, watch_t, ev);
	server_t *s = wt->srv;
	(void)events;
	if (status < 0 || s->stopping)
		return;
	/* The folder is watched, so that a file replaced by rename counts. */
	int ours = filename == NULL;
	for (int i = 0; i < s->cfg->registry.n && !ours; i++) {
		char base[4096], dir[4096];
		snprintf(base, sizeof(base), "%s",
		         reg_format_spec(s->cfg->registry.items[i], NULL));
		snprintf(dir, sizeof(dir), "%s", base);
		if (strcmp(basename(base), filename) == 0 && strcmp(dirname(dir), wt->dir) == 0)
			ours = 1;
	}
	if (ours)
		uv_timer_start(&s->reload_timer, reload_timer_fired,
		               (uint64_t)s->cfg->reload_delay, 0);
}

static void
watch_closed(uv_handle_t *h)
{
	free(container_of((uv_fs_event_t *)h, watch_t, ev));
}

int
reload_watch_start(server_t *s)
{
	for (int i = 0; i < s->cfg->registry.n; i++) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s",
		         reg_format_spec(s->cfg->registry.items[i], NULL));
		const char *d = dirname(dir);
		int seen = 0;
		for (int k = 0; k < s->n_watch; k++)
			seen |= strcmp(s->watch[k]->dir, d) == 0;
		if (seen)
			continue;
		watch_t *wt = calloc(1, sizeof(*wt));
		if (wt == NULL)
			return UV_ENOMEM;
		wt->srv = s;
		snprintf(wt->dir, sizeof(wt->dir), "%s", d);
		uv_fs_event_init(s->loop, &wt->ev);
		s->watch[s->n_watch++] = wt;
		int rc = uv_fs_event_start(&wt->ev, watch_event, wt->dir, 0);
		if (rc < 0)
			log_warn("cannot watch %s for changes (%s); SIGHUP still reloads",
			         wt->dir, uv_strerror(rc));
	}
	return 0;
}

void
reload_init(server_t *s)
{
	uv_timer_init(s->loop, &s->reload_timer);
	s->reload_timer.data = s;
	uv_timer_init(s->loop, &s->reload_deadline);
	s->reload_deadline.data = s;
	uv_async_init(s->loop, &s->reload_async, reload_async_fired);
	s->reload_async.data = s;
}

void
reload_stop(server_t *s)
{
	for (int i = 0; i < s->n_watch; i++)
		uv_close((uv_handle_t *)&s->watch[i]->ev, watch_closed);
	s->n_watch = 0;
	uv_close((uv_handle_t *)&s->reload_timer, NULL);
	/* A reload still running is given up on, not waited for: a file that
	 * blocks must not hold up the exit. Its thread frees what it built. */
	if (s->reload_job != NULL) {
		char where[4200];
		regload_job_abandon(s->reload_job, where, sizeof(where));
		s->reload_job = NULL;
		log_info("stopping with a reload still running (%s): left behind", where);
	}
	uv_close((uv_handle_t *)&s->reload_deadline, NULL);
	uv_close((uv_handle_t *)&s->reload_async, NULL);
}
