/*
 * G2: the points of order r on the twist E'(Fp2): y^2 = x^3 + 4 (u + 1), in
 * homogeneous projective coordinates, with the same complete formulas as G1
 * (Renes, Costello and Batina, eprint 2015/1060, algorithms 7 and 9): E'(Fp2)
 * has odd order too, so they hold for every pair of points and are constant
 * time.
 */
#include <openssl/crypto.h>

#include "internal.h"

/* 3b = 12 (u + 1) and b = 4 (u + 1), Montgomery form. */
static const struct bls_fp2 b3 = {
	{{0x447600000027552e, 0xdcb8009a43480020, 0x6f7ee9ce4a6e8b59,
	  0xb10330b7c0a95bc6, 0x6140b1fcfb1e54b7, 0x0381be097f0bb4e1}},
	{{0x447600000027552e, 0xdcb8009a43480020, 0x6f7ee9ce4a6e8b59,
	  0xb10330b7c0a95bc6, 0x6140b1fcfb1e54b7, 0x0381be097f0bb4e1}},
};
static const struct bls_fp2 curve_b = {
	{{0xaa270000000cfff3, 0x53cc0032fc34000a, 0x478fe97a6b0a807f,
	  0xb1d37ebee6ba24d7, 0x8ec9733bbf78ab2f, 0x09d645513d83de7e}},
	{{0xaa270000000cfff3, 0x53cc0032fc34000a, 0x478fe97a6b0a807f,
	  0xb1d37ebee6ba24d7, 0x8ec9733bbf78ab2f, 0x09d645513d83de7e}},
};

static const struct bls_g2 generator = {
	{{{0xf5f28fa202940a10, 0xb3f5fb2687b4961a, 0xa1a893b53e2ae580,
	   0x9894999d1a3caee9, 0x6f67b7631863366b, 0x058191924350bcd7}},
	 {{0xa5a9c0759e23f606, 0xaaa0c59dbccd60c3, 0x3bb17e18e2867806,
	   0x1b1ab6cc8541b367, 0xc2b6ed0ef2158547, 0x11922a097360edf3}}},
	{{{0x4c730af860494c4a, 0x597cfa1f5e369c5a, 0xe7e6856caa0a635a,
	   0xbbefb5e96e0d495f, 0x07d3a975f0ef25a2, 0x0083fd8e7e80dae5}},
	 {{0xadc0fc92df64b05d, 0x18aa270a2b1461dc, 0x86adac6a3be4eba0,
	   0x79495c4ec93da33a, 0xe7175850a43ccaed, 0x0b2bc2a163de1bf2}}},
	{{{0x760900000002fffd, 0xebf4000bc40c0002, 0x5f48985753c758ba,
	   0x77ce585370525745, 0x5c071a97a256ec6d, 0x15f65ec3fa80e493}},
	 {{0, 0, 0, 0, 0, 0}}},
};

void bls_g2_identity(struct bls_g2 *p)
{
	bls_fp2_zero(&p->x);
	bls_fp2_one(&p->y);
	bls_fp2_zero(&p->z);
}

void bls_g2_generator(struct bls_g2 *p)
{
	*p = generator;
}

/* Constant time: one formula for all inputs. */
void bls_g2_add(struct bls_g2 *r, const struct bls_g2 *a, const struct bls_g2 *b)
{
	struct bls_fp2 t0, t1, t2, t3, t4, x3, y3, z3;
	bls_fp2_mul(&t0, &a->x, &b->x);
	bls_fp2_mul(&t1, &a->y, &b->y);
	bls_fp2_mul(&t2, &a->z, &b->z);
	bls_fp2_add(&t3, &a->x, &a->y);
	bls_fp2_add(&t4, &b->x, &b->y);
	bls_fp2_mul(&t3, &t3, &t4);
	bls_fp2_add(&t4, &t0, &t1);
	bls_fp2_sub(&t3, &t3, &t4);
	bls_fp2_add(&t4, &a->y, &a->z);
	bls_fp2_add(&x3, &b->y, &b->z);
	bls_fp2_mul(&t4, &t4, &x3);
	bls_fp2_add(&x3, &t1, &t2);
	bls_fp2_sub(&t4, &t4, &x3);
	bls_fp2_add(&x3, &a->x, &a->z);
	bls_fp2_add(&y3, &b->x, &b->z);
	bls_fp2_mul(&x3, &x3, &y3);
	bls_fp2_add(&y3, &t0, &t2);
	bls_fp2_sub(&y3, &x3, &y3);
	bls_fp2_add(&x3, &t0, &t0);
	bls_fp2_add(&t0, &x3, &t0);
	bls_fp2_mul(&t2, &t2, &b3);
	bls_fp2_add(&z3, &t1, &t2);
	bls_fp2_sub(&t1, &t1, &t2);
	bls_fp2_mul(&y3, &y3, &b3);
	bls_fp2_mul(&x3, &t4, &y3);
	bls_fp2_mul(&t2, &t3, &t1);
	bls_fp2_sub(&x3, &t2, &x3);
	bls_fp2_mul(&y3, &y3, &t0);
	bls_fp2_mul(&t1, &t1, &z3);
	bls_fp2_add(&y3, &t1, &y3);
	bls_fp2_mul(&t0, &t0, &t3);
	bls_fp2_mul(&z3, &z3, &t4);
	bls_fp2_add(&z3, &z3, &t0);
	r->x = x3;
	r->y = y3;
	r->z = z3;
}

