/*
 * Receipts: after a run that changed a backup disk, each host with an
 * NNCP node gets one signed text saying what every backup disk holds
 * of its datasets and which of its files still wait, are held or were
 * quarantined.  The laptop uses it to reap the snapshots every disk
 * has gone past, and to mend a chain a lost stick broke.
 *
 * A disk is only here while it is plugged in, so what it holds is
 * noted in STATE/heads/GUID while its pool is imported
 * (receipt_note_disk), and the receipt is made from those notes.
 *
 * The format (docs/sender.md), one record a line, fields split by a
 * tab, every field escaped (str_escape) so that no name can forge a
 * field or a line:
 *
 *   airgap-receipt 2
 *   host      HOST
 *   made      SECONDS
 *   rotation  POOL...            (none: "rotation" alone)
 *   disk      POOL POOLGUID LAST_SEEN
 *   head      POOLGUID DATASET SNAPSHOT GUID SINCE
 *   waiting   NAME DATASET QUEUED ARRIVED REASON
 *   quarantined NAME SINCE REASON
 *   end
 *
 * DATASET is the laptop's own dataset name (the queue name's, after
 * HOST); SECONDS are Unix times.  A disk is its pool's guid (a disk made
 * anew under an old name is another disk); its disk line gives its
 * name.  It is clear-signed with backupsvr's key through gpgme and
 * queued with nncp-exec to the host's node (handle RECEIPT_HANDLE)
 * before "nncp-xfer -tx", so the stick that brought the files takes it
 * back.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "airgap-agent.h"

#define RECEIPT_FIELD 1024

/* One field of a record: tab, then the escaped text. */
static void
field(struct buf *b, const char *s)
{
	char e[ESCAPED_MAX(RECEIPT_FIELD)];

	buf_printf(b, "\t%s", str_escape(e, sizeof e, s));
}

/* The SINCE that PREV (the last heads record) gives DS@GUID, or NOW
 * when that snapshot was not the newest there before. */
static long long
head_since(const char *prev, const char *ds, const char *guid, long long now)
{
	char *copy = xstrdup(prev ? prev : ""), *line, *save = NULL;
	long long since = now;

	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char d[512], s[256], g[32];
		long long t;

		if (sscanf(line, "%511[^\t]\t%255[^\t]\t%31[^\t]\t%lld", d, s, g,
		    &t) == 4 && strcmp(d, ds) == 0 && strcmp(g, guid) == 0) {
			since = t;
			break;
		}
	}
	free(copy);
	return since;
}

/* "POOL/STORE/PATH@SNAP TAB GUID": PATH, SNAP and GUID, or -1. */
static int
split_snapshot(char *line, const char *prefix, char **path, char **snap,
    char **guid)
{
	size_t n = strlen(prefix);
	char *at, *tab;

	if (strncmp(line, prefix, n) != 0 || line[n] != '/' ||
	    (tab = strchr(line, '\t')) == NULL)
		return -1;
	*tab = '\0';
	if ((at = strchr(line, '@')) == NULL || strpbrk(line, "\t\n") != NULL)
		return -1;
	*at = '\0';
	*path = line + n + 1;
	*snap = at + 1;
	*guid = tab + 1;
	return strspn(*guid, "0123456789") == strlen(*guid) && **guid ? 0 : -1;
}

/* What the disk POOL holds now: its newest snapshot of every dataset
 * under STORE, and since when it was the newest, into STATE/heads.
 * Called while the pool is imported, after the ingest. */
void
receipt_note_disk(const struct config *cfg, const char *pool,
    const char *pool_guid)
{
	char *root = xasprintf("%s/%s", pool, cfg->store), *line, *save = NULL;
	char last[512] = "", lsnap[256] = "", lguid[32] = "";
	struct buf out = { 0 }, prev = { 0 }, rec = { 0 };
	long long now = (long long)time(NULL);

	if (zfs_snapshot_guids(cfg, root, &out) == -1) {
		log_warnx("receipt: cannot list the snapshots under %s", root);
		goto done;
	}
	state_heads_read(cfg, pool_guid, &prev);
	/* Each dataset's snapshots come oldest first: its last line is
	 * its newest. */
	for (line = out.data ? strtok_r(out.data, "\n", &save) : NULL;; line =
	    strtok_r(NULL, "\n", &save)) {
		char *path = NULL, *snap = NULL, *guid = NULL;
		int ok = line != NULL &&
		    split_snapshot(line, root, &path, &snap, &guid) == 0;

		if (last[0] != '\0' && (!ok || strcmp(path, last) != 0)) {
			buf_printf(&rec, "%s\t%s\t%s\t%lld\n", last, lsnap, lguid,
			    head_since(prev.data, last, lguid, now));
			last[0] = '\0';
		}
		if (line == NULL)
			break;
		if (!ok)
			continue;
		snprintf(last, sizeof last, "%s", path);
		snprintf(lsnap, sizeof lsnap, "%s", snap);
		snprintf(lguid, sizeof lguid, "%s", guid);
	}
	if (state_heads_write(cfg, pool_guid, &rec) == -1)
		log_warnx("receipt: cannot record what %s holds", pool);
done:
	buf_free(&out);
	buf_free(&prev);
	buf_free(&rec);
	free(root);
}

