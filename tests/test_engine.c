/*
 * test_engine.c -- the client's query engine (client/engine.h), driven
 * with scripted events: no socket, no clock, no server. Each test plays
 * a driver: it does what the engine asks (SEND here, over that) and
 * reports what the network "did" (an answer built here, a timeout).
 *
 * The health memory (client/health.h) is process-wide; each test uses
 * addresses of its own, so that one test's silent server is not
 * another's.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "check_main.h"
#include "client.h"
#include "engine.h"
#include "health.h"
#include "msg.h"
#include "wire.h"

#define NOW 100000LL            /* the scripted clock, in ms */

static uint8_t scratch[CLIENT_BUF_MAX];

/* A handle on `servers` (numeric: resolved without the network). */
static portq_client_t *
client_make(const char *servers, int attempts, int cache_ttl)
{
	conf_t conf;
	conf_init(&conf);
	char err[256];
	ck_assert_int_eq(conf_servers_set(&conf, servers, err, sizeof(err)), PORTQ_OK);
	conf.timeout_ms = 1000;
	conf.attempts = attempts;
	portq_client_t *c = malloc(sizeof(*c));
	ck_assert_ptr_nonnull(c);
	client_init(c, &conf, 0, cache_ttl);
	ck_assert_int_eq(client_resolve(c, 0), PORTQ_OK);
	return c;
}

/* Every test asks NAME "http"/tcp. */
static portq_question_t q;

static void
question_set(void)
{
	memset(&q, 0, sizeof(q));
	q.transport = PORTQ_TP_TCP;
	ck_assert_int_eq(portq_question_set_text(&q, "http"), PORTQ_OK);
}

/* An answer to the exchange e asks for: its ID and question, no records. */
static size_t
reply_make(const engine_t *e, uint8_t rcode, uint8_t flags, uint8_t *out, size_t cap)
{
	portq_header_t h;
	memset(&h, 0, sizeof(h));
	h.opcode = e->opcode;
	h.flags = (uint8_t)(PORTQ_FLAG_QR | flags);
	h.rcode = rcode;
	h.id = e->id;
	h.serial = 7;
	wire_t w = wire_writer(out, cap);
	portq_header_write(&w, &h);
	if (rcode != PORTQ_RC_MALFORMED)      /* that one echoes no question */
		wire_write_bytes(&w, e->query + PORTQ_HEADER_LEN, e->qlen - PORTQ_HEADER_LEN);
	ck_assert_int_eq(w.error, PORTQ_OK);
	return wire_used(&w);
}

/* Begin a query of c and give it the addresses: its first step. */
static engine_next_t
start(engine_t *e, portq_client_t *c, int budget_ms)
{
	question_set();
	engine_init(e, PORTQ_OP_NAME, &q, budget_ms);
	ck_assert_int_eq(engine_begin(e, c, NOW, scratch, sizeof(scratch)), ENGINE_RESOLVE);
	return engine_resolved(e, PORTQ_OK, NOW);
}

/* A handle on `servers` and a query of it, started: it is to ask the first. */
static portq_client_t *
begin(engine_t *e, const char *servers, int attempts, int cache_ttl, int budget_ms)
{
	portq_client_t *c = client_make(servers, attempts, cache_ttl);
	ck_assert_int_eq(start(e, c, budget_ms), ENGINE_SEND);
	ck_assert_uint_eq(e->addr, 0);
	return c;
}

/* Report an answer with rcode and flags to the exchange under way. */
static engine_next_t
answer(engine_t *e, uint8_t rcode, uint8_t flags)
{
	uint8_t msg[1024];
	size_t n = reply_make(e, rcode, flags, msg, sizeof(msg));
	ck_assert(engine_reply_match(e, msg, n));
	return engine_reply(e, msg, n, NOW);
}

