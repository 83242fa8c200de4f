/*
 * G1: the points of order r on E(Fp): y^2 = x^3 + 4, in homogeneous
 * projective coordinates. Addition and doubling are the complete formulas of
 * Renes, Costello and Batina (eprint 2015/1060, algorithms 7 and 9 for a = 0):
 * one formula for every pair of points, the identity included, because the
 * full curve has odd order. That makes them constant time: no special case
 * is ever taken.
 */
#include <openssl/crypto.h>

#include "internal.h"

/* 3b = 12, Montgomery form. */
static const struct bls_fp b3 = {{
	0x447600000027552e, 0xdcb8009a43480020, 0x6f7ee9ce4a6e8b59,
	0xb10330b7c0a95bc6, 0x6140b1fcfb1e54b7, 0x0381be097f0bb4e1,
}};

static const struct bls_g1 generator = {
	{{0x5cb38790fd530c16, 0x7817fc679976fff5, 0x154f95c7143ba1c1,
	  0xf0ae6acdf3d0e747, 0xedce6ecc21dbf440, 0x120177419e0bfb75}},
	{{0xbaac93d50ce72271, 0x8c22631a7918fd8e, 0xdd595f13570725ce,
	  0x51ac582950405194, 0x0e1c8c3fad0059c0, 0x0bbc3efc5008a26a}},
	{{0x760900000002fffd, 0xebf4000bc40c0002, 0x5f48985753c758ba,
	  0x77ce585370525745, 0x5c071a97a256ec6d, 0x15f65ec3fa80e493}},
};

void bls_g1_identity(struct bls_g1 *p)
{
	bls_fp_zero(&p->x);
	bls_fp_one(&p->y);
	bls_fp_zero(&p->z);
}

void bls_g1_generator(struct bls_g1 *p)
{
	*p = generator;
}

/* Constant time: one formula for all inputs. */
void bls_g1_add(struct bls_g1 *r, const struct bls_g1 *a, const struct bls_g1 *b)
{
	struct bls_fp t0, t1, t2, t3, t4, x3, y3, z3;
	bls_fp_mul(&t0, &a->x, &b->x);
	bls_fp_mul(&t1, &a->y, &b->y);
	bls_fp_mul(&t2, &a->z, &b->z);
	bls_fp_add(&t3, &a->x, &a->y);
	bls_fp_add(&t4, &b->x, &b->y);
	bls_fp_mul(&t3, &t3, &t4);
	bls_fp_add(&t4, &t0, &t1);
	bls_fp_sub(&t3, &t3, &t4);
	bls_fp_add(&t4, &a->y, &a->z);
	bls_fp_add(&x3, &b->y, &b->z);
	bls_fp_mul(&t4, &t4, &x3);
	bls_fp_add(&x3, &t1, &t2);
	bls_fp_sub(&t4, &t4, &x3);
	bls_fp_add(&x3, &a->x, &a->z);
	bls_fp_add(&y3, &b->x, &b->z);
	bls_fp_mul(&x3, &x3, &y3);
	bls_fp_add(&y3, &t0, &t2);
	bls_fp_sub(&y3, &x3, &y3);
	bls_fp_add(&x3, &t0, &t0);
	bls_fp_add(&t0, &x3, &t0);
	bls_fp_mul(&t2, &t2, &b3);
	bls_fp_add(&z3, &t1, &t2);
	bls_fp_sub(&t1, &t1, &t2);
	bls_fp_mul(&y3, &y3, &b3);
	bls_fp_mul(&x3, &t4, &y3);
	bls_fp_mul(&t2, &t3, &t1);
	bls_fp_sub(&x3, &t2, &x3);
	bls_fp_mul(&y3, &y3, &t0);
	bls_fp_mul(&t1, &t1, &z3);
	bls_fp_add(&y3, &t1, &y3);
	bls_fp_mul(&t0, &t0, &t3);
	bls_fp_mul(&z3, &z3, &t4);
	bls_fp_add(&z3, &z3, &t0);
	r->x = x3;
	r->y = y3;
	r->z = z3;
}

