/*
 * server.c -- UDP and TCP listeners, workers, reloads and signals (see
 * server.h).
 *
 * Each worker is one libuv loop with its own sockets on every listen
 * address, bound with SO_REUSEPORT so the kernel spreads queries over
 * the workers. Worker 0 runs on the caller's loop, which also owns the
 * signals, the file watch and reloads; workers 1..N-1 run a loop each on
 * a thread of their own.
 *
 * UDP: datagrams arrive in batches (recvmmsg through libuv's
 * UV_UDP_RECVMMSG), answers are built in per-worker buffers and leave
 * in one sendmmsg per batch, the answers to one client as one UDP GSO
 * message (udp-gso); after a busy read a worker may wait a little so
 * that batches grow (udp-hold). Nothing is allocated per query unless
 * the socket's send buffer is full.
 *
 * The registry is shared read-only by all workers and counted: a reload
 * publishes a new one under a mutex and wakes every worker, each of
 * which takes the new one between two batches and drops the old one;
 * the last to drop it frees it.
 */
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "acl.h"
#include "format.h"
#include "frame.h"
#include "log.h"
#include "prefix.h"
#include "regload.h"
#include "rrl.h"
#include "server.h"

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define UDP_CHUNK       (64 * 1024)     /* libuv's recvmmsg slot size */
#define UDP_RECV_WIDTH  20              /* libuv's recvmmsg width */
#define UDP_BATCH       40              /* answers gathered for one send: what
                                           libuv reads per wakeup (it stops
                                           after 32 datagrams, two recvmmsg) */
#define UDP_QUEUE_MAX   (4 * 1024 * 1024) /* answers waiting for a full socket */
#define TCP_BACKLOG     512

#ifndef SOL_UDP
#define SOL_UDP         17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT     103             /* linux/udp.h, Linux 4.18 */
#endif

/* A GSO send holds at most 64 segments and one IPv6 datagram's 65,487 bytes. */
_Static_assert(UDP_BATCH <= 64, "a batch must fit one GSO send");
_Static_assert(UDP_BATCH * PORTQ_UDP_MAX <= 65487, "a batch must fit one GSO send");

typedef struct shared_reg {
	registry_t *reg;
	int refs;                        /* atomic */
} shared_reg_t;

typedef struct worker worker_t;

typedef struct conn {
	uv_tcp_t tcp;
	uv_timer_t idle;
	uv_shutdown_t shutdown;
	worker_t *w;
	struct conn *prev, *next;
	int open_handles;
	int closing;
	int partial;                     /* a frame has started and not ended */
	int retiring;                    /* past its lifetime or query count: shutting down */
	struct sockaddr_storage peer;
	prefix_t prefix;                 /* the peer's /24 or /56 */
	uint64_t born_ms;                /* uv_now() at accept */
	uint64_t served;                 /* worker's serve_seq at accept or its last answer */
	long queries;                    /* answered on this connection */
	size_t len, cap;
	uint8_t buf[];                   /* partial frames read so far */
} conn_t;

typedef struct {
	uv_write_t req;
	uint8_t data[];
} out_write_t;

typedef struct {
	uv_udp_send_t req;
	uint8_t data[];
} out_send_t;

typedef struct {
	uv_fs_event_t ev;
	struct server *srv;
	char dir[4096];
} watch_t;

/*
 * Answers gathered over the reads of one read cycle (several recvmmsg
 * calls), sent with one sendmmsg per socket when the socket is drained,
 * when the batch is full, or at the latest when the loop iteration ends.
 * With UDP GSO the answers to one peer form a group that leaves as one
 * message of the sendmmsg (gmsg, giov, ctl are the groups udp_flush builds).
 */