START_TEST(truncated_then_tcp)
{
	engine_t e;
	portq_client_t *c = begin(&e, "127.0.10.1:5380,127.0.10.2:5380", 1, 0, 0);
	ck_assert_int_eq(e.tcp, 0);
	ck_assert_int_eq(e.wait_ms, 1000);
	uint16_t udp_id = e.id;

	/* Truncated over UDP: the same server over TCP, a fresh ID. */
	ck_assert_int_eq(answer(&e, PORTQ_RC_OK, PORTQ_FLAG_TC), ENGINE_SEND);
	ck_assert_uint_eq(e.addr, 0);
	ck_assert_int_eq(e.tcp, 1);
	ck_assert_int_eq(e.wait_ms, 1000);
	ck_assert_uint_ne(e.id, udp_id);

	ck_assert_int_eq(answer(&e, PORTQ_RC_OK, 0), ENGINE_DONE);
	ck_assert_int_eq(e.status, PORTQ_OK);
	ck_assert_ptr_nonnull(e.result);
	ck_assert_int_eq(e.result->tcp, 1);
	ck_assert_int_eq(e.result->cached, 0);
	ck_assert_str_eq(e.result->server, c->addrs[0].label);
	ck_assert_str_eq(e.error, "");
	free(e.result);

	/* Over TCP, TC means nothing more to try: a TCP-only handle asks
	 * over TCP from the start and takes the answer as it is. */
	c->tcp = 1;
	ck_assert_int_eq(start(&e, c, 0), ENGINE_SEND);
	ck_assert_int_eq(e.tcp, 1);
	ck_assert_int_eq(answer(&e, PORTQ_RC_NOTFOUND, PORTQ_FLAG_TC), ENGINE_DONE);
	ck_assert_int_eq(e.status, PORTQ_OK);
	free(e.result);
	client_free(c);
}
END_TEST

START_TEST(timeout_then_next_server)
{
	engine_t e;
	portq_client_t *c = begin(&e, "127.0.11.1:5380,127.0.11.2:5380", 2, 0, 0);
	ck_assert_int_eq(engine_fail(&e, PORTQ_ETIMEDOUT, "first: timed out", NOW), ENGINE_SEND);
	ck_assert_uint_eq(e.addr, 1);
	ck_assert_int_eq(e.tcp, 0);
	/* Not held down yet: a query reports what it learnt when it ends. */
	ck_assert_int_eq(health_ask(&c->addrs[0].ss, NULL, NULL), 1);
	ck_assert_int_eq(answer(&e, PORTQ_RC_OK, 0), ENGINE_DONE);
	ck_assert_int_eq(e.status, PORTQ_OK);
	ck_assert_str_eq(e.result->server, c->addrs[1].label);
	ck_assert_str_eq(e.error, "");
	free(e.result);
	/* Its one try timed out: held down now; the other is up. */
	ck_assert_int_eq(health_ask(&c->addrs[0].ss, NULL, NULL), 0);
	ck_assert_int_eq(health_ask(&c->addrs[1].ss, NULL, NULL), 1);

	/* Every try silent: each address once per attempt, in order, then
	 * ETIMEDOUT with every failure named once. */
	portq_client_t *d = client_make("127.0.11.3:5380,127.0.11.4:5380", 2, 0);
	size_t order[4];
	ck_assert_int_eq(start(&e, d, 0), ENGINE_SEND);
	for (int i = 0; i < 4; i++) {
		order[i] = e.addr;
		char why[RESOLVE_LABEL_MAX + 16];
		snprintf(why, sizeof(why), "%s: timed out", d->addrs[e.addr].label);
		ck_assert_int_eq(engine_fail(&e, PORTQ_ETIMEDOUT, why, NOW),
		                 i < 3 ? ENGINE_SEND : ENGINE_DONE);
	}
	ck_assert_uint_eq(order[0], 0);
	ck_assert_uint_eq(order[1], 1);
	ck_assert_uint_eq(order[2], 0);
	ck_assert_uint_eq(order[3], 1);
	ck_assert_int_eq(e.status, PORTQ_ETIMEDOUT);
	ck_assert_ptr_null(e.result);
	char want[2 * RESOLVE_LABEL_MAX + 32];
	snprintf(want, sizeof(want), "%s: timed out; %s: timed out", d->addrs[0].label,
	         d->addrs[1].label);
	ck_assert_str_eq(e.error, want);
	client_free(d);
	client_free(c);
}
END_TEST

