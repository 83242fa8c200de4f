#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "error.h"

struct store {
	struct db *db;
	const struct schema *schema;
	struct db_stmt *insert, *last_seq, *last_seq_many;
	/* On a server: one INSERT of chunk rows, RETURNING the keys of those that were new. */
	struct db_stmt *insert_chunk;
	size_t chunk;
	/* On a server: rows for COPY; COPYs in the open transaction; whether one found a key taken. */
	struct db_copy *copy;
	int copies;
	bool copy_hit_duplicate;
	bool in_transaction;
	char error[256]; /* the last failure a retry may cure */
};

/* How long one statement waits for another connection's lock on an SQLite file before it reports it. */
#define BUSY_TIMEOUT_MS 2000

static _Noreturn void die_db(struct store *st, const char *doing)
{
	db_die(st->db, EXIT_SYSTEM, doing);
}

/*
 * Failures that may go away on their own (see db_result): the caller keeps
 * its rows and writes them again later; anything else is fatal.
 */
static bool transient(struct store *st, enum db_result r)
{
	if (r != DB_RETRY)
		return false;
	snprintf(st->error, sizeof st->error, "%s", db_error(st->db));
	return true;
}

static void exec(struct store *st, const char *sql, const char *doing)
{
	if (db_exec(st->db, sql) != DB_DONE)
		die_db(st, doing);
}

/*
 * The SQL type of a column. A device column is text: what tells it apart is
 * checked before each row is stored. On a server, 64-bit integers and
 * doubles, which SQLite's INTEGER and REAL are.
 */
static const char *column_sql_type(enum column_type t, bool server)
{
	if (t == COLUMN_INTEGER)
		return server ? "BIGINT" : "INTEGER";
	if (t == COLUMN_REAL)
		return server ? "DOUBLE PRECISION" : "REAL";
	return "TEXT";
}

/* Append to a growing SQL string. */
static void append(char **sql, size_t *len, const char *text)
{
	size_t n = strlen(text);
	*sql = xrealloc(*sql, *len + n + 1);
	memcpy(*sql + *len, text, n + 1);
	*len += n;
}

/* In the transaction check_schema opened, which holds the write lock; commits it on a file. */
static void create_tables(struct store *st, const char *schema_text)
{
	bool server = db_is_server(st->db);
	char *sql = NULL;
	size_t len = 0;
	append(&sql, &len, "CREATE TABLE smqtt_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
			   "CREATE TABLE readings (\n  device TEXT NOT NULL,\n");
	append(&sql, &len, server ? "  seq BIGINT NOT NULL,\n" : "  seq INTEGER NOT NULL,\n");
	for (size_t i = 0; i < st->schema->ncolumns; i++) {
		const struct column *c = &st->schema->columns[i];
		char col[2 * COLUMN_NAME_MAX + 64];
		/* The database holds the table to the rule as well, whatever program writes to it. */
		if (c->type == COLUMN_DEVICE)
			snprintf(col, sizeof col, "  \"%s\" TEXT NOT NULL CHECK (\"%s\" = device),\n", c->name, c->name);
		else
			snprintf(col, sizeof col, "  \"%s\" %s,\n", c->name, column_sql_type(c->type, server));
		append(&sql, &len, col);
	}
	append(&sql, &len, server ? "  frame TEXT NOT NULL,\n  PRIMARY KEY (device, seq)\n);\n"
				  : "  frame TEXT NOT NULL,\n  PRIMARY KEY (device, seq)\n) WITHOUT ROWID;\n");
	if (!server) {
		char version[64];
		snprintf(version, sizeof version, "PRAGMA user_version = %d;\n", STORE_SCHEMA_VERSION);
		append(&sql, &len, version);
	}
	exec(st, sql, "creating tables");
	free(sql);
	struct db_stmt *meta = db_prepare(st->db, "INSERT INTO smqtt_meta VALUES ('schema_version', ?), ('columns', ?)");
	db_bind_int64(meta, 1, STORE_SCHEMA_VERSION);
	db_bind_text(meta, 2, schema_text, strlen(schema_text));
	if (db_step(meta) != DB_DONE)
		die_db(st, "creating tables");
	db_finalize(meta);
	if (!server)
		exec(st, "COMMIT", "creating tables");
}

