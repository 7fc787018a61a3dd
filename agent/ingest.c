/*
 * The ingest loop: every queued file is checked against what the pool
 * already has, then received, left waiting for its base, or set aside.
 *
 * Decisions come from the stream's own begin record and the guids of
 * the destination's snapshots, never from the file name alone:
 *   - its snapshot is already there: a duplicate, it leaves the queue;
 *   - its base is the newest snapshot (or it is a full stream for a
 *     new dataset): receive it;
 *   - its base is not there yet: it waits, quietly;
 *   - its base is there but not the newest: diverged history, held for
 *     the operator (never rolled back).
 * A compound stream (zfs send -I) commits its inner snapshots as they
 * arrive, before gpg can vouch for the whole, so it is read and
 * verified once in full before it is received.
 *
 * The begin record is untrusted until the whole file is verified: a
 * file that would wait, be held, or leave as a duplicate is verified
 * once (and remembered, verified.c) before it counts as any of these;
 * a forgery ends in quarantine.  A stream that is received is verified
 * on the way, the receiver's commit held back until the end (zwalk.c).
 *
 * These decisions, zfs queries included, run on the pipeline's second
 * thread (on_head is called from there) while the caller's thread sits
 * in gpgme; the two never touch the same data at the same time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airgap-agent.h"

enum outcome {
	OUT_NONE,
	OUT_RECEIVED,
	OUT_DUPLICATE,
	OUT_KEPT,
	OUT_WAITING,
	OUT_HELD,
	OUT_FAILED,
	OUT_QUARANTINED,
};

static const char *const outcome_names[] = { "none", "received", "duplicate",
	"kept", "waiting", "held", "failed", "quarantined" };

enum mode {
	MODE_DECIDE,       /* first look: classify from the begin record */
	MODE_FIND_END,     /* read a compound stream through to learn its end */
	MODE_VERIFY_FIRST, /* read a compound stream through before receiving */
	MODE_JUDGE,        /* read a file through before it waits, is held or goes */
	MODE_RECEIVE       /* second pass over a verified compound stream */
};

struct file_state;

struct ingest {
	const struct config *cfg;
	const char *pool;
	struct queue *queue;
	int full; /* the pool reached min_free_mb: receive nothing more */
	int avail_known;
	uint64_t avail; /* free bytes when last asked */
	uint64_t since; /* stream bytes received since then */
	int rotating;    /* ingest.rotation is set and applies to this queue */
	struct ledger ledger;
	struct verified verified; /* files read through once already */
	struct zfs_cache known; /* datasets listed in this run */
	const struct file_state *st; /* per queue file, this run */
};

/* What happened to one queue file in this run. */
struct file_state {
	enum outcome out;
	char reason[1024];
	double seconds;
	uint64_t guid;     /* the last snapshot it carries, once known */
	char dataset[512]; /* where it went */
	int unconfirmed;   /* received; its snapshot not yet seen listed */
	int genuine;       /* it proved genuine (now or in an earlier run) */
};

/* What one look at one file decided. */
struct file_ctx {
	struct ingest *ing;
	const struct queue_file *f;
	enum mode mode;
	enum outcome out;  /* set when on_head stops the stream */
	enum outcome judged; /* MODE_JUDGE: the outcome once verified */
	char reason[1024];
	char dataset[512];
	struct zstream_head verified; /* from the verify pass */
	uint64_t verified_guid;
	struct zwalk *proof;          /* the verify pass's walk */
	struct stat st;               /* the file when it was opened */
	int fd;
	struct child *reass;          /* a chunked set's nncp-reass */
	struct pipe_job *job;
	size_t resume;                /* substreams the pool already has */
	int fresh;                    /* the receive creates the dataset */
	int genuine;                  /* it proved genuine */
	uint64_t first, base;         /* what its begin record says */
};

/* The file's outcome is decided: read no more of it. */
static enum pipe_action
verdict(struct file_ctx *c, enum outcome o, const char *fmt, ...)
    ATTR_PRINTF(3, 4);

static enum pipe_action
verdict(struct file_ctx *c, enum outcome o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof c->reason, fmt, ap);
	va_end(ap);
	c->out = o;
	return PIPE_DECLINE;
}

