/*
 * Test driver for common/fame/ (tests/fame.bats).
 *
 *   driver check            the new BLS12-381 primitives against the old ones,
 *                           hashing domain separation, the column-skip and "01" cases
 *   driver policy TEXT      "ok COLUMNS ROWS CANONICAL-TEXT", or "error POSITION: MESSAGE"
 *                           and exit 1
 *   driver roundtrip N      N random policies (and/or trees up to depth 4, 1 to 30
 *                           attributes, repeats) for CP and KP, with keys that do and
 *                           do not satisfy them; "should" is computed here from the tree
 *   driver tamper           every byte of encoded keys and ciphertexts changed, components
 *                           swapped, truncations and extensions: never a success
 *   driver invalid          hand-made bad encodings: not on the curve, not in the
 *                           subgroup, identity, non-canonical, wrong lengths, wrong parameters
 *   driver bench N ATTRS    median CPU milliseconds of N runs of each operation, AND of ATTRS
 *   driver corpus DIR       valid objects of every kind, as seeds for tests/fuzz/fame_decode.c
 *
 * Every check prints "ok NAME" or "FAIL NAME: why" (and the driver exits 1).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "bls12_381/internal.h"
#include "fame/internal.h"

static int failures;

static void check(int ok, const char *name, const char *why)
{
	if (ok) {
		printf("ok %s\n", name);
	} else {
		printf("FAIL %s: %s\n", name, why);
		failures++;
	}
}

static unsigned random_below(unsigned n)
{
	uint32_t v;
	if (RAND_bytes((uint8_t *)&v, sizeof v) != 1)
		exit(2);
	return v % n;
}

static void must(int status, const char *what)
{
	if (status != FAME_OK) {
		fprintf(stderr, "driver: %s: %s\n", what, fame_strerror(status));
		exit(2);
	}
}

static struct fame_policy *policy(const char *text)
{
	struct fame_policy *p;
	struct fame_policy_error e;
	if (fame_policy_parse(&p, text, strlen(text), &e) != FAME_OK) {
		fprintf(stderr, "driver: policy %s: %zu: %s\n", text, e.position, e.message);
		exit(2);
	}
	return p;
}

/* The new primitives of bls12_381.h against the existing ones. */
static void check_primitives(void)
{
	struct bls_g1 g, p[4], want, got, t;
	struct bls_g2 h;
	struct bls_gt e, a, b, want_t, got_t;
	struct bls_scalar k[4];
	uint8_t enc[BLS_GT_BYTES];

	bls_g1_generator(&g);
	bls_g2_generator(&h);
	bls_pairing(&e, &g, &h);
	bls_gt_generator(&a);
	check(bls_gt_equal(&a, &e), "gt generator is e(g1, g2)", "differs");

	int ok = 1;
	for (int round = 0; round < 8 && ok; round++) {
		size_t n = 1 + round % 4;
		bls_g1_identity(&want);
		for (size_t i = 0; i < n; i++) {
			bls_scalar_random(&k[i]);
			if (round == 1)
				bls_scalar_from_u64(&k[i], i); /* zero and small scalars */
			bls_scalar_random(&k[3]);
			bls_g1_mul(&p[i], &g, &k[3]);
			bls_g1_mul(&t, &p[i], &k[i]);
			bls_g1_add(&want, &want, &t);
		}
		bls_g1_multi_mul(&got, p, k, n);
		ok = bls_g1_equal(&want, &got);
	}
	check(ok, "g1 multi multiplication equals the sum of multiplications", "differs");

	ok = 1;
	for (int round = 0; round < 3 && ok; round++) {
		bls_scalar_random(&k[0]);
		bls_scalar_random(&k[1]);
		bls_gt_pow(&a, &e, &k[0]);
		bls_gt_pow(&b, &e, &k[1]);
		bls_gt_pow2(&got_t, &a, &k[0], NULL, NULL);
		bls_gt_pow(&want_t, &a, &k[0]);
		ok &= bls_gt_equal(&got_t, &want_t);
		bls_gt_pow2(&got_t, &a, &k[0], &b, &k[1]);
		struct bls_gt w2;
		bls_gt_pow(&w2, &b, &k[1]);
		bls_gt_mul(&want_t, &want_t, &w2);
		ok &= bls_gt_equal(&got_t, &want_t);
	}
	check(ok, "gt two-base exponentiation equals the product of powers", "differs");

	bls_gt_encode(enc, &a);
	ok = bls_gt_decode(&b, enc) == 0 && bls_gt_equal(&a, &b);
	bls_gt_one(&b);
	bls_gt_encode(enc, &b);
	ok &= bls_gt_decode(&b, enc) == 0 && bls_gt_is_one(&b);
	check(ok, "gt decoding takes back what encoding wrote", "refused or changed");

	/* Not in GT: a random Fp12 element, zero, a coefficient equal to p. */
	bls_gt_encode(enc, &a);
	enc[BLS_GT_BYTES - 1] ^= 1;
	ok = bls_gt_decode(&b, enc) != 0;
	memset(enc, 0, sizeof enc);
	ok &= bls_gt_decode(&b, enc) != 0;
	bls_gt_encode(enc, &a);
	bls_fp_to_bytes(enc, &bls_fp_modulus); /* to_bytes of p's limbs: p itself */
	{
		static const uint8_t p_be[48] = {
			0x1a, 0x01, 0x11, 0xea, 0x39, 0x7f, 0xe6, 0x9a, 0x4b, 0x1b, 0xa7, 0xb6, 0x43, 0x4b, 0xac, 0xd7,
			0x64, 0x77, 0x4b, 0x84, 0xf3, 0x85, 0x12, 0xbf, 0x67, 0x30, 0xd2, 0xa0, 0xf6, 0xb0, 0xf6, 0x24,
			0x1e, 0xab, 0xff, 0xfe, 0xb1, 0x53, 0xff, 0xff, 0xb9, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xaa, 0xab};
		bls_gt_one(&b);
		bls_gt_encode(enc, &b);
		/* one with its c0.c0.c0 = 1 written as 1 + p: the same value, not canonical */
		uint8_t sum[48];
		unsigned carry = 1;
		for (int i = 47; i >= 0; i--) {
			unsigned v = p_be[i] + carry;
			sum[i] = (uint8_t)v;
			carry = v >> 8;
		}
		memcpy(enc, sum, 48);
		ok &= bls_gt_decode(&b, enc) != 0;
	}
	check(ok, "gt decoding refuses non-members, zero and non-canonical coefficients", "accepted");
}

