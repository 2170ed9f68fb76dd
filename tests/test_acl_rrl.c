/*
 * test_acl_rrl.c -- the pieces that decide who gets an answer and how
 * large it may be: the access list (srv/acl.c), response rate limiting
 * (srv/rrl.c), and the two answers they lead to, REFUSED and the slipped
 * (truncated) answer (answer_refused, and answer_query with ctx.slip in
 * srv/answer.c, which the server chooses before any lookup).
 *
 * No sockets and no clock: addresses are built in memory and the rate
 * limiter is given explicit times.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "acl.h"
#include "answer.h"
#include "format.h"
#include "rrl.h"

/* ------------------------------------------------------------ addresses */

typedef struct {
	struct sockaddr_storage ss;
} addr_t;

/* "192.0.2.1" or "2001:db8::1" (or "::ffff:192.0.2.1") as a sockaddr. */
static addr_t
addr(const char *text)
{
	addr_t a;
	memset(&a, 0, sizeof(a));
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a.ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.ss;
	if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(40000);
	} else {
		ck_assert_msg(inet_pton(AF_INET6, text, &in6->sin6_addr) == 1,
		              "bad test address %s", text);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(40000);
	}
	return a;
}

static int
allows(const acl_t *acl, const char *text)
{
	addr_t a = addr(text);
	return acl_allows(acl, (const struct sockaddr *)&a.ss);
}

static acl_t *
acl_new(void)
{
	acl_t *acl = calloc(1, sizeof(*acl));
	ck_assert_ptr_nonnull(acl);
	return acl;
}

/* ------------------------------------------------------------ acl */

START_TEST(acl_empty_list_allows_all)
{
	acl_t *acl = acl_new();
	ck_assert(allows(acl, "192.0.2.1"));
	ck_assert(allows(acl, "0.0.0.0"));
	ck_assert(allows(acl, "2001:db8::1"));
	ck_assert(allows(acl, "::ffff:203.0.113.9"));
	free(acl);
}
END_TEST

START_TEST(acl_ipv4_prefix)
{
	acl_t *acl = acl_new();
	ck_assert_int_eq(acl_add(acl, "192.0.2.0/24"), 0);
	ck_assert_int_eq(acl->n, 1);
	ck_assert_uint_eq(acl->e[0].family, AF_INET);
	ck_assert_uint_eq(acl->e[0].bits, 24);
	ck_assert(allows(acl, "192.0.2.0"));
	ck_assert(allows(acl, "192.0.2.1"));
	ck_assert(allows(acl, "192.0.2.255"));
	ck_assert(!allows(acl, "192.0.1.255"));
	ck_assert(!allows(acl, "192.0.3.0"));
	ck_assert(!allows(acl, "193.0.2.1"));
	/* An IPv4 list says nothing about IPv6 clients. */
	ck_assert(!allows(acl, "2001:db8::1"));
	ck_assert(!allows(acl, "::"));
	free(acl);
}
END_TEST

START_TEST(acl_prefixes_off_byte_boundaries)
{
	acl_t *acl = acl_new();
	ck_assert_int_eq(acl_add(acl, "10.16.0.0/12"), 0);     /* 10.16.0.0-10.31.255.255 */
	ck_assert(allows(acl, "10.16.0.0"));
	ck_assert(allows(acl, "10.31.255.255"));
	ck_assert(!allows(acl, "10.15.255.255"));
	ck_assert(!allows(acl, "10.32.0.0"));
	ck_assert_int_eq(acl_add(acl, "198.51.100.128/25"), 0);
	ck_assert(allows(acl, "198.51.100.128"));
	ck_assert(allows(acl, "198.51.100.255"));
	ck_assert(!allows(acl, "198.51.100.127"));
	ck_assert_int_eq(acl_add(acl, "2001:db8:abcd:1000::/52"), 0);
	ck_assert(allows(acl, "2001:db8:abcd:1000::"));
	ck_assert(allows(acl, "2001:db8:abcd:1fff:ffff:ffff:ffff:ffff"));
	ck_assert(!allows(acl, "2001:db8:abcd:2000::"));
	ck_assert(!allows(acl, "2001:db8:abcd:fff:ffff:ffff:ffff:ffff"));
	free(acl);
}
END_TEST

