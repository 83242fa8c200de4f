/*
 * The optimal ate pairing on BLS12-381: a Miller loop over the bits of
 * |x| = 0xd201000000010000 with the G2 point in homogeneous projective
 * coordinates (line functions of Costello, Lange and Naehrig, eprint
 * 2009/615, for the M-type twist), then the final exponentiation
 * f^((p^12 - 1) / r) split into its easy part (p^6 - 1)(p^2 + 1) and a hard
 * part computed from powers of x (Hayashida, Hayasaka and Teruya, eprint
 * 2020/875), which gives the cube of the reduced pairing, as zkcrypto,
 * @noble/curves and blst compute it.
 *
 * Constant time in the points' coordinates: the loop follows the fixed bits
 * of x, and the field arithmetic does not branch. The one branch on an input
 * is whether a point is the identity (its pair contributes 1 and is skipped).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "error.h"

#include "internal.h"

struct line {
	struct bls_fp2 c0, c1, c4;
};

static void fp2_halve(struct bls_fp2 *r, const struct bls_fp2 *a)
{
	bls_fp_halve(&r->c0, &a->c0);
	bls_fp_halve(&r->c1, &a->c1);
}

/*
 * T = 2T, and the tangent line at T (before evaluation at P). The twist's
 * constant b' = 4 (u + 1) enters as additions: 3 b' Z^2 = 12 (u + 1) Z^2.
 */
static void doubling_step(struct line *l, struct bls_g2 *t)
{
	struct bls_fp2 a, b, c, e, f, g, h, i, j, e_sq, s;
	bls_fp2_mul(&a, &t->x, &t->y);
	fp2_halve(&a, &a);
	bls_fp2_sqr(&b, &t->y);
	bls_fp2_sqr(&c, &t->z);
	bls_fp2_mul_by_nonresidue(&s, &c);
	bls_fp2_double(&s, &s);
	bls_fp2_double(&s, &s);
	bls_fp2_double(&e, &s);
	bls_fp2_add(&e, &e, &s);
	bls_fp2_double(&f, &e);
	bls_fp2_add(&f, &f, &e);
	bls_fp2_add(&g, &b, &f);
	fp2_halve(&g, &g);
	bls_fp2_add(&h, &t->y, &t->z);
	bls_fp2_sqr(&h, &h);
	bls_fp2_add(&s, &b, &c);
	bls_fp2_sub(&h, &h, &s);
	bls_fp2_sub(&i, &e, &b);
	bls_fp2_sqr(&j, &t->x);
	bls_fp2_sqr(&e_sq, &e);

	bls_fp2_sub(&s, &b, &f);
	bls_fp2_mul(&t->x, &a, &s);
	bls_fp2_sqr(&s, &g);
	bls_fp2_double(&t->y, &e_sq);
	bls_fp2_add(&t->y, &t->y, &e_sq);
	bls_fp2_sub(&t->y, &s, &t->y);
	bls_fp2_mul(&t->z, &b, &h);

	l->c0 = i;
	bls_fp2_double(&l->c1, &j);
	bls_fp2_add(&l->c1, &l->c1, &j);
	bls_fp2_neg(&l->c4, &h);
}

/* T = T + Q for an affine Q, and the line through T and Q. */
static void addition_step(struct line *l, struct bls_g2 *t, const struct bls_fp2 *qx, const struct bls_fp2 *qy)
{
	struct bls_fp2 theta, lambda, c, d, e, f, g, h, j, s;
	bls_fp2_mul(&s, qy, &t->z);
	bls_fp2_sub(&theta, &t->y, &s);
	bls_fp2_mul(&s, qx, &t->z);
	bls_fp2_sub(&lambda, &t->x, &s);
	bls_fp2_sqr(&c, &theta);
	bls_fp2_sqr(&d, &lambda);
	bls_fp2_mul(&e, &lambda, &d);
	bls_fp2_mul(&f, &t->z, &c);
	bls_fp2_mul(&g, &t->x, &d);
	bls_fp2_add(&h, &e, &f);
	bls_fp2_sub(&h, &h, &g);
	bls_fp2_sub(&h, &h, &g);

	bls_fp2_mul(&t->x, &lambda, &h);
	bls_fp2_sub(&s, &g, &h);
	bls_fp2_mul(&s, &theta, &s);
	bls_fp2_mul(&t->y, &e, &t->y);
	bls_fp2_sub(&t->y, &s, &t->y);
	bls_fp2_mul(&t->z, &t->z, &e);

	bls_fp2_mul(&j, &theta, qx);
	bls_fp2_mul(&s, &lambda, qy);
	bls_fp2_sub(&l->c0, &j, &s);
	bls_fp2_neg(&l->c1, &theta);
	l->c4 = lambda;
}

