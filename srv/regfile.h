/*
 * regfile.h -- reading one registry file whole, without ever waiting on
 * it: what reg_builder_load() (format.h) reads before a parser sees it.
 */
#ifndef PORTQ_REGFILE_H
#define PORTQ_REGFILE_H

#include <stddef.h>
#include <stdint.h>

#include "registry.h"

/*
 * Read the file at `path` into a new buffer, *out (the caller frees it)
 * of *out_len bytes. It is opened non-blocking (a FIFO opens at once
 * instead of waiting for a writer, and is then refused), only a regular
 * file is read, never more than max_bytes (0: REG_MAX_BYTES_DEFAULT; a
 * file that keeps growing is refused, not chased), and never once
 * portq__clock_ms() has reached deadline_ms (0: none). A file whose size
 * or time changed while it was read is refused too: what was read is no
 * single version of it.
 *
 * PORTQ_OK, or PORTQ_EIO (cannot be read, or no regular file) /
 * PORTQ_EPARSE (too large) / PORTQ_ETIMEDOUT / PORTQ_EAGAIN (changed
 * while read) / PORTQ_ENOMEM, with err saying "path: reason".
 */
int regfile_read(const char *path, size_t max_bytes, uint64_t deadline_ms,
                 char **out, size_t *out_len, reg_error_t *err);

#endif /* PORTQ_REGFILE_H */
