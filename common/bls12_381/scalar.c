/* Scalars: integers modulo r, the prime order of G1, G2 and GT. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "internal.h"

__extension__ typedef unsigned __int128 u128;

const struct bls_scalar bls_group_order = {{
	0xffffffff00000001, 0x53bda402fffe5bfe, 0x3339d80809a1d805, 0x73eda753299d7d48,
}};

/* Constant time: whether s < r, by the borrow of s - r over all limbs. */
static bool below_order(const struct bls_scalar *s)
{
	uint64_t borrow = 0;
	for (int i = 0; i < 4; i++) {
		u128 d = (u128)s->limb[i] - bls_group_order.limb[i] - borrow;
		borrow = (uint64_t)(d >> 64) & 1;
	}
	return borrow;
}

static void scalar_load(struct bls_scalar *s, const uint8_t in[BLS_SCALAR_BYTES])
{
	for (int i = 0; i < 4; i++) {
		uint64_t w = 0;
		for (int j = 0; j < 8; j++)
			w = (w << 8) | in[(3 - i) * 8 + j];
		s->limb[i] = w;
	}
}

int bls_scalar_from_bytes(struct bls_scalar *s, const uint8_t in[BLS_SCALAR_BYTES])
{
	struct bls_scalar t;
	scalar_load(&t, in);
	if (!below_order(&t))
		return -1;
	*s = t;
	return 0;
}

void bls_scalar_to_bytes(uint8_t out[BLS_SCALAR_BYTES], const struct bls_scalar *s)
{
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 8; j++)
			out[(3 - i) * 8 + j] = (uint8_t)(s->limb[i] >> (56 - 8 * j));
}

/*
 * Rejection sampling: r < 2^255, so 255 random bits fall below r with
 * probability r / 2^255 > 0.9, and an accepted value is uniform on [0, r).
 * The number of rounds leaks only how many rejected candidates were drawn,
 * which are thrown away.
 */
int bls_scalar_random(struct bls_scalar *s)
{
	uint8_t buf[BLS_SCALAR_BYTES];
	struct bls_scalar t;
	for (;;) {
		if (RAND_priv_bytes(buf, sizeof buf) != 1)
			return -1;
		buf[0] &= 0x7f;
		scalar_load(&t, buf);
		if (below_order(&t))
			break;
	}
	*s = t;
	OPENSSL_cleanse(buf, sizeof buf);
	OPENSSL_cleanse(&t, sizeof t);
	return 0;
}

bool bls_scalar_bit(const struct bls_scalar *k, unsigned i)
{
	return (k->limb[i / 64] >> (i % 64)) & 1;
}
