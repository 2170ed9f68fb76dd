/*
 * portq_async.h -- libportq on the caller's libuv loop, for programs that
 * already run one (agents, proxies): queries never block, and their
 * answers come to callbacks on the loop.
 *
 * Everything a portq_async_t does happens on its loop: sockets (uv_udp,
 * uv_tcp), timers (uv_timer) and, for server host names, c-ares driven by
 * uv_poll handles. Call these functions from the loop's thread only.
 *
 * The same servers, options, configuration file, timeouts, attempts,
 * TCP fallback and answer cache as a portq_client_t (portq.h,
 * docs/client.md): each query goes to the servers in order, each asked
 * once per attempt, over UDP, again over TCP when the answer is
 * truncated, over TCP alone with the `tcp` option.
 */
#ifndef PORTQ_ASYNC_H
#define PORTQ_ASYNC_H

#include <uv.h>

#include "portq.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct portq_async portq_async_t;

/*
 * The end of one query, called once, on the loop, never from inside the
 * call that started the query.
 *
 * status PORTQ_OK: `result` is the answer ("nothing matched" included, as
 * for portq_query_port()); the callback owns it and frees it with
 * portq_result_free(). Otherwise `result` is NULL and status is one of
 * the errors of portq_query_port() (PORTQ_ETIMEDOUT, PORTQ_EIO,
 * PORTQ_EMALFORMED, PORTQ_ENOMEM), or PORTQ_EIO with error "cancelled"
 * when the handle was closed first. `error` says why, one part per
 * server ("" on success); it is valid during the callback only.
 *
 * The callback may start new queries, and may close the handle.
 */
typedef void (*portq_async_cb)(int status, portq_result_t *result, const char *error,
                               void *arg);

/* Called once every handle of a closed portq_async_t is closed. */
typedef void (*portq_async_close_cb)(portq_async_t *a, void *arg);

/*
 * A new async handle on `loop`, in *out. `opts` as for portq_client_new()
 * (NULL: all defaults); the configuration file and PORTQ_SERVER are read
 * now. Server host names are resolved with c-ares on the loop at the
 * first query (again at the next query if none resolved). Returns
 * PORTQ_OK, PORTQ_EINVAL (NULL out or loop, bad options) or PORTQ_ENOMEM.
 *
 * The handle must be closed with portq_async_close(), and the loop run
 * until its close callback, before the loop is closed.
 */
PORTQ_EXPORT int portq_async_new(portq_async_t **out, uv_loop_t *loop,
                                 const portq_options_t *opts);

/*
 * Start a query; `cb` gets its end. Arguments as for the blocking
 * queries of portq.h. Returns PORTQ_OK (cb will be called exactly once)
 * or, without calling cb, PORTQ_EINVAL (NULL handle or cb, an unknown
 * protocol, a port above 65535, an empty or too long text, lo > hi, a
 * closing handle) or PORTQ_ENOMEM. A fresh cached answer ends the query
 * on the next loop iteration without any network traffic.
 */
PORTQ_EXPORT int portq_async_port(portq_async_t *a, unsigned port, const char *proto,
                                  portq_async_cb cb, void *arg);
PORTQ_EXPORT int portq_async_name(portq_async_t *a, const char *name, const char *proto,
                                  portq_async_cb cb, void *arg);
PORTQ_EXPORT int portq_async_range(portq_async_t *a, unsigned lo, unsigned hi,
                                   const char *proto, uint32_t offset, unsigned limit,
                                   portq_async_cb cb, void *arg);
PORTQ_EXPORT int portq_async_search(portq_async_t *a, const char *text, const char *proto,
                                    uint32_t offset, unsigned limit, portq_async_cb cb,
                                    void *arg);
PORTQ_EXPORT int portq_async_info(portq_async_t *a, portq_async_cb cb, void *arg);

/*
 * Close the handle: queries still running end with PORTQ_EIO
 * ("cancelled"), every socket, timer and poll handle is closed, and then
 * `close_cb` (may be NULL) is called on the loop and the handle freed.
 * After this call no query may be started on it. Calling it again, or
 * with NULL, does nothing.
 */
PORTQ_EXPORT void portq_async_close(portq_async_t *a, portq_async_close_cb close_cb,
                                    void *arg);

#ifdef __cplusplus
}
#endif

#endif /* PORTQ_ASYNC_H */
