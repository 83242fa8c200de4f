#include "trust.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "devmap.h"
#include "error.h"
#include "lineio.h"
#include "registry.h"
#include "x509.h"

_Static_assert(TRUST_KEYS_MAX == REGISTRY_ACTIVE_KEYS_MAX, "the cache holds every active key of a device");

/* A key of a device whose stored frames are re-verified. */
struct stored_key {
	struct signing_key *key;
	bool active, revoked, compromised, known;
	uint64_t last_seq; /* not active: the last frame it may have signed, when known */
};

/* Numbers of a device that another verifier took (trust_taken), sorted; bit 63 set: too old to tell. */
#define TAKEN_TOO_OLD (UINT64_C(1) << 63)
struct taken {
	uint64_t *seq;
	size_t n;
	uint64_t registry_last; /* the registry's highest number when they were found */
};

/*
 * ECDSA keys of registry devices are lent from a pool, by curve, rather than
 * built for each device cached: building one (copying the curve, a verifying
 * context) costs about 6 µs and 2.5 KB, giving a pooled one another point
 * under 1 µs. The pool keeps keys for a quarter of the devices the cache
 * keeps, at most KEY_POOL_KEYS per curve: a device's replay state is worth
 * keeping longer than its key object. A device loaded for its first frame
 * borrows its keys at once (which checks the points); the pool lends the
 * least recently lent one next, except keys lent in the current batch
 * (trust_pin_begin), and grows when all of those are.
 */
#define KEY_POOL_KEYS 2048

struct pooled_key {
	struct signing_key *key;
	struct trusted_device *owner; /* NULL: free */
	unsigned index;               /* owner->keys[index] */
	uint64_t pinned;              /* the batch that last used it */
};

struct key_pool {
	struct pooled_key *keys;
	size_t n, cap, hand;
};

/*
 * Devices loaded from a registry file in one read snapshot
 * (registry_read_begin) before it is renewed. Taking a snapshot per device
 * costs about as much as reading the device; the snapshot ends anyway when
 * replay state is saved, at the end of a batch and before waiting for input.
 */
#define SNAPSHOT_LOADS 1024

struct trust {
	struct devmap *devices;
	int64_t now; /* the time validity is checked against, read at each lookup */

	/* Registry source; NULL when trust comes from files. */
	struct registry *registry;
	struct trusted_device **ring; /* the cached devices, swept by a clock hand */
	size_t capacity, count, hand;
	struct trusted_device **dirty; /* devices whose replay state is not yet in the registry */
	size_t ndirty, dirty_cap;
	struct devmap *taken; /* device -> struct taken */
	int64_t generation; /* the registry's change counter when the cache last caught up */
	uint64_t batch;      /* nonzero between trust_pin_begin and trust_pin_end */
	uint64_t batches;    /* batches begun so far: the stamp of the current one */
	EVP_PKEY *curves[2]; /* P-256 and P-384 domain parameters, copied into each key */
	struct key_pool pool[2]; /* P-256 and P-384 */
	bool stored;         /* re-verifying stored frames (trust_use_registry) */
	size_t snapshot_loads; /* devices loaded in the registry's current read snapshot */
	char why[128];       /* trust_explain_invalid's text for stored frames */
};

const char *trust_refusal_text(enum trust_refusal why)
{
	switch (why) {
	case TRUST_UNKNOWN_DEVICE:
		return "unknown device";
	case TRUST_REVOKED_DEVICE:
		return "revoked device";
	case TRUST_NO_ACTIVE_KEY:
		return "no active key";
	case TRUST_EXPIRED:
		return "expired certificate";
	case TRUST_NOT_YET_VALID:
		return "certificate not yet valid";
	}
	return "refused";
}

struct trust *trust_new(void)
{
	struct trust *t = xcalloc(1, sizeof *t);
	t->devices = devmap_new();
	t->taken = devmap_new();
	return t;
}

static int curve_of(enum key_type type)
{
	return type == KEY_P256 ? 0 : type == KEY_P384 ? 1 : -1;
}

