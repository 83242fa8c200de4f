/*
 * libFuzzer harness: the FAME decoders (common/fame/encode.c) and the policy
 * parser. The first byte picks the decoder, the rest is its input:
 *
 *   0 public parameters   1 master secret   2 CP key   3 KP key
 *   4 CP ciphertext       5 KP ciphertext   6 policy text
 *
 * An object that decodes must encode back to exactly the bytes it came
 * from (one encoding per object), and must name the parameter id that
 * fame_object_id reads from its header. A policy that parses must parse
 * again from its canonical text to the same text, rows and columns. The
 * seed corpus (tests/fuzz/corpus/fame_decode) holds valid objects of every
 * kind, written by the test driver (tests/fame/driver.c corpus).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fame/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const uint8_t *in, size_t len, uint8_t *out, size_t out_len)
{
	if (out_len != len || memcmp(in, out, len) != 0)
		abort();
	free(out);
}

static void names_id(const uint8_t *in, size_t len, const uint8_t id[FAME_ID_BYTES])
{
	uint8_t got[FAME_ID_BYTES];
	if (fame_object_id(got, in, len) != FAME_OK || memcmp(got, id, FAME_ID_BYTES) != 0)
		abort();
}

static void policy_case(const char *text, size_t len)
{
	struct fame_policy *p, *q;
	struct fame_policy_error e;
	int status = fame_policy_parse(&p, text, len, &e);
	if (status != FAME_OK) {
		/* Every refusal names a place inside the text (or just past it) and a reason. */
		if (status != FAME_ERR_POLICY || e.position > len || e.message[0] == '\0')
			abort();
		return;
	}
	const char *canonical = fame_policy_text(p);
	if (fame_policy_parse(&q, canonical, strlen(canonical), NULL) != FAME_OK)
		abort();
	if (strcmp(fame_policy_text(q), canonical) != 0 || fame_policy_rows(p) != fame_policy_rows(q) ||
	    fame_policy_columns(p) != fame_policy_columns(q) || fame_policy_rows(p) == 0)
		abort();
	for (size_t r = 0; r < fame_policy_rows(p); r++)
		for (size_t c = 0; c < fame_policy_columns(p); c++)
			if (fame_policy_entry(p, r, c) != fame_policy_entry(q, r, c))
				abort();
	fame_policy_free(p);
	fame_policy_free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* A copy of exactly the input, so that reads past it are caught. */
	size_t len = size - 1;
	uint8_t *in = malloc(len ? len : 1);
	if (!in)
		return 0;
	memcpy(in, data + 1, len);
	uint8_t *out, digest[32];
	size_t out_len;
	switch (data[0] % 7) {
	case 0: {
		struct fame_public *pub;
		if (fame_public_decode(&pub, in, len) == FAME_OK) {
			if (fame_public_encode(pub, &out, &out_len) != FAME_OK)
				abort();
			same(in, len, out, out_len);
			/* The id of the parameters is the digest of their encoding. */
			if (sha256(digest, in, len) != FAME_OK || memcmp(digest, fame_public_id(pub), 32) != 0)
				abort();
			fame_public_free(pub);
		}
		break;
	}
	case 1: {
		struct fame_master *m;
		if (fame_master_decode(&m, in, len) == FAME_OK) {
			if (fame_master_encode(m, &out, &out_len) != FAME_OK)
				abort();
			same(in, len, out, out_len);
			names_id(in, len, m->id);
			fame_master_free(m);
		}
		break;
	}
	case 2: {
		struct fame_cp_key *k;
		if (fame_cp_key_decode(&k, in, len) == FAME_OK) {
			if (fame_cp_key_encode(k, &out, &out_len) != FAME_OK)
				abort();
			same(in, len, out, out_len);
			names_id(in, len, k->id);
			fame_cp_key_free(k);
		}
		break;
	}
	case 3: {
		struct fame_kp_key *k;
		if (fame_kp_key_decode(&k, in, len) == FAME_OK) {
			if (fame_kp_key_encode(k, &out, &out_len) != FAME_OK)
				abort();
			same(in, len, out, out_len);
			names_id(in, len, k->id);
			fame_kp_key_free(k);
		}
		break;
	}
	case 4: {
		struct fame_cp_ciphertext *c;
		if (fame_cp_ciphertext_decode(&c, in, len) == FAME_OK) {
			if (cp_ciphertext_encode(c->id, c->policy, c->c0, (const struct bls_g1(*)[3])c->row, &out,
				    &out_len) != FAME_OK)
				abort();
			same(in, len, out, out_len);
			names_id(in, len, c->id);
			/* The capsule key depends on the digest of the whole encoding. */
			if (sha256(digest, in, len) != FAME_OK || memcmp(digest, c->digest, 32) != 0)
				abort();
			fame_cp_ciphertext_free(c);
		}
		break;
	}
	case 5: {
		struct fame_kp_ciphertext *c;
		if (fame_kp_ciphertext_decode(&c, in, len) == FAME_OK) {
			if (kp_ciphertext_encode(c->id, &c->set, c->c0, &out, &out_len) != FAME_OK)
				abort();
			same(in, len, out, out_len);
			names_id(in, len, c->id);
			if (sha256(digest, in, len) != FAME_OK || memcmp(digest, c->digest, 32) != 0)
				abort();
			fame_kp_ciphertext_free(c);
		}
		break;
	}
	default:
		policy_case((const char *)in, len);
		break;
	}
	free(in);
	return 0;
}
