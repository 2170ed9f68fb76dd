/*
 * test_client.c -- libportq and the portq command against the real portqd
 * on loopback, serving the real IANA CSV.
 *
 * What the answers should say is worked out here from the CSV itself,
 * with a reader of its own, so that the daemon's registry code is not
 * checked against itself. Fake servers (a socket in this process) cover
 * what portqd never does: stay silent, answer with the wrong ID, from the
 * wrong address, or with bytes that break the protocol.
 */
#include <arpa/inet.h>
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "check_main.h"
#include "csv_oracle.h"
#include "loopback.h"
#include "msg.h"
#include "portq.h"
#include "portq_async.h"
#include "portqd_process.h"
#include "utf8.h"

#define CSV_PATH PORTQ_DATA_DIR "/service-names-port-numbers.csv"

/* ---- allocations and system calls, counted -------------------------- */

/*
 * malloc(), calloc() and realloc() of the whole process, libportq's
 * included, come here and are counted while alloc_watch is set. Not
 * under AddressSanitizer, whose allocator this would go around.
 */
#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_COUNTED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOC_COUNTED 0
#endif
#endif
#ifndef ALLOC_COUNTED
#define ALLOC_COUNTED 1
#endif

static _Atomic int alloc_watch, alloc_count;

#if ALLOC_COUNTED
/* Exported (the build hides symbols by default), so they stand in for
 * glibc's in every library. */
#define ALLOC_EXPORT __attribute__((visibility("default")))
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);

ALLOC_EXPORT void *
malloc(size_t n)
{
	if (alloc_watch)
		alloc_count++;
	return __libc_malloc(n);
}

ALLOC_EXPORT void *
calloc(size_t n, size_t size)
{
	if (alloc_watch)
		alloc_count++;
	return __libc_calloc(n, size);
}

ALLOC_EXPORT void *
realloc(void *p, size_t n)
{
	if (alloc_watch)
		alloc_count++;
	return __libc_realloc(p, n);
}
#endif

/*
 * The system calls of one thread, counted: a seccomp filter sends each to
 * a supervisor thread (user notification, Linux 5.5), which counts it
 * while `watch` is set and lets it run. For a forked child only: the
 * filter stays until the thread ends.
 */
typedef struct {
	int listener;
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	struct seccomp_notif_sizes sizes;
	_Atomic int ready;
	_Atomic int watch;
	_Atomic int calls;          /* other than the stat() family */
	_Atomic int stats;          /* the once-a-second look at portq.conf */
	_Atomic long last_nr;
} syswatch_t;

static syswatch_t syswatch;

static int
syscall_is_stat(long nr)
{
#ifdef SYS_newfstatat
	if (nr == SYS_newfstatat)
		return 1;
#endif
#ifdef SYS_fstatat64
	if (nr == SYS_fstatat64)
		return 1;
#endif
#ifdef SYS_statx
	if (nr == SYS_statx)
		return 1;
#endif
#ifdef SYS_stat
	if (nr == SYS_stat)
		return 1;
#endif
	return 0;
}

static void *
syswatch_run(void *arg)
{
	syswatch_t *w = arg;
	while (!w->ready)
		sched_yield();
	for (;;) {
		memset(w->req, 0, w->sizes.seccomp_notif);
		if (ioctl(w->listener, SECCOMP_IOCTL_NOTIF_RECV, w->req) < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (w->watch) {
			if (syscall_is_stat(w->req->data.nr)) {
				w->stats++;
			} else {
				w->calls++;
				w->last_nr = w->req->data.nr;
			}
		}
		memset(w->resp, 0, w->sizes.seccomp_notif_resp);
		w->resp->id = w->req->id;
		w->resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		(void)ioctl(w->listener, SECCOMP_IOCTL_NOTIF_SEND, w->resp);
	}
}

/* Start counting the calling thread's system calls; NULL or why not. */
static const char *
syswatch_start(char *why, size_t len)
{
	syswatch_t *w = &syswatch;
	/* Everything the supervisor needs, allocated before the filter: it
	 * must never wait for a lock the watched thread holds. */
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &w->sizes) < 0 ||
	    (w->req = calloc(1, w->sizes.seccomp_notif)) == NULL ||
	    (w->resp = calloc(1, w->sizes.seccomp_notif_resp)) == NULL) {
		snprintf(why, len, "seccomp notification sizes: %s", strerror(errno));
		return why;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, syswatch_run, w) != 0) {
		snprintf(why, len, "supervisor thread");
		return why;
	}
	struct sock_filter all[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF) };
	struct sock_fprog prog = { 1, all };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    (w->listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
	                                SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog)) < 0) {
		snprintf(why, len, "seccomp user notification: %s (Linux 5.5 or later needed)",
		         strerror(errno));
		return why;
	}
	w->ready = 1;
	return NULL;
}

/* ---- work for a child process ----------------------------------------- */

typedef const char *(*child_fn_t)(char *why, size_t len);

/* Run fn in a child process (60 s at most) and fail with what it says
 * unless it returns NULL. */
static void
child_expect(child_fn_t fn)
{
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char why[512];
		const char *fail = fn(why, sizeof(why));
		if (fail != NULL && write(pfd[1], fail, strlen(fail)) < 0)
			_exit(2);
		_exit(fail == NULL ? 0 : 1);
	}
	close(pfd[1]);
	int status = -1;
	int waited = 0;
	for (; waited < 1200 && waitpid(pid, &status, WNOHANG) != pid; waited++)
		usleep(50 * 1000);          /* 60 s: valgrind is slow */
	if (waited == 1200) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	char msg[512] = "";
	ssize_t n = read(pfd[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s (wait status %d)",
	              msg[0] ? msg : "the child did not finish", status);
}

/* ---- the CSV, read independently of srv/ --------------------------- */

typedef csv_row_t row_t;

static csv_oracle_t csv;         /* read once, kept for the whole run */

static void
csv_load(void)
{
	if (csv.rows == NULL)
		csv_oracle_load(&csv, CSV_PATH);
}

static int
row_covers(const row_t *r, unsigned port)
{
	return r->has_port && r->lo <= port && port <= r->hi;
}

/* IANA's rows: a named row is assigned unless it says De-registered. */
static int
row_assigned(const row_t *r)
{
	return r->name[0] != '\0' && strcasecmp(r->desc, "De-registered") != 0;
}

static int
row_unassigned(const row_t *r)
{
	return r->name[0] == '\0' && strcasestr(r->desc, "unassigned") != NULL;
}

/* For "any protocol": assigned if any row says so, free if every row does. */
static int
port_assigned(unsigned port)
{
	for (size_t i = 0; i < csv.n; i++)
		if (row_covers(&csv.rows[i], port) && row_assigned(&csv.rows[i]))
			return 1;
	return 0;
}

static int
port_free(unsigned port)
{
	for (size_t i = 0; i < csv.n; i++)
		if (row_covers(&csv.rows[i], port) && !row_unassigned(&csv.rows[i]))
			return 0;
	return 1;
}

/* An assigned, named row for tcp (or all protocols) covers the port. */
static int
port_assigned_tcp(unsigned port)
{
	for (size_t i = 0; i < csv.n; i++)
		if (row_covers(&csv.rows[i], port) && row_assigned(&csv.rows[i]) &&
		    (csv.rows[i].proto[0] == '\0' || strcmp(csv.rows[i].proto, "tcp") == 0))
			return 1;
	return 0;
}

static const row_t *
row_named(const char *name, const char *proto)
{
	for (size_t i = 0; i < csv.n; i++)
		if (strcasecmp(csv.rows[i].name, name) == 0 && csv.rows[i].has_port &&
		    (proto == NULL || strcasecmp(csv.rows[i].proto, proto) == 0))
			return &csv.rows[i];
	return NULL;
}

/* ---- portqd ---------------------------------------------------------- */

static portqd_process_t server;     /* the one the fixture starts */

/* What every portqd started here serves. */
static const char *const csv_args[] = { "--registry", CSV_PATH, NULL };

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char server_env[64];

static void
fixture_up(void)
{
	portqd_process_start(&server, "127.0.0.1:0", csv_args);
	snprintf(server_env, sizeof(server_env), "127.0.0.1:%u", server.port);
	/* Only the servers a test names: never the machine's own portq.conf. */
	setenv("PORTQ_SERVER", server_env, 1);
}

static void
fixture_down(void)
{
	portqd_process_stop(&server);
}