/*
 * Give d's key i back to the pool if it is pooled (true); t NULL: the pool
 * is being freed as well.
 */
static bool return_key(struct trust *t, struct trusted_device *d, size_t i)
{
	if (!d->slot[i])
		return false;
	if (t && d->keys[i]) {
		struct pooled_key *k = &t->pool[curve_of(d->type[i])].keys[d->slot[i] - 1];
		k->owner = NULL;
		d->keys[i] = NULL;
	}
	d->slot[i] = 0;
	return true;
}

static void free_keys(struct trust *t, struct trusted_device *d)
{
	for (size_t i = 0; i < d->nkeys; i++)
		if (!return_key(t, d, i))
			signing_key_free(d->keys[i]);
	d->nkeys = 0;
	for (size_t i = 0; i < d->nstored; i++)
		signing_key_free(d->stored[i].key);
	free(d->stored);
	d->stored = NULL;
	d->nstored = 0;
}

/* At trust_free: pooled keys are freed with the pool. */
static void free_device(void *p)
{
	struct trusted_device *d = p;
	free_keys(NULL, d);
	free(d);
}

static void free_taken(void *p)
{
	struct taken *k = p;
	free(k->seq);
	free(k);
}

void trust_free(struct trust *t)
{
	if (!t)
		return;
	devmap_free(t->devices, free_device);
	for (size_t c = 0; c < sizeof t->pool / sizeof *t->pool; c++) {
		for (size_t i = 0; i < t->pool[c].n; i++)
			signing_key_free(t->pool[c].keys[i].key);
		free(t->pool[c].keys);
	}
	devmap_free(t->taken, free_taken);
	free(t->ring);
	free(t->dirty);
	for (size_t i = 0; i < sizeof t->curves / sizeof *t->curves; i++)
		EVP_PKEY_free(t->curves[i]);
	registry_close(t->registry);
	free(t);
}

/* trust_close's trust, reachable to the end so leak checkers do not count what the exit frees. */
static struct trust *volatile closed_trust;

void trust_close(struct trust *t)
{
	if (!t)
		return;
	if (!t->registry) {
		trust_free(t);
		return;
	}
	registry_close(t->registry);
	t->registry = NULL;
	closed_trust = t;
}

static struct trusted_device *new_device(const char *id, size_t len)
{
	struct trusted_device *d = xcalloc(1, sizeof *d);
	memcpy(d->id, id, len);
	d->id_len = len;
	replay_init(&d->window);
	return d;
}

void trust_add_file(struct trust *t, const char *device, const char *path)
{
	X509 *cert = NULL;
	EVP_PKEY *pkey = x509_load_public(path, &cert);
	char cn[DEVICE_ID_MAX + 1];
	if (!device) {
		if (!cert)
			die(EXIT_USAGE, "trust file %s: a public key needs its device id (-p DEVICE=%s)", path, path);
		if (!x509_common_name(cert, cn, sizeof cn) || !device_id_valid(cn, strlen(cn)))
			die(EXIT_CONFIG, "certificate %s: subject CN is not a valid device id", path);
		device = cn;
	}
	X509_free(cert);
	if (!device_id_valid(device, strlen(device))) {
		char shown[ESCAPED_SIZE(DEVICE_ID_MAX)];
		die(EXIT_USAGE, "%s: invalid device id (1-64 of A-Z a-z 0-9 . _ -)",
		    escape_text(device, strlen(device), shown, sizeof shown));
	}
	struct signing_key *key = signing_key_new(pkey, false);
	if (!key) {
		EVP_PKEY_free(pkey); /* the key is the caller's until signing_key_new takes it */
		die(EXIT_CONFIG, "trust file %s: unsupported key type (use p256, p384 or ed25519)", path);
	}

	struct trusted_device *d = devmap_get(t->devices, device, strlen(device));
	if (!d) {
		d = new_device(device, strlen(device));
		devmap_put(t->devices, device, strlen(device), d);
	}
	if (d->nkeys == TRUST_KEYS_MAX)
		die(EXIT_USAGE, "device %s: more than %d keys given", device, TRUST_KEYS_MAX);
	/* Trust files carry no validity: their keys are trusted as given. */
	d->not_before[d->nkeys] = INT64_MIN;
	d->not_after[d->nkeys] = INT64_MAX;
	d->keys[d->nkeys++] = key;
}