/* Constant time: one formula for all inputs. */
void bls_g1_double(struct bls_g1 *r, const struct bls_g1 *a)
{
	struct bls_fp t0, t1, t2, x3, y3, z3;
	bls_fp_sqr(&t0, &a->y);
	bls_fp_add(&z3, &t0, &t0);
	bls_fp_add(&z3, &z3, &z3);
	bls_fp_add(&z3, &z3, &z3);
	bls_fp_mul(&t1, &a->y, &a->z);
	bls_fp_sqr(&t2, &a->z);
	bls_fp_mul(&t2, &t2, &b3);
	bls_fp_mul(&x3, &t2, &z3);
	bls_fp_add(&y3, &t0, &t2);
	bls_fp_mul(&z3, &t1, &z3);
	bls_fp_add(&t1, &t2, &t2);
	bls_fp_add(&t2, &t1, &t2);
	bls_fp_sub(&t0, &t0, &t2);
	bls_fp_mul(&y3, &t0, &y3);
	bls_fp_add(&y3, &x3, &y3);
	bls_fp_mul(&t1, &a->x, &a->y);
	bls_fp_mul(&x3, &t0, &t1);
	bls_fp_add(&x3, &x3, &x3);
	r->x = x3;
	r->y = y3;
	r->z = z3;
}

void bls_g1_neg(struct bls_g1 *r, const struct bls_g1 *a)
{
	r->x = a->x;
	bls_fp_neg(&r->y, &a->y);
	r->z = a->z;
}

/*
 * Constant time in k and p: a fixed 4-bit window over all 256 bits of k,
 * each table entry read through a mask scan of the whole table, and the
 * complete addition formula (adding the identity for a zero window costs the
 * same as any other addition).
 */
void bls_g1_mul(struct bls_g1 *r, const struct bls_g1 *p, const struct bls_scalar *k)
{
	struct bls_g1 table[16], acc, pick;
	bls_g1_identity(&table[0]);
	table[1] = *p;
	for (int i = 2; i < 16; i++)
		bls_g1_add(&table[i], &table[i - 1], p);
	bls_g1_identity(&acc);
	for (int w = 63; w >= 0; w--) {
		for (int i = 0; i < 4; i++)
			bls_g1_double(&acc, &acc);
		unsigned digit = (unsigned)(k->limb[w / 16] >> ((w % 16) * 4)) & 15;
		bls_g1_identity(&pick);
		for (unsigned i = 1; i < 16; i++) {
			bool hit = i == digit;
			bls_fp_cmov(&pick.x, &table[i].x, hit);
			bls_fp_cmov(&pick.y, &table[i].y, hit);
			bls_fp_cmov(&pick.z, &table[i].z, hit);
		}
		bls_g1_add(&acc, &acc, &pick);
	}
	*r = acc;
	/* The table and the accumulators follow the secret scalar. */
	OPENSSL_cleanse(table, sizeof table);
	OPENSSL_cleanse(&acc, sizeof acc);
	OPENSSL_cleanse(&pick, sizeof pick);
}

/*
 * Fixed-base tables: entry[i][j] = [j 16^i]p, so that [k]p is one
 * addition per 4-bit digit of k and no doubling. Filling a table costs
 * about as much as a few multiplications; it pays for a point multiplied
 * many times (the generators, a public key's elements). Constant time.
 */
void bls_g1_table_init(struct bls_g1_table *t, const struct bls_g1 *p)
{
	struct bls_g1 base = *p;
	for (int i = 0; i < BLS_TABLE_WINDOWS; i++) {
		bls_g1_identity(&t->entry[i][0]);
		t->entry[i][1] = base;
		for (int j = 2; j < 16; j++)
			bls_g1_add(&t->entry[i][j], &t->entry[i][j - 1], &base);
		for (int d = 0; d < 4; d++)
			bls_g1_double(&base, &base);
	}
}

/*
 * Constant time in k: every digit's entry is found by a masked scan of its
 * whole row, and adding the identity for a zero digit costs what any other
 * addition costs.
 */
void bls_g1_mul_table(struct bls_g1 *r, const struct bls_g1_table *t, const struct bls_scalar *k)
{
	struct bls_g1 acc, pick;
	bls_g1_identity(&acc);
	for (int w = 0; w < BLS_TABLE_WINDOWS; w++) {
		unsigned digit = (unsigned)(k->limb[w / 16] >> ((w % 16) * 4)) & 15;
		pick = t->entry[w][0];
		for (unsigned i = 1; i < 16; i++) {
			bool hit = i == digit;
			bls_fp_cmov(&pick.x, &t->entry[w][i].x, hit);
			bls_fp_cmov(&pick.y, &t->entry[w][i].y, hit);
			bls_fp_cmov(&pick.z, &t->entry[w][i].z, hit);
		}
		bls_g1_add(&acc, &acc, &pick);
	}
	*r = acc;
	OPENSSL_cleanse(&acc, sizeof acc);
	OPENSSL_cleanse(&pick, sizeof pick);
}

