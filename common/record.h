/*
 * Records: one CSV line (RFC 4180 quoting within the line) split into typed
 * columns by a schema such as "meter:device,time:text,channel:integer,value:real".
 */
#ifndef SMQTT_RECORD_H
#define SMQTT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHEMA_DEFAULT "meter:device,time:text,channel:integer,value:real"
#define SCHEMA_COLUMNS_MAX 64
#define COLUMN_NAME_MAX 63

/*
 * COLUMN_DEVICE is text that must be the id of the device that signed the
 * frame: the record names a meter, but only the signature says who sent it.
 */
enum column_type { COLUMN_TEXT, COLUMN_INTEGER, COLUMN_REAL, COLUMN_DEVICE };

struct column {
	char name[COLUMN_NAME_MAX + 1];
	enum column_type type;
};

struct schema {
	struct column columns[SCHEMA_COLUMNS_MAX];
	size_t ncolumns;
};

/* Parse "NAME:TYPE,..."; on error writes a reason to err and returns false. */
bool schema_parse(const char *text, struct schema *s, char *err, size_t errlen);

/* One field of a split record. NULL value (empty unquoted field) has is_null set. */
struct field {
	const char *text;
	size_t len;
	bool is_null;
	int64_t integer;
	double real;
};

/*
 * Split a record into exactly s->ncolumns fields and convert each to its type.
 * Unquoted fields point into the record; quoted ones are unescaped into scratch
 * (at least record_len bytes). On error writes "field N (name): why" to err.
 */
bool record_parse(const struct schema *s, const char *record, size_t record_len, char *scratch,
		  struct field *fields, char *err, size_t errlen);

#endif
