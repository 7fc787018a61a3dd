/* The whole byte path (gpg through gpgme, libzstd, the record walk, a
 * receiver process) against a stand-in receiver that, like zfs receive,
 * commits a snapshot at the first end record that closes one.  The
 * promise: for every input that gpg, zstd and the walk do not all vouch
 * for, the stand-in never commits anything.
 *
 * Inputs are made from real zfs send streams (full, incremental,
 * compound) with real gpg keys, the way the sender makes them (zstd -8,
 * gpg -e, signed or not): the genuine file, unsigned and stranger-signed
 * copies, streams with an end record copied early or after padding,
 * cut short, changed record types, flipped or cut ciphertext; for the
 * exec queue (no gpg), zstd streams with a broken frame after the end
 * and bare streams with bytes after it; and a compound file changed
 * between its verifying and its receiving pass.
 *
 * Run as "test_pipeline receive ... MARKER" it is the stand-in: it reads
 * its stdin as zfs receive does and appends a line to MARKER per commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airgap-agent.h"
#include "unit.h"
#include "standin.h"

#define REC ZSTREAM_RECORD
static const char *const streams[] = { "tests/fuzz/corpus/zstream/full",
	"tests/fuzz/corpus/zstream/incremental",
	"tests/fuzz/corpus/zstream/compound" };

static char top[PATH_MAX], self[PATH_MAX], home_b[PATH_MAX + 8],
    home_l[PATH_MAX + 8], home_o[PATH_MAX + 8];
static char fpr_b[64], fpr_l[64], fpr_o[64];
static int ncases;

/* The stand-in receiver: commits go to MARKER, one line each. */
static int
standin_main(const char *marker)
{
	struct standin s;
	unsigned char b[65536];
	ssize_t n;
	FILE *m;
	size_t seen = 0;

	memset(&s, 0, sizeof s);
	while ((n = read(0, b, sizeof b)) > 0) {
		int done = standin_feed(&s, b, (size_t)n);

		if ((m = fopen(marker, "a")) == NULL)
			return 2;
		for (; seen < s.ncommits; seen++)
			fprintf(m, "commit\n");
		fclose(m);
		if (done)
			break;
	}
	return s.broken || s.state != SI_EXITED ? 1 : 0;
}

static int
run(char *const *argv)
{
	struct child_opts o = { .argv = argv, .stdin_fd = CHILD_NULL,
	    .stdout_fd = CHILD_NULL, .timeout = 120 };
	struct buf out = { 0 };
	int status;

	if (child_run(&o, &out, &status) == -1 || !child_ok(status)) {
		fprintf(stderr, "failed: %s %s\n", argv[0], argv[1]);
		buf_free(&out);
		return -1;
	}
	buf_free(&out);
	return 0;
}

static void
keyring(char *home, const char *name, char *fpr)
{
	struct child_opts o = { .argv = (char *[]){ "/usr/bin/gpg", "--homedir",
		home, "--batch", "--with-colons", "--list-keys", NULL },
	    .stdin_fd = CHILD_NULL, .stdout_fd = CHILD_PIPE, .timeout = 60 };
	struct buf out = { 0 };
	char uid[64], *p;
	int status;

	mkdir(home, 0700);
	snprintf(uid, sizeof uid, "%s <%s@example.org>", name, name);
	run((char *[]){ "/usr/bin/gpg", "--homedir", home, "--batch", "--no-tty",
	    "--quiet", "--passphrase", "", "--quick-gen-key", uid,
	    "future-default", "default", "never", NULL });
	child_run(&o, &out, &status);
	buf_append(&out, "", 1);
	p = strstr(out.data, "\nfpr:::::::::");
	CHECK(p != NULL);
	if (p != NULL)
		snprintf(fpr, 64, "%.40s", p + 13);
	buf_free(&out);
}

static void
give_key(const char *from, const char *fpr, const char *to)
{
	char file[PATH_MAX + 16];

	snprintf(file, sizeof file, "%s/pub.gpg", top);
	unlink(file);
	run((char *[]){ "/usr/bin/gpg", "--homedir", (char *)from, "--batch", "-o", file,
	    "--export", (char *)fpr, NULL });
	run((char *[]){ "/usr/bin/gpg", "--homedir", (char *)to, "--batch", "--quiet",
	    "--import", file, NULL });
}

