/*
 * result.c -- a response decoded into a portq_result_t (see result.h).
 *
 * The size of everything a result holds is bounded by the message itself:
 * each string costs at least its length plus a 3-byte field header on the
 * wire, each alias at least 4 bytes, each record at least 10. So one
 * allocation sized from the message length and the header's counts holds
 * the whole result, and portq_result_free() is a single free().
 */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "result.h"

typedef struct {
	char *base;
	size_t used, cap;
} pool_t;

static void *
pool_take(pool_t *p, size_t n, size_t align)
{
	size_t off = (p->used + align - 1) & ~(align - 1);
	if (off > p->cap || n > p->cap - off)
		return NULL;    /* cannot happen with the sizing below; kept safe */
	p->used = off + n;
	return p->base + off;
}

static const char *
pool_str(pool_t *p, portq_str_t s)
{
	if (s.len == 0)
		return "";
	char *d = pool_take(p, (size_t)s.len + 1, 1);
	if (d == NULL)
		return NULL;
	memcpy(d, s.ptr, s.len);
	d[s.len] = '\0';
	return d;
}

/* A field holding a NUL byte would end early as a C string: refuse it. */
static int
str_ok(portq_str_t s)
{
	return s.len == 0 || memchr(s.ptr, 0, s.len) == NULL;
}

/* Each field of the wire record into the entry, by kind (proto/fields.h). */
#define FILL(m, api, kind, wire, max, rank, label, what) FILL_##kind(m, api)
#define FILL_TEXT(m, api)                                                     \
	if (!str_ok(r->m) || (e->api = pool_str(p, r->m)) == NULL)            \
		return PORTQ_EMALFORMED;
