/*
 * libportq.c -- the client handle and its queries (see portq.h).
 *
 * A query goes to the servers in their configured order, each asked once
 * per attempt (as resolv.conf's nameservers are): over UDP, then again
 * over TCP when the answer is truncated; over TCP alone when the handle
 * says so. A server that refuses, fails or answers nonsense only moves the
 * query on to the next one. An address that timed out is skipped for a
 * while by every query of the process (health.h), and a query with a
 * budget (the getservby*() path) shares it out among its tries.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "client.h"
#include "default.h"
#include "fork.h"
#include "health.h"
#include "msg.h"
#include "result.h"

_Static_assert(PORTQ_CLIENT_DEFAULT_PORT == PORTQ_DEFAULT_PORT,
               "portq.h and msg.h disagree on the default port");

int
client_proto_parse(const char *proto)
{
	if (proto == NULL)
		return PORTQ_TP_ANY;
	/* The spellings nearly every getservby*() call uses, without the
	 * table's case-blind walk: a tenth of a cached lookup otherwise. */
	if (proto[0] != '\0' && proto[1] != '\0' && proto[2] != '\0' && proto[3] == '\0') {
		if (memcmp(proto, "tcp", 3) == 0)
			return PORTQ_TP_TCP;
		if (memcmp(proto, "udp", 3) == 0)
			return PORTQ_TP_UDP;
	}
	return portq_transport_parse(proto, strlen(proto));
}

/* portq_cache_set_ttl(): -1 while unset. */
static atomic_int process_ttl = -1;

