/*
 * The restore drill: for a plugged backup disk, every dataset's newest
 * snapshot read end to end (zfs send into nothing, raw for encrypted
 * datasets, so no key is needed), a scrub when asked for, and the
 * pool's own error counters; the result and its time go into
 * STATE/drills/GUID for "status".  A disk that rots is found before
 * anyone needs it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "airgap-agent.h"

#define SCRUB_POLL_MS 1000

struct drill {
	int datasets;  /* read end to end */
	int failed;    /* could not be read */
	int pool_errors; /* the pool counts errors (or a scrub found some) */
	int scrubbed;
	uint64_t bytes;
	double seconds;
	char first_failed[ESCAPED_MAX(256)];
};

/* STATE/drills/GUID, through state.c. */
static void
drill_record(const struct config *cfg, const struct medium *m,
    const struct drill *d, const char *result, const char *message)
{
	struct state_drill r;

	memset(&r, 0, sizeof r);
	snprintf(r.pool, sizeof r.pool, "%s", m->label);
	snprintf(r.guid, sizeof r.guid, "%s", m->uuid);
	r.time = (long long)time(NULL);
	r.seconds = (long long)(d->seconds + 0.5);
	snprintf(r.result, sizeof r.result, "%s", result);
	r.datasets = d->datasets;
	r.failed = d->failed;
	r.bytes = d->bytes;
	r.scrub = d->scrubbed;
	snprintf(r.message, sizeof r.message, "%s", message);
	if (state_drill_write(cfg, &r) == -1)
		log_warnx("drill: the result could not be recorded");
}

static void
drill_sends(const struct config *cfg, const struct restore_list *l,
    struct drill *d)
{
	size_t i;

	for (i = 0; i < l->n && !zfs_hung(); i++) {
		const struct restore_ds *ds = &l->ds[i];
		uint64_t bytes = 0;

		if (ds->nsnaps == 0)
			continue;
		if (restore_read_stream(cfg, ds->snaps[0].name, ds->encrypted, -1,
		    &bytes, NULL) == 0) {
			d->datasets++;
			d->bytes += bytes;
			continue;
		}
		log_warnx("drill: cannot read %s end to end", ds->snaps[0].name);
		if (d->failed++ == 0)
			str_escape(d->first_failed, sizeof d->first_failed,
			    ds->snaps[0].name + strlen(l->root) + 1);
	}
}

/* zpool status: a scrub still going (1), errors counted by a device or
 * the pool (2 ORed in), or neither (0); -1 when it cannot be read. */
static int
pool_health(const struct config *cfg, const char *pool)
{
	struct buf out = { 0 };
	char *line, *save = NULL;
	int rc, flags = 0, in_config = 0;

	rc = zfs_command(cfg, cfg->zpool, (const char *const[]){ "status", pool,
	    NULL }, &out);
	if (rc != 0 || out.data == NULL) {
		buf_free(&out);
		return -1;
	}
	for (line = strtok_r(out.data, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char name[256], state[64], r[32], w[32], c[32];
		const char *with;

		if (strstr(line, "scrub in progress") != NULL)
			flags |= 1;
		if ((with = strstr(line, " with ")) != NULL && strstr(line, "scrub") &&
		    atoi(with + 6) > 0)
			flags |= 2;
		if (strncmp(line, "errors:", 7) == 0) {
			in_config = 0;
			if (strstr(line, "No known data errors") == NULL)
				flags |= 2;
		}
		if (strncmp(line, "config:", 7) == 0)
			in_config = 1;
		if (in_config && sscanf(line, "%255s %63s %31s %31s %31s", name,
		    state, r, w, c) == 5 && strcmp(name, "NAME") != 0 &&
		    (strcmp(r, "0") != 0 || strcmp(w, "0") != 0 ||
		    strcmp(c, "0") != 0))
			flags |= 2;
	}
	buf_free(&out);
	return flags;
}

static int
drill_scrub(const struct config *cfg, const char *pool, struct drill *d)
{
	struct timespec ts = { SCRUB_POLL_MS / 1000, 0 };
	int h;

	if (zfs_command(cfg, cfg->zpool, (const char *const[]){ "scrub", pool,
	    NULL }, NULL) != 0) {
		log_warnx("drill: cannot start a scrub of %s", pool);
		return -1;
	}
	log_info("drill: scrubbing %s", pool);
	while ((h = pool_health(cfg, pool)) != -1 && (h & 1))
		nanosleep(&ts, NULL);
	d->scrubbed = h != -1;
	return h == -1 ? -1 : 0;
}

static void
drill_message(const char *pool, const struct drill *d, int ok, char *msg,
    size_t len)
{
	if (ok)
		snprintf(msg, len, "%s: restore drill passed: %d dataset(s) read end "
		    "to end, %" PRIu64 " bytes%s", pool, d->datasets, d->bytes,
		    d->scrubbed ? ", scrub clean" : "");
	else if (d->failed > 0)
		snprintf(msg, len, "%s: DAMAGED: %d of %d dataset(s) could not be "
		    "read (first %s)%s", pool, d->failed, d->failed + d->datasets,
		    d->first_failed, d->pool_errors ? "; the pool counts errors" : "");
	else
		snprintf(msg, len, "%s: DAMAGED: the pool counts errors%s", pool,
		    d->scrubbed ? " after a scrub" : "");
}

int
drill_run(const struct config *cfg, const char *pool, int scrub)
{
	struct restore_session s;
	struct restore_list l;
	struct drill d;
	double t0 = now_seconds();
	char msg[2048];
	int h, ok;

	memset(&d, 0, sizeof d);
	if (restore_begin(cfg, pool, "restore drill", &s) == -1)
		return -1;
	if (restore_scan(cfg, s.m.label, &l) == -1) {
		d.seconds = now_seconds() - t0;
		snprintf(msg, sizeof msg, "%s: drill could not list the datasets",
		    pool);
		drill_record(cfg, &s.m, &d, "error", msg);
		return restore_end(&s, 0, msg);
	}
	drill_sends(cfg, &l, &d);
	restore_list_free(&l);
	if (scrub && !zfs_hung() && drill_scrub(cfg, s.m.label, &d) == -1)
		d.pool_errors = 1;
	h = zfs_hung() ? -1 : pool_health(cfg, s.m.label);
	if (h != 0)
		d.pool_errors = 1;
	d.seconds = now_seconds() - t0;
	ok = d.failed == 0 && !d.pool_errors;
	drill_message(pool, &d, ok, msg, sizeof msg);
	drill_record(cfg, &s.m, &d, ok ? "ok" : "damaged", msg);
	printf("%s\n", msg);
	return restore_end(&s, ok, msg);
}