/* A handle on the fixture's server; no config file. */
static portq_client_t *
client_new(const char *servers, int timeout_ms, int attempts, int tcp)
{
	portq_options_t o;
	memset(&o, 0, sizeof(o));
	o.servers = servers ? servers : server_env;
	o.config_file = "";
	o.timeout_ms = timeout_ms;
	o.attempts = attempts;
	o.tcp = tcp;
	portq_client_t *c = NULL;
	ck_assert_int_eq(portq_client_new(&c, &o), PORTQ_OK);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* ---- libc-style lookups --------------------------------------------- */

START_TEST(servbyport_protocols)
{
	csv_load();
	const row_t *ssh = row_named("ssh", "tcp");
	ck_assert_ptr_nonnull(ssh);

	struct servent *se = portq_getservbyport(htons((uint16_t)ssh->lo), "tcp");
	ck_assert_ptr_nonnull(se);
	ck_assert_str_eq(se->s_name, "ssh");
	ck_assert_str_eq(se->s_proto, "tcp");
	ck_assert_int_eq(ntohs((uint16_t)se->s_port), (int)ssh->lo);
	ck_assert_ptr_nonnull(se->s_aliases);
	ck_assert_ptr_null(se->s_aliases[0]);

	const row_t *sft = row_named("sftsrv", "udp");
	ck_assert_ptr_nonnull(sft);
	se = portq_getservbyport(htons((uint16_t)sft->lo), "udp");
	ck_assert_ptr_nonnull(se);
	ck_assert_str_eq(se->s_name, "sftsrv");
	ck_assert_str_eq(se->s_proto, "udp");

	/* Any protocol: the registry's first record, with its own protocol. */
	se = portq_getservbyport(htons((uint16_t)ssh->lo), NULL);
	ck_assert_ptr_nonnull(se);
	ck_assert_str_eq(se->s_name, "ssh");
	ck_assert_str_eq(se->s_proto, ssh->proto);

	/* A free port, and a protocol portq does not carry: no entry. */
	csv_load();
	ck_assert(port_free(293));
	errno = EINVAL;
	ck_assert_ptr_null(portq_getservbyport(htons(293), NULL));
	ck_assert_int_eq(errno, 0);
	ck_assert_ptr_null(portq_getservbyport(htons(22), "icmp"));
}
END_TEST

START_TEST(servbyname_protocols)
{
	csv_load();
	const row_t *sft = row_named("sftsrv", NULL);
	ck_assert_ptr_nonnull(sft);
	struct servent *se = portq_getservbyname("sftsrv", NULL);
	ck_assert_ptr_nonnull(se);
	ck_assert_str_eq(se->s_name, "sftsrv");
	ck_assert_int_eq(ntohs((uint16_t)se->s_port), (int)sft->lo);
	ck_assert_str_eq(se->s_proto, sft->proto);

	const row_t *http = row_named("http", "udp");
	ck_assert_ptr_nonnull(http);
	se = portq_getservbyname("HTTP", "udp");     /* names ignore case */
	ck_assert_ptr_nonnull(se);
	ck_assert_str_eq(se->s_name, "http");
	ck_assert_str_eq(se->s_proto, "udp");
	ck_assert_int_eq(ntohs((uint16_t)se->s_port), (int)http->lo);

	ck_assert_ptr_null(row_named("no-such-service-here", NULL));
	errno = EINVAL;
	ck_assert_ptr_null(portq_getservbyname("no-such-service-here", NULL));
	ck_assert_int_eq(errno, 0);
	ck_assert_ptr_null(portq_getservbyname(NULL, "tcp"));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(servby_reentrant)
{
	struct servent se, *res = &se;
	char buf[1024], tiny[4];

	ck_assert_int_eq(portq_getservbyname_r("sftsrv", "tcp", &se, buf, sizeof(buf), &res), 0);
	ck_assert_ptr_eq(res, &se);
	ck_assert_str_eq(se.s_name, "sftsrv");
	ck_assert_str_eq(se.s_proto, "tcp");
	/* Every string of the entry lives in the caller's buffer. */
	ck_assert(se.s_name >= buf && se.s_name < buf + sizeof(buf));
	ck_assert(se.s_proto >= buf && se.s_proto < buf + sizeof(buf));
	ck_assert((char *)se.s_aliases >= buf && (char *)se.s_aliases < buf + sizeof(buf));

	ck_assert_int_eq(portq_getservbyport_r(htons(1303), "udp", &se, buf, sizeof(buf), &res), 0);
	ck_assert_ptr_eq(res, &se);
	ck_assert_int_eq(ntohs((uint16_t)se.s_port), 1303);

	res = &se;
	ck_assert_int_eq(portq_getservbyport_r(htons(1303), "udp", &se, tiny, sizeof(tiny), &res),
	                 ERANGE);
	ck_assert_ptr_null(res);
	res = &se;
	ck_assert_int_eq(portq_getservbyname_r("sftsrv", NULL, &se, tiny, sizeof(tiny), &res),
	                 ERANGE);
	ck_assert_ptr_null(res);

	/* Exactly the room it takes (the alias array's NULL, "sftsrv", "tcp")
	 * and one byte less, each from the network and from the cache. */
	alignas(char *) char exact[sizeof(char *) + 7 + 4];
	for (size_t first = 0; first < 2; first++) {
		portq_cache_flush();
		for (size_t k = 0; k < 2; k++) {
			size_t room = sizeof(exact) - (k == first);
			int want = room < sizeof(exact) ? ERANGE : 0;
			res = &se;
			ck_assert_int_eq(portq_getservbyname_r("sftsrv", "tcp", &se, exact, room,
			                                       &res), want);
			ck_assert_ptr_eq(res, want == 0 ? &se : NULL);
			if (want == 0) {
				ck_assert_str_eq(se.s_name, "sftsrv");
				ck_assert_str_eq(se.s_proto, "tcp");
				ck_assert_ptr_null(se.s_aliases[0]);
			}
		}
	}

	res = &se;
	ck_assert_int_eq(portq_getservbyport_r(htons(293), NULL, &se, buf, sizeof(buf), &res), 0);
	ck_assert_ptr_null(res);
	ck_assert_int_eq(portq_getservbyname_r("sftsrv", NULL, NULL, buf, sizeof(buf), &res),
	                 EINVAL);
	ck_assert_int_eq(portq_getservbyname_r("sftsrv", NULL, &se, buf, sizeof(buf), NULL),
	                 EINVAL);
}
END_TEST

typedef struct {
	struct servent *se;
	char name[32];
} thread_out_t;

static void *
lookup_thread(void *arg)
{
	thread_out_t *o = arg;
	o->se = portq_getservbyname("sftsrv", "tcp");
	if (o->se != NULL)
		snprintf(o->name, sizeof(o->name), "%s", o->se->s_name);
	return NULL;
}

START_TEST(servby_thread_local)
{
	/* Each thread gets its own storage: the pointers differ. */
	thread_out_t out[2];
	pthread_t t[2];
	memset(out, 0, sizeof(out));
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, lookup_thread, &out[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_ptr_nonnull(out[0].se);
	ck_assert_ptr_nonnull(out[1].se);
	ck_assert_ptr_ne(out[0].se, out[1].se);
	ck_assert_str_eq(out[0].name, "sftsrv");
	ck_assert_str_eq(out[1].name, "sftsrv");
	struct servent *mine = portq_getservbyname("sftsrv", "tcp");
	ck_assert_ptr_nonnull(mine);
	ck_assert_ptr_ne(mine, out[0].se);
}
END_TEST

/* ---- the rich API ----------------------------------------------------- */

START_TEST(port_free_block_and_neighbours)
{
	csv_load();
	const unsigned port = 293;
	ck_assert_msg(port_free(port), "the CSV no longer has %u free", port);
	unsigned lo = port, hi = port, below = 0, above = 0;
	while (lo > 0 && port_free(lo - 1))
		lo--;
	while (hi < 65535 && port_free(hi + 1))
		hi++;
	for (below = port - 1; below > 0 && !port_assigned(below); below--)
		;
	for (above = port + 1; above < 65535 && !port_assigned(above); above++)
		;
	ck_assert(port_assigned(below) && port_assigned(above));

	portq_client_t *c = client_new(NULL, 2000, 2, 0);
	portq_result_t *r = NULL;
	ck_assert_int_eq(portq_query_port(c, port, NULL, &r), PORTQ_OK);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(r->port);
	ck_assert_uint_eq(r->port->port, port);
	ck_assert_str_eq(r->port->state, "unassigned");
	ck_assert_str_eq(r->port->range_class, "system");
	ck_assert_int_eq(r->port->privileged, 1);
	ck_assert_int_eq(r->port->has_free, 1);
	ck_assert_uint_eq(r->port->free_lo, lo);
	ck_assert_uint_eq(r->port->free_hi, hi);
	ck_assert_int_eq(r->port->has_below, 1);
	ck_assert_int_eq(r->port->has_above, 1);
	ck_assert_uint_eq(r->port->below, below);
	ck_assert_uint_eq(r->port->above, above);
	for (size_t i = 0; i < r->n_entries; i++)
		ck_assert_int_eq(r->entries[i].assigned, 0);

	/* The neighbours are exactly the CSV's assigned rows at those ports. */
	size_t n_below = 0, n_above = 0;
	for (size_t i = 0; i < csv.n; i++) {
		n_below += row_covers(&csv.rows[i], below) && row_assigned(&csv.rows[i]);
		n_above += row_covers(&csv.rows[i], above) && row_assigned(&csv.rows[i]);
	}
	ck_assert_uint_eq(r->n_neighbours, n_below + n_above);
	ck_assert_uint_eq(r->n_below, n_below);
	for (size_t i = 0; i < r->n_neighbours; i++) {
		const portq_entry_t *e = &r->neighbours[i];
		ck_assert(e->assigned);
		ck_assert_uint_eq(e->port_lo, i < r->n_below ? below : above);
		ck_assert_ptr_nonnull(row_named(e->name, e->protocol));
	}
	ck_assert_str_eq(r->server, server_env);
	ck_assert_int_eq(r->tcp, 0);
	portq_result_free(r);

	/* An assigned port: its records, and no free block. */
	ck_assert_int_eq(portq_query_port(c, 1303, "udp", &r), PORTQ_OK);
	ck_assert_str_eq(r->port->state, "assigned");
	ck_assert_int_eq(r->port->has_free, 0);
	ck_assert_int_eq(r->port->privileged, 0);
	ck_assert_uint_eq(r->n_entries, 1);
	ck_assert_str_eq(r->entries[0].name, "sftsrv");
	ck_assert_str_eq(r->entries[0].protocol, "udp");
	ck_assert_str_eq(r->entries[0].origin, "iana");
	ck_assert_str_eq(r->entries[0].assignee, "[Robert_Frazier]");
	ck_assert_str_eq(r->entries[0].registered, "");
	portq_result_free(r);
	portq_client_free(c);
}
END_TEST

START_TEST(range_neighbour_on_both_sides)
{
	/* A port inside a long assigned range: the range is its neighbour
	 * below and above, so the same record comes twice. */
	csv_load();
	const row_t *wide = NULL;
	for (size_t i = 0; i < csv.n && wide == NULL; i++)
		if (row_assigned(&csv.rows[i]) && csv.rows[i].has_port && csv.rows[i].hi - csv.rows[i].lo >= 4)
			wide = &csv.rows[i];
	ck_assert_ptr_nonnull(wide);
	unsigned port = wide->lo + 2;
	size_t n_below = 0, n_above = 0;
	for (size_t i = 0; i < csv.n; i++) {
		n_below += row_covers(&csv.rows[i], port - 1) && row_assigned(&csv.rows[i]);
		n_above += row_covers(&csv.rows[i], port + 1) && row_assigned(&csv.rows[i]);
	}
	portq_client_t *c = client_new(NULL, 2000, 2, 1);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_port(c, port, NULL, &r), PORTQ_OK);
	ck_assert_uint_eq(r->port->below, port - 1);
	ck_assert_uint_eq(r->port->above, port + 1);
	ck_assert_uint_eq(r->n_below, n_below);
	ck_assert_uint_eq(r->n_neighbours - r->n_below, n_above);
	portq_result_free(r);
	portq_client_free(c);
}
END_TEST

START_TEST(name_lookup)
{
	csv_load();
	size_t expect = 0;
	for (size_t i = 0; i < csv.n; i++)
		expect += strcasecmp(csv.rows[i].name, "http") == 0;
	portq_client_t *c = client_new(NULL, 2000, 2, 0);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_name(c, "http", NULL, &r), PORTQ_OK);
	ck_assert_uint_eq(r->n_entries, expect);
	ck_assert_ptr_null(r->port);
	portq_result_free(r);
	ck_assert_int_eq(portq_query_name(c, "no-such-service-here", "tcp", &r), PORTQ_OK);
	ck_assert_uint_eq(r->n_entries, 0);
	portq_result_free(r);
	portq_client_free(c);
}
END_TEST

/* Rows overlapping lo..hi, as RANGE counts them. */
static size_t
csv_range_count(unsigned lo, unsigned hi)
{
	size_t n = 0;
	for (size_t i = 0; i < csv.n; i++)
		n += csv.rows[i].has_port && csv.rows[i].lo <= hi && csv.rows[i].hi >= lo;
	return n;
}

START_TEST(range_paging)
{
	csv_load();
	const unsigned lo = 1300, hi = 1310, limit = 4;
	size_t expect = csv_range_count(lo, hi);
	ck_assert_uint_gt(expect, 2 * limit);
	portq_client_t *c = client_new(NULL, 2000, 2, 0);
	uint32_t offset = 0, serial = 0;
	size_t got = 0;
	unsigned last_port = 0;
	int pages = 0, more = 1;
	for (; more && pages < 100; pages++) {
		portq_result_t *r;
		ck_assert_int_eq(portq_query_range(c, lo, hi, NULL, offset, limit, &r), PORTQ_OK);
		if (pages == 0)
			serial = r->serial;
		ck_assert_uint_eq(r->serial, serial);
		ck_assert_uint_le(r->n_entries, limit);
		for (size_t i = 0; i < r->n_entries; i++) {
			ck_assert(r->entries[i].has_port);
			ck_assert_uint_le(r->entries[i].port_lo, hi);
			ck_assert_uint_ge(r->entries[i].port_hi, lo);
			ck_assert_uint_ge(r->entries[i].port_lo, last_port);
			last_port = r->entries[i].port_lo;
		}
		got += r->n_entries;
		offset += (uint32_t)r->n_entries;
		more = r->more;
		if (more)
			ck_assert_uint_eq(r->n_entries, limit);
		portq_result_free(r);
	}
	ck_assert_int_eq(more, 0);
	ck_assert_uint_eq(got, expect);
	ck_assert_int_eq(pages, (int)((expect + limit - 1) / limit));

	/* Past the end: an empty page, not an error. */
	portq_result_t *r;
	ck_assert_int_eq(portq_query_range(c, lo, hi, NULL, (uint32_t)expect, limit, &r), PORTQ_OK);
	ck_assert_uint_eq(r->n_entries, 0);
	ck_assert_int_eq(r->more, 0);
	portq_result_free(r);
	portq_client_free(c);
}
END_TEST

START_TEST(search_paging)
{
	csv_load();
	const char *text = "backup";
	size_t expect = 0;
	for (size_t i = 0; i < csv.n; i++)
		expect += strcasestr(csv.rows[i].name, text) != NULL ||
		          strcasestr(csv.rows[i].desc, text) != NULL;
	ck_assert_uint_gt(expect, 10);
	portq_client_t *c = client_new(NULL, 2000, 2, 0);
	uint32_t offset = 0;
	size_t got = 0;
	int more = 1;
	for (int pages = 0; more && pages < 100; pages++) {
		portq_result_t *r;
		ck_assert_int_eq(portq_query_search(c, "BackUp", NULL, offset, 10, &r), PORTQ_OK);
		for (size_t i = 0; i < r->n_entries; i++)
			ck_assert(strcasestr(r->entries[i].name, text) != NULL ||
			          strcasestr(r->entries[i].description, text) != NULL);
		got += r->n_entries;
		offset += (uint32_t)r->n_entries;
		more = r->more;
		portq_result_free(r);
	}
	ck_assert_int_eq(more, 0);
	ck_assert_uint_eq(got, expect);
	portq_client_free(c);
}
END_TEST

START_TEST(info_items)
{
	csv_load();
	portq_client_t *c = client_new(NULL, 2000, 2, 0);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_info(c, &r), PORTQ_OK);
	ck_assert_uint_gt(r->n_info, 2);
	ck_assert_uint_eq(r->n_entries, 0);
	int seen_serial = 0, seen_records = 0;
	for (size_t i = 0; i < r->n_info; i++) {
		if (strcmp(r->info[i].key, "serial") == 0) {
			ck_assert_uint_eq(strtoul(r->info[i].value, NULL, 10), r->serial);
			seen_serial = 1;
		} else if (strcmp(r->info[i].key, "records") == 0) {
			ck_assert_uint_eq(strtoul(r->info[i].value, NULL, 10), csv.n);
			seen_records = 1;
		}
	}
	ck_assert(seen_serial && seen_records);
	portq_result_free(r);
	portq_client_free(c);
}
END_TEST

