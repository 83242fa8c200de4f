/* smqtt-verify: pass on the smqtt1 frames whose signature, device and sequence check out. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "frame.h"
#include "lineio.h"
#include "options.h"
#include "trust.h"

static const char usage_text[] =
	"usage: smqtt-verify [-c CERTFILE]... [-p DEVICE=FILE]... [-r REJECTFILE]\n"
	"\n"
	"Read smqtt1 frames from stdin and write the ones that verify, unchanged, to\n"
	"stdout. Each rejected frame is reported on stderr as\n"
	"  smqtt-verify: line N: device D seq S: reason\n"
	"Rejected: malformed frames, unknown devices, bad signatures and replays\n"
	"(a sequence number not above the last one accepted for the device). An\n"
	"exact repeat of the last accepted frame is dropped and counted, not rejected.\n"
	"\n"
	"  -c, --cert FILE          trust this certificate for the device in its CN\n"
	"  -p, --pubkey DEVICE=FILE trust this public key (or certificate) for DEVICE\n"
	"  -r, --rejects FILE       also append each rejected line to FILE\n"
	"      --help               show this help\n"
	"      --version            show the version\n"
	"\n"
	"A device may be given two keys (key rollover). Exit status: 0 every frame\n"
	"verified, 1 some frames rejected, 2 usage error, 3 trust file unusable,\n"
	"4 system error.\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

static const struct option long_options[] = {
	{"cert", required_argument, NULL, 'c'},
	{"pubkey", required_argument, NULL, 'p'},
	{"rejects", required_argument, NULL, 'r'},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

struct counts {
	unsigned long long verified, rejected, duplicates;
};

struct verifier {
	struct trust *trust;
	struct frame_hasher *hasher;
	FILE *rejects;
	const char *rejects_path;
	struct counts n;
};

static void reject(struct verifier *v, unsigned long long lineno, const struct frame *f, const char *line,
		   size_t len, const char *reason)
{
	v->n.rejected++;
	if (f)
		warnx("line %llu: device %.*s seq %llu: %s", lineno, (int)f->device_len, f->device,
		      (unsigned long long)f->seq, reason);
	else
		warnx("line %llu: %s", lineno, reason);
	if (v->rejects && line && (fwrite(line, 1, len, v->rejects) != len || putc('\n', v->rejects) == EOF))
		die(EXIT_SYSTEM, "rejects file %s: %s", v->rejects_path, strerror(errno));
}

/* Decide one frame line; returns false when stdout has gone away. */
static bool verify_line(struct verifier *v, unsigned long long lineno, char *line, size_t len)
{
	struct frame f;
	const char *why;
	unsigned char digest[DIGEST_LEN];

	if (!frame_parse(line, len, &f, &why)) {
		char reason[128];
		snprintf(reason, sizeof reason, "malformed frame: %s", why);
		reject(v, lineno, NULL, line, len, reason);
		return true;
	}
	struct trusted_device *d = trust_lookup(v->trust, f.device, f.device_len);
	if (!d) {
		reject(v, lineno, &f, line, len, "unknown device");
		return true;
	}
	frame_digest(v->hasher, f.device, f.device_len, f.seq, f.record, f.record_len, digest);
	switch (trust_verify(d, digest, f.signature, f.signature_len)) {
	case SIGNATURE_MALFORMED:
		reject(v, lineno, &f, line, len, "non-canonical signature encoding");
		return true;
	case SIGNATURE_INVALID:
		reject(v, lineno, &f, line, len, "bad signature");
		return true;
	case SIGNATURE_VALID:
		break;
	}
	if (f.seq <= d->last_seq) {
		if (f.seq == d->last_seq && memcmp(digest, d->last_digest, DIGEST_LEN) == 0) {
			v->n.duplicates++;
			return true;
		}
		char reason[96];
		snprintf(reason, sizeof reason, "replay: not above last accepted seq %llu",
			 (unsigned long long)d->last_seq);
		reject(v, lineno, &f, line, len, reason);
		return true;
	}
	d->last_seq = f.seq;
	memcpy(d->last_digest, digest, DIGEST_LEN);
	v->n.verified++;
	return output_line(line, len);
}

static void verify_stream(struct verifier *v)
{
	struct line_reader in;
	char *line;
	size_t len;

	line_reader_init(&in, STDIN_FILENO, "stdin", FRAME_MAX);
	/* A frame is taken byte for byte: no BOM or CR is silently dropped. */
	in.strip_bom = false;
	in.strip_cr = false;
	in.flush_before_wait = stdout;
	for (;;) {
		enum line_status st = line_read(&in, &line, &len, -1);
		if (st == LINE_EOF || stop_requested())
			break;
		if (st == LINE_INTERRUPTED)
			continue;
		if (st == LINE_TOO_LONG) {
			reject(v, in.lineno, NULL, NULL, 0, "malformed frame: frame too long");
			continue;
		}
		if (!verify_line(v, in.lineno, line, len))
			break;
	}
	output_flush();
	line_reader_free(&in);
}

int main(int argc, char **argv)
{
	struct verifier v = {0};
	bool trusted = false;
	int c;

	error_init(argv[0]);
	v.trust = trust_new();
	while ((c = getopt_long(argc, argv, "c:p:r:", long_options, NULL)) != -1) {
		switch (c) {
		case 'c':
			trust_add_file(v.trust, NULL, optarg);
			trusted = true;
			break;
		case 'p': {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || !eq[1])
				die(EXIT_USAGE, "-p %s: expected DEVICE=FILE", optarg);
			*eq = '\0';
			trust_add_file(v.trust, optarg, eq + 1);
			trusted = true;
			break;
		}
		case 'r':
			v.rejects_path = optarg;
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			trust_free(v.trust);
			return EXIT_OK;
		case OPT_VERSION:
			print_version();
			trust_free(v.trust);
			return EXIT_OK;
		default:
			usage();
		}
	}
	if (optind != argc) {
		warnx("unexpected argument: %s", argv[optind]);
		usage();
	}
	if (!trusted) {
		warnx("no trusted devices (give -c CERTFILE or -p DEVICE=FILE)");
		usage();
	}
	if (v.rejects_path && !(v.rejects = fopen(v.rejects_path, "a")))
		die(EXIT_SYSTEM, "rejects file %s: %s", v.rejects_path, strerror(errno));

	v.hasher = frame_hasher_new();
	output_init();
	stop_on_signals();
	verify_stream(&v);
	if (v.rejects && fclose(v.rejects) == EOF)
		die(EXIT_SYSTEM, "rejects file %s: %s", v.rejects_path, strerror(errno));
	if (v.n.rejected || v.n.duplicates)
		warnx("%llu verified, %llu rejected, %llu duplicates dropped", v.n.verified, v.n.rejected,
		      v.n.duplicates);
	frame_hasher_free(v.hasher);
	trust_free(v.trust);
	return v.n.rejected ? EXIT_REJECTED : EXIT_OK;
}
