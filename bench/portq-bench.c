/*
 * portq-bench.c -- a UDP load generator for portqd, and for DNS servers
 * serving the same registry, so that one generator drives all of them
 * (issue 5; bench/compare runs it).
 *
 *   portq-bench [--target ADDR:PORT] (--mix FILE | --replay FILE [--format dns|portq])
 *               (--rate QPS | --max [--window N]) [--duration S] [--timeout MS]
 *   portq-bench --make-mix REGISTRY N SEED > FILE
 *
 * Queries go out in batches with sendmmsg() and replies come back in
 * batches with recvmmsg() on one connected, non-blocking UDP socket.
 *
 *   --rate QPS  paces the queries: every TICK microseconds it sends what
 *               is due since the start (dnsperf -Q). Falling behind (a full
 *               socket buffer, no free query id) is caught up later and
 *               shows as sent_qps below the offered rate.
 *   --max       keeps WINDOW queries outstanding (dnsperf -c/-q style).
 *
 * Every query gets a fresh 16-bit id, rewritten into the payload at the
 * offset its format puts it (DNS: byte 0, portq: byte 2); no two queries
 * in flight share an id. A reply is matched by id and must echo the
 * query's question, so a late reply to an expired query whose id was
 * reused is not taken for the new one. A query not answered within
 * TIMEOUT is lost. The run stops by itself: DURATION of sending, then at
 * most TIMEOUT of draining.
 *
 * Only loopback targets (127.0.0.0/8, ::1) are accepted: this tool floods.
 *
 * Output: a human-readable report, then one line starting "summary " of
 * key=value pairs for scripts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "msg.h"
#include "query_mix.h"
#include "registry.h"
#include "wire.h"

#define BATCH      64          /* datagrams per sendmmsg()/recvmmsg() */
#define RECV_MAX   4096        /* largest reply kept (portq UDP: 1232) */
#define QUERY_MAX  512         /* largest query payload */
#define IDS        65536
#define NIL        UINT32_MAX

/*
 * Where a payload format keeps what the generator needs: the id it
 * rewrites, the header after which the question is echoed, the QR, TC
 * and RCODE bits of a reply.
 */
typedef enum { FMT_PORTQ, FMT_DNS } fmt_kind_t;

typedef struct {
	fmt_kind_t kind;
	const char *name;
	size_t id_offset;
	size_t header_len;
	size_t flags_offset;         /* the byte holding QR (0x80) and TC */
	uint8_t tc_bit;
	size_t rcode_offset;
	uint8_t rcode_mask;
} fmt_t;

static const fmt_t fmt_portq = { FMT_PORTQ, "portq", 2, PORTQ_HEADER_LEN, 4, PORTQ_FLAG_TC, 5, 0xff };
static const fmt_t fmt_dns   = { FMT_DNS,   "dns",   0, 12, 2, 0x02, 3, 0x0f };

/* Payloads back to back; each with the length of its echoed question. */
typedef struct {
	uint8_t *data;
	size_t used, cap;
	size_t *off;
	uint16_t *len;
	uint16_t *echo;              /* question bytes after the header */
	size_t n, ncap;
} payloads_t;

/* One possible query id: free, or a query in flight. */
typedef struct {
	uint64_t sent_ns;
	uint32_t payload;
	uint32_t prev, next;         /* in-flight list, oldest first */
	bool busy;
} slot_t;

typedef struct {
	int fd;
	const fmt_t *fmt;
	payloads_t pl;
	size_t next_payload;

	slot_t slots[IDS];
	uint16_t free_ids[IDS];      /* FIFO: an id waits longest before reuse */
	uint32_t free_head, free_count;
	uint32_t oldest, newest;     /* in-flight list ends */
	uint32_t inflight;

	uint64_t timeout_ns;
	uint32_t window;

	uint64_t sent, answered, expired, late, stray, rcode_err, truncated;
	uint64_t reply_bytes;        /* of the answers, to compare protocols */
	uint64_t send_full;          /* sendmmsg found the socket buffer full */
	uint64_t refused;            /* ICMP port unreachable: nobody listens */
	uint32_t *lat;               /* ns, one per answer */
	size_t nlat, latcap;

	uint8_t sbuf[BATCH][QUERY_MAX];
	uint8_t rbuf[BATCH][RECV_MAX];
} bench_t;

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: small, seedable, the same sequence everywhere. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* ------------------------------------------------------------ payloads */

