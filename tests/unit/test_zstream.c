/* Begin and end records: plain, incremental, compound, byte-swapped,
 * and what must be refused. */
#include <byteswap.h>
#include <string.h>

#include "airgap-agent.h"
#include "unit.h"

#define REC ZSTREAM_RECORD

static void
begin(unsigned char *p, unsigned hdrtype, uint64_t to, uint64_t from,
    const char *name, int swap)
{
	memset(p, 0, REC);
	put32(p, 0, swap);
	put64(p + 8, 0x2F5BACBACULL, swap);
	put64(p + 16, hdrtype, swap);
	put64(p + 40, to, swap);
	put64(p + 48, from, swap);
	strcpy((char *)p + 56, name);
}

static void
end(unsigned char *p, uint64_t to, int swap)
{
	memset(p, 0, REC);
	put32(p, 5, swap);
	put64(p + 40, to, swap);
}

static void
test_plain(int swap)
{
	unsigned char b[2 * REC];
	struct zstream_head h;
	const char *why;
	char ds[64];

	begin(b, 1, 111, 0, "tank/fs@s1", swap);
	CHECK(zstream_parse_head(b, 100, &h, &why) == ZSTREAM_NEED_MORE);
	CHECK(zstream_parse_head(b, REC, &h, &why) == 0);
	CHECK(!h.compound && h.swapped == swap);
	CHECK(h.outer.toguid == 111 && zstream_base(&h) == 0);
	CHECK(zstream_first_guid(&h) == 111);
	CHECK(strcmp(h.outer.toname, "tank/fs@s1") == 0);
	CHECK(zstream_dataset(&h, ds, sizeof ds) == 0 && strcmp(ds, "tank/fs") == 0);
	begin(b, 1, 222, 111, "tank/fs@s2", swap);
	CHECK(zstream_parse_head(b, REC, &h, &why) == 0 && zstream_base(&h) == 111);
}

static void
test_compound(void)
{
	unsigned char b[6 * REC];
	struct zstream_head h;
	const char *why;

	begin(b, 2, 0, 0, "tank/fs@s3", 0);
	end(b + REC, 0, 0);
	begin(b + 2 * REC, 1, 222, 111, "tank/fs@s2", 0);
	CHECK(zstream_parse_head(b, 2 * REC, &h, &why) == ZSTREAM_NEED_MORE);
	CHECK(zstream_parse_head(b, 3 * REC, &h, &why) == 0);
	CHECK(h.compound);
	CHECK(zstream_base(&h) == 111 && zstream_first_guid(&h) == 222);
	/* no end record after the outer begin */
	begin(b + REC, 1, 222, 111, "tank/fs@s2", 0);
	CHECK(zstream_parse_head(b, 3 * REC, &h, &why) == -1);
}

static void
test_refused(void)
{
	unsigned char b[2 * REC];
	struct zstream_head h;
	const char *why;

	memset(b, 0, sizeof b);
	CHECK(zstream_parse_head(b, REC, &h, &why) == -1);  /* no magic */
	begin(b, 1, 111, 0, "tank/fs", 0);                  /* no @ */
	CHECK(zstream_parse_head(b, REC, &h, &why) == -1);
	begin(b, 1, 0, 0, "tank/fs@s", 0);                  /* no guid */
	CHECK(zstream_parse_head(b, REC, &h, &why) == -1);
	begin(b, 3, 1, 0, "tank/fs@s", 0);                  /* bad type */
	CHECK(zstream_parse_head(b, REC, &h, &why) == -1);
	begin(b, 1, 1, 0, "tank/fs@s", 0);
	memset(b + 56, 'a', 256);                           /* unterminated */
	CHECK(zstream_parse_head(b, REC, &h, &why) == -1);
	begin(b, 1, 1, 0, "tank/fs@s", 0);
	CHECK(zstream_parse_head(b, REC, &h, &why) == 0);
}

static void
test_sniff(void)
{
	unsigned char b[REC];
	unsigned char c;

	begin(b, 1, 1, 0, "tank/fs@s", 0);
	CHECK(zstream_sniff(b, REC) == FORMAT_ZFS);
	begin(b, 1, 1, 0, "tank/fs@s", 1);
	CHECK(zstream_sniff(b, REC) == FORMAT_ZFS);
	memcpy(b, "\x28\xb5\x2f\xfd", 4);
	CHECK(zstream_sniff(b, 16) == FORMAT_ZSTD);
	c = 0x85; /* old format, tag 1: public-key encrypted session key */
	CHECK(zstream_sniff(&c, 1) == FORMAT_OPENPGP);
	c = 0xc1; /* new format, tag 1 */
	CHECK(zstream_sniff(&c, 1) == FORMAT_OPENPGP);
	c = 0x8c; /* old format, tag 3: symmetric-key session key */
	CHECK(zstream_sniff(&c, 1) == FORMAT_OPENPGP);
	c = 0x80; /* tag 0 is reserved */
	CHECK(zstream_sniff(&c, 1) == FORMAT_UNKNOWN);
	c = 0xa3; /* compressed data: not an encrypted message */
	CHECK(zstream_sniff(&c, 1) == FORMAT_UNKNOWN);
	c = 'n';
	CHECK(zstream_sniff(&c, 1) == FORMAT_UNKNOWN);
	CHECK(zstream_sniff(&c, 0) == FORMAT_UNKNOWN);
}

int
main(void)
{
	log_init(0, 0);
	test_plain(0);
	test_plain(1);
	test_compound();
	test_refused();
	test_sniff();
	return unit_done("test_zstream");
}
