/*
 * bench_search.c -- what one SEARCH answer costs next to one PORT answer,
 * through the answering function (answer_query).
 *
 *   bench_search [FILE]
 *
 * For each kind of question: the median over 51 batches of the time per
 * answer. The kinds: PORT on ports drawn from the registry; SEARCH with
 * 255 bytes of random letters; 255 bytes of common words run together
 * (every piece common, the whole nowhere); pieces of real descriptions
 * (first page); the last page of "serv" over tcp (the broadest 4-byte
 * question); and the last page of "e" over tcp, until the per-transport lists the most work any
 * question needs on the IANA registry.
 *
 * It uses nothing but answer_query() and the registry's records, so the
 * same file builds on commits before the index (71efc69) for a before
 * and after on one machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "format.h"
#include "registry.h"

#define BATCHES 51
#define QUESTIONS 64

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

typedef struct {
	uint8_t req[QUESTIONS][512];
	size_t len[QUESTIONS];
	int n;
} set_t;

static void
set_add(set_t *s, uint8_t op, const portq_question_t *q)
{
	portq_header_t h = { .opcode = op, .id = (uint16_t)s->n };
	wire_t w = wire_writer(s->req[s->n], sizeof(s->req[0]));
	portq_header_write(&w, &h);
	portq_question_write(&w, q);
	s->len[s->n] = wire_used(&w);
	s->n++;
}

/* Per answer, in ns: the median over batches of the whole set. */
static double
time_answers(const registry_t *r, const set_t *s)
{
	static uint8_t out[PORTQ_UDP_MAX];
	double t[BATCHES];
	answer_ctx_t ctx = { .reg = r };
	size_t sink = 0;
	for (int b = 0; b < BATCHES; b++) {
		double t0 = now_ns();
		for (int i = 0; i < s->n; i++)
			sink += answer_query(&ctx, s->req[i], s->len[i], out, sizeof(out)).len;
		t[b] = (now_ns() - t0) / s->n;
	}
	qsort(t, BATCHES, sizeof(t[0]), cmp_double);
	return sink ? t[BATCHES / 2] : 0;
}

int
main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] :
	    PORTQ_DATA_DIR "/service-names-port-numbers.csv";
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	if (b == NULL || reg_builder_load(b, path, REG_FMT_AUTO, &err) != PORTQ_OK) {
		fprintf(stderr, "%s\n", b ? err.text : "out of memory");
		return 1;
	}
	double t0 = now_ns();
	registry_t *r = registry_build(b, 1);
	if (r == NULL)
		return 1;
	printf("file: %s, %zu records, registry built (with its indexes) in %.1f ms\n", path,
	       registry_count(r), (now_ns() - t0) / 1e6);

	enum { KINDS = 6 };
	static set_t sets[KINDS];
	static char texts[KINDS][QUESTIONS][PORTQ_TEXT_MAX + 1];
	const char *names[KINDS] = {
		"PORT, ports of the registry",
		"SEARCH, 255 random letters",
		"SEARCH, 255 bytes of common words",
		"SEARCH, pieces of descriptions",
		"SEARCH \"serv\" over tcp, last page",
		"SEARCH \"e\" over tcp, last page",
	};
	srand(42);
	size_t n = registry_count(r);
	for (int i = 0; i < QUESTIONS; i++) {
		const reg_entry_t *e;
		do
			e = registry_entry(r, (size_t)rand() % n);
		while (!e->has_port || strlen(e->description) < 8);
		portq_question_t q = { .port_lo = e->port_lo };
		set_add(&sets[0], PORTQ_OP_PORT, &q);

		for (int k = 1; k < KINDS; k++) {
			char *t = texts[k][i];
			portq_question_t sq = { 0 };
			if (k == 1 || k == 2) {
				for (int j = 0; j < PORTQ_TEXT_MAX; j++)
					t[j] = k == 1 ? (char)('a' + rand() % 26)
					              : "service protocol server network "[(j + i) % 32];
				t[PORTQ_TEXT_MAX] = '\0';
			} else if (k == 3) {
				snprintf(t, PORTQ_TEXT_MAX + 1, "%.*s", 4 + rand() % 8,
				         e->description + rand() % 4);
			} else {
				/* Past the last match: every match counted, none sent. */
				strcpy(t, k == 4 ? "serv" : "e");
				sq.transport = PORTQ_TP_TCP;
				sq.offset = 20000;
			}
			portq_question_set_text(&sq, t);
			set_add(&sets[k], PORTQ_OP_SEARCH, &sq);
		}
	}
	double port = time_answers(r, &sets[0]);
	printf("%-36s %12s %10s\n", "question", "us/answer", "x PORT");
	for (int k = 0; k < KINDS; k++) {
		double t = k ? time_answers(r, &sets[k]) : port;
		printf("%-36s %12.2f %10.1f\n", names[k], t / 1e3, t / port);
	}
	registry_free(r);
	return 0;
}