/*
 * The database is not one of ours: close it untouched (SQLite removes the
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
	char name[512];
	snprintf(name, sizeof name, "%s", db_name(st->db));
	db_close(st->db);
	die(EXIT_CONFIG, "database %s: %s", name, why);
}

static int query_int(struct store *st, const char *sql)
{
	struct db_stmt *s = db_prepare(st->db, sql);
	enum db_result r = db_step(s);
	int v = r == DB_ROW ? (int)db_column_int64(s, 0) : 0;
	db_finalize(s);
	if (r == DB_NOT_DATABASE)
		refuse(st, "not an SQLite database");
	if (r != DB_ROW)
		die_db(st, "reading schema");
	return v;
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
		if (strcmp(a->name, b->name) != 0 ||
		    strcmp(column_sql_type(a->type, false), column_sql_type(b->type, false)) != 0)
			return false;
	}
	for (size_t i = 0; i < stored.ncolumns; i++)
		if (stored.columns[i].type == COLUMN_DEVICE)
			given->columns[i].type = COLUMN_DEVICE;
	return true;
}

/*
 * Read what the database holds, changing nothing; create the tables in a new,
 * empty one. An SQLite file keeps the schema version in user_version as well;
 * on a server, smqtt_meta is where it is.
 */
static void check_schema(struct store *st, struct schema *schema, const char *schema_text)
{
	bool server = db_is_server(st->db);
	const char *tables = server ? "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"
				    : "SELECT count(*) FROM sqlite_master";
	/* First, on a file: a statement naming a table could not be prepared on one that is no database. */
	int version = server ? 0 : query_int(st, "PRAGMA user_version");
	if (version == 0 && query_int(st, tables) == 0) {
		/* Two stores starting on one new file: the one that takes the lock first creates the tables. */
		if (!server)
			exec(st, "BEGIN IMMEDIATE", "creating tables");
		if (server || (query_int(st, "PRAGMA user_version") == 0 && query_int(st, tables) == 0)) {
			create_tables(st, schema_text);
			return;
		}
		exec(st, "COMMIT", "reading schema");
	}
	/*
	 * Again: the tables and the version are committed together, so a version
	 * read before the tables were seen could be that of the empty file
	 * another store was still filling. A file with a version and no tables
	 * is another program's, and is refused below.
	 */
	if (!server)
		version = query_int(st, "PRAGMA user_version");
	if (db_table_exists(st->db, "smqtt_meta") != 1)
		refuse(st, "not a database of smqtt-store (it has other tables)");
	if (server)
		version = query_int(st, "SELECT CAST(value AS INTEGER) FROM smqtt_meta WHERE key = 'schema_version'");
	if (version != STORE_SCHEMA_VERSION)
		refuse(st, "schema version %d; this smqtt-store handles version %d", version, STORE_SCHEMA_VERSION);
	struct db_stmt *s = db_prepare(st->db, "SELECT value FROM smqtt_meta WHERE key = 'columns'");
	if (db_step(s) != DB_ROW) {
		db_finalize(s);
		refuse(st, "damaged: no column schema recorded");
	}
	const char *stored = db_column_text(s, 0);
	if (!stored || (strcmp(stored, schema_text) != 0 && !same_table(stored, schema))) {
		char columns[256];
		snprintf(columns, sizeof columns, "%s", stored ? stored : "");
		db_finalize(s);
		refuse(st, "created with columns \"%s\", not \"%s\" (use -s \"%s\")", columns, schema_text, columns);
	}
	db_finalize(s);
}

/*
 * Two stores opening one new file at once both switch it to WAL mode, and
 * each then holds a read lock the other's switch needs: SQLite refuses one
 * of them at once rather than waiting, whatever the busy timeout. That one
 * tries again, for as long as the busy timeout, by when the other is done.
 * A file already in WAL mode needs no lock.
 */
