/*
 * Remembered verdicts, STATE/verified: queue files that were read
 * through once and proved genuine (gpg's MDC and signature, zstd's
 * checksum, a stream that ends where it must) while they could not be
 * received: waiting for their base, held for the operator, or already
 * on the pool.  The decision for such a file comes from its begin
 * record, which anyone can forge; a forgery must end in quarantine, not
 * wait forever or keep the light red, so each such file is verified
 * once, and then remembered here so that it is not read again on every
 * run while it waits.
 *
 * A file is known by its path and its identity: device, inode, size
 * and change time.  Only the kernel sets the change time, and every
 * write moves it, so a file changed after it was verified is a
 * different file and is verified again.  The change time moves in
 * clock ticks, so a write within the tick of the check could go unseen:
 * the stream's first snapshot and its base, as its begin record says,
 * must be the ones verified too.
 *
 * One line per file: DEV TAB INO TAB SIZE TAB CTIME_SEC.NSEC TAB FIRST
 * TAB BASE TAB PATH.
 * Rewritten whole (file_replace); lines that do not parse are dropped,
 * which only costs a file being read once more.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "airgap-agent.h"

struct verified_entry {
	uint64_t dev;
	uint64_t ino;
	int64_t size;
	int64_t ctime_sec;
	long ctime_nsec;
	uint64_t first; /* the first snapshot the stream carries */
	uint64_t base;  /* the snapshot it builds on, 0 for a full one */
	char *path;
};

static int
same_file(const struct verified_entry *e, const char *path,
    const struct stat *st, uint64_t first, uint64_t base)
{
	return e->first == first && e->base == base &&
	    e->dev == (uint64_t)st->st_dev && e->ino == (uint64_t)st->st_ino &&
	    e->size == (int64_t)st->st_size &&
	    e->ctime_sec == (int64_t)st->st_ctim.tv_sec &&
	    e->ctime_nsec == st->st_ctim.tv_nsec && strcmp(e->path, path) == 0;
}

static int
parse_line(char *line, void *rec)
{
	struct verified_entry *e = rec;
	int n = 0;

	if (sscanf(line, "%" SCNu64 "\t%" SCNu64 "\t%" SCNd64 "\t%" SCNd64
	    ".%ld\t%" SCNu64 "\t%" SCNu64 "\t%n", &e->dev, &e->ino, &e->size,
	    &e->ctime_sec, &e->ctime_nsec, &e->first, &e->base, &n) != 7 ||
	    n == 0 || line[n] != '/' || strchr(line + n, '\t') != NULL)
		return -1;
	e->path = xstrdup(line + n);
	return 0;
}

/* Lines that do not parse are dropped: verified_save writes the file
 * anew from what was read. */
int
verified_load(const char *state_dir, struct verified *v)
{
	void *e = NULL;
	int rc;

	memset(v, 0, sizeof *v);
	rc = state_lines(state_dir, "verified", &v->path, parse_line,
	    sizeof *v->e, &e, &v->n);
	v->e = e;
	return rc;
}

int
verified_has(const struct verified *v, const char *path, const struct stat *st,
    uint64_t first, uint64_t base)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (same_file(&v->e[i], path, st, first, base))
			return 1;
	return 0;
}

void
verified_add(struct verified *v, const char *path, const struct stat *st,
    uint64_t first, uint64_t base)
{
	struct verified_entry *e;

	if (verified_has(v, path, st, first, base) || path[0] != '/' ||
	    strpbrk(path, "\t\n") != NULL)
		return;
	v->e = xreallocarray(v->e, v->n + 1, sizeof *v->e);
	e = &v->e[v->n++];
	e->dev = (uint64_t)st->st_dev;
	e->ino = (uint64_t)st->st_ino;
	e->size = (int64_t)st->st_size;
	e->ctime_sec = (int64_t)st->st_ctim.tv_sec;
	e->ctime_nsec = st->st_ctim.tv_nsec;
	e->first = first;
	e->base = base;
	e->path = xstrdup(path);
	v->dirty = 1;
}

/* The file left the queue: nothing more to remember about it. */
void
verified_forget(struct verified *v, const char *path)
{
	size_t i, kept = 0;

	for (i = 0; i < v->n; i++) {
		if (strcmp(v->e[i].path, path) == 0) {
			free(v->e[i].path);
			v->dirty = 1;
		} else
			v->e[kept++] = v->e[i];
	}
	v->n = kept;
}

/* Forgets the files no longer queued in Q: they need no memory. */
static void
prune(struct verified *v, const struct queue *q)
{
	struct verified_entry *keep = xcalloc(v->n + 1, sizeof *keep);
	size_t i, kept = 0;

	for (i = 0; i < v->n; i++) {
		if (queue_has(q, v->e[i].path))
			keep[kept++] = v->e[i];
		else {
			free(v->e[i].path);
			v->dirty = 1;
		}
	}
	free(v->e);
	v->e = keep;
	v->n = kept;
}

/* Writes the verdicts of files still queued in Q, if anything changed. */
int
verified_save(struct verified *v, const struct queue *q)
{
	struct buf out = { 0 };
	size_t i;
	int rc;

	prune(v, q);
	if (!v->dirty)
		return 0;
	for (i = 0; i < v->n; i++) {
		const struct verified_entry *e = &v->e[i];

		buf_printf(&out, "%" PRIu64 "\t%" PRIu64 "\t%" PRId64 "\t%"
		    PRId64 ".%09ld\t%" PRIu64 "\t%" PRIu64 "\t%s\n", e->dev,
		    e->ino, e->size, e->ctime_sec, e->ctime_nsec, e->first, e->base,
		    e->path);
	}
	rc = file_replace(v->path, out.data ? out.data : "", out.len);
	buf_free(&out);
	if (rc == 0)
		v->dirty = 0;
	return rc;
}

void
verified_free(struct verified *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		free(v->e[i].path);
	free(v->e);
	free(v->path);
	memset(v, 0, sizeof *v);
}
