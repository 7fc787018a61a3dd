/* libFuzzer target: walking a decompressed stream record by record,
 * whole and without its first substream, fed in two pieces. */
#include <stdint.h>
#include <stdlib.h>

#include "airgap-agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
sink(void *arg, const unsigned char *b, size_t n)
{
	size_t *total = arg;

	(void)b;
	*total += n;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t skip, cut = size / 3, total, n;

	log_init(-1, 0);
	for (skip = 0; skip < 2; skip++) {
		struct zwalk *w = zwalk_new(skip);

		total = 0;
		if (zwalk_feed(w, data, cut, sink, &total) == 0)
			(void)zwalk_feed(w, data + cut, size - cut, sink, &total);
		zwalk_subs(w, &n);
		(void)zwalk_error(w);
		if (zwalk_end(w) == 0 && skip == 0 && total != size)
			abort(); /* a whole walk passes on every byte */
		zwalk_free(w);
	}
	return 0;
}
