/*
 * prefix.c -- client prefixes (see prefix.h).
 */
#include <netinet/in.h>

#include "prefix.h"

prefix_t
prefix_of(const struct sockaddr *sa)
{
	prefix_t p;
	memset(&p, 0, sizeof(p));
	const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (sa->sa_family == AF_INET) {
		memcpy(p.b, &((const struct sockaddr_in *)sa)->sin_addr, 3);   /* /24 */
		p.b[7] = 4;
	} else if (IN6_IS_ADDR_V4MAPPED(in6)) {
		memcpy(p.b, in6->s6_addr + 12, 3);
		p.b[7] = 4;
	} else {
		memcpy(p.b, in6->s6_addr, 7);                                   /* /56 */
		p.b[7] = 6;
	}
	return p;
}
