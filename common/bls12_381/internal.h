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
/*
 * The base-field operations every other file calls most, defined here so
 * that each file can inline them (they are most of the pairing's time).
 * Constant time: no branch and no memory index depends on a value; carries
 * and borrows become masks. Montgomery form, R = 2^384. The loops are
 * unrolled so that the limbs can stay in registers.
 */
__extension__ typedef unsigned __int128 bls_u128;

#define BLS_P_LIMBS { \
	0xb9feffffffffaaabULL, 0x1eabfffeb153ffffULL, 0x6730d2a0f6b0f624ULL, \
	0x64774b84f38512bfULL, 0x4b1ba7b6434bacd7ULL, 0x1a0111ea397fe69aULL }
/* -p^-1 mod 2^64. */
#define BLS_P_INV 0x89f3fffcfffcfffdULL

/*
 * Add-with-carry and subtract-with-borrow. On x86-64 with GCC or Clang the
 * compilers' carry intrinsics give straight adc/sbb chains (the portable
 * comparisons below compile to about twice as many instructions there);
 * elsewhere, or with -DBLS_PORTABLE (which the tests also build and run),
 * the carries are computed with comparisons. Both are constant time: the
 * carry is a value, never a branch.
 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(BLS_PORTABLE)
#include <x86intrin.h>
#define BLS_CARRY_INTRINSICS 1
#endif

/* a + b + carry in (0 or 1); carry out (0 or 1). */
static inline uint64_t bls_addc(uint64_t a, uint64_t b, uint64_t *carry)
{
#ifdef BLS_CARRY_INTRINSICS
	unsigned long long s;
	*carry = _addcarry_u64((unsigned char)*carry, a, b, &s);
	return s;
#else
	uint64_t s = a + b;
	uint64_t c = s < a;
	s += *carry;
	c += s < *carry;
	*carry = c;
	return s;
#endif
}

/* a - b - borrow in (0 or 1); borrow out (0 or 1). */
static inline uint64_t bls_subb(uint64_t a, uint64_t b, uint64_t *borrow)
{
#ifdef BLS_CARRY_INTRINSICS
	unsigned long long d;
	*borrow = _subborrow_u64((unsigned char)*borrow, a, b, &d);
	return d;
#else
	uint64_t d = a - b;
	uint64_t c = a < b;
	c += d < *borrow;
	d -= *borrow;
	*borrow = c;
	return d;
#endif
}

/* r = t - p if t >= p, else t; t < 2p. */
static inline void bls_fp_reduce_once(struct bls_fp *r, const uint64_t t[6])
{
	static const uint64_t p[6] = BLS_P_LIMBS;
	uint64_t d[6], borrow = 0;
	_Pragma("GCC unroll 6")
	for (int i = 0; i < 6; i++)
		d[i] = bls_subb(t[i], p[i], &borrow);
	/* borrow set: t < p, keep t. */
	uint64_t keep = 0 - borrow;
	_Pragma("GCC unroll 6")
	for (int i = 0; i < 6; i++)
		r->limb[i] = (t[i] & keep) | (d[i] & ~keep);
}

static inline void bls_fp_add(struct bls_fp *r, const struct bls_fp *a, const struct bls_fp *b)
{
	uint64_t t[6], carry = 0;
	/* p < 2^381, so a + b < 2^382 fits the six limbs. */
	_Pragma("GCC unroll 6")
	for (int i = 0; i < 6; i++)
		t[i] = bls_addc(a->limb[i], b->limb[i], &carry);
	bls_fp_reduce_once(r, t);
}

static inline void bls_fp_sub(struct bls_fp *r, const struct bls_fp *a, const struct bls_fp *b)
{
	static const uint64_t p[6] = BLS_P_LIMBS;
	uint64_t t[6], borrow = 0, carry = 0;
	_Pragma("GCC unroll 6")
	for (int i = 0; i < 6; i++)
		t[i] = bls_subb(a->limb[i], b->limb[i], &borrow);
	uint64_t mask = 0 - borrow; /* add p back when a < b */
	_Pragma("GCC unroll 6")
	for (int i = 0; i < 6; i++)
		r->limb[i] = bls_addc(t[i], p[i] & mask, &carry);
}

static inline void bls_fp_neg(struct bls_fp *r, const struct bls_fp *a)
{
	static const struct bls_fp zero;
	bls_fp_sub(r, &zero, a);
}

/* r = a / 2: a + p when a is odd (a mask, not a branch), then one bit right. Constant time. */
static inline void bls_fp_halve(struct bls_fp *r, const struct bls_fp *a)
{
	static const uint64_t p[6] = BLS_P_LIMBS;
	uint64_t t[6], carry = 0, mask = 0 - (a->limb[0] & 1);
	/* a + p < 2^382: no carry out of the top word. */
	_Pragma("GCC unroll 6")
	for (int i = 0; i < 6; i++)
		t[i] = bls_addc(a->limb[i], p[i] & mask, &carry);
	_Pragma("GCC unroll 6")
	for (int i = 0; i < 5; i++)
		r->limb[i] = (t[i] >> 1) | (t[i + 1] << 63);
	r->limb[5] = t[5] >> 1;
}