/* DEST without its HOST/ part: the dataset as the sender named it. */
static const char *
dest_dataset(const char *dest)
{
	const char *s = strchr(dest, '/');

	return s ? s + 1 : dest;
}

/* The stream's own dataset name must be the dataset in DEST, whole: a
 * stream of pool/home is not received into laptop/pool/fs, nor one of
 * pool/fs into laptop/other/fs.  NNCP may have appended ".N" to the
 * name on a clash; the stream tells whether that suffix belongs to the
 * dataset. */
static const char *
pick_dest(struct file_ctx *c, const struct zstream_head *h)
{
	const struct queue_name *q = &c->f->qn;
	char sent[257];

	if (zstream_dataset(h, sent, sizeof sent) == -1)
		return NULL;
	if (strcmp(dest_dataset(q->dest), sent) == 0)
		return q->dest;
	if (q->dest_alt[0] != '\0' && strcmp(dest_dataset(q->dest_alt), sent) == 0)
		return q->dest_alt;
	return NULL;
}

/* Does a file that stands for an ancestor dataset make others wait?
 * While this run has yet to look at it, or it waits itself; after that,
 * only if it is kept (failed, held) and proved genuine: a forgery that
 * fails must not keep a genuine child waiting forever. */
static int
blocks(const struct file_state *st)
{
	switch (st->out) {
	case OUT_NONE:
	case OUT_WAITING:
		return 1;
	case OUT_FAILED:
	case OUT_HELD:
		return st->genuine;
	default:
		return 0;
	}
}

/* Is a stream for an ancestor of DEST still queued?  Then its dataset
 * must be received first: creating it here as an empty parent would
 * stop its full stream from ever being received without -F. */
static int
ancestor_queued(const struct ingest *ing, const struct queue_file *self,
    const char *dest)
{
	size_t i, n;

	for (i = 0; i < ing->queue->nfiles; i++) {
		const struct queue_file *f = &ing->queue->files[i];
		const char *d = f->qn.dest_alt[0] ? f->qn.dest_alt : f->qn.dest;

		if (f == self || f->reject != NULL || !blocks(&ing->st[i]))
			continue;
		n = strlen(d);
		if (strncmp(dest, d, n) == 0 && dest[n] == '/')
			return 1;
	}
	return 0;
}


static enum pipe_action
decide_new(struct file_ctx *c, const struct zstream_head *h, const char *dest)
{
	if (zstream_base(h) != 0)
		return verdict(c, OUT_WAITING, "base snapshot %" PRIu64
		    " not received yet (no dataset)", zstream_base(h));
	if (ancestor_queued(c->ing, c->f, dest))
		return verdict(c, OUT_WAITING, "a parent dataset's stream is queued");
	if (zfs_create_parents(c->ing->cfg, c->dataset) == -1) {
		zfs_remove_placeholders(c->ing->cfg, c->dataset);
		return verdict(c, OUT_FAILED, "cannot create parent datasets");
	}
	c->fresh = 1;
	return h->compound ? PIPE_SCAN : PIPE_RECEIVE;
}

static enum pipe_action
decide_existing(struct file_ctx *c, const struct zstream_head *h,
    const struct zfs_dataset *d, const char *dest)
{
	uint64_t base = zstream_base(h), newest;

	if (zfs_dataset_has_guid(d, zstream_first_guid(h))) {
		if (!h->compound)
			return verdict(c, OUT_DUPLICATE, "snapshot already received");
		c->mode = MODE_FIND_END;
		return PIPE_SCAN;
	}
	if (d->nsnaps == 0 && zfs_placeholder_remove(c->ing->cfg,
	    c->dataset) == 0) {
		/* An empty parent made for another stream: it goes, and
		 * this stream makes the dataset itself. */
		zfs_cache_drop(&c->ing->known, c->dataset);
		return decide_new(c, h, dest);
	}
	if (d->nsnaps == 0)
		return verdict(c, OUT_HELD, "%s exists without snapshots; a stream "
		    "cannot be received into it without -F", c->dataset);
	newest = d->snaps[d->nsnaps - 1].guid;
	if (base == 0)
		return verdict(c, OUT_HELD, "full stream for %s, which already has "
		    "snapshots (re-created at the sender?)", c->dataset);
	if (base == newest)
		return h->compound ? PIPE_SCAN : PIPE_RECEIVE;
	if (zfs_dataset_has_guid(d, base))
		return verdict(c, OUT_HELD, "diverged: base %" PRIu64 " is not the "
		    "newest snapshot of %s (@%s); not rolling back", base,
		    c->dataset, d->snaps[d->nsnaps - 1].name);
	return verdict(c, OUT_WAITING, "base snapshot %" PRIu64 " not received yet",
	    base);
}

