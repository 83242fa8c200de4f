/*
 * libFuzzer harness: the encrypted-record parser (common/abemsg.c). A record
 * it accepts as a capsule part or a data record must be exactly "abe1",
 * its kind, the 32-digit id, for a capsule PART/PARTS within bounds, and
 * base64 that decodes strictly; anything else is either not an encrypted
 * record (no "abe1 " prefix) or refused with a reason.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abemsg.h"
#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so reads past the input are caught. */
	char *record = malloc(size ? size : 1);
	if (!record)
		return 0;
	memcpy(record, data, size);
	struct abe_record r;
	const char *why = NULL;
	bool ok = abe_record_parse(record, size, &r, &why);
	bool prefixed = size >= 5 && memcmp(record, "abe1 ", 5) == 0;
	if (!ok) {
		if (!prefixed || !why || !*why)
			abort();
	} else if (r.kind == ABE_NONE) {
		if (prefixed)
			abort();
	} else {
		if (!prefixed || strlen(r.id) != ABE_ID_HEX || memcmp(record + (r.kind == ABE_CAPSULE ? 13 : 10), r.id, ABE_ID_HEX) != 0)
			abort();
		if (r.b64 < record || r.b64 + r.b64_len != record + size || r.b64_len == 0 || r.b64_len % 4)
			abort();
		if (r.kind == ABE_CAPSULE) {
			if (r.part < 1 || r.part > r.parts || r.parts > ABE_PARTS_MAX || r.b64_len > ABE_PART_B64_MAX)
				abort();
			char head[64];
			int n = snprintf(head, sizeof head, "abe1 capsule %s %u/%u ", r.id, r.part, r.parts);
			if ((size_t)n != (size_t)(r.b64 - record) || memcmp(head, record, (size_t)n) != 0)
				abort();
		}
		unsigned char *out = malloc(r.b64_len);
		size_t len;
		/* Decoding may refuse a non-canonical text; it must never write past the room it is given. */
		if (out && base64_decode_strict(r.b64, r.b64_len, out, r.b64_len / 4 * 3, &len) && len > r.b64_len / 4 * 3)
			abort();
		free(out);
	}
	free(record);
	return 0;
}