typedef struct {
	struct mmsghdr msg[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_storage peer[UDP_BATCH];
	uint8_t data[UDP_BATCH][PORTQ_UDP_MAX];
	uv_udp_t *handle[UDP_BATCH];
	unsigned char pad_ok[UDP_BATCH]; /* may be padded: an OK or NOT-FOUND answer */
	unsigned n;

	struct mmsghdr gmsg[UDP_BATCH];
	struct iovec giov[UDP_BATCH];
	unsigned member[UDP_BATCH];      /* answer indices, group by group */
	unsigned gstart[UDP_BATCH + 1];  /* group g is member[gstart[g] .. gstart[g+1]) */
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl[UDP_BATCH];
} udp_batch_t;

struct worker {
	struct server *srv;
	int id;
	uv_loop_t own_loop;
	uv_loop_t *loop;
	uv_thread_t thread;
	uv_async_t wake;                 /* a new registry, or stop */
	uv_check_t flush;                /* after each loop iteration: answers left in the batch */
	shared_reg_t *reg;
	int stopping;
	int gso;                         /* send answer groups with UDP_SEGMENT */
	struct timespec hold;            /* udp-hold */
	unsigned cycle[CONFIG_MAX_LIST]; /* per UDP socket: datagrams read since it was drained */

	answer_stats_t stats;
	uint64_t tcp_accepted, tcp_refused, tcp_idle_closed, send_errors;
	uint64_t acl_refused, tcp_slow_closed, udp_holds;
	uint64_t tcp_evicted, tcp_retired, tcp_dropped;
	rrl_t *rrl;
	long n_conns;
	conn_t *conns;
	uint64_t serve_seq;              /* orders connections by last service */
	uv_tcp_t drop;                   /* takes a connection only to close it */
	int drop_busy;
	unsigned char drop_wait[CONFIG_MAX_LIST]; /* listeners waiting for `drop` */

	uv_udp_t udp[CONFIG_MAX_LIST];
	uv_tcp_t tcp[CONFIG_MAX_LIST];
	int n_udp, n_tcp;

	udp_batch_t batch;
	uint8_t *udp_in;                 /* UDP_BATCH * UDP_CHUNK */
	uint8_t out[PORTQ_FRAME_PREFIX + PORTQ_MSG_MAX];
};

struct server {
	uv_loop_t *loop;
	const config_t *cfg;
	acl_t acl;
	int acl_drop;                    /* refused clients get nothing at all */
	time_t started;
	int ports[CONFIG_MAX_LIST];
	int stopping;

	pthread_mutex_t reg_lock;
	shared_reg_t *current;           /* the one new lookups take */

	worker_t *workers[64];
	int n_workers;

	uv_signal_t sig_hup, sig_term, sig_int, sig_usr1, sig_usr2;
	int signals_on;
	watch_t *watch[CONFIG_MAX_LIST];
	int n_watch;
	uv_timer_t reload_timer;

	/* A reload runs as a regload job on a thread of its own, so that a
	 * file that blocks can be given up on at reload-timeout; its thread
	 * says "done" through reload_async. */
	regload_job_t *reload_job;
	uv_async_t reload_async;
	uv_timer_t reload_deadline;
	int reload_forced, reload_again, reload_again_forced;
	uint64_t reloads, reload_failures, reload_timeouts;
};

/* ---------------------------------------------------------------- registry */

registry_t *
server_load_registry(const config_list_t *files, uint32_t serial, reg_error_t *err)
{
	regload_limits_t lim = { 0, 0, 0 };
	return regload_files(files, serial, &lim, err, NULL);
}

static shared_reg_t *
shared_new(registry_t *reg)
{
	shared_reg_t *sr = malloc(sizeof(*sr));
	if (sr != NULL) {
		sr->reg = reg;
		sr->refs = 1;
	}
	return sr;
}

static void
shared_release(shared_reg_t *sr)
{
	if (sr != NULL && __atomic_sub_fetch(&sr->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		registry_free(sr->reg);
		free(sr);
	}
}

/* A counted reference to the registry being served. */
static shared_reg_t *
shared_acquire(server_t *s)
{
	pthread_mutex_lock(&s->reg_lock);
	shared_reg_t *sr = s->current;
	__atomic_add_fetch(&sr->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&s->reg_lock);
	return sr;
}

/* ---------------------------------------------------------------- answers */

static void
info_stats(wire_t *w, void *arg)
{
	const worker_t *self = arg;
	const server_t *s = self->srv;
	answer_stats_t sum;
	uint64_t accepted = 0, refused = 0, acl = 0, slow = 0, limited = 0, slipped = 0;
	uint64_t send_errors = 0, holds = 0, evicted = 0, retired = 0, tcp_dropped = 0;
	long open = 0;
	memset(&sum, 0, sizeof(sum));
	for (int i = 0; i < s->n_workers; i++) {
		const worker_t *k = s->workers[i];
		for (unsigned op = 0; op <= PORTQ_OP_INFO; op++)
			sum.by_opcode[op] += STAT_GET(k->stats.by_opcode[op]);
		for (unsigned rc = 0; rc <= PORTQ_RC_NOTIMPL; rc++)
			sum.by_rcode[rc] += STAT_GET(k->stats.by_rcode[rc]);
		sum.truncated += STAT_GET(k->stats.truncated);
		sum.dropped += STAT_GET(k->stats.dropped);
		accepted += STAT_GET(k->tcp_accepted);
		refused += STAT_GET(k->tcp_refused);
		open += STAT_GET(k->n_conns);
		acl += STAT_GET(k->acl_refused);
		slow += STAT_GET(k->tcp_slow_closed);
		evicted += STAT_GET(k->tcp_evicted);
		retired += STAT_GET(k->tcp_retired);
		tcp_dropped += STAT_GET(k->tcp_dropped);
		send_errors += STAT_GET(k->send_errors);
		holds += STAT_GET(k->udp_holds);
		limited += STAT_GET(k->rrl->limited);
		slipped += STAT_GET(k->rrl->slipped);
	}
	char v[32];
#define STAT(key, value) \
	do { snprintf(v, sizeof(v), "%llu", (unsigned long long)(value)); \
	     portq_info_write(w, (key), v); } while (0)
	for (unsigned op = PORTQ_OP_PORT; op <= PORTQ_OP_INFO; op++) {
		char key[32];
		snprintf(key, sizeof(key), "queries-%s", portq_opcode_name(op));
		STAT(key, sum.by_opcode[op]);
	}
	STAT("queries-unknown-opcode", sum.by_opcode[0]);
	for (unsigned rc = 0; rc <= PORTQ_RC_NOTIMPL; rc++) {
		char key[32];
		snprintf(key, sizeof(key), "rcode-%s", portq_rcode_name(rc));
		STAT(key, sum.by_rcode[rc]);
	}
	STAT("truncated", sum.truncated);
	STAT("dropped", sum.dropped);
	STAT("udp-send-errors", send_errors);
	STAT("udp-holds", holds);
	STAT("tcp-accepted", accepted);
	STAT("tcp-refused", refused);
	STAT("tcp-open", open);
	STAT("tcp-slow-closed", slow);
	STAT("tcp-evicted", evicted);
	STAT("tcp-retired", retired);
	STAT("tcp-dropped", tcp_dropped);
	STAT("acl-refused", acl);
	STAT("rrl-limited", limited);
	STAT("rrl-slipped", slipped);
	STAT("workers", s->n_workers);
	STAT("reloads", STAT_GET(s->reloads));
	STAT("reload-failures", STAT_GET(s->reload_failures));
	STAT("reload-timeouts", STAT_GET(s->reload_timeouts));
	STAT("reload-stuck", regload_stuck());
	STAT("uptime", time(NULL) - s->started);
#undef STAT
}

static size_t
answer(worker_t *w, const uint8_t *req, size_t len, uint8_t *out, size_t max, int stream)
{
	answer_ctx_t ctx = { w->reg->reg, &w->stats, info_stats, w, stream, 0 };
	return answer_query(&ctx, req, len, out, max);
}

/* ---------------------------------------------------------------- UDP */

static void
udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	worker_t *w = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)w->udp_in, UDP_RECV_WIDTH * UDP_CHUNK);
}

static void
udp_sent(uv_udp_send_t *req, int status)
{
	out_send_t *o = container_of(req, out_send_t, req);
	if (status < 0 && status != UV_ECANCELED) {
		worker_t *w = req->handle->data;
		STAT_ADD(w->send_errors, 1);     /* a client can cause these: not logged */
		log_debug("udp send: %s", uv_strerror(status));
	}
	free(o);
}

/* The socket buffer is full: queue a copy with libuv rather than lose it. */
static void
udp_send_queued(worker_t *w, uv_udp_t *h, const uint8_t *data, size_t n,
                const struct sockaddr *to)
{
	/* Bounded like a socket buffer: past it, the answer is lost as the
	 * kernel would lose it, and counted. */
	if (uv_udp_get_send_queue_size(h) > UDP_QUEUE_MAX) {
		STAT_ADD(w->send_errors, 1);
		return;
	}
	out_send_t *o = malloc(sizeof(*o) + n);
	if (o == NULL) {
		STAT_ADD(w->send_errors, 1);
		return;
	}
	memcpy(o->data, data, n);
	uv_buf_t b = uv_buf_init((char *)o->data, (unsigned)n);
	if (uv_udp_send(&o->req, h, &b, 1, to, udp_sent) < 0) {
		free(o);
		STAT_ADD(w->send_errors, 1);
	}
}

static void
udp_send_now(worker_t *w, uv_udp_t *h, const uint8_t *data, size_t n,
             const struct sockaddr *to)
{
	uv_buf_t b = uv_buf_init((char *)(uintptr_t)data, (unsigned)n);
	int rc = uv_udp_try_send(h, &b, 1, to);
	if (rc == UV_EAGAIN || rc == UV_ENOSYS)
		udp_send_queued(w, h, data, n, to);
	else if (rc < 0)
		STAT_ADD(w->send_errors, 1);
}

/* One client: family, port, address and, for IPv6, the scope (all as the
 * kernel gave them; libportq's transport_same_addr() leaves the scope out,
 * as a configured server address may have none). */
