/*
 * search.c -- the index behind SEARCH (see search.h).
 *
 * Questions of 0, 1 or 2 bytes: the empty text, every byte value and
 * every pair of bytes has a list of the documents holding it (indexes,
 * ascending, each once) for each transport a question may name (a
 * document for all protocols is in every transport's list), one after
 * the other in post[], found by direct index into start[]. A page of such
 * a question, filtered or not, is a slice of one list: its work is the
 * page, however deep it lies and however many documents the transport
 * leaves out.
 *
 * Longer questions: a suffix array over all the text (libdivsufsort),
 * every part followed by a NUL so that no match spans two parts. The
 * suffixes that begin with the question are one run of the array; the
 * documents they fall in are marked in a bitmap, which is then read in
 * document order, a word at a time, masked by the transport.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <divsufsort.h>

#include "msg.h"
#include "search.h"

#define TEXT_MAX    PORTQ_TEXT_MAX
#define WINDOW_WORDS 512        /* bitmap words on the stack: 32,768 documents */
#define WINDOW_DOCS  (WINDOW_WORDS * 64)
#define GRAMS       (1 + 256 + 65536) /* lists: every document, every byte, every pair */
#define ROWS        (PORTQ_TP_COUNT + 1)  /* lists per transport (see tp_row) */
#define LISTS       ((size_t)ROWS * GRAMS)

struct search_index {
	const search_doc_t *docs;
	size_t n, words;            /* documents; 64-bit words of a bitmap of them */
	uint32_t *start;            /* LISTS + 1 offsets into post: row * GRAMS + gram */
	uint32_t *post;             /* the lists, one after the other */
	uint8_t *text;              /* every part, NUL-terminated, then TEXT_MAX
	                               zeros so a compare never reads past it */
	int32_t *sa;                /* suffixes of text[0..text_len) in order */
	uint32_t *sa_doc;           /* the document each suffix begins in */
	size_t text_len;
	uint64_t *tp_bits;          /* per transport: the documents it sees */
};

/* The list of the empty text (k = 0), a byte (k = 1) or a pair of bytes (k = 2). */
static size_t
gram_slot(const char *s, size_t k)
{
	const unsigned char *u = (const unsigned char *)s;
	return k == 0 ? 0 : k == 1 ? 1 + (size_t)u[0] : 257 + ((size_t)u[0] << 8 | u[1]);
}

static int
tp_matches(const search_doc_t *d, uint8_t tp)
{
	return tp == PORTQ_TP_ANY || d->transport == PORTQ_TP_ANY || d->transport == tp;
}

/*
 * Rows of the lists and of tp_bits: one per transport a question may
 * name (ANY sees every document), and a last one for a transport no
 * record can carry, which sees only the documents for all protocols.
 */
static size_t
tp_row(uint8_t tp)
{
	return tp < PORTQ_TP_COUNT ? tp : PORTQ_TP_COUNT;
}

/* Put document d into list g of every row that sees it. */
static void
index_add(search_index_t *ix, size_t d, size_t g, uint32_t *count, uint32_t *fill)
{
	for (size_t row = 0; row < ROWS; row++) {
		if (!tp_matches(&ix->docs[d], (uint8_t)row))
			continue;
		size_t l = row * GRAMS + g;
		if (fill != NULL)
			ix->post[fill[l]++] = (uint32_t)d;
		else
			count[l]++;
	}
}

/*
 * One pass over every byte and pair of every document, each counted once
 * per document (mark[] holds the last document seen + 1). Counting
 * (fill == NULL) adds to count[]; filling writes each list from fill[].
 */
static void
index_pass(search_index_t *ix, uint32_t *count, uint32_t *fill, uint32_t *mark)
{
	for (size_t d = 0; d < ix->n; d++) {
		const char *p = ix->docs[d].text;
		index_add(ix, d, gram_slot(p, 0), count, fill);
		for (unsigned part = 0; part < ix->docs[d].parts; part++) {
			size_t len = strlen(p);
			for (size_t i = 0; i < len; i++) {
				for (size_t k = 1; k <= 2 && i + k <= len; k++) {
					size_t g = gram_slot(p + i, k);
					if (mark[g] == d + 1)
						continue;
					mark[g] = (uint32_t)(d + 1);
					index_add(ix, d, g, count, fill);
				}
			}
			p += len + 1;
		}
	}
}

