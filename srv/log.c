/*
 * log.c -- logging to stderr or syslog (see log.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static log_level_t max_level = LOG_LVL_INFO;
static int to_syslog;

static const char *const level_names[] = { "err", "warn", "info", "debug" };

void
log_setup(log_level_t level, int use_syslog)
{
	max_level = level;
	to_syslog = use_syslog;
	if (use_syslog)
		openlog("portqd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int
log_level_parse(const char *s)
{
	for (int i = 0; i <= LOG_LVL_DEBUG; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void
log_msg(log_level_t level, const char *fmt, ...)
{
	if (level > max_level)
		return;
	char text[4096];                  /* the SIGUSR1 line: up to STATS_LINE_MAX */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (to_syslog) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
		syslog(prio[level], "%s", text);
		return;
	}
	char stamp[32];
	time_t t = time(NULL);
	struct tm tm;
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	fprintf(stderr, "%s portqd[%s]: %s\n", stamp, level_names[level], text);
}
