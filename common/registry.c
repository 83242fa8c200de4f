#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "db.h"
#include "error.h"
#include "pki.h"
#include "x509.h"

/*
 * Schema version 2; smqtt-register(1) documents it for people who query the
 * registry with sqlite3. Times are Unix seconds (UTC). Version 2 added
 * keys.retired_at_seq and keys.revoked_at_seq, version 3
 * devices.replay_window (upgrade_schema).
 */
static const char schema_sql[] =
	"CREATE TABLE meta (name TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID;\n"
	"CREATE TABLE devices (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  added_at INTEGER NOT NULL,\n"
	"  revoked_at INTEGER,\n"
	"  revocation_reason TEXT,\n"
	"  generation INTEGER NOT NULL,\n"
	"  last_seq INTEGER NOT NULL DEFAULT 0,\n"
	"  last_digest BLOB,\n"
	"  replay_window BLOB\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX devices_generation ON devices (generation);\n"
	"CREATE TABLE keys (\n"
	"  serial TEXT PRIMARY KEY,\n"
	"  fingerprint TEXT NOT NULL UNIQUE,\n"
	"  device TEXT NOT NULL REFERENCES devices (id),\n"
	"  state TEXT NOT NULL CHECK (state IN ('active', 'retired', 'revoked')),\n"
	"  key_type TEXT NOT NULL,\n"
	"  public_key BLOB NOT NULL,\n"
	"  public_point BLOB NOT NULL,\n"
	"  not_before INTEGER NOT NULL,\n"
	"  not_after INTEGER NOT NULL,\n"
	"  added_at INTEGER NOT NULL,\n"
	"  retired_at INTEGER,\n"
	"  revoked_at INTEGER,\n"
	"  revocation_reason TEXT,\n"
	"  certificate TEXT NOT NULL,\n"
	"  retired_at_seq INTEGER,\n"
	"  revoked_at_seq INTEGER\n"
	");\n"
	"CREATE INDEX keys_device ON keys (device, state);\n"
	"CREATE TABLE attributes (\n"
	"  device TEXT NOT NULL REFERENCES devices (id),\n"
	"  name TEXT NOT NULL,\n"
	"  value TEXT NOT NULL,\n"
	"  PRIMARY KEY (device, name)\n"
	") WITHOUT ROWID;\n";

enum statement {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_BUMP_GENERATION,
	ST_GENERATION,
	ST_DATA_VERSION,
	ST_KEY_BY_FINGERPRINT,
	ST_KEY_BY_SERIAL,
	ST_DEVICE_REVOKED,
	ST_INSERT_DEVICE,
	ST_INSERT_KEY,
	ST_RETIRE_EXCESS,
	ST_TOUCH_DEVICE,
	ST_SET_ATTRIBUTE,
	ST_UNSET_ATTRIBUTE,
	ST_GET_ATTRIBUTE,
	ST_REVOKE_DEVICE,
	ST_REVOKE_DEVICE_KEYS,
	ST_KEY_STATE,
	ST_REVOKE_KEY,
	ST_RETIRE_KEY,
	ST_EACH_DEVICE,
	ST_FIND_DEVICE,
	ST_EACH_KEY,
	ST_EACH_ATTRIBUTE,
	ST_EACH_REVOKED,
	ST_LOAD,
	ST_LOAD_INACTIVE,
	ST_LOAD_ALL_KEYS,
	ST_PUT_REPLAY,
	ST_REPLAY_STATE,
	ST_EACH_CHANGED,
	ST_COUNT
};

#define DEVICE_COLUMNS                                                                                        \
	"SELECT d.id, d.added_at, d.revoked_at, d.revocation_reason, d.last_seq, count(k.serial),"           \
	" coalesce(sum(k.state = 'active'), 0),"                                                              \
	" coalesce(sum(k.state = 'active' AND k.not_before <= ?1 AND k.not_after >= ?1), 0),"                 \
	" coalesce(sum(k.state = 'active' AND k.not_before > ?1), 0)"                                         \
	" FROM devices d LEFT JOIN keys k ON k.device = d.id "

/* Stamped on a key as it stops being trusted: frames above it were never accepted with it. */
#define SET_RETIRED_AT_SEQ " retired_at_seq = (SELECT last_seq FROM devices WHERE id = ?1)"

#define KEY_COLUMNS                                                                                           \
	"SELECT device, serial, fingerprint, state, key_type, not_before, not_after, added_at, retired_at,"  \
	" revoked_at, revocation_reason, certificate FROM keys "

