/*
 * NNCP's chunked files: "nncp-file -chunked" sends a stream bigger than
 * a stick as NAME.nncp.chunk0, NAME.nncp.chunk1, ... and NAME.nncp.meta
 * (the file's size, the chunk size and each chunk's checksum), possibly
 * over several trips.  Pieces are never queue files of their own, and
 * are never moved, renamed or quarantined here: a set is taken as one
 * queue file (NAME, found at NAME.nncp.meta) once every chunk the meta
 * lists is there, and leaves the folder whole once it is received
 * everywhere it must be.  Until then it waits, and status says how far
 * it got.
 *
 * A complete set is read through "nncp-reass -keep -stdout", run as the
 * NNCP user: it checks every chunk against the meta before it writes a
 * byte, then writes the file to a pipe, so the set needs no second copy
 * of the stream on the queue's filesystem.  Each pass over the file
 * (a compound stream is read twice) runs it again.  What it writes goes
 * through the same byte path as any queue file: gpg, zstd and the
 * record walk decide whether it is genuine, not NNCP.
 *
 * Names and metas are untrusted: a name with ".nncp." that is not
 * exactly a queue file name followed by ".nncp.meta" or ".nncp.chunkN"
 * (N decimal, no leading zero) is reported and left alone, never
 * guessed at.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "airgap-agent.h"

#define NNCP_SEP ".nncp."
#define META_MAGIC "NNCPM\0\0\2"
#define META_MAGIC_LEN 8
#define META_HEAD (META_MAGIC_LEN + 8 + 8 + 4)
#define META_SUM 32
#define META_MAX (META_HEAD + (size_t)CHUNK_COUNT_MAX * META_SUM)
/* nncp-reass checks every chunk before it writes: it must start
 * writing within timeouts.nncp plus a second per this many bytes. */
#define REASS_CHECK_RATE (10u * 1024 * 1024)

/* N of "chunkN": decimal, no sign, no leading zero, below the maximum. */
static int
parse_index(const char *s, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 7)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= CHUNK_COUNT_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Is NAME an NNCP piece of one of our queue files, or meant to look
 * like one?  0 with kind CHUNK_NONE: no ".nncp." in it, not a piece.
 * 0 with CHUNK_PIECE or CHUNK_META: exactly a piece of the queue file
 * BASE, a valid name for DIR_HOST.  -1: neither; WHY says what is
 * wrong. */
int
chunk_parse_name(const char *dir_host, const char *name, struct chunk_name *cn,
    const char **why)
{
	const char *sep = strstr(name, NNCP_SEP), *rest;
	struct queue_name qn;
	size_t bl;

	memset(cn, 0, sizeof *cn);
	if (sep == NULL)
		return 0;
	if (strlen(name) > QUEUE_NAME_MAX)
		return *why = "name too long", -1;
	if (strstr(sep + 1, NNCP_SEP) != NULL)
		return *why = "\".nncp.\" more than once", -1;
	rest = sep + strlen(NNCP_SEP);
	if (strcmp(rest, "meta") == 0)
		cn->kind = CHUNK_META;
	else if (strncmp(rest, "chunk", 5) == 0 &&
	    parse_index(rest + 5, &cn->index) == 0)
		cn->kind = CHUNK_PIECE;
	else
		return *why = "not NAME.nncp.meta or NAME.nncp.chunkN", -1;
	bl = (size_t)(sep - name);
	memcpy(cn->base, name, bl);
	cn->base[bl] = '\0';
	if (queue_parse_name(dir_host, cn->base, &qn, why) == -1) {
		cn->kind = CHUNK_NONE;
		return -1;
	}
	return 0;
}

static uint64_t
get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* NAME.nncp.meta as nncp-file 8 writes it (XDR): the magic, the file
 * size, the chunk size, then the chunks' checksums, counted.  Every
 * field must agree with the others and the length must be exact. */
