/*
 * fields.h -- every field of a registry record, described once.
 *
 * PORTQ_RECORD_FIELDS(X) is the one list (as PORTQ_ERROR_MAP is for
 * errors): the structs of the record (portq_record_t here, reg_row_t and
 * reg_entry_t in srv/, portq_entry_t of the installed header), the wire
 * codec, the server's checks, the client's decoder, the `portq` command's
 * JSON and human output and the tests all expand it, each dispatching on
 * a field's KIND, never on its name. A new registry column is one row
 * here, plus its member at the end of portq_entry_t (the installed
 * header is written out by hand; libportq does not compile without it)
 * and its place in the loaders (docs/architecture.md).
 *
 *   X(member, api, KIND, wire, max, rank, label, what)
 *
 *   member  the member in the structs of srv/ and proto/
 *   api     the member in portq_entry_t and the key in `portq --json`
 *   KIND    how it is carried, one of:
 *           TEXT   one string; on the wire a field (TYPE LEN VALUE) of
 *                  type `wire`, absent when empty
 *           LIST   up to `max` strings, each a field of type `wire`
 *           ENUM   one byte at offset `wire` of the record's fixed part,
 *                  valid from min to `max` (the *_MIN macro below); the
 *                  client shows it as portq_<member>_name()
 *           PORTS  a port or range: RFLAGS at offset `wire` of the fixed
 *                  part (HAS_PORT), then PORT_LO and PORT_HI; members
 *                  has_<member>, <member>_lo, <member>_hi
 *           FLAG   not on the wire: the client derives it with
 *                  portq_record_<member>() (portq_entry_t: an int)
 *   rank    the line of `portq`'s human block it is shown on, 0: not on
 *           a line of its own (the block's head line shows name, port and
 *           protocols); a field without a label is a note in brackets
 *           after the line of its rank
 *   label   that line's label
 *   what    the field in messages ("service name is not UTF-8")
 *
 * The order is that of portq_entry_t and of the JSON members; TEXT and
 * LIST fields go on the wire in this order too (protocol.md section 8),
 * which is ascending `wire` type.
 */
#ifndef PORTQ_FIELDS_H
#define PORTQ_FIELDS_H

#define PORTQ_RECORD_FIELDS(X) PORTQ_RECORD_FIELDS_(PORTQ_FIELD_ALL_, X)

/* PORTQ_TEXT_FIELDS(F): F(member, api, wire, what) for the TEXT fields
 * only, in list order (the structs' string members, per-string checks). */
#define PORTQ_TEXT_FIELDS(F) PORTQ_RECORD_FIELDS_(PORTQ_FIELD_TEXT_, F)

/* The list; each row goes to X(F, ...), which hands it on to F. */
#define PORTQ_RECORD_FIELDS_(X, F)                                                           \
	/*  member        api           KIND   wire max                 rank label           what */ \
	X(F, name,         name,         TEXT,   1,  0,                  0, NULL,           "service name")      \
	X(F, aliases,      aliases,      LIST,   2,  PORTQ_MAX_ALIASES,  2, "aliases",      "alias")             \
	X(F, transport,    protocol,     ENUM,   1,  PORTQ_TP_DCCP,      0, NULL,           "protocol")          \
	X(F, status,       status,       ENUM,   0,  PORTQ_ST_LOCAL,     3, "status",       "status")            \
	X(F, assigned,     assigned,     FLAG,   0,  0,                  0, NULL,           "assigned")          \
	X(F, origin,       origin,       ENUM,   2,  PORTQ_ORIGIN_LOCAL, 3, NULL,           "origin")            \
	X(F, port,         port,         PORTS,  3,  0,                  4, "range",        "port")              \
	X(F, description,  description,  TEXT,   3,  0,                  1, "description",  "description")       \
	X(F, assignee,     assignee,     TEXT,   4,  0,                  6, "assignee",     "assignee")          \
	X(F, contact,      contact,      TEXT,   5,  0,                  7, "contact",      "contact")           \
	X(F, registered,   registered,   TEXT,   6,  0,                  8, "registered",   "registration date") \
	X(F, modified,     modified,     TEXT,   7,  0,                  9, "modified",     "modification date") \
	X(F, reference,    reference,    TEXT,   8,  0,                  5, "reference",    "reference")         \
	X(F, notes,        notes,        TEXT,   9,  0,                 12, "notes",        "notes")             \
	X(F, service_code, service_code, TEXT,  10,  0,                 10, "service code", "service code")      \
	X(F, unauthorized, unauthorized, TEXT,  11,  0,                 11, "unauthorized", "unauthorized use")

#define PORTQ_FIELD_ALL_(F, ...) F(__VA_ARGS__)
#define PORTQ_FIELD_TEXT_(F, m, api, kind, wire, max, rank, label, what) \
	PORTQ_FIELD_TEXT_##kind(F, m, api, wire, what)
#define PORTQ_FIELD_TEXT_TEXT(F, m, api, wire, what) F(m, api, wire, what)
#define PORTQ_FIELD_TEXT_LIST(F, m, api, wire, what)
#define PORTQ_FIELD_TEXT_ENUM(F, m, api, wire, what)
#define PORTQ_FIELD_TEXT_PORTS(F, m, api, wire, what)
#define PORTQ_FIELD_TEXT_FLAG(F, m, api, wire, what)

/* The lowest valid value of each ENUM field in a record. */
#define PORTQ_transport_MIN PORTQ_TP_ANY
#define PORTQ_status_MIN    PORTQ_ST_ASSIGNED
#define PORTQ_origin_MIN    PORTQ_ORIGIN_IANA

/* The highest rank, for loops over the lines of the human block. */
#define PORTQ_FIELD_RANK_MAX 12

#endif /* PORTQ_FIELDS_H */
