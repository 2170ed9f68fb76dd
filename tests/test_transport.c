/*
 * test_transport.c -- a query's way to the servers
 * (client/transport.c, client/health.c, client/sock.c): the server list
 * in order, UDP then TCP on truncation, servers that are dead, silent,
 * lying or answering someone else, silent addresses held down, and the
 * sockets a handle keeps.
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
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check_main.h"
#include "client_fixture.h"
#include "fake_server.h"
#include "loopback.h"
#include "wire.h"

/* ---- servers that fail ------------------------------------------------ */

START_TEST(first_server_dead)
{
	char list[128];
	unsigned dead = loopback_port_closed(SOCK_DGRAM);
	snprintf(list, sizeof(list), "127.0.0.1:%u, %s", dead, server_env);
	portq_client_t *c = client_new(list, 2000, 1, 0);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_port(c, 1303, "tcp", &r), PORTQ_OK);
	ck_assert_str_eq(r->server, server_env);
	ck_assert_uint_eq(r->n_entries, 1);
	portq_result_free(r);
	portq_client_free(c);
}
END_TEST

START_TEST(ipv6_bracketed_server)
{
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int have_v6 = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	if (!have_v6)
		return;        /* no IPv6 loopback here: nothing to test against */
	portqd_process_t d;
	portqd_process_start(&d, "[::1]:0", csv_args);
	char list[64], label[64];
	snprintf(list, sizeof(list), "[::1]:%u", d.port);
	snprintf(label, sizeof(label), "[::1]:%u", d.port);
	portq_client_t *c = client_new(list, 2000, 1, 0);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_name(c, "sftsrv", "tcp", &r), PORTQ_OK);
	ck_assert_str_eq(r->server, label);
	ck_assert_uint_eq(r->n_entries, 1);
	portq_result_free(r);
	portq_client_free(c);
	ck_assert_int_eq(portqd_process_stop(&d), 0);
}
END_TEST

START_TEST(truncated_then_tcp)
{
	portq_client_t *c = client_new(NULL, 2000, 1, 0);
	portq_result_t *r;
	/* 200 records are far more than the 1232 bytes of a UDP answer. */
	ck_assert_int_eq(portq_query_range(c, 0, 65535, NULL, 0, 200, &r), PORTQ_OK);
	ck_assert_int_eq(r->tcp, 1);
	ck_assert_uint_eq(r->n_entries, 200);
	ck_assert_int_eq(r->more, 1);
	portq_result_free(r);
	/* A short answer stays on UDP. */
	ck_assert_int_eq(portq_query_range(c, 1303, 1303, "tcp", 0, 0, &r), PORTQ_OK);
	ck_assert_int_eq(r->tcp, 0);
	ck_assert_uint_eq(r->n_entries, 1);
	portq_result_free(r);
	portq_client_free(c);

	c = client_new(NULL, 2000, 1, 1);    /* TCP asked for */
	ck_assert_int_eq(portq_query_port(c, 293, NULL, &r), PORTQ_OK);
	ck_assert_int_eq(r->tcp, 1);
	ck_assert_int_eq(r->port->has_free, 1);
	portq_result_free(r);
	portq_client_free(c);
}
END_TEST

START_TEST(silent_server_times_out)
{
	unsigned port;
	int fd = loopback_socket_bound(SOCK_DGRAM, &port);    /* receives, never answers */
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", port);
	portq_client_t *c = client_new(list, 150, 2, 0);
	portq_result_t *r = (portq_result_t *)1;
	ck_assert_int_eq(portq_query_port(c, 22, NULL, &r), PORTQ_ETIMEDOUT);
	ck_assert_ptr_null(r);
	ck_assert(strstr(portq_client_error(c), "timed out") != NULL);
	ck_assert(strstr(portq_client_error(c), list) != NULL);
	ck_assert_str_eq(portq_strerror(PORTQ_ETIMEDOUT), "timed out");
	portq_client_free(c);
	/* Both attempts were sent. */
	uint8_t b[512];
	int got = 0;
	for (int i = 0; i < 4 && recv(fd, b, sizeof(b), MSG_DONTWAIT) > 0; i++)
		got++;
	ck_assert_int_eq(got, 2);
	close(fd);

	/* Over TCP: a listener that accepts (the kernel does) and never answers. */
	fd = loopback_socket_bound(SOCK_STREAM, &port);
	ck_assert_int_eq(listen(fd, 4), 0);
	snprintf(list, sizeof(list), "127.0.0.1:%u", port);
	c = client_new(list, 150, 1, 1);
	ck_assert_int_eq(portq_query_port(c, 22, NULL, &r), PORTQ_ETIMEDOUT);
	ck_assert(strstr(portq_client_error(c), "timed out") != NULL);
	portq_client_free(c);
	close(fd);
}
END_TEST