static const char *const statement_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_BUMP_GENERATION] = "UPDATE meta SET value = value + 1 WHERE name = 'generation'",
	[ST_GENERATION] = "SELECT value FROM meta WHERE name = 'generation'",
	[ST_DATA_VERSION] = "PRAGMA data_version",
	[ST_KEY_BY_FINGERPRINT] = "SELECT device FROM keys WHERE fingerprint = ?1",
	[ST_KEY_BY_SERIAL] = "SELECT device FROM keys WHERE serial = ?1",
	[ST_DEVICE_REVOKED] = "SELECT revoked_at IS NOT NULL FROM devices WHERE id = ?1",
	[ST_INSERT_DEVICE] = "INSERT INTO devices (id, added_at, generation) VALUES (?1, ?2, ?3)",
	[ST_INSERT_KEY] = "INSERT INTO keys (serial, fingerprint, device, state, key_type, public_key, public_point,"
			  " not_before, not_after, added_at, certificate)"
			  " VALUES (?1, ?2, ?3, 'active', ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[ST_RETIRE_EXCESS] = "UPDATE keys SET state = 'retired', retired_at = ?2," SET_RETIRED_AT_SEQ " WHERE rowid IN"
			     " (SELECT rowid FROM keys WHERE device = ?1 AND state = 'active'"
			     " ORDER BY not_before DESC, rowid DESC LIMIT -1 OFFSET ?3)",
	[ST_TOUCH_DEVICE] = "UPDATE devices SET generation = ?2 WHERE id = ?1",
	[ST_SET_ATTRIBUTE] = "INSERT INTO attributes (device, name, value) VALUES (?1, ?2, ?3)"
			     " ON CONFLICT (device, name) DO UPDATE SET value = excluded.value",
	[ST_UNSET_ATTRIBUTE] = "DELETE FROM attributes WHERE device = ?1 AND name = ?2",
	[ST_GET_ATTRIBUTE] = "SELECT value FROM attributes WHERE device = ?1 AND name = ?2",
	[ST_REVOKE_DEVICE] = "UPDATE devices SET revoked_at = ?2, revocation_reason = ?3, generation = ?4 WHERE id = ?1",
	[ST_REVOKE_DEVICE_KEYS] = "UPDATE keys SET state = 'revoked', revoked_at = ?2, revocation_reason = ?3,"
				  " revoked_at_seq = (SELECT last_seq FROM devices WHERE id = ?1)"
				  " WHERE device = ?1 AND state != 'revoked'",
	[ST_KEY_STATE] = "SELECT state FROM keys WHERE device = ?1 AND serial = ?2",
	[ST_REVOKE_KEY] = "UPDATE keys SET state = 'revoked', revoked_at = ?3, revocation_reason = ?4,"
			  " revoked_at_seq = (SELECT last_seq FROM devices WHERE id = ?1)"
			  " WHERE device = ?1 AND serial = ?2",
	[ST_RETIRE_KEY] = "UPDATE keys SET state = 'retired', retired_at = ?3," SET_RETIRED_AT_SEQ
			  " WHERE device = ?1 AND serial = ?2",
	[ST_EACH_DEVICE] = DEVICE_COLUMNS "GROUP BY d.id ORDER BY d.id",
	[ST_FIND_DEVICE] = DEVICE_COLUMNS "WHERE d.id = ?2 GROUP BY d.id",
	[ST_EACH_KEY] = KEY_COLUMNS "WHERE device = ?1 ORDER BY state = 'active' DESC, not_before DESC, rowid DESC",
	[ST_EACH_ATTRIBUTE] = "SELECT name, value FROM attributes WHERE device = ?1 ORDER BY name",
	[ST_EACH_REVOKED] = KEY_COLUMNS "WHERE state = 'revoked' ORDER BY revoked_at, serial",
	[ST_LOAD] = "SELECT d.revoked_at IS NOT NULL, d.last_seq, d.last_digest, k.key_type, k.public_point,"
		    " k.not_before, k.not_after, d.replay_window"
		    " FROM devices d LEFT JOIN keys k ON k.device = d.id AND k.state = 'active'"
		    " WHERE d.id = ?1 ORDER BY k.not_before DESC, k.rowid DESC LIMIT 2", /* REGISTRY_ACTIVE_KEYS_MAX */
	[ST_LOAD_INACTIVE] = "SELECT key_type, public_point, not_before, not_after, state = 'revoked' FROM keys"
			     " WHERE device = ?1 AND state != 'active'"
			     " ORDER BY coalesce(revoked_at, retired_at) DESC, rowid DESC LIMIT 2",
	/*
	 * Every key, active first. A key retired before it was revoked stopped
	 * signing at its retirement; a bound not recorded (a key that stopped
	 * before schema version 2) is NULL.
	 */
	[ST_LOAD_ALL_KEYS] = "SELECT key_type, public_point, state, coalesce(revocation_reason = 'keyCompromise', 0),"
			     " CASE WHEN retired_at IS NOT NULL THEN retired_at_seq ELSE revoked_at_seq END"
			     " FROM keys WHERE device = ?1 ORDER BY state = 'active' DESC, not_before DESC, rowid DESC",
	[ST_REPLAY_STATE] = "SELECT last_seq, last_digest, replay_window FROM devices WHERE id = ?1",
	[ST_PUT_REPLAY] = "UPDATE devices SET last_seq = ?2, last_digest = ?3, replay_window = ?4 WHERE id = ?1",
	[ST_EACH_CHANGED] = "SELECT id FROM devices WHERE generation > ?1",
};

struct registry {
	sqlite3 *db;
	char *path;
	X509 *ca;
	sqlite3_stmt *statements[ST_COUNT];
	bool in_transaction;
	int64_t generation;   /* this transaction's, once bumped; 0 before */
	int64_t data_version; /* last PRAGMA data_version seen */
};

static _Noreturn void die_db(const struct registry *r, const char *doing)
{
	die(EXIT_SYSTEM, "registry %s: %s: %s", r->path, doing, sqlite3_errmsg(r->db));
}

static void exec(struct registry *r, const char *sql, const char *doing)
{
	char *msg = NULL;
	if (sqlite3_exec(r->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		char copy[256];
		snprintf(copy, sizeof copy, "%s", msg ? msg : sqlite3_errmsg(r->db));
		sqlite3_free(msg);
		die(EXIT_SYSTEM, "registry %s: %s: %s", r->path, doing, copy);
	}
}

/* Prepared once, on first use, and kept for the life of the connection. */
static sqlite3_stmt *statement(struct registry *r, enum statement id)
{
	if (!r->statements[id] &&
	    sqlite3_prepare_v3(r->db, statement_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &r->statements[id], NULL) !=
		    SQLITE_OK)
		die_db(r, "preparing a statement");
	return r->statements[id];
}

/* Step a statement that returns no rows, then reset it. */
static void run(struct registry *r, sqlite3_stmt *s, const char *doing)
{
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE)
		die_db(r, doing);
}

