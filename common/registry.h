/*
 * The device registry: the devices an operator runs, the certificates and
 * public keys each may sign with, their attributes and revocations, and the
 * replay state smqtt-verify keeps across restarts. It lives in an SQLite file
 * or in a database on a PostgreSQL server named by a postgresql:// URI
 * (db.h), with the same tables; the schema is documented in
 * smqtt-register(1). One writer at a time and any number of readers may use
 * a registry at once: on a file, WAL mode and a busy timeout; on a server,
 * an advisory lock each writer takes for its transaction.
 */
#ifndef SMQTT_REGISTRY_H
#define SMQTT_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "frame.h"
#include "keys.h"
#include "replay.h"

/* The schema of a registry file; versions 1 and 2 are upgraded when opened. */
#define REGISTRY_SCHEMA_VERSION 3
/* The schema of a registry on a PostgreSQL server; version 3 is upgraded when opened. */
#define REGISTRY_SERVER_SCHEMA_VERSION 4
#define REGISTRY_FORMAT "smqtt-registry"
/* At most this many keys of a device are active: two during a rollover. */
#define REGISTRY_ACTIVE_KEYS_MAX 2
#define SERIAL_HEX_MAX 64     /* RFC 5280 allows 20 octets; leave room */
#define FINGERPRINT_HEX_LEN 64 /* SHA-256 */
#define PUBLIC_POINT_MAX 133   /* uncompressed P-521 would be the largest; P-384 is 97 */
#define ATTRIBUTE_NAME_MAX 64
#define ATTRIBUTE_VALUE_MAX 256

struct registry;

/*
 * Create a registry trusting ca: a file at path, or the tables in the
 * server's database a postgresql:// URI names. Dies (EXIT_CONFIG) if the
 * file exists, or the database already has tables, a registry's or others.
 */
struct registry *registry_create(const char *path, X509 *ca);
/*
 * Open an existing registry (a path or a URI); dies with EXIT_CONFIG if it
 * is missing or not a registry, and as db_open does if a server cannot be
 * reached.
 */
struct registry *registry_open(const char *path, bool write);
void registry_close(struct registry *r);
/* The registry as messages name it: the path, or the URI without its password. */
const char *registry_path(const struct registry *r);
/* The CA certificate the registry trusts (owned by the registry). */
X509 *registry_ca(const struct registry *r);

/* Give the connection a page cache big enough for registering many devices (64 MiB; a file only). */
void registry_expect_bulk_writes(struct registry *r);

/*
 * Group writes into one transaction that holds the registry's write lock
 * from registry_begin to registry_commit: BEGIN IMMEDIATE on a file, the
 * advisory lock on a server. Dies on failure.
 */
void registry_begin(struct registry *r);
void registry_commit(struct registry *r);
/*
 * The same, for a transaction the caller can run again (smqtt-verify's
 * replay state). On a server, a failure that may go away by itself (a lost
 * connection, a serialization failure, a deadlock) does not die: the
 * statements after it do nothing and read nothing, and registry_try_commit
 * returns false, nothing of the transaction kept; registry_try_begin returns
 * false when it cannot begin. A COMMIT whose connection was lost is asked
 * about once the server answers again: true only if it was carried out. On
 * a file, these are registry_begin and registry_commit.
 */
bool registry_try_begin(struct registry *r);
bool registry_try_commit(struct registry *r);
/*
 * Several reads in one snapshot: on a file, one read transaction (a lock and
 * a look at the write-ahead log for all of them rather than for each), ended
 * by registry_read_end or by the next registry_begin or registry_try_begin.
 * Keep it short: while it is open, the log cannot be checkpointed past it.
 * Does nothing on a server, where each statement reads on its own.
 */
void registry_read_begin(struct registry *r);
void registry_read_end(struct registry *r);
bool registry_reading(const struct registry *r);
/* Why registry_try_begin or registry_try_commit returned false. */
const char *registry_error(const struct registry *r);

/* Text forms used in every output: RFC 5280 reason names, ISO 8601 UTC times. */
bool revocation_reason_valid(const char *name);
void time_format(int64_t t, char out[21]);

/* ---- registration (inside registry_begin/commit) ---- */

/* A store holding the registry's CA, for registry_check_certificate (owned by the caller). */
X509_STORE *registry_trust_store(const struct registry *r);

