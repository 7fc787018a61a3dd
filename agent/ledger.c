/*
 * The rotation ledger, STATE/ledger: which backup pool has which queued
 * file.  A file leaves the queue only when every pool of
 * ingest.rotation has it.  Rewritten whole (temporary file, fsync,
 * rename, fsync of the folder) so that a kill at any moment leaves the
 * old or the new ledger, never half of one.  It is only a record: when
 * a disk is plugged in its own snapshots are the truth, and a claim
 * they do not back is dropped.
 *
 * One line per (file, pool): KEY TAB POOL TAB GUID TAB DATASET, where
 * KEY is the queue file's path.  Lines that do not parse are skipped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airgap-agent.h"

static int
clean_field(const char *s)
{
	return s[0] != '\0' && strpbrk(s, "\t\n") == NULL;
}

/* Parses one line into REC, a struct ledger_entry; returns -1 when it
 * is not a ledger line. */
int
ledger_parse_line(char *line, void *rec)
{
	struct ledger_entry *e = rec;
	char *f[4], *p = line, *end;
	int i;

	line[strcspn(line, "\n")] = '\0';
	for (i = 0; i < 4; i++) {
		f[i] = p;
		p = strchr(p, '\t');
		if (i < 3 && p == NULL)
			return -1;
		if (p != NULL)
			*p++ = '\0';
	}
	if (p != NULL || !clean_field(f[0]) || !clean_field(f[1]) ||
	    !clean_field(f[3]))
		return -1;
	errno = 0;
	e->guid = strtoull(f[2], &end, 10);
	if (errno || *end != '\0' || e->guid == 0)
		return -1;
	e->key = xstrdup(f[0]);
	e->pool = xstrdup(f[1]);
	e->dataset = xstrdup(f[3]);
	return 0;
}

int
ledger_load(const char *state_dir, struct ledger *l)
{
	void *e = NULL;
	int rc = state_lines(state_dir, "ledger", &l->path, ledger_parse_line,
	    sizeof *l->e, &e, &l->n);

	l->e = e;
	return rc;
}

int
ledger_save(const struct ledger *l)
{
	struct buf out = { 0 };
	size_t i;
	int rc;

	for (i = 0; i < l->n; i++)
		buf_printf(&out, "%s\t%s\t%" PRIu64 "\t%s\n", l->e[i].key,
		    l->e[i].pool, l->e[i].guid, l->e[i].dataset);
	rc = file_replace(l->path, out.data ? out.data : "", out.len);
	buf_free(&out);
	return rc;
}

int
ledger_has(const struct ledger *l, const char *key, const char *pool)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->e[i].key, key) == 0 && strcmp(l->e[i].pool, pool) == 0)
			return 1;
	return 0;
}

void
ledger_add(struct ledger *l, const char *key, const char *pool, uint64_t guid,
    const char *dataset)
{
	struct ledger_entry *e;

	if (ledger_has(l, key, pool) || !clean_field(key) || !clean_field(dataset))
		return;
	l->e = xreallocarray(l->e, l->n + 1, sizeof *l->e);
	e = &l->e[l->n++];
	e->key = xstrdup(key);
	e->pool = xstrdup(pool);
	e->guid = guid;
	e->dataset = xstrdup(dataset);
}

static void
entry_free(struct ledger_entry *e)
{
	free(e->key);
	free(e->pool);
	free(e->dataset);
	memset(e, 0, sizeof *e);
}

void
ledger_drop(struct ledger *l, size_t i)
{
	entry_free(&l->e[i]);
	if (i != --l->n)
		l->e[i] = l->e[l->n];
}

/* The file left the queue: nothing more to remember about it. */
void
ledger_forget(struct ledger *l, const char *key)
{
	size_t i, kept = 0;

	for (i = 0; i < l->n; i++) {
		if (strcmp(l->e[i].key, key) == 0)
			entry_free(&l->e[i]);
		else
			l->e[kept++] = l->e[i];
	}
	l->n = kept;
}

/* Does every pool of the rotation have KEY? */
int
ledger_complete(const struct ledger *l, char *const *rotation, const char *key,
    const char **missing)
{
	size_t i;

	for (i = 0; rotation[i] != NULL; i++)
		if (!ledger_has(l, key, rotation[i])) {
			*missing = rotation[i];
			return 0;
		}
	return 1;
}

void
ledger_free(struct ledger *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		entry_free(&l->e[i]);
	free(l->e);
	free(l->path);
	memset(l, 0, sizeof *l);
}

/* With a rotation, a file a pool has stays queued until every pool of
 * the rotation has it.  Records that POOL (if it is one of the
 * rotation) now has KEY's snapshot GUID, says in REASON which pool it
 * is kept for, and returns whether the file may leave the queue. */
int
ledger_settle(struct ledger *l, char *const *rotation, const char *pool,
    const char *key, uint64_t guid, const char *dataset, char *reason,
    size_t len)
{
	const char *missing = NULL;
	size_t n = strlen(reason);

	/* char *const * to const char *const *: C wants it said */
	if (strv_has((const char *const *)rotation, pool) && guid != 0)
		ledger_add(l, key, pool, guid, dataset);
	if (ledger_complete(l, rotation, key, &missing))
		ledger_forget(l, key);
	else
		snprintf(reason + n, len - n, "%skept for %s", n ? "; " : "",
		    missing);
	/* Saved before the file goes: a kill in between leaves the file
	 * queued with no ledger lines, and it counts as a duplicate. */
	if (ledger_save(l) == -1)
		return 0;
	return missing == NULL;
}

/* The disk's own snapshots are the truth: a claim for POOL they do not
 * back (a disk restored, a dataset destroyed by hand) is dropped, and
 * the file will be received again.  Lines for files no longer in Q are
 * dropped too. */
void
ledger_reconcile(struct ledger *l, const struct queue *q, const char *pool,
    struct zfs_cache *known, const struct config *cfg)
{
	const struct zfs_dataset *d;
	size_t i = 0;
	int changed = 0;

	while (i < l->n) {
		struct ledger_entry *e = &l->e[i];

		if (!queue_has(q, e->key)) {
			ledger_drop(l, i);
			changed = 1;
			continue;
		}
		if (strcmp(e->pool, pool) != 0) {
			i++;
			continue;
		}
		if ((d = zfs_cache_get(known, cfg, e->dataset)) == NULL)
			return;
		if (zfs_dataset_has_guid(d, e->guid)) {
			i++;
			continue;
		}
		log_warnx("ledger: %s lacks snapshot %" PRIu64 " of %s; forgetting "
		    "that it had it", pool, e->guid, e->key);
		ledger_drop(l, i);
		changed = 1;
	}
	if (changed)
		ledger_save(l);
}
