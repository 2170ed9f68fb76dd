/*
 * regfile.c -- reading one registry file whole, without ever waiting on
 * it (see regfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "regfile.h"

static const char *
file_type_name(mode_t m)
{
	return S_ISDIR(m) ? "a folder" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ?
	       "a character device" : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ?
	       "a socket" : "not a regular file";
}

int
regfile_read(const char *path, size_t max_bytes, uint64_t deadline_ms, char **out,
             size_t *out_len, reg_error_t *err)
{
	size_t max = max_bytes ? max_bytes : REG_MAX_BYTES_DEFAULT;
	char *data = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		goto io_error;
	struct stat st, after;
	if (fstat(fd, &st) != 0)
		goto io_error;
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err->text, sizeof(err->text), "%s: not a regular file (%s)",
		         path, file_type_name(st.st_mode));
		return PORTQ_EIO;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		snprintf(err->text, sizeof(err->text), "%s: file of %lld bytes is larger "
		         "than registry-max-bytes (%zu)", path, (long long)st.st_size, max);
		return PORTQ_EPARSE;
	}
	/* Read to the end rather than trusting st_size, but one byte past
	 * the limit at most: that byte says the file grew past it. */
	size_t cap = (size_t)st.st_size + 1, len = 0;
	if ((data = malloc(cap)) == NULL)
		goto nomem;
	for (;;) {
		if (deadline_ms != 0 && (uint64_t)portq__clock_ms() >= deadline_ms) {
			free(data);
			close(fd);
			snprintf(err->text, sizeof(err->text), "%s: reading took too long "
			         "(%zu bytes read; reload-timeout)", path, len);
			return PORTQ_ETIMEDOUT;
		}
		if (len == cap) {
			if (len > max)
				break;
			size_t want = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *grown = realloc(data, want);
			if (grown == NULL)
				goto nomem;
			data = grown;
			cap = want;
		}
		ssize_t got = read(fd, data + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			goto io_error;
		if (got == 0)
			break;
		len += (size_t)got;
	}
	if (len > max) {
		free(data);
		close(fd);
		snprintf(err->text, sizeof(err->text), "%s: file grew past registry-max-bytes "
		         "(%zu) while being read", path, max);
		return PORTQ_EPARSE;
	}
	if (fstat(fd, &after) != 0)
		goto io_error;
	close(fd);
	fd = -1;
	if (after.st_size != st.st_size || after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
	    after.st_mtim.tv_nsec != st.st_mtim.tv_nsec || (off_t)len != after.st_size) {
		free(data);
		snprintf(err->text, sizeof(err->text), "%s: file changed while being read",
		         path);
		return PORTQ_EAGAIN;
	}
	*out = data;
	*out_len = len;
	return PORTQ_OK;
nomem:
	free(data);
	close(fd);
	snprintf(err->text, sizeof(err->text), "%s: out of memory", path);
	return PORTQ_ENOMEM;
io_error:
	{
		int e = errno;
		free(data);
		if (fd >= 0)
			close(fd);
		snprintf(err->text, sizeof(err->text), "%s: %s", path,
		         e == EAGAIN ? "read would block" : strerror(e));
	}
	return PORTQ_EIO;
}
