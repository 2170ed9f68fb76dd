/*
 * resolve_uv.h -- server names resolved with c-ares driven by a libuv
 * loop, for the async API: c-ares's sockets are watched with uv_poll
 * handles and its timeouts with one uv_timer, so a lookup never blocks
 * the caller's loop. Numeric addresses need no lookup.
 */
#ifndef PORTQ_CLIENT_RESOLVE_UV_H
#define PORTQ_CLIENT_RESOLVE_UV_H

#include <ares.h>
#include <uv.h>

#include "conf.h"
#include "resolve.h"

#define RESOLVE_UV_ADDRS 16      /* addresses kept per server */

typedef struct resolve_uv resolve_uv_t;
typedef struct resolve_uv_watch resolve_uv_watch_t;

/* The outcome of resolve_uv_run() when it did not finish at once. */
typedef void (*resolve_uv_cb)(resolve_uv_t *r, int status);

/* One server's lookup. */
typedef struct {
	resolve_uv_t *r;
	int pending;
	int status;                  /* ARES_ code */
	resolve_addr_t addrs[RESOLVE_UV_ADDRS];
	size_t n;
} resolve_uv_slot_t;

struct resolve_uv {
	uv_loop_t *loop;
	uv_timer_t timer;            /* c-ares timeouts */
	ares_channel channel;        /* NULL until a name needs it */
	resolve_uv_watch_t *watches; /* a uv_poll per c-ares socket */
	int open;                    /* handles not yet closed: timer, polls */
	int closing;
	void (*closed)(resolve_uv_t *r);

	/* The run in progress. */
	const conf_t *conf;
	int pending;                 /* lookups not answered */
	int in_run;                  /* inside resolve_uv_run() */
	resolve_uv_slot_t slots[CONF_MAX_SERVERS];
	resolve_addr_t *out;
	size_t max, *n;
	char *err;
	size_t errlen;
	resolve_uv_cb cb;
};

/* Set r up on `loop` (the timer is initialised). Returns PORTQ_OK. */
int resolve_uv_init(resolve_uv_t *r, uv_loop_t *loop);

/*
 * Resolve every server of `conf`, in order, into out[0..max) (*n set
 * first to 0). Returns PORTQ_EAGAIN when lookups are under way: `cb`
 * runs on the loop when they end. Otherwise the outcome, at once, and
 * `cb` is not called: PORTQ_OK (at least one address), or the worst
 * failure as resolve_server() gives it, with the reasons in err.
 */
int resolve_uv_run(resolve_uv_t *r, const conf_t *conf, int timeout_ms, int tries,
                   resolve_addr_t *out, size_t max, size_t *n, char *err, size_t errlen,
                   resolve_uv_cb cb);

/*
 * Cancel what runs (its callback is not called) and close every handle;
 * `closed` runs once they are all closed.
 */
void resolve_uv_close(resolve_uv_t *r, void (*closed)(resolve_uv_t *r));

#endif /* PORTQ_CLIENT_RESOLVE_UV_H */
