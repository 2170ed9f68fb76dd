/*
 * main.c -- portqd: settings, the registry, then the server until a
 * signal stops it.
 *
 * Exit codes: 0 stopped cleanly (or --check passed), 1 the registry or
 * the listeners failed, 2 bad settings.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "format.h"
#include "log.h"
#include "regload.h"
#include "registry.h"
#include "server.h"

/*
 * Without --registry: the first of these that exists, so that a fresh
 * machine serves something useful (docs/operating.md).
 */
static const char *const default_registries[] = {
	"/var/lib/portq/service-names-port-numbers.xml",
	"/var/lib/portq/service-names-port-numbers.csv",
	"/etc/services",
};
#define DEFAULT_LOCAL "/etc/portq/local-assignments"

static int
add_default_registry(config_t *cfg)
{
	for (size_t i = 0; i < sizeof(default_registries) / sizeof(default_registries[0]); i++)
		if (access(default_registries[i], R_OK) == 0) {
			cfg->registry.items[cfg->registry.n++] = strdup(default_registries[i]);
			break;
		}
	if (cfg->registry.n > 0 && access(DEFAULT_LOCAL, R_OK) == 0)
		cfg->registry.items[cfg->registry.n++] = strdup("local:" DEFAULT_LOCAL);
	for (int i = 0; i < cfg->registry.n; i++)
		if (cfg->registry.items[i] == NULL)
			return -1;
	return cfg->registry.n > 0 ? 0 : -1;
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
	if (s->duplicates > 0)
		printf("  duplicates:  %u dropped (rows that repeat an earlier record "
		       "exactly; the first on line %u)\n", s->duplicates, s->first_duplicate);
	if (s->date[0] != '\0')
		printf("  newest date: %s\n", s->date);
}

/*
 * Load `files` as a reload would, on a thread of its own, waiting at most
 * reload-timeout: a file that blocks (a hung mount) makes --check and the
 * start fail with a reason instead of hanging. The stuck thread is left
 * behind; exit() ends it.
 */
static registry_t *
load_bounded(const config_t *cfg, const config_list_t *files, uint32_t serial,
             reg_error_t *err)
{
	regload_limits_t lim;
	regload_limits(cfg, &lim);
	regload_job_t *j = regload_job_start(files, serial, &lim, NULL, NULL);
	if (j == NULL) {
		snprintf(err->text, sizeof(err->text), "cannot start the loading thread");
		return NULL;
	}
	char where[4200];
	while (!regload_job_wait(j, cfg->reload_timeout)) {
		regload_expiry_t e = regload_job_expire(j, where, sizeof(where));
		if (e == REGLOAD_DONE)
			break;
		if (e == REGLOAD_INDEXING)
			continue;                /* cannot block: wait on */
		snprintf(err->text, sizeof(err->text), "loading the registry timed out after "
		         "%ld ms %.400s (reload-timeout)", cfg->reload_timeout, where);
		return NULL;
	}
	return regload_job_finish(j, err, NULL);
}

/*
 * --check --previous FILE: would a reload from the registry in FILE to
 * `reg` pass the shrink rule? 0 yes (or FILE does not load: nothing to
 * lose), 1 no.
 */
static int
check_previous(const config_t *cfg, const registry_t *reg)
{
	config_list_t prev = { { cfg->previous }, 1 };
	reg_error_t err;
	registry_t *old = load_bounded(cfg, &prev, 1, &err);
	if (old == NULL) {
		printf("previous: %s does not load (%s); no shrink check\n", cfg->previous,
		       err.text);
		return 0;
	}
	size_t before = registry_count(old);
	registry_free(old);
	if (regload_shrink_check(before, registry_count(reg), cfg->reload_max_shrink,
	                         &err) != PORTQ_OK) {
		fprintf(stderr, "portqd: replacing %s: %s\n", cfg->previous, err.text);
		return 1;
	}
	printf("previous: %s, %zu records; shrink within reload-max-shrink (%ld%%)\n",
	       cfg->previous, before, cfg->reload_max_shrink);
	return 0;
}

/*
 * Once the sockets are bound, nothing needs root: become `user` if one is
 * set. Running as root without one is allowed but warned about.
 */
