/*
 * servent.c -- getservbyport(3) and getservbyname(3) answered by portq
 * (see portq.h for the contract).
 *
 * A lookup runs on the process's default client (default.h) and asks the
 * cache for the servent its answer gives, kept beside the answer as a
 * "view": a hit is one locked copy into the caller's buffer, with no
 * allocation and no system call. A miss runs the query engine (engine.h)
 * on the thread's handle, with the cache key already made; the view is
 * made from the answer, and the cache takes the two together.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "client.h"
#include "default.h"
#include "engine.h"
#include "msg.h"
#include "transport.h"

/* Room for a name, 32 aliases and their pointers; more is ERANGE. */
#define SERVENT_TLS_BUF 8192

/* A positive errno for a negative portq error. */
static int
errno_of(int rc)
{
	switch (rc) {
	case PORTQ_EINVAL:    return EINVAL;
	case PORTQ_ENOMEM:    return ENOMEM;
	case PORTQ_ETIMEDOUT: return ETIMEDOUT;
	default:              return EIO;
	}
}

/*
 * The view of an answer that the cache keeps beside it (cache.h): the
 * servent it gives for its question, ready to copy out.
 *
 *   +-------+--------+-----------+----------+-----------+--------------------+
 *   | found | s_port | n_aliases | name len | proto len | name\0 proto\0     |
 *   |  u8   |  int   |    u16    |   u16    |    u16    | alias\0 ...        |
 *   +-------+--------+-----------+----------+-----------+--------------------+
 *
 * Nothing follows `found` when it is 0 (no such entry). It lives in this
 * process only, so fields are in host layout (s_port as the servent holds
 * it, in network order); the lengths spare the hit two strlen() calls.
 */
#define VIEW_FIXED 11

typedef struct {
	struct servent *se;
	char *buf;
	size_t buflen;
	int found;
	int err;
} fill_t;

/*
 * Fill the servent from a view: the alias array first (aligned), then the
 * strings, all inside buf as glibc does. Runs under the cache's lock on a
 * hit: a length check, one copy, the pointers.
 */
static void
view_fill(void *ctx, const uint8_t *v, size_t len)
{
	fill_t *f = ctx;
	f->found = 0;
	f->err = 0;
	if (v[0] == 0 || len < VIEW_FIXED)
		return;
	int port;
	uint16_t n_aliases, name_len, proto_len;
	memcpy(&port, v + 1, sizeof(port));
	memcpy(&n_aliases, v + 5, sizeof(n_aliases));
	memcpy(&name_len, v + 7, sizeof(name_len));
	memcpy(&proto_len, v + 9, sizeof(proto_len));
	const char *strings = (const char *)v + VIEW_FIXED;
	size_t slen = len - VIEW_FIXED;
	size_t used = (size_t)(-(uintptr_t)f->buf & (alignof(char *) - 1));
	size_t ptrs = ((size_t)n_aliases + 1) * sizeof(char *);
	if (used > f->buflen || ptrs > f->buflen - used || slen > f->buflen - used - ptrs) {
		f->err = ERANGE;
		return;
	}
	char **aliases = (char **)(void *)(f->buf + used);
	char *p = f->buf + used + ptrs;
	memcpy(p, strings, slen);
	f->se->s_name = p;
	p += (size_t)name_len + 1;
	f->se->s_proto = p;
	p += (size_t)proto_len + 1;
	for (size_t i = 0; i < n_aliases; i++) {
		aliases[i] = p;
		p += strlen(p) + 1;
	}
	aliases[n_aliases] = NULL;
	f->se->s_aliases = aliases;
	f->se->s_port = port;
	f->found = 1;
}

/*
 * The protocol to report: the record's own, or for a record valid for all
 * protocols the one asked for, "tcp" when none was.
 */
static const char *
proto_of(const portq_entry_t *e, int asked)
{
	if (strcmp(e->protocol, "any") != 0)
		return e->protocol;
	return asked > 0 ? portq_transport_name((unsigned)asked) : "tcp";
}

/*
 * The view of answer r to a lookup by port (port_host >= 0) or by name,
 * for protocol tp: the first assigned (or local) record with a name and a
 * port, as services(5) lists only those. A new allocation in *out.
 */
static int
view_make(const portq_result_t *r, int port_host, int tp, uint8_t **out, size_t *len)
{
	const portq_entry_t *e = NULL;
	for (size_t i = 0; i < r->n_entries && e == NULL; i++)
		if (r->entries[i].assigned && r->entries[i].name[0] != '\0' &&
		    r->entries[i].has_port)
			e = &r->entries[i];
	const char *proto = e != NULL ? proto_of(e, tp) : "";
	size_t name_len = e != NULL ? strlen(e->name) : 0, proto_len = strlen(proto);
	size_t n = e != NULL ? VIEW_FIXED : 1;
	if (e != NULL) {
		if (name_len > UINT16_MAX || proto_len > UINT16_MAX)
			return PORTQ_EMALFORMED;   /* longer than a message: cannot happen */
		n += name_len + 1 + proto_len + 1;
		for (size_t i = 0; i < e->n_aliases; i++)
			n += strlen(e->aliases[i]) + 1;
	}
	uint8_t *v = calloc(1, n);
	if (v == NULL)
		return PORTQ_ENOMEM;
	if (e != NULL) {
		int port = (int)htons((uint16_t)(port_host >= 0 ? (unsigned)port_host : e->port_lo));
		uint16_t n_aliases = (uint16_t)e->n_aliases;   /* at most PORTQ_MAX_ALIASES */
		uint16_t nl = (uint16_t)name_len, pl = (uint16_t)proto_len;
		v[0] = 1;
		memcpy(v + 1, &port, sizeof(port));
		memcpy(v + 5, &n_aliases, sizeof(n_aliases));
		memcpy(v + 7, &nl, sizeof(nl));
		memcpy(v + 9, &pl, sizeof(pl));
		size_t used = VIEW_FIXED;
		const char *s[] = { e->name, proto };
		for (size_t i = 0; i < 2 + e->n_aliases; i++) {
			const char *str = i < 2 ? s[i] : e->aliases[i - 2];
			size_t sl = strlen(str) + 1;
			memcpy(v + used, str, sl);
			used += sl;
		}
	}
	*out = v;
	*len = n;
	return PORTQ_OK;
}

