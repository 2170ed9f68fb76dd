/*
 * test_cache.c -- the answer cache (client/cache.c): hits and
 * misses, TTLs from the handle, the file and the process, answers dropped
 * on a new registry serial, the bound, getservby*() sharing it without a
 * system call or an allocation on a hit, and threads.
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
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "check_main.h"
#include "client_fixture.h"
#include "clock.h"
#include "fake_server.h"

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

/* ---- the answer cache -------------------------------------------------- */

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

/*
 * A SEARCH the server stopped at its work limit keeps saying so from the
 * cache: the cached form is the message, and the decoder reads PARTIAL
 * from its header. Over TCP as over UDP. A search within the limit on the
 * same server is not partial.
 */
START_TEST(cache_keeps_partial)
{
	portqd_process_t d;
	broad_server_start(&d);
	portq_cache_flush();
	for (int tcp = 0; tcp <= 1; tcp++) {
		portq_client_t *c = client_new(d.server, 2000, 1, tcp);
		portq_result_t *a, *b;
		ck_assert_int_eq(portq_query_search(c, BROAD_TEXT, NULL, 0, 10, &a), PORTQ_OK);
		ck_assert_msg(a->partial == 1, "partial not set (over %s): the PARTIAL flag "
		              "was lost, or %d records no longer reach the server's work "
		              "limit (then make BROAD_RECORDS larger)", tcp ? "tcp" : "udp",
		              BROAD_RECORDS);
		ck_assert_int_eq(a->cached, 0);
		ck_assert_int_eq(a->tcp, tcp);
		ck_assert_uint_eq(a->n_entries, 0);
		ck_assert_int_eq(a->more, 0);
		ck_assert_int_eq(portq_query_search(c, BROAD_TEXT, NULL, 0, 10, &b), PORTQ_OK);
		ck_assert_int_eq(b->cached, 1);
		ck_assert_int_eq(b->partial, 1);
		ck_assert_uint_eq(b->n_entries, 0);
		portq_result_free(a);
		portq_result_free(b);

		ck_assert_int_eq(portq_query_search(c, "s1234", NULL, 0, 10, &a), PORTQ_OK);
		ck_assert_int_eq(portq_query_search(c, "s1234", NULL, 0, 10, &b), PORTQ_OK);
		ck_assert_int_eq(b->cached, 1);
		ck_assert_int_eq(a->partial, 0);
		ck_assert_int_eq(b->partial, 0);
		ck_assert_uint_eq(b->n_entries, 10);
		portq_result_free(a);
		portq_result_free(b);
		portq_client_free(c);
		portq_cache_flush();
	}
	portqd_process_stop(&d);
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
	char path[] = "/tmp/test_cache_ttl.XXXXXX";
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
	long long t0 = portq__clock_ms();
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
	long long took = portq__clock_ms() - t0;
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

static Suite *
cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("cache");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, cache_hits_and_misses);
	tcase_add_test(tc, cache_ttl_settings);
	tcase_add_test(tc, cache_dropped_on_new_serial);
	tcase_add_test(tc, cache_bounded);
	tcase_add_test(tc, cache_servent);
	tcase_add_test(tc, cache_servent_quiet);
	tcase_add_test(tc, cache_threads);
	suite_add_tcase(s, tc);
	/* Its own server, on a generated registry: runs without the IANA data. */
	tc = tcase_create("partial");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, cache_keeps_partial);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = cache_suite };