/* Constant time: one formula for all inputs. */
void bls_g2_double(struct bls_g2 *r, const struct bls_g2 *a)
{
	struct bls_fp2 t0, t1, t2, x3, y3, z3;
	bls_fp2_sqr(&t0, &a->y);
	bls_fp2_add(&z3, &t0, &t0);
	bls_fp2_add(&z3, &z3, &z3);
	bls_fp2_add(&z3, &z3, &z3);
	bls_fp2_mul(&t1, &a->y, &a->z);
	bls_fp2_sqr(&t2, &a->z);
	bls_fp2_mul(&t2, &t2, &b3);
	bls_fp2_mul(&x3, &t2, &z3);
	bls_fp2_add(&y3, &t0, &t2);
	bls_fp2_mul(&z3, &t1, &z3);
	bls_fp2_add(&t1, &t2, &t2);
	bls_fp2_add(&t2, &t1, &t2);
	bls_fp2_sub(&t0, &t0, &t2);
	bls_fp2_mul(&y3, &t0, &y3);
	bls_fp2_add(&y3, &x3, &y3);
	bls_fp2_mul(&t1, &a->x, &a->y);
	bls_fp2_mul(&x3, &t0, &t1);
	bls_fp2_add(&x3, &x3, &x3);
	r->x = x3;
	r->y = y3;
	r->z = z3;
}

void bls_g2_neg(struct bls_g2 *r, const struct bls_g2 *a)
{
	r->x = a->x;
	bls_fp2_neg(&r->y, &a->y);
	r->z = a->z;
}

/*
 * Constant time in k and p: a fixed 4-bit window over all 256 bits of k,
 * each table entry read through a mask scan of the whole table, and the
 * complete addition formula (adding the identity for a zero window costs the
 * same as any other addition).
 */
