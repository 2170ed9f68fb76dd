/*
 * libportq.c -- the entry points of libportq's handle API (see portq.h).
 *
 * Each checks its arguments and hands the question to the query engine
 * (engine.h) on blocking sockets (transport.h); the handle itself is
 * handle.c's (client.h).
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "cache.h"
#include "client.h"
#include "default.h"
#include "engine.h"
#include "transport.h"

PORTQ_EXPORT int
portq_cache_set_ttl(int seconds)
{
	if (seconds < -1 || seconds > PORTQ_CLIENT_CACHE_TTL_MAX)
		return PORTQ_EINVAL;
	client_ttl_set(seconds);
	return PORTQ_OK;
}

PORTQ_EXPORT void
portq_cache_flush(void)
{
	cache_flush();
}

PORTQ_EXPORT void
portq_config_reload(void)
{
	default_reload();
}

PORTQ_EXPORT int
portq_client_new(portq_client_t **out, const portq_options_t *opts)
{
	if (out == NULL)
		return PORTQ_EINVAL;
	*out = NULL;
	portq_options_t none;
	if (opts == NULL) {
		memset(&none, 0, sizeof(none));
		opts = &none;
	}
	if (opts->timeout_ms < 0 || opts->attempts < 0 ||
	    opts->cache_ttl < PORTQ_CACHE_OFF || opts->cache_ttl > PORTQ_CLIENT_CACHE_TTL_MAX)
		return PORTQ_EINVAL;
	/* Not calloc: clearing the 64 KiB answer buffer would cost more than
	 * a cached lookup does. */
	portq_client_t *c = malloc(sizeof(*c));
	if (c == NULL)
		return PORTQ_ENOMEM;
	conf_t conf;
	conf_init(&conf);

	/* Lowest precedence first: the file, then the environment, then opts. */
	const char *file = opts->config_file ? opts->config_file : PORTQ_CLIENT_CONFIG_FILE;
	int rc = PORTQ_OK;
	char err[CLIENT_ERROR_MAX] = "";
	if (file[0] != '\0')
		(void)conf_read_file(&conf, file);   /* unreadable: as if absent */
	const char *env = secure_getenv("PORTQ_SERVER");
	if (opts->servers != NULL)
		rc = conf_servers_set(&conf, opts->servers, err, sizeof(err));
	else if (env != NULL && env[0] != '\0')
		/* A broken variable must not stop every lookup: the file's servers. */
		(void)conf_servers_set(&conf, env, err, sizeof(err));
	if (rc < 0) {
		free(c);
		return rc;
	}
	if (opts->timeout_ms > 0)
		conf.timeout_ms = opts->timeout_ms;
	if (opts->attempts > 0)
		conf.attempts = opts->attempts;
	client_init(c, &conf, opts->tcp, client_ttl(opts->cache_ttl, conf.cache_ttl));
	*out = c;
	return PORTQ_OK;
}
PORTQ_EXPORT void
portq_client_free(portq_client_t *c)
{
	client_free(c);
}

PORTQ_EXPORT const char *
portq_client_error(const portq_client_t *c)
{
	return c ? c->error : "no client handle";
}

PORTQ_EXPORT void
portq_result_free(portq_result_t *r)
{
	free(r);   /* result_decode() made it one allocation */
}

/* Answer q from the cache or the servers: PORTQ_OK with *out, or an
 * error with c->error set. */
static int
ask(portq_client_t *c, const portq_question_t *q, uint8_t opcode, portq_result_t **out)
{
	engine_t e;
	engine_init(&e, opcode, q, 0);
	int rc = transport_run(c, &e);
	*out = e.result;
	return rc;
}

/* Every query starts the same way: check the handle, the output, the protocol. */
static int
query_begin(portq_client_t *c, portq_result_t **out, portq_question_t *q,
            const char *proto)
{
	if (out != NULL)
		*out = NULL;
	if (c == NULL || out == NULL)
		return PORTQ_EINVAL;
	memset(q, 0, sizeof(*q));
	int tp = client_proto_parse(proto);
	if (tp < 0) {
		snprintf(c->error, sizeof(c->error), "unknown protocol \"%.32s\"", proto);
		return PORTQ_EINVAL;
	}
	q->transport = (uint8_t)tp;
	return PORTQ_OK;
}

static int
text_set(portq_client_t *c, portq_question_t *q, const char *text)
{
	if (text == NULL || text[0] == '\0' || portq_question_set_text(q, text) < 0) {
		snprintf(c->error, sizeof(c->error), "%s",
		         text == NULL || text[0] == '\0' ? "empty text" : "text longer than 255 bytes");
		return PORTQ_EINVAL;
	}
	return PORTQ_OK;
}

PORTQ_EXPORT int
portq_query_port(portq_client_t *c, unsigned port, const char *proto, portq_result_t **out)
{
	portq_question_t q;
	int rc = query_begin(c, out, &q, proto);
	if (rc < 0)
		return rc;
	if (port > 65535) {
		snprintf(c->error, sizeof(c->error), "port %u above 65535", port);
		return PORTQ_EINVAL;
	}
	q.port_lo = (uint16_t)port;
	return ask(c, &q, PORTQ_OP_PORT, out);
}

PORTQ_EXPORT int
portq_query_name(portq_client_t *c, const char *name, const char *proto, portq_result_t **out)
{
	portq_question_t q;
	int rc = query_begin(c, out, &q, proto);
	if (rc < 0)
		return rc;
	if (text_set(c, &q, name) < 0)
		return PORTQ_EINVAL;
	return ask(c, &q, PORTQ_OP_NAME, out);
}

PORTQ_EXPORT int
portq_query_range(portq_client_t *c, unsigned lo, unsigned hi, const char *proto,
                  uint32_t offset, unsigned limit, portq_result_t **out)
{
	portq_question_t q;
	int rc = query_begin(c, out, &q, proto);
	if (rc < 0)
		return rc;
	if (lo > hi || hi > 65535 || limit > 65535) {
		snprintf(c->error, sizeof(c->error), "bad range %u-%u (limit %u)", lo, hi, limit);
		return PORTQ_EINVAL;
	}
	q.port_lo = (uint16_t)lo;
	q.port_hi = (uint16_t)hi;
	q.offset = offset;
	q.limit = (uint16_t)limit;
	return ask(c, &q, PORTQ_OP_RANGE, out);
}

PORTQ_EXPORT int
portq_query_search(portq_client_t *c, const char *text, const char *proto,
                   uint32_t offset, unsigned limit, portq_result_t **out)
{
	portq_question_t q;
	int rc = query_begin(c, out, &q, proto);
	if (rc < 0)
		return rc;
	if (text_set(c, &q, text) < 0)
		return PORTQ_EINVAL;
	if (limit > 65535) {
		snprintf(c->error, sizeof(c->error), "limit %u above 65535", limit);
		return PORTQ_EINVAL;
	}
	q.offset = offset;
	q.limit = (uint16_t)limit;
	return ask(c, &q, PORTQ_OP_SEARCH, out);
}

PORTQ_EXPORT int
portq_query_info(portq_client_t *c, portq_result_t **out)
{
	portq_question_t q;
	int rc = query_begin(c, out, &q, NULL);
	if (rc < 0)
		return rc;
	return ask(c, &q, PORTQ_OP_INFO, out);
}
