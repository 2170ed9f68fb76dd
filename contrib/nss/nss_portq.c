/*
 * nss_portq.c -- the glibc NSS module for the services database: with
 * "services: portq files" in /etc/nsswitch.conf, getservbyname(3) and
 * getservbyport(3) are answered by the portq server (docs/nss.md).
 *
 * libportq's reentrant lookups already have glibc's signatures and fill
 * the caller's servent and buffer the way glibc wants; this file only
 * turns their outcome into the status the switch acts on. It runs inside
 * any process that looks up a service, so it prints nothing, never aborts,
 * and keeps no state of its own (libportq is thread-safe and fork-aware).
 *
 * Enumeration (setservent, getservent_r, endservent) is deliberately not
 * offered: glibc then skips this module for getservent().
 */
#include <errno.h>
#include <netdb.h>
#include <nss.h>
#include <stddef.h>

#include "portq.h"

#define NSS_PORTQ_EXPORT __attribute__((visibility("default")))

/* glibc declares no prototypes for module entry points. */
NSS_PORTQ_EXPORT enum nss_status
_nss_portq_getservbyname_r(const char *name, const char *proto, struct servent *result,
                           char *buffer, size_t buflen, int *errnop);
NSS_PORTQ_EXPORT enum nss_status
_nss_portq_getservbyport_r(int port, const char *proto, struct servent *result,
                           char *buffer, size_t buflen, int *errnop);

/*
 * The status for libportq's outcome: `err` its return value (0 or a
 * positive errno), `found` its *result. `saved` is errno at entry, given
 * back on success: glibc passes &errno as errnop, and a lookup that
 * worked should not leave behind what libportq's system calls set.
 */
static enum nss_status
status_of(int err, const struct servent *found, int saved, int *errnop)
{
	switch (err) {
	case 0:
		if (found != NULL) {
			*errnop = saved;
			return NSS_STATUS_SUCCESS;
		}
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	case ERANGE:
		/* The one TRYAGAIN: glibc does not go on to the next source
		 * but hands ERANGE to the caller of getserv*_r(), and
		 * getserv*() calls again with a buffer twice as large. */
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	case EINVAL:
		/* A NULL argument: nothing can match it. */
		*errnop = EINVAL;
		return NSS_STATUS_NOTFOUND;
	default:
		/* ETIMEDOUT, EIO (refused, server failure, bad answers),
		 * ENOMEM: portq cannot answer now; the next source may. */
		*errnop = err;
		return NSS_STATUS_UNAVAIL;
	}
}

NSS_PORTQ_EXPORT enum nss_status
_nss_portq_getservbyname_r(const char *name, const char *proto, struct servent *result,
                           char *buffer, size_t buflen, int *errnop)
{
	int spare;
	if (errnop == NULL)
		errnop = &spare;
	int saved = errno;
	struct servent *found = NULL;
	int err = portq_getservbyname_r(name, proto, result, buffer, buflen, &found);
	return status_of(err, found, saved, errnop);
}

NSS_PORTQ_EXPORT enum nss_status
_nss_portq_getservbyport_r(int port, const char *proto, struct servent *result,
                           char *buffer, size_t buflen, int *errnop)
{
	int spare;
	if (errnop == NULL)
		errnop = &spare;
	int saved = errno;
	struct servent *found = NULL;
	int err = portq_getservbyport_r(port, proto, result, buffer, buflen, &found);
	return status_of(err, found, saved, errnop);
}
