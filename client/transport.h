/*
 * transport.h -- the query engine's blocking driver: one query of a
 * handle (engine.h) run to its end on blocking sockets, one exchange at a
 * time, UDP on the handle's kept socket (client.h) or TCP on a new
 * connection, each bounded by the engine's wait.
 */
#ifndef PORTQ_CLIENT_TRANSPORT_H
#define PORTQ_CLIENT_TRANSPORT_H

#include <sys/socket.h>

#include "client.h"
#include "engine.h"

/*
 * Run e (engine_init()) through c to its end: from the cache, or
 * resolving c's servers (client_resolve(), within e's budget) and asking
 * them. Returns e->status, with e->error copied to c->error; on PORTQ_OK
 * e->result is the caller's to free. Uses c->buf.
 */
int transport_run(portq_client_t *c, engine_t *e);

/* 1 when a and b are the same IPv4 or IPv6 address and port. */
int transport_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

#endif /* PORTQ_CLIENT_TRANSPORT_H */
