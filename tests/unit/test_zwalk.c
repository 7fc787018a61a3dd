/* Walking a compound stream record by record: a real zfs send -I
 * stream, synthetic ones with every record type in both byte orders,
 * leaving out leading substreams, and what must stop the walk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airgap-agent.h"
#include "unit.h"

#define REC ZSTREAM_RECORD
#define REAL "tests/fuzz/corpus/zstream/compound"

static struct buf out;

static int
collect(void *arg, const unsigned char *b, size_t n)
{
	(void)arg;
	buf_append(&out, b, n);
	return 0;
}

/* Walks S in pieces of CHUNK bytes, leaving out SKIP substreams. */
static struct zwalk *
walk(const struct buf *s, size_t chunk, size_t skip)
{
	struct zwalk *w = zwalk_new(skip);
	size_t off;

	buf_free(&out);
	for (off = 0; off < s->len; off += chunk) {
		size_t n = s->len - off < chunk ? s->len - off : chunk;

		if (zwalk_feed(w, (unsigned char *)s->data + off, n, collect,
		    NULL) == -1)
			break;
	}
	return w;
}

/* Appends a zeroed record of TYPE and PAYLOAD bytes; returns the record
 * for its fields to be set. */
static unsigned char *
record(struct buf *s, uint32_t type, size_t payload, int swap)
{
	unsigned char r[REC], *p;
	size_t at = s->len;

	memset(r, 0, sizeof r);
	put32(r, type, swap);
	buf_append(s, r, sizeof r);
	p = xcalloc(1, payload + 1);
	memset(p, 0xa5, payload);
	buf_append(s, p, payload);
	free(p);
	return (unsigned char *)s->data + at;
}

static void
begin(struct buf *s, unsigned hdrtype, uint64_t to, uint64_t from,
    uint32_t payload, int swap)
{
	unsigned char *r = record(s, 0, payload, swap);

	put32(r + 4, payload, swap);
	put64(r + 8, 0x2F5BACBACULL, swap);
	put64(r + 16, hdrtype, swap);
	put64(r + 40, to, swap);
	put64(r + 48, from, swap);
	strcpy((char *)r + 56, "pool/fs@snap");
}

/* One substream with a record of every kind that carries data. */
static void
substream(struct buf *s, uint64_t to, uint64_t from, int swap)
{
	unsigned char *r;

	begin(s, 1, to, from, 0, swap);
	r = record(s, 1, 8, swap);          /* object, bonus 5 -> 8 */
	put32(r + 28, 5, swap);
	r = record(s, 1, 20, swap);         /* object, raw bonus 20 */
	put32(r + 28, 5, swap);
	put32(r + 36, 20, swap);
	record(s, 2, 0, swap);              /* freeobjects */
	r = record(s, 3, 512, swap);        /* write, 512 logical */
	put64(r + 32, 512, swap);
	r = record(s, 3, 100, swap);        /* write, compressed to 100 */
	put64(r + 32, 4096, swap);
	r[50] = 3;
	put64(r + 96, 100, swap);
	record(s, 4, 0, swap);              /* free */
	record(s, 6, 0, swap);              /* write by reference */
	r = record(s, 7, 64, swap);         /* spill, 64 */
	put64(r + 16, 64, swap);
	r = record(s, 7, 30, swap);         /* spill, compressed to 30 */
	put64(r + 16, 64, swap);
	put64(r + 40, 30, swap);
	r = record(s, 8, 16, swap);         /* embedded, psize 13 -> 16 */
	put32(r + 52, 13, swap);
	record(s, 9, 0, swap);              /* object range */
	record(s, 10, 0, swap);             /* redact */
	r = record(s, 5, 0, swap);
	put64(r + 40, to, swap);
}

static void
compound(struct buf *s, int nsubs, int swap)
{
	int i;

	memset(s, 0, sizeof *s);
	begin(s, 2, 0, 0, 24, swap);
	record(s, 5, 0, swap);
	for (i = 0; i < nsubs; i++)
		substream(s, 100 + (uint64_t)i + 1, 100 + (uint64_t)i, swap);
	record(s, 5, 0, swap);
}

