/*
 * The way back, for a person at the box: what a plugged backup disk
 * holds, one snapshot opened read-only for browsing (a clone under a
 * folder the agent owns, never the dataset's own mountpoint) and closed
 * again, and one snapshot written as a stream onto a transport stick
 * (raw for an encrypted dataset, whose key is not on this box).
 *
 * What the disk says (dataset names, what zfs prints of them) is
 * untrusted: it is parsed strictly and escaped wherever it is shown.
 * The light says "working, do not remove" while a disk is in use, and
 * "safe" only once its pool is exported again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "airgap-agent.h"

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif
/* The clone a browse opens: a top-level name no host can have (host
 * names have no colon), so it never stands among received datasets. */
#define BROWSE_CLONE "airgap-agent:browse"
#define STICK_FOLDER "restore"

/* Is a snapshot of the pool with this guid open for browsing? */
int
restore_busy(const struct config *cfg, const char *guid)
{
	struct state_browse b;

	return state_browse_read(cfg, guid, &b) == 0;
}

static int
find_disk(const struct config *cfg, const char *pool, struct medium *m)
{
	struct medium *d;
	size_t n, i;
	int found = 0;

	/* The name goes into a path and a record: a plain pool name only. */
	if (strspn(pool, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_-.:") != strlen(pool) || pool[0] == '\0' ||
	    pool[0] == '.' || pool[0] == '-') {
		log_warnx("restore: '%s' is not a pool name", pool);
		return -1;
	}
	if (media_backup_disks(cfg, &d, &n) == -1)
		return -1;
	for (i = 0; i < n && !found; i++)
		if (strcmp(d[i].label, pool) == 0) {
			*m = d[i];
			found = 1;
		}
	free(d);
	if (!found)
		log_warnx("restore: no backup disk with the pool %s is plugged in",
		    pool);
	return found ? 0 : -1;
}

/* Imported by guid, or imported already under its own name. */
static int
restore_import(const struct config *cfg, const struct medium *m)
{
	uint64_t want = strtoull(m->uuid, NULL, 10), have = 0;
	int rc = zfs_pool_guid(cfg, m->label, &have);

	if (rc == 0 && have == want)
		return 0;
	if (rc == 0) {
		log_warnx("restore: another pool called %s is imported already",
		    m->label);
		return -1;
	}
	if (zfs_import(cfg, m->uuid) != 0 ||
	    zfs_pool_guid(cfg, m->label, &have) != 0 || have != want) {
		log_warnx("restore: cannot import the pool %s (guid %s)", m->label,
		    m->uuid);
		return -1;
	}
	return 0;
}

/* Finds the plugged disk, takes the lock, says "working" and imports
 * its pool.  -1 (with the light saying why) when it cannot. */
int
restore_begin(const struct config *cfg, const char *pool, const char *what,
    struct restore_session *s)
{
	char msg[512];

	memset(s, 0, sizeof *s);
	s->cfg = cfg;
	s->lock = -1;
	if (mkdir_private(cfg->state_dir) == -1 || find_disk(cfg, pool, &s->m) == -1)
		return -1;
	if ((s->lock = lock_take(cfg->state_dir, 1)) == -1)
		return -1;
	snprintf(msg, sizeof msg, "%s on backup disk %s: working, do not remove",
	    what, pool);
	indicator_set(cfg, IND_WORKING, msg);
	if (restore_import(cfg, &s->m) == -1) {
		snprintf(msg, sizeof msg, "%s: cannot import its pool", pool);
		indicator_set(cfg, IND_ERROR, msg);
		handle_log_run(cfg, &s->m, "error", msg);
		close(s->lock);
		s->lock = -1;
		return -1;
	}
	return 0;
}

/* Exports the pool (unless a snapshot of it is open for browsing: then
 * the light goes on saying "do not remove"), sets the light, logs the
 * run.  Returns 0 when OK was true and the disk may go. */
int
restore_end(struct restore_session *s, int ok, const char *message)
{
	const struct config *cfg = s->cfg;
	char msg[2600];
	int rc;

	if (restore_busy(cfg, s->m.uuid)) {
		snprintf(msg, sizeof msg, "%s; a snapshot is open for browsing: do "
		    "not remove (airgap-agent restore close %s)", message, s->m.label);
		indicator_set(cfg, IND_WORKING, msg);
		handle_log_run(cfg, &s->m, ok ? "open" : "error", msg);
	} else if ((rc = zfs_export(cfg, s->m.label)) != 0) {
		snprintf(msg, sizeof msg, "%s; cannot export pool %s: NOT safe to "
		    "remove", message, s->m.label);
		indicator_set(cfg, rc == ZFS_TIMEOUT ? IND_REBOOT : IND_ERROR, msg);
		handle_log_run(cfg, &s->m, "error", msg);
		ok = 0;
	} else {
		snprintf(msg, sizeof msg, "%s; exported, safe to remove", message);
		indicator_set(cfg, ok ? IND_SAFE : IND_ERROR, msg);
		handle_log_run(cfg, &s->m, ok ? "safe" : "error", msg);
	}
	if (s->lock != -1)
		close(s->lock);
	s->lock = -1;
	return ok ? 0 : -1;
}

/* ---- what the disk holds ---- */

static int
parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end != '\0' ? -1 : 0;
}

