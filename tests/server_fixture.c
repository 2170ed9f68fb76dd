/*
 * server_fixture.c -- portqd in-process on loopback for the server suites.
 */
#include "server_fixture.h"

#include <arpa/inet.h>
#include <check.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "frame.h"

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

void
fixture_list_add(config_list_t *list, const char *s)
{
	ck_assert_int_lt(list->n, CONFIG_MAX_LIST);
	list->items[list->n] = strdup(s);
	ck_assert_ptr_nonnull(list->items[list->n]);
	list->n++;
}

void
fixture_init(server_fixture_t *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->ready_cv, NULL);
	config_init(&f->cfg);
	fixture_list_add(&f->cfg.listen, "127.0.0.1:0");
}

void
fixture_file_copy(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(out);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
}

void
fixture_copy_registry(server_fixture_t *f, const char *parent)
{
	snprintf(f->dir, sizeof(f->dir), "%s/portq-test-XXXXXX", parent);
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->file, sizeof(f->file), "%s/registry.csv", f->dir);
	fixture_file_copy(FIXTURE_SNAPSHOT, f->file);
	fixture_list_add(&f->cfg.registry, f->file);
}

static void
on_control(uv_async_t *a)
{
	server_fixture_t *f = container_of(a, server_fixture_t, control);
	pthread_mutex_lock(&f->lock);
	fixture_fn_t fn = f->pending;
	f->pending = NULL;
	pthread_mutex_unlock(&f->lock);
	if (fn != NULL)
		fn(f);
}

static void
stop_on_loop(server_fixture_t *f)
{
	server_stop(f->srv);
	uv_close((uv_handle_t *)&f->control, NULL);
}

static void *
server_thread(void *arg)
{
	server_fixture_t *f = arg;
	reg_error_t err;
	registry_t *reg = server_load_registry(&f->cfg.registry, 1000, &err);
	ck_assert_msg(reg != NULL, "%s", err.text);
	f->records = registry_count(reg);
	uv_loop_init(&f->loop);
	uv_async_init(&f->loop, &f->control, on_control);
	f->srv = server_new(&f->loop, &f->cfg, reg);
	ck_assert_ptr_nonnull(f->srv);
	int rc = server_start(f->srv);
	pthread_mutex_lock(&f->lock);
	f->start_rc = rc;
	f->port = (uint16_t)server_port(f->srv, 0);
	f->ready = 1;
	pthread_cond_signal(&f->ready_cv);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		stop_on_loop(f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	f->close_rc = server_free(f->srv);         /* every worker loop closed */
	if (f->close_rc == 0)
		f->close_rc = uv_loop_close(&f->loop);
	return NULL;
}

void
fixture_start(server_fixture_t *f)
{
	ck_assert_int_eq(pthread_create(&f->thread, NULL, server_thread, f), 0);
	pthread_mutex_lock(&f->lock);
	while (!f->ready)
		pthread_cond_wait(&f->ready_cv, &f->lock);
	pthread_mutex_unlock(&f->lock);
	ck_assert_int_eq(f->start_rc, 0);
	ck_assert_uint_ne(f->port, 0);
}

void
fixture_call(server_fixture_t *f, fixture_fn_t fn)
{
	pthread_mutex_lock(&f->lock);
	f->pending = fn;
	pthread_mutex_unlock(&f->lock);
	uv_async_send(&f->control);
}

static void
reload_on_loop(server_fixture_t *f)
{
	server_reload(f->srv);
}

void
fixture_reload(server_fixture_t *f)
{
	fixture_call(f, reload_on_loop);
}

int
fixture_stop(server_fixture_t *f)
{
	fixture_call(f, stop_on_loop);
	pthread_join(f->thread, NULL);
	return f->close_rc;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
fixture_tree_remove(const char *path)
{
	return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void
fixture_free(server_fixture_t *f)
{
	config_free(&f->cfg);
	if (f->dir[0] != '\0')
		fixture_tree_remove(f->dir);
	pthread_cond_destroy(&f->ready_cv);
	pthread_mutex_destroy(&f->lock);
}

/* ------------------------------------------------------------ client side */

struct sockaddr_in
fixture_addr(const server_fixture_t *f)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(f->port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	return a;
}

size_t
fixture_encode(uint8_t *buf, size_t max, uint8_t op, uint16_t id, const portq_question_t *q)
{
	portq_header_t h = { .opcode = op, .id = id };
	int n = msg_query_encode(buf, max, &h, q);
	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

size_t
fixture_udp_raw(const server_fixture_t *f, const uint8_t *req, size_t len,
                uint8_t *resp, size_t max, int timeout_ms)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = fixture_addr(f);
	ck_assert_int_eq(sendto(fd, req, len, 0, (struct sockaddr *)&a, sizeof(a)), (ssize_t)len);
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n = 0;
	if (poll(&p, 1, timeout_ms) == 1)
		n = recv(fd, resp, max, 0);
	close(fd);
	return n > 0 ? (size_t)n : 0;
}

int
fixture_tcp_connect(const server_fixture_t *f)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = fixture_addr(f);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	struct timeval tv = { 3, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

int
fixture_tcp_send_query(int fd, uint8_t op, uint16_t id, const portq_question_t *q)
{
	uint8_t req[512];
	size_t len = fixture_encode(req + 2, sizeof(req) - 2, op, id, q);
	portq_frame_prefix(req, len);
	return send(fd, req, len + 2, MSG_NOSIGNAL) == (ssize_t)(len + 2) ? 0 : -1;
}

static int
read_all(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(fd, buf + got, n - got, 0);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

size_t
fixture_tcp_read_frame(int fd, uint8_t *resp, size_t max)
{
	uint8_t pfx[2];
	if (read_all(fd, pfx, 2) < 0)
		return 0;
	size_t n = (size_t)(pfx[0] << 8 | pfx[1]);
	if (n > max || read_all(fd, resp, n) < 0)
		return 0;
	return n;
}
