/*
 * The daemon: listens to udev for block devices and hands each plugged
 * medium to "handle" in a child process, one at a time.  A medium is
 * handled once per insertion: a USB stick arrives as "add", a loop
 * device as "change", and both may repeat; DISKSEQ (or the device and
 * filesystem uuid) identifies an insertion until the device goes away.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "airgap-agent.h"

#define SEEN_MAX 256

struct seen {
	char devnode[256];
	char disk[256]; /* its whole disk */
	char key[160];
	int ours; /* handled as a medium of ours (not "not ours") */
	int rc;   /* how its run ended (EXIT_*) */
	int powers_off; /* its run takes it away itself (media[].power_off) */
};

struct watch {
	const struct config *cfg;
	const char *self;     /* this program, to run "handle" */
	const char *cfg_path;
	int verbose;
	struct seen seen[SEEN_MAX];
	size_t nseen;
	int reboot; /* a run ended in "needs a reboot": until the box reboots */
};

static volatile sig_atomic_t watch_quit;

static void
watch_signal(int sig)
{
	(void)sig;
	watch_quit = 1;
}

static void
event_key(const struct media_event *ev, char *key, size_t len)
{
	if (ev->diskseq != 0)
		snprintf(key, len, "diskseq:%llu", (unsigned long long)ev->diskseq);
	else
		snprintf(key, len, "uuid:%s", ev->uuid);
}

static struct seen *
watch_find(struct watch *w, const char *devnode)
{
	size_t i;

	for (i = 0; i < w->nseen; i++)
		if (strcmp(w->seen[i].devnode, devnode) == 0)
			return &w->seen[i];
	return NULL;
}

/* The light when there is nothing else to say: off, or a short flash
 * every five seconds while a rotation disk is overdue.  Once a run
 * asked for a reboot, that stays the light until the box reboots:
 * pulling the hung disk does not unhang its pool or the process stuck
 * on it, and the next disk's zpool commands may hang behind them. */
static void
watch_idle(struct watch *w)
{
	char which[256], msg[320];

	if (w->reboot) {
		if (!indicator_is(w->cfg, IND_REBOOT))
			indicator_set(w->cfg, IND_REBOOT, "a zfs command hung "
			    "earlier: reboot the box before trusting a backup disk");
		return;
	}
	if (status_overdue(w->cfg, which, sizeof which)) {
		snprintf(msg, sizeof msg, "backup disk %s is overdue", which);
		indicator_set(w->cfg, IND_OVERDUE, msg);
	} else
		indicator_set(w->cfg, IND_IDLE, "waiting for a medium");
}

/* A medium of ours, still plugged in, whose run did not end safe. */
static const struct seen *
watch_unsafe(const struct watch *w)
{
	size_t i;

	for (i = 0; i < w->nseen; i++)
		if (w->seen[i].ours && w->seen[i].rc != EXIT_OK)
			return &w->seen[i];
	return NULL;
}

/* The light says nothing is wrong: safe, idle or overdue. */
static int
watch_light_calm(const struct watch *w)
{
	return indicator_is(w->cfg, IND_SAFE) || indicator_is(w->cfg, IND_IDLE) ||
	    indicator_is(w->cfg, IND_OVERDUE);
}

/* The light says how the last run ended, or nothing; while a medium
 * of ours whose run did not end safe is still plugged in, the light
 * must not say "safe" or nothing for another one: it says "error"
 * again.  A light asking for a reboot stays. */
static int
watch_keep_error(struct watch *w)
{
	const struct seen *u = watch_unsafe(w);
	char msg[320];

	if (u == NULL)
		return 0;
	if (watch_light_calm(w)) {
		snprintf(msg, sizeof msg, "%s is still plugged in and its run did "
		    "not end safe: see status", u->devnode);
		indicator_set(w->cfg, IND_ERROR, msg);
	}
	return 1;
}

/* Pulling a medium of ours whose run ended safe puts the light back to
 * idle.  Nothing else does: a foreign medium never changed it; after a
 * run that did not end safe the light keeps saying what went wrong
 * until the next medium; and a disk that its own run powered off
 * leaves as the run ends, before anyone saw the light (their pull is
 * not seen). */
