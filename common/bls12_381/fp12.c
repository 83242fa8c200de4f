/*
 * Fp12 = Fp6[w] / (w^2 - v), so that w^6 = u + 1. Constant time throughout:
 * the pairing's inputs may be secret (a key component), and nothing here
 * branches on a value.
 */
#include <string.h>

#include "internal.h"

/*
 * (u + 1)^(i (p - 1) / 6) for i = 1..5, Montgomery form: the Frobenius map
 * sends a w^i to conj(a) w^i times this. Computed from p and checked by the
 * tests (a^p by Frobenius equals a^p by exponentiation).
 */
static const struct bls_fp2 frobenius_gamma[6] = {
	{{{0}}, {{0}}}, /* unused: i = 0 multiplies by 1 */
	{{{0x07089552b319d465, 0xc6695f92b50a8313, 0x97e83cccd117228f, 0xa35baecab2dc29ee, 0x1ce393ea5daace4d, 0x08f2220fb0fb66eb}},
	 {{0xb2f66aad4ce5d646, 0x5842a06bfc497cec, 0xcf4895d42599d394, 0xc11b9cba40a8e8d0, 0x2e3813cbe5a0de89, 0x110eefda88847faf}}},
	{{{0, 0, 0, 0, 0, 0}},
	 {{0xcd03c9e48671f071, 0x5dab22461fcda5d2, 0x587042afd3851b95, 0x8eb60ebe01bacb9e, 0x03f97d6e83d050d2, 0x18f0206554638741}}},
	{{{0x7bcfa7a25aa30fda, 0xdc17dec12a927e7c, 0x2f088dd86b4ebef1, 0xd1ca2087da74d4a7, 0x2da2596696cebc1d, 0x0e2b7eedbbfd87d2}},
	 {{0x7bcfa7a25aa30fda, 0xdc17dec12a927e7c, 0x2f088dd86b4ebef1, 0xd1ca2087da74d4a7, 0x2da2596696cebc1d, 0x0e2b7eedbbfd87d2}}},
	{{{0x890dc9e4867545c3, 0x2af322533285a5d5, 0x50880866309b7e2c, 0xa20d1b8c7e881024, 0x14e4f04fe2db9068, 0x14e56d3f1564853a}},
	 {{0, 0, 0, 0, 0, 0}}},
	{{{0x82d83cf50dbce43f, 0xa2813e53df9d018f, 0xc6f0caa53c65e181, 0x7525cf528d50fe95, 0x4a85ed50f4798a6b, 0x171da0fd6cf8eebd}},
	 {{0x3726c30af242c66c, 0x7c2ac1aad1b6fe70, 0xa04007fbba4b14a2, 0xef517c3266341429, 0x0095ba654ed2226b, 0x02e370eccc86f7dd}}},
};

void bls_fp12_one(struct bls_fp12 *r)
{
	bls_fp6_one(&r->c0);
	bls_fp6_zero(&r->c1);
}

/* Karatsuba over Fp6: three Fp6 multiplications. */
void bls_fp12_mul(struct bls_fp12 *r, const struct bls_fp12 *a, const struct bls_fp12 *b)
{
	struct bls_fp6 t0, t1, s, u;
	bls_fp6_mul(&t0, &a->c0, &b->c0);
	bls_fp6_mul(&t1, &a->c1, &b->c1);
	bls_fp6_add(&s, &a->c0, &a->c1);
	bls_fp6_add(&u, &b->c0, &b->c1);
	bls_fp6_mul(&s, &s, &u);
	bls_fp6_sub(&s, &s, &t0);
	bls_fp6_sub(&r->c1, &s, &t1);
	bls_fp6_mul_by_nonresidue(&t1, &t1);
	bls_fp6_add(&r->c0, &t0, &t1);
}

/* (a0 + a1 w)^2 = (a0 + a1)(a0 + v a1) - t - v t + 2 t w, t = a0 a1. */
void bls_fp12_sqr(struct bls_fp12 *r, const struct bls_fp12 *a)
{
	struct bls_fp6 t, s, u;
	bls_fp6_mul(&t, &a->c0, &a->c1);
	bls_fp6_add(&s, &a->c0, &a->c1);
	bls_fp6_mul_by_nonresidue(&u, &a->c1);
	bls_fp6_add(&u, &u, &a->c0);
	bls_fp6_mul(&s, &s, &u);
	bls_fp6_sub(&s, &s, &t);
	bls_fp6_mul_by_nonresidue(&u, &t);
	bls_fp6_sub(&r->c0, &s, &u);
	bls_fp6_add(&r->c1, &t, &t);
}

/* 1 / (a0 + a1 w) = (a0 - a1 w) / (a0^2 - v a1^2). Constant time. */
void bls_fp12_inv(struct bls_fp12 *r, const struct bls_fp12 *a)
{
	struct bls_fp6 t, u;
	bls_fp6_sqr(&t, &a->c0);
	bls_fp6_sqr(&u, &a->c1);
	bls_fp6_mul_by_nonresidue(&u, &u);
	bls_fp6_sub(&t, &t, &u);
	bls_fp6_inv(&t, &t);
	bls_fp6_mul(&r->c0, &a->c0, &t);
	bls_fp6_mul(&u, &a->c1, &t);
	bls_fp6_neg(&r->c1, &u);
}

/* a^(p^6): in the cyclotomic subgroup, the inverse. */
void bls_fp12_conjugate(struct bls_fp12 *r, const struct bls_fp12 *a)
{
	r->c0 = a->c0;
	bls_fp6_neg(&r->c1, &a->c1);
}

