/*
 * Inside the BLS12-381 module only: the field and tower arithmetic the group,
 * pairing and encoding files share. Nothing outside common/bls12_381/
 * includes this header.
 */
#ifndef SMQTT_BLS12_381_INTERNAL_H
#define SMQTT_BLS12_381_INTERNAL_H

#include "bls12_381.h"

#define BLS_FP_BYTES 48

/* p, the base field's modulus, little-endian limbs. */
extern const struct bls_fp bls_fp_modulus;
/* 1 and the curve constant 4 (y^2 = x^3 + 4), in Montgomery form. */
extern const struct bls_fp bls_fp_one_mont;
extern const struct bls_fp bls_fp_four_mont;
/* r, the order of G1, G2 and GT. */
extern const struct bls_scalar bls_group_order;
/* |x| = 0xd201000000010000, the curve's parameter (x itself is negative). */
#define BLS_X_ABS 0xd201000000010000ULL

/* Fp. */
void bls_fp_zero(struct bls_fp *r);
void bls_fp_one(struct bls_fp *r);
void bls_fp_add(struct bls_fp *r, const struct bls_fp *a, const struct bls_fp *b);
void bls_fp_sub(struct bls_fp *r, const struct bls_fp *a, const struct bls_fp *b);
void bls_fp_neg(struct bls_fp *r, const struct bls_fp *a);
void bls_fp_double(struct bls_fp *r, const struct bls_fp *a);
void bls_fp_mul(struct bls_fp *r, const struct bls_fp *a, const struct bls_fp *b);
void bls_fp_sqr(struct bls_fp *r, const struct bls_fp *a);
void bls_fp_inv(struct bls_fp *r, const struct bls_fp *a);
bool bls_fp_sqrt(struct bls_fp *r, const struct bls_fp *a);
bool bls_fp_is_zero(const struct bls_fp *a);
bool bls_fp_equal(const struct bls_fp *a, const struct bls_fp *b);
/* r = cond ? a : r, without a branch on cond. */
void bls_fp_cmov(struct bls_fp *r, const struct bls_fp *a, bool cond);
/* Whether the canonical value of a exceeds (p - 1) / 2. */
bool bls_fp_is_lexicographically_largest(const struct bls_fp *a);
/* RFC 9380's sgn0: the canonical value's lowest bit. */
bool bls_fp_sgn0(const struct bls_fp *a);
/* Big-endian 48 bytes; -1 unless the value is below p. */
int bls_fp_from_bytes(struct bls_fp *r, const uint8_t in[BLS_FP_BYTES]);
void bls_fp_to_bytes(uint8_t out[BLS_FP_BYTES], const struct bls_fp *a);
/* A big-endian integer of any length, reduced modulo p. */
void bls_fp_from_bytes_reduce(struct bls_fp *r, const uint8_t *in, size_t len);

/* Fp2. */
void bls_fp2_zero(struct bls_fp2 *r);
void bls_fp2_one(struct bls_fp2 *r);
void bls_fp2_add(struct bls_fp2 *r, const struct bls_fp2 *a, const struct bls_fp2 *b);
void bls_fp2_sub(struct bls_fp2 *r, const struct bls_fp2 *a, const struct bls_fp2 *b);
void bls_fp2_neg(struct bls_fp2 *r, const struct bls_fp2 *a);
void bls_fp2_double(struct bls_fp2 *r, const struct bls_fp2 *a);
void bls_fp2_conjugate(struct bls_fp2 *r, const struct bls_fp2 *a);
void bls_fp2_mul(struct bls_fp2 *r, const struct bls_fp2 *a, const struct bls_fp2 *b);
void bls_fp2_mul_fp(struct bls_fp2 *r, const struct bls_fp2 *a, const struct bls_fp *b);
void bls_fp2_sqr(struct bls_fp2 *r, const struct bls_fp2 *a);
/* r = a (u + 1). */
void bls_fp2_mul_by_nonresidue(struct bls_fp2 *r, const struct bls_fp2 *a);
void bls_fp2_inv(struct bls_fp2 *r, const struct bls_fp2 *a);
bool bls_fp2_sqrt(struct bls_fp2 *r, const struct bls_fp2 *a);
bool bls_fp2_is_zero(const struct bls_fp2 *a);
bool bls_fp2_equal(const struct bls_fp2 *a, const struct bls_fp2 *b);
void bls_fp2_cmov(struct bls_fp2 *r, const struct bls_fp2 *a, bool cond);
bool bls_fp2_is_lexicographically_largest(const struct bls_fp2 *a);