START_TEST(rcode_mapping)
{
	static const struct {
		uint8_t rcode;
		int status;
	} cases[] = {
		{ PORTQ_RC_OK, PORTQ_OK },
		{ PORTQ_RC_NOTFOUND, PORTQ_OK },
		{ PORTQ_RC_MALFORMED, PORTQ_EMALFORMED },
		{ PORTQ_RC_REFUSED, PORTQ_EIO },
		{ PORTQ_RC_SERVFAIL, PORTQ_EIO },
		{ PORTQ_RC_NOTIMPL, PORTQ_EIO },
	};
	portq_client_t *c = client_make("127.0.12.1:5380", 1, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		engine_t e;
		ck_assert_int_eq(start(&e, c, 0), ENGINE_SEND);
		ck_assert_int_eq(answer(&e, cases[i].rcode, 0), ENGINE_DONE);
		ck_assert_int_eq(e.status, cases[i].status);
		if (cases[i].status == PORTQ_OK) {
			ck_assert_str_eq(e.error, "");
			free(e.result);
			continue;
		}
		ck_assert_ptr_null(e.result);
		char want[128];
		snprintf(want, sizeof(want), "%s: server answered %s", c->addrs[0].label,
		         portq_rcode_name(cases[i].rcode));
		ck_assert_str_eq(e.error, want);
	}

	/* A refusal says more than a timeout: it is what the query reports,
	 * and the next server is asked meanwhile. */
	portq_client_t *d = client_make("127.0.12.2:5380,127.0.12.3:5380", 1, 0);
	engine_t e;
	ck_assert_int_eq(start(&e, d, 0), ENGINE_SEND);
	ck_assert_int_eq(answer(&e, PORTQ_RC_REFUSED, 0), ENGINE_SEND);
	ck_assert_uint_eq(e.addr, 1);
	ck_assert_int_eq(engine_fail(&e, PORTQ_ETIMEDOUT, "x: timed out", NOW), ENGINE_DONE);
	ck_assert_int_eq(e.status, PORTQ_EIO);
	client_free(d);

	/* An answer that does not decode is MALFORMED, and so is the query. */
	d = client_make("127.0.12.4:5380", 1, 0);
	ck_assert_int_eq(start(&e, d, 0), ENGINE_SEND);
	uint8_t msg[1024];
	size_t n = reply_make(&e, PORTQ_RC_OK, 0, msg, sizeof(msg));
	msg[n++] = 1;                          /* not zero padding: a stray byte */
	ck_assert(engine_reply_match(&e, msg, n));
	ck_assert_int_eq(engine_reply(&e, msg, n, NOW), ENGINE_DONE);
	ck_assert_int_eq(e.status, PORTQ_EMALFORMED);
	char want[128];
	snprintf(want, sizeof(want), "%s: malformed answer", d->addrs[0].label);
	ck_assert_str_eq(e.error, want);
	client_free(d);
	client_free(c);
}
END_TEST

START_TEST(held_down_server_skipped)
{
	/* A first query: the first address is silent, the second answers. */
	engine_t e;
	portq_client_t *c = begin(&e, "127.0.13.1:5380,127.0.13.2:5380", 1, 0, 0);
	ck_assert_int_eq(engine_fail(&e, PORTQ_ETIMEDOUT, "t", NOW), ENGINE_SEND);
	ck_assert_int_eq(answer(&e, PORTQ_RC_OK, 0), ENGINE_DONE);
	free(e.result);

	/* The next query skips the silent address and says so. */
	ck_assert_int_eq(start(&e, c, 0), ENGINE_SEND);
	ck_assert_uint_eq(e.addr, 1);
	ck_assert(strstr(e.error, "not asked (timed out") != NULL);
	ck_assert_int_eq(answer(&e, PORTQ_RC_OK, 0), ENGINE_DONE);
	ck_assert_str_eq(e.error, "");
	free(e.result);

	/* Every address held down: nothing to send, ETIMEDOUT at once. */
	portq_client_t *d = client_make("127.0.13.3:5380", 1, 0);
	ck_assert_int_eq(start(&e, d, 0), ENGINE_SEND);
	ck_assert_int_eq(engine_fail(&e, PORTQ_ETIMEDOUT, "t", NOW), ENGINE_DONE);
	ck_assert_int_eq(start(&e, d, 0), ENGINE_DONE);
	ck_assert_int_eq(e.status, PORTQ_ETIMEDOUT);
	ck_assert(strstr(e.error, "not asked (timed out") != NULL);
	client_free(d);
	client_free(c);
}
END_TEST

