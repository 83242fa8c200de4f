/* smqtt-encrypt: encrypt records under a policy (CP) or a set of attributes (KP), for smqtt-sign. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "abefile.h"
#include "abemsg.h"
#include "config.h"
#include "error.h"
#include "frame.h"
#include "lineio.h"
#include "options.h"

static const char usage_text[] =
	"usage: smqtt-encrypt --params PARAMS -i DEVICE (-P POLICY | -a ATTRIBUTE...)\n"
	"                     [--epoch EPOCH | --no-epoch] [--rekey N] [--repeat N]\n"
	"                     [--config FILE]\n"
	"\n"
	"Encrypt each record of stdin (one per line) and write encrypted records\n"
	"for smqtt-sign to stdout: first the capsule that carries the session key\n"
	"(\"abe1 capsule ...\", in parts), then one \"abe1 data ...\" record per\n"
	"input record. Only keys whose attributes satisfy POLICY (CP), or whose\n"
	"policy the attributes satisfy (KP, -a), can read them.\n"
	"\n"
	"      --params FILE     the public parameters of the key authority\n"
	"  -i, --id DEVICE       the device the records come from (bound into each\n"
	"                        data record)\n"
	"  -P, --policy POLICY   CP: the policy a key's attributes must satisfy\n"
	"  -a, --attribute ATTR  KP: an attribute of the records (repeat the option)\n"
	"      --epoch EPOCH     the epoch (default: the current month in UTC, as\n"
	"                        2026-12): CP policies become \"(POLICY) and\n"
	"                        epoch:EPOCH\", KP attributes gain epoch:EPOCH\n"
	"      --no-epoch        add no epoch\n"
	"      --rekey N         a new capsule after N records (default 10000); also\n"
	"                        when the month changes\n"
	"      --repeat N        send the capsule again before every Nth record of a\n"
	"                        session (default 100), for subscribers that join late\n"
	"      --config FILE     read settings (abe.params, device.id, encrypt.policy,\n"
	"                        encrypt.attributes, encrypt.rekey, encrypt.repeat)\n"
	"      --help            show this help\n"
	"      --version         show the version\n"
	"\n"
	"Exit status: 0 all encrypted, 1 some records refused (too long, or empty),\n"
	"2 usage error, 3 unusable parameters, 4 system error.\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

enum { OPT_PARAMS = OPT_FIRST_PROGRAM_OPTION, OPT_EPOCH, OPT_NO_EPOCH, OPT_REKEY, OPT_REPEAT, OPT_CONFIG };

static const struct option long_options[] = {
	{"params", required_argument, NULL, OPT_PARAMS},
	{"id", required_argument, NULL, 'i'},
	{"policy", required_argument, NULL, 'P'},
	{"attribute", required_argument, NULL, 'a'},
	{"epoch", required_argument, NULL, OPT_EPOCH},
	{"no-epoch", no_argument, NULL, OPT_NO_EPOCH},
	{"rekey", required_argument, NULL, OPT_REKEY},
	{"repeat", required_argument, NULL, OPT_REPEAT},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

struct session {
	struct fame_public *pub;
	const char *device, *policy_text;
	const char **attributes;
	size_t n_attributes;
	const char *fixed_epoch; /* --epoch, or NULL for the current month */
	bool no_epoch;
	char epoch[ABE_EPOCH_MAX + 1]; /* the epoch of the current capsule */
	bool open;
	uint8_t key[FAME_KEY_BYTES];
	char id[ABE_ID_HEX + 1];
	uint8_t *capsule; /* the current capsule, kept to be sent again */
	size_t capsule_len;
	unsigned long long used;
};

static void current_epoch(const struct session *s, char out[ABE_EPOCH_MAX + 1])
{
	if (s->no_epoch)
		out[0] = '\0';
	else if (s->fixed_epoch)
		snprintf(out, ABE_EPOCH_MAX + 1, "%s", s->fixed_epoch);
	else
		abe_epoch_now(out);
}

static void emit(const char *line, size_t len)
{
	if (!output_line(line, len))
		exit(EXIT_SYSTEM);
}

/* Why an attribute given for KP records cannot be used, or NULL. */
static const char *attribute_problem(const char *a)
{
	if (!fame_attribute_valid(a, strlen(a)))
		return "not an attribute (1 to 255 bytes, no control byte)";
	if (strncmp(a, ABE_EPOCH_PREFIX, sizeof ABE_EPOCH_PREFIX - 1) == 0)
		return "the epoch is added by --epoch";
	return NULL;
}

/* The current capsule, written out in parts. */
static void send_capsule(const struct session *s)
{
	size_t part_bytes = ABE_PART_B64_MAX / 4 * 3;
	size_t parts = (s->capsule_len + part_bytes - 1) / part_bytes;
	char line[RECORD_MAX + 1];
	for (size_t i = 0; i < parts; i++) {
		size_t from = i * part_bytes, n = s->capsule_len - from < part_bytes ? s->capsule_len - from : part_bytes;
		int head = snprintf(line, sizeof line, ABE_MAGIC " capsule %s %zu/%zu ", s->id, i + 1, parts);
		int b64 = EVP_EncodeBlock((unsigned char *)line + head, s->capsule + from, (int)n);
		emit(line, (size_t)head + (size_t)b64);
	}
}

