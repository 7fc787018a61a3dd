/* libFuzzer target: queue file names, as the queue scan reads them
 * from an untrusted incoming folder, NNCP chunk and meta names among
 * them, and the bytes of a chunked set's meta. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "airgap-agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[512], *nul;
	struct queue_name q;
	struct chunk_name cn;
	struct chunk_meta m;
	const char *why;

	if (size >= sizeof name)
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';
	/* the first NUL separates the folder (host) from the name */
	nul = memchr(name, '\0', size);
	log_init(-1, 0);
	queue_is_candidate(name);
	queue_valid_host(name);
	if (nul != NULL && nul < name + size) {
		queue_parse_name(name, nul + 1, &q, &why);
		chunk_parse_name(name, nul + 1, &cn, &why);
	} else {
		queue_parse_name("laptop", name, &q, &why);
		chunk_parse_name("laptop", name, &cn, &why);
	}
	chunk_parse_meta(data, size, &m, &why);
	queue_valid_dataset(name, &why);
	return 0;
}
