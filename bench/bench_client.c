/*
 * bench_client.c -- how long a service lookup by port takes through
 * libportq, against a running portqd on loopback, next to glibc reading
 * the same registry from /etc/services (and nscd, when it runs).
 *
 *   bench_client --server ADDR:PORT [--services FILE] [-n N]
 *
 * The ports: N (default 4000, at most what the cache holds) drawn at
 * random, fixed seed, from the assigned single-port records the server
 * lists. Each lookup is timed alone; the median and the 99th percentile
 * over the N are reported.
 *
 *   clock only       nothing between the two clock readings: what the
 *                    method adds to every figure below
 *   portq uncached   portq_getservbyport(port, "tcp") with the cache off:
 *                    the thread's default handle, one UDP round trip on
 *                    its kept socket, decoding
 *   portq handle     portq_query_port() on one handle, cache off: the
 *                    round trip and a full result
 *   portq cached     portq_getservbyport() after a first pass has filled
 *                    the cache (that pass's network work has left the CPU
 *                    caches cold)
 *   cached again     the same pass once more, right after
 *   cached 2 thr     the same from two threads at once, each over all N
 *                    ports (the cache's lock shared); 2N lookups
 *   glibc files      getservbyport() with FILE (`portq --services`) as
 *                    /etc/services and "services: files", in a private
 *                    mount namespace of this process (needs root)
 *   nscd             getservbyport() through an nscd of this run's own,
 *                    started in the same private namespace (so it reads
 *                    FILE as /etc/services, and its socket is private)
 *                    with only the services cache on, after two passes
 *                    have warmed it; "not measured" without
 *                    /usr/sbin/nscd (Debian's package nscd)
 *
 * bench/run-client-bench starts portqd, writes FILE and runs this.
 *
 *   bench_client --server ADDR:PORT --cached-only [-n N] [--passes P]
 *
 * only fills the cache and then runs P passes (default 100) of cached
 * lookups over the N ports in cached_passes(), untimed one by one, and
 * prints the time per lookup: a loop for profilers, e.g.
 *
 *   valgrind --tool=callgrind --toggle-collect=cached_passes \
 *       bench_client --server ADDR:PORT --cached-only --passes 10
 *
 * counts the instructions of N x P cached lookups and nothing else.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "portq.h"

#define SEED       0x706f727471ULL
#define N_DEFAULT  4000
#define N_MAX      4000      /* the cached pass must fit the cache (4096) */
#define PAGE       1000
#define MAX_PAGES  200

static double
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

typedef struct {
	double median, p99;
	size_t found;
} stats_t;

static stats_t
stats_of(double *t, size_t n, size_t found)
{
	qsort(t, n, sizeof(*t), cmp_double);
	stats_t s = { n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2,
	              t[(size_t)((double)(n - 1) * 0.99)], found };
	return s;
}

static void
report(const char *what, stats_t s, size_t n)
{
	printf("| %-15s | %9.3f | %9.3f | %5zu/%zu |\n", what, s.median, s.p99, s.found, n);
}

static uint64_t rng_state = SEED;

static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Ports of the assigned, named single-port tcp records the server lists. */
static size_t
registry_ports(const char *server, unsigned *out, size_t max)
{
	portq_options_t o;
	memset(&o, 0, sizeof(o));
	o.servers = server;
	o.config_file = "";
	o.tcp = 1;
	o.cache_ttl = PORTQ_CACHE_OFF;
	portq_client_t *c;
	if (portq_client_new(&c, &o) < 0)
		return 0;
	size_t n = 0;
	uint32_t offset = 0;
	for (int page = 0; page < MAX_PAGES; page++) {
		portq_result_t *r;
		int rc = portq_query_range(c, 0, 65535, "tcp", offset, PAGE, &r);
		if (rc < 0) {
			fprintf(stderr, "bench_client: %s: %s\n", portq_strerror(rc),
			        portq_client_error(c));
			break;
		}
		for (size_t i = 0; i < r->n_entries && n < max; i++) {
			const portq_entry_t *e = &r->entries[i];
			if (e->assigned && e->name[0] && e->has_port && e->port_lo == e->port_hi &&
			    (n == 0 || out[n - 1] != e->port_lo))
				out[n++] = e->port_lo;
		}
		offset += (uint32_t)r->n_entries;
		int more = r->more && r->n_entries > 0;
		portq_result_free(r);
		if (!more)
			break;
	}
	portq_client_free(c);
	return n;
}

typedef struct servent *(*byport_fn)(int port, const char *proto);

/* The "clock only" row: a call that does nothing, kept out of line. */
__attribute__((noinline)) static struct servent *
byport_nothing(int port, const char *proto)
{
	__asm__ volatile("" : : "r"(port), "r"(proto) : "memory");
	return (struct servent *)(uintptr_t)1;
}

static stats_t
time_byport(byport_fn fn, const unsigned *ports, size_t n, double *t)
{
	size_t found = 0;
	for (size_t i = 0; i < n; i++) {
		double t0 = now_us();
		struct servent *se = fn((int)htons((uint16_t)ports[i]), "tcp");
		t[i] = now_us() - t0;
		found += se != NULL;
	}
	return stats_of(t, n, found);
}

