/*
 * stats.c -- the counters of every worker summed for INFO and the
 * SIGUSR1 log line (see stats.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "reload.h"
#include "stats.h"

void
stats_info(wire_t *w, void *arg)
{
	const worker_t *self = arg;
	const server_t *s = self->srv;
	answer_stats_t sum;
	uint64_t accepted = 0, refused = 0, acl = 0, slow = 0, limited = 0, slipped = 0;
	uint64_t send_errors = 0, holds = 0, evicted = 0, retired = 0, tcp_dropped = 0;
	long open = 0;
	memset(&sum, 0, sizeof(sum));
	for (int i = 0; i < s->n_workers; i++) {
		const worker_t *k = s->workers[i];
		for (unsigned op = 0; op <= PORTQ_OP_INFO; op++)
			sum.by_opcode[op] += STAT_GET(k->stats.by_opcode[op]);
		for (unsigned rc = 0; rc <= PORTQ_RC_NOTIMPL; rc++)
			sum.by_rcode[rc] += STAT_GET(k->stats.by_rcode[rc]);
		sum.truncated += STAT_GET(k->stats.truncated);
		sum.dropped += STAT_GET(k->stats.dropped);
		accepted += STAT_GET(k->tcp_accepted);
		refused += STAT_GET(k->tcp_refused);
		open += STAT_GET(k->n_conns);
		acl += STAT_GET(k->acl_refused);
		slow += STAT_GET(k->tcp_slow_closed);
		evicted += STAT_GET(k->tcp_evicted);
		retired += STAT_GET(k->tcp_retired);
		tcp_dropped += STAT_GET(k->tcp_dropped);
		send_errors += STAT_GET(k->send_errors);
		holds += STAT_GET(k->udp_holds);
		limited += STAT_GET(k->rrl->limited);
		slipped += STAT_GET(k->rrl->slipped);
	}
	char v[32];
#define STAT(key, value) \
	do { snprintf(v, sizeof(v), "%llu", (unsigned long long)(value)); \
	     portq_info_write(w, (key), v); } while (0)
	for (unsigned op = PORTQ_OP_PORT; op <= PORTQ_OP_INFO; op++) {
		char key[32];
		snprintf(key, sizeof(key), "queries-%s", portq_opcode_name(op));
		STAT(key, sum.by_opcode[op]);
	}
	STAT("queries-unknown-opcode", sum.by_opcode[0]);
	for (unsigned rc = 0; rc <= PORTQ_RC_NOTIMPL; rc++) {
		char key[32];
		snprintf(key, sizeof(key), "rcode-%s", portq_rcode_name(rc));
		STAT(key, sum.by_rcode[rc]);
	}
	STAT("truncated", sum.truncated);
	STAT("dropped", sum.dropped);
	STAT("udp-send-errors", send_errors);
	STAT("udp-holds", holds);
	STAT("tcp-accepted", accepted);
	STAT("tcp-refused", refused);
	STAT("tcp-open", open);
	STAT("tcp-slow-closed", slow);
	STAT("tcp-evicted", evicted);
	STAT("tcp-retired", retired);
	STAT("tcp-dropped", tcp_dropped);
	STAT("acl-refused", acl);
	STAT("rrl-limited", limited);
	STAT("rrl-slipped", slipped);
	STAT("workers", s->n_workers);
	STAT("reloads", STAT_GET(s->reloads));
	STAT("reload-failures", STAT_GET(s->reload_failures));
	STAT("reload-timeouts", STAT_GET(s->reload_timeouts));
	STAT("reload-stuck", regload_stuck());
	STAT("uptime", time(NULL) - s->started);
#undef STAT
}

void
stats_log(const server_t *s)
{
	uint64_t op[PORTQ_OP_INFO + 1] = { 0 }, rc[PORTQ_RC_NOTIMPL + 1] = { 0 };
	uint64_t trunc = 0, drop = 0, acc = 0, ref = 0, idle = 0;
	long open = 0;
	for (int i = 0; i < s->n_workers; i++) {
		const worker_t *w = s->workers[i];
		for (unsigned k = 0; k <= PORTQ_OP_INFO; k++)
			op[k] += STAT_GET(w->stats.by_opcode[k]);
		for (unsigned k = 0; k <= PORTQ_RC_NOTIMPL; k++)
			rc[k] += STAT_GET(w->stats.by_rcode[k]);
		trunc += STAT_GET(w->stats.truncated);
		drop += STAT_GET(w->stats.dropped);
		acc += STAT_GET(w->tcp_accepted);
		ref += STAT_GET(w->tcp_refused);
		idle += STAT_GET(w->tcp_idle_closed);
		open += STAT_GET(w->n_conns);
	}
	log_info("serial %u, %d workers; queries port %llu name %llu range %llu "
	         "search %llu info %llu unknown %llu; ok %llu not-found %llu malformed %llu "
	         "not-implemented %llu; truncated %llu, dropped %llu; tcp accepted %llu "
	         "refused %llu idle-closed %llu open %ld; reloads %llu failed %llu "
	         "timed out %llu, %u stuck",
	         reload_serial(s), s->n_workers,
	         (unsigned long long)op[PORTQ_OP_PORT], (unsigned long long)op[PORTQ_OP_NAME],
	         (unsigned long long)op[PORTQ_OP_RANGE], (unsigned long long)op[PORTQ_OP_SEARCH],
	         (unsigned long long)op[PORTQ_OP_INFO], (unsigned long long)op[0],
	         (unsigned long long)rc[PORTQ_RC_OK], (unsigned long long)rc[PORTQ_RC_NOTFOUND],
	         (unsigned long long)rc[PORTQ_RC_MALFORMED], (unsigned long long)rc[PORTQ_RC_NOTIMPL],
	         (unsigned long long)trunc, (unsigned long long)drop, (unsigned long long)acc,
	         (unsigned long long)ref, (unsigned long long)idle, open,
	         (unsigned long long)s->reloads, (unsigned long long)s->reload_failures,
	         (unsigned long long)s->reload_timeouts, regload_stuck());
}
