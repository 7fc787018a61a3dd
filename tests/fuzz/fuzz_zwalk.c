/* libFuzzer target: the record walk under the promise it exists for.
 *
 * The input is a stream A (the fuzzer mutates the seeds: real full,
 * incremental and compound zfs send streams; end record placement,
 * padding, sizes and record types all come out of its mutations).  A is
 * verified in one pass; then a copy X of A with one byte changed (where
 * and how taken from A's last bytes, so the fuzzer steers it too) is
 * walked as a receiving pass, in pieces, into a stand-in receiver that
 * commits at every end record that closes a snapshot, as zfs receive
 * does.  Whatever the input:
 *   - before the held end record is released, a plain stream commits
 *     nothing, and a compound stream commits only where A's receiver
 *     would and with X's bytes up to there equal to A's;
 *   - a walk that ended well and releases passes on every byte of X
 *     (skip 0). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "airgap-agent.h"
#include "../unit/standin.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct sink {
	struct standin si;
	size_t total;
};

static int
to_standin(void *arg, const void *b, size_t n)
{
	struct sink *k = arg;

	standin_feed(&k->si, b, n);
	k->total += n;
	return 0;
}

static void
check_commits(const struct sink *k, const struct standin *ref, int compound,
    const uint8_t *a, const uint8_t *x)
{
	size_t i, j;

	for (i = 0; i < k->si.ncommits && i < SI_MAX_COMMITS; i++) {
		int known = 0;

		if (!compound)
			abort(); /* a plain stream committed before release */
		for (j = 0; j < ref->ncommits && j < SI_MAX_COMMITS; j++)
			known |= ref->commit_at[j] == k->si.commit_at[i];
		if (!known || memcmp(a, x, k->si.commit_at[i]) != 0)
			abort(); /* a snapshot committed from unverified bytes */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *a, size_t size)
{
	struct zwalk *v, *w;
	struct standin ref;
	struct sink k;
	uint8_t *x;
	size_t cut, at;

	log_init(-1, 0);
	if (size < 4)
		return 0;
	v = zwalk_new(0, NULL);
	(void)zwalk_feed(v, a, size, NULL, NULL);
	memset(&ref, 0, sizeof ref);
	standin_feed(&ref, a, size);

	x = malloc(size);
	memcpy(x, a, size);
	at = ((size_t)a[size - 1] << 8 | a[size - 2]) * 131 % size;
	if (a[size - 3] & 1)
		x[at] ^= (uint8_t)(a[size - 4] | 1);
	cut = (size_t)a[size - 3] * size / 256;

	memset(&k, 0, sizeof k);
	w = zwalk_new(0, zwalk_compound(v) && zwalk_end(v) == 0 ? v : NULL);
	if (zwalk_feed(w, x, cut, to_standin, &k) == 0)
		(void)zwalk_feed(w, x + cut, size - cut, to_standin, &k);
	(void)zwalk_error(w);
	check_commits(&k, &ref, zwalk_compound(v), a, x);
	if (zwalk_end(w) == 0) {
		if (zwalk_release(w, to_standin, &k) != 0 || k.total != size)
			abort(); /* a whole walk passes on every byte */
	}
	zwalk_free(w);
	zwalk_free(v);
	free(x);
	return 0;
}