/* Datagrams waiting on fd, read and counted (at most 16). */
static int
datagrams_drain(int fd)
{
	uint8_t b[512];
	int got = 0;
	while (got < 16 && recv(fd, b, sizeof(b), MSG_DONTWAIT) > 0)
		got++;
	return got;
}

/*
 * A server that timed out is skipped for a while by every query of the
 * process, as c-ares skips a failed server: the silent one hears the
 * first query only, the good one after it answers the rest at once, and
 * a handle on the silent server alone fails at once, saying why. On
 * 71efc69 every query waited for the silent server again.
 */
START_TEST(silent_server_skipped)
{
	unsigned port;
	int fd = loopback_socket_bound(SOCK_DGRAM, &port);
	char silent[64], list[192];
	snprintf(silent, sizeof(silent), "127.0.0.1:%u", port);
	snprintf(list, sizeof(list), "%s, %s", silent, server_env);
	portq_client_t *c = client_new(list, 300, 1, 0);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_port(c, 1303, "tcp", &r), PORTQ_OK);
	ck_assert_str_eq(r->server, server_env);
	portq_result_free(r);
	ck_assert_int_eq(datagrams_drain(fd), 1);

	ck_assert_int_eq(portq_query_port(c, 22, "tcp", &r), PORTQ_OK);
	ck_assert_str_eq(r->server, server_env);
	portq_result_free(r);
	ck_assert_int_eq(portq_query_name(c, "sftsrv", "udp", &r), PORTQ_OK);
	portq_result_free(r);
	ck_assert_int_eq(datagrams_drain(fd), 0);
	portq_client_free(c);

	c = client_new(silent, 300, 2, 0);
	ck_assert_int_eq(portq_query_port(c, 23, "tcp", &r), PORTQ_ETIMEDOUT);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(portq_client_error(c), "not asked (timed out") != NULL,
	              "error: %s", portq_client_error(c));
	ck_assert_int_eq(datagrams_drain(fd), 0);
	portq_client_free(c);
	close(fd);
}
END_TEST

/*
 * A silent address is held down once per query, for 5 s the first time
 * (client.md, "Silent servers"): a query's attempts are one verdict, not
 * one each. On the merged main each timed-out try counted, so one query
 * with 2 attempts held the address for 10 s, and between its tries every
 * other query of the process skipped an address that a lost datagram
 * alone had delayed.
 */
START_TEST(silent_hold_once_per_query)
{
	unsigned port;
	int fd = loopback_socket_bound(SOCK_DGRAM, &port);
	char silent[64];
	snprintf(silent, sizeof(silent), "127.0.0.1:%u", port);
	portq_client_t *c = client_new(silent, 100, 2, 0);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_port(c, 1303, "tcp", &r), PORTQ_ETIMEDOUT);
	ck_assert_int_eq(datagrams_drain(fd), 2);      /* both attempts went out */
	ck_assert_int_eq(portq_query_port(c, 22, "tcp", &r), PORTQ_ETIMEDOUT);
	ck_assert_int_eq(datagrams_drain(fd), 0);
	ck_assert_msg(strstr(portq_client_error(c), "asked again 5 s after that") != NULL,
	              "error: %s", portq_client_error(c));
	portq_client_free(c);
	close(fd);
}
END_TEST

/* ---- a fake server for what portqd never does ----------------------- */

typedef enum { FAKE_STRAYS, FAKE_LIAR } fake_mode_t;

typedef struct {
	int fd;
	fake_mode_t mode;
	int ok;
} fake_t;

