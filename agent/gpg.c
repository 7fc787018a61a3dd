/*
 * Decryption and signature checks: the only user of gpgme.
 *
 * gpgme runs gpg as a child, parses its status lines and judges the
 * result; the agent runs the event loop (gpgme's user I/O callbacks).
 * That lets the bulk bytes take a shorter road: gpgme 1.18 formats
 * every byte that passes its own read and write functions as a hex
 * dump for its trace, whether tracing is on or not, which cost about
 * half the agent's CPU.  So the ciphertext is spliced from the file
 * into gpg's stdin, and the plaintext read from gpg's stdout, by the
 * loop below in megabyte pieces, through pipes enlarged to a megabyte.
 * gpgme still handles the status pipe, and is called on each data
 * pipe once it reaches its end, so that it closes it and finishes the
 * operation as usual.  Should a data pipe not be recognised, gpgme's
 * own handler moves its bytes through the same data callbacks: slower,
 * never different.
 *
 * A verdict is known only when gpg has read the whole message: the
 * MDC, the signature and its signer all come at the end.
 *
 * A failure is the file's fault (it is then set aside) or backupsvr's
 * own (a key that wants a passphrase, a gpg-agent or smartcard that
 * fails, a signer's key that expired after it signed, a signer whose
 * public key was never imported): then the file stays queued and the
 * message says what to mend.  When nothing could be decrypted at all,
 * which of the two it is is settled by a test message that gpg must be
 * able to encrypt to backupsvr's own keys and decrypt again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gpgme.h>

#include "airgap-agent.h"

#define GPG_IO_BUFFER "1048576"
#define GPG_CHUNK (1024 * 1024)
#define GPG_MAX_FDS 8
#define GPG_MAGIC_MAX 16
#define GPG_COALESCE_NS 1000000
#define CANARY_KEYS 8
#define CANARY_TEXT "airgap-agent: can backupsvr's gpg decrypt?\n"

enum fd_kind {
	FD_UNKNOWN, /* inbound, not looked at yet */
	FD_GPGME,   /* gpgme's handler does the reading or writing */
	FD_PLAIN,   /* gpg's stdout: the loop reads the plaintext */
	FD_CIPHER,  /* gpg's stdin: the loop splices the ciphertext */
};

struct gpg_fd {
	int fd;
	int dir; /* 1: we read from gpg, 0: we write to it */
	gpgme_io_cb_t fnc;
	void *fnc_data;
	int active;
	enum fd_kind kind;
};

struct gpg_loop {
	struct gpg_fd fds[GPG_MAX_FDS];
	int done;
	gpgme_error_t err;
	gpgme_error_t op_err;
	int file_fd;     /* the ciphertext */
	int peek[2];     /* scratch pipe for tee(2) */
	unsigned char *buf;
	struct gpg_sink *sink;
	const void *magic; /* what the plaintext starts with */
	size_t magic_len;
	size_t last_read; /* bytes the last plaintext read returned */
	int input_done;   /* gpg had all of the file when it stalled */
};

struct gpg_sink {
	byte_sink fn;
	void *arg;
	int aborted;
	uint64_t bytes; /* plaintext handed over */
};

int
gpg_init(void)
{
	gpgme_error_t err;

	if (gpgme_check_version("1.13.0") == NULL) {
		log_warnx("gpg: gpgme 1.13 or later is needed");
		return -1;
	}
	err = gpgme_engine_check_version(GPGME_PROTOCOL_OpenPGP);
	if (err) {
		log_warnx("gpg: no usable gpg: %s", gpgme_strerror(err));
		return -1;
	}
	return 0;
}

/* The keyring folder is set once for the process, for every context:
 * gpgme runs "gpg --version" each time engine info is set, which per
 * context would be one more process per file. */
