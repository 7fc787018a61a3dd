/*
 * The state folder (state_dir, /var/lib/airgap-agent): its layout, and
 * the small records the agent keeps there, each with one writer and one
 * reader here:
 *
 *   lock              flock(2) of the run in progress (lock.c)
 *   indicator         what the light says now: state, time, message
 *   runs.log          one line per handled medium, appended
 *   disks/GUID        each backup disk: when last here, what it got
 *   sticks/UUID       a stick's NNCP folder owner while a run has it
 *   drills/GUID       each backup disk's last restore drill
 *   browse/GUID       the snapshot of a disk open for browsing
 *   heads/GUID        a backup disk's newest snapshot of each dataset,
 *                     and since when (receipt.c)
 *   receipts/HOST     the last receipt queued for a host: when, to
 *                     which node, its summary
 *   ledger            which rotation disk holds which queue file (ledger.c)
 *   verified          queue files read through and proved (verified.c)
 *   retention/POOL    per dataset of a backup pool: snapshots kept by
 *                     the last thinning, oldest, newest, their bytes
 *   reports/          one report per ingest run (report.c)
 *   quarantine/HOST/  refused queue files with their reasons (queue.c)
 *
 * Whole files are replaced atomically (file_replace), so "status",
 * reading while a run goes on, never sees half a record; text that
 * came from a medium or a sender is escaped before it is written, one
 * field a line or a tab-separated line, so it cannot forge another.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "airgap-agent.h"

char *
state_path(const struct config *cfg, const char *name)
{
	return xasprintf("%s/%s", cfg->state_dir, name);
}

/* Calls FN with each line of STATE/NAME (a file its owner parses);
 * *PATH gets the file's path, for the owner to write it back. */
int
state_lines(const char *state_dir, const char *name, char **path,
    int (*fn)(void *, char *), void *arg)
{
	*path = xasprintf("%s/%s", state_dir, name);
	return file_lines(*path, fn, arg);
}

/* "key=value" lines into KV; returns how many were read. */
static int
kv_read(const char *path, struct state_kv *kv, int max)
{
	FILE *f = fopen(path, "re");
	char line[STATE_VALUE_MAX + 40];
	int n = 0;

	if (f == NULL)
		return 0;
	while (n < max && fgets(line, sizeof line, f) != NULL) {
		char *eq = strchr(line, '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		eq[1 + strcspn(eq + 1, "\n")] = '\0';
		snprintf(kv[n].key, sizeof kv[n].key, "%.31s", line);
		snprintf(kv[n].value, sizeof kv[n].value, "%s", eq + 1);
		n++;
	}
	fclose(f);
	return n;
}

static const char *
kv_get(const struct state_kv *kv, int n, const char *key)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	return "";
}

/* FROM into TO, cut to fit: a record's fields have their limits. */
static void
copy(char *to, size_t len, const char *from)
{
	size_t n = strnlen(from, len - 1);

	memcpy(to, from, n);
	to[n] = '\0';
}

/* --- indicator --- */

int
state_light_write(const struct config *cfg, const char *state,
    const char *message)
{
	char *path = state_path(cfg, "indicator");
	char *text = xasprintf("state=%s\ntime=%lld\nmessage=%s\n", state,
	    (long long)time(NULL), message ? message : "");
	int rc = file_replace(path, text, strlen(text));

	free(path);
	free(text);
	return rc;
}

/* 0 and L filled in, or -1 when no light was ever recorded. */
int
state_light_read(const struct config *cfg, struct state_light *l)
{
	char *path = state_path(cfg, "indicator");
	struct state_kv kv[4];
	int n = kv_read(path, kv, 4);

	free(path);
	memset(l, 0, sizeof *l);
	if (n == 0)
		return -1;
	copy(l->state, sizeof l->state, kv_get(kv, n, "state"));
	l->time = atoll(kv_get(kv, n, "time"));
	copy(l->message, sizeof l->message, kv_get(kv, n, "message"));
	return 0;
}

/* --- runs.log --- */

/* Each field escaped: a label comes from the medium and could fake a
 * field or a line. */