static void
watch_forget(struct watch *w, const struct media_event *ev)
{
	int whole = ev->disk[0] != '\0' && strcmp(ev->devnode, ev->disk) == 0;
	int ours = 0;
	size_t i = 0;

	/* A disk gone takes its partitions with it, whichever of their
	 * events came first. */
	while (i < w->nseen) {
		struct seen *s = &w->seen[i];

		if (strcmp(s->devnode, ev->devnode) != 0 &&
		    !(whole && strcmp(s->disk, ev->disk) == 0)) {
			i++;
			continue;
		}
		log_info("watch: %s removed", s->devnode);
		ours |= s->ours && s->rc == EXIT_OK && !s->powers_off;
		*s = w->seen[--w->nseen];
	}
	if (ours && !watch_keep_error(w))
		watch_idle(w);
}

/* Records the insertion; returns it, or NULL when it was seen
 * already. */
static struct seen *
watch_remember(struct watch *w, const struct media_event *ev)
{
	struct seen *s = watch_find(w, ev->devnode);
	char key[160];

	event_key(ev, key, sizeof key);
	if (s != NULL && strcmp(s->key, key) == 0)
		return NULL;
	if (s == NULL) {
		if (w->nseen == SEEN_MAX)
			w->nseen--; /* forget the newest rather than grow */
		s = &w->seen[w->nseen++];
	}
	snprintf(s->devnode, sizeof s->devnode, "%s", ev->devnode);
	snprintf(s->disk, sizeof s->disk, "%s", ev->disk);
	snprintf(s->key, sizeof s->key, "%s", key);
	s->ours = 0;
	s->rc = EXIT_OK;
	s->powers_off = 0;
	return s;
}

/* A handle run outlived timeouts.handle: it and its children are
 * stopped.  A process of it that does not die is stuck in the kernel
 * (a hung disk or pool): the light asks for a reboot.  Otherwise it is
 * an error: the run may have left the stick mounted or the pool
 * imported, so the light must not go back to idle either. */
static void
watch_deadline(struct watch *w, struct child *c, const struct media_event *ev)
{
	struct medium m;
	char msg[512];
	int left;

	log_warnx("watch: %s: handle still running after %d s (timeouts.handle), "
	    "stopping it", ev->devnode, w->cfg->timeout_handle);
	child_kill(c);
	left = child_group_left(c);
	memset(&m, 0, sizeof m);
	snprintf(m.devnode, sizeof m.devnode, "%s", ev->devnode);
	snprintf(m.label, sizeof m.label, "%s", ev->label);
	m.cfg = config_medium(w->cfg, ev->label);
	if (left > 0) {
		snprintf(msg, sizeof msg, "%s: not done after %d s, and %d of its "
		    "processes do not die (a hung disk or pool): reboot before "
		    "trusting this medium", ev->devnode, w->cfg->timeout_handle,
		    left);
		indicator_set(w->cfg, IND_REBOOT, msg);
		handle_log_run(w->cfg, &m, "needs-reboot", msg);
	} else {
		snprintf(msg, sizeof msg, "%s: not done after %d s, stopped; it may "
		    "still be mounted or imported: see status before pulling it",
		    ev->devnode, w->cfg->timeout_handle);
		indicator_set(w->cfg, IND_ERROR, msg);
		handle_log_run(w->cfg, &m, "error", msg);
	}
}

/* "handle" logs for itself; its stderr (the drawing of the light, and
 * with -v its log) goes where the daemon's goes.  It runs in a process
 * group of its own, under timeouts.handle: a run that outlives it is
 * stopped with everything it started, so that nothing on a medium (a
 * FIFO, a hung disk) keeps the daemon from the next one. */
