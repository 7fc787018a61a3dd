/*
 * "airgap-agent enqueue DEST": the handler for the articles' first
 * variant, where the laptop pipes its stream into
 * "nncp-exec backupsvr zfsreceive DEST".  NNCP runs it as the NNCP
 * user with an empty environment (NNCP_SENDER, NNCP_SELF, NNCP_NICE
 * only) and the stream on stdin.  It writes the stream into the exec
 * queue under the usual bakfsfmt2- name (a hidden temporary name,
 * fsync, rename), so both variants go through the same ingest.
 *
 * The exec queue is not an NNCP incoming folder, so nothing a sender
 * delivers with nncp-file can land in it: that is how the queue records
 * that NNCP authenticated the sender, and why plain and zstd-only
 * streams are accepted from it.  Any doubt exits non-zero, and NNCP
 * keeps the packet and runs the handler again later.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "airgap-agent.h"

#define ENQUEUE_CHUNK (1024 * 1024)

static int
enqueue_check(const struct config *cfg, const char *dest, char *host,
    size_t hostlen)
{
	const struct host_cfg *h;
	const char *sender = getenv("NNCP_SENDER"), *slash = strchr(dest, '/');

	if (slash == NULL || (size_t)(slash - dest) >= hostlen) {
		log_warnx("enqueue: %s: not HOST/dataset", dest);
		return -1;
	}
	memcpy(host, dest, (size_t)(slash - dest));
	host[slash - dest] = '\0';
	if ((h = config_host(cfg, host)) == NULL) {
		log_warnx("enqueue: %s: host %s is not configured", dest, host);
		return -1;
	}
	if (h->nncp_node == NULL) {
		log_warnx("enqueue: host %s has no nncp_node in the config", host);
		return -1;
	}
	if (sender == NULL || strcmp(sender, h->nncp_node) != 0) {
		log_warnx("enqueue: %s: sent by NNCP node %s, not by %s's node",
		    dest, sender ? sender : "(none)", host);
		return -1;
	}
	return 0;
}

static char *
enqueue_name(const char *host, const char *dest)
{
	struct timespec ts;
	struct queue_name q;
	const char *why;
	char *name, *c;

	clock_gettime(CLOCK_REALTIME, &ts);
	name = xasprintf("bakfsfmt2-%lld.%09ld.%ld_%s", (long long)ts.tv_sec,
	    ts.tv_nsec, (long)getpid(), dest);
	for (c = name; *c != '\0'; c++)
		if (*c == '/')
			*c = '@';
	/* ".nncp." marks NNCP's chunked pieces, which are never queue
	 * files (chunk.c): such a file would never be taken. */
	if (strstr(name, ".nncp.") != NULL)
		why = "\".nncp.\" in a dataset name";
	else if (queue_parse_name(host, name, &q, &why) == 0)
		why = NULL;
	if (why != NULL) {
		log_warnx("enqueue: %s: %s", dest, why);
		free(name);
		return NULL;
	}
	return name;
}

static int
make_dir(const char *dir)
{
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warn("enqueue: mkdir %s", dir);
		return -1;
	}
	return 0;
}

static ssize_t
read_stdin(unsigned char *b, size_t n)
{
	ssize_t r;

	do
		r = read(STDIN_FILENO, b, n);
	while (r == -1 && errno == EINTR);
	return r;
}

/* Copies stdin to FD; the first bytes must be a stream we know. */
static int
copy_stdin(int fd, const char *dest)
{
	unsigned char *b = xmalloc(ENQUEUE_CHUNK);
	size_t have = 0;
	ssize_t n = 1;
	int rc = -1;

	while (have < 16 && (n = read_stdin(b + have, 16 - have)) > 0)
		have += (size_t)n;
	if (n == -1) {
		log_warn("enqueue: %s: read stdin", dest);
		goto out;
	}
	if (zstream_sniff(b, have) == FORMAT_UNKNOWN) {
		log_warnx("enqueue: %s: stdin is neither OpenPGP, zstd nor a zfs "
		    "stream", dest);
		goto out;
	}
	do {
		if (write_all(fd, b, have) == -1) {
			log_warn("enqueue: %s: write", dest);
			goto out;
		}
		n = read_stdin(b, ENQUEUE_CHUNK);
		have = n > 0 ? (size_t)n : 0;
	} while (n > 0);
	if (n == -1)
		log_warn("enqueue: %s: read stdin", dest);
	else
		rc = 0;
out:
	free(b);
	return rc;
}

/* The file is in place; the folder must be synced for it to stay
 * there.  The exit status tells NNCP whether the stream was taken, so
 * it must be true: when the sync fails the file is taken back out
 * (NNCP keeps the packet and runs the handler again later); when even
 * that fails, the file stays and counts as taken, or a second run
 * would queue it twice. */
static int
settle(const char *dir, const char *final)
{
	if (fsync_dir(dir) == 0) {
		log_info("enqueue: queued %s", final);
		return 0;
	}
	if (unlink(final) == 0) {
		log_warnx("enqueue: %s taken back out; NNCP keeps the packet", final);
		fsync_dir(dir);
		return -1;
	}
	log_warn("enqueue: queued %s, but cannot sync its folder nor take it "
	    "back", final);
	return 0;
}

int
enqueue_run(const struct config *cfg, const char *dest)
{
	char host[64], *dir = NULL, *tmp = NULL, *final = NULL, *name = NULL;
	int fd = -1, rc = -1;

	if (enqueue_check(cfg, dest, host, sizeof host) == -1 ||
	    (name = enqueue_name(host, dest)) == NULL)
		return -1;
	dir = xasprintf("%s/%s", cfg->exec_queue, host);
	tmp = xasprintf("%s/.enqueue-XXXXXX", dir);
	final = xasprintf("%s/%s", dir, name);
	if (make_dir(cfg->exec_queue) == -1 || make_dir(dir) == -1)
		goto out;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		log_warn("enqueue: create %s", tmp);
		goto out;
	}
	if (copy_stdin(fd, dest) == -1)
		goto out;
	if (fsync(fd) == -1 || close(fd) == -1) {
		log_warn("enqueue: write %s", tmp);
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, final) == -1) {
		log_warn("enqueue: rename to %s", final);
		goto out;
	}
	rc = settle(dir, final);
out:
	if (fd != -1)
		close(fd);
	if (rc == -1 && tmp != NULL)
		unlink(tmp);
	free(dir);
	free(tmp);
	free(final);
	free(name);
	return rc;
}
