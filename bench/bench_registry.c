/*
 * bench_registry.c -- how long the registry takes to load and index a
 * file, and how long one lookup by port or by name takes.
 *
 *   bench_registry [FILE] [ROUNDS]
 *
 * Load: the median of ROUNDS full loads (read, parse, index). Lookups:
 * batches of lookups of ports and names drawn at random from the
 * registry itself; the median over batches of the time per lookup.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "format.h"
#include "registry.h"

#define BATCH   1000
#define BATCHES 1000

static double
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static registry_t *
load(const char *path)
{
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	if (b == NULL || reg_builder_load(b, path, REG_FMT_AUTO, &err) != PORTQ_OK) {
		fprintf(stderr, "%s\n", b ? err.text : "out of memory");
		reg_builder_free(b);
		return NULL;
	}
	return registry_build(b, 1);
}

int
main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] :
	    PORTQ_DATA_DIR "/service-names-port-numbers.csv";
	int rounds = argc > 2 ? atoi(argv[2]) : 21;
	if (rounds < 1)
		rounds = 1;

	double *t = calloc((size_t)(rounds > BATCHES ? rounds : BATCHES), sizeof(double));
	registry_t *r = NULL;
	for (int i = 0; i < rounds; i++) {
		double t0 = now_ns();
		registry_t *next = load(path);
		t[i] = now_ns() - t0;
		if (next == NULL)
			return 1;
		registry_free(r);
		r = next;
	}
	printf("file: %s\n", path);
	printf("records: %zu, names: %zu\n", registry_count(r), registry_name_count(r));
	printf("load+index: median %.2f ms over %d rounds\n", median(t, (size_t)rounds) / 1e6, rounds);

	/* Queries drawn from the registry itself, fixed seed: repeatable. */
	size_t n = registry_count(r);
	uint16_t *ports = malloc(BATCH * sizeof(uint16_t));
	const char **names = malloc(BATCH * sizeof(char *));
	srand(42);
	for (int i = 0; i < BATCH; i++) {
		const reg_entry_t *e;
		do
			e = registry_entry(r, (size_t)rand() % n);
		while (!e->has_port);
		ports[i] = e->port_lo;
		do
			e = registry_entry(r, (size_t)rand() % n);
		while (e->name[0] == '\0');
		names[i] = e->name;
	}
	const reg_entry_t *out[64];
	size_t sink = 0;
	for (int b = 0; b < BATCHES; b++) {
		double t0 = now_ns();
		for (int i = 0; i < BATCH; i++)
			sink += registry_by_port(r, ports[i], PORTQ_TP_TCP, out, 64);
		t[b] = (now_ns() - t0) / BATCH;
	}
	printf("lookup by port: median %.1f ns (%d batches of %d)\n",
	       median(t, BATCHES), BATCHES, BATCH);
	for (int b = 0; b < BATCHES; b++) {
		double t0 = now_ns();
		for (int i = 0; i < BATCH; i++)
			sink += registry_by_name(r, names[i], PORTQ_TP_ANY, out, 64);
		t[b] = (now_ns() - t0) / BATCH;
	}
	printf("lookup by name: median %.1f ns (%d batches of %d)\n",
	       median(t, BATCHES), BATCHES, BATCH);
	for (int b = 0; b < BATCHES; b++) {
		portq_context_t ctx;
		double t0 = now_ns();
		for (int i = 0; i < BATCH; i++) {
			registry_context(r, (uint16_t)(ports[i] + 1), PORTQ_TP_ANY, &ctx);
			sink += ctx.free_lo;
		}
		t[b] = (now_ns() - t0) / BATCH;
	}
	printf("port context:   median %.1f ns (%d batches of %d)\n",
	       median(t, BATCHES), BATCHES, BATCH);
	if (sink == 0)
		printf("(no results?)\n");
	free(ports);
	free(names);
	free(t);
	registry_free(r);
	return 0;
}