static void switch_to_wal(struct store *st)
{
	enum db_result r;
	for (int waited = 0; (r = db_exec(st->db, "PRAGMA journal_mode = WAL")) == DB_RETRY && waited < BUSY_TIMEOUT_MS;
	     waited += 10)
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
	if (r != DB_DONE)
		die_db(st, "switching to WAL mode");
}

struct store *store_open(const char *target, struct schema *schema, const char *schema_text)
{
	struct store *st = xcalloc(1, sizeof *st);
	st->schema = schema;
	st->db = db_open(target, "database", DB_CREATE, BUSY_TIMEOUT_MS);
	if (db_is_server(st->db)) {
		/* Two stores starting on one new database: one creates the tables, the other then finds them. */
		if (db_begin(st->db) != DB_DONE)
			die_db(st, "beginning transaction");
		exec(st, "SELECT pg_advisory_xact_lock(hashtext('smqtt-store schema'))", "locking the schema");
		check_schema(st, schema, schema_text);
		if (db_commit(st->db) != DB_DONE)
			die_db(st, "creating tables");
	} else {
		/* Before anything is written: switching to WAL mode would change the file of another program. */
		check_schema(st, schema, schema_text);
		switch_to_wal(st);
		exec(st, "PRAGMA synchronous = FULL", "setting synchronous mode");
	}

	char *sql = NULL;
	size_t len = 0;
	/* Idempotent: a row already stored for (device, seq) is left as it is. */
	append(&sql, &len, "INSERT INTO readings VALUES (?, ?");
	for (size_t i = 0; i < schema->ncolumns; i++)
		append(&sql, &len, ", ?");
	append(&sql, &len, ", ?) ON CONFLICT DO NOTHING");
	st->insert = db_prepare(st->db, sql);
	free(sql);
	st->last_seq = db_prepare(st->db, "SELECT max(seq) FROM readings WHERE device = ?");
	if (db_is_server(st->db)) {
		/* As many rows as a statement's parameters allow, within one round trip's queue. */
		size_t per_row = schema->ncolumns + 3;
		st->chunk = DB_PARAMS_MAX / per_row;
		if (st->chunk > STORE_QUEUE_MAX)
			st->chunk = STORE_QUEUE_MAX;
		if (st->chunk > 1) {
			sql = NULL;
			len = 0;
			append(&sql, &len, "INSERT INTO readings VALUES ");
			for (size_t j = 0; j < st->chunk; j++) {
				append(&sql, &len, j ? ", (?" : "(?");
				for (size_t i = 1; i < per_row; i++)
					append(&sql, &len, ", ?");
				append(&sql, &len, ")");
			}
			append(&sql, &len, " ON CONFLICT DO NOTHING RETURNING device, seq");
			st->insert_chunk = db_prepare(st->db, sql);
			free(sql);
		}
		st->copy = db_copy_new();
	}
	return st;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	db_finalize(st->insert);
	db_finalize(st->last_seq);
	if (st->insert_chunk)
		db_finalize(st->insert_chunk);
	if (st->last_seq_many)
		db_finalize(st->last_seq_many);
	db_copy_free(st->copy);
	db_close(st->db);
	free(st);
}

bool store_begin(struct store *st)
{
	if (st->in_transaction)
		return true;
	enum db_result r = db_begin(st->db);
	if (r != DB_DONE) {
		if (transient(st, r))
			return false;
		die_db(st, "beginning transaction");
	}
	st->in_transaction = true;
	st->copies = 0;
	st->copy_hit_duplicate = false;
	return true;
}

bool store_commit(struct store *st)
{
	if (!st->in_transaction)
		return true;
	enum db_result r = db_commit(st->db);
	if (r != DB_DONE) {
		if (transient(st, r))
			return false;
		die_db(st, "committing");
	}
	st->in_transaction = false;
	return true;
}

void store_rollback(struct store *st)
{
	db_rollback(st->db);
	st->in_transaction = false;
}

bool store_in_transaction(const struct store *st)
{
	return st->in_transaction;
}

const char *store_path(const struct store *st)
{
	return db_name(st->db);
}

bool store_is_server(const struct store *st)
{
	return db_is_server(st->db);
}

const char *store_error(const struct store *st)
{
	return st->error;
}

