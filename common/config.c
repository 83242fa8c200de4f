/* The configuration file: libyaml's parse events checked against one table of typed keys. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "db.h"
#include "error.h"

static const char *const tls_versions[] = {"tlsv1.2", "tlsv1.3", NULL};
static const char *const protocol_versions[] = {"5", "311", "mqttv5", "mqttv311", NULL};

/*
 * Every key of every program, in the order of smqtt.conf(5). The programs own
 * the meaning of each value; this table only fixes its name and type, so that a
 * file shared by several programs is checked the same way by all of them.
 */
static const struct config_key keys[] = {
	{"broker.host", CONFIG_STRING, 0, 0, NULL},
	{"broker.port", CONFIG_INTEGER, 1, 65535, NULL},
	{"broker.id", CONFIG_STRING, 0, 0, NULL},
	{"broker.protocol_version", CONFIG_WORD, 0, 0, protocol_versions},
	{"broker.keepalive", CONFIG_INTEGER, 5, 65535, NULL},
	{"broker.cafile", CONFIG_PATH, 0, 0, NULL},
	{"broker.capath", CONFIG_PATH, 0, 0, NULL},
	{"broker.cert", CONFIG_PATH, 0, 0, NULL},
	{"broker.key", CONFIG_PATH, 0, 0, NULL},
	{"broker.passfile", CONFIG_PATH, 0, 0, NULL},
	{"broker.tls_version", CONFIG_WORD, 0, 0, tls_versions},
	{"broker.insecure", CONFIG_BOOLEAN, 0, 0, NULL},
	{"broker.tls", CONFIG_BOOLEAN, 0, 0, NULL},
	{"broker.retry_for", CONFIG_INTEGER, 0, 100LL * 365 * 86400, NULL},
	{"device.id", CONFIG_STRING, 0, 0, NULL},
	{"device.key", CONFIG_PATH, 0, 0, NULL},
	{"device.cert", CONFIG_PATH, 0, 0, NULL},
	{"device.state", CONFIG_PATH, 0, 0, NULL},
	{"device.passfile", CONFIG_PATH, 0, 0, NULL},
	{"pub.topic", CONFIG_STRING, 0, 0, NULL},
	{"pub.qos", CONFIG_INTEGER, 0, 2, NULL},
	{"pub.inflight", CONFIG_INTEGER, 1, 32767, NULL},
	{"sub.topic", CONFIG_STRING_LIST, 0, 0, NULL},
	{"sub.qos", CONFIG_INTEGER, 0, 2, NULL},
	{"sub.session_expiry", CONFIG_INTEGER, 0, 4294967295LL, NULL},
	{"verify.cert", CONFIG_PATH_LIST, 0, 0, NULL},
	{"verify.pubkey", CONFIG_DEVICE_PATH_LIST, 0, 0, NULL},
	{"verify.rejects", CONFIG_PATH, 0, 0, NULL},
	{"registry.db", CONFIG_PATH, 0, 0, NULL},
	{"store.db", CONFIG_PATH, 0, 0, NULL},
	{"store.schema", CONFIG_STRING, 0, 0, NULL},
	{"store.batch", CONFIG_INTEGER, 1, 1000000, NULL},
	{"store.wait", CONFIG_INTEGER, 0, 3600000, NULL},
	{"issue.ca_dir", CONFIG_PATH, 0, 0, NULL},
	{"issue.out", CONFIG_PATH, 0, 0, NULL},
	{"issue.passfile", CONFIG_PATH, 0, 0, NULL},
	{"abe.params", CONFIG_PATH, 0, 0, NULL},
	{"pkg.master", CONFIG_PATH, 0, 0, NULL},
	{"pkg.out", CONFIG_PATH, 0, 0, NULL},
	{"pkg.passfile", CONFIG_PATH, 0, 0, NULL},
	{"encrypt.policy", CONFIG_STRING, 0, 0, NULL},
	{"encrypt.attributes", CONFIG_STRING_LIST, 0, 0, NULL},
	{"encrypt.rekey", CONFIG_INTEGER, 1, 1000000000, NULL},
	{"encrypt.repeat", CONFIG_INTEGER, 1, 1000000000, NULL},
	{"decrypt.key", CONFIG_PATH, 0, 0, NULL},
	{"decrypt.capsules", CONFIG_PATH, 0, 0, NULL},
	{"decrypt.max_capsules", CONFIG_INTEGER, 1, 1000000, NULL},
};

