/*
 * A compound stream (zfs send -I) walked record by record: which
 * substreams it holds, in order, and the same stream without its first
 * N substreams.  zfs receive commits a compound stream's snapshots one
 * by one; when it stopped between two of them (the agent was killed,
 * the power failed), the pool holds the first ones, and receiving the
 * whole stream again fails because its first base is no longer the
 * newest snapshot.  Without the substreams the pool already has, the
 * rest is an ordinary compound stream on top of the pool's newest.
 *
 * Payload sizes follow OpenZFS's DRR_*_PAYLOAD_SIZE; older senders
 * (zfs-fuse) zero the fields added since, which reads the same.  The
 * bytes are untrusted: a record this does not know stops the walk, and
 * the caller then falls back to holding the file.
 */
#include <byteswap.h>
#include <stdlib.h>
#include <string.h>

#include "airgap-agent.h"

enum {
	DRR_BEGIN,
	DRR_OBJECT,
	DRR_FREEOBJECTS,
	DRR_WRITE,
	DRR_FREE,
	DRR_END,
	DRR_WRITE_BYREF,
	DRR_SPILL,
	DRR_WRITE_EMBEDDED,
	DRR_OBJECT_RANGE,
	DRR_REDACT,
};

#define BACKUP_MAGIC 0x2F5BACBACULL
#define HDR_SUBSTREAM 1
#define HDR_COMPOUND 2
#define BEGIN_PAYLOAD_MAX (16u * 1024 * 1024)
#define SUBS_MAX (1u << 20)

/* Where in the stream the walk is. */
enum walk_state {
	W_OUTER,     /* expecting the compound begin record */
	W_OUTER_END, /* expecting the end record after its header */
	W_BETWEEN,   /* expecting a substream's begin or the last end */
	W_SUB,       /* inside a substream */
	W_DONE,      /* after the last end record */
};

struct zwalk {
	unsigned char rec[ZSTREAM_RECORD];
	size_t have;      /* bytes of rec filled */
	uint64_t payload; /* payload bytes of the current record to come */
	int swap;
	enum walk_state state;
	int drop;    /* the current substream is left out */
	size_t skip; /* leave out this many leading substreams */
	struct zwalk_sub *subs;
	size_t nsubs;
	const char *error;
};

static uint32_t
rec32(const struct zwalk *w, size_t off)
{
	uint32_t v;

	memcpy(&v, w->rec + off, sizeof v);
	return w->swap ? bswap_32(v) : v;
}

static uint64_t
rec64(const struct zwalk *w, size_t off)
{
	uint64_t v;

	memcpy(&v, w->rec + off, sizeof v);
	return w->swap ? bswap_64(v) : v;
}

static uint64_t
roundup8(uint64_t n)
{
	return n > UINT64_MAX - 7 ? UINT64_MAX : (n + 7) & ~(uint64_t)7;
}

/* The bytes that follow a record inside a substream.  Offsets are into
 * the 312-byte record; its union starts at 8. */
static int
body_payload(struct zwalk *w, uint32_t type, uint64_t *len)
{
	uint64_t v;

	switch (type) {
	case DRR_OBJECT: /* raw bonus length, else the bonus rounded up */
		v = rec32(w, 36);
		*len = v != 0 ? v : roundup8(rec32(w, 28));
		return 0;
	case DRR_WRITE: /* compressed size if compressed, else logical */
		*len = w->rec[50] != 0 ? rec64(w, 96) : rec64(w, 32);
		return 0;
	case DRR_SPILL:
		v = rec64(w, 40);
		*len = v != 0 ? v : rec64(w, 16);
		return 0;
	case DRR_WRITE_EMBEDDED:
		*len = roundup8(rec32(w, 52));
		return 0;
	case DRR_FREEOBJECTS:
	case DRR_FREE:
	case DRR_WRITE_BYREF:
	case DRR_OBJECT_RANGE:
	case DRR_REDACT:
		*len = 0;
		return 0;
	default:
		w->error = "unknown record type";
		return -1;
	}
}

