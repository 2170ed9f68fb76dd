/*
 * reload.h -- the registry portqd serves, counted and swapped, and the
 * reloads and file watch that replace it.
 */
#ifndef PORTQ_RELOAD_H
#define PORTQ_RELOAD_H

#include "worker.h"

/* A counted reference (one, the caller's) to reg, which it takes over; NULL without memory. */
shared_reg_t *shared_new(registry_t *reg);

/* Another reference to the registry s serves now. Any thread. */
shared_reg_t *shared_acquire(server_t *s);

/* Drop a reference; the last one frees the registry. NULL is ignored. Any thread. */
void shared_release(shared_reg_t *sr);

/* The serial of the registry s serves. */
uint32_t reload_serial(const server_t *s);

/* On w's loop: take the registry the server now serves, drop the one w held. */
void worker_refresh(worker_t *w);

/* On the main loop, in server_new(): set up the reload timers and wake-up. */
void reload_init(server_t *s);

/*
 * On the main loop: start a reload now (forced: whatever share of the
 * records it drops), or once the one under way has ended. A failure is
 * logged and counted, the registry served stays.
 */
void reload_start(server_t *s, int forced);

/*
 * Watch the folder of every registry file; a change there reloads after
 * reload-delay. Returns 0, or UV_ENOMEM (a folder that cannot be watched
 * is logged and skipped).
 */
int reload_watch_start(server_t *s);

/* In server_stop(): close the watches and timers, abandon a reload under way. */
void reload_stop(server_t *s);

#endif /* PORTQ_RELOAD_H */