#define KEY_COUNT (sizeof keys / sizeof keys[0])
/* Longest key name, and how much of an unknown name a message repeats. */
#define KEY_NAME_MAX 64

struct value {
	unsigned long line; /* where the key was given; 0 while not set */
	char *where;        /* "FILE:LINE" */
	char *text;         /* CONFIG_STRING, CONFIG_PATH, CONFIG_WORD */
	long long number;   /* CONFIG_INTEGER, CONFIG_BOOLEAN */
	char **items;       /* the list types */
	size_t count;
};

struct config {
	char *file; /* NULL: no file was read */
	struct value values[KEY_COUNT];
};

const struct config_key *config_keys(size_t *count)
{
	*count = KEY_COUNT;
	return keys;
}

static struct config *config_new(const char *file)
{
	struct config *cfg = xcalloc(1, sizeof *cfg);
	cfg->file = file ? xstrdup(file) : NULL;
	return cfg;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < KEY_COUNT; i++) {
		struct value *v = &cfg->values[i];
		free(v->where);
		free(v->text);
		for (size_t j = 0; j < v->count; j++)
			free(v->items[j]);
		free(v->items);
	}
	free(cfg->file);
	free(cfg);
}

/* Parsing. */

struct loader {
	const char *name;
	size_t dir_len; /* bytes of name up to and including its last '/'; 0 when none */
	const char *text;
	size_t len;
	yaml_parser_t yaml;
	yaml_event_t event;
	bool have_event;
	struct config *cfg;
	char *err;
	size_t err_len;
};

