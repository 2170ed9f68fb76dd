/*
 * hung_fs.c -- a FUSE file system that can stop answering (see hung_fs.h).
 *
 * The protocol is the kernel's own (<linux/fuse.h>): each request is a
 * fuse_in_header and an opcode's body read from /dev/fuse; each answer a
 * fuse_out_header, with the request's `unique`, and a body written back.
 * Only what a reader of one file needs is answered; anything else gets
 * ENOSYS, which the kernel takes as "not supported" and works around.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hung_fs.h"

#define ROOT_ID 1
#define FILE_ID 2
#define BUF_LEN (64 * 1024 + 4096)    /* max_write 4096 fits with room */

struct hung_fs {
	char dir[256], name[128];
	char *data;
	size_t len;
	int dev, stop[2];
	pthread_t thread;
	int hung;                          /* atomic */
};

static void
reply(hung_fs_t *fs, uint64_t unique, int error, const void *body, size_t n)
{
	struct fuse_out_header h = { .len = (uint32_t)(sizeof(h) + n), .error = error,
	                             .unique = unique };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)body, n } };
	/* ENOENT here means the request was interrupted meanwhile: fine. */
	(void)!writev(fs->dev, iov, body != NULL && n > 0 ? 2 : 1);
}

static void
fill_attr(const hung_fs_t *fs, uint64_t id, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = id;
	a->nlink = id == ROOT_ID ? 2 : 1;
	a->mode = id == ROOT_ID ? S_IFDIR | 0755 : S_IFREG | 0444;
	a->size = id == ROOT_ID ? 0 : fs->len;
	a->blocks = (a->size + 511) / 512;
	a->blksize = 4096;
}

static void
serve(hung_fs_t *fs, const struct fuse_in_header *in, const void *body)
{
	switch (in->opcode) {
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		return;                          /* these take no answer */
	case FUSE_INIT: {
		const struct fuse_init_in *i = body;
		struct fuse_init_out o = { .major = FUSE_KERNEL_VERSION,
			.minor = i->minor < FUSE_KERNEL_MINOR_VERSION ? i->minor :
			         FUSE_KERNEL_MINOR_VERSION,
			.max_readahead = i->max_readahead, .max_write = 4096,
			.max_background = 4, .congestion_threshold = 3 };
		reply(fs, in->unique, 0, &o, sizeof(o));
		return;
	}
	case FUSE_LOOKUP: {
		if (in->nodeid != ROOT_ID || strcmp(body, fs->name) != 0) {
			reply(fs, in->unique, -ENOENT, NULL, 0);
			return;
		}
		struct fuse_entry_out o = { .nodeid = FILE_ID, .generation = 1 };
		fill_attr(fs, FILE_ID, &o.attr);
		reply(fs, in->unique, 0, &o, sizeof(o));
		return;
	}
	case FUSE_GETATTR: {
		struct fuse_attr_out o = { 0 };
		fill_attr(fs, in->nodeid, &o.attr);
		reply(fs, in->unique, 0, &o, sizeof(o));
		return;
	}
	case FUSE_OPEN: {
		/* Direct I/O: every read comes here, none from the page cache. */
		struct fuse_open_out o = { .fh = 1, .open_flags = FOPEN_DIRECT_IO };
		reply(fs, in->unique, in->nodeid == FILE_ID ? 0 : -EISDIR, &o, sizeof(o));
		return;
	}
	case FUSE_READ: {
		const struct fuse_read_in *r = body;
		size_t off = r->offset < fs->len ? (size_t)r->offset : fs->len;
		size_t n = fs->len - off < r->size ? fs->len - off : r->size;
		reply(fs, in->unique, 0, fs->data + off, n);
		return;
	}
	case FUSE_FLUSH:
	case FUSE_RELEASE:
		reply(fs, in->unique, 0, NULL, 0);
		return;
	default:
		reply(fs, in->unique, -ENOSYS, NULL, 0);
		return;
	}
}

/*
 * Once hung, the thread stops reading requests: they stay queued in the
 * kernel, where whoever made them waits, killably (a request read and
 * never answered would be waited for uninterruptibly, and its process
 * could not even exit).
 */
static void *
serve_thread(void *arg)
{
	hung_fs_t *fs = arg;
	char *buf = malloc(BUF_LEN);
	for (;;) {
		int hung = __atomic_load_n(&fs->hung, __ATOMIC_ACQUIRE);
		struct pollfd p[2] = { { fs->stop[0], POLLIN, 0 }, { fs->dev, POLLIN, 0 } };
		if (poll(p, hung ? 1 : 2, hung ? -1 : 50) < 0 && errno != EINTR)
			break;
		if (p[0].revents != 0)
			break;
		if (hung || !(p[1].revents & POLLIN)) {
			if (p[1].revents & (POLLERR | POLLHUP | POLLNVAL))
				break;
			continue;
		}
		ssize_t got = read(fs->dev, buf, BUF_LEN);
		if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == ENOENT))
			continue;
		if (got < (ssize_t)sizeof(struct fuse_in_header))
			break;                       /* ENODEV: unmounted */
		serve(fs, (const void *)buf, buf + sizeof(struct fuse_in_header));
	}
	free(buf);
	return NULL;
}

hung_fs_t *
hung_fs_mount(const char *dir, const char *name, const void *data, size_t len,
              char *why, size_t n)
{
	hung_fs_t *fs = calloc(1, sizeof(*fs));
	if (fs == NULL || (fs->data = malloc(len + 1)) == NULL) {
		snprintf(why, n, "out of memory");
		free(fs);
		return NULL;
	}
	memcpy(fs->data, data, len);
	fs->len = len;
	snprintf(fs->dir, sizeof(fs->dir), "%s", dir);
	snprintf(fs->name, sizeof(fs->name), "%s", name);
	fs->stop[0] = fs->stop[1] = -1;
	fs->dev = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fs->dev < 0) {
		snprintf(why, n, "/dev/fuse: %s", strerror(errno));
		goto fail;
	}
	char opts[128];
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other",
	         fs->dev);
	if (mount("portq-hung", dir, "fuse.portq-hung", MS_NOSUID | MS_NODEV, opts) < 0) {
		snprintf(why, n, "mount fuse at %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (pipe2(fs->stop, O_CLOEXEC) < 0 ||
	    pthread_create(&fs->thread, NULL, serve_thread, fs) != 0) {
		snprintf(why, n, "thread: %s", strerror(errno));
		umount2(dir, MNT_DETACH);
		goto fail;
	}
	return fs;
fail:
	if (fs->dev >= 0)
		close(fs->dev);
	if (fs->stop[0] >= 0) {
		close(fs->stop[0]);
		close(fs->stop[1]);
	}
	free(fs->data);
	free(fs);
	return NULL;
}

void
hung_fs_hang(hung_fs_t *fs)
{
	__atomic_store_n(&fs->hung, 1, __ATOMIC_RELEASE);
	usleep(100 * 1000);                /* the thread's poll sees it within 50 ms */
}

int
hung_fs_pending(hung_fs_t *fs)
{
	struct pollfd p = { fs->dev, POLLIN, 0 };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

void
hung_fs_release(hung_fs_t *fs)
{
	if (fs == NULL)
		return;
	(void)!write(fs->stop[1], "x", 1);
	pthread_join(fs->thread, NULL);
	/* The last descriptor of the connection closing aborts it: every
	 * request still waiting fails, and the mount answers ENOTCONN. */
	close(fs->dev);
	umount2(fs->dir, MNT_DETACH);
	close(fs->stop[0]);
	close(fs->stop[1]);
	free(fs->data);
	free(fs);
}