/* Typed hashing: no attribute name collides with a column, "01" in particular. */
static void check_hashing(struct fame_public *pub)
{
	const char *names[] = {"01", "1", "0", "col", "attr", "011", "0111", "\x01"};
	struct hashed_points a, c;
	int ok = 1;
	for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
		attribute_points(pub, names[n], &a);
		for (size_t j = 1; j <= 3; j++) {
			column_points(pub, j, &c);
			for (int l = 0; l < 3; l++)
				for (int t = 0; t < 2; t++)
					for (int l2 = 0; l2 < 3; l2++)
						for (int t2 = 0; t2 < 2; t2++)
							ok &= !bls_g1_equal(&a.p[l][t], &c.p[l2][t2]);
		}
	}
	attribute_points(pub, "01", &a);
	attribute_points(pub, "0", &c);
	ok &= !bls_g1_equal(&a.p[0][0], &c.p[0][0]) && !bls_g1_equal(&a.p[0][0], &a.p[0][1]) &&
		!bls_g1_equal(&a.p[0][0], &a.p[1][0]);
	check(ok, "hashing: attribute points differ from column points (the \"01\" attribute)", "collision");
}

static struct fame_cp_ciphertext *cp_decode(const uint8_t *ct, size_t len)
{
	struct fame_cp_ciphertext *c;
	must(fame_cp_ciphertext_decode(&c, ct, len), "decode CP ciphertext");
	return c;
}

static struct fame_kp_ciphertext *kp_decode(const uint8_t *ct, size_t len)
{
	struct fame_kp_ciphertext *c;
	must(fame_kp_ciphertext_decode(&c, ct, len), "decode KP ciphertext");
	return c;
}

/*
 * The key a decapsulation would derive from the given rows alone, bypassing
 * the policy check: what an attacker holding the key computes.
 */
static void forced_kp(uint8_t key[32], const struct fame_kp_key *sk, const struct fame_kp_ciphertext *ct,
	const size_t *rows, size_t n)
{
	struct bls_g1 a[3], c[3];
	struct bls_gt k;
	for (int l = 0; l < 3; l++) {
		bls_g1_identity(&a[l]);
		bls_g1_identity(&c[l]);
	}
	for (size_t u = 0; u < n; u++) {
		long y = attribute_set_find(&ct->set, sk->policy->row_attribute[rows[u]]);
		for (int l = 0; l < 3; l++) {
			bls_g1_add(&a[l], &a[l], &sk->row[rows[u]][l]);
			if (y >= 0)
				bls_g1_add(&c[l], &c[l], &ct->set.point[y][l]);
		}
	}
	kem_pairings(&k, a, ct->c0, c, sk->k0);
	must(kem_derive(key, &k, ct->digest), "derive");
}

static void forced_cp(uint8_t key[32], const struct fame_cp_key *sk, const struct fame_cp_ciphertext *ct,
	const size_t *rows, size_t n)
{
	struct bls_g1 a[3], c[3];
	struct bls_gt k;
	for (int l = 0; l < 3; l++) {
		a[l] = sk->kp[l];
		bls_g1_identity(&c[l]);
	}
	for (size_t u = 0; u < n; u++) {
		long y = attribute_set_find(&sk->set, ct->policy->row_attribute[rows[u]]);
		for (int l = 0; l < 3; l++) {
			if (y >= 0)
				bls_g1_add(&a[l], &a[l], &sk->set.point[y][l]);
			bls_g1_add(&c[l], &c[l], &ct->row[rows[u]][l]);
		}
	}
	kem_pairings(&k, a, ct->c0, c, sk->k0);
	must(kem_derive(key, &k, ct->digest), "derive");
}

/* FABESA's column skip: "A and B" must not open {A}, in KP and in CP. */
static void check_column_skip(struct fame_public *pub, struct fame_master *msk)
{
	struct fame_policy *ab = policy("A and B"), *abc = policy("A and (B or C) and D");
	uint8_t *ct, key[32], forced[32], got[32];
	size_t len;
	const char *only_a[] = {"A"}, *a_b[] = {"A", "B"};
	size_t row0[] = {0}, rows01[] = {0, 1};

	/* KP: a key for "A and B", a ciphertext for {A} and one for {A, B}. */
	struct fame_kp_key *kk;
	must(fame_kp_keygen(&kk, pub, msk, ab), "KP keygen");
	must(fame_kp_encaps(&ct, &len, key, pub, only_a, 1), "KP encaps");
	struct fame_kp_ciphertext *kc = kp_decode(ct, len);
	check(fame_kp_decaps(got, pub, kk, kc) == FAME_ERR_NOT_SATISFIED,
		"KP: key for A and B does not open {A} (reported)", "not refused");
	forced_kp(forced, kk, kc, row0, 1);
	check(memcmp(forced, key, 32) != 0, "KP: key for A and B does not open {A} (row A alone)",
		"row A alone yields the key: a column was left out of the key");
	fame_kp_ciphertext_free(kc);
	free(ct);
	must(fame_kp_encaps(&ct, &len, key, pub, a_b, 2), "KP encaps");
	kc = kp_decode(ct, len);
	forced_kp(forced, kk, kc, rows01, 2);
	check(memcmp(forced, key, 32) == 0 && fame_kp_decaps(got, pub, kk, kc) == FAME_OK &&
		memcmp(got, key, 32) == 0, "KP: key for A and B opens {A, B}", "failed");
	fame_kp_ciphertext_free(kc);
	free(ct);
	fame_kp_key_free(kk);

	/* Each single row, and pairs of rows, of a larger policy. */
	must(fame_kp_keygen(&kk, pub, msk, abc), "KP keygen");
	const char *all[] = {"A", "B", "C", "D"};
	must(fame_kp_encaps(&ct, &len, key, pub, all, 4), "KP encaps");
	kc = kp_decode(ct, len);
	int ok = 1;
	for (size_t mask = 1; mask < 16; mask++) {
		size_t rows[4], n = 0;
		for (size_t i = 0; i < 4; i++)
			if (mask >> i & 1)
				rows[n++] = i;
		/* rows: 0 A, 1 B, 2 C, 3 D; satisfying with coefficients 1: {A,B,D}, {A,C,D} */
		int should = mask == (1 | 2 | 8) || mask == (1 | 4 | 8);
		forced_kp(forced, kk, kc, rows, n);
		ok &= (memcmp(forced, key, 32) == 0) == should;
	}
	check(ok, "KP: only the satisfying row sets of A and (B or C) and D yield the key", "another set does");
	fame_kp_ciphertext_free(kc);
	free(ct);
	fame_kp_key_free(kk);

	/* CP: a ciphertext for "A and B", a key for {A} and one for {A, B}. */
	struct fame_cp_key *ck;
	must(fame_cp_keygen(&ck, pub, msk, only_a, 1), "CP keygen");
	must(fame_cp_encaps(&ct, &len, key, pub, ab), "CP encaps");
	struct fame_cp_ciphertext *cc = cp_decode(ct, len);
	check(fame_cp_decaps(got, pub, ck, cc) == FAME_ERR_NOT_SATISFIED,
		"CP: key for {A} does not open A and B (reported)", "not refused");
	forced_cp(forced, ck, cc, row0, 1);
	check(memcmp(forced, key, 32) != 0, "CP: key for {A} does not open A and B (row A alone)",
		"row A alone yields the key");
	fame_cp_key_free(ck);
	must(fame_cp_keygen(&ck, pub, msk, a_b, 2), "CP keygen");
	forced_cp(forced, ck, cc, rows01, 2);
	check(memcmp(forced, key, 32) == 0, "CP: key for {A, B} opens A and B", "failed");
	fame_cp_key_free(ck);
	fame_cp_ciphertext_free(cc);
	free(ct);

	/* The "01" attack: a key for attribute 01 and a policy naming someone else. */
	const char *zero_one[] = {"01"};
	struct fame_policy *other = policy("Z");
	must(fame_cp_keygen(&ck, pub, msk, zero_one, 1), "CP keygen");
	must(fame_cp_encaps(&ct, &len, key, pub, other), "CP encaps");
	cc = cp_decode(ct, len);
	forced_cp(forced, ck, cc, row0, 1);
	ok = memcmp(forced, key, 32) != 0 && fame_cp_decaps(got, pub, ck, cc) == FAME_ERR_NOT_SATISFIED;
	/* Nor with the key's 01 component put in place of row Z's. */
	{
		struct bls_g1 a[3], c[3];
		struct bls_gt k;
		for (int l = 0; l < 3; l++) {
			bls_g1_add(&a[l], &ck->kp[l], &ck->set.point[0][l]);
			c[l] = cc->row[0][l];
		}
		kem_pairings(&k, a, cc->c0, c, ck->k0);
		must(kem_derive(forced, &k, cc->digest), "derive");
		ok &= memcmp(forced, key, 32) != 0;
	}
	check(ok, "CP: a key for the attribute 01 opens nothing else", "it does");
	fame_cp_ciphertext_free(cc);
	free(ct);
	fame_cp_key_free(ck);
	fame_policy_free(other);
	fame_policy_free(ab);
	fame_policy_free(abc);
}

