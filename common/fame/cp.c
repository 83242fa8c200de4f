/*
 * CP-FAME (the paper's section 4 with k = 2): keys for sets of attributes,
 * ciphertexts for policies. H(x, l, t) is fame.c's hash; x_l below is
 * (b1 r1, b2 r2, r1 + r2) for l = 1, 2, 3.
 *
 *   key:  K0 = (h^x1, h^x2, h^x3); per attribute y, with a fresh sigma_y,
 *         K_y,t = prod_l H(y,l,t)^(x_l/a_t) g^(sigma_y/a_t)  (t = 1, 2),
 *         K_y,3 = g^-sigma_y; and with a fresh sigma',
 *         K'_t = g^d_t prod_l H(col 1,l,t)^(x_l/a_t) g^(sigma'/a_t),
 *         K'_3 = g^d3 g^-sigma'.
 *   ciphertext for span program M (rows i, columns j), s1, s2 fresh:
 *         C0 = (H1^s1, H2^s2, h^(s1+s2)),
 *         C_i,l = H(pi(i),l,1)^s1 H(pi(i),l,2)^s2
 *                 prod_j (H(col j,l,1)^s1 H(col j,l,2)^s2)^M_ij,
 *         and the encapsulated element T1^s1 T2^s2.
 *   decapsulation over rows I with sum M_i = (1, 0, ..., 0):
 *         prod_t e(K'_t sum_I K_pi(i),t, C0_t) / prod_l e(sum_I C_i,l, K0_l).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "error.h"
#include "internal.h"

int key_randomness(struct key_exponents *e, struct bls_g2 k0[3], const struct fame_master *master)
{
	struct bls_scalar r[2];
	struct bls_g2 h;
	int status;
	if ((status = random_nonzero_scalar(&r[0])) != FAME_OK ||
	    (status = random_nonzero_scalar(&r[1])) != FAME_OK)
		return status;
	bls_scalar_mul(&e->x[0], &master->b[0], &r[0]);
	bls_scalar_mul(&e->x[1], &master->b[1], &r[1]);
	bls_scalar_add(&e->x[2], &r[0], &r[1]);
	bls_g2_generator(&h);
	for (int l = 0; l < 3; l++)
		bls_g2_mul(&k0[l], &h, &e->x[l]);
	for (int t = 0; t < 2; t++) {
		bls_scalar_inv(&e->inv_a[t], &master->a[t]);
		for (int l = 0; l < 3; l++)
			bls_scalar_mul(&e->over[l][t], &e->x[l], &e->inv_a[t]);
	}
	OPENSSL_cleanse(r, sizeof r);
	return FAME_OK;
}

/*
 * out[t] = prod_l P_l,t^(x_l/a_t) g^(sigma/a_t) for t = 1, 2 and out[2] =
 * g^-sigma: one four-term multiplication for each t. Constant time.
 */
void key_component(struct bls_g1 out[3], const struct hashed_points *p,
	const struct key_exponents *e, const struct bls_scalar *sigma)
{
	struct bls_g1 base[4];
	struct bls_scalar k[4], neg;
	bls_g1_generator(&base[3]);
	for (int t = 0; t < 2; t++) {
		for (int l = 0; l < 3; l++) {
			base[l] = p->p[l][t];
			k[l] = e->over[l][t];
		}
		bls_scalar_mul(&k[3], sigma, &e->inv_a[t]);
		bls_g1_multi_mul(&out[t], base, k, 4);
	}
	bls_scalar_neg(&neg, sigma);
	bls_g1_mul(&out[2], &base[3], &neg);
	OPENSSL_cleanse(k, sizeof k);
	OPENSSL_cleanse(&neg, sizeof neg);
}

/* Constant time in the master secret and the fresh randomness; the attribute names show. */
int fame_cp_keygen(struct fame_cp_key **out, struct fame_public *pub,
	const struct fame_master *master, const char *const *attributes, size_t count)
{
	struct fame_cp_key *key;
	struct key_exponents e;
	struct hashed_points hp;
	struct bls_scalar sigma;
	int status;
	*out = NULL;
	if (memcmp(master->id, pub->id, FAME_ID_BYTES) != 0)
		return FAME_ERR_PARAMS;
	key = xcalloc(1, sizeof *key);
	memcpy(key->id, pub->id, FAME_ID_BYTES);
	if ((status = attribute_set_from_list(&key->set, attributes, count)) != FAME_OK ||
	    (status = key_randomness(&e, key->k0, master)) != FAME_OK)
		goto fail;
	for (size_t i = 0; i < key->set.count; i++) {
		if ((status = random_nonzero_scalar(&sigma)) != FAME_OK)
			goto fail;
		attribute_points(pub, key->set.name[i], &hp);
		key_component(key->set.point[i], &hp, &e, &sigma);
	}
	if ((status = random_nonzero_scalar(&sigma)) != FAME_OK)
		goto fail;
	column_points(pub, 1, &hp);
	key_component(key->kp, &hp, &e, &sigma);
	for (int t = 0; t < 3; t++)
		bls_g1_add(&key->kp[t], &key->kp[t], &master->gd[t]);
	OPENSSL_cleanse(&e, sizeof e);
	OPENSSL_cleanse(&sigma, sizeof sigma);
	*out = key;
	return FAME_OK;
fail:
	OPENSSL_cleanse(&e, sizeof e);
	OPENSSL_cleanse(&sigma, sizeof sigma);
	fame_cp_key_free(key);
	return status;
}

