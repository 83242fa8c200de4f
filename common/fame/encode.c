/*
 * The binary encodings of fame.h's ENCODINGS section. Writers grow a buffer;
 * readers take exactly the bytes given, refusing anything short, long,
 * out of bounds or not canonical (FAME_ERR_DECODE). Decoding is variable
 * time (point decompression and subgroup checks): encodings of keys are
 * secret, but whether they decode is not, and the checks depend on the
 * point's validity, not on its discrete logarithm.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "error.h"
#include "internal.h"

struct writer { uint8_t *buf; size_t len, cap; };

static void put(struct writer *w, const void *p, size_t n)
{
	if (w->len + n > w->cap) {
		while (w->len + n > w->cap)
			w->cap = w->cap ? 2 * w->cap : 1024;
		w->buf = xrealloc(w->buf, w->cap);
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_u8(struct writer *w, unsigned v)
{
	uint8_t b = (uint8_t)v;
	put(w, &b, 1);
}

static void put_u16(struct writer *w, size_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	put(w, b, 2);
}

static void put_header(struct writer *w, enum fame_type type)
{
	put(w, FAME_MAGIC, 4);
	put_u8(w, FAME_VERSION);
	put_u8(w, type);
}

static void put_g1(struct writer *w, const struct bls_g1 *p)
{
	uint8_t b[BLS_G1_BYTES];
	bls_g1_encode(b, p);
	put(w, b, sizeof b);
}

static void put_g2(struct writer *w, const struct bls_g2 *p)
{
	uint8_t b[BLS_G2_BYTES];
	bls_g2_encode(b, p);
	put(w, b, sizeof b);
}

static void put_name(struct writer *w, const char *name)
{
	size_t n = strlen(name);
	put_u8(w, (unsigned)n);
	put(w, name, n);
}

static void put_text(struct writer *w, const char *text)
{
	size_t n = strlen(text);
	put_u16(w, n);
	put(w, text, n);
}

static int finish(struct writer *w, uint8_t **out, size_t *len)
{
	*out = w->buf;
	*len = w->len;
	return FAME_OK;
}

struct reader { const uint8_t *p; size_t left; bool bad; };

static const uint8_t *take(struct reader *r, size_t n)
{
	if (r->bad || r->left < n) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *at = r->p;
	r->p += n;
	r->left -= n;
	return at;
}

static size_t get_u8(struct reader *r)
{
	const uint8_t *b = take(r, 1);
	return b ? b[0] : 0;
}

static size_t get_u16(struct reader *r)
{
	const uint8_t *b = take(r, 2);
	return b ? (size_t)b[0] << 8 | b[1] : 0;
}

static void get_header(struct reader *r, enum fame_type type)
{
	const uint8_t *b = take(r, FAME_HEADER_BYTES);
	if (b != NULL && (memcmp(b, FAME_MAGIC, 4) != 0 || b[4] != FAME_VERSION || b[5] != type))
		r->bad = true;
}

static void get_id(struct reader *r, uint8_t id[FAME_ID_BYTES])
{
	const uint8_t *b = take(r, FAME_ID_BYTES);
	if (b != NULL)
		memcpy(id, b, FAME_ID_BYTES);
}

/* A point of G1 other than the identity. */
static void get_g1(struct reader *r, struct bls_g1 *p)
{
	const uint8_t *b = take(r, BLS_G1_BYTES);
	if (b != NULL && (bls_g1_decode(p, b) != 0 || bls_g1_is_identity(p)))
		r->bad = true;
}

static void get_g2(struct reader *r, struct bls_g2 *p)
{
	const uint8_t *b = take(r, BLS_G2_BYTES);
	if (b != NULL && (bls_g2_decode(p, b) != 0 || bls_g2_is_identity(p)))
		r->bad = true;
}

/* An element of GT other than one. */
static void get_gt(struct reader *r, struct bls_gt *a)
{
	const uint8_t *b = take(r, BLS_GT_BYTES);
	if (b != NULL && (bls_gt_decode(a, b) != 0 || bls_gt_is_one(a)))
		r->bad = true;
}