static gpgme_error_t
use_home(const char *home)
{
	static char *current;
	gpgme_error_t err;

	if (current != NULL && strcmp(current, home) == 0)
		return 0;
	err = gpgme_set_engine_info(GPGME_PROTOCOL_OpenPGP, NULL, home);
	if (err != 0)
		return err;
	free(current);
	current = xstrdup(home);
	return 0;
}

static gpgme_error_t
loop_add(void *data, int fd, int dir, gpgme_io_cb_t fnc, void *fnc_data,
    void **tag)
{
	struct gpg_loop *l = data;
	int i;

	for (i = 0; i < GPG_MAX_FDS; i++)
		if (!l->fds[i].active)
			break;
	if (i == GPG_MAX_FDS)
		return gpg_error(GPG_ERR_GENERAL);
	l->fds[i] = (struct gpg_fd){ fd, dir, fnc, fnc_data, 1,
		dir ? FD_UNKNOWN : FD_CIPHER };
	*tag = &l->fds[i];
	/* Room in the pipe lets gpg run ahead while the agent is busy
	 * decompressing; failure only costs speed. */
	(void)fcntl(fd, F_SETPIPE_SZ, GPG_CHUNK);
	return 0;
}

static void
loop_remove(void *tag)
{
	struct gpg_fd *f = tag;

	f->active = 0;
}

static void
loop_event(void *data, gpgme_event_io_t type, void *type_data)
{
	struct gpg_loop *l = data;

	if (type == GPGME_EVENT_DONE) {
		gpgme_io_event_done_data_t d = type_data;

		l->done = 1;
		l->err = d ? d->err : 0;
		l->op_err = d ? d->op_err : 0;
	}
}

/* Only one outbound pipe can be the ciphertext's; were there more,
 * gpgme moves them all. */
static void
loop_check_outbound(struct gpg_loop *l)
{
	int i, n = 0;

	for (i = 0; i < GPG_MAX_FDS; i++)
		if (l->fds[i].active && l->fds[i].kind == FD_CIPHER)
			n++;
	for (i = 0; n > 1 && i < GPG_MAX_FDS; i++)
		if (l->fds[i].kind == FD_CIPHER)
			l->fds[i].kind = FD_GPGME;
}

/* Tells gpg's stdout from its status and diagnostics pipes by peeking
 * at the first bytes without consuming them: the plaintext is known
 * by the magic number the caller expects it to start with (status
 * lines start with "[GNUPG:] ", diagnostics with "gpg: ").  A pipe
 * not recognised is simply left to gpgme. */
static void
loop_classify(struct gpg_loop *l, struct gpg_fd *f, int hup)
{
	unsigned char head[GPG_MAGIC_MAX];
	ssize_t n;
	int i;

	f->kind = FD_GPGME;
	if (l->magic_len == 0)
		return;
	for (i = 0; i < GPG_MAX_FDS; i++)
		if (l->fds[i].active && l->fds[i].kind == FD_PLAIN)
			return;
	n = tee(f->fd, l->peek[1], l->magic_len, SPLICE_F_NONBLOCK);
	if (n <= 0)
		return;
	if (read(l->peek[0], head, (size_t)n) != n)
		return;
	if (memcmp(head, l->magic, (size_t)n) != 0)
		return;
	if ((size_t)n == l->magic_len)
		f->kind = FD_PLAIN;
	else if (!hup) {
		/* The start of the magic, the rest not written yet: look
		 * again once there is more. */
		f->kind = FD_UNKNOWN;
		l->last_read = 1;
		return;
	}
	log_debug("gpg: fd %d is %s", f->fd, f->kind == FD_PLAIN ?
	    "the plaintext" : "left to gpgme");
}

static void
loop_plain(gpgme_ctx_t ctx, struct gpg_loop *l, struct gpg_fd *f)
{
	ssize_t n = read(f->fd, l->buf, GPG_CHUNK);

	l->last_read = n > 0 ? (size_t)n : 0;
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* gpgme reads the end (or the error) itself and closes. */
		f->kind = FD_GPGME;
		f->fnc(f->fnc_data, f->fd);
		return;
	}
	l->sink->bytes += (size_t)n;
	if (l->sink->fn(l->sink->arg, l->buf, (size_t)n) == -1) {
		l->sink->aborted = 1;
		gpgme_cancel(ctx);
	}
}

