/*
 * udp.c -- portqd's UDP path (see udp.h): datagrams read in batches
 * (recvmmsg through libuv's UV_UDP_RECVMMSG), the access list and the
 * rate limiter asked before any lookup, the answers built in the
 * worker's batch buffer and sent with one sendmmsg per socket, the
 * answers to one client as one UDP GSO message (udp-gso). After a busy
 * read a worker may wait a little so that batches grow (udp-hold).
 * Nothing is allocated per query unless the socket's send buffer is full.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "stats.h"
#include "udp.h"

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
		STAT_ADD(w->udp_send_errors, 1);     /* a client can cause these: not logged */
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
		STAT_ADD(w->udp_send_errors, 1);
		return;
	}
	out_send_t *o = malloc(sizeof(*o) + n);
	if (o == NULL) {
		STAT_ADD(w->udp_send_errors, 1);
		return;
	}
	memcpy(o->data, data, n);
	uv_buf_t b = uv_buf_init((char *)o->data, (unsigned)n);
	if (uv_udp_send(&o->req, h, &b, 1, to, udp_sent) < 0) {
		free(o);
		STAT_ADD(w->udp_send_errors, 1);
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
		STAT_ADD(w->udp_send_errors, 1);
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
		STAT_ADD(w->udp_send_errors, 1);
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
			STAT_ADD(w->udp_send_errors, 1);
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
void
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

void
udp_flush_check(uv_check_t *c)
{
	worker_t *w = container_of(c, worker_t, flush);
	w->iterations++;                 /* tcp.c: has a new connection had its chance? */
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
 * The answer a datagram from `addr` gets; len 0 when it gets none.
 * Everything that limits a client decides before any lookup is made: the
 * access list, then (for a datagram that is a query at all) the rate
 * limiter, so that a query held back costs its decoding and nothing
 * more. *pad_ok: whether the answer may be padded in a GSO group (an OK
 * or NOT-FOUND answer, not slipped), from what the answer says it is.
 */
static answer_t
udp_answer(worker_t *w, const uint8_t *req, size_t len, uint8_t *out,
           const struct sockaddr *addr, unsigned char *pad_ok)
{
	static const answer_t none = { 0, 0, 0 };
	server_t *s = w->srv;
	*pad_ok = 0;
	if (!acl_allows(&s->acl, addr)) {
		STAT_ADD(w->acl_refused, 1);
		return s->acl_drop ? none : answer_refused(&w->stats, req, len, out, PORTQ_UDP_MAX);
	}
	answer_req_t ar;
	if (!answer_decode(&w->stats, req, len, &ar))
		return none;                     /* not a query: no answer to limit */
	answer_ctx_t ctx = { w->reg->reg, &w->stats, stats_info, w, 0, 0 };
	switch (rrl_check(w->rrl, addr, uv_now(w->loop))) {
	case RRL_SEND: break;
	case RRL_SLIP: ctx.slip = 1; break;
	default:       return none;
	}
	answer_t a = answer_decoded(&ctx, &ar, out, PORTQ_UDP_MAX);
	*pad_ok = !ctx.slip && a.len > 0 &&
	          (a.rcode == PORTQ_RC_OK || a.rcode == PORTQ_RC_NOTFOUND);
	return a;
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
	size_t n = udp_answer(w, req, (size_t)nread, out, addr, &pad_ok).len;
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

int
udp_read_start(uv_udp_t *u)
{
	return uv_udp_recv_start(u, udp_alloc, udp_recv);
}
