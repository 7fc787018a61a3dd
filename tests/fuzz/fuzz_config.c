/* libFuzzer target: the configuration loader and its checks. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "airgap-agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct config c;
	char path[64];

	log_init(-1, 0);
	if (fd == -1 && (fd = memfd_create("fuzz-config", 0)) == -1)
		abort();
	if (ftruncate(fd, 0) == -1 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (config_load(path, &c) == 0) {
		config_host(&c, "laptop");
		config_medium(&c, "bakdisk1");
	}
	config_free(&c);
	return 0;
}
