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
 *   heads/GUID        a backup disk's newest snapshot of each dataset,
 *                     and since when (receipt.c)
 *   receipts/HOST     the last receipt queued for a host: when, to
 *                     which node, its summary
 *   ledger            which rotation disk holds which queue file (ledger.c)
 *   verified          queue files read through and proved (verified.c)
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

/* A pool guid from the disk becomes a file name: digits only. */
static char *
disk_path(const struct config *cfg, const char *guid, int create)
{
	char *dir, *path;

	if (guid[0] == '\0' || strlen(guid) > 32 ||
	    strspn(guid, "0123456789") != strlen(guid))
		return NULL;
	dir = state_path(cfg, "disks");
	if (create && mkdir_private(dir) == -1) {
		free(dir);
		return NULL;
	}
	path = xasprintf("%s/%s", dir, guid);
	free(dir);
	return path;
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

/* Every disk record, in the order of their guids; returns how many
 * (*DISKS to be freed). */
int
state_disks(const struct config *cfg, struct state_disk **disks)
{
	char *dir = state_path(cfg, "disks"), **names;
	int i, n = dir_names(dir, &names), k = 0;

	qsort(names, (size_t)n, sizeof *names, name_cmp);
	*disks = xcalloc((size_t)n + 1, sizeof **disks);
	for (i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", dir, names[i]);

		if (disk_read_path(path, &(*disks)[k]) == 0)
			k++;
		free(path);
		free(names[i]);
	}
	free(names);
	free(dir);
	return k;
}

/* --- sticks/UUID --- */

/* A filesystem UUID from the stick becomes a file name: NULL for one
 * that is no use as one. */
static char *
stick_path(const struct config *cfg, const char *uuid, int create)
{
	char *dir, *path;

	if (uuid[0] == '\0' || strlen(uuid) > 64 ||
	    strspn(uuid, "0123456789abcdefABCDEF-") != strlen(uuid))
		return NULL;
	dir = state_path(cfg, "sticks");
	if (create && mkdir_private(dir) == -1) {
		free(dir);
		return NULL;
	}
	path = xasprintf("%s/%s", dir, uuid);
	free(dir);
	return path;
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
