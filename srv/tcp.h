/*
 * tcp.h -- portqd's TCP connections: accept, limit, answer, close.
 */
#ifndef PORTQ_TCP_H
#define PORTQ_TCP_H

#include "worker.h"

/*
 * Listen on t, a bound or adopted TCP socket of the worker in t->data,
 * accepting its connections into the worker. Returns 0 or a libuv error.
 */
int tcp_listen(uv_tcp_t *t);

/*
 * Stop reading on every connection of the worker and close each once
 * the answers already queued on it have left (the worker is stopping).
 */
void tcp_conns_finish(worker_t *w);

/*
 * Testing only (portq__server_fail_conn_allocs()): the next n accepted
 * connections find no memory for their state. Any thread.
 */
void tcp_fail_allocs(int n);

#endif /* PORTQ_TCP_H */
