/* libFuzzer target: the ledger and key=value state files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "airgap-agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[4096];
	struct ledger_entry e;

	if (size >= sizeof line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	log_init(-1, 0);
	if (ledger_parse_line(line, &e) == 0) {
		free(e.key);
		free(e.pool);
		free(e.dataset);
	}
	return 0;
}
