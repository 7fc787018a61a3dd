/*
 * The incoming queue: INCOMING/HOST/bakfsfmt2-SECONDS.NANOS.PID_DEST,
 * as the articles' simplesnap-queue names files.  Everything here is
 * untrusted: names are parsed strictly, nothing is followed through a
 * symbolic link, and only regular files are ever opened.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "airgap-agent.h"

static const char *const prefixes[] = { "bakfsfmt2-", "backupsfmt2-", NULL };

int
queue_is_candidate(const char *name)
{
	const char *const *p;

	for (p = prefixes; *p != NULL; p++)
		if (strncmp(name, *p, strlen(*p)) == 0)
			return 1;
	return 0;
}

int
queue_valid_host(const char *h)
{
	size_t i, n = strlen(h);

	if (n == 0 || n > 63 || h[0] == '-' || h[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && strchr("_.-", h[i]) == NULL)
			return 0;
	return 1;
}

static int
valid_component(const char *c, size_t n, const char **why)
{
	size_t i;

	if (n == 0)
		return *why = "empty path component", -1;
	if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
		return *why = "'.' or '..' path component", -1;
	if (c[0] == '-')
		return *why = "path component starts with '-'", -1;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)c[i]) && strchr("_-.:", c[i]) == NULL)
			return *why = "character not allowed in a dataset name", -1;
	return 0;
}

/* A plain relative ZFS dataset path: a/b/c of letters, digits, _-.: */
int
queue_valid_dataset(const char *path, const char **why)
{
	const char *p = path, *slash;

	if (strlen(path) > QUEUE_DATASET_MAX)
		return *why = "dataset path too long", -1;
	for (;;) {
		slash = strchr(p, '/');
		if (valid_component(p, slash ? (size_t)(slash - p) : strlen(p),
		    why) == -1)
			return -1;
		if (slash == NULL)
			return 0;
		p = slash + 1;
	}
}

static int
parse_number(const char **s, char stop, int maxdigits, int64_t *out)
{
	const char *p = *s;
	int64_t v = 0;
	int n = 0;

	while (isdigit((unsigned char)*p) && n < maxdigits) {
		v = v * 10 + (*p - '0');
		p++;
		n++;
	}
	if (n == 0 || *p != stop)
		return -1;
	*out = v;
	*s = p + 1;
	return 0;
}

/* NNCP appends ".0", ".1", ... on a name clash.  Keep the name without
 * it as an alternative: the stream's own begin record decides. */
static void
strip_clash_suffix(struct queue_name *q)
{
	char *dot = strrchr(q->dest, '.');
	const char *why;
	size_t i;

	q->dest_alt[0] = '\0';
	if (dot == NULL || dot[1] == '\0' || strchr(dot, '/') != NULL)
		return;
	for (i = 1; dot[i] != '\0'; i++)
		if (!isdigit((unsigned char)dot[i]))
			return;
	memcpy(q->dest_alt, q->dest, (size_t)(dot - q->dest));
	q->dest_alt[dot - q->dest] = '\0';
	if (strchr(q->dest_alt, '/') == NULL ||
	    queue_valid_dataset(strchr(q->dest_alt, '/') + 1, &why) == -1)
		q->dest_alt[0] = '\0';
}

static int
parse_prefix(const char **s)
{
	const char *const *p;

	for (p = prefixes; *p != NULL; p++)
		if (strncmp(*s, *p, strlen(*p)) == 0) {
			*s += strlen(*p);
			return 0;
		}
	return -1;
}

int
queue_parse_name(const char *dir_host, const char *name, struct queue_name *q,
    const char **why)
{
	const char *s = name, *slash;
	size_t hl;
	char *c;

	memset(q, 0, sizeof *q);
	if (strlen(name) > QUEUE_NAME_MAX)
		return *why = "name too long", -1;
	if (parse_prefix(&s) == -1)
		return *why = "not a queue file name", -1;
	if (parse_number(&s, '.', 18, &q->seconds) == -1 ||
	    parse_number(&s, '.', 9, &q->nanos) == -1 ||
	    parse_number(&s, '_', 10, &q->pid) == -1)
		return *why = "malformed timestamp (want SECONDS.NANOS.PID_)", -1;
	if (*s == '\0')
		return *why = "no destination after the timestamp", -1;
	snprintf(q->dest, sizeof q->dest, "%s", s);
	for (c = q->dest; *c != '\0'; c++)
		if (*c == '@')
			*c = '/';
	slash = strchr(q->dest, '/');
	hl = slash ? (size_t)(slash - q->dest) : strlen(q->dest);
	if (slash == NULL || hl >= sizeof q->host)
		return *why = "destination has no HOST/dataset form", -1;
	memcpy(q->host, q->dest, hl);
	q->host[hl] = '\0';
	if (strcmp(q->host, dir_host) != 0)
		return *why = "destination host does not match the folder's host", -1;
	if (queue_valid_dataset(slash + 1, why) == -1)
		return -1;
	strip_clash_suffix(q);
	return 0;
}