static void
write_file(const char *path, const void *b, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd != -1 && write_all(fd, b, n) == 0);
	close(fd);
}

static void
read_file(const char *path, struct buf *b)
{
	char chunk[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	memset(b, 0, sizeof *b);
	CHECK(fd != -1);
	while (fd != -1 && (n = read(fd, chunk, sizeof chunk)) > 0)
		buf_append(b, chunk, (size_t)n);
	if (fd != -1)
		close(fd);
}

/* PLAIN (a zfs stream) to OUT the way the sender makes a queue file:
 * zstd -8, then gpg to backupsvr signed by SIGNER's key (NULL: none). */
static void
seal(const struct buf *plain, const char *signer_home, const char *signer,
    const char *out)
{
	char raw[PATH_MAX + 8], zst[PATH_MAX + 8];
	char *argv[24];
	int n = 0;

	snprintf(raw, sizeof raw, "%s/raw", top);
	snprintf(zst, sizeof zst, "%s/raw.zst", top);
	write_file(raw, plain->data, plain->len);
	run((char *[]){ "/usr/bin/zstd", "-q", "-8", "-f", "-o", zst, raw, NULL });
	unlink(out);
	argv[n++] = "/usr/bin/gpg";
	argv[n++] = "--homedir";
	argv[n++] = (char *)(signer_home ? signer_home : home_l);
	argv[n++] = "--batch";
	argv[n++] = "--no-tty";
	argv[n++] = "--trust-model";
	argv[n++] = "always";
	argv[n++] = "--compress-algo";
	argv[n++] = "none";
	argv[n++] = "-e";
	argv[n++] = "-r";
	argv[n++] = fpr_b;
	if (signer != NULL) {
		argv[n++] = "-s";
		argv[n++] = "-u";
		argv[n++] = (char *)signer;
	}
	argv[n++] = "-o";
	argv[n++] = (char *)out;
	argv[n++] = zst;
	argv[n] = NULL;
	run(argv);
}

static enum pipe_action
head_receive(void *arg, const struct zstream_head *h)
{
	(void)arg;
	return h->compound ? PIPE_SCAN : PIPE_RECEIVE;
}

static enum pipe_action
head_compound_receive(void *arg, const struct zstream_head *h)
{
	(void)arg;
	(void)h;
	return PIPE_RECEIVE;
}

static size_t
commits(const char *marker)
{
	struct buf b;
	size_t i, n = 0;

	memset(&b, 0, sizeof b);
	if (access(marker, F_OK) == 0)
		read_file(marker, &b);
	for (i = 0; i < b.len; i++)
		n += b.data[i] == '\n';
	buf_free(&b);
	return n;
}

/* Runs FILE through the byte path as ingest does: a plain stream is
 * received in one pass, a compound one verified first and received in
 * a second pass (CHANGE, if set, is written over the file in between).
 * Returns the stand-in's commits. */
static size_t
ingest(const char *file, int authenticated, const struct buf *change,
    int *ok)
{
	static struct host_cfg host = { .name = "laptop", .require_signature = 1 };
	char *recv_args[] = { NULL }, *signers[] = { fpr_l, NULL };
	char marker[PATH_MAX + 8];
	struct config cfg;
	struct pipe_job job;
	struct pipe_result r;
	struct zwalk *v = zwalk_new(0, NULL), *w = NULL;
	int rc;

	memset(&cfg, 0, sizeof cfg);
	cfg.zfs = self;
	cfg.receive_args = recv_args;
	cfg.gnupg_home = home_b;
	cfg.timeout_stall = 60;
	cfg.timeout_command = 60;
	host.signers = signers;
	snprintf(marker, sizeof marker, "%s/commits", top);
	unlink(marker);
	memset(&job, 0, sizeof job);
	job.cfg = &cfg;
	job.host = &host;
	job.path = file;
	job.fd = open(file, O_RDONLY);
	job.authenticated = authenticated;
	job.dataset = marker;
	job.walk = v;
	job.on_head = head_receive;
	rc = pipeline_run(&job, &r);
	if (rc == 0 && zwalk_compound(v)) {
		if (change != NULL)
			write_file(file, change->data, change->len);
		job.walk = w = zwalk_new(0, v);
		job.on_head = head_compound_receive;
		rc = pipeline_run(&job, &r);
	}
	*ok = rc == 0;
	close(job.fd);
	zwalk_free(w);
	zwalk_free(v);
	ncases++;
	return commits(marker);
}

/* Hostile variants of the plaintext A, by number. */
static int
variant(const struct buf *a, int k, struct buf *x)
{
	size_t at = (size_t)unit_rand(a->len / REC) * REC, i;
	const char *end = a->data + a->len - REC;

	memset(x, 0, sizeof *x);
	switch (k) {
	case 0: /* padding and the end record again */
		buf_append(x, a->data, a->len);
		for (i = 0; i < 3 * 1024 * 1024 / 4096; i++)
			buf_append(x, (char[4096]){ 0 }, 4096);
		buf_append(x, end, REC);
		return 0;
	case 1: /* the end record copied to an earlier record boundary */
		buf_append(x, a->data, at);
		buf_append(x, end, REC);
		buf_append(x, a->data + at, a->len - at);
		return 0;
	case 2: /* cut short */
		buf_append(x, a->data, a->len - 1 - (size_t)unit_rand(a->len / 2));
		return 0;
	case 3: /* a record type changed */
		buf_append(x, a->data, a->len);
		x->data[at + REC] = (char)(unit_rand(11) + 1);
		return 0;
	default:
		return -1;
	}
}

/* FILE must be refused, with nothing committed. */
static void
none(const char *what, const char *name, const char *file, int authenticated,
    const struct buf *change)
{
	int ok;
	size_t got = ingest(file, authenticated, change, &ok);

	if (got != 0 || ok)
		fprintf(stderr, "%s (%s): %zu commits, pipeline %s\n", what, name,
		    got, ok ? "ok" : "refused");
	CHECK(got == 0 && !ok);
}

/* Flips or cuts the ciphertext in FILE. */
static void
damage(const char *file, int cut)
{
	struct buf b;

	read_file(file, &b);
	if (cut)
		b.len -= 1 + (size_t)unit_rand(b.len / 2);
	else
		b.data[unit_rand(b.len)] ^= (char)(unit_rand(255) + 1);
	write_file(file, b.data, b.len);
	buf_free(&b);
}

static void
test_stream(const char *path)
{
	char file[PATH_MAX + 8];
	struct buf a, x;
	size_t want, got;
	int ok, k, i;

	struct standin ref;
	const char *name = strrchr(path, '/') + 1;

	read_file(path, &a);
	memset(&ref, 0, sizeof ref);
	standin_feed(&ref, (unsigned char *)a.data, a.len);
	want = ref.ncommits;
	snprintf(file, sizeof file, "%s/queued", top);

	seal(&a, home_l, fpr_l, file); /* genuine: the stand-in can commit */
	got = ingest(file, 0, NULL, &ok);
	CHECK(ok && got == want && want > 0);
	seal(&a, NULL, NULL, file);
	none("unsigned", name, file, 0, NULL);
	seal(&a, home_o, fpr_o, file);
	none("stranger-signed", name, file, 0, NULL);
	for (k = 0; variant(&a, k, &x) == 0; k++) {
		seal(&x, NULL, NULL, file);
		none("variant, unsigned", name, file, 0, NULL);
		seal(&x, home_o, fpr_o, file);
		none("variant, stranger", name, file, 0, NULL);
		seal(&x, home_l, fpr_l, file);
		if (k == 0 || k == 2) { /* data after the end; cut short */
			none("variant, laptop", name, file, 0, NULL);
		} else {
			/* Signed by the laptop: if it is received at all,
			 * then as the stream it is, whole. */
			memset(&ref, 0, sizeof ref);
			standin_feed(&ref, (unsigned char *)x.data, x.len);
			got = ingest(file, 0, NULL, &ok);
			CHECK(ok ? got == ref.ncommits && ref.state == SI_EXITED :
			    got == 0);
		}
		buf_free(&x);
	}
	for (i = 0; i < 8; i++) {
		seal(&a, home_l, fpr_l, file);
		damage(file, i % 2);
		none("damaged ciphertext", name, file, 0, NULL);
	}
	buf_free(&a);
}

/* The exec queue: no gpg; zstd's checksum and the walk are all. */
static void
test_unencrypted(const char *path)
{
	char file[PATH_MAX + 8], raw[PATH_MAX + 8];
	struct buf a, x, z, pad = { 0 };
	size_t i;
	int ok;

	read_file(path, &a);
	snprintf(file, sizeof file, "%s/queued", top);
	snprintf(raw, sizeof raw, "%s/raw", top);
	write_file(file, a.data, a.len); /* bare, genuine */
	CHECK(ingest(file, 1, NULL, &ok) > 0 && ok);
	variant(&a, 0, &x); /* bare, bytes after the end */
	write_file(file, x.data, x.len);
	none("bare, padded", "exec", file, 1, NULL);
	/* zstd: the stream, then a second frame with padding and the end
	 * record again, its checksum broken. */
	write_file(raw, a.data, a.len);
	run((char *[]){ "/usr/bin/zstd", "-q", "-8", "-f", "-o", file, raw, NULL });
	read_file(file, &z);
	for (i = 0; i < 1024; i++)
		buf_append(&pad, (char[1024]){ 0 }, 1024);
	buf_append(&pad, a.data + a.len - REC, REC);
	write_file(raw, pad.data, pad.len);
	run((char *[]){ "/usr/bin/zstd", "-q", "-8", "-f", "-o", file, raw, NULL });
	buf_free(&pad);
	read_file(file, &pad);
	pad.data[pad.len - 2] ^= 0x55;
	buf_append(&z, pad.data, pad.len);
	write_file(file, z.data, z.len);
	none("zstd, broken frame after the end", "exec", file, 1, NULL);
	buf_free(&pad);
	buf_free(&z);
	buf_free(&x);
	buf_free(&a);
}

/* A compound file verified, then overwritten before the receiving
 * pass with another stream: nothing past the common bytes commits. */
static void
test_changed_between_passes(void)
{
	char file[PATH_MAX + 8];
	struct buf a, b, forged;

	read_file(streams[2], &a);
	memset(&b, 0, sizeof b);
	buf_append(&b, a.data, a.len);
	b.data[3 * REC + 500] ^= 1; /* inside the first substream */
	snprintf(file, sizeof file, "%s/queued", top);
	seal(&b, NULL, NULL, file);
	read_file(file, &forged);
	seal(&a, home_l, fpr_l, file);
	none("compound changed between passes", "compound", file, 0, &forged);
	buf_free(&forged);
	buf_free(&b);
	buf_free(&a);
}

int
main(int argc, char **argv)
{
	char tmpl[] = "/tmp/agp.XXXXXX";
	size_t i;

	if (argc >= 3 && strcmp(argv[1], "receive") == 0)
		return standin_main(argv[argc - 1]);
	log_init(-1, 0);
	CHECK(realpath("/proc/self/exe", self) != NULL);
	CHECK(mkdtemp(tmpl) != NULL);
	snprintf(top, sizeof top, "%s", tmpl);
	snprintf(home_b, sizeof home_b, "%s/b", top);
	snprintf(home_l, sizeof home_l, "%s/l", top);
	snprintf(home_o, sizeof home_o, "%s/o", top);
	keyring(home_b, "backupsvr", fpr_b);
	keyring(home_l, "laptop", fpr_l);
	keyring(home_o, "other", fpr_o);
	give_key(home_l, fpr_l, home_b);
	give_key(home_o, fpr_o, home_b);
	give_key(home_b, fpr_b, home_l);
	give_key(home_b, fpr_b, home_o);
	CHECK(gpg_init() == 0);
	for (i = 0; i < sizeof streams / sizeof *streams; i++)
		test_stream(streams[i]);
	test_unencrypted(streams[0]);
	test_unencrypted(streams[1]);
	test_changed_between_passes();
	printf("test_pipeline: %d files through the byte path\n", ncases);
	run((char *[]){ "/usr/bin/gpgconf", "--homedir", home_b, "--kill", "all", NULL });
	run((char *[]){ "/usr/bin/gpgconf", "--homedir", home_l, "--kill", "all", NULL });
	run((char *[]){ "/usr/bin/gpgconf", "--homedir", home_o, "--kill", "all", NULL });
	run((char *[]){ "/bin/rm", "-rf", top, NULL });
	return unit_done("test_pipeline");
}