PORTQ_EXPORT int
portq_cache_set_ttl(int seconds)
{
	if (seconds < -1 || seconds > PORTQ_CLIENT_CACHE_TTL_MAX)
		return PORTQ_EINVAL;
	atomic_store(&process_ttl, seconds);
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

/* The handle's own TTL, else the process's, else the file's, else 60 s. */
int
client_ttl(int opt, int file)
{
	if (opt == PORTQ_CACHE_OFF)
		return 0;
	if (opt > 0)
		return opt;
	int proc = atomic_load(&process_ttl);
	if (proc >= 0)
		return proc;
	return file >= 0 ? file : PORTQ_CLIENT_CACHE_TTL;
}

/* The servers as one string, to tell the cache's answers apart. */
void
client_scope_make(const conf_t *conf, char *out, size_t cap)
{
	size_t used = 0;
	out[0] = '\0';
	for (int i = 0; i < conf->n_servers; i++) {
		const conf_server_t *s = &conf->servers[i];
		int v6 = strchr(s->host, ':') != NULL;
		int n = snprintf(out + used, cap - used, "%s%s%s%s:%u",
		                 i ? "," : "", v6 ? "[" : "", s->host, v6 ? "]" : "",
		                 (unsigned)s->port);
		if (n < 0 || (size_t)n >= cap - used)
			break;        /* cannot happen: sized for every server */
		used += (size_t)n;
	}
}

void
client_conf_finish(conf_t *conf)
{
	if (conf->n_servers == 0) {
		snprintf(conf->servers[0].host, sizeof(conf->servers[0].host), "127.0.0.1");
		conf->servers[0].port = PORTQ_DEFAULT_PORT;
		conf->n_servers = 1;
	}
	if (conf->timeout_ms <= 0)
		conf->timeout_ms = PORTQ_CLIENT_TIMEOUT_MS;
	if (conf->attempts <= 0)
		conf->attempts = PORTQ_CLIENT_ATTEMPTS;
	if (conf->lookup_budget_ms < 0)
		conf->lookup_budget_ms = PORTQ_CLIENT_LOOKUP_BUDGET_MS;
}

void
client_init(portq_client_t *c, const conf_t *conf, int tcp, int cache_ttl)
{
	memset(c, 0, offsetof(portq_client_t, buf));
	c->conf = *conf;
	client_conf_finish(&c->conf);
	for (int i = 0; i < c->conf.n_servers; i++) {
		resolve_addr_t scratch;
		size_t n = 0;
		if (!resolve_numeric(&c->conf.servers[i], &scratch, 1, &n))
			c->has_names = 1;
	}
	c->tcp = tcp != 0;
	c->cache_ttl = cache_ttl;
	c->udp_fd = -1;
	c->udp_uses_max = CLIENT_UDP_USES_MAX;
	client_scope_make(&c->conf, c->scope, sizeof(c->scope));
}

/*
 * Whether the kept UDP socket's descriptor still is that socket. A program
 * may close descriptors it did not open (a daemon closing everything, say)
 * and open something else under the same number: that is not ours to
 * write a query into, nor to close.
 */
static int
udp_still_ours(const portq_client_t *c)
{
	struct stat st;
	return fstat(c->udp_fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
	       st.st_dev == c->udp_dev && st.st_ino == c->udp_ino;
}

void
client_close(portq_client_t *c)
{
	if (c->udp_fd >= 0 && udp_still_ours(c))
		close(c->udp_fd);
	c->udp_fd = -1;
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
	if (c == NULL)
		return;
	client_close(c);
	free(c);
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

/* Append "; text" (or just text) to dst[0..cap), cutting what does not fit. */
static void
text_append(char *dst, size_t cap, const char *text)
{
	size_t used = strnlen(dst, cap - 1);
	if (used > 0 && used + 2 < cap) {
		memcpy(dst + used, "; ", 2);
		used += 2;
	}
	size_t n = strlen(text);
	if (n > cap - used - 1)
		n = cap - used - 1;
	memcpy(dst + used, text, n);
	dst[used + n] = '\0';
}

void
client_error_add(char *dst, size_t cap, const char *text)
{
	if (text[0] == '\0' || strstr(dst, text) != NULL)
		return;
	text_append(dst, cap, text);
}

static void
error_add(portq_client_t *c, const char *text)
{
	client_error_add(c->error, sizeof(c->error), text);
}

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CLOCK_MONOTONIC, as transport.c's deadlines: for a budget, which the
 * coarse clock could overrun by a tick. */
static long long
precise_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The addresses of every server, resolved at most once per
 * resolve_max_age_ms. `deadline` (CLOCK_MONOTONIC ms; 0: none) bounds the
 * lookups of host names. A resolution that found nothing is not tried
 * again for HEALTH_HOLD_MIN_MS: a silent DNS server costs one wait, not
 * one per query.
 */
static int
client_resolve(portq_client_t *c, long long deadline)
{
	if (c->resolved && (!c->has_names || c->resolve_max_age_ms <= 0 ||
	                    now_ms() - c->resolved_ms < c->resolve_max_age_ms))
		return PORTQ_OK;
	if (!c->resolved && c->resolve_failed != PORTQ_OK &&
	    now_ms() - c->resolve_failed_ms < HEALTH_HOLD_MIN_MS)
		return c->resolve_failed;          /* resolve_error still says why */
	/* The addresses may change under the kept socket: start afresh. */
	client_close(c);
	c->resolved = 0;
	int worst = PORTQ_OK;
	c->n_addrs = 0;
	c->resolve_error[0] = '\0';
	for (int i = 0; i < c->conf.n_servers; i++) {
		char err[256] = "";
		int timeout = c->conf.timeout_ms, tries = c->conf.attempts;
		if (deadline > 0) {
			long long left = deadline - precise_ms();
			timeout = left < 1 ? 1 : left < timeout ? (int)left : timeout;
			tries = 1;
		}
		int rc = resolve_server(&c->conf.servers[i], timeout, tries, c->addrs,
		                        CLIENT_MAX_ADDRS, &c->n_addrs, err, sizeof(err));
		if (rc < 0) {
			text_append(c->resolve_error, sizeof(c->resolve_error), err);
			worst = rc == PORTQ_ENOMEM || worst == PORTQ_ENOMEM ? PORTQ_ENOMEM :
			        rc == PORTQ_ETIMEDOUT ? PORTQ_ETIMEDOUT : PORTQ_EIO;
		}
	}
	if (c->n_addrs == 0) {
		c->resolve_failed = worst == PORTQ_OK ? PORTQ_EIO : worst;
		c->resolve_failed_ms = now_ms();
		return c->resolve_failed;
	}
	/* Keep a partial list: the names that did resolve are usable now, and
	 * a handle is short-lived enough not to retry the others (a default
	 * client retries them when its addresses expire). */
	c->resolved = 1;
	c->resolve_failed = PORTQ_OK;
	c->resolved_ms = now_ms();
	return PORTQ_OK;
}

/*
 * One UDP exchange with address a, on the handle's kept socket when it is
 * connected to a, was opened in this process (not inherited over fork)
 * and has not carried udp_uses_max queries yet; else on a new one, kept
 * in its place unless udp_uses_max is 1.
 */
static int
udp_ask(portq_client_t *c, const resolve_addr_t *a, const uint8_t *query, size_t qlen,
        int wait_ms, size_t *len, char *err, size_t errlen)
{
	size_t which = (size_t)(a - c->addrs);
	unsigned f = fork_generation();
	if (c->udp_fd >= 0 && !udp_still_ours(c))
		c->udp_fd = -1;                  /* gone: forget it, close nothing */
	if (c->udp_fd >= 0 && (c->udp_addr != which || c->udp_forks != f ||
	                       c->udp_uses >= c->udp_uses_max))
		client_close(c);
	if (c->udp_fd < 0) {
		c->udp_addr = which;
		c->udp_forks = f;
		c->udp_uses = 0;
	}
	c->udp_uses++;
	int rc = transport_udp(a, &c->udp_fd, query, qlen, wait_ms, c->buf,
	                       sizeof(c->buf), len, err, errlen);
	if (c->udp_fd < 0)
		return rc;
	if (c->udp_uses >= c->udp_uses_max) {
		/* Spent: closed now rather than at the next query, so that no
		 * descriptor stays open in the program meanwhile. It was ours
		 * when this call began, and only this call used it since. */
		close(c->udp_fd);
		c->udp_fd = -1;
		return rc;
	}
	struct stat st;
	if (c->udp_uses == 1) {
		if (fstat(c->udp_fd, &st) == 0) {
			c->udp_dev = st.st_dev;
			c->udp_ino = st.st_ino;
		} else {
			close(c->udp_fd);            /* cannot tell it later: do not keep it */
			c->udp_fd = -1;
		}
	}
	return rc;
}

/*
 * Ask one server, waiting at most wait_ms for each exchange (UDP, then TCP
 * when truncated) and never past `deadline` (0: none); on success *len
 * bytes of an OK/NOT-FOUND answer in c->buf. *answered: the server sent
 * something that matched the query, whatever it said.
 */
static int
ask_one(portq_client_t *c, const resolve_addr_t *a, portq_question_t *q,
        uint8_t opcode, int wait_ms, long long deadline, size_t *len, int *via_tcp,
        int *answered)
{
	uint8_t query[PORTQ_HEADER_LEN + PORTQ_QUESTION_MIN + PORTQ_TEXT_MAX];
	portq_header_t h;
	memset(&h, 0, sizeof(h));
	h.opcode = opcode;
	h.id = transport_new_id();   /* fresh per send: a late answer is ignored */
	*answered = 0;
	int qlen = msg_query_encode(query, sizeof(query), &h, q);
	if (qlen < 0)
		return qlen;
	char err[256] = "";
	int rc;
	*via_tcp = c->tcp;
	if (c->tcp) {
		rc = transport_tcp(a, query, (size_t)qlen, wait_ms, c->buf,
		                   sizeof(c->buf), len, err, sizeof(err));
	} else {
		rc = udp_ask(c, a, query, (size_t)qlen, wait_ms, len, err, sizeof(err));
		portq_header_t rh;
		wire_t w = wire_reader(c->buf, *len);
		if (rc == PORTQ_OK && portq_header_read(&w, &rh) == PORTQ_OK &&
		    (rh.flags & PORTQ_FLAG_TC)) {
			*answered = 1;
			*via_tcp = 1;
			int tcp_wait = wait_ms;
			if (deadline > 0) {
				long long left = deadline - precise_ms();
				tcp_wait = left < 1 ? 1 : left < tcp_wait ? (int)left : tcp_wait;
			}
			rc = transport_tcp(a, query, (size_t)qlen, tcp_wait, c->buf,
			                   sizeof(c->buf), len, err, sizeof(err));
		}
	}
	if (rc < 0) {
		error_add(c, err);
		return rc;
	}
	*answered = 1;
	portq_header_t rh;
	wire_t w = wire_reader(c->buf, *len);
	if (portq_header_read(&w, &rh) != PORTQ_OK)
		return PORTQ_EMALFORMED;    /* transport_*() matched it: cannot happen */
	if (rh.rcode == PORTQ_RC_OK || rh.rcode == PORTQ_RC_NOTFOUND)
		return PORTQ_OK;
	snprintf(err, sizeof(err), "%s: server answered %s", a->label,
	         portq_rcode_name(rh.rcode));
	error_add(c, err);
	/* MALFORMED means the server could not read our query: a server of
	 * another version, most likely; the others may do better. */
	return rh.rcode == PORTQ_RC_MALFORMED ? PORTQ_EMALFORMED : PORTQ_EIO;
}

/* A fresh cached answer to the query, decoded into *out; 0 if none. */
static int
cache_answer(portq_client_t *c, const uint8_t *key, size_t klen, portq_result_t **out)
{
	char label[RESOLVE_LABEL_MAX];
	size_t len = 0;
	int tcp = 0;
	if (klen == 0 || c->cache_ttl <= 0 ||
	    !cache_get(c->scope, key, klen, c->cache_ttl, c->buf, sizeof(c->buf), &len,
	               label, &tcp))
		return 0;
	/* It decoded when it was kept; only memory can fail now. */
	if (result_decode(c->buf, len, label, tcp, out, NULL) != PORTQ_OK)
		return 0;
	(*out)->cached = 1;
	return 1;
}

size_t
client_addrs_choose(const portq_client_t *c, unsigned char *ask, char *err, size_t errlen)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n_addrs; i++) {
		long long since = 0, hold = 0;
		ask[i] = (unsigned char)health_ask(&c->addrs[i].ss, &since, &hold);
		if (ask[i]) {
			n++;
			continue;
		}
		char text[160];
		snprintf(text, sizeof(text), "%s: not asked (timed out %lld.%lld s ago; "
		         "asked again %lld s after that)", c->addrs[i].label, since / 1000,
		         since % 1000 / 100, hold / 1000);
		client_error_add(err, errlen, text);
	}
	return n;
}

void
client_addr_note(const portq_client_t *c, unsigned char *seen, size_t i, int rc,
                 int answered)
{
	if (answered) {
		health_answer(&c->addrs[i].ss);
		seen[i] = CLIENT_ADDR_NOT_SILENT;
	} else if (rc != PORTQ_ETIMEDOUT) {
		seen[i] = CLIENT_ADDR_NOT_SILENT;
	} else if (seen[i] == CLIENT_ADDR_UNTRIED) {
		seen[i] = CLIENT_ADDR_SILENT;
	}
}

void
client_addrs_report(const portq_client_t *c, const unsigned char *seen)
{
	for (size_t i = 0; i < c->n_addrs; i++)
		if (seen[i] == CLIENT_ADDR_SILENT)
			health_timeout(&c->addrs[i].ss);
}

/*
 * The walk of client_ask() over the addresses: each try noted in seen[]
 * (client_addr_note), which the caller reports once the walk is over.
 */
static int
ask_servers(portq_client_t *c, portq_question_t *q, uint8_t opcode, int budget_ms,
            const uint8_t *key, size_t klen, long long deadline, unsigned char *seen,
            portq_result_t **out)
{
	unsigned char ask[CLIENT_MAX_ADDRS];
	size_t tries_left = client_addrs_choose(c, ask, c->error, sizeof(c->error)) *
	                    (size_t)c->conf.attempts;
	int rc;
	/* Timeouts only when nothing else went wrong: another failure says more. */
	int failure = PORTQ_ETIMEDOUT;
	for (int attempt = 0; attempt < c->conf.attempts; attempt++) {
		for (size_t i = 0; i < c->n_addrs; i++) {
			if (!ask[i])
				continue;
			/* With a budget, each try has its share of what is left,
			 * so a silent first server leaves time for the others. */
			int wait = c->conf.timeout_ms;
			if (deadline > 0) {
				long long left = deadline - precise_ms();
				if (left <= 0) {
					char err[96];
					snprintf(err, sizeof(err), "lookup budget of %d ms spent",
					         budget_ms);
					error_add(c, err);
					goto out;
				}
				long long share = left / (long long)tries_left;
				if (share < 1)
					share = 1;
				if (share < wait)
					wait = (int)share;
			}
			tries_left--;
			size_t len = 0;
			int via_tcp = 0, answered = 0;
			rc = ask_one(c, &c->addrs[i], q, opcode, wait, deadline, &len, &via_tcp,
			             &answered);
			client_addr_note(c, seen, i, rc, answered);
			if (rc == PORTQ_OK) {
				size_t used = 0;
				rc = result_decode(c->buf, len, c->addrs[i].label, via_tcp, out, &used);
				if (rc == PORTQ_OK) {
					c->error[0] = '\0';
					/* Without UDP padding: it adds nothing to a cached answer. */
					cache_put(c->scope, key, klen, (*out)->serial, c->buf, used,
					          c->addrs[i].label, via_tcp, c->cache_ttl > 0);
					return PORTQ_OK;
				}
				if (rc == PORTQ_ENOMEM)
					return rc;
				char err[128];
				snprintf(err, sizeof(err), "%s: malformed answer", c->addrs[i].label);
				error_add(c, err);
			}
			if (rc == PORTQ_ENOMEM || rc == PORTQ_EINVAL)
				return rc;
			if (rc != PORTQ_ETIMEDOUT)
				failure = rc;
		}
	}
out:
	if (c->resolve_error[0] != '\0')
		error_add(c, c->resolve_error);   /* servers that were never asked */
	return failure;
}

int
client_ask(portq_client_t *c, portq_question_t *q, uint8_t opcode, int budget_ms,
           portq_result_t **out)
{
	c->error[0] = '\0';
	/* INFO describes the server as it is now: never from the cache. */
	uint8_t key[CACHE_KEY_MAX];
	size_t klen = opcode == PORTQ_OP_INFO ? 0 : cache_key(key, opcode, q);
	if (cache_answer(c, key, klen, out))
		return PORTQ_OK;
	long long deadline = budget_ms > 0 ? precise_ms() + budget_ms : 0;
	int rc = client_resolve(c, deadline);
	if (rc < 0) {
		error_add(c, c->resolve_error);
		return rc;
	}
	unsigned char seen[CLIENT_MAX_ADDRS] = { 0 };
	rc = ask_servers(c, q, opcode, budget_ms, key, klen, deadline, seen, out);
	client_addrs_report(c, seen);
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
	return client_ask(c, &q, PORTQ_OP_PORT, 0, out);
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
	return client_ask(c, &q, PORTQ_OP_NAME, 0, out);
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
	return client_ask(c, &q, PORTQ_OP_RANGE, 0, out);
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
	return client_ask(c, &q, PORTQ_OP_SEARCH, 0, out);
}

PORTQ_EXPORT int
portq_query_info(portq_client_t *c, portq_result_t **out)
{
	portq_question_t q;
	int rc = query_begin(c, out, &q, NULL);
	if (rc < 0)
		return rc;
	return client_ask(c, &q, PORTQ_OP_INFO, 0, out);
}