/* A nonzero scalar below r. */
static void get_scalar(struct reader *r, struct bls_scalar *s)
{
	const uint8_t *b = take(r, BLS_SCALAR_BYTES);
	if (b != NULL && (bls_scalar_from_bytes(s, b) != 0 || bls_scalar_is_zero(s)))
		r->bad = true;
}

/* An attribute name, malloc'd; NULL if bad. */
static char *get_name(struct reader *r)
{
	size_t n = get_u8(r);
	const uint8_t *b = take(r, n);
	if (b == NULL || !fame_attribute_valid((const char *)b, n)) {
		r->bad = true;
		return NULL;
	}
	char *name = xmalloc(n + 1);
	memcpy(name, b, n);
	name[n] = '\0';
	return name;
}

/* A policy in canonical text; NULL if bad. */
static struct fame_policy *get_policy(struct reader *r)
{
	size_t n = get_u16(r);
	const uint8_t *b = take(r, n);
	struct fame_policy *policy;
	if (b == NULL || fame_policy_parse(&policy, (const char *)b, n, NULL) != FAME_OK) {
		r->bad = true;
		return NULL;
	}
	if (strlen(policy->text) != n || memcmp(policy->text, b, n) != 0) {
		fame_policy_free(policy);
		r->bad = true;
		return NULL;
	}
	return policy;
}

/* A set of names strictly increasing, each with three points. */
static void get_attribute_set(struct reader *r, struct attribute_set *set)
{
	size_t count = get_u16(r);
	if (r->bad || count == 0 || count > FAME_ROWS_MAX) {
		r->bad = true;
		return;
	}
	set->name = xcalloc(count, sizeof *set->name);
	set->point = xcalloc(count, sizeof *set->point);
	for (size_t i = 0; i < count && !r->bad; i++) {
		char *name = get_name(r);
		if (name == NULL)
			break;
		set->name[set->count++] = name;
		if (i > 0 && strcmp(set->name[i - 1], name) >= 0)
			r->bad = true;
		for (int l = 0; l < 3; l++)
			get_g1(r, &set->point[i][l]);
	}
}

static void put_attribute_set(struct writer *w, const struct attribute_set *set)
{
	put_u16(w, set->count);
	for (size_t i = 0; i < set->count; i++) {
		put_name(w, set->name[i]);
		for (int l = 0; l < 3; l++)
			put_g1(w, &set->point[i][l]);
	}
}

static bool done(struct reader *r)
{
	return !r->bad && r->left == 0;
}

int fame_object_id(uint8_t id[FAME_ID_BYTES], const uint8_t *in, size_t len)
{
	if (len < FAME_HEADER_BYTES + FAME_ID_BYTES || memcmp(in, FAME_MAGIC, 4) != 0 ||
	    in[4] != FAME_VERSION || in[5] < FAME_TYPE_MASTER || in[5] > FAME_TYPE_KP_CIPHERTEXT)
		return FAME_ERR_DECODE;
	memcpy(id, in + FAME_HEADER_BYTES, FAME_ID_BYTES);
	return FAME_OK;
}

/* Public parameters. */
int fame_public_encode(const struct fame_public *pub, uint8_t **out, size_t *len)
{
	struct writer w = {0};
	uint8_t b[BLS_GT_BYTES];
	put_header(&w, FAME_TYPE_PUBLIC);
	put_g2(&w, &pub->H[0]);
	put_g2(&w, &pub->H[1]);
	for (int t = 0; t < 2; t++) {
		bls_gt_encode(b, &pub->T[t]);
		put(&w, b, sizeof b);
	}
	return finish(&w, out, len);
}

int fame_public_decode(struct fame_public **out, const uint8_t *in, size_t len)
{
	struct reader r = {in, len, false};
	struct fame_public *pub = xcalloc(1, sizeof *pub);
	*out = NULL;
	get_header(&r, FAME_TYPE_PUBLIC);
	get_g2(&r, &pub->H[0]);
	get_g2(&r, &pub->H[1]);
	get_gt(&r, &pub->T[0]);
	get_gt(&r, &pub->T[1]);
	if (!done(&r) || sha256(pub->id, in, len) != FAME_OK) {
		fame_public_free(pub);
		return FAME_ERR_DECODE;
	}
	*out = pub;
	return FAME_OK;
}

