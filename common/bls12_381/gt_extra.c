/*
 * GT beyond what the pairing file provides: decoding with a membership
 * check, fixed-window exponentiation (one base or two), and the pairing of
 * the two generators as a constant.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "internal.h"

/*
 * The inverse of bls_gt_encode: twelve canonical base-field coefficients,
 * and then a^r = 1 (which also rules out zero). The elements of order
 * dividing r in Fp12* are exactly GT, because r divides p^12 - 1 once and
 * no p^k - 1 for k < 12. Variable time: the input is public, and the check
 * uses the general squaring since nothing is known about a before it.
 */
int bls_gt_decode(struct bls_gt *r, const uint8_t in[BLS_GT_BYTES])
{
	struct bls_gt a;
	struct bls_fp12 acc;
	struct bls_fp6 *half[2] = {&a.v.c0, &a.v.c1};
	size_t at = 0;
	for (int i = 0; i < 2; i++) {
		struct bls_fp2 *c[3] = {&half[i]->c0, &half[i]->c1, &half[i]->c2};
		for (int j = 0; j < 3; j++) {
			if (bls_fp_from_bytes(&c[j]->c0, in + at) != 0 ||
			    bls_fp_from_bytes(&c[j]->c1, in + at + BLS_FP_BYTES) != 0)
				return -1;
			at += 2 * BLS_FP_BYTES;
		}
	}
	bls_fp12_one(&acc);
	for (int i = 254; i >= 0; i--) { /* r < 2^255 */
		bls_fp12_sqr(&acc, &acc);
		if (bls_scalar_bit(&bls_group_order, (unsigned)i))
			bls_fp12_mul(&acc, &acc, &a.v);
	}
	if (!bls_fp12_is_one(&acc))
		return -1;
	*r = a;
	return 0;
}

/* The entry of table[16] at index digit, by a masked scan of the whole table. */
static void gt_select(struct bls_fp12 *r, const struct bls_fp12 table[16], unsigned digit)
{
	*r = table[0];
	for (unsigned i = 1; i < 16; i++) {
		bool hit = i == digit;
		const struct bls_fp2 *src[6] = {&table[i].c0.c0, &table[i].c0.c1, &table[i].c0.c2,
			&table[i].c1.c0, &table[i].c1.c1, &table[i].c1.c2};
		struct bls_fp2 *dst[6] = {&r->c0.c0, &r->c0.c1, &r->c0.c2, &r->c1.c0, &r->c1.c1, &r->c1.c2};
		for (int j = 0; j < 6; j++)
			bls_fp2_cmov(dst[j], src[j], hit);
	}
}

/*
 * a^k b^m with 4-bit windows: 256 cyclotomic squarings shared by both, one
 * multiplication per window of each exponent. Constant time in a, b, k and
 * m: every window is processed and table entries are read by masked scans.
 * With b = NULL, a^k alone.
 */
void bls_gt_pow2(struct bls_gt *r, const struct bls_gt *a, const struct bls_scalar *k,
	const struct bls_gt *b, const struct bls_scalar *m)
{
	struct bls_fp12 ta[16], tb[16], acc, pick;
	int terms = b != NULL ? 2 : 1;
	bls_fp12_one(&ta[0]);
	ta[1] = a->v;
	for (int i = 2; i < 16; i++)
		bls_fp12_mul(&ta[i], &ta[i - 1], &a->v);
	if (terms == 2) {
		bls_fp12_one(&tb[0]);
		tb[1] = b->v;
		for (int i = 2; i < 16; i++)
			bls_fp12_mul(&tb[i], &tb[i - 1], &b->v);
	}
	bls_fp12_one(&acc);
	for (int w = 63; w >= 0; w--) {
		for (int i = 0; i < 4; i++)
			bls_fp12_cyclotomic_sqr(&acc, &acc);
		gt_select(&pick, ta, (unsigned)(k->limb[w / 16] >> ((w % 16) * 4)) & 15);
		bls_fp12_mul(&acc, &acc, &pick);
		if (terms == 2) {
			gt_select(&pick, tb, (unsigned)(m->limb[w / 16] >> ((w % 16) * 4)) & 15);
			bls_fp12_mul(&acc, &acc, &pick);
		}
	}
	r->v = acc;
	OPENSSL_cleanse(ta, sizeof ta);
	OPENSSL_cleanse(tb, sizeof tb);
	OPENSSL_cleanse(&acc, sizeof acc);
	OPENSSL_cleanse(&pick, sizeof pick);
}

/* e(g1, g2), Montgomery form; tests/fame/driver.c checks it against bls_pairing. */
static const struct bls_gt generator_pairing = {{
	{ /* c0 */
		{
		{{0x1972e433a01f85c5, 0x97d32b76fd772538, 0xc8ce546fc96bcdf9, 0xcef63e7366d40614, 0xa611342781843780, 0x13f3448a3fc6d825}},
		{{0xd26331b02e9d6995, 0x9d68a482f7797e7d, 0x9c9b29248d39ea92, 0xf4801ca2e13107aa, 0xa16c0732bdbcb066, 0x083ca4afba360478}},
		},
		{
		{{0x59e261db0916b641, 0x2716b6f4b23e960d, 0xc8e55b10a0bd9c45, 0x0bdb0bd99c4deda8, 0x8cf89ebf57fdaac5, 0x12d6b7929e777a5e}},
		{{0x5fc85188b0e15f35, 0x34a06e3a8f096365, 0xdb3126a6e02ad62c, 0xfc6f5aa97d9a990b, 0xa12f55f5eb89c210, 0x1723703a926f8889}},
		},
		{
		{{0x93588f2971828778, 0x43f65b8611ab7585, 0x3183aaf5ec279fdf, 0xfa73d7e18ac99df6, 0x64e176a6a64c99b0, 0x179fa78c58388f1f}},
		{{0x672a0a11ca2aef12, 0x0d11b9b52aa3f16b, 0xa44412d0699d056e, 0xc01d0177221a5ba5, 0x66e0cede6c735529, 0x05f5a71e9fddc339}},
		},
	},
	{ /* c1 */
		{
		{{0xd30a88a1b062c679, 0x5ac56a5d35fc8304, 0xd0c834a6a81f290d, 0xcd5430c2da3707c7, 0xf0c27ff780500af0, 0x09245da6e2d72eae}},
		{{0x9f2e0676791b5156, 0xe2d1c8234918fe13, 0x4c9e459f3c561bf4, 0xa3e85e53b9d3e3c1, 0x820a121e21a70020, 0x15af618341c59acc}},
		},
		{
		{{0x7c95658c24993ab1, 0x73eb38721ca886b9, 0x5256d749477434bc, 0x8ba41902ea504a8b, 0x04a3d3f80c86ce6d, 0x18a64a87fb686eaa}},
		{{0xbb83e71bb920cf26, 0x2a5277ac92a73945, 0xfc0ee59f94f046a0, 0x7158cdf3786058f7, 0x7cc1061b82f945f6, 0x03f847aa9fdbe567}},
		},
		{
		{{0x8078dba56134e657, 0x1cd7ec9a43998a6e, 0xb1aa599a1a993766, 0xc9a0f62f0842ee44, 0x8e159be3b605dffa, 0x0c86ba0d4af13fc2}},
		{{0xe80ff2a06a52ffb1, 0x7694ca48721a906c, 0x7583183e03b08514, 0xf567afdd40cee4e2, 0x9a6d96d2e526a5fc, 0x197e9f49861f2242}},
		},
	},
}};

void bls_gt_generator(struct bls_gt *r)
{
	*r = generator_pairing;
}