static int
payloads_add(payloads_t *p, const uint8_t *bytes, size_t len, size_t echo)
{
	if (len == 0 || len > QUERY_MAX) {
		fprintf(stderr, "portq-bench: payload of %zu bytes (1 to %d allowed)\n",
		        len, QUERY_MAX);
		return -1;
	}
	if (p->used + len > p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 65536;
		while (cap < p->used + len)
			cap *= 2;
		uint8_t *d = realloc(p->data, cap);
		if (d == NULL)
			return -1;
		p->data = d;
		p->cap = cap;
	}
	if (p->n == p->ncap) {
		size_t ncap = p->ncap ? p->ncap * 2 : 1024;
		size_t *off = realloc(p->off, ncap * sizeof(*off));
		if (off != NULL)
			p->off = off;
		uint16_t *l = realloc(p->len, ncap * sizeof(*l));
		if (l != NULL)
			p->len = l;
		uint16_t *e = realloc(p->echo, ncap * sizeof(*e));
		if (e != NULL)
			p->echo = e;
		if (off == NULL || l == NULL || e == NULL)
			return -1;
		p->ncap = ncap;
	}
	memcpy(p->data + p->used, bytes, len);
	p->off[p->n] = p->used;
	p->len[p->n] = (uint16_t)len;
	p->echo[p->n] = (uint16_t)echo;
	p->used += len;
	p->n++;
	return 0;
}

static void
payloads_free(payloads_t *p)
{
	free(p->data);
	free(p->off);
	free(p->len);
	free(p->echo);
}

/*
 * The length of a DNS query's question (QNAME, QTYPE, QCLASS), which a
 * reply echoes after its header; 0 when the query has no sane question.
 */
static size_t
dns_question_len(const uint8_t *q, size_t len)
{
	wire_t w = wire_reader(q, len);
	wire_skip(&w, 12);
	for (;;) {
		uint8_t l = wire_read_u8(&w);
		if (w.error != PORTQ_OK || l > 63)
			return 0;
		if (l == 0)
			break;
		wire_skip(&w, l);
	}
	wire_skip(&w, 4);
	return w.error == PORTQ_OK ? wire_used(&w) - 12 : 0;
}

/* Lines "port PORT PROTO" and "name NAME PROTO", '#' comments. */
static int
load_mix(payloads_t *p, const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "portq-bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char line[512];
	unsigned lineno = 0;
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		mix_query_t m;
		int k = mix_line_parse(line, &m);
		if (k == 0)
			continue;
		portq_header_t h = { 0 };
		portq_question_t q = { 0 };
		char *end = NULL;
		unsigned long port = k > 0 && m.by_port ? strtoul(m.arg, &end, 10) : 0;
		if (k < 0) {
			rc = -1;
		} else if (m.by_port && *end == '\0' && port <= 65535) {
			h.opcode = PORTQ_OP_PORT;
			q.port_lo = (uint16_t)port;
		} else if (!m.by_port && portq_question_set_text(&q, m.arg) == PORTQ_OK) {
			h.opcode = PORTQ_OP_NAME;
		} else {
			rc = -1;
		}
		if (rc < 0) {
			fprintf(stderr, "portq-bench: %s:%u: expected \"port PORT PROTO\" "
			        "or \"name NAME PROTO\" (PROTO tcp, udp, sctp, dccp or any)\n",
			        path, lineno);
			break;
		}
		q.transport = m.transport;
		uint8_t buf[QUERY_MAX];
		int len = msg_query_encode(buf, sizeof(buf), &h, &q);
		if (len < 0 || payloads_add(p, buf, (size_t)len,
		                            (size_t)len - PORTQ_HEADER_LEN) < 0)
			rc = -1;
	}
	fclose(f);
	if (rc == 0 && p->n == 0) {
		fprintf(stderr, "portq-bench: %s: no queries\n", path);
		rc = -1;
	}
	return rc;
}