static void frobenius_coefficient(struct bls_fp2 *r, const struct bls_fp2 *a, int power_of_w)
{
	bls_fp2_conjugate(r, a);
	if (power_of_w != 0)
		bls_fp2_mul(r, r, &frobenius_gamma[power_of_w]);
}

/* Coefficient by coefficient: c0 = (w^0, w^2, w^4), c1 = (w^1, w^3, w^5). */
void bls_fp12_frobenius(struct bls_fp12 *r, const struct bls_fp12 *a)
{
	frobenius_coefficient(&r->c0.c0, &a->c0.c0, 0);
	frobenius_coefficient(&r->c0.c1, &a->c0.c1, 2);
	frobenius_coefficient(&r->c0.c2, &a->c0.c2, 4);
	frobenius_coefficient(&r->c1.c0, &a->c1.c0, 1);
	frobenius_coefficient(&r->c1.c1, &a->c1.c1, 3);
	frobenius_coefficient(&r->c1.c2, &a->c1.c2, 5);
}

void bls_fp12_mul_by_014(struct bls_fp12 *r, const struct bls_fp12 *a,
	const struct bls_fp2 *c0, const struct bls_fp2 *c1, const struct bls_fp2 *c4)
{
	struct bls_fp6 aa, bb, s;
	struct bls_fp2 o;
	bls_fp6_mul_by_01(&aa, &a->c0, c0, c1);
	bls_fp6_mul_by_1(&bb, &a->c1, c4);
	bls_fp2_add(&o, c1, c4);
	bls_fp6_add(&s, &a->c0, &a->c1);
	bls_fp6_mul_by_01(&s, &s, c0, &o);
	bls_fp6_sub(&s, &s, &aa);
	bls_fp6_sub(&r->c1, &s, &bb);
	bls_fp6_mul_by_nonresidue(&bb, &bb);
	bls_fp6_add(&r->c0, &bb, &aa);
}

/* (x + y t)^2 in Fp4 = Fp2[t] / (t^2 - (u + 1)): x^2 + (u + 1) y^2 and 2 x y. */
static void fp4_sqr(struct bls_fp2 *r0, struct bls_fp2 *r1, const struct bls_fp2 *x, const struct bls_fp2 *y)
{
	struct bls_fp2 xy, s, u;
	bls_fp2_mul(&xy, x, y);
	bls_fp2_add(&s, x, y);
	bls_fp2_mul_by_nonresidue(&u, y);
	bls_fp2_add(&u, &u, x);
	bls_fp2_mul(&s, &s, &u);
	bls_fp2_sub(&s, &s, &xy);
	bls_fp2_mul_by_nonresidue(&u, &xy);
	bls_fp2_sub(r0, &s, &u);
	bls_fp2_double(r1, &xy);
}

/* r = 3 sq - 2 z, or 3 sq + 2 z when plus (where conjugation negated z). */
static void three_s_two_z(struct bls_fp2 *r, const struct bls_fp2 *sq, const struct bls_fp2 *z, bool plus)
{
	struct bls_fp2 t;
	if (plus)
		bls_fp2_add(&t, sq, z);
	else
		bls_fp2_sub(&t, sq, z);
	bls_fp2_double(&t, &t);
	bls_fp2_add(r, &t, sq);
}

/*
 * Granger and Scott, "Faster squaring in the cyclotomic subgroup of sixth
 * degree extensions" (PKC 2010): with t = w^3 and s = w, an element is
 * A0 + A1 s + A2 s^2 over Fp4 = Fp2[t], A0 = c0.c0 + c1.c1 t,
 * A1 = c1.c0 + c0.c2 t, A2 = c0.c1 + c1.c2 t. For a^(p^6 + 1) = 1,
 *   a^2 = (3 A0^2 - 2 A0') + (3 t A2^2 + 2 A1') s + (3 A1^2 - 2 A2') s^2,
 * primes marking conjugation over Fp2 (t -> -t). Nine Fp2 squarings'
 * worth of work instead of the general squaring's twelve multiplications.
 * Correct only inside the cyclotomic subgroup (the tests compare it with
 * the general squaring there). Constant time.
 */
void bls_fp12_cyclotomic_sqr(struct bls_fp12 *r, const struct bls_fp12 *a)
{
	struct bls_fp2 a0x, a0y, a1x, a1y, a2x, a2y, t;
	fp4_sqr(&a0x, &a0y, &a->c0.c0, &a->c1.c1);
	fp4_sqr(&a1x, &a1y, &a->c1.c0, &a->c0.c2);
	fp4_sqr(&a2x, &a2y, &a->c0.c1, &a->c1.c2);
	struct bls_fp12 out;
	/* A0 */
	three_s_two_z(&out.c0.c0, &a0x, &a->c0.c0, false);
	three_s_two_z(&out.c1.c1, &a0y, &a->c1.c1, true);
	/* A1 = 3 t A2^2 + 2 A1': t (x + y t) = (u + 1) y + x t */
	bls_fp2_mul_by_nonresidue(&t, &a2y);
	three_s_two_z(&out.c1.c0, &t, &a->c1.c0, true);
	three_s_two_z(&out.c0.c2, &a2x, &a->c0.c2, false);
	/* A2 */
	three_s_two_z(&out.c0.c1, &a1x, &a->c0.c1, false);
	three_s_two_z(&out.c1.c2, &a1y, &a->c1.c2, true);
	*r = out;
}

bool bls_fp12_equal(const struct bls_fp12 *a, const struct bls_fp12 *b)
{
	return bls_fp6_equal(&a->c0, &b->c0) & bls_fp6_equal(&a->c1, &b->c1);
}

bool bls_fp12_is_one(const struct bls_fp12 *a)
{
	struct bls_fp12 one;
	bls_fp12_one(&one);
	return bls_fp12_equal(a, &one);
}
