/*
 * search.h -- substring search over the records' lower-cased text, for
 * SEARCH: an index built once per registry load, and a question whose
 * work is bounded and known before it is spent.
 *
 * A question of 0, 1 or 2 bytes is answered from its posting list (the
 * documents holding that byte or pair, in order), kept per transport, so
 * that its page is a slice of one list even when a transport is named. A longer one from a
 * suffix array over all the text: the suffixes that begin with it are
 * one run of the array, found by binary search, and the documents they
 * fall in are read in order from a bitmap. No candidate is ever compared
 * a second time, so the cost is the number of occurrences plus one bit
 * per document, however long the question and however deep the page.
 *
 * Work is counted in units: one per index entry read (a posting entry or
 * an occurrence) and one per 64 documents of bitmap. A question whose
 * work would pass its budget stops (`capped`) and returns nothing.
 */
#ifndef PORTQ_SEARCH_H
#define PORTQ_SEARCH_H

#include <stddef.h>
#include <stdint.h>

/*
 * The work one SEARCH answer may take (see docs/hardening.md). A question
 * of up to 2 bytes costs its page plus one, filtered or not; the most any
 * longer one needs on the IANA registry is 4,195 units ("ser": one unit
 * per occurrence plus one per 64 documents), so this leaves it twice that.
 */
#define SEARCH_WORK_MAX 8192

typedef struct {
	const char *text;        /* lower-cased parts, consecutive NUL-terminated
	                            strings; a match never spans two parts */
	uint8_t parts;
	uint8_t transport;       /* portq_transport_t; ANY matches every query */
} search_doc_t;

typedef struct search_index search_index_t;

/*
 * Index docs[0..n). The index borrows docs (and their text), which must
 * outlive it. Returns NULL when memory runs out.
 */
search_index_t *search_index_build(const search_doc_t *docs, size_t n);
void search_index_free(search_index_t *ix);

typedef struct {
	/* in */
	const char *text;        /* what to look for, any case; NUL-terminated */
	uint8_t transport;       /* portq_transport_t; ANY matches every doc */
	size_t offset;           /* matches to skip */
	size_t count_max;        /* stop once this many matches are counted */
	size_t work_max;         /* budget in work units; SIZE_MAX: none */
	/* out */
	size_t work;             /* units spent */
	int capped;              /* 1: the budget did not cover the work; nothing
	                            was returned */
} search_query_t;

/*
 * Find the documents whose text contains q->text case-insensitively (ASCII
 * letters only), that match q->transport, in document order. Skips the
 * first q->offset, puts the next ones' indexes in out[0..max), and returns
 * how many match in all, counting no further than q->count_max; 0 when
 * capped. An empty text matches every document; a text longer than
 * PORTQ_TEXT_MAX none. Reads only; any number of threads may search one
 * index at once. Allocates nothing (uses 4 KiB of stack).
 */
size_t search_run(const search_index_t *ix, search_query_t *q, uint32_t *out, size_t max);

#endif /* PORTQ_SEARCH_H */