/* Master secret. */
int fame_master_encode(const struct fame_master *master, uint8_t **out, size_t *len)
{
	struct writer w = {0};
	uint8_t b[BLS_SCALAR_BYTES];
	put_header(&w, FAME_TYPE_MASTER);
	put(&w, master->id, FAME_ID_BYTES);
	const struct bls_scalar *s[4] = {&master->a[0], &master->a[1], &master->b[0], &master->b[1]};
	for (int i = 0; i < 4; i++) {
		bls_scalar_to_bytes(b, s[i]);
		put(&w, b, sizeof b);
	}
	OPENSSL_cleanse(b, sizeof b);
	for (int i = 0; i < 3; i++)
		put_g1(&w, &master->gd[i]);
	return finish(&w, out, len);
}

int fame_master_decode(struct fame_master **out, const uint8_t *in, size_t len)
{
	struct reader r = {in, len, false};
	struct fame_master *master = xcalloc(1, sizeof *master);
	*out = NULL;
	get_header(&r, FAME_TYPE_MASTER);
	get_id(&r, master->id);
	get_scalar(&r, &master->a[0]);
	get_scalar(&r, &master->a[1]);
	get_scalar(&r, &master->b[0]);
	get_scalar(&r, &master->b[1]);
	for (int i = 0; i < 3; i++)
		get_g1(&r, &master->gd[i]);
	if (!done(&r)) {
		fame_master_free(master);
		return FAME_ERR_DECODE;
	}
	*out = master;
	return FAME_OK;
}

/* CP key. */
int fame_cp_key_encode(const struct fame_cp_key *key, uint8_t **out, size_t *len)
{
	struct writer w = {0};
	put_header(&w, FAME_TYPE_CP_KEY);
	put(&w, key->id, FAME_ID_BYTES);
	for (int l = 0; l < 3; l++)
		put_g2(&w, &key->k0[l]);
	for (int l = 0; l < 3; l++)
		put_g1(&w, &key->kp[l]);
	put_attribute_set(&w, &key->set);
	return finish(&w, out, len);
}

int fame_cp_key_decode(struct fame_cp_key **out, const uint8_t *in, size_t len)
{
	struct reader r = {in, len, false};
	struct fame_cp_key *key = xcalloc(1, sizeof *key);
	*out = NULL;
	get_header(&r, FAME_TYPE_CP_KEY);
	get_id(&r, key->id);
	for (int l = 0; l < 3; l++)
		get_g2(&r, &key->k0[l]);
	for (int l = 0; l < 3; l++)
		get_g1(&r, &key->kp[l]);
	get_attribute_set(&r, &key->set);
	if (!done(&r)) {
		fame_cp_key_free(key);
		return FAME_ERR_DECODE;
	}
	*out = key;
	return FAME_OK;
}

/* KP key. */
int fame_kp_key_encode(const struct fame_kp_key *key, uint8_t **out, size_t *len)
{
	struct writer w = {0};
	put_header(&w, FAME_TYPE_KP_KEY);
	put(&w, key->id, FAME_ID_BYTES);
	for (int l = 0; l < 3; l++)
		put_g2(&w, &key->k0[l]);
	put_text(&w, key->policy->text);
	put_u16(&w, key->policy->rows);
	for (size_t i = 0; i < key->policy->rows; i++)
		for (int l = 0; l < 3; l++)
			put_g1(&w, &key->row[i][l]);
	return finish(&w, out, len);
}

int fame_kp_key_decode(struct fame_kp_key **out, const uint8_t *in, size_t len)
{
	struct reader r = {in, len, false};
	struct fame_kp_key *key = xcalloc(1, sizeof *key);
	*out = NULL;
	get_header(&r, FAME_TYPE_KP_KEY);
	get_id(&r, key->id);
	for (int l = 0; l < 3; l++)
		get_g2(&r, &key->k0[l]);
	if (!r.bad)
		key->policy = get_policy(&r);
	if (key->policy != NULL && get_u16(&r) != key->policy->rows)
		r.bad = true;
	if (!r.bad) {
		key->row = xcalloc(key->policy->rows, sizeof *key->row);
		for (size_t i = 0; i < key->policy->rows && !r.bad; i++)
			for (int l = 0; l < 3; l++)
				get_g1(&r, &key->row[i][l]);
	}
	if (!done(&r)) {
		fame_kp_key_free(key);
		return FAME_ERR_DECODE;
	}
	*out = key;
	return FAME_OK;
}

