/* libFuzzer harness: frame_parse and the strict signature decoding behind it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so reads past the input are caught. */
	char *line = malloc(size ? size : 1);
	if (!line)
		return 0;
	memcpy(line, data, size);
	struct frame f;
	const char *why;
	if (frame_parse(line, size, &f, &why)) {
		if (!device_id_valid(f.device, f.device_len) || f.seq == 0 || f.record_len == 0 ||
		    f.record_len > RECORD_MAX || f.record + f.record_len != line + size)
			abort();
		unsigned char sig[SIGNATURE_B64_MAX];
		size_t sig_len;
		if (base64_decode_strict(f.signature, f.signature_len, sig, sizeof sig, &sig_len) &&
		    sig_len > SIGNATURE_B64_MAX)
			abort();
		/* Formatting the parsed fields must give back the very same line. */
		char device[DEVICE_ID_MAX + 1], signature[SIGNATURE_B64_MAX + 1], out[FRAME_MAX + 1];
		memcpy(device, f.device, f.device_len);
		device[f.device_len] = '\0';
		memcpy(signature, f.signature, f.signature_len);
		signature[f.signature_len] = '\0';
		size_t n = frame_format(out, device, f.seq, signature, f.record, f.record_len);
		if (n != size || memcmp(out, line, size) != 0)
			abort();
	} else if (!why) {
		abort();
	}
	free(line);
	return 0;
}