/* Step a query: true with a row, false when done; dies on error. */
static bool row(struct registry *r, sqlite3_stmt *s, const char *doing)
{
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		return true;
	if (rc != SQLITE_DONE) {
		sqlite3_reset(s);
		die_db(r, doing);
	}
	return false;
}

static void done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

static void bind_text(sqlite3_stmt *s, int i, const char *text)
{
	sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
}

static const char *column_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

static int64_t now(void)
{
	return (int64_t)time(NULL);
}

void time_format(int64_t t, char out[21])
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) || strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 21, "%lld", (long long)t);
}

bool revocation_reason_valid(const char *name)
{
	/* removeFromCRL only undoes a certificateHold in a delta CRL; it revokes nothing. */
	return crl_reason_code(name) >= 0 && strcmp(name, "removeFromCRL") != 0;
}

/* ---- opening ---- */

static void configure(struct registry *r, bool write)
{
	if (write) {
		exec(r, "PRAGMA journal_mode = WAL", "switching to WAL mode");
		exec(r, "PRAGMA foreign_keys = ON", "enabling foreign keys");
	}
	/* Every commit is on disk before it returns: smqtt-verify relies on it for replay state. */
	exec(r, "PRAGMA synchronous = FULL", "setting synchronous mode");
}

static void load_ca(struct registry *r)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(r->db, "SELECT value FROM meta WHERE name = 'ca_certificate'", -1, &s, NULL) != SQLITE_OK)
		die(EXIT_CONFIG, "registry %s: damaged: %s", r->path, sqlite3_errmsg(r->db));
	if (sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_finalize(s);
		die(EXIT_CONFIG, "registry %s: damaged: no CA certificate recorded", r->path);
	}
	BIO *bio = BIO_new_mem_buf(sqlite3_column_blob(s, 0), sqlite3_column_bytes(s, 0));
	r->ca = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	sqlite3_finalize(s);
	if (!r->ca)
		die_ssl(EXIT_CONFIG, "registry %s: damaged: unreadable CA certificate", r->path);
}

/*
 * The file is not a registry of ours: close it untouched (SQLite removes the
 * -wal and -shm files it made for reading) and say what it is.
 */
static _Noreturn void refuse(struct registry *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static _Noreturn void refuse(struct registry *r, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	sqlite3_close(r->db);
	die(EXIT_CONFIG, "registry %s: %s", r->path, why);
}

/* Only a file SQLite cannot read as a database is "not a registry"; a lock or an I/O error is ours. */
static _Noreturn void query_failed(struct registry *r)
{
	if (sqlite3_errcode(r->db) == SQLITE_NOTADB)
		refuse(r, "not a registry: %s", sqlite3_errmsg(r->db));
	die(EXIT_SYSTEM, "registry %s: reading: %s", r->path, sqlite3_errmsg(r->db));
}

static int query_int(struct registry *r, const char *sql)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(r->db, sql, -1, &s, NULL) != SQLITE_OK)
		query_failed(r);
	int rc = sqlite3_step(s);
	int v = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sqlite3_finalize(s);
		query_failed(r);
	}
	sqlite3_finalize(s);
	return v;
}

/* The schema version of a registry of ours; refuses any other file. */
static int check_schema(struct registry *r)
{
	int version = query_int(r, "PRAGMA user_version");
	if (version == 0 || query_int(r, "SELECT count(*) FROM sqlite_master WHERE name = 'meta'") != 1 ||
	    query_int(r, "SELECT count(*) FROM meta WHERE name = 'format' AND value = '" REGISTRY_FORMAT "'") != 1)
		refuse(r, "not an smqtt registry (create one with smqtt-register init)");
	if (version < 1 || version > REGISTRY_SCHEMA_VERSION)
		refuse(r, "schema version %d; this program handles versions 1 to %d", version,
		       REGISTRY_SCHEMA_VERSION);
	return version;
}

static struct registry *open_database(const char *path, int flags)
{
	struct registry *r = xcalloc(1, sizeof *r);
	r->path = xstrdup(path);
	if (sqlite3_open_v2(path, &r->db, flags, NULL) != SQLITE_OK)
		die(EXIT_CONFIG, "registry %s: %s", path, sqlite3_errmsg(r->db));
	/* A writer (smqtt-register, or smqtt-verify saving replay state) waits for the other instead of failing. */
	sqlite3_busy_timeout(r->db, 30000);
	return r;
}

/*
 * Version 1 to 2: keys record the device's last accepted sequence number at
 * their retirement and revocation. For a key revoked with its device it is
 * the device's last_seq now, as a revoked device accepts no frames; for a key
 * retired or revoked alone before the upgrade it is unknown (NULL), and
 * re-verification accepts none of its frames.
 *
 * Version 2 to 3: devices record their replay window. None recorded means
 * every number at or below last_seq is taken, as before.
 */
