/*
 * Inside common/fame/ only: the structures behind fame.h's opaque types and
 * the helpers the scheme, encoding and KEM files share.
 */
#ifndef SMQTT_FAME_INTERNAL_H
#define SMQTT_FAME_INTERNAL_H

#include <stdbool.h>

#include "bls12_381/bls12_381.h"
#include "fame.h"

#define FAME_MAGIC "FAME"
#define FAME_VERSION 1
enum fame_type {
	FAME_TYPE_PUBLIC = 1,
	FAME_TYPE_MASTER = 2,
	FAME_TYPE_CP_KEY = 3,
	FAME_TYPE_KP_KEY = 4,
	FAME_TYPE_CP_CIPHERTEXT = 5,
	FAME_TYPE_KP_CIPHERTEXT = 6,
};
#define FAME_HEADER_BYTES 6

enum policy_kind { POLICY_LEAF, POLICY_AND, POLICY_OR };

struct policy_node {
	enum policy_kind kind;
	size_t row;            /* a leaf's row */
	size_t *child;         /* indices into fame_policy.node */
	size_t children;
};

struct fame_policy {
	char *text;            /* canonical */
	struct policy_node *node;
	size_t nodes, root;
	size_t rows, columns;
	char **row_attribute;  /* one per row, NUL-terminated */
	int8_t *matrix;        /* rows x columns, row-major */
};

/* H(x, l, t) for l = 1..3 (index l - 1) and t = 1..2 (index t - 1). */
struct hashed_points { struct bls_g1 p[3][2]; };

struct attribute_cache_entry {
	char *name;
	struct hashed_points points;
};

struct fame_public {
	struct bls_g2 H[2];
	struct bls_gt T[2];
	uint8_t id[FAME_ID_BYTES];
	/* Hashed points kept for reuse: attributes by name, columns by index. */
	struct attribute_cache_entry *attribute;
	size_t attributes, attribute_capacity;
	struct hashed_points *column;   /* column[j - 1] */
	size_t columns;
	/* Fixed-base tables for H1, H2 and h, filled at the first encapsulation (NULL until then). */
	struct bls_g2_table *c0_table;
};

struct fame_master {
	uint8_t id[FAME_ID_BYTES];
	struct bls_scalar a[2], b[2];
	struct bls_g1 gd[3];   /* g^d1, g^d2, g^d3 */
};

/* A sorted set of attribute names, each with three G1 points. */
struct attribute_set {
	size_t count;
	char **name;
	struct bls_g1 (*point)[3];
};

struct fame_cp_key {
	uint8_t id[FAME_ID_BYTES];
	struct bls_g2 k0[3];
	struct bls_g1 kp[3];   /* K'1, K'2, K'3 */
	struct attribute_set set;
};

struct fame_kp_key {
	uint8_t id[FAME_ID_BYTES];
	struct bls_g2 k0[3];
	struct fame_policy *policy;
	struct bls_g1 (*row)[3];
};

struct fame_cp_ciphertext {
	uint8_t id[FAME_ID_BYTES];
	uint8_t digest[32];    /* SHA-256 of the whole encoding */
	struct fame_policy *policy;
	struct bls_g2 c0[3];
	struct bls_g1 (*row)[3];
};

struct fame_kp_ciphertext {
	uint8_t id[FAME_ID_BYTES];
	uint8_t digest[32];
	struct bls_g2 c0[3];
	struct attribute_set set;
};

/* policy.c */
/*
 * The rows of a set of rows satisfying the policy whose coefficients are
 * all 1, written to rows (room for policy->rows); the count, or 0 if the
 * attributes (looked up through has) do not satisfy it.
 */
size_t policy_satisfying_rows(const struct fame_policy *policy,
	bool (*has)(const void *context, const char *name), const void *context, size_t *rows);

/* fame.c */
int random_nonzero_scalar(struct bls_scalar *s);
void attribute_points(struct fame_public *pub, const char *name, struct hashed_points *out);
void column_points(struct fame_public *pub, size_t j, struct hashed_points *out);
/* Sorted, repeats dropped, each name checked; FAME_ERR_ATTRIBUTE if not valid. */
int attribute_set_from_list(struct attribute_set *set, const char *const *names, size_t count);
/* The index of name in the set, or -1. */
long attribute_set_find(const struct attribute_set *set, const char *name);
void attribute_set_free(struct attribute_set *set);
bool attribute_set_has(const void *set, const char *name);

/* cp.c, shared with kp.c */
/* x_l / a_t for l = 1..3, t = 1..2, and 1 / a_t. */
struct key_exponents {
	struct bls_scalar x[3], over[3][2], inv_a[2];
};
/* Fresh r1, r2: the exponents and K0 = (h^x1, h^x2, h^x3). */
int key_randomness(struct key_exponents *e, struct bls_g2 k0[3], const struct fame_master *master);
/* out[t] = prod_l P_l,t^(x_l/a_t) g^(sigma/a_t) (t = 1, 2), out[2] = g^-sigma. */
void key_component(struct bls_g1 out[3], const struct hashed_points *p,
	const struct key_exponents *e, const struct bls_scalar *sigma);
/* out[l] = P_l,1^s1 P_l,2^s2. */
void ciphertext_component(struct bls_g1 out[3], const struct hashed_points *p,
	const struct bls_scalar s[2]);

/* encode.c */
int cp_ciphertext_encode(const uint8_t id[FAME_ID_BYTES], const struct fame_policy *policy,
	const struct bls_g2 c0[3], const struct bls_g1 (*row)[3], uint8_t **out, size_t *len);
int kp_ciphertext_encode(const uint8_t id[FAME_ID_BYTES], const struct attribute_set *set,
	const struct bls_g2 c0[3], uint8_t **out, size_t *len);

/* kem.c */
/* The capsule key from the GT element and the ciphertext's encoding digest. */
int kem_derive(uint8_t key[FAME_KEY_BYTES], const struct bls_gt *k, const uint8_t digest[32]);
int sha256(uint8_t digest[32], const uint8_t *in, size_t len);
/* T1^s1 T2^s2 and the ciphertext's (H1^s1, H2^s2, h^(s1+s2)) for fresh s1, s2. */
int kem_randomness(struct bls_scalar s[2], struct bls_gt *k, struct bls_g2 c0[3],
	struct fame_public *pub);
/* e(a1, c01) e(a2, c02) e(a3, c03) / (e(c1, k01) e(c2, k02) e(c3, k03)). */
void kem_pairings(struct bls_gt *k, const struct bls_g1 a[3], const struct bls_g2 c0[3],
	const struct bls_g1 c[3], const struct bls_g2 k0[3]);

#endif
