/* Walking streams record by record: real zfs send streams (full,
 * incremental, compound), synthetic ones with every record type in
 * both byte orders, leaving out leading substreams, and what must stop
 * the walk.  And the promise the walk exists for, checked against a
 * stand-in receiver that commits at the first end record it reads:
 * over many streams made from real ones (end records copied to other
 * places, padding, cuts, changed bytes and record types), nothing is
 * committed before the caller releases the held end record, and a
 * compound stream's snapshots commit only where the bytes so far are
 * the verified ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airgap-agent.h"
#include "unit.h"
#include "standin.h"

#define REC ZSTREAM_RECORD
#define REAL "tests/fuzz/corpus/zstream/compound"
#define REAL_FULL "tests/fuzz/corpus/zstream/full"
#define REAL_INCR "tests/fuzz/corpus/zstream/incremental"

static struct buf out;
static struct zwalk *proof; /* the verifying pass of the last walk() */

static int
collect(void *arg, const void *b, size_t n)
{
	(void)arg;
	buf_append(&out, b, n);
	return 0;
}

/* Feeds S to W in pieces of CHUNK bytes; EMIT NULL: a verifying pass. */
static void
feed(struct zwalk *w, const struct buf *s, size_t chunk, byte_sink emit)
{
	size_t off;

	for (off = 0; off < s->len; off += chunk) {
		size_t n = s->len - off < chunk ? s->len - off : chunk;

		if (zwalk_feed(w, (unsigned char *)s->data + off, n, emit,
		    NULL) == -1)
			break;
	}
}

/* Verifies S in one pass, then walks it again in pieces of CHUNK bytes
 * as a receiving pass, leaving out SKIP substreams, and releases the
 * held end record when the walk ended well. */
static struct zwalk *
walk(const struct buf *s, size_t chunk, size_t skip)
{
	struct zwalk *w;

	zwalk_free(proof);
	proof = zwalk_new(0, NULL);
	feed(proof, s, 4096, NULL);
	w = zwalk_new(skip, proof);
	buf_free(&out);
	feed(w, s, chunk, collect);
	if (zwalk_end(w) == 0)
		CHECK(zwalk_release(w, collect, NULL) == 0);
	return w;
}

static void
load(struct buf *s, const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char b[4096];
	size_t got;

	memset(s, 0, sizeof *s);
	CHECK(f != NULL);
	if (f == NULL)
		return;
	while ((got = fread(b, 1, sizeof b, f)) > 0)
		buf_append(s, b, got);
	fclose(f);
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

/* The feature flags that allow every record type and size field. */
#define ALL_FEATURES ((1ULL << 0 | 1ULL << 16 | 1ULL << 21 | 1ULL << 22 | \
	1ULL << 24) << 2)

