/*
 * test_fork.c -- libportq across fork(): a program whose threads are in
 * the middle of lookups forks, and the child looks a service up.
 *
 * Four threads call getservbyport_r() without pause (three over ports
 * the cache holds, one over ports it does not, so that the cache evicts
 * and the default client goes to the network), while the main thread
 * forks again and again. Each child does one cached lookup and one that
 * goes to the server, checks both answers and exits. The parent waits
 * for every child with a deadline: a child still running after it is
 * killed and counted as hung. A lock held by a thread that does not
 * exist in the child (the cache's, the configuration's) hangs it for
 * ever; on 71efc69 most children hung.
 *
 * Two ways in: libportq's portq_getservbyport_r() called directly, and
 * glibc's getservbyport_r() with "services: portq", where glibc loads
 * the built module. Each runs in a child of the test (the "side", this
 * program exec'd again) in a private mount namespace (as test_nss does)
 * with a portq.conf of its own over /etc/portq.conf: a generous timeout
 * and lookup budget (CLIENT_CONF). The test is about hangs across fork,
 * not about timeouts: with the default 500 ms budget a lookup that a
 * loaded machine (CI's two cores, AddressSanitizer) delays past its
 * 250 ms share holds the server down for seconds (client/health.c), and
 * hundreds of children and lookups then fail for a reason that has
 * nothing to do with fork. The server is the real portqd on loopback
 * serving a small services file written here.
 *
 * The number of forks is PORTQ_FORK_STRESS (default 1000, 200 under
 * AddressSanitizer: see UNDER_ASAN); a run stops
 * early once HUNG_STOP children hung, so that a failing run stays short.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_main.h"
#include "clock.h"
#include "mount_ns.h"
#include "portq.h"
#include "portqd_process.h"

/*
 * Under AddressSanitizer: GCC 12's libasan does not hold its allocator's
 * lock across fork(), so a child that allocates after a parent thread
 * was inside malloc() hangs in libasan itself (seen: the child's miss,
 * in result_decode's malloc, waiting on the allocator's mutex). There the
 * fourth thread also looks up cached ports, whose path allocates nothing,
 * and fewer forks keep the slower run within a minute.
 */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define N_THREADS      4
#define FORKS_DEFAULT  (UNDER_ASAN ? 200 : 1000)
#define CHILD_DEADLINE_MS 3000     /* one child: two lookups on loopback */

/* The sides' libportq configuration: one lookup waits at most the budget
 * (2 s), within a child's deadline, and one attempt gets a full second. */
#define CLIENT_CONF "timeout 1000\nattempts 2\nlookup-budget 2000\n"
#define HUNG_STOP      5           /* enough to know; keeps a failing run short */
#define HOT_PORTS      2000        /* looked up again and again: cache hits */
#define SSH_PORT       22
#define MISS_BASE      20000       /* ports the server does not list */

/* ---- portqd ------------------------------------------------------------- */

static portqd_process_t portqd;
static char registry_path[64];

static void
fixture_up(void)
{
	snprintf(registry_path, sizeof(registry_path), "/tmp/test_fork_registry.XXXXXX");
	int fd = mkstemp(registry_path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "# test_fork\nssh %d/tcp\n", SSH_PORT);
	for (int p = 1000; p < 1000 + HOT_PORTS / 2; p++)
		fprintf(f, "fork-%d %d/tcp\n", p, p);
	ck_assert_int_eq(fclose(f), 0);
	char arg[80];
	snprintf(arg, sizeof(arg), "services:%s", registry_path);
	const char *const args[] = { "--registry", arg, NULL };
	portqd_process_start(&portqd, "127.0.0.1:0", args);
	setenv("PORTQ_SERVER", portqd.server, 1);
}

static void
fixture_down(void)
{
	portqd_process_stop(&portqd);
	unlink(registry_path);
}

/* ---- the stress run, shared by both ways in ------------------------------- */

typedef int (*byport_fn)(int port, const char *proto, struct servent *se, char *buf,
                         size_t buflen, struct servent **res);

static int
glibc_byport(int port, const char *proto, struct servent *se, char *buf, size_t buflen,
             struct servent **res)
{
	return getservbyport_r(port, proto, se, buf, buflen, res);
}

static int
portq_byport(int port, const char *proto, struct servent *se, char *buf, size_t buflen,
             struct servent **res)
{
	return portq_getservbyport_r(port, proto, se, buf, buflen, res);
}

typedef struct {
	byport_fn fn;
	int index;
	atomic_int *stop;
	long lookups;
	long failures;          /* errors, or a wrong answer */
} worker_t;

/* Whether fn says what the services file says about port/tcp. */
static int
lookup_right(byport_fn fn, unsigned port)
{
	struct servent se, *res = NULL;
	char buf[1024];
	if (fn((int)htons((uint16_t)port), "tcp", &se, buf, sizeof(buf), &res) != 0)
		return 0;
	if (port == SSH_PORT)
		return res != NULL && strcmp(res->s_name, "ssh") == 0;
	if (port >= 1000 && port < 1000 + HOT_PORTS / 2) {
		char name[32];
		snprintf(name, sizeof(name), "fork-%u", port);
		return res != NULL && strcmp(res->s_name, name) == 0;
	}
	return res == NULL;
}