static struct restore_ds *
ds_find(struct restore_list *l, const char *name, size_t len)
{
	size_t i;

	for (i = l->n; i-- > 0;)
		if (strlen(l->ds[i].name) == len && memcmp(l->ds[i].name, name, len) == 0)
			return &l->ds[i];
	return NULL;
}

static struct restore_snap *
snap_find(struct restore_ds *d, const char *name)
{
	size_t i;

	for (i = d->nsnaps; i-- > 0;)
		if (strcmp(d->snaps[i].name, name) == 0)
			return &d->snaps[i];
	return NULL;
}

/* One line of zfs get -H -p -o name,property,value: NAME, a known
 * property, a value.  Lines that do not parse are skipped: what the
 * disk says cannot make the agent act on anything it did not list. */
static void
scan_line(struct restore_list *l, char *line)
{
	size_t rl = strlen(l->root);
	char *prop, *value, *at;
	struct restore_ds *d;
	struct restore_snap *sn;
	uint64_t v = 0;

	if ((prop = strchr(line, '\t')) == NULL)
		return;
	*prop++ = '\0';
	if ((value = strchr(prop, '\t')) == NULL || strchr(value + 1, '\t') != NULL)
		return;
	*value++ = '\0';
	if (strncmp(line, l->root, rl) != 0 || line[rl] != '/' || line[rl + 1] == '\0')
		return;
	at = strchr(line, '@');
	if (strcmp(prop, "type") == 0 && at == NULL &&
	    (strcmp(value, "filesystem") == 0 || strcmp(value, "volume") == 0)) {
		if (ds_find(l, line, strlen(line)) != NULL)
			return;
		l->ds = xreallocarray(l->ds, l->n + 1, sizeof *l->ds);
		memset(&l->ds[l->n], 0, sizeof l->ds[l->n]);
		l->ds[l->n].name = xstrdup(line);
		l->ds[l->n++].volume = value[0] == 'v';
		return;
	}
	if (at == NULL) {
		if (strcmp(prop, "encryption") == 0 && strcmp(value, "off") != 0 &&
		    strcmp(value, "-") != 0 && (d = ds_find(l, line, strlen(line))))
			d->encrypted = 1;
		return;
	}
	if ((d = ds_find(l, line, (size_t)(at - line))) == NULL || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL)
		return;
	if (strcmp(prop, "type") == 0 && strcmp(value, "snapshot") == 0 &&
	    snap_find(d, line) == NULL) {
		d->snaps = xreallocarray(d->snaps, d->nsnaps + 1, sizeof *d->snaps);
		memset(&d->snaps[d->nsnaps], 0, sizeof d->snaps[0]);
		d->snaps[d->nsnaps++].name = xstrdup(line);
		return;
	}
	if ((sn = snap_find(d, line)) == NULL || parse_u64(value, &v) == -1)
		return;
	if (strcmp(prop, "creation") == 0 && v <= INT64_MAX)
		sn->creation = (long long)v;
	else if (strcmp(prop, "guid") == 0)
		sn->guid = v;
}