int
chunk_parse_meta(const unsigned char *b, size_t n, struct chunk_meta *m,
    const char **why)
{
	uint64_t want;
	uint32_t count;

	memset(m, 0, sizeof *m);
	if (n < META_HEAD || memcmp(b, META_MAGIC, META_MAGIC_LEN) != 0)
		return *why = "not an NNCP chunked meta file (version 2)", -1;
	m->size = get_be64(b + 8);
	m->chunk_size = get_be64(b + 16);
	count = (uint32_t)b[24] << 24 | (uint32_t)b[25] << 16 |
	    (uint32_t)b[26] << 8 | b[27];
	if (m->chunk_size == 0 || m->size == 0)
		return *why = "meta says the file or its chunks are empty", -1;
	if (m->size > INT64_MAX || m->chunk_size > INT64_MAX)
		return *why = "meta says the file is larger than any file", -1;
	if (count == 0 || count >= CHUNK_COUNT_MAX)
		return *why = "meta lists no chunks or too many", -1;
	want = m->size / m->chunk_size + (m->size % m->chunk_size != 0);
	if (want != count)
		return *why = "meta's chunk count does not match its sizes", -1;
	if (n != META_HEAD + (size_t)count * META_SUM)
		return *why = "meta's length does not match its chunk count", -1;
	m->count = count;
	return 0;
}

/* Reads and parses NAME.nncp.meta in DIR: a regular file, not
 * followed through a link, never a FIFO that would block. */
static int
read_meta(int dir, const char *name, struct chunk_meta *m, const char **why)
{
	unsigned char *b = NULL;
	struct stat st;
	ssize_t n;
	int fd, rc = -1;

	fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		*why = "meta cannot be opened as a regular file";
		goto out;
	}
	if (st.st_size < (off_t)META_HEAD || (size_t)st.st_size > META_MAX) {
		*why = "meta's length is impossible";
		goto out;
	}
	b = xmalloc((size_t)st.st_size);
	n = pread(fd, b, (size_t)st.st_size, 0);
	if (n != st.st_size)
		*why = "meta cannot be read";
	else
		rc = chunk_parse_meta(b, (size_t)n, m, why);
out:
	if (fd != -1)
		close(fd);
	free(b);
	return rc;
}

/* The pieces of one set found in one scan. */
struct set_scan {
	struct chunk_set set;
	int has_meta;
	uint32_t *idx; /* chunk numbers present, each once (names are strict) */
	size_t nidx;
};

struct dir_scan {
	struct queue *qu;
	const char *root;
	const char *host;
	int dir;
	struct set_scan *s;
	size_t n;
};

static void
note_add(struct queue *qu, const struct chunk_set *cs)
{
	qu->sets = xreallocarray(qu->sets, qu->nsets + 1, sizeof *qu->sets);
	qu->sets[qu->nsets++] = *cs;
}

/* A name that is not a piece we take: reported where it is, left. */
static void
stray(struct dir_scan *d, const char *name, const char *why, time_t t)
{
	struct chunk_set cs = { 0 };
	char n[ESCAPED_MAX(QUEUE_NAME_MAX)];

	log_warnx("queue: %s/%s/%s: %s; left alone", d->root, d->host,
	    str_escape(n, sizeof n, name), why);
	cs.host = xstrdup(d->host);
	cs.name = xstrdup(name);
	cs.problem = why;
	cs.since = t;
	cs.stray = 1;
	note_add(d->qu, &cs);
}

static struct set_scan *
set_get(struct dir_scan *d, const char *base)
{
	struct set_scan *s;
	size_t i;

	for (i = 0; i < d->n; i++)
		if (strcmp(d->s[i].set.name, base) == 0)
			return &d->s[i];
	d->s = xreallocarray(d->s, d->n + 1, sizeof *d->s);
	s = &d->s[d->n++];
	memset(s, 0, sizeof *s);
	s->set.host = xstrdup(d->host);
	s->set.name = xstrdup(base);
	return s;
}