bool store_text_storable(struct store *st, const char *text, size_t len)
{
	return db_text_storable(st->db, text, len);
}

/* Bind a row's values to s, from parameter first on: device, seq, the record's columns, the frame. */
static void bind_row_at(struct store *st, struct db_stmt *s, int first, const struct store_row *row)
{
	int i = first;
	db_bind_text(s, i++, row->frame.device, row->frame.device_len);
	db_bind_int64(s, i++, (int64_t)row->frame.seq);
	for (size_t c = 0; c < st->schema->ncolumns; c++, i++) {
		const struct field *fld = &row->fields[c];
		if (fld->is_null)
			db_bind_null(s, i);
		else if (st->schema->columns[c].type == COLUMN_INTEGER)
			db_bind_int64(s, i, fld->integer);
		else if (st->schema->columns[c].type == COLUMN_REAL)
			db_bind_double(s, i, fld->real);
		else
			db_bind_text(s, i, fld->text, fld->len);
	}
	db_bind_text(s, i, row->line, row->len);
}

static void bind_row(struct store *st, const struct frame *f, const char *line, size_t len,
		     const struct field *fields)
{
	struct store_row row = {.frame = *f, .line = line, .len = len, .fields = fields};
	bind_row_at(st, st->insert, 1, &row);
}

enum store_result store_insert(struct store *st, const struct frame *f, const char *line, size_t len,
			       const struct field *fields)
{
	struct db_stmt *s = st->insert;
	bind_row(st, f, line, len, fields);
	enum db_result r = db_step(s);
	int64_t changes = db_changes(s);
	db_reset(s);
	if (r != DB_DONE) {
		if (transient(st, r))
			return STORE_RETRY;
		die_db(st, "inserting");
	}
	return changes > 0 ? STORE_INSERTED : STORE_DUPLICATE;
}

/* What the keys a chunk's INSERT returns are matched against. */
struct chunk_marks {
	struct store *st;
	const struct store_row *rows;
	enum store_result *results;
};

/*
 * A key the server returned for chunk execution: it marks the first row of
 * the chunk with that key not yet marked as new (a frame twice in one chunk
 * is stored once); the rows left unmarked are duplicates.
 */
static void mark_inserted(void *arg, size_t execution, int ncolumns, const char *const *values, const int *lengths)
{
	struct chunk_marks *m = arg;
	size_t chunk = m->st->chunk;
	if (ncolumns < 2 || !values[0] || !values[1])
		return;
	uint64_t seq = strtoull(values[1], NULL, 10);
	size_t len = (size_t)lengths[0];
	for (size_t j = execution * chunk; j < (execution + 1) * chunk; j++)
		if (m->results[j] == STORE_DUPLICATE && m->rows[j].frame.seq == seq && m->rows[j].frame.device_len == len &&
		    memcmp(m->rows[j].frame.device, values[0], len) == 0) {
			m->results[j] = STORE_INSERTED;
			return;
		}
}

/*
 * On a server, rows go first by COPY, the fastest way in, straight into
 * readings, within a savepoint: if it succeeds, every row was new. If a key
 * was taken (a frame stored before, or twice among the rows), the savepoint
 * is rolled back and the rows go by INSERT ... ON CONFLICT DO NOTHING, which
 * tells the new from the duplicates; so do the rest of the transaction's,
 * where more duplicates are likely. A savepoint is a subtransaction, and a
 * transaction with more than 64 slows down every other session's snapshots,
 * hence at most COPIES_MAX COPYs a transaction.
 */
#define COPIES_MAX 48
static const char COPY_ROWS[] = "SAVEPOINT smqtt_copy; COPY readings FROM STDIN (FORMAT binary);"
				" RELEASE SAVEPOINT smqtt_copy";

