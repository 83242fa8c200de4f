/*
 * The signed frame, format version 1 (see smqtt-frame(5)):
 *
 *     smqtt1 DEVICE SEQ SIGNATURE RECORD
 *
 * fields separated by exactly one space; RECORD is the rest of the line, so
 * it may hold anything but CR, LF and NUL (spaces and commas included).
 * SIGNATURE covers BLAKE2s-256("smqtt-frame-v1\n" DEVICE "\n" SEQ "\n" RECORD).
 */
#ifndef SMQTT_FRAME_H
#define SMQTT_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_MAGIC "smqtt1"
#define FRAME_CONTEXT "smqtt-frame-v1\n"
#define DEVICE_ID_MAX 64
#define RECORD_MAX 4096
#define SEQ_MAX INT64_MAX /* fits SQLite's INTEGER */
#define SEQ_TEXT_MAX 19
#define SIGNATURE_MAX 104 /* DER ECDSA P-384 is the largest; Ed25519 is 64 */
#define SIGNATURE_B64_MAX 140
#define DIGEST_LEN 32
/* Longest valid frame line, without the newline. */
#define FRAME_MAX (sizeof FRAME_MAGIC - 1 + 1 + DEVICE_ID_MAX + 1 + SEQ_TEXT_MAX + 1 + SIGNATURE_B64_MAX + 1 + RECORD_MAX)

struct frame {
	const char *device;
	size_t device_len;
	uint64_t seq;
	const char *signature; /* base64 text as found in the line */
	size_t signature_len;
	const char *record;
	size_t record_len;
};

/* 1-64 of letters, digits, '.', '_' and '-': safe as an MQTT topic level and a CN. */
bool device_id_valid(const char *id, size_t len);

/*
 * Split one line (no newline) into its fields, pointing into the line.
 * Checks syntax only: field shapes, canonical decimal, base64 alphabet and length.
 * Returns false and sets *why to a static reason on error.
 */
bool frame_parse(const char *line, size_t len, struct frame *f, const char **why);

/* Parse a canonical decimal sequence number in 1..SEQ_MAX (no sign, no leading zero). */
bool seq_parse(const char *text, size_t len, uint64_t *seq);

/*
 * BLAKE2s-256 over the domain-separated signed bytes. The hasher is reused for
 * every frame so the digest is fetched from the provider once.
 */
struct frame_hasher;
struct frame_hasher *frame_hasher_new(void);
void frame_hasher_free(struct frame_hasher *h);
void frame_digest(struct frame_hasher *h, const char *device, size_t device_len, uint64_t seq,
		  const char *record, size_t record_len, unsigned char digest[DIGEST_LEN]);

/* Write "smqtt1 DEVICE SEQ SIG RECORD" into out (at least FRAME_MAX + 1 bytes); returns its length. */
size_t frame_format(char *out, const char *device, uint64_t seq, const char *signature_b64,
		    const char *record, size_t record_len);

#endif
