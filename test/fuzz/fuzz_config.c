/* fuzz_config: a config file (every line form, trigger specs included) read
 * through the same parser as `-c FILE`, from a memory-backed file. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("config", 0);
	char path[64];
	struct config cfg;
	FILE *devnull = fopen("/dev/null", "w");

	if (fd < 0 || !devnull || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		if (devnull)
			fclose(devnull);
		return 0;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	config_defaults(&cfg);
	config_load_file(&cfg, path, devnull);
	config_free(&cfg);
	close(fd);
	fclose(devnull);
	return 0;
}
