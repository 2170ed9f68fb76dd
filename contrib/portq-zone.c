/*
 * portq-zone.c -- export the registry as a DNS zone, and DNS queries for
 * the same lookups as a portq-bench query mix (issue 5).
 *
 *   portq-zone [--origin NAME] [--serial N] [--ttl S] [--srv-target NAME]
 *              [--ns-address IPV4] [-o ZONEFILE] REGISTRY...
 *   portq-zone --queries OUT --mix MIXFILE [--origin NAME] [--edns SIZE]
 *
 * The zone (docs/zone.md has the mapping and its limits):
 *
 *   $ORIGIN ports.portq.test.
 *   @          SOA   ns hostmaster SERIAL ...
 *   @          NS    ns
 *   ns         A     127.0.0.1
 *   _80._tcp   TXT   "http" "World Wide Web HTTP"      one per record on a port
 *   _http._tcp SRV   0 0 80 .                          one per name (and alias)
 *
 * Assigned records only; a record for all protocols appears under each of
 * _tcp, _udp, _sctp and _dccp, as portq matches it for every transport.
 * Name bytes other than letters, digits, '-' and '_' are written as RFC
 * 1035 \DDD escapes and counted; nothing is dropped without a count on
 * stderr.
 *
 * --queries turns each "port P PROTO" line of a mix into a TXT query for
 * _P._PROTO.ORIGIN and each "name N PROTO" line into an SRV query for
 * _N._PROTO.ORIGIN, in portq-bench's replay format (2-byte big-endian
 * length, then the message), so DNS servers and portqd are asked the same.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "msg.h"
#include "query_mix.h"
#include "registry.h"
#include "wire.h"

#define ZONE_TXT_CHUNK   255  /* largest character-string (RFC 1035 3.3) */
#define ZONE_LABEL_MAX   63
#define ZONE_NAME_MAX    255
#define DNS_TYPE_TXT     16
#define DNS_TYPE_SRV     33
#define DNS_TYPE_OPT     41

typedef struct {
	const char *origin;          /* absolute: ends with '.' */
	const char *srv_target;      /* SRV target host; "." by default */
	const char *ns_address;      /* IPv4 of ns.<origin> */
	uint32_t serial;
	uint32_t ttl;
} zone_opts_t;

typedef struct {
	size_t txt;                  /* TXT records */
	size_t txt_owners;           /* distinct _port._proto names */
	size_t srv;                  /* SRV records (names and aliases) */
	size_t escaped;              /* names or aliases written with \DDD */
	size_t split;                /* descriptions split over several strings */
	size_t all_protocols;        /* records for all protocols, written 4 times */
	size_t not_assigned;         /* reserved, unassigned, ... : not exported */
	size_t portless;             /* assigned names without a port: no record */
	size_t too_long;             /* names that do not fit a label: no SRV */
} zone_stats_t;

/* Internal API, shared with tests/test_zone.c. */
int zone_origin_valid(const char *origin);
int zone_label_write(FILE *f, const char *s);
size_t zone_txt_write(FILE *f, const char *s);
int zone_write(FILE *f, const registry_t *r, const zone_opts_t *o, zone_stats_t *st);
int zone_query_encode(uint8_t *buf, size_t len, const char *first, const char *proto,
                      const char *origin, uint16_t qtype, uint16_t edns);

static const uint8_t zone_transports[] = {
	PORTQ_TP_TCP, PORTQ_TP_UDP, PORTQ_TP_SCTP, PORTQ_TP_DCCP
};

/* Bytes written as they are in owner names; everything else as \DDD. */
static bool
label_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* 1 when `origin` is absolute and made of plain labels that fit DNS. */
int
zone_origin_valid(const char *origin)
{
	size_t len = strlen(origin), label = 0;
	if (len < 2 || len > ZONE_NAME_MAX - 1 || origin[len - 1] != '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (origin[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (!label_plain((unsigned char)origin[i]) ||
		           ++label > ZONE_LABEL_MAX) {
			return 0;
		}
	}
	return 1;
}

/*
 * Write one label's bytes in zone-file syntax; returns 1 when some byte
 * had to be escaped, 0 when none did.
 */
