/* smqtt-pkg: the key authority of attribute-based encryption (FAME): parameters, master secret, decryption keys. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "abefile.h"
#include "config.h"
#include "error.h"
#include "frame.h"
#include "keys.h"
#include "lineio.h"
#include "options.h"
#include "registry.h"

static const char usage_text[] =
	"usage: smqtt-pkg setup -m MASTER [-f] [--passfile FILE | --passenv VAR | --passfd FD]\n"
	"                 [--config FILE]\n"
	"       smqtt-pkg keygen --params PARAMS -m MASTER -o OUTDIR [--kp] [-R REGISTRY]\n"
	"                 [--epoch EPOCH | --no-epoch] [-f] [--passfile FILE | --passenv VAR |\n"
	"                 --passfd FD] [--config FILE] [ID [ATTRIBUTE... | POLICY]]\n"
	"\n"
	"setup   create the master secret in MASTER (mode 0600, never overwritten\n"
	"        unless -f) and write the public parameters (PEM) to stdout\n"
	"keygen  issue decryption keys: CP keys hold attributes, KP keys (--kp) a\n"
	"        policy. One key for ID from the command line, or one per line of\n"
	"        stdin: \"ID [ATTRIBUTE]...\" (CP; attributes separated by spaces) or\n"
	"        \"ID POLICY\" (KP). Each key goes to OUTDIR/ID.cpkey or OUTDIR/ID.kpkey\n"
	"        (mode 0600); one line per key on stdout:\n"
	"          ID key=PATH cp ATTRIBUTE...     or     ID key=PATH kp POLICY\n"
	"        and one line per key is appended to MASTER.issued.\n"
	"\n"
	"  -m, --master FILE   the master secret\n"
	"      --params FILE   the public parameters (from setup)\n"
	"  -o, --out DIR       where keys are written\n"
	"      --kp            issue KP keys (a policy per key) instead of CP keys\n"
	"  -R, --registry FILE grant only attributes the registry holds for ID\n"
	"                      (as name:value); refuse unknown and revoked identities.\n"
	"                      A CP request without attributes gets all of them.\n"
	"      --epoch EPOCH   the epoch attribute added to every key (epoch:EPOCH;\n"
	"                      default: the current month in UTC, as 2026-12)\n"
	"      --no-epoch      add no epoch attribute\n"
	"  -f, --force         replace existing files\n"
	"      --passfile FILE the master secret's passphrase is the first line of FILE\n"
	"      --passenv VAR   ... the value of variable VAR\n"
	"      --passfd FD     ... the first line read from descriptor FD\n"
	"      --config FILE   read settings (abe.params, pkg.master, pkg.out,\n"
	"                      pkg.passfile, registry.db) from this YAML file\n"
	"      --help          show this help\n"
	"      --version       show the version\n"
	"\n"
	"Exit status: 0 done, 1 some keys refused (the others issued), 2 usage error,\n"
	"3 unusable parameters, master secret, registry or existing file, 4 system error.\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

enum { OPT_KP = OPT_FIRST_PROGRAM_OPTION, OPT_EPOCH, OPT_NO_EPOCH, OPT_PARAMS, OPT_CONFIG };

static const struct option long_options[] = {
	{"master", required_argument, NULL, 'm'},
	{"params", required_argument, NULL, OPT_PARAMS},
	{"out", required_argument, NULL, 'o'},
	{"kp", no_argument, NULL, OPT_KP},
	{"registry", required_argument, NULL, 'R'},
	{"epoch", required_argument, NULL, OPT_EPOCH},
	{"no-epoch", no_argument, NULL, OPT_NO_EPOCH},
	{"force", no_argument, NULL, 'f'},
	{"config", required_argument, NULL, OPT_CONFIG},
	PASSPHRASE_LONG_OPTIONS,
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

struct settings {
	const char *master_path, *params_path, *out_dir, *registry_path;
	bool kp, force, no_epoch;
	char epoch[ABE_EPOCH_MAX + 1];
	struct passphrase_source pass;
};

/* The attribute that names the epoch: reserved to the key authority. */
#define EPOCH_PREFIX ABE_EPOCH_PREFIX

