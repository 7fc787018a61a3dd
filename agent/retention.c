/*
 * Retention on the backup pools: a thinning schedule in the notation of
 * zfs-autobackup ("10,1d1w,1w1m,1m1y"), the buckets it keeps, and (in
 * the second half of this file) applying it to a pool under zfs holds.
 *
 * The schedule and the bucket logic are pure functions of their input,
 * so that the unit tests and the fuzzer reach them without a pool.
 *
 * What is never destroyed, whatever the schedule says: the newest
 * snapshot of each dataset, every snapshot a queued file builds on
 * (both under a zfs hold, so that ZFS itself refuses), and every
 * snapshot whose name matches none of retention.patterns.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "airgap-agent.h"

/* The units, in seconds, as zfs-autobackup defines them (a month is 30
 * days, a year 365.25). */
static const struct {
	const char *name;
	int64_t seconds;
} units[] = {
	{ "s", 1 },
	{ "min", 60 },
	{ "h", 3600 },
	{ "d", 86400 },
	{ "w", 7 * 86400 },
	{ "m", 30 * 86400 },
	{ "y", 31557600 },
};

#define NUMBER_MAX 1000000 /* no schedule needs more; no overflow below */

static const char *
parse_number(const char *p, int64_t *out)
{
	int64_t v = 0;

	if (!isdigit((unsigned char)*p))
		return NULL;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (*p - '0');
		if (v > NUMBER_MAX)
			return NULL;
	}
	*out = v;
	return p;
}

/* NUMBER UNIT, e.g. "1d" or "15min"; or "forever" where allowed. */
static const char *
parse_duration(const char *p, int forever_ok, int64_t *out)
{
	int64_t n;
	size_t i, l, best = 0, found = 0;

	if (forever_ok && strncmp(p, "forever", 7) == 0) {
		*out = INT64_MAX;
		return p + 7;
	}
	if ((p = parse_number(p, &n)) == NULL || n == 0)
		return NULL;
	/* the longest unit name that fits: "min" is not "m" */
	for (i = 0; i < sizeof units / sizeof units[0]; i++) {
		l = strlen(units[i].name);
		if (strncmp(p, units[i].name, l) == 0 && l > best) {
			best = l;
			found = i;
		}
	}
	if (best == 0)
		return NULL;
	*out = n * units[found].seconds;
	return p + best;
}

static const char *
skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* One term: a count ("10") or a period and how long it applies ("1d1w"). */
static int
parse_term(const char **pp, struct retention_schedule *s, const char **why)
{
	const char *p = *pp, *q;
	struct retention_rule r;
	int64_t n;

	if ((q = parse_number(p, &n)) != NULL && (*q == ',' || *q == '\0' ||
	    *q == ' ' || *q == '\t')) {
		if (s->has_count) {
			*why = "more than one count of newest snapshots";
			return -1;
		}
		s->has_count = 1;
		s->keep_newest = (unsigned)n;
		*pp = q;
		return 0;
	}
	if ((p = parse_duration(p, 0, &r.period)) == NULL ||
	    (p = parse_duration(p, 1, &r.ttl)) == NULL) {
		*why = "a term is neither a count (\"10\") nor a period and its "
		    "reach (\"1d1w\"); units: s, min, h, d, w, m, y";
		return -1;
	}
	if (r.period > r.ttl) {
		*why = "a period is longer than the time it applies for";
		return -1;
	}
	if (s->nrules == RETENTION_RULES_MAX) {
		*why = "too many terms";
		return -1;
	}
	s->rules[s->nrules++] = r;
	*pp = p;
	return 0;
}

int
retention_parse(const char *text, struct retention_schedule *s,
    const char **why)
{
	const char *p = text;

	memset(s, 0, sizeof *s);
	for (;;) {
		p = skip_space(p);
		if (parse_term(&p, s, why) == -1)
			return -1;
		p = skip_space(p);
		if (*p == '\0')
			return 0;
		if (*p != ',') {
			*why = "terms are separated by commas";
			return -1;
		}
		p++;
	}
}