/* A fresh capsule for the current epoch, written out in parts. */
static void new_capsule(struct session *s)
{
	uint8_t *capsule;
	size_t len;
	int status;
	current_epoch(s, s->epoch);
	if (s->policy_text) {
		char *text;
		if (s->epoch[0]) {
			size_t n = strlen(s->policy_text) + strlen(s->epoch) + 32;
			text = xmalloc(n);
			snprintf(text, n, "(%s) and epoch:%s", s->policy_text, s->epoch);
		} else {
			text = xstrdup(s->policy_text);
		}
		struct fame_policy *p;
		struct fame_policy_error e;
		if (fame_policy_parse(&p, text, strlen(text), &e) != FAME_OK)
			die(EXIT_USAGE, "-P: byte %zu: %s", e.position + 1, e.message);
		status = fame_cp_encaps(&capsule, &len, s->key, s->pub, p);
		fame_policy_free(p);
		free(text);
	} else {
		const char **list = xmalloc((s->n_attributes + 1) * sizeof *list);
		char epoch[80];
		memcpy(list, s->attributes, s->n_attributes * sizeof *list);
		size_t n = s->n_attributes;
		if (s->epoch[0]) {
			snprintf(epoch, sizeof epoch, "epoch:%s", s->epoch);
			list[n++] = epoch;
		}
		status = fame_kp_encaps(&capsule, &len, s->key, s->pub, list, n);
		free(list);
	}
	if (status != FAME_OK)
		die(status == FAME_ERR_ATTRIBUTE ? EXIT_USAGE : EXIT_SYSTEM, "encapsulation: %s", fame_strerror(status));
	size_t part_bytes = ABE_PART_B64_MAX / 4 * 3;
	if ((len + part_bytes - 1) / part_bytes > ABE_PARTS_MAX)
		die(EXIT_USAGE, "the capsule takes %zu bytes, more than %d records can carry: use a shorter policy", len,
		    ABE_PARTS_MAX);
	abe_capsule_id(capsule, len, s->id);
	free(s->capsule);
	s->capsule = capsule;
	s->capsule_len = len;
	s->open = true;
	s->used = 0;
	send_capsule(s);
}

