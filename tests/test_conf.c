/*
 * test_conf.c -- portq.conf (client/conf.c): servers, timeout
 * and attempts from a handle's file, PORTQ_SERVER over it, and the
 * default client reading /etc/portq.conf again when it changes.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sched.h>
#include <sys/mount.h>

#include "check_main.h"
#include "client_fixture.h"
#include "fake_server.h"
#include "loopback.h"

START_TEST(config_file_servers)
{
	char path[] = "/tmp/test_conf_conf.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	fprintf(f, "# portq.conf for a test\n"
	           "server 127.0.0.1:%u   ; dead\n"
	           "bogus line that is skipped\n"
	           "server %s\n"
	           "timeout 1500\n"
	           "attempts 1\n", loopback_port_closed(SOCK_DGRAM), server_env);
	fclose(f);
	unsetenv("PORTQ_SERVER");       /* the file's servers, not the fixture's */
	portq_options_t o;
	memset(&o, 0, sizeof(o));
	o.config_file = path;
	portq_client_t *c;
	ck_assert_int_eq(portq_client_new(&c, &o), PORTQ_OK);
	portq_result_t *r;
	ck_assert_int_eq(portq_query_name(c, "sftsrv", "udp", &r), PORTQ_OK);
	ck_assert_str_eq(r->server, server_env);
	ck_assert_uint_eq(r->n_entries, 1);
	portq_result_free(r);
	portq_client_free(c);

	/* PORTQ_SERVER wins over the file: a dead one alone now fails. */
	char dead[64];
	snprintf(dead, sizeof(dead), "127.0.0.1:%u", loopback_port_closed(SOCK_DGRAM));
	setenv("PORTQ_SERVER", dead, 1);
	ck_assert_int_eq(portq_client_new(&c, &o), PORTQ_OK);
	ck_assert_int_eq(portq_query_name(c, "sftsrv", "udp", &r), PORTQ_EIO);
	ck_assert_ptr_null(r);
	ck_assert(strstr(portq_client_error(c), dead) != NULL);
	portq_client_free(c);
	setenv("PORTQ_SERVER", server_env, 1);
	unlink(path);
}
END_TEST

static void
conf_write(const char *text)
{
	FILE *f = fopen(PORTQ_CLIENT_CONFIG_FILE, "w");
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

/* Look up new ports until counter k hears one; 0 if it does not in 5 s. */
static int
conf_reaches(counter_t *k, unsigned *port)
{
	int before = k->queries;
	for (int i = 0; i < 100; i++) {
		(void)portq_getservbyport(htons((uint16_t)(*port)++), "tcp");
		if (k->queries > before)
			return 1;
		usleep(50 * 1000);
	}
	return 0;
}

/*
 * The default client of getservby*() reads /etc/portq.conf again when it
 * changes, within a second or so, and PORTQ_SERVER at every call. In a
 * child with a private mount namespace, where /etc is an empty folder.
 */
static const char *
conf_child_run(char *why, size_t len)
{
	char dir[] = "/tmp/test_conf_etc.XXXXXX";
	if (mkdtemp(dir) == NULL || unshare(CLONE_NEWNS) < 0 ||
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(dir, "/etc", "none", MS_BIND, NULL) < 0) {
		snprintf(why, len, "an /etc of our own: %s%s", strerror(errno),
		         errno == EPERM ? " -- this test needs root (CAP_SYS_ADMIN)" : "");
		return why;
	}
	counter_t a, b;
	counter_start(&a);
	counter_start(&b);
	char text[256];
	unsigned port = 20000;
	why[0] = '\0';

	unsetenv("PORTQ_SERVER");
	snprintf(text, sizeof(text), "server 127.0.0.1:%u\ntimeout 500\nattempts 1\n", a.port);
	conf_write(text);
	if (!conf_reaches(&a, &port)) {
		snprintf(why, len, "a new portq.conf was not read");
		goto out;
	}
	/* Read once: its cache-ttl is the default, so answers are kept. */
	int before = a.queries;
	for (int i = 0; i < 3; i++)
		(void)portq_getservbyport(htons(4000), "tcp");
	if (a.queries != before + 1) {
		snprintf(why, len, "%d queries for one cached answer", a.queries - before);
		goto out;
	}

	/* Edited in place: other servers, and no cache. */
	snprintf(text, sizeof(text), "server 127.0.0.1:%u\ntimeout 500\nattempts 1\n"
	                             "cache-ttl 0\n", b.port);
	conf_write(text);
	if (!conf_reaches(&b, &port)) {
		snprintf(why, len, "an edited portq.conf was not read");
		goto out;
	}
	before = b.queries;
	for (int i = 0; i < 3; i++)
		(void)portq_getservbyport(htons(4000), "tcp");
	if (b.queries != before + 3) {
		snprintf(why, len, "cache-ttl 0: %d queries for 3 lookups", b.queries - before);
		goto out;
	}

	/* PORTQ_SERVER wins over the file: from the next call on after
	 * portq_config_reload(), ... */
	char list[64];
	snprintf(list, sizeof(list), "127.0.0.1:%u", a.port);
	setenv("PORTQ_SERVER", list, 1);
	portq_config_reload();
	before = a.queries;
	(void)portq_getservbyport(htons(4001), "tcp");
	if (a.queries != before + 1) {
		snprintf(why, len, "PORTQ_SERVER was not followed after portq_config_reload()");
		goto out;
	}
	/* ... and without it within a second or so (read once a second). */
	snprintf(list, sizeof(list), "127.0.0.1:%u", b.port);
	setenv("PORTQ_SERVER", list, 1);
	usleep(1100 * 1000);
	before = b.queries;
	(void)portq_getservbyport(htons(4002), "tcp");
	if (b.queries != before + 1)
		snprintf(why, len, "PORTQ_SERVER was not followed a second later");
out:
	counter_stop(&a);
	counter_stop(&b);
	unlink(PORTQ_CLIENT_CONFIG_FILE);
	rmdir(dir);
	return why[0] != '\0' ? why : NULL;
}

START_TEST(default_conf_reread)
{
	child_expect(conf_child_run);
}
END_TEST

static Suite *
conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("conf");
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, config_file_servers);
	tcase_add_test(tc, default_conf_reread);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = conf_suite };