/* Buckets start at the epoch (UTC), like zfs-autobackup's. */
static int64_t
bucket_of(int64_t t, int64_t period)
{
	return t >= 0 ? t / period : -((-t + period - 1) / period);
}

/* Which rule keeps each of N snapshots, given their creation times
 * oldest first: RETENTION_NEWEST for the newest keep_newest, the index
 * of the first rule whose bucket it opens (the oldest snapshot of each
 * bucket that is within the rule's reach at NOW), or RETENTION_DROP. */
void
retention_decide(const struct retention_schedule *s, int64_t now,
    const int64_t *times, size_t n, int *keep)
{
	int64_t *last = xcalloc(s->nrules ? s->nrules : 1, sizeof *last);
	int *seen = xcalloc(s->nrules ? s->nrules : 1, sizeof *seen);
	size_t i, r;

	for (i = 0; i < n; i++) {
		keep[i] = RETENTION_DROP;
		if (n - i <= s->keep_newest) {
			keep[i] = RETENTION_NEWEST;
			continue;
		}
		for (r = 0; r < s->nrules; r++) {
			const struct retention_rule *rule = &s->rules[r];
			int64_t b = bucket_of(times[i], rule->period);

			/* age <= ttl, without overflow for a far future */
			if (times[i] < now && (uint64_t)now - (uint64_t)times[i] >
			    (uint64_t)rule->ttl)
				continue;
			if (seen[r] && last[r] == b)
				continue;
			seen[r] = 1;
			last[r] = b;
			if (keep[i] == RETENTION_DROP)
				keep[i] = (int)r;
		}
	}
	free(last);
	free(seen);
}

/* The rule as the schedule wrote it, for the dry run: "1d1w". */
void
retention_rule_text(const struct retention_rule *r, char *out, size_t len)
{
	int64_t v[2] = { r->period, r->ttl };
	size_t i, j, k = 0;

	out[0] = '\0';
	for (j = 0; j < 2; j++) {
		if (v[j] == INT64_MAX) {
			k += (size_t)snprintf(out + k, k < len ? len - k : 0, "forever");
			continue;
		}
		for (i = sizeof units / sizeof units[0]; i-- > 0;)
			if (v[j] % units[i].seconds == 0)
				break;
		k += (size_t)snprintf(out + k, k < len ? len - k : 0, "%" PRId64 "%s",
		    v[j] / units[i].seconds, units[i].name);
	}
}

/*
 * Applying the schedule to a pool.  The order makes a kill -9 at any
 * point harmless: holds go on everything protected first, then holds
 * whose reason is gone are released, and only then is anything
 * destroyed, one snapshot at a time.  A hold left over by a killed run
 * is released by the next one.
 */
#define RETENTION_TAG "airgap-agent"

enum protect {
	PROTECT_NONE,
	PROTECT_NEWEST,  /* the newest snapshot of its dataset */
	PROTECT_BASE,    /* a queued file builds on it */
	PROTECT_FOREIGN, /* its name matches no pattern: not ours to thin */
};

struct guids {
	uint64_t *g;
	size_t n;
};

struct thin {
	const struct config *cfg;
	int dry_run;
	int64_t now;
	struct guids bases;
	size_t kept, destroyed, failed;
	int64_t oldest, newest; /* of what is kept, over the pool */
	struct state_kept *rows; /* per dataset, for status */
	size_t nrows;
};

static enum pipe_action
base_head(void *arg, const struct zstream_head *h)
{
	*(uint64_t *)arg = zstream_base(h);
	return PIPE_DECLINE;
}

/* The base of one queued file, from its begin record: 0 when it has
 * none (a full stream), -1 when it cannot be told for now.  The head
 * is not verified here: a forged one can only make more be kept. */
