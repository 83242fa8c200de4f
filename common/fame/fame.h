/*
 * FAME: attribute-based encryption of Agrawal and Chase ("FAME: Fast
 * Attribute-based Message Encryption", CCS 2017, eprint 2017/807) with
 * k = 2, on BLS12-381 (common/bls12_381/). Both forms:
 *
 *   CP (ciphertext policy): keys carry attributes, ciphertexts a policy;
 *   KP (key policy, the paper's appendix B): keys carry a policy,
 *      ciphertexts attributes.
 *
 * FAME is used as a key encapsulation mechanism: encapsulation picks a
 * random element of GT (none travels in the ciphertext) and derives a 32-byte
 * key from it with HKDF-SHA256; payloads are sealed with AES-256-GCM under
 * that key (fame_seal, fame_open), as many as the caller wants, each with a
 * fresh nonce and its own associated data.
 *
 * FAME alone is secure against chosen-plaintext attacks only: whatever must
 * not be changed in transit (the capsule, the sealed payloads) needs a
 * signature over it or the AEAD's tag, and the associated data should name
 * the device, the sequence number and the parameter id.
 *
 *
 * POLICIES
 *
 *   policy    = or-expr
 *   or-expr   = and-expr *( "or" and-expr )
 *   and-expr  = primary *( "and" primary )
 *   primary   = attribute / "(" or-expr ")"
 *
 * "and" binds tighter than "or"; the keywords are matched without regard to
 * case (so an attribute spelled "AND" or "Or" must be quoted). Spaces, tabs
 * and newlines separate tokens. An unquoted attribute is a run of the bytes
 * A-Z a-z 0-9 : - _ . (so role:billing, feeder:F12, kind:household and
 * epoch:2026-12 need no quotes). Any other attribute is written between
 * double quotes, where a backslash escapes a double quote or a backslash and
 * every byte from 0x20 to 0xff is allowed but the backslash and the double
 * quote themselves; control bytes (below 0x20, and 0x7f) are never allowed.
 * An attribute is 1 to FAME_ATTRIBUTE_MAX bytes; a policy has at most
 * FAME_ROWS_MAX attributes (repeats counted), at most FAME_DEPTH_MAX nested
 * levels of parentheses and at most FAME_POLICY_TEXT_MAX bytes.
 *
 * A policy becomes a monotone span program by the Lewko-Waters conversion
 * (one row per attribute occurrence, entries 0, 1 and -1), so that the rows
 * of any satisfying set of attributes add up to (1, 0, ..., 0): decryption
 * needs no multiplication by a coefficient.
 *
 * The canonical text of a policy (fame_policy_text): attributes unquoted
 * when they can be and quoted otherwise (escaping only " and \), " and " and
 * " or " between operands, every operand that is itself an "and" or an "or"
 * in parentheses. Encodings carry policies in canonical text only.
 *
 *
 * HASHING
 *
 * Every point FAME hashes is hash_to_curve (RFC 9380, suite
 * BLS12381G1_XMD:SHA-256_SSWU_RO_) with the domain separation tag
 * "SMQTT-FAME-V1_BLS12381G1_XMD:SHA-256_SSWU_RO_" of a message made of four
 * fields, each a 2-byte big-endian length followed by that many bytes:
 *
 *   attribute points: "attr", the attribute's bytes, l (1 byte), t (1 byte)
 *   column points:    "col", j (2 bytes, big-endian, from 1), l, t
 *
 * with l in 1..3 and t in 1..2. No two different inputs give the same message.
 *
 *
 * ENCODINGS
 *
 * Every object starts with the 4 bytes "FAME", a version byte (1) and a type
 * byte; integers are big-endian; G1 points take 48 bytes, G2 points 96 and
 * GT elements 576, in the compressed forms of bls12_381.h (GT: the twelve
 * base-field coefficients c0.c0.c0, c0.c0.c1, c0.c1.c0, ... c1.c2.c1, each 48
 * bytes big-endian); scalars take 32 bytes big-endian, below the group order
 * r. "id" is the parameter id: the SHA-256 digest of the public parameters'
 * encoding (32 bytes). "name" is an attribute: 1 length byte (1 to 255), then
 * its bytes. "text" is a policy in canonical text: 2 length bytes, then the
 * text. "count" is 2 bytes.
 *
 *   type 1, public parameters (1350 bytes):
 *       H1 H2 (G2)  T1 T2 (GT)
 *   type 2, master secret (310 bytes):
 *       id  a1 a2 b1 b2 (scalars)  g^d1 g^d2 g^d3 (G1)
 *   type 3, CP key:
 *       id  K01 K02 K03 (G2)  K'1 K'2 K'3 (G1)  count
 *       count times: name  K1 K2 K3 (G1)
 *       (names strictly increasing in byte order; 1 to FAME_ROWS_MAX of them)
 *   type 4, KP key:
 *       id  K01 K02 K03 (G2)  text  count
 *       count times: K1 K2 K3 (G1), one per row of the policy, in the order
 *       its attributes appear in the text (count is the number of rows)
 *   type 5, CP ciphertext:
 *       id  text  C01 C02 C03 (G2)  count
 *       count times: C1 C2 C3 (G1), one per row of the policy, in order
 *   type 6, KP ciphertext:
 *       id  C01 C02 C03 (G2)  count
 *       count times: name  C1 C2 C3 (G1)
 *       (names strictly increasing in byte order; 1 to FAME_ROWS_MAX of them)
 *
 * Decoders accept exactly these forms: the right magic, version and type;
 * no byte missing and none left over; counts within bounds; every point
 * canonical, in its group and not the identity, every GT element in GT and
 * not one; scalars below r and not zero; policy text that parses and is
 * canonical; attribute names that are allowed. Anything else is
 * FAME_ERR_DECODE.
 *
 *
 * KEYS AND SEALED PAYLOADS
 *
 * The 32-byte key of a capsule is HKDF-SHA256 (RFC 5869) with an empty salt,
 * the 576-byte encoding of the encapsulated GT element as input key
 * material, and as info the 17 bytes "SMQTT-FAME-V1 KEM" followed by the
 * SHA-256 digest of the ciphertext's whole encoding: a changed ciphertext
 * yields a different key, caught by the first fame_open.
 *
 * A sealed payload is nonce (12 bytes) || AES-256-GCM ciphertext (as long as
 * the plaintext) || tag (16 bytes), the associated data the caller's.
 *
 *
 * ERRORS
 *
 * Functions return FAME_OK or one of the negative enum fame_status values;
 * fame_strerror names them. Decapsulation distinguishes a key whose
 * attributes or policy do not satisfy the ciphertext (FAME_ERR_NOT_SATISFIED)
 * from one made for other parameters (FAME_ERR_PARAMS); a tampered capsule
 * shows as FAME_ERR_DECODE or, at fame_open, FAME_ERR_AUTH.
 */