static inline void bls_fp_double(struct bls_fp *r, const struct bls_fp *a)
{
	bls_fp_add(r, a, a);
}

/*
 * a b + t + carry in, carry out: one 64-bit multiply-accumulate step. The
 * carries are added as words with explicit comparisons, which compilers
 * turn into add-with-carry better than 128-bit additions.
 */
static inline uint64_t bls_mac(uint64_t a, uint64_t b, uint64_t t, uint64_t *carry)
{
	bls_u128 product = (bls_u128)a * b;
	uint64_t lo = (uint64_t)product, hi = (uint64_t)(product >> 64);
	lo += t;
	hi += lo < t;
	lo += *carry;
	hi += lo < *carry;
	*carry = hi;
	return lo;
}

/*
 * Montgomery multiplication a b R^-1 mod p, coarsely integrated operand
 * scanning: each round adds a b[i] and m p (m chosen to clear the lowest
 * word) in one pass over the limbs and shifts one word down. p's top word
 * is below 2^62, so the running value stays below 2p and fits six words:
 * no seventh carry word is needed. Constant time: a fixed sequence of
 * multiplications and additions, one masked final subtraction.
 */
static inline void bls_fp_mul(struct bls_fp *r, const struct bls_fp *a, const struct bls_fp *b)
{
	static const uint64_t p[6] = BLS_P_LIMBS;
	uint64_t t[6] = {0};
	_Pragma("GCC unroll 6")
	for (int i = 0; i < 6; i++) {
		uint64_t bi = b->limb[i], ca = 0, cm = 0;
		uint64_t lo = bls_mac(a->limb[0], bi, t[0], &ca);
		uint64_t m = lo * BLS_P_INV;
		(void)bls_mac(m, p[0], lo, &cm);
		_Pragma("GCC unroll 6")
		for (int j = 1; j < 6; j++) {
			uint64_t s = bls_mac(a->limb[j], bi, t[j], &ca);
			t[j - 1] = bls_mac(m, p[j], s, &cm);
		}
		t[5] = ca + cm;
	}
	bls_fp_reduce_once(r, t);
}

/*
 * The two halves of a Montgomery multiplication, for lazy reduction: sums
 * and differences of double-width products are reduced once instead of
 * reducing each product (Fp2 multiplication, below). Constant time like
 * bls_fp_mul.
 */

/* t = a b, the full 768-bit product; a and b below 2^383 (sums of two reduced values allowed). */
static inline void bls_fp_mul_wide(uint64_t t[12], const uint64_t a[6], const uint64_t b[6])
{
	uint64_t carry = 0;
	_Pragma("GCC unroll 6")
	for (int j = 0; j < 6; j++)
		t[j] = bls_mac(a[j], b[0], 0, &carry);
	t[6] = carry;
	_Pragma("GCC unroll 6")
	for (int i = 1; i < 6; i++) {
		carry = 0;
		_Pragma("GCC unroll 6")
		for (int j = 0; j < 6; j++)
			t[i + j] = bls_mac(a[j], b[i], t[i + j], &carry);
		t[i + 6] = carry;
	}
}

/*
 * r = t R^-1 mod p for t < p R: six rounds each adding m p 2^(64 i) to clear
 * word i. The carry out of each round's top word is kept apart (over) and
 * added in the next round; t + m p < 2 p R < 2^768 leaves nothing above.
 * The result is below 2p before the final masked subtraction.
 */
static inline void bls_fp_redc(struct bls_fp *r, uint64_t t[12])
{
	static const uint64_t p[6] = BLS_P_LIMBS;
	uint64_t over = 0;
	_Pragma("GCC unroll 6")
	for (int i = 0; i < 6; i++) {
		uint64_t m = t[i] * BLS_P_INV, carry = 0;
		_Pragma("GCC unroll 6")
		for (int j = 0; j < 6; j++)
			t[i + j] = bls_mac(m, p[j], t[i + j], &carry);
		t[i + 6] = bls_addc(t[i + 6], carry, &over);
	}
	bls_fp_reduce_once(r, t + 6);
}

static inline void bls_fp_sqr(struct bls_fp *r, const struct bls_fp *a)
{
	bls_fp_mul(r, a, a);
}

void bls_fp_zero(struct bls_fp *r);
void bls_fp_one(struct bls_fp *r);
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

/* The subgroup check by definition, [r]p = O, slow; the tests compare the fast checks with it. */
bool bls_g1_has_order_r(const struct bls_g1 *p);
bool bls_g2_has_order_r(const struct bls_g2 *p);

/* RFC 9380's steps, exposed for the tests that check each against the RFC's vectors. */
int bls_expand_message_xmd(uint8_t *out, size_t out_len, const uint8_t *msg, size_t msg_len,
	const uint8_t *dst, size_t dst_len);
int bls_hash_to_field(struct bls_fp u[2], const uint8_t *msg, size_t msg_len,
	const uint8_t *dst, size_t dst_len);
/* map_to_curve followed by the isogeny: a point of E, not yet in G1. */
void bls_map_to_g1_curve(struct bls_g1 *r, const struct bls_fp *u);

#endif