/* Random policies: a tree of our own, printed, parsed by the library, evaluated here. */
#define UNIVERSE 12
static const char *universe[UNIVERSE] = {
	"role:billing", "feeder:F12", "kind:household", "epoch:2026-12", "a", "b.c", "d_e",
	"AND", "x y", "quote\"d", "back\\slash", "01"};

struct tree { int kind; int attr; int n; struct tree *child[3]; };

/* full: no early leaves and three operands each, so that the tree grows to about max_leaves. */
static struct tree *make_tree(int depth, int *leaves, int max_leaves, bool full)
{
	struct tree *t = calloc(1, sizeof *t);
	if (depth == 0 || *leaves + 3 > max_leaves || (!full && random_below(10) < 3)) {
		t->kind = POLICY_LEAF;
		t->attr = (int)random_below(UNIVERSE);
		(*leaves)++;
		return t;
	}
	t->kind = random_below(2) ? POLICY_AND : POLICY_OR;
	t->n = full ? 3 : 2 + (int)random_below(2);
	for (int i = 0; i < t->n; i++)
		t->child[i] = make_tree(depth - 1, leaves, max_leaves, full);
	return t;
}

static void free_tree(struct tree *t)
{
	for (int i = 0; i < t->n; i++)
		free_tree(t->child[i]);
	free(t);
}

static void print_tree(char *out, const struct tree *t)
{
	if (t->kind == POLICY_LEAF) {
		const char *name = universe[t->attr];
		int plain = strcspn(name, " \"\\") == strlen(name) && strcmp(name, "AND") != 0;
		if (plain && random_below(4) != 0) {
			strcat(out, name);
			return;
		}
		strcat(out, "\"");
		for (const char *c = name; *c; c++) {
			if (*c == '"' || *c == '\\')
				strcat(out, "\\");
			strncat(out, c, 1);
		}
		strcat(out, "\"");
		return;
	}
	for (int i = 0; i < t->n; i++) {
		if (i > 0)
			strcat(out, t->kind == POLICY_AND ? (random_below(2) ? " and " : " AND\n") : " or  ");
		strcat(out, "(");
		print_tree(out, t->child[i]);
		strcat(out, ")");
	}
}

static int eval_tree(const struct tree *t, const int *has)
{
	if (t->kind == POLICY_LEAF)
		return has[t->attr];
	for (int i = 0; i < t->n; i++) {
		int v = eval_tree(t->child[i], has);
		if (t->kind == POLICY_AND && !v)
			return 0;
		if (t->kind == POLICY_OR && v)
			return 1;
	}
	return t->kind == POLICY_AND;
}