/* A row's values for COPY: device, seq, the record's columns, the frame. */
static void copy_row(struct store *st, const struct store_row *row)
{
	struct db_copy *c = st->copy;
	db_copy_text(c, row->frame.device, row->frame.device_len);
	db_copy_int64(c, (int64_t)row->frame.seq);
	for (size_t i = 0; i < st->schema->ncolumns; i++) {
		const struct field *fld = &row->fields[i];
		if (fld->is_null)
			db_copy_null(c);
		else if (st->schema->columns[i].type == COLUMN_INTEGER)
			db_copy_int64(c, fld->integer);
		else if (st->schema->columns[i].type == COLUMN_REAL)
			db_copy_double(c, fld->real);
		else
			db_copy_text(c, fld->text, fld->len);
	}
	db_copy_text(c, row->line, row->len);
	db_copy_end_row(c);
}

/* The rows by COPY: DB_DONE, all inserted; DB_DUPLICATE, none, the transaction as before; or a failure. */
static enum db_result copy_rows(struct store *st, size_t n, const struct store_row *rows)
{
	for (size_t i = 0; i < n; i++)
		copy_row(st, &rows[i]);
	st->copies++;
	enum db_result r = db_copy(st->db, COPY_ROWS, st->copy);
	if (r == DB_DUPLICATE) {
		st->copy_hit_duplicate = true;
		enum db_result back = db_exec(st->db, "ROLLBACK TO SAVEPOINT smqtt_copy; RELEASE SAVEPOINT smqtt_copy");
		if (back != DB_DONE)
			r = back;
	}
	return r;
}

void store_insert_many(struct store *st, size_t n, const struct store_row *rows, enum store_result *results)
{
	int64_t changes[STORE_QUEUE_MAX];
	enum db_result r = DB_DONE;
	if (n > STORE_QUEUE_MAX || n > DB_QUEUE_MAX)
		die(EXIT_SYSTEM, "database %s: %zu rows at once, more than %d", db_name(st->db), n, STORE_QUEUE_MAX);
	if (db_is_server(st->db) && !st->copy_hit_duplicate && st->copies < COPIES_MAX) {
		r = copy_rows(st, n, rows);
		if (r == DB_DONE) {
			for (size_t i = 0; i < n; i++)
				results[i] = STORE_INSERTED;
			return;
		}
		if (r != DB_DUPLICATE) {
			if (!transient(st, r))
				die_db(st, "inserting");
			for (size_t i = 0; i < n; i++)
				results[i] = STORE_RETRY;
			return;
		}
		r = DB_DONE;
	}
	/*
	 * On a server, whole chunks of rows a statement each (the keys it returns
	 * tell the new rows), then the rest a statement a row: all in one round
	 * trip. On a file each statement runs at once.
	 */
	size_t chunks = db_is_server(st->db) && st->chunk > 1 ? n / st->chunk : 0, sent = 0, executions = 0;
	int per_row = (int)st->schema->ncolumns + 3;
	if (chunks && chunks * st->chunk < n) {
		/* Both statements in one round trip: each prepared before it starts. */
		r = db_queue_ready(st->insert_chunk);
		if (r == DB_DONE)
			r = db_queue_ready(st->insert);
		if (r != DB_DONE) {
			if (!transient(st, r))
				die_db(st, "preparing");
			for (size_t i = 0; i < n; i++)
				results[i] = STORE_RETRY;
			return;
		}
	}
	for (; executions < chunks && r == DB_DONE; executions++) {
		for (size_t j = 0; j < st->chunk; j++) {
			bind_row_at(st, st->insert_chunk, (int)j * per_row + 1, &rows[sent + j]);
			results[sent + j] = STORE_DUPLICATE;
		}
		r = db_queue(st->insert_chunk);
		db_reset(st->insert_chunk);
		sent += st->chunk;
	}
	for (; sent < n && r == DB_DONE; sent++, executions++) {
		bind_row(st, &rows[sent].frame, rows[sent].line, rows[sent].len, rows[sent].fields);
		r = db_queue(st->insert);
		db_reset(st->insert);
	}
	/* Always: it ends the pipeline, whatever was sent. */
	struct chunk_marks marks = {.st = st, .rows = rows, .results = results};
	enum db_result got = db_queue_results_rows(st->db, r == DB_DONE ? executions : executions - 1, changes,
						   mark_inserted, &marks);
	if (r == DB_DONE)
		r = got;
	if (r != DB_DONE) {
		if (!transient(st, r))
			die_db(st, "inserting");
		for (size_t i = 0; i < n; i++)
			results[i] = STORE_RETRY;
		return;
	}
	for (size_t e = chunks, i = chunks * st->chunk; i < n; e++, i++)
		results[i] = changes[e] > 0 ? STORE_INSERTED : STORE_DUPLICATE;
}