static void
piece(struct dir_scan *d, const char *name, const struct chunk_name *cn)
{
	struct set_scan *s;
	struct stat st;

	if (fstatat(d->dir, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(st.st_mode)) {
		stray(d, name, "not a regular file", 0);
		return;
	}
	s = set_get(d, cn->base);
	if (s->set.since == 0 || st.st_mtime < s->set.since)
		s->set.since = st.st_mtime;
	s->set.bytes += st.st_size;
	if (cn->kind == CHUNK_META) {
		s->has_meta = 1;
		return;
	}
	s->idx = xreallocarray(s->idx, s->nidx + 1, sizeof *s->idx);
	s->idx[s->nidx++] = cn->index;
}

/* How far a set got; a complete one joins the queue as one file. */
static void
set_finish(struct dir_scan *d, struct set_scan *s)
{
	char *meta = xasprintf("%s%smeta", s->set.name, NNCP_SEP);
	struct chunk_meta m = { 0 };
	const char *why;
	size_t i;

	s->set.have = (uint32_t)s->nidx;
	if (s->has_meta && read_meta(d->dir, meta, &m, &why) == -1) {
		s->set.problem = why;
		log_warnx("queue: %s/%s/%s: %s; the set is left alone", d->root,
		    d->host, meta, why);
	} else if (s->has_meta) {
		s->set.want = m.count;
		s->set.have = 0;
		for (i = 0; i < s->nidx; i++)
			if (s->idx[i] < m.count)
				s->set.have++;
		if (s->set.have < s->nidx)
			log_warnx("queue: %s/%s/%s: chunks beyond the meta's %u; "
			    "they are left alone", d->root, d->host, s->set.name,
			    m.count);
		s->set.complete = s->set.have == m.count;
	}
	if (s->set.complete)
		queue_add_chunked(d->qu, d->root, d->host, s->set.name,
		    (off_t)m.size, m.count);
	else if (s->set.problem == NULL && s->has_meta)
		log_info("queue: %s/%s/%s: %u of %u chunks; waiting for the rest",
		    d->root, d->host, s->set.name, s->set.have, s->set.want);
	else if (s->set.problem == NULL)
		log_info("queue: %s/%s/%s: %u chunk(s), no meta yet; waiting for "
		    "the rest", d->root, d->host, s->set.name, s->set.have);
	note_add(d->qu, &s->set);
	free(s->idx);
	free(meta);
}

/* NNCP's pieces in the open host folder DIR (ROOT/HOST).  EXEC: the
 * exec queue, which only "enqueue" writes: no piece belongs there. */
int
chunk_scan(struct queue *qu, const char *root, const char *host, int dir,
    int exec)
{
	struct dir_scan d = { qu, root, host, dir, NULL, 0 };
	struct chunk_name cn;
	struct dirent *de;
	const char *why;
	DIR *dp;
	int fd;
	size_t i;

	if ((fd = dup(dir)) == -1 || (dp = fdopendir(fd)) == NULL) {
		log_warn("queue: %s/%s", root, host);
		if (fd != -1)
			close(fd);
		return -1;
	}
	rewinddir(dp);
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.' || !queue_is_candidate(de->d_name) ||
		    strstr(de->d_name, NNCP_SEP) == NULL)
			continue;
		if (exec)
			stray(&d, de->d_name, "NNCP piece in the exec queue", 0);
		else if (chunk_parse_name(host, de->d_name, &cn, &why) == -1)
			stray(&d, de->d_name, why, 0);
		else
			piece(&d, de->d_name, &cn);
	}
	closedir(dp);
	for (i = 0; i < d.n; i++)
		set_finish(&d, &d.s[i]);
	free(d.s);
	return 0;
}

void
chunk_sets_free(struct chunk_set *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(s[i].host);
		free(s[i].name);
	}
	free(s);
}

static char *
piece_name(const struct queue_file *f, int64_t index)
{
	if (index < 0)
		return xasprintf("%s%smeta", f->name, NNCP_SEP);
	return xasprintf("%s%schunk%lld", f->name, NNCP_SEP, (long long)index);
}

/* The identity of a whole set for verified.c: the meta's device and
 * inode, the pieces' total size and the newest change time of any of
 * them, so that a set any piece of which changed is a new file. */