/* Stop before the pool fills: a full pool stalls zfs receive and
 * leaves no room for the next disk rotation.  zfs is asked at the first
 * file and again only once what was received since could have used a
 * quarter of the free space or reached min_free_mb: asking per file
 * would cost a process per file.  Returns 1 when the pool is nearly
 * full, 0 when not, -1 when zfs could not say (that file fails, and the
 * next one asks again). */
static int
pool_low(struct ingest *ing)
{
	uint64_t min = (uint64_t)ing->cfg->min_free_mb * 1024 * 1024;
	uint64_t left = ing->avail > ing->since ? ing->avail - ing->since : 0;

	if (ing->full)
		return 1;
	if (ing->avail_known && ing->since < ing->avail / 4 && left >= min &&
	    left - min > ing->avail / 4)
		return 0;
	if (zfs_available(ing->cfg, ing->pool, &ing->avail) == -1) {
		ing->avail_known = 0;
		return -1;
	}
	ing->avail_known = 1;
	ing->since = 0;
	if (ing->avail < min) {
		log_warnx("ingest: pool %s has %" PRIu64 " MiB free, less than "
		    "min_free_mb (%d): receiving nothing more", ing->pool,
		    ing->avail / 1024 / 1024, ing->cfg->min_free_mb);
		ing->full = 1;
	}
	return ing->full;
}

static int
same_begin(const struct zstream_begin *a, const struct zstream_begin *b)
{
	return a->toguid == b->toguid && a->fromguid == b->fromguid &&
	    strcmp(a->toname, b->toname) == 0;
}

static int
same_head(const struct zstream_head *a, const struct zstream_head *b)
{
	return a->compound == b->compound && a->swapped == b->swapped &&
	    same_begin(&a->outer, &b->outer) && same_begin(&a->first, &b->first);
}

/* The head says the file waits, is held or is a duplicate; that is
 * believed only of a file that proved genuine, so read it through once
 * first (unless that was done before). */
static enum pipe_action
judge(struct file_ctx *c)
{
	switch (c->out) {
	case OUT_WAITING:
	case OUT_HELD:
	case OUT_DUPLICATE:
		break;
	default:
		return PIPE_DECLINE;
	}
	if (verified_has(&c->ing->verified, c->f->path, &c->st, c->first,
	    c->base)) {
		c->genuine = 1;
		return PIPE_DECLINE;
	}
	log_info("%s: reading it through to verify it before it counts as %s",
	    c->f->path, outcome_names[c->out]);
	c->judged = c->out;
	c->out = OUT_NONE;
	c->mode = MODE_JUDGE;
	return PIPE_SCAN;
}

/* A, unless the pool has no room left (or zfs cannot say how much). */
static enum pipe_action
room_or_fail(struct file_ctx *c, enum pipe_action a)
{
	switch (pool_low(c->ing)) {
	case 0:
		return a;
	case 1:
		return verdict(c, OUT_FAILED, "pool nearly full (min_free_mb)");
	default:
		return verdict(c, OUT_FAILED, "cannot read the free space of %s",
		    c->ing->pool);
	}
}

