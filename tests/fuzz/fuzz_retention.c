/* libFuzzer target: the thinning schedule's notation, and the buckets
 * of whatever it accepts over a short made-up history. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "airgap-agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[512];
	struct retention_schedule s;
	int64_t times[64];
	int keep[64];
	const char *why;
	size_t i;

	if (size >= sizeof text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	log_init(-1, 0);
	if (retention_parse(text, &s, &why) == -1)
		return 0;
	for (i = 0; i < 64; i++)
		times[i] = INT64_MAX / 2 - (int64_t)(64 - i) * 3600 * 24 * 17;
	retention_decide(&s, INT64_MAX / 2, times, 64, keep);
	for (i = 0; i < 64; i++)
		if (keep[i] < RETENTION_NEWEST || keep[i] >= (int)s.nrules)
			abort();
	return 0;
}