static void
loop_cipher(struct gpg_loop *l, struct gpg_fd *f)
{
	ssize_t n = splice(l->file_fd, NULL, f->fd, NULL, GPG_CHUNK,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* At the end, or where splice cannot work, gpgme's handler
		 * reads the rest through the ciphertext's data object, from
		 * the same file offset, and closes the pipe at its end. */
		f->kind = FD_GPGME;
		f->fnc(f->fnc_data, f->fd);
	}
}

static void
loop_ready(gpgme_ctx_t ctx, struct gpg_loop *l, struct gpg_fd *f, int hup)
{
	if (f->kind == FD_UNKNOWN) {
		loop_classify(l, f, hup);
		if (f->kind == FD_UNKNOWN)
			return;
	}
	switch (f->kind) {
	case FD_PLAIN:
		loop_plain(ctx, l, f);
		break;
	case FD_CIPHER:
		loop_cipher(l, f);
		break;
	default:
		f->fnc(f->fnc_data, f->fd);
		break;
	}
}

/* gpg writes its output a few kilobytes at a time; waking for each
 * piece costs more than the piece is worth.  After a short read, give
 * gpg a millisecond to fill its megabyte pipe (it writes well under a
 * megabyte per millisecond, so it never waits on a full pipe). */
static void
loop_coalesce(struct gpg_loop *l)
{
	struct timespec ts = { 0, GPG_COALESCE_NS };

	if (l->last_read > 0 && l->last_read < GPG_CHUNK / 4)
		nanosleep(&ts, NULL);
	l->last_read = 0;
}

/* Serves every ready descriptor until gpgme says the operation is
 * done.  STALL bounds a wait with no progress. */
static int
loop_run(gpgme_ctx_t ctx, struct gpg_loop *l, int stall)
{
	loop_check_outbound(l);
	while (!l->done) {
		struct pollfd p[GPG_MAX_FDS];
		struct gpg_fd *which[GPG_MAX_FDS];
		int i, n = 0, r;

		for (i = 0; i < GPG_MAX_FDS; i++) {
			if (!l->fds[i].active)
				continue;
			p[n] = (struct pollfd){ l->fds[i].fd,
				l->fds[i].dir ? POLLIN : POLLOUT, 0 };
			which[n++] = &l->fds[i];
		}
		if (n == 0)
			break;
		loop_coalesce(l);
		r = poll(p, (nfds_t)n, stall * 1000);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			log_warnx("gpg: no progress for %d seconds, giving up",
			    stall);
			l->input_done = 1;
			for (i = 0; i < GPG_MAX_FDS; i++)
				if (l->fds[i].active && !l->fds[i].dir)
					l->input_done = 0;
			gpgme_cancel(ctx);
			return -1;
		}
		for (i = 0; i < n && !l->done; i++)
			if (p[i].revents && which[i]->active &&
			    which[i]->fd == p[i].fd)
				loop_ready(ctx, l, which[i],
				    (p[i].revents & POLLHUP) != 0);
	}
	return 0;
}

static gpgme_ssize_t
sink_write(void *handle, const void *buf, size_t size)
{
	struct gpg_sink *s = handle;

	s->bytes += size;
	if (s->fn(s->arg, buf, size) == -1) {
		s->aborted = 1;
		errno = ECANCELED;
		return -1;
	}
	return (gpgme_ssize_t)size;
}

static gpgme_ssize_t
cipher_read(void *handle, void *buf, size_t size)
{
	struct gpg_loop *l = handle;
	ssize_t n;

	do
		n = read(l->file_fd, buf, size);
	while (n == -1 && errno == EINTR);
	return n;
}

