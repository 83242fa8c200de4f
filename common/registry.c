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

#include "db.h"
#include "error.h"
#include "lineio.h"
#include "pki.h"
#include "x509.h"

/*
 * Schema version 3; smqtt-register(1) documents it for people who query the
 * registry with sqlite3 or psql. Times are Unix seconds (UTC). Version 2
 * added keys.retired_at_seq and keys.revoked_at_seq, version 3
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

/*
 * The same tables on a PostgreSQL server: INTEGER is bigint, BLOB bytea, and
 * meta.value, which SQLite leaves untyped, is text.
 */
static const char server_schema_sql[] =
	"CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
	"CREATE TABLE devices (\n"
	"  id TEXT PRIMARY KEY,\n"
	"  added_at BIGINT NOT NULL,\n"
	"  revoked_at BIGINT,\n"
	"  revocation_reason TEXT,\n"
	"  generation BIGINT NOT NULL,\n"
	"  last_seq BIGINT NOT NULL DEFAULT 0,\n"
	"  last_digest BYTEA,\n"
	"  replay_window BYTEA\n"
	");\n"
	"CREATE INDEX devices_generation ON devices (generation);\n"
	"CREATE TABLE keys (\n"
	"  serial TEXT PRIMARY KEY,\n"
	"  fingerprint TEXT NOT NULL UNIQUE,\n"
	"  device TEXT NOT NULL REFERENCES devices (id),\n"
	"  state TEXT NOT NULL CHECK (state IN ('active', 'retired', 'revoked')),\n"
	"  key_type TEXT NOT NULL,\n"
	"  public_key BYTEA NOT NULL,\n"
	"  public_point BYTEA NOT NULL,\n"
	"  not_before BIGINT NOT NULL,\n"
	"  not_after BIGINT NOT NULL,\n"
	"  added_at BIGINT NOT NULL,\n"
	"  retired_at BIGINT,\n"
	"  revoked_at BIGINT,\n"
	"  revocation_reason TEXT,\n"
	"  certificate TEXT NOT NULL,\n"
	"  retired_at_seq BIGINT,\n"
	"  revoked_at_seq BIGINT\n"
	");\n"
	"CREATE INDEX keys_device ON keys (device, state);\n"
	"CREATE TABLE attributes (\n"
	"  device TEXT NOT NULL REFERENCES devices (id),\n"
	"  name TEXT NOT NULL,\n"
	"  value TEXT NOT NULL,\n"
	"  PRIMARY KEY (device, name)\n"
	");\n";

/*
 * The key of the transaction-scoped advisory lock every writer of a registry
 * on a server takes (the bytes of "smqttreg"). Advisory locks are per
 * database, so registries in different databases do not share it.
 */
#define SERVER_LOCK_KEY "8317428831806973287"

