/*
 * Block devices: the only user of libudev and libblkid.  Identifies a
 * plugged medium by probing its filesystem (label, type, uuid) with
 * libblkid's safe probe, which refuses a device carrying two
 * signatures instead of guessing; libudev gives its properties (the
 * whole disk it belongs to, its DISKSEQ) and the events of the watch
 * daemon.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <blkid.h>
#include <libudev.h>

#include "airgap-agent.h"

static const char *const stick_types[] = { "ext2", "ext3", "ext4", "vfat",
	"exfat", NULL };

struct media_monitor {
	struct udev *udev;
	struct udev_monitor *mon;
};

static int
probe(const char *devnode, struct medium *m, const char **why)
{
	blkid_probe pr = blkid_new_probe_from_filename(devnode);
	const char *v;
	int rc;

	if (pr == NULL)
		return *why = "cannot open it for probing", -1;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL |
	    BLKID_SUBLKS_TYPE | BLKID_SUBLKS_UUID);
	rc = blkid_do_safeprobe(pr);
	if (rc == 0) {
		if (blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0)
			snprintf(m->fstype, sizeof m->fstype, "%s", v);
		if (blkid_probe_lookup_value(pr, "LABEL", &v, NULL) == 0)
			snprintf(m->label, sizeof m->label, "%s", v);
		if (blkid_probe_lookup_value(pr, "UUID", &v, NULL) == 0)
			snprintf(m->uuid, sizeof m->uuid, "%s", v);
	}
	blkid_free_probe(pr);
	if (rc == -2)
		return *why = "more than one filesystem signature, refusing", 1;
	/* A read error is not "no filesystem": the medium may well be
	 * ours and broken, and the person at the box must be told. */
	if (rc < 0)
		return *why = "probe failed: cannot read it", -1;
	if (rc == 1 || m->fstype[0] == '\0')
		return *why = "no filesystem", 1;
	return 0;
}

/* DISKSEQ and the whole disk come from udev; a device udev does not
 * know still works, without them. */
static void
udev_props(dev_t rdev, struct medium *m)
{
	struct udev *u = udev_new();
	struct udev_device *d, *disk;
	const char *v;

	if (u == NULL)
		return;
	d = udev_device_new_from_devnum(u, 'b', rdev);
	if (d != NULL) {
		if ((v = udev_device_get_property_value(d, "DISKSEQ")) != NULL)
			m->diskseq = strtoull(v, NULL, 10);
		disk = udev_device_get_parent_with_subsystem_devtype(d, "block",
		    "disk");
		if (disk != NULL && udev_device_get_devnode(disk) != NULL)
			snprintf(m->disk, sizeof m->disk, "%s",
			    udev_device_get_devnode(disk));
		udev_device_unref(d);
	}
	udev_unref(u);
}

/* Returns 0 for a medium of ours, 1 for one that is not (WHY says
 * why), -1 when it could not be looked at. */
int
media_identify(const struct config *cfg, const char *devnode, struct medium *m,
    const char **why)
{
	struct stat st;
	int rc;

	memset(m, 0, sizeof *m);
	snprintf(m->devnode, sizeof m->devnode, "%s", devnode);
	snprintf(m->disk, sizeof m->disk, "%s", devnode);
	/* Gone already (pulled at once): nothing to do, nothing to say. */
	if (stat(devnode, &st) == -1)
		return *why = strerror(errno), errno == ENOENT ? 1 : -1;
	if (!S_ISBLK(st.st_mode))
		return *why = "not a block device", 1;
	udev_props(st.st_rdev, m);
	if ((rc = probe(devnode, m, why)) != 0)
		return rc;
	if (m->label[0] == '\0')
		return *why = "no filesystem label", 1;
	if ((m->cfg = config_medium(cfg, m->label)) == NULL)
		return *why = "label matches no media entry", 1;
	if (m->cfg->role == ROLE_TRANSPORT && !strv_has(stick_types, m->fstype))
		return *why = "transport label on a filesystem the agent does not mount", 1;
	if (m->cfg->role == ROLE_BACKUP && strcmp(m->fstype, "zfs_member") != 0)
		return *why = "backup label on something that is not a zfs pool member", 1;
	if (m->cfg->role == ROLE_BACKUP && (m->uuid[0] == '\0' ||
	    strspn(m->uuid, "0123456789") != strlen(m->uuid)))
		return *why = "zfs pool member without a numeric pool guid", 1;
	return 0;
}

