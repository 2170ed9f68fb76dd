/*
 * resolve_uv.c -- c-ares on the caller's libuv loop (see resolve_uv.h).
 *
 * c-ares tells which sockets it wants watched through its socket-state
 * callback; each gets a uv_poll handle, and one timer follows
 * ares_timeout(). Nothing here blocks and nothing polls on its own.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "resolve_uv.h"

struct resolve_uv_watch {
	uv_poll_t poll;
	resolve_uv_t *r;
	ares_socket_t fd;
	resolve_uv_watch_t *next;
};

static void
handle_closed(resolve_uv_t *r)
{
	if (--r->open == 0 && r->closing && r->closed != NULL)
		r->closed(r);
}

static void
watch_closed(uv_handle_t *h)
{
	resolve_uv_watch_t *w = h->data;
	resolve_uv_t *r = w->r;
	free(w);
	handle_closed(r);
}

static void
timer_closed(uv_handle_t *h)
{
	handle_closed(h->data);
}

static void on_timer(uv_timer_t *t);

/* Wake up when c-ares next has a timeout to handle. */
static void
timer_rearm(resolve_uv_t *r)
{
	if (r->channel == NULL || r->closing)
		return;
	struct timeval tv;
	struct timeval *tvp = ares_timeout(r->channel, NULL, &tv);
	if (tvp == NULL)
		uv_timer_stop(&r->timer);
	else
		uv_timer_start(&r->timer, on_timer,
		               (uint64_t)tvp->tv_sec * 1000 + (uint64_t)(tvp->tv_usec + 999) / 1000, 0);
}

static void
on_timer(uv_timer_t *t)
{
	resolve_uv_t *r = t->data;
	ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	timer_rearm(r);
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
	resolve_uv_watch_t *w = p->data;
	resolve_uv_t *r = w->r;
	/* An error on the socket: let c-ares read it and see for itself. */
	ares_socket_t rfd = status < 0 || (events & UV_READABLE) ? w->fd : ARES_SOCKET_BAD;
	ares_socket_t wfd = status == 0 && (events & UV_WRITABLE) ? w->fd : ARES_SOCKET_BAD;
	ares_process_fd(r->channel, rfd, wfd);    /* may close w */
	timer_rearm(r);
}

static void
watch_close(resolve_uv_t *r, resolve_uv_watch_t **pp)
{
	resolve_uv_watch_t *w = *pp;
	*pp = w->next;
	uv_poll_stop(&w->poll);
	uv_close((uv_handle_t *)&w->poll, watch_closed);
	(void)r;
}

static void
on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	resolve_uv_t *r = data;
	resolve_uv_watch_t **pp = &r->watches;
	while (*pp != NULL && (*pp)->fd != fd)
		pp = &(*pp)->next;
	if (!readable && !writable) {
		if (*pp != NULL)
			watch_close(r, pp);
		return;
	}
	if (*pp == NULL) {
		resolve_uv_watch_t *w = calloc(1, sizeof(*w));
		if (w == NULL)
			return;          /* c-ares times the lookup out */
		if (uv_poll_init_socket(r->loop, &w->poll, fd) != 0) {
			free(w);
			return;
		}
		w->poll.data = w;
		w->r = r;
		w->fd = fd;
		w->next = r->watches;
		r->watches = w;
		r->open++;
		pp = &r->watches;
	}
	uv_poll_start(&(*pp)->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
	              on_poll);
}

int
resolve_uv_init(resolve_uv_t *r, uv_loop_t *loop)
{
	memset(r, 0, sizeof(*r));
	r->loop = loop;
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	r->open = 1;
	return PORTQ_OK;
}

