/*
 * The compressed point encoding of zkcrypto's bls12_381 and the IETF
 * pairing-friendly-curves draft:
 *
 *   G1: 48 bytes, the big-endian x coordinate;
 *   G2: 96 bytes, x.c1 then x.c0, each big-endian;
 *
 * with the top three bits of the first byte as flags: 0x80 compressed (always
 * set here), 0x40 the point at infinity (then every other bit is zero),
 * 0x20 y is the lexicographically larger of the two roots (for Fp2: decided
 * by c1, by c0 when c1 is zero).
 *
 * Decoding refuses, each by returning -1: the uncompressed form, an infinity
 * flag with any other bit set, an x that is not canonical (not below p), an x
 * with no point on the curve, and a point outside the subgroup of order r.
 * It is variable time (square roots, the subgroup check): encodings are
 * public data. Encoding is constant time in the coordinates (the sort flag
 * is set by arithmetic, not by a branch); only whether the point is the
 * identity decides a branch.
 */
#include <string.h>

#include "internal.h"

#define FLAG_COMPRESSED 0x80
#define FLAG_INFINITY 0x40
#define FLAG_LARGEST 0x20
#define FLAG_MASK 0xe0

/* 0 if in is the canonical encoding of the identity, 1 if of no identity, -1 if bad. */
static int read_infinity(const uint8_t *in, size_t len)
{
	if (!(in[0] & FLAG_COMPRESSED))
		return -1;
	if (!(in[0] & FLAG_INFINITY))
		return 1;
	if (in[0] != (FLAG_COMPRESSED | FLAG_INFINITY))
		return -1;
	for (size_t i = 1; i < len; i++)
		if (in[i] != 0)
			return -1;
	return 0;
}

void bls_g1_encode(uint8_t out[BLS_G1_BYTES], const struct bls_g1 *p)
{
	struct bls_fp x, y;
	if (bls_g1_is_identity(p)) {
		memset(out, 0, BLS_G1_BYTES);
		out[0] = FLAG_COMPRESSED | FLAG_INFINITY;
		return;
	}
	bls_g1_to_affine(&x, &y, p);
	bls_fp_to_bytes(out, &x);
	out[0] |= FLAG_COMPRESSED;
	out[0] |= (uint8_t)(bls_fp_is_lexicographically_largest(&y) * FLAG_LARGEST);
}

int bls_g1_decode(struct bls_g1 *p, const uint8_t in[BLS_G1_BYTES])
{
	uint8_t xb[BLS_FP_BYTES];
	struct bls_fp x, y, rhs;
	struct bls_g1 t;
	int kind = read_infinity(in, BLS_G1_BYTES);
	if (kind <= 0) {
		if (kind == 0)
			bls_g1_identity(p);
		return kind;
	}
	memcpy(xb, in, sizeof xb);
	xb[0] &= (uint8_t)~FLAG_MASK;
	if (bls_fp_from_bytes(&x, xb) != 0)
		return -1;
	bls_fp_sqr(&rhs, &x);
	bls_fp_mul(&rhs, &rhs, &x);
	bls_fp_add(&rhs, &rhs, &bls_fp_four_mont);
	if (!bls_fp_sqrt(&y, &rhs))
		return -1;
	if (bls_fp_is_lexicographically_largest(&y) != !!(in[0] & FLAG_LARGEST))
		bls_fp_neg(&y, &y);
	t.x = x;
	t.y = y;
	bls_fp_one(&t.z);
	if (!bls_g1_in_subgroup(&t))
		return -1;
	*p = t;
	return 0;
}

void bls_g2_encode(uint8_t out[BLS_G2_BYTES], const struct bls_g2 *p)
{
	struct bls_fp2 x, y;
	if (bls_g2_is_identity(p)) {
		memset(out, 0, BLS_G2_BYTES);
		out[0] = FLAG_COMPRESSED | FLAG_INFINITY;
		return;
	}
	bls_g2_to_affine(&x, &y, p);
	bls_fp_to_bytes(out, &x.c1);
	bls_fp_to_bytes(out + BLS_FP_BYTES, &x.c0);
	out[0] |= FLAG_COMPRESSED;
	out[0] |= (uint8_t)(bls_fp2_is_lexicographically_largest(&y) * FLAG_LARGEST);
}

int bls_g2_decode(struct bls_g2 *p, const uint8_t in[BLS_G2_BYTES])
{
	uint8_t xb[BLS_FP_BYTES];
	struct bls_fp2 x, y, rhs, b;
	struct bls_g2 t;
	int kind = read_infinity(in, BLS_G2_BYTES);
	if (kind <= 0) {
		if (kind == 0)
			bls_g2_identity(p);
		return kind;
	}
	memcpy(xb, in, sizeof xb);
	xb[0] &= (uint8_t)~FLAG_MASK;
	if (bls_fp_from_bytes(&x.c1, xb) != 0 || bls_fp_from_bytes(&x.c0, in + BLS_FP_BYTES) != 0)
		return -1;
	b.c0 = bls_fp_four_mont;
	b.c1 = bls_fp_four_mont;
	bls_fp2_sqr(&rhs, &x);
	bls_fp2_mul(&rhs, &rhs, &x);
	bls_fp2_add(&rhs, &rhs, &b);
	if (!bls_fp2_sqrt(&y, &rhs))
		return -1;
	if (bls_fp2_is_lexicographically_largest(&y) != !!(in[0] & FLAG_LARGEST))
		bls_fp2_neg(&y, &y);
	t.x = x;
	t.y = y;
	bls_fp2_one(&t.z);
	if (!bls_g2_in_subgroup(&t))
		return -1;
	*p = t;
	return 0;
}

/* The twelve coefficients in tower order, c0.c0.c0 first, big-endian each. */
void bls_gt_encode(uint8_t out[BLS_GT_BYTES], const struct bls_gt *a)
{
	const struct bls_fp6 *half[2] = {&a->v.c0, &a->v.c1};
	size_t at = 0;
	for (int i = 0; i < 2; i++) {
		const struct bls_fp2 *c[3] = {&half[i]->c0, &half[i]->c1, &half[i]->c2};
		for (int j = 0; j < 3; j++) {
			bls_fp_to_bytes(out + at, &c[j]->c0);
			bls_fp_to_bytes(out + at + BLS_FP_BYTES, &c[j]->c1);
			at += 2 * BLS_FP_BYTES;
		}
	}
}