static int
set_result(struct gpg_result *r, enum gpg_verdict v, const char *fmt,
    const char *arg)
{
	r->verdict = v;
	/* The reasons are short; a cut one still says what happened. */
	if (snprintf(r->reason, sizeof r->reason, fmt, arg) < 0)
		r->reason[0] = '\0';
	return v == GPG_OK ? 0 : -1;
}

/* Is FPR (a primary key or a subkey) one of the host's signers? */
static int
signer_listed(const char *home, const char *fpr, const struct host_cfg *h)
{
	gpgme_ctx_t ctx;
	gpgme_key_t key = NULL;
	gpgme_subkey_t sk;
	size_t i;
	int ok = 0;

	for (i = 0; h->signers[i] != NULL; i++)
		if (strcasecmp(h->signers[i], fpr) == 0)
			return 1;
	if (use_home(home) != 0 || gpgme_new(&ctx) != 0)
		return 0;
	gpgme_set_offline(ctx, 1);
	if (gpgme_get_key(ctx, fpr, &key, 0) == 0 && key->subkeys != NULL) {
		for (sk = key->subkeys; sk != NULL && !ok; sk = sk->next)
			if (sk->fpr != NULL && strcasecmp(sk->fpr, fpr) == 0)
				ok = 1;
		for (i = 0; ok && key->subkeys->fpr != NULL &&
		    h->signers[i] != NULL; i++)
			if (strcasecmp(h->signers[i], key->subkeys->fpr) == 0)
				ok = 2;
	}
	gpgme_key_unref(key);
	gpgme_release(ctx);
	return ok == 2;
}

/* Is FPR, or the key id gpg gives when it lacks the key, a listed
 * signer?  Then a missing public key is backupsvr's to mend. */
static int
signer_named(const char *fpr, const struct host_cfg *h)
{
	size_t i, n = strlen(fpr), m;

	for (i = 0; h->signers[i] != NULL; i++) {
		m = strlen(h->signers[i]);
		if (n >= 16 && n <= m &&
		    strcasecmp(h->signers[i] + m - n, fpr) == 0)
			return 1;
	}
	return 0;
}

/* One signature that is not plainly good: whose fault is it? */
static int
bad_signature(gpgme_signature_t s, const char *home, const struct host_cfg *h,
    struct gpg_result *r)
{
	const char *fpr = s->fpr ? s->fpr : "?";

	switch (gpg_err_code(s->status)) {
	case GPG_ERR_BAD_SIGNATURE:
		return set_result(r, GPG_CORRUPT, "bad signature by %s", fpr);
	case GPG_ERR_NO_PUBKEY:
		if (signer_named(fpr, h))
			return set_result(r, GPG_LOCAL, "signed by %s, one of the "
			    "host's signers, whose public key is not in "
			    "backupsvr's keyring: import it", fpr);
		return set_result(r, GPG_BAD_SIGNER,
		    "signed by %s, a key not in the keyring", fpr);
	case GPG_ERR_BAD_PUBKEY:
		/* gpg will not use the key at all, so it checked nothing: a
		 * listed signer's key must be usable on backupsvr.  Mostly its
		 * clock is behind the key's creation (a dead clock battery). */
		if (signer_named(fpr, h) || signer_listed(home, fpr, h))
			return set_result(r, GPG_LOCAL, "signed by %s, one of the "
			    "host's signers, whose key backupsvr's gpg cannot use "
			    "(made after the time on its clock? set the clock)", fpr);
		break;
	case GPG_ERR_KEY_EXPIRED:
		/* Only the signer's key can have made a good signature:
		 * its expiry is for backupsvr's keyring to catch up with. */
		if (signer_listed(home, fpr, h))
			return set_result(r, GPG_LOCAL, "good signature by %s, "
			    "whose key has expired in backupsvr's keyring: import "
			    "the renewed key", fpr);
		break;
	default:
		break;
	}
	return set_result(r, GPG_BAD_SIGNER, "signature not valid: %s",
	    gpgme_strerror(s->status));
}

