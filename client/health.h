/*
 * health.h -- which server addresses timed out lately, for the whole
 * process: a query skips an address that is held down, as c-ares skips a
 * server with failures until its retry delay has passed, so that a
 * silent server costs one timeout per hold, not one per lookup.
 *
 * The memory is a small fixed table of atomic words, with no lock and no
 * descriptor: every thread and handle of the process shares it, and a
 * child after fork() inherits it as it was (it knows the same dead
 * servers), with nothing that can be left held.
 *
 * A query whose every try of an address timed out reports it once, at its
 * end (client_addrs_report() in client.h): that holds the address down
 * for HEALTH_HOLD_MIN_MS, doubled at each further such query in a row up
 * to HEALTH_HOLD_MAX_MS. When the hold ends,
 * one query (the first to ask) probes the address; the hold is renewed
 * while it runs, so others keep skipping it. Any answer from the address
 * (even REFUSED) clears it. A refused connection changes nothing: it
 * costs no wait.
 */
#ifndef PORTQ_CLIENT_HEALTH_H
#define PORTQ_CLIENT_HEALTH_H

#include <sys/socket.h>

#define HEALTH_SLOTS       64       /* addresses remembered at once */
#define HEALTH_HOLD_MIN_MS 5000     /* c-ares's server_retry_delay */
#define HEALTH_HOLD_MAX_MS 60000

/*
 * Whether to ask address `ss` now: 1 when it is not held down, or when
 * its hold ended and this caller takes the one probe; 0 when it is to be
 * skipped, with *since_ms the time since its last timeout and *hold_ms
 * the hold (either pointer may be NULL).
 */
int health_ask(const struct sockaddr_storage *ss, long long *since_ms, long long *hold_ms);

/* Address `ss` answered none of a query's tries in time: hold it down. */
void health_timeout(const struct sockaddr_storage *ss);

/* Address `ss` answered: it is up. */
void health_answer(const struct sockaddr_storage *ss);

#endif /* PORTQ_CLIENT_HEALTH_H */
