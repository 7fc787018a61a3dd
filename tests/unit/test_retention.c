/* The thinning schedule: its notation, and which snapshots each rule
 * keeps, against hand-worked cases and a plain re-statement of the
 * rule run on random histories. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airgap-agent.h"
#include "unit.h"

#define DAY 86400

static void
test_parse(void)
{
	const char *good[] = { "10,1d1w,1w1m,1m1y", "1d1w", "5", " 3 , 1h1d ",
		"15min1h", "1y10y", "1w", NULL };
	const char *bad[] = { "", ",", "1d", "d1w", "1x1w", "1w1d", "10,5",
		"1d1w,", "1d1w 1w1m", "0d1w", "1d0w", "-1", "99999999999d1w",
		"1dforever1", "forever", "1d1w;", "1m1min", NULL };
	struct retention_schedule s;
	const char *why;
	char text[64];
	int i;

	for (i = 0; good[i] != NULL; i++)
		if (strcmp(good[i], "1w") != 0)
			CHECK(retention_parse(good[i], &s, &why) == 0);
	CHECK(retention_parse("1w", &s, &why) == -1); /* a period alone */
	for (i = 0; bad[i] != NULL; i++) {
		why = NULL;
		CHECK(retention_parse(bad[i], &s, &why) == -1);
		CHECK(why != NULL);
	}
	CHECK(retention_parse("10,1d1w,1w1m,1m1y", &s, &why) == 0);
	CHECK(s.has_count && s.keep_newest == 10 && s.nrules == 3);
	CHECK(s.rules[0].period == DAY && s.rules[0].ttl == 7 * DAY);
	CHECK(s.rules[1].period == 7 * DAY && s.rules[1].ttl == 30 * DAY);
	CHECK(s.rules[2].period == 30 * DAY && s.rules[2].ttl == 31557600);
	CHECK(retention_parse("15min1h,1d1forever", &s, &why) == -1);
	CHECK(retention_parse("15min1h,1dforever", &s, &why) == 0);
	CHECK(s.rules[0].period == 900 && s.rules[0].ttl == 3600);
	CHECK(s.rules[1].ttl == INT64_MAX && !s.has_count);
	retention_rule_text(&s.rules[0], text, sizeof text);
	CHECK(strcmp(text, "15min1h") == 0);
	retention_rule_text(&s.rules[1], text, sizeof text);
	CHECK(strcmp(text, "1dforever") == 0);
	CHECK(retention_parse("1m1y", &s, &why) == 0);
	retention_rule_text(&s.rules[0], text, sizeof text);
	CHECK(strcmp(text, "1m1y") == 0);
}

/* Hourly snapshots for ten days, "3,1d1w": the newest three, and the
 * first snapshot of each of the last eight UTC days that lie within
 * the week (the oldest of the days reaching back past it is cut). */
static void
test_worked(void)
{
	struct retention_schedule s;
	int64_t t[240], now = 10 * DAY; /* midnight after the last hour */
	int keep[240], i, kept = 0;
	const char *why;

	for (i = 0; i < 240; i++)
		t[i] = i * 3600 + 1800; /* hh:30 of days 0..9 */
	CHECK(retention_parse("3,1d1w", &s, &why) == 0);
	retention_decide(&s, now, t, 240, keep);
	for (i = 0; i < 240; i++) {
		if (i >= 237)
			CHECK(keep[i] == RETENTION_NEWEST);
		else if (i >= 3 * 24 && i % 24 == 0)
			CHECK(keep[i] == 0); /* 00:30 of a day within the week */
		else
			CHECK(keep[i] == RETENTION_DROP);
		if (keep[i] != RETENTION_DROP)
			kept++;
	}
	/* days 3..9 start within the week (day 3 00:30 is 6d23.5h old) */
	CHECK(kept == 3 + 7);
	CHECK(keep[3 * 24] == 0 && keep[3 * 24 - 1] == RETENTION_DROP);
	CHECK(keep[2 * 24] == RETENTION_DROP);
}

/* The rule, said again plainly (zfs-autobackup's thinner): newest N;
 * for each rule the oldest snapshot of each bucket within its reach. */
static int
plain(const struct retention_schedule *s, int64_t now, const int64_t *t,
    size_t n, size_t i)
{
	size_t r, j;

	if (n - i <= s->keep_newest)
		return 1;
	for (r = 0; r < s->nrules; r++) {
		int64_t p = s->rules[r].period, b = t[i] / p;
		int first = 1;

		if (now - t[i] > s->rules[r].ttl)
			continue;
		for (j = 0; j < i; j++)
			if (t[j] / p == b && now - t[j] <= s->rules[r].ttl)
				first = 0;
		if (first)
			return 1;
	}
	return 0;
}

static void
test_random(void)
{
	const char *scheds[] = { "10,1d1w,1w1m,1m1y", "1h1d,1d1m", "2,1w1y",
		"1d1w", "0,1mforever", NULL };
	int64_t t[400], now;
	int keep[400], k;
	struct retention_schedule s;
	const char *why;
	size_t n, i;

	for (k = 0; k < 200; k++) {
		CHECK(retention_parse(scheds[k % 5], &s, &why) == 0);
		n = 1 + unit_rand(400);
		t[0] = 1600000000 + (int64_t)unit_rand(1000000);
		for (i = 1; i < n; i++)
			t[i] = t[i - 1] + (int64_t)unit_rand(5 * DAY);
		now = t[n - 1] + (int64_t)unit_rand(40 * DAY);
		retention_decide(&s, now, t, n, keep);
		for (i = 0; i < n; i++)
			CHECK((keep[i] != RETENTION_DROP) == plain(&s, now, t, n, i));
	}
}

int
main(void)
{
	log_init(0, 0);
	test_parse();
	test_worked();
	test_random();
	return unit_done("test_retention");
}
