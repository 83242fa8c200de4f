/* smqtt-sign: turn records on stdin into signed smqtt1 frames on stdout. */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "config.h"
#include "error.h"
#include "frame.h"
#include "keys.h"
#include "lineio.h"
#include "options.h"
#include "seqstate.h"
#include "x509.h"

static const char usage_text[] =
	"usage: smqtt-sign [--config FILE] -k KEYFILE (-i DEVICE | -c CERTFILE)\n"
	"                  [-S STATEFILE] [--first-seq N]\n"
	"                  [--passfile FILE | --passenv VAR | --passfd FD]\n"
	"\n"
	"Read records from stdin, one per line, and write one signed smqtt1 frame\n"
	"per record to stdout. Blank lines are skipped; CRLF and a UTF-8 BOM are\n"
	"accepted. Sequence numbers never repeat for a state file.\n"
	"\n"
	"  -k, --key FILE      private key (p256, p384 or ed25519; mode 0600)\n"
	"  -i, --id DEVICE     device id to sign as\n"
	"  -c, --cert FILE     take the device id from the CN of this certificate,\n"
	"                      which must hold the public half of KEYFILE\n"
	"  -S, --state FILE    sequence-number state file (default: KEYFILE.seq)\n"
	"      --first-seq N   number from N on, unless the state file is past it:\n"
	"                      for a device's new key, give the old key's next\n"
	"                      number (the old state file's content)\n"
	"      --passfile FILE the key's passphrase is the first line of FILE\n"
	"      --passenv VAR   the key's passphrase is the value of variable VAR\n"
	"      --passfd FD     the key's passphrase is the first line read from FD\n"
	"      --config FILE   read settings (device.key, device.id, device.cert,\n"
	"                      device.state, device.passfile) from FILE; options win\n"
	"      --help          show this help\n"
	"      --version       show the version\n"
	"\n"
	"Without --config, the file named by $SMQTT_CONFIG is read, else the first of\n"
	"$XDG_CONFIG_HOME/smqtt/config.yaml (~/.config/...) and /etc/smqtt/config.yaml\n"
	"that exists; see smqtt.conf(5). With -k the file's device.key, device.state and\n"
	"device.passfile are ignored; with -i or -c its device.id and device.cert.\n"
	"\n"
	"Exit status: 0 all records signed, 1 some records rejected, 2 usage error,\n"
	"3 key, certificate, state or configuration file unusable, 4 system error.\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

enum { OPT_CONFIG = OPT_FIRST_PROGRAM_OPTION, OPT_FIRST_SEQ };

static const struct option long_options[] = {
	{"key", required_argument, NULL, 'k'},
	{"id", required_argument, NULL, 'i'},
	{"cert", required_argument, NULL, 'c'},
	{"state", required_argument, NULL, 'S'},
	{"first-seq", required_argument, NULL, OPT_FIRST_SEQ},
	PASSPHRASE_LONG_OPTIONS,
	{"config", required_argument, NULL, OPT_CONFIG},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

/* The device id named by the certificate, after checking it belongs to the key. */
static void device_from_cert(const char *cert_path, const EVP_PKEY *key, char *device, size_t len)
{
	X509 *cert = x509_load_cert(cert_path);
	if (!x509_common_name(cert, device, len) || !device_id_valid(device, strlen(device)))
		die(EXIT_CONFIG, "certificate %s: subject CN is not a valid device id", cert_path);
	if (EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1)
		die(EXIT_CONFIG, "certificate %s: does not match the private key", cert_path);
	X509_free(cert);
}

static bool blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t')
			return false;
	return true;
}

/* Sign every record on stdin; returns the number of rejected lines. */
static unsigned long long sign_stream(struct signing_key *key, const char *device, struct seq_state *state)
{
	struct frame_hasher *hasher = frame_hasher_new();
	struct line_reader in;
	unsigned char digest[DIGEST_LEN];
	char signature[SIGNATURE_B64_MAX + 1];
	char frame[FRAME_MAX + 1];
	unsigned long long rejected = 0;
	size_t device_len = strlen(device);
	char *line;
	size_t len;

	line_reader_init(&in, STDIN_FILENO, "stdin", RECORD_MAX);
	in.flush_before_wait = stdout;
	for (;;) {
		enum line_status st = line_read(&in, &line, &len, -1);
		if (st == LINE_EOF || stop_requested())
			break;
		if (st == LINE_INTERRUPTED)
			continue;
		if (st == LINE_TOO_LONG) {
			warning("stdin: line %llu: longer than %d bytes; skipped", in.lineno, RECORD_MAX);
			rejected++;
			continue;
		}
		if (st == LINE_INCOMPLETE) {
			warning("stdin: line %llu: %s; not signed", in.lineno, LINE_INCOMPLETE_WHY);
			rejected++;
			continue;
		}
		if (blank(line, len))
			continue;
		if (memchr(line, '\0', len) || memchr(line, '\r', len)) {
			/* A frame is one line: its record may not hold NUL or CR (LF ends the line). */
			warning("stdin: line %llu: contains a %s byte; skipped", in.lineno,
			      memchr(line, '\0', len) ? "NUL" : "CR");
			rejected++;
			continue;
		}
		uint64_t seq = seq_state_next(state);
		frame_digest(hasher, device, device_len, seq, line, len, digest);
		signature_create(key, digest, signature);
		size_t n = frame_format(frame, device, seq, signature, line, len);
		if (!output_line(frame, n))
			break;
	}
	output_flush();
	line_reader_free(&in);
	frame_hasher_free(hasher);
	return rejected;
}