static void roundtrip(int cases)
{
	struct fame_public *pub;
	struct fame_master *msk;
	int counts[2][2] = {{0}}, bad = 0, max_rows = 0;
	char why[256] = "";
	must(fame_setup(&pub, &msk), "setup");
	for (int n = 0; n < cases; n++) {
		int leaves = 0, has[UNIVERSE];
		/* Every tenth case a full tree of depth 4 (24 to 30 attributes), so large policies are always among them. */
		struct tree *t = n % 10 == 0 ? make_tree(4, &leaves, 24, true)
					     : make_tree((int)random_below(5), &leaves, 1 + (int)random_below(30), false);
		char text[8192] = "";
		print_tree(text, t);
		struct fame_policy *p = policy(text);
		if ((int)fame_policy_rows(p) != leaves) {
			snprintf(why, sizeof why, "%d rows for %d leaves: %.200s", (int)fame_policy_rows(p), leaves, text);
			bad++;
		}
		if (leaves > max_rows)
			max_rows = leaves;
		/* A key: a random subset, denser half the time so that both outcomes are common. */
		const char *names[UNIVERSE];
		size_t count = 0;
		unsigned density = random_below(2) ? 9 : 5;
		for (int i = 0; i < UNIVERSE; i++) {
			has[i] = random_below(10) < density;
			if (has[i])
				names[count++] = universe[i];
		}
		if (count == 0) {
			has[0] = 1;
			names[count++] = universe[0];
		}
		int should = eval_tree(t, has);
		if (fame_policy_satisfied(p, names, count) != should) {
			snprintf(why, sizeof why, "fame_policy_satisfied disagrees: %.200s", text);
			bad++;
		}
		for (int kp = 0; kp < 2; kp++) {
			uint8_t *ct, *enc, key[32], got[32];
			size_t len, enc_len;
			int status;
			if (kp) {
				struct fame_kp_key *sk, *sk2;
				must(fame_kp_keygen(&sk, pub, msk, p), "KP keygen");
				must(fame_kp_key_encode(sk, &enc, &enc_len), "encode");
				must(fame_kp_key_decode(&sk2, enc, enc_len), "decode KP key");
				must(fame_kp_encaps(&ct, &len, key, pub, names, count), "KP encaps");
				struct fame_kp_ciphertext *c = kp_decode(ct, len);
				status = fame_kp_decaps(got, pub, sk2, c);
				fame_kp_ciphertext_free(c);
				fame_kp_key_free(sk);
				fame_kp_key_free(sk2);
			} else {
				struct fame_cp_key *sk, *sk2;
				must(fame_cp_keygen(&sk, pub, msk, names, count), "CP keygen");
				must(fame_cp_key_encode(sk, &enc, &enc_len), "encode");
				must(fame_cp_key_decode(&sk2, enc, enc_len), "decode CP key");
				must(fame_cp_encaps(&ct, &len, key, pub, p), "CP encaps");
				struct fame_cp_ciphertext *c = cp_decode(ct, len);
				status = fame_cp_decaps(got, pub, sk2, c);
				fame_cp_ciphertext_free(c);
				fame_cp_key_free(sk);
				fame_cp_key_free(sk2);
			}
			free(enc);
			free(ct);
			int opened = status == FAME_OK && memcmp(got, key, 32) == 0;
			if (opened != should || (!should && status != FAME_ERR_NOT_SATISFIED)) {
				snprintf(why, sizeof why, "%s, should %d, status %s: %.160s", kp ? "KP" : "CP", should,
					fame_strerror(status), text);
				bad++;
			}
			if (opened) {
				/* The key seals and opens, and refuses other associated data. */
				uint8_t sealed[5 + FAME_SEAL_OVERHEAD], plain[5];
				must(fame_seal(sealed, key, NULL, (const uint8_t *)"dev1", 4, (const uint8_t *)"hello", 5),
					"seal");
				if (fame_open(plain, got, (const uint8_t *)"dev1", 4, sealed, sizeof sealed) != FAME_OK ||
				    memcmp(plain, "hello", 5) != 0 ||
				    fame_open(plain, got, (const uint8_t *)"dev2", 4, sealed, sizeof sealed) != FAME_ERR_AUTH) {
					snprintf(why, sizeof why, "seal/open");
					bad++;
				}
			}
			counts[kp][should]++;
		}
		fame_policy_free(p);
		free_tree(t);
	}
	printf("cases %d: CP %d satisfied %d not, KP %d satisfied %d not, up to %d attributes\n", cases,
		counts[0][1], counts[0][0], counts[1][1], counts[1][0], max_rows);
	check(bad == 0, "random CP and KP round trips: decapsulation succeeds exactly when the policy is satisfied", why);
	/* With a few cases (under valgrind) one outcome may be missing by chance; with 20 it is not. */
	if (cases >= 20)
		check(counts[0][1] > 0 && counts[0][0] > 0 && counts[1][1] > 0 && counts[1][0] > 0,
			"random round trips: both outcomes seen", "one outcome never occurred");
	fame_public_free(pub);
	fame_master_free(msk);
}

/* What decoding and decapsulating a changed ciphertext gives: FAME_OK only if it still opens. */
enum outcome { DECODE_FAILED, REFUSED, AUTH_FAILED, OPENED };

static enum outcome try_cp(struct fame_public *pub, struct fame_cp_key *sk, const uint8_t *ct, size_t len,
	const uint8_t *sealed, size_t sealed_len)
{
	struct fame_cp_ciphertext *c;
	uint8_t key[32], plain[64];
	if (fame_cp_ciphertext_decode(&c, ct, len) != FAME_OK)
		return DECODE_FAILED;
	int status = fame_cp_decaps(key, pub, sk, c);
	fame_cp_ciphertext_free(c);
	if (status != FAME_OK)
		return REFUSED;
	return fame_open(plain, key, NULL, 0, sealed, sealed_len) == FAME_OK ? OPENED : AUTH_FAILED;
}

static enum outcome try_kp(struct fame_public *pub, struct fame_kp_key *sk, const uint8_t *ct, size_t len,
	const uint8_t *sealed, size_t sealed_len)
{
	struct fame_kp_ciphertext *c;
	uint8_t key[32], plain[64];
	if (fame_kp_ciphertext_decode(&c, ct, len) != FAME_OK)
		return DECODE_FAILED;
	int status = fame_kp_decaps(key, pub, sk, c);
	fame_kp_ciphertext_free(c);
	if (status != FAME_OK)
		return REFUSED;
	return fame_open(plain, key, NULL, 0, sealed, sealed_len) == FAME_OK ? OPENED : AUTH_FAILED;
}

/* Key encodings changed: decoding fails, or the changed key does not open the capsule. */
static enum outcome try_cp_key(struct fame_public *pub, const uint8_t *enc, size_t len,
	const struct fame_cp_ciphertext *ct, const uint8_t *sealed, size_t sealed_len)
{
	struct fame_cp_key *sk;
	uint8_t key[32], plain[64];
	if (fame_cp_key_decode(&sk, enc, len) != FAME_OK)
		return DECODE_FAILED;
	int status = fame_cp_decaps(key, pub, sk, ct);
	fame_cp_key_free(sk);
	if (status != FAME_OK)
		return REFUSED;
	return fame_open(plain, key, NULL, 0, sealed, sealed_len) == FAME_OK ? OPENED : AUTH_FAILED;
}

static enum outcome try_kp_key(struct fame_public *pub, const uint8_t *enc, size_t len,
	const struct fame_kp_ciphertext *ct, const uint8_t *sealed, size_t sealed_len)
{
	struct fame_kp_key *sk;
	uint8_t key[32], plain[64];
	if (fame_kp_key_decode(&sk, enc, len) != FAME_OK)
		return DECODE_FAILED;
	int status = fame_kp_decaps(key, pub, sk, ct);
	fame_kp_key_free(sk);
	if (status != FAME_OK)
		return REFUSED;
	return fame_open(plain, key, NULL, 0, sealed, sealed_len) == FAME_OK ? OPENED : AUTH_FAILED;
}

enum object { CP_CT, KP_CT, CP_KEY, KP_KEY };

struct fixture {
	struct fame_public *pub;
	struct fame_cp_key *cp_key;
	struct fame_kp_key *kp_key;
	struct fame_cp_ciphertext *cp_ct;
	struct fame_kp_ciphertext *kp_ct;
	uint8_t *enc[4];
	size_t len[4];
	uint8_t sealed[2][16 + FAME_SEAL_OVERHEAD];
};