static void *
worker_run(void *arg)
{
	worker_t *w = arg;
	unsigned i = (unsigned)w->index * 7919u;
	while (!atomic_load(w->stop)) {
		unsigned port;
		if (w->index < N_THREADS - 1 || UNDER_ASAN)   /* hits: the hot ports, ssh */
			port = i % (HOT_PORTS + 1) == HOT_PORTS ? SSH_PORT : 1000 + i % HOT_PORTS;
		else                                  /* misses: more than the cache holds */
			port = MISS_BASE + i % 40000;
		w->failures += !lookup_right(w->fn, port);
		w->lookups++;
		i++;
	}
	return NULL;
}

/* A child's work: a lookup the parent's cache holds, then one it does not. */
static int
child_run(byport_fn fn, int n)
{
	if (!lookup_right(fn, SSH_PORT))
		return 1;
	return lookup_right(fn, MISS_BASE + 40000 + (unsigned)n % 5000) ? 0 : 2;
}

typedef struct {
	int forks;
	int hung;               /* killed at the deadline */
	int failed;             /* exited, but not 0 */
	int fork_errors;
	long lookups;           /* by the threads meanwhile */
	long thread_failures;
	long long ms;
} stress_t;

/* Wait at most timeout_ms for pid (a pidfd, so no polling interval slows a
 * thousand short waits down); its status, or -1 after killing it. */
static int
child_wait_fast(pid_t pid, int timeout_ms)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		return child_wait(pid, timeout_ms);
	struct pollfd p = { pfd, POLLIN, 0 };
	long long deadline = portq__clock_ms() + timeout_ms;
	int status = -1;
	for (;;) {
		long long left = deadline - portq__clock_ms();
		if (left <= 0)
			break;
		if (poll(&p, 1, (int)left) > 0)
			break;
	}
	close(pfd);
	if (waitpid(pid, &status, WNOHANG) == pid)
		return status;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* n forks under N_THREADS threads that call fn without pause. */
static void
stress_run(byport_fn fn, int n, stress_t *s)
{
	memset(s, 0, sizeof(*s));
	atomic_int stop = 0;
	worker_t w[N_THREADS];
	pthread_t t[N_THREADS];
	/* The main thread fills the cache with the hot ports first, so that
	 * the threads that look them up hit from the start (and, under
	 * AddressSanitizer, allocate nothing); it has state of its own too. */
	for (unsigned p = 1000; p < 1000 + HOT_PORTS; p++)
		(void)lookup_right(fn, p);
	(void)lookup_right(fn, SSH_PORT);
	for (int i = 0; i < N_THREADS; i++) {
		w[i] = (worker_t){ fn, i, &stop, 0, 0 };
		if (pthread_create(&t[i], NULL, worker_run, &w[i]) != 0) {
			s->fork_errors = -1;
			atomic_store(&stop, 1);
			for (int j = 0; j < i; j++)
				pthread_join(t[j], NULL);
			return;
		}
	}
	usleep(100 * 1000);     /* the threads get going, the cache fills */
	long long start = portq__clock_ms();
	for (int i = 0; i < n && s->hung < HUNG_STOP; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			s->fork_errors++;
			continue;
		}
		if (pid == 0)
			_exit(child_run(fn, i));
		s->forks++;
		int status = child_wait_fast(pid, CHILD_DEADLINE_MS);
		if (status < 0)
			s->hung++;
		else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			s->failed++;
	}
	s->ms = portq__clock_ms() - start;
	atomic_store(&stop, 1);
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(t[i], NULL);
		s->lookups += w[i].lookups;
		s->thread_failures += w[i].failures;
	}
}

static int
forks_wanted(void)
{
	const char *v = getenv("PORTQ_FORK_STRESS");
	int n = v != NULL ? atoi(v) : 0;
	return n > 0 ? n : FORKS_DEFAULT;
}

static void
stress_check(const char *how, const stress_t *s, int n)
{
	fprintf(stderr, "fork stress (%s): %d forks in %lld ms, %d hung, %d failed, "
	        "%ld lookups by %d threads meanwhile (%ld failed)\n", how, s->forks, s->ms,
	        s->hung, s->failed, s->lookups, N_THREADS, s->thread_failures);
	ck_assert_msg(s->fork_errors == 0, "%s: %d forks failed", how, s->fork_errors);
	ck_assert_msg(s->hung == 0, "%s: %d of %d children hung (killed after %d ms)", how,
	              s->hung, s->forks, CHILD_DEADLINE_MS);
	ck_assert_msg(s->failed == 0, "%s: %d of %d children got a wrong answer", how,
	              s->failed, s->forks);
	ck_assert_int_eq(s->forks, n);
	ck_assert_int_eq(s->thread_failures, 0);
	/* The threads did run while the children were forked. */
	ck_assert_int_gt(s->lookups, n);
}

/* ---- the side: a private mount namespace, then the stress run ------------ */

