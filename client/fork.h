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

/*
 * Forks this process has seen: a counter that the child of every fork()
 * (not vfork(), not posix_spawn(), which exec at once) finds one higher
 * than its parent left it. A handle compares it with the value its kept
 * socket was opened under, so that it never writes into or reads from a
 * socket it shares with its parent. Never decreases; no system call.
 */
unsigned fork_generation(void);

#endif /* PORTQ_CLIENT_FORK_H */
