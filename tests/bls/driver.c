/*
 * Test driver for common/bls12_381/.
 *
 *   driver check          known answers and algebraic properties, checked here;
 *                         one "ok NAME" line each, "FAIL NAME" and exit 1 on the first failure
 *   driver cases N        N random cases of each kind, one per line, with our
 *                         results, for tests/bls/oracle.js to recompute with @noble/curves
 *   driver bench N        median milliseconds of N runs of each operation
 *
 * Hex is lowercase; scalars are 32 bytes big-endian.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "bls12_381/internal.h"

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
	struct bls_fp12 line = f;
	bls_fp12_mul_by_014(&h, &g, &line.c0.c0, &line.c0.c1, &line.c1.c1);
	memset(&line, 0, sizeof line);
	line.c0.c0 = f.c0.c0;
	line.c0.c1 = f.c0.c1;
	line.c1.c1 = f.c1.c1;
	bls_fp12_mul(&k, &g, &line);
	expect(bls_fp12_equal(&h, &k), "fp12: sparse line product equals the full product");
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

static void check_pairing(void)
{
	struct bls_g1 g, p, pn, pts[3];
	struct bls_g2 g2, q, qs[3];
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

	bls_gt_one(&prod);
	for (int i = 0; i < 3; i++) {
		random_scalar(&a);
		random_scalar(&b);
		bls_g1_mul(&pts[i], &g, &a);
		bls_g2_mul(&qs[i], &g2, &b);
		bls_pairing(&e1, &pts[i], &qs[i]);
		bls_gt_mul(&prod, &prod, &e1);
	}
	bls_multi_pairing(&e2, pts, qs, 3);
	expect(bls_gt_equal(&e2, &prod), "multi-pairing: equals the product of single pairings");
}

/* ---- cases: random inputs and our answers, for the oracle ---- */

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

static void case_pairing(size_t n)
{
	struct bls_scalar k[4], m[4];
	struct bls_g1 p[4];
	struct bls_g2 q[4];
	struct bls_gt e;
	memset(p, 0, sizeof p);
	memset(q, 0, sizeof q);
	for (size_t i = 0; i < n; i++) {
		random_scalar(&k[i]);
		random_scalar(&m[i]);
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

/* ---- bench ---- */

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
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
	uint8_t enc1[BLS_G1_BYTES], enc2[BLS_G2_BYTES];
	bls_g1_encode(enc1, &p);
	bls_g2_encode(enc2, &q);
	TIME("g1_decode", if (bls_g1_decode(&p, enc1) != 0) abort());
	TIME("g2_decode", if (bls_g2_decode(&q, enc2) != 0) abort());
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
		check_groups();
		check_pairing();
		return failures != 0;
	}
	if (argc == 3 && strcmp(argv[1], "cases") == 0) {
		int n = atoi(argv[2]);
		for (int i = 0; i < n; i++) {
			case_mul((unsigned)i);
			case_point_ops();
			case_decode();
			case_decode();
			if (i % 2 == 0)
				case_pairing(1 + (size_t)(i / 2) % 3);
		}
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "bench") == 0) {
		bench(atoi(argv[2]));
		return 0;
	}
	fprintf(stderr, "usage: driver check | driver cases N | driver bench N\n");
	return 2;
}
