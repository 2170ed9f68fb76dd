/*
 * log.h -- one printf-style logging function with a level, to stderr or
 * syslog. LOG_DEBUG lines compile out unless PORTQ_DEBUG is defined.
 */
#ifndef PORTQ_LOG_H
#define PORTQ_LOG_H

typedef enum { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG } log_level_t;

/* Send messages up to `level` to stderr, or to syslog when use_syslog. */
void log_setup(log_level_t level, int use_syslog);
void log_msg(log_level_t level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "err", "warn", "info", "debug" -> level; -1 when unknown. */
int log_level_parse(const char *s);

#define log_err(...)  log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#ifdef PORTQ_DEBUG
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#else
#define log_debug(...) do { } while (0)
#endif

#endif /* PORTQ_LOG_H */
