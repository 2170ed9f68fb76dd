/*
 * msg.c -- encoder and decoder for portq messages (see msg.h and
 * docs/protocol.md for the layouts).
 */
#include <string.h>
#include <strings.h>

#include "msg.h"

void
portq_header_write(wire_t *w, const portq_header_t *h)
{
	wire_write_u8(w, PORTQ_MAGIC);
	wire_write_u8(w, h->opcode);
	wire_write_u16(w, h->id);
	wire_write_u8(w, h->flags);
	wire_write_u8(w, h->rcode);
	wire_write_u16(w, h->ancount);
	wire_write_u16(w, h->adcount);
	wire_write_u16(w, 0);
	wire_write_u32(w, h->serial);
}

int
portq_header_read(wire_t *w, portq_header_t *h)
{
	if (w->error != PORTQ_OK)
		return w->error;
	if (wire_left(w) < PORTQ_HEADER_LEN)
		return PORTQ_ESHORT;
	if (wire_read_u8(w) != PORTQ_MAGIC)
		return PORTQ_EMAGIC;
	h->opcode = wire_read_u8(w);
	h->id = wire_read_u16(w);
	h->flags = wire_read_u8(w);
	h->rcode = wire_read_u8(w);
	h->ancount = wire_read_u16(w);
	h->adcount = wire_read_u16(w);
	(void)wire_read_u16(w);
	h->serial = wire_read_u32(w);
	return w->error;
}

/*
 * Question:
 *
 *     0       1       2       3
 *   +-------+-------+-------+-------+
 *   | TRANS | QFLAGS|    PORT_LO    |
 *   +-------+-------+-------+-------+
 *   |    PORT_HI    |    OFFSET ... |
 *   +-------+-------+-------+-------+
 *   |  ... OFFSET   |     LIMIT     |
 *   +-------+-------+-------+-------+
 *   |  TLEN |  TEXT (TLEN bytes)    |
 *   +-------+-----------------------+
 */
void
portq_question_write(wire_t *w, const portq_question_t *q)
{
	wire_write_u8(w, q->transport);
	wire_write_u8(w, q->qflags);
	wire_write_u16(w, q->port_lo);
	wire_write_u16(w, q->port_hi);
	wire_write_u32(w, q->offset);
	wire_write_u16(w, q->limit);
	wire_write_u8(w, q->text_len);
	wire_write_bytes(w, q->text, q->text_len);
}

int
portq_question_read(wire_t *w, portq_question_t *q)
{
	if (wire_left(w) < PORTQ_QUESTION_MIN)
		return PORTQ_ESHORT;
	q->transport = wire_read_u8(w);
	q->qflags = wire_read_u8(w);
	q->port_lo = wire_read_u16(w);
	q->port_hi = wire_read_u16(w);
	q->offset = wire_read_u32(w);
	q->limit = wire_read_u16(w);
	q->text_len = wire_read_u8(w);
	const uint8_t *text = wire_read_span(w, q->text_len);
	if (w->error != PORTQ_OK)
		return w->error;
	if (q->transport >= PORTQ_TP_COUNT || memchr(text, 0, q->text_len))
		return PORTQ_EMALFORMED;
	memcpy(q->text, text, q->text_len);
	q->text[q->text_len] = '\0';
	return PORTQ_OK;
}

int
portq_question_set_text(portq_question_t *q, const char *text)
{
	if (q == NULL || text == NULL)
		return PORTQ_EINVAL;
	size_t n = strlen(text);
	if (n > PORTQ_TEXT_MAX)
		return PORTQ_EINVAL;
	memcpy(q->text, text, n + 1);
	q->text_len = (uint8_t)n;
	return PORTQ_OK;
}

/*
 * Context (PORT responses only, right after the question):
 *
 *     0       1       2       3
 *   +-------+-------+-------+-------+
 *   | CLASS | STATE | CFLAGS|   0   |
 *   +-------+-------+-------+-------+
 *   |    FREE_LO    |    FREE_HI    |
 *   +-------+-------+-------+-------+
 *   |     BELOW     |     ABOVE     |
 *   +-------+-------+-------+-------+
 */