static enum pipe_action
on_head(void *arg, const struct zstream_head *h)
{
	struct file_ctx *c = arg;
	const struct zfs_dataset *d;
	enum pipe_action a;
	const char *dest;

	if (c->mode == MODE_RECEIVE) {
		if (!same_head(h, &c->verified))
			return verdict(c, OUT_FAILED, "file changed between passes");
		if (c->resume > 0)
			return room_or_fail(c, PIPE_RECEIVE);
		return PIPE_RECEIVE;
	}
	c->first = zstream_first_guid(h);
	c->base = zstream_base(h);
	if ((dest = pick_dest(c, h)) == NULL)
		return verdict(c, OUT_QUARANTINED, "stream is for %s, which does not "
		    "match the destination in the name", h->outer.toname);
	snprintf(c->dataset, sizeof c->dataset, "%s/%s/%s", c->ing->pool,
	    c->ing->cfg->store, dest);
	if ((d = zfs_cache_get(&c->ing->known, c->ing->cfg, c->dataset)) == NULL)
		return verdict(c, OUT_FAILED, "cannot list %s", c->dataset);
	a = d->exists ? decide_existing(c, h, d, dest) : decide_new(c, h, dest);
	if (a == PIPE_DECLINE)
		return judge(c);
	if (c->mode != MODE_FIND_END)
		a = room_or_fail(c, a);
	if (a == PIPE_SCAN && c->mode == MODE_DECIDE)
		c->mode = MODE_VERIFY_FIRST;
	return a;
}

/* zfs receive committed the stream: the run's list of the dataset
 * takes its snapshot now, for the files after it.  Whether the pool
 * really has it is checked before the file leaves the queue
 * (confirm_received). */
static enum outcome
check_received(struct file_ctx *c, const struct pipe_result *r)
{
	const char *at = strchr(r->head.outer.toname, '@');

	if (r->head.compound)
		zfs_cache_drop(&c->ing->known, c->dataset); /* inner snapshots came too */
	else
		zfs_cache_add(&c->ing->known, c->dataset, at + 1, r->final_guid);
	return OUT_RECEIVED;
}

/* How many leading substreams of a compound stream the dataset has,
 * when they end at its newest snapshot and more follow on top of it: a
 * receive of this stream stopped between two snapshots.  0 otherwise. */
static size_t
resume_point(const struct zwalk *w, const struct zfs_dataset *d)
{
	const struct zwalk_sub *s;
	uint64_t newest;
	size_t n, i;

	s = zwalk_subs(w, &n);
	if (zwalk_end(w) == -1 || d->nsnaps == 0)
		return 0;
	newest = d->snaps[d->nsnaps - 1].guid;
	for (i = 0; i + 1 < n; i++) {
		if (!zfs_dataset_has_guid(d, s[i].toguid))
			return 0;
		if (s[i].toguid == newest)
			return s[i + 1].fromguid == newest ? i + 1 : 0;
	}
	return 0;
}

static enum outcome unchanged_or_failed(struct file_ctx *);

/* After reading through a compound stream whose first snapshot the
 * pool has: all of it there, the rest to be received, or a mix only
 * the operator can sort out. */
static enum outcome
after_check(struct file_ctx *c, const struct pipe_result *r)
{
	const struct zfs_dataset *d = zfs_cache_get(&c->ing->known, c->ing->cfg, c->dataset);
	size_t nsubs;

	if (d == NULL)
		return OUT_FAILED;
	if (zfs_dataset_has_guid(d, r->final_guid)) {
		snprintf(c->reason, sizeof c->reason, "snapshots already received");
		return OUT_DUPLICATE;
	}
	if ((c->resume = resume_point(c->proof, d)) == 0) {
		snprintf(c->reason, sizeof c->reason, "overlaps snapshots already "
		    "on %s but does not end at one; needs the operator",
		    c->dataset);
		return OUT_HELD;
	}
	zwalk_subs(c->proof, &nsubs);
	log_info("%s: %zu of its %zu snapshots are on %s already (an earlier "
	    "receive stopped): receiving the rest", c->f->path, c->resume,
	    nsubs, c->dataset);
	c->verified = r->head;
	c->verified_guid = r->final_guid;
	c->mode = MODE_RECEIVE;
	return unchanged_or_failed(c);
}

/* Between the verifying pass and the receiving one the file must not
 * change: anything written to it moves its mtime or ctime (for a
 * chunked set, those of its pieces). */