/* A certificate that passed every check, ready to be stored. */
struct registry_key {
	char device[DEVICE_ID_MAX + 1];
	char serial[SERIAL_HEX_MAX + 1];
	char fingerprint[FINGERPRINT_HEX_LEN + 1];
	enum key_type type;
	unsigned char *public_key; /* DER SubjectPublicKeyInfo */
	size_t public_key_len;
	unsigned char point[PUBLIC_POINT_MAX]; /* the key as the verifier loads it */
	size_t point_len;
	int64_t not_before, not_after;
	char *certificate; /* PEM */
};

/*
 * Check that cert may be registered: it chains to the CA in store, is within
 * its validity period now, is not a CA, carries the digitalSignature key usage
 * and the clientAuth extended key usage, its subject CN is a valid device id
 * and its key one smqtt signs with. On success fill k (free it with
 * registry_key_clear); otherwise put the reason in why. Safe to call from
 * several threads at once with one store.
 */
bool registry_check_certificate(X509_STORE *store, X509 *cert, struct registry_key *k, char *why, size_t len);
/*
 * Fill k from a certificate whose checks are already known to hold, with a key
 * of the given type: one the registry's CA has just issued (smqtt-issue
 * --registry). Only the CN is checked; false with why set if it is no device id.
 */
bool registry_key_of(X509 *cert, enum key_type type, struct registry_key *k, char *why, size_t len);
void registry_key_clear(struct registry_key *k);

/* -1 the device is not registered, 0 it is, 1 it is revoked. */
int registry_device_revoked(struct registry *r, const char *device);

/* Is this certificate (by SHA-256 fingerprint) registered? Copies its device into holder. */
bool registry_key_holder(struct registry *r, const char *fingerprint, char holder[DEVICE_ID_MAX + 1]);

enum registry_add_result {
	REGISTRY_ADDED,          /* a new device, or a new key for a device (rotation) */
	REGISTRY_ALREADY,        /* this very certificate is registered: nothing changed */
	REGISTRY_SERIAL_TAKEN,   /* another certificate with the same serial is registered */
	REGISTRY_DEVICE_REVOKED, /* the device was revoked; it takes no new keys */
};

/*
 * Register a key. The newest keep_active keys of the device (by notBefore)
 * stay active, older active ones are retired; *retired counts them.
 * *holder names the device that holds the serial for REGISTRY_SERIAL_TAKEN.
 */
enum registry_add_result registry_add_key(struct registry *r, const struct registry_key *k, int keep_active,
					  unsigned *retired, char holder[DEVICE_ID_MAX + 1]);

/* Why registry_add_key refused a key (REGISTRY_SERIAL_TAKEN or REGISTRY_DEVICE_REVOKED), for messages. */
const char *registry_add_refusal(enum registry_add_result result, const struct registry_key *k, const char *holder,
				 char *buf, size_t len);

/* Device commands; false if the device is not registered. */
bool registry_set_attribute(struct registry *r, const char *device, const char *name, const char *value);
/* Returns 1 removed, 0 not set, -1 device not registered. */
int registry_unset_attribute(struct registry *r, const char *device, const char *name);

enum registry_change { CHANGE_DONE, CHANGE_NOTHING_TO_DO, CHANGE_NO_DEVICE, CHANGE_NO_KEY };
/* Revoke the device and every key it has not already had revoked. */
enum registry_change registry_revoke_device(struct registry *r, const char *device, const char *reason,
					    unsigned *keys);
/* Revoke one key (serial) of the device, leaving the device and its other keys alone. */
enum registry_change registry_revoke_key(struct registry *r, const char *device, const char *serial,
					 const char *reason);
/* Stop trusting one active key of the device for frames (not a revocation). */
enum registry_change registry_retire_key(struct registry *r, const char *device, const char *serial);

/* ---- queries ---- */

struct registry_device {
	const char *id;
	const char *state; /* active, expired, pending, inactive or revoked (see smqtt-register(1)) */
	int64_t added_at;
	int64_t revoked_at; /* 0 unless revoked */
	const char *revocation_reason; /* NULL unless revoked */
	uint64_t last_seq;
	unsigned active_keys, keys;
};

struct registry_key_info {
	const char *device, *serial, *fingerprint, *state, *type, *revocation_reason, *certificate;
	int64_t not_before, not_after, added_at, retired_at, revoked_at; /* 0 when not set */
};

