/*
 * query_mix.c -- one line of a query mix (query_mix.h).
 */
#include <stdio.h>
#include <string.h>

#include "msg.h"
#include "query_mix.h"

int
mix_line_parse(char *line, mix_query_t *q)
{
	char kind[16];
	char *hash = strchr(line, '#');
	if (hash != NULL)
		*hash = '\0';
	int k = sscanf(line, "%15s %299s %15s", kind, q->arg, q->proto);
	if (k <= 0)
		return 0;
	int tp = k == 3 ? portq_transport_parse(q->proto, strlen(q->proto)) : -1;
	q->by_port = strcmp(kind, "port") == 0;
	if (tp < 0 || (!q->by_port && strcmp(kind, "name") != 0))
		return -1;
	q->transport = (uint8_t)tp;
	return 1;
}