static void upgrade_schema(const char *path)
{
	struct registry *r = open_database(path, SQLITE_OPEN_READWRITE);
	const char *doing = "upgrading the schema";
	exec(r, "BEGIN IMMEDIATE", doing);
	/* Another program may have upgraded it meanwhile. */
	if (query_int(r, "PRAGMA user_version") == 1) {
		exec(r,
		     "ALTER TABLE keys ADD COLUMN retired_at_seq INTEGER;\n"
		     "ALTER TABLE keys ADD COLUMN revoked_at_seq INTEGER;\n"
		     "UPDATE keys SET revoked_at_seq = (SELECT d.last_seq FROM devices d WHERE d.id = keys.device)"
		     " WHERE state = 'revoked' AND revoked_at = (SELECT d.revoked_at FROM devices d WHERE d.id = keys.device);\n"
		     "UPDATE meta SET value = 2 WHERE name = 'schema_version';\n"
		     "PRAGMA user_version = 2",
		     doing);
	}
	if (query_int(r, "PRAGMA user_version") == 2) {
		exec(r,
		     "ALTER TABLE devices ADD COLUMN replay_window BLOB;\n"
		     "UPDATE meta SET value = 3 WHERE name = 'schema_version';\n"
		     "PRAGMA user_version = 3",
		     doing);
	}
	exec(r, "COMMIT", doing);
	sqlite3_close(r->db);
	free(r->path);
	free(r);
}

/*
 * The registry is an SQLite file; PostgreSQL holds readings (smqtt-store) but
 * no registry yet. Say so for a connection URI, without its password, rather
 * than look for a file of that name.
 */
static void refuse_server(const char *path)
{
	if (!db_target_is_server(path))
		return;
	char shown[512], why[256];
	if (!db_target_check(path, shown, sizeof shown, why, sizeof why))
		die(EXIT_CONFIG, "registry %s: %s", shown, why);
	die(EXIT_CONFIG, "registry %s: a registry is an SQLite file; PostgreSQL is not supported for it", shown);
}

struct registry *registry_create(const char *path, X509 *ca)
{
	refuse_server(path);
	/* O_EXCL: never take over an existing file, whatever it is. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		die(errno == EEXIST ? EXIT_CONFIG : EXIT_SYSTEM, "registry %s: %s", path,
		    errno == EEXIST ? "already exists" : strerror(errno));
	close(fd);
	struct registry *r = open_database(path, SQLITE_OPEN_READWRITE);
	configure(r, true);

	size_t pem_len;
	char *pem = x509_pem(ca, &pem_len);
	char fingerprint[FINGERPRINT_HEX_LEN + 1];
	cert_fingerprint_hex(ca, fingerprint, sizeof fingerprint);

	exec(r, "BEGIN IMMEDIATE", "creating tables");
	exec(r, schema_sql, "creating tables");
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(r->db, "INSERT INTO meta (name, value) VALUES ('format', '" REGISTRY_FORMAT "'),"
				      " ('schema_version', ?1), ('ca_certificate', ?2), ('ca_fingerprint', ?3),"
				      " ('created_at', ?4), ('generation', 1)",
			       -1, &s, NULL) != SQLITE_OK)
		die_db(r, "creating tables");
	sqlite3_bind_int(s, 1, REGISTRY_SCHEMA_VERSION);
	sqlite3_bind_text(s, 2, pem, (int)pem_len, SQLITE_STATIC);
	bind_text(s, 3, fingerprint);
	sqlite3_bind_int64(s, 4, now());
	if (sqlite3_step(s) != SQLITE_DONE)
		die_db(r, "creating tables");
	sqlite3_finalize(s);
	free(pem);
	char sql[64];
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d; COMMIT", REGISTRY_SCHEMA_VERSION);
	exec(r, sql, "creating tables");
	r->ca = X509_dup(ca);
	if (!r->ca)
		die_ssl(EXIT_SYSTEM, "copying the CA certificate");
	return r;
}

struct registry *registry_open(const char *path, bool write)
{
	refuse_server(path);
	struct stat st;
	if (stat(path, &st) < 0)
		die(errno == ENOENT ? EXIT_CONFIG : EXIT_SYSTEM, "registry %s: %s%s", path, strerror(errno),
		    errno == ENOENT ? " (create it with smqtt-register init)" : "");
	if (S_ISDIR(st.st_mode))
		die(EXIT_CONFIG, "registry %s: %s", path, strerror(EISDIR));
	struct registry *r = open_database(path, write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY);
	if (check_schema(r) < REGISTRY_SCHEMA_VERSION) {
		upgrade_schema(path);
		/* A reader sees the new columns from its next transaction on. */
		check_schema(r);
	}
	configure(r, write);
	load_ca(r);
	return r;
}

void registry_close(struct registry *r)
{
	if (!r)
		return;
	if (r->in_transaction)
		sqlite3_step(statement(r, ST_ROLLBACK));
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(r->statements[i]);
	if (sqlite3_close(r->db) != SQLITE_OK)
		die_db(r, "closing");
	X509_free(r->ca);
	free(r->path);
	free(r);
}

const char *registry_path(const struct registry *r)
{
	return r->path;
}

X509 *registry_ca(const struct registry *r)
{
	return r->ca;
}

void registry_expect_bulk_writes(struct registry *r)
{
	/* Serials and fingerprints are random: many lookups and inserts land all over their indexes. */
	exec(r, "PRAGMA cache_size = -65536", "sizing the page cache");
}

void registry_begin(struct registry *r)
{
	if (r->in_transaction)
		return;
	run(r, statement(r, ST_BEGIN), "beginning a transaction");
	r->in_transaction = true;
	r->generation = 0;
}

void registry_commit(struct registry *r)
{
	if (!r->in_transaction)
		return;
	run(r, statement(r, ST_COMMIT), "committing");
	r->in_transaction = false;
}

/* The generation stamped on every device this transaction changes. */
static int64_t change_generation(struct registry *r)
{
	if (r->generation == 0) {
		run(r, statement(r, ST_BUMP_GENERATION), "counting changes");
		r->generation = registry_generation(r);
	}
	return r->generation;
}

static void touch_device(struct registry *r, const char *device)
{
	sqlite3_stmt *s = statement(r, ST_TOUCH_DEVICE);
	bind_text(s, 1, device);
	sqlite3_bind_int64(s, 2, change_generation(r));
	run(r, s, "updating a device");
}