/* Every signature must be good; one good one must be a listed signer. */
static int
check_signatures(gpgme_ctx_t ctx, const char *home, const struct host_cfg *h,
    struct gpg_result *r)
{
	gpgme_verify_result_t v = gpgme_op_verify_result(ctx);
	gpgme_signature_t s;
	const char *bad_fpr = NULL;

	if (v == NULL || v->signatures == NULL) {
		if (h->require_signature)
			return set_result(r, GPG_UNSIGNED, "%s",
			    "not signed, and the host requires a signature");
		return set_result(r, GPG_OK, "%s", "not signed (allowed for host)");
	}
	for (s = v->signatures; s != NULL; s = s->next) {
		const char *fpr = s->fpr ? s->fpr : "?";

		if (s->status != 0)
			return bad_signature(s, home, h, r);
		if (signer_listed(home, fpr, h))
			snprintf(r->signer, sizeof r->signer, "%s", fpr);
		else
			bad_fpr = fpr;
	}
	if (r->signer[0] == '\0')
		return set_result(r, GPG_BAD_SIGNER,
		    "signed by %s, not one of the host's signers",
		    bad_fpr ? bad_fpr : "?");
	return set_result(r, GPG_OK, "signed by %s", r->signer);
}

/* Up to N of backupsvr's secret keys that can decrypt. */
static size_t
canary_keys(gpgme_ctx_t ctx, gpgme_key_t *keys, size_t n)
{
	gpgme_key_t k;
	size_t got = 0;

	if (gpgme_op_keylist_start(ctx, NULL, 1) != 0)
		return 0;
	while (gpgme_op_keylist_next(ctx, &k) == 0) {
		if (got < n && k->can_encrypt && !k->revoked && !k->expired &&
		    !k->disabled && !k->invalid)
			keys[got++] = k;
		else
			gpgme_key_unref(k);
	}
	gpgme_op_keylist_end(ctx);
	keys[got] = NULL;
	return got;
}

/* A test message to KEY alone, decrypted again. */
static gpgme_error_t
canary_round_trip(gpgme_ctx_t ctx, gpgme_key_t key)
{
	gpgme_key_t to[2] = { key, NULL };
	gpgme_data_t in = NULL, ct = NULL, pt = NULL;
	gpgme_error_t err;
	size_t len = 0;
	char *out = NULL;

	if ((err = gpgme_data_new_from_mem(&in, CANARY_TEXT,
	    strlen(CANARY_TEXT), 0)) != 0 || (err = gpgme_data_new(&ct)) != 0 ||
	    (err = gpgme_data_new(&pt)) != 0)
		goto out;
	if ((err = gpgme_op_encrypt(ctx, to, GPGME_ENCRYPT_ALWAYS_TRUST, in,
	    ct)) != 0)
		goto out;
	gpgme_data_seek(ct, 0, SEEK_SET);
	if ((err = gpgme_op_decrypt(ctx, ct, pt)) != 0)
		goto out;
	out = gpgme_data_release_and_get_mem(pt, &len);
	pt = NULL;
	if (out == NULL || len != strlen(CANARY_TEXT) ||
	    memcmp(out, CANARY_TEXT, len) != 0)
		err = gpg_error(GPG_ERR_BAD_DATA);
out:
	gpgme_free(out);
	gpgme_data_release(in);
	gpgme_data_release(ct);
	gpgme_data_release(pt);
	return err;
}

/* Does the message (decrypt result D) name KEY as a recipient?  A
 * message that names nobody names every key. */
static int
names_key(gpgme_decrypt_result_t d, gpgme_key_t key)
{
	gpgme_recipient_t rc;
	gpgme_subkey_t sk;

	if (d == NULL || d->recipients == NULL)
		return 1;
	for (rc = d->recipients; rc != NULL; rc = rc->next)
		for (sk = key->subkeys; sk != NULL; sk = sk->next)
			if (rc->keyid != NULL && sk->keyid != NULL &&
			    strcasecmp(rc->keyid, sk->keyid) == 0)
				return 1;
	return 0;
}