static int
file_base(const struct config *cfg, const struct queue_file *f, uint64_t *base)
{
	struct pipe_job job = { .cfg = cfg, .path = f->path, .dataset = "",
		.on_head = base_head, .arg = base };
	struct pipe_result r;

	*base = 0;
	if (f->reject != NULL || (job.host = config_host(cfg, f->host)) == NULL)
		return 0; /* it is quarantined, never received */
	job.authenticated = f->authenticated && config_host_unsigned_ok(job.host);
	if (f->chunks > 0) {
		/* A chunked set: its head comes through nncp-reass. */
		char why[256];
		struct child *reass = chunk_open(cfg, f, &job.fd, why,
		    sizeof why);

		if (reass == NULL) {
			log_warnx("retention: %s: %s", f->path, why);
			return -1;
		}
		pipeline_run(&job, &r);
		chunk_close(cfg, reass, 0, why, sizeof why);
	} else {
		if ((job.fd = queue_open(f)) == -1)
			return errno == ENOENT ? 0 : -1;
		pipeline_run(&job, &r);
		close(job.fd);
	}
	if (r.outcome == PIPE_DECLINED || r.outcome == PIPE_REJECTED)
		return 0;
	log_warnx("retention: %s: cannot read its head: %s", f->path, r.reason);
	return -1;
}

/* The snapshots every queued file builds on: waiting, held, kept for
 * another rotation disk, or simply not yet ingested. */
static int
queue_bases(const struct config *cfg, const char *own_incoming,
    struct guids *b)
{
	struct queue q = { 0 };
	uint64_t g;
	size_t i;
	int rc = 0;

	if (own_incoming != NULL ? queue_scan(own_incoming, &q) == -1 :
	    (queue_scan(cfg->incoming, &q) == -1 ||
	    queue_scan_exec(cfg, &q) == -1)) {
		queue_free(&q);
		return -1;
	}
	for (i = 0; i < q.nfiles && rc == 0; i++) {
		if (file_base(cfg, &q.files[i], &g) == -1)
			rc = -1;
		else if (g != 0) {
			b->g = xreallocarray(b->g, b->n + 1, sizeof *b->g);
			b->g[b->n++] = g;
		}
	}
	queue_free(&q);
	return rc;
}

static int
guids_has(const struct guids *b, uint64_t g)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (b->g[i] == g)
			return 1;
	return 0;
}

static int
name_matches(const struct config *cfg, const char *full)
{
	const char *at = strchr(full, '@');
	size_t i;

	for (i = 0; at && cfg->retention_patterns[i] != NULL; i++)
		if (fnmatch(cfg->retention_patterns[i], at + 1, 0) == 0)
			return 1;
	return 0;
}

/* The schedule for a dataset ROOT/HOST/...: the host's, else the
 * default; NULL: nothing is thinned there. */
static const char *
schedule_for(const struct config *cfg, const char *root, const char *ds)
{
	char host[64];
	const struct host_cfg *h;
	size_t rl = strlen(root), n;

	if (strncmp(ds, root, rl) != 0 || ds[rl] != '/')
		return NULL;
	n = strcspn(ds + rl + 1, "/@");
	if (n == 0 || n >= sizeof host)
		return NULL;
	memcpy(host, ds + rl + 1, n);
	host[n] = '\0';
	h = config_host(cfg, host);
	return h != NULL && h->retention != NULL ? h->retention : cfg->retention;
}

struct sorted {
	int64_t t;
	size_t i;
};

