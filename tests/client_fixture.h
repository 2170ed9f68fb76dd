/*
 * client_fixture.h -- what libportq's suites (test_async, test_cache,
 * test_conf, test_getservby, test_libportq, test_portq, test_resolve,
 * test_transport) share: the real portqd serving the real IANA CSV, a
 * handle on it, the CSV read independently of srv/ to say what the
 * answers should be, and work for a child process.
 */
#ifndef PORTQ_CLIENT_FIXTURE_H
#define PORTQ_CLIENT_FIXTURE_H

#include <stddef.h>

#include "csv_oracle.h"
#include "portq.h"
#include "portqd_process.h"

#define CSV_PATH PORTQ_DATA_DIR "/service-names-port-numbers.csv"

/* ---- the CSV, read independently of srv/ --------------------------- */

typedef csv_row_t row_t;

extern csv_oracle_t csv;        /* read once, kept for the whole run */

void csv_load(void);
int row_covers(const row_t *r, unsigned port);
/* IANA's rows: a named row is assigned unless it says De-registered. */
int row_assigned(const row_t *r);
int row_unassigned(const row_t *r);
/* For "any protocol": assigned if any row says so, free if every row does. */
int port_assigned(unsigned port);
int port_free(unsigned port);
/* An assigned, named row for tcp (or all protocols) covers the port. */
int port_assigned_tcp(unsigned port);
const row_t *row_named(const char *name, const char *proto);

/* ---- portqd ---------------------------------------------------------- */

extern portqd_process_t server;        /* the one the fixture starts */
/* What every portqd started here serves. */
extern const char *const csv_args[];
extern char server_env[64];            /* its address, in PORTQ_SERVER */

void fixture_up(void);
void fixture_down(void);
/* Options for the fixture's server (servers NULL) or for servers; no
 * config file. */
void client_options(portq_options_t *o, const char *servers, int timeout_ms, int attempts,
                    int tcp);
/* A handle with those options. */
portq_client_t *client_new(const char *servers, int timeout_ms, int attempts, int tcp);

/*
 * portqd serving BROAD_RECORDS generated records (no IANA data needed),
 * every one with BROAD_TEXT in its description: a SEARCH for BROAD_TEXT
 * costs the server more than its work limit (SEARCH_WORK_MAX, srv/search.h)
 * at any offset, so it answers PARTIAL. The registry is a temporary file,
 * removed once loaded; portqd_process_stop() stops the server.
 */
#define BROAD_RECORDS 40000
#define BROAD_TEXT    "xyz"
void broad_server_start(portqd_process_t *d);

/* ---- work for a child process ----------------------------------------- */

typedef const char *(*child_fn_t)(char *why, size_t len);

/* Run fn in a child process (60 s at most) and fail with what it says
 * unless it returns NULL. */
void child_expect(child_fn_t fn);

#endif