/* Records of a 2-byte big-endian length, then that many bytes. */
static int
load_replay(payloads_t *p, const char *path, const fmt_t *fmt)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "portq-bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	uint8_t lenb[2], buf[65535];
	size_t got;
	int rc = 0;
	while (rc == 0 && (got = fread(lenb, 1, 2, f)) > 0) {
		wire_t w = wire_reader(lenb, got);
		size_t len = wire_read_u16(&w);
		if (w.error != PORTQ_OK || len == 0 || fread(buf, 1, len, f) != len) {
			fprintf(stderr, "portq-bench: %s: payload %zu cut short or empty\n",
			        path, p->n + 1);
			rc = -1;
			break;
		}
		size_t echo = fmt->kind == FMT_DNS ? dns_question_len(buf, len) :
		              len > PORTQ_HEADER_LEN ? len - PORTQ_HEADER_LEN : 0;
		if (len < fmt->header_len || echo == 0) {
			fprintf(stderr, "portq-bench: %s: payload %zu is not a %s query\n",
			        path, p->n + 1, fmt->name);
			rc = -1;
			break;
		}
		rc = payloads_add(p, buf, len, echo);
	}
	fclose(f);
	if (rc == 0 && p->n == 0) {
		fprintf(stderr, "portq-bench: %s: no payloads\n", path);
		rc = -1;
	}
	return rc;
}

/* -------------------------------------------------------------- make-mix */

/*
 * Lookups drawn at random (fixed seed) over the registry's assigned
 * records with a port and a protocol: even lines by port, odd lines by
 * name. contrib/portq-zone --queries turns the same file into DNS
 * queries (TXT by port, SRV by name), so both protocols ask the same.
 */
static int
make_mix(const char *path, long n, uint64_t seed)
{
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	if (b == NULL || reg_builder_load(b, path, REG_FMT_AUTO, &err) != PORTQ_OK) {
		fprintf(stderr, "portq-bench: %s\n", b ? err.text : "out of memory");
		reg_builder_free(b);
		return 1;
	}
	registry_t *r = registry_build(b, 1);
	if (r == NULL)
		return 1;
	size_t total = registry_count(r), np = 0, nn = 0;
	size_t *ports = malloc(total * sizeof(size_t));
	size_t *names = malloc(total * sizeof(size_t));
	for (size_t i = 0; ports != NULL && names != NULL && i < total; i++) {
		const reg_entry_t *e = registry_entry(r, i);
		if (!e->has_port || e->transport == PORTQ_TP_ANY ||
		    e->status != PORTQ_ST_ASSIGNED)
			continue;
		ports[np++] = i;
		if (e->name[0] != '\0')
			names[nn++] = i;
	}
	int rc = 0;
	if (np == 0 || nn == 0) {
		fprintf(stderr, "portq-bench: %s: no assigned ports or names\n", path);
		rc = 1;
	}
	printf("# portq-bench --make-mix %s %ld %" PRIu64 "\n", path, n, seed);
	for (long i = 0; rc == 0 && i < n; i++) {
		if (i % 2 == 0) {
			const reg_entry_t *e = registry_entry(r, ports[rng_next(&seed) % np]);
			unsigned span = (unsigned)(e->port_hi - e->port_lo) + 1;
			printf("port %u %s\n", e->port_lo + (unsigned)(rng_next(&seed) % span),
			       portq_transport_name(e->transport));
		} else {
			const reg_entry_t *e = registry_entry(r, names[rng_next(&seed) % nn]);
			printf("name %s %s\n", e->name, portq_transport_name(e->transport));
		}
	}
	free(ports);
	free(names);
	registry_free(r);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "portq-bench: writing the mix failed\n");
		rc = 1;
	}
	return rc;
}

/* ------------------------------------------------------------- the target */