/* Can backupsvr decrypt with each of its keys that the message names
 * (every key, when it names none)?  Each is tested alone, with a test
 * message of its own, every time: a fault that comes and goes (a
 * smartcard pulled) must not be hidden by an earlier success.
 * *NAMED is set to whether the message names any key of ours at all. */
static int
canary(const char *home, gpgme_decrypt_result_t d, int *named, char *why,
    size_t len)
{
	gpgme_key_t keys[CANARY_KEYS + 1];
	gpgme_ctx_t ctx = NULL;
	gpgme_error_t err = 0;
	size_t i, n = 0;

	*named = 0;
	if ((err = use_home(home)) != 0 || (err = gpgme_new(&ctx)) != 0) {
		snprintf(why, len, "%s", gpgme_strerror(err));
		return -1;
	}
	gpgme_set_offline(ctx, 1);
	gpgme_set_pinentry_mode(ctx, GPGME_PINENTRY_MODE_CANCEL);
	if ((n = canary_keys(ctx, keys, CANARY_KEYS)) == 0)
		snprintf(why, len, "no usable secret key in %s", home);
	for (i = 0; i < n && err == 0; i++) {
		if (!names_key(d, keys[i]))
			continue;
		*named = 1;
		if ((err = canary_round_trip(ctx, keys[i])) != 0)
			snprintf(why, len, "%s", gpgme_strerror(err));
	}
	for (i = 0; i < n; i++)
		gpgme_key_unref(keys[i]);
	gpgme_release(ctx);
	return n == 0 || err != 0 ? -1 : 0;
}

/* The recipients' key ids, for a message that names none of ours. */
static void
recipients_str(gpgme_decrypt_result_t d, char *out, size_t len)
{
	gpgme_recipient_t rc;
	size_t n = 0;

	out[0] = '\0';
	for (rc = d ? d->recipients : NULL; rc != NULL && n + 20 < len;
	    rc = rc->next)
		n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "",
		    rc->keyid ? rc->keyid : "?");
	if (n == 0)
		snprintf(out, len, "no known key");
}

static int
local_fault(struct gpg_result *r, const char *why)
{
	return set_result(r, GPG_LOCAL, "backupsvr's gpg cannot decrypt even its "
	    "own test message (%s): check its key (a passphrase?), gpg-agent "
	    "and smartcard", why);
}

/* gpg stopped making progress.  Before it had all of the file, that is
 * gpg's or the machine's trouble; after, it is chewing on what the file
 * gave it (a small packet that expands without end), and that is the
 * file's fault, provided backupsvr's gpg otherwise works. */
static int
stalled(const struct gpg_job *j, const struct gpg_loop *l, struct gpg_result *r)
{
	char why[96];
	int named;

	if (!l->input_done)
		return set_result(r, GPG_LOCAL, "gpg made no progress for %s "
		    "seconds", "timeouts.stall");
	if (canary(j->home, NULL, &named, why, sizeof why) == -1)
		return local_fault(r, why);
	return set_result(r, GPG_CORRUPT, "gpg read all of the file, then gave "
	    "nothing for %s seconds (a packet that expands without end?)",
	    "timeouts.stall");
}