static enum outcome try_object(struct fixture *f, enum object o, const uint8_t *enc, size_t len)
{
	switch (o) {
	case CP_CT: return try_cp(f->pub, f->cp_key, enc, len, f->sealed[0], sizeof f->sealed[0]);
	case KP_CT: return try_kp(f->pub, f->kp_key, enc, len, f->sealed[1], sizeof f->sealed[1]);
	case CP_KEY: return try_cp_key(f->pub, enc, len, f->cp_ct, f->sealed[0], sizeof f->sealed[0]);
	default: return try_kp_key(f->pub, enc, len, f->kp_ct, f->sealed[1], sizeof f->sealed[1]);
	}
}

static void make_fixture(struct fixture *f, struct fame_master **msk_out, const char *text,
	const char *const *names, size_t count)
{
	struct fame_master *msk;
	uint8_t key[32];
	struct fame_policy *p = policy(text);
	must(fame_setup(&f->pub, &msk), "setup");
	must(fame_cp_keygen(&f->cp_key, f->pub, msk, names, count), "CP keygen");
	must(fame_kp_keygen(&f->kp_key, f->pub, msk, p), "KP keygen");
	must(fame_cp_encaps(&f->enc[CP_CT], &f->len[CP_CT], key, f->pub, p), "CP encaps");
	must(fame_seal(f->sealed[0], key, NULL, NULL, 0, (const uint8_t *)"sixteen bytes!!!", 16), "seal");
	must(fame_kp_encaps(&f->enc[KP_CT], &f->len[KP_CT], key, f->pub, names, count), "KP encaps");
	must(fame_seal(f->sealed[1], key, NULL, NULL, 0, (const uint8_t *)"sixteen bytes!!!", 16), "seal");
	must(fame_cp_key_encode(f->cp_key, &f->enc[CP_KEY], &f->len[CP_KEY]), "encode");
	must(fame_kp_key_encode(f->kp_key, &f->enc[KP_KEY], &f->len[KP_KEY]), "encode");
	f->cp_ct = cp_decode(f->enc[CP_CT], f->len[CP_CT]);
	f->kp_ct = kp_decode(f->enc[KP_CT], f->len[KP_CT]);
	fame_policy_free(p);
	if (msk_out != NULL)
		*msk_out = msk;
	else
		fame_master_free(msk);
}

static void free_fixture(struct fixture *f)
{
	for (int i = 0; i < 4; i++)
		free(f->enc[i]);
	fame_cp_key_free(f->cp_key);
	fame_kp_key_free(f->kp_key);
	fame_cp_ciphertext_free(f->cp_ct);
	fame_kp_ciphertext_free(f->kp_ct);
	fame_public_free(f->pub);
}

static const char *object_name[4] = {"CP ciphertext", "KP ciphertext", "CP key", "KP key"};

/*
 * Every byte of o's encoding changed (one bit, a different one from byte to
 * byte; with both, also the whole byte), every truncation and one byte more.
 */
static void tamper_object(struct fixture *f, enum object o, const char *label, int both)
{
	char name[160], why[128] = "";
	int bad = 0, tried = 0;
	uint8_t *copy = malloc(f->len[o] + 1);
	snprintf(name, sizeof name, "%s (%s): the untouched object opens", object_name[o], label);
	check(try_object(f, o, f->enc[o], f->len[o]) == OPENED, name, "it does not");
	for (size_t i = 0; i < f->len[o]; i++)
		for (int kind = 0; kind <= both; kind++) {
			memcpy(copy, f->enc[o], f->len[o]);
			copy[i] ^= kind == 0 ? (uint8_t)(1u << (i % 8)) : 0xff;
			tried++;
			if (try_object(f, o, copy, f->len[o]) == OPENED) {
				snprintf(why, sizeof why, "byte %zu changed and it still opens", i);
				bad++;
			}
		}
	snprintf(name, sizeof name, "%s (%s): every byte changed (%d variants): never opens", object_name[o], label, tried);
	check(bad == 0, name, why);
	bad = 0;
	for (size_t n = 0; n < f->len[o]; n++)
		if (try_object(f, o, f->enc[o], n) != DECODE_FAILED) {
			snprintf(why, sizeof why, "truncated to %zu bytes and decoded", n);
			bad++;
		}
	memcpy(copy, f->enc[o], f->len[o]);
	copy[f->len[o]] = 0;
	if (try_object(f, o, copy, f->len[o] + 1) != DECODE_FAILED) {
		snprintf(why, sizeof why, "extended by a byte and decoded");
		bad++;
	}
	snprintf(name, sizeof name, "%s (%s): every truncation and an extension refused by the decoder",
		object_name[o], label);
	check(bad == 0, name, why);
	free(copy);
}

static void tamper(void)
{
	struct fixture f = {0}, all = {0};
	const char *names[] = {"role:billing", "feeder:F12", "kind:household"};
	/*
	 * Keys are checked where decapsulation uses every part of them (a change
	 * to the points of an attribute or row a policy does not use cannot be
	 * noticed, nor does it matter); ciphertexts also where some rows go unused
	 * (the key derivation covers the whole encoding).
	 */
	make_fixture(&all, NULL, "role:billing and feeder:F12 and kind:household", names, 3);
	for (int o = 0; o < 4; o++)
		tamper_object(&all, o, "all parts used", 1);
	free_fixture(&all);
	make_fixture(&f, NULL, "role:billing and (feeder:F12 or feeder:F13)", names, 3);
	tamper_object(&f, CP_CT, "a row unused", 0);
	tamper_object(&f, KP_CT, "an attribute unused", 0);

	/* Components swapped between two ciphertexts of the same policy / attributes. */
	{
		struct fame_policy *p = policy("role:billing and (feeder:F12 or feeder:F13)");
		const char *names2[] = {"role:billing", "feeder:F12", "kind:household"};
		uint8_t *other[2], key[32];
		size_t other_len[2];
		must(fame_cp_encaps(&other[0], &other_len[0], key, f.pub, p), "CP encaps");
		must(fame_kp_encaps(&other[1], &other_len[1], key, f.pub, names2, 3), "KP encaps");
		int bad = 0, swaps = 0;
		char why[128] = "";
		for (int o = 0; o < 2; o++) {
			if (other_len[o] != f.len[o]) {
				bad++;
				snprintf(why, sizeof why, "lengths differ");
				continue;
			}
			/* Swap each 48-byte G1 field and each 96-byte G2 field, aligned at the end. */
			size_t header = o == 0 ? f.len[o] - 2 - 9 * 48 - 3 * 96 : FAME_HEADER_BYTES + FAME_ID_BYTES;
			for (size_t at = header; at + 48 <= f.len[o]; at += 48) {
				uint8_t *copy = malloc(f.len[o]);
				memcpy(copy, f.enc[o], f.len[o]);
				memcpy(copy + at, other[o] + at, 48);
				if (memcmp(copy, f.enc[o], f.len[o]) == 0) {
					free(copy);
					continue;
				}
				swaps++;
				if (try_object(&f, o, copy, f.len[o]) == OPENED) {
					snprintf(why, sizeof why, "%s: bytes %zu+48 swapped and it opens", object_name[o], at);
					bad++;
				}
				free(copy);
			}
		}
		char name[128];
		snprintf(name, sizeof name, "ciphertexts: %d fields swapped with another ciphertext's: never opens", swaps);
		check(bad == 0 && swaps > 20, name, why);
		free(other[0]);
		free(other[1]);
		fame_policy_free(p);
	}
	free_fixture(&f);
}

