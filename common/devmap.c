#include "devmap.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "error.h"

struct slot {
	const char *id; /* a copy the map owns, or the caller's own key (borrowed) */
	uint32_t len;   /* ids and digests are short */
	uint32_t hash;  /* enough for the home slot of a table of up to 2^32 slots */
	void *value;
};

#define HASH_KEY_LEN 16 /* SipHash's key */

struct devmap {
	struct slot *slots;
	size_t cap; /* power of two */
	size_t count;
	bool borrowed; /* ids are the caller's, not copies */
	EVP_MAC_CTX *mac; /* SipHash-2-4 with a 64-bit output, set up once */
	unsigned char key[HASH_KEY_LEN];
};

/*
 * Device ids come from the input, so whoever sends frames chooses them: with
 * an unkeyed hash (FNV-1a before) ids that share a slot are easy to make, and
 * each lookup then walks all of them. SipHash under a random key of each map
 * leaves nothing to aim at. Re-initialising the one context with the key
 * costs far less than a new context per id.
 */
static uint32_t hash_id(const struct devmap *m, const char *id, size_t len)
{
	unsigned char out[8];
	size_t out_len = 0;
	uint64_t h;
	if (!EVP_MAC_init(m->mac, m->key, sizeof m->key, NULL) ||
	    !EVP_MAC_update(m->mac, (const unsigned char *)id, len) ||
	    !EVP_MAC_final(m->mac, out, &out_len, sizeof out) || out_len != sizeof out)
		die_ssl(EXIT_SYSTEM, "hashing a device id");
	memcpy(&h, out, sizeof h);
	return (uint32_t)h;
}

static struct devmap *new_map(size_t expected, bool borrowed)
{
	struct devmap *m = xcalloc(1, sizeof *m);
	m->borrowed = borrowed;
	/* As put() grows it: at most three quarters full. */
	m->cap = 64;
	while (expected > m->cap / 4 * 3)
		m->cap *= 2;
	m->slots = xcalloc(m->cap, sizeof *m->slots);
	size_t size = 8;
	OSSL_PARAM params[] = {OSSL_PARAM_size_t(OSSL_MAC_PARAM_SIZE, &size), OSSL_PARAM_END};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
	if (!mac || !(m->mac = EVP_MAC_CTX_new(mac)) || RAND_bytes(m->key, sizeof m->key) != 1 ||
	    !EVP_MAC_init(m->mac, m->key, sizeof m->key, params))
		die_ssl(EXIT_SYSTEM, "setting up SipHash for a device table");
	EVP_MAC_free(mac); /* the context holds its own reference */
	return m;
}

struct devmap *devmap_new(void)
{
	return new_map(0, false);
}

struct devmap *devmap_new_borrowing(size_t expected)
{
	return new_map(expected, true);
}

void devmap_free(struct devmap *m, void (*free_value)(void *))
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].id)
			continue;
		if (!m->borrowed)
			free((char *)m->slots[i].id);
		if (free_value)
			free_value(m->slots[i].value);
	}
	free(m->slots);
	EVP_MAC_CTX_free(m->mac);
	OPENSSL_cleanse(m->key, sizeof m->key);
	free(m);
}

static struct slot *find(const struct devmap *m, const char *id, size_t len, uint32_t h)
{
	size_t mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct slot *s = &m->slots[i];
		if (!s->id || (s->hash == h && s->len == len && memcmp(s->id, id, len) == 0))
			return s;
	}
}

void *devmap_get(const struct devmap *m, const char *id, size_t len)
{
	struct slot *s = find(m, id, len, hash_id(m, id, len));
	return s->id ? s->value : NULL;
}

static void grow(struct devmap *m)
{
	struct slot *old = m->slots;
	size_t old_cap = m->cap;
	m->cap *= 2;
	m->slots = xcalloc(m->cap, sizeof *m->slots);
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].id)
			*find(m, old[i].id, old[i].len, old[i].hash) = old[i];
	free(old);
}

void *devmap_put(struct devmap *m, const char *id, size_t len, void *value)
{
	uint32_t h = hash_id(m, id, len);
	struct slot *s = find(m, id, len, h);
	if (s->id) {
		void *prev = s->value;
		s->value = value;
		return prev;
	}
	if ((m->count + 1) * 4 > m->cap * 3) {
		grow(m);
		s = find(m, id, len, h);
	}
	if (m->borrowed) {
		s->id = id;
	} else {
		char *copy = xmalloc(len + 1);
		memcpy(copy, id, len);
		copy[len] = '\0';
		s->id = copy;
	}
	s->len = (uint32_t)len;
	s->hash = h;
	s->value = value;
	m->count++;
	return NULL;
}

void *devmap_remove(struct devmap *m, const char *id, size_t len)
{
	struct slot *s = find(m, id, len, hash_id(m, id, len));
	if (!s->id)
		return NULL;
	void *value = s->value;
	if (!m->borrowed)
		free((char *)s->id);
	/*
	 * Backward-shift deletion keeps every probe run unbroken without
	 * tombstones: each later entry of the run moves into the hole unless
	 * its home slot lies cyclically between the hole and where it sits.
	 */
	size_t mask = m->cap - 1, hole = (size_t)(s - m->slots);
	for (size_t j = (hole + 1) & mask; m->slots[j].id; j = (j + 1) & mask) {
		size_t home = m->slots[j].hash & mask;
		bool stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
		if (!stays) {
			m->slots[hole] = m->slots[j];
			hole = j;
		}
	}
	memset(&m->slots[hole], 0, sizeof m->slots[hole]);
	m->count--;
	return value;
}

size_t devmap_count(const struct devmap *m)
{
	return m->count;
}

size_t devmap_longest_probe(const struct devmap *m)
{
	size_t mask = m->cap - 1, longest = 0;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].id)
			continue;
		size_t probes = ((i - (m->slots[i].hash & mask)) & mask) + 1;
		if (probes > longest)
			longest = probes;
	}
	return longest;
}

void devmap_each(const struct devmap *m, int (*fn)(const char *id, void *value, void *arg), void *arg)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].id && fn(m->slots[i].id, m->slots[i].value, arg))
			return;
}
