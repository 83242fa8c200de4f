/*
 * FAME set-up, the cache of hashed points, attribute sets and the helpers
 * the CP and KP files share.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "error.h"
#include "internal.h"

static const char hash_dst[] = "SMQTT-FAME-V1_BLS12381G1_XMD:SHA-256_SSWU_RO_";
/* Enough for the attributes and columns of many policies; past it, points are hashed each time. */
#define CACHE_MAX 4096

const char *fame_strerror(int status)
{
	switch (status) {
	case FAME_OK: return "success";
	case FAME_ERR_DECODE: return "malformed encoding";
	case FAME_ERR_PARAMS: return "made for other public parameters";
	case FAME_ERR_NOT_SATISFIED: return "the key does not satisfy the policy";
	case FAME_ERR_AUTH: return "authentication failed";
	case FAME_ERR_POLICY: return "bad policy";
	case FAME_ERR_ATTRIBUTE: return "bad attribute list";
	case FAME_ERR_SYSTEM: return "random generator or OpenSSL failure";
	default: return "unknown error";
	}
}

int random_nonzero_scalar(struct bls_scalar *s)
{
	do {
		if (bls_scalar_random(s) != 0)
			return FAME_ERR_SYSTEM;
	} while (bls_scalar_is_zero(s));
	return FAME_OK;
}

/*
 * The message of fame.h's HASHING section: four fields, each a 2-byte
 * length and its bytes. Constant time in the attribute's bytes (it may be
 * private); its length shows.
 */
static void hash_fields(struct bls_g1 *r, const char *kind, const uint8_t *value, size_t value_len,
	unsigned l, unsigned t)
{
	uint8_t msg[2 + 4 + 2 + FAME_ATTRIBUTE_MAX + 2 + 1 + 2 + 1];
	size_t n = 0, kind_len = strlen(kind);
	msg[n++] = 0;
	msg[n++] = (uint8_t)kind_len;
	memcpy(msg + n, kind, kind_len);
	n += kind_len;
	msg[n++] = (uint8_t)(value_len >> 8);
	msg[n++] = (uint8_t)value_len;
	memcpy(msg + n, value, value_len);
	n += value_len;
	msg[n++] = 0;
	msg[n++] = 1;
	msg[n++] = (uint8_t)l;
	msg[n++] = 0;
	msg[n++] = 1;
	msg[n++] = (uint8_t)t;
	if (bls_hash_to_g1(r, msg, n, (const uint8_t *)hash_dst, sizeof hash_dst - 1) != 0)
		die(EXIT_SYSTEM, "FAME: SHA-256 failed");
}

static void hash_attribute(struct hashed_points *out, const char *name)
{
	for (unsigned l = 1; l <= 3; l++)
		for (unsigned t = 1; t <= 2; t++)
			hash_fields(&out->p[l - 1][t - 1], "attr", (const uint8_t *)name, strlen(name), l, t);
}

static void hash_column(struct hashed_points *out, size_t j)
{
	uint8_t index[2] = {(uint8_t)(j >> 8), (uint8_t)j};
	for (unsigned l = 1; l <= 3; l++)
		for (unsigned t = 1; t <= 2; t++)
			hash_fields(&out->p[l - 1][t - 1], "col", index, sizeof index, l, t);
}

void attribute_points(struct fame_public *pub, const char *name, struct hashed_points *out)
{
	for (size_t i = 0; i < pub->attributes; i++)
		if (strcmp(pub->attribute[i].name, name) == 0) {
			*out = pub->attribute[i].points;
			return;
		}
	hash_attribute(out, name);
	if (pub->attributes == CACHE_MAX)
		return;
	if (pub->attributes == pub->attribute_capacity) {
		pub->attribute_capacity = pub->attribute_capacity ? 2 * pub->attribute_capacity : 32;
		pub->attribute = xrealloc(pub->attribute, pub->attribute_capacity * sizeof *pub->attribute);
	}
	pub->attribute[pub->attributes].name = xstrdup(name);
	pub->attribute[pub->attributes].points = *out;
	pub->attributes++;
}

