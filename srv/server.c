/*
 * server.c -- the life cycle of portqd's server (see server.h): workers
 * and their loops, the signals, start and stop.
 *
 * Each worker is one libuv loop with its own sockets on every listen
 * address, bound with SO_REUSEPORT so the kernel spreads queries over
 * the workers (listen.c). Worker 0 runs on the caller's loop, which also
 * owns the signals, the file watch and reloads (reload.c); workers
 * 1..N-1 run a loop each on a thread of their own. What a worker does
 * with a datagram is udp.c, with a connection tcp.c; what the counters
 * add up to is stats.c.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "listen.h"
#include "log.h"
#include "reload.h"
#include "server.h"
#include "stats.h"
#include "tcp.h"
#include "udp.h"

/* ---------------------------------------------------------------- workers */

static void worker_stop(worker_t *w);

static void
worker_wake(uv_async_t *a)
{
	worker_t *w = container_of(a, worker_t, wake);
	if (__atomic_load_n(&w->srv->stopping, __ATOMIC_ACQUIRE))
		worker_stop(w);
	else
		worker_refresh(w);
}

static void
worker_stop(worker_t *w)
{
	if (w->stopping)
		return;
	w->stopping = 1;
	udp_flush(w);
	uv_close((uv_handle_t *)&w->flush, NULL);
	for (int i = 0; i < w->n_udp; i++)
		uv_close((uv_handle_t *)&w->udp[i], NULL);
	for (int i = 0; i < w->n_tcp; i++)
		uv_close((uv_handle_t *)&w->tcp[i], NULL);
	uv_close((uv_handle_t *)&w->wake, NULL);
	/* Answers already queued are flushed by the shutdown, then we close. */
	tcp_conns_finish(w);
}

static void
worker_thread(void *arg)
{
	worker_t *w = arg;
	uv_run(w->loop, UV_RUN_DEFAULT);
}

static worker_t *
worker_new(server_t *s, int id)
{
	worker_t *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->udp_in = malloc(UDP_RECV_WIDTH * UDP_CHUNK);
	w->rrl = malloc(sizeof(*w->rrl));
	w->tcp_rrl = malloc(sizeof(*w->tcp_rrl));
	if (w->udp_in == NULL || w->rrl == NULL || w->tcp_rrl == NULL ||
	    rrl_init(w->rrl, (uint32_t)s->cfg->rrl_rate, (uint32_t)s->cfg->rrl_slip) < 0 ||
	    rrl_init(w->tcp_rrl, (uint32_t)s->cfg->tcp_rate, 0) < 0) {
		free(w->udp_in);
		free(w->rrl);
		free(w->tcp_rrl);
		free(w);
		return NULL;
	}
	w->srv = s;
	w->id = id;
	w->gso = s->cfg->udp_gso;
	w->hold.tv_nsec = s->cfg->udp_hold * 1000;
	if (id == 0) {
		w->loop = s->loop;
	} else {
		if (uv_loop_init(&w->own_loop) < 0) {
			free(w->udp_in);
			free(w->rrl);
			free(w->tcp_rrl);
			free(w);
			return NULL;
		}
		w->loop = &w->own_loop;
	}
	uv_async_init(w->loop, &w->wake, worker_wake);
	/* Answers gathered by a read cycle that libuv cut short (it reads
	 * at most 32 datagrams per wakeup) leave at the end of the iteration. */
	uv_check_init(w->loop, &w->flush);
	uv_check_start(&w->flush, udp_flush_check);
	uv_unref((uv_handle_t *)&w->flush);
	w->reg = shared_acquire(s);
	return w;
}

/* Close what a worker holds after its loop has ended. */
static int
worker_free(worker_t *w)
{
	int rc = 0;
	if (w->id != 0) {
		rc = uv_loop_close(&w->own_loop);
		if (rc < 0)
			log_err("worker %d: handles still open: %s", w->id, uv_strerror(rc));
	}
	shared_release(w->reg);
	free(w->udp_in);
	free(w->rrl);
	free(w->tcp_rrl);
	free(w);
	return rc;
}
/* ---------------------------------------------------------------- signals */

static void
on_signal(uv_signal_t *h, int signum)
{
	server_t *s = h->data;
	switch (signum) {
	case SIGHUP:
		log_info("SIGHUP: reloading");
		reload_start(s, 0);
		break;
	case SIGUSR2:
		log_info("SIGUSR2: reloading, whatever share of the records it drops");
		reload_start(s, 1);
		break;
	case SIGUSR1:
		stats_log(s);
		break;
	default:
		log_info("signal %d: stopping", signum);
		server_stop(s);
		break;
	}
}
/* ---------------------------------------------------------------- life cycle */

