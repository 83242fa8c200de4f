/*
 * Which keys may sign for which device, and the replay state of each device.
 * Today the table is filled from trust files named on the command line; a
 * registry database can fill the same table on lookup, so smqtt-verify's
 * per-frame logic does not change when the source of trust does.
 */
#ifndef SMQTT_TRUST_H
#define SMQTT_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "keys.h"

/* A device may hold two keys at once while it rolls over to a new one. */
#define TRUST_KEYS_MAX 2

struct trusted_device {
	struct signing_key *keys[TRUST_KEYS_MAX];
	size_t nkeys;
	uint64_t last_seq; /* highest accepted sequence number; 0 before the first */
	unsigned char last_digest[DIGEST_LEN];
};

struct trust;
struct trust *trust_new(void);
void trust_free(struct trust *t);

/* Trust a certificate or public-key PEM file for a device (NULL device: the certificate's CN). */
void trust_add_file(struct trust *t, const char *device, const char *path);

struct trusted_device *trust_lookup(struct trust *t, const char *device, size_t len);

/* Check the signature against each of the device's keys. */
enum verdict trust_verify(struct trusted_device *d, const unsigned char digest[DIGEST_LEN],
			  const char *b64, size_t b64_len);

#endif
