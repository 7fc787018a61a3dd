/*
 * "airgap-agent verify FILE...": a queue file read through gpg, zstd
 * and the stream walker exactly as an ingest reads it, nothing
 * received; says whether it would be accepted.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airgap-agent.h"

static enum pipe_action
verify_head(void *arg, const struct zstream_head *h)
{
	(void)arg;
	(void)h;
	return PIPE_SCAN;
}

/* What the stream says about itself is escaped on its way to the
 * terminal. */
static void
verify_print(const char *path, int rc, const struct pipe_result *r)
{
	char p[ESCAPED_MAX(4096)], name[ESCAPED_MAX(257)];
	char why[ESCAPED_MAX(320)];

	str_escape(p, sizeof p, path);
	str_escape(why, sizeof why, r->reason);
	if (rc == 0)
		printf("%s: ok: %s (guid %" PRIu64 ", base %" PRIu64 "), %" PRIu64
		    " stream bytes, %s\n", p, str_escape(name, sizeof name,
		    r->head.outer.toname), r->final_guid, zstream_base(&r->head),
		    r->bytes, why);
	else
		printf("%s: %s: %s\n", p, r->outcome == PIPE_REJECTED ?
		    "rejected" : "failed", why);
}

/* Reads a queue file through gpg and zstd without receiving it, and
 * says whether it would be accepted.  The host, whose signature policy
 * applies, is the name of the folder the file is in. */
int
verify_file(const struct config *cfg, const char *path)
{
	char *dir = xstrdup(path), *top, *slash;
	struct queue_file f = { 0 };
	struct pipe_job job = { .cfg = cfg, .path = path, .fd = -1, .dataset = "",
		.on_head = verify_head };
	struct pipe_result r;
	int rc = -1;

	/* PATH is TOP/HOST/NAME, as in the incoming folder. */
	slash = strrchr(dir, '/');
	f.name = (char *)(slash ? path + (slash - dir) + 1 : path);
	if (slash != NULL)
		*slash = '\0';
	else {
		free(dir);
		dir = xstrdup(".");
	}
	slash = strrchr(dir, '/');
	f.host = slash ? slash + 1 : dir;
	top = slash ? dir : ".";
	if (slash != NULL)
		*slash = '\0';
	f.path = (char *)path;
	f.root = top[0] ? top : "/";
	if ((job.host = config_host(cfg, f.host)) == NULL)
		log_warnx("verify: %s: folder %s is not a configured host", path,
		    f.host);
	else if ((job.fd = queue_open(&f)) != -1) {
		rc = pipeline_run(&job, &r);
		close(job.fd);
		verify_print(path, rc, &r);
	}
	free(dir);
	return rc;
}
