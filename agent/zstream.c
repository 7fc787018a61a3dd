/*
 * The zfs send stream format, read only as far as the agent needs: its
 * integers, and the begin records at its head (what snapshot a stream
 * carries and on top of what), which decide what is done with it before
 * it is read any further.  The records after the head are zwalk.c's.
 * A stream is a sequence of 312-byte dmu_replay_record_t headers; see
 * lab-facts.md.  Everything here parses untrusted bytes: bounds are
 * checked first.
 */
#include <byteswap.h>
#include <string.h>

#include "airgap-agent.h"

#define DRR_BEGIN_NAME 56

uint32_t
zstream_get32(const unsigned char *p, int swap)
{
	uint32_t v;

	memcpy(&v, p, sizeof v);
	return swap ? bswap_32(v) : v;
}

uint64_t
zstream_get64(const unsigned char *p, int swap)
{
	uint64_t v;

	memcpy(&v, p, sizeof v);
	return swap ? bswap_64(v) : v;
}

#define get32 zstream_get32
#define get64 zstream_get64

/* Reads the begin record at P (ZSTREAM_RECORD bytes): the one reader
 * of begin records, for the head here and for every substream in
 * zwalk.c. */
int
zstream_begin_parse(const unsigned char *p, struct zstream_begin_rec *r,
    const char **why)
{
	uint64_t magic, info;

	memcpy(&magic, p + 8, sizeof magic);
	if (magic == ZSTREAM_MAGIC)
		r->swap = 0;
	else if (magic == bswap_64(ZSTREAM_MAGIC))
		r->swap = 1;
	else
		return *why = "not a zfs send stream (bad magic)", -1;
	if (get32(p, r->swap) != DRR_BEGIN)
		return *why = "not a zfs send stream (no begin record)", -1;
	r->payload = get32(p + 4, r->swap);
	info = get64(p + 16, r->swap);
	r->hdrtype = (unsigned)(info & 3);
	r->features = (uint32_t)((info >> 2) & 0x3fffffff);
	r->b.toguid = get64(p + 40, r->swap);
	r->b.fromguid = get64(p + 48, r->swap);
	memcpy(r->b.toname, p + DRR_BEGIN_NAME, 256);
	r->b.toname[256] = '\0';
	if (memchr(p + DRR_BEGIN_NAME, '\0', 256) == NULL ||
	    r->b.toname[0] == '\0' || strchr(r->b.toname, '@') == NULL)
		return *why = "begin record has no snapshot name", -1;
	if (r->payload > ZSTREAM_BEGIN_PAYLOAD_MAX)
		return *why = "begin record payload too large", -1;
	return 0;
}

/* A compound stream (zfs send -I or -R): outer begin, its payload, an
 * end record, then the first inner begin record. */
static int
parse_compound(const unsigned char *buf, size_t len,
    const struct zstream_begin_rec *outer, struct zstream_head *h,
    const char **why)
{
	size_t off = ZSTREAM_RECORD + (size_t)outer->payload;
	struct zstream_begin_rec inner;

	if (len < off + 2 * ZSTREAM_RECORD)
		return ZSTREAM_NEED_MORE;
	if (get32(buf + off, outer->swap) != DRR_END)
		return *why = "compound stream: no end record after the header", -1;
	off += ZSTREAM_RECORD;
	if (zstream_begin_parse(buf + off, &inner, why) == -1)
		return -1;
	if (inner.swap != outer->swap || inner.hdrtype != ZSTREAM_SUBSTREAM)
		return *why = "compound stream: malformed inner begin record", -1;
	h->first = inner.b;
	return 0;
}

int
zstream_parse_head(const unsigned char *buf, size_t len, struct zstream_head *h,
    const char **why)
{
	struct zstream_begin_rec r;

	memset(h, 0, sizeof *h);
	if (len < ZSTREAM_RECORD)
		return ZSTREAM_NEED_MORE;
	if (zstream_begin_parse(buf, &r, why) == -1)
		return -1;
	h->outer = r.b;
	h->swapped = r.swap;
	if (r.hdrtype == ZSTREAM_SUBSTREAM) {
		if (h->outer.toguid == 0)
			return *why = "begin record has no snapshot guid", -1;
		return 0;
	}
	if (r.hdrtype != ZSTREAM_COMPOUND)
		return *why = "unknown stream header type", -1;
	h->compound = 1;
	return parse_compound(buf, len, &r, h, why);
}

/* The snapshot a stream needs on the destination, 0 for a full one. */
uint64_t
zstream_base(const struct zstream_head *h)
{
	return h->compound ? h->first.fromguid : h->outer.fromguid;
}

/* The first snapshot the stream creates. */
uint64_t
zstream_first_guid(const struct zstream_head *h)
{
	return h->compound ? h->first.toguid : h->outer.toguid;
}

/* The sender's dataset name, from the begin record: "pool/fs". */
int
zstream_dataset(const struct zstream_head *h, char *out, size_t len)
{
	const char *at = strchr(h->outer.toname, '@');
	size_t n = (size_t)(at - h->outer.toname);

	if (n == 0 || n >= len)
		return -1;
	memcpy(out, h->outer.toname, n);
	out[n] = '\0';
	return 0;
}

/* Does an encrypted OpenPGP message start here?  It starts with a
 * public-key or symmetric-key encrypted session key packet (tag 1 or
 * 3), in the old header format or the new one. */
static int
openpgp_start(unsigned char b)
{
	unsigned tag;

	if ((b & 0xc0) == 0xc0)
		tag = b & 0x3f;
	else if ((b & 0xc0) == 0x80)
		tag = (b >> 2) & 0x0f;
	else
		return 0;
	return tag == 1 || tag == 3;
}

/* What a queued stream is, from its first bytes: a zfs send stream
 * (begin record with the magic, either byte order), a zstd frame, or an
 * encrypted OpenPGP message. */
enum stream_format
zstream_sniff(const unsigned char *b, size_t n)
{
	size_t zl;
	const unsigned char *zm = decompress_magic(&zl);
	uint64_t magic;

	if (n >= 16) {
		memcpy(&magic, b + 8, sizeof magic);
		if ((magic == ZSTREAM_MAGIC || magic == bswap_64(ZSTREAM_MAGIC)) &&
		    get32(b, magic != ZSTREAM_MAGIC) == DRR_BEGIN)
			return FORMAT_ZFS;
	}
	if (n >= zl && memcmp(b, zm, zl) == 0)
		return FORMAT_ZSTD;
	if (n >= 1 && openpgp_start(b[0]))
		return FORMAT_OPENPGP;
	return FORMAT_UNKNOWN;
}
