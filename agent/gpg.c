/*
 * Decryption and signature checks: the only user of gpgme.
 *
 * gpgme runs gpg as a child and moves the bytes through pipes.  Its
 * own event loop copies both directions in small chunks; here the
 * agent runs the loop itself (gpgme's user I/O callbacks) so that it
 * can give gpg's pipes room for a megabyte and move data in large
 * pieces, which keeps gpg busy instead of waiting on the agent.
 *
 * A verdict is known only when gpg has read the whole message: the
 * MDC, the signature and its signer all come at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gpgme.h>

#include "airgap-agent.h"

#define GPG_IO_BUFFER "1048576"
#define GPG_PIPE_SIZE (1024 * 1024)
#define GPG_MAX_FDS 8

struct gpg_fd {
	int fd;
	int dir; /* 1: we read from gpg, 0: we write to it */
	gpgme_io_cb_t fnc;
	void *fnc_data;
	int active;
};

struct gpg_loop {
	struct gpg_fd fds[GPG_MAX_FDS];
	int done;
	gpgme_error_t err;
	gpgme_error_t op_err;
};

struct gpg_sink {
	gpg_sink_fn fn;
	void *arg;
	int aborted;
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
	l->fds[i] = (struct gpg_fd){ fd, dir, fnc, fnc_data, 1 };
	*tag = &l->fds[i];
	/* Room in the pipe lets gpg run ahead while the agent is busy
	 * decompressing; failure only costs speed. */
	(void)fcntl(fd, F_SETPIPE_SZ, GPG_PIPE_SIZE);
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

/* Calls gpgme's handler for every ready descriptor until gpgme says
 * the operation is done.  STALL bounds a wait with no progress. */
static int
loop_run(gpgme_ctx_t ctx, struct gpg_loop *l, int stall)
{
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
		r = poll(p, (nfds_t)n, stall * 1000);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			log_warnx("gpg: no progress for %d seconds, giving up",
			    stall);
			gpgme_cancel(ctx);
			return -1;
		}
		for (i = 0; i < n && !l->done; i++)
			if (p[i].revents && which[i]->active &&
			    which[i]->fd == p[i].fd)
				which[i]->fnc(which[i]->fnc_data, p[i].fd);
	}
	return 0;
}

static gpgme_ssize_t
sink_write(void *handle, const void *buf, size_t size)
{
	struct gpg_sink *s = handle;

	if (s->fn(s->arg, buf, size) == -1) {
		s->aborted = 1;
		errno = ECANCELED;
		return -1;
	}
	return (gpgme_ssize_t)size;
}

static int
set_result(struct gpg_result *r, enum gpg_verdict v, const char *fmt,
    const char *arg)
{
	r->verdict = v;
	snprintf(r->reason, sizeof r->reason, fmt, arg);
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
	if (gpgme_new(&ctx) != 0)
		return 0;
	gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL, home);
	gpgme_set_offline(ctx, 1);
	if (gpgme_get_key(ctx, fpr, &key, 0) == 0 && key->subkeys != NULL) {
		for (sk = key->subkeys; sk != NULL && !ok; sk = sk->next)
			if (sk->fpr != NULL && strcasecmp(sk->fpr, fpr) == 0)
				ok = 1;
		for (i = 0; ok && h->signers[i] != NULL; i++)
			if (strcasecmp(h->signers[i], key->subkeys->fpr) == 0)
				ok = 2;
	}
	gpgme_key_unref(key);
	gpgme_release(ctx);
	return ok == 2;
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

		if (gpg_err_code(s->status) == GPG_ERR_BAD_SIGNATURE)
			return set_result(r, GPG_CORRUPT, "bad signature by %s", fpr);
		if (gpg_err_code(s->status) == GPG_ERR_NO_PUBKEY)
			return set_result(r, GPG_BAD_SIGNER,
			    "signed by %s, a key not in the keyring", fpr);
		if (s->status != 0)
			return set_result(r, GPG_BAD_SIGNER, "signature not valid: %s",
			    gpgme_strerror(s->status));
		if (signer_listed(home, fpr, h))
			snprintf(r->signer, sizeof r->signer, "%s", fpr);
		else
			bad_fpr = fpr;
	}
	if (r->signer[0] == '\0')
		return set_result(r, GPG_BAD_SIGNER,
		    "signed by %s, not one of the host's signers", bad_fpr);
	return set_result(r, GPG_OK, "signed by %s", r->signer);
}