#define FILL_LIST(m, api) {                                                   \
		const char **list = pool_take(p, ((size_t)r->n_##m + 1) * sizeof(char *), \
		                              alignof(char *));               \
		if (list == NULL)                                             \
			return PORTQ_EMALFORMED;                               \
		for (unsigned i = 0; i < r->n_##m; i++)                       \
			if (!str_ok(r->m[i]) || (list[i] = pool_str(p, r->m[i])) == NULL) \
				return PORTQ_EMALFORMED;                       \
		list[r->n_##m] = NULL;                                        \
		e->api = list;                                                \
		e->n_##api = r->n_##m;                                        \
	}
#define FILL_ENUM(m, api) e->api = portq_##m##_name(r->m);
#define FILL_PORTS(m, api)                                                    \
	e->has_##api = (r->rflags & PORTQ_RF_HAS_PORT) != 0;                  \
	e->api##_lo = e->has_##api ? r->m##_lo : 0;                           \
	e->api##_hi = e->has_##api ? r->m##_hi : 0;
#define FILL_FLAG(m, api) e->api = portq_record_##m(r);

static int
entry_fill(pool_t *p, const portq_record_t *r, portq_entry_t *e)
{
	PORTQ_RECORD_FIELDS(FILL)
	return PORTQ_OK;
}

static int
records_read(wire_t *w, pool_t *p, size_t n, portq_entry_t *out)
{
	for (size_t i = 0; i < n; i++) {
		portq_record_t r;
		int rc = portq_record_read(w, &r);
		if (rc != PORTQ_OK)
			return PORTQ_EMALFORMED;
		if ((rc = entry_fill(p, &r, &out[i])) != PORTQ_OK)
			return rc;
	}
	return PORTQ_OK;
}

static int
info_read(wire_t *w, pool_t *p, size_t n, portq_info_t *out)
{
	for (size_t i = 0; i < n; i++) {
		portq_str_t k, v;
		if (portq_info_read(w, &k, &v) != PORTQ_OK || !str_ok(k) || !str_ok(v))
			return PORTQ_EMALFORMED;
		out[i].key = pool_str(p, k);
		out[i].value = pool_str(p, v);
		if (out[i].key == NULL || out[i].value == NULL)
			return PORTQ_EMALFORMED;
	}
	return PORTQ_OK;
}

/* Whether two entries hold the same in every field (proto/fields.h). */
#define SAME(m, api, kind, wire, max, rank, label, what) && SAME_##kind(api)
#define SAME_TEXT(api)  strcmp(a->api, b->api) == 0
#define SAME_LIST(api)  list_same(a->api, a->n_##api, b->api, b->n_##api)
#define SAME_ENUM(api)  strcmp(a->api, b->api) == 0
#define SAME_PORTS(api) a->has_##api == b->has_##api && a->api##_lo == b->api##_lo && \
                        a->api##_hi == b->api##_hi
#define SAME_FLAG(api)  a->api == b->api

static int
list_same(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

static int
entry_same(const portq_entry_t *a, const portq_entry_t *b)
{
	return 1 PORTQ_RECORD_FIELDS(SAME);
}

/*
 * Where the additional records of a PORT answer switch from the port below
 * to the port above. The wire gives one list, below first, and a range
 * (x11, 6000-6063) may be the neighbour on both sides and so come twice:
 * the below part is the longest prefix of records that cover the port
 * below without repeating one already in it.
 */
static size_t
below_count(const portq_port_t *pt, const portq_entry_t *n, size_t count)
{
	if (!pt->has_below)
		return 0;
	if (!pt->has_above)
		return count;
	size_t k = 0;
	for (; k < count; k++) {
		if (!n[k].has_port || n[k].port_lo > pt->below || pt->below > n[k].port_hi)
			break;
		size_t j = 0;
		while (j < k && !entry_same(&n[j], &n[k]))
			j++;
		if (j < k)
			break;
	}
	return k;
}

static void
port_fill(const portq_context_t *c, unsigned port, portq_port_t *pt)
{
	pt->port = port;
	pt->range_class = portq_class_name(c->range_class);
	pt->privileged = port < 1024;
	pt->state = portq_status_name(c->state);
	pt->has_free = (c->cflags & PORTQ_CF_FREE) != 0;
	pt->free_lo = pt->has_free ? c->free_lo : 0;
	pt->free_hi = pt->has_free ? c->free_hi : 0;
	pt->has_below = (c->cflags & PORTQ_CF_BELOW) != 0;
	pt->below = pt->has_below ? c->below : 0;
	pt->has_above = (c->cflags & PORTQ_CF_ABOVE) != 0;
	pt->above = pt->has_above ? c->above : 0;
}

int
result_decode(const uint8_t *msg, size_t len, const char *server, int tcp,
              portq_result_t **out, size_t *used)
{
	wire_t w = wire_reader(msg, len);
	portq_header_t h;
	if (portq_header_read(&w, &h) != PORTQ_OK)
		return PORTQ_EMALFORMED;
	return result_decode_reply(&h, msg, len, server, tcp, out, used);
}

int
result_decode_reply(const portq_header_t *hp, const uint8_t *msg, size_t len,
                    const char *server, int tcp, portq_result_t **out, size_t *used)
{
	const portq_header_t h = *hp;
	wire_t w = wire_reader(msg, len);
	wire_skip(&w, PORTQ_HEADER_LEN);     /* read already: the question follows */
	portq_question_t q;
	if (portq_question_read(&w, &q) != PORTQ_OK)
		return PORTQ_EMALFORMED;
	if (h.rcode != PORTQ_RC_OK && h.rcode != PORTQ_RC_NOTFOUND)
		return PORTQ_EMALFORMED;
	int is_info = h.opcode == PORTQ_OP_INFO;
	int is_port = h.opcode == PORTQ_OP_PORT;
	size_t n_rec = is_info ? h.adcount : (size_t)h.ancount + h.adcount;
	size_t n_info = is_info ? h.ancount : 0;
	/* Counts that promise more than the bytes could hold are lies. */
	if (n_rec * PORTQ_RECORD_MIN + n_info * 3 > len || (is_info && h.adcount != 0))
		return PORTQ_EMALFORMED;

	size_t slen = strlen(server);
	size_t cap = sizeof(portq_result_t) + sizeof(portq_port_t) +
	             n_rec * sizeof(portq_entry_t) + n_info * sizeof(portq_info_t) +
	             (len / 4 + n_rec + 1) * sizeof(char *) + len + slen + 1 +
	             (n_rec + 8) * alignof(max_align_t);
	pool_t p = { malloc(cap), 0, cap };
	if (p.base == NULL)
		return PORTQ_ENOMEM;
	int rc = PORTQ_EMALFORMED;
	portq_result_t *r = pool_take(&p, sizeof(*r), alignof(portq_result_t));
	char *srv = pool_take(&p, slen + 1, 1);
	portq_port_t *pt = pool_take(&p, sizeof(*pt), alignof(portq_port_t));
	portq_entry_t *e = pool_take(&p, n_rec * sizeof(*e), alignof(portq_entry_t));
	portq_info_t *items = pool_take(&p, n_info * sizeof(*items), alignof(portq_info_t));
	if (r == NULL || srv == NULL || pt == NULL || e == NULL || items == NULL)
		goto fail;      /* the sizing above rules it out */
	memset(r, 0, sizeof(*r));
	r->serial = h.serial;
	r->more = (h.flags & PORTQ_FLAG_MORE) != 0;
	/* Read from the header, so a cached answer (the message) keeps it. */
	r->partial = h.opcode == PORTQ_OP_SEARCH && (h.flags & PORTQ_FLAG_PARTIAL) != 0;
	r->tcp = tcp;
	memcpy(srv, server, slen + 1);
	r->server = srv;

	if (is_port) {
		portq_context_t c;
		if (portq_context_read(&w, &c) != PORTQ_OK)
			goto fail;
		port_fill(&c, q.port_lo, pt);
		r->port = pt;
	}
	if (is_info) {
		rc = info_read(&w, &p, n_info, items);
		r->info = items;
		r->n_info = n_info;
	} else {
		rc = records_read(&w, &p, n_rec, e);
		r->entries = e;
		r->n_entries = h.ancount;
		r->neighbours = e + h.ancount;
		r->n_neighbours = h.adcount;
		if (rc == PORTQ_OK && r->port != NULL)
			r->n_below = below_count(r->port, r->neighbours, r->n_neighbours);
	}
	/* Bytes after the last record: only UDP padding, zeros (protocol 2.1). */
	if (rc == PORTQ_OK && wire_left(&w) != 0 &&
	    (tcp || !portq_padding_ok(w.pos, wire_left(&w))))
		rc = PORTQ_EMALFORMED;
	if (rc != PORTQ_OK)
		goto fail;
	if (used != NULL)
		*used = len - wire_left(&w);
	*out = r;
	return PORTQ_OK;
fail:
	free(p.base);
	return rc;
}
