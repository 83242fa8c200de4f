/*
 * KP-FAME (the paper's appendix B with k = 2): keys for policies,
 * ciphertexts for sets of attributes. With x_l and K0 as in cp.c:
 *
 *   key for span program M (rows i, columns j), with fresh sigma_i per row
 *   and sigma'_j per column j >= 2, e_i = sigma_i + sum_{j>=2} M_ij sigma'_j:
 *       K_i,t = g^(M_i1 d_t) prod_l (H(pi(i),l,t) prod_{j>=2} H(col j,l,t)^M_ij)^(x_l/a_t)
 *               g^(e_i/a_t)                                     (t = 1, 2),
 *       K_i,3 = g^(M_i1 d3) g^-e_i.
 *     Every column from the second on enters every row that has an entry
 *     there: leaving one out lets a key for "A and B" open ciphertexts for
 *     {A} alone (a flaw of a published implementation; tests/fame.bats
 *     checks it).
 *   ciphertext for attributes S, s1, s2 fresh:
 *       C0 as in cp.c, C_y,l = H(y,l,1)^s1 H(y,l,2)^s2 for y in S.
 *   decapsulation over rows I with sum M_i = (1, 0, ..., 0), where the
 *   column terms and the sigma'_j cancel:
 *       prod_t e(sum_I K_i,t, C0_t) / prod_l e(sum_I C_pi(i),l, K0_l).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "error.h"
#include "internal.h"

/*
 * Constant time in the master secret and the fresh randomness; the policy
 * (its attributes and its matrix) is public and decides which points are
 * added.
 */
int fame_kp_keygen(struct fame_kp_key **out, struct fame_public *pub,
	const struct fame_master *master, const struct fame_policy *policy)
{
	struct fame_kp_key *key;
	struct key_exponents e;
	struct hashed_points hp, col;
	size_t rows = policy->rows, columns = policy->columns;
	struct bls_scalar *sigma_column = xcalloc(columns, sizeof *sigma_column);
	struct bls_scalar sigma;
	int status;
	*out = NULL;
	if (memcmp(master->id, pub->id, FAME_ID_BYTES) != 0) {
		free(sigma_column);
		return FAME_ERR_PARAMS;
	}
	key = xcalloc(1, sizeof *key);
	memcpy(key->id, pub->id, FAME_ID_BYTES);
	key->row = xcalloc(rows, sizeof *key->row);
	/* The key keeps its own copy of the policy, parsed again from the canonical text. */
	if (fame_policy_parse(&key->policy, policy->text, strlen(policy->text), NULL) != FAME_OK) {
		status = FAME_ERR_POLICY;
		goto fail;
	}
	if ((status = key_randomness(&e, key->k0, master)) != FAME_OK)
		goto fail;
	for (size_t j = 1; j < columns; j++)
		if ((status = random_nonzero_scalar(&sigma_column[j])) != FAME_OK)
			goto fail;
	for (size_t i = 0; i < rows; i++) {
		const int8_t *m = policy->matrix + i * columns;
		if ((status = random_nonzero_scalar(&sigma)) != FAME_OK)
			goto fail;
		attribute_points(pub, policy->row_attribute[i], &hp);
		for (size_t j = 1; j < columns; j++) {
			if (m[j] == 0)
				continue;
			column_points(pub, j + 1, &col);
			for (int l = 0; l < 3; l++)
				for (int t = 0; t < 2; t++) {
					struct bls_g1 term = col.p[l][t];
					if (m[j] < 0)
						bls_g1_neg(&term, &term);
					bls_g1_add(&hp.p[l][t], &hp.p[l][t], &term);
				}
			if (m[j] < 0)
				bls_scalar_sub(&sigma, &sigma, &sigma_column[j]);
			else
				bls_scalar_add(&sigma, &sigma, &sigma_column[j]);
		}
		key_component(key->row[i], &hp, &e, &sigma);
		/* The first column carries the secret: g^(M_i1 d_t). (Lewko-Waters puts only 0 or 1 there.) */
		for (int t = 0; t < 3 && m[0] != 0; t++) {
			struct bls_g1 term = master->gd[t];
			if (m[0] < 0)
				bls_g1_neg(&term, &term);
			bls_g1_add(&key->row[i][t], &key->row[i][t], &term);
		}
	}
	status = FAME_OK;
	*out = key;
	key = NULL;
fail:
	OPENSSL_cleanse(&e, sizeof e);
	OPENSSL_cleanse(&sigma, sizeof sigma);
	OPENSSL_cleanse(sigma_column, columns * sizeof *sigma_column);
	free(sigma_column);
	fame_kp_key_free(key);
	return status;
}