/* ---- registry source ---- */

static EVP_PKEY *curve_parameters(const char *group)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *params = NULL;
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
		OSSL_PARAM_construct_end(),
	};
	if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 || EVP_PKEY_fromdata(ctx, &params, EVP_PKEY_KEY_PARAMETERS, p) <= 0)
		die_ssl(EXIT_SYSTEM, "setting up %s", group);
	EVP_PKEY_CTX_free(ctx);
	return params;
}

void trust_use_registry(struct trust *t, const char *path, size_t cache_devices, bool stored)
{
	/* Re-verification never writes: on a file, a read-only connection makes sure of it. */
	t->registry = registry_open(path, !stored);
	t->stored = stored;
	t->capacity = cache_devices;
	t->ring = xcalloc(cache_devices, sizeof *t->ring);
	t->generation = registry_generation(t->registry);
	registry_changed_elsewhere(t->registry);
	t->curves[0] = curve_parameters("P-256");
	t->curves[1] = curve_parameters("P-384");
}

/*
 * A verifying key from the registry's stored form. Copying the curve from a
 * template and setting the encoded point (checked to be on the curve) costs a
 * fraction of decoding the SubjectPublicKeyInfo through OpenSSL's decoders,
 * and the cache loads keys on the per-frame path.
 */
static struct signing_key *key_from_point(struct trust *t, enum key_type type, const unsigned char *point,
					  size_t len)
{
	EVP_PKEY *pkey = NULL;
	if (type == KEY_ED25519) {
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, point, len);
	} else {
		pkey = EVP_PKEY_new();
		if (pkey && (!EVP_PKEY_copy_parameters(pkey, t->curves[type == KEY_P256 ? 0 : 1]) ||
			     !EVP_PKEY_set1_encoded_public_key(pkey, point, len))) {
			EVP_PKEY_free(pkey);
			pkey = NULL;
		}
	}
	struct signing_key *k = pkey ? signing_key_new(pkey, false) : NULL;
	if (!k)
		EVP_PKEY_free(pkey);
	return k;
}

/* A slot of curve c's pool for a key to lend: the next one not used in the current batch, or a new one. */
static size_t pool_slot(struct trust *t, int c)
{
	struct key_pool *p = &t->pool[c];
	/* Keys for a quarter of the devices cached, at most KEY_POOL_KEYS, and room for one device's. */
	size_t keep = t->capacity / 4 < KEY_POOL_KEYS ? t->capacity / 4 : KEY_POOL_KEYS;
	if (keep < TRUST_KEYS_MAX)
		keep = TRUST_KEYS_MAX;
	if (p->n >= keep) {
		for (size_t tries = 0; tries < p->n; tries++) {
			size_t at = p->hand;
			struct pooled_key *k = &p->keys[at];
			p->hand = (p->hand + 1) % p->n;
			if (t->batch && k->pinned == t->batch)
				continue;
			if (k->owner) {
				k->owner->keys[k->index] = NULL;
				k->owner = NULL;
			}
			return at;
		}
	}
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		p->keys = xrealloc(p->keys, p->cap * sizeof *p->keys);
		memset(p->keys + p->n, 0, (p->cap - p->n) * sizeof *p->keys);
	}
	return p->n++;
}

/*
 * Key i of d, lent from the pool if it is a pooled key not lent to d now;
 * it stays d's until the end of the current batch at least. Dies if its
 * point is not on its curve.
 */
