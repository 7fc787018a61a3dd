/*
 * Every zfs send stream on its way to zfs receive is walked record by
 * record, and this walk decides what the receiver may read when.
 *
 * zfs receive commits a snapshot when it reads the end record that
 * closes it, whatever follows; and whether a file is genuine is known
 * only at its end (gpg's MDC and signature, zstd's checksum).  So:
 *
 *   - a plain stream (one snapshot) is passed on up to its end record,
 *     which is held back; anything after it is an error.  The caller
 *     hands the end record over (zwalk_release) only once gpg and zstd
 *     vouched for the whole file;
 *   - a compound stream (zfs send -I or -R) commits its snapshots one by
 *     one, so it is read through once to verify it first.  That pass
 *     keeps a SHA-256 of the stream up to each inner end record; the
 *     receiving pass passes an inner end record on only when the bytes
 *     before it hash to the same value, proving the receiver was fed
 *     the very bytes that were verified.  Its final end record is held
 *     back like a plain stream's.
 *
 * The walk also learns the stream's substreams, so that a compound
 * stream whose receive stopped between two snapshots can be received
 * without the ones the pool already has (the first SKIP are left out).
 *
 * Payload sizes follow OpenZFS's DRR_*_PAYLOAD_SIZE.  The receiver must
 * cut the stream into the same records as the walk, or an end record
 * the walk takes for data would reach it: older receivers (zfs-fuse)
 * do not know the fields added since and read them as padding.  So a
 * field that changes a record's size, or a record type, is accepted
 * only where the (sub)stream's begin record announces the feature that
 * brought it (a receiver without the feature refuses the stream), and
 * must be zero otherwise.  The bytes are untrusted: a record this does
 * not know, or a record where it does not belong, stops the walk.
 */
#include <stdlib.h>
#include <string.h>

#include "airgap-agent.h"

#define SUBS_MAX (1u << 20)

/* Feature flags of a begin record (drr_versioninfo >> 2), the ones that
 * change how a stream is cut into records. */
#define FEATURE_DEDUP (1u << 0)
#define FEATURE_EMBED_DATA (1u << 16)
#define FEATURE_RESUMING (1u << 20)
#define FEATURE_REDACTED (1u << 21)
#define FEATURE_COMPRESSED (1u << 22)
#define FEATURE_RAW (1u << 24)

/* Where in the stream the walk is. */
enum walk_state {
	W_START,     /* expecting the stream's begin record */
	W_OUTER_END, /* compound: expecting the end record after its header */
	W_BETWEEN,   /* compound: a substream's begin or the last end */
	W_SUB,       /* inside a (sub)stream's records */
	W_DONE,      /* after the last end record */
};

struct zwalk {
	unsigned char rec[ZSTREAM_RECORD];
	size_t have;      /* bytes of rec filled */
	uint64_t payload; /* payload bytes of the current record to come */
	int swap;
	int compound;
	uint32_t features; /* of the current (sub)stream's begin record */
	enum walk_state state;
	int drop;    /* the current substream is left out */
	size_t skip; /* leave out this many leading substreams */
	const struct zwalk *verified; /* the verifying pass, when receiving */
	struct hash *hash;            /* compound streams only */
	unsigned char header_digest[HASH_SIZE]; /* up to the header's end */
	unsigned char held[ZSTREAM_RECORD];
	int holding; /* held is the stream's last end record */
	struct zwalk_sub *subs;
	size_t nsubs;
	uint64_t final_guid;
	const char *error;
	int unproven; /* the error: not the bytes the verifying pass saw */
};

static uint32_t
rec32(const struct zwalk *w, size_t off)
{
	return zstream_get32(w->rec + off, w->swap);
}

static uint64_t
rec64(const struct zwalk *w, size_t off)
{
	return zstream_get64(w->rec + off, w->swap);
}

static int
walk_fail(struct zwalk *w, const char *why)
{
	w->error = why;
	return -1;
}

/* The bytes may be fine; they are just not the ones verified. */
static int
walk_unproven(struct zwalk *w, const char *why)
{
	w->unproven = 1;
	return walk_fail(w, why);
}

