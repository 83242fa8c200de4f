/* smqtt-verify: pass on the smqtt1 frames whose signature, device and sequence check out. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "frame.h"
#include "lineio.h"
#include "options.h"
#include "trust.h"

static const char usage_text[] =
	"usage: smqtt-verify [--config FILE] [-c CERTFILE]... [-p DEVICE=FILE]... [-r REJECTFILE]\n"
	"       smqtt-verify [--config FILE] -R REGISTRY [--cache DEVICES] [-r REJECTFILE]\n"
	"\n"
	"Read smqtt1 frames from stdin and write the ones that verify, unchanged, to\n"
	"stdout. Each rejected frame is reported on stderr as\n"
	"  smqtt-verify: line N: device D seq S: reason\n"
	"Rejected: malformed frames, unknown devices, bad signatures and replays\n"
	"(a sequence number not above the last one accepted for the device); with a\n"
	"registry also revoked devices and devices without a key valid now. An\n"
	"exact repeat of the last accepted frame is dropped and counted, not rejected.\n"
	"\n"
	"  -c, --cert FILE          trust this certificate for the device in its CN\n"
	"  -p, --pubkey DEVICE=FILE trust this public key (or certificate) for DEVICE\n"
	"  -R, --registry FILE      trust the active keys in this smqtt-register\n"
	"                           registry, and keep replay state in it across runs\n"
	"      --cache DEVICES      with -R: devices kept in memory (default 100000)\n"
	"  -r, --rejects FILE       also append each rejected line to FILE\n"
	"      --config FILE        read settings (verify.cert, verify.pubkey,\n"
	"                           registry.db, verify.rejects) from this YAML file\n"
	"      --help               show this help\n"
	"      --version            show the version\n"
	"\n"
	"Without --config, the file named by $SMQTT_CONFIG is read, else the first of\n"
	"$XDG_CONFIG_HOME/smqtt/config.yaml (~/.config/...) and /etc/smqtt/config.yaml\n"
	"that exists. Options win over the file; trust is taken from the command line\n"
	"or from the file as a group, and verify.cert and verify.pubkey take the place\n"
	"of registry.db.\n"
	"\n"
	"A device may be given two keys (key rollover). With -R, a frame is written\n"
	"out only once its sequence number is saved in the registry (in batches of\n"
	"up to 10000 frames or 1 second). Exit status: 0 every frame verified, 1 some\n"
	"frames rejected, 2 usage error, 3 trust file or registry unusable, 4 system\n"
	"error.\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

enum { OPT_CACHE = OPT_FIRST_PROGRAM_OPTION, OPT_CONFIG };

static const struct option long_options[] = {
	{"cert", required_argument, NULL, 'c'},
	{"pubkey", required_argument, NULL, 'p'},
	{"registry", required_argument, NULL, 'R'},
	{"cache", required_argument, NULL, OPT_CACHE},
	{"rejects", required_argument, NULL, 'r'},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

struct counts {
	unsigned long long verified, rejected, duplicates;
};

/*
 * Accepted frames wait here until their replay state is saved (trust_sync),
 * so no frame leaves before a restarted verifier would reject its replay.
 * They go out when input pauses, or after this many frames, bytes or
 * milliseconds: each release is one registry commit, and larger batches
 * write each device's state once for many of its frames.
 */
#define RELEASE_FRAMES 10000
#define RELEASE_BYTES (4 << 20)
#define RELEASE_MS 1000

struct pending {
	char *text; /* accepted lines, each with its newline */
	size_t len, cap, frames;
	long long since_ms; /* when the oldest waiting frame was accepted */
};

struct verifier {
	struct trust *trust;
	struct frame_hasher *hasher;
	FILE *rejects;
	const char *rejects_path;
	struct pending out;
	struct counts n;
};

static void hold(struct pending *p, const char *line, size_t len)
{
	if (p->len + len + 1 > p->cap) {
		p->cap = p->cap ? p->cap * 2 : 1 << 16;
		while (p->cap < p->len + len + 1)
			p->cap *= 2;
		p->text = xrealloc(p->text, p->cap);
	}
	if (p->frames == 0)
		p->since_ms = monotonic_ms();
	memcpy(p->text + p->len, line, len);
	p->text[p->len + len] = '\n';
	p->len += len + 1;
	p->frames++;
}