int
zone_label_write(FILE *f, const char *s)
{
	int escaped = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (label_plain(*p)) {
			fputc(*p, f);
		} else {
			fprintf(f, "\\%03u", *p);
			escaped = 1;
		}
	}
	return escaped;
}

/* Bytes of `s` that start no character of their own (UTF-8 continuation). */
static bool
utf8_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/*
 * Write `s` as quoted character-strings of at most 255 bytes each (on the
 * wire, after unescaping), cut where a UTF-8 character starts when one
 * does within reach. Returns the number of strings written (at least 1).
 */
size_t
zone_txt_write(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), strings = 0;
	do {
		size_t n = left > ZONE_TXT_CHUNK ? ZONE_TXT_CHUNK : left;
		if (n < left) {
			size_t cut = n;
			while (cut > n - 4 && utf8_cont(p[cut]))
				cut--;
			if (!utf8_cont(p[cut]))
				n = cut;
		}
		fprintf(f, "%s\"", strings ? " " : "");
		for (size_t i = 0; i < n; i++) {
			if (p[i] == '"' || p[i] == '\\')
				fprintf(f, "\\%c", p[i]);
			else if (p[i] >= 0x20 && p[i] < 0x7f)
				fputc(p[i], f);
			else
				fprintf(f, "\\%03u", p[i]);
		}
		fputc('"', f);
		p += n;
		left -= n;
		strings++;
	} while (left > 0);
	return strings;
}

static bool
exported(const reg_entry_t *e)
{
	return e->has_port && e->status == PORTQ_ST_ASSIGNED;
}

/* TXT records of every assigned record covering `port` for transport tp. */
static int
write_txt(FILE *f, const registry_t *r, uint16_t port, uint8_t tp,
          const reg_entry_t ***buf, size_t *cap, zone_stats_t *st)
{
	size_t n = registry_by_port(r, port, tp, *buf, *cap);
	if (n > *cap) {
		const reg_entry_t **more = realloc(*buf, n * sizeof(*more));
		if (more == NULL)
			return PORTQ_ENOMEM;
		*buf = more;
		*cap = n;
		n = registry_by_port(r, port, tp, *buf, *cap);
	}
	bool owner = false;
	for (size_t i = 0; i < n; i++) {
		const reg_entry_t *e = (*buf)[i];
		if (e->status != PORTQ_ST_ASSIGNED)
			continue;
		fprintf(f, "_%u._%s\tTXT\t", port, portq_transport_name(tp));
		zone_txt_write(f, e->name);
		if (e->description[0] != '\0') {
			fputc(' ', f);
			if (zone_txt_write(f, e->description) > 1)
				st->split++;
		}
		fputc('\n', f);
		st->txt++;
		owner = true;
	}
	if (owner)
		st->txt_owners++;
	return PORTQ_OK;
}

/* One SRV record per protocol of `e`, at the service name `name`. */
static void
write_srv(FILE *f, const reg_entry_t *e, const char *name, const zone_opts_t *o,
          zone_stats_t *st)
{
	if (strlen(name) + 1 > ZONE_LABEL_MAX) {
		st->too_long++;
		return;
	}
	int escaped = 0;
	for (size_t t = 0; t < sizeof(zone_transports); t++) {
		uint8_t tp = zone_transports[t];
		if (e->transport != PORTQ_TP_ANY && e->transport != tp)
			continue;
		fputc('_', f);
		escaped = zone_label_write(f, name);
		fprintf(f, "._%s\tSRV\t0 0 %u %s\n", portq_transport_name(tp),
		        e->port_lo, o->srv_target);
		st->srv++;
	}
	st->escaped += (size_t)escaped;
}

/*
 * Write the whole zone. Returns PORTQ_OK, PORTQ_EINVAL (bad origin),
 * PORTQ_ENOMEM or PORTQ_EIO (the stream failed).
 */