enum statement {
	ST_LOCK,
	ST_TRANSACTION_STATUS,
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

/* SQLite's SQL; a statement in server_sql takes its place on a server. */
static const char *const statement_sql[ST_COUNT] = {
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

#define SERVER_DEVICE_COLUMNS                                                                                 \
	"SELECT d.id, d.added_at, d.revoked_at, d.revocation_reason, d.last_seq, count(k.serial),"           \
	" count(k.serial) FILTER (WHERE k.state = 'active'),"                                                 \
	" count(k.serial) FILTER (WHERE k.state = 'active' AND k.not_before <= ?1 AND k.not_after >= ?1),"    \
	" count(k.serial) FILTER (WHERE k.state = 'active' AND k.not_before > ?1)"                            \
	" FROM devices d LEFT JOIN keys k ON k.device = d.id "

/*
 * PostgreSQL's SQL where SQLite's differs. A truth value is asked for as 0
 * or 1; text sorts byte by byte (COLLATE "C"), as in SQLite, whatever the
 * database's collation. Tables have no rowid: where SQLite breaks a tie by
 * the order keys were added in, the server takes added_at, then the serial;
 * the key being added counts as the newest of keys with the same notBefore.
 */
static const char *const server_sql[ST_COUNT] = {
	/*
	 * Every writer takes the registry's advisory lock first, for the whole
	 * transaction, as BEGIN IMMEDIATE takes an SQLite file's write lock: see
	 * begin(). The transaction's id tells later whether a COMMIT that lost
	 * its connection was carried out (commit_outcome).
	 */
	[ST_LOCK] = "SELECT txid_current(), pg_advisory_xact_lock(" SERVER_LOCK_KEY ")",
	[ST_TRANSACTION_STATUS] = "SELECT txid_status(?1)",
	[ST_BUMP_GENERATION] = "UPDATE meta SET value = CAST(CAST(value AS bigint) + 1 AS text)"
			       " WHERE name = 'generation'",
	[ST_DEVICE_REVOKED] = "SELECT CASE WHEN revoked_at IS NULL THEN 0 ELSE 1 END FROM devices WHERE id = ?1",
	[ST_RETIRE_EXCESS] = "UPDATE keys SET state = 'retired', retired_at = ?2," SET_RETIRED_AT_SEQ " WHERE serial IN"
			     " (SELECT serial FROM keys WHERE device = ?1 AND state = 'active'"
			     " ORDER BY not_before DESC, serial = ?4 DESC, added_at DESC, serial COLLATE \"C\" DESC"
			     " OFFSET ?3)",
	[ST_EACH_DEVICE] = SERVER_DEVICE_COLUMNS "GROUP BY d.id ORDER BY d.id COLLATE \"C\"",
	[ST_FIND_DEVICE] = SERVER_DEVICE_COLUMNS "WHERE d.id = ?2 GROUP BY d.id",
	[ST_EACH_KEY] = KEY_COLUMNS "WHERE device = ?1"
				    " ORDER BY state = 'active' DESC, not_before DESC, added_at DESC, serial COLLATE \"C\" DESC",
	[ST_EACH_ATTRIBUTE] = "SELECT name, value FROM attributes WHERE device = ?1 ORDER BY name COLLATE \"C\"",
	[ST_EACH_REVOKED] = KEY_COLUMNS "WHERE state = 'revoked' ORDER BY revoked_at, serial COLLATE \"C\"",
	[ST_LOAD] = "SELECT CASE WHEN d.revoked_at IS NULL THEN 0 ELSE 1 END, d.last_seq, d.last_digest, k.key_type,"
		    " k.public_point, k.not_before, k.not_after, d.replay_window"
		    " FROM devices d LEFT JOIN keys k ON k.device = d.id AND k.state = 'active'"
		    " WHERE d.id = ?1 ORDER BY k.not_before DESC, k.added_at DESC, k.serial COLLATE \"C\" DESC LIMIT 2",
	[ST_LOAD_INACTIVE] = "SELECT key_type, public_point, not_before, not_after,"
			     " CASE WHEN state = 'revoked' THEN 1 ELSE 0 END FROM keys"
			     " WHERE device = ?1 AND state != 'active'"
			     " ORDER BY coalesce(revoked_at, retired_at) DESC, added_at DESC, serial COLLATE \"C\" DESC LIMIT 2",
	[ST_LOAD_ALL_KEYS] = "SELECT key_type, public_point, state,"
			     " CASE WHEN revocation_reason = 'keyCompromise' THEN 1 ELSE 0 END,"
			     " CASE WHEN retired_at IS NOT NULL THEN retired_at_seq ELSE revoked_at_seq END"
			     " FROM keys WHERE device = ?1"
			     " ORDER BY state = 'active' DESC, not_before DESC, added_at DESC, serial COLLATE \"C\" DESC",
};

/* How long a statement waits for another connection's lock on an SQLite file. */
#define BUSY_TIMEOUT_MS 30000
/*
 * How long to wait for a server that lost the connection during a COMMIT to
 * answer again, and say whether the COMMIT was carried out, before giving up.
 */
#define COMMIT_OUTCOME_WAIT_MS 60000

struct registry {
	struct db *db;
	X509 *ca;
	struct db_stmt *statements[ST_COUNT];
	bool in_transaction;
	/*
	 * Server, inside registry_try_begin: a failure that may go away (see
	 * db_result) ends the transaction's work quietly, and registry_try_commit
	 * reports it; failed says it happened.
	 */
	bool lenient, failed;
	int64_t generation;     /* this transaction's, once bumped; 0 before */
	int64_t seen;           /* registry_changed_elsewhere: the last data_version (file) or generation (server) */
	int64_t transaction_id; /* server: the open transaction's txid_current() */
	char why[256];          /* why registry_try_commit failed */
};

static _Noreturn void die_db(const struct registry *r, const char *doing)
{
	db_die(r->db, EXIT_SYSTEM, doing);
}

static void exec(struct registry *r, const char *sql, const char *doing)
{
	if (db_exec(r->db, sql) != DB_DONE)
		die_db(r, doing);
}

/* Prepared once, on first use, and kept for the life of the connection. */
static struct db_stmt *statement(struct registry *r, enum statement id)
{
	if (!r->statements[id]) {
		const char *sql = db_is_server(r->db) && server_sql[id] ? server_sql[id] : statement_sql[id];
		r->statements[id] = db_prepare(r->db, sql);
	}
	return r->statements[id];
}

static void pause_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000};
	nanosleep(&ts, NULL); /* SIGINT and SIGTERM cut it short */
}

/* Make a server's lost connection again (db_begin does); false if the server does not answer yet. */
static bool reconnect(struct registry *r)
{
	if (db_begin(r->db) != DB_DONE)
		return false;
	db_rollback(r->db);
	return true;
}

/*
 * A statement outside a transaction failed on a server in a way that may go
 * away (the connection lost: a server restarted or down). Connect again and
 * run it again, at once and then after longer and longer pauses, until the
 * server answers; SIGINT or SIGTERM (in a program that asks for them with
 * stop_on_signals) gives up. Nothing can change in a registry whose server
 * is down, so a reader waiting for it misses no change.
 */