void fame_kp_key_free(struct fame_kp_key *key)
{
	if (key == NULL)
		return;
	if (key->row != NULL && key->policy != NULL)
		OPENSSL_cleanse(key->row, key->policy->rows * sizeof *key->row);
	free(key->row);
	fame_policy_free(key->policy);
	OPENSSL_cleanse(key, sizeof *key);
	free(key);
}

/* Constant time in s1, s2 and the encapsulated element; the attribute names show. */
int fame_kp_encaps(uint8_t **ciphertext, size_t *ciphertext_len, uint8_t key[FAME_KEY_BYTES],
	struct fame_public *pub, const char *const *attributes, size_t count)
{
	struct attribute_set set;
	struct bls_scalar s[2];
	struct bls_gt k;
	struct bls_g2 c0[3];
	struct hashed_points hp;
	uint8_t digest[32];
	int status;
	*ciphertext = NULL;
	if ((status = attribute_set_from_list(&set, attributes, count)) != FAME_OK)
		goto out;
	if ((status = kem_randomness(s, &k, c0, pub)) != FAME_OK)
		goto out;
	for (size_t i = 0; i < set.count; i++) {
		attribute_points(pub, set.name[i], &hp);
		ciphertext_component(set.point[i], &hp, s);
	}
	if ((status = kp_ciphertext_encode(pub->id, &set, c0, ciphertext, ciphertext_len)) != FAME_OK ||
	    (status = sha256(digest, *ciphertext, *ciphertext_len)) != FAME_OK ||
	    (status = kem_derive(key, &k, digest)) != FAME_OK) {
		free(*ciphertext);
		*ciphertext = NULL;
	}
out:
	OPENSSL_cleanse(s, sizeof s);
	OPENSSL_cleanse(&k, sizeof k);
	attribute_set_free(&set);
	return status;
}

/* As fame_cp_decaps: the rows used depend on public data only. */
int fame_kp_decaps(uint8_t key[FAME_KEY_BYTES], const struct fame_public *pub,
	const struct fame_kp_key *sk, const struct fame_kp_ciphertext *ct)
{
	const struct fame_policy *policy = sk->policy;
	struct bls_g1 a[3], c[3];
	struct bls_gt k;
	int status;
	if (memcmp(sk->id, pub->id, FAME_ID_BYTES) != 0 || memcmp(ct->id, pub->id, FAME_ID_BYTES) != 0)
		return FAME_ERR_PARAMS;
	size_t *rows = xmalloc(policy->rows * sizeof *rows);
	size_t used = policy_satisfying_rows(policy, attribute_set_has, &ct->set, rows);
	if (used == 0) {
		free(rows);
		return FAME_ERR_NOT_SATISFIED;
	}
	for (int l = 0; l < 3; l++) {
		bls_g1_identity(&a[l]);
		bls_g1_identity(&c[l]);
	}
	for (size_t u = 0; u < used; u++) {
		size_t i = rows[u];
		long y = attribute_set_find(&ct->set, policy->row_attribute[i]);
		for (int l = 0; l < 3; l++) {
			bls_g1_add(&a[l], &a[l], &sk->row[i][l]);
			bls_g1_add(&c[l], &c[l], &ct->set.point[y][l]);
		}
	}
	free(rows);
	kem_pairings(&k, a, ct->c0, c, sk->k0);
	status = kem_derive(key, &k, ct->digest);
	OPENSSL_cleanse(a, sizeof a);
	OPENSSL_cleanse(&k, sizeof k);
	return status;
}