static int
same_peer(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/*
 * Group answers [i, j) of the batch by peer into b->gmsg: one message per
 * peer. A group of several answers is one UDP GSO send: every answer but
 * the last is padded with zeros to the largest one's length, which is
 * the segment size, and the kernel cuts the message into one datagram
 * per answer after taking it down the stack once (protocol.md 2.1 lets
 * a UDP response end in zero padding). Only OK and NOT-FOUND answers,
 * which answer well-formed queries of 29 bytes or more, join a group:
 * padding them to at most 1232 bytes keeps the amplification bound of
 * docs/hardening.md; a slipped, REFUSED, MALFORMED or NOT-IMPLEMENTED
 * answer leaves alone, as long as its query. Returns the number of groups.
 */
static unsigned
udp_group(udp_batch_t *b, unsigned i, unsigned j)
{
	unsigned char taken[UDP_BATCH] = { 0 };
	unsigned ng = 0, nm = 0;
	for (unsigned k = i; k < j; k++) {
		if (taken[k])
			continue;
		unsigned first = nm;
		b->gstart[ng] = first;
		for (unsigned m = k; m < j && (m == k || b->pad_ok[k]); m++)
			if (!taken[m] && (m == k || (b->pad_ok[m] &&
			                             same_peer(&b->peer[m], &b->peer[k])))) {
				taken[m] = 1;
				b->member[nm++] = m;
			}
		unsigned count = nm - first;
		size_t seg = 0;
		unsigned small = first;
		for (unsigned x = first; x < nm; x++) {
			size_t len = b->iov[b->member[x]].iov_len;
			if (len > seg)
				seg = len;
			if (len < b->iov[b->member[small]].iov_len)
				small = x;
		}
		/* The smallest goes last, the one datagram GSO lets be short. */
		unsigned t = b->member[small];
		b->member[small] = b->member[nm - 1];
		b->member[nm - 1] = t;

		struct msghdr *mh = &b->gmsg[ng].msg_hdr;
		memset(&b->gmsg[ng], 0, sizeof(b->gmsg[ng]));
		mh->msg_name = &b->peer[k];
		mh->msg_namelen = b->msg[k].msg_hdr.msg_namelen;
		mh->msg_iov = &b->giov[first];
		mh->msg_iovlen = count;
		for (unsigned x = first; x < nm; x++) {
			unsigned a = b->member[x];
			size_t len = b->iov[a].iov_len;
			b->giov[x].iov_base = b->data[a];
			b->giov[x].iov_len = x + 1 < nm ? seg : len;
			if (x + 1 < nm && len < seg)
				memset(b->data[a] + len, 0, seg - len);
		}
		if (count > 1) {
			mh->msg_control = b->ctl[ng].buf;
			mh->msg_controllen = sizeof(b->ctl[ng].buf);
			struct cmsghdr *cm = CMSG_FIRSTHDR(mh);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			uint16_t gso = (uint16_t)seg;
			memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
		}
		ng++;
	}
	b->gstart[ng] = nm;
	return ng;
}

/* The socket cannot take more now; later it can. */
static int
udp_full(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS;
}

/* Answers [*from, *to) of message g of a run: members of a GSO group, or
 * the one answer i + g. Answer x of them is udp_member(b, gso, i, x). */
static void
udp_msg_answers(const udp_batch_t *b, int gso, unsigned g, unsigned *from, unsigned *to)
{
	*from = gso ? b->gstart[g] : g;
	*to = gso ? b->gstart[g + 1] : g + 1;
}

static unsigned
udp_member(const udp_batch_t *b, int gso, unsigned i, unsigned x)
{
	return gso ? b->member[x] : i + x;
}

/* Answer a of the batch, alone and unpadded: sent, queued or counted lost. */
static void
udp_send_alone(worker_t *w, uv_os_fd_t fd, unsigned a)
{
	udp_batch_t *b = &w->batch;
	ssize_t rc;
	do
		rc = sendmsg(fd, &b->msg[a].msg_hdr, MSG_DONTWAIT);
	while (rc < 0 && errno == EINTR);
	if (rc >= 0)
		return;
	if (udp_full(errno))
		udp_send_queued(w, b->handle[a], b->data[a], b->iov[a].iov_len,
		                (struct sockaddr *)&b->peer[a]);
	else
		STAT_ADD(w->send_errors, 1);
}

/*
 * Send answers [i, j) of the batch, all on one socket: one sendmmsg, of
 * one message per answer, or with GSO of one message per peer. When the
 * socket is full, the rest goes through libuv's queue, unpadded. A message
 * the kernel refuses for itself (an unroutable or forged address, a path
 * that cannot take a GSO send) costs only its own answers: a refused
 * group is sent again answer by answer, and the run goes on after it.
 * Only EIO, the kernel saying the path has no segmentation offload,
 * turns GSO off for the worker.
 */
static void
udp_send_run(worker_t *w, unsigned i, unsigned j)
{
	udp_batch_t *b = &w->batch;
	uv_udp_t *h = b->handle[i];
	uv_os_fd_t fd;
	int gso = w->gso && j - i > 1;
	unsigned n = gso ? udp_group(b, i, j) : j - i;
	struct mmsghdr *msg = gso ? b->gmsg : b->msg + i;
	unsigned done = 0, from, to;
	/* Behind answers libuv still holds, they queue too: order is kept. */
	int full = uv_udp_get_send_queue_count(h) > 0 ||
	           uv_fileno((uv_handle_t *)h, &fd) != 0;
	while (!full && done < n) {
		int sent = sendmmsg(fd, msg + done, n - done, MSG_DONTWAIT);
		if (sent > 0) {
			done += (unsigned)sent;
			continue;
		}
		int err = sent == 0 ? EAGAIN : errno;
		if (err == EINTR)
			continue;
		if (udp_full(err)) {
			full = 1;
			break;
		}
		udp_msg_answers(b, gso, done, &from, &to);
		if (msg[done].msg_hdr.msg_controllen == 0) {
			STAT_ADD(w->send_errors, 1);
		} else {
			if (err == EIO && w->gso) {
				log_warn("udp: no segmentation offload on the way to a client (%s); "
				         "answers leave one by one from now on", strerror(err));
				w->gso = 0;
			}
			for (unsigned x = from; x < to; x++)
				udp_send_alone(w, fd, udp_member(b, gso, i, x));
		}
		done++;
	}
	for (unsigned g = done; g < n; g++) {
		udp_msg_answers(b, gso, g, &from, &to);
		for (unsigned x = from; x < to; x++) {
			unsigned a = udp_member(b, gso, i, x);
			udp_send_queued(w, h, b->data[a], b->iov[a].iov_len,
			                (struct sockaddr *)&b->peer[a]);
		}
	}
}

/* Send the answers gathered in this batch: one sendmmsg per socket run. */
static void
udp_flush(worker_t *w)
{
	udp_batch_t *b = &w->batch;
	unsigned i = 0;
	while (i < b->n) {
		unsigned j = i;
		while (j < b->n && b->handle[j] == b->handle[i])
			j++;
		udp_send_run(w, i, j);
		i = j;
	}
	b->n = 0;
}

static void
udp_flush_check(uv_check_t *c)
{
	worker_t *w = container_of(c, worker_t, flush);
	if (w->batch.n > 0)
		udp_flush(w);
}

static unsigned
sockaddr_port(const struct sockaddr *sa)
{
	return ntohs(sa->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
	                                       : ((const struct sockaddr_in *)sa)->sin_port);
}

static socklen_t
sockaddr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                 : sizeof(struct sockaddr_in);
}

