/* libFuzzer harness: the YAML device manifest reader of smqtt-issue. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_device(const struct manifest_device *d, void *arg)
{
	size_t *seen = arg;
	(*seen)++;
	/* Whatever the input, the reader hands over bounded, well-formed strings. */
	if (!d->id || !d->attributes || d->line == 0 || strlen(d->attributes) >= MANIFEST_ATTRIBUTES_MAX)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	FILE *f = fmemopen((void *)data, size, "rb");
	if (!f)
		return 0;
	char error[512];
	size_t count = 0, seen = 0;
	bool ok = manifest_read_stream(f, "fuzz.yaml", check_device, &seen, &count, error, sizeof error);
	if (ok && count != seen)
		abort();
	if (!ok && strncmp(error, "fuzz.yaml:", 10) != 0)
		abort();
	fclose(f);
	return 0;
}
