/*
 * msg.h -- the portq wire protocol: message model and codec.
 *
 * docs/protocol.md is the specification; this file implements it. Every
 * read and write goes through the wire_t cursor (wire.h). A message is
 *
 *   +----------+------------+-----------------+-----------+------------+
 *   |  header  |  question  | context (PORT   |  answer   | additional |
 *   | 16 bytes | 13+n bytes | responses only) |  records  |  records   |
 *   +----------+------------+-----------------+-----------+------------+
 *
 * Header (all integers big-endian):
 *
 *     0       1       2       3
 *   +-------+-------+-------+-------+
 *   | MAGIC | OPCODE|      ID       |   MAGIC = 0xA1 (0xA: portq, 1: version)
 *   +-------+-------+-------+-------+
 *   | FLAGS | RCODE |    ANCOUNT    |   FLAGS: QR 0x80, TC 0x40, MORE 0x20
 *   +-------+-------+-------+-------+
 *   |    ADCOUNT    |   RESERVED    |   RESERVED: sent as 0, ignored
 *   +-------+-------+-------+-------+
 *   |            SERIAL             |   registry serial (0 in queries)
 *   +-------+-------+-------+-------+
 */
#ifndef PORTQ_MSG_H
#define PORTQ_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "fields.h"
#include "wire.h"

#define PORTQ_MAGIC          0xA1
#define PORTQ_HEADER_LEN     16
#define PORTQ_QUESTION_MIN   13
#define PORTQ_CONTEXT_LEN    12
#define PORTQ_RECORD_MIN     10    /* RDLENGTH + fixed part */
#define PORTQ_UDP_MAX        1232  /* largest UDP response, as in DNS */
#define PORTQ_MSG_MAX        65535 /* largest message (TCP frame) */
#define PORTQ_TEXT_MAX       255   /* question text: name or search words */
#define PORTQ_MAX_ALIASES    32
#define PORTQ_DEFAULT_PORT   5380  /* default port: unassigned (5365-5396) in the 2026 IANA registry */

typedef enum {
	PORTQ_OP_PORT   = 1,  /* records on a port, with its context */
	PORTQ_OP_NAME   = 2,  /* records carrying a service name or alias */
	PORTQ_OP_RANGE  = 3,  /* records in a port range, paged */
	PORTQ_OP_SEARCH = 4,  /* text search over names and descriptions, paged */
	PORTQ_OP_INFO   = 5   /* registry and server information */
} portq_opcode_t;

enum {
	PORTQ_FLAG_QR   = 0x80,  /* this is a response */
	PORTQ_FLAG_TC   = 0x40,  /* truncated: ask again over TCP */
	PORTQ_FLAG_MORE = 0x20,  /* paged answer: more records after this page */
	PORTQ_FLAG_PARTIAL = 0x10 /* SEARCH stopped at the server's work limit:
	                             what it returns matches, more may */
};

typedef enum {
	PORTQ_RC_OK        = 0,
	PORTQ_RC_NOTFOUND  = 1,
	PORTQ_RC_MALFORMED = 2,
	PORTQ_RC_REFUSED   = 3,
	PORTQ_RC_SERVFAIL  = 4,
	PORTQ_RC_NOTIMPL   = 5
} portq_rcode_t;

typedef enum {
	PORTQ_TP_ANY  = 0,  /* in a question: any; in a record: all protocols */
	PORTQ_TP_TCP  = 1,
	PORTQ_TP_UDP  = 2,
	PORTQ_TP_SCTP = 3,
	PORTQ_TP_DCCP = 4
} portq_transport_t;
#define PORTQ_TP_COUNT 5

typedef enum {
	PORTQ_ST_UNLISTED     = 0,  /* context only: no row mentions the port */
	PORTQ_ST_ASSIGNED     = 1,
	PORTQ_ST_RESERVED     = 2,
	PORTQ_ST_UNASSIGNED   = 3,
	PORTQ_ST_DEREGISTERED = 4,
	PORTQ_ST_LOCAL        = 5   /* the organisation's own assignment */
} portq_status_t;

typedef enum {
	PORTQ_ORIGIN_IANA     = 1,
	PORTQ_ORIGIN_SERVICES = 2,
	PORTQ_ORIGIN_LOCAL    = 3
} portq_origin_t;

typedef enum {
	PORTQ_CLASS_SYSTEM  = 0,  /* 0-1023 */
	PORTQ_CLASS_USER    = 1,  /* 1024-49151 */
	PORTQ_CLASS_DYNAMIC = 2   /* 49152-65535 */
} portq_class_t;

enum { PORTQ_RF_HAS_PORT = 0x01 };             /* record flags */
enum { PORTQ_CF_FREE = 0x01, PORTQ_CF_BELOW = 0x02, PORTQ_CF_ABOVE = 0x04 };

typedef struct {
	uint8_t  opcode;
	uint8_t  flags;
	uint8_t  rcode;
	uint16_t id;
	uint16_t ancount;
	uint16_t adcount;
	uint32_t serial;
} portq_header_t;

