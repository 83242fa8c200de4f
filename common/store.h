/* The SQLite reading store: versioned schema, batched inserts, idempotent on (device, seq). */
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
 * Open or create the database. A new database gets the tables for this column
 * schema; an existing one must have been created with the same schema text.
 * Dies with EXIT_CONFIG on a schema mismatch and EXIT_SYSTEM on database errors.
 */
struct store *store_open(const char *path, const struct schema *schema, const char *schema_text);
void store_close(struct store *st);

/* Begin a transaction if none is open. */
void store_begin(struct store *st);
/* Commit the open transaction, if any; false (with a message printed) if it failed. */
bool store_commit(struct store *st);
bool store_in_transaction(const struct store *st);

/* Insert one frame; false if a row for (device, seq) already exists. Dies on database errors. */
bool store_insert(struct store *st, const struct frame *f, const char *line, size_t len,
		  const struct field *fields);

/* Highest stored sequence number for a device, 0 if none. */
uint64_t store_last_seq(struct store *st, const char *device, size_t len);

#endif