START_TEST(bad_arguments)
{
	portq_result_t *r = (portq_result_t *)1;
	ck_assert_int_eq(portq_query_port(NULL, 22, NULL, &r), PORTQ_EINVAL);
	ck_assert_ptr_null(r);
	portq_client_t *c = client_new(NULL, 2000, 1, 0);
	ck_assert_int_eq(portq_query_port(c, 22, NULL, NULL), PORTQ_EINVAL);
	ck_assert_int_eq(portq_query_port(c, 65536, NULL, &r), PORTQ_EINVAL);
	ck_assert_int_eq(portq_query_port(c, 22, "icmp", &r), PORTQ_EINVAL);
	ck_assert(strstr(portq_client_error(c), "icmp") != NULL);
	ck_assert_int_eq(portq_query_name(c, "", NULL, &r), PORTQ_EINVAL);
	ck_assert_int_eq(portq_query_name(c, NULL, NULL, &r), PORTQ_EINVAL);
	ck_assert_int_eq(portq_query_range(c, 10, 9, NULL, 0, 0, &r), PORTQ_EINVAL);
	ck_assert_int_eq(portq_query_search(c, "", NULL, 0, 0, &r), PORTQ_EINVAL);
	ck_assert_ptr_null(r);
	portq_client_free(c);
	portq_client_free(NULL);
	portq_result_free(NULL);
	ck_assert_str_eq(portq_client_error(NULL), "no client handle");

	portq_options_t o;
	memset(&o, 0, sizeof(o));
	o.config_file = "";
	const char *bad[] = { "127.0.0.1:0", "127.0.0.1:65536", "[::1", "[::1]x", "a b", "," };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.servers = bad[i];
		c = (portq_client_t *)1;
		ck_assert_msg(portq_client_new(&c, &o) == PORTQ_EINVAL, "accepted %s", bad[i]);
		ck_assert_ptr_null(c);
	}
	ck_assert_int_eq(portq_client_new(NULL, NULL), PORTQ_EINVAL);
	o.servers = NULL;
	o.timeout_ms = -1;
	ck_assert_int_eq(portq_client_new(&c, &o), PORTQ_EINVAL);
}
END_TEST

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

START_TEST(config_file_servers)
{
	char path[] = "/tmp/test_client_conf.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	fprintf(f, "# portq.conf for a test\n"
	           "server 127.0.0.1:%u   ; dead\n"
	           "bogus line that is skipped\n"
	           "server %s\n"
	           "timeout 1500\n"
	           "attempts 1\n", loopback_port_closed(SOCK_DGRAM), server_env);
	fclose(f);
	unsetenv("PORTQ_SERVER");       /* the file's servers, not the fixture's */
	portq_options_t o;
	memset(&o, 0, sizeof(o));
	o.config_file = path;
	portq_client_t *c;
	ck_assert_int_eq(portq_client_new(&c, &o), PORTQ_OK);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_name(c, "sftsrv", "udp", &r), PORTQ_OK);
	ck_assert_str_eq(r->server, server_env);
	ck_assert_uint_eq(r->n_entries, 1);
	portq_result_free(r);
	portq_client_free(c);

	/* PORTQ_SERVER wins over the file: a dead one alone now fails. */
	char dead[64];
	snprintf(dead, sizeof(dead), "127.0.0.1:%u", loopback_port_closed(SOCK_DGRAM));
	setenv("PORTQ_SERVER", dead, 1);
	ck_assert_int_eq(portq_client_new(&c, &o), PORTQ_OK);
	ck_assert_int_eq(portq_query_name(c, "sftsrv", "udp", &r), PORTQ_EIO);
	ck_assert_ptr_null(r);
	ck_assert(strstr(portq_client_error(c), dead) != NULL);
	portq_client_free(c);
	setenv("PORTQ_SERVER", server_env, 1);
	unlink(path);
}
END_TEST

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

/* ---- a fake server for what portqd never does ----------------------- */

typedef enum { FAKE_STRAYS, FAKE_LIAR } fake_mode_t;

typedef struct {
	int fd;
	fake_mode_t mode;
	int ok;
} fake_t;

/* The registry serial the fake servers answer with. */
static _Atomic uint32_t fake_serial = 77;

static size_t
fake_answer(uint8_t *buf, size_t len, const portq_header_t *qh,
            const portq_question_t *q, uint16_t id, uint16_t free_lo, uint16_t ancount)
{
	wire_t w = wire_writer(buf, len);
	portq_header_t h = *qh;
	h.id = id;
	h.flags = PORTQ_FLAG_QR;
	h.rcode = PORTQ_RC_NOTFOUND;
	h.ancount = ancount;      /* a liar promises records it does not send */
	h.adcount = 0;
	h.serial = fake_serial;
	portq_header_write(&w, &h);
	portq_question_write(&w, q);
	portq_context_t c = { .range_class = PORTQ_CLASS_USER, .state = PORTQ_ST_UNLISTED,
	                      .cflags = PORTQ_CF_FREE, .free_lo = free_lo,
	                      .free_hi = (uint16_t)(free_lo + 10) };
	if (qh->opcode == PORTQ_OP_PORT)
		portq_context_write(&w, &c);
	return w.error == PORTQ_OK ? wire_used(&w) : 0;
}

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
	if (n <= 0 || portq_query_decode(in, (size_t)n, &h, &q) != PORTQ_OK)
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

