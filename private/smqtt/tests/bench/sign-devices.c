/*
 * Benchmark helper: frames from many devices without one smqtt-sign process
 * per device. Reads device ids on stdin and writes ROUNDS frames per device,
 * round by round (sequence number = round), all signed with one key, as
 * smqtt-sign would sign them. Built and used by tests/bench.sh only.
 *
 *     sign-devices KEYFILE ROUNDS < ids > frames
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "frame.h"
#include "keys.h"

int main(int argc, char **argv)
{
	error_init(argv);
	if (argc != 3)
		die(EXIT_USAGE, "usage: sign-devices KEYFILE ROUNDS < ids > frames");
	struct passphrase_source pass = PASSPHRASE_SOURCE_NONE;
	struct signing_key *key = signing_key_new(key_load_private(argv[1], &pass), true);
	long rounds = atol(argv[2]);
	if (!key || rounds < 1)
		die(EXIT_USAGE, "sign-devices: unusable key or round count");

	char **ids = NULL, line[DEVICE_ID_MAX + 2];
	size_t n = 0, cap = 0;
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\n")] = '\0';
		if (!device_id_valid(line, strlen(line)))
			die(EXIT_USAGE, "sign-devices: %s: invalid device id", line);
		if (n == cap)
			ids = xrealloc(ids, (cap = cap ? 2 * cap : 1024) * sizeof *ids);
		ids[n++] = xstrdup(line);
	}

	struct frame_hasher *hasher = frame_hasher_new();
	unsigned char digest[DIGEST_LEN];
	char sig[SIGNATURE_B64_MAX + 1], record[128], *frame = xmalloc(FRAME_MAX + 1);
	for (long r = 1; r <= rounds; r++) {
		for (size_t i = 0; i < n; i++) {
			int len = snprintf(record, sizeof record, "%s,2013-11-02 00:15:00,%ld,%ld.%ld", ids[i], r % 2,
					   r * 7 % 100, r % 10);
			frame_digest(hasher, ids[i], strlen(ids[i]), (uint64_t)r, record, (size_t)len, digest);
			signature_create(key, digest, sig);
			size_t flen = frame_format(frame, ids[i], (uint64_t)r, sig, record, (size_t)len);
			frame[flen++] = '\n';
			if (fwrite(frame, 1, flen, stdout) != flen)
				die(EXIT_SYSTEM, "writing stdout");
		}
	}
	if (fflush(stdout) == EOF)
		die(EXIT_SYSTEM, "writing stdout");
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	free(frame);
	frame_hasher_free(hasher);
	signing_key_free(key);
	return 0;
}