typedef struct {
	const unsigned *ports;
	size_t n;
	double *t;
	size_t found;
} pass_t;

static void *
pass_run(void *arg)
{
	pass_t *p = arg;
	stats_t st = time_byport(portq_getservbyport, p->ports, p->n, p->t);
	p->found = st.found;
	return NULL;
}

/* The cached pass from two threads at once; t holds 2n samples. */
static stats_t
time_two_threads(const unsigned *ports, size_t n, double *t)
{
	pass_t p[2] = { { ports, n, t, 0 }, { ports, n, t + n, 0 } };
	pthread_t th;
	if (pthread_create(&th, NULL, pass_run, &p[1]) != 0)
		return stats_of(t, 1, 0);
	pass_run(&p[0]);
	pthread_join(th, NULL);
	return stats_of(t, 2 * n, p[0].found + p[1].found);
}

static stats_t
time_handle(const char *server, const unsigned *ports, size_t n, double *t)
{
	portq_options_t o;
	memset(&o, 0, sizeof(o));
	o.servers = server;
	o.config_file = "";
	o.cache_ttl = PORTQ_CACHE_OFF;
	portq_client_t *c;
	size_t found = 0;
	if (portq_client_new(&c, &o) < 0)
		return stats_of(t, 1, 0);
	for (size_t i = 0; i < n; i++) {
		portq_result_t *r = NULL;
		double t0 = now_us();
		int rc = portq_query_port(c, ports[i], "tcp", &r);
		t[i] = now_us() - t0;
		found += rc == PORTQ_OK && r->n_entries > 0;
		portq_result_free(r);
	}
	portq_client_free(c);
	return stats_of(t, n, found);
}

/* P passes of cached lookups; a function of its own for --toggle-collect. */
__attribute__((noinline)) static size_t
cached_passes(const unsigned *ports, size_t n, long passes)
{
	size_t found = 0;
	for (long p = 0; p < passes; p++)
		for (size_t i = 0; i < n; i++)
			found += portq_getservbyport((int)htons((uint16_t)ports[i]), "tcp") != NULL;
	return found;
}

static int
cached_only(const unsigned *ports, size_t n, long passes)
{
	portq_cache_flush();
	for (size_t i = 0; i < n; i++)   /* fill it, outside cached_passes() */
		(void)portq_getservbyport((int)htons((uint16_t)ports[i]), "tcp");
	double t0 = now_us();
	size_t found = cached_passes(ports, n, passes);
	double t = now_us() - t0;
	printf("%ld passes of %zu cached lookups: %.1f ns per lookup, %zu found\n", passes, n,
	       t * 1000.0 / ((double)n * (double)passes), found);
	return found == n * (size_t)passes ? 0 : 1;
}

/* FILE over /etc/services and "services: files", for this process only. */
static int
namespace_enter(const char *services)
{
	char nss[] = "/tmp/bench_client_nsswitch.XXXXXX";
	int fd = mkstemp(nss);
	const char line[] = "services: files\n";
	if (fd < 0 || write(fd, line, sizeof(line) - 1) != (ssize_t)sizeof(line) - 1) {
		perror("bench_client: nsswitch");
		return -1;
	}
	close(fd);
	int rc = -1;
	if (unshare(CLONE_NEWNS) < 0)
		fprintf(stderr, "bench_client: unshare: %s%s\n", strerror(errno),
		        errno == EPERM ? " (the glibc measurement needs root)" : "");
	else if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	         mount(services, "/etc/services", NULL, MS_BIND, NULL) < 0 ||
	         mount(nss, "/etc/nsswitch.conf", NULL, MS_BIND, NULL) < 0)
		fprintf(stderr, "bench_client: mount: %s\n", strerror(errno));
	else
		rc = 0;
	unlink(nss);      /* the bind mount holds the file */
	return rc;
}

/*
 * Start nscd inside the private namespace (namespace_enter() first), on a
 * private /run/nscd, caching services only. Its pid, or -1.
 */
