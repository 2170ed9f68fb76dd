/*
 * servent.c -- getservbyport(3) and getservbyname(3) answered by portq
 * (see portq.h for the contract).
 *
 * Each call makes its own short-lived handle, so the functions share no
 * state between threads beyond the thread-local result of the non-_r
 * forms, and always see the current PORTQ_SERVER and /etc/portq.conf.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "client.h"
#include "msg.h"

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

/* Copy a string into buf at *used; NULL when it does not fit. */
static char *
buf_put(char *buf, size_t buflen, size_t *used, const char *s)
{
	size_t n = strlen(s) + 1;
	if (n > buflen - *used)
		return NULL;
	char *d = buf + *used;
	memcpy(d, s, n);
	*used += n;
	return d;
}

/*
 * Fill the servent from entry e: the alias array first (aligned), then the
 * strings, all inside buf as glibc does.
 */
static int
servent_fill(const portq_entry_t *e, int port_net, const char *proto,
             struct servent *se, char *buf, size_t buflen)
{
	size_t used = (size_t)(-(uintptr_t)buf & (alignof(char *) - 1));
	size_t ptrs = (e->n_aliases + 1) * sizeof(char *);
	if (used > buflen || ptrs > buflen - used)
		return ERANGE;
	char **aliases = (char **)(void *)(buf + used);
	used += ptrs;
	char *name = buf_put(buf, buflen, &used, e->name);
	char *pr = buf_put(buf, buflen, &used, proto);
	if (name == NULL || pr == NULL)
		return ERANGE;
	for (size_t i = 0; i < e->n_aliases; i++)
		if ((aliases[i] = buf_put(buf, buflen, &used, e->aliases[i])) == NULL)
			return ERANGE;
	aliases[e->n_aliases] = NULL;
	se->s_name = name;
	se->s_aliases = aliases;
	se->s_port = port_net;
	se->s_proto = pr;
	return 0;
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
	if (tp < 0 || (name != NULL && (name[0] == '\0' || strlen(name) > PORTQ_TEXT_MAX)))
		return 0;      /* a protocol portq does not carry, a name no service has */

	portq_client_t *c;
	int rc = portq_client_new(&c, NULL);
	if (rc < 0)
		return errno_of(rc);
	portq_result_t *r = NULL;
	if (port_host >= 0)
		rc = portq_query_port(c, (unsigned)port_host, proto, &r);
	else
		rc = portq_query_name(c, name, proto, &r);
	portq_client_free(c);
	if (rc < 0)
		return errno_of(rc);

	int err = 0;
	for (size_t i = 0; i < r->n_entries; i++) {
		const portq_entry_t *e = &r->entries[i];
		/* services(5) lists named services on a port: nothing else. */
		if (!e->assigned || e->name[0] == '\0' || !e->has_port)
			continue;
		int net = (int)htons((uint16_t)(port_host >= 0 ? (unsigned)port_host : e->port_lo));
		err = servent_fill(e, net, proto_of(e, tp), se, buf, buflen);
		if (err == 0)
			*result = se;
		break;
	}
	portq_result_free(r);
	return err;
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