/* A G1 point's compressed bytes with x = p + 1 (not canonical), or not on the curve, or off the subgroup. */
static void bad_g1(uint8_t out[48], int kind)
{
	static const uint8_t p_be[48] = {
		0x1a, 0x01, 0x11, 0xea, 0x39, 0x7f, 0xe6, 0x9a, 0x4b, 0x1b, 0xa7, 0xb6, 0x43, 0x4b, 0xac, 0xd7,
		0x64, 0x77, 0x4b, 0x84, 0xf3, 0x85, 0x12, 0xbf, 0x67, 0x30, 0xd2, 0xa0, 0xf6, 0xb0, 0xf6, 0x24,
		0x1e, 0xab, 0xff, 0xfe, 0xb1, 0x53, 0xff, 0xff, 0xb9, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xaa, 0xac};
	struct bls_fp x, rhs, y;
	memset(out, 0, 48);
	if (kind == 0) { /* identity */
		out[0] = 0xc0;
		return;
	}
	if (kind == 1) { /* x = p + 1 */
		memcpy(out, p_be, 48);
		out[0] |= 0x80;
		return;
	}
	/* kind 2: x with no point; kind 3: a point on the curve outside G1. */
	for (uint64_t v = 1;; v++) {
		uint8_t b[48] = {0};
		for (int i = 0; i < 8; i++)
			b[47 - i] = (uint8_t)(v >> (8 * i));
		bls_fp_from_bytes(&x, b);
		bls_fp_sqr(&rhs, &x);
		bls_fp_mul(&rhs, &rhs, &x);
		bls_fp_add(&rhs, &rhs, &bls_fp_four_mont);
		int on = bls_fp_sqrt(&y, &rhs);
		if ((kind == 2 && !on) || (kind == 3 && on)) {
			memcpy(out, b, 48);
			out[0] |= 0x80;
			return;
		}
	}
}

