/*
 * query_mix.h -- the lines of a query mix: what `portq-bench --make-mix`
 * writes, `portq-bench --mix` sends as portq queries and
 * `contrib/portq-zone --queries` turns into DNS queries, so that every
 * server is asked the same.
 *
 *   port PORT PROTO
 *   name NAME PROTO        # from a '#' on, a comment
 */
#ifndef PORTQ_QUERY_MIX_H
#define PORTQ_QUERY_MIX_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
	bool by_port;           /* "port" or "name" */
	char arg[300];          /* the port or the name, as written */
	char proto[16];         /* as written */
	uint8_t transport;      /* PORTQ_TP_*, from proto */
} mix_query_t;

/*
 * One line of a mix, cut at its '#' in place: 1 with *q filled in, 0 for
 * a line with nothing but blanks and a comment, -1 for a line that is not
 * "KIND ARG PROTO" with KIND port or name and PROTO tcp, udp, sctp, dccp
 * or any. The caller checks ARG (a port number, a name).
 */
int mix_line_parse(char *line, mix_query_t *q);

#endif