static int
watch_handle(struct watch *w, const struct media_event *ev)
{
	char *argv[] = { (char *)w->self, "-c", (char *)w->cfg_path, "handle",
		(char *)ev->devnode, NULL, NULL };
	struct child_opts o = { .argv = argv, .stdin_fd = CHILD_NULL,
		.stdout_fd = CHILD_NULL, .share_stderr = 1, .own_group = 1 };
	struct child *c;
	char s[64];
	int status;

	if (w->verbose) {
		memmove(argv + 2, argv + 1, 4 * sizeof *argv);
		argv[1] = "-v";
	}
	log_info("watch: handing %s over", ev->devnode);
	if ((c = child_start(&o)) == NULL) {
		log_warnx("watch: could not run handle for %s", ev->devnode);
		return EXIT_FAILED;
	}
	if (child_wait(c, w->cfg->timeout_handle, &status) == -1) {
		watch_deadline(w, c, ev);
		child_free(c);
		return EXIT_FAILED;
	}
	child_free(c);
	log_info("watch: %s: handle %s", ev->devnode,
	    child_status_str(status, s, sizeof s));
	return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_FAILED;
}

static void
watch_event(struct watch *w, const struct media_event *ev)
{
	const struct media_cfg *mc;
	struct seen *s;
	char msg[320];

	/* A loop device detached, or a card pulled from its reader, gives
	 * only a change event with no filesystem on it: that is a removal
	 * too, when the medium is gone (media.c tells). */
	if (strcmp(ev->action, "remove") == 0 ||
	    (strcmp(ev->action, "change") == 0 && !ev->has_label)) {
		if (ev->gone)
			watch_forget(w, ev);
		else
			log_debug("watch: %s %s: the medium is still there",
			    ev->action, ev->devnode);
		return;
	}
	if ((strcmp(ev->action, "add") != 0 && strcmp(ev->action, "change") != 0) ||
	    !ev->has_label)
		return;
	if ((s = watch_remember(w, ev)) == NULL) {
		log_debug("watch: %s %s: seen already", ev->action, ev->devnode);
		return;
	}
	s->rc = watch_handle(w, ev);
	s->ours = s->rc != EXIT_NOT_OURS;
	mc = config_medium(w->cfg, ev->label);
	s->powers_off = mc != NULL && mc->role == ROLE_BACKUP &&
	    mc->power_off[0] != NULL;
	if (indicator_is(w->cfg, IND_REBOOT))
		w->reboot = 1;
	/* A run that failed before it could say so (it did not start, or
	 * could not take the lock) must not leave the light as it was. */
	if (s->ours && s->rc != EXIT_OK && watch_light_calm(w)) {
		snprintf(msg, sizeof msg, "%s: handle failed (exit %d) before it "
		    "said why: see the log", ev->devnode, s->rc);
		indicator_set(w->cfg, IND_ERROR, msg);
	}
	watch_keep_error(w);
}

static void
watch_present(struct watch *w)
{
	struct media_event *evs;
	size_t i, n;

	if (media_present(&evs, &n) == -1)
		return;
	/* At start, only media that look like ours: no "not mine" beeps
	 * for the box's own disks. */
	for (i = 0; i < n; i++)
		if (evs[i].has_label && config_medium(w->cfg, evs[i].label) != NULL)
			watch_event(w, &evs[i]);
	free(evs);
}

int
watch_run(const struct config *cfg, const char *self, const char *cfg_path,
    int verbose)
{
	struct watch *w = xcalloc(1, sizeof *w);
	struct media_monitor *mm;
	struct sigaction sa;
	struct media_event ev;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = watch_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	w->cfg = cfg;
	w->self = self;
	w->cfg_path = cfg_path;
	w->verbose = verbose;
	if ((mm = media_monitor_open()) == NULL) {
		free(w);
		return -1;
	}
	watch_idle(w);
	/* After the light: tests and scripts wait for this line. */
	log_info("watch: listening for block devices");
	watch_present(w);
	while (!watch_quit) {
		struct pollfd p = { media_monitor_fd(mm), POLLIN, 0 };

		if (poll(&p, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("watch: poll");
			break;
		}
		while (media_monitor_next(mm, &ev))
			watch_event(w, &ev);
	}
	log_info("watch: stopping");
	media_monitor_close(mm);
	free(w);
	return 0;
}
