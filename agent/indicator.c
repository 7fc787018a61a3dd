/*
 * What the person at the box sees and hears: sysfs LEDs (with the
 * kernel's timer trigger doing the blinking, so nothing has to stay
 * running), tones on the PC speaker through evdev EV_SND/SND_TONE
 * events (as beep(1) makes them), a one-line drawing on the terminal
 * when asked for, and STATE/indicator, which "status" reads.
 *
 * A missing LED or beeper is logged and skipped: the state file and the
 * logs still tell the truth.  The beeper is reached through the
 * symbolic link udev makes (/dev/input/by-path/...), so its path is
 * followed; the path comes from root's configuration.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <linux/input.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "airgap-agent.h"

struct tone {
	int hz;
	int ms;
	int gap_ms;
};

struct pattern {
	const char *name;
	int on_ms;  /* 0: LED off; -1: solid on; else timer blink */
	int off_ms;
	int keep_led; /* leave the LED as it is */
	struct tone tones[10];
};

/* Documented in airgap-agent(8) and docs/appliance.md. */
static const struct pattern patterns[] = {
	[IND_IDLE] = { "idle", 0, 0, 0, { { 0, 0, 0 } } },
	[IND_WORKING] = { "working", 1000, 1000, 0, { { 1000, 60, 0 } } },
	[IND_SAFE] = { "safe", -1, 0, 0,
	    { { 880, 100, 60 }, { 1320, 150, 0 } } },
	[IND_ERROR] = { "error", 150, 150, 0,
	    { { 440, 300, 150 }, { 440, 300, 150 }, { 440, 300, 0 } } },
	[IND_REBOOT] = { "needs-reboot", 100, 1400, 0,
	    { { 1200, 150, 0 }, { 600, 150, 0 }, { 1200, 150, 0 }, { 600, 150, 0 },
	    { 1200, 150, 0 }, { 600, 150, 0 }, { 1200, 150, 0 }, { 600, 150, 0 } } },
	[IND_NOT_MINE] = { "not-mine", 0, 0, 1, { { 300, 200, 0 } } },
	[IND_OVERDUE] = { "idle-overdue", 100, 4900, 0, { { 0, 0, 0 } } },
};

const char *
indicator_name(enum indicator_state s)
{
	return patterns[s].name;
}

/* sysfs attributes exist already; a missing one is not created. */
static int
sysfs_write(const char *dir, const char *attr, const char *value)
{
	char *path = xasprintf("%s/%s", dir, attr);
	int fd, rc = -1;

	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	if (fd != -1 && write_all(fd, value, strlen(value)) == 0)
		rc = 0;
	if (rc == -1)
		log_warn("indicator: write %s", path);
	if (fd != -1 && close(fd) == -1 && rc == 0) {
		log_warn("indicator: write %s", path);
		rc = -1;
	}
	free(path);
	return rc;
}

static void
led_max(const char *dir, char *out, size_t len)
{
	char *path = xasprintf("%s/max_brightness", dir);
	FILE *f = fopen(path, "re");
	int v = 0;

	if (f != NULL && fscanf(f, "%d", &v) == 1 && v > 0)
		snprintf(out, len, "%d", v);
	else
		snprintf(out, len, "1");
	if (f != NULL)
		fclose(f);
	free(path);
}

static void
led_set(const char *dir, const struct pattern *p)
{
	char v[32];

	if (access(dir, F_OK) == -1) {
		log_warn("indicator: no LED at %s", dir);
		return;
	}
	if (p->on_ms > 0) {
		if (sysfs_write(dir, "trigger", "timer") == 0) {
			snprintf(v, sizeof v, "%d", p->on_ms);
			sysfs_write(dir, "delay_on", v);
			snprintf(v, sizeof v, "%d", p->off_ms);
			sysfs_write(dir, "delay_off", v);
		}
		return;
	}
	sysfs_write(dir, "trigger", "none");
	if (p->on_ms == -1)
		led_max(dir, v, sizeof v);
	else
		snprintf(v, sizeof v, "0");
	sysfs_write(dir, "brightness", v);
}

/* Every LED folder PATTERN names: a path, or a glob(7) pattern such as
 * /sys/class/leds/input*::scrolllock, since the kernel numbers input
 * devices anew at each boot, in the order it finds them. */
static void
leds_set(const char *pattern, const struct pattern *p)
{
	glob_t g;
	size_t i;

	if (glob(pattern, 0, NULL, &g) != 0) {
		log_warnx("indicator: no LED at %s", pattern);
		globfree(&g);
		return;
	}
	for (i = 0; i < g.gl_pathc; i++)
		led_set(g.gl_pathv[i], p);
	globfree(&g);
}

static int
tone_event(int fd, int hz)
{
	struct input_event ev;

	memset(&ev, 0, sizeof ev);
	ev.type = EV_SND;
	ev.code = SND_TONE;
	ev.value = hz;
	return write_all(fd, &ev, sizeof ev);
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void
beep(const char *node, const struct pattern *p)
{
	int fd, i;

	if (node[0] == '\0' || p->tones[0].hz == 0)
		return;
	fd = open(node, O_WRONLY | O_CLOEXEC | O_APPEND);
	if (fd == -1) {
		log_warn("indicator: no beeper at %s", node);
		return;
	}
	for (i = 0; i < 10 && p->tones[i].hz != 0; i++) {
		if (tone_event(fd, p->tones[i].hz) == -1)
			break;
		sleep_ms(p->tones[i].ms);
		if (tone_event(fd, 0) == -1)
			break;
		sleep_ms(p->tones[i].gap_ms);
	}
	close(fd);
}

static void
draw(const struct pattern *p, const char *message)
{
	const char *led = p->keep_led ? "(unchanged)" : p->on_ms == -1 ? "ON" :
	    p->on_ms == 0 ? "off" : "blinking";
	char timing[48] = "";

	if (p->on_ms > 0)
		snprintf(timing, sizeof timing, " %d/%d ms", p->on_ms, p->off_ms);
	fprintf(stderr, "[light %s%s | %s] %s\n", led, timing, p->name,
	    message ? message : "");
}

/* Does the recorded light (STATE/indicator) say S?  The daemon asks
 * after each run: what the run left there is the light as it stands. */
int
indicator_is(const struct config *cfg, enum indicator_state s)
{
	struct state_light l;

	return state_light_read(cfg, &l) == 0 &&
	    strcmp(l.state, patterns[s].name) == 0;
}

void
indicator_set(const struct config *cfg, enum indicator_state s,
    const char *message)
{
	const struct pattern *p = &patterns[s];
	char esc[ESCAPED_MAX(512)];
	size_t i;

	/* Messages name media by their labels: escaped for the state file
	 * (one key per line) and the terminal. */
	message = message ? str_escape(esc, sizeof esc, message) : NULL;
	log_info("indicator: %s%s%s", p->name, message ? ": " : "",
	    message ? message : "");
	if (!p->keep_led) {
		for (i = 0; cfg->leds[i] != NULL; i++)
			leds_set(cfg->leds[i], p);
		state_light_write(cfg, p->name, message);
	}
	if (cfg->console)
		draw(p, message);
	beep(cfg->beeper, p);
}