/* The engine's view hook (engine.h): the view of a lookup's answer, kept
 * here for the lookup and given to the cache. */
typedef struct {
	int port_host;
	int tp;
	uint8_t *view;
	size_t len;
	int rc;                     /* view_make()'s; PORTQ_EIO: not called */
} view_t;

static int
view_of(void *ctx, const portq_result_t *r, const uint8_t **view, size_t *len)
{
	view_t *v = ctx;
	free(v->view);
	v->view = NULL;
	v->rc = view_make(r, v->port_host, v->tp, &v->view, &v->len);
	*view = v->view;
	*len = v->rc == PORTQ_OK ? v->len : 0;
	return v->rc;
}

/* Run one lookup: port >= 0 asks PORT, else NAME. */
static int
servent_lookup(int port_host, const char *name, const char *proto,
               struct servent *se, char *buf, size_t buflen, struct servent **result)
{
	if (result == NULL)
		return EINVAL;
	*result = NULL;
	if (se == NULL || buf == NULL || (port_host < 0 && name == NULL))
		return EINVAL;
	int tp = client_proto_parse(proto);
	size_t name_len = name != NULL ? strlen(name) : 0;
	if (tp < 0 || (name != NULL && (name_len == 0 || name_len > PORTQ_TEXT_MAX)))
		return 0;      /* a protocol portq does not carry, a name no service has */

	default_thread_t *t;
	long long now;
	int rc = default_thread_get(&t, &now);
	if (rc < 0)
		return errno_of(rc);
	/* Field by field: clearing the 256-byte text would cost more than
	 * the hash of the key. */
	portq_question_t q;
	q.transport = (uint8_t)tp;
	q.qflags = 0;
	q.port_lo = port_host >= 0 ? (uint16_t)port_host : 0;
	q.port_hi = 0;
	q.offset = 0;
	q.limit = 0;
	q.text_len = (uint8_t)name_len;
	memcpy(q.text, port_host >= 0 ? "" : name, name_len + 1);
	uint8_t opcode = port_host >= 0 ? PORTQ_OP_PORT : PORTQ_OP_NAME;
	/* The engine's key serves the cache's look here and its own below;
	 * a short budget of its own: this runs inside any process through the
	 * NSS module, and a getaddrinfo() makes several lookups. */
	engine_t e;
	engine_init(&e, opcode, &q, 0);
	fill_t f = { se, buf, buflen, 0, 0 };
	int ttl = default_ttl(t);
	cache_found_t found = ttl > 0 ? cache_get(default_scope(t), e.key, e.klen, ttl, now,
	                                          view_fill, &f, NULL)
	                              : CACHE_MISS;
	if (found == CACHE_VIEW) {
		if (f.found)
			*result = se;
		return f.err;
	}

	/* Not in the cache, or kept by a handle without a view yet: the
	 * engine asks the servers (or the cache for that answer), and the
	 * view of what it gets goes into the cache with it. */
	portq_client_t *c;
	if ((rc = default_client(t, &c)) < 0)
		return errno_of(rc);
	view_t v = { port_host, tp, NULL, 0, PORTQ_EIO };
	e.budget_ms = c->conf.lookup_budget_ms;
	e.cache_checked = found == CACHE_MISS;
	e.view = view_of;
	e.view_ctx = &v;
	if ((rc = transport_run(c, &e)) < 0)
		return errno_of(rc);
	portq_result_free(e.result);
	if (v.rc == PORTQ_OK)
		view_fill(&f, v.view, v.len);
	free(v.view);
	if (v.rc < 0)
		return errno_of(v.rc);
	if (f.found)
		*result = se;
	return f.err;
}

PORTQ_EXPORT int
portq_getservbyport_r(int port, const char *proto, struct servent *result_buf,
                      char *buf, size_t buflen, struct servent **result)
{
	return servent_lookup(ntohs((uint16_t)port), NULL, proto, result_buf, buf,
	                      buflen, result);
}

PORTQ_EXPORT int
portq_getservbyname_r(const char *name, const char *proto, struct servent *result_buf,
                      char *buf, size_t buflen, struct servent **result)
{
	if (name == NULL) {
		if (result != NULL)
			*result = NULL;
		return EINVAL;
	}
	return servent_lookup(-1, name, proto, result_buf, buf, buflen, result);
}

static _Thread_local struct servent tls_servent;
static _Thread_local char tls_buf[SERVENT_TLS_BUF];

PORTQ_EXPORT struct servent *
portq_getservbyport(int port, const char *proto)
{
	struct servent *res;
	int err = portq_getservbyport_r(port, proto, &tls_servent, tls_buf,
	                                sizeof(tls_buf), &res);
	errno = err;
	return res;
}

PORTQ_EXPORT struct servent *
portq_getservbyname(const char *name, const char *proto)
{
	struct servent *res;
	int err = portq_getservbyname_r(name, proto, &tls_servent, tls_buf,
	                                sizeof(tls_buf), &res);
	errno = err;
	return res;
}
