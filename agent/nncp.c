/*
 * NNCP's tools, always run as the unprivileged NNCP user: argument
 * vectors and what their exit codes and output really mean.  NNCP's
 * exit codes do not tell the whole truth (a missing folder or a lock
 * held by another toss still gives 0), so callers check the result
 * themselves; nncp_pending counts what is left in the inbound spool.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airgap-agent.h"

#define NNCP_ARGV_MAX 16

static int
nncp_run_in(const struct config *cfg, const char *tool, const char *nncp_cfg,
    const char *const *args, struct buf *out, int in)
{
	char *argv[NNCP_ARGV_MAX], *bin = xasprintf("%s/%s", cfg->nncp_bin_dir, tool);
	struct child_opts o = { .argv = argv, .stdin_fd = in,
		.stdout_fd = CHILD_NULL, .timeout = cfg->timeout_nncp,
		.user = cfg->nncp_user };
	size_t n = 0;
	int status, rc;

	argv[n++] = bin;
	argv[n++] = "-cfg";
	argv[n++] = (char *)nncp_cfg;
	/* Progress lines carry ANSI escapes even into a pipe; nncp-stat
	 * has no such output and refuses the flag. */
	if (strcmp(tool, "nncp-stat") != 0)
		argv[n++] = "-noprogress";
	while (*args != NULL && n < NNCP_ARGV_MAX - 1)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	rc = child_run(&o, out, &status);
	if (rc == 0 && !child_ok(status)) {
		char s[64];

		log_warnx("nncp: %s -cfg %s %s", tool, nncp_cfg,
		    child_status_str(status, s, sizeof s));
		rc = 1;
	}
	free(bin);
	return rc;
}

static int
nncp_run(const struct config *cfg, const char *tool, const char *nncp_cfg,
    const char *const *args, struct buf *out)
{
	return nncp_run_in(cfg, tool, nncp_cfg, args, out, CHILD_NULL);
}

/* nncp-exec NODE HANDLE with IN as its input: queued in the spool for
 * the next "nncp-xfer -tx".  -nice B, like the laptops' packets. */
int
nncp_exec(const struct config *cfg, const char *nncp_cfg, const char *node,
    const char *handle, int in)
{
	return nncp_run_in(cfg, "nncp-exec", nncp_cfg,
	    (const char *const[]){ "-nice", "B", node, handle, NULL }, NULL, in);
}

/* nncp-xfer -rx DIR: imports this node's packets from the stick (and
 * deletes them there). */
int
nncp_xfer_rx(const struct config *cfg, const char *nncp_cfg, const char *dir)
{
	return nncp_run(cfg, "nncp-xfer", nncp_cfg,
	    (const char *const[]){ "-rx", dir, NULL }, NULL);
}

/* nncp-xfer -tx -mkdir DIR: moves outbound packets onto the stick. */
int
nncp_xfer_tx(const struct config *cfg, const char *nncp_cfg, const char *dir)
{
	return nncp_run(cfg, "nncp-xfer", nncp_cfg,
	    (const char *const[]){ "-tx", "-mkdir", dir, NULL }, NULL);
}

/* nncp-toss -seen: -seen so that packets read twice (a read-only
 * stick, two sticks) are not delivered twice. */
int
nncp_toss(const struct config *cfg, const char *nncp_cfg)
{
	return nncp_run(cfg, "nncp-toss", nncp_cfg,
	    (const char *const[]){ "-seen", NULL }, NULL);
}

/* Inbound packets still in the spool ("\trx PKT SIZE ..." lines of
 * nncp-stat -pkt), or -1. */
int
nncp_pending(const struct config *cfg, const char *nncp_cfg)
{
	struct buf out = { 0 };
	char *line, *save = NULL;
	int n = 0;

	if (nncp_run(cfg, "nncp-stat", nncp_cfg,
	    (const char *const[]){ "-pkt", NULL }, &out) != 0) {
		buf_free(&out);
		return -1;
	}
	for (line = out.data ? strtok_r(out.data, "\n", &save) : NULL;
	    line != NULL; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "\trx ", 4) == 0)
			n++;
	buf_free(&out);
	return n;
}
