/*
 * hung_fs.h -- a file system that stops answering, as a hung network
 * mount does, for the suites that check portqd never waits on one
 * (test_reload_faults, test_registry_source).
 *
 * It is FUSE spoken directly on /dev/fuse (no libfuse), served from a
 * thread of the test: one read-only file under the mount point, read
 * without the page cache (direct I/O, no attribute caching), so that
 * every open and read reaches the thread. Once hung, the thread answers
 * nothing more: whoever opens, stats or reads the file waits in the
 * kernel (killably, as on an NFS mount whose server is gone) until
 * hung_fs_release() aborts the connection (the waiting call then fails
 * with ENOTCONN). Needs root and a private mount namespace
 * (unshare(CLONE_NEWNS), mount_ns_enter()), so nothing outside it sees
 * the mount.
 */
#ifndef PORTQ_TESTS_HUNG_FS_H
#define PORTQ_TESTS_HUNG_FS_H

#include <stddef.h>

typedef struct hung_fs hung_fs_t;

/*
 * Mount at `dir` (an existing, empty folder) a file system holding one
 * file, `name`, whose content is data[0..len) (copied). NULL when FUSE
 * cannot be used here, with the reason in why[0..n).
 */
hung_fs_t *hung_fs_mount(const char *dir, const char *name, const void *data,
                         size_t len, char *why, size_t n);

/* From now on answer nothing: every request waits until release. */
void hung_fs_hang(hung_fs_t *fs);

/* 1 when requests are waiting unanswered, else 0. */
int hung_fs_pending(hung_fs_t *fs);

/*
 * Abort the connection (every waiting request fails), stop the thread,
 * unmount (lazily) and free. NULL is ignored.
 */
void hung_fs_release(hung_fs_t *fs);

#endif /* PORTQ_TESTS_HUNG_FS_H */
