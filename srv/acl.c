/*
 * acl.c -- prefix lists (see acl.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

int
acl_add(acl_t *acl, const char *text)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t hlen = slash ? (size_t)(slash - text) : strlen(text);
	if (acl->n == ACL_MAX || hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	acl_entry_t e;
	memset(&e, 0, sizeof(e));
	int max;
	if (inet_pton(AF_INET, host, e.addr) == 1) {
		e.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, e.addr) == 1) {
		e.family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	long bits = max;
	if (slash != NULL) {
		char *end;
		/* Digits only: strtol alone would take "-0", "+24" or " 24". */
		if (!isdigit((unsigned char)slash[1]))
			return -1;
		bits = strtol(slash + 1, &end, 10);
		if (*end != '\0' || bits < 0 || bits > max)
			return -1;
	}
	e.bits = (uint8_t)bits;
	for (int i = 0; i < 16; i++) {          /* clear the host bits */
		int keep = (int)bits - 8 * i;
		if (keep <= 0)
			e.addr[i] = 0;
		else if (keep < 8)
			e.addr[i] &= (uint8_t)(0xFF << (8 - keep));
	}
	acl->e[acl->n++] = e;
	return 0;
}

static int
prefix_holds(const acl_entry_t *e, const uint8_t *addr)
{
	int full = e->bits / 8, rest = e->bits % 8;
	if (memcmp(e->addr, addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xFF << (8 - rest));
	return (addr[full] & mask) == e->addr[full];
}

int
acl_allows(const acl_t *acl, const struct sockaddr *sa)
{
	if (acl->n == 0)
		return 1;
	const uint8_t *a4 = NULL, *a6 = NULL;
	if (sa->sa_family == AF_INET) {
		a4 = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		a6 = in6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(in6))
			a4 = in6->s6_addr + 12;     /* ::ffff:192.0.2.1 is 192.0.2.1 */
	}
	for (int i = 0; i < acl->n; i++) {
		const acl_entry_t *e = &acl->e[i];
		if ((e->family == AF_INET && a4 && prefix_holds(e, a4)) ||
		    (e->family == AF_INET6 && a6 && prefix_holds(e, a6)))
			return 1;
	}
	return 0;
}