int main(int argc, char **argv)
{
	const char *config_path = NULL;
	const char *key_path = NULL, *device_arg = NULL, *cert_path = NULL, *state_path = NULL;
	struct passphrase_source pass = PASSPHRASE_SOURCE_NONE;
	uint64_t first_seq = 0;
	int c;

	error_init(argv);
	secrets_protect(); /* private keys and passphrases pass through */
	while ((c = getopt_long(argc, argv, "k:i:c:S:", long_options, NULL)) != -1) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case 'i':
			device_arg = optarg;
			break;
		case 'c':
			cert_path = optarg;
			break;
		case 'S':
			state_path = optarg;
			break;
		case OPT_CONFIG:
			config_path = optarg;
			break;
		case OPT_FIRST_SEQ: {
			/* Leading zeros allowed, so that the content of a state file can be given as it is. */
			const char *digits = optarg + strspn(optarg, "0");
			if (!seq_parse(digits, strlen(digits), &first_seq)) {
				char shown[ESCAPED_SIZE(32)];
				die(EXIT_USAGE, "--first-seq %s: not a sequence number (1 to 9223372036854775807)",
				    escape_text(optarg, strlen(optarg), shown, sizeof shown));
			}
			break;
		}
		case OPT_HELP:
			fputs(usage_text, stdout);
			return EXIT_OK;
		case OPT_VERSION:
			print_version();
			return EXIT_OK;
		default:
			if (!passphrase_option(&pass, c, optarg))
				usage();
		}
	}
	if (optind != argc) {
		warning("unexpected argument: %s", argv[optind]);
		usage();
	}
	if (!device_arg == !cert_path && (device_arg || cert_path)) {
		warning("give the device id with exactly one of -i DEVICE and -c CERTFILE");
		usage();
	}

	/*
	 * Flags win over the file, by group: the key, its state file and its
	 * passphrase belong together, and so do the two ways of naming the device.
	 * A -k on the command line must not pick up the state file of the key
	 * named in the configuration.
	 */
	struct config *cfg = config_open(config_path);
	if (!key_path) {
		key_path = config_string(cfg, "device.key");
		if (!state_path)
			state_path = config_string(cfg, "device.state");
		if (!pass.file && !pass.env && pass.fd < 0)
			pass.file = config_string(cfg, "device.passfile");
	}
	const char *id_where = NULL;
	if (!device_arg && !cert_path) {
		/* Both may be set for other programs; then the certificate's CN must be device.id. */
		device_arg = config_string(cfg, "device.id");
		cert_path = config_string(cfg, "device.cert");
		id_where = config_where(cfg, "device.id");
	}
	if (!key_path) {
		config_free(cfg);
		warning("no private key given (-k KEYFILE, or device.key in the configuration)");
		usage();
	}
	if (!device_arg && !cert_path) {
		config_free(cfg);
		warning("give the device id with exactly one of -i DEVICE and -c CERTFILE (or device.id or "
		      "device.cert in the configuration)");
		usage();
	}
	if (device_arg && !device_id_valid(device_arg, strlen(device_arg))) {
		char shown[ESCAPED_SIZE(DEVICE_ID_MAX)];
		escape_text(device_arg, strlen(device_arg), shown, sizeof shown);
		if (id_where)
			die(EXIT_CONFIG, "%s: key device.id: %s: invalid device id (1-64 of A-Z a-z 0-9 . _ -)",
			    id_where, shown);
		die(EXIT_USAGE, "-i %s: invalid device id (1-64 of A-Z a-z 0-9 . _ -)", shown);
	}

	EVP_PKEY *pkey = key_load_private(key_path, &pass);
	char device[DEVICE_ID_MAX + 1];
	if (cert_path) {
		device_from_cert(cert_path, pkey, device, sizeof device);
		if (device_arg && strcmp(device, device_arg) != 0)
			die(EXIT_CONFIG, "%s: key device.id: %s is not the device %s named by certificate %s",
			    id_where, device_arg, device, cert_path);
	} else {
		snprintf(device, sizeof device, "%s", device_arg);
	}

	char *default_state = NULL;
	if (!state_path) {
		size_t n = strlen(key_path) + sizeof ".seq";
		default_state = xmalloc(n);
		snprintf(default_state, n, "%s.seq", key_path);
		state_path = default_state;
	}
	struct signing_key *key = signing_key_new(pkey, true);
	struct seq_state *state = seq_state_open(state_path);
	if (first_seq)
		seq_state_skip_to(state, first_seq);
	output_init();
	stop_on_signals();
	unsigned long long rejected = sign_stream(key, device, state);
	seq_state_close(state);
	signing_key_free(key);
	free(default_state);
	config_free(cfg);
	return rejected ? EXIT_REJECTED : EXIT_OK;
}
