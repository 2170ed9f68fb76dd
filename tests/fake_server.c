/*
 * fake_server.c -- fake portq servers on loopback (fake_server.h).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_fixture.h"
#include "clock.h"
#include "fake_server.h"
#include "loopback.h"
#include "wire.h"

_Atomic uint32_t fake_serial = 77;

size_t
fake_answer(uint8_t *buf, size_t len, const portq_header_t *qh,
            const portq_question_t *q, uint16_t id, uint16_t free_lo, uint16_t ancount)
{
	wire_t w = wire_writer(buf, len);
	portq_header_t h = *qh;
	h.id = id;
	h.flags = PORTQ_FLAG_QR;
	h.rcode = PORTQ_RC_NOTFOUND;
	h.ancount = ancount;      /* a liar promises records it does not send */
	h.adcount = 0;
	h.serial = fake_serial;
	portq_header_write(&w, &h);
	portq_question_write(&w, q);
	portq_context_t c = { .range_class = PORTQ_CLASS_USER, .state = PORTQ_ST_UNLISTED,
	                      .cflags = PORTQ_CF_FREE, .free_lo = free_lo,
	                      .free_hi = (uint16_t)(free_lo + 10) };
	if (qh->opcode == PORTQ_OP_PORT)
		portq_context_write(&w, &c);
	return w.error == PORTQ_OK ? wire_used(&w) : 0;
}

static void *
counter_run(void *arg)
{
	counter_t *k = arg;
	/* At most 30 s in all: a test that forgets to stop it still ends. */
	long long deadline = portq__clock_ms() + 30000;
	while (!k->stop && portq__clock_ms() < deadline) {
		struct pollfd p = { k->fd, POLLIN, 0 };
		if (poll(&p, 1, 50) != 1)
			continue;
		uint8_t in[512], out[512];
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(k->fd, in, sizeof(in), 0, (struct sockaddr *)&from, &flen);
		portq_header_t h;
		portq_question_t q;
		if (n <= 0 || msg_query_decode(in, (size_t)n, &h, &q) != PORTQ_OK)
			continue;
		unsigned fp = ntohs(((struct sockaddr_in *)&from)->sin_port);
		if (k->from_port != 0 && k->from_port != fp)
			k->from_changes++;
		k->from_port = fp;
		if (k->queries < COUNTER_PORTS_MAX)
			k->from_ports[k->queries] = fp;
		k->queries++;
		size_t len = fake_answer(out, sizeof(out), &h, &q, h.id, 1111, 0);
		sendto(k->fd, out, len, 0, (struct sockaddr *)&from, flen);
	}
	return NULL;
}

void
counter_start(counter_t *k)
{
	memset(k, 0, sizeof(*k));
	k->fd = loopback_socket_bound(SOCK_DGRAM, &k->port);
	ck_assert_int_eq(pthread_create(&k->thread, NULL, counter_run, k), 0);
}

void
counter_stop(counter_t *k)
{
	k->stop = 1;
	pthread_join(k->thread, NULL);
	close(k->fd);
}

portq_client_t *
counter_client(const counter_t *k, int cache_ttl, const char *config_file)
{
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", k->port);
	portq_options_t o;
	memset(&o, 0, sizeof(o));
	o.servers = list;
	o.config_file = config_file ? config_file : "";
	o.timeout_ms = 2000;
	o.attempts = 1;
	o.cache_ttl = cache_ttl;
	portq_client_t *c = NULL;
	ck_assert_int_eq(portq_client_new(&c, &o), PORTQ_OK);
	return c;
}

int
ask_cached(portq_client_t *c, unsigned port)
{
	portq_result_t *r = NULL;
	int rc = portq_query_port(c, port, NULL, &r);
	ck_assert_msg(rc == PORTQ_OK, "%s", portq_client_error(c));
	ck_assert_uint_eq(r->port->port, port);
	int cached = r->cached;
	portq_result_free(r);
	return cached;
}
