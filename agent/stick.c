/*
 * A transport stick: mount it safely, run every NNCP installation's
 * import, toss and export as the NNCP user, ingest into the backup
 * disks that are plugged in, leave a report on the stick, sync and
 * unmount.  Only then is it safe to pull.
 *
 * Everything on the stick is untrusted: it is mounted nosuid, nodev,
 * noexec and nosymfollow, and NNCP runs without root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <stdarg.h>
#include <pwd.h>
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
#define STICK_MAX_ENTRIES 100000
#define STICK_REPORT "airgap-agent-report.txt"

struct stick {
	const struct config *cfg;
	const struct medium *m;
	char *mnt;
	char *xfer;
	uid_t uid;
	gid_t gid;
	uid_t orig_uid; /* who owned the NNCP folder before: gets it back */
	gid_t orig_gid;
	int had_xfer;
	int mounted;
	struct buf report; /* what goes onto the stick at the end */
	int problems;
};

static void
note(struct stick *s, int problem, const char *fmt, ...) ATTR_PRINTF(3, 4);

static void
note(struct stick *s, int problem, const char *fmt, ...)
{
	char raw[1024], line[ESCAPED_MAX(1024)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	/* The report is read on another machine's terminal. */
	str_escape(line, sizeof line, raw);
	if (problem) {
		s->problems++;
		log_warnx("stick: %s", line);
	} else
		log_info("stick: %s", line);
	buf_append(&s->report, problem ? "PROBLEM: " : "", problem ? 9 : 0);
	buf_append(&s->report, line, strlen(line));
	buf_append(&s->report, "\n", 1);
}

/* A run killed while the stick was mounted leaves it mounted on our
 * mountpoint (the lock says no other run uses it): take it down. */
static void
stick_clear_stale(struct stick *s)
{
	struct stat mnt, top;

	if (stat(s->mnt, &mnt) == -1 || stat(s->cfg->mount_dir, &top) == -1 ||
	    mnt.st_dev == top.st_dev)
		return;
	log_warnx("stick: %s is still mounted from an earlier run; unmounting it",
	    s->mnt);
	if (umount2(s->mnt, 0) == -1 && umount2(s->mnt, MNT_DETACH) == -1)
		log_warn("stick: unmount %s", s->mnt);
}

/* The mount was refused with EINVAL.  If it works without nosymfollow,
 * the kernel does not know that flag (before Linux 5.10): the stick is
 * refused, since NNCP would then follow its symbolic links (a
 * recipient folder that points into the spool, for one). */
static void
refuse_without_nosymfollow(struct stick *s, const char *type,
    unsigned long flags, const char *data)
{
	if (mount(s->m->devnode, s->mnt, type, flags & ~MS_NOSYMFOLLOW,
	    data) == -1)
		return;
	log_warnx("stick: %s mounts only without nosymfollow (this kernel "
	    "lacks it; Linux 5.10 or later has it): refusing the stick, whose "
	    "symbolic links would be followed", s->m->devnode);
	if (umount2(s->mnt, 0) == -1 && umount2(s->mnt, MNT_DETACH) == -1)
		log_warn("stick: unmount %s", s->mnt);
}

static int
stick_mount(struct stick *s)
{
	const char *type = s->m->fstype;
	unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOSYMFOLLOW;
	char data[128] = "";

	if (strcmp(type, "vfat") == 0 || strcmp(type, "exfat") == 0)
		snprintf(data, sizeof data, "uid=%u,gid=%u,umask=077",
		    (unsigned)s->uid, (unsigned)s->gid);
	/* The NNCP user must be able to pass through mount_dir. */
	if ((mkdir(s->cfg->mount_dir, 0755) == -1 && errno != EEXIST) ||
	    chmod(s->cfg->mount_dir, 0755) == -1 ||
	    (mkdir(s->mnt, 0700) == -1 && errno != EEXIST)) {
		log_warn("stick: mkdir %s", s->mnt);
		return -1;
	}
	stick_clear_stale(s);
	if (mount(s->m->devnode, s->mnt, type, flags, data) == -1) {
		int saved = errno;

		if (saved == EINVAL)
			refuse_without_nosymfollow(s, type, flags, data);
		errno = saved;
		log_warn("stick: mount %s (%s) on %s", s->m->devnode, type, s->mnt);
		rmdir(s->mnt);
		return -1;
	}
	s->mounted = 1;
	log_info("stick: %s (%s, %s) mounted on %s", s->m->devnode, s->m->label,
	    type, s->mnt);
	return 0;
}

/* Giving a folder tree on the stick to a user. */
struct owner_walk {
	uid_t uid;
	gid_t gid;
	int guard;    /* keep special files from the NNCP user */
	long entries;
	long special; /* special files found (with GUARD) */
};

/* A FIFO, socket or device node named like a packet: NNCP would open
 * it and wait for a writer for ever, or read a device.  It is kept
 * from the NNCP user (mode 0, owner unchanged) and counted. */
static int
owner_special(struct owner_walk *w, const char *path, const struct stat *st)
{
	if (!S_ISFIFO(st->st_mode) && !S_ISSOCK(st->st_mode) &&
	    !S_ISCHR(st->st_mode) && !S_ISBLK(st->st_mode))
		return 0;
	w->special++;
	/* nosymfollow: chmod cannot be led off the stick by a link. */
	if ((st->st_mode & 07777) != 0 && chmod(path, 0) == -1)
		log_warn("stick: chmod %s", path);
	return 1;
}

static void
owner_give(struct owner_walk *w, const char *path, const struct stat *st)
{
	if (w->guard && owner_special(w, path, st))
		return;
	if ((st->st_uid != w->uid || st->st_gid != w->gid) &&
	    lchown(path, w->uid, w->gid) == -1)
		log_warn("stick: chown %s", path);
}

/* Each entry under DIR once (links not followed, other filesystems not
 * entered), given away unless COUNT_ONLY.  0, or -1 when DIR cannot be
 * read or has more than STICK_MAX_ENTRIES entries. */
static int
owner_visit(struct owner_walk *w, const char *dir, int count_only)
{
	char *paths[] = { (char *)dir, NULL };
	FTS *fts = fts_open(paths, FTS_PHYSICAL | FTS_XDEV | FTS_NOCHDIR, NULL);
	FTSENT *e;
	dev_t dev = 0;
	int rc = 0;

	if (fts == NULL)
		return -1;
	w->entries = 0;
	while (rc == 0 && (e = fts_read(fts)) != NULL) {
		if (e->fts_info == FTS_DP)
			continue; /* a folder again, after its entries */
		if (e->fts_level == 0 && e->fts_info != FTS_D) {
			rc = -1;
			break;
		}
		if (e->fts_level == 0)
			dev = e->fts_statp->st_dev;
		/* A mount point under DIR is left alone, not only its
		 * contents. */
		if (e->fts_info != FTS_NS && e->fts_info != FTS_ERR &&
		    e->fts_statp->st_dev != dev)
			continue;
		if (++w->entries > STICK_MAX_ENTRIES)
			rc = -1;
		else if (!count_only && e->fts_info != FTS_NS &&
		    e->fts_info != FTS_ERR)
			owner_give(w, e->fts_accpath, e->fts_statp);
	}
	fts_close(fts);
	return rc;
}

/* Gives every entry under DIR to UID:GID: links are changed, never
 * followed, and other filesystems are not entered.  A folder with too
 * many entries is counted first and left as it is.  With GUARD, special
 * files are not given away but made unreadable. */
static int
chown_tree(struct owner_walk *w, const char *dir)
{
	w->special = 0;
	if (owner_visit(w, dir, 1) == -1)
		return -1;
	return owner_visit(w, dir, 0);
}

static int
is_fat(const struct stick *s)
{
	return strcmp(s->m->fstype, "vfat") == 0 || strcmp(s->m->fstype, "exfat") == 0;
}

/* STATE/sticks/UUID holds the NNCP folder's owner from before a run
 * gave it to the NNCP user, until it is given back: a run killed in
 * between leaves the folder owned by the NNCP user, and the next run
 * must not take that for the spooler's. */
static void
owner_load(struct stick *s)
{
	unsigned uid, gid;

	if (state_stick_owner(s->cfg, s->m->uuid, &uid, &gid) == -1)
		return;
	log_warnx("stick: an earlier run did not give %s back; its owner "
	    "was uid %u", s->xfer, uid);
	s->orig_uid = uid;
	s->orig_gid = gid;
}

/* The machine that writes the stick next (the spooler) finds its NNCP
 * folder owned as it left it. */
static void
stick_restore_owner(struct stick *s)
{
	struct owner_walk w = { .uid = s->orig_uid, .gid = s->orig_gid };

	if (!s->had_xfer || is_fat(s))
		return;
	if (chown_tree(&w, s->xfer) != 0)
		log_warnx("stick: could not give %s back to uid %u", s->xfer,
		    (unsigned)s->orig_uid);
	else
		state_stick_owner_forget(s->cfg, s->m->uuid);
}

/* An ext4 stick keeps the uids of the machine that wrote it: give the
 * NNCP folder to this machine's NNCP user so it can read and clean it.
 * Links are changed, never followed; other filesystems are not entered. */
static int
stick_prepare_xfer(struct stick *s)
{
	struct owner_walk w = { .uid = s->uid, .gid = s->gid, .guard = 1 };
	struct stat st;

	if (lstat(s->xfer, &st) == 0) {
		s->had_xfer = 1;
		s->orig_uid = st.st_uid;
		s->orig_gid = st.st_gid;
		if (st.st_uid == s->uid)
			owner_load(s);
	} else {
		if (errno != ENOENT || mkdir(s->xfer, 0700) == -1 ||
		    lstat(s->xfer, &st) == -1) {
			log_warn("stick: %s", s->xfer);
			return -1;
		}
		note(s, 0, "created %s/ on the stick", s->cfg->nncp_xfer_dir);
	}
	if (!S_ISDIR(st.st_mode)) {
		note(s, 1, "%s on the stick is not a folder", s->cfg->nncp_xfer_dir);
		return -1;
	}
	if (is_fat(s))
		return 0;
	if (s->had_xfer && state_stick_owner_save(s->cfg, s->m->uuid,
	    (unsigned)s->orig_uid, (unsigned)s->orig_gid) == -1)
		note(s, 0, "could not record the NNCP folder's owner (uid %u); "
		    "a run killed now would not give it back",
		    (unsigned)s->orig_uid);
	if (chown_tree(&w, s->xfer) != 0) {
		note(s, 1, "the NNCP folder has more than %d entries or cannot be "
		    "read; not touching it", STICK_MAX_ENTRIES);
		return -1;
	}
	if (w.special > 0)
		note(s, 1, "the NNCP folder holds %ld FIFO(s), socket(s) or device "
		    "node(s); made unreadable so that NNCP skips them", w.special);
	/* The NNCP user must be able to reach the folder. */
	if (stat(s->mnt, &st) == 0 && (st.st_mode & 0011) != 0011)
		chmod(s->mnt, (st.st_mode & 07777) | 0011);
	return 0;
}

static int
count_queued(const struct config *cfg)
{
	struct queue q;
	int n;

	memset(&q, 0, sizeof q);
	if (queue_scan(cfg->incoming, &q) == -1 ||
	    queue_scan_exec(cfg, &q) == -1)
		n = -1;
	else
		n = (int)q.nfiles;
	queue_free(&q);
	return n;
}

/* One NNCP installation: import and toss.  NNCP's exit codes are not
 * the whole truth, so what is left in the spool is counted too. */
static void
stick_nncp_in(struct stick *s, const char *c)
{
	int before, after;

	before = nncp_pending(s->cfg, c);
	if (nncp_xfer_rx(s->cfg, c, s->xfer) != 0)
		note(s, 1, "%s: nncp-xfer -rx failed (damaged packets stay on the "
		    "stick)", c);
	if (nncp_toss(s->cfg, c) != 0)
		note(s, 1, "%s: nncp-toss reported failures", c);
	after = nncp_pending(s->cfg, c);
	if (after > 0)
		note(s, 1, "%s: %d inbound packet(s) could not be processed; they "
		    "stay in the spool and are retried next time", c, after);
	else if (after == -1)
		note(s, 1, "%s: nncp-stat failed", c);
	note(s, 0, "%s: done (%d packet(s) were waiting in the spool before)", c,
	    before < 0 ? 0 : before);
}

/* The export comes after the disks and the receipts: the receipts
 * leave on this stick. */
static void
stick_nncp_out(struct stick *s, const char *c)
{
	if (nncp_xfer_tx(s->cfg, c, s->xfer) != 0)
		note(s, 1, "%s: nncp-xfer -tx failed; outbound packets stay in the "
		    "spool", c);
}

/* Returns whether a disk got something new, or was here while files
 * still wait for it. */
static int
stick_disks(struct stick *s, int *reboot)
{
	int changed = 0;
	struct medium *disks;
	size_t i, n;

	if (media_backup_disks(s->cfg, &disks, &n) == -1) {
		note(s, 1, "cannot list the backup disks");
		return 0;
	}
	if (n == 0)
		note(s, 0, "no backup disk plugged in: files stay queued");
	for (i = 0; i < n; i++) {
		struct disk_result r;

		disk_run(s->cfg, &disks[i], &r);
		note(s, r.res.status != MEDIUM_SAFE, "backup disk %s: %s",
		    disks[i].label, r.res.message);
		if (r.res.status == MEDIUM_REBOOT)
			*reboot = 1;
		/* Files that wait for a base the disk lacks are news too: the
		 * laptop mends a chain a lost stick broke by them. */
		if (r.sum.received > 0 || (r.imported && r.sum.waiting > 0))
			changed = 1;
	}
	free(disks);
	return changed;
}

/* After a run that changed a disk (or found files waiting for one),
 * every host hears what reached it. */
static void
stick_receipts(struct stick *s)
{
	int failed, sent = receipt_send_all(s->cfg, &failed);

	if (sent > 0)
		note(s, 0, "receipts queued for %d host(s)", sent);
	if (failed > 0)
		note(s, 1, "%d receipt(s) could not be queued (see the log)",
		    failed);
}

/* The report's file on the stick, created or emptied; only a regular
 * file of its own: a FIFO named like it must not block the run (the
 * open fails at once without a reader), and a symbolic link, a device
 * or a file hard-linked to another on the stick is left alone. */
static int
open_report(const char *path)
{
	struct stat st;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC, 0644);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		log_warnx("stick: %s is not a regular file of its own; not "
		    "writing the report", path);
		close(fd);
		errno = EEXIST;
		return -1;
	}
	if (ftruncate(fd, 0) == -1 || fcntl(fd, F_SETFL, 0) == -1) {
		close(fd);
		return -1;
	}
	/* Readable on the machine that reads the stick next (vfat may
	 * refuse: its modes come from the mount). */
	(void)fchmod(fd, 0644);
	return fd;
}