static int
check_decryption(gpgme_ctx_t ctx, const struct gpg_job *j,
    const struct gpg_loop *l, struct gpg_result *r)
{
	gpgme_decrypt_result_t d = gpgme_op_decrypt_result(ctx);
	gpgme_error_t err = l->err ? l->err : l->op_err;
	char why[96], to[120];
	int named = 1;

	if ((err || d == NULL) && l->sink->bytes == 0 &&
	    canary(j->home, d, &named, why, sizeof why) == -1)
		return local_fault(r, why);
	if (!named) {
		recipients_str(d, to, sizeof to);
		return set_result(r, GPG_WRONG_KEY, "encrypted to %s, not to a "
		    "key of backupsvr's", to);
	}
	if (err)
		return set_result(r, GPG_CORRUPT, "decryption failed: %s",
		    gpgme_strerror(err));
	if (d == NULL)
		return set_result(r, GPG_CORRUPT, "%s", "not an encrypted message");
	if (d->legacy_cipher_nomdc)
		return set_result(r, GPG_CORRUPT, "%s",
		    "no integrity protection (MDC)");
	if (d->unsupported_algorithm != NULL)
		return set_result(r, GPG_CORRUPT, "unsupported algorithm %s",
		    d->unsupported_algorithm);
	return 0;
}

static gpgme_error_t
gpg_setup(gpgme_ctx_t *ctx, const char *home, struct gpg_loop *l,
    struct gpgme_data_cbs *in, struct gpgme_data_cbs *out, gpgme_data_t *cipher,
    gpgme_data_t *plain)
{
	struct gpgme_io_cbs io = { loop_add, l, loop_remove, loop_event, l };
	gpgme_error_t err;

	if ((err = use_home(home)) != 0 || (err = gpgme_new(ctx)) != 0)
		return err;
	gpgme_set_offline(*ctx, 1);
	gpgme_set_pinentry_mode(*ctx, GPGME_PINENTRY_MODE_CANCEL);
	gpgme_set_io_cbs(*ctx, &io);
	if ((err = gpgme_data_new_from_cbs(cipher, in, l)) != 0 ||
	    (err = gpgme_data_new_from_cbs(plain, out, l->sink)) != 0)
		return err;
	gpgme_data_set_flag(*cipher, "io-buffer-size", GPG_IO_BUFFER);
	gpgme_data_set_flag(*plain, "io-buffer-size", GPG_IO_BUFFER);
	return 0;
}

/* Decrypts the OpenPGP message in J->fd, handing the plaintext to
 * J->sink as it comes, and judges it against the host's signature
 * policy. */
int
gpg_decrypt(const struct gpg_job *j, struct gpg_result *r)
{
	struct gpg_sink s = { j->sink, j->arg, 0, 0 };
	struct gpg_loop loop = { .file_fd = j->fd, .peek = { -1, -1 },
		.sink = &s, .magic = j->magic,
		.magic_len = j->magic_len < GPG_MAGIC_MAX ? j->magic_len : 0 };
	struct gpgme_data_cbs in = { cipher_read, NULL, NULL, NULL };
	struct gpgme_data_cbs out = { NULL, sink_write, NULL, NULL };
	gpgme_ctx_t ctx = NULL;
	gpgme_data_t cipher = NULL, plain = NULL;
	gpgme_error_t err;
	int rc = -1;

	memset(r, 0, sizeof *r);
	if (pipe2(loop.peek, O_CLOEXEC | O_NONBLOCK) == -1) {
		set_result(r, GPG_LOCAL, "pipe: %s", strerror(errno));
		return -1;
	}
	loop.buf = xmalloc(GPG_CHUNK);
	err = gpg_setup(&ctx, j->home, &loop, &in, &out, &cipher, &plain);
	if (!err)
		err = gpgme_op_decrypt_verify_start(ctx, cipher, plain);
	if (err) {
		set_result(r, GPG_LOCAL, "cannot start gpg: %s", gpgme_strerror(err));
		goto out;
	}
	if (loop_run(ctx, &loop, j->stall) == -1) {
		stalled(j, &loop, r);
		goto out;
	}
	if (s.aborted) {
		set_result(r, GPG_ABORTED, "%s", "stopped by the reader");
		goto out;
	}
	if (check_decryption(ctx, j, &loop, r) == 0)
		rc = check_signatures(ctx, j->home, j->host, r);
out:
	gpgme_data_release(cipher);
	gpgme_data_release(plain);
	gpgme_release(ctx);
	close(loop.peek[0]);
	close(loop.peek[1]);
	free(loop.buf);
	return rc;
}

