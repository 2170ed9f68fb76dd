/*
 * default.h -- the process's default client, behind portq_getservbyport()
 * and portq_getservbyname(): their configuration (/etc/portq.conf and
 * PORTQ_SERVER), kept current without reading the file at every call, and
 * for each thread a handle of its own for the questions the cache cannot
 * answer.
 *
 * The configuration is one process-wide value with a generation number.
 * Each thread keeps a copy (its cache scope, the file's cache-ttl, its
 * servers) and takes a new one when the generation moves, so a lookup
 * reads nothing that another thread writes, apart from two atomic words.
 * It changes when:
 *   - PORTQ_SERVER differs from the value it was built from: each thread
 *     reads it (getenv() and a string compare) at its first call and then
 *     at most once a second, as getenv() scans the whole environment and
 *     cost a third of a cached lookup;
 *   - the file's identity (device, inode, size, modification and change
 *     times) differs: looked at (one stat()) by one thread at most once a
 *     second; then the file is read again.
 */
#ifndef PORTQ_CLIENT_DEFAULT_H
#define PORTQ_CLIENT_DEFAULT_H

#include "client.h"

typedef struct default_thread default_thread_t;

/*
 * The calling thread's default state, brought up to date; *now_ms is the
 * portq__clock_coarse_ms() reading it was checked at. Allocates only at a thread's
 * first call and makes no system call unless the once-a-second look at
 * the file is due or something changed. Returns PORTQ_OK or PORTQ_ENOMEM.
 */
int default_thread_get(default_thread_t **out, long long *now_ms);

/* Make every thread read PORTQ_SERVER, and one the file, at its next
 * call (portq_config_reload()). */
void default_reload(void);

/* The cache scope of the thread's configuration. */
const char *default_scope(const default_thread_t *t);

/* The TTL now: the process setting, else the file's cache-ttl, else 60 s;
 * 0: no cache. */
int default_ttl(const default_thread_t *t);

/*
 * The thread's handle on its configuration, for the network (made at the
 * first need; its TTL set to default_ttl()). It keeps its UDP socket and
 * its servers' addresses between calls; host names are looked up again
 * after DEFAULT_RESOLVE_MAX_AGE_MS. Returns PORTQ_OK or PORTQ_ENOMEM.
 */
int default_client(default_thread_t *t, portq_client_t **out);

/*
 * fork() (fork.c): prepare takes the configuration's lock; parent
 * releases it; child sets it up afresh and frees the state of every
 * thread but the one that forked, closing their handles' sockets (the
 * child's copies; the parent's stay open).
 */
void default_fork_prepare(void);
void default_fork_parent(void);
void default_fork_child(void);

#define DEFAULT_RESOLVE_MAX_AGE_MS 60000
/*
 * Queries per UDP socket of the default client: one. Its lookups are the
 * cache's misses, in every process that looks a service up (the NSS
 * module's included), so a new source port for each costs the socket's
 * set-up (some microseconds against a round trip of tens) and leaves an
 * off-path forger the port as well as the ID to guess every time; and no
 * descriptor of libportq stays open in the program between lookups.
 */
#define DEFAULT_UDP_USES_MAX 1
#define DEFAULT_CHECK_INTERVAL_MS  1000

#endif /* PORTQ_CLIENT_DEFAULT_H */
