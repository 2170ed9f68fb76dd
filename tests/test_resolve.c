/*
 * test_resolve.c -- servers given by host name (client/resolve.c,
 * client/resolve_uv.c): through c-ares, blocking and on the libuv loop,
 * with a fake DNS server in a network namespace of its own.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "check_main.h"
#include "client_fixture.h"
#include "async_loop.h"
#include "fake_server.h"

START_TEST(host_name_through_cares)
{
	char list[64];
	snprintf(list, sizeof(list), "localhost:%u", server.port);
	portq_client_t *c = client_new(list, 2000, 1, 0);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_port(c, 22, "tcp", &r), PORTQ_OK);
	ck_assert_str_eq(r->server, server_env);
	portq_result_free(r);
	portq_client_free(c);

	/* c-ares refuses .onion names itself (RFC 7686): no DNS query leaves
	 * the machine, so the test stays on loopback. */
	c = client_new("portq-test.onion", 1000, 1, 0);
	ck_assert_int_eq(portq_query_port(c, 22, NULL, &r), PORTQ_EIO);
	ck_assert(strstr(portq_client_error(c), "resolving portq-test.onion") != NULL);
	portq_client_free(c);
}
END_TEST

/*
 * Host names through a real DNS exchange, so that c-ares's sockets are
 * driven by uv_poll and its timeouts by the uv_timer: a child with a
 * network namespace of its own (a fresh loopback, where port 53 is free)
 * and a mount namespace where /etc/resolv.conf names 127.0.0.1, a fake
 * DNS server there, and a fake portq server. Needs root, like the parity
 * test; without it the test fails and says so.
 */
#define DNS_NAME_OK      "portq-test.example"
#define DNS_NAME_NX      "nx.portq-test.example"
#define DNS_NAME_SILENT  "silent.portq-test.example"

static _Atomic int dns_stop;
/* Queries that found one of descriptors 0-2 a socket (dns_std_closed_run
 * closes them first: such a socket is the resolver's). */
static _Atomic int dns_std_sockets;

static int
std_socket_count(void)
{
	int n = 0;
	for (int fd = 0; fd <= 2; fd++) {
		struct stat st;
		n += fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
	}
	return n;
}

/* "portq-test.example" from the question at q[12..len); 0 if malformed. */
static size_t
dns_qname(const uint8_t *q, size_t len, char *out, size_t cap, size_t *end)
{
	size_t i = 12, o = 0;
	while (i < len && q[i] != 0) {
		size_t n = q[i++];
		if (n > 63 || i + n > len || o + n + 1 >= cap)
			return 0;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, q + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	*end = i + 5;           /* the root label, QTYPE, QCLASS */
	return *end <= len ? o : 0;
}

static void *
dns_run(void *arg)
{
	int fd = *(int *)arg;
	for (int turn = 0; turn < 400 && !dns_stop; turn++) {     /* 20 s at most */
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 50) != 1)
			continue;
		uint8_t q[512], a[512];
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
		char name[256];
		size_t end;
		if (n < 12 || dns_qname(q, (size_t)n, name, sizeof(name), &end) == 0)
			continue;
		dns_std_sockets += std_socket_count();
		if (strcasecmp(name, DNS_NAME_SILENT) == 0)
			continue;
		unsigned qtype = (unsigned)q[end - 4] << 8 | q[end - 3];
		int nx = strcasecmp(name, DNS_NAME_OK) != 0;
		int answer = !nx && qtype == 1;
		memcpy(a, q, end);
		a[2] = 0x81;                        /* QR, RD */
		a[3] = nx ? 0x83 : 0x80;            /* RA; NXDOMAIN */
		a[4] = 0, a[5] = 1;                 /* QDCOUNT */
		a[6] = 0, a[7] = (uint8_t)answer;   /* ANCOUNT */
		memset(a + 8, 0, 4);
		size_t len = end;
		if (answer) {
			const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4,
			                       127, 0, 0, 1 };
			memcpy(a + len, rr, sizeof(rr));
			len += sizeof(rr);
		}
		sendto(fd, a, len, 0, (struct sockaddr *)&from, flen);
	}
	return NULL;
}

