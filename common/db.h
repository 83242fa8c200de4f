/*
 * One SQL interface over the two databases smqtt keeps its tables in: an
 * SQLite file (the embedded default) or a PostgreSQL server named by a
 * connection URI, postgresql://[USER[:PASSWORD]@][HOST][:PORT][/DBNAME][?PARAM=VALUE&...]
 * (libpq's syntax; postgres:// too). SQL is written once, with ? or ?N
 * placeholders, in the dialect both understand; what differs (the catalog,
 * the locking) is asked of db_is_server().
 *
 * Errors name the database: the file's path, or for a server
 * postgresql://USER@HOST:PORT/DBNAME, never the password.
 */
#ifndef SMQTT_DB_H
#define SMQTT_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct db;
struct db_stmt;

/* Does target name a PostgreSQL server rather than a file? (By its postgresql:// or postgres:// prefix.) */
static inline bool db_target_is_server(const char *target)
{
	return strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0;
}
/*
 * Can libpq read the connection URI? Puts the reason in why if not. A path
 * is always accepted here (opening it tells). The target as shown in messages
 * (the password left out) goes to shown.
 */
bool db_target_check(const char *target, char *shown, size_t shown_len, char *why, size_t why_len);

enum db_open_flags {
	DB_READONLY = 1, /* SQLite: open read-only */
	DB_CREATE = 2,   /* SQLite: create the file if missing */
};

/*
 * Open a connection. label starts every message ("database", "registry").
 * Dies when it cannot: a directory or an unreadable connection string
 * (EXIT_CONFIG), authentication refused (EXIT_CONFIG), a file that cannot be
 * opened or a server that cannot be reached (EXIT_SYSTEM). busy_ms: how long
 * a statement waits for another connection's lock on an SQLite file.
 */
struct db *db_open(const char *target, const char *label, int flags, int busy_ms);
void db_close(struct db *db);
bool db_is_server(const struct db *db);
/* The database as messages name it. */
const char *db_name(const struct db *db);
/* The last error, one line. */
const char *db_error(const struct db *db);
/* "LABEL NAME: doing: error", then exit(code). */
_Noreturn void db_die(const struct db *db, int code, const char *doing);

/*
 * What a statement's execution came to. DB_RETRY: a failure that may go away
 * by itself: a lock held elsewhere, a full disk, an I/O error, a lost
 * connection to the server (reconnected at the next db_begin), a
 * serialization failure; the open transaction is lost.
 */
enum db_result {
	DB_DONE,
	DB_ROW,
	DB_RETRY,
	DB_FAILED,
	DB_NOT_DATABASE, /* a file SQLite cannot read */
	DB_DUPLICATE,    /* on a server: a row's key is taken (a unique violation); the transaction failed */
};

/* Run statements without parameters or rows (several, separated by ;). */
enum db_result db_exec(struct db *db, const char *sql);

/* The most parameters a statement may have. */
#define DB_PARAMS_MAX 256
/* Prepared once, for the life of the connection; dies if the SQL is refused. */
struct db_stmt *db_prepare(struct db *db, const char *sql);
void db_finalize(struct db_stmt *s);
/* Parameters count from 1. Text and blobs are not copied: keep them until db_reset. */
void db_bind_null(struct db_stmt *s, int i);
void db_bind_int64(struct db_stmt *s, int i, int64_t v);
void db_bind_double(struct db_stmt *s, int i, double v);
void db_bind_text(struct db_stmt *s, int i, const char *text, size_t len);
void db_bind_blob(struct db_stmt *s, int i, const void *data, size_t len);
/* DB_ROW for each row, then DB_DONE (or an error). */
enum db_result db_step(struct db_stmt *s);
/*
 * Many executions of one statement in one round trip to a server (libpq's
 * pipeline mode): db_queue sends s with its current parameters (then
 * db_reset it and bind the next), db_queue_results waits for the n sent and
 * puts the rows each changed in changes[]. DB_RETRY or DB_FAILED when any
 * failed; then none counts. On an SQLite file db_queue just runs s.
 */
#define DB_QUEUE_MAX 256
enum db_result db_queue(struct db_stmt *s);
/*
 * A round trip that queues more than one statement prepares each first, with
 * this (the first db_queue of a round trip prepares its own statement).
 */
enum db_result db_queue_ready(struct db_stmt *s);
enum db_result db_queue_results(struct db *db, size_t n, int64_t *changes);
/*
 * The same for statements that return rows (INSERT ... RETURNING): changes[i]
 * is the number of rows execution i returned, and fn is called with each of
 * them, its columns as text (values[c], lengths[c] bytes; NULL for NULL).
 * On an SQLite file, whose db_queue runs the statement at once, use db_step
 * instead.
 */
typedef void (*db_row_fn)(void *arg, size_t execution, int ncolumns, const char *const *values, const int *lengths);
enum db_result db_queue_results_rows(struct db *db, size_t n, int64_t *changes, db_row_fn fn, void *arg);

/*
 * Rows for a server's COPY ... FROM STDIN (FORMAT binary): the fields of a
 * row in order, of the columns' very types (BIGINT, DOUBLE PRECISION, TEXT),
 * then db_copy_end_row.
 */
struct db_copy;
struct db_copy *db_copy_new(void);
void db_copy_free(struct db_copy *c);
void db_copy_null(struct db_copy *c);
void db_copy_int64(struct db_copy *c, int64_t v);
void db_copy_double(struct db_copy *c, double v);
void db_copy_text(struct db_copy *c, const char *text, size_t len);
void db_copy_end_row(struct db_copy *c);
/*
 * Run sql, statements separated by ; of which one is a COPY ... FROM STDIN
 * that reads the rows of c, in one round trip. c is emptied, whatever the
 * result. Only on a server.
 */
enum db_result db_copy(struct db *db, const char *sql, struct db_copy *c);

/* Rows changed by the statement's last execution. */
int64_t db_changes(struct db_stmt *s);
/* Ready to execute again, parameters cleared. */
void db_reset(struct db_stmt *s);
/* Columns of the current row, from 0. */
bool db_column_null(struct db_stmt *s, int col);
int64_t db_column_int64(struct db_stmt *s, int col);
const char *db_column_text(struct db_stmt *s, int col);
const void *db_column_blob(struct db_stmt *s, int col);
size_t db_column_bytes(struct db_stmt *s, int col);

/*
 * Transactions. db_begin takes the write lock up front on SQLite (BEGIN
 * IMMEDIATE); on PostgreSQL it first reconnects a connection that was lost,
 * and begins a READ COMMITTED transaction, whatever the server's default.
 */
enum db_result db_begin(struct db *db);
enum db_result db_commit(struct db *db);
/* Abandon the open transaction, if any (the database may have abandoned it already). */
void db_rollback(struct db *db);

/* Whether a table of that name exists (in the current schema, on a server); -1 on error. */
int db_table_exists(struct db *db, const char *name);
/* Tables in the database (the current schema, on a server); -1 on error. */
int db_table_count(struct db *db);

/*
 * Text a server stores as it is: PostgreSQL text is in the database's
 * encoding (UTF-8 here); SQLite takes any bytes.
 */
bool db_text_storable(struct db *db, const char *text, size_t len);

#endif