server_t *
server_new(uv_loop_t *loop, const config_t *cfg, registry_t *reg)
{
	server_t *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->loop = loop;
	s->cfg = cfg;
	s->started = time(NULL);
	for (int i = 0; i < cfg->allow.n; i++)
		if (acl_add(&s->acl, cfg->allow.items[i]) < 0) {
			log_err("allow %s: not an address or CIDR prefix", cfg->allow.items[i]);
			free(s);
			return NULL;
		}
	s->acl_drop = cfg->refused != NULL && strcmp(cfg->refused, "drop") == 0;
	pthread_mutex_init(&s->reg_lock, NULL);
	if ((s->current = shared_new(reg)) == NULL) {
		free(s);
		return NULL;
	}
	for (int i = 0; i < CONFIG_MAX_LIST; i++)
		s->ports[i] = -1;
	reload_init(s);
	int n = cfg->workers < 1 ? 1 :
	        cfg->workers > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : (int)cfg->workers;
	for (int i = 0; i < n; i++) {
		if ((s->workers[i] = worker_new(s, i)) == NULL) {
			log_err("cannot set up worker %d (out of memory, or no random key for RRL)", i);
			break;
		}
		s->n_workers++;
	}
	return s;
}

int
server_start(server_t *s)
{
	const config_list_t *addrs = config_listen(s->cfg);
	int by_default = addrs != &s->cfg->listen;
	int n_addrs = addrs->n, rc;
	if (s->n_workers == 0)
		return UV_ENOMEM;
	rc = listen_activated(s->workers[0]);
	if (rc < 0) {
		log_err("sockets from systemd: %s", uv_strerror(rc));
		return rc;
	}
	if (rc > 0 && s->n_workers > 1) {
		log_err("sockets from systemd are served by one worker; set workers 1");
		return UV_EINVAL;
	}
	if (rc > 0)
		n_addrs = 0;                     /* systemd's sockets replace listen */
	for (int i = 0; i < s->n_workers; i++)
		for (int a = 0; a < n_addrs; a++) {
			rc = listen_addr(s->workers[i], addrs->items[a], a);
			/* Without IPv6 on the machine, the default [::1] is skipped. */
			if (rc < 0 && !(by_default && a > 0))
				return rc;
		}
	uv_signal_t *sigs[] = { &s->sig_hup, &s->sig_term, &s->sig_int, &s->sig_usr1,
	                        &s->sig_usr2 };
	int nums[] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1, SIGUSR2 };
	for (int i = 0; i < 5; i++) {
		uv_signal_init(s->loop, sigs[i]);
		sigs[i]->data = s;
		uv_signal_start(sigs[i], on_signal, nums[i]);
	}
	s->signals_on = 1;
	if (s->cfg->watch && (rc = reload_watch_start(s)) < 0)
		return rc;
	for (int i = 1; i < s->n_workers; i++)
		if ((rc = uv_thread_create(&s->workers[i]->thread, worker_thread,
		                           s->workers[i])) < 0)
			return rc;
	log_info("serving %zu records, serial %u, %d worker%s",
	         registry_count(s->current->reg), server_serial(s), s->n_workers,
	         s->n_workers == 1 ? "" : "s");
	return 0;
}

void
server_stop(server_t *s)
{
	if (s->stopping)
		return;
	__atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
	if (s->signals_on) {
		uv_close((uv_handle_t *)&s->sig_hup, NULL);
		uv_close((uv_handle_t *)&s->sig_term, NULL);
		uv_close((uv_handle_t *)&s->sig_int, NULL);
		uv_close((uv_handle_t *)&s->sig_usr1, NULL);
		uv_close((uv_handle_t *)&s->sig_usr2, NULL);
	}
	reload_stop(s);
	if (s->n_workers > 0)
		worker_stop(s->workers[0]);
	for (int i = 1; i < s->n_workers; i++)
		uv_async_send(&s->workers[i]->wake);
	log_info("stopped accepting queries");
}

int
server_free(server_t *s)
{
	int rc = 0;
	if (s == NULL)
		return 0;
	for (int i = 1; i < s->n_workers; i++) {
		worker_t *w = s->workers[i];
		/* A worker whose thread never started still has its loop to run down. */
		if (w->thread)
			uv_thread_join(&w->thread);
		else {
			worker_stop(w);
			uv_run(w->loop, UV_RUN_DEFAULT);
		}
	}
	for (int i = 0; i < s->n_workers; i++) {
		int wrc = worker_free(s->workers[i]);
		if (rc == 0)
			rc = wrc;
	}
	shared_release(s->current);
	pthread_mutex_destroy(&s->reg_lock);
	free(s);
	return rc;
}

int
server_port(const server_t *s, int i)
{
	return i >= 0 && i < CONFIG_MAX_LIST ? s->ports[i] : -1;
}

registry_t *
server_load_registry(const config_list_t *files, uint32_t serial, reg_error_t *err)
{
	regload_limits_t lim = { 0, 0, 0 };
	return regload_files(files, serial, &lim, err, NULL);
}

void
server_reload(server_t *s)
{
	reload_start(s, 0);
}

void
server_reload_forced(server_t *s)
{
	reload_start(s, 1);
}

uint32_t
server_serial(const server_t *s)
{
	return reload_serial(s);
}

void
portq__server_fail_conn_allocs(int n)
{
	tcp_fail_allocs(n);
}
