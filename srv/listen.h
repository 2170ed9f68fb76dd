/*
 * listen.h -- binding portqd's listen addresses, and systemd's sockets.
 */
#ifndef PORTQ_LISTEN_H
#define PORTQ_LISTEN_H

#include "worker.h"

/*
 * Bind worker w's UDP and TCP sockets on `text` (ADDR:PORT), the idx-th
 * listen address, and start serving them. Port 0 takes the port the
 * first worker's TCP socket got (s->ports[idx]), for every worker and
 * for UDP. Returns 0, or a negative libuv error after logging it.
 */
int listen_addr(worker_t *w, const char *text, int idx);

/*
 * Serve the sockets systemd handed over (LISTEN_PID, LISTEN_FDS from
 * fd 3) on worker w, UDP or TCP as each is. Returns how many were taken
 * (0: none handed over), or a negative libuv error.
 */
int listen_activated(worker_t *w);

#endif /* PORTQ_LISTEN_H */