static void
test_real(void)
{
	struct buf s = { 0 }, first = { 0 };
	const struct zwalk_sub *subs;
	struct zwalk *w;
	size_t n, chunk;
	FILE *f = fopen(REAL, "rb");
	unsigned char b[4096];
	size_t got;

	CHECK(f != NULL);
	if (f == NULL)
		return;
	while ((got = fread(b, 1, sizeof b, f)) > 0)
		buf_append(&s, b, got);
	fclose(f);
	for (chunk = 1; chunk <= s.len; chunk = chunk * 7 + 3) {
		w = walk(&s, chunk, 0);
		subs = zwalk_subs(w, &n);
		CHECK(zwalk_end(w) == 0);
		CHECK(n == 2);
		CHECK(n == 2 && subs[1].fromguid == subs[0].toguid);
		CHECK(out.len == s.len && memcmp(out.data, s.data, s.len) == 0);
		zwalk_free(w);
	}
	/* Without the first substream: header, the second, the last end. */
	w = walk(&s, 4096, 1);
	CHECK(zwalk_end(w) == 0);
	subs = zwalk_subs(w, &n);
	CHECK(n == 2);
	zwalk_free(w);
	first = out;
	memset(&out, 0, sizeof out);
	w = walk(&first, 1000, 0);
	subs = zwalk_subs(w, &n);
	CHECK(zwalk_end(w) == 0);
	CHECK(n == 1 && subs[0].fromguid != 0);
	CHECK(first.len == 19088 - (8944 + REC - 624));
	CHECK(memcmp(first.data, s.data, 2 * REC) == 0);
	zwalk_free(w);
	/* Cut short anywhere: the walk does not end. */
	s.len -= 10;
	w = walk(&s, 4096, 0);
	CHECK(zwalk_end(w) == -1 && zwalk_error(w) != NULL);
	zwalk_free(w);
	buf_free(&first);
	buf_free(&s);
}

static void
test_synthetic(int swap)
{
	struct buf s, kept;
	const struct zwalk_sub *subs;
	struct zwalk *w;
	size_t n, one;

	compound(&s, 3, swap);
	w = walk(&s, 33, 0);
	subs = zwalk_subs(w, &n);
	CHECK(zwalk_end(w) == 0);
	CHECK(n == 3 && subs[0].toguid == 101 && subs[2].fromguid == 102);
	CHECK(out.len == s.len);
	zwalk_free(w);

	w = walk(&s, 4096, 2);
	CHECK(zwalk_end(w) == 0);
	kept = out;
	memset(&out, 0, sizeof out);
	zwalk_free(w);
	one = (s.len - 3 * REC - 24) / 3; /* header payload: 24 */
	CHECK(kept.len == s.len - 2 * one);
	w = walk(&kept, 4096, 0);
	subs = zwalk_subs(w, &n);
	CHECK(zwalk_end(w) == 0 && n == 1 && subs[0].toguid == 103 &&
	    subs[0].fromguid == 102);
	zwalk_free(w);
	buf_free(&kept);
	buf_free(&s);
}

/* A compound stream up to the first record of its first substream. */
static void
opened(struct buf *s)
{
	memset(s, 0, sizeof *s);
	begin(s, 2, 0, 0, 0, 0);
	record(s, 5, 0, 0);
	begin(s, 1, 2, 1, 0, 0);
}

/* The walk of S must not end cleanly; frees S. */
static void
refused(struct buf *s, int line)
{
	struct zwalk *w = walk(s, 4096, 0);

	if (zwalk_end(w) != -1 || zwalk_error(w) == NULL)
		fprintf(stderr, "refused() from line %d\n", line);
	CHECK(zwalk_end(w) == -1 && zwalk_error(w) != NULL);
	zwalk_free(w);
	buf_free(s);
}

/* Streams the walk must stop on, or not see the end of. */
static void
test_refused(void)
{
	struct buf s;
	unsigned char *r;

	opened(&s); /* an unknown record type */
	record(&s, 42, 0, 0);
	refused(&s, __LINE__);

	opened(&s); /* a begin record inside a substream */
	begin(&s, 1, 3, 2, 0, 0);
	refused(&s, __LINE__);

	memset(&s, 0, sizeof s); /* a plain (not compound) stream */
	begin(&s, 1, 2, 1, 0, 0);
	record(&s, 5, 0, 0);
	refused(&s, __LINE__);

	compound(&s, 1, 0); /* bytes after the last end record */
	record(&s, 5, 0, 0);
	refused(&s, __LINE__);

	opened(&s); /* a write that claims more than the stream holds */
	r = record(&s, 3, 0, 0);
	put64(r + 32, (uint64_t)1 << 40, 0);
	record(&s, 5, 0, 0);
	record(&s, 5, 0, 0);
	refused(&s, __LINE__);
}

int
main(void)
{
	log_init(-1, 0);
	test_real();
	test_synthetic(0);
	test_synthetic(1);
	test_refused();
	buf_free(&out);
	return unit_done("test_zwalk");
}