static void *
fake_run(void *arg)
{
	fake_t *f = arg;
	uint8_t in[512], out[512];
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	struct pollfd p = { f->fd, POLLIN, 0 };
	if (poll(&p, 1, 5000) != 1)
		return NULL;
	ssize_t n = recvfrom(f->fd, in, sizeof(in), 0, (struct sockaddr *)&from, &flen);
	portq_header_t h;
	portq_question_t q;
	if (n <= 0 || msg_query_decode(in, (size_t)n, &h, &q) != PORTQ_OK)
		return NULL;
	size_t len;
	if (f->mode == FAKE_LIAR) {
		len = fake_answer(out, sizeof(out), &h, &q, h.id, 1111, 3);
		sendto(f->fd, out, len, 0, (struct sockaddr *)&from, flen);
		f->ok = 1;
		return NULL;
	}
	/* Wrong ID. */
	len = fake_answer(out, sizeof(out), &h, &q, (uint16_t)(h.id + 1), 9999, 0);
	sendto(f->fd, out, len, 0, (struct sockaddr *)&from, flen);
	/* Right ID, someone else's question. */
	portq_question_t other = q;
	other.port_lo = (uint16_t)(q.port_lo + 1);
	len = fake_answer(out, sizeof(out), &h, &other, h.id, 9999, 0);
	sendto(f->fd, out, len, 0, (struct sockaddr *)&from, flen);
	/* Right ID, wrong source address. */
	unsigned other_port;
	int fd2 = loopback_socket_bound(SOCK_DGRAM, &other_port);
	len = fake_answer(out, sizeof(out), &h, &q, h.id, 9999, 0);
	sendto(fd2, out, len, 0, (struct sockaddr *)&from, flen);
	close(fd2);
	/* Not portq at all. */
	sendto(f->fd, "hello", 5, 0, (struct sockaddr *)&from, flen);
	/* At last, the answer. */
	usleep(20 * 1000);
	len = fake_answer(out, sizeof(out), &h, &q, h.id, 1111, 0);
	sendto(f->fd, out, len, 0, (struct sockaddr *)&from, flen);
	f->ok = 1;
	return NULL;
}

START_TEST(mismatched_answers_ignored)
{
	unsigned port;
	fake_t f = { loopback_socket_bound(SOCK_DGRAM, &port), FAKE_STRAYS, 0 };
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, fake_run, &f), 0);
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", port);
	portq_client_t *c = client_new(list, 3000, 1, 0);
	portq_result_t *r;
	int rc = portq_query_port(c, 4242, NULL, &r);
	pthread_join(t, NULL);
	close(f.fd);
	ck_assert_int_eq(f.ok, 1);
	ck_assert_msg(rc == PORTQ_OK, "%s", portq_client_error(c));
	ck_assert_uint_eq(r->serial, 77);
	ck_assert_uint_eq(r->port->free_lo, 1111);
	ck_assert_str_eq(r->port->state, "unlisted");
	portq_result_free(r);
	portq_client_free(c);
}
END_TEST

START_TEST(malformed_answer_fails)
{
	unsigned port;
	fake_t f = { loopback_socket_bound(SOCK_DGRAM, &port), FAKE_LIAR, 0 };
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, fake_run, &f), 0);
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", port);
	portq_client_t *c = client_new(list, 3000, 1, 0);
	portq_result_t *r = (portq_result_t *)1;
	int rc = portq_query_port(c, 4242, NULL, &r);
	pthread_join(t, NULL);
	close(f.fd);
	ck_assert_int_eq(f.ok, 1);
	ck_assert_int_eq(rc, PORTQ_EMALFORMED);
	ck_assert_ptr_null(r);
	ck_assert(strstr(portq_client_error(c), "malformed") != NULL);
	portq_client_free(c);
}
END_TEST

/* ---- the sockets a handle keeps ------------------------------------- */

/* The descriptor of c's kept UDP socket, found by its peer. */
static int
kept_socket(unsigned peer_port)
{
	for (int fd = 3; fd < 1024; fd++) {
		struct sockaddr_in a;
		socklen_t alen = sizeof(a);
		int type = 0;
		socklen_t tlen = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_DGRAM &&
		    getpeername(fd, (struct sockaddr *)&a, &alen) == 0 && a.sin_family == AF_INET &&
		    ntohs(a.sin_port) == peer_port)
			return fd;
	}
	return -1;
}

/*
 * A program closes the descriptor of the handle's kept UDP socket and
 * opens a file under the same number (a daemon closing everything does
 * that): the next query goes out on a new socket, and the file is neither
 * written to nor closed, then or when the handle goes.
 */
START_TEST(kept_socket_number_reused)
{
	counter_t k;
	counter_start(&k);
	portq_client_t *c = counter_client(&k, PORTQ_CACHE_OFF, NULL);
	ck_assert_int_eq(ask_cached(c, 4100), 0);
	int fd = kept_socket(k.port);
	ck_assert_int_ge(fd, 0);
	char path[] = "/tmp/portq-test-kept-XXXXXX";
	int file = mkstemp(path);
	ck_assert_int_ge(file, 0);
	unlink(path);
	ck_assert_int_eq(dup2(file, fd), fd);     /* closes the socket, the file in its place */
	close(file);
	ck_assert_int_eq(ask_cached(c, 4101), 0);
	ck_assert_int_eq(k.queries, 2);
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_size, 0);
	portq_client_free(c);
	ck_assert_int_eq(fstat(fd, &st), 0);      /* still open */
	ck_assert(S_ISREG(st.st_mode));
	close(fd);
	counter_stop(&k);
}
END_TEST