/*
 * In this child: a network and a mount namespace where /etc/resolv.conf
 * names 127.0.0.1, and the fake DNS server there on *dns, served by
 * thread *t. NULL, or what failed.
 */
static const char *
dns_netns_up(char *why, size_t len, int *dns_out, pthread_t *t)
{
	if (unshare(CLONE_NEWNS | CLONE_NEWNET) < 0) {
		snprintf(why, len, "unshare(CLONE_NEWNS|CLONE_NEWNET): %s%s", strerror(errno),
		         errno == EPERM ? " -- this test needs root (CAP_SYS_ADMIN)" : "");
		return why;
	}
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr)) < 0) {
		snprintf(why, len, "bringing lo up: %s", strerror(errno));
		return why;
	}
	close(s);
	char conf[] = "/tmp/test_resolve_resolv.XXXXXX";
	int fd = mkstemp(conf);
	const char text[] = "nameserver 127.0.0.1\n";
	if (fd < 0 || write(fd, text, sizeof(text) - 1) != (ssize_t)sizeof(text) - 1 ||
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(conf, "/etc/resolv.conf", "none", MS_BIND, NULL) < 0) {
		snprintf(why, len, "resolv.conf: %s", strerror(errno));
		return why;
	}
	close(fd);
	unlink(conf);

	int dns = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(53),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (dns < 0 || bind(dns, (struct sockaddr *)&a, sizeof(a)) < 0) {
		snprintf(why, len, "binding 127.0.0.1:53: %s", strerror(errno));
		return why;
	}
	*dns_out = dns;
	if (pthread_create(t, NULL, dns_run, dns_out) != 0) {
		snprintf(why, len, "pthread_create failed");
		return why;
	}
	return NULL;
}

/* The child's work; 0 when all went as expected, else a message. */
static const char *
dns_child_run(char *why_buf, size_t len)
{
	char *why = why_buf;
	static int dns;
	pthread_t t;
	if (dns_netns_up(why, len, &dns, &t) != NULL)
		return why;
	counter_t k;
	counter_start(&k);

	test_loop_t l;
	loop_open(&l);
	char list[64];
	snprintf(list, sizeof(list), "%s:%u", DNS_NAME_OK, k.port);
	portq_options_t o;
	memset(&o, 0, sizeof(o));
	o.config_file = "";
	o.servers = list;
	o.timeout_ms = 300;
	o.attempts = 1;
	portq_async_t *as[3];
	outcome_t out[3];
	memset(out, 0, sizeof(out));
	outcomes_done = 0;
	portq_async_new(&as[0], &l.loop, &o);
	o.servers = DNS_NAME_NX;
	portq_async_new(&as[1], &l.loop, &o);
	o.servers = DNS_NAME_SILENT;
	portq_async_new(&as[2], &l.loop, &o);
	portq_async_port(as[0], 4000, NULL, on_counted, &out[0]);
	portq_async_port(as[1], 4000, NULL, on_counted, &out[1]);
	portq_async_port(as[2], 4000, NULL, on_counted, &out[2]);
	int all = loop_until(&l, &outcomes_done, 3, 10000);

	/* Closed while c-ares waits for an answer that never comes. */
	outcome_t cut;
	memset(&cut, 0, sizeof(cut));
	int cut_closed = 0;
	portq_async_t *waiting;
	portq_async_new(&waiting, &l.loop, &o);
	portq_async_port(waiting, 4000, NULL, on_outcome, &cut);
	uv_run(&l.loop, UV_RUN_NOWAIT);
	portq_async_close(waiting, on_async_closed, &cut_closed);
	loop_until(&l, &cut_closed, 1, 5000);
	char label[64];
	snprintf(label, sizeof(label), "127.0.0.1:%u", k.port);
	if (!all)
		snprintf(why, len, "only %d of 3 queries ended", outcomes_done);
	else if (out[0].status != PORTQ_OK || strcmp(out[0].result->server, label) != 0)
		snprintf(why, len, "by name: %s (%.300s)", portq_strerror(out[0].status), out[0].error);
	else if (out[1].status != PORTQ_EIO || strstr(out[1].error, "resolving " DNS_NAME_NX) == NULL)
		snprintf(why, len, "NXDOMAIN: %s (%.300s)", portq_strerror(out[1].status), out[1].error);
	else if (out[2].status != PORTQ_ETIMEDOUT || strstr(out[2].error, "timed out") == NULL)
		snprintf(why, len, "silent DNS: %s (%.300s)", portq_strerror(out[2].status), out[2].error);
	else if (cut_closed != 1 || cut.called != 1 || cut.status != PORTQ_EIO ||
	         strcmp(cut.error, "cancelled") != 0)
		snprintf(why, len, "closed while resolving: %d %d %.300s", cut_closed, cut.called,
		         cut.error);
	else if (k.queries != 1)
		snprintf(why, len, "the portq server got %d queries", (int)k.queries);
	else
		why = NULL;
	if (all)
		portq_result_free(out[0].result);
	int closed = 0;
	for (int i = 0; i < 3; i++)
		portq_async_close(as[i], on_async_closed, &closed);
	loop_until(&l, &closed, 3, 5000);
	uv_close((uv_handle_t *)&l.tick, NULL);
	uv_run(&l.loop, UV_RUN_NOWAIT);
	if (why == NULL && (closed != 3 || uv_loop_close(&l.loop) != 0))
		return "handles left open on the loop";
	dns_stop = 1;
	pthread_join(t, NULL);
	counter_stop(&k);
	close(dns);
	return why;
}