void bls_g2_mul(struct bls_g2 *r, const struct bls_g2 *p, const struct bls_scalar *k)
{
	struct bls_g2 table[16], acc, pick;
	bls_g2_identity(&table[0]);
	table[1] = *p;
	for (int i = 2; i < 16; i++)
		bls_g2_add(&table[i], &table[i - 1], p);
	bls_g2_identity(&acc);
	for (int w = 63; w >= 0; w--) {
		for (int i = 0; i < 4; i++)
			bls_g2_double(&acc, &acc);
		unsigned digit = (unsigned)(k->limb[w / 16] >> ((w % 16) * 4)) & 15;
		bls_g2_identity(&pick);
		for (unsigned i = 1; i < 16; i++) {
			bool hit = i == digit;
			bls_fp2_cmov(&pick.x, &table[i].x, hit);
			bls_fp2_cmov(&pick.y, &table[i].y, hit);
			bls_fp2_cmov(&pick.z, &table[i].z, hit);
		}
		bls_g2_add(&acc, &acc, &pick);
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
void bls_g2_table_init(struct bls_g2_table *t, const struct bls_g2 *p)
{
	struct bls_g2 base = *p;
	for (int i = 0; i < BLS_TABLE_WINDOWS; i++) {
		bls_g2_identity(&t->entry[i][0]);
		t->entry[i][1] = base;
		for (int j = 2; j < 16; j++)
			bls_g2_add(&t->entry[i][j], &t->entry[i][j - 1], &base);
		for (int d = 0; d < 4; d++)
			bls_g2_double(&base, &base);
	}
}

/*
 * Constant time in k: every digit's entry is found by a masked scan of its
 * whole row, and adding the identity for a zero digit costs what any other
 * addition costs.
 */
void bls_g2_mul_table(struct bls_g2 *r, const struct bls_g2_table *t, const struct bls_scalar *k)
{
	struct bls_g2 acc, pick;
	bls_g2_identity(&acc);
	for (int w = 0; w < BLS_TABLE_WINDOWS; w++) {
		unsigned digit = (unsigned)(k->limb[w / 16] >> ((w % 16) * 4)) & 15;
		pick = t->entry[w][0];
		for (unsigned i = 1; i < 16; i++) {
			bool hit = i == digit;
			bls_fp2_cmov(&pick.x, &t->entry[w][i].x, hit);
			bls_fp2_cmov(&pick.y, &t->entry[w][i].y, hit);
			bls_fp2_cmov(&pick.z, &t->entry[w][i].z, hit);
		}
		bls_g2_add(&acc, &acc, &pick);
	}
	*r = acc;
	OPENSSL_cleanse(&acc, sizeof acc);
	OPENSSL_cleanse(&pick, sizeof pick);
}

/* Variable time: double and add over the public k, most significant bit first. */
void bls_g2_mul_vartime(struct bls_g2 *r, const struct bls_g2 *p, const uint64_t *k, size_t limbs)
{
	struct bls_g2 acc;
	bls_g2_identity(&acc);
	for (size_t i = limbs * 64; i-- > 0;) {
		bls_g2_double(&acc, &acc);
		if ((k[i / 64] >> (i % 64)) & 1)
			bls_g2_add(&acc, &acc, p);
	}
	*r = acc;
}

bool bls_g2_is_identity(const struct bls_g2 *p)
{
	return bls_fp2_is_zero(&p->z);
}

/* X1 Z2 = X2 Z1 and Y1 Z2 = Y2 Z1. Constant time. */
bool bls_g2_equal(const struct bls_g2 *a, const struct bls_g2 *b)
{
	struct bls_fp2 l, r;
	bool same;
	bls_fp2_mul(&l, &a->x, &b->z);
	bls_fp2_mul(&r, &b->x, &a->z);
	same = bls_fp2_equal(&l, &r);
	bls_fp2_mul(&l, &a->y, &b->z);
	bls_fp2_mul(&r, &b->y, &a->z);
	return same & bls_fp2_equal(&l, &r);
}

/* Y^2 Z = X^3 + 4 (u + 1) Z^3, and not (0:0:0). Constant time. */
bool bls_g2_is_on_curve(const struct bls_g2 *p)
{
	struct bls_fp2 l, r, t;
	bls_fp2_sqr(&l, &p->y);
	bls_fp2_mul(&l, &l, &p->z);
	bls_fp2_sqr(&r, &p->x);
	bls_fp2_mul(&r, &r, &p->x);
	bls_fp2_sqr(&t, &p->z);
	bls_fp2_mul(&t, &t, &p->z);
	bls_fp2_mul(&t, &t, &curve_b);
	bls_fp2_add(&r, &r, &t);
	return bls_fp2_equal(&l, &r) & !(bls_fp2_is_zero(&p->z) & bls_fp2_is_zero(&p->y));
}

/* [r]p is the identity: the definition, kept for the tests to hold the fast check against. */
bool bls_g2_has_order_r(const struct bls_g2 *p)
{
	struct bls_g2 t;
	bls_g2_mul_vartime(&t, p, bls_group_order.limb, 4);
	return bls_g2_is_identity(&t);
}

/*
 * The untwist-Frobenius-twist endomorphism psi, as RFC 9380 defines it for
 * clearing G2's cofactor:
 * psi(x, y) = (c1 conj(x), c2 conj(y)), c1 = 1 / (u + 1)^((p - 1) / 3),
 * c2 = 1 / (u + 1)^((p - 1) / 2), Montgomery form.
 */
static const struct bls_fp2 psi_c1 = {
	{{0, 0, 0, 0, 0, 0}},
	{{0x890dc9e4867545c3, 0x2af322533285a5d5, 0x50880866309b7e2c,
	  0xa20d1b8c7e881024, 0x14e4f04fe2db9068, 0x14e56d3f1564853a}},
};
static const struct bls_fp2 psi_c2 = {
	{{0x3e2f585da55c9ad1, 0x4294213d86c18183, 0x382844c88b623732,
	  0x92ad2afd19103e18, 0x1d794e4fac7cf0b9, 0x0bd592fc7d825ec8}},
	{{0x7bcfa7a25aa30fda, 0xdc17dec12a927e7c, 0x2f088dd86b4ebef1,
	  0xd1ca2087da74d4a7, 0x2da2596696cebc1d, 0x0e2b7eedbbfd87d2}},
};

/*
 * For a point on the twist: psi(p) = [x]p exactly when p is in G2 (Scott,
 * "A note on group membership tests for G1, G2 and GT on BLS
 * pairing-friendly curves", eprint 2021/1130): one 64-bit multiplication
 * instead of one by the 255-bit r. Variable time only in the public |x|.
 */
bool bls_g2_in_subgroup(const struct bls_g2 *p)
{
	static const uint64_t x_abs[1] = {BLS_X_ABS};
	struct bls_g2 psi, t;
	bls_fp2_conjugate(&psi.x, &p->x);
	bls_fp2_mul(&psi.x, &psi.x, &psi_c1);
	bls_fp2_conjugate(&psi.y, &p->y);
	bls_fp2_mul(&psi.y, &psi.y, &psi_c2);
	bls_fp2_conjugate(&psi.z, &p->z);
	bls_g2_mul_vartime(&t, p, x_abs, 1);
	bls_g2_neg(&t, &t); /* x is negative */
	return bls_g2_equal(&psi, &t);
}

/* Constant time: Fermat inversion of Z; the identity gives (0, 0). */
void bls_g2_to_affine(struct bls_fp2 *x, struct bls_fp2 *y, const struct bls_g2 *p)
{
	struct bls_fp2 zinv;
	bls_fp2_inv(&zinv, &p->z);
	bls_fp2_mul(x, &p->x, &zinv);
	bls_fp2_mul(y, &p->y, &zinv);
}
