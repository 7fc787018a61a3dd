/*
 * The per-run report: STATE/reports/YYYYMMDDTHHMMSSZ-PID.txt, one line
 * per queue file: name, outcome, bytes, seconds, reason, separated by
 * tabs.  Names and reasons are untrusted, so they are escaped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "airgap-agent.h"

struct report {
	FILE *f;
	char *path;
};

struct report *
report_open(const char *state_dir)
{
	char *dir = xasprintf("%s/reports", state_dir), stamp[32];
	struct report *r = NULL;
	time_t t = time(NULL);
	struct tm tm;
	FILE *f;
	char *path;
	int n;

	if (mkdir_private(dir) == -1) {
		free(dir);
		return NULL;
	}
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	path = xasprintf("%s/%s-%ld.txt", dir, stamp, (long)getpid());
	/* A stick run serves several disks, maybe within one second. */
	for (n = 1; (f = fopen(path, "wxe")) == NULL && errno == EEXIST &&
	    n < 100; n++) {
		free(path);
		path = xasprintf("%s/%s-%ld.%d.txt", dir, stamp, (long)getpid(), n);
	}
	free(dir);
	if (f == NULL) {
		log_warn("report: create %s", path);
		free(path);
		return NULL;
	}
	r = xcalloc(1, sizeof *r);
	r->f = f;
	r->path = path;
	return r;
}

static void
put_clean(FILE *f, const char *s)
{
	char e[ESCAPED_MAX(1024)];

	fputs(str_escape(e, sizeof e, s), f);
}

void
report_add(struct report *r, const char *name, const char *outcome,
    uint64_t bytes, double seconds, const char *reason)
{
	if (r == NULL)
		return;
	put_clean(r->f, name);
	fprintf(r->f, "\t%s\t%llu\t%.3f\t", outcome, (unsigned long long)bytes,
	    seconds);
	put_clean(r->f, reason ? reason : "");
	fputc('\n', r->f);
}

int
report_close(struct report *r)
{
	int rc = 0;

	if (r == NULL)
		return 0;
	if (fflush(r->f) == EOF || fsync(fileno(r->f)) == -1) {
		log_warn("report: write %s", r->path);
		rc = -1;
	}
	fclose(r->f);
	free(r->path);
	free(r);
	return rc;
}