START_TEST(async_dns_on_the_loop)
{
	child_expect(dns_child_run);
}
END_TEST

/*
 * A program that closed its standard descriptors gets no resolver socket
 * as one of them either (client.md 2.6: every socket the blocking core
 * opens is above 2 and close-on-exec), while the lookup of a server's
 * host name runs: in a daemon whose NSS lookups go through the module, a
 * printf() from another thread meanwhile would go to the DNS server, and
 * a child spawned meanwhile would inherit it as its stdin. On the merged
 * main c-ares opened its DNS socket as descriptor 0, the lowest free one.
 * (The libuv handles are left out: libuv itself aborts when one of its
 * sockets is below 3.)
 */
static const char *
dns_std_closed_run(char *why, size_t len)
{
	static int dns;
	pthread_t t;
	if (dns_netns_up(why, len, &dns, &t) != NULL)
		return why;
	counter_t k;
	counter_start(&k);
	char list[64];
	snprintf(list, sizeof(list), "%s:%u", DNS_NAME_OK, k.port);
	close(STDIN_FILENO);
	close(STDOUT_FILENO);
	close(STDERR_FILENO);

	portq_options_t o;
	memset(&o, 0, sizeof(o));
	o.config_file = "";
	o.servers = list;
	o.timeout_ms = 1000;
	o.attempts = 1;
	o.cache_ttl = PORTQ_CACHE_OFF;
	portq_client_t *c = NULL;
	portq_result_t *r = NULL;
	int rc = portq_client_new(&c, &o);
	if (rc == PORTQ_OK)
		rc = portq_query_port(c, 4000, NULL, &r);
	portq_result_free(r);
	portq_client_free(c);
	int std_sockets = dns_std_sockets;
	int queries = k.queries;
	dns_stop = 1;
	pthread_join(t, NULL);
	counter_stop(&k);
	close(dns);

	if (rc != PORTQ_OK || queries != 1)
		snprintf(why, len, "lookup by name: %s, %d queries", portq_strerror(rc), queries);
	else if (std_sockets != 0)
		snprintf(why, len, "the resolver's socket was one of descriptors 0-2 (seen by "
		         "%d DNS queries)", std_sockets);
	else
		return NULL;
	return why;
}

START_TEST(resolver_sockets_above_2)
{
	child_expect(dns_std_closed_run);
}
END_TEST

static Suite *
resolve_suite(void)
{
	Suite *s = suite_create("resolve");
	TCase *tc = tcase_create("resolve");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, host_name_through_cares);
	tcase_add_test(tc, async_dns_on_the_loop);
	tcase_add_test(tc, resolver_sockets_above_2);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = resolve_suite };
