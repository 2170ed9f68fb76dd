/*
 * stats.c -- the counters of every worker summed once, and the two
 * reports made from that sum: the INFO items and the SIGUSR1 log line
 * (see stats.h). A counter listed in WORKER_COUNTERS or SERVER_COUNTERS
 * is summed and reported by both without another line of code.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "reload.h"
#include "stats.h"

void
stats_sum(const server_t *s, stats_t *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < s->n_workers; i++) {
		const worker_t *k = s->workers[i];
		for (unsigned op = 0; op <= PORTQ_OP_INFO; op++)
			sum->answers.by_opcode[op] += STAT_GET(k->stats.by_opcode[op]);
		for (unsigned rc = 0; rc <= PORTQ_RC_NOTIMPL; rc++)
			sum->answers.by_rcode[rc] += STAT_GET(k->stats.by_rcode[rc]);
		sum->answers.truncated += STAT_GET(k->stats.truncated);
		sum->answers.dropped += STAT_GET(k->stats.dropped);
#define X(field, key) sum->field += STAT_GET(k->field);
		WORKER_COUNTERS(X)
#undef X
		sum->rrl_limited += STAT_GET(k->rrl->limited);
		sum->rrl_slipped += STAT_GET(k->rrl->slipped);
	}
	sum->workers = (uint64_t)s->n_workers;
	sum->reloads = STAT_GET(s->reloads);
	sum->reload_failures = STAT_GET(s->reload_failures);
	sum->reload_timeouts = STAT_GET(s->reload_timeouts);
	sum->reload_stuck = regload_stuck();
	sum->uptime = (uint64_t)(time(NULL) - s->started);
}

void
stats_each(const stats_t *sum, stats_fn fn, void *arg)
{
	char key[32];
	for (unsigned op = PORTQ_OP_PORT; op <= PORTQ_OP_INFO; op++) {
		snprintf(key, sizeof(key), "queries-%s", portq_opcode_name(op));
		fn(arg, key, sum->answers.by_opcode[op]);
	}
	fn(arg, "queries-unknown-opcode", sum->answers.by_opcode[0]);
	for (unsigned rc = 0; rc <= PORTQ_RC_NOTIMPL; rc++) {
		snprintf(key, sizeof(key), "rcode-%s", portq_rcode_name(rc));
		fn(arg, key, sum->answers.by_rcode[rc]);
	}
	fn(arg, "truncated", sum->answers.truncated);
	fn(arg, "dropped", sum->answers.dropped);
#define X(field, name) fn(arg, name, sum->field);
	WORKER_COUNTERS(X)
	SERVER_COUNTERS(X)
#undef X
}

static void
info_item(void *arg, const char *key, uint64_t value)
{
	char v[24];
	snprintf(v, sizeof(v), "%llu", (unsigned long long)value);
	portq_info_write(arg, key, v);
}

void
stats_info_write(wire_t *w, const stats_t *sum)
{
	stats_each(sum, info_item, w);
}

typedef struct {
	char *buf;
	size_t cap, len;
} line_t;

static void
line_item(void *arg, const char *key, uint64_t value)
{
	line_t *l = arg;
	int n = snprintf(l->buf + (l->len < l->cap ? l->len : l->cap),
	                 l->len < l->cap ? l->cap - l->len : 0, "%s%s %llu",
	                 l->len > 0 ? ", " : "", key, (unsigned long long)value);
	l->len += n > 0 ? (size_t)n : 0;
}

size_t
stats_line(const stats_t *sum, char *buf, size_t cap)
{
	line_t l = { buf, cap, 0 };
	if (cap > 0)
		buf[0] = '\0';
	stats_each(sum, line_item, &l);
	return l.len;
}

void
stats_info(wire_t *w, void *arg)
{
	const worker_t *self = arg;
	stats_t sum;
	stats_sum(self->srv, &sum);
	stats_info_write(w, &sum);
}

void
stats_log(const server_t *s)
{
	stats_t sum;
	char line[STATS_LINE_MAX];
	stats_sum(s, &sum);
	stats_line(&sum, line, sizeof(line));
	log_info("statistics, serial %u: %s", reload_serial(s), line);
}