void
state_run_append(const struct config *cfg, const struct state_run *r)
{
	char *path = state_path(cfg, "runs.log");
	FILE *f = fopen(path, "ae");
	char dev[ESCAPED_MAX(256)], label[ESCAPED_MAX(256)];
	char msg[ESCAPED_MAX(512)];

	if (f == NULL) {
		log_warn("state: open %s", path);
	} else {
		fprintf(f, "%lld\t%s\t%s\t%s\t%s\t%s\n", r->time,
		    str_escape(dev, sizeof dev, r->device),
		    str_escape(label, sizeof label, r->label), r->role,
		    r->outcome, str_escape(msg, sizeof msg, r->message));
		if (fclose(f) == EOF)
			log_warn("state: write %s", path);
	}
	free(path);
}

static int
run_parse(char *line, struct state_run *r)
{
	char *fld[6] = { NULL }, *p = line;
	int k;

	for (k = 0; k < 6 && p != NULL; k++) {
		fld[k] = p;
		if ((p = strchr(p, '\t')) != NULL)
			*p++ = '\0';
	}
	if (k < 6)
		return -1;
	r->time = atoll(fld[0]);
	copy(r->device, sizeof r->device, fld[1]);
	copy(r->label, sizeof r->label, fld[2]);
	copy(r->role, sizeof r->role, fld[3]);
	copy(r->outcome, sizeof r->outcome, fld[4]);
	copy(r->message, sizeof r->message, fld[5]);
	return 0;
}

/* The last MAX runs into R, oldest first; returns how many. */
int
state_runs_last(const struct config *cfg, struct state_run *r, int max)
{
	char *path = state_path(cfg, "runs.log");
	char buf[STATE_VALUE_MAX * 3];
	FILE *f = fopen(path, "re");
	int n = 0;

	free(path);
	while (f != NULL && fgets(buf, sizeof buf, f) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		if (n == max) {
			memmove(&r[0], &r[1], sizeof *r * (size_t)(max - 1));
			n--;
		}
		if (run_parse(buf, &r[n]) == 0)
			n++;
	}
	if (f != NULL)
		fclose(f);
	return n;
}

/* --- disks/GUID --- */

/* STATE/DIR/NAME, for a NAME that came from a medium: NULL unless it
 * is 1 to MAX characters, all of them in CHARS. */
static char *
record_path(const struct config *cfg, const char *dir, const char *name,
    const char *chars, size_t max, int create)
{
	char *d, *path;

	if (name[0] == '\0' || strlen(name) > max ||
	    strspn(name, chars) != strlen(name))
		return NULL;
	d = state_path(cfg, dir);
	if (create && mkdir_private(d) == -1) {
		free(d);
		return NULL;
	}
	path = xasprintf("%s/%s", d, name);
	free(d);
	return path;
}

/* A pool guid from the disk becomes a file name in FOLDER: digits
 * only. */
static char *
guid_path(const struct config *cfg, const char *folder, const char *guid,
    int create)
{
	return record_path(cfg, folder, guid, "0123456789", 32, create);
}

static char *
disk_path(const struct config *cfg, const char *guid, int create)
{
	return guid_path(cfg, "disks", guid, create);
}

static int
disk_read_path(const char *path, struct state_disk *d)
{
	struct state_kv kv[10];
	int n = kv_read(path, kv, 10);

	memset(d, 0, sizeof *d);
	if (n == 0)
		return -1;
	copy(d->pool, sizeof d->pool, kv_get(kv, n, "pool"));
	copy(d->guid, sizeof d->guid, kv_get(kv, n, "guid"));
	d->last_seen = atoll(kv_get(kv, n, "last_seen"));
	copy(d->result, sizeof d->result, kv_get(kv, n, "result"));
	d->received = atoi(kv_get(kv, n, "received"));
	d->waiting = atoi(kv_get(kv, n, "waiting"));
	d->problems = atoi(kv_get(kv, n, "problems"));
	copy(d->message, sizeof d->message, kv_get(kv, n, "message"));
	return 0;
}

int
state_disk_read(const struct config *cfg, const char *guid,
    struct state_disk *d)
{
	char *path = disk_path(cfg, guid, 0);
	int rc = path ? disk_read_path(path, d) : -1;

	free(path);
	return rc;
}