/* A begin record of type HDRTYPE: its magic settles the byte order. */
static int
begin_record(struct zwalk *w, unsigned hdrtype)
{
	uint64_t magic;

	memcpy(&magic, w->rec + 8, sizeof magic);
	if (w->state == W_OUTER)
		w->swap = magic == bswap_64(BACKUP_MAGIC);
	if (rec64(w, 8) != BACKUP_MAGIC || rec32(w, 0) != DRR_BEGIN)
		return w->error = "bad begin record", -1;
	if ((rec64(w, 16) & 3) != hdrtype)
		return w->error = "unexpected stream header type", -1;
	w->payload = rec32(w, 4);
	if (w->payload > BEGIN_PAYLOAD_MAX)
		return w->error = "begin record payload too large", -1;
	return 0;
}

static int
sub_begin(struct zwalk *w)
{
	struct zwalk_sub *s;

	if (begin_record(w, HDR_SUBSTREAM) == -1)
		return -1;
	if (w->nsubs == SUBS_MAX)
		return w->error = "too many substreams", -1;
	w->subs = xreallocarray(w->subs, w->nsubs + 1, sizeof *w->subs);
	s = &w->subs[w->nsubs++];
	s->toguid = rec64(w, 40);
	s->fromguid = rec64(w, 48);
	w->drop = w->nsubs <= w->skip;
	w->state = W_SUB;
	return 0;
}

/* Takes the record in w->rec: sets the payload to come and the state.
 * Returns whether the record is passed on (1) or left out (0). */
static int
on_record(struct zwalk *w)
{
	uint32_t type = rec32(w, 0);
	int keep;

	switch (w->state) {
	case W_OUTER:
		if (begin_record(w, HDR_COMPOUND) == -1)
			return -1;
		w->state = W_OUTER_END;
		return 1;
	case W_OUTER_END:
		if (type != DRR_END)
			return w->error = "no end record after the header", -1;
		w->state = W_BETWEEN;
		return 1;
	case W_BETWEEN:
		if (type == DRR_END) {
			w->state = W_DONE;
			return 1;
		}
		if (sub_begin(w) == -1)
			return -1;
		return !w->drop;
	case W_SUB:
		if (type == DRR_BEGIN)
			return w->error = "begin record inside a substream", -1;
		if (type != DRR_END)
			return body_payload(w, type, &w->payload) == -1 ? -1 :
			    !w->drop;
		keep = !w->drop;
		w->drop = 0;
		w->state = W_BETWEEN;
		return keep;
	case W_DONE:
		break;
	}
	return w->error = "data after the last end record", -1;
}

struct zwalk *
zwalk_new(size_t skip)
{
	struct zwalk *w = xcalloc(1, sizeof *w);

	w->skip = skip;
	return w;
}

void
zwalk_free(struct zwalk *w)
{
	if (w == NULL)
		return;
	free(w->subs);
	free(w);
}

/* Walks B and passes what is kept to EMIT.  -1 with zwalk_error() set
 * when the stream cannot be walked, without it when EMIT failed. */
int
zwalk_feed(struct zwalk *w, const unsigned char *b, size_t n,
    zwalk_emit emit, void *arg)
{
	while (n > 0) {
		size_t take;
		int keep;

		if (w->error != NULL)
			return -1;
		if (w->payload > 0) {
			take = w->payload < n ? (size_t)w->payload : n;
			if (!w->drop && emit(arg, b, take) == -1)
				return -1;
			w->payload -= take;
			b += take;
			n -= take;
			continue;
		}
		take = ZSTREAM_RECORD - w->have < n ? ZSTREAM_RECORD - w->have : n;
		memcpy(w->rec + w->have, b, take);
		w->have += take;
		b += take;
		n -= take;
		if (w->have < ZSTREAM_RECORD)
			break;
		w->have = 0;
		if ((keep = on_record(w)) == -1)
			return -1;
		if (keep && emit(arg, w->rec, ZSTREAM_RECORD) == -1)
			return -1;
	}
	return 0;
}

/* Did the stream end where a compound stream ends? */
int
zwalk_end(const struct zwalk *w)
{
	return w->error == NULL && w->state == W_DONE && w->have == 0 &&
	    w->payload == 0 ? 0 : -1;
}

const char *
zwalk_error(const struct zwalk *w)
{
	if (w->error != NULL)
		return w->error;
	return zwalk_end(w) == 0 ? NULL : "stream ends inside a record";
}

const struct zwalk_sub *
zwalk_subs(const struct zwalk *w, size_t *n)
{
	*n = w->nsubs;
	return w->subs;
}