static pid_t
nscd_start(void)
{
	static const char conf[] =
		"enable-cache passwd no\nenable-cache group no\nenable-cache hosts no\n"
		"enable-cache netgroup no\nenable-cache services yes\n"
		"positive-time-to-live services 28800\nnegative-time-to-live services 20\n"
		"suggested-size services 20011\ncheck-files services no\n"
		"persistent services no\nshared services yes\n"
		"max-db-size services 67108864\n";  /* its file lives in /run/nscd */
	char path[] = "/tmp/bench_client_nscd.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, conf, sizeof(conf) - 1) != (ssize_t)sizeof(conf) - 1) {
		perror("bench_client: nscd.conf");
		return -1;
	}
	close(fd);
	mkdir("/run/nscd", 0755);
	if (mount("tmpfs", "/run/nscd", "tmpfs", 0, "size=128m") < 0) {
		perror("bench_client: mount /run/nscd");
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		execl("/usr/sbin/nscd", "nscd", "-F", "-f", path, (char *)NULL);
		_exit(127);
	}
	struct stat st;
	for (int i = 0; i < 100 && stat("/run/nscd/socket", &st) != 0; i++)
		usleep(50 * 1000);
	unlink(path);
	if (pid < 0 || stat("/run/nscd/socket", &st) != 0) {
		fprintf(stderr, "bench_client: nscd did not start\n");
		if (pid > 0)
			kill(pid, SIGTERM);
		return -1;
	}
	return pid;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "server",   required_argument, NULL, 's' },
		{ "services", required_argument, NULL, 'f' },
		{ "lookups",  required_argument, NULL, 'n' },
		{ "cached-only", no_argument,    NULL, 'c' },
		{ "passes",   required_argument, NULL, 'p' },
		{ "nscd-child", no_argument,     NULL, 'N' },
		{ NULL, 0, NULL, 0 }
	};
	const char *server = NULL, *services = NULL;
	long n = N_DEFAULT, passes = 100;
	int ch, only = 0;
	while ((ch = getopt_long(argc, argv, "s:f:n:cp:", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': server = optarg; break;
		case 'f': services = optarg; break;
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'c': only = 1; break;
		case 'p': passes = strtol(optarg, NULL, 10); break;
		case 'N': only = 2; break;
		default:  goto usage;
		}
	}
	if (server == NULL || n < 100 || n > N_MAX || passes < 1)
		goto usage;

	static unsigned all[65536], ports[N_MAX];
	size_t n_all = registry_ports(server, all, 65536);
	if (n_all == 0) {
		fprintf(stderr, "bench_client: no ports from %s\n", server);
		return 1;
	}
	for (long i = 0; i < n; i++)
		ports[i] = all[rng_next() % n_all];
	double *t = malloc(2 * (size_t)n * sizeof(*t));
	if (t == NULL)
		return 1;
	setenv("PORTQ_SERVER", server, 1);
	if (only == 2) {
		/* Run by the parent with its nscd up: two passes fill nscd's
		 * cache and map it into this process; the third is timed. */
		time_byport(getservbyport, ports, (size_t)n, t);
		time_byport(getservbyport, ports, (size_t)n, t);
		report("nscd", time_byport(getservbyport, ports, (size_t)n, t), (size_t)n);
		free(t);
		return 0;
	}
	if (only) {
		free(t);
		return cached_only(ports, (size_t)n, passes);
	}
	printf("%ld lookups by port (tcp) of ports drawn from %zu registry ports; "
	       "times in microseconds\n\n", n, n_all);
	printf("| lookup          |    median |       p99 |     found |\n");
	printf("|-----------------|-----------|-----------|-----------|\n");

	report("clock only", time_byport(byport_nothing, ports, (size_t)n, t), (size_t)n);
	portq_cache_set_ttl(0);
	report("portq uncached", time_byport(portq_getservbyport, ports, (size_t)n, t),
	       (size_t)n);
	report("portq handle", time_handle(server, ports, (size_t)n, t), (size_t)n);
	portq_cache_set_ttl(PORTQ_CLIENT_CACHE_TTL);
	portq_cache_flush();
	time_byport(portq_getservbyport, ports, (size_t)n, t);     /* fill it */
	report("portq cached", time_byport(portq_getservbyport, ports, (size_t)n, t),
	       (size_t)n);
	report("cached again", time_byport(portq_getservbyport, ports, (size_t)n, t),
	       (size_t)n);
	report("cached 2 thr", time_two_threads(ports, (size_t)n, t), 2 * (size_t)n);

	struct stat st;
	if (services == NULL || namespace_enter(services) < 0) {
		const char *why = services == NULL ? "no --services FILE" : "no mount namespace";
		printf("| %-15s | not measured: %s |\n", "glibc files", why);
		printf("| %-15s | not measured: %s |\n", "nscd", why);
		free(t);
		return 0;
	}
	report("glibc files", time_byport(getservbyport, ports, (size_t)n, t), (size_t)n);
	pid_t nscd = stat("/usr/sbin/nscd", &st) == 0 ? nscd_start() : -1;
	if (nscd > 0) {
		/* A fresh process: this one's glibc has given up on nscd (and
		 * on its shared cache) after the failed connects above. */
		fflush(stdout);
		pid_t child = fork();
		if (child == 0) {
			char nbuf[32];
			snprintf(nbuf, sizeof(nbuf), "%ld", n);
			execl("/proc/self/exe", argv[0], "--server", server, "-n", nbuf,
			      "--nscd-child", (char *)NULL);
			_exit(127);
		}
		waitpid(child, NULL, 0);
		kill(nscd, SIGTERM);
		waitpid(nscd, NULL, 0);
	} else {
		printf("| %-15s | not measured: %s |\n", "nscd",
		       stat("/usr/sbin/nscd", &st) == 0 ? "nscd did not start"
		                                        : "nscd is not installed");
	}
	free(t);
	return 0;
usage:
	fprintf(stderr, "usage: bench_client --server ADDR:PORT [--services FILE] "
	                "[-n N (100-%d)]\n"
	                "       bench_client --server ADDR:PORT --cached-only [-n N] "
	                "[--passes P]\n", N_MAX);
	return 2;
}
