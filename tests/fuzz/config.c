/* libFuzzer harness: the configuration loader (libyaml events against the key table). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "etc/smqtt.yaml"

/* Paths from the file are absolute or resolved against the file's directory. */
static void check_path(const char *p)
{
	if (p[0] != '/' && strncmp(p, "etc/", 4) != 0)
		abort();
}

static void check_text(const char *s)
{
	if (!s[0])
		abort();
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			abort();
}

static void check_value(const struct config *cfg, const struct config_key *k)
{
	const char *where = config_where(cfg, k->name);
	bool set = false;
	switch (k->type) {
	case CONFIG_STRING:
	case CONFIG_PATH:
	case CONFIG_WORD: {
		const char *s = config_string(cfg, k->name);
		set = s != NULL;
		if (!s)
			break;
		check_text(s);
		/* A database key may name a PostgreSQL server; any other path is resolved. */
		size_t name_len = strlen(k->name);
		bool db_key = name_len > 3 && strcmp(k->name + name_len - 3, ".db") == 0;
		if (k->type == CONFIG_PATH && !(db_key && db_target_is_server(s)))
			check_path(s);
		if (k->type == CONFIG_WORD) {
			const char *const *w = k->words;
			while (*w && strcmp(*w, s) != 0)
				w++;
			if (!*w)
				abort();
		}
		break;
	}
	case CONFIG_INTEGER: {
		long long v = k->min - 1;
		set = config_integer(cfg, k->name, &v);
		if (set && (v < k->min || v > k->max))
			abort();
		break;
	}
	case CONFIG_BOOLEAN: {
		bool b;
		set = config_boolean(cfg, k->name, &b);
		break;
	}
	case CONFIG_STRING_LIST:
	case CONFIG_PATH_LIST:
	case CONFIG_DEVICE_PATH_LIST: {
		const char *const *items;
		size_t n = config_list(cfg, k->name, &items);
		for (size_t i = 0; i < n; i++) {
			check_text(items[i]);
			if (k->type == CONFIG_PATH_LIST)
				check_path(items[i]);
			if (k->type == CONFIG_DEVICE_PATH_LIST) {
				const char *eq = strchr(items[i], '=');
				if (!eq || eq == items[i])
					abort();
				check_path(eq + 1);
			}
		}
		/* An empty list is still a key that was set, so only a non-empty one proves it. */
		if (n && !where)
			abort();
		return;
	}
	}
	if (set != (where != NULL) || (where && strncmp(where, NAME ":", sizeof NAME) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so reads past the input are caught. */
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	char err[1024] = "";
	struct config *cfg = config_parse(NAME, text, size, err, sizeof err);
	if (!cfg) {
		/* Every refusal names the file and the line: "NAME:LINE: why". */
		if (strncmp(err, NAME ":", sizeof NAME) != 0 || err[sizeof NAME] < '1' || err[sizeof NAME] > '9')
			abort();
	} else {
		size_t n;
		const struct config_key *keys = config_keys(&n);
		for (size_t i = 0; i < n; i++)
			check_value(cfg, &keys[i]);
		if (strcmp(config_file(cfg), NAME) != 0)
			abort();
		config_free(cfg);
	}
	free(text);
	return 0;
}
