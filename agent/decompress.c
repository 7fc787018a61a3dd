/*
 * zstd decompression: the only user of libzstd.  Streaming, with the
 * buffer sizes the library recommends, so memory stays constant
 * whatever the stream size.  Frame checksums are checked by libzstd;
 * input that ends inside a frame is an error.
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "airgap-agent.h"

/* Refuse frames that ask for more than 128 MiB of window: zstd -8
 * uses 2 MiB, and the stream is untrusted. */
#define WINDOW_LOG_MAX 27

struct decompress {
	ZSTD_DCtx *dctx;
	unsigned char *out;
	size_t out_cap;
	byte_sink fn;
	void *arg;
	size_t last; /* last return of ZSTD_decompressStream, 0: frame done */
	int fed;
	const char *error;
};

struct decompress *
decompress_new(byte_sink fn, void *arg)
{
	struct decompress *d = xcalloc(1, sizeof *d);

	d->dctx = ZSTD_createDCtx();
	if (d->dctx == NULL)
		fatalx("zstd: cannot create a decompression context");
	ZSTD_DCtx_setParameter(d->dctx, ZSTD_d_windowLogMax, WINDOW_LOG_MAX);
	d->out_cap = ZSTD_DStreamOutSize();
	d->out = xmalloc(d->out_cap);
	d->fn = fn;
	d->arg = arg;
	return d;
}

/* The first bytes of a zstd frame, little-endian. */
const void *
decompress_magic(size_t *len)
{
	static const unsigned char magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };

	*len = sizeof magic;
	return magic;
}

/* Runs the decoder until it has consumed IN and has nothing more to
 * give; the output buffer filling up means it may hold more. */
static int
decompress_run(struct decompress *d, ZSTD_inBuffer *in)
{
	for (;;) {
		ZSTD_outBuffer out = { d->out, d->out_cap, 0 };
		size_t r = ZSTD_decompressStream(d->dctx, &out, in);

		if (ZSTD_isError(r)) {
			d->error = ZSTD_getErrorName(r);
			return -1;
		}
		d->last = r;
		if (out.pos > 0 && d->fn(d->arg, d->out, out.pos) == -1) {
			d->error = "output refused";
			return -1;
		}
		if (in->pos == in->size && out.pos < out.size)
			return 0;
	}
}

int
decompress_feed(struct decompress *d, const void *p, size_t n)
{
	ZSTD_inBuffer in = { p, n, 0 };

	if (n == 0)
		return 0;
	d->fed = 1;
	return decompress_run(d, &in);
}

/* Every call of decompress_feed already drained the decoder, so all
 * that is left is to know whether the input ended on a frame's end. */
int
decompress_end(struct decompress *d)
{
	if (!d->fed) {
		d->error = "empty stream";
		return -1;
	}
	if (d->last != 0) {
		d->error = "stream ends inside a zstd frame (truncated)";
		return -1;
	}
	return 0;
}

const char *
decompress_error(const struct decompress *d)
{
	return d->error ? d->error : "no error";
}

void
decompress_free(struct decompress *d)
{
	if (d == NULL)
		return;
	ZSTD_freeDCtx(d->dctx);
	free(d->out);
	free(d);
}
