/* libFuzzer harness: the column schema parser and the CSV record splitter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct schema fixed;
	static int ready;
	char err[160];
	if (!ready) {
		if (!schema_parse(SCHEMA_DEFAULT, &fixed, err, sizeof err))
			abort();
		ready = 1;
	}
	if (size > RECORD_MAX)
		return 0;
	/* Input before the first LF is tried as a schema; all of it is tried as a record. */
	const uint8_t *nl = memchr(data, '\n', size);
	struct schema own;
	const struct schema *schema = &fixed;
	if (nl) {
		size_t n = (size_t)(nl - data);
		char *text = malloc(n + 1);
		if (!text)
			return 0;
		memcpy(text, data, n);
		text[n] = '\0';
		if (schema_parse(text, &own, err, sizeof err))
			schema = &own;
		free(text);
		size -= n + 1;
		data = nl + 1;
	}
	char *record = malloc(size ? size : 1);
	char *scratch = malloc(size ? size : 1);
	struct field fields[SCHEMA_COLUMNS_MAX];
	if (record && scratch) {
		memcpy(record, data, size);
		if (record_parse(schema, record, size, scratch, fields, err, sizeof err)) {
			for (size_t i = 0; i < schema->ncolumns; i++)
				if (!fields[i].is_null && fields[i].len > size)
					abort();
		}
	}
	free(record);
	free(scratch);
	return 0;
}