/* ---- the answer cache -------------------------------------------------- */

/* A fake server that answers every query NOT-FOUND and counts them. */
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

#define COUNTER_PORTS_MAX 256

typedef struct {
	int fd;
	unsigned port;
	_Atomic int queries;
	_Atomic unsigned from_port;     /* source port of the last query */
	_Atomic int from_changes;       /* times it differed from the one before */
	unsigned from_ports[COUNTER_PORTS_MAX];   /* the first queries' sources */
	_Atomic int stop;
	pthread_t thread;
} counter_t;

static void *
counter_run(void *arg)
{
	counter_t *k = arg;
	/* At most 30 s in all: a test that forgets to stop it still ends. */
	long long deadline = now_ms() + 30000;
	while (!k->stop && now_ms() < deadline) {
		struct pollfd p = { k->fd, POLLIN, 0 };
		if (poll(&p, 1, 50) != 1)
			continue;
		uint8_t in[512], out[512];
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(k->fd, in, sizeof(in), 0, (struct sockaddr *)&from, &flen);
		portq_header_t h;
		portq_question_t q;
		if (n <= 0 || portq_query_decode(in, (size_t)n, &h, &q) != PORTQ_OK)
			continue;
		unsigned fp = ntohs(((struct sockaddr_in *)&from)->sin_port);
		if (k->from_port != 0 && k->from_port != fp)
			k->from_changes++;
		k->from_port = fp;
		if (k->queries < COUNTER_PORTS_MAX)
			k->from_ports[k->queries] = fp;
		k->queries++;
		size_t len = fake_answer(out, sizeof(out), &h, &q, h.id, 1111, 0);
		sendto(k->fd, out, len, 0, (struct sockaddr *)&from, flen);
	}
	return NULL;
}

static void
counter_start(counter_t *k)
{
	memset(k, 0, sizeof(*k));
	k->fd = loopback_socket_bound(SOCK_DGRAM, &k->port);
	ck_assert_int_eq(pthread_create(&k->thread, NULL, counter_run, k), 0);
}

static void
counter_stop(counter_t *k)
{
	k->stop = 1;
	pthread_join(k->thread, NULL);
	close(k->fd);
}

/* A handle on the counter with this cache TTL, no config file. */
static portq_client_t *
counter_client(const counter_t *k, int cache_ttl, const char *config_file)
{
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", k->port);
	portq_options_t o;
	memset(&o, 0, sizeof(o));
	o.servers = list;
	o.config_file = config_file ? config_file : "";
	o.timeout_ms = 2000;
	o.attempts = 1;
	o.cache_ttl = cache_ttl;
	portq_client_t *c = NULL;
	ck_assert_int_eq(portq_client_new(&c, &o), PORTQ_OK);
	return c;
}

/* Ask PORT `port` on c; 1 if the answer came from the cache. */
static int
ask_cached(portq_client_t *c, unsigned port)
{
	portq_result_t *r = NULL;
	int rc = portq_query_port(c, port, NULL, &r);
	ck_assert_msg(rc == PORTQ_OK, "%s", portq_client_error(c));
	ck_assert_uint_eq(r->port->port, port);
	int cached = r->cached;
	portq_result_free(r);
	return cached;
}

START_TEST(cache_hits_and_misses)
{
	portq_cache_flush();
	portq_client_t *c = client_new(NULL, 2000, 1, 0);
	portq_result_t *a, *b;
	ck_assert_int_eq(portq_query_port(c, 1303, "udp", &a), PORTQ_OK);
	ck_assert_int_eq(a->cached, 0);
	ck_assert_int_eq(portq_query_port(c, 1303, "udp", &b), PORTQ_OK);
	ck_assert_int_eq(b->cached, 1);
	/* The same answer, in a result of its own. */
	ck_assert_ptr_ne(a, b);
	ck_assert_uint_eq(b->serial, a->serial);
	ck_assert_str_eq(b->server, a->server);
	ck_assert_uint_eq(b->n_entries, a->n_entries);
	ck_assert_str_eq(b->entries[0].name, a->entries[0].name);
	ck_assert_uint_eq(b->port->below, a->port->below);
	portq_result_free(a);
	portq_result_free(b);

	/* Another protocol, another question: not the same entry. */
	ck_assert_int_eq(portq_query_port(c, 1303, "tcp", &a), PORTQ_OK);
	ck_assert_int_eq(a->cached, 0);
	portq_result_free(a);
	/* Names: case is part of the question, so each spelling is asked once. */
	ck_assert_int_eq(portq_query_name(c, "sftsrv", NULL, &a), PORTQ_OK);
	ck_assert_int_eq(portq_query_name(c, "sftsrv", NULL, &b), PORTQ_OK);
	ck_assert_int_eq(a->cached, 0);
	ck_assert_int_eq(b->cached, 1);
	ck_assert_uint_eq(a->n_entries, b->n_entries);
	portq_result_free(a);
	portq_result_free(b);
	/* Pages too; INFO never. */
	ck_assert_int_eq(portq_query_range(c, 1300, 1310, NULL, 4, 4, &a), PORTQ_OK);
	ck_assert_int_eq(portq_query_range(c, 1300, 1310, NULL, 4, 4, &b), PORTQ_OK);
	ck_assert_int_eq(b->cached, 1);
	ck_assert_uint_eq(a->n_entries, b->n_entries);
	ck_assert_int_eq(a->more, b->more);
	portq_result_free(a);
	portq_result_free(b);
	ck_assert_int_eq(portq_query_info(c, &a), PORTQ_OK);
	ck_assert_int_eq(portq_query_info(c, &b), PORTQ_OK);
	ck_assert_int_eq(b->cached, 0);
	portq_result_free(a);
	portq_result_free(b);

	/* Another handle on the same servers shares the cache; a handle on
	 * another server list does not. */
	portq_client_t *d = client_new(NULL, 2000, 1, 0);
	ck_assert_int_eq(ask_cached(d, 1303), 0);
	ck_assert_int_eq(ask_cached(c, 1303), 1);
	portq_client_free(d);
	char list[64];
	snprintf(list, sizeof(list), "localhost:%u", server.port);
	d = client_new(list, 2000, 1, 0);
	ck_assert_int_eq(ask_cached(d, 1303), 0);
	portq_client_free(d);

	portq_cache_flush();
	ck_assert_int_eq(ask_cached(c, 1303), 0);
	portq_client_free(c);
}
END_TEST

START_TEST(cache_ttl_settings)
{
	counter_t k;
	counter_start(&k);
	portq_cache_flush();

	/* Off for one handle: every query goes out, nothing is kept. */
	portq_client_t *c = counter_client(&k, PORTQ_CACHE_OFF, NULL);
	ck_assert_int_eq(ask_cached(c, 4000), 0);
	ck_assert_int_eq(ask_cached(c, 4000), 0);
	ck_assert_int_eq(k.queries, 2);
	portq_client_free(c);
	c = counter_client(&k, 0, NULL);
	ck_assert_int_eq(ask_cached(c, 4000), 0);
	ck_assert_int_eq(ask_cached(c, 4000), 1);
	ck_assert_int_eq(k.queries, 3);
	portq_client_free(c);

	/* One second: the answer is reused, then asked again. */
	c = counter_client(&k, 1, NULL);
	ck_assert_int_eq(ask_cached(c, 4001), 0);
	ck_assert_int_eq(ask_cached(c, 4001), 1);
	usleep(1100 * 1000);
	ck_assert_int_eq(ask_cached(c, 4001), 0);
	ck_assert_int_eq(k.queries, 5);
	portq_client_free(c);

	/* cache-ttl 0 in the file disables it. */
	char path[] = "/tmp/test_client_ttl.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	const char text[] = "cache-ttl 0\n";
	ck_assert_int_eq(write(fd, text, sizeof(text) - 1), (int)sizeof(text) - 1);
	close(fd);
	c = counter_client(&k, 0, path);
	ck_assert_int_eq(ask_cached(c, 4000), 0);   /* cached above, but TTL 0 */
	portq_client_free(c);
	/* The handle's own TTL wins over the file. */
	c = counter_client(&k, 30, path);
	ck_assert_int_eq(ask_cached(c, 4000), 1);
	portq_client_free(c);
	unlink(path);

	/* The process setting: 0 disables, -1 goes back to the file. */
	ck_assert_int_eq(portq_cache_set_ttl(0), PORTQ_OK);
	c = counter_client(&k, 0, NULL);
	ck_assert_int_eq(ask_cached(c, 4000), 0);
	portq_client_free(c);
	ck_assert_int_eq(portq_cache_set_ttl(-1), PORTQ_OK);
	c = counter_client(&k, 0, NULL);
	ck_assert_int_eq(ask_cached(c, 4000), 1);
	portq_client_free(c);

	ck_assert_int_eq(portq_cache_set_ttl(-2), PORTQ_EINVAL);
	ck_assert_int_eq(portq_cache_set_ttl(PORTQ_CLIENT_CACHE_TTL_MAX + 1), PORTQ_EINVAL);
	portq_options_t o;
	memset(&o, 0, sizeof(o));
	o.config_file = "";
	o.cache_ttl = -2;
	ck_assert_int_eq(portq_client_new(&c, &o), PORTQ_EINVAL);
	o.cache_ttl = PORTQ_CLIENT_CACHE_TTL_MAX + 1;
	ck_assert_int_eq(portq_client_new(&c, &o), PORTQ_EINVAL);
	counter_stop(&k);
}
END_TEST

START_TEST(cache_dropped_on_new_serial)
{
	counter_t k;
	counter_start(&k);
	portq_cache_flush();
	fake_serial = 77;
	portq_client_t *c = counter_client(&k, 0, NULL);
	ck_assert_int_eq(ask_cached(c, 4000), 0);
	ck_assert_int_eq(ask_cached(c, 4001), 0);
	ck_assert_int_eq(ask_cached(c, 4000), 1);
	/* The registry is reloaded: the next answer from the network says so,
	 * and everything kept from the old registry goes. */
	fake_serial = 78;
	ck_assert_int_eq(ask_cached(c, 4002), 0);
	ck_assert_int_eq(ask_cached(c, 4000), 0);
	ck_assert_int_eq(ask_cached(c, 4001), 0);
	ck_assert_int_eq(ask_cached(c, 4002), 1);
	ck_assert_int_eq(k.queries, 5);
	/* An INFO answer, never cached, still tells of a new serial. */
	fake_serial = 79;
	portq_result_t *r;
	ck_assert_int_eq(portq_query_info(c, &r), PORTQ_OK);
	portq_result_free(r);
	ck_assert_int_eq(ask_cached(c, 4002), 0);
	portq_client_free(c);
	fake_serial = 77;
	counter_stop(&k);
}
END_TEST

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

