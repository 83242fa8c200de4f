/* Fp6 = Fp2[v] / (v^3 - (u + 1)). Constant time throughout. */
#include <string.h>

#include "internal.h"

void bls_fp6_zero(struct bls_fp6 *r)
{
	memset(r, 0, sizeof *r);
}

void bls_fp6_one(struct bls_fp6 *r)
{
	bls_fp6_zero(r);
	bls_fp2_one(&r->c0);
}

void bls_fp6_add(struct bls_fp6 *r, const struct bls_fp6 *a, const struct bls_fp6 *b)
{
	bls_fp2_add(&r->c0, &a->c0, &b->c0);
	bls_fp2_add(&r->c1, &a->c1, &b->c1);
	bls_fp2_add(&r->c2, &a->c2, &b->c2);
}

void bls_fp6_sub(struct bls_fp6 *r, const struct bls_fp6 *a, const struct bls_fp6 *b)
{
	bls_fp2_sub(&r->c0, &a->c0, &b->c0);
	bls_fp2_sub(&r->c1, &a->c1, &b->c1);
	bls_fp2_sub(&r->c2, &a->c2, &b->c2);
}

void bls_fp6_neg(struct bls_fp6 *r, const struct bls_fp6 *a)
{
	bls_fp2_neg(&r->c0, &a->c0);
	bls_fp2_neg(&r->c1, &a->c1);
	bls_fp2_neg(&r->c2, &a->c2);
}

/* Karatsuba over the three coefficients: six Fp2 multiplications. */
void bls_fp6_mul(struct bls_fp6 *r, const struct bls_fp6 *a, const struct bls_fp6 *b)
{
	struct bls_fp2 t0, t1, t2, s, u, c0, c1, c2;
	bls_fp2_mul(&t0, &a->c0, &b->c0);
	bls_fp2_mul(&t1, &a->c1, &b->c1);
	bls_fp2_mul(&t2, &a->c2, &b->c2);

	/* c0 = t0 + xi ((a1 + a2)(b1 + b2) - t1 - t2) */
	bls_fp2_add(&s, &a->c1, &a->c2);
	bls_fp2_add(&u, &b->c1, &b->c2);
	bls_fp2_mul(&s, &s, &u);
	bls_fp2_sub(&s, &s, &t1);
	bls_fp2_sub(&s, &s, &t2);
	bls_fp2_mul_by_nonresidue(&s, &s);
	bls_fp2_add(&c0, &s, &t0);

	/* c1 = (a0 + a1)(b0 + b1) - t0 - t1 + xi t2 */
	bls_fp2_add(&s, &a->c0, &a->c1);
	bls_fp2_add(&u, &b->c0, &b->c1);
	bls_fp2_mul(&s, &s, &u);
	bls_fp2_sub(&s, &s, &t0);
	bls_fp2_sub(&s, &s, &t1);
	bls_fp2_mul_by_nonresidue(&u, &t2);
	bls_fp2_add(&c1, &s, &u);

	/* c2 = (a0 + a2)(b0 + b2) - t0 - t2 + t1 */
	bls_fp2_add(&s, &a->c0, &a->c2);
	bls_fp2_add(&u, &b->c0, &b->c2);
	bls_fp2_mul(&s, &s, &u);
	bls_fp2_sub(&s, &s, &t0);
	bls_fp2_sub(&s, &s, &t2);
	bls_fp2_add(&c2, &s, &t1);

	r->c0 = c0;
	r->c1 = c1;
	r->c2 = c2;
}

/* Chung–Hasan SQR2: two multiplications and three squarings in Fp2. */
void bls_fp6_sqr(struct bls_fp6 *r, const struct bls_fp6 *a)
{
	struct bls_fp2 s0, s1, s2, s3, s4, t;
	bls_fp2_sqr(&s0, &a->c0);
	bls_fp2_mul(&s1, &a->c0, &a->c1);
	bls_fp2_double(&s1, &s1);
	bls_fp2_sub(&t, &a->c0, &a->c1);
	bls_fp2_add(&t, &t, &a->c2);
	bls_fp2_sqr(&s2, &t);
	bls_fp2_mul(&s3, &a->c1, &a->c2);
	bls_fp2_double(&s3, &s3);
	bls_fp2_sqr(&s4, &a->c2);

	/* c0 = s0 + xi s3; c1 = s1 + xi s4; c2 = s1 + s2 + s3 - s0 - s4 */
	bls_fp2_mul_by_nonresidue(&t, &s3);
	bls_fp2_add(&r->c0, &s0, &t);
	bls_fp2_mul_by_nonresidue(&t, &s4);
	struct bls_fp2 c1;
	bls_fp2_add(&c1, &s1, &t);
	bls_fp2_add(&t, &s1, &s2);
	bls_fp2_add(&t, &t, &s3);
	bls_fp2_sub(&t, &t, &s0);
	bls_fp2_sub(&r->c2, &t, &s4);
	r->c1 = c1;
}

