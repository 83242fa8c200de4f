/*
 * A map from device id to a caller-owned value: open addressing, grows as
 * needed, ids hashed with SipHash under a random key of each map. One thread
 * at a time, lookups included: they share the map's hashing context.
 */
#ifndef SMQTT_DEVMAP_H
#define SMQTT_DEVMAP_H

#include <stddef.h>

struct devmap;

struct devmap *devmap_new(void);
/*
 * A map that keeps the caller's keys instead of copies, sized to hold
 * EXPECTED entries without growing. Each key must stay as it
 * was, where it was, until its entry is removed; devmap_each() then passes
 * the keys as given, not NUL-terminated copies.
 */
struct devmap *devmap_new_borrowing(size_t expected);
/* Frees the map and its copies of the keys; values (free_value may be NULL) and borrowed keys are the caller's. */
void devmap_free(struct devmap *m, void (*free_value)(void *));
void *devmap_get(const struct devmap *m, const char *id, size_t len);
/* Insert or replace; returns the previous value, if any. */
void *devmap_put(struct devmap *m, const char *id, size_t len, void *value);
/* Remove an entry; returns its value (NULL if absent) for the caller to free. */
void *devmap_remove(struct devmap *m, const char *id, size_t len);
size_t devmap_count(const struct devmap *m);
/* The most slots a lookup of an id in the map visits: how well the hash spreads the ids. */
size_t devmap_longest_probe(const struct devmap *m);
/* Visit every entry; stop early when fn returns non-zero. */
void devmap_each(const struct devmap *m, int (*fn)(const char *id, void *value, void *arg), void *arg);

#endif