START_TEST(cache_bounded)
{
	counter_t k;
	counter_start(&k);
	portq_cache_flush();
	portq_client_t *c = counter_client(&k, 0, NULL);
	/* One more answer than the cache holds: the least recently used goes. */
	const unsigned n = 4096 + 1;
	for (unsigned p = 0; p < n; p++)
		ck_assert_int_eq(ask_cached(c, 10000 + p), 0);
	ck_assert_int_eq(k.queries, (int)n);
	ck_assert_int_eq(ask_cached(c, 10000 + n - 1), 1);
	ck_assert_int_eq(ask_cached(c, 10001), 1);
	ck_assert_int_eq(ask_cached(c, 10000), 0);      /* in; 10002 out */
	/* Used again, the oldest are kept; the next oldest go instead. */
	for (unsigned p = 10003; p <= 10012; p++)
		ck_assert_int_eq(ask_cached(c, p), 1);
	for (unsigned p = 20000; p < 20020; p++)
		ck_assert_int_eq(ask_cached(c, p), 0);      /* 10013-10032 out */
	ck_assert_int_eq(ask_cached(c, 10001), 1);
	for (unsigned p = 10003; p <= 10012; p++)
		ck_assert_int_eq(ask_cached(c, p), 1);
	for (unsigned p = 10013; p <= 10032; p++)
		ck_assert_int_eq(ask_cached(c, p), 0);      /* each pushes out 10033... */
	ck_assert_int_eq(ask_cached(c, 10053), 1);
	ck_assert_int_eq(ask_cached(c, 10002), 0);
	ck_assert_int_eq(k.queries, (int)n + 1 + 20 + 20 + 1);
	portq_client_free(c);
	counter_stop(&k);
}
END_TEST

START_TEST(cache_servent)
{
	/* getservby*() share the cache: "no such entry" is an answer too. */
	counter_t k;
	counter_start(&k);
	portq_cache_flush();
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", k.port);
	setenv("PORTQ_SERVER", list, 1);
	for (int i = 0; i < 3; i++) {
		errno = EINVAL;
		ck_assert_ptr_null(portq_getservbyport(htons(4000), "tcp"));
		ck_assert_int_eq(errno, 0);
		ck_assert_ptr_null(portq_getservbyname("fake-name", NULL));
	}
	ck_assert_int_eq(k.queries, 2);
	ck_assert_int_eq(portq_cache_set_ttl(0), PORTQ_OK);
	ck_assert_ptr_null(portq_getservbyport(htons(4000), "tcp"));
	ck_assert_int_eq(k.queries, 3);
	ck_assert_int_eq(portq_cache_set_ttl(-1), PORTQ_OK);

	/* An answer a handle on the same servers fetched serves them too. */
	portq_client_t *c = counter_client(&k, 0, NULL);
	ck_assert_int_eq(ask_cached(c, 4001), 0);
	ck_assert_ptr_null(portq_getservbyport(htons(4001), NULL));
	ck_assert_ptr_null(portq_getservbyport(htons(4001), NULL));
	ck_assert_int_eq(k.queries, 4);
	/* A new registry serial from the network drops their answers too. */
	fake_serial = 78;
	ck_assert_int_eq(ask_cached(c, 4002), 0);
	ck_assert_int_eq(k.queries, 5);
	ck_assert_ptr_null(portq_getservbyport(htons(4000), "tcp"));
	ck_assert_ptr_null(portq_getservbyport(htons(4001), NULL));
	ck_assert_int_eq(k.queries, 7);
	fake_serial = 77;
	portq_client_free(c);

	/* Their TTL: the process setting. */
	portq_cache_flush();
	ck_assert_int_eq(portq_cache_set_ttl(1), PORTQ_OK);
	ck_assert_ptr_null(portq_getservbyname("fake-name", "udp"));
	ck_assert_ptr_null(portq_getservbyname("fake-name", "udp"));
	ck_assert_int_eq(k.queries, 8);
	usleep(1100 * 1000);
	ck_assert_ptr_null(portq_getservbyname("fake-name", "udp"));
	ck_assert_int_eq(k.queries, 9);
	ck_assert_int_eq(portq_cache_set_ttl(-1), PORTQ_OK);
	setenv("PORTQ_SERVER", server_env, 1);
	counter_stop(&k);
}
END_TEST

/*
 * A cached lookup, in each form, found or not: no system call (the clock
 * is the vDSO's), no allocation. The only call allowed is the stat() of
 * /etc/portq.conf, once a second at most. In a child: the seccomp filter
 * that counts the calls cannot be taken off.
 */
static const char *
quiet_child_run(char *why, size_t len)
{
	struct servent se, *res;
	alignas(char *) char buf[1024];
	/* Fill the cache; then the same lookups again and again. */
	for (int round = 0; round < 2; round++) {
		struct servent *a = portq_getservbyport(htons(22), "tcp");
		struct servent *b = portq_getservbyport(htons(293), NULL);
		int rc = portq_getservbyname_r("sftsrv", NULL, &se, buf, sizeof(buf), &res);
		struct servent *d = portq_getservbyname("no-such-service-here", "tcp");
		if (a == NULL || b != NULL || rc != 0 || res == NULL || d != NULL) {
			snprintf(why, len, "the lookups themselves failed");
			return why;
		}
	}
	int bad = 0, rounds = 2000;
	long long t0 = now_ms();
	if (RUNNING_ON_VALGRIND) {
		/* Valgrind makes system calls of its own: allocations only. */
	} else if (syswatch_start(why, len) != NULL) {
		return why;
	}
	syswatch.watch = 1;
	alloc_watch = 1;
	for (int i = 0; i < rounds; i++) {
		struct servent *a = portq_getservbyport(htons(22), "tcp");
		bad += a == NULL || strcmp(a->s_name, "ssh") != 0 || strcmp(a->s_proto, "tcp") != 0;
		errno = EINVAL;
		bad += portq_getservbyport(htons(293), NULL) != NULL || errno != 0;
		bad += portq_getservbyname_r("sftsrv", NULL, &se, buf, sizeof(buf), &res) != 0 ||
		       res != &se || strcmp(se.s_name, "sftsrv") != 0;
		bad += portq_getservbyname("no-such-service-here", "tcp") != NULL;
	}
	alloc_watch = 0;
	syswatch.watch = 0;
	long long took = now_ms() - t0;
	if (bad != 0)
		snprintf(why, len, "%d wrong answers", bad);
	else if (syswatch.calls != 0)
		snprintf(why, len, "%d system calls in %d cached lookups (the last: number %ld)",
		         (int)syswatch.calls, 4 * rounds, (long)syswatch.last_nr);
	else if (syswatch.stats > 1 + took / 1000)
		snprintf(why, len, "%d stat() calls in %lld ms", (int)syswatch.stats, took);
	else if (alloc_count != 0)
		snprintf(why, len, "%d allocations in %d cached lookups", (int)alloc_count,
		         4 * rounds);
	else
		return NULL;
	return why;
}

START_TEST(cache_servent_quiet)
{
	csv_load();
	child_expect(quiet_child_run);
	ck_assert_msg(ALLOC_COUNTED || !RUNNING_ON_VALGRIND, "nothing was counted");
}
END_TEST

