/*
 * The configuration file every smqtt program reads: one YAML file (parsed with
 * libyaml), one table of typed keys for the whole toolkit, documented in
 * smqtt.conf(5). Keys are "section.name", named after the long option they stand
 * for (--tls-version is broker.tls_version). A key unknown to every program, a
 * value of the wrong type, a duplicate key or a YAML error ends the program with
 * EXIT_CONFIG and a message naming FILE:LINE.
 *
 * Precedence is flags > environment > file > defaults. Parse the command line
 * into "given" values first, then fill what was not given from the file:
 *
 *     enum { OPT_CONFIG = OPT_FIRST_PROGRAM_OPTION, ... };   // --config FILE, no short option
 *     {"config", required_argument, NULL, OPT_CONFIG},       // in long_options
 *
 *     const char *config_path = NULL, *db = NULL;
 *     long long batch = -1;                 // -1: not given on the command line
 *     ...getopt_long: --config sets config_path, -d sets db, -b sets batch...
 *     struct config *cfg = config_open(config_path);
 *     if (!db)
 *             db = config_string(cfg, "store.db");        // NULL when not set either
 *     if (batch < 0 && !config_integer(cfg, "store.batch", &batch))
 *             batch = 10000;                              // the built-in default
 *     ...use db and batch (they point into cfg)...
 *     config_free(cfg);
 *
 * A value the table accepts may still be wrong for the program (a bad device id,
 * a schema that does not parse): report it with config_where(), exit EXIT_CONFIG:
 *
 *     die(EXIT_CONFIG, "%s: key store.schema: %s", config_where(cfg, "store.schema"), why);
 *
 * To add a key, add one line to the table in config.c and document it in
 * man/smqtt.conf.5 and examples/smqtt.yaml (a test checks all three agree).
 */
#ifndef SMQTT_CONFIG_H
#define SMQTT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* The only environment variable: the file to read instead of the default ones. */
#define CONFIG_ENV "SMQTT_CONFIG"
/* Default locations, the first one that exists is read: */
#define CONFIG_USER_FILE "smqtt/config.yaml" /* under $XDG_CONFIG_HOME, or ~/.config */
#define CONFIG_SYSTEM_FILE "/etc/smqtt/config.yaml"
/* A configuration is a few dozen lines; anything much bigger is not one. */
#define CONFIG_SIZE_MAX (1024 * 1024)

enum config_type {
	CONFIG_STRING,           /* any non-empty scalar, as text (an id of digits stays text) */
	CONFIG_PATH,             /* a file name; relative ones are relative to the config file's directory */
	CONFIG_INTEGER,          /* a plain decimal integer in [min, max] */
	CONFIG_BOOLEAN,          /* true or false */
	CONFIG_WORD,             /* one of a fixed list of words */
	CONFIG_STRING_LIST,      /* a YAML list of strings */
	CONFIG_PATH_LIST,        /* a YAML list of file names */
	CONFIG_DEVICE_PATH_LIST, /* a YAML list of DEVICE=FILE; FILE resolved like a path */
};

struct config_key {
	const char *name; /* "section.key" */
	enum config_type type;
	long long min, max;        /* CONFIG_INTEGER */
	const char *const *words;  /* CONFIG_WORD, NULL-terminated */
};

/* The table of every key, for documentation checks and the fuzzer. */
const struct config_key *config_keys(size_t *count);

struct config;

/*
 * Find and read the configuration: explicit_path (--config) if not NULL, else
 * $SMQTT_CONFIG if set and not empty, else the first of
 * $XDG_CONFIG_HOME/smqtt/config.yaml (~/.config/... when XDG_CONFIG_HOME is unset)
 * and /etc/smqtt/config.yaml that exists. A file named by --config or
 * $SMQTT_CONFIG must exist; a default one need not. Never returns NULL: with no
 * file the configuration is empty. Any error ends the program (EXIT_CONFIG).
 */
struct config *config_open(const char *explicit_path);

/*
 * Parse len bytes of YAML named name (used in messages and to resolve relative
 * paths). Returns NULL with "NAME:LINE: why" in err on any error; never exits
 * except when out of memory.
 */
struct config *config_parse(const char *name, const char *text, size_t len, char *err, size_t err_len);

void config_free(struct config *cfg);

/*
 * Typed look-ups. key must be in the table and of the matching type (anything
 * else is a programming error and aborts). Values live as long as cfg.
 */
/* CONFIG_STRING, CONFIG_PATH, CONFIG_WORD: the value, or NULL when not set. */
const char *config_string(const struct config *cfg, const char *key);
/* CONFIG_INTEGER: false when not set (*value untouched). */
bool config_integer(const struct config *cfg, const char *key, long long *value);
/* CONFIG_BOOLEAN: false when not set (*value untouched). */
bool config_boolean(const struct config *cfg, const char *key, bool *value);
/* The list types: the number of items (0 when not set), items in *items. */
size_t config_list(const struct config *cfg, const char *key, const char *const **items);

/* "FILE:LINE" where key was set, for messages about its value; NULL when not set. */
const char *config_where(const struct config *cfg, const char *key);
/* The file that was read, or NULL when there was none. */
const char *config_file(const struct config *cfg);

#endif