static int setup(const struct settings *s)
{
	if (!s->master_path) {
		warning("no master secret file given (-m MASTER)");
		usage();
	}
	signal(SIGPIPE, SIG_IGN);
	char pass[PASSPHRASE_MAX];
	bool encrypt = passphrase_read(&s->pass, pass, sizeof pass);
	struct fame_public *pub;
	struct fame_master *master;
	int status = fame_setup(&pub, &master);
	if (status != FAME_OK)
		die(EXIT_SYSTEM, "setup: %s", fame_strerror(status));
	abe_master_write(s->master_path, master, encrypt ? pass : NULL, s->force);
	OPENSSL_cleanse(pass, sizeof pass);
	fame_master_free(master);
	if (!abe_parameters_write(stdout, pub))
		die(EXIT_SYSTEM, "writing the public parameters to stdout: %s", strerror(errno));
	fame_public_free(pub);
	return EXIT_OK;
}

/* ---- keygen ---- */

struct issuer {
	const struct settings *s;
	struct fame_public *pub;
	struct fame_master *master;
	struct registry *registry;
	FILE *log;
	char *log_path;
	unsigned long issued, refused;
};

struct attribute_list {
	char **name;
	size_t count, cap;
};

static void list_add(struct attribute_list *l, const char *name, size_t len)
{
	for (size_t i = 0; i < l->count; i++)
		if (strlen(l->name[i]) == len && memcmp(l->name[i], name, len) == 0)
			return;
	if (l->count == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		l->name = xrealloc(l->name, l->cap * sizeof *l->name);
	}
	char *copy = xmalloc(len + 1);
	memcpy(copy, name, len);
	copy[len] = '\0';
	l->name[l->count++] = copy;
}

static bool list_has(const struct attribute_list *l, const char *name)
{
	for (size_t i = 0; i < l->count; i++)
		if (strcmp(l->name[i], name) == 0)
			return true;
	return false;
}

static void list_free(struct attribute_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->name[i]);
	free(l->name);
	memset(l, 0, sizeof *l);
}

static int add_registry_attribute(const char *name, const char *value, void *arg)
{
	char both[ATTRIBUTE_NAME_MAX + ATTRIBUTE_VALUE_MAX + 2];
	int n = snprintf(both, sizeof both, "%s:%s", name, value);
	/* One that cannot be an attribute (too long, a control byte) is simply never granted. */
	if (n > 0 && fame_attribute_valid(both, (size_t)n))
		list_add(arg, both, (size_t)n);
	return 0;
}

