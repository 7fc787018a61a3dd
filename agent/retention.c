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
