/*
 * utf8.h -- the one UTF-8 check, shared by the server (which refuses
 * registry text that is not UTF-8) and the client (whose JSON output must
 * stay JSON whatever a server sends). Protocol text is UTF-8 (protocol.md
 * section 13).
 */
#ifndef PORTQ_UTF8_H
#define PORTQ_UTF8_H

#include <stddef.h>

/*
 * The length of the longest prefix of s[0..n) that is well-formed UTF-8
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF):
 * n when all of it is, else the offset of the first byte that starts no
 * valid character. s may be NULL when n is 0.
 */
size_t portq_utf8_valid_prefix(const char *s, size_t n);

#endif /* PORTQ_UTF8_H */