static int
build_lists(search_index_t *ix)
{
	uint32_t *tmp = calloc(LISTS + GRAMS, sizeof(uint32_t));
	ix->start = malloc((LISTS + 1) * sizeof(uint32_t));
	if (tmp == NULL || ix->start == NULL) {
		free(tmp);
		return -1;
	}
	uint32_t *count = tmp, *mark = tmp + LISTS;
	index_pass(ix, count, NULL, mark);
	size_t total = 0;
	for (size_t l = 0; l < LISTS; l++) {
		ix->start[l] = (uint32_t)total;
		total += count[l];
		if (total > UINT32_MAX) {
			free(tmp);
			return -1;
		}
	}
	ix->start[LISTS] = (uint32_t)total;
	ix->post = malloc((total ? total : 1) * sizeof(uint32_t));
	if (ix->post == NULL) {
		free(tmp);
		return -1;
	}
	memcpy(count, ix->start, LISTS * sizeof(uint32_t));   /* now: where to fill */
	memset(mark, 0, GRAMS * sizeof(uint32_t));
	index_pass(ix, NULL, count, mark);
	free(tmp);
	return 0;
}

static int
build_suffixes(search_index_t *ix)
{
	size_t len = 0;
	for (size_t d = 0; d < ix->n; d++) {
		const char *p = ix->docs[d].text;
		for (unsigned part = 0; part < ix->docs[d].parts; part++) {
			size_t k = strlen(p) + 1;
			len += k;
			p += k;
		}
	}
	if (len > INT32_MAX - TEXT_MAX - 1)
		return -1;
	uint32_t *pos_doc = malloc((len ? len : 1) * sizeof(uint32_t));
	ix->text = calloc(len + TEXT_MAX + 1, 1);
	ix->sa = malloc((len ? len : 1) * sizeof(int32_t));
	ix->sa_doc = malloc((len ? len : 1) * sizeof(uint32_t));
	if (pos_doc == NULL || ix->text == NULL || ix->sa == NULL || ix->sa_doc == NULL) {
		free(pos_doc);
		return -1;
	}
	size_t at = 0;
	for (size_t d = 0; d < ix->n; d++) {
		const char *p = ix->docs[d].text;
		size_t block = 0;
		for (unsigned part = 0; part < ix->docs[d].parts; part++)
			block += strlen(p + block) + 1;
		memcpy(ix->text + at, p, block);
		for (size_t i = 0; i < block; i++)
			pos_doc[at + i] = (uint32_t)d;
		at += block;
	}
	ix->text_len = len;
	if (len > 0 && divsufsort(ix->text, ix->sa, (saidx_t)len) != 0) {
		free(pos_doc);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		ix->sa_doc[i] = pos_doc[ix->sa[i]];
	free(pos_doc);
	return 0;
}

static int
build_tp_bits(search_index_t *ix)
{
	ix->words = (ix->n + 63) / 64;
	ix->tp_bits = calloc((PORTQ_TP_COUNT + 1) * ix->words + 1, sizeof(uint64_t));
	if (ix->tp_bits == NULL)
		return -1;
	for (unsigned tp = 0; tp <= PORTQ_TP_COUNT; tp++)
		for (size_t d = 0; d < ix->n; d++)
			if (tp_matches(&ix->docs[d], (uint8_t)tp))
				ix->tp_bits[tp_row((uint8_t)tp) * ix->words + d / 64] |= 1ull << (d % 64);
	return 0;
}

search_index_t *
search_index_build(const search_doc_t *docs, size_t n)
{
	search_index_t *ix = calloc(1, sizeof(*ix));
	if (ix == NULL)
		return NULL;
	ix->docs = docs;
	ix->n = n;
	if (n > UINT32_MAX - 1 || build_lists(ix) < 0 || build_suffixes(ix) < 0 ||
	    build_tp_bits(ix) < 0) {
		search_index_free(ix);
		return NULL;
	}
	return ix;
}

void
search_index_free(search_index_t *ix)
{
	if (ix == NULL)
		return;
	free(ix->start);
	free(ix->post);
	free(ix->text);
	free(ix->sa);
	free(ix->sa_doc);
	free(ix->tp_bits);
	free(ix);
}

/* ------------------------------------------------------------------ query */

/* Count a match; store it if it falls in the page [offset, offset + max). */
static inline void
page_add(uint32_t d, size_t *found, size_t offset, uint32_t *out, size_t max)
{
	if (*found >= offset && *found - offset < max)
		out[*found - offset] = d;
	(*found)++;
}

/* Spend `units` of the budget; 0 (and capped) when it does not hold them. */
static int
spend(search_query_t *q, size_t units)
{
	if (q->work_max - q->work < units) {
		q->capped = 1;
		return 0;
	}
	q->work += units;
	return 1;
}

/* Every entry of an exact list is a match: the page is a slice of it. */
static size_t
run_exact(search_query_t *q, const uint32_t *list, size_t n, uint32_t *out, size_t max)
{
	size_t total = n < q->count_max ? n : q->count_max;
	size_t from = q->offset < total ? q->offset : total;
	size_t take = total - from < max ? total - from : max;
	if (!spend(q, take + 1))
		return 0;
	memcpy(out, list + from, take * sizeof(*out));
	return total;
}

/* The first suffix in sa[lo..hi) whose first len bytes compare >= text
 * (or > text, with `after`). */
static size_t
sa_bound(const search_index_t *ix, const char *text, size_t len, int after)
{
	size_t lo = 0, hi = ix->text_len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(ix->text + ix->sa[mid], text, len);
		if (c < 0 || (after && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Every suffix that begins with text: mark its document, then read the
 * marks in document order. A registry of more than WINDOW_DOCS documents
 * is read a window of them at a time, each window going over the run
 * again. The whole cost is known before any of it is spent.
 */
static size_t
run_suffixes(const search_index_t *ix, search_query_t *q, const char *text, size_t len,
             uint32_t *out, size_t max)
{
	size_t lo = sa_bound(ix, text, len, 0), hi = sa_bound(ix, text, len, 1);
	size_t windows = (ix->n + WINDOW_DOCS - 1) / WINDOW_DOCS;
	size_t step = ix->words < WINDOW_WORDS ? ix->words : WINDOW_WORDS;
	if (lo == hi)
		return 0;
	if (!spend(q, windows * (hi - lo + step)))
		return 0;
	const uint64_t *mask = ix->tp_bits + tp_row(q->transport) * ix->words;
	uint64_t bits[WINDOW_WORDS];
	size_t found = 0;
	for (size_t w = 0; w < windows; w++) {
		size_t base = w * WINDOW_DOCS;
		size_t nw = ix->words - w * WINDOW_WORDS;
		nw = nw < WINDOW_WORDS ? nw : WINDOW_WORDS;
		memset(bits, 0, nw * sizeof(bits[0]));
		for (size_t i = lo; i < hi; i++) {
			size_t d = ix->sa_doc[i] - base;   /* wraps when below the window */
			if (d < WINDOW_DOCS)
				bits[d / 64] |= 1ull << (d % 64);
		}
		for (size_t k = 0; k < nw; k++) {
			uint64_t word = bits[k] & mask[w * WINDOW_WORDS + k];
			size_t c = (size_t)__builtin_popcountll(word);
			if (found + c <= q->offset && found + c < q->count_max) {
				found += c;         /* the whole word is before the page */
				continue;
			}
			for (; word != 0 && found < q->count_max; word &= word - 1)
				page_add((uint32_t)(base + k * 64 + (size_t)__builtin_ctzll(word)),
				         &found, q->offset, out, max);
			if (found >= q->count_max)
				return found;
		}
	}
	return found;
}

size_t
search_run(const search_index_t *ix, search_query_t *q, uint32_t *out, size_t max)
{
	char text[TEXT_MAX + 1];
	size_t len = 0;
	q->work = 0;
	q->capped = 0;
	for (; q->text[len] != '\0'; len++) {
		if (len == TEXT_MAX)
			return 0;
		text[len] = (char)tolower((unsigned char)q->text[len]);
	}
	text[len] = '\0';
	if (len <= 2) {
		size_t l = tp_row(q->transport) * GRAMS + gram_slot(text, len);
		return run_exact(q, ix->post + ix->start[l], ix->start[l + 1] - ix->start[l],
		                 out, max);
	}
	return run_suffixes(ix, q, text, len, out, max);
}