/* (a0 + a1 v + a2 v^2) v = xi a2 + a0 v + a1 v^2. */
void bls_fp6_mul_by_nonresidue(struct bls_fp6 *r, const struct bls_fp6 *a)
{
	struct bls_fp2 t;
	bls_fp2_mul_by_nonresidue(&t, &a->c2);
	r->c2 = a->c1;
	r->c1 = a->c0;
	r->c0 = t;
}

void bls_fp6_mul_by_01(struct bls_fp6 *r, const struct bls_fp6 *a, const struct bls_fp2 *b0, const struct bls_fp2 *b1)
{
	struct bls_fp2 t0, t1, s, u, c0, c1, c2;
	bls_fp2_mul(&t0, &a->c0, b0);
	bls_fp2_mul(&t1, &a->c1, b1);

	/* c0 = t0 + xi (a2 b1) */
	bls_fp2_mul(&s, &a->c2, b1);
	bls_fp2_mul_by_nonresidue(&s, &s);
	bls_fp2_add(&c0, &s, &t0);
	/* c1 = (a0 + a1)(b0 + b1) - t0 - t1 */
	bls_fp2_add(&s, &a->c0, &a->c1);
	bls_fp2_add(&u, b0, b1);
	bls_fp2_mul(&s, &s, &u);
	bls_fp2_sub(&s, &s, &t0);
	bls_fp2_sub(&c1, &s, &t1);
	/* c2 = a2 b0 + t1 */
	bls_fp2_mul(&s, &a->c2, b0);
	bls_fp2_add(&c2, &s, &t1);

	r->c0 = c0;
	r->c1 = c1;
	r->c2 = c2;
}

void bls_fp6_mul_by_1(struct bls_fp6 *r, const struct bls_fp6 *a, const struct bls_fp2 *b1)
{
	struct bls_fp2 c0, c1, c2;
	bls_fp2_mul(&c0, &a->c2, b1);
	bls_fp2_mul_by_nonresidue(&c0, &c0);
	bls_fp2_mul(&c1, &a->c0, b1);
	bls_fp2_mul(&c2, &a->c1, b1);
	r->c0 = c0;
	r->c1 = c1;
	r->c2 = c2;
}

/* Through the norm to Fp2; constant time (bls_fp2_inv is). */
void bls_fp6_inv(struct bls_fp6 *r, const struct bls_fp6 *a)
{
	struct bls_fp2 c0, c1, c2, t, u;
	/* c0 = a0^2 - xi a1 a2 */
	bls_fp2_sqr(&c0, &a->c0);
	bls_fp2_mul(&t, &a->c1, &a->c2);
	bls_fp2_mul_by_nonresidue(&t, &t);
	bls_fp2_sub(&c0, &c0, &t);
	/* c1 = xi a2^2 - a0 a1 */
	bls_fp2_sqr(&c1, &a->c2);
	bls_fp2_mul_by_nonresidue(&c1, &c1);
	bls_fp2_mul(&t, &a->c0, &a->c1);
	bls_fp2_sub(&c1, &c1, &t);
	/* c2 = a1^2 - a0 a2 */
	bls_fp2_sqr(&c2, &a->c1);
	bls_fp2_mul(&t, &a->c0, &a->c2);
	bls_fp2_sub(&c2, &c2, &t);
	/* t = a0 c0 + xi (a2 c1 + a1 c2) */
	bls_fp2_mul(&t, &a->c2, &c1);
	bls_fp2_mul(&u, &a->c1, &c2);
	bls_fp2_add(&t, &t, &u);
	bls_fp2_mul_by_nonresidue(&t, &t);
	bls_fp2_mul(&u, &a->c0, &c0);
	bls_fp2_add(&t, &t, &u);
	bls_fp2_inv(&t, &t);
	bls_fp2_mul(&r->c0, &c0, &t);
	bls_fp2_mul(&r->c1, &c1, &t);
	bls_fp2_mul(&r->c2, &c2, &t);
}

bool bls_fp6_equal(const struct bls_fp6 *a, const struct bls_fp6 *b)
{
	return bls_fp2_equal(&a->c0, &b->c0) & bls_fp2_equal(&a->c1, &b->c1) &
		bls_fp2_equal(&a->c2, &b->c2);
}