static struct signing_key *device_key(struct trust *t, struct trusted_device *d, size_t i)
{
	if (!d->slot[i])
		return d->keys[i];
	int c = curve_of(d->type[i]);
	struct pooled_key *k;
	if (d->keys[i]) {
		k = &t->pool[c].keys[d->slot[i] - 1];
	} else {
		size_t at = pool_slot(t, c);
		k = &t->pool[c].keys[at];
		if (k->key && !signing_key_set_public(k->key, d->type[i], d->point[i], d->point_len[i])) {
			signing_key_free(k->key);
			k->key = NULL;
		}
		if (!k->key)
			k->key = key_from_point(t, d->type[i], d->point[i], d->point_len[i]);
		if (!k->key)
			die_ssl(EXIT_CONFIG, "registry %s: device %s: damaged public key", registry_path(t->registry),
				d->id);
		k->owner = d;
		k->index = (unsigned)i;
		d->keys[i] = k->key;
		d->slot[i] = (uint32_t)at + 1;
	}
	k->pinned = t->batch;
	return d->keys[i];
}

static int compare_seq(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a & ~TAKEN_TOO_OLD, y = *(const uint64_t *)b & ~TAKEN_TOO_OLD;
	return (x > y) - (x < y);
}

/*
 * The numbers this verifier accepted since its last save that the registry
 * holds as accepted (or closed) already: another verifier took them.
 */
static void note_taken(struct trust *t, const struct trusted_device *d, const struct replay_window *stored)
{
	struct taken *k = devmap_get(t->taken, d->id, d->id_len);
	size_t before = k ? k->n : 0;
	for (size_t w = 0; w < REPLAY_WORDS; w++) {
		for (uint64_t bits = d->fresh.seen[w]; bits; bits &= bits - 1) {
			uint64_t seq = d->fresh.last - (64 * w + (size_t)__builtin_ctzll(bits));
			if (!replay_bit(stored, seq))
				continue;
			if (!k) {
				k = xcalloc(1, sizeof *k);
				devmap_put(t->taken, d->id, d->id_len, k);
			}
			k->seq = xrealloc(k->seq, (k->n + 1) * sizeof *k->seq);
			k->seq[k->n++] = seq | (replay_check(stored, seq) == REPLAY_TOO_OLD ? TAKEN_TOO_OLD : 0);
		}
	}
	if (k && k->n > before) {
		qsort(k->seq, k->n, sizeof *k->seq, compare_seq);
		if (stored->last > k->registry_last)
			k->registry_last = stored->last;
	}
}

/* A device's replay state as the registry held it, read in save_replay_state's transaction. */
struct stored_state {
	bool found, has_digest;
	struct replay_window window;
	unsigned char digest[DIGEST_LEN];
};

/* Pauses between attempts to save replay state on a server that failed: doubling up to the last. */
#define SAVE_RETRY_FIRST_MS 100
#define SAVE_RETRY_MAX_MS 5000

/*
 * Write the replay state of every device with accepted frames to the
 * registry, in one transaction: read the device's window, and store the
 * union of it and this verifier's. The transaction holds the registry's write
 * lock, so no verifier changes a window between the read and the write.
 * Once committed, note which of this verifier's new numbers another verifier
 * took meanwhile. On a server, a transaction lost to a failure that may go
 * away is run again, with the windows read again, until it is committed;
 * nothing is taken from it before (the frames waiting for it stay waiting),
 * so a frame is neither passed on by two verifiers nor lost. SIGINT or
 * SIGTERM gives up: the waiting frames are not passed on.
 */
