/*
 * fork.h -- libportq across fork(): what a child inherits from a parent
 * whose other threads may be inside libportq at that moment.
 *
 * The threads that held a lock do not exist in the child, so a lock they
 * held would stay held for ever there (on 71efc69 most children of a
 * program with four lookup threads hung on the cache's mutex). Handlers
 * registered with pthread_atfork() when the library is loaded take every
 * lock of libportq before fork() copies the process, release them in the
 * parent and set them up afresh in the child, where the state they guard
 * is whole (see fork.c for why this rather than a generation check).
 */
#ifndef PORTQ_CLIENT_FORK_H
#define PORTQ_CLIENT_FORK_H

/* The handlers are registered when the library is loaded (fork.c); they
 * call down into the cache, the default client and the handle core, and
 * nothing calls them. A handle's kept socket knows a fork by
 * client_forks() (client.h). */

#endif /* PORTQ_CLIENT_FORK_H */