static uint64_t
roundup8(uint64_t n)
{
	return n > UINT64_MAX - 7 ? UINT64_MAX : (n + 7) & ~(uint64_t)7;
}

/* Is FIELD (nonzero) allowed: does the stream announce one of WANT? */
static int
announced(struct zwalk *w, uint64_t field, uint32_t want, const char *why)
{
	if (field == 0 || (w->features & want) != 0)
		return 0;
	return walk_fail(w, why);
}

/* The bytes that follow a record inside a substream.  Offsets are into
 * the 312-byte record; its union starts at 8. */
static int
body_payload(struct zwalk *w, uint32_t type)
{
	uint64_t v;

	switch (type) {
	case DRR_OBJECT: /* raw bonus length, else the bonus rounded up */
		v = rec32(w, 36);
		w->payload = v != 0 ? v : roundup8(rec32(w, 28));
		return announced(w, v, FEATURE_RAW, "raw object in a stream "
		    "that is not raw");
	case DRR_WRITE: /* compressed size if compressed, else logical */
		w->payload = w->rec[50] != 0 ? rec64(w, 96) : rec64(w, 32);
		return announced(w, w->rec[50], FEATURE_COMPRESSED | FEATURE_RAW,
		    "compressed write in a stream that is not compressed");
	case DRR_SPILL:
		v = rec64(w, 40);
		w->payload = v != 0 ? v : rec64(w, 16);
		return announced(w, v, FEATURE_RAW, "raw spill block in a "
		    "stream that is not raw");
	case DRR_WRITE_EMBEDDED:
		w->payload = roundup8(rec32(w, 52));
		return announced(w, 1, FEATURE_EMBED_DATA, "embedded data in a "
		    "stream that does not announce it");
	case DRR_WRITE_BYREF:
		w->payload = 0;
		return announced(w, 1, FEATURE_DEDUP, "deduplicated write in a "
		    "stream that is not deduplicated");
	case DRR_OBJECT_RANGE:
		w->payload = 0;
		return announced(w, 1, FEATURE_RAW, "object range in a stream "
		    "that is not raw");
	case DRR_REDACT:
		w->payload = 0;
		return announced(w, 1, FEATURE_REDACTED, "redaction in a stream "
		    "that is not redacted");
	case DRR_FREEOBJECTS:
	case DRR_FREE:
		w->payload = 0;
		return 0;
	case DRR_BEGIN:
		return walk_fail(w, "begin record inside a stream");
	default:
		return walk_fail(w, "unknown record type");
	}
}

/* A begin record of header type HDRTYPE (the first one settles the
 * byte order); a substream's begins a substream. */
static int
begin_record(struct zwalk *w, unsigned hdrtype)
{
	struct zwalk_sub *s;

	if (rec64(w, 8) != ZSTREAM_MAGIC || rec32(w, 0) != DRR_BEGIN)
		return walk_fail(w, "bad begin record");
	if ((rec64(w, 16) & 3) != hdrtype)
		return walk_fail(w, "unexpected stream header type");
	w->payload = rec32(w, 4);
	if (w->payload > ZSTREAM_BEGIN_PAYLOAD_MAX)
		return walk_fail(w, "begin record payload too large");
	if (hdrtype != ZSTREAM_SUBSTREAM)
		return 0;
	w->features = (uint32_t)((rec64(w, 16) >> 2) & 0x3fffffff);
	if (announced(w, w->payload, FEATURE_RAW | FEATURE_RESUMING |
	    FEATURE_REDACTED, "begin record payload in a stream that "
	    "announces none") == -1)
		return -1;
	if (w->nsubs == SUBS_MAX)
		return walk_fail(w, "too many substreams");
	w->subs = xreallocarray(w->subs, w->nsubs + 1, sizeof *w->subs);
	s = &w->subs[w->nsubs++];
	memset(s, 0, sizeof *s);
	s->toguid = rec64(w, 40);
	s->fromguid = rec64(w, 48);
	if (s->toguid == 0)
		return walk_fail(w, "begin record has no snapshot guid");
	w->drop = w->nsubs <= w->skip;
	w->state = W_SUB;
	return 0;
}