static void save_replay_state(struct trust *t)
{
	if (t->ndirty == 0)
		return;
	struct stored_state *stored = xcalloc(t->ndirty, sizeof *stored);
	long delay = SAVE_RETRY_FIRST_MS;
	char reported[256] = "";
	for (;;) {
		if (registry_try_begin(t->registry)) {
			for (size_t i = 0; i < t->ndirty; i++) {
				struct trusted_device *d = t->dirty[i];
				struct stored_state *st = &stored[i];
				st->found = registry_get_replay_state(t->registry, d->id, d->id_len, &st->window,
								      st->digest, &st->has_digest);
				if (!st->found)
					continue;
				struct replay_window merged = d->window;
				replay_merge(&merged, &st->window);
				const unsigned char *digest =
					st->window.last > d->window.last ? st->digest : d->last_digest;
				registry_put_replay_state(t->registry, d->id, d->id_len, &merged, digest);
			}
			if (registry_try_commit(t->registry))
				break;
		}
		if (strcmp(reported, registry_error(t->registry)) != 0) {
			snprintf(reported, sizeof reported, "%s", registry_error(t->registry));
			warning("registry %s: replay state of %zu devices not saved yet: %s;"
				" holding their frames and retrying",
				registry_path(t->registry), t->ndirty, reported);
		}
		if (stop_requested())
			die(EXIT_SYSTEM,
			    "registry %s: replay state of %zu devices not saved: %s; their frames were not passed on",
			    registry_path(t->registry), t->ndirty, reported);
		struct timespec ts = {.tv_sec = delay / 1000, .tv_nsec = delay % 1000 * 1000000};
		nanosleep(&ts, NULL); /* SIGINT and SIGTERM cut it short */
		delay = delay * 2 > SAVE_RETRY_MAX_MS ? SAVE_RETRY_MAX_MS : delay * 2;
	}
	if (reported[0])
		warning("registry %s: replay state saved", registry_path(t->registry));
	for (size_t i = 0; i < t->ndirty; i++) {
		struct trusted_device *d = t->dirty[i];
		const struct stored_state *st = &stored[i];
		if (st->found) {
			note_taken(t, d, &st->window);
			if (st->window.last > d->window.last) {
				memcpy(d->last_digest, st->digest, DIGEST_LEN);
				d->has_digest = st->has_digest;
			}
			replay_merge(&d->window, &st->window);
		}
		memset(d->fresh.seen, 0, sizeof d->fresh.seen);
		d->dirty = false;
	}
	free(stored);
	t->ndirty = 0;
}

struct stored_keys {
	struct trust *t;
	struct trusted_device *d;
};

static void add_stored_key(const struct registry_stored_key *k, void *arg)
{
	struct stored_keys *s = arg;
	struct trusted_device *d = s->d;
	struct signing_key *key = key_from_point(s->t, k->type, k->point, k->point_len);
	if (!key)
		die_ssl(EXIT_CONFIG, "registry %s: device %s: damaged public key", registry_path(s->t->registry),
			d->id);
	d->stored = xrealloc(d->stored, (d->nstored + 1) * sizeof *d->stored);
	d->stored[d->nstored++] = (struct stored_key){
		.key = key,
		.active = k->active,
		.revoked = k->revoked,
		.compromised = k->compromised,
		.known = k->known,
		.last_seq = k->last_seq,
	};
}

/* Read the next device in the current snapshot, or in a new one. */
static void snapshot_for_load(struct trust *t)
{
	if (t->snapshot_loads >= SNAPSHOT_LOADS || !registry_reading(t->registry)) {
		registry_read_end(t->registry);
		registry_read_begin(t->registry);
		t->snapshot_loads = 0;
	}
	t->snapshot_loads++;
}

/* Fill d with every key it had, for re-verifying stored frames; replay state stays in memory. */
static void load_stored_device(struct trust *t, struct trusted_device *d)
{
	free_keys(t, d);
	d->stale = false;
	snapshot_for_load(t);
	struct stored_keys s = {t, d};
	d->refused = !registry_each_stored_key(t->registry, d->id, d->id_len, add_stored_key, &s);
	d->refusal = TRUST_UNKNOWN_DEVICE;
}