static enum db_result wait_for_server(struct registry *r, struct db_stmt *s, const char *doing)
{
	long delay = 100;
	bool warned = false;
	for (;;) {
		enum db_result res = reconnect(r) ? db_step(s) : DB_RETRY;
		if (res != DB_RETRY) {
			if (warned)
				warning("registry %s: the server answers again", db_name(r->db));
			return res;
		}
		if (stop_requested())
			return res;
		if (!warned)
			warning("registry %s: %s: %s; waiting for the server", db_name(r->db), doing, db_error(r->db));
		warned = true;
		pause_ms(delay);
		delay = delay * 2 > 5000 ? 5000 : delay * 2;
	}
}

/*
 * Step s: true with a row, false when done. A failure dies, except on a
 * server in registry_try_begin's transaction when it may go away: then the
 * transaction is marked failed, and this and every later statement in it
 * read as done, for registry_try_commit to report.
 */
static bool row(struct registry *r, struct db_stmt *s, const char *doing)
{
	if (r->failed)
		return false;
	enum db_result res = db_step(s);
	if (res == DB_RETRY && db_is_server(r->db)) {
		if (r->lenient) {
			snprintf(r->why, sizeof r->why, "%s: %s", doing, db_error(r->db));
			r->failed = true;
			db_reset(s);
			return false;
		}
		if (!r->in_transaction)
			res = wait_for_server(r, s, doing);
	}
	if (res == DB_ROW)
		return true;
	if (res == DB_DONE)
		return false;
	db_reset(s);
	die_db(r, doing);
}

static void done(struct db_stmt *s)
{
	db_reset(s);
}

/* Step a statement that returns no rows, then reset it. */
static void run(struct registry *r, struct db_stmt *s, const char *doing)
{
	row(r, s, doing);
	done(s);
}

static void bind_text(struct db_stmt *s, int i, const char *text)
{
	if (text)
		db_bind_text(s, i, text, strlen(text));
	else
		db_bind_null(s, i);
}

static const char *column_text(struct db_stmt *s, int i)
{
	return db_column_text(s, i);
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

/* An SQLite file's settings, for this connection. */
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
	struct db_stmt *s = db_prepare(r->db, "SELECT value FROM meta WHERE name = 'ca_certificate'");
	enum db_result res = db_step(s);
	if (res != DB_ROW) {
		db_finalize(s);
		if (res == DB_DONE)
			die(EXIT_CONFIG, "registry %s: damaged: no CA certificate recorded", db_name(r->db));
		die(EXIT_CONFIG, "registry %s: damaged: %s", db_name(r->db), db_error(r->db));
	}
	size_t len = db_column_bytes(s, 0);
	BIO *bio = BIO_new_mem_buf(db_column_blob(s, 0), (int)len);
	r->ca = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	db_finalize(s);
	if (!r->ca)
		die_ssl(EXIT_CONFIG, "registry %s: damaged: unreadable CA certificate", db_name(r->db));
}

/*
 * The database is not a registry of ours: close it untouched (SQLite removes
 * the -wal and -shm files it made for reading) and say what it is.
 */