/* ---- certificates ---- */

X509_STORE *registry_trust_store(const struct registry *r)
{
	X509_STORE *store = X509_STORE_new();
	if (!store || !X509_STORE_add_cert(store, r->ca))
		die_ssl(EXIT_SYSTEM, "setting up certificate verification");
	return store;
}

static bool asn1_time_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;
	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return false;
	*out = (int64_t)timegm(&tm);
	return true;
}

void registry_key_clear(struct registry_key *k)
{
	OPENSSL_free(k->public_key);
	free(k->certificate);
	memset(k, 0, sizeof *k);
}

/* Why X509_verify_cert refused a certificate, in the words an operator needs. */
static const char *chain_error(int error)
{
	switch (error) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return "not issued by the registry's CA";
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		return "its signature does not verify under the registry's CA";
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "certificate has expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "certificate is not yet valid";
	default:
		return X509_verify_cert_error_string(error);
	}
}

bool registry_check_certificate(X509_STORE *store, X509 *cert, struct registry_key *k, char *why, size_t len)
{
	memset(k, 0, sizeof *k);
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	if (!ctx || !X509_STORE_CTX_init(ctx, store, cert, NULL))
		die_ssl(EXIT_SYSTEM, "setting up certificate verification");
	int ok = X509_verify_cert(ctx);
	int error = X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	if (ok != 1) {
		snprintf(why, len, "%s", chain_error(error));
		return false;
	}
	uint32_t flags = X509_get_extension_flags(cert);
	if (X509_check_ca(cert) != 0) {
		snprintf(why, len, "a CA certificate, not a device certificate");
		return false;
	}
	if (!(flags & EXFLAG_KUSAGE) || !(X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE)) {
		snprintf(why, len, "no digitalSignature key usage");
		return false;
	}
	if (!(flags & EXFLAG_XKUSAGE) || !(X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT)) {
		snprintf(why, len, "no clientAuth extended key usage");
		return false;
	}
	EVP_PKEY *pkey = X509_get0_pubkey(cert);
	enum key_type type;
	if (!pkey || !key_type_of(pkey, &type)) {
		snprintf(why, len, "unsupported key type (use p256, p384 or ed25519)");
		return false;
	}
	return registry_key_of(cert, type, k, why, len);
}

bool registry_key_of(X509 *cert, enum key_type type, struct registry_key *k, char *why, size_t len)
{
	memset(k, 0, sizeof *k);
	k->type = type;
	if (!x509_common_name(cert, k->device, sizeof k->device) || !device_id_valid(k->device, strlen(k->device))) {
		snprintf(why, len, "subject CN is not a valid device id (1-64 of A-Z a-z 0-9 . _ -)");
		return false;
	}
	/* The key exactly as the certificate carries it: no re-encoding through the provider. */
	X509_PUBKEY *xpk = X509_get_X509_PUBKEY(cert);
	const unsigned char *point = NULL;
	int point_len = 0;
	int der_len = i2d_X509_PUBKEY(xpk, &k->public_key);
	if (der_len <= 0 || !X509_PUBKEY_get0_param(NULL, &point, &point_len, NULL, xpk) || point_len <= 0 ||
	    (size_t)point_len > sizeof k->point)
		die_ssl(EXIT_SYSTEM, "encoding the public key of %s", k->device);
	k->public_key_len = (size_t)der_len;
	memcpy(k->point, point, (size_t)point_len);
	k->point_len = (size_t)point_len;
	if (!asn1_time_unix(X509_get0_notBefore(cert), &k->not_before) ||
	    !asn1_time_unix(X509_get0_notAfter(cert), &k->not_after)) {
		snprintf(why, len, "unreadable validity dates");
		registry_key_clear(k);
		return false;
	}
	cert_serial_hex(cert, k->serial, sizeof k->serial);
	cert_fingerprint_hex(cert, k->fingerprint, sizeof k->fingerprint);
	size_t pem_len;
	k->certificate = x509_pem(cert, &pem_len);
	return true;
}

/* ---- registration ---- */

/* Look up a key by one column; copies its device into holder when found. */
static bool key_exists(struct registry *r, enum statement id, const char *value, char holder[DEVICE_ID_MAX + 1])
{
	sqlite3_stmt *s = statement(r, id);
	bind_text(s, 1, value);
	bool found = row(r, s, "looking up a key");
	if (found && holder)
		snprintf(holder, DEVICE_ID_MAX + 1, "%s", column_text(s, 0));
	done(s);
	return found;
}

bool registry_key_holder(struct registry *r, const char *fingerprint, char holder[DEVICE_ID_MAX + 1])
{
	return key_exists(r, ST_KEY_BY_FINGERPRINT, fingerprint, holder);
}

int registry_device_revoked(struct registry *r, const char *device)
{
	sqlite3_stmt *s = statement(r, ST_DEVICE_REVOKED);
	bind_text(s, 1, device);
	int v = row(r, s, "looking up a device") ? sqlite3_column_int(s, 0) : -1;
	done(s);
	return v;
}

const char *registry_add_refusal(enum registry_add_result result, const struct registry_key *k, const char *holder,
				 char *buf, size_t len)
{
	if (result == REGISTRY_SERIAL_TAKEN)
		snprintf(buf, len, "serial %s is already registered for another certificate (device %s)", k->serial,
			 holder);
	else
		snprintf(buf, len, "the device is revoked; it takes no new keys");
	return buf;
}