/* Calls FN with each block device whose udev property PROP is VALUE. */
static int
media_each(const char *prop, const char *value,
    void (*fn)(void *, struct udev_device *), void *arg)
{
	struct udev *u = udev_new();
	struct udev_enumerate *e = u ? udev_enumerate_new(u) : NULL;
	struct udev_list_entry *l;

	if (e == NULL) {
		udev_unref(u);
		log_warnx("media: cannot enumerate block devices");
		return -1;
	}
	udev_enumerate_add_match_subsystem(e, "block");
	udev_enumerate_add_match_property(e, prop, value);
	udev_enumerate_scan_devices(e);
	udev_list_entry_foreach(l, udev_enumerate_get_list_entry(e)) {
		struct udev_device *d = udev_device_new_from_syspath(u,
		    udev_list_entry_get_name(l));

		if (d == NULL)
			continue;
		fn(arg, d);
		udev_device_unref(d);
	}
	udev_enumerate_unref(e);
	udev_unref(u);
	return 0;
}

struct disk_list {
	const struct config *cfg;
	struct medium *disks;
	size_t n;
};

/* A backup disk of ours joins the list, once per pool. */
static void
add_disk(void *arg, struct udev_device *d)
{
	struct disk_list *dl = arg;
	const char *node = udev_device_get_devnode(d), *why;
	struct medium m;
	size_t i;

	if (node == NULL || media_identify(dl->cfg, node, &m, &why) != 0 ||
	    m.cfg->role != ROLE_BACKUP)
		return;
	for (i = 0; i < dl->n; i++)
		if (strcmp(dl->disks[i].uuid, m.uuid) == 0)
			return;
	dl->disks = xreallocarray(dl->disks, dl->n + 1, sizeof *dl->disks);
	dl->disks[dl->n++] = m;
}

/* Every backup disk plugged in now, one per pool. */
int
media_backup_disks(const struct config *cfg, struct medium **out, size_t *n)
{
	struct disk_list dl = { .cfg = cfg };
	int rc = media_each("ID_FS_TYPE", "zfs_member", add_disk, &dl);

	*out = dl.disks;
	*n = dl.n;
	return rc;
}

struct media_monitor *
media_monitor_open(void)
{
	struct media_monitor *mm = xcalloc(1, sizeof *mm);

	if ((mm->udev = udev_new()) == NULL ||
	    (mm->mon = udev_monitor_new_from_netlink(mm->udev, "udev")) == NULL ||
	    udev_monitor_filter_add_match_subsystem_devtype(mm->mon, "block",
	    NULL) < 0 || udev_monitor_enable_receiving(mm->mon) < 0) {
		log_warnx("media: cannot listen to udev events");
		media_monitor_close(mm);
		return NULL;
	}
	return mm;
}

int
media_monitor_fd(const struct media_monitor *mm)
{
	return udev_monitor_get_fd(mm->mon);
}

/* The whole disk of D: D itself, or a partition's parent. */
static struct udev_device *
event_disk(struct udev_device *d)
{
	const char *type = udev_device_get_devtype(d);

	if (type != NULL && strcmp(type, "partition") == 0)
		return udev_device_get_parent_with_subsystem_devtype(d, "block",
		    "disk");
	return d;
}