void column_points(struct fame_public *pub, size_t j, struct hashed_points *out)
{
	if (j <= pub->columns) {
		*out = pub->column[j - 1];
		return;
	}
	if (j > FAME_ROWS_MAX) {
		hash_column(out, j);
		return;
	}
	pub->column = xrealloc(pub->column, j * sizeof *pub->column);
	for (size_t k = pub->columns + 1; k <= j; k++)
		hash_column(&pub->column[k - 1], k);
	pub->columns = j;
	*out = pub->column[j - 1];
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int attribute_set_from_list(struct attribute_set *set, const char *const *names, size_t count)
{
	memset(set, 0, sizeof *set);
	if (count == 0 || count > FAME_ROWS_MAX)
		return FAME_ERR_ATTRIBUTE;
	for (size_t i = 0; i < count; i++)
		if (names[i] == NULL || !fame_attribute_valid(names[i], strlen(names[i])))
			return FAME_ERR_ATTRIBUTE;
	char **sorted = xmalloc(count * sizeof *sorted);
	for (size_t i = 0; i < count; i++)
		sorted[i] = (char *)names[i];
	qsort(sorted, count, sizeof *sorted, compare_names);
	set->name = xmalloc(count * sizeof *set->name);
	for (size_t i = 0; i < count; i++)
		if (set->count == 0 || strcmp(set->name[set->count - 1], sorted[i]) != 0)
			set->name[set->count++] = xstrdup(sorted[i]);
	free(sorted);
	set->point = xcalloc(set->count, sizeof *set->point);
	return FAME_OK;
}

long attribute_set_find(const struct attribute_set *set, const char *name)
{
	size_t lo = 0, hi = set->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(set->name[mid], name);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

bool attribute_set_has(const void *set, const char *name)
{
	return attribute_set_find(set, name) >= 0;
}

void attribute_set_free(struct attribute_set *set)
{
	for (size_t i = 0; i < set->count; i++)
		free(set->name[i]);
	free(set->name);
	if (set->point != NULL)
		OPENSSL_cleanse(set->point, set->count * sizeof *set->point);
	free(set->point);
	memset(set, 0, sizeof *set);
}

/*
 * Set-up: a1, a2, b1, b2, d1, d2, d3 at random; H_t = h^a_t, T_t =
 * e(g, h)^(d_t a_t + d3), the master secret keeping g^d_t. Constant time:
 * fixed sequences of constant-time multiplications and exponentiations.
 */
int fame_setup(struct fame_public **pub_out, struct fame_master **master_out)
{
	struct fame_public *pub = xcalloc(1, sizeof *pub);
	struct fame_master *master = xcalloc(1, sizeof *master);
	struct bls_scalar d[3], x;
	struct bls_g1 g;
	struct bls_g2 h;
	struct bls_gt e;
	int status = FAME_OK;
	*pub_out = NULL;
	*master_out = NULL;
	for (int i = 0; i < 2 && status == FAME_OK; i++) {
		status = random_nonzero_scalar(&master->a[i]);
		if (status == FAME_OK)
			status = random_nonzero_scalar(&master->b[i]);
	}
	for (int i = 0; i < 3 && status == FAME_OK; i++)
		status = random_nonzero_scalar(&d[i]);
	if (status != FAME_OK)
		goto out;
	bls_g1_generator(&g);
	bls_g2_generator(&h);
	bls_gt_generator(&e);
	for (int t = 0; t < 2; t++) {
		bls_g2_mul(&pub->H[t], &h, &master->a[t]);
		bls_scalar_mul(&x, &d[t], &master->a[t]);
		bls_scalar_add(&x, &x, &d[2]);
		bls_gt_pow2(&pub->T[t], &e, &x, NULL, NULL);
	}
	for (int i = 0; i < 3; i++)
		bls_g1_mul(&master->gd[i], &g, &d[i]);
	uint8_t *enc;
	size_t len;
	if ((status = fame_public_encode(pub, &enc, &len)) != FAME_OK)
		goto out;
	status = sha256(pub->id, enc, len);
	free(enc);
	memcpy(master->id, pub->id, FAME_ID_BYTES);
out:
	OPENSSL_cleanse(d, sizeof d);
	OPENSSL_cleanse(&x, sizeof x);
	if (status != FAME_OK) {
		fame_public_free(pub);
		fame_master_free(master);
		return status;
	}
	*pub_out = pub;
	*master_out = master;
	return FAME_OK;
}

const uint8_t *fame_public_id(const struct fame_public *pub)
{
	return pub->id;
}

const uint8_t *fame_master_id(const struct fame_master *master)
{
	return master->id;
}

void fame_public_free(struct fame_public *pub)
{
	if (pub == NULL)
		return;
	for (size_t i = 0; i < pub->attributes; i++)
		free(pub->attribute[i].name);
	free(pub->attribute);
	free(pub->column);
	free(pub->c0_table);
	free(pub);
}

void fame_master_free(struct fame_master *master)
{
	if (master == NULL)
		return;
	OPENSSL_cleanse(master, sizeof *master);
	free(master);
}
