/*
 * default.c -- the process's default client (see default.h).
 *
 * Before, every portq_getservbyport() made a handle of its own: it opened
 * /etc/portq.conf (two fifths of the time when the file is missing),
 * allocated 70 KiB and cleared 8 KiB of it, parsed PORTQ_SERVER; a cached
 * lookup cost some 4 us. Here the file is read when it changes, and what
 * a thread needs for a cached lookup is its own copy, refreshed when the
 * process-wide generation moves.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache.h"
#include "default.h"

struct default_thread {
	default_thread_t *prev, *next;   /* every thread's, under `lock` */
	unsigned long gen;               /* of the copy below; 0: none yet */
	char *env;                       /* PORTQ_SERVER the copy was made for */
	size_t env_cap;
	long long env_due_ms;            /* when PORTQ_SERVER is read next */
	int file_ttl;                    /* the file's cache-ttl; -1: unset */
	conf_t conf;                     /* finished (client_conf_finish) */
	char scope[CLIENT_SCOPE_MAX];
	portq_client_t *c;               /* NULL until the first network need */
};

/* What tells a changed file: an edit, a replacement, a removal. */
typedef struct {
	int exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
} file_id_t;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t key;        /* frees a thread's state when it ends */
static int key_ok;
static _Thread_local default_thread_t *mine;

/* The process-wide configuration, under `lock`. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static file_id_t file_id;
static conf_t file_conf;         /* as the file says */
static char *env_built;          /* PORTQ_SERVER `current` was built with */
static size_t env_built_cap;
static conf_t current;           /* the file's, PORTQ_SERVER's servers, finished */
static char current_scope[CLIENT_SCOPE_MAX];
static default_thread_t *threads;

static atomic_ulong generation = 1;      /* of `current` */
static atomic_llong next_check_ms;       /* when the file is looked at next */

/* Copy s into *dst (capacity *cap), growing it; -1 if memory runs out. */
static int
str_keep(char **dst, size_t *cap, const char *s)
{
	size_t n = strlen(s) + 1;
	if (n > *cap) {
		char *p = realloc(*dst, n);
		if (p == NULL)
			return -1;
		*dst = p;
		*cap = n;
	}
	memcpy(*dst, s, n);
	return 0;
}

static void
file_id_read(file_id_t *id)
{
	struct stat st;
	memset(id, 0, sizeof(*id));
	if (stat(PORTQ_CLIENT_CONFIG_FILE, &st) < 0)
		return;       /* missing or unreadable: read as absent */
	id->exists = 1;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = st.st_size;
	id->mtim = st.st_mtim;
	id->ctim = st.st_ctim;
}

static int
file_id_same(const file_id_t *a, const file_id_t *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtim.tv_sec == b->mtim.tv_sec &&
	       a->mtim.tv_nsec == b->mtim.tv_nsec && a->ctim.tv_sec == b->ctim.tv_sec &&
	       a->ctim.tv_nsec == b->ctim.tv_nsec;
}

/* Under lock: `current` from the file's settings and env_built. */
static void
current_build(void)
{
	current = file_conf;
	char err[CLIENT_ERROR_MAX];
	/* A variable that does not parse is ignored, as by a handle: a typo
	 * must not stop every lookup. */
	if (env_built != NULL && env_built[0] != '\0')
		(void)conf_servers_set(&current, env_built, err, sizeof(err));
	client_conf_finish(&current);
	client_scope_make(&current, current_scope, sizeof(current_scope));
	atomic_fetch_add_explicit(&generation, 1, memory_order_release);
}

/* Read the file, its identity first (so that an edit made while it is
 * read is seen at the next look). Not under `lock`: a slow file system
 * must not hold up other threads' lookups, nor fork() (fork.c). */
static void
file_read(file_id_t *id, conf_t *conf)
{
	file_id_read(id);
	conf_init(conf);
	(void)conf_read_file(conf, PORTQ_CLIENT_CONFIG_FILE);  /* unreadable: absent */
}

static void
thread_end(void *arg)
{
	default_thread_t *t = arg;
	mine = NULL;      /* a later destructor's lookup starts afresh */
	pthread_mutex_lock(&lock);
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		threads = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&lock);
	client_free(t->c);
	free(t->env);
	free(t);
}

static void
setup(void)
{
	key_ok = pthread_key_create(&key, thread_end) == 0;
	file_id_t id;
	conf_t conf;
	file_read(&id, &conf);
	pthread_mutex_lock(&lock);
	file_id = id;
	file_conf = conf;
	const char *env = secure_getenv("PORTQ_SERVER");
	if (env != NULL && str_keep(&env_built, &env_built_cap, env) < 0)
		env_built = NULL;   /* out of memory: thread_sync() tries again */
	current_build();
	pthread_mutex_unlock(&lock);
	atomic_store(&next_check_ms, cache_now_ms() + DEFAULT_CHECK_INTERVAL_MS);
}

/* The library is unloaded: threads ending later must not call into it. */
__attribute__((destructor)) static void
teardown(void)
{
	if (key_ok)
		pthread_key_delete(key);
}

