/*
 * Fp2 = Fp[u] / (u^2 + 1). Constant time like Fp, except bls_fp2_sqrt, which
 * branches on its input: it serves only the decoding of public points.
 */
#include <string.h>

#include "internal.h"

void bls_fp2_zero(struct bls_fp2 *r)
{
	memset(r, 0, sizeof *r);
}

void bls_fp2_one(struct bls_fp2 *r)
{
	r->c0 = bls_fp_one_mont;
	bls_fp_zero(&r->c1);
}

void bls_fp2_add(struct bls_fp2 *r, const struct bls_fp2 *a, const struct bls_fp2 *b)
{
	bls_fp_add(&r->c0, &a->c0, &b->c0);
	bls_fp_add(&r->c1, &a->c1, &b->c1);
}

void bls_fp2_sub(struct bls_fp2 *r, const struct bls_fp2 *a, const struct bls_fp2 *b)
{
	bls_fp_sub(&r->c0, &a->c0, &b->c0);
	bls_fp_sub(&r->c1, &a->c1, &b->c1);
}

void bls_fp2_neg(struct bls_fp2 *r, const struct bls_fp2 *a)
{
	bls_fp_neg(&r->c0, &a->c0);
	bls_fp_neg(&r->c1, &a->c1);
}

void bls_fp2_double(struct bls_fp2 *r, const struct bls_fp2 *a)
{
	bls_fp2_add(r, a, a);
}

void bls_fp2_conjugate(struct bls_fp2 *r, const struct bls_fp2 *a)
{
	r->c0 = a->c0;
	bls_fp_neg(&r->c1, &a->c1);
}

/*
 * Karatsuba with lazy reduction: three double-width products and two
 * Montgomery reductions instead of three full multiplications.
 *   c0 = a0 b0 - a1 b1, plus p 2^384 when negative, in [0, p 2^384);
 *   c1 = (a0 + a1)(b0 + b1) - a0 b0 - a1 b1 = a0 b1 + a1 b0 < 2 p^2 < p 2^384.
 * The sums a0 + a1 and b0 + b1 are left unreduced (below 2p < 2^382).
 * Constant time: the correction of c0 is masked, not branched on.
 */
void bls_fp2_mul(struct bls_fp2 *r, const struct bls_fp2 *a, const struct bls_fp2 *b)
{
	static const uint64_t p[6] = BLS_P_LIMBS;
	uint64_t t0[12], t1[12], t2[12], sa[6], sb[6], carry = 0, borrow = 0;
	bls_fp_mul_wide(t0, a->c0.limb, b->c0.limb);
	bls_fp_mul_wide(t1, a->c1.limb, b->c1.limb);
	for (int i = 0; i < 6; i++)
		sa[i] = bls_addc(a->c0.limb[i], a->c1.limb[i], &carry);
	carry = 0;
	for (int i = 0; i < 6; i++)
		sb[i] = bls_addc(b->c0.limb[i], b->c1.limb[i], &carry);
	bls_fp_mul_wide(t2, sa, sb);
	/* t2 -= t0 + t1: exact, no borrow out. */
	for (int i = 0; i < 12; i++)
		t2[i] = bls_subb(t2[i], t0[i], &borrow);
	borrow = 0;
	for (int i = 0; i < 12; i++)
		t2[i] = bls_subb(t2[i], t1[i], &borrow);
	/* t0 -= t1, adding p 2^384 back when it borrowed. */
	borrow = 0;
	for (int i = 0; i < 12; i++)
		t0[i] = bls_subb(t0[i], t1[i], &borrow);
	uint64_t mask = 0 - borrow;
	carry = 0;
	for (int i = 0; i < 6; i++)
		t0[6 + i] = bls_addc(t0[6 + i], p[i] & mask, &carry);
	bls_fp_redc(&r->c0, t0);
	bls_fp_redc(&r->c1, t2);
}

void bls_fp2_mul_fp(struct bls_fp2 *r, const struct bls_fp2 *a, const struct bls_fp *b)
{
	bls_fp_mul(&r->c0, &a->c0, b);
	bls_fp_mul(&r->c1, &a->c1, b);
}