static int
unchanged(struct file_ctx *c)
{
	struct stat now;
	int rc = c->f->chunks > 0 ? chunk_stat(c->f, &now) : fstat(c->fd, &now);

	if (rc == 0 && now.st_ino == c->st.st_ino &&
	    now.st_size == c->st.st_size &&
	    now.st_mtim.tv_sec == c->st.st_mtim.tv_sec &&
	    now.st_mtim.tv_nsec == c->st.st_mtim.tv_nsec &&
	    now.st_ctim.tv_sec == c->st.st_ctim.tv_sec &&
	    now.st_ctim.tv_nsec == c->st.st_ctim.tv_nsec)
		return 1;
	snprintf(c->reason, sizeof c->reason, "file changed between passes");
	return 0;
}

static enum outcome
unchanged_or_failed(struct file_ctx *c)
{
	return unchanged(c) ? OUT_NONE : OUT_FAILED;
}

/* The pass that verified a compound stream keeps its walk: its digests
 * prove that the receiving pass reads the same bytes. */
static void
keep_proof(struct file_ctx *c)
{
	zwalk_free(c->proof);
	c->proof = c->job->walk;
	c->job->walk = NULL;
}

/* Maps one pass of the pipeline to an outcome, or to OUT_NONE when a
 * second pass is needed. */
static enum outcome
after_pass(struct file_ctx *c, const struct pipe_result *r)
{
	if (r->genuine) {
		/* Remembered, so that it is not read through again only to
		 * tell whether it may keep others waiting or be held. */
		c->genuine = 1;
		verified_add(&c->ing->verified, c->f->path, &c->st,
		    zstream_first_guid(&r->head), zstream_base(&r->head));
	}
	switch (r->outcome) {
	case PIPE_DECLINED:
		return c->out;
	case PIPE_REJECTED:
		if (c->mode == MODE_RECEIVE) {
			/* It proved genuine in the verifying pass. */
			snprintf(c->reason, sizeof c->reason, "file changed between "
			    "its verifying and receiving passes (%s)", r->reason);
			return OUT_FAILED;
		}
		snprintf(c->reason, sizeof c->reason, "%s", r->reason);
		return OUT_QUARANTINED;
	case PIPE_FAILED:
		snprintf(c->reason, sizeof c->reason, "%s", r->reason);
		return OUT_FAILED;
	case PIPE_DONE:
		break;
	}
	switch (c->mode) {
	case MODE_FIND_END:
		keep_proof(c);
		return after_check(c, r);
	case MODE_JUDGE:
		return c->judged;
	case MODE_VERIFY_FIRST:
		keep_proof(c);
		c->verified = r->head;
		c->verified_guid = r->final_guid;
		c->mode = MODE_RECEIVE;
		return unchanged_or_failed(c);
	default:
		if (c->resume > 0)
			snprintf(c->reason, sizeof c->reason, "resumed after the "
			    "%zu snapshots already received; %s", c->resume,
			    r->reason);
		else
			snprintf(c->reason, sizeof c->reason, "%s", r->reason);
		return check_received(c, r);
	}
}

/* A plain queue file is opened once, for every pass. */
static enum outcome
open_plain(struct file_ctx *c, struct pipe_job *job)
{
	if ((job->fd = queue_open(c->f)) == -1) {
		snprintf(c->reason, sizeof c->reason, "cannot open: %s",
		    strerror(errno));
		return errno == ENOENT ? OUT_NONE : OUT_FAILED;
	}
	if (!job->authenticated && queue_unencrypted(job->fd)) {
		snprintf(c->reason, sizeof c->reason, "not encrypted: plain and "
		    "zstd-only streams are taken only from the exec queue, for a "
		    "host with nncp_node set and require_signature = false");
		return OUT_QUARANTINED;
	}
	if (fstat(job->fd, &c->st) == -1) {
		snprintf(c->reason, sizeof c->reason, "cannot stat: %s",
		    strerror(errno));
		return OUT_FAILED;
	}
	return OUT_NONE;
}

/* An NNCP chunked set is read through nncp-reass (chunk.c), started
 * anew for every pass. */
