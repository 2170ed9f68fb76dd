/*
 * acl.h -- which clients may ask: a list of IPv4 and IPv6 prefixes (CIDR).
 * An empty list allows everyone.
 */
#ifndef PORTQ_ACL_H
#define PORTQ_ACL_H

#include <stdint.h>
#include <sys/socket.h>

#define ACL_MAX 256

typedef struct {
	uint8_t family;             /* AF_INET or AF_INET6 */
	uint8_t bits;               /* prefix length */
	uint8_t addr[16];           /* network order, host bits cleared */
} acl_entry_t;

typedef struct {
	acl_entry_t e[ACL_MAX];
	int n;
} acl_t;

/*
 * Add "192.0.2.0/24", "2001:db8::/32" or a single address (a full-length
 * prefix). Returns 0, or -1 when the text is not a prefix or the list is
 * full.
 */
int acl_add(acl_t *acl, const char *text);

/* 1 when `sa` may ask: the list is empty or a prefix holds it. */
int acl_allows(const acl_t *acl, const struct sockaddr *sa);

#endif /* PORTQ_ACL_H */