int
zone_write(FILE *f, const registry_t *r, const zone_opts_t *o, zone_stats_t *st)
{
	if (f == NULL || r == NULL || o == NULL || st == NULL || !zone_origin_valid(o->origin))
		return PORTQ_EINVAL;
	memset(st, 0, sizeof(*st));
	fprintf(f, "; The portq registry as a DNS zone (contrib/portq-zone, docs/zone.md).\n"
	           "; %zu records, registry serial %u, newest date %s.\n",
	        registry_count(r), registry_serial(r),
	        registry_date(r)[0] ? registry_date(r) : "(none)");
	fprintf(f, "$ORIGIN %s\n$TTL %u\n", o->origin, o->ttl);
	fprintf(f, "@\tSOA\tns hostmaster %u 3600 600 604800 %u\n", o->serial, o->ttl);
	fprintf(f, "@\tNS\tns\nns\tA\t%s\n", o->ns_address);

	for (size_t i = 0; i < registry_count(r); i++) {
		const reg_entry_t *e = registry_entry(r, i);
		if (e->status != PORTQ_ST_ASSIGNED)
			st->not_assigned++;
		else if (!e->has_port)
			st->portless++;
		else if (e->transport == PORTQ_TP_ANY)
			st->all_protocols++;
	}

	fprintf(f, "\n; TXT: what is on a port (\"name\" \"description\")\n");
	const reg_entry_t **buf = NULL;
	size_t cap = 0;
	int rc = PORTQ_OK;
	for (unsigned port = 0; rc == PORTQ_OK && port < REG_PORTS; port++)
		for (size_t t = 0; rc == PORTQ_OK && t < sizeof(zone_transports); t++)
			rc = write_txt(f, r, (uint16_t)port, zone_transports[t], &buf, &cap, st);
	free(buf);
	if (rc != PORTQ_OK)
		return rc;

	fprintf(f, "\n; SRV: where a service lives (names and aliases)\n");
	for (size_t i = 0; i < registry_count(r); i++) {
		const reg_entry_t *e = registry_entry(r, i);
		if (!exported(e) || e->name[0] == '\0')
			continue;
		write_srv(f, e, e->name, o, st);
		for (unsigned a = 0; a < e->n_aliases; a++)
			write_srv(f, e, e->aliases[a], o, st);
	}
	return fflush(f) == 0 && !ferror(f) ? PORTQ_OK : PORTQ_EIO;
}

/*
 * A DNS query (RD clear: these are for authoritative servers) for
 * _FIRST._PROTO.ORIGIN, with an EDNS(0) OPT record announcing `edns`
 * bytes unless it is 0. Returns the length, or PORTQ_EINVAL when a label
 * or the name is too long, PORTQ_ESPACE when buf is.
 */
int
zone_query_encode(uint8_t *buf, size_t len, const char *first, const char *proto,
                  const char *origin, uint16_t qtype, uint16_t edns)
{
	if (buf == NULL || first == NULL || proto == NULL || origin == NULL ||
	    !zone_origin_valid(origin))
		return PORTQ_EINVAL;
	size_t l1 = strlen(first), l2 = strlen(proto);
	if (l1 == 0 || l1 + 1 > ZONE_LABEL_MAX || l2 == 0 || l2 + 1 > ZONE_LABEL_MAX ||
	    l1 + l2 + 4 + strlen(origin) + 1 > ZONE_NAME_MAX)
		return PORTQ_EINVAL;
	wire_t w = wire_writer(buf, len);
	wire_write_u16(&w, 0);                 /* ID: portq-bench rewrites it */
	wire_write_u16(&w, 0);                 /* flags: a plain query */
	wire_write_u16(&w, 1);                 /* QDCOUNT */
	wire_write_u16(&w, 0);                 /* ANCOUNT */
	wire_write_u16(&w, 0);                 /* NSCOUNT */
	wire_write_u16(&w, edns ? 1 : 0);      /* ARCOUNT */
	wire_write_u8(&w, (uint8_t)(l1 + 1));
	wire_write_u8(&w, '_');
	wire_write_bytes(&w, first, l1);
	wire_write_u8(&w, (uint8_t)(l2 + 1));
	wire_write_u8(&w, '_');
	wire_write_bytes(&w, proto, l2);
	for (const char *p = origin; *p != '\0';) {
		size_t n = strcspn(p, ".");
		wire_write_u8(&w, (uint8_t)n);
		wire_write_bytes(&w, p, n);
		p += n + 1;
	}
	wire_write_u8(&w, 0);
	wire_write_u16(&w, qtype);
	wire_write_u16(&w, 1);                 /* class IN */
	if (edns) {
		wire_write_u8(&w, 0);          /* root owner */
		wire_write_u16(&w, DNS_TYPE_OPT);
		wire_write_u16(&w, edns);      /* the requester's UDP payload size */
		wire_write_u32(&w, 0);         /* extended rcode, version 0, no DO */
		wire_write_u16(&w, 0);         /* no options */
	}
	return w.error == PORTQ_OK ? (int)wire_used(&w) : w.error;
}

