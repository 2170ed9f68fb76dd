/*
 * conf.h -- where libportq finds its servers: the options of a handle,
 * PORTQ_SERVER, /etc/portq.conf. Parsing only; nothing is resolved here.
 */
#ifndef PORTQ_CLIENT_CONF_H
#define PORTQ_CLIENT_CONF_H

#include <stddef.h>
#include <stdint.h>

#define CONF_MAX_SERVERS 8     /* resolv.conf keeps 3; a few more is plenty */
#define CONF_HOST_MAX    255   /* a DNS name */
#define CONF_CACHE_TTL_MAX 86400
#define CONF_LOOKUP_BUDGET_MAX 600000

/* One "HOST[:PORT]" as written; host is a name or a numeric address. */
typedef struct {
	char host[CONF_HOST_MAX + 1];
	uint16_t port;
} conf_server_t;

typedef struct {
	conf_server_t servers[CONF_MAX_SERVERS];
	int n_servers;
	int timeout_ms;   /* 0: not set */
	int attempts;     /* 0: not set */
	int cache_ttl;    /* seconds, 0 disables; -1: not set */
	int lookup_budget_ms;  /* getservby*() (the NSS path): total wait of
	                          one lookup; 0: none; -1: not set */
} conf_t;

/* An empty configuration: no servers, nothing set. */
void conf_init(conf_t *c);

/*
 * Parse one server: "HOST", "HOST:PORT", "[V6]", "[V6]:PORT", or a bare
 * IPv6 address (two colons or more: all of it is the address). The port
 * defaults to `default_port`. Returns PORTQ_OK or PORTQ_EINVAL.
 */
int conf_server_parse(const char *text, size_t len, uint16_t default_port,
                      conf_server_t *out);

/*
 * Replace c's servers by a comma-separated list ("a:1, b, [::1]:2").
 * Returns PORTQ_OK, or PORTQ_EINVAL naming the bad item in err.
 */
int conf_servers_set(conf_t *c, const char *list, char *err, size_t errlen);

/*
 * Read a resolv.conf-like file into c: `server HOST[:PORT]` (several),
 * `timeout MS`, `attempts N`, `cache-ttl SECONDS` (0 to 86400, 0: no
 * cache), `lookup-budget MS` (0 to 600000, 0: none); `#` and `;` start
 * comments. A file that does
 * not exist leaves c as it was and is not an error. Unknown keywords and
 * bad values are skipped, as resolv.conf does, so that a typo never stops
 * every lookup on the machine. Returns PORTQ_OK or PORTQ_EIO (the file
 * exists but cannot be read).
 */
int conf_read_file(conf_t *c, const char *path);

#endif /* PORTQ_CLIENT_CONF_H */