enum registry_add_result registry_add_key(struct registry *r, const struct registry_key *k, int keep_active,
					  unsigned *retired, char holder[DEVICE_ID_MAX + 1])
{
	*retired = 0;
	if (key_exists(r, ST_KEY_BY_FINGERPRINT, k->fingerprint, NULL))
		return REGISTRY_ALREADY;
	if (key_exists(r, ST_KEY_BY_SERIAL, k->serial, holder))
		return REGISTRY_SERIAL_TAKEN;
	int revoked = registry_device_revoked(r, k->device);
	if (revoked > 0)
		return REGISTRY_DEVICE_REVOKED;
	int64_t t = now();
	if (revoked < 0) {
		sqlite3_stmt *s = statement(r, ST_INSERT_DEVICE);
		bind_text(s, 1, k->device);
		sqlite3_bind_int64(s, 2, t);
		sqlite3_bind_int64(s, 3, change_generation(r));
		run(r, s, "adding a device");
	} else {
		touch_device(r, k->device);
	}
	sqlite3_stmt *s = statement(r, ST_INSERT_KEY);
	bind_text(s, 1, k->serial);
	bind_text(s, 2, k->fingerprint);
	bind_text(s, 3, k->device);
	bind_text(s, 4, key_type_name(k->type));
	sqlite3_bind_blob(s, 5, k->public_key, (int)k->public_key_len, SQLITE_STATIC);
	sqlite3_bind_blob(s, 6, k->point, (int)k->point_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, k->not_before);
	sqlite3_bind_int64(s, 8, k->not_after);
	sqlite3_bind_int64(s, 9, t);
	bind_text(s, 10, k->certificate);
	run(r, s, "adding a key");
	if (revoked == 0) {
		s = statement(r, ST_RETIRE_EXCESS);
		bind_text(s, 1, k->device);
		sqlite3_bind_int64(s, 2, t);
		sqlite3_bind_int(s, 3, keep_active);
		run(r, s, "retiring old keys");
		*retired = (unsigned)sqlite3_changes(r->db);
	}
	return REGISTRY_ADDED;
}

bool registry_set_attribute(struct registry *r, const char *device, const char *name, const char *value)
{
	if (registry_device_revoked(r, device) < 0)
		return false;
	sqlite3_stmt *s = statement(r, ST_SET_ATTRIBUTE);
	bind_text(s, 1, device);
	bind_text(s, 2, name);
	bind_text(s, 3, value);
	run(r, s, "setting an attribute");
	touch_device(r, device);
	return true;
}

int registry_unset_attribute(struct registry *r, const char *device, const char *name)
{
	if (registry_device_revoked(r, device) < 0)
		return -1;
	sqlite3_stmt *s = statement(r, ST_UNSET_ATTRIBUTE);
	bind_text(s, 1, device);
	bind_text(s, 2, name);
	run(r, s, "removing an attribute");
	if (sqlite3_changes(r->db) == 0)
		return 0;
	touch_device(r, device);
	return 1;
}

bool registry_get_attribute(struct registry *r, const char *device, const char *name,
			    char out[ATTRIBUTE_VALUE_MAX + 1])
{
	sqlite3_stmt *s = statement(r, ST_GET_ATTRIBUTE);
	bind_text(s, 1, device);
	bind_text(s, 2, name);
	bool found = row(r, s, "reading an attribute");
	if (found)
		snprintf(out, ATTRIBUTE_VALUE_MAX + 1, "%s", column_text(s, 0));
	done(s);
	return found;
}

enum registry_change registry_revoke_device(struct registry *r, const char *device, const char *reason,
					    unsigned *keys)
{
	*keys = 0;
	int revoked = registry_device_revoked(r, device);
	if (revoked < 0)
		return CHANGE_NO_DEVICE;
	if (revoked > 0)
		return CHANGE_NOTHING_TO_DO;
	int64_t t = now();
	sqlite3_stmt *s = statement(r, ST_REVOKE_DEVICE);
	bind_text(s, 1, device);
	sqlite3_bind_int64(s, 2, t);
	bind_text(s, 3, reason);
	sqlite3_bind_int64(s, 4, change_generation(r));
	run(r, s, "revoking a device");
	s = statement(r, ST_REVOKE_DEVICE_KEYS);
	bind_text(s, 1, device);
	sqlite3_bind_int64(s, 2, t);
	bind_text(s, 3, reason);
	run(r, s, "revoking keys");
	*keys = (unsigned)sqlite3_changes(r->db);
	return CHANGE_DONE;
}

/* The state of one key of a device: NULL-terminated copy in state, or a change code. */
static enum registry_change key_state(struct registry *r, const char *device, const char *serial, char state[16])
{
	sqlite3_stmt *s = statement(r, ST_KEY_STATE);
	bind_text(s, 1, device);
	bind_text(s, 2, serial);
	bool found = row(r, s, "looking up a key");
	if (found)
		snprintf(state, 16, "%s", column_text(s, 0));
	done(s);
	if (found)
		return CHANGE_DONE;
	return registry_device_revoked(r, device) < 0 ? CHANGE_NO_DEVICE : CHANGE_NO_KEY;
}

enum registry_change registry_revoke_key(struct registry *r, const char *device, const char *serial,
					 const char *reason)
{
	char state[16];
	enum registry_change c = key_state(r, device, serial, state);
	if (c != CHANGE_DONE)
		return c;
	if (strcmp(state, "revoked") == 0)
		return CHANGE_NOTHING_TO_DO;
	sqlite3_stmt *s = statement(r, ST_REVOKE_KEY);
	bind_text(s, 1, device);
	bind_text(s, 2, serial);
	sqlite3_bind_int64(s, 3, now());
	bind_text(s, 4, reason);
	run(r, s, "revoking a key");
	touch_device(r, device);
	return CHANGE_DONE;
}