typedef struct {
	uint8_t  transport;
	uint8_t  qflags;                 /* reserved, 0 */
	uint16_t port_lo, port_hi;
	uint32_t offset;                 /* paged queries: first record wanted */
	uint16_t limit;                  /* paged queries: at most this many; 0 = server default */
	uint8_t  text_len;
	char     text[PORTQ_TEXT_MAX + 1]; /* NUL-terminated copy */
} portq_question_t;

/* What the registry knows around one port (PORT responses). */
typedef struct {
	uint8_t  range_class;            /* portq_class_t */
	uint8_t  state;                  /* portq_status_t, UNLISTED allowed */
	uint8_t  cflags;                 /* PORTQ_CF_* */
	uint16_t free_lo, free_hi;       /* the free block, if CF_FREE */
	uint16_t below, above;           /* nearest assigned ports, if CF_BELOW/ABOVE */
} portq_context_t;

/* A string borrowed from a buffer; not NUL-terminated. */
typedef struct {
	const char *ptr;
	uint16_t len;
} portq_str_t;

/*
 * A record as the wire carries it, one member per field of fields.h:
 * TEXT a string, LIST an array and its count n_<member>, ENUM a byte
 * (status: portq_status_t, transport: portq_transport_t with ANY = all,
 * origin: portq_origin_t), PORTS the RFLAGS byte (PORTQ_RF_*) and
 * port_lo/port_hi, valid if PORTQ_RF_HAS_PORT.
 */
#define PORTQ_RECORD_MEMBER(m, api, kind, wire, max, rank, label, what) \
	PORTQ_RECORD_MEMBER_##kind(m, max)
#define PORTQ_RECORD_MEMBER_TEXT(m, max)  portq_str_t m;
#define PORTQ_RECORD_MEMBER_LIST(m, max)  portq_str_t m[max]; uint8_t n_##m;
#define PORTQ_RECORD_MEMBER_ENUM(m, max)  uint8_t m;
#define PORTQ_RECORD_MEMBER_PORTS(m, max) uint8_t rflags; uint16_t m##_lo, m##_hi;
#define PORTQ_RECORD_MEMBER_FLAG(m, max)
typedef struct {
	PORTQ_RECORD_FIELDS(PORTQ_RECORD_MEMBER)
} portq_record_t;

/*
 * Writers append to `w`; a write that does not fit leaves `w->error` set
 * to PORTQ_ESPACE and the caller decides (rewind and truncate, or fail).
 */
void portq_header_write(wire_t *w, const portq_header_t *h);
void portq_question_write(wire_t *w, const portq_question_t *q);
void portq_context_write(wire_t *w, const portq_context_t *c);
void portq_record_write(wire_t *w, const portq_record_t *r);
void portq_info_write(wire_t *w, const char *key, const char *value);

/*
 * Readers consume from `w` and return PORTQ_OK or a negative error:
 * PORTQ_ESHORT (too few bytes), PORTQ_EMAGIC (header: not portq),
 * PORTQ_EMALFORMED (bytes present but invalid). Strings in a record or info
 * item point into the buffer being read.
 */
int portq_header_read(wire_t *w, portq_header_t *h);
int portq_question_read(wire_t *w, portq_question_t *q);
int portq_context_read(wire_t *w, portq_context_t *c);
int portq_record_read(wire_t *w, portq_record_t *r);
int portq_info_read(wire_t *w, portq_str_t *key, portq_str_t *value);

/*
 * Encode a whole query (header with QR clear, then question) into buf.
 * Returns the length, or a negative error (PORTQ_ESPACE, PORTQ_EINVAL for
 * NULL arguments).
 */
int msg_query_encode(uint8_t *buf, size_t len, const portq_header_t *h,
                     const portq_question_t *q);

/*
 * Decode a whole query: header (must have QR clear), then the question,
 * and nothing after it. Returns PORTQ_OK, PORTQ_EMAGIC when the bytes are
 * not a portq message at all (the server drops those), or PORTQ_ESHORT /
 * PORTQ_EMALFORMED (the server answers MALFORMED if the header was read).
 */
int msg_query_decode(const uint8_t *buf, size_t len, portq_header_t *h,
                     portq_question_t *q);

/*
 * Whether the n bytes at p may follow the last record of a response that
 * came over UDP: none, or zeros only (padding, protocol.md 2.1). Over TCP
 * nothing may follow the last record.
 */
int portq_padding_ok(const uint8_t *p, size_t n);

/* Set the question text from a C string; PORTQ_EINVAL if it is too long. */
int portq_question_set_text(portq_question_t *q, const char *text);

/* The FLAG field `assigned`: the record's status is assigned or local. */
int portq_record_assigned(const portq_record_t *r);

/* The range class of a port: system, user or dynamic. */
portq_class_t portq_port_class(unsigned port);

/* Names for the enums ("tcp", "assigned", "iana", "system", "ok", ...). */
const char *portq_transport_name(unsigned tp);
const char *portq_status_name(unsigned st);
const char *portq_origin_name(unsigned origin);
const char *portq_class_name(unsigned cls);
const char *portq_rcode_name(unsigned rc);
const char *portq_opcode_name(unsigned op);

/* Parse "tcp", "udp", "sctp", "dccp" (any case) or "any"; -1 if unknown. */
int portq_transport_parse(const char *s, size_t len);

#endif /* PORTQ_MSG_H */