/* CP ciphertext. */
int cp_ciphertext_encode(const uint8_t id[FAME_ID_BYTES], const struct fame_policy *policy,
	const struct bls_g2 c0[3], const struct bls_g1 (*row)[3], uint8_t **out, size_t *len)
{
	struct writer w = {0};
	put_header(&w, FAME_TYPE_CP_CIPHERTEXT);
	put(&w, id, FAME_ID_BYTES);
	put_text(&w, policy->text);
	for (int l = 0; l < 3; l++)
		put_g2(&w, &c0[l]);
	put_u16(&w, policy->rows);
	for (size_t i = 0; i < policy->rows; i++)
		for (int l = 0; l < 3; l++)
			put_g1(&w, &row[i][l]);
	return finish(&w, out, len);
}

int fame_cp_ciphertext_decode(struct fame_cp_ciphertext **out, const uint8_t *in, size_t len)
{
	struct reader r = {in, len, false};
	struct fame_cp_ciphertext *ct = xcalloc(1, sizeof *ct);
	*out = NULL;
	get_header(&r, FAME_TYPE_CP_CIPHERTEXT);
	get_id(&r, ct->id);
	if (!r.bad)
		ct->policy = get_policy(&r);
	for (int l = 0; l < 3; l++)
		get_g2(&r, &ct->c0[l]);
	if (ct->policy != NULL && get_u16(&r) != ct->policy->rows)
		r.bad = true;
	if (!r.bad) {
		ct->row = xcalloc(ct->policy->rows, sizeof *ct->row);
		for (size_t i = 0; i < ct->policy->rows && !r.bad; i++)
			for (int l = 0; l < 3; l++)
				get_g1(&r, &ct->row[i][l]);
	}
	if (!done(&r) || sha256(ct->digest, in, len) != FAME_OK) {
		fame_cp_ciphertext_free(ct);
		return FAME_ERR_DECODE;
	}
	*out = ct;
	return FAME_OK;
}

void fame_cp_ciphertext_free(struct fame_cp_ciphertext *ct)
{
	if (ct == NULL)
		return;
	free(ct->row);
	fame_policy_free(ct->policy);
	free(ct);
}

/* KP ciphertext. */
int kp_ciphertext_encode(const uint8_t id[FAME_ID_BYTES], const struct attribute_set *set,
	const struct bls_g2 c0[3], uint8_t **out, size_t *len)
{
	struct writer w = {0};
	put_header(&w, FAME_TYPE_KP_CIPHERTEXT);
	put(&w, id, FAME_ID_BYTES);
	for (int l = 0; l < 3; l++)
		put_g2(&w, &c0[l]);
	put_attribute_set(&w, set);
	return finish(&w, out, len);
}

int fame_kp_ciphertext_decode(struct fame_kp_ciphertext **out, const uint8_t *in, size_t len)
{
	struct reader r = {in, len, false};
	struct fame_kp_ciphertext *ct = xcalloc(1, sizeof *ct);
	*out = NULL;
	get_header(&r, FAME_TYPE_KP_CIPHERTEXT);
	get_id(&r, ct->id);
	for (int l = 0; l < 3; l++)
		get_g2(&r, &ct->c0[l]);
	get_attribute_set(&r, &ct->set);
	if (!done(&r) || sha256(ct->digest, in, len) != FAME_OK) {
		fame_kp_ciphertext_free(ct);
		return FAME_ERR_DECODE;
	}
	*out = ct;
	return FAME_OK;
}

void fame_kp_ciphertext_free(struct fame_kp_ciphertext *ct)
{
	if (ct == NULL)
		return;
	attribute_set_free(&ct->set);
	free(ct);
}
