/*
 * Which keys may sign for which device, and the replay state of each device.
 * The keys come either from trust files named on the command line, all loaded
 * at start, or from a registry database (smqtt-register), loaded on first use
 * into a bounded cache. smqtt-verify's per-frame logic is the same for both:
 * trust_lookup, trust_verify, then trust_accept; trust_refresh before a batch
 * of frames and trust_sync after it.
 */
#ifndef SMQTT_TRUST_H
#define SMQTT_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "keys.h"
#include "replay.h"

/* A device may hold two keys at once while it rolls over to a new one. */
#define TRUST_KEYS_MAX 2
/* Devices a registry-backed trust keeps in memory (about 1 KB each). */
#define TRUST_CACHE_DEFAULT 100000
/* The largest public point a device key has (uncompressed P-384). */
#define TRUST_POINT_MAX 97

struct stored_key;

struct trusted_device {
	struct signing_key *keys[TRUST_KEYS_MAX];
	/*
	 * From a registry: each ECDSA key's point. slot[i] nonzero: keys[i] is
	 * borrowed from trust.c's key pool (slot[i] is then its index + 1), or
	 * NULL once the pool lent it to another device, and borrowed again on use.
	 */
	unsigned char point[TRUST_KEYS_MAX][TRUST_POINT_MAX];
	unsigned char point_len[TRUST_KEYS_MAX];
	uint32_t slot[TRUST_KEYS_MAX];
	enum key_type type[TRUST_KEYS_MAX];
	int64_t not_before[TRUST_KEYS_MAX], not_after[TRUST_KEYS_MAX]; /* Unix seconds, inclusive */
	size_t nkeys;
	struct replay_window window; /* the numbers accepted (window.last the highest) */
	unsigned char last_digest[DIGEST_LEN]; /* of the frame numbered window.last */
	/* Re-verifying stored frames: every key the device had, in place of keys. */
	struct stored_key *stored;
	size_t nstored;
	/* Cache bookkeeping, for trust.c only. */
	bool refused;               /* unknown, revoked or without an active key: see refusal */
	int refusal;                /* enum trust_refusal */
	bool referenced, dirty, stale, has_digest;
	struct replay_window fresh; /* with a registry: the numbers accepted since the last save */
	uint64_t pinned; /* the batch that last looked it up */
	char id[DEVICE_ID_MAX + 1];
	size_t id_len;
};

/* Why trust_lookup found no usable device. */
enum trust_refusal {
	TRUST_UNKNOWN_DEVICE,
	TRUST_REVOKED_DEVICE,
	TRUST_NO_ACTIVE_KEY,
	TRUST_EXPIRED,
	TRUST_NOT_YET_VALID,
};
/* "unknown device", "revoked device", ...: the reason as smqtt-verify reports it. */
const char *trust_refusal_text(enum trust_refusal why);

struct trust;
struct trust *trust_new(void);
void trust_free(struct trust *t);
/*
 * trust_free for a program about to exit: closes the registry, and leaves
 * the cache of keys to the exit, which takes it back at once; freeing a
 * hundred thousand keys one by one takes seconds.
 */
void trust_close(struct trust *t);

/* Trust a certificate or public-key PEM file for a device (NULL device: the certificate's CN). */
void trust_add_file(struct trust *t, const char *device, const char *path);

/*
 * Take keys, revocations and replay state from a registry instead, keeping at
 * most cache_devices devices in memory. Replay state is written back by
 * trust_sync, and before a device with unsaved state leaves the cache.
 *
 * With stored, re-verify frames accepted earlier instead (smqtt-verify
 * --archive): the registry is opened read-only and its replay state neither
 * read nor written (it is kept in memory, as with trust files); every key a
 * device had may verify a frame, whatever its validity period now, an active
 * key any frame, a retired or revoked key the frames up to the device's last
 * accepted sequence number when it stopped being trusted, and a key revoked
 * for keyCompromise none. Frames are checked with trust_verify_stored.
 */
void trust_use_registry(struct trust *t, const char *path, size_t cache_devices, bool stored);

/*
 * The device, ready to verify a frame now, or NULL with *why set: unknown,
 * revoked, no active key, or no key within its validity period now.
 */
struct trusted_device *trust_lookup(struct trust *t, const char *device, size_t len, enum trust_refusal *why);