enum registry_change registry_retire_key(struct registry *r, const char *device, const char *serial)
{
	char state[16];
	enum registry_change c = key_state(r, device, serial, state);
	if (c != CHANGE_DONE)
		return c;
	if (strcmp(state, "active") != 0)
		return CHANGE_NOTHING_TO_DO;
	sqlite3_stmt *s = statement(r, ST_RETIRE_KEY);
	bind_text(s, 1, device);
	bind_text(s, 2, serial);
	sqlite3_bind_int64(s, 3, now());
	run(r, s, "retiring a key");
	touch_device(r, device);
	return CHANGE_DONE;
}

/* ---- queries ---- */

static int emit_devices(struct registry *r, sqlite3_stmt *s, registry_device_fn fn, void *arg)
{
	int n = 0;
	while (row(r, s, "listing devices")) {
		struct registry_device d = {
			.id = column_text(s, 0),
			.added_at = sqlite3_column_int64(s, 1),
			.revoked_at = sqlite3_column_int64(s, 2),
			.revocation_reason = column_text(s, 3),
			.last_seq = (uint64_t)sqlite3_column_int64(s, 4),
			.keys = (unsigned)sqlite3_column_int(s, 5),
			.active_keys = (unsigned)sqlite3_column_int(s, 6),
		};
		unsigned valid_now = (unsigned)sqlite3_column_int(s, 7), pending = (unsigned)sqlite3_column_int(s, 8);
		if (sqlite3_column_type(s, 2) != SQLITE_NULL)
			d.state = "revoked";
		else if (d.active_keys == 0)
			d.state = "inactive";
		else if (valid_now > 0)
			d.state = "active";
		else if (pending > 0)
			d.state = "pending";
		else
			d.state = "expired";
		n++;
		if (fn(&d, arg))
			break;
	}
	done(s);
	return n;
}

void registry_each_device(struct registry *r, registry_device_fn fn, void *arg)
{
	sqlite3_stmt *s = statement(r, ST_EACH_DEVICE);
	sqlite3_bind_int64(s, 1, now());
	emit_devices(r, s, fn, arg);
}

bool registry_find_device(struct registry *r, const char *device, registry_device_fn fn, void *arg)
{
	sqlite3_stmt *s = statement(r, ST_FIND_DEVICE);
	sqlite3_bind_int64(s, 1, now());
	bind_text(s, 2, device);
	return emit_devices(r, s, fn, arg) > 0;
}

static void emit_keys(struct registry *r, sqlite3_stmt *s, registry_key_fn fn, void *arg)
{
	while (row(r, s, "listing keys")) {
		struct registry_key_info k = {
			.device = column_text(s, 0),
			.serial = column_text(s, 1),
			.fingerprint = column_text(s, 2),
			.state = column_text(s, 3),
			.type = column_text(s, 4),
			.not_before = sqlite3_column_int64(s, 5),
			.not_after = sqlite3_column_int64(s, 6),
			.added_at = sqlite3_column_int64(s, 7),
			.retired_at = sqlite3_column_int64(s, 8),
			.revoked_at = sqlite3_column_int64(s, 9),
			.revocation_reason = column_text(s, 10),
			.certificate = column_text(s, 11),
		};
		if (fn(&k, arg))
			break;
	}
	done(s);
}

void registry_each_key(struct registry *r, const char *device, registry_key_fn fn, void *arg)
{
	sqlite3_stmt *s = statement(r, ST_EACH_KEY);
	bind_text(s, 1, device);
	emit_keys(r, s, fn, arg);
}

void registry_each_revoked(struct registry *r, registry_key_fn fn, void *arg)
{
	emit_keys(r, statement(r, ST_EACH_REVOKED), fn, arg);
}

void registry_each_attribute(struct registry *r, const char *device, registry_attribute_fn fn, void *arg)
{
	sqlite3_stmt *s = statement(r, ST_EACH_ATTRIBUTE);
	bind_text(s, 1, device);
	while (row(r, s, "listing attributes"))
		if (fn(column_text(s, 0), column_text(s, 1), arg))
			break;
	done(s);
}

/* ---- verification ---- */

/* Copy one key row (type, point, not_before, not_after from column first on) into e->keys[e->nkeys]. */
static void load_key(struct registry *r, sqlite3_stmt *s, int first, struct registry_entry *e, const char *device,
		     size_t len)
{
	const char *type = column_text(s, first);
	int point_len = sqlite3_column_bytes(s, first + 1);
	if (!type || !key_type_parse(type, &e->keys[e->nkeys].type) || point_len <= 0 || point_len > PUBLIC_POINT_MAX)
		die(EXIT_CONFIG, "registry %s: device %.*s: damaged key", r->path, (int)len, device);
	memcpy(e->keys[e->nkeys].point, sqlite3_column_blob(s, first + 1), (size_t)point_len);
	e->keys[e->nkeys].point_len = (size_t)point_len;
	e->keys[e->nkeys].not_before = sqlite3_column_int64(s, first + 2);
	e->keys[e->nkeys].not_after = sqlite3_column_int64(s, first + 3);
	e->keys[e->nkeys].revoked = false;
	e->nkeys++;
}

/* The replay window in column col of s, at last. */
static void read_window(struct registry *r, sqlite3_stmt *s, int col, uint64_t last, struct replay_window *w,
			const char *device, size_t len)
{
	const void *blob = sqlite3_column_blob(s, col);
	if (!replay_decode(w, last, blob, blob ? (size_t)sqlite3_column_bytes(s, col) : 0))
		die(EXIT_CONFIG, "registry %s: device %.*s: damaged replay window", r->path, (int)len, device);
}