#ifndef SMQTT_FAME_H
#define SMQTT_FAME_H

#include <stddef.h>
#include <stdint.h>

#define FAME_KEY_BYTES 32
#define FAME_ID_BYTES 32
#define FAME_NONCE_BYTES 12
#define FAME_TAG_BYTES 16
#define FAME_SEAL_OVERHEAD (FAME_NONCE_BYTES + FAME_TAG_BYTES)
#define FAME_ATTRIBUTE_MAX 255
#define FAME_ROWS_MAX 256
#define FAME_DEPTH_MAX 32
#define FAME_POLICY_TEXT_MAX 65535
#define FAME_PUBLIC_BYTES 1350
#define FAME_MASTER_BYTES 310

enum fame_status {
	FAME_OK = 0,
	FAME_ERR_DECODE = -1,        /* not a valid encoding of the expected object */
	FAME_ERR_PARAMS = -2,        /* made for other public parameters */
	FAME_ERR_NOT_SATISFIED = -3, /* the key's attributes do not satisfy the policy */
	FAME_ERR_AUTH = -4,          /* a sealed payload failed authentication */
	FAME_ERR_POLICY = -5,        /* a policy that does not parse or is too large */
	FAME_ERR_ATTRIBUTE = -6,     /* an attribute list that is empty, too long, or holds a bad name */
	FAME_ERR_SYSTEM = -7,        /* the random generator or OpenSSL failed */
};

const char *fame_strerror(int status);

struct fame_policy;
struct fame_public;
struct fame_master;
struct fame_cp_key;
struct fame_kp_key;
struct fame_cp_ciphertext;
struct fame_kp_ciphertext;

/* Policies. */
struct fame_policy_error {
	size_t position;    /* byte offset into the text */
	char message[160];  /* what was expected there, or which bound was passed */
};
/* FAME_OK, or FAME_ERR_POLICY with *error filled in (error may be NULL). */
int fame_policy_parse(struct fame_policy **policy, const char *text, size_t len,
	struct fame_policy_error *error);
void fame_policy_free(struct fame_policy *policy);
/* The canonical text, NUL-terminated, owned by the policy. */
const char *fame_policy_text(const struct fame_policy *policy);
size_t fame_policy_rows(const struct fame_policy *policy);
size_t fame_policy_columns(const struct fame_policy *policy);
/* The attribute of a row (rows are numbered from 0 in the order of the text). */
const char *fame_policy_attribute(const struct fame_policy *policy, size_t row);
/* Entry (row, column) of the span program: 0, 1 or -1. */
int fame_policy_entry(const struct fame_policy *policy, size_t row, size_t column);
/* Whether the attributes satisfy the policy (names need not be sorted). */
int fame_policy_satisfied(const struct fame_policy *policy, const char *const *attributes,
	size_t count);
