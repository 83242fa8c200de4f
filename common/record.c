#include "record.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"

static const char *const reserved_names[] = {"device", "seq", "frame"};

static bool column_name_valid(const char *name, size_t len)
{
	if (len < 1 || len > COLUMN_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
		if (!letter && !(i > 0 && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

bool schema_parse(const char *text, struct schema *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	const char *p = text;
	for (;;) {
		size_t item_len = strcspn(p, ",");
		const char *colon = memchr(p, ':', item_len);
		if (!colon) {
			snprintf(err, errlen, "column %zu: expected NAME:TYPE", s->ncolumns + 1);
			return false;
		}
		size_t name_len = (size_t)(colon - p);
		const char *type = colon + 1;
		size_t type_len = item_len - name_len - 1;
		if (!column_name_valid(p, name_len)) {
			char shown[64];
			snprintf(err, errlen, "column %zu: invalid name \"%s\" (letters, digits, _)", s->ncolumns + 1,
				 escape_text(p, name_len, shown, sizeof shown));
			return false;
		}
		if (s->ncolumns == SCHEMA_COLUMNS_MAX) {
			snprintf(err, errlen, "more than %d columns", SCHEMA_COLUMNS_MAX);
			return false;
		}
		struct column *c = &s->columns[s->ncolumns];
		memcpy(c->name, p, name_len);
		c->name[name_len] = '\0';
		for (size_t i = 0; i < sizeof reserved_names / sizeof *reserved_names; i++) {
			if (strcasecmp(c->name, reserved_names[i]) == 0) {
				snprintf(err, errlen, "column %zu: name \"%s\" is reserved", s->ncolumns + 1, c->name);
				return false;
			}
		}
		for (size_t i = 0; i < s->ncolumns; i++) {
			if (strcasecmp(s->columns[i].name, c->name) == 0) {
				snprintf(err, errlen, "column %zu: name \"%s\" repeated", s->ncolumns + 1, c->name);
				return false;
			}
		}
		if (type_len == 4 && memcmp(type, "text", 4) == 0)
			c->type = COLUMN_TEXT;
		else if (type_len == 7 && memcmp(type, "integer", 7) == 0)
			c->type = COLUMN_INTEGER;
		else if (type_len == 4 && memcmp(type, "real", 4) == 0)
			c->type = COLUMN_REAL;
		else if (type_len == 6 && memcmp(type, "device", 6) == 0)
			c->type = COLUMN_DEVICE;
		else {
			char shown[64];
			snprintf(err, errlen, "column %zu (%s): unknown type \"%s\" (text, integer, real or device)",
				 s->ncolumns + 1, c->name, escape_text(type, type_len, shown, sizeof shown));
			return false;
		}
		s->ncolumns++;
		if (p[item_len] == '\0')
			return true;
		p += item_len + 1;
	}
}

/* Convert one field's text; false if it is not a complete number of its type. */
static bool convert(const struct column *c, struct field *f, char *err, size_t errlen, size_t index)
{
	if (f->is_null || c->type == COLUMN_TEXT || c->type == COLUMN_DEVICE)
		return true;
	char buf[64], shown[64];
	if (f->len >= sizeof buf || f->len == 0 || memchr(f->text, '\0', f->len))
		goto bad;
	memcpy(buf, f->text, f->len);
	buf[f->len] = '\0';
	if (buf[0] == ' ' || buf[0] == '\t' || buf[0] == '\n')
		goto bad; /* strtoll/strtod would skip leading space */
	char *end;
	errno = 0;
	if (c->type == COLUMN_INTEGER) {
		long long v = strtoll(buf, &end, 10);
		if (errno || *end)
			goto bad;
		f->integer = v;
	} else {
		double v = strtod(buf, &end);
		if (errno || *end || !isfinite(v))
			goto bad;
		f->real = v;
	}
	return true;
bad:
	/* A record may hold any byte but CR, LF and NUL: show the field escaped. */
	snprintf(err, errlen, "field %zu (%s): not %s: \"%s\"", index + 1, c->name,
		 c->type == COLUMN_INTEGER ? "an integer" : "a real number",
		 escape_text(f->text, f->len, shown, sizeof shown));
	return false;
}

bool record_parse(const struct schema *s, const char *record, size_t record_len, char *scratch,
		  struct field *fields, char *err, size_t errlen)
{
	const char *p = record, *end = record + record_len;
	size_t n = 0;

	for (;;) {
		if (n == s->ncolumns) {
			snprintf(err, errlen, "more than %zu fields", s->ncolumns);
			return false;
		}
		struct field *f = &fields[n];
		memset(f, 0, sizeof *f);
		if (p < end && *p == '"') {
			/* Quoted: "" stands for one quote; the field must end at the closing quote. */
			char *out = scratch;
			p++;
			for (;;) {
				if (p == end) {
					snprintf(err, errlen, "field %zu: unterminated quote", n + 1);
					return false;
				}
				if (*p == '"') {
					if (p + 1 < end && p[1] == '"') {
						*out++ = '"';
						p += 2;
						continue;
					}
					p++;
					break;
				}
				*out++ = *p++;
			}
			if (p < end && *p != ',') {
				snprintf(err, errlen, "field %zu: text after closing quote", n + 1);
				return false;
			}
			f->text = scratch;
			f->len = (size_t)(out - scratch);
			scratch = out;
		} else {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			const char *stop = comma ? comma : end;
			if (memchr(p, '"', (size_t)(stop - p))) {
				snprintf(err, errlen, "field %zu: quote inside an unquoted field", n + 1);
				return false;
			}
			f->text = p;
			f->len = (size_t)(stop - p);
			f->is_null = f->len == 0;
			p = stop;
		}
		if (!convert(&s->columns[n], f, err, errlen, n))
			return false;
		n++;
		if (p == end)
			break;
		p++; /* the comma */
		if (p == end && n < s->ncolumns) {
			/* A trailing comma leaves one more, empty field. */
			memset(&fields[n], 0, sizeof fields[n]);
			fields[n].is_null = true;
			n++;
			break;
		}
	}
	if (n != s->ncolumns) {
		snprintf(err, errlen, "%zu fields, schema has %zu", n, s->ncolumns);
		return false;
	}
	return true;
}