/* f = f l(P). */
static void evaluate_line(struct bls_fp12 *f, const struct line *l, const struct bls_fp *px, const struct bls_fp *py)
{
	struct bls_fp2 c1, c4;
	bls_fp2_mul_fp(&c1, &l->c1, px);
	bls_fp2_mul_fp(&c4, &l->c4, py);
	bls_fp12_mul_by_014(f, f, &l->c0, &c1, &c4);
}

struct miller_pair {
	struct bls_fp px, py;
	struct bls_fp2 qx, qy;
	struct bls_g2 t;
};

static void miller_loop(struct bls_fp12 *f, struct miller_pair *pairs, size_t n)
{
	struct line l;
	bls_fp12_one(f);
	for (size_t k = 0; k < n; k++) {
		pairs[k].t.x = pairs[k].qx;
		pairs[k].t.y = pairs[k].qy;
		bls_fp2_one(&pairs[k].t.z);
	}
	/* From below the top bit of |x| down to bit 0. */
	for (int i = 62; i >= 0; i--) {
		bls_fp12_sqr(f, f);
		for (size_t k = 0; k < n; k++) {
			doubling_step(&l, &pairs[k].t);
			evaluate_line(f, &l, &pairs[k].px, &pairs[k].py);
		}
		if ((BLS_X_ABS >> i) & 1) {
			for (size_t k = 0; k < n; k++) {
				addition_step(&l, &pairs[k].t, &pairs[k].qx, &pairs[k].qy);
				evaluate_line(f, &l, &pairs[k].px, &pairs[k].py);
			}
		}
	}
	/* x is negative: f_{x} = 1 / f_{|x|}, and conjugation inverts after the final exponentiation. */
	bls_fp12_conjugate(f, f);
}

/* a^x for the (negative) curve parameter x, a in the cyclotomic subgroup. */
static void cyclotomic_exp_by_x(struct bls_fp12 *r, const struct bls_fp12 *a)
{
	struct bls_fp12 acc = *a;
	for (int i = 62; i >= 0; i--) {
		bls_fp12_cyclotomic_sqr(&acc, &acc);
		if ((BLS_X_ABS >> i) & 1)
			bls_fp12_mul(&acc, &acc, a);
	}
	bls_fp12_conjugate(r, &acc);
}

static void frobenius_n(struct bls_fp12 *r, const struct bls_fp12 *a, int n)
{
	*r = *a;
	for (int i = 0; i < n; i++)
		bls_fp12_frobenius(r, r);
}

static void final_exponentiation(struct bls_fp12 *r, const struct bls_fp12 *f)
{
	struct bls_fp12 t0, t1, t2, t3, t4, t5, t6, t7, s, u;
	/* Easy part: f^(p^6 - 1), then ^(p^2 + 1). */
	bls_fp12_inv(&t1, f);
	bls_fp12_conjugate(&t0, f);
	bls_fp12_mul(&t0, &t0, &t1);
	frobenius_n(&t1, &t0, 2);
	bls_fp12_mul(&t1, &t1, &t0);

	/* Hard part: 3 (p^4 - p^2 + 1) / r as a polynomial in x and p. */
	cyclotomic_exp_by_x(&t2, &t1);
	bls_fp12_cyclotomic_sqr(&s, &t1);
	bls_fp12_conjugate(&s, &s);
	bls_fp12_mul(&t3, &s, &t2);
	cyclotomic_exp_by_x(&t4, &t3);
	cyclotomic_exp_by_x(&t5, &t4);
	cyclotomic_exp_by_x(&t6, &t5);
	bls_fp12_cyclotomic_sqr(&s, &t2);
	bls_fp12_mul(&t6, &t6, &s);
	cyclotomic_exp_by_x(&t7, &t6);

	bls_fp12_mul(&s, &t2, &t5);
	frobenius_n(r, &s, 2);
	bls_fp12_mul(&s, &t4, &t1);
	frobenius_n(&s, &s, 3);
	bls_fp12_mul(r, r, &s);
	bls_fp12_conjugate(&u, &t1);
	bls_fp12_mul(&s, &t6, &u);
	frobenius_n(&s, &s, 1);
	bls_fp12_mul(r, r, &s);
	bls_fp12_conjugate(&u, &t3);
	bls_fp12_mul(&s, &t7, &u);
	bls_fp12_mul(&s, &s, &t1);
	bls_fp12_mul(r, r, &s);
}