static struct queue_file *
add_file(struct queue *qu, const char *root, int auth, const char *host,
    const char *name, off_t size)
{
	struct queue_file *f;

	qu->files = xreallocarray(qu->files, qu->nfiles + 1, sizeof *qu->files);
	f = &qu->files[qu->nfiles++];
	memset(f, 0, sizeof *f);
	f->root = root;
	f->authenticated = auth;
	f->host = xstrdup(host);
	f->name = xstrdup(name);
	f->path = xasprintf("%s/%s/%s", root, host, name);
	f->size = size;
	if (!queue_valid_host(host))
		f->reject = "folder name is not a valid host name";
	else if (queue_parse_name(host, name, &f->qn, &f->reject) == 0)
		f->reject = NULL;
	return f;
}

/* A complete NNCP chunked set (chunk.c): queued as NAME, found at
 * NAME.nncp.meta, which is its key in the ledger and in messages. */
void
queue_add_chunked(struct queue *qu, const char *root, const char *host,
    const char *name, off_t size, uint32_t chunks)
{
	struct queue_file *f = add_file(qu, root, 0, host, name, size);

	free(f->path);
	f->path = xasprintf("%s/%s/%s.nncp.meta", root, host, name);
	f->chunks = chunks;
}

/* Where a scan looks, and whether its files come from "enqueue". */
struct scan {
	struct queue *qu;
	const char *root;
	int auth;     /* the exec queue: NNCP authenticated the senders */
	uid_t nncp;   /* the NNCP user, who may own the exec queue's folders */
};

/* The exec queue vouches for its files, so nobody but root and the
 * NNCP user (who runs "enqueue") may be able to put files there: its
 * folders are checked as strictly as the state folder. */
static int
trusted_folder(const struct scan *sc, int fd, const char *path)
{
	struct stat st;

	if (!sc->auth)
		return 0;
	if (fstat(fd, &st) == -1) {
		log_warn("queue: stat %s", path);
		return -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) ||
	    (st.st_uid != 0 && st.st_uid != sc->nncp)) {
		log_warnx("queue: %s: writable by group or others, or owned by "
		    "neither root nor the NNCP user: not taking the exec queue", path);
		return -1;
	}
	return 0;
}

static int
scan_host(const struct scan *sc, int infd, const char *host)
{
	struct dirent *de;
	struct stat st;
	char *path = xasprintf("%s/%s", sc->root, host);
	DIR *d;
	int fd, rc = 0;

	fd = openat(infd, host, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		log_warn("queue: %s: not a folder, skipped", path);
		if (fd != -1)
			close(fd);
		free(path);
		return sc->auth ? -1 : 0;
	}
	if (trusted_folder(sc, fd, path) == -1)
		rc = -1;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		/* NNCP's chunked pieces are never queue files: chunk.c */
		if (de->d_name[0] == '.' || !queue_is_candidate(de->d_name) ||
		    strstr(de->d_name, ".nncp.") != NULL)
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(st.st_mode)) {
			log_warnx("queue: %s/%s: not a regular file, skipped", path,
			    de->d_name);
			continue;
		}
		add_file(sc->qu, sc->root, sc->auth, host, de->d_name, st.st_size);
	}
	if (rc == 0)
		rc = chunk_scan(sc->qu, sc->root, host, fd, sc->auth);
	closedir(d);
	free(path);
	return rc;
}

/* Adds the files under ROOT/HOST/ to QU.  A missing folder is an empty
 * queue. */
static int
scan(const struct scan *sc)
{
	struct dirent *de;
	DIR *d;
	int fd, rc;

	fd = open(sc->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    (sc->auth ? O_NOFOLLOW : 0));
	if (fd == -1 && errno == ENOENT) {
		log_debug("queue: %s does not exist", sc->root);
		return 0;
	}
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		log_warn("queue: open %s", sc->root);
		if (fd != -1)
			close(fd);
		return -1;
	}
	rc = trusted_folder(sc, fd, sc->root);
	while (rc == 0 && (de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && scan_host(sc, fd, de->d_name) == -1)
			rc = -1;
	closedir(d);
	return rc;
}

/* An incoming folder: whatever is there is unauthenticated. */
int
queue_scan(const char *root, struct queue *qu)
{
	struct scan sc = { qu, root, 0, 0 };

	return scan(&sc);
}

/* The exec queue, which only "enqueue" writes, after NNCP authenticated
 * the sender (ingest.exec_queue). */
