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

struct kv {
	char key[32];
	char value[512];
};

/* Reads "key=value" lines; returns how many were read. */
static int
read_kv(const char *path, struct kv *kv, int max)
{
	FILE *f = fopen(path, "re");
	char line[600];
	int n = 0;

	if (f == NULL)
		return 0;
	while (n < max && fgets(line, sizeof line, f) != NULL) {
		char *eq = strchr(line, '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		eq[1 + strcspn(eq + 1, "\n")] = '\0';
		snprintf(kv[n].key, sizeof kv[n].key, "%.31s", line);
		snprintf(kv[n].value, sizeof kv[n].value, "%.511s", eq + 1);
		n++;
	}
	fclose(f);
	return n;
}

static const char *
kv_get(const struct kv *kv, int n, const char *key)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	return "";
}

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
	char *path = xasprintf("%s/indicator", cfg->state_dir), t[64];
	struct kv kv[4];
	int n = read_kv(path, kv, 4);

	when(atoll(kv_get(kv, n, "time")), t, sizeof t);
	if (json) {
		printf("\"light\":{\"state\":");
		json_str(n ? esc(kv_get(kv, n, "state")) : "unknown");
		printf(",\"since\":%lld,\"message\":", atoll(kv_get(kv, n, "time")));
		json_str(esc(kv_get(kv, n, "message")));
		printf("}");
	} else
		printf("light: %s since %s%s%s\n", n ? esc(kv_get(kv, n, "state")) :
		    "unknown", t, n ? ": " : "", esc(kv_get(kv, n, "message")));
	free(path);
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
	queue_free(&q);
}

static int
list_dir(const char *dir, char ***names)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	*names = NULL;
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		*names = xreallocarray(*names, (size_t)n + 1, sizeof **names);
		(*names)[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	return n;
}

static void
status_disks(const struct config *cfg, int json)
{
	char *dir = xasprintf("%s/disks", cfg->state_dir), **names;
	int i, n = list_dir(dir, &names), first = 1;

	printf(json ? ",\"disks\":[" : "backup disks:\n");
	for (i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", dir, names[i]), t[64];
		struct kv kv[10];
		int k = read_kv(path, kv, 10);

		if (k > 0 && json) {
			printf("%s{\"pool\":", first ? "" : ",");
			json_str(esc(kv_get(kv, k, "pool")));
			printf(",\"guid\":");
			json_str(esc(kv_get(kv, k, "guid")));
			printf(",\"last_seen\":%lld,\"result\":",
			    atoll(kv_get(kv, k, "last_seen")));
			json_str(esc(kv_get(kv, k, "result")));
			printf(",\"received\":%d,\"message\":",
			    atoi(kv_get(kv, k, "received")));
			json_str(esc(kv_get(kv, k, "message")));
			printf("}");
			first = 0;
		} else if (k > 0) {
			when(atoll(kv_get(kv, k, "last_seen")), t, sizeof t);
			printf("  %-16s last here %s: %s, %s\n",
			    esc(kv_get(kv, k, "pool")), t, esc(kv_get(kv, k, "result")),
			    esc(kv_get(kv, k, "message")));
		}
		free(path);
		free(names[i]);
	}
	if (n == 0 && !json)
		printf("  none seen yet\n");
	if (json)
		printf("]");
	free(names);
	free(dir);
}

