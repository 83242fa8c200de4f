/*
 * Test driver for common/bls12_381/.
 *
 *   driver check          known answers and algebraic properties, checked here;
 *                         one "ok NAME" line each, "FAIL NAME" and exit 1 on the first failure
 *   driver cases N        N random cases of each kind, one per line, with our
 *                         results, for tests/bls/oracle.js to recompute with @noble/curves
 *   driver bench N        median CPU milliseconds of N runs of each operation
 *   driver ct             under valgrind: the operations that must be constant
 *                         time, with their secret inputs marked undefined, so
 *                         that memcheck reports any branch or memory index that
 *                         depends on them (the "ctgrind" technique)
 *   driver ct-control     the same marking around a variable-time multiplication,
 *                         which memcheck must report: the check can fail
 *
 * Hex is lowercase; scalars are 32 bytes big-endian.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "bls12_381/internal.h"

/* valgrind's client requests, when its header is installed (tests/deps.sh installs valgrind). */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif

static void put_hex(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
}

static int get_hex(uint8_t *out, size_t n, const char *hex)
{
	if (strlen(hex) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static void random_bytes(uint8_t *b, size_t n)
{
	if (RAND_bytes(b, (int)n) != 1) {
		fprintf(stderr, "driver: RAND_bytes failed\n");
		exit(2);
	}
}

static unsigned random_below(unsigned n)
{
	uint32_t v;
	random_bytes((uint8_t *)&v, sizeof v);
	return v % n;
}

static void random_scalar(struct bls_scalar *k)
{
	if (bls_scalar_random(k) != 0) {
		fprintf(stderr, "driver: bls_scalar_random failed\n");
		exit(2);
	}
}

/* 0, 1, r - 1 and 2^64 - 1 for i = 0..3, then random. */
static void special_scalar(struct bls_scalar *k, unsigned i)
{
	memset(k, 0, sizeof *k);
	switch (i) {
	case 0: break;                                                  /* 0 */
	case 1: k->limb[0] = 1; break;                                  /* 1 */
	case 2: *k = bls_group_order; k->limb[0]--; break;              /* r - 1 */
	case 3: k->limb[0] = 0xffffffffffffffff; break;                 /* 2^64 - 1 */
	default: random_scalar(k);
	}
}

static void put_scalar(const struct bls_scalar *k)
{
	uint8_t b[BLS_SCALAR_BYTES];
	bls_scalar_to_bytes(b, k);
	put_hex(b, sizeof b);
}

static void put_g1(const struct bls_g1 *p)
{
	uint8_t b[BLS_G1_BYTES];
	bls_g1_encode(b, p);
	put_hex(b, sizeof b);
}

static void put_g2(const struct bls_g2 *p)
{
	uint8_t b[BLS_G2_BYTES];
	bls_g2_encode(b, p);
	put_hex(b, sizeof b);
}

static void put_gt(const struct bls_gt *a)
{
	uint8_t b[BLS_GT_BYTES];
	bls_gt_encode(b, a);
	put_hex(b, sizeof b);
}

/* ---- check: known answers and properties ---- */

static int failures;

static void expect(bool ok, const char *name)
{
	printf("%s %s\n", ok ? "ok" : "FAIL", name);
	if (!ok)
		failures++;
}

static bool encodes_to(const uint8_t *got, size_t n, const char *hex)
{
	uint8_t want[BLS_G2_BYTES];
	return get_hex(want, n, hex) == 0 && memcmp(got, want, n) == 0;
}

/* Published in zkcrypto's bls12_381 (g1.rs, g2.rs tests) and the IETF draft. */
static const char g1_generator_hex[] =
	"97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb";
static const char g2_generator_hex[] =
	"93e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e"
	"024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8";

/* a^e for a little-endian exponent, the slow obvious way. */
static void fp12_pow_plain(struct bls_fp12 *r, const struct bls_fp12 *a, const uint64_t *e, size_t limbs)
{
	struct bls_fp12 acc;
	bls_fp12_one(&acc);
	for (size_t i = limbs * 64; i-- > 0;) {
		bls_fp12_sqr(&acc, &acc);
		if ((e[i / 64] >> (i % 64)) & 1)
			bls_fp12_mul(&acc, &acc, a);
	}
	*r = acc;
}

static void random_fp(struct bls_fp *a)
{
	uint8_t b[64];
	random_bytes(b, sizeof b);
	bls_fp_from_bytes_reduce(a, b, sizeof b);
}

static void random_fp12(struct bls_fp12 *a)
{
	struct bls_fp *c = &a->c0.c0.c0;
	/* The twelve coefficients are laid out contiguously in the structure. */
	for (int i = 0; i < 12; i++)
		random_fp(c + i);
}

static void check_fields(void)
{
	struct bls_fp a, b, c, d;
	random_fp(&a);
	random_fp(&b);
	bls_fp_inv(&c, &a);
	bls_fp_mul(&c, &c, &a);
	expect(bls_fp_equal(&c, &bls_fp_one_mont), "fp: a * a^-1 = 1");
	bls_fp_add(&c, &a, &b);
	bls_fp_sub(&c, &c, &b);
	expect(bls_fp_equal(&c, &a), "fp: (a + b) - b = a");
	bls_fp_sqr(&c, &a);
	expect(bls_fp_sqrt(&d, &c), "fp: a square has a root");
	bls_fp_sqr(&d, &d);
	expect(bls_fp_equal(&d, &c), "fp: the root squares back");
	/* -1 is not a square modulo p = 3 mod 4. */
	bls_fp_neg(&c, &bls_fp_one_mont);
	expect(!bls_fp_sqrt(&d, &c), "fp: -1 has no root");

	uint8_t bytes[BLS_FP_BYTES];
	bls_fp_to_bytes(bytes, &a);
	expect(bls_fp_from_bytes(&c, bytes) == 0 && bls_fp_equal(&c, &a), "fp: bytes round trip");
	for (int i = 0; i < 6; i++)
		for (int j = 0; j < 8; j++)
			bytes[(5 - i) * 8 + j] = (uint8_t)(bls_fp_modulus.limb[i] >> (56 - 8 * j));
	expect(bls_fp_from_bytes(&c, bytes) != 0, "fp: p itself is refused as non-canonical");
	bytes[47]--;
	expect(bls_fp_from_bytes(&c, bytes) == 0, "fp: p - 1 is accepted");
	bls_fp_neg(&d, &bls_fp_one_mont);
	expect(bls_fp_equal(&c, &d), "fp: p - 1 reads as -1");

	struct bls_fp2 x, y, z;
	random_fp(&x.c0);
	random_fp(&x.c1);
	bls_fp2_inv(&y, &x);
	bls_fp2_mul(&y, &y, &x);
	bls_fp2_one(&z);
	expect(bls_fp2_equal(&y, &z), "fp2: x * x^-1 = 1");
	bls_fp2_sqr(&y, &x);
	expect(bls_fp2_sqrt(&z, &y), "fp2: a square has a root");
	bls_fp2_sqr(&z, &z);
	expect(bls_fp2_equal(&z, &y), "fp2: the root squares back");
	bls_fp2_mul(&z, &x, &x);
	expect(bls_fp2_equal(&z, &y), "fp2: x * x = x^2");

	struct bls_fp12 f, g, h, k;
	random_fp12(&f);
	random_fp12(&g);
	bls_fp12_inv(&h, &f);
	bls_fp12_mul(&h, &h, &f);
	expect(bls_fp12_is_one(&h), "fp12: f * f^-1 = 1");
	bls_fp12_sqr(&h, &f);
	bls_fp12_mul(&k, &f, &f);
	expect(bls_fp12_equal(&h, &k), "fp12: f^2 = f * f");
	bls_fp12_mul(&h, &f, &g);
	bls_fp12_mul(&k, &g, &f);
	expect(bls_fp12_equal(&h, &k), "fp12: f g = g f");
	bls_fp12_frobenius(&h, &f);
	fp12_pow_plain(&k, &f, bls_fp_modulus.limb, 6);
	expect(bls_fp12_equal(&h, &k), "fp12: Frobenius equals f^p");
	/* f^((p^6 - 1)(p^2 + 1)) lies in the cyclotomic subgroup. */
	struct bls_fp12 cyc;
	bls_fp12_inv(&h, &f);
	bls_fp12_conjugate(&cyc, &f);
	bls_fp12_mul(&cyc, &cyc, &h);
	bls_fp12_frobenius(&h, &cyc);
	bls_fp12_frobenius(&h, &h);
	bls_fp12_mul(&cyc, &h, &cyc);
	bls_fp12_cyclotomic_sqr(&h, &cyc);
	bls_fp12_sqr(&k, &cyc);
	expect(bls_fp12_equal(&h, &k), "fp12: cyclotomic squaring equals squaring in the cyclotomic subgroup");
	bls_fp12_cyclotomic_sqr(&h, &f);
	bls_fp12_sqr(&k, &f);
	expect(!bls_fp12_equal(&h, &k), "fp12: cyclotomic squaring differs outside the subgroup (the check above can fail)");
	struct bls_fp12 line = f;
	bls_fp12_mul_by_014(&h, &g, &line.c0.c0, &line.c0.c1, &line.c1.c1);
	memset(&line, 0, sizeof line);
	line.c0.c0 = f.c0.c0;
	line.c0.c1 = f.c0.c1;
	line.c1.c1 = f.c1.c1;
	bls_fp12_mul(&k, &g, &line);
	expect(bls_fp12_equal(&h, &k), "fp12: sparse line product equals the full product");
}

static void check_scalars(void)
{
	struct bls_scalar a, b, c, one;
	struct bls_g1 g, p, q;
	random_scalar(&a);
	random_scalar(&b);
	bls_scalar_from_u64(&one, 1);
	bls_scalar_inv(&c, &a);
	bls_scalar_mul(&c, &c, &a);
	expect(bls_scalar_equal(&c, &one), "scalar: a * a^-1 = 1");
	bls_scalar_add(&c, &a, &b);
	bls_scalar_sub(&c, &c, &b);
	expect(bls_scalar_equal(&c, &a), "scalar: (a + b) - b = a");
	bls_scalar_neg(&c, &a);
	bls_scalar_add(&c, &c, &a);
	expect(bls_scalar_is_zero(&c), "scalar: a + (-a) = 0");
	bls_scalar_mul(&c, &a, &b);
	bls_g1_generator(&g);
	bls_g1_mul(&p, &g, &c);
	bls_g1_mul(&q, &g, &a);
	bls_g1_mul(&q, &q, &b);
	expect(bls_g1_equal(&p, &q), "scalar: [a b mod r]G = [b]([a]G)");
	bls_scalar_add(&c, &a, &b);
	bls_g1_mul(&p, &g, &c);
	bls_g1_mul(&q, &g, &a);
	struct bls_g1 s;
	bls_g1_mul(&s, &g, &b);
	bls_g1_add(&q, &q, &s);
	expect(bls_g1_equal(&p, &q), "scalar: [a + b mod r]G = [a]G + [b]G");
	uint8_t bytes[BLS_SCALAR_BYTES];
	bls_scalar_to_bytes(bytes, &a);
	expect(bls_scalar_from_bytes(&c, bytes) == 0 && bls_scalar_equal(&c, &a), "scalar: bytes round trip");
	bls_scalar_to_bytes(bytes, &bls_group_order);
	expect(bls_scalar_from_bytes(&c, bytes) != 0, "scalar: r itself is refused");
}

static void check_groups(void)
{
	struct bls_g1 g, p, q, s;
	struct bls_g2 g2, p2, q2, s2;
	struct bls_scalar a, b, r_minus_1 = bls_group_order;
	uint8_t enc[BLS_G2_BYTES];

	r_minus_1.limb[0]--;
	bls_g1_generator(&g);
	bls_g2_generator(&g2);
	expect(bls_g1_is_on_curve(&g) && bls_g1_in_subgroup(&g), "g1: the generator is on the curve, in G1");
	expect(bls_g2_is_on_curve(&g2) && bls_g2_in_subgroup(&g2), "g2: the generator is on the twist, in G2");
	bls_g1_encode(enc, &g);
	expect(encodes_to(enc, BLS_G1_BYTES, g1_generator_hex), "g1: the generator's published encoding");
	bls_g2_encode(enc, &g2);
	expect(encodes_to(enc, BLS_G2_BYTES, g2_generator_hex), "g2: the generator's published encoding");
	bls_g1_identity(&p);
	bls_g1_encode(enc, &p);
	expect(enc[0] == 0xc0 && enc[1] == 0 && enc[47] == 0, "g1: the identity encodes as c0 00..");

	bls_g1_mul(&p, &g, &r_minus_1);
	bls_g1_neg(&q, &g);
	expect(bls_g1_equal(&p, &q), "g1: [r-1]G = -G");
	bls_g2_mul(&p2, &g2, &r_minus_1);
	bls_g2_neg(&q2, &g2);
	expect(bls_g2_equal(&p2, &q2), "g2: [r-1]G = -G");

	random_scalar(&a);
	random_scalar(&b);
	/* [a]G + [b]G = [a + b]G, with a + b computed as integers (both < 2^255). */
	struct bls_scalar sum;
	uint64_t carry = 0;
	for (int i = 0; i < 4; i++) {
		__extension__ unsigned __int128 t = (unsigned __int128)a.limb[i] + b.limb[i] + carry;
		sum.limb[i] = (uint64_t)t;
		carry = (uint64_t)(t >> 64);
	}
	bls_g1_mul(&p, &g, &a);
	bls_g1_mul(&q, &g, &b);
	bls_g1_add(&s, &p, &q);
	bls_g1_mul_vartime(&q, &g, sum.limb, 4);
	expect(bls_g1_equal(&s, &q), "g1: [a]G + [b]G = [a+b]G");
	bls_g1_mul_vartime(&q, &g, a.limb, 4);
	expect(bls_g1_equal(&p, &q), "g1: constant-time and variable-time multiplication agree");
	bls_g1_add(&s, &p, &p);
	bls_g1_double(&q, &p);
	expect(bls_g1_equal(&s, &q), "g1: P + P = 2P through the complete addition");
	bls_g2_mul(&p2, &g2, &a);
	bls_g2_mul(&q2, &g2, &b);
	bls_g2_add(&s2, &p2, &q2);
	bls_g2_mul_vartime(&q2, &g2, sum.limb, 4);
	expect(bls_g2_equal(&s2, &q2), "g2: [a]G + [b]G = [a+b]G");
	bls_g2_add(&s2, &p2, &p2);
	bls_g2_double(&q2, &p2);
	expect(bls_g2_equal(&s2, &q2), "g2: P + P = 2P through the complete addition");

	bls_g1_encode(enc, &p);
	expect(bls_g1_decode(&q, enc) == 0 && bls_g1_equal(&p, &q), "g1: encoding round trip");
	bls_g2_encode(enc, &p2);
	expect(bls_g2_decode(&q2, enc) == 0 && bls_g2_equal(&p2, &q2), "g2: encoding round trip");
	enc[0] &= 0x7f;
	expect(bls_g2_decode(&q2, enc) != 0, "g2: the uncompressed flag is refused");

	/* Refusals. */
	uint8_t bad[BLS_G2_BYTES];
	memset(bad, 0, sizeof bad);
	bad[0] = 0xc0;
	expect(bls_g1_decode(&q, bad) == 0 && bls_g1_is_identity(&q), "g1: c0 00.. decodes to the identity");
	bad[47] = 1;
	expect(bls_g1_decode(&q, bad) != 0, "g1: the infinity flag with a nonzero x is refused");
	bad[47] = 0;
	bad[0] = 0xe0;
	expect(bls_g1_decode(&q, bad) != 0, "g1: the infinity flag with the sort flag is refused");
	/* x = p with the compressed flag: non-canonical. */
	for (int i = 0; i < 6; i++)
		for (int j = 0; j < 8; j++)
			bad[(5 - i) * 8 + j] = (uint8_t)(bls_fp_modulus.limb[i] >> (56 - 8 * j));
	bad[0] |= 0x80;
	expect(bls_g1_decode(&q, bad) != 0, "g1: x = p is refused");
	/* x = 0: 0 + 4 = 4 = 2^2, so (0, 2) is on the curve but has order 3, not r. */
	memset(bad, 0, sizeof bad);
	bad[0] = 0x80;
	expect(bls_g1_decode(&q, bad) != 0, "g1: (0, +-2), on the curve, outside G1, is refused");
	struct bls_g1 t = {{{0}}, {{0}}, {{0}}};
	struct bls_fp two;
	bls_fp_double(&two, &bls_fp_one_mont);
	t.y = two;
	bls_fp_one(&t.z);
	expect(bls_g1_is_on_curve(&t) && !bls_g1_in_subgroup(&t), "g1: (0, 2) is on the curve and not in G1");
	struct bls_g1 t3;
	bls_g1_double(&t3, &t);
	bls_g1_add(&t3, &t3, &t);
	expect(bls_g1_is_identity(&t3), "g1: (0, 2) has order 3");
}

/* A random point of E(Fp), almost surely outside G1 (the cofactor is large). */
static void random_curve_point_g1(struct bls_g1 *p)
{
	struct bls_fp rhs;
	do {
		random_fp(&p->x);
		bls_fp_sqr(&rhs, &p->x);
		bls_fp_mul(&rhs, &rhs, &p->x);
		bls_fp_add(&rhs, &rhs, &bls_fp_four_mont);
	} while (!bls_fp_sqrt(&p->y, &rhs));
	bls_fp_one(&p->z);
}

static void random_curve_point_g2(struct bls_g2 *p)
{
	struct bls_fp2 rhs, b;
	b.c0 = bls_fp_four_mont;
	b.c1 = bls_fp_four_mont;
	do {
		random_fp(&p->x.c0);
		random_fp(&p->x.c1);
		bls_fp2_sqr(&rhs, &p->x);
		bls_fp2_mul(&rhs, &rhs, &p->x);
		bls_fp2_add(&rhs, &rhs, &b);
	} while (!bls_fp2_sqrt(&p->y, &rhs));
	bls_fp2_one(&p->z);
}

/* Fixed-base tables against plain multiplication, on the generators and a random point. */
static void check_tables(void)
{
	struct bls_g1_table *t1 = malloc(sizeof *t1);
	struct bls_g2_table *t2 = malloc(sizeof *t2);
	struct bls_g1 g, p, a, b;
	struct bls_g2 g2, q, c, d;
	struct bls_scalar k;
	int agree1 = 0, agree2 = 0, rounds = 8;
	if (t1 == NULL || t2 == NULL)
		abort();
	bls_g1_generator(&g);
	bls_g2_generator(&g2);
	random_scalar(&k);
	bls_g1_mul(&p, &g, &k);
	bls_g2_mul(&q, &g2, &k);
	for (int base = 0; base < 2; base++) {
		bls_g1_table_init(t1, base ? &p : &g);
		bls_g2_table_init(t2, base ? &q : &g2);
		for (int i = 0; i < rounds; i++) {
			special_scalar(&k, (unsigned)i);
			bls_g1_mul_table(&a, t1, &k);
			bls_g1_mul(&b, base ? &p : &g, &k);
			agree1 += bls_g1_equal(&a, &b);
			bls_g2_mul_table(&c, t2, &k);
			bls_g2_mul(&d, base ? &q : &g2, &k);
			agree2 += bls_g2_equal(&c, &d);
		}
	}
	expect(agree1 == 2 * rounds, "g1: fixed-base table multiplication agrees with plain (0, 1, r-1, 2^64-1, random)");
	expect(agree2 == 2 * rounds, "g2: fixed-base table multiplication agrees with plain (0, 1, r-1, 2^64-1, random)");
	free(t1);
	free(t2);
}

/* The endomorphism subgroup checks against the definition [r]P = O. */
static void check_subgroup_tests(void)
{
	int agree1 = 0, agree2 = 0, outside1 = 0, outside2 = 0, rounds = 16;
	struct bls_g1 p, g, t;
	struct bls_g2 q, g2;
	struct bls_scalar k;
	bls_g1_generator(&g);
	bls_g2_generator(&g2);
	for (int i = 0; i < rounds; i++) {
		random_curve_point_g1(&p);
		if (i % 2) {
			random_scalar(&k);
			bls_g1_mul(&p, &g, &k);
		}
		bool slow = bls_g1_has_order_r(&p);
		agree1 += bls_g1_is_on_curve(&p) && bls_g1_in_subgroup(&p) == slow;
		outside1 += !slow;
		random_curve_point_g2(&q);
		if (i % 2) {
			random_scalar(&k);
			bls_g2_mul(&q, &g2, &k);
		}
		slow = bls_g2_has_order_r(&q);
		agree2 += bls_g2_is_on_curve(&q) && bls_g2_in_subgroup(&q) == slow;
		outside2 += !slow;
	}
	expect(agree1 == rounds && outside1 == rounds / 2, "g1: the endomorphism subgroup check agrees with [r]P = O (8 in, 8 out)");
	expect(agree2 == rounds && outside2 == rounds / 2, "g2: the endomorphism subgroup check agrees with [r]P = O (8 in, 8 out)");
	/* P + T, T = (0, 2) of order 3: on the curve, not in G1. */
	memset(&t, 0, sizeof t);
	bls_fp_double(&t.y, &bls_fp_one_mont);
	bls_fp_one(&t.z);
	random_scalar(&k);
	bls_g1_mul(&p, &g, &k);
	bls_g1_add(&p, &p, &t);
	expect(bls_g1_is_on_curve(&p) && !bls_g1_in_subgroup(&p) && !bls_g1_has_order_r(&p),
		"g1: a point of G1 plus one of order 3 fails both subgroup checks");
}

static void check_pairing(void)
{
	struct bls_g1 g, p, pn, pts[2];
	struct bls_g2 g2, q, qs[2];
	struct bls_gt e, e1, e2, prod;
	struct bls_scalar a, b;

	bls_g1_generator(&g);
	bls_g2_generator(&g2);
	bls_pairing(&e, &g, &g2);
	expect(!bls_gt_is_one(&e), "pairing: e(G1, G2) != 1");
	bls_gt_pow(&e1, &e, &bls_group_order);
	expect(bls_gt_is_one(&e1), "pairing: e(G1, G2)^r = 1");

	random_scalar(&a);
	random_scalar(&b);
	bls_g1_mul(&p, &g, &a);
	bls_g2_mul(&q, &g2, &b);
	bls_pairing(&e1, &p, &q);
	bls_gt_pow(&e2, &e, &a);
	bls_gt_pow(&e2, &e2, &b);
	expect(bls_gt_equal(&e1, &e2), "pairing: e(aP, bQ) = e(P, Q)^(ab)");
	bls_g1_mul(&p, &g, &b);
	bls_g2_mul(&q, &g2, &a);
	bls_pairing(&e2, &p, &q);
	expect(bls_gt_equal(&e1, &e2), "pairing: e(aP, bQ) = e(bP, aQ)");
	bls_gt_pow(&e2, &e1, &bls_group_order);
	expect(bls_gt_is_one(&e2), "pairing: e(aP, bQ)^r = 1");
	struct bls_scalar r_minus_1 = bls_group_order;
	r_minus_1.limb[0]--;
	bls_gt_inverse(&e2, &e1);
	bls_gt_pow(&prod, &e1, &r_minus_1);
	expect(bls_gt_equal(&e2, &prod), "gt: the inverse equals the (r-1)th power");
	bls_gt_mul(&prod, &e2, &e1);
	expect(bls_gt_is_one(&prod) && !bls_gt_is_one(&e2), "gt: a a^-1 = 1");

	bls_g1_neg(&pn, &p);
	pts[0] = p;
	pts[1] = pn;
	qs[0] = q;
	qs[1] = q;
	bls_multi_pairing(&e2, pts, qs, 2);
	expect(bls_gt_is_one(&e2), "multi-pairing: e(P, Q) e(-P, Q) = 1");

	bls_g1_identity(&pts[0]);
	bls_multi_pairing(&e2, pts, qs, 1);
	expect(bls_gt_is_one(&e2), "pairing: e(O, Q) = 1");

	/*
	 * Six pairs (FAME decrypts with six), past the multi-pairing's stack
	 * buffer, one of them with the identity: the product of the other five.
	 */
	struct bls_g1 many_p[6];
	struct bls_g2 many_q[6];
	bls_gt_one(&prod);
	for (int i = 0; i < 6; i++) {
		random_scalar(&a);
		random_scalar(&b);
		bls_g1_mul(&many_p[i], &g, &a);
		bls_g2_mul(&many_q[i], &g2, &b);
		if (i == 4) {
			bls_g1_identity(&many_p[i]);
			continue;
		}
		bls_pairing(&e1, &many_p[i], &many_q[i]);
		bls_gt_mul(&prod, &prod, &e1);
	}
	bls_multi_pairing(&e2, many_p, many_q, 6);
	expect(bls_gt_equal(&e2, &prod), "multi-pairing: six pairs, one with the identity, equal the product of the single pairings");
	bls_multi_pairing(&e2, many_p, many_q, 3);
	expect(!bls_gt_equal(&e2, &prod), "multi-pairing: three of them do not");
}

/*
 * Published multiples of the generators, as the test suites of other
 * BLS12-381 libraries list them ([2]G1 is also Ethereum's KZG commitment to
 * the constant 2): [k]G for k = 1..5 (G1) and 1..9 (G2); [-k]G differs only
 * in the sort flag, which the test flips.
 */
static const char *const g1_multiples[] = {
	"97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb",
	"a572cbea904d67468808c8eb50a9450c9721db309128012543902d0ac358a62ae28f75bb8f1c7c42c39a8c5529bf0f4e",
	"89ece308f9d1f0131765212deca99697b112d61f9be9a5f1f3780a51335b3ff981747a0b2ca2179b96d2c0c9024e5224",
	"ac9b60d5afcbd5663a8a44b7c5a02f19e9a77ab0a35bd65809bb5c67ec582c897feb04decc694b13e08587f3ff9b5b60",
	"b0e7791fb972fe014159aa33a98622da3cdc98ff707965e536d8636b5fcc5ac7a91a8c46e59a00dca575af0f18fb13dc",
};
/* [2^i]G1 for i = 3..5 (1, 2 and 4 are above). */
static const char *const g1_powers_of_2[] = {
	"a85ae765588126f5e860d019c0e26235f567a9c0c0b2d8ff30f3e8d436b1082596e5e7462d20f5be3764fd473e57f9cf",
	"a73eb991aa22cdb794da6fcde55a427f0a4df5a4a70de23a988b5e5fc8c4d844f66d990273267a54dd21579b7ba6a086",
	"a72841987e4f219d54f2b6a9eac5fe6e78704644753c3579e776a3691bc123743f8c63770ed0f72a71e9e964dbf58f43",
};
static const char *const g2_multiples[] = {
	"93e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8",
	"aa4edef9c1ed7f729f520e47730a124fd70662a904ba1074728114d1031e1572c6c886f6b57ec72a6178288c47c335771638533957d540a9d2370f17cc7ed5863bc0b995b8825e0ee1ea1e1e4d00dbae81f14b0bf3611b78c952aacab827a053",
	"89380275bbc8e5dcea7dc4dd7e0550ff2ac480905396eda55062650f8d251c96eb480673937cc6d9d6a44aaa56ca66dc122915c824a0857e2ee414a3dccb23ae691ae54329781315a0c75df1c04d6d7a50a030fc866f09d516020ef82324afae",
	"870227d3f13684fdb7ce31b8065ba3acb35f7bde6fe2ddfefa359f8b35d08a9ab9537b43e24f4ffb720b5a0bda2a82f20e7a30979a8853a077454eb63b8dcee75f106221b262886bb8e01b0abb043368da82f60899cc1412e33e4120195fc557",
	"80fb837804dba8213329db46608b6c121d973363c1234a86dd183baff112709cf97096c5e9a1a770ee9d7dc641a894d60411a5de6730ffece671a9f21d65028cc0f1102378de124562cb1ff49db6f004fcd14d683024b0548eff3d1468df2688",
	"83f4b4e761936d90fd5f55f99087138a07a69755ad4a46e4dd1c2cfe6d11371e1cc033111a0595e3bba98d0f538db45119e384121b7d70927c49e6d044fd8517c36bc6ed2813a8956dd64f049869e8a77f7e46930240e6984abe26fa6a89658f",
	"8d0273f6bf31ed37c3b8d68083ec3d8e20b5f2cc170fa24b9b5be35b34ed013f9a921f1cad1644d4bdb14674247234c8049cd1dbb2d2c3581e54c088135fef36505a6823d61b859437bfc79b617030dc8b40e32bad1fa85b9c0f368af6d38d3c",
	"92be651a5fa620340d418834526d37a8c932652345400b4cd9d43c8f41c080f41a6d9558118ebeab9d4268bb73e850e102142a58bae275564a6d63cb6bd6266ca66bef07a6ab8ca37b9d0ba2d4effbccfd89c169649f7d0e8a3eb006846579ad",
	"ac48e0d4f9404ae0a7f10774c55a9e838bb09d3bae85b5eaa6b16b0f4dc2354368117f3799c37f3f7126d8b54d3f8393018405e4b67f957b6465ead9f5afc47832d45643dc3aa03af7314c6cf980fa23dd3bb8db3358693ad06011f6a6b1a5ff",
};

static void check_published_multiples(void)
{
	struct bls_g1 g, p;
	struct bls_g2 g2, q;
	struct bls_scalar k;
	uint8_t enc[BLS_G2_BYTES], want[BLS_G2_BYTES];
	int good1 = 0, good2 = 0, n1 = 0, n2 = 0;
	bls_g1_generator(&g);
	bls_g2_generator(&g2);
	for (int sign = 0; sign < 2; sign++) {
		for (size_t i = 0; i < sizeof g1_multiples / sizeof g1_multiples[0]; i++, n1++) {
			bls_scalar_from_u64(&k, i + 1);
			if (sign)
				bls_scalar_neg(&k, &k);
			bls_g1_mul(&p, &g, &k);
			bls_g1_encode(enc, &p);
			get_hex(want, BLS_G1_BYTES, g1_multiples[i]);
			want[0] ^= (uint8_t)(sign << 5);
			good1 += memcmp(enc, want, BLS_G1_BYTES) == 0;
		}
		for (size_t i = 0; i < sizeof g2_multiples / sizeof g2_multiples[0]; i++, n2++) {
			bls_scalar_from_u64(&k, i + 1);
			if (sign)
				bls_scalar_neg(&k, &k);
			bls_g2_mul(&q, &g2, &k);
			bls_g2_encode(enc, &q);
			get_hex(want, BLS_G2_BYTES, g2_multiples[i]);
			want[0] ^= (uint8_t)(sign << 5);
			good2 += memcmp(enc, want, BLS_G2_BYTES) == 0;
		}
	}
	for (size_t i = 0; i < sizeof g1_powers_of_2 / sizeof g1_powers_of_2[0]; i++, n1++) {
		bls_scalar_from_u64(&k, (uint64_t)1 << (i + 3));
		bls_g1_mul(&p, &g, &k);
		bls_g1_encode(enc, &p);
		get_hex(want, BLS_G1_BYTES, g1_powers_of_2[i]);
		good1 += memcmp(enc, want, BLS_G1_BYTES) == 0;
	}
	expect(good1 == n1 && n1 == 13, "g1: published multiples [k]G, k = +-1..5, 8, 16, 32");
	expect(good2 == n2 && n2 == 18, "g2: published multiples [k]G, k = +-1..9");
}

/* ---- RFC 9380 vectors ---- */

/* Appendix K.1, expand_message_xmd(SHA-256), len_in_bytes = 0x20. */
static const struct {
	const char *msg, *uniform;
} expand_vectors[] = {
	{"", "f659819a6473c1835b25ea59e3d38914c98b374f0970b7e4c92181df928fca88"},
	{"abc", "1c38f7c211ef233367b2420d04798fa4698080a8901021a795a1151775fe4da7"},
};

/* Appendix J.9.1, BLS12381G1_XMD:SHA-256_SSWU_RO_; "a512" is "a512_" then 512 'a'. */
static const struct {
	const char *msg, *px, *py, *u0, *u1, *q0x, *q0y, *q1x, *q1y;
} hash_vectors[] = {
	{"",
	 "052926add2207b76ca4fa57a8734416c8dc95e24501772c814278700eed6d1e4e8cf62d9c09db0fac349612b759e79a1",
	 "08ba738453bfed09cb546dbb0783dbb3a5f1f566ed67bb6be0e8c67e2e81a4cc68ee29813bb7994998f3eae0c9c6a265",
	 "0ba14bd907ad64a016293ee7c2d276b8eae71f25a4b941eece7b0d89f17f75cb3ae5438a614fb61d6835ad59f29c564f",
	 "019b9bd7979f12657976de2884c7cce192b82c177c80e0ec604436a7f538d231552f0d96d9f7babe5fa3b19b3ff25ac9",
	 "11a3cce7e1d90975990066b2f2643b9540fa40d6137780df4e753a8054d07580db3b7f1f03396333d4a359d1fe3766fe",
	 "0eeaf6d794e479e270da10fdaf768db4c96b650a74518fc67b04b03927754bac66f3ac720404f339ecdcc028afa091b7",
	 "160003aaf1632b13396dbad518effa00fff532f604de1a7fc2082ff4cb0afa2d63b2c32da1bef2bf6c5ca62dc6b72f9c",
	 "0d8bb2d14e20cf9f6036152ed386d79189415b6d015a20133acb4e019139b94e9c146aaad5817f866c95d609a361735e"},
	{"abc",
	 "03567bc5ef9c690c2ab2ecdf6a96ef1c139cc0b2f284dca0a9a7943388a49a3aee664ba5379a7655d3c68900be2f6903",
	 "0b9c15f3fe6e5cf4211f346271d7b01c8f3b28be689c8429c85b67af215533311f0b8dfaaa154fa6b88176c229f2885d",
	 "0d921c33f2bad966478a03ca35d05719bdf92d347557ea166e5bba579eea9b83e9afa5c088573c2281410369fbd32951",
	 "003574a00b109ada2f26a37a91f9d1e740dffd8d69ec0c35e1e9f4652c7dba61123e9dd2e76c655d956e2b3462611139",
	 "125435adce8e1cbd1c803e7123f45392dc6e326d292499c2c45c5865985fd74fe8f042ecdeeec5ecac80680d04317d80",
	 "0e8828948c989126595ee30e4f7c931cbd6f4570735624fd25aef2fa41d3f79cfb4b4ee7b7e55a8ce013af2a5ba20bf2",
	 "11def93719829ecda3b46aa8c31fc3ac9c34b428982b898369608e4f042babee6c77ab9218aad5c87ba785481eff8ae4",
	 "0007c9cef122ccf2efd233d6eb9bfc680aa276652b0661f4f820a653cec1db7ff69899f8e52b8e92b025a12c822a6ce6"},
	{"abcdef0123456789",
	 "11e0b079dea29a68f0383ee94fed1b940995272407e3bb916bbf268c263ddd57a6a27200a784cbc248e84f357ce82d98",
	 "03a87ae2caf14e8ee52e51fa2ed8eefe80f02457004ba4d486d6aa1f517c0889501dc7413753f9599b099ebcbbd2d709",
	 "062d1865eb80ebfa73dcfc45db1ad4266b9f3a93219976a3790ab8d52d3e5f1e62f3b01795e36834b17b70e7b76246d4",
	 "0cdc3e2f271f29c4ff75020857ce6c5d36008c9b48385ea2f2bf6f96f428a3deb798aa033cd482d1cdc8b30178b08e3a",
	 "08834484878c217682f6d09a4b51444802fdba3d7f2df9903a0ddadb92130ebbfa807fffa0eabf257d7b48272410afff",
	 "0b318f7ecf77f45a0f038e62d7098221d2dbbca2a394164e2e3fe953dc714ac2cde412d8f2d7f0c03b259e6795a2508e",
	 "158418ed6b27e2549f05531a8281b5822b31c3bf3144277fbb977f8d6e2694fedceb7011b3c2b192f23e2a44b2bd106e",
	 "1879074f344471fac5f839e2b4920789643c075792bec5af4282c73f7941cda5aa77b00085eb10e206171b9787c4169f"},
	{"a512",
	 "082aabae8b7dedb0e78aeb619ad3bfd9277a2f77ba7fad20ef6aabdc6c31d19ba5a6d12283553294c1825c4b3ca2dcfe",
	 "05b84ae5a942248eea39e1d91030458c40153f3b654ab7872d779ad1e942856a20c438e8d99bc8abfbf74729ce1f7ac8",
	 "0a8ffa7447f6be1c5a2ea4b959c9454b431e29ccc0802bc052413a9c5b4f9aac67a93431bd480d15be1e057c8a08e8c6",
	 "05d487032f602c90fa7625dbafe0f4a49ef4a6b0b33d7bb349ff4cf5410d297fd6241876e3e77b651cfc8191e40a68b7",
	 "0cf97e6dbd0947857f3e578231d07b309c622ade08f2c08b32ff372bd90db19467b2563cc997d4407968d4ac80e154f8",
	 "127f0cddf2613058101a5701f4cb9d0861fd6c2a1b8e0afe194fccf586a3201a53874a2761a9ab6d7220c68661a35ab3",
	 "092f1acfa62b05f95884c6791fba989bbe58044ee6355d100973bf9553ade52b47929264e6ae770fb264582d8dce512a",
	 "028e6d0169a72cfedb737be45db6c401d3adfb12c58c619c82b93a5dfcccef12290de530b0480575ddc8397cda0bbebf"},
};

static bool fp_is_hex(const struct bls_fp *a, const char *hex)
{
	uint8_t got[BLS_FP_BYTES], want[BLS_FP_BYTES];
	bls_fp_to_bytes(got, a);
	return get_hex(want, sizeof want, hex) == 0 && memcmp(got, want, sizeof got) == 0;
}

static bool g1_is_affine_hex(const struct bls_g1 *p, const char *x_hex, const char *y_hex)
{
	struct bls_fp x, y;
	bls_g1_to_affine(&x, &y, p);
	return fp_is_hex(&x, x_hex) && fp_is_hex(&y, y_hex);
}

static void check_hash_to_curve(void)
{
	static const char expander_dst[] = "QUUX-V01-CS02-with-expander";
	static const char suite_dst[] = "QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_";
	char name[128];
	for (size_t i = 0; i < sizeof expand_vectors / sizeof expand_vectors[0]; i++) {
		uint8_t got[32], want[32];
		int rc = bls_expand_message_xmd(got, sizeof got, (const uint8_t *)expand_vectors[i].msg,
			strlen(expand_vectors[i].msg), (const uint8_t *)expander_dst, strlen(expander_dst));
		snprintf(name, sizeof name, "rfc9380 K.1: expand_message_xmd(\"%s\", 32)", expand_vectors[i].msg);
		expect(rc == 0 && get_hex(want, sizeof want, expand_vectors[i].uniform) == 0 &&
			memcmp(got, want, sizeof got) == 0, name);
	}
	char a512[5 + 512 + 1];
	memcpy(a512, "a512_", 5);
	memset(a512 + 5, 'a', 512);
	a512[sizeof a512 - 1] = '\0';
	for (size_t i = 0; i < sizeof hash_vectors / sizeof hash_vectors[0]; i++) {
		const char *msg = strcmp(hash_vectors[i].msg, "a512") == 0 ? a512 : hash_vectors[i].msg;
		const uint8_t *m = (const uint8_t *)msg, *d = (const uint8_t *)suite_dst;
		struct bls_fp u[2];
		struct bls_g1 q0, q1, p;
		bool ok = bls_hash_to_field(u, m, strlen(msg), d, strlen(suite_dst)) == 0;
		snprintf(name, sizeof name, "rfc9380 J.9.1 \"%s\": hash_to_field u0, u1", hash_vectors[i].msg);
		expect(ok && fp_is_hex(&u[0], hash_vectors[i].u0) && fp_is_hex(&u[1], hash_vectors[i].u1), name);
		bls_map_to_g1_curve(&q0, &u[0]);
		bls_map_to_g1_curve(&q1, &u[1]);
		snprintf(name, sizeof name, "rfc9380 J.9.1 \"%s\": map_to_curve Q0, Q1", hash_vectors[i].msg);
		expect(g1_is_affine_hex(&q0, hash_vectors[i].q0x, hash_vectors[i].q0y) &&
			g1_is_affine_hex(&q1, hash_vectors[i].q1x, hash_vectors[i].q1y), name);
		ok = bls_hash_to_g1(&p, m, strlen(msg), d, strlen(suite_dst)) == 0;
		snprintf(name, sizeof name, "rfc9380 J.9.1 \"%s\": hash_to_curve P, in G1", hash_vectors[i].msg);
		expect(ok && g1_is_affine_hex(&p, hash_vectors[i].px, hash_vectors[i].py) && bls_g1_in_subgroup(&p), name);
	}
	struct bls_g1 p;
	expect(bls_hash_to_g1(&p, (const uint8_t *)"x", 1, (const uint8_t *)"", 0) != 0,
		"hash_to_g1: an empty domain separation tag is refused");
}

/*
 * ethereum/bls12-381-tests v0.1.2, deserialization_G1 and deserialization_G2
 * (the cases a fixed-size buffer can hold; the wrong lengths cannot reach
 * the decoders).
 */
static const struct {
	int group;
	const char *name, *hex;
	bool valid;
} deserialization_vectors[] = {
	{1, "succeeds_correct_point", "a491d1b0ecd9bb917989f0e74f0dea0422eac4a873e5e2644f368dffb9a6e20fd6e10c1b77654d067c0618f6e5a7f79a", true},
	{1, "fails_not_in_G1", "8123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false},
	{1, "fails_not_in_curve", "8123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde0", false},
	{1, "fails_x_equal_to_modulus", "9a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab", false},
	{1, "fails_x_greater_than_modulus", "9a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaac", false},
	{1, "succeeds_infinity_with_true_b_flag", "c00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", true},
	{1, "fails_infinity_with_false_b_flag", "800000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", false},
	{1, "fails_with_wrong_c_flag", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false},
	{1, "fails_with_b_flag_and_x_nonzero", "c123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false},
	{1, "fails_with_b_flag_and_a_flag_true", "e00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", false},
	{2, "succeeds_correct_point", "b2cc74bc9f089ed9764bbceac5edba416bef5e73701288977b9cac1ccb6964269d4ebf78b4e8aa7792ba09d3e49c8e6a1351bdf582971f796bbaf6320e81251c9d28f674d720cca07ed14596b96697cf18238e0e03ebd7fc1353d885a39407e0", true},
	{2, "fails_xre_equal_to_modulus", "8000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab", false},
	{2, "fails_xim_equal_to_modulus", "9a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", false},
	{2, "fails_xre_greater_than_modulus", "8000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaac", false},
	{2, "fails_xim_greater_than_modulus", "9a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaac000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", false},
	{2, "fails_not_in_G2", "8123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false},
	{2, "fails_not_in_curve", "8123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde0", false},
	{2, "succeeds_infinity_with_true_b_flag", "c00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", true},
	{2, "fails_infinity_with_false_b_flag", "800000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", false},
	{2, "fails_with_wrong_c_flag", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false},
	{2, "fails_with_b_flag_and_x_nonzero", "c123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false},
	{2, "fails_with_b_flag_and_a_flag_true", "e00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", false},
};

static void check_deserialization_vectors(void)
{
	char name[128];
	for (size_t i = 0; i < sizeof deserialization_vectors / sizeof deserialization_vectors[0]; i++) {
		uint8_t in[BLS_G2_BYTES], out[BLS_G2_BYTES];
		size_t len = deserialization_vectors[i].group == 1 ? BLS_G1_BYTES : BLS_G2_BYTES;
		bool ok;
		if (get_hex(in, len, deserialization_vectors[i].hex) != 0)
			abort();
		if (deserialization_vectors[i].group == 1) {
			struct bls_g1 p;
			ok = bls_g1_decode(&p, in) == 0;
			if (ok)
				bls_g1_encode(out, &p);
		} else {
			struct bls_g2 q;
			ok = bls_g2_decode(&q, in) == 0;
			if (ok)
				bls_g2_encode(out, &q);
		}
		/* Accepted points must also encode back to the very same bytes. */
		bool pass = ok == deserialization_vectors[i].valid && (!ok || memcmp(in, out, len) == 0);
		snprintf(name, sizeof name, "bls12-381-tests deserialization_G%d: %s", deserialization_vectors[i].group,
			deserialization_vectors[i].name);
		expect(pass, name);
	}
}

/* ---- cases: random inputs and our answers, for the oracle ---- */

static void case_mul(unsigned i)
{
	struct bls_scalar k;
	struct bls_g1 p;
	struct bls_g2 q;
	special_scalar(&k, i);
	bls_g1_generator(&p);
	bls_g1_mul(&p, &p, &k);
	printf("g1mul ");
	put_scalar(&k);
	printf(" ");
	put_g1(&p);
	printf("\n");
	special_scalar(&k, i);
	bls_g2_generator(&q);
	bls_g2_mul(&q, &q, &k);
	printf("g2mul ");
	put_scalar(&k);
	printf(" ");
	put_g2(&q);
	printf("\n");
}

/* [m]([k]G) and [k]G + [m]G, through the decoder. */
static void case_point_ops(void)
{
	struct bls_scalar k, m;
	struct bls_g1 g, p, a, s;
	struct bls_g2 g2, p2, a2, s2;
	uint8_t enc[BLS_G2_BYTES];
	random_scalar(&k);
	random_scalar(&m);
	bls_g1_generator(&g);
	bls_g1_mul(&p, &g, &k);
	bls_g1_encode(enc, &p);
	if (bls_g1_decode(&p, enc) != 0)
		abort();
	bls_g1_mul(&a, &p, &m);
	bls_g1_mul(&s, &g, &m);
	bls_g1_add(&s, &s, &p);
	printf("g1ops ");
	put_g1(&p);
	printf(" ");
	put_scalar(&m);
	printf(" ");
	put_g1(&a);
	printf(" ");
	put_g1(&s);
	printf("\n");

	bls_g2_generator(&g2);
	bls_g2_mul(&p2, &g2, &k);
	bls_g2_encode(enc, &p2);
	if (bls_g2_decode(&p2, enc) != 0)
		abort();
	bls_g2_mul(&a2, &p2, &m);
	bls_g2_mul(&s2, &g2, &m);
	bls_g2_add(&s2, &s2, &p2);
	printf("g2ops ");
	put_g2(&p2);
	printf(" ");
	put_scalar(&m);
	printf(" ");
	put_g2(&a2);
	printf(" ");
	put_g2(&s2);
	printf("\n");
}

/* n pairs of random multiples of the generators; the generators themselves when first. */
static void case_pairing(size_t n, bool first)
{
	struct bls_scalar k[6], m[6];
	struct bls_g1 p[6];
	struct bls_g2 q[6];
	struct bls_gt e;
	memset(p, 0, sizeof p);
	memset(q, 0, sizeof q);
	for (size_t i = 0; i < n; i++) {
		special_scalar(&k[i], first ? 1 : 4);
		special_scalar(&m[i], first ? 1 : 4);
		bls_g1_generator(&p[i]);
		bls_g1_mul(&p[i], &p[i], &k[i]);
		bls_g2_generator(&q[i]);
		bls_g2_mul(&q[i], &q[i], &m[i]);
	}
	bls_multi_pairing(&e, p, q, n);
	printf("pairing %zu", n);
	for (size_t i = 0; i < n; i++) {
		printf(" ");
		put_scalar(&k[i]);
		printf(" ");
		put_scalar(&m[i]);
	}
	printf(" ");
	put_gt(&e);
	printf("\n");
}

/*
 * An encoding worth trying: a valid one, then maybe damaged (a flipped bit,
 * random x bytes under valid flags, the infinity flag, x pushed to x + p).
 */
static void mangle(uint8_t *enc, size_t len, size_t fp_at)
{
	switch (random_below(6)) {
	case 0:
		break;
	case 1:
		enc[random_below((unsigned)len)] ^= (uint8_t)(1u << random_below(8));
		break;
	case 2:
		random_bytes(enc, len);
		enc[0] = (uint8_t)((enc[0] & 0x3f) | 0x80);
		enc[0] &= 0x9f; /* keep x below 2^381 most of the time */
		enc[0] |= (uint8_t)(random_below(2) << 5);
		break;
	case 3:
		enc[0] |= 0x40;
		break;
	case 4: {
		/* add p to the field element at fp_at (x.c0 for G2, x for G1) */
		unsigned carry = 0;
		uint8_t flags = enc[0] & 0xe0;
		if (fp_at == 0)
			enc[0] &= 0x1f;
		for (int i = BLS_FP_BYTES - 1; i >= 0; i--) {
			int limb = (BLS_FP_BYTES - 1 - i) / 8, shift = ((BLS_FP_BYTES - 1 - i) % 8) * 8;
			unsigned v = enc[fp_at + (size_t)i] + (unsigned)((bls_fp_modulus.limb[limb] >> shift) & 0xff) + carry;
			enc[fp_at + (size_t)i] = (uint8_t)v;
			carry = v >> 8;
		}
		if (fp_at == 0)
			enc[0] |= flags;
		break;
	}
	case 5:
		enc[0] ^= 0x20;
		break;
	}
}

static void case_decode(void)
{
	struct bls_scalar k;
	struct bls_g1 p;
	struct bls_g2 q;
	uint8_t enc[BLS_G2_BYTES];
	random_scalar(&k);
	bls_g1_generator(&p);
	bls_g1_mul(&p, &p, &k);
	bls_g1_encode(enc, &p);
	mangle(enc, BLS_G1_BYTES, 0);
	printf("g1dec ");
	put_hex(enc, BLS_G1_BYTES);
	if (bls_g1_decode(&p, enc) == 0) {
		printf(" ok ");
		put_g1(&p);
	} else {
		printf(" bad");
	}
	printf("\n");

	bls_g2_generator(&q);
	bls_g2_mul(&q, &q, &k);
	bls_g2_encode(enc, &q);
	mangle(enc, BLS_G2_BYTES, random_below(2) ? 0 : BLS_FP_BYTES);
	printf("g2dec ");
	put_hex(enc, BLS_G2_BYTES);
	if (bls_g2_decode(&q, enc) == 0) {
		printf(" ok ");
		put_g2(&q);
	} else {
		printf(" bad");
	}
	printf("\n");
}

/* Arithmetic modulo r on random scalars. */
static void case_scalar(void)
{
	struct bls_scalar a, b, sum, diff, prod, inv;
	random_scalar(&a);
	random_scalar(&b);
	bls_scalar_add(&sum, &a, &b);
	bls_scalar_sub(&diff, &a, &b);
	bls_scalar_mul(&prod, &a, &b);
	bls_scalar_inv(&inv, &a);
	printf("scalar");
	const struct bls_scalar *all[] = {&a, &b, &sum, &diff, &prod, &inv};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		printf(" ");
		put_scalar(all[i]);
	}
	printf("\n");
}

/* A random message (0 to 99 bytes) under a random tag (1 to 64 bytes). */
static void case_hash(void)
{
	uint8_t msg[100], dst[64];
	size_t msg_len = random_below(sizeof msg), dst_len = 1 + random_below(sizeof dst);
	struct bls_g1 p;
	random_bytes(msg, msg_len);
	random_bytes(dst, dst_len);
	if (bls_hash_to_g1(&p, msg, msg_len, dst, dst_len) != 0)
		abort();
	printf("hash_to_g1 ");
	if (msg_len == 0)
		printf("-");
	put_hex(msg, msg_len);
	printf(" ");
	put_hex(dst, dst_len);
	printf(" ");
	put_g1(&p);
	printf("\n");
}

/* ---- ct: secret-independence under valgrind ---- */

#ifdef HAVE_MEMCHECK
#define SECRET(p) VALGRIND_MAKE_MEM_UNDEFINED((p), sizeof *(p))
#define PUBLIC(p) VALGRIND_MAKE_MEM_DEFINED((p), sizeof *(p))

static int constant_time_checks(bool control)
{
	struct bls_scalar k, a, b, c;
	struct bls_g1 g, p, pts[2];
	struct bls_g2 g2, q, qs[2];
	struct bls_gt e;
	struct bls_fp x, y;
	uint8_t msg[32];

	if (!RUNNING_ON_VALGRIND) {
		fprintf(stderr, "driver: ct needs to run under valgrind\n");
		return 2;
	}
	bls_g1_generator(&g);
	bls_g2_generator(&g2);
	random_scalar(&k);
	random_scalar(&a);
	random_scalar(&b);
	if (control) {
		/* Double and add branches on every bit of k: memcheck must say so. */
		SECRET(&k);
		bls_g1_mul_vartime(&p, &g, k.limb, 4);
		PUBLIC(&p);
		return 0;
	}
	struct bls_g1_table *t1 = malloc(sizeof *t1);
	struct bls_g2_table *t2 = malloc(sizeof *t2);
	if (t1 == NULL || t2 == NULL)
		return 2;
	bls_g1_table_init(t1, &g);
	bls_g2_table_init(t2, &g2);

	SECRET(&k);
	bls_g1_mul(&p, &g, &k);
	bls_g2_mul(&q, &g2, &k);
	bls_g1_mul_table(&p, t1, &k);
	bls_g2_mul_table(&q, t2, &k);
	bls_pairing(&e, &g, &g2);
	bls_gt_pow(&e, &e, &k);

	SECRET(&a);
	SECRET(&b);
	bls_scalar_add(&c, &a, &b);
	bls_scalar_sub(&c, &c, &b);
	bls_scalar_neg(&c, &c);
	bls_scalar_mul(&c, &a, &b);
	bls_scalar_inv(&c, &c);
	(void)bls_scalar_equal(&c, &a);

	random_fp(&x);
	SECRET(&x);
	bls_fp_inv(&y, &x);
	bls_fp_sqr(&y, &x);
	(void)bls_fp_sqrt(&y, &y);
	(void)bls_fp_sgn0(&x);
	(void)bls_fp_is_lexicographically_largest(&x);

	/* Pairing points whose coordinates are secret (whether one is the identity is not). */
	random_scalar(&c);
	bls_g1_mul(&pts[0], &g, &c);
	bls_g2_mul(&qs[0], &g2, &c);
	pts[1] = g;
	qs[1] = g2;
	SECRET(&pts[0].x);
	SECRET(&pts[0].y);
	SECRET(&qs[0].x);
	SECRET(&qs[0].y);
	bls_multi_pairing(&e, pts, qs, 2);

	/* Encoding points whose coordinates are secret (the identity test reads only Z). */
	uint8_t enc1[BLS_G1_BYTES], enc2[BLS_G2_BYTES];
	random_scalar(&c);
	bls_g1_mul(&pts[0], &g, &c);
	bls_g2_mul(&qs[0], &g2, &c);
	SECRET(&pts[0].x);
	SECRET(&pts[0].y);
	SECRET(&qs[0].x);
	SECRET(&qs[0].y);
	bls_g1_encode(enc1, &pts[0]);
	bls_g2_encode(enc2, &qs[0]);

	/* Hashing a secret message. */
	random_bytes(msg, sizeof msg);
	SECRET(&msg);
	if (bls_hash_to_g1(&p, msg, sizeof msg, (const uint8_t *)"ct", 2) != 0)
		return 2;

	free(t1);
	free(t2);
	printf("ct: G1, G2 and table multiplications, GT exponentiation, scalar and base-field arithmetic, "
		"pairing, encoding and hashing ran on secret inputs\n");
	return 0;
}
#else
static int constant_time_checks(bool control)
{
	(void)control;
	fprintf(stderr, "driver: built without valgrind/memcheck.h: ct cannot run\n");
	return 2;
}
#endif

/* ---- bench ---- */

/* CPU time of this process: on a shared machine, less noisy than the wall clock. */
static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, compare_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void bench(int runs)
{
	double *t = calloc((size_t)runs, sizeof *t);
	struct bls_g1 g, p;
	struct bls_g2 g2, q;
	struct bls_gt e;
	struct bls_scalar k;
	if (t == NULL)
		exit(2);
	bls_g1_generator(&g);
	bls_g2_generator(&g2);
	random_scalar(&k);
	bls_g1_mul(&p, &g, &k);
	bls_g2_mul(&q, &g2, &k);
#define TIME(name, op) do { \
		for (int i = 0; i < runs; i++) { \
			double s = now_ms(); \
			op; \
			t[i] = now_ms() - s; \
		} \
		printf("%s %.3f\n", name, median(t, runs)); \
	} while (0)
	TIME("pairing", bls_pairing(&e, &p, &q));
	TIME("g1_mul", bls_g1_mul(&p, &p, &k));
	TIME("g2_mul", bls_g2_mul(&q, &q, &k));
	struct bls_g1_table *t1 = malloc(sizeof *t1);
	struct bls_g2_table *t2 = malloc(sizeof *t2);
	if (t1 == NULL || t2 == NULL)
		exit(2);
	TIME("g1_table_init", bls_g1_table_init(t1, &g));
	TIME("g2_table_init", bls_g2_table_init(t2, &g2));
	TIME("g1_mul_table", bls_g1_mul_table(&p, t1, &k));
	TIME("g2_mul_table", bls_g2_mul_table(&q, t2, &k));
	free(t1);
	free(t2);
	uint8_t enc1[BLS_G1_BYTES], enc2[BLS_G2_BYTES];
	bls_g1_encode(enc1, &p);
	bls_g2_encode(enc2, &q);
	TIME("g1_decode", if (bls_g1_decode(&p, enc1) != 0) abort());
	TIME("g2_decode", if (bls_g2_decode(&q, enc2) != 0) abort());
	TIME("hash_to_g1", if (bls_hash_to_g1(&p, enc2, 32, (const uint8_t *)"bench", 5) != 0) abort());
	struct bls_fp a, b;
	random_fp(&a);
	random_fp(&b);
	double s = now_ms();
	for (int i = 0; i < 1000000; i++)
		bls_fp_mul(&a, &a, &b);
	printf("fp_mul_ns %.1f\n", (now_ms() - s) * 1e6 / 1000000);
	free(t);
}

int main(int argc, char *argv[])
{
	if (argc >= 2 && strcmp(argv[1], "check") == 0) {
		check_fields();
		check_scalars();
		check_groups();
		check_published_multiples();
		check_subgroup_tests();
		check_tables();
		check_pairing();
		check_hash_to_curve();
		check_deserialization_vectors();
		return failures != 0;
	}
	if (argc == 3 && strcmp(argv[1], "cases") == 0) {
		int n = atoi(argv[2]);
		for (int i = 0; i < n; i++) {
			case_mul((unsigned)i);
			case_point_ops();
			case_decode();
			case_decode();
			case_hash();
			case_scalar();
			if (i % 2 == 0)
				case_pairing(1 + (size_t)(i / 2) % 6, i == 0);
		}
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "ct") == 0)
		return constant_time_checks(false);
	if (argc == 2 && strcmp(argv[1], "ct-control") == 0)
		return constant_time_checks(true);
	if (argc == 3 && strcmp(argv[1], "bench") == 0) {
		bench(atoi(argv[2]));
		return 0;
	}
	fprintf(stderr, "usage: driver check | driver cases N | driver bench N | driver ct | driver ct-control\n");
	return 2;
}