static void
conf_write(const char *text)
{
	FILE *f = fopen(PORTQ_CLIENT_CONFIG_FILE, "w");
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

/* Look up new ports until counter k hears one; 0 if it does not in 5 s. */
static int
conf_reaches(counter_t *k, unsigned *port)
{
	int before = k->queries;
	for (int i = 0; i < 100; i++) {
		(void)portq_getservbyport(htons((uint16_t)(*port)++), "tcp");
		if (k->queries > before)
			return 1;
		usleep(50 * 1000);
	}
	return 0;
}

/*
 * The default client of getservby*() reads /etc/portq.conf again when it
 * changes, within a second or so, and PORTQ_SERVER at every call. In a
 * child with a private mount namespace, where /etc is an empty folder.
 */
static const char *
conf_child_run(char *why, size_t len)
{
	char dir[] = "/tmp/test_client_etc.XXXXXX";
	if (mkdtemp(dir) == NULL || unshare(CLONE_NEWNS) < 0 ||
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(dir, "/etc", "none", MS_BIND, NULL) < 0) {
		snprintf(why, len, "an /etc of our own: %s%s", strerror(errno),
		         errno == EPERM ? " -- this test needs root (CAP_SYS_ADMIN)" : "");
		return why;
	}
	counter_t a, b;
	counter_start(&a);
	counter_start(&b);
	char text[256];
	unsigned port = 20000;
	why[0] = '\0';

	unsetenv("PORTQ_SERVER");
	snprintf(text, sizeof(text), "server 127.0.0.1:%u\ntimeout 500\nattempts 1\n", a.port);
	conf_write(text);
	if (!conf_reaches(&a, &port)) {
		snprintf(why, len, "a new portq.conf was not read");
		goto out;
	}
	/* Read once: its cache-ttl is the default, so answers are kept. */
	int before = a.queries;
	for (int i = 0; i < 3; i++)
		(void)portq_getservbyport(htons(4000), "tcp");
	if (a.queries != before + 1) {
		snprintf(why, len, "%d queries for one cached answer", a.queries - before);
		goto out;
	}

	/* Edited in place: other servers, and no cache. */
	snprintf(text, sizeof(text), "server 127.0.0.1:%u\ntimeout 500\nattempts 1\n"
	                             "cache-ttl 0\n", b.port);
	conf_write(text);
	if (!conf_reaches(&b, &port)) {
		snprintf(why, len, "an edited portq.conf was not read");
		goto out;
	}
	before = b.queries;
	for (int i = 0; i < 3; i++)
		(void)portq_getservbyport(htons(4000), "tcp");
	if (b.queries != before + 3) {
		snprintf(why, len, "cache-ttl 0: %d queries for 3 lookups", b.queries - before);
		goto out;
	}

	/* PORTQ_SERVER wins over the file: from the next call on after
	 * portq_config_reload(), ... */
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", a.port);
	setenv("PORTQ_SERVER", list, 1);
	portq_config_reload();
	before = a.queries;
	(void)portq_getservbyport(htons(4001), "tcp");
	if (a.queries != before + 1) {
		snprintf(why, len, "PORTQ_SERVER was not followed after portq_config_reload()");
		goto out;
	}
	/* ... and without it within a second or so (read once a second). */
	snprintf(list, sizeof(list), "127.0.0.1:%u", b.port);
	setenv("PORTQ_SERVER", list, 1);
	usleep(1100 * 1000);
	before = b.queries;
	(void)portq_getservbyport(htons(4002), "tcp");
	if (b.queries != before + 1)
		snprintf(why, len, "PORTQ_SERVER was not followed a second later");
out:
	counter_stop(&a);
	counter_stop(&b);
	unlink(PORTQ_CLIENT_CONFIG_FILE);
	rmdir(dir);
	return why[0] != '\0' ? why : NULL;
}

START_TEST(default_conf_reread)
{
	child_expect(conf_child_run);
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

#define SOURCE_QUERIES 50

/*
 * The default client (getservby*(), and so the NSS module) sends each
 * query from a new socket: a new source port each time, so that an
 * off-path forger must guess the port with the ID every time. On 71efc69
 * all 50 came from one port (a socket kept for 100 queries).
 */
static const char *
source_ports_run(char *why, size_t len)
{
	counter_t k;
	counter_start(&k);
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", k.port);
	setenv("PORTQ_SERVER", list, 1);
	portq_config_reload();
	portq_cache_set_ttl(0);
	struct servent se, *res;
	char buf[1024];
	for (int i = 0; i < SOURCE_QUERIES; i++)
		(void)portq_getservbyport_r(htons(4000), "tcp", &se, buf, sizeof(buf), &res);
	int queries = k.queries;
	counter_stop(&k);
	int distinct = 0;
	for (int i = 0; i < queries && i < COUNTER_PORTS_MAX; i++) {
		int seen = 0;
		for (int j = 0; j < i && !seen; j++)
			seen = k.from_ports[j] == k.from_ports[i];
		distinct += !seen;
	}
	/* The kernel picks each port at random among some 28,000: a repeat
	 * or two is chance, not reuse. */
	if (queries != SOURCE_QUERIES || distinct < SOURCE_QUERIES - 5) {
		snprintf(why, len, "%d queries from %d distinct source ports", queries,
		         distinct);
		return why;
	}
	return NULL;
}

START_TEST(default_source_port_per_query)
{
	child_expect(source_ports_run);
}
END_TEST

typedef struct {
	unsigned seed;
	int bad;
} hammer_t;

/* Many lookups from one thread, each checked against a direct answer. */
static void *
hammer_run(void *arg)
{
	hammer_t *h = arg;
	struct servent se, *res;
	char buf[1024];
	for (int i = 0; i < 400; i++) {
		unsigned port = 1 + (h->seed * 7919u + (unsigned)i * 104729u) % 2000;
		int err = portq_getservbyport_r(htons((uint16_t)port), "tcp", &se, buf,
		                                sizeof(buf), &res);
		int expect = port_assigned_tcp(port);
		if (err != 0 || (res != NULL) != expect)
			h->bad++;
	}
	return NULL;
}

START_TEST(cache_threads)
{
	csv_load();
	portq_cache_flush();
	hammer_t h[4];
	pthread_t t[4];
	for (unsigned i = 0; i < 4; i++) {
		h[i].seed = i % 2;      /* two pairs on the same ports: hits and races */
		h[i].bad = 0;
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer_run, &h[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(h[i].bad, 0);
}
END_TEST

/* ---- the async API on a libuv loop ----------------------------------- */

/* What one async query's callback saw. */
typedef struct {
	int called;
	int status;
	portq_result_t *result;
	char error[512];
} outcome_t;

static void
on_outcome(int status, portq_result_t *result, const char *error, void *arg)
{
	outcome_t *o = arg;
	o->called++;
	o->status = status;
	o->result = result;
	snprintf(o->error, sizeof(o->error), "%s", error);
}

static void
on_async_closed(portq_async_t *a, void *arg)
{
	(void)a;
	(*(int *)arg)++;
}

static void
on_tick(uv_timer_t *t)
{
	(void)t;     /* only wakes uv_run(UV_RUN_ONCE) up */
}

/* A loop with a ticking timer, so that a bounded wait can look at the clock. */
typedef struct {
	uv_loop_t loop;
	uv_timer_t tick;
} test_loop_t;

static void
loop_open(test_loop_t *l)
{
	ck_assert_int_eq(uv_loop_init(&l->loop), 0);
	uv_timer_init(&l->loop, &l->tick);
	uv_timer_start(&l->tick, on_tick, 50, 50);
}

/* Run until *done reaches `want` or timeout_ms pass; returns *done >= want. */
static int
loop_until(test_loop_t *l, const int *done, int want, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	while (*done < want && now_ms() < deadline)
		uv_run(&l->loop, UV_RUN_ONCE);
	return *done >= want;
}

/* Close the async handle and the loop; every handle must be gone. */
static void
loop_close(test_loop_t *l, portq_async_t *a)
{
	int closed = 0;
	portq_async_close(a, on_async_closed, &closed);
	portq_async_close(a, on_async_closed, &closed);   /* again: nothing */
	ck_assert(loop_until(l, &closed, 1, 5000));
	ck_assert_int_eq(closed, 1);
	uv_close((uv_handle_t *)&l->tick, NULL);
	for (int i = 0; i < 10 && uv_loop_alive(&l->loop); i++)
		uv_run(&l->loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(uv_loop_close(&l->loop), 0);
}

static portq_async_t *
async_new(test_loop_t *l, const char *servers, int timeout_ms, int attempts, int tcp)
{
	portq_options_t o;
	memset(&o, 0, sizeof(o));
	o.servers = servers ? servers : server_env;
	o.config_file = "";
	o.timeout_ms = timeout_ms;
	o.attempts = attempts;
	o.tcp = tcp;
	portq_async_t *a = NULL;
	ck_assert_int_eq(portq_async_new(&a, &l->loop, &o), PORTQ_OK);
	ck_assert_ptr_nonnull(a);
	return a;
}

/* Count of outcomes whose callback ran, for loop_until(). */
static int outcomes_done;

static void
on_counted(int status, portq_result_t *result, const char *error, void *arg)
{
	on_outcome(status, result, error, arg);
	outcomes_done++;
}

START_TEST(async_queries)
{
	portq_cache_flush();
	test_loop_t l;
	loop_open(&l);
	portq_async_t *a = async_new(&l, NULL, 2000, 2, 0);
	outcome_t o[6];
	memset(o, 0, sizeof(o));
	outcomes_done = 0;
	ck_assert_int_eq(portq_async_port(a, 1303, "udp", on_counted, &o[0]), PORTQ_OK);
	ck_assert_int_eq(portq_async_name(a, "sftsrv", NULL, on_counted, &o[1]), PORTQ_OK);
	ck_assert_int_eq(portq_async_port(a, 293, NULL, on_counted, &o[2]), PORTQ_OK);
	/* 200 records do not fit a datagram: truncated, then asked over TCP. */
	ck_assert_int_eq(portq_async_range(a, 0, 65535, NULL, 0, 200, on_counted, &o[3]),
	                 PORTQ_OK);
	ck_assert_int_eq(portq_async_search(a, "backup", NULL, 0, 5, on_counted, &o[4]),
	                 PORTQ_OK);
	ck_assert_int_eq(portq_async_info(a, on_counted, &o[5]), PORTQ_OK);
	/* Never from inside the call that started the query. */
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(o[i].called, 0);
	ck_assert(loop_until(&l, &outcomes_done, 6, 10000));
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(o[i].called, 1);
		ck_assert_msg(o[i].status == PORTQ_OK, "query %d: %s", i, o[i].error);
		ck_assert_str_eq(o[i].error, "");
		ck_assert_int_eq(o[i].result->cached, 0);
		ck_assert_str_eq(o[i].result->server, server_env);
	}
	ck_assert_uint_eq(o[0].result->n_entries, 1);
	ck_assert_str_eq(o[0].result->entries[0].name, "sftsrv");
	ck_assert_str_eq(o[0].result->entries[0].protocol, "udp");
	ck_assert_int_eq(o[0].result->tcp, 0);
	ck_assert_uint_ge(o[1].result->n_entries, 2);
	ck_assert_int_eq(o[2].result->port->has_free, 1);
	ck_assert_uint_eq(o[3].result->n_entries, 200);
	ck_assert_int_eq(o[3].result->tcp, 1);
	ck_assert_int_eq(o[3].result->more, 1);
	ck_assert_uint_eq(o[4].result->n_entries, 5);
	ck_assert_uint_gt(o[5].result->n_info, 2);
	for (int i = 0; i < 6; i++)
		portq_result_free(o[i].result);

	/* The blocking API and the async API share the cache. */
	outcome_t hit;
	memset(&hit, 0, sizeof(hit));
	outcomes_done = 0;
	ck_assert_int_eq(portq_async_port(a, 1303, "udp", on_counted, &hit), PORTQ_OK);
	ck_assert_int_eq(hit.called, 0);
	ck_assert(loop_until(&l, &outcomes_done, 1, 5000));
	ck_assert_int_eq(hit.status, PORTQ_OK);
	ck_assert_int_eq(hit.result->cached, 1);
	ck_assert_str_eq(hit.result->entries[0].name, "sftsrv");
	portq_result_free(hit.result);
	portq_client_t *c = client_new(NULL, 2000, 1, 0);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_name(c, "sftsrv", NULL, &r), PORTQ_OK);
	ck_assert_int_eq(r->cached, 1);
	portq_result_free(r);
	portq_client_free(c);

	/* Bad arguments: refused at once, no callback. */
	ck_assert_int_eq(portq_async_port(a, 65536, NULL, on_counted, &hit), PORTQ_EINVAL);
	ck_assert_int_eq(portq_async_port(a, 22, "icmp", on_counted, &hit), PORTQ_EINVAL);
	ck_assert_int_eq(portq_async_port(a, 22, NULL, NULL, &hit), PORTQ_EINVAL);
	ck_assert_int_eq(portq_async_port(NULL, 22, NULL, on_counted, &hit), PORTQ_EINVAL);
	ck_assert_int_eq(portq_async_name(a, "", NULL, on_counted, &hit), PORTQ_EINVAL);
	ck_assert_int_eq(portq_async_name(a, NULL, NULL, on_counted, &hit), PORTQ_EINVAL);
	ck_assert_int_eq(portq_async_range(a, 10, 9, NULL, 0, 0, on_counted, &hit), PORTQ_EINVAL);
	ck_assert_int_eq(portq_async_search(a, "", NULL, 0, 0, on_counted, &hit), PORTQ_EINVAL);
	ck_assert_int_eq(hit.called, 1);
	loop_close(&l, a);
	ck_assert_int_eq(portq_async_new(NULL, &l.loop, NULL), PORTQ_EINVAL);
	ck_assert_int_eq(portq_async_new(&a, NULL, NULL), PORTQ_EINVAL);
	ck_assert_ptr_null(a);
	portq_async_close(NULL, NULL, NULL);
}
END_TEST

START_TEST(async_failing_servers)
{
	portq_cache_flush();
	test_loop_t l;
	loop_open(&l);
	unsigned silent_port;
	int silent = loopback_socket_bound(SOCK_DGRAM, &silent_port);
	char dead[64], quiet[64], list[256];
	snprintf(dead, sizeof(dead), "127.0.0.1:%u", loopback_port_closed(SOCK_DGRAM));
	snprintf(quiet, sizeof(quiet), "127.0.0.1:%u", silent_port);

	/* A closed port, a server that never answers, then the real one. */
	snprintf(list, sizeof(list), "%s,%s,%s", dead, quiet, server_env);
	portq_async_t *a = async_new(&l, list, 150, 1, 0);
	outcome_t o[3];
	memset(o, 0, sizeof(o));
	outcomes_done = 0;
	ck_assert_int_eq(portq_async_port(a, 1303, "tcp", on_counted, &o[0]), PORTQ_OK);
	ck_assert(loop_until(&l, &outcomes_done, 1, 5000));
	ck_assert_msg(o[0].status == PORTQ_OK, "%s", o[0].error);
	ck_assert_str_eq(o[0].result->server, server_env);
	portq_result_free(o[0].result);
	loop_close(&l, a);

	uint8_t b[512];
	int got = 0;
	for (int i = 0; i < 4 && recv(silent, b, sizeof(b), MSG_DONTWAIT) > 0; i++)
		got++;
	ck_assert_int_eq(got, 1);       /* asked once on the way to the real one */

	/* Another silent one, never asked before: a timeout per attempt, then
	 * ETIMEDOUT. */
	unsigned silent2_port;
	int silent2 = loopback_socket_bound(SOCK_DGRAM, &silent2_port);
	char quiet2[64];
	snprintf(quiet2, sizeof(quiet2), "127.0.0.1:%u", silent2_port);
	loop_open(&l);
	a = async_new(&l, quiet2, 150, 2, 0);
	outcomes_done = 0;
	long long t0 = now_ms();
	ck_assert_int_eq(portq_async_port(a, 22, NULL, on_counted, &o[1]), PORTQ_OK);
	ck_assert(loop_until(&l, &outcomes_done, 1, 5000));
	ck_assert_int_eq(o[1].status, PORTQ_ETIMEDOUT);
	ck_assert_ptr_null(o[1].result);
	ck_assert_msg(strstr(o[1].error, "timed out") != NULL, "%s", o[1].error);
	ck_assert_msg(strstr(o[1].error, quiet2) != NULL, "%s", o[1].error);
	ck_assert_int_ge(now_ms() - t0, 2 * 150 - 20);
	loop_close(&l, a);
	got = 0;
	for (int i = 0; i < 4 && recv(silent2, b, sizeof(b), MSG_DONTWAIT) > 0; i++)
		got++;
	ck_assert_int_eq(got, 2);       /* both attempts were sent */

	/* Held down by that query once: for 5 s, not once per attempt. */
	loop_open(&l);
	a = async_new(&l, quiet2, 150, 2, 0);
	outcomes_done = 0;
	ck_assert_int_eq(portq_async_port(a, 22, NULL, on_counted, &o[1]), PORTQ_OK);
	ck_assert(loop_until(&l, &outcomes_done, 1, 5000));
	ck_assert_int_eq(o[1].status, PORTQ_ETIMEDOUT);
	ck_assert_msg(strstr(o[1].error, "asked again 5 s after that") != NULL, "%s",
	              o[1].error);
	loop_close(&l, a);
	close(silent2);

	/* The first silent one timed out a moment ago: held down, not asked,
	 * ETIMEDOUT at once (client.md, "Silent servers"). */
	loop_open(&l);
	a = async_new(&l, quiet, 150, 2, 0);
	outcomes_done = 0;
	ck_assert_int_eq(portq_async_port(a, 23, NULL, on_counted, &o[1]), PORTQ_OK);
	ck_assert(loop_until(&l, &outcomes_done, 1, 5000));
	ck_assert_int_eq(o[1].status, PORTQ_ETIMEDOUT);
	ck_assert_msg(strstr(o[1].error, "not asked (timed out") != NULL, "%s", o[1].error);
	ck_assert_msg(strstr(o[1].error, quiet) != NULL, "%s", o[1].error);
	loop_close(&l, a);
	got = 0;
	for (int i = 0; i < 4 && recv(silent, b, sizeof(b), MSG_DONTWAIT) > 0; i++)
		got++;
	ck_assert_int_eq(got, 0);

	/* Only the closed port: refused, EIO. */
	loop_open(&l);
	a = async_new(&l, dead, 2000, 1, 0);
	outcomes_done = 0;
	ck_assert_int_eq(portq_async_port(a, 22, NULL, on_counted, &o[2]), PORTQ_OK);
	ck_assert(loop_until(&l, &outcomes_done, 1, 5000));
	ck_assert_int_eq(o[2].status, PORTQ_EIO);
	ck_assert_msg(strstr(o[2].error, "refused") != NULL, "%s", o[2].error);
	loop_close(&l, a);
	close(silent);
}
END_TEST

START_TEST(async_tcp_and_silent_tcp)
{
	portq_cache_flush();
	test_loop_t l;
	loop_open(&l);
	portq_async_t *a = async_new(&l, NULL, 2000, 1, 1);
	outcome_t o[2];
	memset(o, 0, sizeof(o));
	outcomes_done = 0;
	ck_assert_int_eq(portq_async_port(a, 293, NULL, on_counted, &o[0]), PORTQ_OK);
	ck_assert(loop_until(&l, &outcomes_done, 1, 5000));
	ck_assert_msg(o[0].status == PORTQ_OK, "%s", o[0].error);
	ck_assert_int_eq(o[0].result->tcp, 1);
	ck_assert_int_eq(o[0].result->port->has_free, 1);
	portq_result_free(o[0].result);
	loop_close(&l, a);

	/* A listener that accepts (the kernel does) and never answers. */
	unsigned port;
	int fd = loopback_socket_bound(SOCK_STREAM, &port);
	ck_assert_int_eq(listen(fd, 4), 0);
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", port);
	loop_open(&l);
	a = async_new(&l, list, 150, 1, 1);
	outcomes_done = 0;
	ck_assert_int_eq(portq_async_port(a, 22, NULL, on_counted, &o[1]), PORTQ_OK);
	ck_assert(loop_until(&l, &outcomes_done, 1, 5000));
	ck_assert_int_eq(o[1].status, PORTQ_ETIMEDOUT);
	ck_assert_msg(strstr(o[1].error, "tcp: timed out") != NULL, "%s", o[1].error);
	loop_close(&l, a);
	close(fd);
}
END_TEST

static void
on_then_close(int status, portq_result_t *result, const char *error, void *arg)
{
	on_counted(status, result, error, arg);
	portq_async_t **a = (portq_async_t **)((outcome_t *)arg + 1);
	portq_async_close(*a, NULL, NULL);      /* from inside a callback */
}

START_TEST(async_close_cancels)
{
	portq_cache_flush();
	unsigned port;
	int silent = loopback_socket_bound(SOCK_DGRAM, &port);
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", port);
	test_loop_t l;
	loop_open(&l);
	portq_async_t *a = async_new(&l, list, 5000, 2, 0);
	outcome_t o[2];
	memset(o, 0, sizeof(o));
	outcomes_done = 0;
	ck_assert_int_eq(portq_async_port(a, 22, NULL, on_counted, &o[0]), PORTQ_OK);
	ck_assert_int_eq(portq_async_name(a, "ssh", "tcp", on_counted, &o[1]), PORTQ_OK);
	uv_run(&l.loop, UV_RUN_NOWAIT);       /* the probes are out */
	int closed = 0;
	long long t0 = now_ms();
	portq_async_close(a, on_async_closed, &closed);
	ck_assert_int_eq(portq_async_port(a, 22, NULL, on_counted, &o[0]), PORTQ_EINVAL);
	ck_assert_int_eq(o[0].called, 0);      /* not from inside close either */
	ck_assert(loop_until(&l, &closed, 1, 2000));
	ck_assert_int_lt(now_ms() - t0, 1000);     /* no waiting for the timeout */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(o[i].called, 1);
		ck_assert_int_eq(o[i].status, PORTQ_EIO);
		ck_assert_ptr_null(o[i].result);
		ck_assert_str_eq(o[i].error, "cancelled");
	}
	uv_close((uv_handle_t *)&l.tick, NULL);
	uv_run(&l.loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(uv_loop_close(&l.loop), 0);

	/* Closing from inside a query's callback, with another still out. */
	struct {
		outcome_t o;
		portq_async_t *a;
	} first;
	outcome_t second;
	memset(&first, 0, sizeof(first));
	memset(&second, 0, sizeof(second));
	loop_open(&l);
	char two[128];
	snprintf(two, sizeof(two), "%s", server_env);
	first.a = async_new(&l, two, 2000, 1, 0);
	portq_async_t *quiet = async_new(&l, list, 5000, 1, 0);
	outcomes_done = 0;
	ck_assert_int_eq(portq_async_port(first.a, 1303, NULL, on_then_close, &first), PORTQ_OK);
	ck_assert_int_eq(portq_async_port(quiet, 22, NULL, on_counted, &second), PORTQ_OK);
	ck_assert(loop_until(&l, &outcomes_done, 1, 5000));
	ck_assert_int_eq(first.o.status, PORTQ_OK);
	portq_result_free(first.o.result);
	loop_close(&l, quiet);
	ck_assert_int_eq(second.status, PORTQ_EIO);
	close(silent);
}
END_TEST

START_TEST(async_host_names)
{
	portq_cache_flush();
	test_loop_t l;
	loop_open(&l);
	char list[64];
	snprintf(list, sizeof(list), "localhost:%u", server.port);
	portq_async_t *a = async_new(&l, list, 2000, 1, 0);
	outcome_t o[3];
	memset(o, 0, sizeof(o));
	outcomes_done = 0;
	/* Two queries wait for the one resolution. */
	ck_assert_int_eq(portq_async_port(a, 22, "tcp", on_counted, &o[0]), PORTQ_OK);
	ck_assert_int_eq(portq_async_port(a, 23, "tcp", on_counted, &o[1]), PORTQ_OK);
	ck_assert(loop_until(&l, &outcomes_done, 2, 5000));
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(o[i].status == PORTQ_OK, "%s", o[i].error);
		/* localhost may come first as ::1, where nobody listens */
		ck_assert(strstr(o[i].result->server, "127.0.0.1") != NULL);
		portq_result_free(o[i].result);
	}
	loop_close(&l, a);

	/* c-ares refuses .onion itself (RFC 7686): nothing leaves the machine. */
	loop_open(&l);
	a = async_new(&l, "portq-test.onion", 1000, 1, 0);
	outcomes_done = 0;
	ck_assert_int_eq(portq_async_port(a, 22, NULL, on_counted, &o[2]), PORTQ_OK);
	ck_assert(loop_until(&l, &outcomes_done, 1, 5000));
	ck_assert_int_eq(o[2].status, PORTQ_EIO);
	ck_assert_msg(strstr(o[2].error, "resolving portq-test.onion") != NULL, "%s",
	              o[2].error);
	loop_close(&l, a);
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
	char conf[] = "/tmp/test_client_resolv.XXXXXX";
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

/* ---- the portq command ------------------------------------------------- */

/* Run portq with args; its stdout in out; returns the exit status. */
static int
run_cli(char *out, size_t outlen, const char *const *args)
{
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDERR_FILENO);
		close(pfd[0]);
		char *argv[16];
		int n = 0;
		argv[n++] = (char *)"portq";
		for (; args[n - 1] != NULL && n < 15; n++)
			argv[n] = (char *)args[n - 1];
		argv[n] = NULL;
		execv(PORTQ_CLI_PATH, argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t used = 0;
	long long deadline = now_ms() + 20000;
	while (now_ms() < deadline) {
		struct pollfd p = { pfd[0], POLLIN, 0 };
		if (poll(&p, 1, 1000) <= 0)
			continue;
		ssize_t n = read(pfd[0], out + used, outlen - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
		if (used == outlen - 1)
			break;
	}
	out[used] = '\0';
	close(pfd[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(cli_outputs_and_exit_codes)
{
	csv_load();
	static char out[1 << 20];
	unsigned lo = 293, hi = 293;
	while (lo > 0 && port_free(lo - 1))
		lo--;
	while (hi < 65535 && port_free(hi + 1))
		hi++;
	char block[64];
	snprintf(block, sizeof(block), "%u-%u (%u ports)", lo, hi, hi - lo + 1);

	const char *free_port[] = { "--server", server_env, "293", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), free_port), 1);
	ck_assert_msg(strstr(out, block) != NULL, "no \"%s\" in:\n%s", block, out);
	ck_assert(strstr(out, "binding needs privileges") != NULL);

	const char *two[] = { "--server", server_env, "sftsrv", "1303/udp", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), two), 0);
	ck_assert(strstr(out, "sftsrv") != NULL);
	ck_assert(strstr(out, "[Robert_Frazier]") != NULL);

	const char *mixed[] = { "--server", server_env, "sftsrv", "no-such-service-here", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), mixed), 1);

	const char *json[] = { "--json", "--server", server_env, "293", "--info", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), json), 1);
	const char *head = "{\"version\":1,\"results\":[";
	ck_assert(strncmp(out, head, strlen(head)) == 0);
	ck_assert(strstr(out, "\"status\":\"not-assigned\"") != NULL);
	char fb[96];
	snprintf(fb, sizeof(fb), "\"free_block\":{\"first\":%u,\"last\":%u,\"size\":%u}",
	         lo, hi, hi - lo + 1);
	ck_assert_msg(strstr(out, fb) != NULL, "no %s", fb);
	ck_assert(strstr(out, "\"type\":\"info\"") != NULL);

	/* A name that is not UTF-8 is echoed as U+FFFD: the document stays
	 * JSON (before, the raw bytes went out). Valid UTF-8 goes out as is. */
	const char *latin1[] = { "--json", "--server", server_env, "caf\xE9", "\xC3\xA9t\xC3",
		"\xE2\x82\xAC\"", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), latin1), 1);
	ck_assert_msg(strstr(out, "\"query\":\"caf\\ufffd\"") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "\"query\":\"\xC3\xA9t\\ufffd\"") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "\"query\":\"\xE2\x82\xAC\\\"\"") != NULL, "%s", out);
	ck_assert_uint_eq(portq_utf8_valid_prefix(out, strlen(out)), strlen(out));

	const char *range[] = { "--server", server_env, "1300-1310", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), range), 0);
	ck_assert(strstr(out, "sftsrv") != NULL);

	char dead[64];
	snprintf(dead, sizeof(dead), "127.0.0.1:%u", loopback_port_closed(SOCK_DGRAM));
	const char *down[] = { "--server", dead, "--timeout", "200", "22", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), down), 2);
	const char *usage[] = { "--bogus", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), usage), 2);
	const char *bad_port[] = { "70000", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), bad_port), 2);
}
END_TEST

