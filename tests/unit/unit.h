/* A minimal harness for the unit tests: CHECK records a failure with
 * its line and goes on; unit_done() prints a summary and gives the
 * exit status. */
#ifndef UNIT_H
#define UNIT_H

#include <byteswap.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int unit_checks, unit_failures;

#define CHECK(cond)                                                    \
	do {                                                           \
		unit_checks++;                                         \
		if (!(cond)) {                                         \
			unit_failures++;                               \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n",   \
			    __FILE__, __LINE__, #cond);                \
		}                                                      \
	} while (0)

static inline int
unit_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, unit_checks, unit_failures);
	return unit_failures ? 1 : 0;
}

/* A repeatable pseudo-random number below N (xorshift64). */
static inline uint64_t
unit_rand(uint64_t n)
{
	static uint64_t x = 0x9E3779B97F4A7C15ULL;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return n ? x % n : 0;
}

/* The first 255 bytes of the file at PATH ("" if it cannot be read),
 * in a buffer the next call overwrites. */
static inline char *
unit_slurp(const char *path)
{
	static char b[256];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(b, 1, sizeof b - 1, f) : 0;

	if (f != NULL)
		fclose(f);
	b[n] = '\0';
	return b;
}

/* Little-endian fields of stream records, or the other byte order. */
static inline void
put32(unsigned char *p, uint32_t v, int swap)
{
	v = swap ? bswap_32(v) : v;
	memcpy(p, &v, 4);
}

static inline void
put64(unsigned char *p, uint64_t v, int swap)
{
	v = swap ? bswap_64(v) : v;
	memcpy(p, &v, 8);
}

#endif