static _Noreturn void refuse(struct registry *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static _Noreturn void refuse(struct registry *r, const char *fmt, ...)
{
	char why[512], name[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	snprintf(name, sizeof name, "%s", db_name(r->db));
	db_close(r->db);
	die(EXIT_CONFIG, "registry %s: %s", name, why);
}

/*
 * The integer in the first column of the first row of sql; -1 without a row.
 * Only a file SQLite cannot read as a database is "not a registry"; a lock
 * or an I/O error is ours. On a server, a query the tables there refuse (a
 * table of that name with other columns) is -1 as well.
 */
static int64_t query_int(struct registry *r, const char *sql)
{
	struct db_stmt *s = db_prepare(r->db, sql);
	enum db_result res = db_step(s);
	int64_t v = res == DB_ROW && !db_column_null(s, 0) ? db_column_int64(s, 0) : -1;
	db_finalize(s);
	if (res == DB_NOT_DATABASE)
		refuse(r, "not a registry: %s", db_error(r->db));
	if (res == DB_FAILED && db_is_server(r->db))
		return -1;
	if (res != DB_ROW && res != DB_DONE)
		die_db(r, "reading");
	return v;
}

/* Whether the database holds a registry's meta table (format smqtt-registry). */
static bool has_registry_meta(struct registry *r)
{
	return db_table_exists(r->db, "meta") == 1 &&
	       query_int(r, "SELECT count(*) FROM meta WHERE name = 'format' AND value = '" REGISTRY_FORMAT "'") == 1;
}

/*
 * The schema version of a registry of ours; refuses any other database. A
 * file keeps the version in PRAGMA user_version as well; on a server, meta
 * is where it is, and only this version is handled there: registries on a
 * server began with it, and have never needed upgrading.
 */
static int check_schema(struct registry *r)
{
	if (db_is_server(r->db)) {
		int tables = db_table_count(r->db);
		if (tables < 0)
			die_db(r, "reading");
		if (tables == 0)
			refuse(r, "no registry in this database (create one with smqtt-register init)");
		if (!has_registry_meta(r))
			refuse(r, "not an smqtt registry: the database holds other tables");
		int64_t version = query_int(r, "SELECT CAST(value AS integer) FROM meta WHERE name = 'schema_version'");
		if (version != REGISTRY_SCHEMA_VERSION)
			refuse(r, "schema version %lld; this program handles version %d on a PostgreSQL server",
			       (long long)version, REGISTRY_SCHEMA_VERSION);
		return (int)version;
	}
	/* Before a statement is prepared: db_prepare dies on a file that is no database. */
	enum db_result res = db_exec(r->db, "PRAGMA user_version");
	if (res == DB_NOT_DATABASE)
		refuse(r, "not a registry: %s", db_error(r->db));
	if (res != DB_DONE)
		die_db(r, "reading");
	int version = (int)query_int(r, "PRAGMA user_version");
	if (version == 0 || query_int(r, "SELECT count(*) FROM sqlite_master WHERE name = 'meta'") != 1 ||
	    query_int(r, "SELECT count(*) FROM meta WHERE name = 'format' AND value = '" REGISTRY_FORMAT "'") != 1)
		refuse(r, "not an smqtt registry (create one with smqtt-register init)");
	if (version < 1 || version > REGISTRY_SCHEMA_VERSION)
		refuse(r, "schema version %d; this program handles versions 1 to %d", version,
		       REGISTRY_SCHEMA_VERSION);
	return version;
}

static struct registry *open_database(const char *target, int flags)
{
	struct registry *r = xcalloc(1, sizeof *r);
	/* A writer (smqtt-register, or smqtt-verify saving replay state) waits for the other instead of failing. */
	r->db = db_open(target, "registry", flags, BUSY_TIMEOUT_MS);
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
 *
 * SQLite files only: no registry on a server is older than version 3.
 */
static void upgrade_schema(const char *path)
{
	struct registry *r = open_database(path, 0);
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
	db_close(r->db);
	free(r);
}

/*
 * Begin a transaction that holds the registry's write lock to its end. On a
 * file, BEGIN IMMEDIATE takes SQLite's. On a server, a transaction-scoped
 * advisory lock taken right after BEGIN: one writer at a time, as on a file,
 * while readers go on reading. Rather than SELECT ... FOR UPDATE of the rows
 * read: smqtt-verify reads and writes many devices' replay state per
 * transaction, which row locks taken in each verifier's own order could
 * deadlock on, and registration checks that a serial or fingerprint is not
 * yet registered, a row that does not exist to be locked. The transaction is
 * READ COMMITTED (db_begin), so each statement after the lock sees all the
 * last holder committed.
 */
static enum db_result begin(struct registry *r)
{
	enum db_result res = db_begin(r->db);
	if (res != DB_DONE || !db_is_server(r->db))
		return res;
	struct db_stmt *s = statement(r, ST_LOCK);
	res = db_step(s);
	if (res == DB_ROW) {
		r->transaction_id = db_column_int64(s, 0);
		res = DB_DONE;
	}
	db_reset(s);
	if (res != DB_DONE)
		db_rollback(r->db);
	return res;
}

/*
 * The connection to the server was lost during COMMIT, or the COMMIT failed
 * in a way that may go away: it may or may not have been carried out. Ask the
 * server (txid_status) once it answers again. DB_DONE: it was committed;
 * DB_RETRY: it was not, and nothing of it is kept. Dies when the server does
 * not answer for COMMIT_OUTCOME_WAIT_MS.
 */
static enum db_result commit_outcome(struct registry *r)
{
	char lost[256];
	snprintf(lost, sizeof lost, "%s", r->why);
	long delay = 100, waited = 0;
	for (;;) {
		char status[32] = "";
		if (db_begin(r->db) == DB_DONE) {
			struct db_stmt *s = statement(r, ST_TRANSACTION_STATUS);
			db_bind_int64(s, 1, r->transaction_id);
			if (db_step(s) == DB_ROW && !db_column_null(s, 0))
				snprintf(status, sizeof status, "%s", db_column_text(s, 0));
			db_reset(s);
			db_rollback(r->db);
		}
		if (strcmp(status, "committed") == 0)
			return DB_DONE;
		if (strcmp(status, "aborted") == 0)
			return DB_RETRY;
		if (waited >= COMMIT_OUTCOME_WAIT_MS)
			die(EXIT_SYSTEM, "registry %s: committing: %s; not known whether the transaction was committed",
			    db_name(r->db), lost);
		/* Not reached, or the transaction is still ending on the server. */
		pause_ms(delay);
		waited += delay;
		delay = delay * 2 > 5000 ? 5000 : delay * 2;
	}
}

static enum db_result commit(struct registry *r)
{
	enum db_result res = db_commit(r->db);
	if (res == DB_RETRY && db_is_server(r->db)) {
		snprintf(r->why, sizeof r->why, "%s", db_error(r->db));
		return commit_outcome(r);
	}
	return res;
}

struct registry *registry_create(const char *target, X509 *ca)
{
	bool server = db_target_is_server(target);
	if (!server) {
		/* O_EXCL: never take over an existing file, whatever it is. */
		int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			die(errno == EEXIST ? EXIT_CONFIG : EXIT_SYSTEM, "registry %s: %s", target,
			    errno == EEXIST ? "already exists" : strerror(errno));
		close(fd);
	}
	struct registry *r = open_database(target, 0);

	size_t pem_len;
	char *pem = x509_pem(ca, &pem_len);
	char fingerprint[FINGERPRINT_HEX_LEN + 1];
	cert_fingerprint_hex(ca, fingerprint, sizeof fingerprint);

	const char *insert_meta;
	if (server) {
		/* Under the registry's lock: of two inits on one database, the second finds the first's tables. */
		if (begin(r) != DB_DONE)
			die_db(r, "creating tables");
		int tables = db_table_count(r->db);
		if (tables < 0)
			die_db(r, "creating tables");
		if (tables > 0)
			refuse(r, "%s",
			       has_registry_meta(r) ? "already exists"
						    : "the database holds other tables; a registry needs one of its own");
		exec(r, server_schema_sql, "creating tables");
		insert_meta = "INSERT INTO meta (name, value) VALUES ('format', '" REGISTRY_FORMAT "'),"
			      " ('schema_version', ?1), ('ca_certificate', ?2), ('ca_fingerprint', ?3),"
			      " ('created_at', ?4), ('generation', '1')";
	} else {
		configure(r, true);
		exec(r, "BEGIN IMMEDIATE", "creating tables");
		exec(r, schema_sql, "creating tables");
		insert_meta = "INSERT INTO meta (name, value) VALUES ('format', '" REGISTRY_FORMAT "'),"
			      " ('schema_version', ?1), ('ca_certificate', ?2), ('ca_fingerprint', ?3),"
			      " ('created_at', ?4), ('generation', 1)";
	}
	struct db_stmt *s = db_prepare(r->db, insert_meta);
	db_bind_int64(s, 1, REGISTRY_SCHEMA_VERSION);
	db_bind_text(s, 2, pem, pem_len);
	bind_text(s, 3, fingerprint);
	db_bind_int64(s, 4, now());
	if (db_step(s) != DB_DONE)
		die_db(r, "creating tables");
	db_finalize(s);
	free(pem);
	if (server) {
		if (commit(r) != DB_DONE)
			die_db(r, "creating tables");
	} else {
		char sql[64];
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d; COMMIT", REGISTRY_SCHEMA_VERSION);
		exec(r, sql, "creating tables");
	}
	r->ca = X509_dup(ca);
	if (!r->ca)
		die_ssl(EXIT_SYSTEM, "copying the CA certificate");
	return r;
}

struct registry *registry_open(const char *target, bool write)
{
	bool server = db_target_is_server(target);
	if (!server) {
		struct stat st;
		if (stat(target, &st) < 0)
			die(errno == ENOENT ? EXIT_CONFIG : EXIT_SYSTEM, "registry %s: %s%s", target, strerror(errno),
			    errno == ENOENT ? " (create it with smqtt-register init)" : "");
		if (S_ISDIR(st.st_mode))
			die(EXIT_CONFIG, "registry %s: %s", target, strerror(EISDIR));
	}
	struct registry *r = open_database(target, write || server ? 0 : DB_READONLY);
	if (check_schema(r) < REGISTRY_SCHEMA_VERSION) {
		upgrade_schema(target);
		/* A reader sees the new columns from its next transaction on. */
		check_schema(r);
	}
	if (!server)
		configure(r, write);
	load_ca(r);
	return r;
}

void registry_close(struct registry *r)
{
	if (!r)
		return;
	if (r->in_transaction)
		db_rollback(r->db);
	for (int i = 0; i < ST_COUNT; i++)
		db_finalize(r->statements[i]);
	db_close(r->db);
	X509_free(r->ca);
	free(r);
}

const char *registry_path(const struct registry *r)
{
	return db_name(r->db);
}

X509 *registry_ca(const struct registry *r)
{
	return r->ca;
}

void registry_expect_bulk_writes(struct registry *r)
{
	/* Serials and fingerprints are random: many lookups and inserts land all over their indexes. */
	if (!db_is_server(r->db))
		exec(r, "PRAGMA cache_size = -65536", "sizing the page cache");
}

void registry_begin(struct registry *r)
{
	if (r->in_transaction)
		return;
	if (begin(r) != DB_DONE)
		die_db(r, "beginning a transaction");
	r->in_transaction = true;
	r->generation = 0;
}

void registry_commit(struct registry *r)
{
	if (!r->in_transaction)
		return;
	enum db_result res = commit(r);
	if (res == DB_RETRY && db_is_server(r->db))
		die(EXIT_SYSTEM, "registry %s: committing: %s", db_name(r->db), r->why);
	if (res != DB_DONE)
		die_db(r, "committing");
	r->in_transaction = false;
}

bool registry_try_begin(struct registry *r)
{
	if (!db_is_server(r->db)) {
		registry_begin(r);
		return true;
	}
	if (r->in_transaction)
		return true;
	enum db_result res = begin(r);
	if (res == DB_RETRY) {
		snprintf(r->why, sizeof r->why, "%s", db_error(r->db));
		return false;
	}
	if (res != DB_DONE)
		die_db(r, "beginning a transaction");
	r->in_transaction = r->lenient = true;
	r->failed = false;
	r->generation = 0;
	return true;
}

bool registry_try_commit(struct registry *r)
{
	if (!db_is_server(r->db)) {
		registry_commit(r);
		return true;
	}
	if (!r->in_transaction)
		return true;
	bool failed = r->failed;
	r->in_transaction = r->lenient = r->failed = false;
	if (failed) {
		db_rollback(r->db);
		return false;
	}
	enum db_result res = commit(r);
	if (res == DB_RETRY)
		return false;
	if (res != DB_DONE)
		die_db(r, "committing");
	return true;
}

const char *registry_error(const struct registry *r)
{
	return r->why;
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
	struct db_stmt *s = statement(r, ST_TOUCH_DEVICE);
	bind_text(s, 1, device);
	db_bind_int64(s, 2, change_generation(r));
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
	struct db_stmt *s = statement(r, id);
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
	struct db_stmt *s = statement(r, ST_DEVICE_REVOKED);
	bind_text(s, 1, device);
	int v = row(r, s, "looking up a device") ? db_column_int64(s, 0) : -1;
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
		struct db_stmt *s = statement(r, ST_INSERT_DEVICE);
		bind_text(s, 1, k->device);
		db_bind_int64(s, 2, t);
		db_bind_int64(s, 3, change_generation(r));
		run(r, s, "adding a device");
	} else {
		touch_device(r, k->device);
	}
	struct db_stmt *s = statement(r, ST_INSERT_KEY);
	bind_text(s, 1, k->serial);
	bind_text(s, 2, k->fingerprint);
	bind_text(s, 3, k->device);
	bind_text(s, 4, key_type_name(k->type));
	db_bind_blob(s, 5, k->public_key, k->public_key_len);
	db_bind_blob(s, 6, k->point, k->point_len);
	db_bind_int64(s, 7, k->not_before);
	db_bind_int64(s, 8, k->not_after);
	db_bind_int64(s, 9, t);
	bind_text(s, 10, k->certificate);
	run(r, s, "adding a key");
	if (revoked == 0) {
		s = statement(r, ST_RETIRE_EXCESS);
		bind_text(s, 1, k->device);
		db_bind_int64(s, 2, t);
		db_bind_int64(s, 3, keep_active);
		if (db_is_server(r->db))
			bind_text(s, 4, k->serial);
		run(r, s, "retiring old keys");
		*retired = (unsigned)db_changes(s);
	}
	return REGISTRY_ADDED;
}

bool registry_set_attribute(struct registry *r, const char *device, const char *name, const char *value)
{
	if (registry_device_revoked(r, device) < 0)
		return false;
	struct db_stmt *s = statement(r, ST_SET_ATTRIBUTE);
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
	struct db_stmt *s = statement(r, ST_UNSET_ATTRIBUTE);
	bind_text(s, 1, device);
	bind_text(s, 2, name);
	run(r, s, "removing an attribute");
	if (db_changes(s) == 0)
		return 0;
	touch_device(r, device);
	return 1;
}

bool registry_get_attribute(struct registry *r, const char *device, const char *name,
			    char out[ATTRIBUTE_VALUE_MAX + 1])
{
	struct db_stmt *s = statement(r, ST_GET_ATTRIBUTE);
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
	struct db_stmt *s = statement(r, ST_REVOKE_DEVICE);
	bind_text(s, 1, device);
	db_bind_int64(s, 2, t);
	bind_text(s, 3, reason);
	db_bind_int64(s, 4, change_generation(r));
	run(r, s, "revoking a device");
	s = statement(r, ST_REVOKE_DEVICE_KEYS);
	bind_text(s, 1, device);
	db_bind_int64(s, 2, t);
	bind_text(s, 3, reason);
	run(r, s, "revoking keys");
	*keys = (unsigned)db_changes(s);
	return CHANGE_DONE;
}

/* The state of one key of a device: NULL-terminated copy in state, or a change code. */
static enum registry_change key_state(struct registry *r, const char *device, const char *serial, char state[16])
{
	struct db_stmt *s = statement(r, ST_KEY_STATE);
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
	struct db_stmt *s = statement(r, ST_REVOKE_KEY);
	bind_text(s, 1, device);
	bind_text(s, 2, serial);
	db_bind_int64(s, 3, now());
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
	struct db_stmt *s = statement(r, ST_RETIRE_KEY);
	bind_text(s, 1, device);
	bind_text(s, 2, serial);
	db_bind_int64(s, 3, now());
	run(r, s, "retiring a key");
	touch_device(r, device);
	return CHANGE_DONE;
}

/* ---- queries ---- */

static int emit_devices(struct registry *r, struct db_stmt *s, registry_device_fn fn, void *arg)
{
	int n = 0;
	while (row(r, s, "listing devices")) {
		struct registry_device d = {
			.id = column_text(s, 0),
			.added_at = db_column_int64(s, 1),
			.revoked_at = db_column_int64(s, 2),
			.revocation_reason = column_text(s, 3),
			.last_seq = (uint64_t)db_column_int64(s, 4),
			.keys = (unsigned)db_column_int64(s, 5),
			.active_keys = (unsigned)db_column_int64(s, 6),
		};
		unsigned valid_now = (unsigned)db_column_int64(s, 7), pending = (unsigned)db_column_int64(s, 8);
		if (!db_column_null(s, 2))
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
	struct db_stmt *s = statement(r, ST_EACH_DEVICE);
	db_bind_int64(s, 1, now());
	emit_devices(r, s, fn, arg);
}

bool registry_find_device(struct registry *r, const char *device, registry_device_fn fn, void *arg)
{
	struct db_stmt *s = statement(r, ST_FIND_DEVICE);
	db_bind_int64(s, 1, now());
	bind_text(s, 2, device);
	return emit_devices(r, s, fn, arg) > 0;
}

static void emit_keys(struct registry *r, struct db_stmt *s, registry_key_fn fn, void *arg)
{
	while (row(r, s, "listing keys")) {
		struct registry_key_info k = {
			.device = column_text(s, 0),
			.serial = column_text(s, 1),
			.fingerprint = column_text(s, 2),
			.state = column_text(s, 3),
			.type = column_text(s, 4),
			.not_before = db_column_int64(s, 5),
			.not_after = db_column_int64(s, 6),
			.added_at = db_column_int64(s, 7),
			.retired_at = db_column_int64(s, 8),
			.revoked_at = db_column_int64(s, 9),
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
	struct db_stmt *s = statement(r, ST_EACH_KEY);
	bind_text(s, 1, device);
	emit_keys(r, s, fn, arg);
}

void registry_each_revoked(struct registry *r, registry_key_fn fn, void *arg)
{
	emit_keys(r, statement(r, ST_EACH_REVOKED), fn, arg);
}

void registry_each_attribute(struct registry *r, const char *device, registry_attribute_fn fn, void *arg)
{
	struct db_stmt *s = statement(r, ST_EACH_ATTRIBUTE);
	bind_text(s, 1, device);
	while (row(r, s, "listing attributes"))
		if (fn(column_text(s, 0), column_text(s, 1), arg))
			break;
	done(s);
}

/* ---- verification ---- */

/* Copy one key row (type, point, not_before, not_after from column first on) into e->keys[e->nkeys]. */
static void load_key(struct registry *r, struct db_stmt *s, int first, struct registry_entry *e, const char *device,
		     size_t len)
{
	const char *type = column_text(s, first);
	int point_len = (int)db_column_bytes(s, first + 1);
	if (!type || !key_type_parse(type, &e->keys[e->nkeys].type) || point_len <= 0 || point_len > PUBLIC_POINT_MAX)
		die(EXIT_CONFIG, "registry %s: device %.*s: damaged key", registry_path(r), (int)len, device);
	memcpy(e->keys[e->nkeys].point, db_column_blob(s, first + 1), (size_t)point_len);
	e->keys[e->nkeys].point_len = (size_t)point_len;
	e->keys[e->nkeys].not_before = db_column_int64(s, first + 2);
	e->keys[e->nkeys].not_after = db_column_int64(s, first + 3);
	e->keys[e->nkeys].revoked = false;
	e->nkeys++;
}

/* The replay window in column col of s, at last. */
static void read_window(struct registry *r, struct db_stmt *s, int col, uint64_t last, struct replay_window *w,
			const char *device, size_t len)
{
	/* Length first: on a server, each blob read decodes the column again. */
	size_t blob_len = db_column_bytes(s, col);
	const void *blob = db_column_blob(s, col);
	if (!replay_decode(w, last, blob, blob ? blob_len : 0))
		die(EXIT_CONFIG, "registry %s: device %.*s: damaged replay window", registry_path(r), (int)len, device);
}

void registry_load(struct registry *r, const char *device, size_t len, struct registry_entry *e)
{
	memset(e, 0, sizeof *e);
	struct db_stmt *s = statement(r, ST_LOAD);
	db_bind_text(s, 1, device, len);
	while (row(r, s, "loading a device")) {
		if (!e->found) {
			e->found = true;
			e->revoked = db_column_int64(s, 0) != 0;
			e->last_seq = (uint64_t)db_column_int64(s, 1);
			if (db_column_bytes(s, 2) == DIGEST_LEN) {
				memcpy(e->last_digest, db_column_blob(s, 2), DIGEST_LEN);
				e->has_digest = true;
			}
			read_window(r, s, 7, e->last_seq, &e->window, device, len);
		}
		if (db_column_null(s, 3) || e->nkeys == REGISTRY_ACTIVE_KEYS_MAX)
			continue; /* no active key (LEFT JOIN) */
		load_key(r, s, 3, e, device, len);
	}
	done(s);
}

void registry_load_inactive(struct registry *r, const char *device, size_t len, struct registry_entry *e)
{
	struct db_stmt *s = statement(r, ST_LOAD_INACTIVE);
	db_bind_text(s, 1, device, len);
	e->nkeys = 0;
	while (e->nkeys < REGISTRY_ACTIVE_KEYS_MAX && row(r, s, "loading retired keys")) {
		load_key(r, s, 0, e, device, len);
		e->keys[e->nkeys - 1].revoked = db_column_int64(s, 4) != 0;
	}
	done(s);
}

bool registry_each_stored_key(struct registry *r, const char *device, size_t len, registry_stored_key_fn fn,
			      void *arg)
{
	struct db_stmt *s = statement(r, ST_LOAD_ALL_KEYS);
	db_bind_text(s, 1, device, len);
	bool found = false;
	while (row(r, s, "loading keys")) {
		struct registry_stored_key k = {0};
		const char *type = column_text(s, 0), *state = column_text(s, 2);
		int point_len = (int)db_column_bytes(s, 1);
		if (!type || !state || !key_type_parse(type, &k.type) || point_len <= 0 || point_len > PUBLIC_POINT_MAX)
			die(EXIT_CONFIG, "registry %s: device %.*s: damaged key", registry_path(r), (int)len, device);
		memcpy(k.point, db_column_blob(s, 1), (size_t)point_len);
		k.point_len = (size_t)point_len;
		k.active = strcmp(state, "active") == 0;
		k.revoked = strcmp(state, "revoked") == 0;
		k.compromised = db_column_int64(s, 3) != 0;
		k.known = !db_column_null(s, 4);
		k.last_seq = (uint64_t)db_column_int64(s, 4);
		found = true;
		fn(&k, arg);
	}
	done(s);
	return found;
}

bool registry_get_replay_state(struct registry *r, const char *device, size_t len, struct replay_window *w,
			       unsigned char digest[DIGEST_LEN], bool *has_digest)
{
	struct db_stmt *s = statement(r, ST_REPLAY_STATE);
	db_bind_text(s, 1, device, len);
	bool found = row(r, s, "reading replay state");
	*has_digest = false;
	replay_init(w);
	if (found) {
		uint64_t last = (uint64_t)db_column_int64(s, 0);
		if (db_column_bytes(s, 1) == DIGEST_LEN) {
			memcpy(digest, db_column_blob(s, 1), DIGEST_LEN);
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
	struct db_stmt *s = statement(r, ST_PUT_REPLAY);
	db_bind_text(s, 1, device, len);
	db_bind_int64(s, 2, (int64_t)w->last);
	db_bind_blob(s, 3, digest, DIGEST_LEN);
	if (window_len)
		db_bind_blob(s, 4, window, window_len);
	else
		db_bind_null(s, 4);
	run(r, s, "saving replay state");
}

/*
 * A file: PRAGMA data_version, which moves whenever another connection
 * commits. A server has no such counter: the meta "generation", which every
 * change to a device bumps, in one query. Commits that only save replay
 * state move data_version but not the generation; neither changes a cached
 * device's keys or status, which is what a caller asks this for.
 */
bool registry_changed_elsewhere(struct registry *r)
{
	int64_t v;
	if (db_is_server(r->db)) {
		v = registry_generation(r);
	} else {
		struct db_stmt *s = statement(r, ST_DATA_VERSION);
		v = row(r, s, "checking for changes") ? db_column_int64(s, 0) : 0;
		done(s);
	}
	bool changed = v != r->seen;
	r->seen = v;
	return changed;
}

int64_t registry_generation(struct registry *r)
{
	struct db_stmt *s = statement(r, ST_GENERATION);
	int64_t v = row(r, s, "reading the change counter") ? db_column_int64(s, 0) : 0;
	done(s);
	return v;
}

void registry_each_changed(struct registry *r, int64_t since, void (*fn)(const char *id, size_t len, void *arg),
			   void *arg)
{
	struct db_stmt *s = statement(r, ST_EACH_CHANGED);
	db_bind_int64(s, 1, since);
	while (row(r, s, "listing changed devices"))
		fn(column_text(s, 0), db_column_bytes(s, 0), arg);
	done(s);
}
