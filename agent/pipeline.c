/*
 * The byte path of one queue file:
 *
 *   file -> gpg (decrypt, verify) -> libzstd -> record walk -> zfs receive
 *
 * The head of the decompressed stream is collected until its begin
 * record can be read; the caller then decides whether to receive it,
 * only read it through (to verify it and learn its substreams), or
 * stop.  Every stream then goes through the record walk (zwalk.c),
 * which holds back the end record that would make zfs receive commit:
 * whether the file is genuine is known only when gpg and zstd have seen
 * all of it, and only then is the end record released.  On any doubt
 * the receiver is killed with the end record unsent, and the partial
 * receive vanishes.
 *
 * Two threads: the caller's runs gpg (through gpg.c) and hands the
 * plaintext over (relay.c); the other decompresses, walks, decides on
 * the head (the caller's on_head runs there, zfs queries included) and
 * writes to the receiver.  Everything after the hand-over happens on
 * that thread until relay_finish() has joined it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airgap-agent.h"

#define STAGE_SIZE (1024 * 1024)
#define HEAD_MAX (17u * 1024 * 1024)
#define RECV_PIPE_SIZE (1024 * 1024)
#define RELAY_SLOTS 6

enum pipe_state {
	ST_HEAD,    /* collecting the begin record(s) */
	ST_RECEIVE, /* feeding the receiver */
	ST_SCAN,    /* reading through, nothing received */
	ST_DRAIN,   /* the receiver is gone: reading through for the verdict */
	ST_DECLINED, /* on_head declined the file */
	ST_FAIL,
};

struct pipeline {
	const struct pipe_job *job;
	struct pipe_result *res;
	struct decompress *dz;
	struct zwalk *walk;    /* the job's, or our own */
	struct zwalk *own_walk;
	enum pipe_state state;
	struct buf head;
	unsigned char *stage; /* output waiting to go to the receiver */
	size_t fill;
	struct child *recv;
	int recv_fd;
	char recv_error[200]; /* why the receiver went (ST_DRAIN) */
	int plain; /* a zfs stream as it is: nothing to decompress */
	struct relay *relay;
};

static int
pipe_fail(struct pipeline *p, enum pipe_outcome o, const char *why)
{
	p->state = ST_FAIL;
	p->res->outcome = o;
	snprintf(p->res->reason, sizeof p->res->reason, "%s", why);
	return -1;
}

/* The receiver is gone before the agent was done with it.  It never
 * read the end record the walk holds back, so nothing of this file
 * committed; whether the receiver or the file is to blame is for the
 * file's verdict to say, so the rest is read through without a
 * receiver.  A forged file that makes zfs receive give up early is then
 * set aside like any other, not retried forever. */
static void
recv_gone(struct pipeline *p, const char *why)
{
	snprintf(p->recv_error, sizeof p->recv_error, "%s", why);
	log_warnx("%s: %s; reading the file through for its verdict",
	    p->job->path, why);
	child_kill(p->recv);
	p->state = ST_DRAIN;
	p->fill = 0;
}

/* The receiver stopped reading: say how it ended (its own words are
 * in the log, under its name).  A failure, whatever its exit status. */
static void
recv_died(struct pipeline *p)
{
	char why[200], s[64];
	int status;

	if (child_wait(p->recv, 10, &status) == -1)
		snprintf(why, sizeof why, "zfs receive stopped reading its stream");
	else
		snprintf(why, sizeof why, "zfs receive stopped reading its stream "
		    "before its end and %s", child_status_str(status, s, sizeof s));
	recv_gone(p, why);
}

/* Writes to the receiver, bounded by the stall timeout so that a
 * receiver stuck on a suspended pool cannot hang the agent. */
static void
recv_write(struct pipeline *p, const unsigned char *b, size_t n)
{
	while (n > 0 && p->state == ST_RECEIVE) {
		struct pollfd pf = { p->recv_fd, POLLOUT, 0 };
		ssize_t w;
		int r = poll(&pf, 1, p->job->cfg->timeout_stall * 1000);

		if (r == -1 && errno == EINTR)
			continue;
		if (r == 0) {
			zfs_mark_hung();
			recv_gone(p, "zfs receive made no progress (stall timeout)");
			return;
		}
		w = write(p->recv_fd, b, n);
		if (w == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w == -1) {
			recv_died(p);
			return;
		}
		b += w;
		n -= (size_t)w;
	}
}

/* What the walk lets through is gathered into megabyte writes. */
static int
stage_push(void *arg, const void *data, size_t n)
{
	struct pipeline *p = arg;
	const unsigned char *b = data;

	while (n > 0 && p->state == ST_RECEIVE) {
		size_t room = STAGE_SIZE - p->fill;
		size_t take = n < room ? n : room;

		memcpy(p->stage + p->fill, b, take);
		p->fill += take;
		b += take;
		n -= take;
		if (p->fill == STAGE_SIZE) {
			recv_write(p, p->stage, STAGE_SIZE);
			p->fill = 0;
		}
	}
	return 0;
}

