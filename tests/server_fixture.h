/*
 * server_fixture.h -- portqd in-process on loopback, for the suites that
 * talk to a real server (test_server, test_hostile, test_reload_faults).
 *
 * The server runs on its own loop thread, so that a test can assert once
 * it has stopped that every handle closed and uv_loop_close() returned 0.
 * Commands reach that loop through a uv_async, as a signal would. The
 * client helpers talk to the first listener, 127.0.0.1 on f->port.
 *
 * A suite sets a fixture up in this order: fixture_init(), its own config
 * (f->cfg), fixture_start(); and tears it down with fixture_stop(), then
 * fixture_free().
 */
#ifndef PORTQ_SERVER_FIXTURE_H
#define PORTQ_SERVER_FIXTURE_H

#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "msg.h"
#include "server.h"

/* The IANA snapshot the suites serve. */
#define FIXTURE_SNAPSHOT PORTQ_DATA_DIR "/service-names-port-numbers.csv"

typedef struct server_fixture server_fixture_t;

/* Work for the server's loop thread. */
typedef void (*fixture_fn_t)(server_fixture_t *f);

struct server_fixture {
	config_t cfg;              /* the suite's settings, until fixture_start() */
	server_t *srv;
	uint16_t port;             /* of the first listener */
	size_t records;            /* in the registry the server started with */
	char dir[96], file[128];   /* a private registry copy, when there is one */

	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t ready_cv;
	int ready, start_rc, close_rc;
	fixture_fn_t pending;      /* what the loop runs when `control` fires */
	uv_loop_t loop;
	uv_async_t control;
};

/*
 * Clear `f` and give it a default config that listens on 127.0.0.1:0
 * and names no registry yet.
 */
void fixture_init(server_fixture_t *f);

/* Append a copy of `s` to a config list; config_free() frees it. */
void fixture_list_add(config_list_t *list, const char *s);

/*
 * Copy the snapshot to <parent>/portq-test-XXXXXX/registry.csv (f->dir,
 * f->file) and serve that copy, so that the test may edit or replace it.
 * fixture_free() removes the folder and whatever the test left in it.
 */
void fixture_copy_registry(server_fixture_t *f, const char *parent);

/*
 * Load f->cfg.registry with serial 1000, start the server on its own
 * thread and return once it listens. Fails the test if it did not start.
 */
void fixture_start(server_fixture_t *f);

/*
 * Have the loop thread run `fn` soon. Like a signal, a call not yet run
 * is replaced by the next one.
 */
void fixture_call(server_fixture_t *f, fixture_fn_t fn);

/* Ask for a reload, as SIGHUP does. */
void fixture_reload(server_fixture_t *f);

/*
 * Stop the server and join its thread. Returns 0 when the server and its
 * loop closed every handle, else the libuv error.
 */
int fixture_stop(server_fixture_t *f);

/* After fixture_stop(): free the config, remove the private copy's folder. */
void fixture_free(server_fixture_t *f);

/* Copy a file; fails the test on any error. */
void fixture_file_copy(const char *from, const char *to);

/* Remove `path` and, for a folder, everything under it; 0 or -1. */
int fixture_tree_remove(const char *path);

/* ------------------------------------------------------------ client side */

/* The first listener's address, 127.0.0.1 on f->port. */
struct sockaddr_in fixture_addr(const server_fixture_t *f);

/* Encode a query into buf; its length. Fails the test if it does not fit. */
size_t fixture_encode(uint8_t *buf, size_t max, uint8_t op, uint16_t id,
                      const portq_question_t *q);

/*
 * Send `len` raw bytes over UDP from a new socket and wait up to
 * timeout_ms for an answer: its length, or 0 if none came.
 */
size_t fixture_udp_raw(const server_fixture_t *f, const uint8_t *req, size_t len,
                       uint8_t *resp, size_t max, int timeout_ms);

/* A TCP connection to the server, with a 3 s receive timeout. */
int fixture_tcp_connect(const server_fixture_t *f);

/* Send one framed query on `fd`: 0, or -1 if not all of it was sent. */
int fixture_tcp_send_query(int fd, uint8_t op, uint16_t id, const portq_question_t *q);

/*
 * Read one framed answer from `fd` into resp: its length, or 0 on EOF,
 * timeout, or a frame longer than `max`.
 */
size_t fixture_tcp_read_frame(int fd, uint8_t *resp, size_t max);

#endif /* PORTQ_SERVER_FIXTURE_H */