/* One key a line: what comes from the disk is escaped. */
int
state_disk_write(const struct config *cfg, const struct state_disk *d)
{
	char *path = disk_path(cfg, d->guid, 1), *text;
	char pool[ESCAPED_MAX(sizeof d->pool)];
	char msg[ESCAPED_MAX(sizeof d->message)];
	int rc;

	if (path == NULL) {
		log_warnx("state: no record for a disk with pool guid '%s'",
		    str_escape(msg, sizeof msg, d->guid));
		return -1;
	}
	text = xasprintf("pool=%s\nguid=%s\nlast_seen=%lld\nresult=%s\n"
	    "received=%d\nwaiting=%d\nproblems=%d\nmessage=%s\n",
	    str_escape(pool, sizeof pool, d->pool), d->guid, d->last_seen,
	    d->result, d->received, d->waiting, d->problems,
	    str_escape(msg, sizeof msg, d->message));
	rc = file_replace(path, text, strlen(text));
	free(path);
	free(text);
	return rc;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every record in STATE/DIR read by READ into an array of elements of
 * SIZE bytes, in the order of their names; returns how many (*OUT to
 * be freed). */
static int
state_records(const struct config *cfg, const char *dir, size_t size,
    int (*read)(const char *, void *), void **out)
{
	char *d = state_path(cfg, dir), **names;
	int i, n = dir_names(d, &names), k = 0;

	qsort(names, (size_t)n, sizeof *names, name_cmp);
	*out = xcalloc((size_t)n + 1, size);
	for (i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", d, names[i]);

		if (read(path, (char *)*out + (size_t)k * size) == 0)
			k++;
		free(path);
		free(names[i]);
	}
	free(names);
	free(d);
	return k;
}

static int
disk_read_any(const char *path, void *d)
{
	return disk_read_path(path, d);
}

/* Every disk record, in the order of their guids. */
int
state_disks(const struct config *cfg, struct state_disk **disks)
{
	return state_records(cfg, "disks", sizeof **disks, disk_read_any,
	    (void **)disks);
}

/* --- sticks/UUID --- */

/* A filesystem UUID from the stick becomes a file name. */
static char *
stick_path(const struct config *cfg, const char *uuid, int create)
{
	return record_path(cfg, "sticks", uuid, "0123456789abcdefABCDEF-", 64,
	    create);
}

/* 0 with the owner a killed run recorded, -1 when there is none. */
int
state_stick_owner(const struct config *cfg, const char *uuid,
    unsigned *uid, unsigned *gid)
{
	char *path = stick_path(cfg, uuid, 0);
	FILE *f = path ? fopen(path, "re") : NULL;
	int rc = -1;

	if (f != NULL && fscanf(f, "%u %u", uid, gid) == 2)
		rc = 0;
	if (f != NULL)
		fclose(f);
	free(path);
	return rc;
}

int
state_stick_owner_save(const struct config *cfg, const char *uuid,
    unsigned uid, unsigned gid)
{
	char *path = stick_path(cfg, uuid, 1), *text;
	int rc;

	if (path == NULL)
		return -1;
	text = xasprintf("%u %u\n", uid, gid);
	rc = file_replace(path, text, strlen(text));
	free(text);
	free(path);
	return rc;
}

void
state_stick_owner_forget(const struct config *cfg, const char *uuid)
{
	char *path = stick_path(cfg, uuid, 0);

	if (path != NULL && unlink(path) == -1 && errno != ENOENT)
		log_warn("state: remove %s", path);
	free(path);
}

/* --- browse/GUID --- */

/* The snapshot is the disk's name: escaped.  Only a record that says
 * what it opened counts. */
int
state_browse_write(const struct config *cfg, const char *guid,
    const struct state_browse *b)
{
	char *path = guid_path(cfg, "browse", guid, 1), *text;
	char pool[ESCAPED_MAX(sizeof b->pool)];
	char snap[ESCAPED_MAX(sizeof b->snapshot)];
	int rc;

	if (path == NULL)
		return -1;
	text = xasprintf("pool=%s\nsnapshot=%s\nfolder=%s\ntime=%lld\n",
	    str_escape(pool, sizeof pool, b->pool),
	    str_escape(snap, sizeof snap, b->snapshot), b->folder, b->time);
	rc = file_replace(path, text, strlen(text));
	free(path);
	free(text);
	return rc;
}

/* 0 and B filled in when a snapshot of the disk is open, else -1. */
int
state_browse_read(const struct config *cfg, const char *guid,
    struct state_browse *b)
{
	char *path = guid_path(cfg, "browse", guid, 0);
	struct state_kv kv[4];
	int n = path ? kv_read(path, kv, 4) : 0;

	free(path);
	memset(b, 0, sizeof *b);
	if (n == 0)
		return -1;
	copy(b->pool, sizeof b->pool, kv_get(kv, n, "pool"));
	copy(b->snapshot, sizeof b->snapshot, kv_get(kv, n, "snapshot"));
	copy(b->folder, sizeof b->folder, kv_get(kv, n, "folder"));
	b->time = atoll(kv_get(kv, n, "time"));
	return 0;
}

int
state_browse_forget(const struct config *cfg, const char *guid)
{
	char *path = guid_path(cfg, "browse", guid, 0);
	int rc = path != NULL && unlink(path) == 0 ? 0 : -1;

	if (rc == -1 && path != NULL && errno != ENOENT)
		log_warn("state: unlink %s", path);
	free(path);
	return rc;
}

/* --- drills/GUID --- */

int
state_drill_write(const struct config *cfg, const struct state_drill *d)
{
	char *path = guid_path(cfg, "drills", d->guid, 1), *text;
	char pool[ESCAPED_MAX(sizeof d->pool)];
	char msg[ESCAPED_MAX(sizeof d->message)];
	int rc;

	if (path == NULL)
		return -1;
	text = xasprintf("pool=%s\nguid=%s\ntime=%lld\nseconds=%lld\nresult=%s\n"
	    "datasets=%d\nfailed=%d\nbytes=%llu\nscrub=%s\nmessage=%s\n",
	    str_escape(pool, sizeof pool, d->pool), d->guid, d->time, d->seconds,
	    d->result, d->datasets, d->failed, d->bytes, d->scrub ? "yes" : "no",
	    str_escape(msg, sizeof msg, d->message));
	rc = file_replace(path, text, strlen(text));
	free(path);
	free(text);
	return rc;
}

static int
drill_read_path(const char *path, struct state_drill *d)
{
	struct state_kv kv[12];
	int n = kv_read(path, kv, 12);

	memset(d, 0, sizeof *d);
	if (n == 0)
		return -1;
	copy(d->pool, sizeof d->pool, kv_get(kv, n, "pool"));
	copy(d->guid, sizeof d->guid, kv_get(kv, n, "guid"));
	d->time = atoll(kv_get(kv, n, "time"));
	d->seconds = atoll(kv_get(kv, n, "seconds"));
	copy(d->result, sizeof d->result, kv_get(kv, n, "result"));
	d->datasets = atoi(kv_get(kv, n, "datasets"));
	d->failed = atoi(kv_get(kv, n, "failed"));
	d->bytes = strtoull(kv_get(kv, n, "bytes"), NULL, 10);
	d->scrub = strcmp(kv_get(kv, n, "scrub"), "yes") == 0;
	copy(d->message, sizeof d->message, kv_get(kv, n, "message"));
	return 0;
}

static int
drill_read_any(const char *path, void *d)
{
	return drill_read_path(path, d);
}

/* Every drill record, in the order of their guids. */
int
state_drills(const struct config *cfg, struct state_drill **drills)
{
	return state_records(cfg, "drills", sizeof **drills, drill_read_any,
	    (void **)drills);
}

/* STATE/retention/POOL, or NULL for a name that is no pool's. */
static char *
kept_path(const struct config *cfg, const char *pool, int create)
{
	char *dir;

	if (pool[0] == '\0' || pool[0] == '.' || strchr(pool, '/') != NULL)
		return NULL;
	dir = state_path(cfg, "retention");
	if (create && mkdir_private(dir) == -1) {
		free(dir);
		return NULL;
	}
	free(dir);
	return xasprintf("%s/retention/%s", cfg->state_dir, pool);
}

/* One line per dataset: DATASET KEPT OLDEST NEWEST BYTES, the dataset
 * name escaped (it came from a disk). */
int
state_kept_write(const struct config *cfg, const char *pool,
    const struct state_kept *k, size_t n)
{
	char *path = kept_path(cfg, pool, 1), e[ESCAPED_MAX(512)];
	struct buf b = { 0 };
	size_t i;
	int rc;

	if (path == NULL)
		return -1;
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s\t%lld\t%lld\t%lld\t%llu\n",
		    str_escape(e, sizeof e, k[i].dataset), k[i].kept, k[i].oldest,
		    k[i].newest, k[i].bytes);
	rc = file_replace(path, b.data ? b.data : "", b.len);
	buf_free(&b);
	free(path);
	return rc;
}