#ifndef PORTQ_ZONE_NO_MAIN

static void
usage(FILE *f)
{
	fprintf(f,
	"usage: portq-zone [--origin NAME] [--serial N] [--ttl S] [--srv-target NAME]\n"
	"                  [--ns-address IPV4] [-o ZONEFILE] REGISTRY...\n"
	"       portq-zone --queries OUT --mix MIXFILE [--origin NAME] [--edns SIZE]\n"
	"\n"
	"  --origin NAME      the zone's origin (default ports.portq.test.)\n"
	"  --serial N         SOA serial (default: the registry's newest date as\n"
	"                     YYYYMMDD00, or 1)\n"
	"  --ttl S            TTL of every record (default 3600)\n"
	"  --srv-target NAME  SRV target host (default \".\": the registry knows no host)\n"
	"  --ns-address IPV4  address of ns.ORIGIN (default 127.0.0.1)\n"
	"  -o FILE            write the zone there instead of standard output\n"
	"  --queries OUT      write DNS queries for the lookups of --mix (made by\n"
	"                     portq-bench --make-mix): TXT by port, SRV by name\n"
	"  --edns SIZE        EDNS(0) UDP size in those queries, 0 for none (default 1232)\n");
}

static int
load_registry(int n, char **paths, registry_t **out)
{
	reg_builder_t *b = reg_builder_new();
	if (b == NULL)
		return PORTQ_ENOMEM;
	for (int i = 0; i < n; i++) {
		reg_error_t err;
		int rc = reg_builder_load(b, paths[i], REG_FMT_AUTO, &err);
		if (rc != PORTQ_OK) {
			fprintf(stderr, "portq-zone: %s\n", err.text);
			reg_builder_free(b);
			return rc;
		}
	}
	*out = registry_build(b, 1);
	return *out != NULL ? PORTQ_OK : PORTQ_ENOMEM;
}

static uint32_t
serial_from_date(const char *date)
{
	unsigned y, m, d;
	if (sscanf(date, "%4u-%2u-%2u", &y, &m, &d) != 3)
		return 1;
	return (y * 10000 + m * 100 + d) * 100;
}