static int
drop_privileges(const config_t *cfg)
{
	if (cfg->user == NULL) {
		if (geteuid() == 0)
			log_warn("running as root; set \"user\" to drop privileges after binding");
		return 0;
	}
	struct passwd *pw = getpwnam(cfg->user);
	if (pw == NULL) {
		log_err("user %s: no such user", cfg->user);
		return -1;
	}
	if (geteuid() == 0 &&
	    (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	     setuid(pw->pw_uid) < 0)) {
		log_err("cannot become %s: %s", cfg->user, strerror(errno));
		return -1;
	}
	if (geteuid() != pw->pw_uid) {
		log_err("still running as uid %u, not %s", (unsigned)geteuid(), cfg->user);
		return -1;
	}
	/* Regaining root must fail now. */
	if (pw->pw_uid != 0 && setuid(0) == 0) {
		log_err("could regain root after dropping to %s", cfg->user);
		return -1;
	}
	log_info("running as %s (uid %u)", cfg->user, (unsigned)pw->pw_uid);
	return 0;
}

static int
run(const config_t *cfg, registry_t *reg)
{
	uv_loop_t loop;
	if (uv_loop_init(&loop) < 0) {
		registry_free(reg);
		return 1;
	}
	server_t *s = server_new(&loop, cfg, reg);
	if (s == NULL) {
		registry_free(reg);
		uv_loop_close(&loop);
		return 1;
	}
	int failed = server_start(s) < 0 || drop_privileges(cfg) < 0;
	if (failed)
		server_stop(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	int rc = server_free(s);
	if (rc == 0)
		rc = uv_loop_close(&loop);
	if (rc < 0) {
		log_err("handles still open at exit: %s", uv_strerror(rc));
		return 1;
	}
	log_info("exiting");
	return failed;
}

static int
portqd_main(int argc, char **argv)
{
	config_t cfg;
	config_init(&cfg);
	if (config_load(&cfg, argc, argv, stderr) < 0 || config_validate(&cfg, stderr) < 0) {
		config_free(&cfg);
		return 2;
	}
	if (cfg.help) {
		config_usage(stdout);
		config_free(&cfg);
		return 0;
	}
	if (cfg.previous != NULL && !cfg.check) {
		fprintf(stderr, "portqd: --previous goes with --check\n");
		config_free(&cfg);
		return 2;
	}
	log_setup((log_level_t)log_level_parse(cfg.log_level), cfg.syslog);
	if (cfg.registry.n == 0 && add_default_registry(&cfg) < 0) {
		fprintf(stderr, "portqd: no --registry given and none of the default "
		                "registries is readable (see --help)\n");
		config_free(&cfg);
		return 1;
	}

	reg_error_t err;
	registry_t *reg = load_bounded(&cfg, &cfg.registry, (uint32_t)time(NULL), &err);
	if (reg == NULL) {
		fprintf(stderr, "%s\n", err.text);
		config_free(&cfg);
		return 1;
	}
	int rc = 0;
	if (cfg.check) {
		for (size_t i = 0; i < registry_source_count(reg); i++)
			print_source(registry_source(reg, i));
		printf("registry: %zu records, %zu distinct names, newest date %s, serial %u\n",
		       registry_count(reg), registry_name_count(reg),
		       registry_date(reg)[0] ? registry_date(reg) : "(none)",
		       registry_serial(reg));
		if (cfg.previous != NULL)
			rc = check_previous(&cfg, reg);
		if (rc == 0)
			printf("config: ok\n");
		registry_free(reg);
	} else {
		rc = run(&cfg, reg);
	}
	config_free(&cfg);
	return rc;
}

/*
 * A load given up on (reload-timeout) may still be stuck in the kernel,
 * on a mount that does not answer. exit() would run exit handlers with
 * that thread alive (and a leak checker's stop-the-world would wait on
 * it for ever): flush what was written and leave with _exit() instead.
 */
int
main(int argc, char **argv)
{
	int rc = portqd_main(argc, argv);
	if (regload_stuck() > 0) {
		fflush(NULL);
		_exit(rc);
	}
	return rc;
}