/* STATE/drills/GUID: the last restore drill of each disk. */
static void
status_drills(const struct config *cfg, int json)
{
	char *dir = xasprintf("%s/drills", cfg->state_dir), **names;
	int i, n = list_dir(dir, &names), first = 1;

	printf(json ? ",\"drills\":[" : "restore drills:\n");
	for (i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", dir, names[i]), t[64];
		struct kv kv[12];
		int k = read_kv(path, kv, 12);

		if (k > 0 && json) {
			printf("%s{\"pool\":", first ? "" : ",");
			json_str(esc(kv_get(kv, k, "pool")));
			printf(",\"guid\":");
			json_str(esc(kv_get(kv, k, "guid")));
			printf(",\"time\":%lld,\"seconds\":%lld,\"result\":",
			    atoll(kv_get(kv, k, "time")), atoll(kv_get(kv, k, "seconds")));
			json_str(esc(kv_get(kv, k, "result")));
			printf(",\"datasets\":%d,\"failed\":%d,\"scrub\":%s,"
			    "\"message\":", atoi(kv_get(kv, k, "datasets")),
			    atoi(kv_get(kv, k, "failed")),
			    strcmp(kv_get(kv, k, "scrub"), "yes") == 0 ? "true" : "false");
			json_str(esc(kv_get(kv, k, "message")));
			printf("}");
			first = 0;
		} else if (k > 0) {
			when(atoll(kv_get(kv, k, "time")), t, sizeof t);
			printf("  %-16s %s: %s in %lld s: %s\n",
			    esc(kv_get(kv, k, "pool")), t, esc(kv_get(kv, k, "result")),
			    atoll(kv_get(kv, k, "seconds")), esc(kv_get(kv, k, "message")));
		}
		free(path);
		free(names[i]);
	}
	if (n == 0 && !json)
		printf("  none yet\n");
	if (json)
		printf("]");
	free(names);
	free(dir);
}

static void
status_quarantine(const struct config *cfg, int json)
{
	char *top = xasprintf("%s/quarantine", cfg->state_dir), **hosts;
	int h, nh = list_dir(top, &hosts), first = 1, total = 0;

	printf(json ? ",\"quarantine\":[" : "quarantine:\n");
	for (h = 0; h < nh; h++) {
		char *dir = xasprintf("%s/%s", top, hosts[h]), **names;
		int i, n = list_dir(dir, &names);

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
	if (total == 0 && !json)
		printf("  empty\n");
	if (json)
		printf("]");
	free(hosts);
	free(top);
}

static void
status_runs(const struct config *cfg, int json)
{
	char *path = xasprintf("%s/runs.log", cfg->state_dir);
	char lines[STATUS_RUNS][700], buf[700];
	FILE *f = fopen(path, "re");
	int n = 0, i;

	while (f != NULL && fgets(buf, sizeof buf, f) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		if (n == STATUS_RUNS)
			memmove(lines[0], lines[1], sizeof lines[0] * (STATUS_RUNS - 1));
		snprintf(lines[n == STATUS_RUNS ? n - 1 : n++], sizeof lines[0], "%s",
		    buf);
	}
	if (f != NULL)
		fclose(f);
	printf(json ? ",\"runs\":[" : "last runs:\n");
	for (i = 0; i < n; i++) {
		char *fld[6] = { NULL }, *p = lines[i], t[64];
		int k;

		for (k = 0; k < 6 && p != NULL; k++) {
			fld[k] = p;
			if ((p = strchr(p, '\t')) != NULL)
				*p++ = '\0';
		}
		if (k < 6)
			continue;
		when(atoll(fld[0]), t, sizeof t);
		if (json) {
			printf("%s{\"time\":%lld,\"device\":", i ? "," : "", atoll(fld[0]));
			json_str(esc(fld[1]));
			printf(",\"label\":");
			json_str(esc(fld[2]));
			printf(",\"role\":");
			json_str(esc(fld[3]));
			printf(",\"outcome\":");
			json_str(esc(fld[4]));
			printf(",\"message\":");
			json_str(esc(fld[5]));
			printf("}");
		} else
			printf("  %s  %-9s %-12s %-12s %s\n", t, esc(fld[3]),
			    esc(fld[2]), esc(fld[4]), esc(fld[5]));
	}
	if (n == 0 && !json)
		printf("  none yet\n");
	if (json)
		printf("]");
	free(path);
}

/* The newest last_seen among the records of POOL, 0 if never seen. */
static long long
last_seen(const struct config *cfg, const char *pool)
{
	char *dir = xasprintf("%s/disks", cfg->state_dir), **names;
	int i, n = list_dir(dir, &names);
	long long best = 0;

	for (i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", dir, names[i]);
		struct kv kv[10];
		int k = read_kv(path, kv, 10);

		if (k > 0 && strcmp(kv_get(kv, k, "pool"), pool) == 0 &&
		    atoll(kv_get(kv, k, "last_seen")) > best)
			best = atoll(kv_get(kv, k, "last_seen"));
		free(path);
		free(names[i]);
	}
	free(names);
	free(dir);
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
	status_quarantine(cfg, json);
	status_runs(cfg, json);
	if (json)
		printf("}\n");
	return 0;
}
