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
#include <stddef.h>
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

struct records {
	const char *path;
	int (*parse)(char *, void *);
	size_t size;
	char *v;
	size_t n;
};

static int
records_line(void *arg, char *line)
{
	struct records *r = arg;

	r->v = xreallocarray(r->v, r->n + 1, r->size);
	if (r->parse(line, r->v + r->n * r->size) == -1)
		log_warnx("state: %s: skipping a malformed line", r->path);
	else
		r->n++;
	return 0;
}

/* STATE/NAME holds one record per line, in a format its owner parses:
 * PARSE fills a record of SIZE bytes from a line, or says -1 and the
 * line is skipped.  The records go to *RECS (*N of them, to be freed by
 * the owner); *PATH gets the file's path, for the owner to write it
 * back. */
int
state_lines(const char *state_dir, const char *name, char **path,
    int (*parse)(char *, void *), size_t size, void **recs, size_t *n)
{
	struct records r = { .parse = parse, .size = size };
	int rc;

	*path = xasprintf("%s/%s", state_dir, name);
	r.path = *path;
	rc = file_lines(*path, records_line, &r);
	*recs = r.v;
	*n = r.n;
	return rc;
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

/* --- key=value records --- */

/* A field of a record struct, one "key=value" line in its file.
 * KV_ESC fields hold text from a medium or a sender and are escaped on
 * their way into the file, so that they cannot make a line of their
 * own. */
enum kv_type { KV_STR, KV_ESC, KV_LL, KV_INT, KV_ULL, KV_YESNO };
struct kv_field {
	const char *key;
	enum kv_type type;
	size_t off;
	size_t size;
};
#define KV(s, m, t) { #m, t, offsetof(struct s, m), sizeof(((struct s *)0)->m) }
/* Ends a record's table of fields. */
#define KV_END { NULL, KV_STR, 0, 0 }

static void
kv_put(struct buf *b, const struct kv_field *f, const char *p)
{
	char *e;

	switch (f->type) {
	case KV_STR:
		buf_printf(b, "%s=%s\n", f->key, p);
		break;
	case KV_ESC:
		e = xmalloc(ESCAPED_MAX(f->size));
		buf_printf(b, "%s=%s\n", f->key, str_escape(e, ESCAPED_MAX(f->size),
		    p));
		free(e);
		break;
	case KV_LL:
		buf_printf(b, "%s=%lld\n", f->key, *(const long long *)p);
		break;
	case KV_INT:
		buf_printf(b, "%s=%d\n", f->key, *(const int *)p);
		break;
	case KV_ULL:
		buf_printf(b, "%s=%llu\n", f->key, *(const unsigned long long *)p);
		break;
	case KV_YESNO:
		buf_printf(b, "%s=%s\n", f->key, *(const int *)p ? "yes" : "no");
		break;
	}
}

/* Replaces PATH (NULL: no record, -1) with the fields of REC. */
static int
kv_write(char *path, const struct kv_field *f, const void *rec)
{
	struct buf b = { 0 };
	int rc;

	if (path == NULL) {
		log_warnx("state: a record (%s=...) whose name is no file "
		    "name", f[0].key);
		return -1;
	}
	for (; f->key != NULL; f++)
		kv_put(&b, f, (const char *)rec + f->off);
	rc = file_replace(path, b.data ? b.data : "", b.len);
	buf_free(&b);
	free(path);
	return rc;
}

static void
kv_take(const struct kv_field *f, char *p, const char *v)
{
	switch (f->type) {
	case KV_STR:
	case KV_ESC:
		copy(p, f->size, v);
		break;
	case KV_LL:
		*(long long *)p = atoll(v);
		break;
	case KV_INT:
		*(int *)p = atoi(v);
		break;
	case KV_ULL:
		*(unsigned long long *)p = strtoull(v, NULL, 10);
		break;
	case KV_YESNO:
		*(int *)p = strcmp(v, "yes") == 0;
		break;
	}
}

/* REC (SIZE bytes, zeroed first) from PATH: 0, or -1 when there is no
 * record there. */
static int
kv_load(const char *path, const struct kv_field *f, void *rec, size_t size)
{
	struct state_kv kv[16];
	int k = path ? kv_read(path, kv, 16) : 0;

	memset(rec, 0, size);
	if (k == 0)
		return -1;
	for (; f->key != NULL; f++)
		kv_take(f, (char *)rec + f->off, kv_get(kv, k, f->key));
	return 0;
}

/* kv_load from PATH, which it frees. */
static int
kv_load_at(char *path, const struct kv_field *f, void *rec, size_t size)
{
	int rc = kv_load(path, f, rec, size);

	free(path);
	return rc;
}

/* --- indicator --- */

static const struct kv_field light_fields[] = {
	KV(state_light, state, KV_STR), KV(state_light, time, KV_LL),
	KV(state_light, message, KV_STR), /* the caller escaped it */
	KV_END,
};

int
state_light_write(const struct config *cfg, const char *state,
    const char *message)
{
	struct state_light l;

	memset(&l, 0, sizeof l);
	copy(l.state, sizeof l.state, state);
	l.time = (long long)time(NULL);
	copy(l.message, sizeof l.message, message ? message : "");
	return kv_write(state_path(cfg, "indicator"), light_fields, &l);
}

/* 0 and L filled in, or -1 when no light was ever recorded. */
int
state_light_read(const struct config *cfg, struct state_light *l)
{
	return kv_load_at(state_path(cfg, "indicator"), light_fields, l,
	    sizeof *l);
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

	if (name[0] == '\0' || name[0] == '.' || strlen(name) > max ||
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

static const struct kv_field disk_fields[] = {
	KV(state_disk, pool, KV_ESC), KV(state_disk, guid, KV_STR),
	KV(state_disk, last_seen, KV_LL), KV(state_disk, result, KV_STR),
	KV(state_disk, received, KV_INT), KV(state_disk, waiting, KV_INT),
	KV(state_disk, problems, KV_INT), KV(state_disk, message, KV_ESC),
	KV_END,
};

int
state_disk_read(const struct config *cfg, const char *guid,
    struct state_disk *d)
{
	return kv_load_at(disk_path(cfg, guid, 0), disk_fields, d, sizeof *d);
}

/* The guid (the file's name) was checked when the pool was found. */
int
state_disk_write(const struct config *cfg, const struct state_disk *d)
{
	return kv_write(disk_path(cfg, d->guid, 1), disk_fields, d);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every record in STATE/DIR with the fields F, read into an array of
 * elements of SIZE bytes, in the order of their names; a record that
 * cannot be read is passed over.  OUT is the address of the array's
 * pointer (the array to be freed).  Returns how many. */
static int
state_records(const struct config *cfg, const char *dir,
    const struct kv_field *f, size_t size, void *out)
{
	char *d = state_path(cfg, dir), **names;
	int i, n = dir_names(d, &names), k = 0;
	void **arr = out;

	if (n > 0)
		qsort(names, (size_t)n, sizeof *names, name_cmp);
	*arr = xcalloc((size_t)n + 1, size);
	for (i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", d, names[i]);

		if (kv_load(path, f, (char *)*arr + (size_t)k * size, size) == 0)
			k++;
		free(path);
		free(names[i]);
	}
	free(names);
	free(d);
	return k;
}

/* Every disk record, in the order of their guids. */
int
state_disks(const struct config *cfg, struct state_disk **disks)
{
	return state_records(cfg, "disks", disk_fields, sizeof **disks, disks);
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

static const struct kv_field browse_fields[] = {
	KV(state_browse, pool, KV_ESC), KV(state_browse, snapshot, KV_ESC),
	KV(state_browse, folder, KV_STR), KV(state_browse, time, KV_LL),
	KV_END,
};

/* The snapshot is the disk's name: escaped.  Only a record that says
 * what it opened counts. */
int
state_browse_write(const struct config *cfg, const char *guid,
    const struct state_browse *b)
{
	return kv_write(guid_path(cfg, "browse", guid, 1), browse_fields, b);
}

/* 0 and B filled in when a snapshot of the disk is open, else -1. */
int
state_browse_read(const struct config *cfg, const char *guid,
    struct state_browse *b)
{
	return kv_load_at(guid_path(cfg, "browse", guid, 0), browse_fields, b,
	    sizeof *b);
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

static const struct kv_field drill_fields[] = {
	KV(state_drill, pool, KV_ESC), KV(state_drill, guid, KV_STR),
	KV(state_drill, time, KV_LL), KV(state_drill, seconds, KV_LL),
	KV(state_drill, result, KV_STR), KV(state_drill, datasets, KV_INT),
	KV(state_drill, failed, KV_INT), KV(state_drill, bytes, KV_ULL),
	KV(state_drill, scrub, KV_YESNO), KV(state_drill, message, KV_ESC),
	KV_END,
};

int
state_drill_write(const struct config *cfg, const struct state_drill *d)
{
	return kv_write(guid_path(cfg, "drills", d->guid, 1), drill_fields, d);
}

/* Every drill record, in the order of their guids. */
int
state_drills(const struct config *cfg, struct state_drill **drills)
{
	return state_records(cfg, "drills", drill_fields, sizeof **drills,
	    drills);
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
	return record_path(cfg, dir, name, "0123456789abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-_", 64, create);
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

static const struct kv_field receipt_fields[] = {
	KV(state_receipt, host, KV_STR), KV(state_receipt, node, KV_STR),
	KV(state_receipt, time, KV_LL), KV(state_receipt, result, KV_STR),
	KV(state_receipt, summary, KV_ESC),
	KV_END,
};

int
state_receipt_write(const struct config *cfg, const struct state_receipt *r)
{
	return kv_write(named_path(cfg, "receipts", r->host, 1), receipt_fields,
	    r);
}

/* 0 and R filled in, or -1 when no receipt was queued for HOST. */
int
state_receipt_read(const struct config *cfg, const char *host,
    struct state_receipt *r)
{
	return kv_load_at(named_path(cfg, "receipts", host, 0), receipt_fields,
	    r, sizeof *r);
}