void fame_cp_key_free(struct fame_cp_key *key)
{
	if (key == NULL)
		return;
	attribute_set_free(&key->set);
	OPENSSL_cleanse(key, sizeof *key);
	free(key);
}

/* Per l: H(x,l,1)^s1 H(x,l,2)^s2, one two-term multiplication each. Constant time. */
void ciphertext_component(struct bls_g1 out[3], const struct hashed_points *p,
	const struct bls_scalar s[2])
{
	for (int l = 0; l < 3; l++)
		bls_g1_multi_mul(&out[l], p->p[l], s, 2);
}

/*
 * Constant time in s1, s2 and the encapsulated element. Each attribute's
 * term and each column's term is computed once; a row is its attribute's
 * term plus or minus the column terms its entries name (entries are 0 or
 * +-1), so a repeated attribute or a shared column costs additions only.
 */
int fame_cp_encaps(uint8_t **ciphertext, size_t *ciphertext_len, uint8_t key[FAME_KEY_BYTES],
	struct fame_public *pub, const struct fame_policy *policy)
{
	struct bls_scalar s[2];
	struct bls_gt k;
	struct bls_g2 c0[3];
	struct hashed_points hp;
	size_t rows = policy->rows, columns = policy->columns;
	struct bls_g1 (*row)[3] = xcalloc(rows, sizeof *row);
	struct bls_g1 (*column)[3] = xcalloc(columns, sizeof *column);
	bool *done = xcalloc(rows, sizeof *done);
	uint8_t digest[32];
	int status;
	*ciphertext = NULL;
	if ((status = kem_randomness(s, &k, c0, pub)) != FAME_OK)
		goto out;
	/* Attribute terms, shared by every row that names the same attribute. */
	for (size_t i = 0; i < rows; i++) {
		if (done[i])
			continue;
		attribute_points(pub, policy->row_attribute[i], &hp);
		ciphertext_component(row[i], &hp, s);
		for (size_t m = i + 1; m < rows; m++)
			if (!done[m] && strcmp(policy->row_attribute[m], policy->row_attribute[i]) == 0) {
				memcpy(row[m], row[i], sizeof row[i]);
				done[m] = true;
			}
		done[i] = true;
	}
	for (size_t j = 0; j < columns; j++) {
		column_points(pub, j + 1, &hp);
		ciphertext_component(column[j], &hp, s);
	}
	for (size_t i = 0; i < rows; i++)
		for (size_t j = 0; j < columns; j++) {
			int m = policy->matrix[i * columns + j];
			for (int l = 0; l < 3 && m != 0; l++) {
				struct bls_g1 term = column[j][l];
				if (m < 0)
					bls_g1_neg(&term, &term);
				bls_g1_add(&row[i][l], &row[i][l], &term);
			}
		}
	if ((status = cp_ciphertext_encode(pub->id, policy, c0, (const struct bls_g1 (*)[3])row,
			ciphertext, ciphertext_len)) != FAME_OK ||
	    (status = sha256(digest, *ciphertext, *ciphertext_len)) != FAME_OK ||
	    (status = kem_derive(key, &k, digest)) != FAME_OK) {
		free(*ciphertext);
		*ciphertext = NULL;
	}
out:
	OPENSSL_cleanse(s, sizeof s);
	OPENSSL_cleanse(&k, sizeof k);
	OPENSSL_cleanse(column, columns * sizeof *column);
	free(row);
	free(column);
	free(done);
	return status;
}

/*
 * Which rows are used depends only on the public policy and the key's
 * attribute names; the additions and the pairings are constant time in the
 * key's points.
 */
int fame_cp_decaps(uint8_t key[FAME_KEY_BYTES], const struct fame_public *pub,
	const struct fame_cp_key *sk, const struct fame_cp_ciphertext *ct)
{
	const struct fame_policy *policy = ct->policy;
	struct bls_g1 a[3], c[3];
	struct bls_gt k;
	int status;
	if (memcmp(sk->id, pub->id, FAME_ID_BYTES) != 0 || memcmp(ct->id, pub->id, FAME_ID_BYTES) != 0)
		return FAME_ERR_PARAMS;
	size_t *rows = xmalloc(policy->rows * sizeof *rows);
	size_t used = policy_satisfying_rows(policy, attribute_set_has, &sk->set, rows);
	if (used == 0) {
		free(rows);
		return FAME_ERR_NOT_SATISFIED;
	}
	for (int l = 0; l < 3; l++) {
		a[l] = sk->kp[l];
		bls_g1_identity(&c[l]);
	}
	for (size_t u = 0; u < used; u++) {
		size_t i = rows[u];
		long y = attribute_set_find(&sk->set, policy->row_attribute[i]);
		for (int l = 0; l < 3; l++) {
			bls_g1_add(&a[l], &a[l], &sk->set.point[y][l]);
			bls_g1_add(&c[l], &c[l], &ct->row[i][l]);
		}
	}
	free(rows);
	kem_pairings(&k, a, ct->c0, c, sk->k0);
	status = kem_derive(key, &k, ct->digest);
	OPENSSL_cleanse(a, sizeof a);
	OPENSSL_cleanse(&k, sizeof k);
	return status;
}
