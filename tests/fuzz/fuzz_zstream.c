/* libFuzzer target: the begin records at the head of a decrypted,
 * decompressed stream, and format sniffing. */
#include <stdint.h>
#include <stdlib.h>

#include "airgap-agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zstream_head h;
	const char *why;
	char ds[300];

	log_init(-1, 0);
	zstream_sniff(data, size);
	if (zstream_parse_head(data, size, &h, &why) == 0) {
		zstream_base(&h);
		zstream_first_guid(&h);
		zstream_dataset(&h, ds, sizeof ds);
	}
	return 0;
}