/* The head lines of HOST for one disk. */
static void
receipt_heads(const struct config *cfg, const struct state_disk *d,
    const char *host, struct buf *b)
{
	struct buf rec = { 0 };
	char *line, *save = NULL;
	size_t hl = strlen(host);

	if (state_heads_read(cfg, d->guid, &rec) == -1)
		return;
	for (line = rec.data ? strtok_r(rec.data, "\n", &save) : NULL;
	    line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char ds[512], snap[256], guid[32];
		long long since;

		if (sscanf(line, "%511[^\t]\t%255[^\t]\t%31[^\t]\t%lld", ds, snap,
		    guid, &since) != 4 || strncmp(ds, host, hl) != 0 ||
		    ds[hl] != '/')
			continue;
		buf_printf(b, "head\t%s", d->guid);
		field(b, ds + hl + 1);
		field(b, snap);
		buf_printf(b, "\t%s\t%lld\n", guid, since);
	}
	buf_free(&rec);
}

/* Which pools of the rotation lack the file, or why it waits. */
static void
waiting_reason(const struct config *cfg, const struct ledger *l,
    const char *key, char *why, size_t len)
{
	size_t i, n = 0;

	why[0] = '\0';
	for (i = 0; cfg->rotation != NULL && cfg->rotation[i] != NULL; i++)
		if (!ledger_has(l, key, cfg->rotation[i]))
			n += (size_t)snprintf(why + n, len - n, "%s%s",
			    n ? " " : "not on ", cfg->rotation[i]);
	if (n == 0)
		snprintf(why, len, "waiting for a backup disk");
}

/* The host's files still in the queue. */
static void
receipt_waiting(const struct config *cfg, const char *host, struct buf *b)
{
	struct queue q;
	struct ledger l;
	size_t i;

	memset(&q, 0, sizeof q);
	if (queue_scan(cfg->incoming, &q) == -1 || queue_scan_exec(cfg, &q) == -1)
		log_warnx("receipt: cannot read the whole queue");
	ledger_load(cfg->state_dir, &l);
	for (i = 0; i < q.nfiles; i++) {
		const struct queue_file *f = &q.files[i];
		const char *ds = strchr(f->qn.dest, '/');
		char why[256];
		struct stat st;

		if (f->reject != NULL || strcmp(f->qn.host, host) != 0 ||
		    ds == NULL)
			continue;
		waiting_reason(cfg, &l, f->path, why, sizeof why);
		buf_printf(b, "waiting");
		field(b, f->name);
		field(b, ds + 1);
		buf_printf(b, "\t%lld\t%lld", (long long)f->qn.seconds,
		    stat(f->path, &st) == 0 ? (long long)st.st_mtime : 0LL);
		field(b, why);
		buf_printf(b, "\n");
	}
	ledger_free(&l);
	queue_free(&q);
}

/* The host's quarantined files, from STATE/quarantine/HOST/NAME.reason. */
static void
receipt_quarantined(const struct config *cfg, const char *host, struct buf *b)
{
	char *dir = xasprintf("%s/quarantine/%s", cfg->state_dir, host), **names;
	int i, n = dir_names(dir, &names);

	for (i = 0; i < n; i++) {
		size_t len = strlen(names[i]);
		char *path = xasprintf("%s/%s", dir, names[i]), why[512] = "";
		struct stat st;
		FILE *f;

		if (len > 7 && strcmp(names[i] + len - 7, ".reason") == 0 &&
		    stat(path, &st) == 0 && (f = fopen(path, "re")) != NULL) {
			if (fgets(why, sizeof why, f) != NULL)
				why[strcspn(why, "\n")] = '\0';
			fclose(f);
			names[i][len - 7] = '\0';
			buf_printf(b, "quarantined");
			field(b, names[i]);
			buf_printf(b, "\t%lld", (long long)st.st_mtime);
			field(b, why);
			buf_printf(b, "\n");
		}
		free(path);
		free(names[i]);
	}
	free(names);
	free(dir);
}

/* The receipt's text for HOST. */
static void
receipt_text(const struct config *cfg, const char *host, struct buf *b)
{
	struct state_disk *disks;
	int i, n = state_disks(cfg, &disks);
	size_t k;

	buf_printf(b, "airgap-receipt 2\nhost");
	field(b, host);
	buf_printf(b, "\nmade\t%lld\nrotation", (long long)time(NULL));
	for (k = 0; cfg->rotation != NULL && cfg->rotation[k] != NULL; k++)
		field(b, cfg->rotation[k]);
	buf_printf(b, "\n");
	for (i = 0; i < n; i++) {
		buf_printf(b, "disk");
		field(b, disks[i].pool);
		buf_printf(b, "\t%s\t%lld\n", disks[i].guid, disks[i].last_seen);
	}
	for (i = 0; i < n; i++)
		receipt_heads(cfg, &disks[i], host, b);
	receipt_waiting(cfg, host, b);
	receipt_quarantined(cfg, host, b);
	buf_printf(b, "end\n");
	free(disks);
}