/* Callbacks return non-zero to stop early. */
typedef int (*registry_device_fn)(const struct registry_device *d, void *arg);
typedef int (*registry_key_fn)(const struct registry_key_info *k, void *arg);
typedef int (*registry_attribute_fn)(const char *name, const char *value, void *arg);

/* Every device in id order. */
void registry_each_device(struct registry *r, registry_device_fn fn, void *arg);
/* One device; false if not registered. */
bool registry_find_device(struct registry *r, const char *device, registry_device_fn fn, void *arg);
/* The device's keys, active first, newest first. */
void registry_each_key(struct registry *r, const char *device, registry_key_fn fn, void *arg);
void registry_each_attribute(struct registry *r, const char *device, registry_attribute_fn fn, void *arg);
/* Every revoked key, in order of revocation, for a CRL. */
void registry_each_revoked(struct registry *r, registry_key_fn fn, void *arg);
/* The value of one attribute into out; false if the device or the attribute is missing. */
bool registry_get_attribute(struct registry *r, const char *device, const char *name,
			    char out[ATTRIBUTE_VALUE_MAX + 1]);

/* ---- what smqtt-verify needs ---- */

/* One device as the verifier caches it. */
struct registry_entry {
	bool found, revoked;
	uint64_t last_seq;
	struct replay_window window; /* at last_seq */
	bool has_digest;
	unsigned char last_digest[DIGEST_LEN];
	size_t nkeys; /* active keys, newest first */
	struct {
		enum key_type type;
		unsigned char point[PUBLIC_POINT_MAX];
		size_t point_len;
		int64_t not_before, not_after;
		bool revoked; /* registry_load_inactive: revoked rather than retired */
	} keys[REGISTRY_ACTIVE_KEYS_MAX];
};

/* Read one device's status, active keys and replay state (one short read transaction). */
void registry_load(struct registry *r, const char *device, size_t len, struct registry_entry *e);
/*
 * The device's most recently retired or revoked keys (at most
 * REGISTRY_ACTIVE_KEYS_MAX) into e->keys, to tell a frame signed with one of
 * them from a forgery. Only e->nkeys and e->keys are set.
 */
void registry_load_inactive(struct registry *r, const char *device, size_t len, struct registry_entry *e);
/* One key of a device as re-verification of stored frames sees it. */
struct registry_stored_key {
	enum key_type type;
	unsigned char point[PUBLIC_POINT_MAX];
	size_t point_len;
	bool active, revoked;
	bool compromised; /* revoked with reason keyCompromise */
	/*
	 * Not active: the device's last accepted sequence number when the key
	 * was retired (or, if never retired, revoked); known false when the
	 * registry did not record it (before schema version 2).
	 */
	bool known;
	uint64_t last_seq;
};
typedef void (*registry_stored_key_fn)(const struct registry_stored_key *k, void *arg);
/* Every key the device ever had, active first; false if the device is not registered. */
bool registry_each_stored_key(struct registry *r, const char *device, size_t len, registry_stored_key_fn fn,
			      void *arg);
/*
 * Read a device's replay state: its window (the highest accepted number and
 * which numbers below it were accepted) and the digest of the frame with the
 * highest number (has_digest false when none is recorded); false if the
 * device is not registered. Inside registry_begin (or registry_try_begin),
 * which holds the write lock until the commit, nobody else changes it before
 * registry_put_replay_state: verifiers sharing a registry merge their
 * windows with read, merge, put.
 */
bool registry_get_replay_state(struct registry *r, const char *device, size_t len, struct replay_window *w,
			       unsigned char digest[DIGEST_LEN], bool *has_digest);
void registry_put_replay_state(struct registry *r, const char *device, size_t len, const struct replay_window *w,
			       const unsigned char digest[DIGEST_LEN]);

/*
 * Change tracking for long-running readers. Every write to a device bumps a
 * counter (meta "generation") and stamps the device with it, so a reader can
 * ask which devices changed since the generation it last saw.
 */
/*
 * True when another connection may have changed the registry since the last
 * call: on a file, when one committed (PRAGMA data_version); on a server,
 * when the generation moved.
 */
bool registry_changed_elsewhere(struct registry *r);
int64_t registry_generation(struct registry *r);
/* Call fn for each device changed after generation since. */
void registry_each_changed(struct registry *r, int64_t since, void (*fn)(const char *id, size_t len, void *arg),
			   void *arg);

#endif