/*
 * The answer a datagram from `addr` gets; 0 when it gets none. Everything
 * that limits a client decides before any lookup is made: the access
 * list, then (for a datagram that is a query at all) the rate limiter, so
 * that a query held back costs its decoding and nothing more. *pad_ok:
 * whether the answer may be padded in a GSO group (an OK or NOT-FOUND
 * answer, not slipped).
 */
static size_t
udp_answer(worker_t *w, const uint8_t *req, size_t len, uint8_t *out,
           const struct sockaddr *addr, unsigned char *pad_ok)
{
	server_t *s = w->srv;
	*pad_ok = 0;
	if (!acl_allows(&s->acl, addr)) {
		STAT_ADD(w->acl_refused, 1);
		return s->acl_drop ? 0 : answer_refused(&w->stats, req, len, out, PORTQ_UDP_MAX);
	}
	answer_req_t ar;
	if (!answer_decode(&w->stats, req, len, &ar))
		return 0;                        /* not a query: no answer to limit */
	answer_ctx_t ctx = { w->reg->reg, &w->stats, info_stats, w, 0, 0 };
	switch (rrl_check(w->rrl, addr, uv_now(w->loop))) {
	case RRL_SEND: break;
	case RRL_SLIP: ctx.slip = 1; break;
	default:       return 0;
	}
	size_t n = answer_decoded(&ctx, &ar, out, PORTQ_UDP_MAX);
	*pad_ok = !ctx.slip && n > 5 &&
	          (out[5] == PORTQ_RC_OK || out[5] == PORTQ_RC_NOTFOUND);
	return n;
}

static void
udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
         const struct sockaddr *addr, unsigned flags)
{
	worker_t *w = h->data;
	if (flags & UV_UDP_MMSG_FREE)
		return;        /* libuv's buffer goes; the answers are in the batch */
	if (nread < 0) {
		log_warn("udp receive: %s", uv_strerror((int)nread));
		return;
	}
	if (addr == NULL) {
		/* No address, nothing read: the socket is drained (EAGAIN). After
		 * a read of a few datagrams, hold before the next one so that
		 * more answers leave per send, per GSO group and per wakeup
		 * (udp-hold). Not after a lone datagram (nothing to gain), nor
		 * after two full reads (40 datagrams) or more: a backlog that
		 * size means the worker is saturated, batches fill by themselves,
		 * and holding would only idle it while clients wait. (One read
		 * or a little more is what a hold itself gathers: holding goes
		 * on.) The answers leave first. */
		unsigned *cycle = &w->cycle[h - w->udp];
		udp_flush(w);
		if (nread == 0 && *cycle >= 2 && *cycle < 2 * UDP_RECV_WIDTH &&
		    w->hold.tv_nsec != 0) {
			STAT_ADD(w->udp_holds, 1);
			nanosleep(&w->hold, NULL);
		}
		*cycle = 0;
		return;
	}
	if (w->stopping)
		return;
	w->cycle[h - w->udp]++;
	if (sockaddr_port(addr) == 0) {
		STAT_ADD(w->stats.dropped, 1);   /* no answer can go back to port 0 */
		return;
	}
	if (flags & UV_UDP_PARTIAL) {
		STAT_ADD(w->stats.dropped, 1);   /* larger than any query can be */
		return;
	}
	const uint8_t *req = (const uint8_t *)buf->base;
	udp_batch_t *b = &w->batch;
	if ((flags & UV_UDP_MMSG_CHUNK) && b->n == UDP_BATCH)
		udp_flush(w);
	uint8_t *out = (flags & UV_UDP_MMSG_CHUNK) ? b->data[b->n] : w->out;
	unsigned char pad_ok;
	size_t n = udp_answer(w, req, (size_t)nread, out, addr, &pad_ok);
	if (n == 0)
		return;
	if (!(flags & UV_UDP_MMSG_CHUNK)) {
		udp_flush(w);                    /* earlier answers first */
		udp_send_now(w, h, out, n, addr);
		return;
	}
	unsigned k = b->n;
	socklen_t alen = sockaddr_len(addr);
	memcpy(&b->peer[k], addr, alen);     /* libuv's copy lives only for this call */
	b->iov[k].iov_base = b->data[k];
	b->iov[k].iov_len = n;
	memset(&b->msg[k], 0, sizeof(b->msg[k]));
	b->msg[k].msg_hdr.msg_name = &b->peer[k];
	b->msg[k].msg_hdr.msg_namelen = alen;
	b->msg[k].msg_hdr.msg_iov = &b->iov[k];
	b->msg[k].msg_hdr.msg_iovlen = 1;
	b->handle[k] = h;
	b->pad_ok[k] = pad_ok;
	b->n++;
}

/* ---------------------------------------------------------------- TCP */

static void
conn_handle_closed(uv_handle_t *h)
{
	conn_t *c = h->data;
	if (--c->open_handles > 0)
		return;
	worker_t *w = c->w;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	STAT_ADD(w->n_conns, -1);
	free(c);
}

static void
conn_close(conn_t *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
}

static void
conn_shutdown_done(uv_shutdown_t *req, int status)
{
	(void)status;
	conn_close(req->data);
}

/* Close after the answers already queued have left. */
static void
conn_finish(conn_t *c)
{
	if (c->closing || c->retiring)
		return;
	c->retiring = 1;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->shutdown.data = c;
	if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, conn_shutdown_done) < 0)
		conn_close(c);
}

static int
conn_expired(const conn_t *c)
{
	return uv_now(c->w->loop) - c->born_ms >= (uint64_t)c->w->srv->cfg->tcp_max_lifetime;
}

static void conn_idle(uv_timer_t *t);

/* Run the idle or read timer for `ms`, or to the end of the connection's lifetime if sooner. */
static void
conn_arm(conn_t *c, uint64_t ms)
{
	uint64_t age = uv_now(c->w->loop) - c->born_ms;
	uint64_t life = (uint64_t)c->w->srv->cfg->tcp_max_lifetime;
	uint64_t left = life > age ? life - age : 0;
	uv_timer_start(&c->idle, conn_idle, ms < left ? ms : left, 0);
}

static void
conn_idle(uv_timer_t *t)
{
	conn_t *c = t->data;
	if (c->retiring)
		;                                     /* its answers did not drain in time */
	else if (conn_expired(c))
		STAT_ADD(c->w->tcp_retired, 1);
	else if (c->partial)
		STAT_ADD(c->w->tcp_slow_closed, 1);   /* a query that never finished */
	else
		STAT_ADD(c->w->tcp_idle_closed, 1);
	conn_close(c);
}