START_TEST(cli_services_file)
{
	csv_load();
	static char out[4 << 20];
	const char *args[] = { "--server", server_env, "--services", NULL };
	ck_assert_int_eq(run_cli(out, sizeof(out), args), 0);
	/* Every line the CSV says should be there, for a few known names. */
	const char *names[] = { "ssh", "sftsrv", "http" };
	for (size_t k = 0; k < 3; k++)
		for (size_t i = 0; i < csv.n; i++) {
			const row_t *r = &csv.rows[i];
			if (strcmp(r->name, names[k]) != 0 || !r->has_port || r->lo != r->hi ||
			    !row_assigned(r))
				continue;
			char line[64];
			snprintf(line, sizeof(line), "\n%-15s %u/%s", r->name, r->lo, r->proto);
			ck_assert_msg(strstr(out, line) != NULL, "no line \"%s\"", line + 1);
		}
	/* Nothing unassigned, nothing unnamed, no ranges. */
	ck_assert(strstr(out, "\n288-") == NULL);
	ck_assert(strstr(out, "\n ") == NULL);
}
END_TEST

/* ---- shutdown ----------------------------------------------------------- */

START_TEST(daemon_stops_cleanly)
{
	portqd_process_t d;
	portqd_process_start(&d, "127.0.0.1:0", csv_args);
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", d.port);
	portq_client_t *c = client_new(list, 2000, 1, 0);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_info(c, &r), PORTQ_OK);
	portq_result_free(r);
	portq_client_free(c);
	ck_assert_int_eq(portqd_process_stop(&d), 0);
}
END_TEST

