/*
 * A backup disk: import its pool by guid, ingest the queue into it,
 * export it, and only then let the light say it is safe.  A command
 * that hangs (the pool suspended because the disk went away) is killed
 * after its timeout and reported as needing a reboot; the agent goes
 * on serving other media.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "airgap-agent.h"

static int
disk_fail(struct disk_result *r, int status, const char *fmt, const char *arg)
{
	r->res.status = status;
	snprintf(r->res.message, sizeof r->res.message, fmt, arg);
	log_warnx("disk: %s", r->res.message);
	return -1;
}

/* Imported, under the name its label says, with the guid blkid read. */
static int
disk_import(const struct config *cfg, const struct medium *m,
    struct disk_result *r)
{
	uint64_t want = strtoull(m->uuid, NULL, 10), have = 0;
	int rc = zfs_pool_guid(cfg, m->label, &have);

	if (rc == 0 && have != want)
		return disk_fail(r, MEDIUM_ERROR, "another pool called %s is "
		    "imported already", m->label);
	if (rc == 0) {
		log_info("disk: pool %s is imported already", m->label);
		return 0;
	}
	rc = zfs_import(cfg, m->uuid);
	if (rc == ZFS_TIMEOUT)
		return disk_fail(r, MEDIUM_REBOOT, "zpool import of %s hung", m->label);
	if (rc != 0)
		return disk_fail(r, MEDIUM_ERROR, "cannot import pool %s", m->label);
	if (zfs_pool_guid(cfg, m->label, &have) != 0 || have != want)
		return disk_fail(r, MEDIUM_ERROR, "pool %s did not come in under the "
		    "name its label says", m->label);
	return 0;
}

static int
disk_export(const struct config *cfg, const struct medium *m,
    struct disk_result *r)
{
	int rc = zfs_export(cfg, m->label);

	if (rc == ZFS_TIMEOUT)
		return disk_fail(r, MEDIUM_REBOOT, "zpool export of %s hung: the pool "
		    "may be suspended; reboot before unplugging", m->label);
	if (rc != 0)
		return disk_fail(r, MEDIUM_ERROR, "cannot export pool %s: NOT safe "
		    "to remove", m->label);
	return 0;
}

/* "scsi-delete" writes 1 to the whole disk's sysfs delete attribute;
 * anything else is a command, with %disk and %dev replaced. */
static void
disk_power_off(const struct config *cfg, const struct medium *m)
{
	char **argv, *base = strrchr(m->disk, '/');
	struct child_opts o = { .stdin_fd = CHILD_NULL, .stdout_fd = CHILD_NULL,
		.timeout = cfg->timeout_command };
	size_t i, n = strv_len(m->cfg->power_off);
	int status;

	if (n == 0)
		return;
	if (strcmp(m->cfg->power_off[0], "scsi-delete") == 0) {
		char *p = xasprintf("/sys/block/%s/device/delete",
		    base ? base + 1 : m->disk);
		FILE *f = fopen(p, "we");

		if (f == NULL || fputs("1\n", f) == EOF || fclose(f) == EOF)
			log_warn("disk: power off through %s", p);
		free(p);
		return;
	}
	argv = xcalloc(n + 1, sizeof *argv);
	for (i = 0; i < n; i++)
		argv[i] = xstrdup(strcmp(m->cfg->power_off[i], "%disk") == 0 ? m->disk :
		    strcmp(m->cfg->power_off[i], "%dev") == 0 ? m->devnode :
		    m->cfg->power_off[i]);
	o.argv = argv;
	if (child_run(&o, NULL, &status) == -1 || !child_ok(status))
		log_warnx("disk: power-off command failed for %s", m->disk);
	strv_free(argv);
}

/* STATE/disks/GUID: when the disk was last here and what it got.  A
 * disk whose pool did not come in got nothing: its last_seen stays,
 * or a rotation disk would stop being overdue by being plugged in
 * while its import fails. */
static void
disk_record(const struct config *cfg, const struct medium *m,
    const struct disk_result *r)
{
	struct state_disk d;
	long long seen = 0;

	if (!r->imported && state_disk_read(cfg, m->uuid, &d) == 0)
		seen = d.last_seen;
	memset(&d, 0, sizeof d);
	snprintf(d.pool, sizeof d.pool, "%s", m->label);
	snprintf(d.guid, sizeof d.guid, "%s", m->uuid);
	d.last_seen = r->imported ? (long long)time(NULL) : seen;
	snprintf(d.result, sizeof d.result, "%s", r->res.status == MEDIUM_SAFE ? "ok" :
	    r->res.status == MEDIUM_REBOOT ? "needs-reboot" : "error");
	d.received = r->sum.received + r->sum.duplicate;
	d.waiting = r->sum.waiting;
	d.problems = r->sum.held + r->sum.failed + r->sum.quarantined;
	snprintf(d.message, sizeof d.message, "%s", r->res.message);
	state_disk_write(cfg, &d);
}

int
disk_run(const struct config *cfg, const struct medium *m, struct disk_result *r)
{
	struct retention_summary thin;
	int ingest_rc, thin_rc;

	memset(r, 0, sizeof *r);
	snprintf(r->pool, sizeof r->pool, "%s", m->label);
	log_info("disk: %s on %s (pool guid %s)", m->label, m->devnode, m->uuid);
	/* A snapshot open for browsing keeps the pool: no export under it. */
	if (restore_busy(cfg, m->uuid)) {
		disk_fail(r, MEDIUM_ERROR, "%s has a snapshot open for browsing: "
		    "airgap-agent restore close it first", m->label);
		goto out;
	}
	if (disk_import(cfg, m, r) == -1)
		goto out;
	r->imported = 1;
	retention_if_low(cfg, m->label, m->cfg->incoming);
	ingest_rc = ingest_run(cfg, m->label, m->cfg->incoming, &r->sum);
	thin_rc = retention_run(cfg, m->label, m->cfg->incoming, 0, &thin);
	receipt_note_disk(cfg, m->label, m->uuid);
	if (disk_export(cfg, m, r) == -1)
		goto out;
	if (zfs_hung()) {
		disk_fail(r, MEDIUM_REBOOT, "a zfs command on %s hung; reboot before "
		    "trusting this disk again", m->label);
		goto out;
	}
	disk_power_off(cfg, m);
	if (ingest_rc == -1) {
		disk_fail(r, MEDIUM_ERROR, "exported; some files were not ingested "
		    "into %s (see the report)", m->label);
		r->exported = 1;
		goto out;
	}
	r->exported = 1;
	if (thin_rc == -1) {
		disk_fail(r, MEDIUM_ERROR, "exported; thinning the snapshots of %s "
		    "failed (see the log)", m->label);
		goto out;
	}
	snprintf(r->res.message, sizeof r->res.message, "%s: %d received, %d waiting; "
	    "exported, safe to remove", m->label, r->sum.received, r->sum.waiting);
out:
	disk_record(cfg, m, r);
	return r->res.status == MEDIUM_SAFE ? 0 : -1;
}