void
portq_context_write(wire_t *w, const portq_context_t *c)
{
	wire_write_u8(w, c->range_class);
	wire_write_u8(w, c->state);
	wire_write_u8(w, c->cflags);
	wire_write_u8(w, 0);
	wire_write_u16(w, c->free_lo);
	wire_write_u16(w, c->free_hi);
	wire_write_u16(w, c->below);
	wire_write_u16(w, c->above);
}

int
portq_context_read(wire_t *w, portq_context_t *c)
{
	memset(c, 0, sizeof(*c));
	if (wire_left(w) < PORTQ_CONTEXT_LEN)
		return PORTQ_ESHORT;
	c->range_class = wire_read_u8(w);
	c->state = wire_read_u8(w);
	c->cflags = wire_read_u8(w);
	(void)wire_read_u8(w);
	c->free_lo = wire_read_u16(w);
	c->free_hi = wire_read_u16(w);
	c->below = wire_read_u16(w);
	c->above = wire_read_u16(w);
	if (w->error != PORTQ_OK)
		return w->error;
	if (c->range_class > PORTQ_CLASS_DYNAMIC || c->state > PORTQ_ST_LOCAL ||
	    ((c->cflags & PORTQ_CF_FREE) && c->free_lo > c->free_hi))
		return PORTQ_EMALFORMED;
	return PORTQ_OK;
}

/*
 * Record:
 *
 *     0       1       2       3
 *   +-------+-------+-------+-------+
 *   |   RDLENGTH    | STATUS| TRANS |   RDLENGTH: bytes after this field
 *   +-------+-------+-------+-------+
 *   | ORIGIN| RFLAGS|    PORT_LO    |   RFLAGS: HAS_PORT 0x01
 *   +-------+-------+-------+-------+
 *   |    PORT_HI    | fields ...    |   field: TYPE(1) LEN(2) VALUE(LEN)
 *   +-------+-------+---------------+
 *
 * Both directions expand the field list (fields.h): ENUM and PORTS fields
 * sit at their offset in the fixed part, TEXT and LIST fields are the
 * TLV fields, in list order.
 */
#define RECORD_FIXED (PORTQ_RECORD_MIN - 2)    /* the fixed part after RDLENGTH */

/* A cursor on one field of a record's fixed part. */
static wire_t
fixed_writer(uint8_t *fixed, size_t off)
{
	return wire_writer(fixed + off, RECORD_FIXED - off);
}

static wire_t
fixed_reader(const uint8_t *fixed, size_t off)
{
	return wire_reader(fixed + off, RECORD_FIXED - off);
}

static void
field_write(wire_t *w, uint8_t type, portq_str_t s)
{
	if (s.len == 0)
		return;         /* absent fields cost no bytes */
	wire_write_u8(w, type);
	wire_write_u16(w, s.len);
	wire_write_bytes(w, s.ptr, s.len);
}

#define FIXED_WRITE(m, api, kind, wire, max, rank, label, what) FIXED_WRITE_##kind(m, wire)
#define FIXED_WRITE_TEXT(m, off)
#define FIXED_WRITE_LIST(m, off)
#define FIXED_WRITE_FLAG(m, off)
#define FIXED_WRITE_ENUM(m, off) {                                            \
		wire_t c = fixed_writer(fixed, off);                          \
		wire_write_u8(&c, r->m);                                      \
	}
