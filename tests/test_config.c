/*
 * test_config.c -- the option table: config file, flags, ranges, errors.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "config.h"

static char path[64];
static char errtext[1024];

/* Write len bytes as a config file and load it with these extra flags. */
static int
load_bytes(config_t *c, const char *text, size_t len, int argc, char **extra)
{
	strcpy(path, "/tmp/portq-config-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	char *argv[16] = { "portqd", "--config", path };
	for (int i = 0; i < argc; i++)
		argv[3 + i] = extra[i];
	FILE *err = fmemopen(errtext, sizeof(errtext), "w");
	config_init(c);
	int rc = config_load(c, 3 + argc, argv, err);
	fclose(err);
	unlink(path);
	return rc;
}

/* Write a config file and load it with these extra flags; returns config_load's result. */
static int
load(config_t *c, const char *text, int argc, char **extra)
{
	return load_bytes(c, text, strlen(text), argc, extra);
}

START_TEST(defaults_from_table)
{
	config_t c;
	config_init(&c);
	ck_assert_int_eq(c.tcp_idle_timeout, 10000);
	ck_assert_int_eq(c.tcp_max_connections, 256);
	ck_assert_int_eq(c.watch, 1);
	ck_assert_str_eq(c.log_level, "info");
	ck_assert_int_eq(c.listen.n, 0);
	config_free(&c);
}
END_TEST

START_TEST(file_then_flags_win)
{
	config_t c;
	char *flags[] = { "--tcp-idle-timeout", "500", "--listen=[::1]:9", "--watch", "no" };
	ck_assert_int_eq(load(&c, "# a comment\n"
	                          "listen 127.0.0.1:5380   # trailing comment\n"
	                          "listen 127.0.0.2:5380\n"
	                          "\n"
	                          "tcp-idle-timeout 2000\n"
	                          "tcp-max-connections 7\n"
	                          "registry csv:/tmp/x.csv\n"
	                          "log-level debug\n", 5, flags), 0);
	ck_assert_int_eq(c.tcp_idle_timeout, 500);      /* the flag */
	ck_assert_int_eq(c.tcp_max_connections, 7);     /* the file */
	ck_assert_int_eq(c.listen.n, 1);                /* flag lists replace */
	ck_assert_str_eq(c.listen.items[0], "[::1]:9");
	ck_assert_int_eq(c.registry.n, 1);
	ck_assert_str_eq(c.registry.items[0], "csv:/tmp/x.csv");
	ck_assert_int_eq(c.watch, 0);
	ck_assert_str_eq(c.log_level, "debug");
	ck_assert_int_eq(config_validate(&c, stderr), 0);
	config_free(&c);
}
END_TEST

START_TEST(file_errors_name_the_line)
{
	static const struct { const char *text; const char *want; } cases[] = {
		{ "listen 1.2.3.4:5\nbogus 1\n", ":2: unknown setting \"bogus\"" },
		{ "tcp-idle-timeout 5\n", ":1: tcp-idle-timeout takes a whole number from 100 to 3600000, not \"5\"" },
		{ "\n\ntcp-max-frame lots\n", ":3: tcp-max-frame takes a whole number" },
		{ "watch maybe\n", ":1: watch takes yes or no" },
		{ "listen\n", ":1: listen needs a value" },
		{ "log-level loud\n", ":1: log-level is err, warn, info or debug" },
		{ "check yes\n", ":1: unknown setting \"check\"" },   /* command line only */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_t c;
		ck_assert_int_eq(load(&c, cases[i].text, 0, NULL), -1);
		ck_assert_msg(strstr(errtext, cases[i].want) != NULL, "case %zu: got \"%s\"",
		              i, errtext);
		ck_assert_msg(strstr(errtext, path) != NULL, "no file name in \"%s\"", errtext);
		config_free(&c);
	}
}
END_TEST

START_TEST(nul_byte_names_the_line)
{
	/* Before, fgets() and strlen() cut the line at the NUL: the setting
	 * before it applied and the rest vanished without a word. */
	static const char text[] = "listen 127.0.0.1:5380\nuser root\0 # rest\nwatch no\n";
	config_t c;
	ck_assert_int_eq(load_bytes(&c, text, sizeof(text) - 1, 0, NULL), -1);
	ck_assert_msg(strstr(errtext, ":2: NUL byte at column 10") != NULL,
	              "got \"%s\"", errtext);
	ck_assert_msg(strstr(errtext, path) != NULL, "no file name in \"%s\"", errtext);
	config_free(&c);

	/* A NUL on a comment line is refused too: nothing is skipped unseen. */
	static const char comment[] = "# a \0 comment\n";
	ck_assert_int_eq(load_bytes(&c, comment, sizeof(comment) - 1, 0, NULL), -1);
	ck_assert_msg(strstr(errtext, ":1: NUL byte") != NULL, "got \"%s\"", errtext);
	config_free(&c);
}
END_TEST

START_TEST(user_must_exist)
{
	config_t c;
	/* root exists everywhere; the file's line names the missing one. */
	ck_assert_int_eq(load(&c, "user root\n", 0, NULL), 0);
	ck_assert_str_eq(c.user, "root");
	config_free(&c);
	ck_assert_int_eq(load(&c, "watch no\nuser portq-no-such-user-7f3a\n", 0, NULL), -1);
	ck_assert_msg(strstr(errtext, ":2: user \"portq-no-such-user-7f3a\": no such user")
	              != NULL, "got \"%s\"", errtext);
	config_free(&c);

	/* The flag is checked the same way. */
	char *argv[] = { "portqd", "--user", "portq-no-such-user-7f3a", NULL };
	config_init(&c);
	FILE *err = fmemopen(errtext, sizeof(errtext), "w");
	ck_assert_int_eq(config_load(&c, 3, argv, err), -1);
	fclose(err);
	ck_assert_msg(strstr(errtext, "no such user") != NULL, "got \"%s\"", errtext);
	config_free(&c);
}
END_TEST

START_TEST(flag_errors)
{
	static char *const cases[][3] = {
		{ "--nope", NULL, NULL }, { "--listen", NULL, NULL },
		{ "--tcp-max-connections", "0", NULL }, { "stray", NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[4] = { "portqd", cases[i][0], cases[i][1], NULL };
		int argc = cases[i][1] ? 3 : 2;
		config_t c;
		config_init(&c);
		FILE *err = fmemopen(errtext, sizeof(errtext), "w");
		ck_assert_int_eq(config_load(&c, argc, argv, err), -1);
		fclose(err);
		ck_assert_msg(errtext[0] != '\0', "case %zu printed nothing", i);
		config_free(&c);
	}
}
END_TEST

START_TEST(listen_addresses)
{
	struct sockaddr_storage ss;
	ck_assert_int_eq(config_parse_addr("127.0.0.1:5380", &ss), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_int_eq(config_parse_addr("[::1]:0", &ss), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	const char *bad[] = { "localhost:53", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
	                      "[::1]53", "::1:53x", "[::1", "1.2.3.4:-1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(config_parse_addr(bad[i], &ss) == -1, "accepted %s", bad[i]);
}
END_TEST

START_TEST(help_lists_every_option)
{
	char buf[8192];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	config_usage(f);
	fclose(f);
	const char *names[] = { "--listen", "--registry", "--tcp-idle-timeout",
		"--tcp-max-connections", "--tcp-max-frame", "--reload-delay", "--watch",
		"--log-level", "--syslog", "--check", "--config", "--help" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ck_assert_msg(strstr(buf, names[i]) != NULL, "%s missing from --help", names[i]);
}
END_TEST

/* Every option --help names has its line in docs/operating.md. */
START_TEST(operating_doc_lists_every_option)
{
	char help[8192], doc[65536];
	FILE *f = fmemopen(help, sizeof(help), "w");
	config_usage(f);
	fclose(f);
	char doc_path[512];
	snprintf(doc_path, sizeof(doc_path), "%s/operating.md", PORTQ_DOCS_DIR);
	f = fopen(doc_path, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	int seen = 0;
	for (const char *p = help; (p = strstr(p, "  --")) != NULL; p += 4) {
		char name[64], table[80], flag[80];
		size_t len = strcspn(p + 4, " \n=");
		ck_assert_uint_lt(len, sizeof(name));
		memcpy(name, p + 4, len);
		name[len] = '\0';
		snprintf(table, sizeof(table), "| `%s", name);
		snprintf(flag, sizeof(flag), "`--%s", name);
		ck_assert_msg(strstr(doc, table) != NULL || strstr(doc, flag) != NULL,
		              "option %s is missing from %s", name, doc_path);
		seen++;
	}
	ck_assert_int_ge(seen, 20);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, defaults_from_table);
	tcase_add_test(tc, file_then_flags_win);
	tcase_add_test(tc, file_errors_name_the_line);
	tcase_add_test(tc, nul_byte_names_the_line);
	tcase_add_test(tc, user_must_exist);
	tcase_add_test(tc, flag_errors);
	tcase_add_test(tc, listen_addresses);
	tcase_add_test(tc, help_lists_every_option);
	tcase_add_test(tc, operating_doc_lists_every_option);
	suite_add_tcase(s, tc);
	return s;
}

const check_suite_t check_suite = { .suite = config_suite };
