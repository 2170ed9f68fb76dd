/*
 * error.h -- the one error enum of portq, shared by every module.
 *
 * PORTQ_OK is zero and every failure is negative, so callers test "< 0".
 * The list is one X-macro so that the enum and portq_strerror() can never
 * drift apart (the same idea as libuv's UV_ERRNO_MAP).
 */
#ifndef PORTQ_ERROR_H
#define PORTQ_ERROR_H

#define PORTQ_ERROR_MAP(X)                                                   \
	X(OK,        0, "success")                                           \
	X(EINVAL,   -1, "invalid argument")                                  \
	X(ENOMEM,   -2, "out of memory")                                     \
	X(ESHORT,   -3, "message too short")                                 \
	X(ESPACE,   -4, "no space left in buffer")                           \
	X(EMAGIC,   -5, "not a portq message (bad magic or version)")        \
	X(EMALFORMED, -6, "malformed message")                               \
	X(EAGAIN,   -7, "need more bytes")                                   \
	X(ETOOBIG,  -8, "frame larger than the allowed maximum")             \
	X(EIO,      -9, "input/output error")                                \
	X(EPARSE,  -10, "malformed registry file")                           \
	X(ENOTFOUND, -11, "not found")                                       \
	X(ETIMEDOUT, -12, "timed out")                                       \
	X(EFORMAT, -13, "unrecognised registry file format")

typedef enum {
#define PORTQ_ERROR_ENUM(name, value, text) PORTQ_##name = (value),
	PORTQ_ERROR_MAP(PORTQ_ERROR_ENUM)
#undef PORTQ_ERROR_ENUM
} portq_error_t;

/*
 * Exported from libportq (built with -fvisibility=hidden), so the one
 * copy in the portq_proto archive is the library's API as well; portq.h
 * spells the same macro for the rest of the API.
 */
#ifndef PORTQ_EXPORT
#if defined(__GNUC__)
#define PORTQ_EXPORT __attribute__((visibility("default")))
#else
#define PORTQ_EXPORT
#endif
#endif

/* A static, human-readable text for an error code; never NULL. */
PORTQ_EXPORT const char *portq_strerror(int err);

#endif /* PORTQ_ERROR_H */