static int
start_receiver(struct pipeline *p)
{
	p->recv = zfs_receive_start(p->job->cfg, p->job->dataset);
	if (p->recv == NULL)
		return pipe_fail(p, PIPE_FAILED, "cannot start zfs receive");
	p->recv_fd = child_stdin(p->recv);
	(void)fcntl(p->recv_fd, F_SETPIPE_SZ, RECV_PIPE_SIZE);
	(void)fcntl(p->recv_fd, F_SETFL, O_NONBLOCK);
	p->stage = xmalloc(STAGE_SIZE);
	log_info("receiving %s into %s", p->job->path, p->job->dataset);
	return 0;
}

/* A stream the walk refuses is the file's fault, and it is rejected;
 * but bytes that differ from the ones verified in an earlier pass mean
 * the file changed in between, and it is tried again another time. */
static int
walk_failed(struct pipeline *p)
{
	char why[200];

	if (p->state == ST_FAIL)
		return -1; /* the receiver failed: its reason is recorded */
	snprintf(why, sizeof why, "not a stream that may be received: %s",
	    zwalk_error(p->walk));
	if (zwalk_unproven(p->walk))
		return pipe_fail(p, PIPE_FAILED, zwalk_error(p->walk));
	return pipe_fail(p, PIPE_REJECTED, why);
}

static int
pipe_forward(struct pipeline *p, const unsigned char *b, size_t n)
{
	p->res->bytes += n;
	if (zwalk_feed(p->walk, b, n, p->state == ST_RECEIVE ? stage_push : NULL,
	    p) == -1)
		return walk_failed(p);
	return 0;
}

static int
pipe_decide(struct pipeline *p)
{
	switch (p->job->on_head(p->job->arg, &p->res->head)) {
	case PIPE_RECEIVE:
		if (start_receiver(p) == -1)
			return -1;
		p->state = ST_RECEIVE;
		break;
	case PIPE_SCAN:
		p->state = ST_SCAN;
		break;
	case PIPE_DECLINE:
		p->state = ST_DECLINED;
		p->res->outcome = PIPE_DECLINED;
		return -1;
	}
	return 0;
}

/* Collects output until the begin record(s) can be parsed, then lets
 * the caller decide, then forwards what was collected. */
static int
pipe_head(struct pipeline *p, const unsigned char *b, size_t n)
{
	const char *why = NULL;
	struct buf h;
	int r;

	buf_append(&p->head, b, n);
	r = zstream_parse_head((unsigned char *)p->head.data, p->head.len,
	    &p->res->head, &why);
	if (r == ZSTREAM_NEED_MORE && p->head.len < HEAD_MAX)
		return 0;
	if (r != 0)
		return pipe_fail(p, PIPE_REJECTED, why ? why :
		    "begin record too large");
	if (pipe_decide(p) == -1)
		return -1;
	h = p->head;
	memset(&p->head, 0, sizeof p->head);
	p->res->bytes = 0;
	r = pipe_forward(p, (unsigned char *)h.data, h.len);
	buf_free(&h);
	return r;
}

static int
pipe_out(void *arg, const void *b, size_t n)
{
	struct pipeline *p = arg;

	switch (p->state) {
	case ST_HEAD:
		return pipe_head(p, b, n);
	case ST_RECEIVE:
	case ST_SCAN:
	case ST_DRAIN:
		return pipe_forward(p, b, n);
	default:
		return -1;
	}
}

static int
pipe_in(void *arg, const void *b, size_t n)
{
	struct pipeline *p = arg;

	if (decompress_feed(p->dz, b, n) == -1) {
		if (p->state != ST_FAIL && p->state != ST_DECLINED) {
			char why[160];

			snprintf(why, sizeof why, "zstd: %s",
			    decompress_error(p->dz));
			pipe_fail(p, PIPE_REJECTED, why);
		}
		return -1;
	}
	return 0;
}

/* The gpg side: hand the bytes to the other thread. */
static int
pipe_push(void *arg, const void *b, size_t n)
{
	struct pipeline *p = arg;

	return relay_push(p->relay, b, n);
}

/* The whole file proved genuine: the held-back end record goes to the
 * receiver, which now commits. */
static int
finish_receive(struct pipeline *p)
{
	char s[64], why[160];
	int status;

	if (zwalk_release(p->walk, stage_push, p) == -1)
		return p->state == ST_FAIL ? -1 : walk_failed(p);
	recv_write(p, p->stage, p->fill);
	if (p->state == ST_DRAIN)
		return pipe_fail(p, PIPE_FAILED, p->recv_error);
	child_close_stdin(p->recv);
	if (child_wait(p->recv, p->job->cfg->timeout_stall, &status) == -1) {
		zfs_mark_hung();
		return pipe_fail(p, PIPE_FAILED, "zfs receive did not finish");
	}
	if (!child_ok(status)) {
		snprintf(why, sizeof why, "zfs receive %s",
		    child_status_str(status, s, sizeof s));
		return pipe_fail(p, PIPE_FAILED, why);
	}
	return 0;
}