/* Fp6. */
void bls_fp6_zero(struct bls_fp6 *r);
void bls_fp6_one(struct bls_fp6 *r);
void bls_fp6_add(struct bls_fp6 *r, const struct bls_fp6 *a, const struct bls_fp6 *b);
void bls_fp6_sub(struct bls_fp6 *r, const struct bls_fp6 *a, const struct bls_fp6 *b);
void bls_fp6_neg(struct bls_fp6 *r, const struct bls_fp6 *a);
void bls_fp6_mul(struct bls_fp6 *r, const struct bls_fp6 *a, const struct bls_fp6 *b);
void bls_fp6_sqr(struct bls_fp6 *r, const struct bls_fp6 *a);
/* r = a v. */
void bls_fp6_mul_by_nonresidue(struct bls_fp6 *r, const struct bls_fp6 *a);
/* r = a (b0 + b1 v): the shape of half a Miller-loop line. */
void bls_fp6_mul_by_01(struct bls_fp6 *r, const struct bls_fp6 *a, const struct bls_fp2 *b0, const struct bls_fp2 *b1);
/* r = a (b1 v). */
void bls_fp6_mul_by_1(struct bls_fp6 *r, const struct bls_fp6 *a, const struct bls_fp2 *b1);
void bls_fp6_inv(struct bls_fp6 *r, const struct bls_fp6 *a);
bool bls_fp6_equal(const struct bls_fp6 *a, const struct bls_fp6 *b);

/* Fp12. */
void bls_fp12_one(struct bls_fp12 *r);
void bls_fp12_mul(struct bls_fp12 *r, const struct bls_fp12 *a, const struct bls_fp12 *b);
void bls_fp12_sqr(struct bls_fp12 *r, const struct bls_fp12 *a);
void bls_fp12_inv(struct bls_fp12 *r, const struct bls_fp12 *a);
void bls_fp12_conjugate(struct bls_fp12 *r, const struct bls_fp12 *a);
/* r = a^p. */
void bls_fp12_frobenius(struct bls_fp12 *r, const struct bls_fp12 *a);
/* r = a (c0 + c1 v + c4 v w), a Miller-loop line. */
void bls_fp12_mul_by_014(struct bls_fp12 *r, const struct bls_fp12 *a,
	const struct bls_fp2 *c0, const struct bls_fp2 *c1, const struct bls_fp2 *c4);
/* Squaring in the cyclotomic subgroup (after the final exponentiation's easy part). */
void bls_fp12_cyclotomic_sqr(struct bls_fp12 *r, const struct bls_fp12 *a);
bool bls_fp12_equal(const struct bls_fp12 *a, const struct bls_fp12 *b);
bool bls_fp12_is_one(const struct bls_fp12 *a);

/* Scalars as integers: r = k with the scalar's bits read most significant first. */
bool bls_scalar_bit(const struct bls_scalar *k, unsigned i);

/* Internal point helpers. */
void bls_g1_to_affine(struct bls_fp *x, struct bls_fp *y, const struct bls_g1 *p);
void bls_g2_to_affine(struct bls_fp2 *x, struct bls_fp2 *y, const struct bls_g2 *p);
/* [k]p for a public k of any length (little-endian limbs): variable time. */
void bls_g1_mul_vartime(struct bls_g1 *r, const struct bls_g1 *p, const uint64_t *k, size_t limbs);
void bls_g2_mul_vartime(struct bls_g2 *r, const struct bls_g2 *p, const uint64_t *k, size_t limbs);

/* RFC 9380's steps, exposed for the tests that check each against the RFC's vectors. */
int bls_expand_message_xmd(uint8_t *out, size_t out_len, const uint8_t *msg, size_t msg_len,
	const uint8_t *dst, size_t dst_len);
int bls_hash_to_field(struct bls_fp u[2], const uint8_t *msg, size_t msg_len,
	const uint8_t *dst, size_t dst_len);
/* map_to_curve followed by the isogeny: a point of E, not yet in G1. */
void bls_map_to_g1_curve(struct bls_g1 *r, const struct bls_fp *u);

#endif