static void refuse(struct issuer *is, const char *where, const char *id, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void refuse(struct issuer *is, const char *where, const char *id, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	warning("%s%s%s: %s; no key issued", where, where[0] ? ": " : "", id, why);
	is->refused++;
}

/* An attribute as it is written in a policy: quoted when it has to be. */
static const char *attribute_text(const char *name, char *buf, size_t len)
{
	struct fame_policy *p;
	/* A bare attribute parses to itself; anything else is shown quoted, like the canonical policy text. */
	if (fame_policy_parse(&p, name, strlen(name), NULL) == FAME_OK && fame_policy_rows(p) == 1 &&
	    strcmp(fame_policy_text(p), name) == 0) {
		fame_policy_free(p);
		snprintf(buf, len, "%s", name);
		return buf;
	}
	if (p)
		fame_policy_free(p);
	size_t o = 0;
	buf[o++] = '"';
	for (const char *c = name; *c && o + 3 < len; c++) {
		if (*c == '"' || *c == '\\')
			buf[o++] = '\\';
		buf[o++] = *c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static char *path_for(const char *dir, const char *id, bool kp)
{
	size_t n = strlen(dir) + strlen(id) + sizeof "/.cpkey";
	char *p = xmalloc(n);
	snprintf(p, n, "%s/%s.%s", dir, id, kp ? "kpkey" : "cpkey");
	return p;
}

static void record(struct issuer *is, const char *id, const char *line)
{
	char when[32];
	time_t now = time(NULL);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	char params[2 * FAME_ID_BYTES + 1];
	for (int i = 0; i < FAME_ID_BYTES; i++)
		snprintf(params + 2 * i, 3, "%02x", fame_public_id(is->pub)[i]);
	if (fprintf(is->log, "%s params=%s %s\n", when, params, line) < 0 || fflush(is->log) == EOF ||
	    fsync(fileno(is->log)) < 0)
		die(EXIT_SYSTEM, "%s: %s (key for %s written but not recorded)", is->log_path, strerror(errno), id);
}

/*
 * One request: id, then the attributes (CP) or the policy (KP) as text.
 * attrs/n_attrs: CP attributes from the command line (already split).
 */
static void issue(struct issuer *is, const char *where, const char *id, const char *const *attrs, size_t n_attrs,
		  const char *policy_text)
{
	const struct settings *s = is->s;
	if (!device_id_valid(id, strlen(id))) {
		refuse(is, where, id, "not a valid identity (1 to 64 of A-Z a-z 0-9 . _ -)");
		return;
	}
	struct attribute_list held = {0};
	if (is->registry) {
		int state = registry_device_revoked(is->registry, id);
		if (state < 0) {
			refuse(is, where, id, "not in the registry %s", registry_path(is->registry));
			return;
		}
		if (state > 0) {
			refuse(is, where, id, "revoked in the registry %s", registry_path(is->registry));
			return;
		}
		registry_each_attribute(is->registry, id, add_registry_attribute, &held);
	}
	struct attribute_list want = {0};
	struct fame_policy *policy = NULL;
	struct abe_key key = {0};
	char line[8192], text[FAME_ATTRIBUTE_MAX * 2 + 3];
	int status;
	if (s->kp) {
		struct fame_policy_error e;
		if (!policy_text || !*policy_text) {
			refuse(is, where, id, "no policy");
			goto out;
		}
		if (fame_policy_parse(&policy, policy_text, strlen(policy_text), &e) != FAME_OK) {
			refuse(is, where, id, "policy: byte %zu: %s", e.position + 1, e.message);
			goto out;
		}
		for (size_t i = 0; i < fame_policy_rows(policy); i++) {
			const char *a = fame_policy_attribute(policy, i);
			if (strncmp(a, EPOCH_PREFIX, strlen(EPOCH_PREFIX)) == 0) {
				refuse(is, where, id, "attribute %s: epochs are set by the key authority (--epoch)", a);
				goto out;
			}
			if (is->registry && !list_has(&held, a)) {
				refuse(is, where, id, "attribute %s: not held by %s in the registry", a, id);
				goto out;
			}
		}
		if (!s->no_epoch) {
			/* The key reads only ciphertexts of its epoch. */
			size_t n = strlen(fame_policy_text(policy)) + strlen(s->epoch) + 32;
			char *with = xmalloc(n);
			snprintf(with, n, "(%s) and %s%s", fame_policy_text(policy), EPOCH_PREFIX, s->epoch);
			fame_policy_free(policy);
			policy = NULL;
			if (fame_policy_parse(&policy, with, strlen(with), &e) != FAME_OK) {
				refuse(is, where, id, "policy with the epoch: byte %zu: %s", e.position + 1, e.message);
				free(with);
				goto out;
			}
			free(with);
		}
		status = fame_kp_keygen(&key.kp, is->pub, is->master, policy);
	} else {
		for (size_t i = 0; i < n_attrs; i++) {
			const char *a = attrs[i];
			if (!fame_attribute_valid(a, strlen(a))) {
				refuse(is, where, id, "attribute %s: not a valid attribute (1 to 255 bytes, no control byte)",
				       attribute_text(a, text, sizeof text));
				goto out;
			}
			if (strncmp(a, EPOCH_PREFIX, strlen(EPOCH_PREFIX)) == 0) {
				refuse(is, where, id, "attribute %s: epochs are set by the key authority (--epoch)",
				       attribute_text(a, text, sizeof text));
				goto out;
			}
			if (is->registry && !list_has(&held, a)) {
				refuse(is, where, id, "attribute %s: not held by %s in the registry",
				       attribute_text(a, text, sizeof text), id);
				goto out;
			}
			list_add(&want, a, strlen(a));
		}
		if (n_attrs == 0 && is->registry)
			for (size_t i = 0; i < held.count; i++)
				if (strncmp(held.name[i], EPOCH_PREFIX, strlen(EPOCH_PREFIX)) != 0)
					list_add(&want, held.name[i], strlen(held.name[i]));
		if (want.count == 0) {
			refuse(is, where, id, is->registry ? "no attributes in the registry" : "no attributes");
			goto out;
		}
		if (!s->no_epoch) {
			char epoch[sizeof s->epoch + sizeof EPOCH_PREFIX];
			snprintf(epoch, sizeof epoch, "%s%s", EPOCH_PREFIX, s->epoch);
			list_add(&want, epoch, strlen(epoch));
		}
		if (want.count > FAME_ROWS_MAX) {
			refuse(is, where, id, "%zu attributes (at most %d)", want.count, FAME_ROWS_MAX);
			goto out;
		}
		status = fame_cp_keygen(&key.cp, is->pub, is->master, (const char *const *)want.name, want.count);
	}
	if (status != FAME_OK)
		die(EXIT_SYSTEM, "%s: key generation: %s", id, fame_strerror(status));

	char *path = path_for(s->out_dir, id, s->kp);
	abe_key_write(path, &key, s->force);
	int n = snprintf(line, sizeof line, "%s key=%s %s", id, path, s->kp ? "kp" : "cp");
	if (s->kp) {
		n += snprintf(line + n, sizeof line - (size_t)n, " %s", fame_policy_text(policy));
	} else {
		for (size_t i = 0; i < want.count && (size_t)n < sizeof line; i++)
			n += snprintf(line + n, sizeof line - (size_t)n, " %s",
				      attribute_text(want.name[i], text, sizeof text));
	}
	if ((size_t)n >= sizeof line)
		die(EXIT_SYSTEM, "%s: the key's description is too long for one line", id);
	record(is, id, line);
	if (!output_line(line, (size_t)n))
		exit(EXIT_SYSTEM);
	is->issued++;
	free(path);
out:
	abe_key_free(&key);
	fame_policy_free(policy);
	list_free(&want);
	list_free(&held);
}

/* Split a CP request line into words (spaces and tabs). */
static size_t split_words(char *line, char **words, size_t max)
{
	size_t n = 0;
	char *save = NULL;
	for (char *w = strtok_r(line, " \t", &save); w && n < max; w = strtok_r(NULL, " \t", &save))
		words[n++] = w;
	return n;
}

static int keygen(const struct settings *s, int argc, char **argv)
{
	if (!s->master_path || !s->params_path || !s->out_dir) {
		warning("keygen needs --params PARAMS, -m MASTER and -o OUTDIR");
		usage();
	}
	struct stat st;
	if (stat(s->out_dir, &st) < 0 || !S_ISDIR(st.st_mode))
		die(EXIT_CONFIG, "output directory %s: %s", s->out_dir,
		    errno && stat(s->out_dir, &st) < 0 ? strerror(errno) : "not a directory");
	secret_dir_check(s->out_dir, false);
	struct issuer is = {.s = s};
	is.pub = abe_parameters_load(s->params_path);
	is.master = abe_master_load(s->master_path, &s->pass);
	if (memcmp(fame_public_id(is.pub), fame_master_id(is.master), FAME_ID_BYTES) != 0)
		die(EXIT_CONFIG, "%s and %s: the master secret was not made with these parameters", s->master_path,
		    s->params_path);
	if (s->registry_path)
		is.registry = registry_open(s->registry_path, false);
	size_t n = strlen(s->master_path) + sizeof ".issued";
	is.log_path = xmalloc(n);
	snprintf(is.log_path, n, "%s.issued", s->master_path);
	int fd = open(is.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || !(is.log = fdopen(fd, "a")))
		die(EXIT_CONFIG, "%s: %s", is.log_path, strerror(errno));
	output_init();

	if (argc > 0) {
		char *policy = NULL;
		if (s->kp) {
			/* The policy may come as one argument or as several words. */
			size_t len = 1;
			for (int i = 1; i < argc; i++)
				len += strlen(argv[i]) + 1;
			policy = xmalloc(len);
			policy[0] = '\0';
			for (int i = 1; i < argc; i++) {
				if (i > 1)
					strcat(policy, " ");
				strcat(policy, argv[i]);
			}
		}
		issue(&is, "", argv[0], (const char *const *)argv + 1, (size_t)argc - 1, policy);
		free(policy);
	} else {
		struct line_reader in;
		line_reader_init(&in, STDIN_FILENO, "stdin", 65536);
		char *line, where[64];
		size_t len;
		for (;;) {
			enum line_status ls = line_read(&in, &line, &len, -1);
			if (ls == LINE_EOF)
				break;
			snprintf(where, sizeof where, "stdin: line %llu", in.lineno);
			if (ls == LINE_TOO_LONG || ls == LINE_INCOMPLETE) {
				warning("%s: %s; no key issued", where,
					ls == LINE_TOO_LONG ? "longer than 65536 bytes" : LINE_INCOMPLETE_WHY);
				is.refused++;
				continue;
			}
			if (ls != LINE_OK)
				continue;
			if (memchr(line, '\0', len)) {
				warning("%s: a NUL byte; no key issued", where);
				is.refused++;
				continue;
			}
			char *words[FAME_ROWS_MAX + 2];
			char *start = line + strspn(line, " \t");
			if (!*start || *start == '#')
				continue;
			if (s->kp) {
				size_t idlen = strcspn(start, " \t");
				char *rest = start + idlen;
				if (*rest)
					*rest++ = '\0';
				issue(&is, where, start, NULL, 0, rest + strspn(rest, " \t"));
			} else {
				size_t w = split_words(start, words, sizeof words / sizeof *words);
				if (w == sizeof words / sizeof *words) {
					warning("%s: more than %d attributes; no key issued", where, FAME_ROWS_MAX);
					is.refused++;
					continue;
				}
				issue(&is, where, words[0], (const char *const *)words + 1, w - 1, NULL);
			}
		}
		line_reader_free(&in);
	}
	if (!output_flush())
		exit(EXIT_SYSTEM);
	if (fclose(is.log) == EOF)
		die(EXIT_SYSTEM, "%s: %s", is.log_path, strerror(errno));
	if (is.registry)
		registry_close(is.registry);
	fame_public_free(is.pub);
	fame_master_free(is.master);
	free(is.log_path);
	if (is.refused)
		warning("%lu keys issued, %lu refused", is.issued, is.refused);
	return is.refused ? EXIT_REJECTED : EXIT_OK;
}

int main(int argc, char **argv)
{
	struct settings s = {.pass = PASSPHRASE_SOURCE_NONE};
	const char *config_path = NULL;
	int c;

	error_init(argv);
	secrets_protect();
	while ((c = getopt_long(argc, argv, "m:o:R:f", long_options, NULL)) != -1) {
		switch (c) {
		case 'm':
			s.master_path = optarg;
			break;
		case OPT_PARAMS:
			s.params_path = optarg;
			break;
		case 'o':
			s.out_dir = optarg;
			break;
		case 'R':
			s.registry_path = optarg;
			break;
		case OPT_KP:
			s.kp = true;
			break;
		case OPT_EPOCH:
			abe_epoch_option(optarg);
			snprintf(s.epoch, sizeof s.epoch, "%s", optarg);
			break;
		case OPT_NO_EPOCH:
			s.no_epoch = true;
			break;
		case 'f':
			s.force = true;
			break;
		case OPT_CONFIG:
			config_path = optarg;
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			return EXIT_OK;
		case OPT_VERSION:
			print_version();
			return EXIT_OK;
		default:
			if (!passphrase_option(&s.pass, c, optarg))
				usage();
		}
	}
	if (optind == argc) {
		warning("no command given (setup or keygen)");
		usage();
	}
	const char *command = argv[optind++];
	/* Settings not given on the command line come from the configuration. */
	struct config *cfg = config_open(config_path);
	if (!s.master_path)
		s.master_path = config_string(cfg, "pkg.master");
	if (!s.params_path)
		s.params_path = config_string(cfg, "abe.params");
	if (!s.out_dir)
		s.out_dir = config_string(cfg, "pkg.out");
	if (!s.registry_path)
		s.registry_path = config_string(cfg, "registry.db");
	if (!s.pass.file && !s.pass.env && s.pass.fd < 0)
		s.pass.file = config_string(cfg, "pkg.passfile");
	if (!s.epoch[0])
		abe_epoch_now(s.epoch);
	if (strcmp(command, "setup") == 0) {
		if (optind != argc) {
			warning("unexpected argument: %s", argv[optind]);
			usage();
		}
		int status = setup(&s);
		config_free(cfg);
		return status;
	}
	if (strcmp(command, "keygen") == 0) {
		int status = keygen(&s, argc - optind, argv + optind);
		config_free(cfg);
		return status;
	}
	warning("unknown command: %s (setup or keygen)", command);
	usage();
}
