#include "devmap.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

struct slot {
	char *id;
	size_t len;
	uint64_t hash;
	void *value;
};

struct devmap {
	struct slot *slots;
	size_t cap; /* power of two */
	size_t count;
};

/* FNV-1a: device ids are short and not attacker-chosen beyond the id charset. */
static uint64_t hash_id(const char *id, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)id[i];
		h *= 1099511628211ULL;
	}
	return h;
}

struct devmap *devmap_new(void)
{
	struct devmap *m = xcalloc(1, sizeof *m);
	m->cap = 64;
	m->slots = xcalloc(m->cap, sizeof *m->slots);
	return m;
}

void devmap_free(struct devmap *m, void (*free_value)(void *))
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].id)
			continue;
		free(m->slots[i].id);
		if (free_value)
			free_value(m->slots[i].value);
	}
	free(m->slots);
	free(m);
}

static struct slot *find(const struct devmap *m, const char *id, size_t len, uint64_t h)
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
	struct slot *s = find(m, id, len, hash_id(id, len));
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
	uint64_t h = hash_id(id, len);
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
	s->id = xmalloc(len + 1);
	memcpy(s->id, id, len);
	s->id[len] = '\0';
	s->len = len;
	s->hash = h;
	s->value = value;
	m->count++;
	return NULL;
}

void *devmap_remove(struct devmap *m, const char *id, size_t len)
{
	struct slot *s = find(m, id, len, hash_id(id, len));
	if (!s->id)
		return NULL;
	void *value = s->value;
	free(s->id);
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

void devmap_each(const struct devmap *m, int (*fn)(const char *id, void *value, void *arg), void *arg)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].id && fn(m->slots[i].id, m->slots[i].value, arg))
			return;
}