static void
conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	conn_t *c = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void
conn_written(uv_write_t *req, int status)
{
	out_write_t *o = container_of(req, out_write_t, req);
	if (status < 0 && status != UV_ECANCELED)
		log_debug("tcp write: %s", uv_strerror(status));
	free(o);
}

/*
 * Send one framed answer (`frame`: the 2-byte prefix, then the message;
 * `n` bytes in all). It goes out at once when nothing waits before it
 * and the socket takes it; only what is left is copied and queued, so
 * writes on one stream stay in order and a client that reads its answers
 * costs no allocation.
 */
static int
conn_send(conn_t *c, const uint8_t *frame, size_t n)
{
	uv_stream_t *st = (uv_stream_t *)&c->tcp;
	if (uv_stream_get_write_queue_size(st) > (size_t)c->w->srv->cfg->tcp_max_pending)
		return -1;                       /* the client does not read its answers */
	uv_buf_t b = uv_buf_init((char *)(uintptr_t)frame, (unsigned)n);
	int done = uv_try_write(st, &b, 1);  /* UV_EAGAIN while writes are queued */
	if (done == (int)n)
		return 0;
	if (done < 0 && done != UV_EAGAIN)
		return -1;
	size_t off = done > 0 ? (size_t)done : 0;
	out_write_t *o = malloc(sizeof(*o) + n - off);
	if (o == NULL)
		return -1;
	memcpy(o->data, frame + off, n - off);
	b = uv_buf_init((char *)o->data, (unsigned)(n - off));
	if (uv_write(&o->req, st, &b, 1, conn_written) < 0) {
		free(o);
		return -1;
	}
	return 0;
}

static void
conn_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	conn_t *c = stream->data;
	worker_t *w = c->w;
	(void)buf;
	if (nread < 0) {
		conn_close(c);                   /* EOF or error: nothing left to answer */
		return;
	}
	c->len += (size_t)nread;

	size_t off = 0;
	for (;;) {
		const uint8_t *msg;
		size_t mlen;
		int used = portq_frame_next(c->buf + off, c->len - off,
		                            (size_t)w->srv->cfg->tcp_max_frame, &msg, &mlen);
		if (used == PORTQ_EAGAIN)
			break;
		if (used < 0) {
			log_debug("tcp: bad frame (%s), closing", portq_strerror(used));
			STAT_ADD(w->stats.dropped, 1);
			conn_close(c);
			return;
		}
		off += (size_t)used;
		size_t n = answer(w, msg, mlen, w->out + PORTQ_FRAME_PREFIX, PORTQ_MSG_MAX, 1);
		if (n > 0)
			portq_frame_prefix(w->out, n);
		if (n == 0 || conn_send(c, w->out, PORTQ_FRAME_PREFIX + n) < 0) {
			conn_close(c);               /* not portq at all, or a client that does not read */
			return;
		}
		c->served = ++w->serve_seq;
		if (++c->queries >= w->srv->cfg->tcp_max_queries) {
			STAT_ADD(w->tcp_retired, 1);  /* what follows in the buffer is not answered */
			conn_finish(c);
			uv_timer_start(&c->idle, conn_idle, (uint64_t)w->srv->cfg->tcp_read_timeout, 0);
			return;
		}
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;

	/* Between queries the idle timeout runs; once a query has started,
	 * the read timeout, which more bytes of the same query do not
	 * extend: a client trickling a byte at a time cannot hold on. */
	const config_t *cfg = w->srv->cfg;
	if (c->len == 0) {
		c->partial = 0;
		conn_arm(c, (uint64_t)cfg->tcp_idle_timeout);
	} else if (!c->partial || off > 0) {
		c->partial = 1;
		conn_arm(c, (uint64_t)cfg->tcp_read_timeout);
	}
}

/*
 * Make room for the new connection `c` if its prefix or the worker is
 * full: close the connection, of that prefix or of all, that has gone
 * longest without an answer (or since its accept if it never had one).
 * A client that holds connections open with a query now and then loses
 * them to anyone new; one whose query has just been answered is the last
 * to go. Returns 0, or -1 when there is nothing to close.
 */
static int
conn_make_room(worker_t *w, conn_t *c)
{
	const config_t *cfg = w->srv->cfg;
	long live = 1, same = 0;
	conn_t *oldest = NULL, *oldest_same = NULL;
	for (conn_t *o = w->conns; o != NULL; o = o->next) {
		if (o == c || o->closing || o->retiring)
			continue;
		live++;
		if (oldest == NULL || o->served < oldest->served)
			oldest = o;
		if (prefix_eq(&o->prefix, &c->prefix)) {
			same++;
			if (oldest_same == NULL || o->served < oldest_same->served)
				oldest_same = o;
		}
	}
	/* The limits are per worker: each holds its share of the total. */
	long limit = (cfg->tcp_max_connections + w->srv->n_workers - 1) / w->srv->n_workers;
	conn_t *victim = same >= cfg->tcp_max_per_source ? oldest_same :
	                 live > limit ? oldest : NULL;
	if (victim == NULL)
		return same >= cfg->tcp_max_per_source || live > limit ? -1 : 0;
	STAT_ADD(w->tcp_evicted, 1);
	conn_close(victim);
	return 0;
}

/*
 * The connection waiting on listener `server` could not be taken (no
 * memory): accept it into the worker's drop handle and close it. libuv
 * stops watching a listener while an accepted descriptor waits for
 * uv_accept(), so leaving it there would stop that listener for good.
 * While the drop handle is closing, a listener in the same plight waits
 * for it (drop_wait) and is served when it has closed.
 */
static void tcp_drop(worker_t *w, uv_stream_t *server);
static void tcp_accept(uv_stream_t *server, int status);

static void
tcp_drop_closed(uv_handle_t *h)
{
	worker_t *w = h->data;
	w->drop_busy = 0;
	for (int i = 0; i < w->n_tcp; i++)
		if (w->drop_wait[i] && !w->drop_busy) {
			w->drop_wait[i] = 0;
			if (!w->stopping)
				tcp_drop(w, (uv_stream_t *)&w->tcp[i]);
		}
}

static void
tcp_drop(worker_t *w, uv_stream_t *server)
{
	if (w->drop_busy) {
		w->drop_wait[(uv_tcp_t *)server - w->tcp] = 1;
		return;
	}
	w->drop_busy = 1;
	uv_tcp_init(w->loop, &w->drop);
	w->drop.data = w;
	if (uv_accept(server, (uv_stream_t *)&w->drop) < 0)
		(void)uv_listen(server, TCP_BACKLOG, tcp_accept);   /* see tcp_accept */
	uv_close((uv_handle_t *)&w->drop, tcp_drop_closed);
}

/* Testing only: how many of the next connection allocations fail (see server.h). */
static int fail_conn_allocs;

void
portq__server_fail_conn_allocs(int n)
{
	__atomic_store_n(&fail_conn_allocs, n, __ATOMIC_RELAXED);
}