static int
by_time(const void *a, const void *b)
{
	const struct sorted *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Which rule keeps each matching snapshot of one dataset (RULE[i] as
 * retention_decide says; PROTECT_FOREIGN ones are left out of it). */
static void
decide_dataset(const struct thin *t, const struct retention_schedule *s,
    const struct zfs_snapinfo *v, size_t n, const int *prot, int *rule)
{
	struct sorted *o = xcalloc(n ? n : 1, sizeof *o);
	int64_t *times = xcalloc(n ? n : 1, sizeof *times);
	int *keep = xcalloc(n ? n : 1, sizeof *keep);
	int64_t prev = INT64_MIN;
	size_t i, m = 0;

	/* A received snapshot's creation time is what the sender wrote into
	 * its stream.  Believed only as far as it agrees with the order in
	 * which the snapshots were made (zfs lists them by their txg) and
	 * with this box's clock: backdated or future times cannot crowd the
	 * buckets and push the genuine history out. */
	for (i = 0; i < n; i++) {
		int64_t c = v[i].creation;

		c = c < prev ? prev : c;
		c = c > t->now ? t->now : c;
		prev = c;
		rule[i] = RETENTION_DROP;
		if (prot[i] != PROTECT_FOREIGN) {
			o[m].t = c;
			o[m++].i = i;
		}
	}
	qsort(o, m, sizeof *o, by_time);
	for (i = 0; i < m; i++)
		times[i] = o[i].t;
	retention_decide(s, t->now, times, m, keep);
	for (i = 0; i < m; i++)
		rule[o[i].i] = keep[i];
	free(o);
	free(times);
	free(keep);
}

static void
say(const struct thin *t, const char *verb, const char *snap, const char *why)
{
	char e[ESCAPED_MAX(512)];

	if (!t->dry_run)
		return;
	printf("%-8s %s%s%s\n", verb, str_escape(e, sizeof e, snap),
	    why ? "  " : "", why ? why : "");
	fflush(stdout); /* whole lines between the log's, on a shared stderr */
}

static const char *
why_kept(const struct retention_schedule *s, int prot, int rule, char *buf,
    size_t len)
{
	switch (prot) {
	case PROTECT_NEWEST:
		return "newest of its dataset (held)";
	case PROTECT_BASE:
		return "a queued file builds on it (held)";
	case PROTECT_FOREIGN:
		return "name matches no retention pattern";
	}
	if (rule == RETENTION_NEWEST) {
		snprintf(buf, len, "among the newest %u", s->keep_newest);
		return buf;
	}
	retention_rule_text(&s->rules[rule], buf, len);
	return buf;
}

static void
note_kept(struct thin *t, const struct zfs_snapinfo *s)
{
	struct state_kept *k;
	size_t dl = strcspn(s->name, "@");

	if (t->nrows == 0 || strncmp(t->rows[t->nrows - 1].dataset, s->name,
	    dl) != 0 || t->rows[t->nrows - 1].dataset[dl] != '\0') {
		t->rows = xreallocarray(t->rows, t->nrows + 1, sizeof *t->rows);
		k = &t->rows[t->nrows++];
		memset(k, 0, sizeof *k);
		snprintf(k->dataset, sizeof k->dataset, "%.*s", (int)dl, s->name);
		k->oldest = k->newest = s->creation;
	}
	k = &t->rows[t->nrows - 1];
	k->kept++;
	k->bytes += s->used;
	if (s->creation < k->oldest)
		k->oldest = s->creation;
	if (s->creation > k->newest)
		k->newest = s->creation;
	if (t->kept == 0 || s->creation < t->oldest)
		t->oldest = s->creation;
	if (t->kept == 0 || s->creation > t->newest)
		t->newest = s->creation;
	t->kept++;
}

/* Holds on, stale holds off, then the destroys. */
static void
apply_dataset(struct thin *t, const struct retention_schedule *s,
    const struct zfs_snapinfo *v, size_t n, const int *prot, const int *rule)
{
	char why[64];
	size_t i;

	for (i = 0; i < n; i++)
		if ((prot[i] == PROTECT_NEWEST || prot[i] == PROTECT_BASE) &&
		    !t->dry_run && zfs_hold(t->cfg, RETENTION_TAG, v[i].name) != 0)
			log_debug("retention: hold on %s: already there?", v[i].name);
	for (i = 0; i < n; i++)
		if (prot[i] != PROTECT_NEWEST && prot[i] != PROTECT_BASE &&
		    v[i].userrefs > 0 && !t->dry_run)
			zfs_release(t->cfg, RETENTION_TAG, v[i].name);
	for (i = 0; i < n; i++) {
		if (prot[i] != PROTECT_NONE || rule[i] != RETENTION_DROP) {
			say(t, "keep", v[i].name, why_kept(s, prot[i], rule[i], why,
			    sizeof why));
			note_kept(t, &v[i]);
			continue;
		}
		say(t, "destroy", v[i].name, NULL);
		if (t->dry_run)
			continue;
		if (zfs_destroy_snapshot(t->cfg, v[i].name) == 0) {
			log_info("retention: destroyed %s", v[i].name);
			t->destroyed++;
		} else {
			log_warnx("retention: cannot destroy %s", v[i].name);
			t->failed++;
			note_kept(t, &v[i]);
		}
	}
}

/* One dataset's snapshots V[0..N) (oldest first as zfs lists them). */
static void
thin_dataset(struct thin *t, const char *root, const struct zfs_snapinfo *v,
    size_t n)
{
	const char *text;
	struct retention_schedule s;
	char ds[512];
	int *prot, *rule;
	const char *why;
	size_t i;

	snprintf(ds, sizeof ds, "%.*s", (int)strcspn(v[0].name, "@"), v[0].name);
	text = schedule_for(t->cfg, root, ds);
	if (text == NULL || retention_parse(text, &s, &why) == -1) {
		/* nothing thinned here: no holds are needed either */
		for (i = 0; i < n; i++) {
			if (v[i].userrefs > 0 && !t->dry_run)
				zfs_release(t->cfg, RETENTION_TAG, v[i].name);
			say(t, "keep", v[i].name, "no schedule for this host");
			note_kept(t, &v[i]);
		}
		return;
	}
	prot = xcalloc(n, sizeof *prot);
	rule = xcalloc(n, sizeof *rule);
	for (i = 0; i < n; i++)
		prot[i] = !name_matches(t->cfg, v[i].name) ? PROTECT_FOREIGN :
		    i + 1 == n ? PROTECT_NEWEST :
		    guids_has(&t->bases, v[i].guid) ? PROTECT_BASE : PROTECT_NONE;
	if (prot[n - 1] == PROTECT_FOREIGN)
		prot[n - 1] = PROTECT_NEWEST; /* the chain goes on from it */
	decide_dataset(t, &s, v, n, prot, rule);
	apply_dataset(t, &s, v, n, prot, rule);
	free(prot);
	free(rule);
}

static int
any_schedule(const struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nhosts; i++)
		if (cfg->hosts[i].retention != NULL)
			return 1;
	return cfg->retention != NULL;
}

