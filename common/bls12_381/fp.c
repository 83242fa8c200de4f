/*
 * The base field Fp, p = 0x1a0111ea...ffffaaab (381 bits), in six 64-bit
 * limbs, little-endian, Montgomery form with R = 2^384.
 *
 * Every function here is constant time in its operands: no branch and no
 * memory index depends on a value, carries are masks, and the exponents used
 * for inversion and square roots are the fixed public constants p - 2 and
 * (p + 1) / 4. Only bls_fp_sqrt's result flag and the encoders' refusal of a
 * non-canonical input tell anything about a value, and both are about public
 * data (encodings read from outside).
 */
#include <string.h>

#include "internal.h"

const struct bls_fp bls_fp_modulus = {BLS_P_LIMBS};
/* R mod p: 1 in Montgomery form. */
const struct bls_fp bls_fp_one_mont = {{
	0x760900000002fffd, 0xebf4000bc40c0002, 0x5f48985753c758ba,
	0x77ce585370525745, 0x5c071a97a256ec6d, 0x15f65ec3fa80e493,
}};
const struct bls_fp bls_fp_four_mont = {{
	0xaa270000000cfff3, 0x53cc0032fc34000a, 0x478fe97a6b0a807f,
	0xb1d37ebee6ba24d7, 0x8ec9733bbf78ab2f, 0x09d645513d83de7e,
}};
/* R^2 mod p, to enter Montgomery form. */
static const struct bls_fp r_squared = {{
	0xf4df1f341c341746, 0x0a76e6a609d104f1, 0x8de5476c4c95b6d5,
	0x67eb88a9939d83c0, 0x9a793e85b519952d, 0x11988fe592cae3aa,
}};
/* p - 2: a^(p-2) = a^-1 (Fermat). */
static const uint64_t p_minus_2[6] = {
	0xb9feffffffffaaa9, 0x1eabfffeb153ffff, 0x6730d2a0f6b0f624,
	0x64774b84f38512bf, 0x4b1ba7b6434bacd7, 0x1a0111ea397fe69a,
};
/* (p + 1) / 4: p = 3 mod 4, so a^((p+1)/4) is a square root of a square a. */
static const uint64_t p_plus_1_over_4[6] = {
	0xee7fbfffffffeaab, 0x07aaffffac54ffff, 0xd9cc34a83dac3d89,
	0xd91dd2e13ce144af, 0x92c6e9ed90d2eb35, 0x0680447a8e5ff9a6,
};
static const uint64_t p_minus_1_over_2[6] = {
	0xdcff7fffffffd555, 0x0f55ffff58a9ffff, 0xb39869507b587b12,
	0xb23ba5c279c2895f, 0x258dd3db21a5d66b, 0x0d0088f51cbff34d,
};

void bls_fp_zero(struct bls_fp *r)
{
	memset(r, 0, sizeof *r);
}

void bls_fp_one(struct bls_fp *r)
{
	*r = bls_fp_one_mont;
}

/* a^e for a fixed public exponent: the sequence of operations depends on e only. */
static void fp_pow_public(struct bls_fp *r, const struct bls_fp *a, const uint64_t e[6])
{
	struct bls_fp acc = bls_fp_one_mont, base = *a;
	for (int i = 6 * 64 - 1; i >= 0; i--) {
		bls_fp_sqr(&acc, &acc);
		if ((e[i / 64] >> (i % 64)) & 1)
			bls_fp_mul(&acc, &acc, &base);
	}
	*r = acc;
}

/* Fermat: a^(p-2). Constant time (fixed exponent); 0 maps to 0. */
void bls_fp_inv(struct bls_fp *r, const struct bls_fp *a)
{
	fp_pow_public(r, a, p_minus_2);
}

/* Constant time; returns whether a is a square (r is then a root). */
bool bls_fp_sqrt(struct bls_fp *r, const struct bls_fp *a)
{
	struct bls_fp c, c2;
	fp_pow_public(&c, a, p_plus_1_over_4);
	bls_fp_sqr(&c2, &c);
	*r = c;
	return bls_fp_equal(&c2, a);
}

