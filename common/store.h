/*
 * The reading store, in an SQLite file or on a PostgreSQL server (see db.h):
 * versioned schema, batched inserts, idempotent on (device, seq).
 */
#ifndef SMQTT_STORE_H
#define SMQTT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "record.h"

#define STORE_SCHEMA_VERSION 1

struct store;

/*
 * Open or create the database: a path or a postgresql:// URI. A new database gets the tables for this column
 * schema; an existing one must have been created with the same schema text,
 * or one that differs only in saying text for a device column or device for
 * a text column. A column the database was created with as device becomes a
 * device column of *schema. Dies with EXIT_CONFIG on a schema mismatch and
 * EXIT_SYSTEM on database errors; see db_open for connecting.
 */
struct store *store_open(const char *target, struct schema *schema, const char *schema_text);
void store_close(struct store *st);

/*
 * Writing can fail for a while and then work again: another process holds the
 * database locked (longer than a 2 s busy timeout), the disk or a file size
 * limit is reached, an I/O error, the connection to the server is lost (it is
 * made again at the next store_begin). Those failures return false (or
 * STORE_RETRY) with the reason in store_error(); the open transaction is then
 * lost, so the caller calls store_rollback() and writes its rows again later.
 * Any other database error ends the program with EXIT_SYSTEM.
 */
enum store_result { STORE_INSERTED, STORE_DUPLICATE, STORE_RETRY };

/* Begin a transaction if none is open. */
bool store_begin(struct store *st);
/* Commit the open transaction, if any. */
bool store_commit(struct store *st);
/* Abandon the open transaction, if any. */
void store_rollback(struct store *st);
bool store_in_transaction(const struct store *st);
const char *store_path(const struct store *st);
/* On a PostgreSQL server rather than in a file? */
bool store_is_server(const struct store *st);
const char *store_error(const struct store *st);

/* Whether the database can keep this text (a server, only as UTF-8). */
bool store_text_storable(struct store *st, const char *text, size_t len);

/* Insert one frame; STORE_DUPLICATE if a row for (device, seq) already exists. */
enum store_result store_insert(struct store *st, const struct frame *f, const char *line, size_t len,
			       const struct field *fields);

/*
 * Insert up to STORE_QUEUE_MAX frames, each with its record parsed into
 * fields, in one round trip to a server (three when some were stored
 * before); results[i] says what became of frame i. If any insert failed in
 * a way that may pass, all are STORE_RETRY (and the transaction is lost, as
 * for store_insert).
 */
#define STORE_QUEUE_MAX 256
struct store_row {
	struct frame frame;
	const char *line;
	size_t len;
	const struct field *fields;
};
void store_insert_many(struct store *st, size_t n, const struct store_row *rows, enum store_result *results);

/* Highest stored sequence number for a device, 0 if none. */
bool store_last_seq(struct store *st, const char *device, size_t len, uint64_t *seq);
/*
 * The same for up to STORE_QUEUE_MAX distinct devices in one query (one
 * round trip to a server): seqs[i] for devices[i], lens[i] bytes long.
 */
bool store_last_seq_many(struct store *st, size_t n, const char *const *devices, const size_t *lens, uint64_t *seqs);

/*
 * Every run of sequence numbers missing below a device's highest stored one
 * (from 1 for its first), in device and seq order, read from the database
 * at target alone, so that it accounts for the rows of every writer. fn
 * returns non-zero to stop. Dies with EXIT_CONFIG when the database has no
 * readings table, EXIT_SYSTEM on database errors.
 */
typedef int (*store_gap_fn)(const char *device, size_t len, uint64_t first, uint64_t last, void *arg);
void store_each_gap(const char *target, store_gap_fn fn, void *arg);

#endif