void registry_load(struct registry *r, const char *device, size_t len, struct registry_entry *e)
{
	memset(e, 0, sizeof *e);
	sqlite3_stmt *s = statement(r, ST_LOAD);
	sqlite3_bind_text(s, 1, device, (int)len, SQLITE_STATIC);
	while (row(r, s, "loading a device")) {
		if (!e->found) {
			e->found = true;
			e->revoked = sqlite3_column_int(s, 0) != 0;
			e->last_seq = (uint64_t)sqlite3_column_int64(s, 1);
			if (sqlite3_column_bytes(s, 2) == DIGEST_LEN) {
				memcpy(e->last_digest, sqlite3_column_blob(s, 2), DIGEST_LEN);
				e->has_digest = true;
			}
			read_window(r, s, 7, e->last_seq, &e->window, device, len);
		}
		if (sqlite3_column_type(s, 3) == SQLITE_NULL || e->nkeys == REGISTRY_ACTIVE_KEYS_MAX)
			continue; /* no active key (LEFT JOIN) */
		load_key(r, s, 3, e, device, len);
	}
	done(s);
}

void registry_load_inactive(struct registry *r, const char *device, size_t len, struct registry_entry *e)
{
	sqlite3_stmt *s = statement(r, ST_LOAD_INACTIVE);
	sqlite3_bind_text(s, 1, device, (int)len, SQLITE_STATIC);
	e->nkeys = 0;
	while (e->nkeys < REGISTRY_ACTIVE_KEYS_MAX && row(r, s, "loading retired keys")) {
		load_key(r, s, 0, e, device, len);
		e->keys[e->nkeys - 1].revoked = sqlite3_column_int(s, 4) != 0;
	}
	done(s);
}

bool registry_each_stored_key(struct registry *r, const char *device, size_t len, registry_stored_key_fn fn,
			      void *arg)
{
	sqlite3_stmt *s = statement(r, ST_LOAD_ALL_KEYS);
	sqlite3_bind_text(s, 1, device, (int)len, SQLITE_STATIC);
	bool found = false;
	while (row(r, s, "loading keys")) {
		struct registry_stored_key k = {0};
		const char *type = column_text(s, 0), *state = column_text(s, 2);
		int point_len = sqlite3_column_bytes(s, 1);
		if (!type || !state || !key_type_parse(type, &k.type) || point_len <= 0 || point_len > PUBLIC_POINT_MAX)
			die(EXIT_CONFIG, "registry %s: device %.*s: damaged key", r->path, (int)len, device);
		memcpy(k.point, sqlite3_column_blob(s, 1), (size_t)point_len);
		k.point_len = (size_t)point_len;
		k.active = strcmp(state, "active") == 0;
		k.revoked = strcmp(state, "revoked") == 0;
		k.compromised = sqlite3_column_int(s, 3) != 0;
		k.known = sqlite3_column_type(s, 4) != SQLITE_NULL;
		k.last_seq = (uint64_t)sqlite3_column_int64(s, 4);
		found = true;
		fn(&k, arg);
	}
	done(s);
	return found;
}

bool registry_get_replay_state(struct registry *r, const char *device, size_t len, struct replay_window *w,
			       unsigned char digest[DIGEST_LEN], bool *has_digest)
{
	sqlite3_stmt *s = statement(r, ST_REPLAY_STATE);
	sqlite3_bind_text(s, 1, device, (int)len, SQLITE_STATIC);
	bool found = row(r, s, "reading replay state");
	*has_digest = false;
	replay_init(w);
	if (found) {
		uint64_t last = (uint64_t)sqlite3_column_int64(s, 0);
		if (sqlite3_column_bytes(s, 1) == DIGEST_LEN) {
			memcpy(digest, sqlite3_column_blob(s, 1), DIGEST_LEN);
			*has_digest = true;
		}
		read_window(r, s, 2, last, w, device, len);
	}
	done(s);
	return found;
}

void registry_put_replay_state(struct registry *r, const char *device, size_t len, const struct replay_window *w,
			       const unsigned char digest[DIGEST_LEN])
{
	unsigned char window[REPLAY_BYTES];
	size_t window_len = replay_encode(w, window);
	sqlite3_stmt *s = statement(r, ST_PUT_REPLAY);
	sqlite3_bind_text(s, 1, device, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)w->last);
	sqlite3_bind_blob(s, 3, digest, DIGEST_LEN, SQLITE_STATIC);
	if (window_len)
		sqlite3_bind_blob(s, 4, window, (int)window_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 4);
	run(r, s, "saving replay state");
}

bool registry_changed_elsewhere(struct registry *r)
{
	sqlite3_stmt *s = statement(r, ST_DATA_VERSION);
	int64_t v = row(r, s, "checking for changes") ? sqlite3_column_int64(s, 0) : 0;
	done(s);
	bool changed = v != r->data_version;
	r->data_version = v;
	return changed;
}

int64_t registry_generation(struct registry *r)
{
	sqlite3_stmt *s = statement(r, ST_GENERATION);
	int64_t v = row(r, s, "reading the change counter") ? sqlite3_column_int64(s, 0) : 0;
	done(s);
	return v;
}

void registry_each_changed(struct registry *r, int64_t since, void (*fn)(const char *id, size_t len, void *arg),
			   void *arg)
{
	sqlite3_stmt *s = statement(r, ST_EACH_CHANGED);
	sqlite3_bind_int64(s, 1, since);
	while (row(r, s, "listing changed devices"))
		fn(column_text(s, 0), (size_t)sqlite3_column_bytes(s, 0), arg);
	done(s);
}