/* Fill d from the registry, keeping replay state newer than the registry's. */
static void load_device(struct trust *t, struct trusted_device *d)
{
	if (t->stored) {
		load_stored_device(t, d);
		return;
	}
	struct registry_entry e;
	snapshot_for_load(t);
	registry_load(t->registry, d->id, d->id_len, &e);
	free_keys(t, d);
	d->stale = false;
	d->refused = true;
	if (!e.found) {
		d->refusal = TRUST_UNKNOWN_DEVICE;
		return;
	}
	if (e.window.last > d->window.last) {
		d->has_digest = e.has_digest;
		memcpy(d->last_digest, e.last_digest, DIGEST_LEN);
	}
	/* Frames not yet saved stay in fresh, to be compared with the registry at the next save. */
	replay_merge(&d->window, &e.window);
	if (e.revoked) {
		d->refusal = TRUST_REVOKED_DEVICE;
		return;
	}
	for (size_t i = 0; i < e.nkeys; i++) {
		size_t n = d->nkeys;
		d->not_before[n] = e.keys[i].not_before;
		d->not_after[n] = e.keys[i].not_after;
		d->type[n] = e.keys[i].type;
		if (curve_of(e.keys[i].type) >= 0 && e.keys[i].point_len <= TRUST_POINT_MAX) {
			memcpy(d->point[n], e.keys[i].point, e.keys[i].point_len);
			d->point_len[n] = (unsigned char)e.keys[i].point_len;
			d->slot[n] = UINT32_MAX; /* pooled, not lent yet */
			d->keys[n] = NULL;
			d->nkeys++;
			device_key(t, d, n); /* the device's first frame needs it; this checks the point */
			continue;
		}
		d->keys[n] = key_from_point(t, e.keys[i].type, e.keys[i].point, e.keys[i].point_len);
		if (!d->keys[n])
			die_ssl(EXIT_CONFIG, "registry %s: device %s: damaged public key", registry_path(t->registry),
				d->id);
		d->nkeys++;
	}
	d->refused = d->nkeys == 0;
	d->refusal = TRUST_NO_ACTIVE_KEY;
}

/*
 * Make room for one more device: the clock hand passes over recently used
 * devices (clearing their mark) and evicts the first one not used since its
 * last pass. Replay state must reach the registry before its device leaves.
 */
static size_t cache_slot(struct trust *t)
{
	if (t->count < t->capacity)
		return t->count++;
	for (;;) {
		size_t slot = t->hand;
		struct trusted_device *victim = t->ring[slot];
		t->hand = (t->hand + 1) % t->capacity;
		if (t->batch && victim->pinned == t->batch)
			continue;
		if (victim->referenced) {
			victim->referenced = false;
			continue;
		}
		if (victim->dirty)
			save_replay_state(t);
		devmap_remove(t->devices, victim->id, victim->id_len);
		free_keys(t, victim);
		free(victim);
		return slot;
	}
}

static struct trusted_device *cache_load(struct trust *t, const char *id, size_t len)
{
	size_t slot = cache_slot(t);
	struct trusted_device *d = new_device(id, len);
	load_device(t, d);
	devmap_put(t->devices, id, len, d);
	t->ring[slot] = d;
	return d;
}

static void mark_stale(const char *id, size_t len, void *arg)
{
	struct trust *t = arg;
	struct trusted_device *d = devmap_get(t->devices, id, len);
	if (d)
		d->stale = true;
}

void trust_sync(struct trust *t)
{
	if (!t->registry)
		return;
	registry_read_end(t->registry);
	save_replay_state(t);
}

void trust_reads_done(struct trust *t)
{
	if (t->registry)
		registry_read_end(t->registry);
}

bool trust_holds_snapshot(const struct trust *t)
{
	return t->registry && registry_reading(t->registry);
}

bool trust_saves_state(const struct trust *t)
{
	return t->registry != NULL;
}

uint64_t trust_taken(const struct trust *t, const char *device, size_t len, uint64_t seq, bool *too_old)
{
	const struct taken *k = devmap_get(t->taken, device, len);
	const uint64_t *found = k ? bsearch(&seq, k->seq, k->n, sizeof *k->seq, compare_seq) : NULL;
	if (!found)
		return 0;
	*too_old = (*found & TAKEN_TOO_OLD) != 0;
	return k->registry_last;
}

bool trust_taken_any(const struct trust *t)
{
	return devmap_count(t->taken) > 0;
}

