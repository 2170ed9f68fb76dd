/*
 * regload.h -- reading the configured registry files into a registry,
 * within limits: how many bytes of a file, how long the whole load may
 * take, that a file is quiet (not being written) before it is read, that
 * the result holds records at all, and how many records a reload may
 * lose. And a load on a thread of its own, which the server (or --check)
 * waits for with a deadline and may give up on: a file that blocks (a
 * hung network mount) then costs one stuck thread, never the server.
 */
#ifndef PORTQ_REGLOAD_H
#define PORTQ_REGLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "registry.h"

/* Loads given up on whose thread is still stuck, at most; past this a
 * reload is refused (and logged) rather than start one more thread. */
#define REGLOAD_MAX_STUCK 4

typedef struct {
	size_t max_bytes;          /* registry-max-bytes: of one file */
	long timeout_ms;           /* reload-timeout: the whole load; 0 none */
	long settle_ms;            /* a file is read once unchanged this long */
} regload_limits_t;

/* The limits `cfg` sets (registry-max-bytes, reload-timeout, reload-delay). */
void regload_limits(const config_t *cfg, regload_limits_t *lim);

/*
 * Load every "[FORMAT:]FILE" of `files`, in order, into one registry
 * with this serial, on the calling thread. Each file is read once it has
 * not changed for lim->settle_ms; one that changes while read is read
 * again. A registry without records, or an IANA or services file
 * without rows, is refused. NULL on failure, with err saying
 * "file:line: reason" or "file: reason"; *rc (if not NULL) gets the
 * PORTQ_ code (PORTQ_ETIMEDOUT when lim->timeout_ms ran out).
 */
registry_t *regload_files(const config_list_t *files, uint32_t serial,
                          const regload_limits_t *lim, reg_error_t *err, int *rc);

/*
 * The shrink rule: PORTQ_OK when a registry of `after` records may
 * replace one of `before`, that is when it loses at most max_pct percent
 * of them (100: any loss); else PORTQ_EPARSE with err saying how many
 * would be lost.
 */
int regload_shrink_check(size_t before, size_t after, long max_pct, reg_error_t *err);

/* ------------------------------------------------------------ on a thread */

typedef struct regload_job regload_job_t;

/* Called on the job's thread when it is done (not after abandon). */
typedef void (*regload_notify_t)(void *arg);

/*
 * Start regload_files() on a new thread, with copies of `files` and
 * `lim`. `notify` (may be NULL) runs on that thread when the load is
 * done, unless the job was abandoned first; a job with a notify (a reload
 * beside serving loops) runs at the lowest CPU priority. NULL when no thread
 * or memory could be had.
 */
regload_job_t *regload_job_start(const config_list_t *files, uint32_t serial,
                                 const regload_limits_t *lim,
                                 regload_notify_t notify, void *arg);

/* Wait up to timeout_ms (0: just look) for the job: 1 when done, else 0. */
int regload_job_wait(regload_job_t *j, long timeout_ms);

/*
 * A done job's result, which the caller then owns: the registry, or NULL
 * with err and *rc as regload_files() sets them. Frees the job.
 */
registry_t *regload_job_finish(regload_job_t *j, reg_error_t *err, int *rc);

/*
 * Give up on a job that is not done: its thread frees the job and what
 * it loaded when (if ever) it returns, and calls no notify. where[0..n)
 * gets the file it was reading, or what it was doing.
 */
void regload_job_abandon(regload_job_t *j, char *where, size_t n);

typedef enum {
	REGLOAD_DONE,          /* done after all: regload_job_finish() it */
	REGLOAD_INDEXING,      /* building the index: not given up on */
	REGLOAD_ABANDONED      /* reading: given up on, as by regload_job_abandon() */
} regload_expiry_t;

/*
 * The job's deadline passed. Decided under the job's lock, so that a
 * load finishing at that moment is never lost: REGLOAD_DONE when it is
 * done (the caller still owns it and finishes it); REGLOAD_INDEXING when
 * it has read every file and is building the index, work bounded by
 * registry-max-bytes that cannot block but that a thread at the lowest
 * CPU priority may do slowly on a busy machine (the caller still owns
 * it; wait on); else it is abandoned as by regload_job_abandon() (the
 * caller no longer owns it). where[0..n) gets what it was doing.
 */
regload_expiry_t regload_job_expire(regload_job_t *j, char *where, size_t n);

/* Abandoned jobs whose thread has not returned yet (counted until that
 * thread has freed all it built). */
unsigned regload_stuck(void);

#endif /* PORTQ_REGLOAD_H */