START_TEST(reply_matching)
{
	engine_t e;
	portq_client_t *c = begin(&e, "127.0.14.1:5380", 1, 0, 0);
	uint8_t msg[1024];
	size_t n = reply_make(&e, PORTQ_RC_OK, 0, msg, sizeof(msg));
	ck_assert(engine_reply_match(&e, msg, n));
	ck_assert(!engine_reply_match(&e, msg, PORTQ_HEADER_LEN - 1));   /* short */
	ck_assert(!engine_reply_match(&e, msg, n - 1));   /* question cut */
	uint8_t bad[1024];
	memcpy(bad, msg, n);
	bad[n - 1] ^= 1;                                  /* another question */
	ck_assert(!engine_reply_match(&e, bad, n));
	e.id ^= 1;                                        /* another ID */
	ck_assert(!engine_reply_match(&e, msg, n));
	e.id ^= 1;
	e.opcode = PORTQ_OP_PORT;                         /* another opcode */
	ck_assert(!engine_reply_match(&e, msg, n));
	e.opcode = PORTQ_OP_NAME;
	/* A query (QR clear) is not an answer. */
	ck_assert(!engine_reply_match(&e, e.query, e.qlen));
	/* MALFORMED echoes no question: the header alone matches. */
	n = reply_make(&e, PORTQ_RC_MALFORMED, 0, msg, sizeof(msg));
	ck_assert_uint_eq(n, PORTQ_HEADER_LEN);
	ck_assert(engine_reply_match(&e, msg, n));
	client_free(c);
}
END_TEST

START_TEST(budget_shared_then_spent)
{
	/* 400 ms over 2 addresses x 2 attempts: 100 ms a try. */
	engine_t e;
	portq_client_t *c = begin(&e, "127.0.15.1:5380,127.0.15.2:5380", 2, 0, 400);
	ck_assert_int_eq(e.wait_ms, 100);
	ck_assert_int_eq(engine_fail(&e, PORTQ_EIO, "refused", NOW + 40), ENGINE_SEND);
	ck_assert_int_eq(e.wait_ms, 120);      /* 360 ms left for 3 tries */
	ck_assert_int_eq(engine_fail(&e, PORTQ_EIO, "refused", NOW + 400), ENGINE_DONE);
	ck_assert_int_eq(e.status, PORTQ_EIO);
	ck_assert(strstr(e.error, "lookup budget of 400 ms spent") != NULL);
	client_free(c);
}
END_TEST

START_TEST(cache_keeps_answers)
{
	portq_cache_flush();
	engine_t e;
	portq_client_t *c = begin(&e, "127.0.16.1:5380", 1, 60, 0);
	ck_assert_int_eq(answer(&e, PORTQ_RC_NOTFOUND, 0), ENGINE_DONE);
	ck_assert_int_eq(e.status, PORTQ_OK);
	ck_assert_int_eq(e.result->cached, 0);
	free(e.result);
	ck_assert_uint_eq(cache_count(), 1);

	/* The same question: from the cache, nothing to resolve or send. */
	engine_init(&e, PORTQ_OP_NAME, &q, 0);
	ck_assert_int_eq(engine_begin(&e, c, NOW, scratch, sizeof(scratch)), ENGINE_DONE);
	ck_assert_int_eq(e.status, PORTQ_OK);
	ck_assert_int_eq(e.result->cached, 1);
	ck_assert_str_eq(e.result->server, c->addrs[0].label);
	free(e.result);

	/* INFO is never cached; a caller that looked already is not looked
	 * for again. */
	engine_init(&e, PORTQ_OP_INFO, &q, 0);
	ck_assert_uint_eq(e.klen, 0);
	engine_init(&e, PORTQ_OP_NAME, &q, 0);
	e.cache_checked = 1;
	ck_assert_int_eq(engine_begin(&e, c, NOW, scratch, sizeof(scratch)), ENGINE_RESOLVE);

	/* A failed resolution ends the query with its reason. */
	snprintf(c->resolve_error, sizeof(c->resolve_error), "resolving x: no such name");
	ck_assert_int_eq(engine_resolved(&e, PORTQ_EIO, NOW), ENGINE_DONE);
	ck_assert_int_eq(e.status, PORTQ_EIO);
	ck_assert_str_eq(e.error, "resolving x: no such name");
	portq_cache_flush();
	client_free(c);
}
END_TEST

static Suite *
engine_suite(void)
{
	const TTest *tests[] = {
		truncated_then_tcp, timeout_then_next_server, rcode_mapping,
		held_down_server_skipped, reply_matching, budget_shared_then_spent,
		cache_keeps_answers,
	};
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("engine");
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		tcase_add_test(tc, tests[i]);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = engine_suite };
