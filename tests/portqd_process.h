/*
 * portqd_process.h -- the real portqd (PORTQD_PATH) as a child of a test,
 * for the suites that talk to it over loopback (the client suites,
 * test_parity, test_nss, test_check_portq); and a bounded wait for any
 * child.
 */
#ifndef PORTQ_TESTS_PORTQD_PROCESS_H
#define PORTQ_TESTS_PORTQD_PROCESS_H

#include <sys/types.h>

typedef struct {
	pid_t pid;                  /* 0 when not running */
	unsigned port;              /* the port it serves on */
	char server[64];            /* "HOST:PORT" to give libportq, -H, --server */
	char log[64];               /* its stderr, a temporary file */
} portqd_process_t;

/*
 * Start portqd with `args` (NULL-terminated, e.g. "--registry", PATH)
 * listening on `listen` ("127.0.0.1:0", "[::1]:0": an ephemeral port),
 * its stderr in a temporary file (not a pipe, which nobody would read).
 * Returns once it has logged both its port and "serving", within 30 s;
 * fails the calling test if it exits or is not serving by then.
 */
void portqd_process_start(portqd_process_t *d, const char *listen,
                          const char *const *args);

/*
 * SIGTERM, then wait at most 10 s; SIGKILL and reap if it is still
 * running. Removes the log. Its exit code (128 + the signal if killed by
 * one), or -1 if it did not exit in time or was not running.
 */
int portqd_process_stop(portqd_process_t *d);

/* Wait at most timeout_ms for the child pid; its wait status, or -1
 * after killing (SIGKILL) and reaping it. */
int child_wait(pid_t pid, int timeout_ms);

#endif /* PORTQ_TESTS_PORTQD_PROCESS_H */