/* (a0 + a1 u)^2 = (a0 + a1)(a0 - a1) + 2 a0 a1 u. */
void bls_fp2_sqr(struct bls_fp2 *r, const struct bls_fp2 *a)
{
	struct bls_fp s, d, m;
	bls_fp_add(&s, &a->c0, &a->c1);
	bls_fp_sub(&d, &a->c0, &a->c1);
	bls_fp_mul(&m, &a->c0, &a->c1);
	bls_fp_mul(&r->c0, &s, &d);
	bls_fp_double(&r->c1, &m);
}

/* (a0 + a1 u)(1 + u) = (a0 - a1) + (a0 + a1) u. */
void bls_fp2_mul_by_nonresidue(struct bls_fp2 *r, const struct bls_fp2 *a)
{
	struct bls_fp t;
	bls_fp_sub(&t, &a->c0, &a->c1);
	bls_fp_add(&r->c1, &a->c0, &a->c1);
	r->c0 = t;
}

/* 1 / (a0 + a1 u) = (a0 - a1 u) / (a0^2 + a1^2). Constant time (bls_fp_inv is). */
void bls_fp2_inv(struct bls_fp2 *r, const struct bls_fp2 *a)
{
	struct bls_fp n, t;
	bls_fp_sqr(&n, &a->c0);
	bls_fp_sqr(&t, &a->c1);
	bls_fp_add(&n, &n, &t);
	bls_fp_inv(&n, &n);
	bls_fp_mul(&r->c0, &a->c0, &n);
	bls_fp_mul(&t, &a->c1, &n);
	bls_fp_neg(&r->c1, &t);
}

/*
 * Variable time (branches on a; used on public data only). Through the norm:
 * if x = x0 + x1 u squares to a, then x0^2 = (a0 + sqrt(a0^2 + a1^2)) / 2
 * for one of the two roots of the norm, and x1 = a1 / (2 x0).
 */
bool bls_fp2_sqrt(struct bls_fp2 *r, const struct bls_fp2 *a)
{
	struct bls_fp2 x, check;
	if (bls_fp_is_zero(&a->c1)) {
		struct bls_fp m;
		if (bls_fp_sqrt(&x.c0, &a->c0)) {
			bls_fp_zero(&x.c1);
		} else {
			/* (s u)^2 = -s^2. */
			bls_fp_neg(&m, &a->c0);
			if (!bls_fp_sqrt(&x.c1, &m))
				return false;
			bls_fp_zero(&x.c0);
		}
	} else {
		struct bls_fp norm, t, lambda, delta, half, two;
		bls_fp_sqr(&norm, &a->c0);
		bls_fp_sqr(&t, &a->c1);
		bls_fp_add(&norm, &norm, &t);
		if (!bls_fp_sqrt(&lambda, &norm))
			return false;
		bls_fp_double(&two, &bls_fp_one_mont);
		bls_fp_inv(&half, &two);
		bls_fp_add(&delta, &a->c0, &lambda);
		bls_fp_mul(&delta, &delta, &half);
		if (!bls_fp_sqrt(&x.c0, &delta)) {
			bls_fp_sub(&delta, &a->c0, &lambda);
			bls_fp_mul(&delta, &delta, &half);
			if (!bls_fp_sqrt(&x.c0, &delta))
				return false;
		}
		bls_fp_double(&t, &x.c0);
		bls_fp_inv(&t, &t);
		bls_fp_mul(&x.c1, &a->c1, &t);
	}
	bls_fp2_sqr(&check, &x);
	if (!bls_fp2_equal(&check, a))
		return false;
	*r = x;
	return true;
}

bool bls_fp2_is_zero(const struct bls_fp2 *a)
{
	return bls_fp_is_zero(&a->c0) & bls_fp_is_zero(&a->c1);
}

bool bls_fp2_equal(const struct bls_fp2 *a, const struct bls_fp2 *b)
{
	return bls_fp_equal(&a->c0, &b->c0) & bls_fp_equal(&a->c1, &b->c1);
}

void bls_fp2_cmov(struct bls_fp2 *r, const struct bls_fp2 *a, bool cond)
{
	bls_fp_cmov(&r->c0, &a->c0, cond);
	bls_fp_cmov(&r->c1, &a->c1, cond);
}

/* The zkcrypto/IETF order: c1 decides, c0 when c1 is zero. */
bool bls_fp2_is_lexicographically_largest(const struct bls_fp2 *a)
{
	return bls_fp_is_lexicographically_largest(&a->c1) |
		(bls_fp_is_zero(&a->c1) & bls_fp_is_lexicographically_largest(&a->c0));
}