struct kept_read {
	struct state_kept *k;
	int n;
};

static int
kept_line(void *arg, char *line)
{
	struct kept_read *r = arg;
	struct state_kept k;
	char *tab = strchr(line, '\t');

	if (tab == NULL || (size_t)(tab - line) >= sizeof k.dataset)
		return 0;
	*tab = '\0';
	if (sscanf(tab + 1, "%lld\t%lld\t%lld\t%llu", &k.kept, &k.oldest,
	    &k.newest, &k.bytes) != 4)
		return 0;
	snprintf(k.dataset, sizeof k.dataset, "%s", line);
	r->k = xreallocarray(r->k, (size_t)r->n + 1, sizeof *r->k);
	r->k[r->n++] = k;
	return 0;
}

/* What the last thinning of POOL kept; 0 rows when it never ran. */
int
state_kept_read(const struct config *cfg, const char *pool,
    struct state_kept **k)
{
	char *path = kept_path(cfg, pool, 0);
	struct kept_read r = { NULL, 0 };

	*k = NULL;
	if (path == NULL)
		return 0;
	if (access(path, F_OK) == 0)
		file_lines(path, kept_line, &r);
	free(path);
	*k = r.k;
	return r.n;
}

/* --- heads/GUID --- */

/* A record's folder and file: NAME is a pool guid (digits) or a host
 * name from the config; anything else is no file name. */
