/*
 * BLS12-381: the prime field, its extension tower, the groups G1, G2 and GT,
 * the optimal ate pairing, the standard compressed point encoding and hashing
 * to G1 (RFC 9380). The one piece of cryptographic arithmetic smqtt writes
 * itself; everything else comes from OpenSSL.
 *
 * The structures are public so that callers can hold them on the stack; their
 * contents are not an interface. Field elements are kept in Montgomery form,
 * points of G1 and G2 in homogeneous projective coordinates (X:Y:Z), with the
 * identity as (0:1:0).
 *
 * Unless a function says otherwise here, it takes the same time whatever
 * the values it is given (the comment at each definition says why). The
 * exceptions: decoding and the subgroup checks (they read public data), the
 * identity tests in encoding and pairing, and how many candidates
 * bls_scalar_random draws.
 */
#ifndef SMQTT_BLS12_381_H
#define SMQTT_BLS12_381_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLS_FP_LIMBS 6
#define BLS_G1_BYTES 48   /* compressed: big-endian x, three flag bits on top */
#define BLS_G2_BYTES 96   /* compressed: x.c1 then x.c0 */
#define BLS_GT_BYTES 576  /* twelve base-field coefficients, big-endian */
#define BLS_SCALAR_BYTES 32

struct bls_fp { uint64_t limb[BLS_FP_LIMBS]; };
struct bls_fp2 { struct bls_fp c0, c1; };          /* c0 + c1 u, u^2 = -1 */
struct bls_fp6 { struct bls_fp2 c0, c1, c2; };     /* c0 + c1 v + c2 v^2, v^3 = u + 1 */
struct bls_fp12 { struct bls_fp6 c0, c1; };        /* c0 + c1 w, w^2 = v */

struct bls_g1 { struct bls_fp x, y, z; };
struct bls_g2 { struct bls_fp2 x, y, z; };
struct bls_gt { struct bls_fp12 v; };

/* Multiples [j 16^i]P of one point, for fast multiplication of a fixed base. */
#define BLS_TABLE_WINDOWS 64
struct bls_g1_table { struct bls_g1 entry[BLS_TABLE_WINDOWS][16]; }; /* about 144 KiB */
struct bls_g2_table { struct bls_g2 entry[BLS_TABLE_WINDOWS][16]; }; /* about 288 KiB */

/* An integer modulo the group order r, as four little-endian 64-bit limbs. */
struct bls_scalar { uint64_t limb[4]; };

/* Scalars. */
/* Big-endian 32 bytes; -1 unless the value is below r (no silent reduction). */
int bls_scalar_from_bytes(struct bls_scalar *s, const uint8_t in[BLS_SCALAR_BYTES]);
void bls_scalar_to_bytes(uint8_t out[BLS_SCALAR_BYTES], const struct bls_scalar *s);
/* Uniform in [0, r) from RAND_priv_bytes; -1 if the generator fails. */
int bls_scalar_random(struct bls_scalar *s);
void bls_scalar_from_u64(struct bls_scalar *s, uint64_t v);
/* Arithmetic modulo r; the inverse of 0 is 0. */
void bls_scalar_add(struct bls_scalar *r, const struct bls_scalar *a, const struct bls_scalar *b);
void bls_scalar_sub(struct bls_scalar *r, const struct bls_scalar *a, const struct bls_scalar *b);
void bls_scalar_neg(struct bls_scalar *r, const struct bls_scalar *a);
void bls_scalar_mul(struct bls_scalar *r, const struct bls_scalar *a, const struct bls_scalar *b);
void bls_scalar_inv(struct bls_scalar *r, const struct bls_scalar *a);
bool bls_scalar_is_zero(const struct bls_scalar *a);
bool bls_scalar_equal(const struct bls_scalar *a, const struct bls_scalar *b);

/* G1. */
void bls_g1_identity(struct bls_g1 *p);
void bls_g1_generator(struct bls_g1 *p);
void bls_g1_add(struct bls_g1 *r, const struct bls_g1 *a, const struct bls_g1 *b);
void bls_g1_double(struct bls_g1 *r, const struct bls_g1 *a);
void bls_g1_neg(struct bls_g1 *r, const struct bls_g1 *a);
void bls_g1_mul(struct bls_g1 *r, const struct bls_g1 *p, const struct bls_scalar *k);
/* [k]p through a table filled from p once (allocate it: it is large). */
void bls_g1_table_init(struct bls_g1_table *t, const struct bls_g1 *p);
void bls_g1_mul_table(struct bls_g1 *r, const struct bls_g1_table *t, const struct bls_scalar *k);
bool bls_g1_is_identity(const struct bls_g1 *p);
bool bls_g1_equal(const struct bls_g1 *a, const struct bls_g1 *b);
bool bls_g1_is_on_curve(const struct bls_g1 *p);
/* For a point on the curve: whether it lies in G1. Variable time. */
bool bls_g1_in_subgroup(const struct bls_g1 *p);
void bls_g1_encode(uint8_t out[BLS_G1_BYTES], const struct bls_g1 *p);
/*
 * 0, or -1 unless in holds the canonical encoding of a point of G1 (the
 * identity included: refuse it where it is not allowed). Variable time.
 */