/* "127.0.0.1:5380" or "[::1]:5380"; loopback only. */
static int
parse_target(const char *text, struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	if (colon == NULL || colon == text || (size_t)(colon - text) >= sizeof(host))
		goto bad;
	char *end;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port == 0 || port > 65535)
		goto bad;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	memset(ss, 0, sizeof(*ss));
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			goto bad;
		if (!IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			goto refuse;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			goto bad;
		if ((ntohl(s4->sin_addr.s_addr) >> 24) != 127)
			goto refuse;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*s4);
	}
	return 0;
bad:
	fprintf(stderr, "portq-bench: target %s: expected IPV4:PORT or [IPV6]:PORT, "
	        "numeric\n", text);
	return -1;
refuse:
	fprintf(stderr, "portq-bench: refusing target %s: only loopback addresses "
	        "(127.0.0.0/8, ::1) may be benchmarked\n", text);
	return -1;
}

static int
open_socket(const struct sockaddr_storage *ss, socklen_t sslen)
{
	int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("portq-bench: socket");
		return -1;
	}
	/* Deep buffers: a burst of replies must not be dropped here. */
	int size = 8 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (connect(fd, (const struct sockaddr *)ss, sslen) < 0) {
		perror("portq-bench: connect");
		close(fd);
		return -1;
	}
	return fd;
}

/* ------------------------------------------------------------ in flight */

static void
ids_init(bench_t *b, uint64_t seed)
{
	/* Start somewhere random so that runs do not all reuse id 0 first. */
	uint32_t first = (uint32_t)(rng_next(&seed) % IDS);
	for (uint32_t i = 0; i < IDS; i++)
		b->free_ids[i] = (uint16_t)((first + i) % IDS);
	b->free_head = 0;
	b->free_count = IDS;
	b->oldest = b->newest = NIL;
}

static uint16_t
id_take(bench_t *b)
{
	uint16_t id = b->free_ids[b->free_head];
	b->free_head = (b->free_head + 1) % IDS;
	b->free_count--;
	return id;
}

static void
id_give(bench_t *b, uint16_t id)
{
	b->free_ids[(b->free_head + b->free_count) % IDS] = id;
	b->free_count++;
}

static void
flight_add(bench_t *b, uint16_t id, uint32_t payload, uint64_t t)
{
	slot_t *s = &b->slots[id];
	s->sent_ns = t;
	s->payload = payload;
	s->busy = true;
	s->next = NIL;
	s->prev = b->newest;
	if (b->newest != NIL)
		b->slots[b->newest].next = id;
	else
		b->oldest = id;
	b->newest = id;
	b->inflight++;
}

static void
flight_remove(bench_t *b, uint16_t id)
{
	slot_t *s = &b->slots[id];
	if (s->prev != NIL)
		b->slots[s->prev].next = s->next;
	else
		b->oldest = s->next;
	if (s->next != NIL)
		b->slots[s->next].prev = s->prev;
	else
		b->newest = s->prev;
	s->busy = false;
	b->inflight--;
	id_give(b, id);
}

/* Queries unanswered for longer than the timeout are lost. */
static void
flight_expire(bench_t *b, uint64_t t)
{
	while (b->oldest != NIL && t - b->slots[b->oldest].sent_ns > b->timeout_ns) {
		b->expired++;
		flight_remove(b, (uint16_t)b->oldest);
	}
}