static void
date_of(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, len, "%Y-%m-%d", &tm) == 0)
		snprintf(out, len, "?");
}

/* Thins POOL's store as the schedules say; DRY_RUN only prints what
 * it would do.  Returns -1 when something could not be thinned. */
int
retention_run(const struct config *cfg, const char *pool,
    const char *own_incoming, int dry_run, struct retention_summary *sum)
{
	struct thin t = { .cfg = cfg, .dry_run = dry_run, .now = time(NULL) };
	struct zfs_snapinfo *v;
	struct zfs_dataset d;
	char *root;
	size_t n, i, j;
	int rc = 0;

	memset(sum, 0, sizeof *sum);
	if (!any_schedule(cfg))
		return 0;
	root = xasprintf("%s/%s", pool, cfg->store);
	if (zfs_dataset_get(cfg, root, &d) == -1 || !d.exists) {
		zfs_dataset_free(&d);
		free(root);
		return 0; /* nothing received yet, or zfs said why already */
	}
	zfs_dataset_free(&d);
	if (queue_bases(cfg, own_incoming, &t.bases) == -1 ||
	    zfs_snapshots(cfg, root, &v, &n) != 0) {
		log_warnx("retention: %s: not thinned: the queue's bases or the "
		    "snapshots could not be read", pool);
		free(t.bases.g);
		free(root);
		return -1;
	}
	for (i = 0; i < n; i = j) {
		size_t dl = strcspn(v[i].name, "@");

		for (j = i + 1; j < n && strncmp(v[j].name, v[i].name, dl + 1) == 0; j++)
			;
		thin_dataset(&t, root, v + i, j - i);
	}
	sum->kept = t.kept;
	sum->destroyed = t.destroyed;
	sum->oldest = t.oldest;
	sum->newest = t.newest;
	if (t.failed > 0)
		rc = -1;
	if (!dry_run && state_kept_write(cfg, pool, t.rows, t.nrows) == -1)
		log_warnx("retention: cannot record what %s keeps", pool);
	free(t.rows);
	log_info("retention: %s: %zu snapshot(s) kept, %zu destroyed%s", pool,
	    t.kept, t.destroyed, t.failed ? ", some could not be" : "");
	zfs_snapshots_free(v, n);
	free(t.bases.g);
	free(root);
	return rc;
}