START_TEST(acl_ipv6_prefix)
{
	acl_t *acl = acl_new();
	ck_assert_int_eq(acl_add(acl, "2001:db8::/32"), 0);
	ck_assert_uint_eq(acl->e[0].family, AF_INET6);
	ck_assert_uint_eq(acl->e[0].bits, 32);
	ck_assert(allows(acl, "2001:db8::"));
	ck_assert(allows(acl, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	ck_assert(!allows(acl, "2001:db9::"));
	ck_assert(!allows(acl, "2001:db7:ffff::1"));
	/* An IPv6 list says nothing about IPv4 clients. */
	ck_assert(!allows(acl, "192.0.2.1"));
	free(acl);
}
END_TEST

START_TEST(acl_slash_zero)
{
	acl_t *acl = acl_new();
	ck_assert_int_eq(acl_add(acl, "0.0.0.0/0"), 0);
	ck_assert_uint_eq(acl->e[0].bits, 0);
	ck_assert(allows(acl, "0.0.0.0"));
	ck_assert(allows(acl, "255.255.255.255"));
	ck_assert(allows(acl, "127.0.0.1"));
	ck_assert(!allows(acl, "::1"));                  /* IPv4 /0 is all of IPv4 only */

	acl_t *six = acl_new();
	ck_assert_int_eq(acl_add(six, "::/0"), 0);
	ck_assert(allows(six, "::"));
	ck_assert(allows(six, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	ck_assert(!allows(six, "192.0.2.1"));
	/* /0 with host bits: every bit is a host bit, so all are cleared. */
	acl_t *any = acl_new();
	ck_assert_int_eq(acl_add(any, "203.0.113.7/0"), 0);
	for (int i = 0; i < 16; i++)
		ck_assert_uint_eq(any->e[0].addr[i], 0);
	ck_assert(allows(any, "8.8.8.8"));
	free(acl);
	free(six);
	free(any);
}
END_TEST

START_TEST(acl_full_length_prefixes)
{
	acl_t *acl = acl_new();
	ck_assert_int_eq(acl_add(acl, "192.0.2.7/32"), 0);
	ck_assert_int_eq(acl_add(acl, "198.51.100.9"), 0);         /* a bare address */
	ck_assert_int_eq(acl_add(acl, "2001:db8::1/128"), 0);
	ck_assert_int_eq(acl_add(acl, "2001:db8::2"), 0);
	ck_assert_uint_eq(acl->e[1].bits, 32);
	ck_assert_uint_eq(acl->e[3].bits, 128);
	ck_assert(allows(acl, "192.0.2.7"));
	ck_assert(!allows(acl, "192.0.2.6"));
	ck_assert(!allows(acl, "192.0.2.8"));
	ck_assert(allows(acl, "198.51.100.9"));
	ck_assert(!allows(acl, "198.51.100.8"));
	ck_assert(allows(acl, "2001:db8::1"));
	ck_assert(allows(acl, "2001:db8::2"));
	ck_assert(!allows(acl, "2001:db8::3"));
	ck_assert(!allows(acl, "2001:db8::"));
	free(acl);
}
END_TEST

START_TEST(acl_host_bits_cleared)
{
	acl_t *acl = acl_new();
	ck_assert_int_eq(acl_add(acl, "192.0.2.77/24"), 0);
	const uint8_t want4[4] = { 192, 0, 2, 0 };
	ck_assert_mem_eq(acl->e[0].addr, want4, 4);
	ck_assert(allows(acl, "192.0.2.1"));               /* not only .77 */
	ck_assert(allows(acl, "192.0.2.200"));

	ck_assert_int_eq(acl_add(acl, "10.31.2.3/12"), 0);
	const uint8_t want12[4] = { 10, 16, 0, 0 };
	ck_assert_mem_eq(acl->e[1].addr, want12, 4);
	ck_assert(allows(acl, "10.16.0.1"));

	ck_assert_int_eq(acl_add(acl, "2001:db8:abcd:12ff::1/52"), 0);
	struct in6_addr want6;
	inet_pton(AF_INET6, "2001:db8:abcd:1000::", &want6);
	ck_assert_mem_eq(acl->e[2].addr, want6.s6_addr, 16);
	ck_assert(allows(acl, "2001:db8:abcd:1000::5"));
	free(acl);
}
END_TEST

START_TEST(acl_v4_mapped_source_matches_ipv4_prefix)
{
	acl_t *acl = acl_new();
	ck_assert_int_eq(acl_add(acl, "192.0.2.0/24"), 0);
	/* On a dual-stack socket an IPv4 client shows up as ::ffff:a.b.c.d. */
	ck_assert(allows(acl, "::ffff:192.0.2.9"));
	ck_assert(!allows(acl, "::ffff:192.0.3.9"));
	ck_assert(!allows(acl, "::192.0.2.9"));            /* IPv4-compatible is not mapped */
	ck_assert(!allows(acl, "64:ff9b::192.0.2.9"));
	free(acl);
}
END_TEST

START_TEST(acl_bad_texts_rejected)
{
	static const char *const bad[] = {
		"1.2.3.4/33", "x", "1.2.3.4/", "::1/129", "", "/24", "/",
		"1.2.3.4/24x", "1.2.3.4/x", "1.2.3.4/-1", "1.2.3/24", "1.2.3.4.5",
		"1.2.3.4/99999999999999999999", "256.0.0.0/8", "2001:db8::/1280",
		"2001:db8:::1/64", "192.0.2.0 /24",
		"0000:0000:0000:0000:0000:0000:0000:0000:0000:0000/0",  /* longer than any address */
	};
	acl_t *acl = acl_new();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(acl_add(acl, bad[i]) == -1, "\"%s\" was accepted", bad[i]);
	ck_assert_int_eq(acl->n, 0);                       /* nothing half-added */
	ck_assert(allows(acl, "192.0.2.1"));               /* still the empty list */
	free(acl);
}
END_TEST

/*
 * The prefix length is digits only. strtol() would also take a sign and
 * leading blanks, and "/-0" would then mean /0: all of IPv4 allowed by a
 * text that is not a prefix at all.
 */
START_TEST(acl_prefix_length_digits_only)
{
	static const char *const bad[] = {
		"192.0.2.0/-0", "192.0.2.0/+24", "192.0.2.0/ 24", "192.0.2.0/\t24",
		"2001:db8::/-0", "2001:db8::/+32",
	};
	acl_t *acl = acl_new();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(acl_add(acl, bad[i]) == -1, "\"%s\" was accepted as /%u",
		              bad[i], acl->n > 0 ? acl->e[acl->n - 1].bits : 0);
	ck_assert_int_eq(acl->n, 0);
	free(acl);
}
END_TEST

START_TEST(acl_list_full)
{
	acl_t *acl = acl_new();
	for (int i = 0; i < ACL_MAX; i++) {
		char text[32];
		snprintf(text, sizeof(text), "10.%d.%d.0/24", i / 256, i % 256);
		ck_assert_int_eq(acl_add(acl, text), 0);
	}
	ck_assert_int_eq(acl_add(acl, "192.0.2.0/24"), -1);
	ck_assert_int_eq(acl->n, ACL_MAX);
	ck_assert(allows(acl, "10.0.255.1"));              /* the last one added */
	ck_assert(!allows(acl, "192.0.2.1"));
	free(acl);
}
END_TEST

/* ------------------------------------------------------------ rrl */

static rrl_t *
rrl_new(uint32_t rate, uint32_t slip)
{
	rrl_t *r = malloc(sizeof(*r));              /* 4096 slots: not for the stack */
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(rrl_init(r, rate, slip), 0);
	return r;
}

static rrl_verdict_t
check_at(rrl_t *r, const char *text, uint64_t now_ms)
{
	addr_t a = addr(text);
	return rrl_check(r, (const struct sockaddr *)&a.ss, now_ms);
}

/* How many of n checks at one instant get RRL_SEND. */
static unsigned
sends(rrl_t *r, const char *text, uint64_t now_ms, unsigned n)
{
	unsigned sent = 0;
	for (unsigned i = 0; i < n; i++)
		sent += check_at(r, text, now_ms) == RRL_SEND;
	return sent;
}

START_TEST(rrl_rate_zero_never_limits)
{
	rrl_t *r = rrl_new(0, 2);
	for (unsigned i = 0; i < 100000; i++)
		ck_assert_int_eq(check_at(r, i % 2 ? "192.0.2.1" : "2001:db8::1", 5), RRL_SEND);
	ck_assert_uint_eq(r->limited, 0);
	ck_assert_uint_eq(r->slipped, 0);
	free(r);
}
END_TEST

START_TEST(rrl_burst_then_every_slip_th_slips)
{
	rrl_t *r = rrl_new(10, 3);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(check_at(r, "192.0.2.1", 1000), RRL_SEND);
	/* Past the burst: the 3rd, 6th, 9th ... limited answer slips. */
	for (int i = 1; i <= 30; i++)
		ck_assert_int_eq(check_at(r, "192.0.2.1", 1000),
		                 i % 3 == 0 ? RRL_SLIP : RRL_DROP);
	ck_assert_uint_eq(r->limited, 30);
	ck_assert_uint_eq(r->slipped, 10);
	free(r);
}
END_TEST

START_TEST(rrl_slip_zero_and_one)
{
	rrl_t *none = rrl_new(5, 0), *all = rrl_new(5, 1);
	ck_assert_uint_eq(sends(none, "192.0.2.1", 0, 5), 5);
	ck_assert_uint_eq(sends(all, "192.0.2.1", 0, 5), 5);
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(check_at(none, "192.0.2.1", 0), RRL_DROP);
		ck_assert_int_eq(check_at(all, "192.0.2.1", 0), RRL_SLIP);
	}
	ck_assert_uint_eq(none->slipped, 0);
	ck_assert_uint_eq(all->slipped, 20);
	free(none);
	free(all);
}
END_TEST

START_TEST(rrl_tokens_refill_with_time)
{
	rrl_t *r = rrl_new(10, 0);                  /* one token every 100 ms */
	ck_assert_uint_eq(sends(r, "192.0.2.1", 5000, 50), 10);
	ck_assert_int_eq(check_at(r, "192.0.2.1", 5050), RRL_DROP);   /* half a token */
	ck_assert_int_eq(check_at(r, "192.0.2.1", 5100), RRL_SEND);   /* 100 ms: one */
	ck_assert_int_eq(check_at(r, "192.0.2.1", 5100), RRL_DROP);
	ck_assert_uint_eq(sends(r, "192.0.2.1", 5400, 50), 3);        /* 300 ms: three */
	/* The bucket holds one second's worth, however long the pause. */
	ck_assert_uint_eq(sends(r, "192.0.2.1", 60000, 50), 10);
	/* Time standing still or going back adds nothing and breaks nothing. */
	ck_assert_uint_eq(sends(r, "192.0.2.1", 59000, 5), 0);
	/* A steady 10 a second all pass: one every 100 ms for 10 s. */
	ck_assert_uint_eq(sends(r, "192.0.2.1", 61000, 10), 10);
	unsigned steady = 0;
	for (uint64_t t = 61100; t <= 71000; t += 100)
		steady += check_at(r, "192.0.2.1", t) == RRL_SEND;
	ck_assert_uint_eq(steady, 100);
	free(r);
}
END_TEST

START_TEST(rrl_time_zero_is_a_time)
{
	/* 0 marks a free slot inside; a caller's now_ms of 0 must still work. */
	rrl_t *r = rrl_new(2, 0);
	ck_assert_uint_eq(sends(r, "192.0.2.1", 0, 5), 2);
	ck_assert_uint_eq(sends(r, "192.0.2.1", 0, 5), 0);
	free(r);
}
END_TEST

START_TEST(rrl_ipv4_grouped_by_24)
{
	rrl_t *r = rrl_new(4, 0);
	ck_assert_uint_eq(sends(r, "192.0.2.1", 100, 10), 4);
	/* The same /24 shares the bucket... */
	ck_assert_uint_eq(sends(r, "192.0.2.200", 100, 10), 0);
	ck_assert_uint_eq(sends(r, "192.0.2.0", 100, 1), 0);
	/* ...the next /24 and another /8 have their own. */
	ck_assert_uint_eq(sends(r, "192.0.3.1", 100, 10), 4);
	ck_assert_uint_eq(sends(r, "193.0.2.1", 100, 10), 4);
	ck_assert_uint_eq(sends(r, "192.1.2.1", 100, 10), 4);
	free(r);
}
END_TEST

START_TEST(rrl_ipv6_grouped_by_56)
{
	rrl_t *r = rrl_new(4, 0);
	ck_assert_uint_eq(sends(r, "2001:db8:0:100::1", 100, 10), 4);
	/* Same /56 (2001:db8:0:100::/56 ends at 2001:db8:0:1ff:...). */
	ck_assert_uint_eq(sends(r, "2001:db8:0:1ff:ffff:ffff:ffff:ffff", 100, 10), 0);
	ck_assert_uint_eq(sends(r, "2001:db8:0:180::9", 100, 10), 0);
	/* The neighbouring /56s, and another /48. */
	ck_assert_uint_eq(sends(r, "2001:db8:0:200::1", 100, 10), 4);
	ck_assert_uint_eq(sends(r, "2001:db8:0:ff::1", 100, 10), 4);
	ck_assert_uint_eq(sends(r, "2001:db8:1:100::1", 100, 10), 4);
	free(r);
}
END_TEST

START_TEST(rrl_families_do_not_collide)
{
	/* 0.0.0.x and ::x have the same leading bytes; the family keeps them apart. */
	rrl_t *r = rrl_new(3, 0);
	ck_assert_uint_eq(sends(r, "0.0.0.1", 100, 10), 3);
	ck_assert_uint_eq(sends(r, "::1", 100, 10), 3);
	free(r);
}
END_TEST

/*
 * A dual-stack listener ([::]:PORT, or a socket systemd hands over) sees
 * IPv4 clients as ::ffff:a.b.c.d. Those must be grouped by their IPv4
 * /24 as acl.c treats them as IPv4; grouping them by their first 56 bits
 * (all zero for every mapped address) would put all of IPv4 in one
 * bucket, and one client could use up everyone's rate.
 */
START_TEST(rrl_v4_mapped_grouped_by_ipv4_24)
{
	rrl_t *r = rrl_new(4, 0);
	ck_assert_uint_eq(sends(r, "::ffff:192.0.2.1", 100, 10), 4);
	ck_assert_uint_eq(sends(r, "::ffff:192.0.2.99", 100, 10), 0);     /* same /24 */
	ck_assert_msg(sends(r, "::ffff:198.51.100.1", 100, 10) == 4,
	              "IPv4 clients of a dual-stack socket share one rate-limit bucket "
	              "(srv/rrl.c prefix_key() keys ::ffff:a.b.c.d by its first 7 bytes)");
	ck_assert_uint_eq(sends(r, "::ffff:203.0.113.1", 100, 10), 4);
	free(r);
}
END_TEST

START_TEST(rrl_table_full_keeps_working)
{
	rrl_t *r = rrl_new(2, 2);
	/* Three times as many distinct prefixes as slots within 12 ms, each
	 * using a token. A slot that still owes tokens is never handed on, so
	 * the prefixes that find none free near their hash share a bucket:
	 * no more than one slot's worth each can have been answered. */
	unsigned sent = 0;
	for (unsigned i = 0; i < 3 * RRL_SLOTS; i++) {
		char text[32];
		snprintf(text, sizeof(text), "10.%u.%u.1", (i >> 8) & 0xFF, i & 0xFF);
		sent += check_at(r, text, 1000 + i / 1000) == RRL_SEND;
	}
	ck_assert_uint_ge(sent, RRL_SLOTS / 2);
	ck_assert_uint_le(sent, 2 * RRL_SLOTS);
	/* Two seconds later every bucket is full again: a new prefix takes a slot,
	 * gets its answers, and the limit holds. */
	ck_assert_uint_eq(sends(r, "192.0.2.1", 3000, 2), 2);
	ck_assert_int_eq(check_at(r, "192.0.2.1", 3000), RRL_DROP);
	ck_assert_int_eq(check_at(r, "192.0.2.1", 3000), RRL_SLIP);
	ck_assert_uint_eq(sends(r, "2001:db8::1", 3000, 5), 2);
	/* Hammering many prefixes at once never loses track of the busy one:
	 * it owes tokens, so its slot is not given away. */
	for (unsigned i = 0; i < 1000; i++) {
		char text[32];
		snprintf(text, sizeof(text), "172.%u.%u.1", 16 + i / 256, i % 256);
		ck_assert_int_eq(check_at(r, text, 3000), RRL_SEND);
		ck_assert_int_ne(check_at(r, "192.0.2.1", 3000), RRL_SEND);
	}
	free(r);
}
END_TEST

/* `n` IPv4 /24s whose search starts on the same slot as `victim`'s. */
static void
colliders(const rrl_t *r, const char *victim, char out[][32], unsigned n)
{
	addr_t v = addr(victim);
	unsigned home = rrl_home(r, (const struct sockaddr *)&v.ss), found = 0;
	for (uint32_t i = 0; i < (1u << 20) && found < n; i++) {
		snprintf(out[found], 32, "%u.%u.%u.1", 11 + (i >> 16), (i >> 8) & 0xFF, i & 0xFF);
		addr_t a = addr(out[found]);
		if (rrl_home(r, (const struct sockaddr *)&a.ss) == home)
			found++;
	}
	ck_assert_uint_eq(found, n);
}

START_TEST(rrl_colliding_prefixes_cannot_refill_the_victim)
{
	/* The attack of issue 11 finding 4: forged queries for a victim,
	 * each followed by one from each of 8 prefixes that share the
	 * victim's slots, so that the victim is pushed out and came back with
	 * a full bucket every time. Here the colliders are found with the
	 * table's own key (an attacker cannot know it); what stops them is
	 * that a slot owing tokens is never handed on. */
	const uint32_t rate = 20;
	rrl_t *r = rrl_new(rate, 0);
	char c[8][32];
	colliders(r, "192.0.2.1", c, 8);
	uint64_t t = 1000;
	unsigned victim = 0, rounds = 500;
	for (unsigned i = 0; i < rounds; i++) {
		victim += check_at(r, "192.0.2.1", t++) == RRL_SEND;
		for (unsigned k = 0; k < 8; k++)
			check_at(r, c[k], t++);
	}
	/* One full bucket, then `rate` a second for the 4.5 s the attack took. */
	uint64_t bound = rate + rate * (t - 1000) / 1000 + 1;
	printf("rrl: victim of 8 rotating colliders got %u of %u answers in %llu ms "
	       "(rate %u; bound %llu)\n", victim, rounds, (unsigned long long)(t - 1000),
	       rate, (unsigned long long)bound);
	ck_assert_msg(victim <= bound, "the victim got %u of %u answers (bound %llu)",
	              victim, rounds, (unsigned long long)bound);

	/* Slower rounds let the colliders' own buckets fill up again between
	 * rounds, so they can be pushed out; the victim, asking more than its
	 * rate, still owes tokens and keeps its slot. */
	rrl_t *s = rrl_new(rate, 0);
	colliders(s, "192.0.2.1", c, 8);
	t = 1000;
	victim = 0;
	for (unsigned i = 0; i < 20; i++, t += 100) {
		victim += sends(s, "192.0.2.1", t, 25);
		for (unsigned k = 0; k < 8; k++)
			check_at(s, c[k], t + 1 + k);
	}
	bound = rate + rate * (t - 1000) / 1000 + 1;
	printf("rrl: victim asking 25 per 100 ms round got %u of 500 answers in %llu ms "
	       "(bound %llu)\n", victim, (unsigned long long)(t - 1000), (unsigned long long)bound);
	ck_assert_msg(victim <= bound, "the victim got %u of 500 answers (bound %llu)",
	              victim, (unsigned long long)bound);
	free(r);
	free(s);
}
END_TEST

START_TEST(rrl_key_differs_per_table)
{
	/* Which prefixes share slots must differ from one table to the next
	 * (from one portqd to the next), or colliders found once work forever. */
	rrl_t *a = rrl_new(10, 0), *b = rrl_new(10, 0);
	unsigned same = 0;
	for (unsigned i = 0; i < 64; i++) {
		char text[32];
		snprintf(text, sizeof(text), "198.51.%u.1", i);
		addr_t x = addr(text);
		same += rrl_home(a, (const struct sockaddr *)&x.ss) ==
		        rrl_home(b, (const struct sockaddr *)&x.ss);
	}
	ck_assert_uint_lt(same, 8);                /* 64/4096 expected by chance */
	free(a);
	free(b);
}
END_TEST

START_TEST(rrl_largest_rate)
{
	/* rrl-rate allows up to 1000000: a full bucket is 10^9 thousandths. */
	rrl_t *r = rrl_new(1000000, 0);
	ck_assert_uint_eq(sends(r, "192.0.2.1", 7, 1000001), 1000000);
	ck_assert_uint_eq(sends(r, "192.0.2.1", 8, 2000), 1000);       /* 1 ms refills 1000 */
	free(r);
}
END_TEST

/* ------------------------------------------------------------ answers */

static const char small_csv[] =
	"Service Name,Port Number,Transport Protocol,Description\n"
	"echo,7,tcp,Echo\n"
	"http,80,tcp,World Wide Web HTTP\n"
	"www,80,tcp,World Wide Web HTTP\n"
	"http,80,udp,World Wide Web HTTP\n"
	"ssh,22,tcp,The Secure Shell (SSH) Protocol\n";

static registry_t *reg;

static void
answers_setup(void)
{
	reg_builder_t *b = reg_builder_new();
	reg_error_t err;
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(reg_builder_load_mem(b, "small.csv", small_csv, strlen(small_csv),
	                                      REG_FMT_AUTO, &err), PORTQ_OK);
	/* Enough rows that a range answer fills a UDP datagram. */
	char more[200 * 64] = "Service Name,Port Number,Transport Protocol,Description\n";
	for (int i = 0; i < 150; i++) {
		char row[64];
		snprintf(row, sizeof(row), "svc%d,%d,udp,Service number %d\n", i, 3000 + i, i);
		strcat(more, row);
	}
	ck_assert_int_eq(reg_builder_load_mem(b, "more.csv", more, strlen(more),
	                                      REG_FMT_AUTO, &err), PORTQ_OK);
	reg = registry_build(b, 777);
	ck_assert_ptr_nonnull(reg);
}

static void
answers_teardown(void)
{
	registry_free(reg);
	reg = NULL;
}

static size_t
query(uint8_t *buf, size_t max, uint8_t op, uint16_t id, const portq_question_t *q)
{
	portq_header_t h = { .opcode = op, .id = id };
	int n = msg_query_encode(buf, max, &h, q);
	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

static portq_header_t
header_of(const uint8_t *buf, size_t len)
{
	portq_header_t h;
	wire_t r = wire_reader(buf, len);
	ck_assert_int_eq(portq_header_read(&r, &h), PORTQ_OK);
	return h;
}

START_TEST(refused_echoes_id_and_question)
{
	uint8_t req[512], out[PORTQ_UDP_MAX];
	answer_stats_t st;
	memset(&st, 0, sizeof(st));
	portq_question_t q = { .port_lo = 80, .transport = PORTQ_TP_TCP, .limit = 7 };
	size_t len = query(req, sizeof(req), PORTQ_OP_PORT, 0xBEEF, &q);
	size_t n = answer_refused(&st, req, len, out, sizeof(out)).len;
	ck_assert_uint_eq(n, len);                        /* header + the same question */
	portq_header_t h = header_of(out, n);
	ck_assert_uint_eq(h.id, 0xBEEF);
	ck_assert_uint_eq(h.opcode, PORTQ_OP_PORT);
	ck_assert_uint_eq(h.flags, PORTQ_FLAG_QR);
	ck_assert_uint_eq(h.rcode, PORTQ_RC_REFUSED);
	ck_assert_uint_eq(h.ancount, 0);
	ck_assert_uint_eq(h.adcount, 0);
	ck_assert_uint_eq(h.serial, 0);                   /* a refused client learns nothing */
	ck_assert_mem_eq(out + PORTQ_HEADER_LEN, req + PORTQ_HEADER_LEN, len - PORTQ_HEADER_LEN);
	ck_assert_uint_eq(st.by_rcode[PORTQ_RC_REFUSED], 1);

	/* A question with text: echoed byte for byte. */
	portq_question_t nq = { .transport = PORTQ_TP_ANY };
	portq_question_set_text(&nq, "some-service-name");
	len = query(req, sizeof(req), PORTQ_OP_NAME, 7, &nq);
	n = answer_refused(&st, req, len, out, sizeof(out)).len;
	ck_assert_uint_eq(n, len);
	ck_assert_mem_eq(out + PORTQ_HEADER_LEN, req + PORTQ_HEADER_LEN, len - PORTQ_HEADER_LEN);
	ck_assert_uint_eq(header_of(out, n).opcode, PORTQ_OP_NAME);
	ck_assert_uint_eq(header_of(out, n).id, 7);
	/* Unknown opcodes are refused just the same (not NOTIMPL). */
	req[1] = 200;
	n = answer_refused(&st, req, len, out, sizeof(out)).len;
	ck_assert_uint_eq(header_of(out, n).rcode, PORTQ_RC_REFUSED);
	ck_assert_uint_eq(header_of(out, n).opcode, 200);
}
END_TEST

START_TEST(refused_without_a_good_question)
{
	uint8_t req[512], out[PORTQ_UDP_MAX];
	answer_stats_t st;
	memset(&st, 0, sizeof(st));
	portq_question_t q = { .port_lo = 80 };
	size_t len = query(req, sizeof(req), PORTQ_OP_PORT, 0x1234, &q);
	/* A question cut short, one with trailing bytes, a bad transport:
	 * the header alone, REFUSED. */
	size_t n = answer_refused(&st, req, len - 1, out, sizeof(out)).len;
	ck_assert_uint_eq(n, PORTQ_HEADER_LEN);
	ck_assert_uint_eq(header_of(out, n).rcode, PORTQ_RC_REFUSED);
	ck_assert_uint_eq(header_of(out, n).id, 0x1234);
	req[len] = 0;
	ck_assert_uint_eq(answer_refused(&st, req, len + 1, out, sizeof(out)).len, PORTQ_HEADER_LEN);
	req[PORTQ_HEADER_LEN] = 9;                        /* transport 9 */
	ck_assert_uint_eq(answer_refused(&st, req, len, out, sizeof(out)).len, PORTQ_HEADER_LEN);
	ck_assert_uint_eq(answer_refused(&st, req, PORTQ_HEADER_LEN, out, sizeof(out)).len,
	                  PORTQ_HEADER_LEN);
	ck_assert_uint_eq(st.by_rcode[PORTQ_RC_REFUSED], 4);

	/* What answer_query() drops is dropped here too: short, not portq,
	 * itself a response. */
	len = query(req, sizeof(req), PORTQ_OP_PORT, 0x1234, &q);
	ck_assert_uint_eq(answer_refused(&st, req, PORTQ_HEADER_LEN - 1, out, sizeof(out)).len, 0);
	ck_assert_uint_eq(answer_refused(&st, req, 0, out, sizeof(out)).len, 0);
	req[0] = 0xA2;
	ck_assert_uint_eq(answer_refused(&st, req, len, out, sizeof(out)).len, 0);
	req[0] = PORTQ_MAGIC;
	req[4] = PORTQ_FLAG_QR;
	ck_assert_uint_eq(answer_refused(&st, req, len, out, sizeof(out)).len, 0);
	ck_assert_uint_eq(st.dropped, 4);
	ck_assert_uint_eq(st.by_rcode[PORTQ_RC_REFUSED], 4);
}
END_TEST

START_TEST(refused_in_a_small_buffer)
{
	uint8_t req[512], out[64];
	answer_stats_t st;
	memset(&st, 0, sizeof(st));
	portq_question_t q = { 0 };
	portq_question_set_text(&q, "a-name-longer-than-the-room-left");
	size_t len = query(req, sizeof(req), PORTQ_OP_NAME, 5, &q);
	ck_assert_uint_gt(len, 40);
	/* No room for the question: the header alone. */
	ck_assert_uint_eq(answer_refused(&st, req, len, out, 40).len, PORTQ_HEADER_LEN);
	ck_assert_uint_eq(header_of(out, PORTQ_HEADER_LEN).rcode, PORTQ_RC_REFUSED);
	/* No room for a header: nothing. */
	ck_assert_uint_eq(answer_refused(&st, req, len, out, PORTQ_HEADER_LEN - 1).len, 0);
}
END_TEST

/* The full answer to a query, and the slipped one in its place. */
static size_t
answer_and_slip(const uint8_t *req, size_t len, uint8_t *out, size_t *full)
{
	uint8_t whole[PORTQ_UDP_MAX];
	answer_ctx_t ctx = { reg, NULL, NULL, NULL, 0, 0 };
	*full = answer_query(&ctx, req, len, whole, sizeof(whole)).len;
	ck_assert_uint_gt(*full, 0);
	ctx.slip = 1;
	answer_t a = answer_query(&ctx, req, len, out, PORTQ_UDP_MAX);
	if (a.len > 0) {                   /* what it says it built is what it wrote */
		portq_header_t h = header_of(out, a.len);
		ck_assert_uint_eq(a.rcode, h.rcode);
		ck_assert_uint_eq(a.flags, h.flags);
	}
	return a.len;
}

START_TEST(slip_keeps_header_and_question)
{
	uint8_t req[512], out[PORTQ_UDP_MAX];
	portq_question_t q = { .port_lo = 80, .transport = PORTQ_TP_ANY };
	size_t len = query(req, sizeof(req), PORTQ_OP_PORT, 0xCAFE, &q), full;
	answer_stats_t st;
	memset(&st, 0, sizeof(st));
	answer_ctx_t ctx = { reg, &st, NULL, NULL, 0, 1 };
	size_t n = answer_query(&ctx, req, len, out, sizeof(out)).len;
	ck_assert_uint_eq(n, len);                        /* exactly header + question */
	portq_header_t h = header_of(out, n);
	ck_assert_uint_eq(h.id, 0xCAFE);
	ck_assert_uint_eq(h.opcode, PORTQ_OP_PORT);
	ck_assert_uint_eq(h.flags, PORTQ_FLAG_QR | PORTQ_FLAG_TC);
	ck_assert_uint_eq(h.rcode, PORTQ_RC_OK);
	ck_assert_uint_eq(h.ancount, 0);
	ck_assert_uint_eq(h.adcount, 0);
	ck_assert_uint_eq(h.serial, 777);
	ck_assert_mem_eq(out + PORTQ_HEADER_LEN, req + PORTQ_HEADER_LEN, len - PORTQ_HEADER_LEN);
	ck_assert_uint_eq(st.truncated, 1);

	/* NAME with text, a name no record has, a paged RANGE, a SEARCH:
	 * the same shape, made without a lookup, so rcode OK and no MORE
	 * (the client asks again over TCP and learns the rest there). */
	portq_question_t nq = { 0 };
	portq_question_set_text(&nq, "http");
	len = query(req, sizeof(req), PORTQ_OP_NAME, 1, &nq);
	ck_assert_uint_eq(answer_and_slip(req, len, out, &full), len);
	ck_assert_uint_gt(full, len);
	portq_question_set_text(&nq, "no-such-service");
	len = query(req, sizeof(req), PORTQ_OP_NAME, 2, &nq);
	ck_assert_uint_eq(answer_and_slip(req, len, out, &full), len);
	ck_assert_uint_eq(header_of(out, len).rcode, PORTQ_RC_OK);
	ck_assert(header_of(out, len).flags & PORTQ_FLAG_TC);
	portq_question_t rq = { .port_lo = 0, .port_hi = 65535, .limit = 5 };
	len = query(req, sizeof(req), PORTQ_OP_RANGE, 3, &rq);
	ck_assert_uint_eq(answer_and_slip(req, len, out, &full), len);
	h = header_of(out, len);
	ck_assert_uint_eq(h.flags, PORTQ_FLAG_QR | PORTQ_FLAG_TC);
	portq_question_set_text(&nq, "e");
	len = query(req, sizeof(req), PORTQ_OP_SEARCH, 4, &nq);
	ck_assert_uint_eq(answer_and_slip(req, len, out, &full), len);
	ck_assert_uint_eq(header_of(out, len).ancount, 0);
}
END_TEST

START_TEST(slip_keeps_the_errors_the_query_shows)
{
	uint8_t req[512], out[PORTQ_UDP_MAX];
	portq_question_t q = { .port_lo = 80 };
	size_t len = query(req, sizeof(req), PORTQ_OP_PORT, 42, &q), full;
	/* A question one byte short: MALFORMED, 16 bytes, no question. */
	size_t n = answer_and_slip(req, len - 1, out, &full);
	ck_assert_uint_eq(full, PORTQ_HEADER_LEN);
	ck_assert_uint_eq(n, PORTQ_HEADER_LEN);
	portq_header_t h = header_of(out, n);
	ck_assert_uint_eq(h.rcode, PORTQ_RC_MALFORMED);
	ck_assert_uint_eq(h.id, 42);
	ck_assert(h.flags & PORTQ_FLAG_TC);
	/* A RANGE upside down and an empty SEARCH: MALFORMED, header only. */
	portq_question_t rq = { .port_lo = 9, .port_hi = 8 };
	len = query(req, sizeof(req), PORTQ_OP_RANGE, 43, &rq);
	ck_assert_uint_eq(answer_and_slip(req, len, out, &full), PORTQ_HEADER_LEN);
	ck_assert_uint_eq(header_of(out, PORTQ_HEADER_LEN).rcode, PORTQ_RC_MALFORMED);
	portq_question_t sq = { 0 };
	len = query(req, sizeof(req), PORTQ_OP_SEARCH, 44, &sq);
	ck_assert_uint_eq(answer_and_slip(req, len, out, &full), PORTQ_HEADER_LEN);
	/* An unknown opcode: NOT-IMPLEMENTED, header and question. */
	len = query(req, sizeof(req), 77, 45, &q);
	ck_assert_uint_eq(answer_and_slip(req, len, out, &full), len);
	ck_assert_uint_eq(header_of(out, len).rcode, PORTQ_RC_NOTIMPL);
}
END_TEST

START_TEST(slip_drops_what_is_not_a_query)
{
	uint8_t buf[64], out[PORTQ_UDP_MAX];
	answer_stats_t st;
	memset(&st, 0, sizeof(st));
	answer_ctx_t ctx = { reg, &st, NULL, NULL, 0, 1 };
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 37 + 1);
	buf[0] = PORTQ_MAGIC;
	buf[4] = PORTQ_FLAG_QR;                 /* a response */
	ck_assert_uint_eq(answer_query(&ctx, buf, sizeof(buf), out, sizeof(out)).len, 0);
	buf[4] = 0;
	ck_assert_uint_eq(answer_query(&ctx, buf, 10, out, sizeof(out)).len, 0);
	buf[0] = 0x00;                          /* not portq */
	ck_assert_uint_eq(answer_query(&ctx, buf, sizeof(buf), out, sizeof(out)).len, 0);
	ck_assert_uint_eq(answer_query(&ctx, buf, 0, out, sizeof(out)).len, 0);
	ck_assert_uint_eq(st.dropped, 4);
}
END_TEST

/*
 * docs/hardening.md's amplification figures: a slipped or refused answer
 * is never larger than its query, and a full UDP answer never exceeds
 * 1232 bytes, so 1232 / 29 (the smallest query) bounds the factor.
 */
START_TEST(amplification_bounds)
{
	uint8_t req[512], out[PORTQ_UDP_MAX];
	answer_stats_t st;
	memset(&st, 0, sizeof(st));
	size_t worst_full = 0, worst_len = 1;
	for (unsigned op = 0; op < 256; op++)
		for (unsigned tlen = 0; tlen <= PORTQ_TEXT_MAX; tlen += 17) {
			portq_question_t q = { .port_lo = 0, .port_hi = 65535, .limit = 1000 };
			memset(q.text, 'e', tlen);
			q.text[tlen] = '\0';
			q.text_len = (uint8_t)tlen;
			size_t len = query(req, sizeof(req), (uint8_t)op, 9, &q), full;
			ck_assert_uint_eq(len, PORTQ_HEADER_LEN + PORTQ_QUESTION_MIN + tlen);
			size_t slipped = answer_and_slip(req, len, out, &full);
			ck_assert_uint_le(full, PORTQ_UDP_MAX);
			ck_assert_uint_le(slipped, len);
			ck_assert_uint_le(answer_refused(&st, req, len, out, sizeof(out)).len, len);
			if (full * worst_len > worst_full * len) {
				worst_full = full;
				worst_len = len;
			}
		}
	/* The worst case is the smallest query asking for a full datagram. */
	ck_assert_uint_eq(worst_len, PORTQ_HEADER_LEN + PORTQ_QUESTION_MIN);
	ck_assert_uint_le(worst_full, PORTQ_UDP_MAX);
	ck_assert_uint_gt(worst_full, PORTQ_UDP_MAX - 300);
	fprintf(stderr, "amplification: worst %zu-byte answer to a %zu-byte query (%.1fx); "
	        "bound %d/%d = %.1fx\n", worst_full, worst_len,
	        (double)worst_full / (double)worst_len, PORTQ_UDP_MAX,
	        PORTQ_HEADER_LEN + PORTQ_QUESTION_MIN,
	        (double)PORTQ_UDP_MAX / (PORTQ_HEADER_LEN + PORTQ_QUESTION_MIN));
}
END_TEST

static Suite *
acl_rrl_suite(void)
{
	Suite *s = suite_create("acl_rrl");
	TCase *acl = tcase_create("acl");
	tcase_add_test(acl, acl_empty_list_allows_all);
	tcase_add_test(acl, acl_ipv4_prefix);
	tcase_add_test(acl, acl_prefixes_off_byte_boundaries);
	tcase_add_test(acl, acl_ipv6_prefix);
	tcase_add_test(acl, acl_slash_zero);
	tcase_add_test(acl, acl_full_length_prefixes);
	tcase_add_test(acl, acl_host_bits_cleared);
	tcase_add_test(acl, acl_v4_mapped_source_matches_ipv4_prefix);
	tcase_add_test(acl, acl_bad_texts_rejected);
	tcase_add_test(acl, acl_prefix_length_digits_only);
	tcase_add_test(acl, acl_list_full);
	suite_add_tcase(s, acl);

	TCase *rrl = tcase_create("rrl");
	tcase_add_test(rrl, rrl_rate_zero_never_limits);
	tcase_add_test(rrl, rrl_burst_then_every_slip_th_slips);
	tcase_add_test(rrl, rrl_slip_zero_and_one);
	tcase_add_test(rrl, rrl_tokens_refill_with_time);
	tcase_add_test(rrl, rrl_time_zero_is_a_time);
	tcase_add_test(rrl, rrl_ipv4_grouped_by_24);
	tcase_add_test(rrl, rrl_ipv6_grouped_by_56);
	tcase_add_test(rrl, rrl_families_do_not_collide);
	tcase_add_test(rrl, rrl_v4_mapped_grouped_by_ipv4_24);
	tcase_add_test(rrl, rrl_table_full_keeps_working);
	tcase_add_test(rrl, rrl_colliding_prefixes_cannot_refill_the_victim);
	tcase_add_test(rrl, rrl_key_differs_per_table);
	tcase_add_test(rrl, rrl_largest_rate);
	suite_add_tcase(s, rrl);

	TCase *ans = tcase_create("refused and slip");
	tcase_add_checked_fixture(ans, answers_setup, answers_teardown);
	tcase_add_test(ans, refused_echoes_id_and_question);
	tcase_add_test(ans, refused_without_a_good_question);
	tcase_add_test(ans, refused_in_a_small_buffer);
	tcase_add_test(ans, slip_keeps_header_and_question);
	tcase_add_test(ans, slip_keeps_the_errors_the_query_shows);
	tcase_add_test(ans, slip_drops_what_is_not_a_query);
	tcase_add_test(ans, amplification_bounds);
	suite_add_tcase(s, ans);
	return s;
}

const check_suite_t check_suite = { .suite = acl_rrl_suite };
