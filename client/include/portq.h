/*
 * portq.h -- libportq: ask a portq server what runs on a port and which
 * port a service uses.
 *
 * Two interfaces:
 *
 *   - portq_getservbyport() and friends behave like the libc functions of
 *     the same name (netdb.h), answered by the portq server instead of
 *     /etc/services;
 *   - a client handle (portq_client_t) whose queries return full registry
 *     records: status, description, references, dates, the free block and
 *     the assigned neighbours of a port, paged ranges and text search.
 *
 * portq_async.h offers the same queries on the caller's libuv loop.
 *
 * Servers: the handle's options, else the PORTQ_SERVER environment
 * variable ("HOST[:PORT],HOST[:PORT]"), else the `server` lines of the
 * configuration file (/etc/portq.conf), else 127.0.0.1 on
 * PORTQ_CLIENT_DEFAULT_PORT. docs/client.md describes the file.
 *
 * Errors are the negative portq error codes of portq_error.h; PORTQ_OK is
 * zero. portq_strerror() turns one into text.
 */
#ifndef PORTQ_H
#define PORTQ_H

#include <netdb.h>
#include <stddef.h>
#include <stdint.h>

#include "portq_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The library builds with -fvisibility=hidden; only what carries
 * PORTQ_EXPORT (portq_error.h defines it, for portq_strerror() first) is
 * exported. */

#define PORTQ_CLIENT_VERSION      "0.1.0"
#define PORTQ_CLIENT_CONFIG_FILE  "/etc/portq.conf"
#define PORTQ_CLIENT_DEFAULT_PORT 5380
#define PORTQ_CLIENT_TIMEOUT_MS   2000   /* per server and attempt */
#define PORTQ_CLIENT_ATTEMPTS     2      /* rounds over the server list */
#define PORTQ_CLIENT_LOOKUP_BUDGET_MS 500 /* getservby*(): total wait of one
                                            lookup (the NSS path) */
#define PORTQ_CLIENT_CACHE_TTL    60     /* seconds an answer is reused */
#define PORTQ_CLIENT_CACHE_TTL_MAX 86400
#define PORTQ_CACHE_OFF           (-1)   /* portq_options_t.cache_ttl: none */

/* ---- libc-compatible lookups ------------------------------------------ */

/*
 * As getservbyport(3): `port` in network byte order, `proto` "tcp", "udp",
 * "sctp", "dccp" or NULL for any. The entry is an assigned (or local)
 * registry record with a name whose port or range covers `port`; s_port is
 * `port`, s_proto the record's protocol (for a record valid for all
 * protocols: `proto`, or "tcp" when proto is NULL).
 *
 * Answers come from the process's cache (see "The answer cache" below)
 * while they are fresh; such a lookup allocates nothing and makes no
 * system call. Each thread reads PORTQ_SERVER at its first call and then
 * at most once a second; the configuration file is looked at (stat) at
 * most once a second and read again when it changed.
 * portq_config_reload() applies a change of either at once.
 *
 * A lookup that must ask the network waits at most the file's
 * `lookup-budget` (PORTQ_CLIENT_LOOKUP_BUDGET_MS unless set) in all,
 * whatever `timeout` and `attempts` say: the budget is shared out among
 * the servers and attempts. A server address that timed out is skipped,
 * by every lookup and handle of the process, for 5 s (doubling up to
 * 60 s while it stays silent); when every address is skipped, the lookup
 * fails at once with ETIMEDOUT (docs/client.md, "Silent servers").
 *
 * Returns a pointer to thread-local storage that the next call from the
 * same thread overwrites, or NULL with errno set: 0 when there is no such
 * entry, ETIMEDOUT when no server answered, EIO on any other server or
 * network failure, EINVAL for a bad argument, ERANGE when the entry does
 * not fit the internal buffer.
 */
PORTQ_EXPORT struct servent *portq_getservbyport(int port, const char *proto);

/*
 * As getservbyname(3): `name` is a service name or alias (compared
 * without regard to case), `proto` as above. s_port is the record's
 * (first) port in network byte order. Same storage and errors as
 * portq_getservbyport().
 */
PORTQ_EXPORT struct servent *portq_getservbyname(const char *name, const char *proto);

/*
 * The reentrant forms, with glibc's signatures: the entry is written to
 * *result_buf, its strings and alias array into buf[0..buflen).
 *
 * Return 0 and set *result to result_buf when found; return 0 and set
 * *result to NULL when there is no such entry; otherwise set *result to
 * NULL and return a positive errno value: ERANGE when buf is too small
 * (call again with a larger one), ETIMEDOUT, EIO or EINVAL as above.
 */
PORTQ_EXPORT int portq_getservbyport_r(int port, const char *proto,
                                       struct servent *result_buf, char *buf,
                                       size_t buflen, struct servent **result);
PORTQ_EXPORT int portq_getservbyname_r(const char *name, const char *proto,
                                       struct servent *result_buf, char *buf,
                                       size_t buflen, struct servent **result);

