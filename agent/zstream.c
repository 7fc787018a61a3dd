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

/* Reads one begin record at P; *HDRTYPE gets the stream header type. */
static int
parse_begin(const unsigned char *p, struct zstream_begin *b, int *swap,
    unsigned *hdrtype, uint32_t *payload, const char **why)
{
	uint64_t magic;

	memcpy(&magic, p + 8, sizeof magic);
	if (magic == ZSTREAM_MAGIC)
		*swap = 0;
	else if (magic == bswap_64(ZSTREAM_MAGIC))
		*swap = 1;
	else
		return *why = "not a zfs send stream (bad magic)", -1;
	if (get32(p, *swap) != DRR_BEGIN)
		return *why = "not a zfs send stream (no begin record)", -1;
	*payload = get32(p + 4, *swap);
	*hdrtype = (unsigned)(get64(p + 16, *swap) & 3);
	b->toguid = get64(p + 40, *swap);
	b->fromguid = get64(p + 48, *swap);
	memcpy(b->toname, p + DRR_BEGIN_NAME, 256);
	b->toname[256] = '\0';
	if (memchr(p + DRR_BEGIN_NAME, '\0', 256) == NULL || b->toname[0] == '\0' ||
	    strchr(b->toname, '@') == NULL)
		return *why = "begin record has no snapshot name", -1;
	return 0;
}

/* A compound stream (zfs send -I or -R): outer begin, its payload, an
 * end record, then the first inner begin record. */
static int
parse_compound(const unsigned char *buf, size_t len, uint32_t payload,
    int swap, struct zstream_head *h, const char **why)
{
	size_t off = ZSTREAM_RECORD + (size_t)payload;
	unsigned hdrtype;
	uint32_t inner_payload;
	int inner_swap;

	if (payload > ZSTREAM_BEGIN_PAYLOAD_MAX)
		return *why = "begin record payload too large", -1;
	if (len < off + 2 * ZSTREAM_RECORD)
		return ZSTREAM_NEED_MORE;
	if (get32(buf + off, swap) != DRR_END)
		return *why = "compound stream: no end record after the header", -1;
	off += ZSTREAM_RECORD;
	if (parse_begin(buf + off, &h->first, &inner_swap, &hdrtype,
	    &inner_payload, why) == -1)
		return -1;
	if (inner_swap != swap || hdrtype != ZSTREAM_SUBSTREAM)
		return *why = "compound stream: malformed inner begin record", -1;
	return 0;
}

int
zstream_parse_head(const unsigned char *buf, size_t len, struct zstream_head *h,
    const char **why)
{
	unsigned hdrtype;
	uint32_t payload;
	int swap;

	memset(h, 0, sizeof *h);
	if (len < ZSTREAM_RECORD)
		return ZSTREAM_NEED_MORE;
	if (parse_begin(buf, &h->outer, &swap, &hdrtype, &payload, why) == -1)
		return -1;
	h->swapped = swap;
	if (hdrtype == ZSTREAM_SUBSTREAM) {
		if (h->outer.toguid == 0)
			return *why = "begin record has no snapshot guid", -1;
		return 0;
	}
	if (hdrtype != ZSTREAM_COMPOUND)
		return *why = "unknown stream header type", -1;
	h->compound = 1;
	return parse_compound(buf, len, payload, swap, h, why);
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