static int
pass_begin(struct file_ctx *c, struct pipe_job *job)
{
	if (c->f->chunks == 0)
		return 0;
	c->reass = chunk_open(c->ing->cfg, c->f, &job->fd, c->reason,
	    sizeof c->reason);
	return c->reass == NULL ? -1 : 0;
}

static void
pass_end(struct file_ctx *c, struct pipe_job *job, struct pipe_result *r)
{
	if (c->f->chunks == 0)
		return;
	if (chunk_close(c->ing->cfg, c->reass, r->outcome == PIPE_DONE,
	    r->reason, sizeof r->reason) == -1)
		r->outcome = PIPE_FAILED;
	c->reass = NULL;
	job->fd = -1;
}

static enum outcome
ingest_file(struct ingest *ing, const struct queue_file *f, struct file_state *st)
{
	char *reason = st->reason;
	size_t len = sizeof st->reason;
	struct file_ctx c = { .ing = ing, .f = f, .mode = MODE_DECIDE };
	struct pipe_job job = { .cfg = ing->cfg, .path = f->path, .fd = -1,
		.authenticated = f->authenticated, .dataset = c.dataset,
		.on_head = on_head, .arg = &c };
	struct pipe_result r;
	enum outcome o = OUT_NONE;

	if ((job.host = config_host(ing->cfg, f->host)) == NULL) {
		snprintf(reason, len, "host %s is not configured", f->host);
		return OUT_QUARANTINED;
	}
	job.authenticated = f->authenticated && config_host_unsigned_ok(job.host);
	if (f->chunks > 0 && chunk_stat(f, &c.st) == -1) {
		snprintf(reason, len, "a piece of the chunked set is gone");
		return OUT_FAILED;
	}
	if (f->chunks == 0 && (o = open_plain(&c, &job)) != OUT_NONE) {
		snprintf(reason, len, "%s", c.reason);
		if (job.fd != -1)
			close(job.fd);
		return o;
	}
	if (f->chunks == 0 && job.fd == -1)
		return OUT_NONE; /* gone since the scan */
	c.fd = job.fd;
	c.job = &job;
	memset(&r, 0, sizeof r);
	while (o == OUT_NONE) {
		c.out = OUT_NONE;
		if (pass_begin(&c, &job) == -1) {
			o = OUT_FAILED;
			break;
		}
		job.walk = zwalk_new(c.mode == MODE_RECEIVE ? c.resume : 0,
		    c.mode == MODE_RECEIVE ? c.proof : NULL);
		pipeline_run(&job, &r);
		pass_end(&c, &job, &r);
		o = after_pass(&c, &r);
		zwalk_free(job.walk);
		job.walk = NULL;
	}
	zwalk_free(c.proof);
	if (job.fd != -1)
		close(job.fd);
	if (o == OUT_RECEIVED)
		ing->since += r.bytes;
	if (c.fresh && (o == OUT_FAILED || o == OUT_QUARANTINED)) {
		zfs_wait_absent(ing->cfg, c.dataset, 10);
		zfs_remove_placeholders(ing->cfg, c.dataset);
		zfs_cache_free(&ing->known);
	}
	if (o == OUT_FAILED || o == OUT_QUARANTINED)
		zfs_cache_drop(&ing->known, c.dataset);
	snprintf(reason, len, "%s", c.reason);
	st->guid = r.final_guid ? r.final_guid : zstream_first_guid(&r.head);
	if (r.head.compound && r.final_guid == 0)
		st->guid = 0; /* a compound duplicate needs its end to be known */
	snprintf(st->dataset, sizeof st->dataset, "%s", c.dataset);
	st->genuine = c.genuine;
	return o;
}