/* A remove, or a change that left no filesystem label, means the
 * medium is gone when its disk has left sysfs, is empty (a loop device
 * detached, a card pulled from its reader: size 0) or holds another
 * medium (another diskseq).  Otherwise the medium is still there and
 * the event is the disk's own doing: its partitions read again, or a
 * probe that raced a write to the labels (OpenZFS's import and export
 * do both); taking it for a removal would handle the disk again. */
static int
medium_gone(struct udev_device *d, uint64_t diskseq)
{
	struct udev_device *disk = event_disk(d), *now;
	const char *v;
	int gone;

	if (disk == NULL || (now = udev_device_new_from_syspath(
	    udev_device_get_udev(d), udev_device_get_syspath(disk))) == NULL)
		return 1;
	v = udev_device_get_sysattr_value(now, "size");
	gone = v == NULL || strcmp(v, "0") == 0;
	if (!gone && diskseq != 0 &&
	    (v = udev_device_get_sysattr_value(now, "diskseq")) != NULL)
		gone = strtoull(v, NULL, 10) != diskseq;
	udev_device_unref(now);
	return gone;
}

static void
fill_event(struct udev_device *d, struct media_event *ev)
{
	struct udev_device *disk;
	const char *v;

	memset(ev, 0, sizeof *ev);
	snprintf(ev->action, sizeof ev->action, "%s",
	    udev_device_get_action(d) ? udev_device_get_action(d) : "add");
	snprintf(ev->devnode, sizeof ev->devnode, "%s",
	    udev_device_get_devnode(d) ? udev_device_get_devnode(d) : "");
	if ((v = udev_device_get_property_value(d, "DISKSEQ")) != NULL)
		ev->diskseq = strtoull(v, NULL, 10);
	if ((v = udev_device_get_property_value(d, "ID_FS_UUID")) != NULL)
		snprintf(ev->uuid, sizeof ev->uuid, "%s", v);
	if ((v = udev_device_get_property_value(d, "ID_FS_LABEL")) != NULL) {
		ev->has_label = 1;
		snprintf(ev->label, sizeof ev->label, "%s", v);
	}
	if ((disk = event_disk(d)) != NULL && udev_device_get_devnode(disk))
		snprintf(ev->disk, sizeof ev->disk, "%s",
		    udev_device_get_devnode(disk));
	if (strcmp(ev->action, "remove") == 0 ||
	    (strcmp(ev->action, "change") == 0 && !ev->has_label))
		ev->gone = medium_gone(d, ev->diskseq);
}

/* Returns 1 with an event, 0 when there was nothing to read. */
int
media_monitor_next(struct media_monitor *mm, struct media_event *ev)
{
	struct udev_device *d = udev_monitor_receive_device(mm->mon);

	if (d == NULL)
		return 0;
	fill_event(d, ev);
	udev_device_unref(d);
	return ev->devnode[0] != '\0';
}

struct event_list {
	struct media_event *ev;
	size_t n;
};

static void
add_event(void *arg, struct udev_device *d)
{
	struct event_list *el = arg;
	struct media_event *ev;

	el->ev = xreallocarray(el->ev, el->n + 1, sizeof *el->ev);
	ev = &el->ev[el->n];
	fill_event(d, ev);
	snprintf(ev->action, sizeof ev->action, "add");
	if (ev->devnode[0] != '\0')
		el->n++;
}

/* The devices present when the daemon starts, as "add" events. */
int
media_present(struct media_event **out, size_t *n)
{
	struct event_list el = { 0 };
	int rc = media_each("ID_FS_USAGE", "filesystem", add_event, &el);

	*out = el.ev;
	*n = el.n;
	return rc;
}

void
media_monitor_close(struct media_monitor *mm)
{
	if (mm == NULL)
		return;
	if (mm->mon != NULL)
		udev_monitor_unref(mm->mon);
	if (mm->udev != NULL)
		udev_unref(mm->udev);
	free(mm);
}