static void
map_gpg(struct pipeline *p, const struct gpg_result *g)
{
	if (p->state == ST_FAIL || p->state == ST_DECLINED)
		return; /* the reason is already recorded */
	switch (g->verdict) {
	case GPG_CORRUPT:
	case GPG_UNSIGNED:
	case GPG_BAD_SIGNER:
	case GPG_WRONG_KEY:
		pipe_fail(p, PIPE_REJECTED, g->reason);
		break;
	default:
		pipe_fail(p, PIPE_FAILED, g->reason);
		break;
	}
}

static int
pipe_finish(struct pipeline *p, const struct gpg_result *g, int grc)
{
	char why[160];

	if (grc == -1) {
		map_gpg(p, g);
		return -1;
	}
	if (!p->plain && decompress_end(p->dz) == -1) {
		snprintf(why, sizeof why, "zstd: %s", decompress_error(p->dz));
		return pipe_fail(p, PIPE_REJECTED, why);
	}
	if (p->state == ST_HEAD)
		return pipe_fail(p, PIPE_REJECTED, "stream too short for a begin record");
	if (zwalk_end(p->walk) == -1)
		return walk_failed(p);
	p->res->final_guid = zwalk_final_guid(p->walk);
	p->res->genuine = 1;
	if (p->state == ST_DRAIN)
		return pipe_fail(p, PIPE_FAILED, p->recv_error);
	if (p->state == ST_RECEIVE && finish_receive(p) == -1)
		return -1;
	p->res->outcome = PIPE_DONE;
	snprintf(p->res->reason, sizeof p->res->reason, "%s", g->reason);
	return 0;
}

/* A stream that came through "enqueue" without gpg: NNCP authenticated
 * its sender, and zstd's checksum or the end records are what is left
 * to check. */
static int
read_unencrypted(struct pipeline *p, int fd, struct gpg_result *g)
{
	unsigned char *b = xmalloc(STAGE_SIZE);
	ssize_t n;
	int rc = 0;

	memset(g, 0, sizeof *g);
	while ((n = read(fd, b, STAGE_SIZE)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			g->verdict = GPG_LOCAL;
			snprintf(g->reason, sizeof g->reason, "read: %s",
			    strerror(errno));
			free(b);
			return -1;
		}
		if (pipe_push(p, b, (size_t)n) == -1) {
			rc = -1;
			break;
		}
	}
	free(b);
	g->verdict = rc == 0 ? GPG_OK : GPG_ABORTED;
	snprintf(g->reason, sizeof g->reason, "not encrypted; sender "
	    "authenticated by NNCP");
	return rc;
}

static int
sniff(struct pipeline *p, int fd, enum stream_format *f)
{
	unsigned char b[16];
	ssize_t n = pread(fd, b, sizeof b, 0);

	if (n < 0)
		return pipe_fail(p, PIPE_FAILED, strerror(errno));
	*f = zstream_sniff(b, (size_t)n);
	if (*f == FORMAT_UNKNOWN)
		return pipe_fail(p, PIPE_REJECTED, "neither OpenPGP, zstd nor a "
		    "zfs stream");
	return 0;
}

int
pipeline_run(const struct pipe_job *job, struct pipe_result *res)
{
	struct pipeline p = { 0 };
	struct gpg_result g;
	struct gpg_job gj;
	enum stream_format format;
	int grc, rc;

	memset(res, 0, sizeof *res);
	p.job = job;
	p.res = res;
	p.recv_fd = -1;
	p.state = ST_HEAD;
	/* The second pass over a compound stream reads the file again; a
	 * pipe (a chunked set's nncp-reass) is a new one for each pass. */
	if (lseek(job->fd, 0, SEEK_SET) == -1 && errno != ESPIPE)
		return pipe_fail(&p, PIPE_FAILED, strerror(errno));
	p.dz = decompress_new(pipe_out, &p);
	p.walk = job->walk;
	if (p.walk == NULL)
		p.walk = p.own_walk = zwalk_new(0, NULL);
	gj.home = job->cfg->gnupg_home;
	gj.fd = job->fd;
	gj.host = job->host;
	gj.stall = job->cfg->timeout_stall;
	gj.magic = decompress_magic(&gj.magic_len);
	gj.sink = pipe_push;
	gj.arg = &p;
	format = FORMAT_OPENPGP;
	if (job->authenticated && sniff(&p, job->fd, &format) == -1) {
		decompress_free(p.dz);
		zwalk_free(p.own_walk);
		return -1;
	}
	p.plain = format == FORMAT_ZFS;
	p.relay = relay_start(p.plain ? pipe_out : pipe_in, &p, RELAY_SLOTS,
	    STAGE_SIZE);
	if (format == FORMAT_OPENPGP)
		grc = gpg_decrypt(&gj, &g);
	else
		grc = read_unencrypted(&p, job->fd, &g);
	if (relay_finish(p.relay) == -1 && grc == 0)
		grc = -1; /* the reader stopped: its reason is recorded */
	rc = pipe_finish(&p, &g, grc);
	if (p.recv != NULL && rc == -1)
		child_kill(p.recv);
	child_free(p.recv);
	zwalk_free(p.own_walk);
	decompress_free(p.dz);
	buf_free(&p.head);
	free(p.stage);
	return rc;
}