/* zfs lists snapshots oldest first; the newest go first here, by
 * creation time, the later listed first among equals. */
static void
sort_newest_first(struct restore_ds *d)
{
	size_t i, j;

	for (i = 0; i < d->nsnaps / 2; i++) {
		struct restore_snap t = d->snaps[i];

		d->snaps[i] = d->snaps[d->nsnaps - 1 - i];
		d->snaps[d->nsnaps - 1 - i] = t;
	}
	for (i = 1; i < d->nsnaps; i++) /* stable insertion sort */
		for (j = i; j > 0 && d->snaps[j].creation > d->snaps[j - 1].creation;
		    j--) {
			struct restore_snap t = d->snaps[j];

			d->snaps[j] = d->snaps[j - 1];
			d->snaps[j - 1] = t;
		}
}

/* Every dataset below POOL/store with its snapshots.  A disk without
 * the store holds nothing: an empty list, not an error.  zfs-fuse has
 * no encryption property: without it nothing counts as encrypted. */
int
restore_scan(const struct config *cfg, const char *pool, struct restore_list *l)
{
	const char *props[] = { "type,creation,guid,encryption", "type,creation,guid" };
	struct buf out = { 0 };
	char *line, *save = NULL;
	size_t i;
	int rc = 1;

	memset(l, 0, sizeof *l);
	l->root = xasprintf("%s/%s", pool, cfg->store);
	for (i = 0; i < 2 && rc == 1; i++) {
		buf_free(&out);
		rc = zfs_command(cfg, cfg->zfs, (const char *const[]){ "get", "-H",
		    "-p", "-r", "-o", "name,property,value", props[i], l->root,
		    NULL }, &out);
	}
	if (rc == 1 && zfs_command(cfg, cfg->zfs, (const char *const[]){ "get",
	    "-H", "-o", "value", "type", l->root, NULL }, NULL) == 1) {
		log_info("restore: %s holds no backups (no %s)", pool, l->root);
		rc = 0;
	} else if (rc == 0 && out.data != NULL)
		for (line = strtok_r(out.data, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			scan_line(l, line);
	buf_free(&out);
	if (rc != 0) {
		log_warnx("restore: cannot list what %s holds", pool);
		restore_list_free(l);
		return -1;
	}
	for (i = 0; i < l->n; i++)
		sort_newest_first(&l->ds[i]);
	return 0;
}

void
restore_list_free(struct restore_list *l)
{
	size_t i, j;

	for (i = 0; i < l->n; i++) {
		for (j = 0; j < l->ds[i].nsnaps; j++)
			free(l->ds[i].snaps[j].name);
		free(l->ds[i].snaps);
		free(l->ds[i].name);
	}
	free(l->ds);
	free(l->root);
	memset(l, 0, sizeof *l);
}

/* The name a person types: HOST/dataset[@snap], the store's prefix
 * taken off.  Escaped: it is the disk's. */
static const char *
shown(const struct restore_list *l, const char *name, char *buf, size_t len)
{
	return str_escape(buf, len, name + strlen(l->root) + 1);
}

static void
print_when(long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char s[64];

	gmtime_r(&tt, &tm);
	strftime(s, sizeof s, "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("%s", s);
}

static void
list_print(const struct medium *m, const struct restore_list *l)
{
	char buf[ESCAPED_MAX(1024)], host[ESCAPED_MAX(1024)] = "", h[1024];
	size_t i, j;

	printf("backup disk %s (pool guid %s): %zu dataset(s)\n",
	    str_escape(buf, sizeof buf, m->label), m->uuid, l->n);
	for (i = 0; i < l->n; i++) {
		const struct restore_ds *d = &l->ds[i];

		snprintf(h, sizeof h, "%s", d->name + strlen(l->root) + 1);
		h[strcspn(h, "/")] = '\0';
		str_escape(buf, sizeof buf, h);
		if (strcmp(buf, host) != 0) {
			snprintf(host, sizeof host, "%s", buf);
			printf("host %s\n", host);
		}
		printf("  %s%s%s, %zu snapshot(s)\n", shown(l, d->name, buf,
		    sizeof buf), d->volume ? " (volume)" : "", d->encrypted ?
		    " (encrypted: restore it raw)" : "", d->nsnaps);
		for (j = 0; j < d->nsnaps; j++) {
			printf("    ");
			print_when(d->snaps[j].creation);
			printf("  %s\n", shown(l, d->snaps[j].name, buf, sizeof buf));
		}
	}
}

static int
cmd_list(const struct config *cfg, const char *pool)
{
	struct restore_session s;
	struct restore_list l;
	char msg[300];
	int ok;

	if (restore_begin(cfg, pool, "listing", &s) == -1)
		return -1;
	ok = restore_scan(cfg, s.m.label, &l) == 0;
	if (ok) {
		list_print(&s.m, &l);
		snprintf(msg, sizeof msg, "%s: listed %zu dataset(s)", pool, l.n);
		restore_list_free(&l);
	} else
		snprintf(msg, sizeof msg, "%s: cannot list what it holds", pool);
	return restore_end(&s, ok, msg);
}

/* The snapshot HOST/dataset@snap names, if the disk listed it. */
static const struct restore_snap *
find_snap(const struct restore_list *l, const char *spec,
    const struct restore_ds **dsp)
{
	char *full = xasprintf("%s/%s", l->root, spec);
	const char *at = strchr(full, '@');
	const struct restore_snap *found = NULL;
	size_t i, j;

	for (i = 0; at != NULL && i < l->n && found == NULL; i++)
		for (j = 0; j < l->ds[i].nsnaps; j++)
			if (strcmp(l->ds[i].snaps[j].name, full) == 0) {
				found = &l->ds[i].snaps[j];
				*dsp = &l->ds[i];
				break;
			}
	free(full);
	if (found == NULL)
		log_warnx("restore: the disk has no snapshot %s (see airgap-agent "
		    "restore list)", spec);
	return found;
}

/* ---- browsing ---- */

static char *
browse_folder(const struct config *cfg, const char *pool)
{
	return xasprintf("%s/browse/%s", cfg->mount_dir, pool);
}

/* mount_dir/browse/POOL, made empty and root's only. */
static int
browse_mkdir(const char *folder)
{
	char *p = xstrdup(folder), *slash;
	int rc = 0;

	for (slash = strchr(p + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST)
			rc = -1;
		*slash = '/';
	}
	if (rc == 0 && mkdir(p, 0700) == -1 && errno != EEXIST)
		rc = -1;
	if (rc == -1)
		log_warn("restore: mkdir %s", p);
	else if (rmdir(p) == -1 || mkdir(p, 0700) == -1) {
		log_warn("restore: %s is not an empty folder", p);
		rc = -1;
	}
	free(p);
	return rc;
}

/* The folder, and mount_dir/browse when nothing else is open. */
static void
browse_rmdir(const char *folder)
{
	char *p = xstrdup(folder), *slash = strrchr(p, '/');

	if (rmdir(p) == -1 && errno != ENOENT)
		log_warn("restore: rmdir %s", p);
	if (slash != NULL) {
		*slash = '\0';
		(void)rmdir(p);
	}
	free(p);
}

static int
browse_record(const struct config *cfg, const struct medium *m,
    const char *snap, const char *folder)
{
	struct state_browse b;

	memset(&b, 0, sizeof b);
	snprintf(b.pool, sizeof b.pool, "%s", m->label);
	snprintf(b.snapshot, sizeof b.snapshot, "%s", snap);
	snprintf(b.folder, sizeof b.folder, "%s", folder);
	b.time = (long long)time(NULL);
	return state_browse_write(cfg, m->uuid, &b);
}

/* A clone of SNAP at FOLDER: read-only, and whatever the disk's parents
 * would pass down (setuid, devices, exec, sharing) switched off. */
static int
browse_clone(const struct config *cfg, const char *pool, const char *snap,
    const char *folder)
{
	char *clone = xasprintf("%s/%s", pool, BROWSE_CLONE);
	char *mp = xasprintf("mountpoint=%s", folder);
	char mounted[16] = "";
	struct buf out = { 0 };
	int rc;

	rc = zfs_command(cfg, cfg->zfs, (const char *const[]){ "clone", "-o",
	    "readonly=on", "-o", mp, "-o", "canmount=on", "-o", "setuid=off",
	    "-o", "devices=off", "-o", "exec=off", "-o", "sharenfs=off", "-o",
	    "sharesmb=off", snap, clone, NULL }, NULL);
	if (rc == 0 && zfs_command(cfg, cfg->zfs, (const char *const[]){ "get",
	    "-H", "-o", "value", "mounted", clone, NULL }, &out) == 0 && out.data)
		snprintf(mounted, sizeof mounted, "%.3s", out.data);
	if (rc == 0 && strcmp(mounted, "yes") != 0)
		rc = zfs_command(cfg, cfg->zfs, (const char *const[]){ "mount",
		    clone, NULL }, NULL);
	if (rc != 0)
		log_warnx("restore: cannot clone and mount the snapshot at %s",
		    folder);
	buf_free(&out);
	free(mp);
	free(clone);
	return rc == 0 ? 0 : -1;
}

static int
cmd_open(const struct config *cfg, const char *pool, const char *spec)
{
	const struct restore_snap *sn = NULL;
	const struct restore_ds *d = NULL;
	struct restore_session s;
	struct restore_list l;
	char *folder, msg[2048], esc[ESCAPED_MAX(256)];
	int ok = 0;

	if (restore_begin(cfg, pool, "opening a snapshot", &s) == -1)
		return -1;
	folder = browse_folder(cfg, s.m.label);
	str_escape(esc, sizeof esc, spec);
	snprintf(msg, sizeof msg, "%s: %s NOT opened", pool, esc);
	if (restore_busy(cfg, s.m.uuid))
		log_warnx("restore: a snapshot of %s is open already: close it "
		    "first", pool);
	else if (restore_scan(cfg, s.m.label, &l) == 0) {
		if ((sn = find_snap(&l, spec, &d)) == NULL)
			;
		else if (d->encrypted || d->volume)
			log_warnx("restore: %s is %s: write it to a stick (airgap-agent "
			    "restore send) and open it where its key is", esc,
			    d->encrypted ? "encrypted" : "a volume");
		else if (browse_mkdir(folder) == 0 &&
		    browse_record(cfg, &s.m, sn->name, folder) == 0) {
			ok = browse_clone(cfg, s.m.label, sn->name, folder) == 0;
			if (!ok) {
				state_browse_forget(cfg, s.m.uuid);
				browse_rmdir(folder);
			}
		}
		restore_list_free(&l);
	}
	if (ok) {
		printf("%s is open read-only at %s\nclose it with: %s restore close "
		    "%s\n", esc, folder, AGENT_NAME, s.m.label);
		snprintf(msg, sizeof msg, "%s: %s open at %s", pool, esc, folder);
	}
	free(folder);
	return restore_end(&s, ok, msg);
}

/* Unmounts and destroys the clone, if it is the one the record names
 * (its origin is the recorded snapshot): nothing else on the disk can
 * be destroyed this way. */
static int
browse_remove(const struct config *cfg, const char *pool, const char *guid)
{
	char *clone = xasprintf("%s/%s", pool, BROWSE_CLONE);
	struct state_browse b;
	const char *snap = b.snapshot, *folder = b.folder;
	struct buf out = { 0 };
	int rc;

	if (state_browse_read(cfg, guid, &b) == -1)
		b.snapshot[0] = b.folder[0] = '\0';
	rc = zfs_command(cfg, cfg->zfs, (const char *const[]){ "get", "-H", "-o",
	    "value", "origin", clone, NULL }, &out);
	if (rc == 1) {
		log_info("restore: %s is gone already", clone);
		rc = 0;
	} else if (rc == 0 && (out.data == NULL || snap[0] == '\0' ||
	    strncmp(out.data, snap, strlen(snap)) != 0 ||
	    strcmp(out.data + strlen(snap), "\n") != 0)) {
		log_warnx("restore: %s is not the clone this box made; left alone",
		    clone);
		rc = -1;
	} else if (rc == 0 && (zfs_command(cfg, cfg->zfs, (const char *const[]){
	    "unmount", clone, NULL }, NULL) != 0 || zfs_command(cfg, cfg->zfs,
	    (const char *const[]){ "destroy", clone, NULL }, NULL) != 0)) {
		log_warnx("restore: cannot unmount and remove %s (is something "
		    "still using %s?)", clone, folder);
		rc = -1;
	}
	if (rc == 0 && folder[0] != '\0')
		browse_rmdir(folder);
	buf_free(&out);
	free(clone);
	return rc == 0 ? 0 : -1;
}

static int
cmd_close(const struct config *cfg, const char *pool)
{
	struct restore_session s;
	char msg[300];
	int ok = 1;

	if (restore_begin(cfg, pool, "closing", &s) == -1)
		return -1;
	snprintf(msg, sizeof msg, "%s: closed", pool);
	if (restore_busy(cfg, s.m.uuid)) {
		ok = browse_remove(cfg, s.m.label, s.m.uuid) == 0;
		if (ok)
			state_browse_forget(cfg, s.m.uuid);
		else
			snprintf(msg, sizeof msg, "%s: cannot close the snapshot open "
			    "for browsing", pool);
	} else
		log_info("restore: nothing of %s is open", pool);
	return restore_end(&s, ok, msg);
}

/* ---- a stream onto a stick ---- */

/* zfs send [-w] SNAP into FD, counted and hashed (HASH may be NULL).
 * A stream that stops moving for timeouts.stall is a hung pool. */
int
restore_read_stream(const struct config *cfg, const char *snap, int raw,
    int fd, uint64_t *bytes, struct hash *h)
{
	const char *args[] = { "send", raw ? "-w" : snap, raw ? snap : NULL, NULL };
	char *argv[] = { cfg->zfs, (char *)args[0], (char *)args[1],
		(char *)args[2], NULL };
	struct child_opts o = { .argv = argv, .stdin_fd = CHILD_NULL,
		.stdout_fd = CHILD_PIPE };
	static char chunk[1 << 16];
	struct child *c;
	int status, rc = 0;
	ssize_t n;

	*bytes = 0;
	if (zfs_hung() || (c = child_start(&o)) == NULL)
		return -1;
	for (;;) {
		struct pollfd p = { .fd = child_stdout(c), .events = POLLIN };
		int r = poll(&p, 1, cfg->timeout_stall * 1000);

		if (r == 0) {
			log_warnx("restore: zfs send of %s stalled", snap);
			zfs_mark_hung();
			rc = -1;
			break;
		}
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 || (n = read(p.fd, chunk, sizeof chunk)) == -1) {
			if (r != -1 && errno == EINTR)
				continue;
			log_warn("restore: reading zfs send");
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		if (fd != -1 && write_all(fd, chunk, (size_t)n) == -1) {
			log_warn("restore: writing the stream");
			rc = -1;
			break;
		}
		if (h != NULL)
			hash_update(h, chunk, (size_t)n);
		*bytes += (uint64_t)n;
	}
	if (rc == -1)
		child_kill(c);
	if (child_wait(c, cfg->timeout_command, &status) == -1 || !child_ok(status))
		rc = -1;
	child_free(c);
	return rc;
}

static int
stick_open(const struct config *cfg, const struct medium *m, const char *mnt)
{
	unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOSYMFOLLOW;
	const char *data = strcmp(m->fstype, "vfat") == 0 ||
	    strcmp(m->fstype, "exfat") == 0 ? "uid=0,gid=0,umask=077" : "";

	if ((mkdir(cfg->mount_dir, 0755) == -1 && errno != EEXIST) ||
	    (mkdir(mnt, 0700) == -1 && errno != EEXIST)) {
		log_warn("restore: mkdir %s", mnt);
		return -1;
	}
	if (mount(m->devnode, mnt, m->fstype, flags, data) == -1) {
		log_warn("restore: mount %s on %s", m->devnode, mnt);
		rmdir(mnt);
		return -1;
	}
	return 0;
}

static int
stick_close(const char *mnt)
{
	if (umount2(mnt, 0) == -1) {
		log_warn("restore: unmount %s: do NOT remove the stick", mnt);
		return -1;
	}
	rmdir(mnt);
	return 0;
}

/* DIR/NAME written whole or not at all: a partial file is removed. */
/* A new file NAME in DIR on the stick.  Whatever the stick had there
 * (a FIFO would block the open for ever, a link lead elsewhere) is
 * removed first, and the file is made anew. */
static int
stick_create(int dir, const char *name)
{
	if (unlinkat(dir, name, 0) == -1 && errno != ENOENT)
		return -1;
	return openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
}

static int
stick_put(int dir, const char *name, const void *data, size_t len)
{
	int fd = stick_create(dir, name);

	if (fd == -1 || write_all(fd, data, len) == -1 || fsync(fd) == -1) {
		log_warn("restore: write %s on the stick", name);
		if (fd != -1)
			close(fd);
		unlinkat(dir, name, 0);
		return -1;
	}
	return close(fd);
}

static void
hex_digest(struct hash *h, char *out)
{
	unsigned char d[HASH_SIZE];
	size_t i;

	hash_peek(h, d);
	for (i = 0; i < HASH_SIZE; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* The stream and a note beside it in the stick's restore/ folder, the
 * stream under a temporary name until it is complete. */
static int
stick_write(const struct config *cfg, const char *mnt, const char *spec,
    const struct restore_snap *sn, int raw)
{
	char *file = xstrdup(spec), *tmp, *note, *p, sum[2 * HASH_SIZE + 1];
	struct hash *h = hash_new();
	int top = open(mnt, O_DIRECTORY | O_RDONLY | O_CLOEXEC), dir = -1, fd = -1;
	uint64_t bytes = 0;
	int rc = -1;

	for (p = file; *p != '\0'; p++)
		if (*p == '/')
			*p = '_';
	tmp = xasprintf(".%s.part", file);
	if (top == -1 || (mkdirat(top, STICK_FOLDER, 0700) == -1 && errno != EEXIST) ||
	    (dir = openat(top, STICK_FOLDER, O_DIRECTORY | O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		log_warn("restore: the folder %s on the stick", STICK_FOLDER);
	else if ((fd = stick_create(dir, tmp)) == -1)
		log_warn("restore: create %s on the stick", tmp);
	else if (restore_read_stream(cfg, sn->name, raw, fd, &bytes, h) == 0 &&
	    fsync(fd) == 0 && close(fd) == 0 && (fd = -1) == -1 &&
	    renameat(dir, tmp, dir, file) == 0)
		rc = 0;
	if (fd != -1)
		close(fd);
	if (rc == -1 && dir != -1) {
		log_warnx("restore: the stream of %s did not get onto the stick", spec);
		unlinkat(dir, tmp, 0);
	}
	if (rc == 0) {
		hex_digest(h, sum);
		note = xasprintf("snapshot=%s\nguid=%" PRIu64 "\ncreation=%lld\n"
		    "raw=%s\nbytes=%" PRIu64 "\nsha256=%s\nfile=%s\n"
		    "receive: zfs receive -u POOL/DATASET < %s\n", spec, sn->guid,
		    sn->creation, raw ? "yes" : "no", bytes, sum, file, file);
		free(tmp);
		tmp = xasprintf("%s.txt", file);
		rc = stick_put(dir, tmp, note, strlen(note));
		free(note);
		printf("wrote %s/%s (%" PRIu64 " bytes, %s, sha256 %s)\n",
		    STICK_FOLDER, file, bytes, raw ? "raw" : "plain", sum);
	}
	if (dir != -1)
		close(dir);
	if (top != -1 && (syncfs(top) == -1 || close(top) == -1))
		rc = -1;
	hash_free(h);
	free(tmp);
	free(file);
	return rc;
}

static int
cmd_send(const struct config *cfg, const char *pool, const char *spec,
    const char *devnode)
{
	const struct restore_snap *sn = NULL;
	const struct restore_ds *d = NULL;
	struct restore_session s;
	struct restore_list l;
	struct medium stick;
	const char *why = NULL;
	char *base = strrchr(devnode, '/'), *mnt, msg[2048], esc[ESCAPED_MAX(256)];
	int ok = 0, raw = 0;

	if (media_identify(cfg, devnode, &stick, &why) != 0 ||
	    stick.cfg->role != ROLE_TRANSPORT) {
		log_warnx("restore: %s is not a transport stick of ours%s%s", devnode,
		    why ? ": " : "", why ? why : "");
		return -1;
	}
	if (restore_begin(cfg, pool, "writing a stream", &s) == -1)
		return -1;
	str_escape(esc, sizeof esc, spec);
	snprintf(msg, sizeof msg, "%s: %s NOT written to the stick", pool, esc);
	mnt = xasprintf("%s/restore-%s", cfg->mount_dir, base ? base + 1 : "stick");
	if (restore_scan(cfg, s.m.label, &l) == 0) {
		if ((sn = find_snap(&l, spec, &d)) != NULL &&
		    stick_open(cfg, &stick, mnt) == 0) {
			raw = d->encrypted;
			ok = stick_write(cfg, mnt, spec, sn, raw) == 0;
			if (stick_close(mnt) == -1) {
				ok = 0;
				snprintf(msg, sizeof msg, "%s: the stick could NOT be "
				    "unmounted: do not remove it", pool);
			}
		}
		restore_list_free(&l);
	}
	if (ok)
		snprintf(msg, sizeof msg, "%s: %s written to the stick (%s), stick "
		    "unmounted", pool, esc, raw ? "raw" : "plain");
	free(mnt);
	return restore_end(&s, ok, msg);
}

/* restore list POOL | open POOL SNAP | close POOL | send POOL SNAP DEV */
int
restore_command(const struct config *cfg, int argc, char **argv)
{
	int rc;

	if (argc == 3 && strcmp(argv[1], "list") == 0)
		rc = cmd_list(cfg, argv[2]);
	else if (argc == 4 && strcmp(argv[1], "open") == 0)
		rc = cmd_open(cfg, argv[2], argv[3]);
	else if (argc == 3 && strcmp(argv[1], "close") == 0)
		rc = cmd_close(cfg, argv[2]);
	else if (argc == 5 && strcmp(argv[1], "send") == 0)
		rc = cmd_send(cfg, argv[2], argv[3], argv[4]);
	else
		return EXIT_USAGE;
	return rc == 0 ? EXIT_OK : EXIT_FAILED;
}