static char *
named_path(const struct config *cfg, const char *dir, const char *name,
    int create)
{
	char *top, *path;

	if (name[0] == '\0' || name[0] == '.' || strlen(name) > 64 ||
	    strspn(name, "0123456789abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-_") != strlen(name))
		return NULL;
	top = state_path(cfg, dir);
	if (create && mkdir_private(top) == -1) {
		free(top);
		return NULL;
	}
	path = xasprintf("%s/%s", top, name);
	free(top);
	return path;
}

/* The whole record (lines "DATASET TAB SNAP TAB GUID TAB SINCE") into
 * OUT; 0, or -1 when there is none. */
int
state_heads_read(const struct config *cfg, const char *pool_guid,
    struct buf *out)
{
	char *path = named_path(cfg, "heads", pool_guid, 0);
	FILE *f = path ? fopen(path, "re") : NULL;
	char line[1024];

	free(path);
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		buf_append(out, line, strlen(line));
	fclose(f);
	return 0;
}

int
state_heads_write(const struct config *cfg, const char *pool_guid,
    const struct buf *text)
{
	char *path = named_path(cfg, "heads", pool_guid, 1);
	int rc;

	if (path == NULL)
		return -1;
	rc = file_replace(path, text->data ? text->data : "", text->len);
	free(path);
	return rc;
}

/* --- receipts/HOST --- */

int
state_receipt_write(const struct config *cfg, const struct state_receipt *r)
{
	char *path = named_path(cfg, "receipts", r->host, 1), *text;
	char summary[ESCAPED_MAX(sizeof r->summary)];
	int rc;

	if (path == NULL)
		return -1;
	text = xasprintf("host=%s\nnode=%s\ntime=%lld\nresult=%s\nsummary=%s\n",
	    r->host, r->node, r->time, r->result,
	    str_escape(summary, sizeof summary, r->summary));
	rc = file_replace(path, text, strlen(text));
	free(path);
	free(text);
	return rc;
}

/* 0 and R filled in, or -1 when no receipt was queued for HOST. */
int
state_receipt_read(const struct config *cfg, const char *host,
    struct state_receipt *r)
{
	char *path = named_path(cfg, "receipts", host, 0);
	struct state_kv kv[5];
	int n = path ? kv_read(path, kv, 5) : 0;

	free(path);
	memset(r, 0, sizeof *r);
	if (n == 0)
		return -1;
	copy(r->host, sizeof r->host, kv_get(kv, n, "host"));
	copy(r->node, sizeof r->node, kv_get(kv, n, "node"));
	r->time = atoll(kv_get(kv, n, "time"));
	copy(r->result, sizeof r->result, kv_get(kv, n, "result"));
	copy(r->summary, sizeof r->summary, kv_get(kv, n, "summary"));
	return 0;
}