/* Save replay state, then write the waiting frames; false when stdout has gone away. */
static bool release(struct verifier *v)
{
	trust_sync(v->trust);
	if (v->out.frames == 0)
		return true;
	bool open = output_line(v->out.text, v->out.len - 1) && output_flush();
	v->out.len = v->out.frames = 0;
	return open;
}

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
	enum trust_refusal refusal;
	struct trusted_device *d = trust_lookup(v->trust, f.device, f.device_len, &refusal);
	if (!d) {
		reject(v, lineno, &f, line, len, trust_refusal_text(refusal));
		return true;
	}
	frame_digest(v->hasher, f.device, f.device_len, f.seq, f.record, f.record_len, digest);
	switch (trust_verify(v->trust, d, digest, f.signature, f.signature_len)) {
	case SIGNATURE_MALFORMED:
		reject(v, lineno, &f, line, len, "non-canonical signature encoding");
		return true;
	case SIGNATURE_INVALID: {
		const char *which = trust_explain_invalid(v->trust, d, digest, f.signature, f.signature_len);
		reject(v, lineno, &f, line, len, which ? which : "bad signature");
		return true;
	}
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
	trust_accept(v->trust, d, f.seq, digest);
	v->n.verified++;
	hold(&v->out, line, len);
	if (v->out.frames >= RELEASE_FRAMES || v->out.len >= RELEASE_BYTES || monotonic_ms() - v->out.since_ms >= RELEASE_MS)
		return release(v);
	return true;
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
		/* Accepted frames go out as soon as input pauses. */
		enum line_status st = line_read(&in, &line, &len, v->out.frames ? 0 : -1);
		if (st == LINE_TIMEOUT) {
			if (!release(v))
				break;
			continue;
		}
		if (st == LINE_EOF || stop_requested())
			break;
		if (st == LINE_INTERRUPTED)
			continue;
		if (st == LINE_TOO_LONG) {
			reject(v, in.lineno, NULL, NULL, 0, "malformed frame: frame too long");
			continue;
		}
		/* Registry changes (a revocation, say) apply from the first frame of the next batch. */
		if (v->out.frames == 0)
			trust_refresh(v->trust);
		if (!verify_line(v, in.lineno, line, len))
			break;
	}
	release(v);
	line_reader_free(&in);
	free(v->out.text);
}

int main(int argc, char **argv)
{
	struct verifier v = {0};
	bool trusted = false;
	const char *registry = NULL, *config_path = NULL;
	long long cache = TRUST_CACHE_DEFAULT;
	bool cache_given = false;
	int c;

	error_init(argv[0]);
	v.trust = trust_new();
	while ((c = getopt_long(argc, argv, "c:p:R:r:", long_options, NULL)) != -1) {
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
		case 'R':
			registry = optarg;
			break;
		case OPT_CACHE:
			cache = option_number("--cache", optarg, 1, 100000000);
			cache_given = true;
			break;
		case 'r':
			v.rejects_path = optarg;
			break;
		case OPT_CONFIG:
			config_path = optarg;
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
	if (registry && trusted)
		die(EXIT_USAGE, "-R takes the place of -c and -p: give either a registry or trust files");
	/* Flags win over the file; trust comes from one or the other, whole. */
	struct config *cfg = config_open(config_path);
	if (!registry && !trusted) {
		const char *const *items;
		size_t n = config_list(cfg, "verify.cert", &items);
		for (size_t i = 0; i < n; i++, trusted = true)
			trust_add_file(v.trust, NULL, items[i]);
		n = config_list(cfg, "verify.pubkey", &items);
		for (size_t i = 0; i < n; i++, trusted = true) {
			/* "DEVICE=FILE", checked when the file was read */
			const char *eq = strchr(items[i], '=');
			char device[DEVICE_ID_MAX + 1];
			size_t len = (size_t)(eq - items[i]);
			if (len > DEVICE_ID_MAX)
				die(EXIT_CONFIG, "%s: key verify.pubkey: %s: not a device id", config_where(cfg, "verify.pubkey"),
				    items[i]);
			memcpy(device, items[i], len);
			device[len] = '\0';
			trust_add_file(v.trust, device, eq + 1);
		}
		if (!trusted)
			registry = config_string(cfg, "registry.db");
	}
	if (!v.rejects_path)
		v.rejects_path = config_string(cfg, "verify.rejects");
	if (cache_given && !registry)
		die(EXIT_USAGE, "--cache is for -R REGISTRY");
	if (!registry && !trusted) {
		config_free(cfg);
		warnx("no trusted devices (give -c CERTFILE, -p DEVICE=FILE or -R REGISTRY, or verify.cert, "
		      "verify.pubkey or registry.db in the configuration)");
		usage();
	}
	if (v.rejects_path && !(v.rejects = fopen(v.rejects_path, "a")))
		die(EXIT_SYSTEM, "rejects file %s: %s", v.rejects_path, strerror(errno));

	if (registry)
		trust_use_registry(v.trust, registry, (size_t)cache);
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
	config_free(cfg);
	return v.n.rejected ? EXIT_REJECTED : EXIT_OK;
}