static conn_t *
conn_new(size_t cap)
{
	int fail = __atomic_load_n(&fail_conn_allocs, __ATOMIC_RELAXED);
	if (fail > 0 && __atomic_compare_exchange_n(&fail_conn_allocs, &fail, fail - 1, 0,
	                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return NULL;
	return calloc(1, sizeof(conn_t) + cap);
}

static void
tcp_accept(uv_stream_t *server, int status)
{
	worker_t *w = server->data;
	const config_t *cfg = w->srv->cfg;
	if (status < 0) {
		/* libuv has already dropped the connection (with its spare
		 * descriptor when the process is out of them) and goes on. */
		if (STAT_GET(w->tcp_dropped) == 0)
			log_warn("tcp accept: %s (counted in tcp-dropped from now on)",
			         uv_strerror(status));
		STAT_ADD(w->tcp_dropped, 1);
		return;
	}
	size_t cap = PORTQ_FRAME_PREFIX + (size_t)cfg->tcp_max_frame;
	conn_t *c = conn_new(cap);
	if (c == NULL) {
		if (STAT_GET(w->tcp_dropped) == 0)
			log_warn("tcp accept: out of memory, connection dropped "
			         "(counted in tcp-dropped from now on)");
		STAT_ADD(w->tcp_dropped, 1);
		tcp_drop(w, server);
		return;
	}
	c->w = w;
	c->cap = cap;
	uv_tcp_init(w->loop, &c->tcp);
	uv_timer_init(w->loop, &c->idle);
	c->tcp.data = c->idle.data = c;
	c->open_handles = 2;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	STAT_ADD(w->n_conns, 1);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		/* The descriptor is closed, but libuv (1.44) only watches the
		 * listener again after a uv_accept() that worked: listen anew. */
		(void)uv_listen(server, TCP_BACKLOG, tcp_accept);
		STAT_ADD(w->tcp_dropped, 1);
		conn_close(c);
		return;
	}
	int plen = sizeof(c->peer);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &plen) < 0) {
		conn_close(c);
		return;
	}
	if (!acl_allows(&w->srv->acl, (struct sockaddr *)&c->peer)) {
		STAT_ADD(w->acl_refused, 1);
		conn_close(c);
		return;
	}
	c->prefix = prefix_of((struct sockaddr *)&c->peer);
	c->born_ms = uv_now(w->loop);
	c->served = ++w->serve_seq;
	if (w->stopping || conn_make_room(w, c) < 0) {
		STAT_ADD(w->tcp_refused, 1);
		conn_close(c);
		return;
	}
	STAT_ADD(w->tcp_accepted, 1);
	uv_tcp_nodelay(&c->tcp, 1);
	conn_arm(c, (uint64_t)cfg->tcp_idle_timeout);
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) < 0)
		conn_close(c);
}

/* ---------------------------------------------------------------- listeners */

static int
set_reuseport(uv_handle_t *h)
{
	uv_os_fd_t fd;
	int yes = 1;
	if (uv_fileno(h, &fd) < 0)
		return UV_EBADF;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof(yes)) < 0)
		return -errno;
	return 0;
}

/*
 * A receive buffer deep enough to ride out a moment without CPU (a busy
 * machine, a reload): root may exceed net.core.rmem_max, others get what
 * the kernel allows. The size reached is logged once.
 */
static void
set_rcvbuf(worker_t *w, uv_handle_t *h)
{
	uv_os_fd_t fd;
	int want = (int)w->srv->cfg->udp_rcvbuf, got = 0;
	socklen_t len = sizeof(got);
	if (want <= 0 || uv_fileno(h, &fd) < 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
	if (w->id == 0 && getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0 &&
	    got < want)
		log_warn("udp receive buffer is %d bytes, not the %d asked for "
		         "(raise net.core.rmem_max, or run as root)", got / 2, want);
}

/*
 * GSO only where the kernel knows UDP_SEGMENT (Linux 4.18): elsewhere a
 * cmsg of an unknown kind is ignored, and a group would leave as one
 * long datagram.
 */
static void
probe_gso(worker_t *w, uv_handle_t *h)
{
	uv_os_fd_t fd;
	int off = 0;
	if (!w->gso || uv_fileno(h, &fd) < 0)
		return;
	if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &off, sizeof(off)) < 0) {
		if (w->id == 0)
			log_info("udp: no segmentation offload here (%s); answers leave one by one",
			         strerror(errno));
		w->gso = 0;
	}
}

static void
set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* Bind this worker's UDP and TCP sockets on one address. */
static int
worker_listen(worker_t *w, const char *text, int idx)
{
	server_t *s = w->srv;
	struct sockaddr_storage ss;
	if (config_parse_addr(text, &ss) < 0) {
		log_err("listen %s: not ADDR:PORT", text);
		return UV_EINVAL;
	}
	/* Later workers, and UDP, take the port the first TCP socket got. */
	if (s->ports[idx] >= 0)
		set_port(&ss, (uint16_t)s->ports[idx]);
	int reuse = s->n_workers > 1;

	uv_tcp_t *t = &w->tcp[w->n_tcp];
	int rc = uv_tcp_init_ex(w->loop, t, ss.ss_family);
	if (rc < 0)
		return rc;
	t->data = w;
	w->n_tcp++;
	if (reuse && (rc = set_reuseport((uv_handle_t *)t)) < 0)
		goto fail_tcp;
	/* [::] means IPv6 only, so that 0.0.0.0 may be listed beside it. */
	unsigned v6only = ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
	if ((rc = uv_tcp_bind(t, (struct sockaddr *)&ss, v6only)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)t, TCP_BACKLOG, tcp_accept)) < 0)
		goto fail_tcp;
	if (s->ports[idx] < 0) {
		struct sockaddr_storage bound;
		int blen = sizeof(bound);
		uv_tcp_getsockname(t, (struct sockaddr *)&bound, &blen);
		s->ports[idx] = ntohs(bound.ss_family == AF_INET ?
		                      ((struct sockaddr_in *)&bound)->sin_port :
		                      ((struct sockaddr_in6 *)&bound)->sin6_port);
		set_port(&ss, (uint16_t)s->ports[idx]);
	}

	uv_udp_t *u = &w->udp[w->n_udp];
	rc = uv_udp_init_ex(w->loop, u, ss.ss_family | UV_UDP_RECVMMSG);
	if (rc < 0)
		return rc;
	u->data = w;
	w->n_udp++;
	if (reuse && (rc = set_reuseport((uv_handle_t *)u)) < 0)
		goto fail_udp;
	if ((rc = uv_udp_bind(u, (struct sockaddr *)&ss,
	                      ss.ss_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0)) < 0 ||
	    (rc = uv_udp_recv_start(u, udp_alloc, udp_recv)) < 0)
		goto fail_udp;
	set_rcvbuf(w, (uv_handle_t *)u);
	probe_gso(w, (uv_handle_t *)u);
	if (w->id == 0)
		log_info("listening on udp and tcp %s (port %d)", text, s->ports[idx]);
	return 0;
fail_tcp:
	log_err("listen tcp %s: %s", text, uv_strerror(rc));
	return rc;
fail_udp:
	log_err("listen udp %s: %s", text, uv_strerror(rc));
	return rc;
}

