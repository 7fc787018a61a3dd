/*
 * Small helpers shared by every file: allocation that cannot fail
 * silently, growable buffers, string vectors, careful writes.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "airgap-agent.h"

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		fatal("malloc");
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		fatal("calloc");
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		fatalx("reallocarray: overflow");
	p = realloc(p, n * size > 0 ? n * size : 1);
	if (p == NULL)
		fatal("realloc");
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal("strdup");
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("asprintf");
	return s;
}

void
buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = xreallocarray(b->data, cap, 1);
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	buf_append(b, s, strlen(s));
	free(s);
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

size_t
strv_len(char *const *v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

char **
strv_copy(char *const *v)
{
	size_t i, n = strv_len(v);
	char **c = xcalloc(n + 1, sizeof *c);

	for (i = 0; i < n; i++)
		c[i] = xstrdup(v[i]);
	return c;
}

void
strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Retries short writes and EINTR; EPIPE reaches the caller as -1. */
int
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Creates DIR with mode 0700 unless it exists; an existing one must
 * not be writable by group or others, since its contents steer what
 * the agent does as root. */
int
mkdir_private(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", dir);
		return -1;
	}
	if (lstat(dir, &st) == -1) {
		log_warn("stat %s", dir);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_warnx("%s: not a directory", dir);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH) || st.st_uid != geteuid()) {
		log_warnx("%s: writable by others or not ours, refusing", dir);
		return -1;
	}
	return 0;
}

/* Text from outside (file names, labels, stream names) on its way to a
 * terminal, a log or a file of lines and fields: a control character
 * or a byte outside ASCII becomes \xNN, so that nothing can move the
 * cursor or fake a line or a field.  A backslash stays as it is, which
 * makes escaping twice the same as once (status shows files written
 * escaped already).  OUT always ends in a NUL; an escape is never cut
 * in half.  Returns OUT. */
char *
str_escape(char *out, size_t len, const char *in)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (len == 0)
		return out;
	for (; *in != '\0'; in++) {
		unsigned char c = (unsigned char)*in;
		int plain = c >= 0x20 && c < 0x7f;

		if (o + (plain ? 1 : 4) >= len)
			break;
		if (plain) {
			out[o++] = (char)c;
			continue;
		}
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	out[o] = '\0';
	return out;
}

int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd == -1) {
		log_warn("open %s", dir);
		return -1;
	}
	rc = fsync(fd);
	if (rc == -1)
		log_warn("fsync %s", dir);
	close(fd);
	return rc;
}

/* Replaces PATH with DATA so that a crash at any moment leaves the old
 * file or the new one, never half of one: a temporary file beside it,
 * fsync, rename, fsync of the folder. */
int
file_replace(const char *path, const void *data, size_t len)
{
	char *tmp = xasprintf("%s.tmp", path), *dir = xstrdup(path), *slash;
	int fd, rc = -1;

	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		log_warn("create %s", tmp);
		goto out;
	}
	if (write_all(fd, data, len) == -1 || fsync(fd) == -1) {
		log_warn("write %s", tmp);
		close(fd);
		goto out;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		log_warn("replace %s", path);
		goto out;
	}
	rc = slash != NULL ? fsync_dir(dir) : 0;
out:
	if (rc == -1)
		(void)unlink(tmp);
	free(tmp);
	free(dir);
	return rc;
}

#define FILE_LINE_MAX 4096

/* Calls FN with each line of PATH, its newline cut off; a line longer
 * than FILE_LINE_MAX bytes (which no state file writes) comes in
 * pieces.  A missing file has no lines. */
int
file_lines(const char *path, int (*fn)(void *, char *), void *arg)
{
	char line[FILE_LINE_MAX];
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		log_warn("open %s", path);
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		fn(arg, line);
	}
	fclose(f);
	return 0;
}

/* The names in DIR but "." files, unsorted; returns how many (*NAMES
 * and each name to be freed).  A missing folder has none. */
int
dir_names(const char *dir, char ***names)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	*names = NULL;
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		*names = xreallocarray(*names, (size_t)n + 1, sizeof **names);
		(*names)[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	return n;
}