bool bls_fp_is_zero(const struct bls_fp *a)
{
	uint64_t acc = 0;
	for (int i = 0; i < 6; i++)
		acc |= a->limb[i];
	return acc == 0;
}

bool bls_fp_equal(const struct bls_fp *a, const struct bls_fp *b)
{
	uint64_t acc = 0;
	for (int i = 0; i < 6; i++)
		acc |= a->limb[i] ^ b->limb[i];
	return acc == 0;
}

void bls_fp_cmov(struct bls_fp *r, const struct bls_fp *a, bool cond)
{
	uint64_t mask = 0 - (uint64_t)cond;
	for (int i = 0; i < 6; i++)
		r->limb[i] ^= (r->limb[i] ^ a->limb[i]) & mask;
}

/* Out of Montgomery form: the canonical integer in [0, p). */
static void fp_canonical(uint64_t out[6], const struct bls_fp *a)
{
	struct bls_fp one = {{1, 0, 0, 0, 0, 0}}, t;
	bls_fp_mul(&t, a, &one);
	memcpy(out, t.limb, sizeof t.limb);
}

/* Constant time: the comparison runs over every limb. */
bool bls_fp_is_lexicographically_largest(const struct bls_fp *a)
{
	uint64_t v[6], borrow = 0;
	fp_canonical(v, a);
	/* (p-1)/2 - v borrows exactly when v > (p-1)/2. */
	for (int i = 0; i < 6; i++) {
		bls_u128 s = (bls_u128)p_minus_1_over_2[i] - v[i] - borrow;
		borrow = (uint64_t)(s >> 64) & 1;
	}
	return borrow;
}

bool bls_fp_sgn0(const struct bls_fp *a)
{
	uint64_t v[6];
	fp_canonical(v, a);
	return v[0] & 1;
}

int bls_fp_from_bytes(struct bls_fp *r, const uint8_t in[BLS_FP_BYTES])
{
	struct bls_fp t;
	uint64_t borrow = 0;
	for (int i = 0; i < 6; i++) {
		uint64_t w = 0;
		for (int j = 0; j < 8; j++)
			w = (w << 8) | in[(5 - i) * 8 + j];
		t.limb[i] = w;
	}
	/* Canonical encodings only: t - p must borrow. */
	for (int i = 0; i < 6; i++) {
		bls_u128 s = (bls_u128)t.limb[i] - bls_fp_modulus.limb[i] - borrow;
		borrow = (uint64_t)(s >> 64) & 1;
	}
	if (!borrow)
		return -1;
	bls_fp_mul(r, &t, &r_squared);
	return 0;
}

void bls_fp_to_bytes(uint8_t out[BLS_FP_BYTES], const struct bls_fp *a)
{
	uint64_t v[6];
	fp_canonical(v, a);
	for (int i = 0; i < 6; i++)
		for (int j = 0; j < 8; j++)
			out[(5 - i) * 8 + j] = (uint8_t)(v[i] >> (56 - 8 * j));
}

/*
 * Horner's rule over the bytes, most significant first: r = r 256 + byte.
 * Constant time in the bytes (their number is public).
 */
void bls_fp_from_bytes_reduce(struct bls_fp *r, const uint8_t *in, size_t len)
{
	struct bls_fp acc, shift, digit;
	bls_fp_zero(&acc);
	/* 256 in Montgomery form: 256 R = (256 R^2) R^-1. */
	struct bls_fp two_five_six = {{256, 0, 0, 0, 0, 0}};
	bls_fp_mul(&shift, &two_five_six, &r_squared);
	for (size_t i = 0; i < len; i++) {
		struct bls_fp byte = {{in[i], 0, 0, 0, 0, 0}};
		bls_fp_mul(&acc, &acc, &shift);
		bls_fp_mul(&digit, &byte, &r_squared);
		bls_fp_add(&acc, &acc, &digit);
	}
	*r = acc;
}