/* Acts on an outcome: the queue file leaves, moves aside, or stays. */
static enum outcome
settle(struct ingest *ing, const struct queue_file *f, struct file_state *st)
{
	enum outcome o = st->out;
	const char *reason = st->reason;

	switch (o) {
	case OUT_RECEIVED:
	case OUT_DUPLICATE:
		if (!ing->rotating || ledger_settle(&ing->ledger,
		    ing->cfg->rotation, ing->pool, f->path, st->guid, st->dataset,
		    st->reason, sizeof st->reason)) {
			if (queue_remove(f) == -1)
				return OUT_FAILED;
			verified_forget(&ing->verified, f->path);
		}
		log_info("%s: %s (%s)", f->path, outcome_names[o], reason);
		break;
	case OUT_KEPT:
		log_info("%s: %s", f->path, reason);
		break;
	case OUT_QUARANTINED:
		if (queue_quarantine(ing->cfg->state_dir, f, reason) == -1)
			return OUT_FAILED;
		verified_forget(&ing->verified, f->path);
		break;
	case OUT_WAITING:
		log_info("%s: waiting: %s", f->path, reason);
		break;
	case OUT_HELD:
	case OUT_FAILED:
		log_warnx("%s: %s: %s", f->path, outcome_names[o], reason);
		break;
	case OUT_NONE:
		break;
	}
	return o;
}

/* The ledger says this pool has the file: nothing to read.  If every
 * rotation pool has it (a run died before removing it), it leaves. */
static enum outcome
already_here(struct ingest *ing, const struct queue_file *f,
    struct file_state *st)
{
	const char *missing = NULL;

	if (ledger_complete(&ing->ledger, ing->cfg->rotation, f->path, &missing)) {
		snprintf(st->reason, sizeof st->reason, "every rotation pool has it");
		return OUT_DUPLICATE;
	}
	snprintf(st->reason, sizeof st->reason, "already on %s; kept for %s",
	    ing->pool, missing);
	return OUT_KEPT;
}

/* One pass over the files still open; returns whether anything was
 * received or set aside, since that may unblock a file that was
 * waiting (for a parent's stream, say, that proved forged). */
static int
ingest_pass(struct ingest *ing, struct file_state *st)
{
	size_t i;
	int progress = 0;

	for (i = 0; i < ing->queue->nfiles; i++) {
		const struct queue_file *f = &ing->queue->files[i];
		double t0 = now_seconds();
		enum outcome o;

		if (st[i].out != OUT_NONE && st[i].out != OUT_WAITING)
			continue;
		if (f->reject != NULL) {
			snprintf(st[i].reason, sizeof st[i].reason, "%s", f->reject);
			o = OUT_QUARANTINED;
		} else if (ing->rotating && ledger_has(&ing->ledger, f->path,
		    ing->pool)) {
			o = already_here(ing, f, &st[i]);
		} else if (ing->full) {
			snprintf(st[i].reason, sizeof st[i].reason,
			    "pool nearly full (min_free_mb)");
			o = OUT_FAILED;
		} else if (zfs_hung()) {
			snprintf(st[i].reason, sizeof st[i].reason,
			    "zfs hung (suspended pool?); not tried");
			o = OUT_FAILED;
		} else
			o = ingest_file(ing, f, &st[i]);
		st[i].out = o;
		if (o == OUT_RECEIVED)
			st[i].unconfirmed = 1;
		else
			st[i].out = settle(ing, f, &st[i]);
		st[i].seconds += now_seconds() - t0;
		if (st[i].out == OUT_RECEIVED || st[i].out == OUT_QUARANTINED)
			progress = 1;
	}
	return progress;
}

/* A received file leaves the queue only once the pool lists its last
 * snapshot with its guid: one listing per dataset after all files
 * rather than a zfs process per file.  A run killed before this leaves
 * the file queued, and the next run finds it a duplicate. */
static void
confirm_received(struct ingest *ing, struct file_state *st)
{
	size_t i, j;

	for (i = 0; i < ing->queue->nfiles; i++) {
		struct zfs_dataset d;

		if (!st[i].unconfirmed)
			continue;
		if (zfs_dataset_get(ing->cfg, st[i].dataset, &d) == -1)
			memset(&d, 0, sizeof d);
		for (j = i; j < ing->queue->nfiles; j++) {
			struct file_state *s = &st[j];

			if (!s->unconfirmed || strcmp(s->dataset, st[i].dataset) != 0)
				continue;
			s->unconfirmed = 0;
			if (!zfs_dataset_has_guid(&d, s->guid)) {
				snprintf(s->reason, sizeof s->reason, "snapshot %" PRIu64
				    " not on %s after receiving", s->guid, s->dataset);
				s->out = OUT_FAILED;
			}
			s->out = settle(ing, &ing->queue->files[j], s);
		}
		zfs_dataset_free(&d);
	}
}

