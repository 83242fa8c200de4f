/*
 * Test helper for common/devmap.c, built and run by tests/devmap.bats.
 *
 *     devmap-probe collide N   write N device ids that the hash devmap used
 *                              before (64-bit FNV-1a, with its offset basis
 *                              one digit short: 1469598103934665603) sends to
 *                              one slot of any table up to 2^32 slots
 *     devmap-probe < ids       put the ids in a devmap, check that each is
 *                              found, removed and kept as it should be, and
 *                              print "N ids, longest probe P"
 *     devmap-probe borrow < ids
 *                              the same with a map that keeps the ids given
 *                              (devmap_new_borrowing), sized for 1000 ids:
 *                              it grows past that as a copying one does
 *
 * The collisions: a table slot is the low bits of the hash, and the low 32
 * bits of FNV-1a depend only on the low 32 bits of its state, since
 * multiplication and xor carry nothing downwards. For each position, a
 * birthday search among 2^19 blocks of 4 characters (spread over all 2^24 by
 * a multiplicative step) finds two that take that state to the same value;
 * any choice of one block per position then ends in the same state. 14
 * positions give 16384 ids of 56 characters.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmap.h"
#include "error.h"
#include "frame.h"

#define OFFSET_BASIS 1469598103934665603ULL
#define BLOCK 4
#define POSITIONS_MAX (DEVICE_ID_MAX / BLOCK)
#define CANDIDATES (1u << 19) /* about 90 pairs per search */

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/* Candidate n: 24 bits of n times the golden ratio, 6 to a character. */
static uint32_t candidate_block(uint32_t n)
{
	return (uint32_t)(((uint64_t)n * 0x9e3779b97f4a7c15u) >> 40);
}

static void block_text(uint32_t block, char out[BLOCK])
{
	for (int i = 0; i < BLOCK; i++)
		out[i] = alphabet[(block >> (6 * i)) & 63];
}

/* FNV-1a's low 32 bits: the prime is 2^40 + 0x1b3. */
static uint32_t fnv_low(uint32_t h, const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)text[i];
		h *= 0x1b3u;
	}
	return h;
}

struct candidate {
	uint32_t state, block;
};

static int by_state(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;
	return x->state < y->state ? -1 : x->state > y->state;
}

static void collide(unsigned long n)
{
	char blocks[POSITIONS_MAX][2][BLOCK];
	int positions = 0;
	uint32_t state = (uint32_t)OFFSET_BASIS;
	struct candidate *c = xmalloc(CANDIDATES * sizeof *c);
	while ((1ul << positions) < n) {
		if (positions == POSITIONS_MAX)
			die(EXIT_USAGE, "at most %lu ids", 1ul << POSITIONS_MAX);
		for (uint32_t i = 0; i < CANDIDATES; i++) {
			char text[BLOCK];
			uint32_t block = candidate_block(i);
			block_text(block, text);
			c[i] = (struct candidate){fnv_low(state, text, BLOCK), block};
		}
		qsort(c, CANDIDATES, sizeof *c, by_state);
		size_t i = 0;
		while (i + 1 < CANDIDATES && (c[i].state != c[i + 1].state || c[i].block == c[i + 1].block))
			i++;
		if (i + 1 == CANDIDATES)
			die(EXIT_SYSTEM, "no pair of blocks found at position %d", positions);
		block_text(c[i].block, blocks[positions][0]);
		block_text(c[i + 1].block, blocks[positions][1]);
		state = c[i].state;
		positions++;
	}
	free(c);
	for (unsigned long id = 0; id < n; id++) {
		char text[DEVICE_ID_MAX + 1];
		for (int p = 0; p < positions; p++)
			memcpy(text + p * BLOCK, blocks[p][(id >> p) & 1], BLOCK);
		text[positions * BLOCK] = '\0';
		if (fnv_low((uint32_t)OFFSET_BASIS, text, strlen(text)) != state)
			die(EXIT_SYSTEM, "%s does not collide", text);
		puts(text);
	}
}

static void probe(bool borrow)
{
	struct devmap *m = borrow ? devmap_new_borrowing(1000) : devmap_new();
	char **ids = NULL, line[DEVICE_ID_MAX + 2];
	size_t n = 0, cap = 0;
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\n")] = '\0';
		if (n == cap)
			ids = xrealloc(ids, (cap = cap ? 2 * cap : 1024) * sizeof *ids);
		ids[n] = xstrdup(line);
		if (devmap_put(m, ids[n], strlen(ids[n]), ids[n]))
			die(EXIT_USAGE, "%s: given twice", ids[n]);
		n++;
	}
	size_t longest = devmap_longest_probe(m);
	for (size_t i = 0; i < n; i++)
		if (devmap_get(m, ids[i], strlen(ids[i])) != ids[i])
			die(EXIT_SYSTEM, "%s: not found after putting it", ids[i]);
	for (size_t i = 0; i < n; i += 2)
		if (devmap_remove(m, ids[i], strlen(ids[i])) != ids[i])
			die(EXIT_SYSTEM, "%s: not removed", ids[i]);
	for (size_t i = 0; i < n; i++)
		if (devmap_get(m, ids[i], strlen(ids[i])) != (i % 2 ? ids[i] : NULL))
			die(EXIT_SYSTEM, "%s: wrong after removing every other id", ids[i]);
	if (devmap_count(m) != n / 2)
		die(EXIT_SYSTEM, "%zu ids left, expected %zu", devmap_count(m), n / 2);
	printf("%zu ids, longest probe %zu\n", n, longest);
	devmap_free(m, NULL);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

int main(int argc, char **argv)
{
	error_init(argv);
	if (argc == 3 && strcmp(argv[1], "collide") == 0)
		collide(strtoul(argv[2], NULL, 10));
	else if (argc == 1 || (argc == 2 && strcmp(argv[1], "borrow") == 0))
		probe(argc == 2);
	else
		die(EXIT_USAGE, "usage: devmap-probe collide N | devmap-probe [borrow] < ids");
	return EXIT_OK;
}