/* One substream with a record of every kind that carries data. */
static void
substream(struct buf *s, uint64_t to, uint64_t from, int swap)
{
	unsigned char *r;

	begin(s, 1 | ALL_FEATURES, to, from, 0, swap);
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

	load(&s, REAL);
	if (s.len == 0)
		return;
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

/* A plain stream: one substream, no header. */
static void
plain(struct buf *s, int swap)
{
	memset(s, 0, sizeof *s);
	substream(s, 7, 0, swap);
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

	/* Fields and records a receiver without the feature reads
	 * differently, in a stream that does not announce it. */
	opened(&s); /* a raw object's bonus length */
	r = record(&s, 1, 0, 0);
	put32(r + 36, 4 * REC, 0);
	refused(&s, __LINE__);
	opened(&s); /* a compressed write */
	r = record(&s, 3, 0, 0);
	r[50] = 3;
	refused(&s, __LINE__);
	opened(&s); /* a raw spill block */
	r = record(&s, 7, 0, 0);
	put64(r + 40, 8, 0);
	refused(&s, __LINE__);
	opened(&s); /* embedded data */
	record(&s, 8, 0, 0);
	refused(&s, __LINE__);
	opened(&s); /* a write by reference */
	record(&s, 6, 0, 0);
	refused(&s, __LINE__);
	opened(&s); /* an object range */
	record(&s, 9, 0, 0);
	refused(&s, __LINE__);
	memset(&s, 0, sizeof s); /* a plain stream's begin payload */
	begin(&s, 1, 2, 1, 64, 0);
	refused(&s, __LINE__);

	opened(&s); /* an unknown record type */
	record(&s, 42, 0, 0);
	refused(&s, __LINE__);

	opened(&s); /* a begin record inside a substream */
	begin(&s, 1, 3, 2, 0, 0);
	refused(&s, __LINE__);

	plain(&s, 0); /* a plain stream with a second end record */
	r = record(&s, 5, 0, 0);
	put64(r + 40, 7, 0);
	refused(&s, __LINE__);

	plain(&s, 0); /* a plain stream whose end names another snapshot */
	put64((unsigned char *)s.data + s.len - REC + 40, 8, 0);
	refused(&s, __LINE__);

	plain(&s, 1); /* a plain stream, padding after its end */
	buf_append(&s, (char[4096]){ 0 }, 4096);
	refused(&s, __LINE__);

	compound(&s, 2, 0); /* an inner end that names another snapshot */
	put64((unsigned char *)s.data + s.len - 2 * REC + 40, 5, 0);
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

/* A plain stream reaches the receiver whole but for its end record,
 * which comes only with zwalk_release. */
static void
test_plain(const char *path)
{
	struct buf s;
	struct standin si;
	struct zwalk *w = zwalk_new(0, NULL);

	load(&s, path);
	buf_free(&out);
	feed(w, &s, 1000, collect);
	CHECK(zwalk_end(w) == 0 && !zwalk_compound(w));
	CHECK(out.len == s.len - REC && memcmp(out.data, s.data, out.len) == 0);
	memset(&si, 0, sizeof si);
	standin_feed(&si, (unsigned char *)out.data, out.len);
	CHECK(si.ncommits == 0 && !si.broken);
	CHECK(zwalk_release(w, collect, NULL) == 0);
	CHECK(out.len == s.len && memcmp(out.data, s.data, s.len) == 0);
	standin_feed(&si, (unsigned char *)out.data + s.len - REC, REC);
	CHECK(si.ncommits == 1);
	CHECK(zwalk_final_guid(w) == zstream_get64((unsigned char *)s.data + 40, 0));
	CHECK(zwalk_release(w, collect, NULL) == -1); /* only once */
	zwalk_free(w);
	buf_free(&s);
}

/* Walks S as a receiving pass checked against V, which must stop it as
 * unproven; SI gets what a receiver would have done with the output. */
static void
unproven(const struct buf *s, const struct zwalk *v, struct standin *si)
{
	struct zwalk *w = zwalk_new(0, v);

	buf_free(&out);
	feed(w, s, 777, collect);
	CHECK(zwalk_end(w) == -1 && zwalk_unproven(w));
	memset(si, 0, sizeof *si);
	standin_feed(si, (unsigned char *)out.data, out.len);
	zwalk_free(w);
}

/* The receiving pass of a compound stream passes an inner end record
 * on only where the bytes before it are the verified ones. */
static void
test_proof(void)
{
	struct buf a, b;
	struct zwalk *v = zwalk_new(0, NULL);
	struct standin si;
	size_t one;

	compound(&a, 3, 0);
	one = (a.len - 3 * REC - 24) / 3;
	feed(v, &a, 4096, NULL);
	CHECK(zwalk_end(v) == 0);
	/* A byte of the second substream's data changed after verifying. */
	b = (struct buf){ 0 };
	buf_append(&b, a.data, a.len);
	b.data[2 * REC + 24 + one + 2 * REC] ^= 1;
	unproven(&b, v, &si);
	CHECK(si.ncommits == 1 && si.commit_at[0] == 2 * REC + 24 + one);
	/* No verifying pass at all: nothing commits. */
	unproven(&a, NULL, &si);
	CHECK(si.ncommits == 0);
	/* The header's payload changed: stopped before its end record. */
	memcpy(b.data, a.data, a.len);
	b.data[REC + 3] ^= 1;
	unproven(&b, v, &si);
	CHECK(si.ncommits == 0 && out.len == REC + 24);
	zwalk_free(v);
	buf_free(&a);
	buf_free(&b);
}

/* One hostile variant of the genuine stream A into X. */
static void
mutate(const struct buf *a, struct buf *x)
{
	size_t at = (size_t)unit_rand(a->len / REC + 1) * REC, i;
	char *end = a->data + a->len - REC;

	memset(x, 0, sizeof *x);
	switch (unit_rand(6)) {
	case 0: /* the end record copied to a record boundary */
		buf_append(x, a->data, at);
		buf_append(x, end, REC);
		buf_append(x, a->data + at, a->len - at);
		break;
	case 1: /* padding, then the end record again */
		buf_append(x, a->data, a->len);
		for (i = unit_rand(3 * REC); i > 0; i--)
			buf_append(x, "", 1);
		buf_append(x, end, REC);
		break;
	case 2: /* cut anywhere */
		buf_append(x, a->data, (size_t)unit_rand(a->len));
		break;
	case 3: /* a record's type changed */
		buf_append(x, a->data, a->len);
		if (at < x->len)
			x->data[at] = (char)unit_rand(12);
		break;
	default: /* bytes changed anywhere */
		buf_append(x, a->data, a->len);
		for (i = unit_rand(4) + 1; i > 0; i--)
			x->data[unit_rand(x->len)] ^= (char)(unit_rand(255) + 1);
		break;
	}
}

/* Where a stand-in receiver fed all of A commits. */
static void
commit_points(const struct buf *a, struct standin *ref)
{
	memset(ref, 0, sizeof *ref);
	standin_feed(ref, (unsigned char *)a->data, a->len);
}

/* The invariant over many variants of one genuine stream A. */
static void
invariant(const char *path, int rounds)
{
	struct buf a, x;
	struct standin ref, si;
	struct zwalk *v = zwalk_new(0, NULL);
	int r, bad = 0;
	size_t i, j;

	load(&a, path);
	feed(v, &a, 4096, NULL);
	CHECK(zwalk_end(v) == 0);
	commit_points(&a, &ref);
	for (r = 0; r < rounds; r++) {
		struct zwalk *w = zwalk_new(0, zwalk_compound(v) ? v : NULL);

		mutate(&a, &x);
		buf_free(&out);
		feed(w, &x, (size_t)unit_rand(5000) + 1, collect);
		memset(&si, 0, sizeof si);
		standin_feed(&si, (unsigned char *)out.data, out.len);
		/* Before the release: a commit only at one of A's commit
		 * points, with the bytes up to it those of A; never for a
		 * plain stream. */
		for (i = 0; i < si.ncommits && i < SI_MAX_COMMITS; i++) {
			int known = 0;

			for (j = 0; j < ref.ncommits; j++)
				known |= ref.commit_at[j] == si.commit_at[i];
			if (!zwalk_compound(v) || !known ||
			    memcmp(x.data, a.data, si.commit_at[i]) != 0)
				bad++;
		}
		zwalk_free(w);
		buf_free(&x);
	}
	if (bad)
		fprintf(stderr, "%s: %d commits of unverified bytes\n", path, bad);
	CHECK(bad == 0);
	zwalk_free(v);
	buf_free(&a);
}

int
main(void)
{
	log_init(-1, 0);
	test_real();
	test_synthetic(0);
	test_synthetic(1);
	test_refused();
	test_plain(REAL_FULL);
	test_plain(REAL_INCR);
	test_proof();
	invariant(REAL_FULL, 3000);
	invariant(REAL_INCR, 3000);
	invariant(REAL, 3000);
	zwalk_free(proof);
	buf_free(&out);
	return unit_done("test_zwalk");
}