static void invalid(void)
{
	struct fixture f = {0};
	struct fame_master *msk;
	const char *names[] = {"role:billing", "feeder:F12"};
	const char *kinds[4] = {"the identity", "a non-canonical x", "an x off the curve", "a point outside G1"};
	make_fixture(&f, &msk, "role:billing and feeder:F12", names, 2);
	for (int o = 0; o < 4; o++) {
		/* The last G1 point of each object, and the first G2 point. */
		for (int kind = 0; kind < 4; kind++) {
			uint8_t *copy = malloc(f.len[o]);
			char name[128];
			memcpy(copy, f.enc[o], f.len[o]);
			bad_g1(copy + f.len[o] - 48, kind);
			snprintf(name, sizeof name, "%s: a G1 point replaced by %s is refused", object_name[o], kinds[kind]);
			check(try_object(&f, o, copy, f.len[o]) == DECODE_FAILED, name, "decoded");
			free(copy);
		}
		{
			uint8_t *copy = malloc(f.len[o]);
			size_t at = o == KP_CT || o == CP_KEY || o == KP_KEY ? FAME_HEADER_BYTES + FAME_ID_BYTES
				: FAME_HEADER_BYTES + FAME_ID_BYTES + 2 + strlen(f.cp_ct->policy->text);
			char name[128];
			memcpy(copy, f.enc[o], f.len[o]);
			memset(copy + at, 0, 96);
			copy[at] = 0xc0;
			snprintf(name, sizeof name, "%s: a G2 point replaced by the identity is refused", object_name[o]);
			check(try_object(&f, o, copy, f.len[o]) == DECODE_FAILED, name, "decoded");
			free(copy);
		}
		{
			uint8_t *copy = malloc(f.len[o]);
			char name[128];
			memcpy(copy, f.enc[o], f.len[o]);
			copy[4] = 2;
			int ok = try_object(&f, o, copy, f.len[o]) == DECODE_FAILED;
			memcpy(copy, f.enc[o], f.len[o]);
			copy[5] ^= 7;
			ok &= try_object(&f, o, copy, f.len[o]) == DECODE_FAILED;
			snprintf(name, sizeof name, "%s: another version or type is refused", object_name[o]);
			check(ok, name, "decoded");
			free(copy);
		}
	}

	/* Public parameters: GT elements not in GT, equal to one, and the identity in G2. */
	{
		uint8_t *enc;
		size_t len;
		struct fame_public *pub2;
		must(fame_public_encode(f.pub, &enc, &len), "encode");
		check(len == FAME_PUBLIC_BYTES && fame_public_decode(&pub2, enc, len) == FAME_OK &&
			memcmp(fame_public_id(pub2), fame_public_id(f.pub), 32) == 0,
			"public parameters: decoded with the same parameter id", "refused or different");
		fame_public_free(pub2);
		int ok = 1;
		uint8_t *copy = malloc(len);
		memcpy(copy, enc, len);
		copy[len - 1] ^= 1;
		ok &= fame_public_decode(&pub2, copy, len) == FAME_ERR_DECODE;
		struct bls_gt one;
		bls_gt_one(&one);
		memcpy(copy, enc, len);
		bls_gt_encode(copy + len - BLS_GT_BYTES, &one);
		ok &= fame_public_decode(&pub2, copy, len) == FAME_ERR_DECODE;
		memcpy(copy, enc, len);
		memset(copy + FAME_HEADER_BYTES, 0, 96);
		copy[FAME_HEADER_BYTES] = 0xc0;
		ok &= fame_public_decode(&pub2, copy, len) == FAME_ERR_DECODE;
		ok &= fame_public_decode(&pub2, enc, len - 1) == FAME_ERR_DECODE;
		check(ok, "public parameters: a GT element outside GT or equal to one, an identity, a short input refused",
			"decoded");
		free(copy);
		free(enc);
	}
	/* Master secret: zero and non-canonical scalars. */
	{
		uint8_t *enc;
		size_t len;
		struct fame_master *m2;
		must(fame_master_encode(msk, &enc, &len), "encode");
		int ok = len == FAME_MASTER_BYTES && fame_master_decode(&m2, enc, len) == FAME_OK;
		fame_master_free(m2);
		uint8_t *copy = malloc(len);
		memcpy(copy, enc, len);
		memset(copy + FAME_HEADER_BYTES + FAME_ID_BYTES, 0, 32);
		ok &= fame_master_decode(&m2, copy, len) == FAME_ERR_DECODE;
		memset(copy + FAME_HEADER_BYTES + FAME_ID_BYTES, 0xff, 32);
		ok &= fame_master_decode(&m2, copy, len) == FAME_ERR_DECODE;
		ok &= fame_master_decode(&m2, enc, len + 0) == FAME_OK;
		fame_master_free(m2);
		check(ok, "master secret: decodes; zero and out-of-range scalars refused", "wrong");
		free(copy);
		free(enc);
	}
	/* Non-canonical policy text and unsorted attribute names. */
	{
		uint8_t *copy = malloc(f.len[CP_CT] + 2);
		size_t at = FAME_HEADER_BYTES + FAME_ID_BYTES;
		size_t text_len = (size_t)f.enc[CP_CT][at] << 8 | f.enc[CP_CT][at + 1];
		/* Two spaces where one was: parses to the same policy but is not canonical. */
		const uint8_t *space = memchr(f.enc[CP_CT] + at + 2, ' ', text_len);
		size_t split = (size_t)(space - f.enc[CP_CT]);
		memcpy(copy, f.enc[CP_CT], split);
		copy[split] = ' ';
		memcpy(copy + split + 1, f.enc[CP_CT] + split, f.len[CP_CT] - split);
		copy[at + 1]++;
		check(try_object(&f, CP_CT, copy, f.len[CP_CT] + 1) == DECODE_FAILED,
			"CP ciphertext: a policy text that is not canonical is refused", "decoded");
		free(copy);
		copy = malloc(f.len[KP_CT]);
		memcpy(copy, f.enc[KP_CT], f.len[KP_CT]);
		/* Swap the two (name, points) entries: same length, names then out of order. */
		size_t first = FAME_HEADER_BYTES + FAME_ID_BYTES + 3 * 96 + 2;
		size_t len1 = 1 + copy[first] + 3 * 48;
		size_t len2 = f.len[KP_CT] - first - len1;
		memcpy(copy + first, f.enc[KP_CT] + first + len1, len2);
		memcpy(copy + first + len2, f.enc[KP_CT] + first, len1);
		check(try_object(&f, KP_CT, copy, f.len[KP_CT]) == DECODE_FAILED,
			"KP ciphertext: attribute names out of order are refused", "decoded");
		free(copy);
	}
	/* Keys and ciphertexts of other parameters. */
	{
		struct fixture g = {0};
		uint8_t key[32];
		make_fixture(&g, NULL, "role:billing and feeder:F12", names, 2);
		int ok = fame_cp_decaps(key, f.pub, g.cp_key, f.cp_ct) == FAME_ERR_PARAMS &&
			fame_cp_decaps(key, f.pub, f.cp_key, g.cp_ct) == FAME_ERR_PARAMS &&
			fame_kp_decaps(key, f.pub, g.kp_key, f.kp_ct) == FAME_ERR_PARAMS &&
			fame_kp_decaps(key, f.pub, f.kp_key, g.kp_ct) == FAME_ERR_PARAMS;
		uint8_t id[32];
		ok &= fame_object_id(id, g.enc[CP_CT], g.len[CP_CT]) == FAME_OK &&
			memcmp(id, fame_public_id(g.pub), 32) == 0;
		struct fame_cp_key *k2;
		const char *one[] = {"a"};
		ok &= fame_cp_keygen(&k2, f.pub, msk, one, 1) == FAME_OK;
		fame_cp_key_free(k2);
		ok &= fame_cp_keygen(&k2, g.pub, msk, one, 1) == FAME_ERR_PARAMS;
		check(ok, "keys, ciphertexts and master secrets of other parameters are reported as such", "not");
		free_fixture(&g);
	}
	/* Bad attribute lists. */
	{
		uint8_t *ct, key[32];
		size_t len;
		const char *ctl[] = {"a\nb"}, *empty[] = {""};
		char long_name[300];
		memset(long_name, 'x', 256);
		long_name[256] = '\0';
		const char *too_long[] = {long_name};
		int ok = fame_kp_encaps(&ct, &len, key, f.pub, ctl, 1) == FAME_ERR_ATTRIBUTE &&
			fame_kp_encaps(&ct, &len, key, f.pub, empty, 1) == FAME_ERR_ATTRIBUTE &&
			fame_kp_encaps(&ct, &len, key, f.pub, too_long, 1) == FAME_ERR_ATTRIBUTE &&
			fame_kp_encaps(&ct, &len, key, f.pub, ctl, 0) == FAME_ERR_ATTRIBUTE;
		check(ok, "attribute lists: empty, control bytes, too long refused", "accepted");
	}
	fame_master_free(msk);
	free_fixture(&f);
}

static double cpu_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, compare_double);
	return v[n / 2];
}