/* ---- the client handle ------------------------------------------------ */

typedef struct portq_client portq_client_t;

/*
 * Options for portq_client_new(); zero every field for the defaults.
 * Fields left zero or NULL are taken from the configuration file, then
 * from the defaults above.
 */
typedef struct {
	const char *servers;      /* "HOST[:PORT],..." (IPv6 as [ADDR]:PORT);
	                             NULL: PORTQ_SERVER, then the config file */
	const char *config_file;  /* NULL: PORTQ_CLIENT_CONFIG_FILE; "": none */
	int timeout_ms;           /* wait per server and attempt, > 0 */
	int attempts;             /* rounds over the server list, > 0 */
	int tcp;                  /* nonzero: always ask over TCP */
	int cache_ttl;            /* seconds this handle reuses a cached answer,
	                             1 to PORTQ_CLIENT_CACHE_TTL_MAX;
	                             PORTQ_CACHE_OFF: none (always ask the
	                             network, keep nothing); 0: the
	                             process setting (portq_cache_set_ttl), else
	                             the file's cache-ttl, else
	                             PORTQ_CLIENT_CACHE_TTL */
} portq_options_t;

/*
 * A new handle in *out. Reads the configuration file (a missing file is
 * not an error) and PORTQ_SERVER; host names are resolved, through c-ares,
 * at the first query. Returns PORTQ_OK, PORTQ_EINVAL (NULL out, a server
 * that is not HOST[:PORT], a negative timeout or attempts, a cache_ttl
 * out of range) or PORTQ_ENOMEM. `opts` may be NULL; its strings are
 * copied.
 *
 * A handle is used by one thread at a time; several handles may be used
 * in parallel. It keeps one UDP socket open between queries (replaced
 * after 100 queries, a failure, or a fork); portq_client_free() closes it.
 */
PORTQ_EXPORT int portq_client_new(portq_client_t **out, const portq_options_t *opts);

/* Free a handle and everything it holds; NULL is allowed. */
PORTQ_EXPORT void portq_client_free(portq_client_t *c);

/*
 * Why the last query on this handle failed, for messages
 * ("127.0.0.1:5380: timed out"); "" after a success. Valid until the next
 * call on the handle. Never NULL, also for a NULL handle.
 */
PORTQ_EXPORT const char *portq_client_error(const portq_client_t *c);

/* ---- results ---------------------------------------------------------- */

/*
 * One registry record. Strings are NUL-terminated and never NULL: "" when
 * the registry gives no value.
 */
typedef struct {
	const char *name;           /* service name; "" for unnamed rows */
	const char *const *aliases; /* NULL-terminated, never NULL */
	size_t n_aliases;
	const char *protocol;       /* "tcp", "udp", "sctp", "dccp", or "any":
	                               valid for all protocols */
	const char *status;         /* "assigned", "reserved", "unassigned",
	                               "de-registered" or "local" */
	int assigned;               /* status is "assigned" or "local" */
	const char *origin;         /* "iana", "services" or "local" */
	int has_port;               /* 0: a name registered without a port */
	unsigned port_lo, port_hi;  /* equal for a single port */
	const char *description;
	const char *assignee;
	const char *contact;
	const char *registered;     /* YYYY-MM-DD */
	const char *modified;       /* YYYY-MM-DD */
	const char *reference;
	const char *notes;
	const char *service_code;
	const char *unauthorized;   /* unauthorized use reported */
} portq_entry_t;

/* What the registry says around the port of a PORT query. */
typedef struct {
	unsigned port;
	const char *range_class;    /* "system" (0-1023), "user" (1024-49151),
	                               "dynamic" (49152-65535) */
	int privileged;             /* binding needs privileges: port < 1024 */
	const char *state;          /* the port's status for the asked protocol,
	                               or "unlisted" when no record covers it */
	int has_free;               /* the port is free: free_lo..free_hi is the
	                               run of free ports around it */
	unsigned free_lo, free_hi;
	int has_below, has_above;   /* nearest assigned ports either side */
	unsigned below, above;
} portq_port_t;

typedef struct {
	const char *key;
	const char *value;
} portq_info_t;

/*
 * A server's answer. Everything it points to lives in the same allocation
 * and is freed by portq_result_free().
 */
typedef struct {
	uint32_t serial;            /* registry serial of the answering server */
	int more;                   /* RANGE, SEARCH: records follow this page */
	int tcp;                    /* the answer came over TCP */
	const char *server;         /* "ADDR:PORT" that answered */
	const portq_port_t *port;   /* PORT only, else NULL */
	const portq_entry_t *entries;    /* the answer records */
	size_t n_entries;                /* 0: nothing matched */
	const portq_entry_t *neighbours; /* PORT: the assigned records at the
	                                    ports below and above: */
	size_t n_neighbours;
	size_t n_below;             /* neighbours[0..n_below) are at port->below,
	                               the rest at port->above */
	const portq_info_t *info;   /* INFO: key/value items */
	size_t n_info;
	int cached;                 /* from the cache, not the network; `tcp`
	                               and `server` say how it first came */
	int partial;                /* SEARCH only: the server stopped at its
	                               work limit (the PARTIAL flag) before it
	                               had looked at every record, so the
	                               entries (none, from portqd) are not all
	                               that match and n_entries 0 does NOT mean
	                               that nothing matched. Ask with a longer
	                               text or one protocol. 0 otherwise. */
} portq_result_t;