void bls_multi_pairing(struct bls_gt *r, const struct bls_g1 *p, const struct bls_g2 *q, size_t n)
{
	struct miller_pair stack[4], *pairs = stack;
	size_t used = 0;
	struct bls_fp12 f;
	if (n > sizeof stack / sizeof stack[0])
		pairs = xcalloc(n, sizeof *pairs);
	for (size_t k = 0; k < n; k++) {
		if (bls_g1_is_identity(&p[k]) || bls_g2_is_identity(&q[k]))
			continue;
		bls_g1_to_affine(&pairs[used].px, &pairs[used].py, &p[k]);
		bls_g2_to_affine(&pairs[used].qx, &pairs[used].qy, &q[k]);
		used++;
	}
	miller_loop(&f, pairs, used);
	final_exponentiation(&r->v, &f);
	if (pairs != stack)
		free(pairs);
}

void bls_pairing(struct bls_gt *r, const struct bls_g1 *p, const struct bls_g2 *q)
{
	bls_multi_pairing(r, p, q, 1);
}

void bls_gt_one(struct bls_gt *r)
{
	bls_fp12_one(&r->v);
}

void bls_gt_mul(struct bls_gt *r, const struct bls_gt *a, const struct bls_gt *b)
{
	bls_fp12_mul(&r->v, &a->v, &b->v);
}

/*
 * Constant time in k and a: a square and a multiplication for each of the
 * 256 bits, the product kept or dropped by a masked move.
 */
void bls_gt_pow(struct bls_gt *r, const struct bls_gt *a, const struct bls_scalar *k)
{
	struct bls_fp12 acc, t;
	bls_fp12_one(&acc);
	for (int i = 255; i >= 0; i--) {
		bls_fp12_cyclotomic_sqr(&acc, &acc);
		bls_fp12_mul(&t, &acc, &a->v);
		bool bit = bls_scalar_bit(k, (unsigned)i);
		const struct bls_fp2 *src[6] = {&t.c0.c0, &t.c0.c1, &t.c0.c2, &t.c1.c0, &t.c1.c1, &t.c1.c2};
		struct bls_fp2 *dst[6] = {&acc.c0.c0, &acc.c0.c1, &acc.c0.c2, &acc.c1.c0, &acc.c1.c1, &acc.c1.c2};
		for (int j = 0; j < 6; j++)
			bls_fp2_cmov(dst[j], src[j], bit);
	}
	r->v = acc;
	OPENSSL_cleanse(&acc, sizeof acc);
	OPENSSL_cleanse(&t, sizeof t);
}

/*
 * GT lies in the cyclotomic subgroup, where a^(p^6 + 1) = 1: the inverse is
 * the conjugate a^(p^6). Constant time.
 */
void bls_gt_inverse(struct bls_gt *r, const struct bls_gt *a)
{
	bls_fp12_conjugate(&r->v, &a->v);
}

bool bls_gt_equal(const struct bls_gt *a, const struct bls_gt *b)
{
	return bls_fp12_equal(&a->v, &b->v);
}

bool bls_gt_is_one(const struct bls_gt *a)
{
	return bls_fp12_is_one(&a->v);
}