void trust_taken_clear(struct trust *t)
{
	if (devmap_count(t->taken) == 0)
		return;
	devmap_free(t->taken, free_taken);
	t->taken = devmap_new();
}

void trust_refresh(struct trust *t)
{
	if (!t->registry)
		return;
	/* Others' commits are seen outside a snapshot only. */
	registry_read_end(t->registry);
	if (!registry_changed_elsewhere(t->registry))
		return;
	/* Read the counter first: a change committed meanwhile is seen now or next time, never missed. */
	int64_t generation = registry_generation(t->registry);
	if (generation != t->generation)
		registry_each_changed(t->registry, t->generation, mark_stale, t);
	t->generation = generation;
}

/* ---- per frame ---- */

struct trusted_device *trust_lookup(struct trust *t, const char *device, size_t len, enum trust_refusal *why)
{
	struct trusted_device *d = devmap_get(t->devices, device, len);
	if (t->registry) {
		if (!d)
			d = cache_load(t, device, len);
		else if (d->stale)
			load_device(t, d);
		d->referenced = true;
		d->pinned = t->batch;
	}
	if (!d) {
		*why = TRUST_UNKNOWN_DEVICE;
		return NULL;
	}
	if (d->refused) {
		*why = (enum trust_refusal)d->refusal;
		return NULL;
	}
	t->now = (int64_t)time(NULL);
	if (t->stored)
		return d; /* a stored frame's keys are chosen by its sequence number */
	bool pending = false;
	for (size_t i = 0; i < d->nkeys; i++) {
		if (d->not_before[i] <= t->now && t->now <= d->not_after[i])
			return d;
		pending |= d->not_before[i] > t->now;
	}
	*why = pending ? TRUST_NOT_YET_VALID : TRUST_EXPIRED;
	return NULL;
}

void trust_pin_begin(struct trust *t)
{
	t->batch = ++t->batches;
}

void trust_pin_end(struct trust *t)
{
	t->batch = 0;
}

int64_t trust_time(const struct trust *t)
{
	return t->now;
}

void trust_set_time(struct trust *t, int64_t now)
{
	t->now = now;
}

size_t trust_keys_valid_now(struct trust *t, struct trusted_device *d, const struct signing_key *keys[TRUST_KEYS_MAX])
{
	size_t n = 0;
	for (size_t i = 0; i < d->nkeys; i++)
		if (d->not_before[i] <= t->now && t->now <= d->not_after[i])
			keys[n++] = device_key(t, d, i);
	return n;
}

enum verdict trust_verify(struct trust *t, struct trusted_device *d, const unsigned char digest[DIGEST_LEN],
			  const char *b64, size_t b64_len)
{
	enum verdict v = SIGNATURE_INVALID;
	for (size_t i = 0; i < d->nkeys; i++) {
		if (d->not_before[i] > t->now || t->now > d->not_after[i])
			continue;
		v = signature_verify(device_key(t, d, i), digest, b64, b64_len);
		if (v == SIGNATURE_VALID)
			return v;
	}
	return v;
}

/* Could key k have signed stored frame seq? */
static bool stored_key_may_sign(const struct stored_key *k, uint64_t seq)
{
	if (k->active)
		return true;
	return !k->compromised && k->known && seq <= k->last_seq;
}

enum verdict trust_verify_stored(const struct trusted_device *d, uint64_t seq, const unsigned char digest[DIGEST_LEN],
				 const char *b64, size_t b64_len)
{
	enum verdict v = SIGNATURE_INVALID;
	for (size_t i = 0; i < d->nstored; i++) {
		if (!stored_key_may_sign(&d->stored[i], seq))
			continue;
		v = signature_verify_shared(d->stored[i].key, digest, b64, b64_len);
		if (v == SIGNATURE_VALID)
			return v;
	}
	return v;
}

