/*
 * Keys made in bulk by smqtt-issue: a new EC key's PKCS#8 PEM and its public
 * point, made as cheaply as this OpenSSL allows.
 */
#ifndef SMQTT_BATCHKEY_H
#define SMQTT_BATCHKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "keys.h"

#define BATCH_KEY_PEM_MAX 512 /* a P-384 PKCS#8 PEM is about 310 bytes */
#define BATCH_KEY_POINT_MAX 97 /* uncompressed P-384 point */

struct batch_key {
	char pem[BATCH_KEY_PEM_MAX]; /* unencrypted PKCS#8 PEM, as PEM_write_PrivateKey writes it */
	size_t pem_len;
	unsigned char point[BATCH_KEY_POINT_MAX]; /* uncompressed public point */
	size_t point_len;
};

struct batch_keygen;

/* A generator of P-256 or P-384 keys (not Ed25519); one per thread. Dies on failure. */
struct batch_keygen *batch_keygen_new(enum key_type type);
void batch_keygen_free(struct batch_keygen *g);

/* Make a key; false (with the OpenSSL error queue set) if OpenSSL failed. */
bool batch_key_generate(struct batch_keygen *g, struct batch_key *out);

#endif