/* Variable time: double and add over the public k, most significant bit first. */
void bls_g1_mul_vartime(struct bls_g1 *r, const struct bls_g1 *p, const uint64_t *k, size_t limbs)
{
	struct bls_g1 acc;
	bls_g1_identity(&acc);
	for (size_t i = limbs * 64; i-- > 0;) {
		bls_g1_double(&acc, &acc);
		if ((k[i / 64] >> (i % 64)) & 1)
			bls_g1_add(&acc, &acc, p);
	}
	*r = acc;
}

bool bls_g1_is_identity(const struct bls_g1 *p)
{
	return bls_fp_is_zero(&p->z);
}

/* X1 Z2 = X2 Z1 and Y1 Z2 = Y2 Z1. Constant time. */
bool bls_g1_equal(const struct bls_g1 *a, const struct bls_g1 *b)
{
	struct bls_fp l, r;
	bool same;
	bls_fp_mul(&l, &a->x, &b->z);
	bls_fp_mul(&r, &b->x, &a->z);
	same = bls_fp_equal(&l, &r);
	bls_fp_mul(&l, &a->y, &b->z);
	bls_fp_mul(&r, &b->y, &a->z);
	return same & bls_fp_equal(&l, &r);
}

/* Y^2 Z = X^3 + 4 Z^3, and not (0:0:0). Constant time. */
bool bls_g1_is_on_curve(const struct bls_g1 *p)
{
	struct bls_fp l, r, t;
	bls_fp_sqr(&l, &p->y);
	bls_fp_mul(&l, &l, &p->z);
	bls_fp_sqr(&r, &p->x);
	bls_fp_mul(&r, &r, &p->x);
	bls_fp_sqr(&t, &p->z);
	bls_fp_mul(&t, &t, &p->z);
	bls_fp_mul(&t, &t, &bls_fp_four_mont);
	bls_fp_add(&r, &r, &t);
	return bls_fp_equal(&l, &r) & !(bls_fp_is_zero(&p->z) & bls_fp_is_zero(&p->y));
}

/* [r]p is the identity: the definition, kept for the tests to hold the fast check against. */
bool bls_g1_has_order_r(const struct bls_g1 *p)
{
	struct bls_g1 t;
	bls_g1_mul_vartime(&t, p, bls_group_order.limb, 4);
	return bls_g1_is_identity(&t);
}

/*
 * beta, a cube root of unity in Fp (Montgomery form), chosen so that the
 * endomorphism phi(x, y) = (beta x, y) acts on G1 as multiplication by -x^2.
 */
static const struct bls_fp beta = {{
	0x30f1361b798a64e8, 0xf3b8ddab7ece5a2a, 0x16a8ca3ac61577f7,
	0xc26a2ff874fd029b, 0x3636b76660701c6e, 0x051ba4ab241b6160,
}};

/*
 * For a point on the curve: phi(p) = -[x^2]p exactly when p is in G1 (Bowe,
 * "Faster subgroup checks for BLS12-381", eprint 2019/814), two 64-bit
 * multiplications instead of one by the 255-bit r. Variable time in nothing
 * but the public |x|: the points read are public anyway.
 */
bool bls_g1_in_subgroup(const struct bls_g1 *p)
{
	static const uint64_t x_abs[1] = {BLS_X_ABS};
	struct bls_g1 phi, t;
	phi = *p;
	bls_fp_mul(&phi.x, &p->x, &beta);
	bls_g1_mul_vartime(&t, p, x_abs, 1);
	bls_g1_mul_vartime(&t, &t, x_abs, 1);
	bls_g1_neg(&t, &t);
	return bls_g1_equal(&phi, &t);
}

/* Constant time: Fermat inversion of Z; the identity gives (0, 0). */
void bls_g1_to_affine(struct bls_fp *x, struct bls_fp *y, const struct bls_g1 *p)
{
	struct bls_fp zinv;
	bls_fp_inv(&zinv, &p->z);
	bls_fp_mul(x, &p->x, &zinv);
	bls_fp_mul(y, &p->y, &zinv);
}
