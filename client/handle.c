/*
 * handle.c -- the handle core (see client.h): a portq_client_t set up
 * from a configuration, its server addresses and its kept UDP socket.
 * The entry points that make and free handles are in libportq.c; what a
 * query does with a handle is the engine's (engine.h).
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "health.h"

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

void
client_ttl_set(int seconds)
{
	atomic_store(&process_ttl, seconds);
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

int
client_udp_ours(const portq_client_t *c)
{
	struct stat st;
	return fstat(c->udp_fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
	       st.st_dev == c->udp_dev && st.st_ino == c->udp_ino;
}

void
client_close(portq_client_t *c)
{
	if (c->udp_fd >= 0 && client_udp_ours(c))
		close(c->udp_fd);
	c->udp_fd = -1;
}

void
client_free(portq_client_t *c)
{
	if (c == NULL)
		return;
	client_close(c);
	free(c);
}

static atomic_uint forks;

unsigned
client_forks(void)
{
	return atomic_load_explicit(&forks, memory_order_relaxed);
}

void
client_fork_child(void)
{
	atomic_fetch_add_explicit(&forks, 1, memory_order_relaxed);
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

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CLOCK_MONOTONIC, as the drivers' deadlines: for a budget, which the
 * coarse clock could overrun by a tick. */
static long long
precise_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
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