/* "N head(s), N waiting, N quarantined": what status shows. */
static void
receipt_summary(const struct buf *b, char *out, size_t len)
{
	const char *p = b->data;
	int heads = 0, waiting = 0, quar = 0;

	for (; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p) {
		heads += strncmp(p, "head\t", 5) == 0;
		waiting += strncmp(p, "waiting\t", 8) == 0;
		quar += strncmp(p, "quarantined\t", 12) == 0;
	}
	snprintf(out, len, "%d head(s), %d waiting, %d quarantined", heads,
	    waiting, quar);
}

/* Signed TEXT in a memory file for nncp-exec's standard input. */
static int
signed_fd(const struct config *cfg, const struct buf *text, char *why,
    size_t len)
{
	struct buf sig = { 0 };
	int fd = -1;

	if (gpg_clearsign(cfg->gnupg_home, text->data, text->len, &sig, why,
	    len) == 0) {
		fd = memfd_create("airgap-receipt", MFD_CLOEXEC);
		if (fd == -1 || write_all(fd, sig.data, sig.len) == -1 ||
		    lseek(fd, 0, SEEK_SET) == -1) {
			snprintf(why, len, "cannot keep the signed receipt in memory");
			if (fd != -1)
				close(fd);
			fd = -1;
		}
	}
	buf_free(&sig);
	return fd;
}

static int
receipt_send(const struct config *cfg, const struct host_cfg *h)
{
	struct state_receipt r;
	struct buf text = { 0 };
	char why[256] = "";
	int fd, rc = -1;

	memset(&r, 0, sizeof r);
	snprintf(r.host, sizeof r.host, "%s", h->name);
	snprintf(r.node, sizeof r.node, "%s", h->nncp_node);
	r.time = (long long)time(NULL);
	receipt_text(cfg, h->name, &text);
	receipt_summary(&text, r.summary, sizeof r.summary);
	if ((fd = signed_fd(cfg, &text, why, sizeof why)) == -1)
		log_warnx("receipt: %s: cannot sign: %s", h->name, why);
	else if (nncp_exec(cfg, cfg->nncp_configs[0], h->nncp_node,
	    RECEIPT_HANDLE, fd) != 0)
		log_warnx("receipt: %s: nncp-exec to %s failed", h->name,
		    h->nncp_node);
	else
		rc = 0;
	if (fd != -1)
		close(fd);
	snprintf(r.result, sizeof r.result, "%s", rc == 0 ? "queued" : "failed");
	if (rc == 0)
		log_info("receipt: queued for %s (%s)", h->name, r.summary);
	state_receipt_write(cfg, &r);
	buf_free(&text);
	return rc;
}

/* One receipt for every host with an NNCP node; returns how many were
 * queued, *FAILED how many could not be. */
int
receipt_send_all(const struct config *cfg, int *failed)
{
	size_t i;
	int sent = 0;

	*failed = 0;
	if (cfg->nncp_configs == NULL || cfg->nncp_configs[0] == NULL)
		return 0;
	for (i = 0; i < cfg->nhosts; i++) {
		if (cfg->hosts[i].nncp_node == NULL)
			continue;
		if (receipt_send(cfg, &cfg->hosts[i]) == 0)
			sent++;
		else
			(*failed)++;
	}
	return sent;
}

/* "status": per host, when the last receipt was queued and what it
 * said. */
void
receipt_status(const struct config *cfg, int json)
{
	size_t i;
	int first = 1;

	printf(json ? ",\"receipts\":[" : "receipts:\n");
	for (i = 0; i < cfg->nhosts; i++) {
		struct state_receipt r;
		char when[64] = "never";
		time_t t;
		struct tm tm;

		if (cfg->hosts[i].nncp_node == NULL)
			continue;
		if (state_receipt_read(cfg, cfg->hosts[i].name, &r) == 0) {
			t = (time_t)r.time;
			gmtime_r(&t, &tm);
			strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
		} else
			snprintf(r.result, sizeof r.result, "none");
		if (json)
			printf("%s{\"host\":\"%s\",\"time\":%lld,\"result\":\"%s\","
			    "\"summary\":\"%s\"}", first ? "" : ",",
			    cfg->hosts[i].name, r.time, r.result, r.summary);
		else
			printf("  %s: %s %s%s%s\n", cfg->hosts[i].name, r.result,
			    when, r.summary[0] ? ": " : "", r.summary);
		first = 0;
	}
	if (json)
		printf("]");
}