/* A stored frame signed by a key that may not have signed it: which key, and why. */
static const char *explain_stored(struct trust *t, struct trusted_device *d, const unsigned char digest[DIGEST_LEN],
				  const char *b64, size_t b64_len)
{
	for (size_t i = 0; i < d->nstored; i++) {
		const struct stored_key *k = &d->stored[i];
		if (k->active || signature_verify(k->key, digest, b64, b64_len) != SIGNATURE_VALID)
			continue;
		const char *what = k->revoked ? "revoked key" : "retired key";
		if (k->compromised)
			snprintf(t->why, sizeof t->why, "revoked key: key compromise");
		else if (!k->known)
			snprintf(t->why, sizeof t->why, "%s: no sequence number recorded at its %s", what,
				 k->revoked ? "revocation" : "retirement");
		else
			snprintf(t->why, sizeof t->why, "%s: seq above %llu, the last accepted before its %s", what,
				 (unsigned long long)k->last_seq, k->revoked ? "revocation" : "retirement");
		return t->why;
	}
	return NULL;
}

const char *trust_explain_invalid(struct trust *t, struct trusted_device *d, const unsigned char digest[DIGEST_LEN],
				  const char *b64, size_t b64_len)
{
	if (t->stored)
		return explain_stored(t, d, digest, b64, b64_len);
	for (size_t i = 0; i < d->nkeys; i++) {
		bool valid_now = d->not_before[i] <= t->now && t->now <= d->not_after[i];
		if (!valid_now && signature_verify(device_key(t, d, i), digest, b64, b64_len) == SIGNATURE_VALID)
			return d->not_after[i] < t->now ? trust_refusal_text(TRUST_EXPIRED)
							: trust_refusal_text(TRUST_NOT_YET_VALID);
	}
	if (!t->registry)
		return NULL;
	struct registry_entry e;
	const char *why = NULL;
	registry_load_inactive(t->registry, d->id, d->id_len, &e);
	for (size_t i = 0; i < e.nkeys && !why; i++) {
		struct signing_key *k = key_from_point(t, e.keys[i].type, e.keys[i].point, e.keys[i].point_len);
		if (k && signature_verify(k, digest, b64, b64_len) == SIGNATURE_VALID)
			why = e.keys[i].revoked ? "revoked key" : "retired key";
		signing_key_free(k);
	}
	return why;
}

/* Whether moving fresh up to seq would push a number out of it before it is saved. */
static bool fresh_would_drop(const struct trusted_device *d, uint64_t seq)
{
	if (seq <= d->fresh.last)
		return false;
	uint64_t move = seq - d->fresh.last;
	for (size_t i = REPLAY_WINDOW; i-- > 0;)
		if ((d->fresh.seen[i / 64] >> (i % 64)) & 1)
			return move >= REPLAY_WINDOW || i >= REPLAY_WINDOW - move;
	return false;
}

void trust_accept(struct trust *t, struct trusted_device *d, uint64_t seq, const unsigned char digest[DIGEST_LEN])
{
	bool registry = t->registry && !t->stored;
	/* Every number accepted must reach the registry's comparison: save before one would be lost. */
	if (registry && d->dirty && fresh_would_drop(d, seq > d->window.last ? seq : d->window.last))
		save_replay_state(t);
	if (seq > d->window.last) {
		d->has_digest = true;
		memcpy(d->last_digest, digest, DIGEST_LEN);
	}
	replay_mark(&d->window, seq);
	if (!registry)
		return;
	if (!d->dirty) {
		d->fresh.last = d->window.last;
		memset(d->fresh.seen, 0, sizeof d->fresh.seen);
	}
	replay_advance(&d->fresh, d->window.last);
	uint64_t i = d->fresh.last - seq;
	d->fresh.seen[i / 64] |= UINT64_C(1) << (i % 64);
	if (d->dirty)
		return;
	if (t->ndirty == t->dirty_cap) {
		t->dirty_cap = t->dirty_cap ? 2 * t->dirty_cap : 1024;
		t->dirty = xrealloc(t->dirty, t->dirty_cap * sizeof *t->dirty);
	}
	t->dirty[t->ndirty++] = d;
	d->dirty = true;
}