/* Median CPU milliseconds of runs of setup, keygen, encaps (cold: a fresh cache; warm) and decaps. */
static void bench(int runs, int attrs)
{
	char text[8192] = "", **names = calloc((size_t)attrs, sizeof *names);
	double *t = calloc((size_t)runs, sizeof *t), start;
	struct fame_public *pub;
	struct fame_master *msk;
	for (int i = 0; i < attrs; i++) {
		names[i] = malloc(32);
		snprintf(names[i], 32, "attribute:%d", i);
		if (i > 0)
			strcat(text, " and ");
		strcat(text, names[i]);
	}
	struct fame_policy *p = policy(text);
	const char *const *list = (const char *const *)names;
	for (int r = 0; r < runs; r++) {
		start = cpu_ms();
		must(fame_setup(&pub, &msk), "setup");
		t[r] = cpu_ms() - start;
		fame_public_free(pub);
		fame_master_free(msk);
	}
	printf("setup %.3f\n", median(t, runs));
	must(fame_setup(&pub, &msk), "setup");
	uint8_t *enc, key[32], got[32];
	size_t len;
	for (int kp = 0; kp < 2; kp++) {
		const char *s = kp ? "kp" : "cp";
		struct fame_cp_key *ck = NULL;
		struct fame_kp_key *kk = NULL;
		/* Cold: a fresh copy of the public parameters, nothing hashed yet. */
		for (int r = 0; r < runs; r++) {
			struct fame_public *fresh;
			uint8_t *penc;
			size_t plen;
			must(fame_public_encode(pub, &penc, &plen), "encode");
			must(fame_public_decode(&fresh, penc, plen), "decode");
			free(penc);
			start = cpu_ms();
			if (kp)
				must(fame_kp_encaps(&enc, &len, key, fresh, list, (size_t)attrs), "encaps");
			else
				must(fame_cp_encaps(&enc, &len, key, fresh, p), "encaps");
			t[r] = cpu_ms() - start;
			free(enc);
			fame_public_free(fresh);
		}
		printf("%s_encrypt_cold %.3f\n", s, median(t, runs));
		for (int r = 0; r < runs; r++) {
			start = cpu_ms();
			if (kp)
				must(fame_kp_encaps(&enc, &len, key, pub, list, (size_t)attrs), "encaps");
			else
				must(fame_cp_encaps(&enc, &len, key, pub, p), "encaps");
			t[r] = cpu_ms() - start;
			if (r + 1 < runs)
				free(enc);
		}
		printf("%s_encrypt %.3f\n", s, median(t, runs));
		printf("%s_ciphertext_bytes %zu\n", s, len);
		for (int r = 0; r < runs; r++) {
			start = cpu_ms();
			if (kp) {
				fame_kp_key_free(kk);
				must(fame_kp_keygen(&kk, pub, msk, p), "keygen");
			} else {
				fame_cp_key_free(ck);
				must(fame_cp_keygen(&ck, pub, msk, list, (size_t)attrs), "keygen");
			}
			t[r] = cpu_ms() - start;
		}
		printf("%s_keygen %.3f\n", s, median(t, runs));
		/* Decoding (every point checked) and decapsulation, timed apart. */
		double *cod = calloc((size_t)runs, sizeof *cod);
		for (int r = 0; r < runs; r++) {
			struct fame_kp_ciphertext *kc = NULL;
			struct fame_cp_ciphertext *cc = NULL;
			start = cpu_ms();
			if (kp)
				kc = kp_decode(enc, len);
			else
				cc = cp_decode(enc, len);
			cod[r] = cpu_ms() - start;
			start = cpu_ms();
			if (kp)
				must(fame_kp_decaps(got, pub, kk, kc), "decaps");
			else
				must(fame_cp_decaps(got, pub, ck, cc), "decaps");
			t[r] = cpu_ms() - start;
			fame_kp_ciphertext_free(kc);
			fame_cp_ciphertext_free(cc);
		}
		printf("%s_decrypt %.3f\n", s, median(t, runs));
		printf("%s_decode %.3f\n", s, median(cod, runs));
		free(cod);
		if (memcmp(got, key, 32) != 0) {
			fprintf(stderr, "driver: bench: wrong key\n");
			exit(2);
		}
		free(enc);
		fame_cp_key_free(ck);
		fame_kp_key_free(kk);
	}
	fame_public_free(pub);
	fame_master_free(msk);
	fame_policy_free(p);
	for (int i = 0; i < attrs; i++)
		free(names[i]);
	free(names);
	free(t);
}

/* One seed file: the harness's selector byte, then the object. */
static void seed(const char *dir, const char *name, uint8_t selector, const uint8_t *in, size_t len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fputc(selector, f) == EOF || fwrite(in, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
}

static void corpus(const char *dir)
{
	static const char *const names[] = {"a", "b", "role:billing"};
	const char *text = "a and (b or \"role:billing\")";
	struct fame_public *pub;
	struct fame_master *msk;
	struct fame_cp_key *ck;
	struct fame_kp_key *kk;
	struct fame_policy *p = policy(text);
	uint8_t *enc, key[FAME_KEY_BYTES];
	size_t len;
	must(fame_setup(&pub, &msk), "setup");
	must(fame_public_encode(pub, &enc, &len), "encode");
	seed(dir, "public", 0, enc, len);
	free(enc);
	must(fame_master_encode(msk, &enc, &len), "encode");
	seed(dir, "master", 1, enc, len);
	free(enc);
	must(fame_cp_keygen(&ck, pub, msk, names, 3), "CP keygen");
	must(fame_cp_key_encode(ck, &enc, &len), "encode");
	seed(dir, "cp-key", 2, enc, len);
	free(enc);
	must(fame_kp_keygen(&kk, pub, msk, p), "KP keygen");
	must(fame_kp_key_encode(kk, &enc, &len), "encode");
	seed(dir, "kp-key", 3, enc, len);
	free(enc);
	must(fame_cp_encaps(&enc, &len, key, pub, p), "CP encaps");
	seed(dir, "cp-ciphertext", 4, enc, len);
	free(enc);
	must(fame_kp_encaps(&enc, &len, key, pub, names, 2), "KP encaps");
	seed(dir, "kp-ciphertext", 5, enc, len);
	free(enc);
	seed(dir, "policy", 6, (const uint8_t *)text, strlen(text));
	fame_cp_key_free(ck);
	fame_kp_key_free(kk);
	fame_policy_free(p);
	fame_public_free(pub);
	fame_master_free(msk);
}

int main(int argc, char *argv[])
{
	if (argc >= 2 && strcmp(argv[1], "check") == 0) {
		struct fame_public *pub;
		struct fame_master *msk;
		check_primitives();
		must(fame_setup(&pub, &msk), "setup");
		check_hashing(pub);
		check_column_skip(pub, msk);
		fame_public_free(pub);
		fame_master_free(msk);
	} else if (argc == 3 && strcmp(argv[1], "policy") == 0) {
		struct fame_policy *p;
		struct fame_policy_error e;
		if (fame_policy_parse(&p, argv[2], strlen(argv[2]), &e) != FAME_OK) {
			printf("error %zu: %s\n", e.position, e.message);
			return 1;
		}
		printf("ok %zu %zu %s\n", fame_policy_columns(p), fame_policy_rows(p), fame_policy_text(p));
		for (size_t i = 0; i < fame_policy_rows(p); i++) {
			printf("row %s:", p->row_attribute[i]);
			for (size_t j = 0; j < fame_policy_columns(p); j++)
				printf(" %d", fame_policy_entry(p, i, j));
			printf("\n");
		}
		fame_policy_free(p);
	} else if (argc == 3 && strcmp(argv[1], "roundtrip") == 0) {
		roundtrip(atoi(argv[2]));
	} else if (argc == 2 && strcmp(argv[1], "tamper") == 0) {
		tamper();
	} else if (argc == 2 && strcmp(argv[1], "invalid") == 0) {
		invalid();
	} else if (argc == 4 && strcmp(argv[1], "bench") == 0) {
		bench(atoi(argv[2]), atoi(argv[3]));
	} else if (argc == 3 && strcmp(argv[1], "corpus") == 0) {
		corpus(argv[2]);
	} else {
		fprintf(stderr, "usage: driver check | policy TEXT | roundtrip N | tamper | invalid | bench N ATTRS | corpus DIR\n");
		return 2;
	}
	return failures ? 1 : 0;
}