static default_thread_t *
thread_new(void)
{
	default_thread_t *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	pthread_mutex_lock(&lock);
	t->next = threads;
	if (threads != NULL)
		threads->prev = t;
	threads = t;
	pthread_mutex_unlock(&lock);
	if (key_ok)
		(void)pthread_setspecific(key, t);
	mine = t;
	return t;
}

/* The file, if a look is due and this thread is the one to take it. */
static void
file_check(long long now)
{
	long long due = atomic_load_explicit(&next_check_ms, memory_order_relaxed);
	if (now < due || !atomic_compare_exchange_strong(&next_check_ms, &due,
	                                                 now + DEFAULT_CHECK_INTERVAL_MS))
		return;
	file_id_t id;
	file_id_read(&id);
	pthread_mutex_lock(&lock);
	int same = file_id_same(&id, &file_id);
	pthread_mutex_unlock(&lock);
	if (same)
		return;
	conf_t conf;
	file_read(&id, &conf);
	pthread_mutex_lock(&lock);
	file_id = id;
	file_conf = conf;
	current_build();
	pthread_mutex_unlock(&lock);
}

/* Take a copy of the configuration for `env`, building it first if the
 * variable changed. */
static int
thread_sync(default_thread_t *t, const char *env)
{
	pthread_mutex_lock(&lock);
	if (strcmp(env, env_built != NULL ? env_built : "") != 0) {
		if (str_keep(&env_built, &env_built_cap, env) < 0 ||
		    str_keep(&t->env, &t->env_cap, env) < 0) {
			pthread_mutex_unlock(&lock);
			return PORTQ_ENOMEM;
		}
		current_build();
	} else if (str_keep(&t->env, &t->env_cap, env) < 0) {
		pthread_mutex_unlock(&lock);
		return PORTQ_ENOMEM;
	}
	t->gen = atomic_load_explicit(&generation, memory_order_relaxed);
	t->conf = current;
	t->file_ttl = file_conf.cache_ttl;
	memcpy(t->scope, current_scope, strlen(current_scope) + 1);
	pthread_mutex_unlock(&lock);
	if (t->c != NULL) {
		/* New servers: new addresses, a new socket. */
		client_close(t->c);
		client_init(t->c, &t->conf, 0, default_ttl(t));
		t->c->resolve_max_age_ms = DEFAULT_RESOLVE_MAX_AGE_MS;
		t->c->udp_uses_max = DEFAULT_UDP_USES_MAX;
	}
	return PORTQ_OK;
}

int
default_thread_get(default_thread_t **out, long long *now_ms)
{
	pthread_once(&once, setup);
	default_thread_t *t = mine;
	if (t == NULL && (t = thread_new()) == NULL)
		return PORTQ_ENOMEM;
	*now_ms = cache_now_ms();
	file_check(*now_ms);
	unsigned long gen = atomic_load_explicit(&generation, memory_order_acquire);
	if (t->gen != gen || *now_ms >= t->env_due_ms) {
		const char *env = secure_getenv("PORTQ_SERVER");
		if (env == NULL)
			env = "";
		t->env_due_ms = *now_ms + DEFAULT_CHECK_INTERVAL_MS;
		if (t->gen != gen || strcmp(env, t->env) != 0) {
			int rc = thread_sync(t, env);
			if (rc < 0)
				return rc;
		}
	}
	*out = t;
	return PORTQ_OK;
}

void
default_reload(void)
{
	pthread_once(&once, setup);
	atomic_store(&next_check_ms, 0);
	atomic_fetch_add(&generation, 1);
}

void
default_fork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

void
default_fork_parent(void)
{
	pthread_mutex_unlock(&lock);
}

void
default_fork_child(void)
{
	pthread_mutex_init(&lock, NULL);
	/* Only the thread that forked came along: the others' states are
	 * whole (their list was under the lock) but nobody's any more. Their
	 * handles' kept sockets are the child's copies of the parent's, so
	 * closing them here leaves the parent's open; client_close() leaves
	 * alone a descriptor that no longer is the socket. */
	default_thread_t *t = threads;
	while (t != NULL) {
		default_thread_t *next = t->next;
		if (t != mine) {
			client_free(t->c);
			free(t->env);
			free(t);
		}
		t = next;
	}
	threads = mine;
	if (mine != NULL) {
		mine->prev = mine->next = NULL;
		if (mine->c != NULL)
			client_close(mine->c);   /* its socket is the parent's too */
	}
}

const char *
default_scope(const default_thread_t *t)
{
	return t->scope;
}

int
default_ttl(const default_thread_t *t)
{
	return client_ttl(0, t->file_ttl);
}

int
default_client(default_thread_t *t, portq_client_t **out)
{
	if (t->c == NULL) {
		portq_client_t *c = malloc(sizeof(*c));
		if (c == NULL)
			return PORTQ_ENOMEM;
		client_init(c, &t->conf, 0, default_ttl(t));
		c->resolve_max_age_ms = DEFAULT_RESOLVE_MAX_AGE_MS;
		/* A socket per query: see DEFAULT_UDP_USES_MAX. */
		c->udp_uses_max = DEFAULT_UDP_USES_MAX;
		t->c = c;
	}
	t->c->cache_ttl = default_ttl(t);
	*out = t->c;
	return PORTQ_OK;
}