/* Check the signature against each of the device's keys that is valid now. */
enum verdict trust_verify(struct trust *t, struct trusted_device *d, const unsigned char digest[DIGEST_LEN],
			  const char *b64, size_t b64_len);

/*
 * trust_verify for stored frames: the keys of d that may have signed frame
 * seq. Safe to call from several threads at once for devices pinned in the
 * cache, as long as no thread calls trust_verify or trust_explain_invalid then.
 */
enum verdict trust_verify_stored(const struct trusted_device *d, uint64_t seq, const unsigned char digest[DIGEST_LEN],
				 const char *b64, size_t b64_len);

/*
 * For a caller that looks up a batch of frames before deciding any of them
 * (and checks their signatures elsewhere meanwhile): from trust_pin_begin to
 * trust_pin_end, every device trust_lookup returns stays in the cache, and
 * every key trust_keys_valid_now returns keeps its point. A batch may look up
 * at most as many frames as the cache holds devices.
 */
void trust_pin_begin(struct trust *t);
void trust_pin_end(struct trust *t);

/*
 * The keys trust_verify would try for d, in its order: those valid at the
 * time of the last trust_lookup. Returns how many (at least one after a
 * successful lookup).
 */
size_t trust_keys_valid_now(struct trust *t, struct trusted_device *d, const struct signing_key *keys[TRUST_KEYS_MAX]);

/*
 * The time (Unix seconds) the last trust_lookup checked key validity against,
 * and setting it back, so a frame decided after later lookups is explained
 * (trust_explain_invalid) against its own lookup's time.
 */
int64_t trust_time(const struct trust *t);
void trust_set_time(struct trust *t, int64_t now);

/*
 * After trust_verify found a signature invalid: whether one of the device's
 * keys that may not sign now made it. Returns "expired certificate" or
 * "certificate not yet valid" (an active key outside its validity), "retired
 * key" or "revoked key" (one of the device's two most recently retired or
 * revoked keys in the registry), or NULL: a bad signature. Costs a registry
 * query and up to two key loads, and is only called for frames that fail.
 * For stored frames: which retired or revoked key made it, and why it may
 * not have signed the frame (signed after the key stopped being trusted, no
 * sequence number recorded then, or key compromise).
 */
const char *trust_explain_invalid(struct trust *t, struct trusted_device *d, const unsigned char digest[DIGEST_LEN],
				  const char *b64, size_t b64_len);

/*
 * Record an accepted frame (replay_check(&d->window, seq) said REPLAY_NEW)
 * in the device's replay window.
 */
void trust_accept(struct trust *t, struct trusted_device *d, uint64_t seq, const unsigned char digest[DIGEST_LEN]);

/*
 * With a registry: commit the replay state of every accepted frame; it is on
 * disk when this returns. Without one: nothing to do.
 */
void trust_sync(struct trust *t);

/*
 * Whether devices were loaded from the registry in a read snapshot that is
 * still open: trust_sync (or trust_reads_done) ends it, and must before the
 * caller waits for input.
 */
bool trust_holds_snapshot(const struct trust *t);
/* End that snapshot now: no device is to be loaded for a while (the frames looked up are being decided). */
void trust_reads_done(struct trust *t);

/* Whether trust_sync has replay state to save: without a registry, an accepted frame may leave at once. */
bool trust_saves_state(const struct trust *t);

/*
 * Verifiers sharing a registry: after trust_sync, whether another verifier
 * accepted the device's frame number seq while this one held a frame of
 * that number (or moved the device's window so far on that seq fell out of
 * it, too_old set): then the registry's highest number for the device,
 * else 0. Such a
 * frame was taken by the other one and must not be passed on (it would be
 * passed on twice). trust_taken_any tells whether there is any;
 * trust_taken_clear forgets them once the held frames are written out.
 */
uint64_t trust_taken(const struct trust *t, const char *device, size_t len, uint64_t seq, bool *too_old);
bool trust_taken_any(const struct trust *t);
void trust_taken_clear(struct trust *t);

/*
 * With a registry: if another program changed it since the last call, drop
 * what the cache knows about the devices it changed (revoked, new or retired
 * keys, newly registered), so their next frame sees the change. One cheap
 * query when nothing changed. Without one: nothing to do.
 */
void trust_refresh(struct trust *t);

#endif