static Suite *
client_suite(void)
{
	Suite *s = suite_create("client");

	TCase *tc = tcase_create("libc");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, servbyport_protocols);
	tcase_add_test(tc, servbyname_protocols);
	tcase_add_test(tc, servby_reentrant);
	tcase_add_test(tc, servby_thread_local);
	suite_add_tcase(s, tc);

	tc = tcase_create("api");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, port_free_block_and_neighbours);
	tcase_add_test(tc, range_neighbour_on_both_sides);
	tcase_add_test(tc, name_lookup);
	tcase_add_test(tc, range_paging);
	tcase_add_test(tc, search_paging);
	tcase_add_test(tc, info_items);
	tcase_add_test(tc, bad_arguments);
	suite_add_tcase(s, tc);

	tc = tcase_create("servers");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, first_server_dead);
	tcase_add_test(tc, config_file_servers);
	tcase_add_test(tc, host_name_through_cares);
	tcase_add_test(tc, ipv6_bracketed_server);
	tcase_add_test(tc, truncated_then_tcp);
	tcase_add_test(tc, silent_server_times_out);
	tcase_add_test(tc, silent_server_skipped);
	tcase_add_test(tc, silent_hold_once_per_query);
	tcase_add_test(tc, mismatched_answers_ignored);
	tcase_add_test(tc, malformed_answer_fails);
	suite_add_tcase(s, tc);

	tc = tcase_create("cache");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, cache_hits_and_misses);
	tcase_add_test(tc, cache_ttl_settings);
	tcase_add_test(tc, cache_dropped_on_new_serial);
	tcase_add_test(tc, cache_bounded);
	tcase_add_test(tc, kept_socket_number_reused);
	tcase_add_test(tc, cache_servent);
	tcase_add_test(tc, cache_servent_quiet);
	tcase_add_test(tc, default_conf_reread);
	tcase_add_test(tc, udp_socket_kept);
	tcase_add_test(tc, std_descriptors_left_alone);
	tcase_add_test(tc, default_source_port_per_query);
	tcase_add_test(tc, cache_threads);
	suite_add_tcase(s, tc);

	tc = tcase_create("async");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, async_queries);
	tcase_add_test(tc, async_failing_servers);
	tcase_add_test(tc, async_tcp_and_silent_tcp);
	tcase_add_test(tc, async_close_cancels);
	tcase_add_test(tc, async_host_names);
	tcase_add_test(tc, async_dns_on_the_loop);
	tcase_add_test(tc, resolver_sockets_above_2);
	suite_add_tcase(s, tc);

	tc = tcase_create("cli");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, cli_outputs_and_exit_codes);
	tcase_add_test(tc, cli_services_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("shutdown");
	tcase_add_test(tc, daemon_stops_cleanly);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = client_suite };