static void
lat_add(bench_t *b, uint64_t ns)
{
	if (b->nlat == b->latcap) {
		size_t cap = b->latcap ? b->latcap * 2 : 1 << 20;
		uint32_t *l = realloc(b->lat, cap * sizeof(*l));
		if (l == NULL)
			return;          /* the answer counts; its latency is not kept */
		b->lat = l;
		b->latcap = cap;
	}
	b->lat[b->nlat++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* ------------------------------------------------------------- the loop */

/* Send up to `want` queries in one sendmmsg(); returns how many went. */
static unsigned
send_batch(bench_t *b, unsigned want)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint16_t ids[BATCH];
	uint32_t pls[BATCH];
	unsigned n = 0;
	if (want > BATCH)
		want = BATCH;
	while (n < want && b->free_count > 0 && b->inflight + n < b->window) {
		uint32_t p = (uint32_t)(b->next_payload++ % b->pl.n);
		size_t len = b->pl.len[p];
		memcpy(b->sbuf[n], b->pl.data + b->pl.off[p], len);
		ids[n] = id_take(b);
		pls[n] = p;
		wire_t w = wire_writer(b->sbuf[n], len);
		wire_skip(&w, b->fmt->id_offset);
		wire_write_u16(&w, ids[n]);
		iov[n].iov_base = b->sbuf[n];
		iov[n].iov_len = len;
		memset(&msgs[n], 0, sizeof(msgs[n]));
		msgs[n].msg_hdr.msg_iov = &iov[n];
		msgs[n].msg_hdr.msg_iovlen = 1;
		n++;
	}
	if (n == 0)
		return 0;
	uint64_t t = now_ns();
	int r = sendmmsg(b->fd, msgs, n, MSG_DONTWAIT);
	if (r < 0) {
		if (errno == ECONNREFUSED)
			b->refused++;
		else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS &&
		         errno != EINTR)
			perror("portq-bench: sendmmsg");
		else
			b->send_full++;
		r = 0;
	} else if ((unsigned)r < n) {
		b->send_full++;
	}
	/* What did not go out goes out next, with the same payloads. */
	for (unsigned i = 0; i < n; i++) {
		if (i < (unsigned)r) {
			flight_add(b, ids[i], pls[i], t);
		} else {
			b->next_payload--;
			id_give(b, ids[i]);
		}
	}
	b->sent += (unsigned)r;
	return (unsigned)r;
}

static void
take_reply(bench_t *b, const uint8_t *buf, size_t len, uint64_t t)
{
	const fmt_t *f = b->fmt;
	wire_t w = wire_reader(buf, len);
	wire_skip(&w, f->id_offset);
	uint16_t id = wire_read_u16(&w);
	w = wire_reader(buf, len);
	wire_skip(&w, f->flags_offset);
	uint8_t flags = wire_read_u8(&w);
	w = wire_reader(buf, len);
	wire_skip(&w, f->rcode_offset);
	uint8_t rcode = wire_read_u8(&w) & f->rcode_mask;
	if (w.error != PORTQ_OK || len < f->header_len || !(flags & 0x80)) {
		b->stray++;
		return;
	}
	slot_t *s = &b->slots[id];
	if (!s->busy) {
		b->late++;
		return;
	}
	/* The reply must echo the question (a MALFORMED portq reply has none). */
	size_t qlen = b->pl.echo[s->payload];
	w = wire_reader(buf, len);
	wire_skip(&w, f->header_len);
	const uint8_t *echo = wire_read_span(&w, qlen);
	const uint8_t *sent = b->pl.data + b->pl.off[s->payload] + f->header_len;
	bool same = echo != NULL && memcmp(echo, sent, qlen) == 0;
	if (!same && !(f->kind == FMT_PORTQ && rcode == PORTQ_RC_MALFORMED)) {
		b->stray++;
		return;
	}
	lat_add(b, t - s->sent_ns);
	b->answered++;
	b->reply_bytes += len;
	if (rcode != 0)
		b->rcode_err++;
	if (flags & f->tc_bit)
		b->truncated++;
	flight_remove(b, id);
}

/* Read what has arrived, a few batches at most so sending keeps pace. */
static void
recv_replies(bench_t *b)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	for (int round = 0; round < 8; round++) {
		for (unsigned i = 0; i < BATCH; i++) {
			iov[i].iov_base = b->rbuf[i];
			iov[i].iov_len = RECV_MAX;
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		int r = recvmmsg(b->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		if (r <= 0) {
			if (r < 0 && errno == ECONNREFUSED)
				b->refused++;
			else if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
			         errno != EINTR)
				perror("portq-bench: recvmmsg");
			return;
		}
		uint64_t t = now_ns();
		for (int i = 0; i < r; i++)
			take_reply(b, b->rbuf[i], msgs[i].msg_len, t);
		if (r < BATCH)
			return;
	}
}

