/*
 * mount_ns.c -- a private mount namespace for a test's child (see
 * mount_ns.h).
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "mount_ns.h"

/* The kernel ignores the type of these mounts; "none" rather than NULL
 * keeps valgrind, run with --trace-children, from flagging it. */

int
mount_ns_enter(FILE *report, const char *who)
{
	if (unshare(CLONE_NEWNS) < 0) {
		int err = errno;
		fprintf(report, "ERROR unshare(CLONE_NEWNS): %s", strerror(err));
		if (err == EPERM)
			fprintf(report, " -- %s needs root (CAP_SYS_ADMIN) for a private "
			        "mount namespace", who);
		fprintf(report, "\n");
		return -1;
	}
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(report, "ERROR making / private: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

int
mount_ns_bind(const char *src, const char *dst, FILE *report)
{
	struct stat a, b;
	if (mount(src, dst, "none", MS_BIND, NULL) < 0) {
		fprintf(report, "ERROR bind-mounting %s over %s: %s\n", src, dst,
		        strerror(errno));
		return -1;
	}
	if (stat(src, &a) < 0 || stat(dst, &b) < 0 || a.st_ino != b.st_ino ||
	    a.st_dev != b.st_dev) {
		fprintf(report, "ERROR %s is not %s after the bind mount\n", dst, src);
		return -1;
	}
	return 0;
}
