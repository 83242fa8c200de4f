/*
 * Several scalar multiplications in G1 summed, [k0]P0 + ... + [kn-1]Pn-1,
 * by Straus's method: one chain of doublings shared by every term, a 4-bit
 * window of each scalar added at each step. For two terms it costs about
 * 60% of two separate multiplications; FAME's encryption and key generation
 * are made of such sums.
 *
 * Constant time in the scalars and the points: every window of every scalar
 * is processed (a zero window adds the identity, which the complete formula
 * handles like any other point), and each table entry is read by a masked
 * scan of the whole table. Only n, which is public, decides the work done.
 */
#include <openssl/crypto.h>

#include "internal.h"

void bls_g1_multi_mul(struct bls_g1 *r, const struct bls_g1 *p, const struct bls_scalar *k, size_t n)
{
	struct bls_g1 table[BLS_G1_MULTI_MAX][16], acc, pick;
	if (n > BLS_G1_MULTI_MAX)
		n = BLS_G1_MULTI_MAX;
	for (size_t t = 0; t < n; t++) {
		bls_g1_identity(&table[t][0]);
		table[t][1] = p[t];
		for (int i = 2; i < 16; i++)
			bls_g1_add(&table[t][i], &table[t][i - 1], &p[t]);
	}
	bls_g1_identity(&acc);
	for (int w = 63; w >= 0; w--) {
		for (int i = 0; i < 4; i++)
			bls_g1_double(&acc, &acc);
		for (size_t t = 0; t < n; t++) {
			unsigned digit = (unsigned)(k[t].limb[w / 16] >> ((w % 16) * 4)) & 15;
			pick = table[t][0];
			for (unsigned i = 1; i < 16; i++) {
				bool hit = i == digit;
				bls_fp_cmov(&pick.x, &table[t][i].x, hit);
				bls_fp_cmov(&pick.y, &table[t][i].y, hit);
				bls_fp_cmov(&pick.z, &table[t][i].z, hit);
			}
			bls_g1_add(&acc, &acc, &pick);
		}
	}
	*r = acc;
	OPENSSL_cleanse(table, sizeof table);
	OPENSSL_cleanse(&acc, sizeof acc);
	OPENSSL_cleanse(&pick, sizeof pick);
}