int bls_g1_decode(struct bls_g1 *p, const uint8_t in[BLS_G1_BYTES]);

/* G2. */
void bls_g2_identity(struct bls_g2 *p);
void bls_g2_generator(struct bls_g2 *p);
void bls_g2_add(struct bls_g2 *r, const struct bls_g2 *a, const struct bls_g2 *b);
void bls_g2_double(struct bls_g2 *r, const struct bls_g2 *a);
void bls_g2_neg(struct bls_g2 *r, const struct bls_g2 *a);
void bls_g2_mul(struct bls_g2 *r, const struct bls_g2 *p, const struct bls_scalar *k);
void bls_g2_table_init(struct bls_g2_table *t, const struct bls_g2 *p);
void bls_g2_mul_table(struct bls_g2 *r, const struct bls_g2_table *t, const struct bls_scalar *k);
bool bls_g2_is_identity(const struct bls_g2 *p);
bool bls_g2_equal(const struct bls_g2 *a, const struct bls_g2 *b);
bool bls_g2_is_on_curve(const struct bls_g2 *p);
/* For a point on the twist: whether it lies in G2. Variable time. */
bool bls_g2_in_subgroup(const struct bls_g2 *p);
void bls_g2_encode(uint8_t out[BLS_G2_BYTES], const struct bls_g2 *p);
/* As bls_g1_decode, for G2. Variable time. */
int bls_g2_decode(struct bls_g2 *p, const uint8_t in[BLS_G2_BYTES]);

/* GT and the pairing. */
void bls_gt_one(struct bls_gt *r);
void bls_gt_mul(struct bls_gt *r, const struct bls_gt *a, const struct bls_gt *b);
void bls_gt_pow(struct bls_gt *r, const struct bls_gt *a, const struct bls_scalar *k);
/* 1 / a, for a in GT (pairing results and their products). */
void bls_gt_inverse(struct bls_gt *r, const struct bls_gt *a);
bool bls_gt_equal(const struct bls_gt *a, const struct bls_gt *b);
bool bls_gt_is_one(const struct bls_gt *a);
void bls_gt_encode(uint8_t out[BLS_GT_BYTES], const struct bls_gt *a);
/* e(p, q). */
void bls_pairing(struct bls_gt *r, const struct bls_g1 *p, const struct bls_g2 *q);
/* The product of e(p[i], q[i]) for i < n: n Miller loops, one final exponentiation. */
void bls_multi_pairing(struct bls_gt *r, const struct bls_g1 *p, const struct bls_g2 *q, size_t n);

/*
 * Hash to G1 per RFC 9380, suite BLS12381G1_XMD:SHA-256_SSWU_RO_, with the
 * caller's domain separation tag (1 to 255 bytes). -1 if dst_len is out of
 * range or SHA-256 fails.
 */
int bls_hash_to_g1(struct bls_g1 *r, const uint8_t *msg, size_t msg_len,
	const uint8_t *dst, size_t dst_len);

/*
 * Additions for FAME (common/fame/): g1_multi.c and gt_extra.c.
 */
/* The most terms bls_g1_multi_mul takes; more are ignored. */
#define BLS_G1_MULTI_MAX 6
/* r = [k0]p0 + ... + [kn-1]pn-1, n <= BLS_G1_MULTI_MAX, sharing the doublings. */
void bls_g1_multi_mul(struct bls_g1 *r, const struct bls_g1 *p, const struct bls_scalar *k, size_t n);
/* r = a^k b^m, sharing the squarings; b may be NULL for a^k alone. */
void bls_gt_pow2(struct bls_gt *r, const struct bls_gt *a, const struct bls_scalar *k,
	const struct bls_gt *b, const struct bls_scalar *m);
/*
 * 0, or -1 unless in holds twelve canonical coefficients (bls_gt_encode's
 * layout) of an element of GT (order dividing r; one is accepted: refuse it
 * where it is not allowed). Variable time.
 */
int bls_gt_decode(struct bls_gt *r, const uint8_t in[BLS_GT_BYTES]);
/* e(g1, g2) for the two generators, a constant. */
void bls_gt_generator(struct bls_gt *r);

#endif
