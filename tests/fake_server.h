/*
 * fake_server.h -- a fake portq server in the test process, for what the
 * real portqd never does: an answer built to order (fake_answer), and a
 * server that answers every query NOT-FOUND and counts the queries and
 * where they came from (counter_t).
 */
#ifndef PORTQ_FAKE_SERVER_H
#define PORTQ_FAKE_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "portq.h"

/* The registry serial the fake servers answer with. */
extern _Atomic uint32_t fake_serial;

/* A NOT-FOUND answer to qh/q with this id, a free block from free_lo
 * (PORT) and `ancount` records promised (none sent); 0 if it does not fit. */
size_t fake_answer(uint8_t *buf, size_t len, const portq_header_t *qh,
                   const portq_question_t *q, uint16_t id, uint16_t free_lo,
                   uint16_t ancount);

#define COUNTER_PORTS_MAX 256

/* A fake server that answers every query NOT-FOUND and counts them. */
typedef struct {
	int fd;
	unsigned port;
	_Atomic int queries;
	_Atomic unsigned from_port;     /* source port of the last query */
	_Atomic int from_changes;       /* times it differed from the one before */
	unsigned from_ports[COUNTER_PORTS_MAX];   /* the first queries' sources */
	_Atomic int stop;
	pthread_t thread;
} counter_t;

void counter_start(counter_t *k);
void counter_stop(counter_t *k);
/* A handle on the counter with this cache TTL, no config file. */
portq_client_t *counter_client(const counter_t *k, int cache_ttl, const char *config_file);
/* Ask PORT `port` on c; 1 if the answer came from the cache. */
int ask_cached(portq_client_t *c, unsigned port);

#endif