static void
count(struct ingest_summary *sum, enum outcome o)
{
	switch (o) {
	case OUT_RECEIVED: sum->received++; break;
	case OUT_DUPLICATE: sum->duplicate++; break;
	case OUT_KEPT: sum->kept++; break;
	case OUT_WAITING: sum->waiting++; break;
	case OUT_HELD: sum->held++; break;
	case OUT_FAILED: sum->failed++; break;
	case OUT_QUARANTINED: sum->quarantined++; break;
	case OUT_NONE: break;
	}
}

static int
ingest_report(const struct ingest *ing, const struct file_state *st,
    struct ingest_summary *sum)
{
	struct report *r = report_open(ing->cfg->state_dir);
	int failed = 0;
	size_t i;

	for (i = 0; i < ing->queue->nfiles; i++) {
		const struct queue_file *f = &ing->queue->files[i];

		if (st[i].out == OUT_NONE)
			continue;
		report_add(r, f->path + strlen(f->root) + 1,
		    outcome_names[st[i].out], (uint64_t)f->size, st[i].seconds,
		    st[i].reason);
		count(sum, st[i].out);
		if (st[i].out >= OUT_HELD)
			failed = 1;
	}
	if (report_close(r) == -1 || r == NULL)
		failed = 1;
	return failed ? -1 : 0;
}

/* A disk with its own incoming folder (one NNCP installation per disk)
 * takes only that folder, and no rotation applies to it. */
static int
ingest_scan(struct ingest *ing, const char *own_incoming, struct queue *q)
{
	memset(q, 0, sizeof *q);
	if (own_incoming != NULL) {
		if (queue_scan(own_incoming, q) == -1)
			return -1;
	} else if (queue_scan(ing->cfg->incoming, q) == -1 ||
	    queue_scan_exec(ing->cfg, q) == -1) {
		queue_free(q);
		return -1;
	}
	queue_sort(q);
	ing->queue = q;
	ing->rotating = own_incoming == NULL && ing->cfg->rotation[0] != NULL;
	if (ing->rotating && ledger_load(ing->cfg->state_dir, &ing->ledger) == -1) {
		queue_free(q);
		return -1;
	}
	if (verified_load(ing->cfg->state_dir, &ing->verified) == -1) {
		ledger_free(&ing->ledger);
		queue_free(q);
		return -1;
	}
	if (ing->rotating)
		ledger_reconcile(&ing->ledger, q, ing->pool, &ing->known, ing->cfg);
	return 0;
}

int
ingest_run(const struct config *cfg, const char *pool, const char *own_incoming,
    struct ingest_summary *sum)
{
	struct ingest ing = { .cfg = cfg, .pool = pool };
	struct ingest_summary dummy;
	struct queue q;
	struct file_state *st;
	const char *why;
	int rc;

	if (queue_valid_dataset(pool, &why) == -1 || strchr(pool, '/') != NULL) {
		log_warnx("ingest: %s: not a pool name", pool);
		return -1;
	}
	if (!zfs_pool_exists(cfg, pool)) {
		log_warnx("ingest: pool %s is not imported", pool);
		return -1;
	}
	if (ingest_scan(&ing, own_incoming, &q) == -1)
		return -1;
	log_info("ingest: %zu queued file(s) for pool %s", q.nfiles, pool);
	st = xcalloc(q.nfiles, sizeof *st);
	ing.st = st;
	while (ingest_pass(&ing, st))
		;
	confirm_received(&ing, st);
	if (sum == NULL)
		sum = &dummy;
	memset(sum, 0, sizeof *sum);
	rc = ingest_report(&ing, st, sum);
	if (verified_save(&ing.verified, &q) == -1)
		rc = -1;
	free(st);
	queue_free(&q);
	ledger_free(&ing.ledger);
	verified_free(&ing.verified);
	zfs_cache_free(&ing.known);
	return rc;
}
