/*
 * worker.h -- what the modules of portqd's server share: the worker and
 * server structs, the connection and the UDP batch they hold, and the
 * sizes those are built with. Not for main.c or the tests: they use
 * server.h, the server's face, which this header does not include, so
 * that no module depends back on server.c.
 *
 * The modules, each over these structs:
 *   server.c   the life cycle: workers and their loops, signals, start
 *              and stop; every server_* function of server.h
 *   listen.c   binding the listen addresses, systemd's sockets
 *   udp.c      UDP: reading in batches, ACL and RRL, answering, sending
 *              with sendmmsg and GSO
 *   tcp.c      TCP: connections, frames, timeouts and connection limits
 *   reload.c   the registry served (counted, swapped), reloads, file watch
 *   stats.c    the counters summed over the workers, for INFO and SIGUSR1
 * The calls run one way: server.c -> listen.c -> udp.c, tcp.c ->
 * stats.c -> reload.c (and server.c -> each of them).
 */
#ifndef PORTQ_WORKER_H
#define PORTQ_WORKER_H

#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <uv.h>

#include "acl.h"
#include "answer.h"
#include "config.h"
#include "frame.h"
#include "prefix.h"
#include "registry.h"
#include "regload.h"
#include "rrl.h"

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define UDP_CHUNK       (64 * 1024)     /* libuv's recvmmsg slot size */
#define UDP_RECV_WIDTH  20              /* libuv's recvmmsg width */
#define UDP_BATCH       40              /* answers gathered for one send: what
                                           libuv reads per wakeup (it stops
                                           after 32 datagrams, two recvmmsg) */
#define UDP_QUEUE_MAX   (4 * 1024 * 1024) /* answers waiting for a full socket */

#ifndef SOL_UDP
#define SOL_UDP         17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT     103             /* linux/udp.h, Linux 4.18 */
#endif

/* A GSO send holds at most 64 segments and one IPv6 datagram's 65,487 bytes. */
_Static_assert(UDP_BATCH <= 64, "a batch must fit one GSO send");
_Static_assert(UDP_BATCH * PORTQ_UDP_MAX <= 65487, "a batch must fit one GSO send");

/* The same typedef as server.h's (C11 allows the repeat). */
typedef struct server server_t;

typedef struct shared_reg {
	registry_t *reg;
	int refs;                        /* atomic */
} shared_reg_t;

typedef struct worker worker_t;

/*
 * The counters a worker keeps beside answer_stats_t, each with its key in
 * INFO and in the SIGUSR1 line (stats.c), in the order they are reported.
 * Only the worker's thread writes them (STAT_ADD); any thread reads them
 * (STAT_GET). A counter added here is summed and reported everywhere.
 */
#define WORKER_COUNTERS(X) \
	X(udp_send_errors, "udp-send-errors") /* answers the kernel or the queue refused */ \
	X(udp_holds,       "udp-holds")       /* udp-hold waits */ \
	X(tcp_accepted,    "tcp-accepted") \
	X(tcp_refused,     "tcp-refused")     /* stopping, or no room could be made */ \
	X(tcp_open,        "tcp-open")        /* connections now: +1, -1 */ \
	X(tcp_idle_closed, "tcp-idle-closed") /* tcp-idle-timeout between queries */ \
	X(tcp_slow_closed, "tcp-slow-closed") /* tcp-read-timeout within a query */ \
	X(tcp_evicted,     "tcp-evicted")     /* closed to make room for a new one */ \
	X(tcp_retired,     "tcp-retired")     /* tcp-max-queries or tcp-max-lifetime */ \
	X(tcp_paused,      "tcp-paused")      /* reading paused: the prefix's tcp-rate spent */ \
	X(tcp_dropped,     "tcp-dropped")     /* accept failed: descriptors, memory */ \
	X(acl_refused,     "acl-refused")     /* UDP datagrams and TCP connections */

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
	int was_read;                    /* its first read callback has run */
	uint64_t born_iter;              /* the worker's `iterations` at accept */
	int paused;                      /* its prefix's tcp-rate is spent: not read until
	                                    the idle timer (conn_resume) fires */
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

	answer_stats_t stats;            /* the answering function's counters */
#define X(field, key) uint64_t field;
	WORKER_COUNTERS(X)               /* the worker's own (STAT_ADD, STAT_GET) */
#undef X
	rrl_t *rrl;
	rrl_t *tcp_rrl;                  /* tcp-rate: a token per TCP query, per prefix */
	conn_t *conns;
	uint64_t serve_seq;              /* orders connections by last service */
	uint64_t iterations;             /* loop iterations ended (the flush check counts) */
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

	worker_t *workers[CONFIG_MAX_WORKERS];
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

#endif /* PORTQ_WORKER_H */