/* The first record: its magic settles the byte order, its header type
 * whether the stream is plain or compound. */
static int
first_record(struct zwalk *w)
{
	uint64_t magic;

	memcpy(&magic, w->rec + 8, sizeof magic);
	w->swap = magic != ZSTREAM_MAGIC;
	w->compound = (rec64(w, 16) & 3) == ZSTREAM_COMPOUND;
	if (w->compound) {
		w->hash = hash_new();
		hash_update(w->hash, w->rec, ZSTREAM_RECORD);
		if (begin_record(w, ZSTREAM_COMPOUND) == -1)
			return -1;
		w->state = W_OUTER_END;
		return 1;
	}
	if (w->skip > 0 || w->verified != NULL)
		return walk_unproven(w, "plain stream where a compound one was "
		    "verified");
	return begin_record(w, ZSTREAM_SUBSTREAM) == -1 ? -1 : 1;
}

/* A compound stream's inner end record, complete and hashed: may it go
 * to the receiver?  Only when the verifying pass saw the same bytes up
 * to here.  EMITTING is 0 when nothing goes to a receiver anyway. */
static int
inner_end(struct zwalk *w, int emitting)
{
	struct zwalk_sub *s = &w->subs[w->nsubs - 1];
	const struct zwalk_sub *v;

	hash_peek(w->hash, s->digest);
	if (!emitting)
		return 0;
	if (w->verified == NULL)
		return walk_unproven(w, "compound stream not verified before "
		    "receiving");
	if (w->nsubs > w->verified->nsubs)
		return walk_unproven(w, "stream differs from the one verified");
	v = &w->verified->subs[w->nsubs - 1];
	if (v->toguid != s->toguid || v->fromguid != s->fromguid ||
	    memcmp(v->digest, s->digest, HASH_SIZE) != 0)
		return walk_unproven(w, "stream differs from the one verified");
	return 0;
}

/* The end record after a compound stream's header: zfs receive acts on
 * the header (its list of snapshots, renames) once it has read it, so it
 * too goes on only when the bytes before it are the verified ones. */
static int
header_end(struct zwalk *w, int emitting)
{
	hash_peek(w->hash, w->header_digest);
	if (!emitting)
		return 0;
	if (w->verified == NULL)
		return walk_unproven(w, "compound stream not verified before "
		    "receiving");
	if (memcmp(w->verified->header_digest, w->header_digest, HASH_SIZE) != 0)
		return walk_unproven(w, "stream differs from the one verified");
	return 0;
}

/* The end record that closes a (sub)stream must name its snapshot. */
static int
end_record(struct zwalk *w, int emitting)
{
	struct zwalk_sub *s = &w->subs[w->nsubs - 1];
	int keep = !w->drop;

	if (rec64(w, 40) != s->toguid)
		return walk_fail(w, "end record does not match the begin record");
	w->drop = 0;
	if (w->compound) {
		w->state = W_BETWEEN;
		return inner_end(w, emitting) == -1 ? -1 : keep;
	}
	/* A plain stream's commit: held back. */
	w->final_guid = s->toguid;
	memcpy(w->held, w->rec, ZSTREAM_RECORD);
	w->holding = 1;
	w->state = W_DONE;
	return 0;
}

/* Takes the record in w->rec: sets the payload to come and the state.
 * Returns whether the record goes to the receiver now (1) or not (0). */
static int
on_record(struct zwalk *w, int emitting)
{
	uint32_t type = rec32(w, 0);

	switch (w->state) {
	case W_START:
		return first_record(w);
	case W_OUTER_END:
		if (type != DRR_END)
			return walk_fail(w, "no end record after the header");
		w->state = W_BETWEEN;
		return header_end(w, emitting) == -1 ? -1 : 1;
	case W_BETWEEN:
		if (type != DRR_END)
			return begin_record(w, ZSTREAM_SUBSTREAM) == -1 ? -1 :
			    !w->drop;
		if (w->nsubs == 0)
			return walk_fail(w, "compound stream without snapshots");
		/* The last end record: held back. */
		w->final_guid = w->subs[w->nsubs - 1].toguid;
		memcpy(w->held, w->rec, ZSTREAM_RECORD);
		w->holding = 1;
		w->state = W_DONE;
		return 0;
	case W_SUB:
		if (type == DRR_END)
			return end_record(w, emitting);
		return body_payload(w, type) == -1 ? -1 : !w->drop;
	case W_DONE:
		break;
	}
	return walk_fail(w, "data after the end record");
}