static bool fail(struct loader *l, unsigned long line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Record "NAME:LINE: why" and return false, so every error path is one return. */
static bool fail(struct loader *l, unsigned long line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(l->err, l->err_len, "%s:%lu: %s", l->name, line, msg);
	return false;
}

static unsigned long event_line(const struct loader *l)
{
	return (unsigned long)l->event.start_mark.line + 1;
}

/* libyaml's own message, with the position it gives. */
static bool yaml_failure(struct loader *l)
{
	const yaml_parser_t *y = &l->yaml;
	const char *problem = y->problem ? y->problem : "unknown YAML error";

	if (y->error == YAML_MEMORY_ERROR)
		die(EXIT_SYSTEM, "%s: out of memory parsing YAML", l->name);
	if (y->error == YAML_READER_ERROR) {
		/* Encoding errors come with a byte offset rather than a position. */
		unsigned long line = 1, column = 1;
		for (size_t i = 0; i < y->problem_offset && i < l->len; i++) {
			column++;
			if (l->text[i] == '\n') {
				line++;
				column = 1;
			}
		}
		snprintf(l->err, l->err_len, "%s:%lu:%lu: %s%s", l->name, line, column,
			 strstr(problem, "UTF-8") ? "not UTF-8: " : "", problem);
		return false;
	}
	unsigned long line = (unsigned long)y->problem_mark.line + 1;
	unsigned long column = (unsigned long)y->problem_mark.column + 1;
	if (y->context)
		snprintf(l->err, l->err_len, "%s:%lu:%lu: YAML syntax error: %s (%s at line %lu)", l->name, line,
			 column, problem, y->context, (unsigned long)y->context_mark.line + 1);
	else
		snprintf(l->err, l->err_len, "%s:%lu:%lu: YAML syntax error: %s", l->name, line, column, problem);
	return false;
}

/*
 * The next event. Anchors, aliases and tags are refused: a configuration has
 * no use for them, and aliases are how small YAML files expand into huge ones.
 */
static bool next(struct loader *l)
{
	if (l->have_event)
		yaml_event_delete(&l->event);
	l->have_event = false;
	if (!yaml_parser_parse(&l->yaml, &l->event))
		return yaml_failure(l);
	l->have_event = true;

	const yaml_char_t *anchor = NULL, *tag = NULL;
	switch (l->event.type) {
	case YAML_ALIAS_EVENT:
		return fail(l, event_line(l), "YAML aliases are not supported");
	case YAML_SCALAR_EVENT:
		anchor = l->event.data.scalar.anchor;
		tag = l->event.data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = l->event.data.sequence_start.anchor;
		tag = l->event.data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = l->event.data.mapping_start.anchor;
		tag = l->event.data.mapping_start.tag;
		break;
	default:
		break;
	}
	if (anchor)
		return fail(l, event_line(l), "YAML anchors are not supported");
	if (tag)
		return fail(l, event_line(l), "YAML tags are not supported");
	return true;
}

static const char *scalar_value(const struct loader *l)
{
	return (const char *)l->event.data.scalar.value;
}

static size_t scalar_length(const struct loader *l)
{
	return l->event.data.scalar.length;
}

static bool scalar_plain(const struct loader *l)
{
	return l->event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* An empty value, "~" or "null": YAML's null, which no key takes. */
static bool is_null(const struct loader *l)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	if (l->event.type != YAML_SCALAR_EVENT || !scalar_plain(l))
		return false;
	for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
		if (strcmp(scalar_value(l), nulls[i]) == 0)
			return true;
	return false;
}

/* A name from the file, safe to print: ASCII graphic bytes, the rest as '?', at most KEY_NAME_MAX. */
static void printable(char *out, const char *name, size_t len)
{
	size_t n = len < KEY_NAME_MAX ? len : KEY_NAME_MAX;
	for (size_t i = 0; i < n; i++)
		out[i] = name[i] > ' ' && name[i] < 0x7f ? name[i] : '?';
	strcpy(out + n, len > n ? "..." : "");
}

static size_t edit_distance(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t row[KEY_NAME_MAX + 1];
	if (alen > KEY_NAME_MAX || blen > KEY_NAME_MAX)
		return (size_t)-1;
	for (size_t j = 0; j <= blen; j++)
		row[j] = j;
	for (size_t i = 1; i <= alen; i++) {
		size_t diagonal = row[0];
		row[0] = i;
		for (size_t j = 1; j <= blen; j++) {
			size_t up = row[j];
			size_t best = diagonal + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diagonal = up;
		}
	}
	return row[blen];
}

static size_t section_length(const char *key)
{
	return (size_t)(strchr(key, '.') - key);
}

/* The table entry for a full key name of len bytes, or -1. */
static int find_key(const char *name, size_t len)
{
	for (size_t i = 0; i < KEY_COUNT; i++)
		if (strlen(keys[i].name) == len && memcmp(keys[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

/* A known section's name (pointing into the table), or NULL. */
static const char *find_section(const char *name, size_t len)
{
	for (size_t i = 0; i < KEY_COUNT; i++)
		if (section_length(keys[i].name) == len && memcmp(keys[i].name, name, len) == 0)
			return keys[i].name;
	return NULL;
}

/* "unknown key NAME", with the nearest known name when one is close: typos are the usual cause. */
static bool unknown_key(struct loader *l, const char *full, size_t len, bool is_section)
{
	char shown[KEY_NAME_MAX + 4];
	const char *best = NULL;
	size_t best_len = 0, best_distance = 3;

	printable(shown, full, len);
	for (size_t i = 0; i < KEY_COUNT; i++) {
		size_t n = is_section ? section_length(keys[i].name) : strlen(keys[i].name);
		size_t d = edit_distance(full, len, keys[i].name, n);
		if (d < best_distance && d < len) {
			best = keys[i].name;
			best_len = n;
			best_distance = d;
		}
	}
	if (best)
		return fail(l, event_line(l), "unknown key %s (did you mean %.*s?)", shown, (int)best_len, best);
	return fail(l, event_line(l), "unknown key %s", shown);
}

static bool wrong_type(struct loader *l, const struct config_key *k)
{
	switch (k->type) {
	case CONFIG_STRING:
		return fail(l, event_line(l), "key %s: expected a string", k->name);
	case CONFIG_PATH:
		return fail(l, event_line(l), "key %s: expected a file name", k->name);
	case CONFIG_INTEGER:
		return fail(l, event_line(l), "key %s: expected an integer %lld..%lld", k->name, k->min, k->max);
	case CONFIG_BOOLEAN:
		return fail(l, event_line(l), "key %s: expected true or false", k->name);
	case CONFIG_WORD: {
		char list[128] = "";
		size_t used = 0;
		for (const char *const *w = k->words; *w && used < sizeof list; w++)
			used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", *w);
		return fail(l, event_line(l), "key %s: expected one of %s", k->name, list);
	}
	case CONFIG_STRING_LIST:
		return fail(l, event_line(l), "key %s: expected a list of strings", k->name);
	case CONFIG_PATH_LIST:
		return fail(l, event_line(l), "key %s: expected a list of file names", k->name);
	case CONFIG_DEVICE_PATH_LIST:
		return fail(l, event_line(l), "key %s: expected a list of DEVICE=FILE", k->name);
	}
	return fail(l, event_line(l), "key %s: unexpected value", k->name);
}

/* The current scalar as text: not null, not empty, and a single line without control bytes. */
static bool scalar_text(struct loader *l, const struct config_key *k)
{
	if (l->event.type != YAML_SCALAR_EVENT || is_null(l) || scalar_length(l) == 0)
		return wrong_type(l, k);
	const unsigned char *s = (const unsigned char *)scalar_value(l);
	for (size_t i = 0; i < scalar_length(l); i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return fail(l, event_line(l), "key %s: the value holds a control character", k->name);
	return true;
}

/* A path from the file, relative ones taken from the file's directory (as "dir/" + path). */
static char *resolve_path(const struct loader *l, const char *prefix, size_t prefix_len, const char *path)
{
	size_t dir = path[0] == '/' ? 0 : l->dir_len, n = strlen(path);
	char *out = xmalloc(prefix_len + dir + n + 1);
	memcpy(out, prefix, prefix_len);
	memcpy(out + prefix_len, l->name, dir);
	memcpy(out + prefix_len + dir, path, n + 1);
	return out;
}

/* A plain decimal: no sign tricks, no leading zeros (YAML 1.1 reads 010 as octal), no 1_000. */
static bool parse_integer(const char *s, long long *out)
{
	const char *digits = s + (s[0] == '-' || s[0] == '+');
	if (!*digits || (digits[0] == '0' && digits[1]) || strspn(digits, "0123456789") != strlen(digits))
		return false;
	errno = 0;
	*out = strtoll(s, NULL, 10);
	return errno == 0;
}

static bool read_scalar_value(struct loader *l, const struct config_key *k, struct value *v)
{
	if (k->type == CONFIG_INTEGER || k->type == CONFIG_BOOLEAN) {
		/* A quoted "8883" or "true" is a string in YAML, so it is refused here. */
		if (l->event.type != YAML_SCALAR_EVENT || !scalar_plain(l))
			return wrong_type(l, k);
		const char *s = scalar_value(l);
		if (k->type == CONFIG_BOOLEAN) {
			if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
				v->number = 1;
			else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
				v->number = 0;
			else
				return wrong_type(l, k);
			return true;
		}
		if (!parse_integer(s, &v->number) || v->number < k->min || v->number > k->max)
			return wrong_type(l, k);
		return true;
	}
	if (!scalar_text(l, k))
		return false;
	if (k->type == CONFIG_WORD) {
		const char *const *w = k->words;
		while (*w && strcmp(*w, scalar_value(l)) != 0)
			w++;
		if (!*w)
			return wrong_type(l, k);
	}
	/* A database key (registry.db, store.db) may name a server instead of a file: no path to resolve. */
	size_t name_len = strlen(k->name);
	bool db_key = name_len > 3 && strcmp(k->name + name_len - 3, ".db") == 0;
	bool path = k->type == CONFIG_PATH && !(db_key && db_target_is_server(scalar_value(l)));
	v->text = path ? resolve_path(l, "", 0, scalar_value(l)) : xstrdup(scalar_value(l));
	return true;
}

static bool read_list_value(struct loader *l, const struct config_key *k, struct value *v)
{
	if (l->event.type != YAML_SEQUENCE_START_EVENT)
		return wrong_type(l, k);
	for (;;) {
		if (!next(l))
			return false;
		if (l->event.type == YAML_SEQUENCE_END_EVENT)
			return true;
		if (!scalar_text(l, k))
			return false;
		const char *s = scalar_value(l);
		char *item;
		if (k->type == CONFIG_STRING_LIST) {
			item = xstrdup(s);
		} else if (k->type == CONFIG_PATH_LIST) {
			item = resolve_path(l, "", 0, s);
		} else {
			const char *eq = strchr(s, '=');
			if (!eq || eq == s || !eq[1])
				return wrong_type(l, k);
			item = resolve_path(l, s, (size_t)(eq - s) + 1, eq + 1);
		}
		v->items = xrealloc(v->items, (v->count + 1) * sizeof *v->items);
		v->items[v->count++] = item;
	}
}

static bool read_section(struct loader *l, const char *section, size_t section_len)
{
	for (;;) {
		if (!next(l))
			return false;
		if (l->event.type == YAML_MAPPING_END_EVENT)
			return true;
		if (l->event.type != YAML_SCALAR_EVENT)
			return fail(l, event_line(l), "section %.*s: expected a key name", (int)section_len, section);

		char full[2 * KEY_NAME_MAX];
		size_t len = scalar_length(l);
		if (len > KEY_NAME_MAX)
			len = KEY_NAME_MAX + 1; /* unknown anyway; only its start is shown */
		snprintf(full, sizeof full, "%.*s.", (int)section_len, section);
		memcpy(full + section_len + 1, scalar_value(l), len);
		len += section_len + 1;
		int i = find_key(full, len);
		if (i < 0)
			return unknown_key(l, full, len, false);

		const struct config_key *k = &keys[i];
		struct value *v = &l->cfg->values[i];
		unsigned long line = event_line(l);
		if (v->line)
			return fail(l, line, "duplicate key %s (first given on line %lu)", k->name, v->line);
		if (!next(l))
			return false;
		bool is_list = k->type == CONFIG_STRING_LIST || k->type == CONFIG_PATH_LIST ||
			       k->type == CONFIG_DEVICE_PATH_LIST;
		if (!(is_list ? read_list_value(l, k, v) : read_scalar_value(l, k, v)))
			return false;
		v->line = line;
		size_t n = strlen(l->name) + 24;
		v->where = xmalloc(n);
		snprintf(v->where, n, "%s:%lu", l->name, line);
	}
}

static bool read_sections(struct loader *l)
{
	struct {
		const char *name;
		unsigned long line;
	} seen[KEY_COUNT];
	size_t nseen = 0;

	for (;;) {
		if (!next(l))
			return false;
		if (l->event.type == YAML_MAPPING_END_EVENT)
			return true;
		if (l->event.type != YAML_SCALAR_EVENT)
			return fail(l, event_line(l), "expected a section name such as broker or store");
		size_t len = scalar_length(l);
		const char *section = find_section(scalar_value(l), len);
		if (!section)
			return unknown_key(l, scalar_value(l), len, true);
		for (size_t i = 0; i < nseen; i++)
			if (seen[i].name == section)
				return fail(l, event_line(l), "duplicate key %.*s (first given on line %lu)", (int)len,
					    section, seen[i].line);
		seen[nseen].name = section;
		seen[nseen++].line = event_line(l);

		if (!next(l))
			return false;
		if (is_null(l))
			continue; /* "store:" with all its keys commented out */
		if (l->event.type != YAML_MAPPING_START_EVENT)
			return fail(l, event_line(l), "key %.*s: expected a mapping of %.*s keys", (int)len, section,
				    (int)len, section);
		if (!read_section(l, section, len))
			return false;
	}
}

/* One document whose root is a mapping of sections; no document at all is an empty configuration. */
static bool read_stream(struct loader *l)
{
	if (!next(l) || !next(l))
		return false;
	if (l->event.type == YAML_STREAM_END_EVENT)
		return true;
	if (!next(l))
		return false;
	if (l->event.type == YAML_MAPPING_START_EVENT) {
		if (!read_sections(l))
			return false;
	} else if (!is_null(l)) {
		return fail(l, event_line(l), "expected a mapping of sections such as broker: or store:");
	}
	if (!next(l) || !next(l))
		return false;
	if (l->event.type != YAML_STREAM_END_EVENT)
		return fail(l, event_line(l), "more than one YAML document");
	return true;
}

struct config *config_parse(const char *name, const char *text, size_t len, char *err, size_t err_len)
{
	struct loader l = {.name = name, .text = text, .len = len, .err = err, .err_len = err_len};
	const char *slash = strrchr(name, '/');
	l.dir_len = slash ? (size_t)(slash - name) + 1 : 0;
	l.cfg = config_new(name);

	if (!yaml_parser_initialize(&l.yaml))
		die(EXIT_SYSTEM, "%s: out of memory starting the YAML parser", name);
	yaml_parser_set_input_string(&l.yaml, (const unsigned char *)text, len);
	/* UTF-8 only: without this libyaml would also take UTF-16 with a byte order mark. */
	yaml_parser_set_encoding(&l.yaml, YAML_UTF8_ENCODING);
	bool ok = read_stream(&l);
	if (l.have_event)
		yaml_event_delete(&l.event);
	yaml_parser_delete(&l.yaml);
	if (!ok) {
		config_free(l.cfg);
		return NULL;
	}
	return l.cfg;
}

/* Finding and reading the file. */

/* The file's bytes, or NULL when it does not exist and need not. origin says who named it. */
static char *read_file(const char *path, bool required, const char *origin, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (!required && (errno == ENOENT || errno == ENOTDIR))
			return NULL;
		die(EXIT_CONFIG, "config file %s%s: %s", path, origin, strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) != 0)
		die(EXIT_SYSTEM, "config file %s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		die(EXIT_CONFIG, "config file %s%s: %s", path, origin, strerror(EISDIR));

	/* Read to the end rather than trusting st_size, so pipes (--config <(...)) work too. */
	size_t cap = 4096, n = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die(EXIT_SYSTEM, "config file %s: %s", path, strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > CONFIG_SIZE_MAX)
			die(EXIT_CONFIG, "config file %s: larger than %d bytes", path, CONFIG_SIZE_MAX);
	}
	close(fd);
	*len = n;
	return buf;
}

static struct config *load(const char *path, bool required, const char *origin)
{
	size_t len;
	char *text = read_file(path, required, origin, &len);
	if (!text)
		return NULL;
	char err[1024];
	struct config *cfg = config_parse(path, text, len, err, sizeof err);
	free(text);
	if (!cfg)
		die(EXIT_CONFIG, "%s", err);
	return cfg;
}

/* $XDG_CONFIG_HOME/smqtt/config.yaml, or ~/.config/smqtt/config.yaml; relative bases are ignored, as XDG says. */
static char *user_file(void)
{
	const char *base = getenv("XDG_CONFIG_HOME"), *sub = "/" CONFIG_USER_FILE;
	if (!base || base[0] != '/') {
		base = getenv("HOME");
		sub = "/.config/" CONFIG_USER_FILE;
	}
	if (!base || base[0] != '/')
		return NULL;
	size_t n = strlen(base) + strlen(sub) + 1;
	char *path = xmalloc(n);
	snprintf(path, n, "%s%s", base, sub);
	return path;
}

struct config *config_open(const char *explicit_path)
{
	if (explicit_path)
		return load(explicit_path, true, "");
	const char *env = getenv(CONFIG_ENV);
	if (env && *env)
		return load(env, true, " (from " CONFIG_ENV ")");

	struct config *cfg = NULL;
	char *user = user_file();
	if (user)
		cfg = load(user, false, "");
	free(user);
	if (!cfg)
		cfg = load(CONFIG_SYSTEM_FILE, false, "");
	return cfg ? cfg : config_new(NULL);
}

/* Look-ups. */

/* The value of key, which must be in the table with one of the given types. */
static const struct value *lookup(const struct config *cfg, const char *key, unsigned types)
{
	int i = find_key(key, strlen(key));
	if (i < 0 || !(types & (1u << keys[i].type))) {
		/* A typo in a program, not in a user's file: fail loudly wherever it runs. */
		fprintf(stderr, "%s: internal error: config key %s %s\n", error_progname(), key,
			i < 0 ? "is not in the table" : "looked up as the wrong type");
		abort();
	}
	return &cfg->values[i];
}

const char *config_string(const struct config *cfg, const char *key)
{
	return lookup(cfg, key, 1u << CONFIG_STRING | 1u << CONFIG_PATH | 1u << CONFIG_WORD)->text;
}

bool config_integer(const struct config *cfg, const char *key, long long *value)
{
	const struct value *v = lookup(cfg, key, 1u << CONFIG_INTEGER);
	if (v->line)
		*value = v->number;
	return v->line != 0;
}

bool config_boolean(const struct config *cfg, const char *key, bool *value)
{
	const struct value *v = lookup(cfg, key, 1u << CONFIG_BOOLEAN);
	if (v->line)
		*value = v->number != 0;
	return v->line != 0;
}

size_t config_list(const struct config *cfg, const char *key, const char *const **items)
{
	const struct value *v = lookup(cfg, key,
				       1u << CONFIG_STRING_LIST | 1u << CONFIG_PATH_LIST | 1u << CONFIG_DEVICE_PATH_LIST);
	*items = (const char *const *)v->items;
	return v->count;
}

const char *config_where(const struct config *cfg, const char *key)
{
	int i = find_key(key, strlen(key));
	if (i < 0)
		abort();
	return cfg->values[i].where;
}

const char *config_file(const struct config *cfg)
{
	return cfg->file;
}
