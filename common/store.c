#include "store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "error.h"

struct store {
	sqlite3 *db;
	char *path;
	const struct schema *schema;
	sqlite3_stmt *insert, *last_seq, *begin, *commit, *rollback;
	bool in_transaction;
	char error[256]; /* the last failure a retry may cure */
};

/* How long one statement waits for another connection's lock before it reports it. */
#define BUSY_TIMEOUT_MS 2000

static _Noreturn void die_db(struct store *st, const char *doing)
{
	die(EXIT_SYSTEM, "database %s: %s: %s", st->path, doing, sqlite3_errmsg(st->db));
}

/*
 * Failures that may go away on their own: a lock held by another process, a
 * full disk or file size limit, an I/O error. The caller keeps its rows and
 * writes them again later; anything else is fatal.
 */
static bool transient(struct store *st, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_FULL:
	case SQLITE_IOERR:
		snprintf(st->error, sizeof st->error, "%s", sqlite3_errmsg(st->db));
		return true;
	default:
		return false;
	}
}

static void exec(struct store *st, const char *sql, const char *doing)
{
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		char copy[256];
		snprintf(copy, sizeof copy, "%s", msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		die(EXIT_SYSTEM, "database %s: %s: %s", st->path, doing, copy);
	}
}

static sqlite3_stmt *prepare(struct store *st, const char *sql)
{
	sqlite3_stmt *stmt;
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK)
		die_db(st, "preparing statement");
	return stmt;
}

/* A device column is text: what tells it apart is checked before each row is stored. */
static const char *column_sql_type(enum column_type t)
{
	return t == COLUMN_INTEGER ? "INTEGER" : t == COLUMN_REAL ? "REAL" : "TEXT";
}

/* Append to a growing SQL string. */
static void append(char **sql, size_t *len, const char *text)
{
	size_t n = strlen(text);
	*sql = xrealloc(*sql, *len + n + 1);
	memcpy(*sql + *len, text, n + 1);
	*len += n;
}

static void create_tables(struct store *st, const char *schema_text)
{
	char *sql = NULL;
	size_t len = 0;
	append(&sql, &len, "BEGIN;\nCREATE TABLE smqtt_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
			   "CREATE TABLE readings (\n  device TEXT NOT NULL,\n  seq INTEGER NOT NULL,\n");
	for (size_t i = 0; i < st->schema->ncolumns; i++) {
		const struct column *c = &st->schema->columns[i];
		char col[2 * COLUMN_NAME_MAX + 64];
		/* SQLite holds the table to the rule as well, whatever program writes to it. */
		if (c->type == COLUMN_DEVICE)
			snprintf(col, sizeof col, "  \"%s\" TEXT NOT NULL CHECK (\"%s\" = device),\n", c->name, c->name);
		else
			snprintf(col, sizeof col, "  \"%s\" %s,\n", c->name, column_sql_type(c->type));
		append(&sql, &len, col);
	}
	append(&sql, &len, "  frame TEXT NOT NULL,\n  PRIMARY KEY (device, seq)\n) WITHOUT ROWID;\n");
	char *meta = sqlite3_mprintf("INSERT INTO smqtt_meta VALUES ('schema_version', '%d'), ('columns', %Q);\n"
				     "PRAGMA user_version = %d;\nCOMMIT;",
				     STORE_SCHEMA_VERSION, schema_text, STORE_SCHEMA_VERSION);
	if (!meta)
		die(EXIT_SYSTEM, "out of memory");
	append(&sql, &len, meta);
	sqlite3_free(meta);
	exec(st, sql, "creating tables");
	free(sql);
}

/*
 * The file is not a database of ours: close it untouched (SQLite removes the
 * -wal and -shm files it made for reading) and say what it is.
 */
static _Noreturn void refuse(struct store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static _Noreturn void refuse(struct store *st, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	sqlite3_close(st->db);
	die(EXIT_CONFIG, "database %s: %s", st->path, why);
}

static int query_int(struct store *st, const char *sql)
{
	sqlite3_stmt *stmt;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int v = sqlite3_column_int(stmt, 0);
		sqlite3_finalize(stmt);
		return v;
	}
	sqlite3_finalize(stmt);
	if ((rc & 0xff) == SQLITE_NOTADB)
		refuse(st, "not an SQLite database");
	die_db(st, "reading schema");
}

/*
 * Whether a database created with the schema text stored has the table the
 * schema given needs: the same columns of the same SQL types. device and text
 * make the same column, so a database created when the default schema said
 * meter:text is opened with meter:device, and the other way round; a column
 * that either says is a device column is checked as one from then on, so the
 * check is never lost by naming another type.
 */
static bool same_table(const char *stored_text, struct schema *given)
{
	struct schema stored;
	char err[160];
	if (!schema_parse(stored_text, &stored, err, sizeof err) || stored.ncolumns != given->ncolumns)
		return false;
	for (size_t i = 0; i < stored.ncolumns; i++) {
		const struct column *a = &stored.columns[i], *b = &given->columns[i];
		if (strcmp(a->name, b->name) != 0 || strcmp(column_sql_type(a->type), column_sql_type(b->type)) != 0)
			return false;
	}
	for (size_t i = 0; i < stored.ncolumns; i++)
		if (stored.columns[i].type == COLUMN_DEVICE)
			given->columns[i].type = COLUMN_DEVICE;
	return true;
}