int
queue_scan_exec(const struct config *cfg, struct queue *qu)
{
	struct scan sc = { qu, cfg->exec_queue, 1, 0 };
	struct passwd *pw = getpwnam(cfg->nncp_user);

	if (pw != NULL)
		sc.nncp = pw->pw_uid;
	return scan(&sc);
}

static int
cmp_file(const void *a, const void *b)
{
	const struct queue_file *x = a, *y = b;

	if (x->qn.seconds != y->qn.seconds)
		return x->qn.seconds < y->qn.seconds ? -1 : 1;
	if (x->qn.nanos != y->qn.nanos)
		return x->qn.nanos < y->qn.nanos ? -1 : 1;
	if (x->qn.pid != y->qn.pid)
		return x->qn.pid < y->qn.pid ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Oldest first, by the sender's timestamp in the name: NNCP delivers
 * in no useful order. */
void
queue_sort(struct queue *qu)
{
	if (qu->nfiles > 1)
		qsort(qu->files, qu->nfiles, sizeof *qu->files, cmp_file);
}

/* Was a file with PATH found by this scan? */
int
queue_has(const struct queue *q, const char *path)
{
	size_t i;

	for (i = 0; i < q->nfiles; i++)
		if (strcmp(q->files[i].path, path) == 0)
			return 1;
	return 0;
}

void
queue_free(struct queue *qu)
{
	size_t i;

	for (i = 0; i < qu->nfiles; i++) {
		free(qu->files[i].host);
		free(qu->files[i].name);
		free(qu->files[i].path);
	}
	free(qu->files);
	chunk_sets_free(qu->sets, qu->nsets);
	memset(qu, 0, sizeof *qu);
}

/* The folder F was found in, opened without following a symbolic
 * link: the NNCP user owns INCOMING and could swap HOST for a link to
 * another folder between the scan and now.  Every later step on F
 * (open, remove, move) goes through this descriptor. */
int
queue_host_dir(const struct queue_file *f)
{
	int in, dir, saved;

	in = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (in == -1)
		return -1;
	dir = openat(in, f->host, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	saved = errno;
	close(in);
	errno = saved;
	return dir;
}

/* Opens NAME in DIR for reading only if it is a regular file: not
 * through a symbolic link, and a FIFO or a device planted there must
 * neither block nor be read. */
static int
open_regular(int dir, const char *name)
{
	struct stat st;
	int fd;

	fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    fcntl(fd, F_SETFL, 0) == -1) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

int
queue_remove(const struct queue_file *f)
{
	int dir, rc = -1;

	if (f->chunks > 0)
		return chunk_remove(f);
	if ((dir = queue_host_dir(f)) != -1 && unlinkat(dir, f->name, 0) == 0)
		rc = 0;
	if (rc == -1)
		log_warn("queue: remove %s", f->path);
	if (dir != -1)
		close(dir);
	return rc;
}

/* Copies NAME from SRC to a new TO in DST (another filesystem). */
static int
copy_file(int src, const char *name, int dst, const char *to)
{
	char b[65536];
	int in, out, rc = -1;
	ssize_t n;

	if ((in = open_regular(src, name)) == -1)
		return -1;
	out = openat(dst, to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (out == -1) {
		close(in);
		return -1;
	}
	while ((n = read(in, b, sizeof b)) > 0)
		if (write_all(out, b, (size_t)n) == -1)
			break;
	if (n == 0 && fsync(out) == 0)
		rc = 0;
	close(in);
	if (close(out) == -1)
		rc = -1;
	if (rc == -1)
		unlinkat(dst, to, 0);
	return rc;
}

/* FNV-1a: a short, stable tag for a name too long to keep whole. */
static uint64_t
name_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

#define QUARANTINE_TRIES 100000
#define REASON ".reason"

/* The Nth name to try for NAME in quarantine: NAME, then NAME.qN; a
 * name too long for ".reason" to fit after it is shortened and tagged
 * with its hash.  None ends in ".reason", so that a quarantined file is
 * never taken for (or overwrites) the reason of another. */
static int
quarantine_name(const char *name, int n, char *out, size_t len)
{
	char suffix[16] = "";
	size_t rl = strlen(REASON);
	int w;

	if (n > 0)
		snprintf(suffix, sizeof suffix, ".q%d", n);
	if (strlen(name) + strlen(suffix) + rl > QUEUE_NAME_MAX)
		w = snprintf(out, len, "%.200s-%016llx%s", name,
		    (unsigned long long)name_hash(name), suffix);
	else
		w = snprintf(out, len, "%s%s", name, suffix);
	if (w < 0 || (size_t)w >= len)
		return -1;
	return (size_t)w >= rl && strcmp(out + w - rl, REASON) == 0 ? -1 : 0;
}

/* Creates TO.reason in QDIR, only if neither it nor TO exists. */
static int
reserve(int qdir, const char *to, const char *text)
{
	char *path = xasprintf("%s%s", to, REASON);
	struct stat st;
	int fd, rc = -1;

	if (fstatat(qdir, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		free(path);
		errno = EEXIST;
		return -1;
	}
	fd = openat(qdir, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd != -1 && write_all(fd, text, strlen(text)) == 0 && fsync(fd) == 0)
		rc = 0;
	if (fd != -1 && close(fd) == -1)
		rc = -1;
	if (rc == -1 && fd != -1) {
		log_warn("quarantine: write %s", path);
		unlinkat(qdir, path, 0);
		errno = EIO;
	}
	free(path);
	return rc;
}

static void
unreserve(int qdir, const char *to)
{
	char *path = xasprintf("%s%s", to, REASON);

	unlinkat(qdir, path, 0);
	free(path);
}

/* Moves NAME from SRC to TO in QDIR without ever replacing a file
 * there; 1 when TO turned out to be taken. */
static int
move_noreplace(int src, const char *name, int qdir, const char *to)
{
	if (renameat2(src, name, qdir, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return 1;
	/* Another filesystem, or one that cannot promise not to replace. */
	if (errno != EXDEV && errno != EINVAL)
		return -1;
	if (copy_file(src, name, qdir, to) == -1)
		return errno == EEXIST ? 1 : -1;
	if (unlinkat(src, name, 0) == 0)
		return 0;
	unlinkat(qdir, to, 0);
	return -1;
}

/* Puts F under QDIR with its reason beside it; the name used goes to
 * TO.  Never overwrites an earlier quarantined file or reason. */
static int
quarantine_into(int qdir, int src, const struct queue_file *f,
    const char *text, char *to, size_t len)
{
	int n, rc;

	for (n = 0; n < QUARANTINE_TRIES; n++) {
		if (quarantine_name(f->name, n, to, len) == -1)
			continue;
		if (reserve(qdir, to, text) == -1) {
			if (errno == EEXIST)
				continue;
			return -1;
		}
		if ((rc = move_noreplace(src, f->name, qdir, to)) == 0)
			return 0;
		unreserve(qdir, to);
		if (rc == -1)
			return -1;
	}
	errno = ENOSPC;
	return -1;
}

/* Moves the file under STATE/quarantine/HOST/ and writes the reason
 * beside it.  Never overwrites an earlier quarantined file. */
int
queue_quarantine(const char *state_dir, const struct queue_file *f,
    const char *reason)
{
	const char *host = queue_valid_host(f->host) ? f->host : "_invalid-host";
	char *top = xasprintf("%s/quarantine", state_dir);
	char *qpath = xasprintf("%s/%s", top, host), *text = NULL;
	char r[ESCAPED_MAX(1024)], n[ESCAPED_MAX(QUEUE_NAME_MAX)];
	char to[QUEUE_NAME_MAX + 1];
	int qdir = -1, src = -1, rc = -1;

	if (f->chunks > 0) {
		log_warnx("quarantine: %s: an NNCP chunked set is never moved; "
		    "kept where it is for the operator: %s", f->path, reason);
		goto out;
	}
	if (mkdir_private(top) == -1 || mkdir_private(qpath) == -1)
		goto out;
	qdir = open(qpath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	src = queue_host_dir(f);
	text = xasprintf("%s\nfile: %s\n", str_escape(r, sizeof r, reason),
	    str_escape(n, sizeof n, f->name));
	if (qdir == -1 || src == -1 ||
	    quarantine_into(qdir, src, f, text, to, sizeof to) == -1) {
		log_warn("quarantine: move %s to %s", f->path, qpath);
		goto out;
	}
	fsync(qdir);
	log_warnx("quarantine: %s moved to %s/%s: %s", f->path, qpath, to, reason);
	rc = 0;
out:
	if (qdir != -1)
		close(qdir);
	if (src != -1)
		close(src);
	free(top);
	free(qpath);
	free(text);
	return rc;
}

/* Does the open queue file hold a zfs or zstd stream as it is, not an
 * OpenPGP message?  From its first bytes. */
int
queue_unencrypted(int fd)
{
	unsigned char b[16];
	ssize_t n = pread(fd, b, sizeof b, 0);
	enum stream_format f = n < 0 ? FORMAT_UNKNOWN : zstream_sniff(b, (size_t)n);

	return f == FORMAT_ZFS || f == FORMAT_ZSTD;
}

/* Opens a queue file for reading without following a symbolic link in
 * the host folder or the file name, and only if it is a regular file
 * (a FIFO or device planted in incoming must not block or be read). */
int
queue_open(const struct queue_file *f)
{
	int dir = queue_host_dir(f), fd = -1;

	if (dir != -1)
		fd = open_regular(dir, f->name);
	if (fd == -1)
		log_warn("queue: open %s", f->path);
	if (dir != -1)
		close(dir);
	return fd;
}
