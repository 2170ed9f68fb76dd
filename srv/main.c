/*
 * main.c -- portqd: load the registry and (for now) validate it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry.h"

#define MAX_SOURCES 64

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: portqd --check --registry [FORMAT:]FILE [--registry ...]\n"
	    "  --check            load and validate, print a summary, exit\n"
	    "  --registry FILE    a registry file; FORMAT is csv, xml, services\n"
	    "                     or local (detected when omitted)\n"
	    "  --help             this text\n");
}

static void
print_source(const reg_source_t *s)
{
	printf("%s: %s, %u rows\n", s->path, reg_format_name(s->format), s->rows);
	printf("  by status:   assigned %u, reserved %u, unassigned %u, "
	       "de-registered %u, local %u\n",
	       s->by_status[PORTQ_ST_ASSIGNED], s->by_status[PORTQ_ST_RESERVED],
	       s->by_status[PORTQ_ST_UNASSIGNED], s->by_status[PORTQ_ST_DEREGISTERED],
	       s->by_status[PORTQ_ST_LOCAL]);
	printf("  by protocol: tcp %u, udp %u, sctp %u, dccp %u, all %u\n",
	       s->by_transport[PORTQ_TP_TCP], s->by_transport[PORTQ_TP_UDP],
	       s->by_transport[PORTQ_TP_SCTP], s->by_transport[PORTQ_TP_DCCP],
	       s->by_transport[PORTQ_TP_ANY]);
	printf("  by port:     single %u, range %u, none (name only) %u; "
	       "without a name %u\n", s->singles, s->ranges, s->portless, s->nameless);
	if (s->skipped > 0)
		printf("  skipped:     %u entries for protocols portq does not carry\n",
		       s->skipped);
	if (s->date[0] != '\0')
		printf("  newest date: %s\n", s->date);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "registry", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *files[MAX_SOURCES];
	int n_files = 0, check = 0, c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			check = 1;
			break;
		case 'r':
			if (n_files == MAX_SOURCES) {
				fprintf(stderr, "portqd: at most %d registry files\n", MAX_SOURCES);
				return 2;
			}
			files[n_files++] = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !check || n_files == 0) {
		usage(stderr);
		return 2;
	}

	reg_builder_t *b = reg_builder_new();
	if (b == NULL) {
		fprintf(stderr, "portqd: out of memory\n");
		return 1;
	}
	for (int i = 0; i < n_files; i++) {
		reg_format_t fmt = REG_FMT_AUTO;
		const char *path = files[i], *colon = strchr(path, ':');
		if (colon != NULL && reg_format_parse(path, (size_t)(colon - path)) != REG_FMT_AUTO) {
			fmt = reg_format_parse(path, (size_t)(colon - path));
			path = colon + 1;
		}
		reg_error_t err;
		if (reg_builder_load(b, path, fmt, &err) != PORTQ_OK) {
			fprintf(stderr, "%s\n", err.text);
			reg_builder_free(b);
			return 1;
		}
	}
	registry_t *r = registry_build(b, (uint32_t)time(NULL));
	if (r == NULL) {
		fprintf(stderr, "portqd: out of memory while indexing\n");
		return 1;
	}
	for (size_t i = 0; i < registry_source_count(r); i++)
		print_source(registry_source(r, i));
	printf("registry: %zu records, %zu distinct names, newest date %s, serial %u\n",
	       registry_count(r), registry_name_count(r),
	       registry_date(r)[0] ? registry_date(r) : "(none)", registry_serial(r));
	registry_free(r);
	return 0;
}
