/* NNCP chunk and meta names and metas: exactly NAME.nncp.chunkN and
 * NAME.nncp.meta of a valid queue file name are pieces; everything else
 * with ".nncp." in it is refused, never guessed at, over names made
 * from hostile parts; and a meta must agree with itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airgap-agent.h"
#include "unit.h"

#define GOOD "bakfsfmt2-1700000000.123456789.4242_laptop@tank@fs"

static int
parse(const char *name, struct chunk_name *cn)
{
	const char *why = NULL;
	int rc = chunk_parse_name("laptop", name, cn, &why);

	if (rc == -1)
		CHECK(why != NULL && why[0] != '\0');
	return rc;
}

static void
test_good(void)
{
	struct chunk_name cn;

	CHECK(parse(GOOD ".nncp.meta", &cn) == 0 && cn.kind == CHUNK_META);
	CHECK(strcmp(cn.base, GOOD) == 0);
	CHECK(parse(GOOD ".nncp.chunk0", &cn) == 0 && cn.kind == CHUNK_PIECE);
	CHECK(cn.index == 0 && strcmp(cn.base, GOOD) == 0);
	CHECK(parse(GOOD ".nncp.chunk12", &cn) == 0 && cn.index == 12);
	CHECK(parse(GOOD ".nncp.chunk99999", &cn) == 0 && cn.index == 99999);
	/* a dataset whose name ends in a digit suffix is still a dataset */
	CHECK(parse("bakfsfmt2-1.2.3_laptop@tank@fs.0.nncp.meta", &cn) == 0);
	/* no ".nncp.": not a piece, and not an error */
	CHECK(parse(GOOD, &cn) == 0 && cn.kind == CHUNK_NONE);
	CHECK(parse(GOOD ".nncp", &cn) == 0 && cn.kind == CHUNK_NONE);
	CHECK(parse(GOOD ".nncpmeta", &cn) == 0 && cn.kind == CHUNK_NONE);
}

static void
test_bad(void)
{
	static const char *const bad[] = {
		GOOD ".nncp.",
		GOOD ".nncp.meta.0",          /* NNCP's clash suffix */
		GOOD ".nncp.chunk0.1",
		GOOD ".nncp.chunk",
		GOOD ".nncp.chunk00",
		GOOD ".nncp.chunk01",
		GOOD ".nncp.chunk-1",
		GOOD ".nncp.chunk+1",
		GOOD ".nncp.chunk 1",
		GOOD ".nncp.chunk1x",
		GOOD ".nncp.chunk0x10",
		GOOD ".nncp.chunk100000",     /* CHUNK_COUNT_MAX */
		GOOD ".nncp.chunk4294967296",
		GOOD ".nncp.chunk99999999999999999999",
		GOOD ".nncp.META",
		GOOD ".nncp.metadata",
		GOOD ".nncp.chunk1.nncp.meta",
		GOOD ".nncp.meta.nncp.chunk0",
		GOOD ".NNCP.meta",            /* no ".nncp.": not a piece */
		"bakfsfmt2-1.2.3_laptop@tank@a.nncp.b",
		"bakfsfmt2-1.2.3_laptop@tank@a.nncp.b.nncp.meta",
		"bakfsfmt2-1.2.3_other@tank@fs.nncp.meta",  /* wrong host */
		"bakfsfmt2-1.2.3_laptop.nncp.meta",         /* no dataset */
		"bakfsfmt2-1.2.3_laptop@..@fs.nncp.meta",
		"bakfsfmt2-1.2.3_laptop@-x.nncp.chunk0",
		"bakfsfmt2-x.2.3_laptop@tank@fs.nncp.chunk0",
		"bakfsfmt2-.nncp.meta",
		".nncp.meta",
		"x.nncp.chunk0",
	};
	struct chunk_name cn;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = parse(bad[i], &cn);

		if (strstr(bad[i], ".nncp.") == NULL)
			CHECK(rc == 0 && cn.kind == CHUNK_NONE);
		else if (rc != -1) {
			CHECK(rc == -1);
			fprintf(stderr, "accepted: %s\n", bad[i]);
		}
	}
}

/* Every accepted name is exactly BASE.nncp.meta or BASE.nncp.chunkN
 * with N printed back the same, and BASE a queue name for the folder. */
static void
check_exact(const char *name)
{
	struct chunk_name cn;
	struct queue_name qn;
	const char *why;
	char back[QUEUE_NAME_MAX + 64];

	if (parse(name, &cn) == -1 || cn.kind == CHUNK_NONE) {
		CHECK(cn.kind == CHUNK_NONE);
		return;
	}
	if (cn.kind == CHUNK_META)
		snprintf(back, sizeof back, "%s.nncp.meta", cn.base);
	else
		snprintf(back, sizeof back, "%s.nncp.chunk%u", cn.base, cn.index);
	CHECK(strcmp(back, name) == 0);
	CHECK(queue_parse_name("laptop", cn.base, &qn, &why) == 0);
	CHECK(strstr(cn.base, ".nncp.") == NULL);
	CHECK(cn.index < CHUNK_COUNT_MAX);
}