bool store_last_seq(struct store *st, const char *device, size_t len, uint64_t *seq)
{
	struct db_stmt *s = st->last_seq;
	db_bind_text(s, 1, device, len);
	enum db_result r = db_step(s);
	*seq = r == DB_ROW ? (uint64_t)db_column_int64(s, 0) : 0;
	db_reset(s);
	if (r != DB_ROW) {
		if (transient(st, r))
			return false;
		die_db(st, "reading last sequence number");
	}
	return true;
}

bool store_last_seq_many(struct store *st, size_t n, const char *const *devices, const size_t *lens, uint64_t *seqs)
{
	if (n > STORE_QUEUE_MAX)
		die(EXIT_SYSTEM, "database %s: %zu devices at once, more than %d", db_name(st->db), n, STORE_QUEUE_MAX);
	if (!st->last_seq_many) {
		/* Prepared on first use with room for the most devices one call takes; the rest are bound to NULL. */
		char *sql = NULL;
		size_t len = 0;
		append(&sql, &len, "SELECT device, max(seq) FROM readings WHERE device IN (?");
		for (size_t i = 1; i < STORE_QUEUE_MAX; i++)
			append(&sql, &len, ", ?");
		append(&sql, &len, ") GROUP BY device");
		st->last_seq_many = db_prepare(st->db, sql);
		free(sql);
	}
	struct db_stmt *s = st->last_seq_many;
	for (size_t i = 0; i < STORE_QUEUE_MAX; i++) {
		if (i < n)
			db_bind_text(s, (int)i + 1, devices[i], lens[i]);
		else
			db_bind_null(s, (int)i + 1);
	}
	for (size_t i = 0; i < n; i++)
		seqs[i] = 0;
	enum db_result r;
	while ((r = db_step(s)) == DB_ROW) {
		const char *device = db_column_text(s, 0);
		size_t len = db_column_bytes(s, 0);
		for (size_t i = 0; i < n; i++)
			if (lens[i] == len && memcmp(devices[i], device, len) == 0) {
				seqs[i] = (uint64_t)db_column_int64(s, 1);
				break;
			}
	}
	db_reset(s);
	if (r != DB_DONE) {
		if (transient(st, r))
			return false;
		die_db(st, "reading last sequence numbers");
	}
	return true;
}

void store_each_gap(const char *target, store_gap_fn fn, void *arg)
{
	struct db *db = db_open(target, "database", DB_READONLY, BUSY_TIMEOUT_MS);
	int exists = db_table_exists(db, "readings");
	if (exists < 0)
		db_die(db, EXIT_SYSTEM, "looking for the readings table");
	if (!exists)
		die(EXIT_CONFIG, "database %s: no readings table (not a database smqtt-store wrote)", db_name(db));
	/*
	 * Each stored seq after a missing one, with the stored seq before it (0
	 * for a device's first): the database sorts, by the primary key's
	 * order, however many devices it holds.
	 */
	struct db_stmt *s = db_prepare(db, "SELECT device, prev + 1, seq - 1 FROM"
					   " (SELECT device, seq, lag(seq, 1, 0) OVER (PARTITION BY device ORDER BY seq)"
					   " AS prev FROM readings) AS stored WHERE seq > prev + 1 ORDER BY device, seq");
	enum db_result r;
	while ((r = db_step(s)) == DB_ROW)
		if (fn(db_column_text(s, 0), db_column_bytes(s, 0), (uint64_t)db_column_int64(s, 1),
		       (uint64_t)db_column_int64(s, 2), arg) != 0) {
			r = DB_DONE;
			break;
		}
	if (r != DB_DONE)
		db_die(db, EXIT_SYSTEM, "reading the gaps");
	db_finalize(s);
	db_close(db);
}
