/* smqtt-keygen: create a signing key pair for a meter, auditor or control center. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "error.h"
#include "keys.h"
#include "options.h"

static const char usage_text[] =
	"usage: smqtt-keygen [-f] [--type p256|p384|ed25519] [--passfile FILE | --passenv VAR |\n"
	"                    --passfd FD] -k KEYFILE\n"
	"\n"
	"Create a private key in KEYFILE (mode 0600, never overwritten unless -f)\n"
	"and write its public key as PEM to stdout.\n"
	"\n"
	"  -k, --key FILE      private key file to create\n"
	"      --type TYPE     p256 (default), p384 or ed25519\n"
	"  -f, --force         replace KEYFILE if it exists\n"
	"      --passfile FILE encrypt the key with the first line of FILE\n"
	"      --passenv VAR   encrypt the key with the value of variable VAR\n"
	"      --passfd FD     encrypt the key with the first line read from descriptor FD\n"
	"      --help          show this help\n"
	"      --version       show the version\n"
	"\n"
	"Exit status: 0 done, 2 usage error, 3 key file exists or passphrase unusable,\n"
	"4 system error.\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

enum { OPT_TYPE = OPT_FIRST_PROGRAM_OPTION };

static const struct option long_options[] = {
	{"key", required_argument, NULL, 'k'},
	{"type", required_argument, NULL, OPT_TYPE},
	{"force", no_argument, NULL, 'f'},
	PASSPHRASE_LONG_OPTIONS,
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

int main(int argc, char **argv)
{
	const char *key_path = NULL;
	enum key_type type = KEY_P256;
	bool force = false;
	struct passphrase_source pass_src = PASSPHRASE_SOURCE_NONE;
	int c;

	error_init(argv);
	secrets_protect(); /* private keys and passphrases pass through */
	while ((c = getopt_long(argc, argv, "k:t:f", long_options, NULL)) != -1) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case 't':
			warning("-t is deprecated; use --type");
			/* fall through */
		case OPT_TYPE:
			if (!key_type_parse(optarg, &type))
				die(EXIT_USAGE, "--type %s: unknown key type (p256, p384 or ed25519)", optarg);
			break;
		case 'f':
			force = true;
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			return EXIT_OK;
		case OPT_VERSION:
			print_version();
			return EXIT_OK;
		default:
			if (!passphrase_option(&pass_src, c, optarg))
				usage();
		}
	}
	if (optind != argc) {
		warning("unexpected argument: %s", argv[optind]);
		usage();
	}
	if (!key_path) {
		warning("no key file given (-k KEYFILE)");
		usage();
	}

	/* A closed stdout must be reported, not end the program silently after the key is written. */
	signal(SIGPIPE, SIG_IGN);
	char pass[PASSPHRASE_MAX];
	bool encrypt = passphrase_read(&pass_src, pass, sizeof pass);
	EVP_PKEY *pkey = key_generate(type);
	key_write_private(key_path, pkey, encrypt ? pass : NULL, force, true);
	OPENSSL_cleanse(pass, sizeof pass);

	if (!PEM_write_PUBKEY(stdout, pkey) || fflush(stdout) == EOF)
		die(EXIT_SYSTEM, "writing public key to stdout: %s", strerror(errno));
	EVP_PKEY_free(pkey);
	return EXIT_OK;
}
