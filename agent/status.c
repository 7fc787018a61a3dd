/*
 * "airgap-agent status": what the light cannot say.  Reads only the
 * state folder and the incoming queue, so it works while a run is
 * going on and never touches a medium.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airgap-agent.h"

#define STATUS_RUNS 10

/* What status shows comes from files and names that media, streams
 * and senders made: escaped, in a few rotating buffers so that one
 * printf can take several. */
static const char *
esc(const char *s)
{
	static char bufs[8][ESCAPED_MAX(700)];
	static unsigned next;
	char *b = bufs[next++ % 8];

	return str_escape(b, sizeof bufs[0], s);
}

static void json_str(const char *);

/* ,"KEY":"VALUE" (no comma before the first), VALUE escaped. */
static void
json_field(const char *key, const char *value, int first)
{
	printf("%s\"%s\":", first ? "" : ",", key);
	json_str(esc(value));
}

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void
when(long long t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0) {
		snprintf(out, len, "never");
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static void
status_light(const struct config *cfg, int json)
{
	struct state_light l;
	int known = state_light_read(cfg, &l) == 0;
	char t[64];

	when(l.time, t, sizeof t);
	if (json) {
		printf("\"light\":{\"state\":");
		json_str(known ? esc(l.state) : "unknown");
		printf(",\"since\":%lld,\"message\":", l.time);
		json_str(esc(l.message));
		printf("}");
	} else
		printf("light: %s since %s%s%s\n", known ? esc(l.state) : "unknown",
		    t, known ? ": " : "", esc(l.message));
}

/* NNCP chunked sets that are not complete yet, and pieces left alone:
 * "HOST/NAME: 3 of 8 chunks, since DATE". */
static void
status_chunk_line(const struct chunk_set *cs)
{
	char t[64];

	when(cs->since, t, sizeof t);
	printf("  %s/%s: ", esc(cs->host), esc(cs->name));
	if (cs->problem != NULL)
		printf("left alone: %s\n", cs->problem);
	else if (cs->want > 0)
		printf("%u of %u chunks, since %s\n", cs->have, cs->want, t);
	else
		printf("%u chunk(s), no meta yet, since %s\n", cs->have, t);
}

static void
status_chunks(const struct queue *q, int json)
{
	size_t i, n = 0;
	int first = 1;

	for (i = 0; i < q->nsets; i++)
		n += !q->sets[i].complete;
	if (json)
		printf(",\"chunked\":[");
	else if (n > 0)
		printf("chunked: %zu incomplete set(s) or piece(s) left alone\n", n);
	for (i = 0; i < q->nsets; i++) {
		const struct chunk_set *cs = &q->sets[i];

		if (cs->complete)
			continue;
		if (!json) {
			status_chunk_line(cs);
			continue;
		}
		printf("%s{\"host\":", first ? "" : ",");
		first = 0;
		json_str(esc(cs->host));
		printf(",\"name\":");
		json_str(esc(cs->name));
		printf(",\"have\":%u,\"want\":%u,\"since\":%lld,\"problem\":",
		    cs->have, cs->want, (long long)cs->since);
		if (cs->problem != NULL)
			json_str(cs->problem);
		else
			printf("null");
		printf("}");
	}
	if (json)
		printf("]");
}

static void
status_queue(const struct config *cfg, int json)
{
	struct queue q;
	size_t i, j;
	int first = 1;

	memset(&q, 0, sizeof q);
	if (queue_scan(cfg->incoming, &q) == -1 ||
	    queue_scan_exec(cfg, &q) == -1)
		queue_free(&q);
	queue_sort(&q);
	printf(json ? ",\"queue\":[" : "queue: %zu file(s)\n", q.nfiles);
	for (i = 0; i < q.nfiles; i++) {
		long long bytes = 0;
		int count = 0;

		for (j = 0; j < i && strcmp(q.files[j].host, q.files[i].host) != 0; j++)
			;
		if (j < i)
			continue; /* host already counted */
		for (j = i; j < q.nfiles; j++)
			if (strcmp(q.files[j].host, q.files[i].host) == 0) {
				bytes += q.files[j].size;
				count++;
			}
		if (json) {
			printf("%s{\"host\":", first ? "" : ",");
			json_str(esc(q.files[i].host));
			printf(",\"files\":%d,\"bytes\":%lld,\"oldest\":%lld}", count,
			    bytes, (long long)q.files[i].qn.seconds);
		} else {
			char t[64];

			when(q.files[i].qn.seconds, t, sizeof t);
			printf("  %-20s %d file(s), %lld bytes, oldest from %s\n",
			    esc(q.files[i].host), count, bytes, t);
		}
		first = 0;
	}
	if (json)
		printf("]");
	status_chunks(&q, json);
	queue_free(&q);
}

/* Closes a list: JSON's bracket, or for the text NONE where it had no
 * entries. */
static void
list_end(int json, int n, const char *none)
{
	if (n == 0 && !json)
		printf("  %s\n", none);
	if (json)
		printf("]");
}

static void
print_disk(const struct state_disk *d, int json, int first)
{
	char t[64];

	if (!json) {
		when(d->last_seen, t, sizeof t);
		printf("  %-16s last here %s: %s, %s\n", esc(d->pool), t,
		    esc(d->result), esc(d->message));
		return;
	}
	printf("%s{", first ? "" : ",");
	json_field("pool", d->pool, 1);
	json_field("guid", d->guid, 0);
	printf(",\"last_seen\":%lld", d->last_seen);
	json_field("result", d->result, 0);
	printf(",\"received\":%d", d->received);
	json_field("message", d->message, 0);
	printf("}");
}

static void
status_disks(const struct config *cfg, int json)
{
	struct state_disk *d;
	int i, n = state_disks(cfg, &d);

	printf(json ? ",\"disks\":[" : "backup disks:\n");
	for (i = 0; i < n; i++)
		print_disk(&d[i], json, i == 0);
	list_end(json, n, "none seen yet");
	free(d);
}

/* The last restore drill of each disk. */
static void
status_drills(const struct config *cfg, int json)
{
	struct state_drill *d;
	int i, n = state_drills(cfg, &d);

	printf(json ? ",\"drills\":[" : "restore drills:\n");
	for (i = 0; i < n; i++) {
		char t[64];

		if (json) {
			printf("%s{", i ? "," : "");
			json_field("pool", d[i].pool, 1);
			json_field("guid", d[i].guid, 0);
			printf(",\"time\":%lld,\"seconds\":%lld", d[i].time,
			    d[i].seconds);
			json_field("result", d[i].result, 0);
			printf(",\"datasets\":%d,\"failed\":%d,\"scrub\":%s,"
			    "\"message\":", d[i].datasets, d[i].failed,
			    d[i].scrub ? "true" : "false");
			json_str(esc(d[i].message));
			printf("}");
			continue;
		}
		when(d[i].time, t, sizeof t);
		printf("  %-16s %s: %s in %lld s: %s\n", esc(d[i].pool), t,
		    esc(d[i].result), d[i].seconds, esc(d[i].message));
	}
	list_end(json, n, "none yet");
	free(d);
}

static void
status_quarantine(const struct config *cfg, int json)
{
	char *top = xasprintf("%s/quarantine", cfg->state_dir), **hosts;
	int h, nh = dir_names(top, &hosts), first = 1, total = 0;

	printf(json ? ",\"quarantine\":[" : "quarantine:\n");
	for (h = 0; h < nh; h++) {
		char *dir = xasprintf("%s/%s", top, hosts[h]), **names;
		int i, n = dir_names(dir, &names);

		for (i = 0; i < n; i++) {
			size_t l = strlen(names[i]);

			if (l <= 7 || strcmp(names[i] + l - 7, ".reason") != 0) {
				char *rp = xasprintf("%s/%s.reason", dir, names[i]);
				char reason[512] = "";
				FILE *f = fopen(rp, "re");

				if (f != NULL && fgets(reason, sizeof reason, f) != NULL)
					reason[strcspn(reason, "\n")] = '\0';
				if (f != NULL)
					fclose(f);
				if (json) {
					printf("%s{\"host\":", first ? "" : ",");
					json_str(esc(hosts[h]));
					printf(",\"file\":");
					json_str(esc(names[i]));
					printf(",\"reason\":");
					json_str(esc(reason));
					printf("}");
				} else
					printf("  %s/%s: %s\n", esc(hosts[h]),
					    esc(names[i]), esc(reason));
				first = 0;
				total++;
				free(rp);
			}
			free(names[i]);
		}
		free(names);
		free(dir);
		free(hosts[h]);
	}
	list_end(json, total, "empty");
	free(hosts);
	free(top);
}

static void
status_runs(const struct config *cfg, int json)
{
	struct state_run *r = xcalloc(STATUS_RUNS, sizeof *r);
	int n = state_runs_last(cfg, r, STATUS_RUNS), i;

	printf(json ? ",\"runs\":[" : "last runs:\n");
	for (i = 0; i < n; i++) {
		char t[64];

		when(r[i].time, t, sizeof t);
		if (json) {
			printf("%s{\"time\":%lld,\"device\":", i ? "," : "",
			    r[i].time);
			json_str(esc(r[i].device));
			printf(",\"label\":");
			json_str(esc(r[i].label));
			printf(",\"role\":");
			json_str(esc(r[i].role));
			printf(",\"outcome\":");
			json_str(esc(r[i].outcome));
			printf(",\"message\":");
			json_str(esc(r[i].message));
			printf("}");
		} else
			printf("  %s  %-9s %-12s %-12s %s\n", t, esc(r[i].role),
			    esc(r[i].label), esc(r[i].outcome), esc(r[i].message));
	}
	list_end(json, n, "none yet");
	free(r);
}

/* The newest last_seen among the records of POOL, 0 if never seen. */
static long long
last_seen(const struct config *cfg, const char *pool)
{
	struct state_disk *d;
	int i, n = state_disks(cfg, &d);
	long long best = 0;

	for (i = 0; i < n; i++)
		if (strcmp(d[i].pool, pool) == 0 && d[i].last_seen > best)
			best = d[i].last_seen;
	free(d);
	return best;
}

static int
overdue(const struct config *cfg, long long seen)
{
	return (long long)time(NULL) - seen >
	    (long long)cfg->rotation_warn_days * 86400;
}

/* Is a rotation disk overdue (not seen for rotation_warn_days)?  The
 * first one found goes into WHICH. */
int
status_overdue(const struct config *cfg, char *which, size_t len)
{
	size_t i;

	for (i = 0; cfg->rotation[i] != NULL; i++)
		if (overdue(cfg, last_seen(cfg, cfg->rotation[i]))) {
			snprintf(which, len, "%s", cfg->rotation[i]);
			return 1;
		}
	return 0;
}

struct lack {
	int files;
	long long bytes;
	long long oldest;
};

static void
lacking(const struct queue *q, const struct ledger *l, const char *pool,
    struct lack *k)
{
	size_t i;

	memset(k, 0, sizeof *k);
	for (i = 0; i < q->nfiles; i++) {
		if (q->files[i].reject != NULL || ledger_has(l, q->files[i].path, pool))
			continue;
		if (k->files++ == 0 || q->files[i].qn.seconds < k->oldest)
			k->oldest = q->files[i].qn.seconds;
		k->bytes += q->files[i].size;
	}
}

static void
status_rotation(const struct config *cfg, int json)
{
	struct queue q;
	struct ledger l;
	size_t i;

	memset(&q, 0, sizeof q);
	if (queue_scan(cfg->incoming, &q) == -1 ||
	    queue_scan_exec(cfg, &q) == -1)
		queue_free(&q);
	if (ledger_load(cfg->state_dir, &l) == -1)
		memset(&l, 0, sizeof l);
	printf(json ? ",\"rotation\":[" : "rotation:%s\n",
	    cfg->rotation[0] ? "" : " none configured");
	for (i = 0; cfg->rotation[i] != NULL; i++) {
		long long seen = last_seen(cfg, cfg->rotation[i]);
		struct lack k;
		char t[64], o[64];

		lacking(&q, &l, cfg->rotation[i], &k);
		if (json) {
			printf("%s{\"pool\":", i ? "," : "");
			json_str(cfg->rotation[i]);
			printf(",\"last_seen\":%lld,\"lacks_files\":%d,\"lacks_bytes\":"
			    "%lld,\"oldest\":%lld,\"overdue\":%s}", seen, k.files,
			    k.bytes, k.oldest, overdue(cfg, seen) ? "true" : "false");
			continue;
		}
		when(seen, t, sizeof t);
		when(k.oldest, o, sizeof o);
		printf("  %-16s last here %s; lacks %d file(s), %lld bytes%s%s%s\n",
		    cfg->rotation[i], t, k.files, k.bytes, k.files ? ", oldest from " :
		    "", k.files ? o : "", overdue(cfg, seen) ?
		    "  WARNING: overdue, plug it in" : "");
	}
	if (json)
		printf("]");
	queue_free(&q);
	ledger_free(&l);
}

int
status_show(const struct config *cfg, int json)
{
	if (json)
		printf("{");
	status_light(cfg, json);
	status_queue(cfg, json);
	status_disks(cfg, json);
	status_rotation(cfg, json);
	status_drills(cfg, json);
	retention_status(cfg, json);
	status_quarantine(cfg, json);
	receipt_status(cfg, json);
	status_runs(cfg, json);
	if (json)
		printf("}\n");
	return 0;
}