/* Mix lines to length-prefixed DNS queries. */
static int
write_queries(const char *mix, const char *out, const char *origin, uint16_t edns)
{
	FILE *in = fopen(mix, "r");
	if (in == NULL) {
		fprintf(stderr, "portq-zone: %s: %s\n", mix, strerror(errno));
		return 1;
	}
	FILE *of = fopen(out, "wb");
	if (of == NULL) {
		fprintf(stderr, "portq-zone: %s: %s\n", out, strerror(errno));
		fclose(in);
		return 1;
	}
	char line[512];
	unsigned lineno = 0;
	size_t txt = 0, srv = 0, skipped_any = 0, skipped_long = 0;
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof(line), in) != NULL) {
		lineno++;
		mix_query_t m;
		int k = mix_line_parse(line, &m);
		if (k == 0)
			continue;
		if (k < 0) {
			fprintf(stderr, "portq-zone: %s:%u: expected \"port PORT PROTO\" or "
			        "\"name NAME PROTO\"\n", mix, lineno);
			rc = 1;
			break;
		}
		if (strcmp(m.proto, "any") == 0) {
			skipped_any++;           /* DNS names one protocol per owner */
			continue;
		}
		uint8_t buf[ZONE_NAME_MAX + 64];
		int len = zone_query_encode(buf, sizeof(buf), m.arg, m.proto, origin,
		                            m.by_port ? DNS_TYPE_TXT : DNS_TYPE_SRV, edns);
		if (len < 0) {
			skipped_long++;
			continue;
		}
		uint8_t pfx[2] = { (uint8_t)(len >> 8), (uint8_t)len };
		if (fwrite(pfx, 1, 2, of) != 2 || fwrite(buf, 1, (size_t)len, of) != (size_t)len)
			rc = 1;
		*(m.by_port ? &txt : &srv) += 1;
	}
	fclose(in);
	if (fclose(of) != 0 || rc != 0) {
		fprintf(stderr, "portq-zone: writing %s failed\n", out);
		return 1;
	}
	fprintf(stderr, "portq-zone: %s: %zu TXT and %zu SRV queries; skipped %zu "
	        "for protocol \"any\", %zu too long for a DNS name\n",
	        out, txt, srv, skipped_any, skipped_long);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "origin",     required_argument, NULL, 'O' },
		{ "serial",     required_argument, NULL, 's' },
		{ "ttl",        required_argument, NULL, 't' },
		{ "srv-target", required_argument, NULL, 'S' },
		{ "ns-address", required_argument, NULL, 'a' },
		{ "queries",    required_argument, NULL, 'q' },
		{ "mix",        required_argument, NULL, 'm' },
		{ "edns",       required_argument, NULL, 'e' },
		{ "help",       no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	zone_opts_t o = { "ports.portq.test.", ".", "127.0.0.1", 0, 3600 };
	const char *out = NULL, *queries = NULL, *mix = NULL;
	char origin[ZONE_NAME_MAX + 2];
	long serial = -1;
	unsigned long edns = 1232;
	int c;
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'O': o.origin = optarg; break;
		case 's': serial = strtol(optarg, NULL, 10); break;
		case 't': o.ttl = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'S': o.srv_target = optarg; break;
		case 'a': o.ns_address = optarg; break;
		case 'o': out = optarg; break;
		case 'q': queries = optarg; break;
		case 'm': mix = optarg; break;
		case 'e': edns = strtoul(optarg, NULL, 10); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	/* Accept the origin with or without its final dot. */
	size_t ol = strlen(o.origin);
	if (ol > 0 && ol < ZONE_NAME_MAX && o.origin[ol - 1] != '.') {
		snprintf(origin, sizeof(origin), "%s.", o.origin);
		o.origin = origin;
	}
	if (!zone_origin_valid(o.origin)) {
		fprintf(stderr, "portq-zone: --origin %s: not a plain DNS name "
		        "(letters, digits, '-', '_')\n", o.origin);
		return 2;
	}
	if (queries != NULL || mix != NULL) {
		if (queries == NULL || mix == NULL || optind != argc || edns > 65535) {
			fprintf(stderr, "portq-zone: --queries OUT --mix MIXFILE, no registry\n");
			return 2;
		}
		return write_queries(mix, queries, o.origin, (uint16_t)edns);
	}
	if (optind == argc || serial > (long)UINT32_MAX) {
		usage(stderr);
		return 2;
	}

	registry_t *r = NULL;
	if (load_registry(argc - optind, argv + optind, &r) != PORTQ_OK)
		return 1;
	o.serial = serial >= 0 ? (uint32_t)serial : serial_from_date(registry_date(r));
	FILE *f = out != NULL ? fopen(out, "w") : stdout;
	if (f == NULL) {
		fprintf(stderr, "portq-zone: %s: %s\n", out, strerror(errno));
		registry_free(r);
		return 1;
	}
	zone_stats_t st;
	int rc = zone_write(f, r, &o, &st);
	if (out != NULL && fclose(f) != 0)
		rc = PORTQ_EIO;
	registry_free(r);
	if (rc != PORTQ_OK) {
		fprintf(stderr, "portq-zone: %s\n", portq_strerror(rc));
		return 1;
	}
	fprintf(stderr,
	        "portq-zone: %zu TXT records at %zu names, %zu SRV records\n"
	        "portq-zone: %zu record names or aliases escaped as \\DDD (docs/zone.md); "
	        "%zu descriptions split over several strings\n"
	        "portq-zone: %zu records for all protocols written under each protocol\n"
	        "portq-zone: not exported: %zu records not assigned (reserved, unassigned, "
	        "de-registered), %zu assigned names without a port, %zu names too long "
	        "for a label\n",
	        st.txt, st.txt_owners, st.srv, st.escaped, st.split, st.all_protocols,
	        st.not_assigned, st.portless, st.too_long);
	return 0;
}

#endif /* PORTQ_ZONE_NO_MAIN */
