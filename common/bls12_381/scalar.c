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

/*
 * Arithmetic modulo r. Constant time: carries and borrows are masks, the
 * multiplication is a fixed Montgomery product, the inversion a fixed
 * exponentiation (Fermat, r - 2), so secret scalars (FAME's master key and
 * the randomness of key generation) leave no trace in the timing.
 */

/* -r^-1 mod 2^64 and 2^512 mod r, for Montgomery multiplication with R = 2^256. */
#define R_INV 0xfffffffeffffffffULL
static const uint64_t r_squared[4] = {
	0xc999e990f3f29c6d, 0x2b6cedcb87925c23, 0x05d314967254398f, 0x0748d9d99f59ff11,
};
static const uint64_t r_minus_2[4] = {
	0xfffffffeffffffff, 0x53bda402fffe5bfe, 0x3339d80809a1d805, 0x73eda753299d7d48,
};

/* r = t - r if t >= r, else t, for t < 2r (which fits four limbs: r < 2^255). */
static void scalar_reduce_once(struct bls_scalar *out, const uint64_t t[4])
{
	uint64_t d[4], borrow = 0;
	for (int i = 0; i < 4; i++) {
		u128 x = (u128)t[i] - bls_group_order.limb[i] - borrow;
		d[i] = (uint64_t)x;
		borrow = (uint64_t)(x >> 64) & 1;
	}
	uint64_t keep = 0 - borrow;
	for (int i = 0; i < 4; i++)
		out->limb[i] = (t[i] & keep) | (d[i] & ~keep);
}

void bls_scalar_add(struct bls_scalar *out, const struct bls_scalar *a, const struct bls_scalar *b)
{
	uint64_t t[4], carry = 0;
	for (int i = 0; i < 4; i++) {
		u128 x = (u128)a->limb[i] + b->limb[i] + carry;
		t[i] = (uint64_t)x;
		carry = (uint64_t)(x >> 64);
	}
	scalar_reduce_once(out, t);
}

void bls_scalar_sub(struct bls_scalar *out, const struct bls_scalar *a, const struct bls_scalar *b)
{
	uint64_t t[4], borrow = 0, carry = 0;
	for (int i = 0; i < 4; i++) {
		u128 x = (u128)a->limb[i] - b->limb[i] - borrow;
		t[i] = (uint64_t)x;
		borrow = (uint64_t)(x >> 64) & 1;
	}
	uint64_t mask = 0 - borrow;
	for (int i = 0; i < 4; i++) {
		u128 x = (u128)t[i] + (bls_group_order.limb[i] & mask) + carry;
		out->limb[i] = (uint64_t)x;
		carry = (uint64_t)(x >> 64);
	}
}

void bls_scalar_neg(struct bls_scalar *out, const struct bls_scalar *a)
{
	struct bls_scalar zero = {{0, 0, 0, 0}};
	bls_scalar_sub(out, &zero, a);
}

/* a b 2^-256 mod r. */
static void scalar_montgomery(uint64_t out[4], const uint64_t a[4], const uint64_t b[4])
{
	uint64_t t[6] = {0};
	for (int i = 0; i < 4; i++) {
		uint64_t carry = 0;
		for (int j = 0; j < 4; j++) {
			u128 x = (u128)a[j] * b[i] + t[j] + carry;
			t[j] = (uint64_t)x;
			carry = (uint64_t)(x >> 64);
		}
		u128 x = (u128)t[4] + carry;
		t[4] = (uint64_t)x;
		t[5] = (uint64_t)(x >> 64);

		uint64_t m = t[0] * R_INV;
		x = (u128)m * bls_group_order.limb[0] + t[0];
		carry = (uint64_t)(x >> 64);
		for (int j = 1; j < 4; j++) {
			x = (u128)m * bls_group_order.limb[j] + t[j] + carry;
			t[j - 1] = (uint64_t)x;
			carry = (uint64_t)(x >> 64);
		}
		x = (u128)t[4] + carry;
		t[3] = (uint64_t)x;
		t[4] = t[5] + (uint64_t)(x >> 64);
	}
	/* Below 2r < 2^256: t[4] is zero. */
	struct bls_scalar reduced;
	scalar_reduce_once(&reduced, t);
	memcpy(out, reduced.limb, sizeof reduced.limb);
}

/* Two Montgomery products: (a b 2^-256) (2^512) 2^-256 = a b. */
void bls_scalar_mul(struct bls_scalar *out, const struct bls_scalar *a, const struct bls_scalar *b)
{
	uint64_t t[4];
	scalar_montgomery(t, a->limb, b->limb);
	scalar_montgomery(out->limb, t, r_squared);
}

/* a^(r-2) = a^-1 (Fermat); 0 maps to 0. The exponent is public and fixed. */
void bls_scalar_inv(struct bls_scalar *out, const struct bls_scalar *a)
{
	struct bls_scalar acc = {{1, 0, 0, 0}};
	for (int i = 255; i >= 0; i--) {
		bls_scalar_mul(&acc, &acc, &acc);
		if ((r_minus_2[i / 64] >> (i % 64)) & 1)
			bls_scalar_mul(&acc, &acc, a);
	}
	*out = acc;
}

bool bls_scalar_is_zero(const struct bls_scalar *a)
{
	return (a->limb[0] | a->limb[1] | a->limb[2] | a->limb[3]) == 0;
}

bool bls_scalar_equal(const struct bls_scalar *a, const struct bls_scalar *b)
{
	uint64_t acc = 0;
	for (int i = 0; i < 4; i++)
		acc |= a->limb[i] ^ b->limb[i];
	return acc == 0;
}

void bls_scalar_from_u64(struct bls_scalar *out, uint64_t v)
{
	out->limb[0] = v;
	out->limb[1] = out->limb[2] = out->limb[3] = 0;
}

bool bls_scalar_bit(const struct bls_scalar *k, unsigned i)
{
	return (k->limb[i / 64] >> (i % 64)) & 1;
}