static int
check_decryption(gpgme_ctx_t ctx, const struct gpg_loop *l,
    struct gpg_result *r)
{
	gpgme_decrypt_result_t d = gpgme_op_decrypt_result(ctx);
	gpgme_error_t err = l->err ? l->err : l->op_err;
	gpgme_recipient_t rc;
	int secret = 0;

	if (d != NULL)
		for (rc = d->recipients; rc != NULL; rc = rc->next)
			if (gpg_err_code(rc->status) != GPG_ERR_NO_SECKEY)
				secret = 1;
	if (gpg_err_code(err) == GPG_ERR_NO_SECKEY ||
	    (err && d != NULL && d->recipients != NULL && !secret))
		return set_result(r, GPG_NO_KEY, "%s",
		    "encrypted to a key whose secret part is not here");
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
gpg_setup(gpgme_ctx_t *ctx, const char *home, struct gpg_loop *l, int fd,
    struct gpgme_data_cbs *cbs, struct gpg_sink *s, gpgme_data_t *cipher,
    gpgme_data_t *plain)
{
	struct gpgme_io_cbs io = { loop_add, l, loop_remove, loop_event, l };
	gpgme_error_t err;

	if ((err = gpgme_new(ctx)) != 0)
		return err;
	if ((err = gpgme_ctx_set_engine_info(*ctx, GPGME_PROTOCOL_OpenPGP, NULL,
	    home)) != 0)
		return err;
	gpgme_set_offline(*ctx, 1);
	gpgme_set_pinentry_mode(*ctx, GPGME_PINENTRY_MODE_CANCEL);
	gpgme_set_io_cbs(*ctx, &io);
	if ((err = gpgme_data_new_from_fd(cipher, fd)) != 0 ||
	    (err = gpgme_data_new_from_cbs(plain, cbs, s)) != 0)
		return err;
	gpgme_data_set_flag(*cipher, "io-buffer-size", GPG_IO_BUFFER);
	gpgme_data_set_flag(*plain, "io-buffer-size", GPG_IO_BUFFER);
	return 0;
}

/* Decrypts the OpenPGP message in FD, handing the plaintext to SINK as
 * it comes, and judges it against the host's signature policy. */
int
gpg_decrypt(const char *home, int fd, const struct host_cfg *h, int stall,
    gpg_sink_fn sink, void *arg, struct gpg_result *r)
{
	struct gpg_loop loop = { 0 };
	struct gpg_sink s = { sink, arg, 0 };
	struct gpgme_data_cbs cbs = { NULL, sink_write, NULL, NULL };
	gpgme_ctx_t ctx = NULL;
	gpgme_data_t cipher = NULL, plain = NULL;
	gpgme_error_t err;
	int rc = -1;

	memset(r, 0, sizeof *r);
	err = gpg_setup(&ctx, home, &loop, fd, &cbs, &s, &cipher, &plain);
	if (!err)
		err = gpgme_op_decrypt_verify_start(ctx, cipher, plain);
	if (err) {
		set_result(r, GPG_ERROR, "cannot start gpg: %s", gpgme_strerror(err));
		goto out;
	}
	if (loop_run(ctx, &loop, stall) == -1) {
		set_result(r, GPG_ERROR, "%s", "gpg made no progress");
		goto out;
	}
	if (s.aborted) {
		set_result(r, GPG_ABORTED, "%s", "stopped by the reader");
		goto out;
	}
	if (check_decryption(ctx, &loop, r) == 0)
		rc = check_signatures(ctx, home, h, r);
out:
	gpgme_data_release(cipher);
	gpgme_data_release(plain);
	gpgme_release(ctx);
	return rc;
}
