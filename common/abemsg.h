/*
 * Encrypted records (attribute-based encryption, common/fame), the lines
 * smqtt-encrypt writes and smqtt-sign signs like any record:
 *
 *     abe1 capsule ID PART/PARTS BASE64
 *     abe1 data ID BASE64
 *
 * ID is the capsule id: the first 16 bytes of the SHA-256 digest of the
 * capsule (a FAME ciphertext, fame.h types 5 and 6), in lowercase hex. A
 * capsule is cut into PARTS records (1 to ABE_PARTS_MAX) of at most
 * ABE_PART_B64_MAX base64 characters each, numbered from 1, so that a
 * capsule of any policy fits records of RECORD_MAX bytes. A data record
 * holds one sealed record: nonce (12 bytes) || AES-256-GCM ciphertext ||
 * tag (16 bytes) under the capsule's key, with the associated data
 *
 *     "smqtt-abe1\n" DEVICE "\n" ID
 *
 * so that a data record moved to another device or capsule does not open.
 * Base64 is the strict padded form of EVP_EncodeBlock.
 */
#ifndef SMQTT_ABEMSG_H
#define SMQTT_ABEMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fame/fame.h"
#include "frame.h"

#define ABE_MAGIC "abe1"
#define ABE_ID_BYTES 16
#define ABE_ID_HEX (2 * ABE_ID_BYTES)
#define ABE_PART_B64_MAX 3000
#define ABE_PARTS_MAX 32
#define ABE_CAPSULE_MAX (ABE_PARTS_MAX * ABE_PART_B64_MAX / 4 * 3)
/* "abe1 data " ID " " then the base64 of the sealed record. */
#define ABE_DATA_PREFIX_LEN (sizeof ABE_MAGIC - 1 + sizeof " data " - 1 + ABE_ID_HEX + 1)
/* The longest record that can be encrypted into one data record of RECORD_MAX bytes. */
#define ABE_PLAIN_MAX ((RECORD_MAX - ABE_DATA_PREFIX_LEN) / 4 * 3 - FAME_SEAL_OVERHEAD)

enum abe_kind {
	ABE_NONE,    /* not an encrypted record */
	ABE_CAPSULE, /* one part of a capsule */
	ABE_DATA,    /* a sealed record */
};

struct abe_record {
	enum abe_kind kind;
	char id[ABE_ID_HEX + 1];
	unsigned part, parts;      /* capsule parts */
	const char *b64;           /* into the record */
	size_t b64_len;
};

/*
 * Recognize an encrypted record. Returns false with *why set for a record
 * that starts with "abe1 " but is not well formed; true otherwise (kind
 * ABE_NONE for any other record).
 */
bool abe_record_parse(const char *record, size_t len, struct abe_record *r, const char **why);

/* The capsule id of a capsule's encoding, in hex. */
void abe_capsule_id(const uint8_t *capsule, size_t len, char id[ABE_ID_HEX + 1]);

/* The associated data of a data record; returns its length (at most ABE_AAD_MAX). */
#define ABE_AAD_MAX (sizeof "smqtt-abe1\n" + DEVICE_ID_MAX + 1 + ABE_ID_HEX)
size_t abe_aad(uint8_t out[ABE_AAD_MAX], const char *device, size_t device_len, const char *id);

#endif