static int
stick_write_report(struct stick *s)
{
	char *path = xasprintf("%s/%s", s->mnt, STICK_REPORT), stamp[64];
	time_t t = time(NULL);
	struct tm tm;
	int fd, rc = 0;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S UTC", &tm);
	fd = open_report(path);
	if (fd == -1 || dprintf(fd, "airgap-agent report, %s\n\n%s", stamp,
	    s->report.data ? s->report.data : "") < 0 || fsync(fd) == -1) {
		log_warn("stick: write %s", path);
		rc = -1;
	}
	if (fd != -1 && close(fd) == -1)
		rc = -1;
	free(path);
	return rc;
}

static int
stick_unmount(struct stick *s)
{
	int fd = open(s->mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	/* A stick pulled during the run fails here, not at unmount. */
	if (fd == -1 || syncfs(fd) == -1) {
		log_warn("stick: syncfs %s", s->mnt);
		s->problems++;
	}
	if (fd != -1)
		close(fd);
	if (umount2(s->mnt, 0) == -1) {
		log_warn("stick: unmount %s", s->mnt);
		return -1;
	}
	s->mounted = 0;
	rmdir(s->mnt);
	return 0;
}

static int
stick_user(struct stick *s)
{
	struct passwd *pw = getpwnam(s->cfg->nncp_user);

	if (pw == NULL || pw->pw_uid == 0) {
		log_warnx("stick: NNCP user %s: no such user (or root)",
		    s->cfg->nncp_user);
		return -1;
	}
	s->uid = pw->pw_uid;
	s->gid = pw->pw_gid;
	return 0;
}

static void
stick_work(struct stick *s, int *reboot)
{
	size_t i;
	int before = count_queued(s->cfg), after;

	for (i = 0; s->cfg->nncp_configs[i] != NULL; i++)
		stick_nncp_in(s, s->cfg->nncp_configs[i]);
	after = count_queued(s->cfg);
	note(s, 0, "queue: %d file(s) before, %d after NNCP", before, after);
	if (stick_disks(s, reboot))
		stick_receipts(s);
	note(s, 0, "queue: %d file(s) waiting for a backup disk",
	    count_queued(s->cfg));
	for (i = 0; s->cfg->nncp_configs[i] != NULL; i++)
		stick_nncp_out(s, s->cfg->nncp_configs[i]);
}

/* Safe when the stick is unmounted and everything went well; an error
 * when it is unmounted but something needs a look, or when it could
 * not be unmounted (not safe); a reboot when a disk step hung. */
void
stick_run(const struct config *cfg, const struct medium *m,
    struct medium_result *res)
{
	struct stick s = { .cfg = cfg, .m = m };
	const char *base = strrchr(m->devnode, '/');
	const char *msg = "stick unmounted, but something needs a look (see status)";
	int reboot = 0;

	res->status = MEDIUM_ERROR;
	s.mnt = xasprintf("%s/%s", cfg->mount_dir, base ? base + 1 : m->devnode);
	if (stick_user(&s) == -1 || stick_mount(&s) == -1)
		goto out;
	s.xfer = xasprintf("%s/%s", s.mnt, cfg->nncp_xfer_dir);
	if (stick_prepare_xfer(&s) == 0) {
		stick_work(&s, &reboot);
		stick_restore_owner(&s);
	}
	if (stick_write_report(&s) == -1)
		s.problems++;
	if (stick_unmount(&s) == -1) {
		msg = "stick could NOT be unmounted: do not remove it";
	} else if (reboot) {
		res->status = MEDIUM_REBOOT;
		msg = "stick unmounted; a backup disk hung and needs a reboot";
	} else if (!s.problems) {
		res->status = MEDIUM_SAFE;
		msg = "stick done, unmounted: safe to remove";
	}
out:
	snprintf(res->message, sizeof res->message, "%s", msg);
	free(s.mnt);
	free(s.xfer);
	buf_free(&s.report);
}