/* Warns of each listed signer whose public key is not in backupsvr's
 * keyring: its files would wait, and a file signed by one of its
 * subkeys could not even be told from a stranger's.  Returns how many. */
int
gpg_check_signers(const struct config *cfg)
{
	gpgme_ctx_t ctx;
	size_t i, j;
	int missing = 0;

	/* Asking gpg would create an empty keyring: check only reads. */
	if (cfg->nhosts > 0 && access(cfg->gnupg_home, F_OK) != 0) {
		log_warnx("keyring %s does not exist: import the laptops' "
		    "public keys into it", cfg->gnupg_home);
		for (i = 0; i < cfg->nhosts; i++)
			for (j = 0; cfg->hosts[i].signers[j] != NULL; j++)
				missing++;
		return missing;
	}
	if (use_home(cfg->gnupg_home) != 0 || gpgme_new(&ctx) != 0)
		return -1;
	gpgme_set_offline(ctx, 1);
	for (i = 0; i < cfg->nhosts; i++)
		for (j = 0; cfg->hosts[i].signers[j] != NULL; j++) {
			gpgme_key_t key = NULL;

			if (gpgme_get_key(ctx, cfg->hosts[i].signers[j], &key,
			    0) == 0) {
				gpgme_key_unref(key);
				continue;
			}
			log_warnx("host %s: signer %s is not in the keyring %s: "
			    "import its public key", cfg->hosts[i].name,
			    cfg->hosts[i].signers[j], cfg->gnupg_home);
			missing++;
		}
	gpgme_release(ctx);
	return missing;
}

/* TEXT signed in clear text by backupsvr's own key (the first usable
 * secret key in HOME, the one laptops encrypt to) into OUT: a person
 * reads it as it is, a laptop checks it with "gpg --verify".  0, or -1
 * with WHY. */
int
gpg_clearsign(const char *home, const char *text, size_t len, struct buf *out,
    char *why, size_t whylen)
{
	gpgme_ctx_t ctx = NULL;
	gpgme_data_t in = NULL, sig = NULL;
	gpgme_key_t keys[2], key = NULL;
	gpgme_error_t err;
	char *p;
	size_t n = 0;

	if ((err = use_home(home)) != 0 || (err = gpgme_new(&ctx)) != 0)
		goto fail;
	gpgme_set_offline(ctx, 1);
	gpgme_set_pinentry_mode(ctx, GPGME_PINENTRY_MODE_CANCEL);
	gpgme_set_armor(ctx, 1);
	if (canary_keys(ctx, keys, 1) != 1) {
		snprintf(why, whylen, "no usable secret key in %s", home);
		gpgme_release(ctx);
		return -1;
	}
	key = keys[0];
	if ((err = gpgme_signers_add(ctx, key)) != 0 ||
	    (err = gpgme_data_new_from_mem(&in, text, len, 0)) != 0 ||
	    (err = gpgme_data_new(&sig)) != 0 ||
	    (err = gpgme_op_sign(ctx, in, sig, GPGME_SIG_MODE_CLEAR)) != 0)
		goto fail;
	p = gpgme_data_release_and_get_mem(sig, &n);
	sig = NULL;
	if (p == NULL || n == 0) {
		err = gpg_error(GPG_ERR_NO_DATA);
		goto fail;
	}
	buf_append(out, p, n);
	gpgme_free(p);
	gpgme_data_release(in);
	gpgme_key_unref(key);
	gpgme_release(ctx);
	return 0;
fail:
	snprintf(why, whylen, "%s", gpgme_strerror(err));
	gpgme_data_release(in);
	gpgme_data_release(sig);
	if (key != NULL)
		gpgme_key_unref(key);
	gpgme_release(ctx);
	return -1;
}