static void
wait_for(bench_t *b, uint64_t until, bool want_out)
{
	uint64_t t = now_ns();
	uint64_t d = until > t ? until - t : 0;
	struct timespec ts = { (time_t)(d / 1000000000u), (long)(d % 1000000000u) };
	struct pollfd pfd = { b->fd, (short)(POLLIN | (want_out ? POLLOUT : 0)), 0 };
	(void)ppoll(&pfd, 1, &ts, NULL);
}

typedef struct {
	double rate;                 /* 0: max mode */
	double duration;
	double tick_us;
} run_opts_t;

/* Returns the time spent sending, in seconds. */
static double
run(bench_t *b, const run_opts_t *o)
{
	uint64_t start = now_ns();
	uint64_t send_end = start + (uint64_t)(o->duration * 1e9);
	uint64_t drain_end = send_end + b->timeout_ns;
	uint64_t tick_ns = (uint64_t)(o->tick_us * 1000);
	for (;;) {
		uint64_t t = now_ns();
		bool sending = t < send_end;
		if (!sending && (b->inflight == 0 || t >= drain_end))
			break;
		bool blocked = false;
		if (sending && o->rate > 0) {
			uint64_t due = (uint64_t)((double)(t - start) * o->rate / 1e9) + 1;
			while (b->sent < due && !blocked) {
				uint64_t want = due - b->sent;
				unsigned k = send_batch(b, want > BATCH ? BATCH : (unsigned)want);
				blocked = k == 0;
			}
		} else if (sending) {
			while (b->inflight < b->window && !blocked)
				blocked = send_batch(b, b->window - b->inflight) == 0;
		}
		recv_replies(b);
		t = now_ns();
		flight_expire(b, t);

		uint64_t until = sending ? send_end : drain_end;
		if (b->oldest != NIL && b->slots[b->oldest].sent_ns + b->timeout_ns + 1 < until)
			until = b->slots[b->oldest].sent_ns + b->timeout_ns + 1;
		if (sending && o->rate > 0) {
			/*
			 * Wake when the next query is due, but no sooner than a
			 * tick from now: at high rates a tick's worth goes out
			 * in one batch.
			 */
			uint64_t next = start + (uint64_t)((double)(b->sent + 1) * 1e9 / o->rate);
			if (next < t + tick_ns)
				next = t + tick_ns;
			if (next < until)
				until = next;
		} else if (sending && b->inflight < b->window && b->free_count > 0 &&
		           !blocked) {
			continue;
		}
		bool full = blocked && b->free_count > 0 && b->inflight < b->window;
		wait_for(b, until, full);
	}
	double sending_s = (double)((now_ns() < send_end ? now_ns() : send_end) - start) / 1e9;
	/* Whatever is still out after the drain is lost. */
	while (b->oldest != NIL) {
		b->expired++;
		flight_remove(b, (uint16_t)b->oldest);
	}
	return sending_s;
}

/* ----------------------------------------------------------------- report */

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile, in microseconds; NAN when nothing was answered. */
static double
percentile_us(const uint32_t *v, size_t n, double p)
{
	if (n == 0)
		return NAN;
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	return v[rank - 1] / 1000.0;
}