int
chunk_stat(const struct queue_file *f, struct stat *out)
{
	int dir = queue_host_dir(f), rc = 0;
	struct stat st;
	int64_t i;

	if (dir == -1)
		return -1;
	memset(out, 0, sizeof *out);
	for (i = -1; rc == 0 && i < (int64_t)f->chunks; i++) {
		char *n = piece_name(f, i);

		if (fstatat(dir, n, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(st.st_mode))
			rc = -1;
		else if (i < 0) {
			*out = st;
			out->st_size = 0;
		}
		if (rc == 0) {
			out->st_size += st.st_size;
			if (st.st_ctim.tv_sec > out->st_ctim.tv_sec ||
			    (st.st_ctim.tv_sec == out->st_ctim.tv_sec &&
			    st.st_ctim.tv_nsec > out->st_ctim.tv_nsec))
				out->st_ctim = st.st_ctim;
		}
		free(n);
	}
	close(dir);
	return rc;
}

/* The set leaves the folder: the meta first, so that a set cut short
 * here is never taken for a complete one again; then its chunks. */
int
chunk_remove(const struct queue_file *f)
{
	int dir = queue_host_dir(f), rc = 0;
	int64_t i;

	if (dir == -1) {
		log_warn("queue: remove %s", f->path);
		return -1;
	}
	for (i = -1; i < (int64_t)f->chunks; i++) {
		char *n = piece_name(f, i);

		if (unlinkat(dir, n, 0) == -1 && (i < 0 || errno != ENOENT)) {
			log_warn("queue: remove %s/%s/%s", f->root, f->host, n);
			rc = -1;
		}
		free(n);
		if (rc == -1 && i < 0)
			break;
	}
	close(dir);
	return rc;
}

/* Waits for nncp-reass to finish its check of every chunk: its first
 * byte, or its end.  Returns 0 when it is writing. */
static int
reass_started(const struct config *cfg, struct child *c, uint64_t size,
    char *why, size_t len)
{
	double deadline = now_seconds() + cfg->timeout_nncp +
	    (double)(size / REASS_CHECK_RATE);
	struct pollfd p = { child_stdout(c), POLLIN, 0 };
	char s[64];
	int n, status;

	do {
		double left = deadline - now_seconds();

		n = left <= 0 ? 0 : poll(&p, 1, left > 86400 ? 86400000 :
		    (int)(left * 1000) + 1);
	} while ((n == -1 && errno == EINTR) ||
	    (n == 0 && now_seconds() < deadline));
	if (n == 0) {
		snprintf(why, len, "nncp-reass did not start writing within its "
		    "time (timeouts.nncp, plus a second per 10 MiB)");
		return -1;
	}
	if (n == 1 && (p.revents & POLLIN))
		return 0;
	if (child_wait(c, cfg->timeout_nncp, &status) == 0 && !child_ok(status))
		snprintf(why, len, "nncp-reass refused the set (%s): a chunk is "
		    "damaged or missing; the set is kept for the operator",
		    child_status_str(status, s, sizeof s));
	else
		snprintf(why, len, "nncp-reass wrote nothing");
	return -1;
}

/* Starts "nncp-reass -keep -stdout" on the set, as the NNCP user;
 * *FD is the pipe the reassembled file comes from.  WHY says why not. */
struct child *
chunk_open(const struct config *cfg, const struct queue_file *f, int *fd,
    char *why, size_t len)
{
	char *bin = xasprintf("%s/nncp-reass", cfg->nncp_bin_dir);
	char *argv[] = { bin, "-cfg", cfg->nncp_configs[0], "-noprogress",
		"-keep", "-stdout", f->path, NULL };
	struct child_opts o = { .argv = argv, .stdin_fd = CHILD_NULL,
		.stdout_fd = CHILD_PIPE, .user = cfg->nncp_user, .own_group = 1 };
	struct child *c = NULL;

	if (cfg->nncp_configs[0] == NULL)
		snprintf(why, len, "no NNCP config (nncp.configs) to run "
		    "nncp-reass with");
	else if ((c = child_start(&o)) == NULL)
		snprintf(why, len, "cannot start nncp-reass");
	else if (reass_started(cfg, c, (uint64_t)f->size, why, len) == -1) {
		child_free(c);
		c = NULL;
	} else
		*fd = child_stdout(c);
	free(bin);
	return c;
}

/* After a pass: READ_ALL when the pipeline read the file to its end,
 * and then nncp-reass must have ended well too.  Otherwise it is
 * stopped: what it would still write is not wanted. */
int
chunk_close(const struct config *cfg, struct child *c, int read_all,
    char *why, size_t len)
{
	char s[64];
	int status = 0, rc = 0;

	if (c == NULL)
		return 0;
	if (!read_all)
		child_kill(c);
	else if (child_wait(c, cfg->timeout_nncp, &status) == -1) {
		snprintf(why, len, "nncp-reass did not end after writing the "
		    "file; the set is kept");
		rc = -1;
	} else if (!child_ok(status)) {
		snprintf(why, len, "nncp-reass failed (%s); the set is kept",
		    child_status_str(status, s, sizeof s));
		rc = -1;
	}
	child_free(c);
	return rc;
}