/*
 * Sockets handed over by systemd (LISTEN_FDS, starting at fd 3): served
 * by worker 0 as they are, UDP or TCP. Returns how many were taken, or a
 * negative libuv error.
 */
static int
adopt_activated(worker_t *w)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	if (pid == NULL || fds == NULL || atol(pid) != (long)getpid())
		return 0;
	int n = atoi(fds), rc;
	if (n <= 0 || n > CONFIG_MAX_LIST)
		return UV_EINVAL;
	for (int fd = 3; fd < 3 + n; fd++) {
		int type = 0;
		socklen_t len = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
			return -errno;
		if (type == SOCK_DGRAM) {
			uv_udp_t *u = &w->udp[w->n_udp];
			if ((rc = uv_udp_init_ex(w->loop, u, AF_UNSPEC | UV_UDP_RECVMMSG)) < 0)
				return rc;
			u->data = w;
			w->n_udp++;
			if ((rc = uv_udp_open(u, fd)) < 0 ||
			    (rc = uv_udp_recv_start(u, udp_alloc, udp_recv)) < 0)
				return rc;
			probe_gso(w, (uv_handle_t *)u);
		} else {
			uv_tcp_t *t = &w->tcp[w->n_tcp];
			if ((rc = uv_tcp_init(w->loop, t)) < 0)
				return rc;
			t->data = w;
			w->n_tcp++;
			if ((rc = uv_tcp_open(t, fd)) < 0 ||
			    (rc = uv_listen((uv_stream_t *)t, TCP_BACKLOG, tcp_accept)) < 0)
				return rc;
		}
		log_info("serving socket %d from systemd (%s)", fd,
		         type == SOCK_DGRAM ? "udp" : "tcp");
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	return n;
}

/* ---------------------------------------------------------------- workers */

static void worker_stop(worker_t *w);

/* Take the registry the server now publishes, drop the one held. */
static void
worker_refresh(worker_t *w)
{
	shared_reg_t *fresh = shared_acquire(w->srv);
	shared_reg_t *old = w->reg;
	w->reg = fresh;
	shared_release(old);
}

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
	for (conn_t *c = w->conns; c != NULL; c = c->next)
		conn_finish(c);                  /* one retiring already is on its way */
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
	if (w->udp_in == NULL || w->rrl == NULL ||
	    rrl_init(w->rrl, (uint32_t)s->cfg->rrl_rate, (uint32_t)s->cfg->rrl_slip) < 0) {
		free(w->udp_in);
		free(w->rrl);
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
	free(w);
	return rc;
}

/* ---------------------------------------------------------------- reload */

static void reload_start(server_t *s, int forced);

static void
reload_failed(server_t *s, const char *why, int timed_out)
{
	STAT_ADD(s->reload_failures, 1);
	if (timed_out)
		STAT_ADD(s->reload_timeouts, 1);
	log_err("reload failed, still serving serial %u: %s", server_serial(s), why);
}

/* The job is done (or was given up on): start the next one if asked. */
static void
reload_next(server_t *s)
{
	uv_timer_stop(&s->reload_deadline);
	if (s->reload_again && !s->stopping) {
		int forced = s->reload_again_forced;
		s->reload_again = s->reload_again_forced = 0;
		reload_start(s, forced);
	}
}

static void
reload_publish(server_t *s, registry_t *fresh)
{
	shared_reg_t *sr = shared_new(fresh);
	if (sr == NULL) {
		registry_free(fresh);
		reload_failed(s, "out of memory", 0);
		return;
	}
	/* Publish; each worker switches between two batches. */
	pthread_mutex_lock(&s->reg_lock);
	shared_reg_t *old = s->current;
	s->current = sr;
	pthread_mutex_unlock(&s->reg_lock);
	shared_release(old);
	worker_refresh(s->workers[0]);
	for (int i = 1; i < s->n_workers; i++)
		uv_async_send(&s->workers[i]->wake);
	STAT_ADD(s->reloads, 1);
	log_info("reloaded: %zu records, serial %u", registry_count(fresh),
	         registry_serial(fresh));
}

static void
reload_done(server_t *s)
{
	reg_error_t err;
	int rc;
	registry_t *fresh = regload_job_finish(s->reload_job, &err, &rc);
	s->reload_job = NULL;
	if (fresh == NULL) {
		reload_failed(s, err.text, rc == PORTQ_ETIMEDOUT);
	} else if (s->stopping) {
		registry_free(fresh);
	} else if (!s->reload_forced &&
	           regload_shrink_check(registry_count(s->current->reg), registry_count(fresh),
	                                s->cfg->reload_max_shrink, &err) != PORTQ_OK) {
		char why[sizeof(err.text) + 64];
		snprintf(why, sizeof(why), "%s; SIGUSR2 reloads anyway", err.text);
		registry_free(fresh);
		reload_failed(s, why, 0);
	} else {
		reload_publish(s, fresh);
	}
	reload_next(s);
}

/* On the reload thread: wake the loop (never after abandon). */
static void
reload_notify(void *arg)
{
	uv_async_send(arg);
}

static void
reload_async_fired(uv_async_t *a)
{
	server_t *s = a->data;
	if (s->reload_job != NULL && regload_job_wait(s->reload_job, 0))
		reload_done(s);
}

static void
reload_deadline_fired(uv_timer_t *t)
{
	server_t *s = t->data;
	if (s->reload_job == NULL)
		return;
	char where[4200], why[4400];
	regload_expiry_t e = regload_job_expire(s->reload_job, where, sizeof(where));
	if (e == REGLOAD_DONE) {
		reload_done(s);                  /* it made it after all */
		return;
	}
	if (e == REGLOAD_INDEXING) {             /* cannot block; slow at nice 19 */
		uv_timer_start(t, reload_deadline_fired, (uint64_t)s->cfg->reload_timeout, 0);
		return;
	}
	s->reload_job = NULL;
	snprintf(why, sizeof(why), "timed out after %ld ms %s (reload-timeout); "
	         "its thread is left to finish on its own", s->cfg->reload_timeout, where);
	reload_failed(s, why, 1);
	reload_next(s);
}