/* Before an ingest: a pool below min_free_mb is thinned first.  If
 * that is not enough, the person is told how much history is left. */
void
retention_if_low(const struct config *cfg, const char *pool,
    const char *own_incoming)
{
	uint64_t min = (uint64_t)cfg->min_free_mb * 1024 * 1024, avail;
	struct retention_summary sum;
	char from[32], to[32];

	/* Without a schedule nothing is thinned: no question to ask zfs. */
	if (!any_schedule(cfg) ||
	    zfs_available(cfg, pool, &avail) == -1 || avail >= min)
		return;
	log_info("retention: %s has %" PRIu64 " MiB free, below min_free_mb "
	    "(%d): thinning before the ingest", pool, avail / 1024 / 1024,
	    cfg->min_free_mb);
	retention_run(cfg, pool, own_incoming, 0, &sum);
	if (zfs_available(cfg, pool, &avail) == -1 || avail >= min)
		return;
	date_of(sum.oldest, from, sizeof from);
	date_of(sum.newest, to, sizeof to);
	log_warnx("retention: %s is still below min_free_mb after thinning: "
	    "%" PRIu64 " MiB free; %zu snapshot(s) left, %s to %s; shorten "
	    "retention.schedule (or the host's), lower ingest.min_free_mb, or "
	    "use a bigger disk", pool, avail / 1024 / 1024, sum.kept,
	    sum.kept ? from : "-", sum.kept ? to : "-");
}

static void
json_text(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

/* For "status": per backup disk and dataset, what its last thinning
 * kept (the dataset names were escaped when they were recorded). */
void
retention_status(const struct config *cfg, int json)
{
	char *dir = state_path(cfg, "retention"), **pools;
	struct state_kept *k;
	int i, j, nk, n = dir_names(dir, &pools), any = 0;
	char from[32], to[32], pool[ESCAPED_MAX(256)];

	printf(json ? ",\"retention\":[" : "retention:%s\n",
	    any_schedule(cfg) ? "" : " no schedule (nothing is thinned)");
	for (i = 0; i < n; i++) {
		/* A file name made from a disk's label: escaped. */
		str_escape(pool, sizeof pool, pools[i]);
		nk = state_kept_read(cfg, pools[i], &k);
		for (j = 0; j < nk; j++, any++) {
			date_of(k[j].oldest, from, sizeof from);
			date_of(k[j].newest, to, sizeof to);
			if (!json) {
				printf("  %-16s %s: %lld snapshot(s), %s to %s, %llu "
				    "bytes\n", pool, k[j].dataset, k[j].kept,
				    from, to, k[j].bytes);
				continue;
			}
			printf("%s{\"pool\":", any ? "," : "");
			json_text(pool);
			printf(",\"dataset\":");
			json_text(k[j].dataset);
			printf(",\"kept\":%lld,\"oldest\":%lld,\"newest\":%lld,"
			    "\"bytes\":%llu}", k[j].kept, k[j].oldest, k[j].newest,
			    k[j].bytes);
		}
		free(k);
		free(pools[i]);
	}
	if (json)
		printf("]");
	free(pools);
	free(dir);
}
