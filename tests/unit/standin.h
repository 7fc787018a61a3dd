/* A stand-in for zfs receive, for tests: it reads a stream record by
 * record the way OpenZFS's receive does, and commits a snapshot at the
 * first end record that closes one, whatever follows.  It is written
 * apart from agent/zwalk.c on purpose (from OpenZFS's definitions), so
 * that a mistake in the walk is not repeated here.
 *
 * The tests feed it what the agent lets through to the receiver and
 * check that it never commits anything the agent had not verified. */
#ifndef STANDIN_H
#define STANDIN_H

#include <byteswap.h>
#include <stdint.h>
#include <string.h>

#define SI_REC 312
#define SI_MAX_COMMITS 64

enum si_state { SI_START, SI_HEADER_END, SI_BETWEEN, SI_SUB, SI_EXITED };

struct standin {
	unsigned char rec[SI_REC];
	size_t have;
	uint64_t payload;
	int swap;
	int compound;
	enum si_state state;
	int broken;          /* it gave up: "invalid backup stream" */
	uint64_t read;       /* bytes read */
	size_t ncommits;
	uint64_t commit_at[SI_MAX_COMMITS]; /* bytes read when it committed */
};

static inline uint64_t
si_u64(const struct standin *s, size_t off)
{
	uint64_t v;

	memcpy(&v, s->rec + off, 8);
	return s->swap ? bswap_64(v) : v;
}

static inline uint32_t
si_u32(const struct standin *s, size_t off)
{
	uint32_t v;

	memcpy(&v, s->rec + off, 4);
	return s->swap ? bswap_32(v) : v;
}

/* OpenZFS's DRR_*_PAYLOAD_SIZE, for the union at offset 8. */
static inline int
si_payload(struct standin *s, uint32_t type)
{
	switch (type) {
	case 1: /* DRR_OBJECT: raw bonus length or P2ROUNDUP(bonuslen, 8) */
		s->payload = si_u32(s, 8 + 28) ? si_u32(s, 8 + 28) :
		    ((uint64_t)si_u32(s, 8 + 20) + 7) / 8 * 8;
		return 0;
	case 3: /* DRR_WRITE: compressed size when compressed */
		s->payload = s->rec[8 + 42] ? si_u64(s, 8 + 88) : si_u64(s, 8 + 24);
		return 0;
	case 7: /* DRR_SPILL */
		s->payload = si_u64(s, 8 + 32) ? si_u64(s, 8 + 32) : si_u64(s, 8 + 8);
		return 0;
	case 8: /* DRR_WRITE_EMBEDDED: P2ROUNDUP(psize, 8) */
		s->payload = ((uint64_t)si_u32(s, 8 + 44) + 7) / 8 * 8;
		return 0;
	case 2: case 4: case 6: case 9: case 10:
		s->payload = 0;
		return 0;
	default:
		return -1;
	}
}

static inline void
si_commit(struct standin *s)
{
	if (s->ncommits < SI_MAX_COMMITS)
		s->commit_at[s->ncommits] = s->read;
	s->ncommits++;
}

/* One whole record in s->rec. */
static inline void
si_record(struct standin *s)
{
	uint32_t type;

	if (s->state == SI_START) {
		uint64_t magic;

		memcpy(&magic, s->rec + 8, 8);
		s->swap = magic == bswap_64(0x2F5BACBACULL);
	}
	type = si_u32(s, 0);
	switch (s->state) {
	case SI_START:
		if (type != 0 || si_u64(s, 8) != 0x2F5BACBACULL) {
			s->broken = 1;
			return;
		}
		s->compound = (si_u64(s, 16) & 3) == 2;
		s->payload = si_u32(s, 4);
		s->state = s->compound ? SI_HEADER_END : SI_SUB;
		return;
	case SI_HEADER_END:
		if (type != 5)
			s->broken = 1;
		s->state = SI_BETWEEN;
		return;
	case SI_BETWEEN:
		if (type == 5) {
			s->state = SI_EXITED; /* the package is done */
			return;
		}
		if (type != 0) {
			s->broken = 1;
			return;
		}
		s->payload = si_u32(s, 4);
		s->state = SI_SUB;
		return;
	case SI_SUB:
		if (type == 5) {
			si_commit(s);
			s->state = s->compound ? SI_BETWEEN : SI_EXITED;
			return;
		}
		if (type == 0 || si_payload(s, type) == -1)
			s->broken = 1;
		return;
	case SI_EXITED:
		return;
	}
}

/* Feeds bytes; returns 1 once it stopped reading (exited or broke). */
static inline int
standin_feed(struct standin *s, const unsigned char *b, size_t n)
{
	while (n > 0 && !s->broken && s->state != SI_EXITED) {
		size_t take;

		if (s->payload > 0) {
			take = s->payload < n ? (size_t)s->payload : n;
			s->payload -= take;
		} else {
			take = SI_REC - s->have < n ? SI_REC - s->have : n;
			memcpy(s->rec + s->have, b, take);
			s->have += take;
		}
		s->read += take;
		b += take;
		n -= take;
		if (s->have == SI_REC) {
			s->have = 0;
			si_record(s);
		}
	}
	return s->broken || s->state == SI_EXITED;
}

#endif