static void
reload_start(server_t *s, int forced)
{
	if (s->stopping)
		return;
	if (s->reload_job != NULL) {
		s->reload_again = 1;             /* the file changed again while loading */
		s->reload_again_forced |= forced;
		return;
	}
	if (regload_stuck() >= REGLOAD_MAX_STUCK) {
		char why[160];
		snprintf(why, sizeof(why), "%u earlier reloads are still stuck reading "
		         "their files; not starting another", regload_stuck());
		reload_failed(s, why, 0);
		return;
	}
	/* A serial that always moves forward, even twice in one second. */
	uint32_t now = (uint32_t)time(NULL), cur = server_serial(s);
	uint32_t serial = now > cur ? now : cur + 1;
	regload_limits_t lim;
	regload_limits(s->cfg, &lim);
	s->reload_forced = forced;
	s->reload_job = regload_job_start(&s->cfg->registry, serial, &lim, reload_notify,
	                                  &s->reload_async);
	if (s->reload_job == NULL) {
		reload_failed(s, "cannot start the reload thread", 0);
		return;
	}
	uv_timer_start(&s->reload_deadline, reload_deadline_fired,
	               (uint64_t)s->cfg->reload_timeout, 0);
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

static void
reload_timer_fired(uv_timer_t *t)
{
	reload_start(t->data, 0);
}

static void
watch_event(uv_fs_event_t *ev, const char *filename, int events, int status)
{
	watch_t *wt = container_of(ev, watch_t, ev);
	server_t *s = wt->srv;
	(void)events;
	if (status < 0 || s->stopping)
		return;
	/* The folder is watched, so that a file replaced by rename counts. */
	int ours = filename == NULL;
	for (int i = 0; i < s->cfg->registry.n && !ours; i++) {
		char base[4096], dir[4096];
		snprintf(base, sizeof(base), "%s",
		         reg_format_spec(s->cfg->registry.items[i], NULL));
		snprintf(dir, sizeof(dir), "%s", base);
		if (strcmp(basename(base), filename) == 0 && strcmp(dirname(dir), wt->dir) == 0)
			ours = 1;
	}
	if (ours)
		uv_timer_start(&s->reload_timer, reload_timer_fired,
		               (uint64_t)s->cfg->reload_delay, 0);
}

static void
watch_closed(uv_handle_t *h)
{
	free(container_of((uv_fs_event_t *)h, watch_t, ev));
}

static int
watch_start(server_t *s)
{
	for (int i = 0; i < s->cfg->registry.n; i++) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s",
		         reg_format_spec(s->cfg->registry.items[i], NULL));
		const char *d = dirname(dir);
		int seen = 0;
		for (int k = 0; k < s->n_watch; k++)
			seen |= strcmp(s->watch[k]->dir, d) == 0;
		if (seen)
			continue;
		watch_t *wt = calloc(1, sizeof(*wt));
		if (wt == NULL)
			return UV_ENOMEM;
		wt->srv = s;
		snprintf(wt->dir, sizeof(wt->dir), "%s", d);
		uv_fs_event_init(s->loop, &wt->ev);
		s->watch[s->n_watch++] = wt;
		int rc = uv_fs_event_start(&wt->ev, watch_event, wt->dir, 0);
		if (rc < 0)
			log_warn("cannot watch %s for changes (%s); SIGHUP still reloads",
			         wt->dir, uv_strerror(rc));
	}
	return 0;
}

/* ---------------------------------------------------------------- signals */

static void
log_stats(server_t *s)
{
	uint64_t op[PORTQ_OP_INFO + 1] = { 0 }, rc[PORTQ_RC_NOTIMPL + 1] = { 0 };
	uint64_t trunc = 0, drop = 0, acc = 0, ref = 0, idle = 0;
	long open = 0;
	for (int i = 0; i < s->n_workers; i++) {
		const worker_t *w = s->workers[i];
		for (unsigned k = 0; k <= PORTQ_OP_INFO; k++)
			op[k] += STAT_GET(w->stats.by_opcode[k]);
		for (unsigned k = 0; k <= PORTQ_RC_NOTIMPL; k++)
			rc[k] += STAT_GET(w->stats.by_rcode[k]);
		trunc += STAT_GET(w->stats.truncated);
		drop += STAT_GET(w->stats.dropped);
		acc += STAT_GET(w->tcp_accepted);
		ref += STAT_GET(w->tcp_refused);
		idle += STAT_GET(w->tcp_idle_closed);
		open += STAT_GET(w->n_conns);
	}
	log_info("serial %u, %d workers; queries port %llu name %llu range %llu "
	         "search %llu info %llu unknown %llu; ok %llu not-found %llu malformed %llu "
	         "not-implemented %llu; truncated %llu, dropped %llu; tcp accepted %llu "
	         "refused %llu idle-closed %llu open %ld; reloads %llu failed %llu "
	         "timed out %llu, %u stuck",
	         server_serial(s), s->n_workers,
	         (unsigned long long)op[PORTQ_OP_PORT], (unsigned long long)op[PORTQ_OP_NAME],
	         (unsigned long long)op[PORTQ_OP_RANGE], (unsigned long long)op[PORTQ_OP_SEARCH],
	         (unsigned long long)op[PORTQ_OP_INFO], (unsigned long long)op[0],
	         (unsigned long long)rc[PORTQ_RC_OK], (unsigned long long)rc[PORTQ_RC_NOTFOUND],
	         (unsigned long long)rc[PORTQ_RC_MALFORMED], (unsigned long long)rc[PORTQ_RC_NOTIMPL],
	         (unsigned long long)trunc, (unsigned long long)drop, (unsigned long long)acc,
	         (unsigned long long)ref, (unsigned long long)idle, open,
	         (unsigned long long)s->reloads, (unsigned long long)s->reload_failures,
	         (unsigned long long)s->reload_timeouts, regload_stuck());
}

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
		log_stats(s);
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
	uv_timer_init(loop, &s->reload_timer);
	s->reload_timer.data = s;
	uv_timer_init(loop, &s->reload_deadline);
	s->reload_deadline.data = s;
	uv_async_init(loop, &s->reload_async, reload_async_fired);
	s->reload_async.data = s;
	int n = cfg->workers < 1 ? 1 : cfg->workers > 64 ? 64 : (int)cfg->workers;
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
	static const char *const defaults[] = { "127.0.0.1:5380", "[::1]:5380" };
	const char *const *addrs = defaults;
	int n_addrs = 2, rc;
	if (s->cfg->listen.n > 0) {
		addrs = (const char *const *)s->cfg->listen.items;
		n_addrs = s->cfg->listen.n;
	}
	if (s->n_workers == 0)
		return UV_ENOMEM;
	rc = adopt_activated(s->workers[0]);
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
			rc = worker_listen(s->workers[i], addrs[a], a);
			/* Without IPv6 on the machine, the default [::1] is skipped. */
			if (rc < 0 && !(addrs == defaults && a == 1))
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
	if (s->cfg->watch && (rc = watch_start(s)) < 0)
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
	for (int i = 0; i < s->n_watch; i++)
		uv_close((uv_handle_t *)&s->watch[i]->ev, watch_closed);
	s->n_watch = 0;
	uv_close((uv_handle_t *)&s->reload_timer, NULL);
	/* A reload still running is given up on, not waited for: a file that
	 * blocks must not hold up the exit. Its thread frees what it built. */
	if (s->reload_job != NULL) {
		char where[4200];
		regload_job_abandon(s->reload_job, where, sizeof(where));
		s->reload_job = NULL;
		log_info("stopping with a reload still running (%s): left behind", where);
	}
	uv_close((uv_handle_t *)&s->reload_deadline, NULL);
	uv_close((uv_handle_t *)&s->reload_async, NULL);
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

uint32_t
server_serial(const server_t *s)
{
	return registry_serial(s->current->reg);
}

int
server_port(const server_t *s, int i)
{
	return i >= 0 && i < CONFIG_MAX_LIST ? s->ports[i] : -1;
}