/* Read what the file holds, changing nothing; create the tables in a new, empty database. */
static void check_schema(struct store *st, struct schema *schema, const char *schema_text)
{
	int version = query_int(st, "PRAGMA user_version");
	if (version == 0 && query_int(st, "SELECT count(*) FROM sqlite_master") == 0) {
		create_tables(st, schema_text);
		return;
	}
	if (query_int(st, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'smqtt_meta'") != 1)
		refuse(st, "not a database of smqtt-store (it has other tables)");
	if (version != STORE_SCHEMA_VERSION)
		refuse(st, "schema version %d; this smqtt-store handles version %d", version, STORE_SCHEMA_VERSION);
	sqlite3_stmt *stmt = prepare(st, "SELECT value FROM smqtt_meta WHERE key = 'columns'");
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		sqlite3_finalize(stmt);
		refuse(st, "damaged: no column schema recorded");
	}
	const char *stored = (const char *)sqlite3_column_text(stmt, 0);
	if (!stored || (strcmp(stored, schema_text) != 0 && !same_table(stored, schema))) {
		char columns[256];
		snprintf(columns, sizeof columns, "%s", stored ? stored : "");
		sqlite3_finalize(stmt);
		refuse(st, "created with columns \"%s\", not \"%s\" (use -s \"%s\")", columns, schema_text, columns);
	}
	sqlite3_finalize(stmt);
}

struct store *store_open(const char *path, struct schema *schema, const char *schema_text)
{
	struct store *st = xcalloc(1, sizeof *st);
	st->path = xstrdup(path);
	st->schema = schema;
	struct stat sb;
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		die(EXIT_CONFIG, "database %s: %s", path, strerror(EISDIR));
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		int err = sqlite3_system_errno(st->db);
		die(EXIT_SYSTEM, "database %s: opening: %s", path, err ? strerror(err) : sqlite3_errmsg(st->db));
	}
	/* Wait for another writer (or a reader holding a checkpoint) instead of failing at once. */
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	/* Before anything is written: switching to WAL mode would change the file of another program. */
	check_schema(st, schema, schema_text);
	exec(st, "PRAGMA journal_mode = WAL", "switching to WAL mode");
	exec(st, "PRAGMA synchronous = FULL", "setting synchronous mode");

	char *sql = NULL;
	size_t len = 0;
	append(&sql, &len, "INSERT OR IGNORE INTO readings VALUES (?, ?");
	for (size_t i = 0; i < schema->ncolumns; i++)
		append(&sql, &len, ", ?");
	append(&sql, &len, ", ?)");
	st->insert = prepare(st, sql);
	free(sql);
	st->last_seq = prepare(st, "SELECT max(seq) FROM readings WHERE device = ?");
	st->begin = prepare(st, "BEGIN IMMEDIATE");
	st->commit = prepare(st, "COMMIT");
	st->rollback = prepare(st, "ROLLBACK");
	return st;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	sqlite3_finalize(st->insert);
	sqlite3_finalize(st->last_seq);
	sqlite3_finalize(st->begin);
	sqlite3_finalize(st->commit);
	sqlite3_finalize(st->rollback);
	if (sqlite3_close(st->db) != SQLITE_OK)
		die_db(st, "closing");
	free(st->path);
	free(st);
}

bool store_begin(struct store *st)
{
	if (st->in_transaction)
		return true;
	int rc = sqlite3_step(st->begin);
	sqlite3_reset(st->begin);
	if (rc != SQLITE_DONE) {
		if (transient(st, rc))
			return false;
		die_db(st, "beginning transaction");
	}
	st->in_transaction = true;
	return true;
}

bool store_commit(struct store *st)
{
	if (!st->in_transaction)
		return true;
	int rc = sqlite3_step(st->commit);
	sqlite3_reset(st->commit);
	if (rc != SQLITE_DONE) {
		if (transient(st, rc))
			return false;
		die_db(st, "committing");
	}
	st->in_transaction = false;
	return true;
}

void store_rollback(struct store *st)
{
	/* SQLite may have rolled the transaction back itself already (full disk, I/O error). */
	if (!sqlite3_get_autocommit(st->db)) {
		sqlite3_step(st->rollback);
		sqlite3_reset(st->rollback);
	}
	st->in_transaction = false;
}

bool store_in_transaction(const struct store *st)
{
	return st->in_transaction;
}

const char *store_path(const struct store *st)
{
	return st->path;
}

const char *store_error(const struct store *st)
{
	return st->error;
}

enum store_result store_insert(struct store *st, const struct frame *f, const char *line, size_t len,
			       const struct field *fields)
{
	sqlite3_stmt *s = st->insert;
	int i = 1;
	sqlite3_bind_text(s, i++, f->device, (int)f->device_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, i++, (sqlite3_int64)f->seq);
	for (size_t c = 0; c < st->schema->ncolumns; c++, i++) {
		const struct field *fld = &fields[c];
		if (fld->is_null)
			sqlite3_bind_null(s, i);
		else if (st->schema->columns[c].type == COLUMN_INTEGER)
			sqlite3_bind_int64(s, i, fld->integer);
		else if (st->schema->columns[c].type == COLUMN_REAL)
			sqlite3_bind_double(s, i, fld->real);
		else
			sqlite3_bind_text(s, i, fld->text, (int)fld->len, SQLITE_STATIC);
	}
	sqlite3_bind_text(s, i, line, (int)len, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE) {
		if (transient(st, rc))
			return STORE_RETRY;
		die_db(st, "inserting");
	}
	return sqlite3_changes(st->db) > 0 ? STORE_INSERTED : STORE_DUPLICATE;
}

bool store_last_seq(struct store *st, const char *device, size_t len, uint64_t *seq)
{
	sqlite3_stmt *s = st->last_seq;
	sqlite3_bind_text(s, 1, device, (int)len, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	*seq = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW) {
		if (transient(st, rc))
			return false;
		die_db(st, "reading last sequence number");
	}
	return true;
}