/* Free a result; NULL is allowed. */
PORTQ_EXPORT void portq_result_free(portq_result_t *r);

/*
 * Queries. `proto` is "tcp", "udp", "sctp", "dccp", or NULL / "any" for
 * any protocol; records valid for all protocols match every protocol.
 *
 * On PORTQ_OK, *out holds the answer, which the caller frees with
 * portq_result_free(). "Nothing matched" is an answer too: PORTQ_OK with
 * n_entries 0 (a PORT answer then still carries `port` and neighbours),
 * except for a SEARCH answer with `partial` set: the server gave up on
 * the question as too broad, and what matches is unknown.
 *
 * Errors (*out is then NULL; portq_client_error() says more):
 *   PORTQ_EINVAL     a NULL argument, an unknown protocol, a port above
 *                    65535, an empty or too long (> 255 bytes) text,
 *                    lo > hi;
 *   PORTQ_ETIMEDOUT  no server answered within the timeout and attempts,
 *                    or every server address timed out lately and is
 *                    skipped for a while (docs/client.md, "Silent
 *                    servers");
 *   PORTQ_EIO        every server failed otherwise: refused the
 *                    connection, answered REFUSED or SERVER-FAILURE, or
 *                    could not be resolved;
 *   PORTQ_EMALFORMED the answers were not valid portq messages;
 *   PORTQ_ENOMEM.
 */
PORTQ_EXPORT int portq_query_port(portq_client_t *c, unsigned port, const char *proto,
                                  portq_result_t **out);

/* Records whose service name or alias is `name` (any case). Not paged. */
PORTQ_EXPORT int portq_query_name(portq_client_t *c, const char *name, const char *proto,
                                  portq_result_t **out);

/*
 * One page of the records overlapping ports lo..hi: skip `offset`
 * matches, return at most `limit` (0: the server's page size). While
 * `more` is set, ask again with offset + n_entries; start over from 0 if
 * `serial` changes between pages (the registry was reloaded).
 */
PORTQ_EXPORT int portq_query_range(portq_client_t *c, unsigned lo, unsigned hi,
                                   const char *proto, uint32_t offset, unsigned limit,
                                   portq_result_t **out);

/*
 * One page of the records whose name, aliases or description contain
 * `text` (any case); paged as portq_query_range(). A question that would
 * cost the server more than its work limit is answered with `partial`
 * set (and, from portqd, no entries and `more` clear): it is not a
 * failure of the server, but the result says nothing about what matches.
 * Such an answer is cached like any other.
 */
PORTQ_EXPORT int portq_query_search(portq_client_t *c, const char *text, const char *proto,
                                    uint32_t offset, unsigned limit, portq_result_t **out);

/* Registry and server information (serial, records, sources, ...).
 * Never cached. */
PORTQ_EXPORT int portq_query_info(portq_client_t *c, portq_result_t **out);

/* ---- the answer cache ------------------------------------------------- */

/*
 * One cache per process, shared by every handle and thread and by the
 * getservby*() functions (thread-safe). It keeps the answers to PORT,
 * NAME, RANGE and SEARCH queries, "nothing matched" included, per server
 * list, for the handle's TTL (portq_options_t.cache_ttl; 60 s unless
 * configured). An answer from the network whose registry serial differs
 * from that of the cached answers of the same server list drops all of
 * them. At most 4096 answers and 4 MiB are kept; the least recently
 * used go first. Failures are never cached.
 */

/*
 * Set the TTL, in seconds, of the handles created from now on without a
 * cache_ttl of their own, and of the getservby*() functions: 0 disables
 * the cache for them, 1 to PORTQ_CLIENT_CACHE_TTL_MAX sets it, -1 goes
 * back to the configuration file's `cache-ttl` (the default). Returns
 * PORTQ_OK or PORTQ_EINVAL (out of range).
 */
PORTQ_EXPORT int portq_cache_set_ttl(int seconds);

/* Drop every cached answer. */
PORTQ_EXPORT void portq_cache_flush(void);

/*
 * Have the getservby*() functions read PORTQ_SERVER and /etc/portq.conf
 * again at their next call, in every thread. Without it they look at both
 * at most once a second: a program that changes PORTQ_SERVER and wants
 * its very next lookup to use it calls this.
 */
PORTQ_EXPORT void portq_config_reload(void);

#ifdef __cplusplus
}
#endif

#endif /* PORTQ_H */
