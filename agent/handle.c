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

/* The light and runs.log say what handling M came to. */
static int
handle_result(const struct config *cfg, const struct medium *m,
    const struct medium_result *r)
{
	static const struct {
		enum indicator_state light;
		const char *outcome;
	} say[] = {
		[MEDIUM_SAFE] = { IND_SAFE, "safe" },
		[MEDIUM_ERROR] = { IND_ERROR, "error" },
		[MEDIUM_REBOOT] = { IND_REBOOT, "needs-reboot" },
	};

	indicator_set(cfg, say[r->status].light, r->message);
	handle_log_run(cfg, m, say[r->status].outcome, r->message);
	return r->status == MEDIUM_SAFE ? HANDLE_SAFE : HANDLE_FAILED;
}

static int
handle_medium(const struct config *cfg, const struct medium *m)
{
	struct disk_result d;
	struct medium_result r;

	if (m->cfg->role == ROLE_BACKUP) {
		int failed;

		disk_run(cfg, m, &d);
		/* Queued now, they leave with the next stick. */
		if ((d.sum.received > 0 || (d.imported && d.sum.waiting > 0)) &&
		    receipt_send_all(cfg, &failed) > 0)
			log_info("handle: receipts queued for the next stick");
		return handle_result(cfg, m, &d.res);
	}
	stick_run(cfg, m, &r);
	return handle_result(cfg, m, &r);
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
	rc = handle_medium(cfg, &m);
	close(lock);
	return rc;
}