#define FIXED_WRITE_PORTS(m, off) {                                           \
		wire_t c = fixed_writer(fixed, off);                          \
		wire_write_u8(&c, r->rflags);                                 \
		wire_write_u16(&c, r->m##_lo);                                \
		wire_write_u16(&c, r->m##_hi);                                \
	}

#define TLV_WRITE(m, api, kind, wire, max, rank, label, what) TLV_WRITE_##kind(m, wire, max)
#define TLV_WRITE_TEXT(m, type, max)  field_write(w, type, r->m);
#define TLV_WRITE_LIST(m, type, max)                                          \
	for (unsigned i = 0; i < r->n_##m && i < (max); i++)                  \
		field_write(w, type, r->m[i]);
#define TLV_WRITE_ENUM(m, type, max)
#define TLV_WRITE_PORTS(m, type, max)
#define TLV_WRITE_FLAG(m, type, max)

void
portq_record_write(wire_t *w, const portq_record_t *r)
{
	uint8_t fixed[RECORD_FIXED] = { 0 };
	PORTQ_RECORD_FIELDS(FIXED_WRITE)
	size_t start = wire_used(w);
	wire_write_u16(w, 0);   /* RDLENGTH, patched below */
	wire_write_bytes(w, fixed, sizeof(fixed));
	PORTQ_RECORD_FIELDS(TLV_WRITE)
	size_t rdlen = wire_used(w) - start - 2;
	if (rdlen > UINT16_MAX && w->error == PORTQ_OK)
		w->error = PORTQ_ESPACE;
	wire_patch_u16(w, start, (uint16_t)rdlen);
}

/* ENUM values out of their range and inverted ranges are malformed. */
#define FIXED_READ(m, api, kind, wire, max, rank, label, what) FIXED_READ_##kind(m, wire, max)
#define FIXED_READ_TEXT(m, off, max)
#define FIXED_READ_LIST(m, off, max)
#define FIXED_READ_FLAG(m, off, max)
#define FIXED_READ_ENUM(m, off, max) {                                        \
		wire_t c = fixed_reader(fixed, off);                          \
		r->m = wire_read_u8(&c);                                      \
		if ((int)r->m < (int)PORTQ_##m##_MIN || r->m > (max))          \
			return PORTQ_EMALFORMED;                               \
	}
#define FIXED_READ_PORTS(m, off, max) {                                       \
		wire_t c = fixed_reader(fixed, off);                          \
		r->rflags = wire_read_u8(&c);                                 \
		r->m##_lo = wire_read_u16(&c);                                \
		r->m##_hi = wire_read_u16(&c);                                \
		if ((r->rflags & PORTQ_RF_HAS_PORT) && r->m##_lo > r->m##_hi)  \
			return PORTQ_EMALFORMED;                               \
	}

/* A single-valued field given twice, or a list past its maximum, is
 * malformed; types not in the list are skipped. */
#define TLV_READ(m, api, kind, wire, max, rank, label, what) TLV_READ_##kind(m, wire, max)
#define TLV_READ_TEXT(m, type, max)                                           \
	case type:                                                            \
		if (r->m.len != 0)                                            \
			return PORTQ_EMALFORMED;                               \
		r->m = s;                                                     \
		break;
#define TLV_READ_LIST(m, type, max)                                           \
	case type:                                                            \
		if (r->n_##m == (max))                                        \
			return PORTQ_EMALFORMED;                               \
		r->m[r->n_##m++] = s;                                         \
		break;
#define TLV_READ_ENUM(m, type, max)
#define TLV_READ_PORTS(m, type, max)
#define TLV_READ_FLAG(m, type, max)

int
portq_record_read(wire_t *w, portq_record_t *r)
{
	memset(r, 0, sizeof(*r));
	uint16_t rdlen = wire_read_u16(w);
	const uint8_t *body = wire_read_span(w, rdlen);
	if (w->error != PORTQ_OK)
		return w->error;
	if (rdlen < RECORD_FIXED)
		return PORTQ_EMALFORMED;

	wire_t b = wire_reader(body, rdlen);
	const uint8_t *fixed = wire_read_span(&b, RECORD_FIXED);
	PORTQ_RECORD_FIELDS(FIXED_READ)

	while (wire_left(&b) > 0) {
		uint8_t type = wire_read_u8(&b);
		uint16_t len = wire_read_u16(&b);
		const char *val = (const char *)wire_read_span(&b, len);
		if (b.error != PORTQ_OK || len == 0)
			return PORTQ_EMALFORMED;   /* a field overruns its record */
		portq_str_t s = { val, len };
		switch (type) {
		PORTQ_RECORD_FIELDS(TLV_READ)
		default:
			break;                     /* unknown field: skip */
		}
	}
	return PORTQ_OK;
}

int
portq_record_assigned(const portq_record_t *r)
{
	return r->status == PORTQ_ST_ASSIGNED || r->status == PORTQ_ST_LOCAL;
}

/*
 * Info item (INFO responses): KEYLEN(1) KEY VALLEN(2) VALUE, both text.
 */
void
portq_info_write(wire_t *w, const char *key, const char *value)
{
	size_t klen = strlen(key), vlen = strlen(value);
	if (klen == 0 || klen > UINT8_MAX || vlen > UINT16_MAX) {
		if (w->error == PORTQ_OK)
			w->error = PORTQ_EINVAL;
		return;
	}
	wire_write_u8(w, (uint8_t)klen);
	wire_write_bytes(w, key, klen);
	wire_write_u16(w, (uint16_t)vlen);
	wire_write_bytes(w, value, vlen);
}

int
portq_info_read(wire_t *w, portq_str_t *key, portq_str_t *value)
{
	uint8_t klen = wire_read_u8(w);
	const char *k = (const char *)wire_read_span(w, klen);
	uint16_t vlen = wire_read_u16(w);
	const char *v = (const char *)wire_read_span(w, vlen);
	if (w->error != PORTQ_OK)
		return w->error;
	if (klen == 0)
		return PORTQ_EMALFORMED;
	key->ptr = k;
	key->len = klen;
	value->ptr = v;
	value->len = vlen;
	return PORTQ_OK;
}

int
msg_query_encode(uint8_t *buf, size_t len, const portq_header_t *h,
                 const portq_question_t *q)
{
	if (buf == NULL || h == NULL || q == NULL || q->transport >= PORTQ_TP_COUNT)
		return PORTQ_EINVAL;
	wire_t w = wire_writer(buf, len);
	portq_header_t qh = *h;
	qh.flags &= (uint8_t)~PORTQ_FLAG_QR;
	qh.ancount = qh.adcount = 0;
	portq_header_write(&w, &qh);
	portq_question_write(&w, q);
	if (w.error != PORTQ_OK)
		return w.error;
	return (int)wire_used(&w);
}

int
msg_query_decode(const uint8_t *buf, size_t len, portq_header_t *h,
                 portq_question_t *q)
{
	if (buf == NULL || h == NULL || q == NULL)
		return PORTQ_EINVAL;
	wire_t r = wire_reader(buf, len);
	int rc = portq_header_read(&r, h);
	if (rc != PORTQ_OK)
		return rc;
	if (h->flags & PORTQ_FLAG_QR)
		return PORTQ_EMALFORMED;
	rc = portq_question_read(&r, q);
	if (rc != PORTQ_OK)
		return rc;
	if (wire_left(&r) != 0)
		return PORTQ_EMALFORMED;       /* trailing bytes */
	return PORTQ_OK;
}

int
portq_padding_ok(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

portq_class_t
portq_port_class(unsigned port)
{
	if (port <= 1023)
		return PORTQ_CLASS_SYSTEM;
	if (port <= 49151)
		return PORTQ_CLASS_USER;
	return PORTQ_CLASS_DYNAMIC;
}

#define NAME_OF(table, i) \
	((i) < sizeof(table) / sizeof((table)[0]) && (table)[i] ? (table)[i] : "unknown")

static const char *const transport_names[PORTQ_TP_COUNT] = {
	"any", "tcp", "udp", "sctp", "dccp"
};

const char *
portq_transport_name(unsigned tp)
{
	return NAME_OF(transport_names, tp);
}

const char *
portq_status_name(unsigned st)
{
	static const char *const names[] = { "unlisted", "assigned", "reserved",
		"unassigned", "de-registered", "local" };
	return NAME_OF(names, st);
}

const char *
portq_origin_name(unsigned origin)
{
	static const char *const names[] = { NULL, "iana", "services", "local" };
	return NAME_OF(names, origin);
}

const char *
portq_class_name(unsigned cls)
{
	static const char *const names[] = { "system", "user", "dynamic" };
	return NAME_OF(names, cls);
}

const char *
portq_rcode_name(unsigned rc)
{
	static const char *const names[] = { "ok", "not-found", "malformed",
		"refused", "server-failure", "not-implemented" };
	return NAME_OF(names, rc);
}

const char *
portq_opcode_name(unsigned op)
{
	static const char *const names[] = { NULL, "port", "name", "range",
		"search", "info" };
	return NAME_OF(names, op);
}

int
portq_transport_parse(const char *s, size_t len)
{
	for (int i = 0; i < PORTQ_TP_COUNT; i++)
		if (strlen(transport_names[i]) == len &&
		    strncasecmp(transport_names[i], s, len) == 0)
			return i;
	return -1;
}
