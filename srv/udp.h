/*
 * udp.h -- portqd's UDP path: receive, answer, batch and send.
 */
#ifndef PORTQ_UDP_H
#define PORTQ_UDP_H

#include "worker.h"

/*
 * Start answering on u, a bound or adopted UDP socket of the worker in
 * u->data (initialised with UV_UDP_RECVMMSG). Returns 0 or a libuv error.
 */
int udp_read_start(uv_udp_t *u);

/* Send the answers gathered in the worker's batch now; the batch is empty after. */
void udp_flush(worker_t *w);

/*
 * The worker's uv_check callback (handle `flush` of worker_t): send what
 * a read cycle libuv cut short left in the batch, at the end of each
 * loop iteration.
 */
void udp_flush_check(uv_check_t *c);

#endif /* PORTQ_UDP_H */
