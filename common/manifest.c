#include "manifest.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "error.h"

bool attribute_name_valid(const char *s, size_t len)
{
	if (len < 1 || len > 64 || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

bool attribute_name_reserved(const char *s, size_t len)
{
	static const char *const reserved[] = {"serial", "fingerprint", "cert", "key"};
	for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
		if (strlen(reserved[i]) == len && memcmp(reserved[i], s, len) == 0)
			return true;
	return false;
}

bool attribute_value_valid(const char *s, size_t len)
{
	if (len < 1 || len > 256)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == '=' || c == 0x7f)
			return false;
	}
	return true;
}

struct parser {
	const char *path;
	yaml_parser_t yaml;
	yaml_event_t event;
	jmp_buf fail; /* structural errors unwind to manifest_read_stream() */
	char *error;
	size_t error_len;
};

static _Noreturn void fail_at(struct parser *p, unsigned long line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static _Noreturn void fail_at(struct parser *p, unsigned long line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(p->error, p->error_len, "%s:%lu: %s", p->path, line, msg);
	longjmp(p->fail, 1);
}

/* Next event; syntax errors end the program naming the position. */
static yaml_event_type_t next(struct parser *p)
{
	yaml_event_delete(&p->event);
	if (!yaml_parser_parse(&p->yaml, &p->event)) {
		memset(&p->event, 0, sizeof p->event);
		snprintf(p->error, p->error_len, "%s:%lu:%lu: %s", p->path, (unsigned long)p->yaml.problem_mark.line + 1,
			 (unsigned long)p->yaml.problem_mark.column + 1,
			 p->yaml.problem ? p->yaml.problem : "YAML syntax error");
		longjmp(p->fail, 1);
	}
	if (p->event.type == YAML_ALIAS_EVENT)
		fail_at(p, p->event.start_mark.line + 1, "aliases are not supported in a manifest");
	return p->event.type;
}

static unsigned long line_of(struct parser *p)
{
	return (unsigned long)p->event.start_mark.line + 1;
}

static const char *scalar(struct parser *p)
{
	return (const char *)p->event.data.scalar.value;
}

static size_t scalar_len(struct parser *p)
{
	return p->event.data.scalar.length;
}

/* Copy the current scalar into buf, refusing NUL bytes and overflow. */
static void copy_scalar(struct parser *p, const char *what, char *buf, size_t len)
{
	if (scalar_len(p) >= len || memchr(scalar(p), '\0', scalar_len(p)))
		fail_at(p, line_of(p), "%s: too long or holds a NUL byte", what);
	memcpy(buf, scalar(p), scalar_len(p) + 1);
}

static void read_attributes(struct parser *p, char *out, size_t len)
{
	size_t used = 0;
	out[0] = '\0';
	if (p->event.type != YAML_MAPPING_START_EVENT)
		fail_at(p, line_of(p), "attributes: expected a mapping of name: value");
	while (next(p) != YAML_MAPPING_END_EVENT) {
		if (p->event.type != YAML_SCALAR_EVENT)
			fail_at(p, line_of(p), "attributes: expected a name");
		char name[80];
		copy_scalar(p, "attribute name", name, sizeof name);
		if (!attribute_name_valid(name, strlen(name)))
			fail_at(p, line_of(p), "attribute name \"%s\": use a-z, 0-9 and _", name);
		if (attribute_name_reserved(name, strlen(name)))
			fail_at(p, line_of(p), "attribute name \"%s\": " ATTRIBUTE_RESERVED_WHY, name);
		if (next(p) != YAML_SCALAR_EVENT)
			fail_at(p, line_of(p), "attribute %s: expected a plain value", name);
		char value[300];
		copy_scalar(p, "attribute value", value, sizeof value);
		if (!attribute_value_valid(value, strlen(value)))
			fail_at(p, line_of(p), "attribute value \"%s\": must be non-empty, without spaces or '='", value);
		int n = snprintf(out + used, len - used, "%s%s=%s", used ? " " : "", name, value);
		if (n < 0 || (size_t)n >= len - used)
			fail_at(p, line_of(p), "attributes: more than %d bytes", MANIFEST_ATTRIBUTES_MAX);
		used += (size_t)n;
	}
}

static void read_device(struct parser *p, void (*fn)(const struct manifest_device *, void *), void *arg)
{
	char id[300] = "", csr[4096] = "", pubkey[4096] = "", attributes[MANIFEST_ATTRIBUTES_MAX] = "";
	struct manifest_device d = {.line = line_of(p)};

	if (p->event.type == YAML_SCALAR_EVENT) {
		copy_scalar(p, "device id", id, sizeof id);
	} else if (p->event.type == YAML_MAPPING_START_EVENT) {
		while (next(p) != YAML_MAPPING_END_EVENT) {
			if (p->event.type != YAML_SCALAR_EVENT)
				fail_at(p, line_of(p), "device: expected a key (id, csr, pubkey, attributes)");
			char key[32];
			unsigned long key_line = line_of(p);
			copy_scalar(p, "key", key, sizeof key);
			next(p);
			if (strcmp(key, "attributes") == 0) {
				read_attributes(p, attributes, sizeof attributes);
				continue;
			}
			char *dest = strcmp(key, "id") == 0 ? id : strcmp(key, "csr") == 0 ? csr
								 : strcmp(key, "pubkey") == 0 ? pubkey : NULL;
			if (!dest)
				fail_at(p, key_line, "unknown key \"%s\" (id, csr, pubkey, attributes)", key);
			if (p->event.type != YAML_SCALAR_EVENT)
				fail_at(p, line_of(p), "%s: expected a plain value", key);
			copy_scalar(p, key, dest, dest == id ? sizeof id : sizeof csr);
		}
		if (!id[0])
			fail_at(p, d.line, "device without an id");
	} else {
		fail_at(p, line_of(p), "devices: each entry is an id or a mapping with an id");
	}
	d.id = id;
	d.csr = csr[0] ? csr : NULL;
	d.pubkey = pubkey[0] ? pubkey : NULL;
	d.attributes = attributes;
	fn(&d, arg);
}

bool manifest_read_stream(FILE *f, const char *name, void (*fn)(const struct manifest_device *d, void *arg),
			  void *arg, size_t *count, char *error, size_t error_len)
{
	/* volatile: read after longjmp */
	struct parser *volatile p = xcalloc(1, sizeof *p);
	volatile size_t n = 0;
	volatile bool ok = false;
	p->path = name;
	p->error = error;
	p->error_len = error_len;
	if (!yaml_parser_initialize(&p->yaml))
		die(EXIT_SYSTEM, "manifest %s: cannot start the YAML parser", name);
	yaml_parser_set_input_file(&p->yaml, f);

	if (setjmp(p->fail) == 0) {
		bool seen_devices = false;
		if (next(p) != YAML_STREAM_START_EVENT)
			fail_at(p, line_of(p), "not a YAML stream");
		if (next(p) == YAML_STREAM_END_EVENT)
			fail_at(p, 1, "empty manifest (expected \"devices:\")");
		if (next(p) != YAML_MAPPING_START_EVENT)
			fail_at(p, line_of(p), "expected a mapping with a \"devices\" list");
		while (next(p) != YAML_MAPPING_END_EVENT) {
			if (p->event.type != YAML_SCALAR_EVENT || strcmp(scalar(p), "devices") != 0)
				fail_at(p, line_of(p), "unknown top-level key \"%s\" (expected devices)",
					p->event.type == YAML_SCALAR_EVENT ? scalar(p) : "?");
			if (seen_devices)
				fail_at(p, line_of(p), "\"devices\" given twice");
			seen_devices = true;
			if (next(p) != YAML_SEQUENCE_START_EVENT)
				fail_at(p, line_of(p), "devices: expected a list");
			while (next(p) != YAML_SEQUENCE_END_EVENT) {
				read_device(p, fn, arg);
				n++;
			}
		}
		if (!seen_devices)
			fail_at(p, line_of(p), "no \"devices\" list");
		if (next(p) != YAML_DOCUMENT_END_EVENT || next(p) != YAML_STREAM_END_EVENT)
			fail_at(p, line_of(p), "only one YAML document is allowed");
		ok = true;
	}
	yaml_event_delete(&p->event);
	yaml_parser_delete(&p->yaml);
	free(p);
	*count = n;
	return ok;
}

size_t manifest_read(const char *path, void (*fn)(const struct manifest_device *d, void *arg), void *arg)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die(EXIT_CONFIG, "manifest %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
		die(EXIT_CONFIG, "manifest %s: %s", path, strerror(EISDIR));
	char error[512];
	size_t count;
	if (!manifest_read_stream(f, path, fn, arg, &count, error, sizeof error))
		die(EXIT_CONFIG, "%s", error);
	fclose(f);
	return count;
}
