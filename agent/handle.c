/*
 * One plugged medium, start to end: identify it, take the lock, do its
 * role's whole job, and set the light to what is true at the end.  The
 * light says "safe" only when the stick is unmounted or the pool
 * exported.  Every run ends with a line in STATE/runs.log for "status",
 * written after the light and the beeps, so whoever watches the log
 * finds them done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "airgap-agent.h"

/* STATE/runs.log: one line for each medium handled. */
void
handle_log_run(const struct config *cfg, const struct medium *m,
    const char *outcome, const char *message)
{
	struct state_run r;

	memset(&r, 0, sizeof r);
	r.time = (long long)time(NULL);
	snprintf(r.device, sizeof r.device, "%s", m->devnode);
	snprintf(r.label, sizeof r.label, "%s", m->label);
	snprintf(r.role, sizeof r.role, "%s", m->cfg == NULL ? "unknown" :
	    m->cfg->role == ROLE_BACKUP ? "backup" : "transport");
	snprintf(r.outcome, sizeof r.outcome, "%s", outcome);
	snprintf(r.message, sizeof r.message, "%s", message);
	state_run_append(cfg, &r);
}

static int
handle_backup(const struct config *cfg, const struct medium *m)
{
	struct disk_result r;

	disk_run(cfg, m, &r);
	indicator_set(cfg, r.status == DISK_OK ? IND_SAFE : r.status ==
	    DISK_REBOOT ? IND_REBOOT : IND_ERROR, r.message);
	handle_log_run(cfg, m, r.status == DISK_OK ? "safe" : r.status ==
	    DISK_REBOOT ? "needs-reboot" : "error", r.message);
	return r.status == DISK_OK ? HANDLE_SAFE : HANDLE_FAILED;
}

static int
handle_transport(const struct config *cfg, const struct medium *m)
{
	int rc = stick_run(cfg, m);
	const char *msg = rc == 0 ? "stick done, unmounted: safe to remove" :
	    rc == 1 ? "stick unmounted, but something needs a look (see status)" :
	    rc == -2 ? "stick unmounted; a backup disk hung and needs a reboot" :
	    "stick could NOT be unmounted: do not remove it";

	indicator_set(cfg, rc == 0 ? IND_SAFE : rc == -2 ? IND_REBOOT :
	    IND_ERROR, msg);
	handle_log_run(cfg, m, rc == 0 ? "safe" : rc == -2 ? "needs-reboot" :
	    "error", msg);
	return rc == 0 ? HANDLE_SAFE : HANDLE_FAILED;
}

/* Returns HANDLE_SAFE, HANDLE_FAILED or HANDLE_NOT_OURS. */
int
handle_device(const struct config *cfg, const char *devnode)
{
	struct medium m;
	const char *why = NULL;
	char msg[512];
	int lock, rc;

	rc = media_identify(cfg, devnode, &m, &why);
	if (rc == -1) {
		snprintf(msg, sizeof msg, "cannot read %s (%s): do not trust it",
		    devnode, why);
		log_warnx("handle: %s", msg);
		indicator_set(cfg, IND_ERROR, msg);
		handle_log_run(cfg, &m, "error", msg);
		return HANDLE_FAILED;
	}
	if (rc != 0) {
		log_info("handle: %s: not ours: %s", devnode, why);
		if (m.label[0] != '\0')
			indicator_set(cfg, IND_NOT_MINE, devnode);
		return HANDLE_NOT_OURS;
	}
	if ((lock = lock_take(cfg->state_dir, 1)) == -1)
		return HANDLE_FAILED;
	snprintf(msg, sizeof msg, "%s %s (%s)", m.cfg->role == ROLE_BACKUP ?
	    "backup disk" : "transport stick", m.label, devnode);
	indicator_set(cfg, IND_WORKING, msg);
	rc = m.cfg->role == ROLE_BACKUP ? handle_backup(cfg, &m) :
	    handle_transport(cfg, &m);
	close(lock);
	return rc;
}