/* Whether name may be an attribute: 1 to FAME_ATTRIBUTE_MAX bytes, no control byte. */
int fame_attribute_valid(const char *name, size_t len);

/*
 * Set-up. The public parameters also hold a cache of hashed points that
 * encapsulation and key generation fill and reuse (not thread-safe: one
 * fame_public per thread). Constant time in the master secret.
 */
int fame_setup(struct fame_public **pub, struct fame_master **master);
void fame_public_free(struct fame_public *pub);
void fame_master_free(struct fame_master *master);   /* wipes it */
const uint8_t *fame_public_id(const struct fame_public *pub);
/* The id of the parameters the master secret belongs to. */
const uint8_t *fame_master_id(const struct fame_master *master);

/* Keys. The attribute names: 1 to FAME_ROWS_MAX of them, repeats ignored. */
int fame_cp_keygen(struct fame_cp_key **key, struct fame_public *pub,
	const struct fame_master *master, const char *const *attributes, size_t count);
int fame_kp_keygen(struct fame_kp_key **key, struct fame_public *pub,
	const struct fame_master *master, const struct fame_policy *policy);
void fame_cp_key_free(struct fame_cp_key *key);     /* wipes it */
void fame_kp_key_free(struct fame_kp_key *key);     /* wipes it */

/*
 * Encapsulation: *ciphertext receives the encoding (malloc'd, len in
 * *ciphertext_len), key the 32-byte key for fame_seal.
 */
int fame_cp_encaps(uint8_t **ciphertext, size_t *ciphertext_len, uint8_t key[FAME_KEY_BYTES],
	struct fame_public *pub, const struct fame_policy *policy);
int fame_kp_encaps(uint8_t **ciphertext, size_t *ciphertext_len, uint8_t key[FAME_KEY_BYTES],
	struct fame_public *pub, const char *const *attributes, size_t count);
/* Decapsulation of a decoded ciphertext: 6 pairings whatever its size. */
int fame_cp_decaps(uint8_t key[FAME_KEY_BYTES], const struct fame_public *pub,
	const struct fame_cp_key *sk, const struct fame_cp_ciphertext *ct);
int fame_kp_decaps(uint8_t key[FAME_KEY_BYTES], const struct fame_public *pub,
	const struct fame_kp_key *sk, const struct fame_kp_ciphertext *ct);

/* Encodings (see the layout above); encoders return a malloc'd buffer. */
int fame_public_encode(const struct fame_public *pub, uint8_t **out, size_t *len);
int fame_public_decode(struct fame_public **pub, const uint8_t *in, size_t len);
int fame_master_encode(const struct fame_master *master, uint8_t **out, size_t *len);
int fame_master_decode(struct fame_master **master, const uint8_t *in, size_t len);
int fame_cp_key_encode(const struct fame_cp_key *key, uint8_t **out, size_t *len);
int fame_cp_key_decode(struct fame_cp_key **key, const uint8_t *in, size_t len);
int fame_kp_key_encode(const struct fame_kp_key *key, uint8_t **out, size_t *len);
int fame_kp_key_decode(struct fame_kp_key **key, const uint8_t *in, size_t len);
int fame_cp_ciphertext_decode(struct fame_cp_ciphertext **ct, const uint8_t *in, size_t len);
int fame_kp_ciphertext_decode(struct fame_kp_ciphertext **ct, const uint8_t *in, size_t len);
void fame_cp_ciphertext_free(struct fame_cp_ciphertext *ct);
void fame_kp_ciphertext_free(struct fame_kp_ciphertext *ct);
/* The parameter id an encoded object names, or FAME_ERR_DECODE for a bad header. */
int fame_object_id(uint8_t id[FAME_ID_BYTES], const uint8_t *in, size_t len);

/*
 * Sealing: out receives len + FAME_SEAL_OVERHEAD bytes. nonce may be NULL
 * for a random one; a caller that supplies nonces must never repeat one
 * under a key. fame_open writes len - FAME_SEAL_OVERHEAD bytes and returns
 * FAME_ERR_AUTH for anything that does not authenticate (short input
 * included), writing nothing useful then.
 */
int fame_seal(uint8_t *out, const uint8_t key[FAME_KEY_BYTES], const uint8_t *nonce,
	const uint8_t *aad, size_t aad_len, const uint8_t *plaintext, size_t len);
int fame_open(uint8_t *out, const uint8_t key[FAME_KEY_BYTES],
	const uint8_t *aad, size_t aad_len, const uint8_t *sealed, size_t len);

#endif