static void
report(bench_t *b, const char *target, const run_opts_t *o, double secs, bool quiet)
{
	if (b->nlat > 0)
		qsort(b->lat, b->nlat, sizeof(*b->lat), cmp_u32);
	double p50 = percentile_us(b->lat, b->nlat, 50);
	double p99 = percentile_us(b->lat, b->nlat, 99);
	double p999 = percentile_us(b->lat, b->nlat, 99.9);
	uint64_t lost = b->sent - b->answered;
	double loss = b->sent ? 100.0 * (double)lost / (double)b->sent : 0;
	double sent_qps = secs > 0 ? (double)b->sent / secs : 0;
	double qps = secs > 0 ? (double)b->answered / secs : 0;
	if (!quiet) {
		printf("target:      %s (%s payloads, %zu distinct)\n", target,
		       b->fmt->name, b->pl.n);
		if (o->rate > 0)
			printf("mode:        fixed rate %.0f qps for %.1f s, tick %.0f us\n",
			       o->rate, o->duration, o->tick_us);
		else
			printf("mode:        max rate, window %u, for %.1f s\n",
			       b->window, o->duration);
		printf("sent:        %" PRIu64 " (%.0f qps)\n", b->sent, sent_qps);
		printf("answered:    %" PRIu64 " (%.0f qps)\n", b->answered, qps);
		printf("lost:        %" PRIu64 " (%.4f %%), timeout %.0f ms\n", lost, loss,
		       (double)b->timeout_ns / 1e6);
		printf("latency:     p50 %.1f us, p99 %.1f us, p99.9 %.1f us\n", p50, p99, p999);
		printf("replies:     %.0f bytes on average; rcode not 0: %" PRIu64 ", truncated: %" PRIu64
		       ", late: %" PRIu64 ", stray: %" PRIu64 "\n",
		       b->answered ? (double)b->reply_bytes / (double)b->answered : 0,
		       b->rcode_err, b->truncated, b->late, b->stray);
		if (b->send_full > 0)
			printf("send:        %" PRIu64 " batches found the socket buffer full\n",
			       b->send_full);
		if (b->refused > 0)
			printf("refused:     %" PRIu64 " times (ICMP port unreachable: is the "
			       "server listening?)\n", b->refused);
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	if (!quiet)
		printf("generator:   %.2f s of CPU\n", cpu);
	printf("summary target=%s format=%s mode=%s offered_qps=%.0f window=%u "
	       "duration_s=%.3f sent=%" PRIu64 " answered=%" PRIu64 " lost=%" PRIu64
	       " loss_pct=%.4f sent_qps=%.0f answered_qps=%.0f p50_us=%.1f "
	       "p99_us=%.1f p999_us=%.1f rcode_err=%" PRIu64 " truncated=%" PRIu64
	       " late=%" PRIu64 " stray=%" PRIu64 " send_full=%" PRIu64 " refused=%" PRIu64
	       " reply_avg=%.0f cpu_s=%.3f\n",
	       target, b->fmt->name, o->rate > 0 ? "rate" : "max", o->rate,
	       b->window, secs, b->sent, b->answered, lost, loss, sent_qps, qps,
	       p50, p99, p999, b->rcode_err, b->truncated, b->late, b->stray,
	       b->send_full, b->refused,
	       b->answered ? (double)b->reply_bytes / (double)b->answered : 0, cpu);
}

/* ------------------------------------------------------------------ main */

static void
usage(FILE *f)
{
	fprintf(f,
	"usage: portq-bench [--target ADDR:PORT] (--mix FILE | --replay FILE [--format dns|portq])\n"
	"                   (--rate QPS | --max [--window N]) [--duration S] [--timeout MS]\n"
	"                   [--tick US] [--quiet]\n"
	"       portq-bench --make-mix REGISTRY N SEED > MIXFILE\n"
	"\n"
	"  --target ADDR:PORT  loopback only: 127.0.0.0/8 or [::1] (default 127.0.0.1:5380)\n"
	"  --mix FILE          portq queries, lines \"port 80 tcp\" or \"name http tcp\"\n"
	"  --replay FILE       raw query payloads: 2-byte big-endian length, then the bytes\n"
	"  --format F          payload format of --replay: dns (id at byte 0, default)\n"
	"                      or portq (id at byte 2)\n"
	"  --rate QPS          fixed rate: send what is due every TICK microseconds\n"
	"  --max               maximum rate with WINDOW queries outstanding\n"
	"  --window N          queries outstanding in --max mode (default 100, at most 65536)\n"
	"  --duration S        seconds of sending (default 10, at most 3600)\n"
	"  --timeout MS        a query unanswered this long is lost; also the drain\n"
	"                      time after sending stops (default 1000)\n"
	"  --tick US           pacing interval of --rate (default 100)\n"
	"  --quiet             print the summary line only\n"
	"  --make-mix REG N SEED  write N lookups drawn from registry file REG with\n"
	"                      seed SEED, half by port, half by name\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "target",   required_argument, NULL, 'T' },
		{ "mix",      required_argument, NULL, 'm' },
		{ "replay",   required_argument, NULL, 'r' },
		{ "format",   required_argument, NULL, 'f' },
		{ "rate",     required_argument, NULL, 'R' },
		{ "max",      no_argument,       NULL, 'M' },
		{ "window",   required_argument, NULL, 'w' },
		{ "duration", required_argument, NULL, 'd' },
		{ "timeout",  required_argument, NULL, 't' },
		{ "tick",     required_argument, NULL, 'k' },
		{ "quiet",    no_argument,       NULL, 'q' },
		{ "make-mix", required_argument, NULL, 'X' },
		{ "help",     no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *target = "127.0.0.1:5380", *mix = NULL, *replay = NULL, *make = NULL;
	const fmt_t *fmt = &fmt_dns;
	run_opts_t o = { 0, 10, 100 };
	bool max = false, quiet = false;
	double window = 100, timeout_ms = 1000;
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'T': target = optarg; break;
		case 'm': mix = optarg; break;
		case 'r': replay = optarg; break;
		case 'f':
			if (strcmp(optarg, "dns") == 0)
				fmt = &fmt_dns;
			else if (strcmp(optarg, "portq") == 0)
				fmt = &fmt_portq;
			else {
				fprintf(stderr, "portq-bench: --format dns or portq\n");
				return 2;
			}
			break;
		case 'R': o.rate = atof(optarg); break;
		case 'M': max = true; break;
		case 'w': window = atof(optarg); break;
		case 'd': o.duration = atof(optarg); break;
		case 't': timeout_ms = atof(optarg); break;
		case 'k': o.tick_us = atof(optarg); break;
		case 'q': quiet = true; break;
		case 'X': make = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (make != NULL) {
		char *e1, *e2;
		long n = optind + 2 == argc ? strtol(argv[optind], &e1, 10) : -1;
		unsigned long long seed = n >= 0 ? strtoull(argv[optind + 1], &e2, 10) : 0;
		if (n <= 0 || *e1 != '\0' || *e2 != '\0') {
			fprintf(stderr, "portq-bench: --make-mix REGISTRY N SEED (N > 0)\n");
			return 2;
		}
		return make_mix(make, n, seed);
	}
	if (optind != argc || (mix == NULL) == (replay == NULL) ||
	    (o.rate > 0) == max || o.rate < 0) {
		fprintf(stderr, "portq-bench: give one of --mix and --replay, and one of "
		        "--rate QPS and --max\n");
		usage(stderr);
		return 2;
	}
	if (!(o.duration > 0 && o.duration <= 3600) || !(timeout_ms >= 1 && timeout_ms <= 60000) ||
	    !(window >= 1 && window <= IDS) || !(o.tick_us >= 10 && o.tick_us <= 100000) ||
	    o.rate > 10e6) {
		fprintf(stderr, "portq-bench: out of range: --duration 0-3600 s, --timeout "
		        "1-60000 ms, --window 1-65536, --tick 10-100000 us, --rate up to 10M\n");
		return 2;
	}
	struct sockaddr_storage ss;
	socklen_t sslen;
	if (parse_target(target, &ss, &sslen) < 0)
		return 2;

	bench_t *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return 1;
	b->fmt = mix != NULL ? &fmt_portq : fmt;
	int rc = mix != NULL ? load_mix(&b->pl, mix) : load_replay(&b->pl, replay, fmt);
	if (rc == 0 && (b->fd = open_socket(&ss, sslen)) < 0)
		rc = -1;
	if (rc < 0) {
		payloads_free(&b->pl);
		free(b);
		return 1;
	}
	b->timeout_ns = (uint64_t)(timeout_ms * 1e6);
	b->window = max ? (uint32_t)window : IDS;
	ids_init(b, now_ns());
	double secs = run(b, &o);
	report(b, target, &o, secs, quiet);
	close(b->fd);
	payloads_free(&b->pl);
	free(b->lat);
	free(b);
	return 0;
}
