/*
 * fork.c -- libportq's locks and kept state across fork() (see fork.h).
 *
 * Two ways were open. A generation check (each call compares a counter
 * bumped in the child, and resets what it guards without taking the
 * lock) never makes fork() wait; but the data under a lock that another
 * thread held mid-update is torn in the child, so the reset has to throw
 * it away unread: the cache (and its warm answers, which a pre-forking
 * server's workers would use) and the list of the threads' handles,
 * whose kept sockets then stay open in the child. And the reset itself
 * must happen before a second thread of the child can see the old
 * generation, which only a fork handler guarantees.
 *
 * So fork handlers, as glibc does for malloc: `prepare` takes every lock
 * of libportq (the configuration's, then the cache's: the one order any
 * code that takes both must follow), so no other thread is inside either
 * when the process is copied; `parent` releases them; `child`, running
 * while the child still has one thread, sets the locks up afresh and
 * drops the state of the threads that did not come along (closing their
 * sockets, as theirs alone). The child keeps a whole cache. What fork()
 * pays: two uncontended locks, or the wait for a thread to leave a
 * critical section, which is never longer than a cache eviction or a
 * configuration swap (the file is read outside the lock) and never waits
 * for the network or a file.
 *
 * Registered when the library is loaded (a constructor): a handler
 * registered lazily could miss a fork that comes while the first lookup
 * holds a lock. glibc removes the handlers if the library is unloaded
 * (dlclose of the NSS module).
 */
#include <pthread.h>

#include "cache.h"
#include "client.h"
#include "default.h"
#include "fork.h"

static void
fork_prepare(void)
{
	default_fork_prepare();
	cache_fork_prepare();
}

static void
fork_parent(void)
{
	cache_fork_parent();
	default_fork_parent();
}

static void
fork_child(void)
{
	client_fork_child();          /* kept sockets are the parent's too */
	cache_fork_child();
	default_fork_child();
}

__attribute__((constructor)) static void
fork_watch(void)
{
	/* Only ENOMEM can fail it, at load: then a child of a threaded
	 * program may hang as before; nothing else changes. */
	(void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}
