/*
 * config.h -- portqd's settings. One table (config.c) describes every
 * option: its name, type, range, default and help. The config file
 * ("name value" lines), the command-line flags ("--name value") and
 * --help are all driven by that table.
 */
#ifndef PORTQ_CONFIG_H
#define PORTQ_CONFIG_H

#include <stdio.h>
#include <sys/socket.h>

#define CONFIG_MAX_LIST 64
#define CONFIG_MAX_WORKERS 64      /* the "workers" row's maximum */

typedef struct {
	char *items[CONFIG_MAX_LIST];
	int n;
} config_list_t;

typedef struct {
	config_list_t listen;      /* ADDR:PORT, [V6]:PORT */
	config_list_t registry;    /* [FORMAT:]FILE */
	long tcp_idle_timeout;     /* ms */
	long tcp_max_connections;
	long tcp_max_frame;        /* bytes of one query frame */
	long reload_delay;         /* ms between a file change and the reload; a
	                              file is read once unchanged this long */
	long reload_timeout;       /* ms a load of the registry may take */
	long reload_max_shrink;    /* % of the records a reload may drop */
	long registry_max_bytes;   /* bytes of one registry file */
	long workers;              /* event loops, one per core */
	long udp_rcvbuf;           /* bytes of UDP receive buffer per socket */
	int udp_gso;               /* group answers to one peer with UDP_SEGMENT */
	long udp_hold;             /* us to wait after a busy read; 0 = off */
	long tcp_max_per_source;   /* TCP connections from one /24 or /56, per worker */
	long tcp_read_timeout;     /* ms a started query frame may take to arrive */
	long tcp_max_pending;      /* bytes of answers queued for one connection */
	long tcp_max_queries;      /* answered on one connection before it is closed */
	long tcp_max_lifetime;     /* ms a connection may stay open */
	config_list_t allow;       /* CIDR prefixes that may ask; empty: all */
	char *refused;             /* "refuse" (answer REFUSED) or "drop" */
	long tcp_rate;             /* TCP queries a second per prefix; 0 = off */
	long rrl_rate;             /* UDP answers a second per prefix; 0 = off */
	long rrl_slip;             /* every n-th limited answer sent truncated */
	char *user;                /* drop to this user after binding */
	int watch;                 /* reload when a registry file changes */
	char *log_level;
	int syslog;
	int check;                 /* validate and exit */
	char *previous;            /* --check: the registry this one replaces */
	char *config_file;
	int help;
} config_t;

/* Defaults from the table. */
void config_init(config_t *c);
void config_free(config_t *c);

/*
 * Apply the command line, and the config file it names (--config), with
 * flags winning over the file. Returns 0, or -1 after printing
 * "file:line: reason" or the bad flag to `err`.
 */
int config_load(config_t *c, int argc, char **argv, FILE *err);

/*
 * The addresses to listen on: c->listen, or when it is empty the
 * "listen" row's default (127.0.0.1 and [::1] on PORTQ_DEFAULT_PORT).
 * Never NULL; the default lives as long as the program.
 */
const config_list_t *config_listen(const config_t *c);

/* Parse "1.2.3.4:53" or "[::1]:53"; 0, or -1 when it is neither. */
int config_parse_addr(const char *text, struct sockaddr_storage *ss);

/*
 * Apply settings from an open config file; `path` names it in messages.
 * Returns 0, or -1 after printing "path:line: reason" to `err`.
 */
int config_load_stream(config_t *c, FILE *f, const char *path, FILE *err);

/* Check cross-option rules (ranges are checked while parsing). */
int config_validate(const config_t *c, FILE *err);

/* --help text, generated from the table. */
void config_usage(FILE *out);

/* Print the effective settings as a config file would write them. */
void config_print(const config_t *c, FILE *out);

#endif /* PORTQ_CONFIG_H */
