/*
 * mount_ns.c -- a private mount namespace for a test's child (see
 * mount_ns.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

/* An overlay over `folder` whose upper layer is a fresh tmpfs: files can
 * be made in it here and nowhere else. The tmpfs is mounted on a
 * temporary folder, which is detached once the overlay holds it and then
 * removed, so that nothing is left behind in /tmp. */
static int
overlay_folder(const char *folder, FILE *report)
{
	char tmp[] = "/tmp/portq-mount-ns.XXXXXX", upper[64], work[64], opts[PATH_MAX + 160];
	if (mkdtemp(tmp) == NULL) {
		fprintf(report, "ERROR mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	int rc = -1;
	if (mount("none", tmp, "tmpfs", 0, "mode=0755") < 0) {
		fprintf(report, "ERROR tmpfs on %s: %s\n", tmp, strerror(errno));
		rmdir(tmp);
		return -1;
	}
	snprintf(upper, sizeof(upper), "%s/upper", tmp);
	snprintf(work, sizeof(work), "%s/work", tmp);
	snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", folder, upper, work);
	if (mkdir(upper, 0755) < 0 || mkdir(work, 0755) < 0)
		fprintf(report, "ERROR making %s: %s\n", upper, strerror(errno));
	else if (mount("overlay", folder, "overlay", 0, opts) < 0)
		fprintf(report, "ERROR overlay over %s: %s\n", folder, strerror(errno));
	else
		rc = 0;
	umount2(tmp, MNT_DETACH);
	rmdir(tmp);
	return rc;
}

int
mount_ns_place(const char *src, const char *dst, FILE *report)
{
	if (access(dst, F_OK) < 0) {
		char folder[PATH_MAX];
		snprintf(folder, sizeof(folder), "%s", dst);
		char *slash = strrchr(folder, '/');
		if (slash == NULL || slash == folder) {
			fprintf(report, "ERROR %s: not a file in a folder below /\n", dst);
			return -1;
		}
		*slash = '\0';
		if (overlay_folder(folder, report) < 0)
			return -1;
		int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(report, "ERROR making %s in the overlay: %s\n", dst, strerror(errno));
			return -1;
		}
		close(fd);
	}
	return mount_ns_bind(src, dst, report);
}