/* Names glued from hostile parts: each one accepted must be exact. */
static void
test_generated(void)
{
	static const char *const parts[] = {
		"bakfsfmt2-", "backupsfmt2-", "1", "0", "00", "1.2.3_",
		"17000000000.999999999.4294967295_", "laptop", "@", "/", "tank",
		"fs", ".", "..", "-", ".nncp.", ".nncp", "nncp.", "meta", "chunk",
		"chunk0", "chunk1", "chunk007", "0", "9", "99999", "100000", ".0",
		".1", " ", "\t", "\n", "\xff", "%", "*", "..nncp..", "NNCP",
		"chunk-1", ":", "_",
	};
	size_t np = sizeof parts / sizeof *parts;
	char name[512];
	int i, j, k;

	for (i = 0; i < 200000; i++) {
		size_t len = 0;

		name[0] = '\0';
		k = 1 + (int)unit_rand(9);
		for (j = 0; j < k; j++) {
			const char *p = parts[unit_rand(np)];
			size_t pl = strlen(p);

			if (len + pl >= sizeof name)
				break;
			memcpy(name + len, p, pl + 1);
			len += pl;
		}
		check_exact(name);
		/* the same with a good queue name in front */
		if (snprintf(name, sizeof name, "%s%s", GOOD,
		    parts[unit_rand(np)]) < (int)sizeof name)
			check_exact(name);
	}
	/* over-long names are refused, whatever they end in */
	memset(name, 'a', sizeof name);
	memcpy(name, GOOD, strlen(GOOD));
	strcpy(name + 300, ".nncp.meta");
	check_exact(name);
	CHECK(parse(name, &(struct chunk_name){ 0 }) == -1);
}

static size_t
meta(unsigned char *b, const char *magic, uint64_t size, uint64_t chunk,
    uint32_t count, size_t sums)
{
	size_t n = 0, i;

	memcpy(b, magic, 8);
	n = 8;
	for (i = 0; i < 8; i++)
		b[n++] = (unsigned char)(size >> (56 - 8 * i));
	for (i = 0; i < 8; i++)
		b[n++] = (unsigned char)(chunk >> (56 - 8 * i));
	for (i = 0; i < 4; i++)
		b[n++] = (unsigned char)(count >> (24 - 8 * i));
	memset(b + n, 0xab, sums * 32);
	return n + sums * 32;
}

static void
test_meta(void)
{
	static unsigned char b[64 * 1024];
	const char *v2 = "NNCPM\0\0\2", *v1 = "NNCPM\0\0\1";
	struct chunk_meta m;
	const char *why;
	size_t n;

	/* as nncp-file -chunked 1024 wrote it for 3000000 bytes */
	n = meta(b, v2, 3000000, 1048576, 3, 3);
	CHECK(n == 124);
	CHECK(chunk_parse_meta(b, n, &m, &why) == 0);
	CHECK(m.size == 3000000 && m.chunk_size == 1048576 && m.count == 3);
	n = meta(b, v2, 1048576, 1048576, 1, 1);
	CHECK(chunk_parse_meta(b, n, &m, &why) == 0 && m.count == 1);
	/* refused */
	n = meta(b, v1, 3000000, 1048576, 3, 3);
	CHECK(chunk_parse_meta(b, n, &m, &why) == -1);
	n = meta(b, v2, 3000000, 1048576, 4, 4);   /* count vs sizes */
	CHECK(chunk_parse_meta(b, n, &m, &why) == -1);
	n = meta(b, v2, 3000000, 1048576, 3, 2);   /* short */
	CHECK(chunk_parse_meta(b, n, &m, &why) == -1);
	n = meta(b, v2, 3000000, 1048576, 3, 4);   /* trailing bytes */
	CHECK(chunk_parse_meta(b, n, &m, &why) == -1);
	n = meta(b, v2, 3000000, 0, 3, 3);         /* zero chunk size */
	CHECK(chunk_parse_meta(b, n, &m, &why) == -1);
	n = meta(b, v2, 0, 1048576, 0, 0);         /* empty */
	CHECK(chunk_parse_meta(b, n, &m, &why) == -1);
	n = meta(b, v2, UINT64_MAX, 1, 0xffffffffu, 0); /* huge count */
	CHECK(chunk_parse_meta(b, n, &m, &why) == -1);
	n = meta(b, v2, (uint64_t)CHUNK_COUNT_MAX, 1, CHUNK_COUNT_MAX, 0);
	CHECK(chunk_parse_meta(b, n, &m, &why) == -1);
	CHECK(chunk_parse_meta(b, 27, &m, &why) == -1);
	CHECK(chunk_parse_meta(b, 0, &m, &why) == -1);
}

int
main(void)
{
	log_init(LOG_TO_NOWHERE, 0);
	test_good();
	test_bad();
	test_generated();
	test_meta();
	return unit_done("test_chunk");
}
