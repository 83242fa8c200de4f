/*
 * The key encapsulation shared by CP and KP: the randomness of a capsule,
 * the six pairings of decapsulation, the key derivation (HKDF-SHA256) and
 * the AEAD (AES-256-GCM), the last two through OpenSSL.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "error.h"
#include "internal.h"

static const char kem_label[] = "SMQTT-FAME-V1 KEM";

int sha256(uint8_t digest[32], const uint8_t *in, size_t len)
{
	unsigned int n = 0;
	if (EVP_Digest(in, len, digest, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return FAME_ERR_SYSTEM;
	return FAME_OK;
}

/* Constant time as far as OpenSSL's HKDF is: no branch on the secret here. */
int kem_derive(uint8_t key[FAME_KEY_BYTES], const struct bls_gt *k, const uint8_t digest[32])
{
	uint8_t ikm[BLS_GT_BYTES], info[sizeof kem_label - 1 + 32];
	int status = FAME_ERR_SYSTEM;
	bls_gt_encode(ikm, k);
	memcpy(info, kem_label, sizeof kem_label - 1);
	memcpy(info + sizeof kem_label - 1, digest, 32);
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	if (ctx != NULL) {
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
			OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm, sizeof ikm),
			OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info),
			OSSL_PARAM_construct_end(),
		};
		if (EVP_KDF_derive(ctx, key, FAME_KEY_BYTES, params) == 1)
			status = FAME_OK;
	}
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	OPENSSL_cleanse(ikm, sizeof ikm);
	return status;
}

/* Constant time in s1, s2: constant-time multiplications and exponentiation. */
int kem_randomness(struct bls_scalar s[2], struct bls_gt *k, struct bls_g2 c0[3],
	struct fame_public *pub)
{
	struct bls_scalar sum;
	int status;
	if ((status = random_nonzero_scalar(&s[0])) != FAME_OK ||
	    (status = random_nonzero_scalar(&s[1])) != FAME_OK)
		return status;
	/* H1, H2 and h are the same for every capsule: a table each (about 2.5 ms to fill, once). */
	if (pub->c0_table == NULL) {
		struct bls_g2 h;
		bls_g2_generator(&h);
		pub->c0_table = xmalloc(3 * sizeof *pub->c0_table);
		bls_g2_table_init(&pub->c0_table[0], &pub->H[0]);
		bls_g2_table_init(&pub->c0_table[1], &pub->H[1]);
		bls_g2_table_init(&pub->c0_table[2], &h);
	}
	bls_g2_mul_table(&c0[0], &pub->c0_table[0], &s[0]);
	bls_g2_mul_table(&c0[1], &pub->c0_table[1], &s[1]);
	bls_scalar_add(&sum, &s[0], &s[1]);
	bls_g2_mul_table(&c0[2], &pub->c0_table[2], &sum);
	bls_gt_pow2(k, &pub->T[0], &s[0], &pub->T[1], &s[1]);
	OPENSSL_cleanse(&sum, sizeof sum);
	return FAME_OK;
}

/*
 * One Miller loop over six pairs and one final exponentiation. Constant
 * time in the G1 points (the key's sums) apart from the pairing's identity
 * test, which no honest key meets.
 */
void kem_pairings(struct bls_gt *k, const struct bls_g1 a[3], const struct bls_g2 c0[3],
	const struct bls_g1 c[3], const struct bls_g2 k0[3])
{
	struct bls_g1 p[6];
	struct bls_g2 q[6];
	for (int i = 0; i < 3; i++) {
		p[i] = a[i];
		q[i] = c0[i];
		bls_g1_neg(&p[3 + i], &c[i]);
		q[3 + i] = k0[i];
	}
	bls_multi_pairing(k, p, q, 6);
	OPENSSL_cleanse(p, sizeof p);
}

int fame_seal(uint8_t *out, const uint8_t key[FAME_KEY_BYTES], const uint8_t *nonce,
	const uint8_t *aad, size_t aad_len, const uint8_t *plaintext, size_t len)
{
	int status = FAME_ERR_SYSTEM, n = 0;
	if (len > (size_t)1 << 30 || aad_len > (size_t)1 << 30)
		return FAME_ERR_SYSTEM;
	if (nonce != NULL)
		memcpy(out, nonce, FAME_NONCE_BYTES);
	else if (RAND_bytes(out, FAME_NONCE_BYTES) != 1)
		return FAME_ERR_SYSTEM;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (ctx != NULL &&
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out) == 1 &&
	    (aad_len == 0 || EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1) &&
	    (len == 0 || EVP_EncryptUpdate(ctx, out + FAME_NONCE_BYTES, &n, plaintext, (int)len) == 1) &&
	    EVP_EncryptFinal_ex(ctx, out + FAME_NONCE_BYTES + n, &n) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, FAME_TAG_BYTES,
		    out + FAME_NONCE_BYTES + len) == 1)
		status = FAME_OK;
	EVP_CIPHER_CTX_free(ctx);
	return status;
}

int fame_open(uint8_t *out, const uint8_t key[FAME_KEY_BYTES],
	const uint8_t *aad, size_t aad_len, const uint8_t *sealed, size_t len)
{
	int status = FAME_ERR_AUTH, n = 0;
	uint8_t tag[FAME_TAG_BYTES];
	if (len < FAME_SEAL_OVERHEAD || len > ((size_t)1 << 30) || aad_len > (size_t)1 << 30)
		return FAME_ERR_AUTH;
	size_t body = len - FAME_SEAL_OVERHEAD;
	memcpy(tag, sealed + len - FAME_TAG_BYTES, sizeof tag);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return FAME_ERR_SYSTEM;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, sealed) == 1 &&
	    (aad_len == 0 || EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1) &&
	    (body == 0 || EVP_DecryptUpdate(ctx, out, &n, sealed + FAME_NONCE_BYTES, (int)body) == 1) &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, FAME_TAG_BYTES, tag) == 1 &&
	    EVP_DecryptFinal_ex(ctx, out + n, &n) == 1)
		status = FAME_OK;
	EVP_CIPHER_CTX_free(ctx);
	if (status != FAME_OK && body > 0)
		OPENSSL_cleanse(out, body);
	return status;
}
