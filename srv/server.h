/*
 * server.h -- portqd's listeners, reloads and signals on a libuv loop.
 *
 * The server owns the current registry and swaps in a new one when a
 * reload succeeds: the new registry is built on a thread of its own
 * beside the old one, and the switch happens on each loop between two
 * batches, so no query ever sees a half-built index.
 *
 * Every function here is in server.c; the modules behind it (listen.c,
 * udp.c, tcp.c, reload.c, stats.c) share worker.h and are listed there.
 */
#ifndef PORTQ_SERVER_H
#define PORTQ_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "answer.h"
#include "config.h"
#include "registry.h"

typedef struct server server_t;

/*
 * Load every file in `files` into one new registry with this serial,
 * without the config's time and settle limits (regload_files() with the
 * default byte limit). NULL on failure, or for a registry without
 * records, with err saying "file:line: reason". Safe from any thread.
 */
registry_t *server_load_registry(const config_list_t *files, uint32_t serial,
                                 reg_error_t *err);

/*
 * A server on `loop` with settings `cfg` (kept by reference: it must
 * outlive the server) serving `reg`, which it takes over. NULL when
 * memory runs out.
 */
server_t *server_new(uv_loop_t *loop, const config_t *cfg, registry_t *reg);

/*
 * Bind every listener, start the signal handlers and file watchers.
 * Returns 0, or a negative libuv error after logging which address failed
 * (then call server_stop() and run the loop so the handles close).
 */
int server_start(server_t *s);

/*
 * Stop accepting, let answers already written flush, and close every
 * handle; uv_run() returns once all is closed. Safe to call twice.
 */
void server_stop(server_t *s);

/*
 * Free the server after uv_run() has returned on the caller's loop: joins
 * the worker threads, closes their loops, releases the registry. Returns
 * 0, or the libuv error of a worker loop that still had open handles.
 */
int server_free(server_t *s);

/*
 * Ask for a reload now (what SIGHUP does). It runs on a thread of its
 * own and is given up on after reload-timeout; a result that drops more
 * than reload-max-shrink percent of the records is refused. Each failure
 * is logged ("reload failed, still serving serial N: why") and counted.
 */
void server_reload(server_t *s);

/* A reload that may drop any share of the records (what SIGUSR2 does). */
void server_reload_forced(server_t *s);

/* The serial of the registry being served. */
uint32_t server_serial(const server_t *s);

/* The port the i-th listen address is bound to (useful with port 0); -1 if none. */
int server_port(const server_t *s, int i);

/*
 * Testing only: the next `n` TCP connections accepted find no memory for
 * their state, as if malloc had failed (0 turns it off). Any thread.
 */
void portq__server_fail_conn_allocs(int n);

#endif /* PORTQ_SERVER_H */