/*
 * A side, run as `test_fork --side HOW CONF NSSWITCH N` (HOW "direct" or
 * "nss"; NSSWITCH "-" for direct): its own mount namespace with CONF
 * over /etc/portq.conf; for "nss" also NSSWITCH over /etc/nsswitch.conf
 * and nscd's socket hidden (LD_LIBRARY_PATH names the module's folder);
 * then the stress run. One line "RESULT forks hung failed fork_errors
 * lookups thread_failures ms", or "ERROR ..." when the set-up failed.
 */
static int
side_run(const char *how, const char *conf, const char *nsswitch, int n)
{
	FILE *report = stdout;
	int nss = strcmp(how, "nss") == 0;
	/* The configuration first: where /etc/portq.conf is missing, /etc
	 * gets an overlay (mount_ns_place), which must not hide the binds. */
	if (mount_ns_enter(report, "test_fork") < 0 ||
	    mount_ns_place(conf, PORTQ_CLIENT_CONFIG_FILE, report) < 0)
		return 3;
	if (nss) {
		if (mount_ns_bind(nsswitch, "/etc/nsswitch.conf", report) < 0)
			return 3;
		const char *hide[] = { "/var/run/nscd/socket", "/run/nscd/socket" };
		for (size_t i = 0; i < sizeof(hide) / sizeof(hide[0]); i++)
			if (access(hide[i], F_OK) == 0 &&
			    mount_ns_bind("/dev/null", hide[i], report) < 0)
				return 3;
	}
	stress_t s;
	stress_run(nss ? glibc_byport : portq_byport, n, &s);
	fprintf(report, "RESULT %d %d %d %d %ld %ld %lld\n", s.forks, s.hung, s.failed,
	        s.fork_errors, s.lookups, s.thread_failures, s.ms);
	return fflush(report) == 0 ? 0 : 4;
}

static const char *self_path = "/proc/self/exe";

/* A temporary file holding text; its name in path (a mkstemp template). */
static void
temp_write(char *path, const char *text)
{
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	size_t len = strlen(text);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* Run a side (HOW "direct" or "nss") and check what it reports. */
static void
side_check(const char *how, const char *what)
{
	int n = forks_wanted();
	int nss = strcmp(how, "nss") == 0;
	char conf[] = "/tmp/test_fork_conf.XXXXXX";
	char nsswitch[] = "/tmp/test_fork_nsswitch.XXXXXX";
	temp_write(conf, CLIENT_CONF);
	if (nss)
		temp_write(nsswitch, "services: portq\n");
	char out[] = "/tmp/test_fork_out.XXXXXX";
	int ofd = mkstemp(out);
	ck_assert_int_ge(ofd, 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(ofd, STDOUT_FILENO);
		if (nss)
			setenv("LD_LIBRARY_PATH", NSS_PORTQ_DIR ":" PORTQ_LIB_DIR, 1);
		char count[16];
		snprintf(count, sizeof(count), "%d", n);
		execl(self_path, "test_fork", "--side", how, conf, nss ? nsswitch : "-", count,
		      (char *)NULL);
		_exit(127);
	}
	close(ofd);
	/* Every child of the side is bounded; so is the side. */
	int status = child_wait(pid, 120000);
	unlink(conf);
	if (nss)
		unlink(nsswitch);
	FILE *f = fopen(out, "r");
	unlink(out);
	ck_assert_ptr_nonnull(f);
	char text[512] = "";
	if (fgets(text, sizeof(text), f) == NULL)
		text[0] = '\0';
	fclose(f);
	ck_assert_msg(strncmp(text, "ERROR ", 6) != 0, "%s side could not run: %s", how,
	              text + 6);
	ck_assert_msg(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "%s side failed (wait status %d): %s", how, status, text);
	stress_t s;
	memset(&s, 0, sizeof(s));
	ck_assert_msg(sscanf(text, "RESULT %d %d %d %d %ld %ld %lld", &s.forks, &s.hung,
	                     &s.failed, &s.fork_errors, &s.lookups, &s.thread_failures,
	                     &s.ms) == 7, "%s side said: %s", how, text);
	stress_check(what, &s, n);
}

START_TEST(fork_direct)
{
	side_check("direct", "portq_getservbyport_r");
}
END_TEST

/* ---- through glibc and the NSS module ------------------------------------- */

START_TEST(fork_through_nss)
{
	side_check("nss", "glibc getservbyport_r, services: portq");
}
END_TEST

static Suite *
fork_suite(void)
{
	Suite *s = suite_create("fork");
	TCase *tc = tcase_create("stress");
	tcase_set_timeout(tc, 180);
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, fork_direct);
	tcase_add_test(tc, fork_through_nss);
	suite_add_tcase(s, tc);
	return s;
}

/* Run again by a test as the other side (argv[1]), or as itself. */
static int
fork_role(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "--side") == 0)
		return side_run(argv[2], argv[3], argv[4], atoi(argv[5]));
	if (argc > 0 && strchr(argv[0], '/') != NULL)
		self_path = argv[0];
	return -1;
}

const check_suite_t check_suite = { .suite = fork_suite, .role = fork_role };