/* Every lookup has ended: the addresses in server order, the outcome. */
static int
run_done(resolve_uv_t *r)
{
	int worst = PORTQ_OK;
	*r->n = 0;
	r->err[0] = '\0';
	for (int i = 0; i < r->conf->n_servers; i++) {
		const resolve_uv_slot_t *s = &r->slots[i];
		for (size_t k = 0; k < s->n && *r->n < r->max; k++)
			r->out[(*r->n)++] = s->addrs[k];
		char err[256] = "";
		int rc = resolve_outcome(s->status, s->n, r->conf->servers[i].host, err,
		                         sizeof(err));
		if (rc == PORTQ_OK)
			continue;
		size_t used = strlen(r->err);
		snprintf(r->err + used, r->errlen - used, "%s%s", used ? "; " : "", err);
		worst = rc == PORTQ_ENOMEM || worst == PORTQ_ENOMEM ? PORTQ_ENOMEM :
		        rc == PORTQ_ETIMEDOUT ? PORTQ_ETIMEDOUT : PORTQ_EIO;
	}
	if (*r->n > 0)
		return PORTQ_OK;
	return worst == PORTQ_OK ? PORTQ_EIO : worst;
}

static void
on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	(void)timeouts;
	resolve_uv_slot_t *s = arg;
	resolve_uv_t *r = s->r;
	s->status = status;
	if (status == ARES_SUCCESS && res != NULL)
		for (struct ares_addrinfo_node *ai = res->nodes; ai != NULL; ai = ai->ai_next)
			resolve_add_sockaddr(ai->ai_addr, r->conf->servers[s - r->slots].port,
			                     s->addrs, RESOLVE_UV_ADDRS, &s->n);
	if (res != NULL)
		ares_freeaddrinfo(res);
	s->pending = 0;
	/* The run's own count keeps this above zero while lookups start. */
	if (--r->pending == 0 && !r->closing)
		r->cb(r, run_done(r));
}

static int
channel_open(resolve_uv_t *r, int timeout_ms, int tries)
{
	char err[128];
	if (resolve_library_init(err, sizeof(err)) < 0)
		return ARES_ENOTINITIALIZED;
	struct ares_options opts;
	memset(&opts, 0, sizeof(opts));
	opts.timeout = timeout_ms;
	opts.tries = tries;
	opts.sock_state_cb = on_sock_state;
	opts.sock_state_cb_data = r;
	return ares_init_options(&r->channel, &opts,
	                         ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB);
}

int
resolve_uv_run(resolve_uv_t *r, const conf_t *conf, int timeout_ms, int tries,
               resolve_addr_t *out, size_t max, size_t *n, char *err, size_t errlen,
               resolve_uv_cb cb)
{
	if (r->closing || r->pending > 0)
		return PORTQ_EINVAL;
	r->conf = conf;
	r->out = out;
	r->max = max;
	r->n = n;
	r->err = err;
	r->errlen = errlen;
	r->cb = cb;
	r->pending = 1;           /* the run itself, until every lookup started */
	struct ares_addrinfo_hints hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	for (int i = 0; i < conf->n_servers; i++) {
		resolve_uv_slot_t *s = &r->slots[i];
		memset(s, 0, sizeof(*s));
		s->r = r;
		s->status = ARES_SUCCESS;
		if (resolve_numeric(&conf->servers[i], s->addrs, RESOLVE_UV_ADDRS, &s->n))
			continue;
		if (r->channel == NULL && (s->status = channel_open(r, timeout_ms, tries)) != ARES_SUCCESS) {
			r->channel = NULL;
			continue;
		}
		s->pending = 1;
		r->pending++;
		/* May answer at once (/etc/hosts, a refused name). */
		ares_getaddrinfo(r->channel, conf->servers[i].host, NULL, &hints, on_addrinfo, s);
	}
	if (--r->pending == 0)
		return run_done(r);
	timer_rearm(r);
	return PORTQ_EAGAIN;
}

void
resolve_uv_close(resolve_uv_t *r, void (*closed)(resolve_uv_t *r))
{
	r->closing = 1;
	r->closed = closed;
	if (r->channel != NULL) {
		ares_cancel(r->channel);      /* lookups end with ARES_ECANCELLED */
		ares_destroy(r->channel);     /* its sockets' watches close */
		r->channel = NULL;
	}
	while (r->watches != NULL)
		watch_close(r, &r->watches);
	uv_close((uv_handle_t *)&r->timer, timer_closed);
}