/* A handle keeps its UDP socket between queries, not across fork() and
 * for CLIENT_UDP_USES_MAX (100) queries at most. */
START_TEST(udp_socket_kept)
{
	counter_t k;
	counter_start(&k);
	portq_client_t *c = counter_client(&k, PORTQ_CACHE_OFF, NULL);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(ask_cached(c, 4000), 0);
	ck_assert_int_eq(k.queries, 10);
	ck_assert_int_eq(k.from_changes, 0);
	unsigned first = k.from_port;

	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		portq_result_t *r = NULL;
		int rc = portq_query_port(c, 4000, NULL, &r);
		portq_result_free(r);
		portq_client_free(c);
		_exit(rc == PORTQ_OK ? 0 : 1);
	}
	int status = -1;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(k.queries, 11);
	ck_assert_uint_ne(k.from_port, first);    /* the child's own socket */

	ck_assert_int_eq(ask_cached(c, 4000), 0);
	ck_assert_uint_eq(k.from_port, first);    /* the parent's, still open */
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(ask_cached(c, 4000), 0);
	/* Queries 1-100 on the first socket, 101-111 on the next. */
	ck_assert_int_eq(k.from_changes, 3);
	ck_assert_uint_ne(k.from_port, first);
	portq_client_free(c);
	counter_stop(&k);
}
END_TEST

/*
 * A program that closed its standard descriptors (a daemon) keeps them
 * closed through libportq: a handle's kept socket and the default
 * client's sockets take numbers above 2 and are close-on-exec. On
 * 71efc69 the kept socket became descriptor 0, the lowest free one: the
 * program's next printf() would have gone to the server as a query.
 */
static const char *
std_closed_run(char *why, size_t len)
{
	counter_t k;
	counter_start(&k);
	portq_client_t *c = counter_client(&k, PORTQ_CACHE_OFF, NULL);
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", k.port);
	setenv("PORTQ_SERVER", list, 1);
	portq_config_reload();
	portq_cache_set_ttl(0);
	close(STDIN_FILENO);
	close(STDOUT_FILENO);
	close(STDERR_FILENO);
	why[0] = '\0';

	portq_result_t *r = NULL;
	int rc = portq_query_port(c, 4000, NULL, &r);
	portq_result_free(r);
	int kept = kept_socket(k.port);
	(void)portq_getservbyport(htons(4001), "tcp");
	if (rc != PORTQ_OK || k.queries != 2) {
		snprintf(why, len, "queries failed (%d, %d at the server)", rc, k.queries);
		goto out;
	}
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) != -1) {
			snprintf(why, len, "descriptor %d, closed by the program, is open after "
			         "lookups", fd);
			goto out;
		}
	if (kept < 3 || !(fcntl(kept, F_GETFD) & FD_CLOEXEC)) {
		snprintf(why, len, "the handle's kept socket is %d, %s", kept,
		         kept < 3 ? "not found above 2" : "not close-on-exec");
		goto out;
	}
out:
	portq_client_free(c);
	counter_stop(&k);
	return why[0] != '\0' ? why : NULL;
}

START_TEST(std_descriptors_left_alone)
{
	child_expect(std_closed_run);
}
END_TEST

static Suite *
transport_suite(void)
{
	Suite *s = suite_create("transport");
	TCase *tc = tcase_create("servers");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, first_server_dead);
	tcase_add_test(tc, ipv6_bracketed_server);
	tcase_add_test(tc, truncated_then_tcp);
	tcase_add_test(tc, silent_server_times_out);
	tcase_add_test(tc, silent_server_skipped);
	tcase_add_test(tc, silent_hold_once_per_query);
	tcase_add_test(tc, mismatched_answers_ignored);
	tcase_add_test(tc, malformed_answer_fails);
	suite_add_tcase(s, tc);

	tc = tcase_create("sockets");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, kept_socket_number_reused);
	tcase_add_test(tc, udp_socket_kept);
	tcase_add_test(tc, std_descriptors_left_alone);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = transport_suite };