struct zwalk *
zwalk_new(size_t skip, const struct zwalk *verified)
{
	struct zwalk *w = xcalloc(1, sizeof *w);

	w->skip = skip;
	w->verified = verified;
	return w;
}

void
zwalk_free(struct zwalk *w)
{
	if (w == NULL)
		return;
	hash_free(w->hash);
	free(w->subs);
	free(w);
}

static size_t
min_size(uint64_t a, size_t b)
{
	return a < b ? (size_t)a : b;
}

/* Passes a payload's bytes on, unless its substream is left out. */
static int
feed_payload(struct zwalk *w, const unsigned char *b, size_t n,
    byte_sink emit, void *arg)
{
	if (w->hash != NULL)
		hash_update(w->hash, b, n);
	w->payload -= n;
	if (w->drop || emit == NULL)
		return 0;
	return emit(arg, b, n);
}

/* Walks B and passes to EMIT what the receiver may read now (EMIT NULL:
 * a verifying pass, nothing is received).  -1 with zwalk_error() set
 * when the stream is not a stream that may be received, without it
 * when EMIT failed. */
int
zwalk_feed(struct zwalk *w, const unsigned char *b, size_t n,
    byte_sink emit, void *arg)
{
	while (n > 0) {
		size_t take;
		int keep;

		if (w->error != NULL)
			return -1;
		if (w->payload > 0) {
			take = min_size(w->payload, n);
			if (feed_payload(w, b, take, emit, arg) == -1)
				return -1;
			b += take;
			n -= take;
			continue;
		}
		if (w->state == W_DONE)
			return walk_fail(w, "data after the end record");
		take = min_size(ZSTREAM_RECORD - w->have, n);
		memcpy(w->rec + w->have, b, take);
		w->have += take;
		b += take;
		n -= take;
		if (w->have < ZSTREAM_RECORD)
			break;
		w->have = 0;
		if (w->hash != NULL)
			hash_update(w->hash, w->rec, ZSTREAM_RECORD);
		if ((keep = on_record(w, emit != NULL)) == -1)
			return -1;
		if (keep && emit != NULL && emit(arg, w->rec, ZSTREAM_RECORD) == -1)
			return -1;
	}
	return 0;
}

/* Did the stream end where it must, right after its last end record? */
int
zwalk_end(const struct zwalk *w)
{
	return w->error == NULL && w->state == W_DONE && w->have == 0 &&
	    w->payload == 0 ? 0 : -1;
}

/* Hands the held-back end record to EMIT: for the caller to do only
 * once the whole file proved genuine. */
int
zwalk_release(struct zwalk *w, byte_sink emit, void *arg)
{
	if (zwalk_end(w) == -1 || !w->holding)
		return walk_fail(w, zwalk_error(w) ? zwalk_error(w) :
		    "nothing to release");
	w->holding = 0;
	return emit(arg, w->held, ZSTREAM_RECORD);
}

const char *
zwalk_error(const struct zwalk *w)
{
	if (w->error != NULL)
		return w->error;
	if (w->state == W_START && w->have == 0)
		return "empty stream";
	return zwalk_end(w) == 0 ? NULL : "stream ends inside a record "
	    "(truncated at the sender?)";
}

const struct zwalk_sub *
zwalk_subs(const struct zwalk *w, size_t *n)
{
	*n = w->nsubs;
	return w->subs;
}

/* The guid of the stream's last snapshot, once the walk reached it. */
uint64_t
zwalk_final_guid(const struct zwalk *w)
{
	return w->final_guid;
}

int
zwalk_compound(const struct zwalk *w)
{
	return w->compound;
}

/* Did the walk stop because the bytes differ from the verified ones
 * (rather than because they are no stream to receive)? */
int
zwalk_unproven(const struct zwalk *w)
{
	return w->unproven;
}
