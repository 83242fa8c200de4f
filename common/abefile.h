/*
 * Files of attribute-based encryption (common/fame): the public parameters,
 * the master secret and decryption keys, in the forms OpenSSL reads and
 * writes, so that `openssl asn1parse` and `openssl pkcs8` can open them.
 *
 *   public parameters  PEM "SMQTT FAME PARAMETERS" around the 1350-byte
 *                      encoding of common/fame/fame.h (type 1)
 *   master secret      PKCS#8 (RFC 5208), algorithm ABE_OID_MASTER, no
 *                      parameters, the private key octets the 310-byte
 *                      encoding (type 2); PEM "PRIVATE KEY", or "ENCRYPTED
 *                      PRIVATE KEY" (PBES2, AES-256-CBC) with a passphrase
 *   CP and KP keys     PKCS#8 the same way, algorithms ABE_OID_CP_KEY and
 *                      ABE_OID_KP_KEY, the encodings of type 3 and 4
 *
 * The object identifiers sit under a UUID arc (ITU-T X.667, 2.25), which
 * needs no registration.
 */
#ifndef SMQTT_ABEFILE_H
#define SMQTT_ABEFILE_H

#include <stdbool.h>
#include <stdio.h>

#include "fame/fame.h"
#include "keys.h"

#define ABE_OID_ARC "2.25.14047966797898528082281868243671959402"
#define ABE_OID_MASTER ABE_OID_ARC ".1"
#define ABE_OID_CP_KEY ABE_OID_ARC ".2"
#define ABE_OID_KP_KEY ABE_OID_ARC ".3"
#define ABE_PEM_PARAMETERS "SMQTT FAME PARAMETERS"

/* The public parameters as PEM to out; false on a write error (errno set). */
bool abe_parameters_write(FILE *out, const struct fame_public *pub);
/* The public parameters from a PEM file; dies with EXIT_CONFIG naming path if it cannot. */
struct fame_public *abe_parameters_load(const char *path);

/* A secret file (mode 0600, never replacing one unless replace; encrypted if passphrase). */
void abe_master_write(const char *path, const struct fame_master *master, const char *passphrase, bool replace);
struct fame_master *abe_master_load(const char *path, const struct passphrase_source *pass);

/* A decryption key: exactly one of cp, kp set; params the id of its parameters. */
struct abe_key {
	struct fame_cp_key *cp;
	struct fame_kp_key *kp;
	uint8_t params[FAME_ID_BYTES];
};
/* A key file like the master secret's, never encrypted (a subscriber's filter reads it unattended). */
void abe_key_write(const char *path, const struct abe_key *key, bool replace);
void abe_key_load(const char *path, const struct passphrase_source *pass, struct abe_key *key);
void abe_key_free(struct abe_key *key);

/*
 * Epochs: the attribute epoch:EPOCH that keys and capsules carry. An epoch
 * is 1 to ABE_EPOCH_MAX of A-Z a-z 0-9 : - _ . (so that it needs no quotes
 * in a policy); the default is the current month in UTC, as 2026-12.
 */
#define ABE_EPOCH_MAX 63
#define ABE_EPOCH_PREFIX "epoch:"
bool abe_epoch_valid(const char *epoch);
void abe_epoch_now(char out[ABE_EPOCH_MAX + 1]);
/* Dies with EXIT_USAGE naming --epoch unless epoch is valid. */
void abe_epoch_option(const char *epoch);

#endif