int main(int argc, char **argv)
{
	struct session s = {0};
	const char *params = NULL, *config_path = NULL;
	long long rekey = -1, repeat = -1;
	const char *why;
	int c;

	error_init(argv);
	secrets_protect(); /* session keys pass through */
	s.attributes = xmalloc((size_t)argc * sizeof *s.attributes);
	while ((c = getopt_long(argc, argv, "i:P:a:", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_PARAMS:
			params = optarg;
			break;
		case 'i':
			s.device = optarg;
			break;
		case 'P':
			s.policy_text = optarg;
			break;
		case 'a':
			if ((why = attribute_problem(optarg)))
				die(EXIT_USAGE, "-a %s: %s", optarg, why);
			s.attributes[s.n_attributes++] = optarg;
			break;
		case OPT_EPOCH:
			abe_epoch_option(optarg);
			s.fixed_epoch = optarg;
			break;
		case OPT_NO_EPOCH:
			s.no_epoch = true;
			break;
		case OPT_REKEY:
			rekey = option_number("--rekey", optarg, 1, 1000000000);
			break;
		case OPT_REPEAT:
			repeat = option_number("--repeat", optarg, 1, 1000000000);
			break;
		case OPT_CONFIG:
			config_path = optarg;
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			free(s.attributes);
			return EXIT_OK;
		case OPT_VERSION:
			print_version();
			free(s.attributes);
			return EXIT_OK;
		default:
			usage();
		}
	}
	if (optind != argc) {
		warning("unexpected argument: %s", argv[optind]);
		usage();
	}
	if (s.policy_text && s.n_attributes) {
		warning("give either -P POLICY (CP) or -a ATTRIBUTE (KP), not both");
		usage();
	}
	/* Settings not given on the command line come from the configuration. */
	struct config *cfg = config_open(config_path);
	char id_where[300] = "-i", policy_where[300] = "-P";
	if (!params)
		params = config_string(cfg, "abe.params");
	if (!s.device) {
		s.device = config_string(cfg, "device.id");
		if (s.device)
			snprintf(id_where, sizeof id_where, "%s: key device.id:", config_where(cfg, "device.id"));
	}
	if (rekey < 0 && !config_integer(cfg, "encrypt.rekey", &rekey))
		rekey = 10000;
	if (repeat < 0 && !config_integer(cfg, "encrypt.repeat", &repeat))
		repeat = 100;
	if (!s.policy_text && !s.n_attributes) {
		const char *const *items;
		size_t n = config_list(cfg, "encrypt.attributes", &items);
		s.policy_text = config_string(cfg, "encrypt.policy");
		if (s.policy_text)
			snprintf(policy_where, sizeof policy_where, "%s: key encrypt.policy", config_where(cfg, "encrypt.policy"));
		if (s.policy_text && n)
			die(EXIT_CONFIG, "%s: encrypt.policy and encrypt.attributes are both set (CP or KP: one of them)",
			    config_file(cfg));
		for (size_t i = 0; i < n; i++) {
			if ((why = attribute_problem(items[i])))
				die(EXIT_CONFIG, "%s: key encrypt.attributes: %s: %s", config_where(cfg, "encrypt.attributes"),
				    items[i], why);
			s.attributes = xrealloc(s.attributes, (s.n_attributes + 1) * sizeof *s.attributes);
			s.attributes[s.n_attributes++] = items[i];
		}
	}
	if (!params || !s.device) {
		config_free(cfg);
		free(s.attributes);
		warning("--params PARAMS and -i DEVICE are required (or abe.params and device.id in the configuration)");
		usage();
	}
	int bad_setting = id_where[0] == '-' ? EXIT_USAGE : EXIT_CONFIG;
	if (!device_id_valid(s.device, strlen(s.device)))
		die(bad_setting, "%s %s: not a device id (1 to 64 of A-Z a-z 0-9 . _ -)", id_where, s.device);
	if (!s.policy_text == !s.n_attributes) {
		config_free(cfg);
		free(s.attributes);
		warning("give either -P POLICY (CP) or -a ATTRIBUTE (KP) (or encrypt.policy or encrypt.attributes in the configuration)");
		usage();
	}
	if (s.policy_text) {
		bad_setting = policy_where[0] == '-' ? EXIT_USAGE : EXIT_CONFIG;
		struct fame_policy *p;
		struct fame_policy_error e;
		if (fame_policy_parse(&p, s.policy_text, strlen(s.policy_text), &e) != FAME_OK)
			die(bad_setting, "%s: byte %zu: %s", policy_where, e.position + 1, e.message);
		for (size_t i = 0; i < fame_policy_rows(p); i++)
			if (strncmp(fame_policy_attribute(p, i), ABE_EPOCH_PREFIX, sizeof ABE_EPOCH_PREFIX - 1) == 0)
				die(bad_setting, "%s: attribute %s: the epoch is added by --epoch", policy_where,
				    fame_policy_attribute(p, i));
		fame_policy_free(p);
	}
	s.pub = abe_parameters_load(params);
	output_init();
	stop_on_signals();

	struct line_reader in;
	line_reader_init(&in, STDIN_FILENO, "stdin", RECORD_MAX);
	in.flush_before_wait = stdout; /* a live stream: what is read goes out before waiting for more */
	char *line, out[RECORD_MAX + 1];
	size_t len;
	uint8_t sealed[ABE_PLAIN_MAX + FAME_SEAL_OVERHEAD], aad[ABE_AAD_MAX];
	size_t aad_len = 0;
	unsigned long long refused = 0;
	for (;;) {
		enum line_status st = line_read(&in, &line, &len, -1);
		if (st == LINE_EOF || stop_requested())
			break;
		if (st == LINE_INTERRUPTED)
			continue;
		if (st == LINE_TOO_LONG || st == LINE_INCOMPLETE || len > ABE_PLAIN_MAX || len == 0 ||
		    memchr(line, '\0', len)) {
			char too_long[80];
			snprintf(too_long, sizeof too_long, "longer than the %d bytes an encrypted record can hold",
				 (int)ABE_PLAIN_MAX);
			warning("stdin: line %llu: %s; not encrypted", in.lineno,
				st == LINE_TOO_LONG	  ? "longer than 4096 bytes"
				: st == LINE_INCOMPLETE ? LINE_INCOMPLETE_WHY
				: len == 0		  ? "empty record"
				: len > ABE_PLAIN_MAX	  ? too_long
							  : "a NUL byte");
			refused++;
			continue;
		}
		char epoch[ABE_EPOCH_MAX + 1];
		current_epoch(&s, epoch);
		if (!s.open || s.used >= (unsigned long long)rekey || strcmp(epoch, s.epoch) != 0) {
			new_capsule(&s);
			aad_len = abe_aad(aad, s.device, strlen(s.device), s.id);
		} else if (s.used % (unsigned long long)repeat == 0) {
			send_capsule(&s);
		}
		if (fame_seal(sealed, s.key, NULL, aad, aad_len, (const uint8_t *)line, len) != FAME_OK)
			die(EXIT_SYSTEM, "sealing a record");
		int head = snprintf(out, sizeof out, ABE_MAGIC " data %s ", s.id);
		int b64 = EVP_EncodeBlock((unsigned char *)out + head, sealed, (int)(len + FAME_SEAL_OVERHEAD));
		emit(out, (size_t)head + (size_t)b64);
		s.used++;
	}
	line_reader_free(&in);
	if (!output_flush())
		exit(EXIT_SYSTEM);
	OPENSSL_cleanse(s.key, sizeof s.key);
	fame_public_free(s.pub);
	free(s.capsule);
	free(s.attributes);
	config_free(cfg);
	return refused ? EXIT_REJECTED : EXIT_OK;
}
