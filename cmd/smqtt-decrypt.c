/* smqtt-decrypt: read the encrypted records of verified frames with a CP or KP key. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "abefile.h"
#include "abemsg.h"
#include "config.h"
#include "error.h"
#include "frame.h"
#include "keys.h"
#include "lineio.h"
#include "options.h"

static const char usage_text[] =
	"usage: smqtt-decrypt --params PARAMS -k KEYFILE [--capsules FILE]\n"
	"                     [--max-capsules N] [--config FILE]\n"
	"\n"
	"Read verified frames (smqtt-verify's output) on stdin and write the record\n"
	"of each to stdout, decrypted: capsules (\"abe1 capsule ...\") are opened\n"
	"once with the key and their session keys kept; each data record\n"
	"(\"abe1 data ...\") is opened with its capsule's key. Records that are not\n"
	"encrypted pass through. A record the key may not read (the policy is not\n"
	"satisfied) or cannot read (its capsule is missing, damaged, or made for\n"
	"other parameters; the record was changed or moved to another device) is\n"
	"reported on stderr with its line number and left out.\n"
	"\n"
	"      --params FILE     the public parameters of the key authority\n"
	"  -k, --key FILE        the decryption key (smqtt-pkg keygen)\n"
	"      --capsules FILE   keep the capsules this key opened in FILE (created\n"
	"                        mode 0600) and read them back at the next start, so\n"
	"                        that a restarted collector reads the records of\n"
	"                        sessions it saw begin\n"
	"      --max-capsules N  new capsules opened per device per minute, at most\n"
	"                        (default 60); more are refused unopened\n"
	"      --config FILE     read settings (abe.params, decrypt.key,\n"
	"                        decrypt.capsules, decrypt.max_capsules)\n"
	"      --help            show this help\n"
	"      --version         show the version\n"
	"\n"
	"Exit status: 0 every line read, 1 some lines left out, 2 usage error,\n"
	"3 unusable parameters or key, 4 system error.\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

enum { OPT_PARAMS = OPT_FIRST_PROGRAM_OPTION, OPT_MAX_CAPSULES, OPT_CAPSULES, OPT_CONFIG };

static const struct option long_options[] = {
	{"params", required_argument, NULL, OPT_PARAMS},
	{"key", required_argument, NULL, 'k'},
	{"max-capsules", required_argument, NULL, OPT_MAX_CAPSULES},
	{"capsules", required_argument, NULL, OPT_CAPSULES},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

/*
 * What is known of one capsule of one device: its parts while they arrive,
 * then its key, or why it cannot be read. A fixed table, the oldest entry
 * replaced when it is full.
 */
enum capsule_state { CAPSULE_PARTS, CAPSULE_OPEN, CAPSULE_UNREADABLE };

struct capsule {
	bool used;
	char device[DEVICE_ID_MAX + 1];
	char id[ABE_ID_HEX + 1];
	enum capsule_state state;
	unsigned parts, have;
	char *part[ABE_PARTS_MAX]; /* base64 text of each part */
	size_t counted;            /* bytes of parts counted in pending_bytes */
	bool loaded;               /* read from the capsule file: opened when first needed */
	uint8_t key[FAME_KEY_BYTES];
	char why[160];
	unsigned long long touched;
};

#define CAPSULES 4096

struct rate {
	char device[DEVICE_ID_MAX + 1];
	long long minute;
	unsigned opened;
};
#define RATES 4096

/*
 * The capsule file (--capsules): one line per part of each capsule this key
 * opened, "DEVICE abe1 capsule ID PART/PARTS BASE64", appended and synced as
 * the capsule opens, read back at the next start. Capsules are not secret
 * (they are what went over the broker) and carry their own id, the digest
 * that the signed data records name, so a line changed in the file makes
 * its capsule unreadable, never a record readable. When the file grows
 * past JOURNAL_MAX it keeps its newer half.
 */
#define JOURNAL_MAX (32u << 20)

struct journal {
	const char *path;
	int fd;    /* -1: no capsule file */
	off_t size;
};

struct decryptor {
	struct journal journal;
	struct fame_public *pub;
	struct abe_key key;
	struct capsule *capsule;
	struct rate *rate;
	unsigned max_capsules;
	unsigned long long clock;
};

static uint32_t hash(const char *device, const char *id)
{
	uint32_t h = 2166136261u;
	for (const char *p = device; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (const char *p = id; p && *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

/*
 * Parts of capsules still incomplete, in bytes, over all devices: bounded,
 * so that a device sending first parts without the rest cannot fill memory.
 */
#define PENDING_MAX (8u << 20)
static size_t pending_bytes;

static void free_parts(struct capsule *c)
{
	for (unsigned i = 0; i < ABE_PARTS_MAX; i++) {
		free(c->part[i]);
		c->part[i] = NULL;
	}
	pending_bytes -= c->counted;
	c->counted = 0;
}

static void capsule_clear(struct capsule *c)
{
	free_parts(c);
	OPENSSL_cleanse(c, sizeof *c);
}

/* The entry for (device, id): found, or a fresh one (replacing the least recently used of its probe window). */
static struct capsule *capsule_find(struct decryptor *d, const char *device, const char *id, bool create)
{
	uint32_t h = hash(device, id);
	struct capsule *oldest = NULL;
	for (unsigned i = 0; i < 16; i++) {
		struct capsule *c = &d->capsule[(h + i) % CAPSULES];
		if (c->used && strcmp(c->device, device) == 0 && strcmp(c->id, id) == 0) {
			c->touched = ++d->clock;
			return c;
		}
		if (!oldest || !c->used || (oldest->used && c->touched < oldest->touched))
			oldest = c;
	}
	if (!create)
		return NULL;
	capsule_clear(oldest);
	oldest->used = true;
	snprintf(oldest->device, sizeof oldest->device, "%s", device);
	snprintf(oldest->id, sizeof oldest->id, "%s", id);
	oldest->touched = ++d->clock;
	return oldest;
}

/* May another capsule of this device be opened this minute? */
static bool rate_allows(struct decryptor *d, const char *device)
{
	struct rate *r = &d->rate[hash(device, NULL) % RATES];
	long long minute = monotonic_ms() / 60000;
	if (strcmp(r->device, device) != 0 || r->minute != minute) {
		snprintf(r->device, sizeof r->device, "%s", device);
		r->minute = minute;
		r->opened = 0;
	}
	if (r->opened >= d->max_capsules)
		return false;
	r->opened++;
	return true;
}

static void unreadable(struct capsule *c, const char *why)
{
	free_parts(c);
	c->state = CAPSULE_UNREADABLE;
	snprintf(c->why, sizeof c->why, "%s", why);
}

/* Keep the newer half of a capsule file grown past JOURNAL_MAX, from a line's start. */
static void journal_compact(struct journal *j)
{
	size_t keep = JOURNAL_MAX / 2;
	char *buf = xmalloc(keep);
	ssize_t n = pread(j->fd, buf, keep, j->size - (off_t)keep);
	if (n != (ssize_t)keep)
		die(EXIT_SYSTEM, "%s: %s", j->path, n < 0 ? strerror(errno) : "changed while being read");
	char *start = memchr(buf, '\n', keep);
	start = start ? start + 1 : buf + keep;
	size_t len = keep - (size_t)(start - buf);
	size_t tmp_len = strlen(j->path) + sizeof ".new";
	char *tmp = xmalloc(tmp_len);
	snprintf(tmp, tmp_len, "%s.new", j->path);
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
	if (fd < 0 || !write_all(fd, start, len) || fdatasync(fd) < 0 || rename(tmp, j->path) < 0)
		die(EXIT_SYSTEM, "%s: %s", tmp, strerror(errno));
	free(tmp);
	free(buf);
	close(j->fd);
	j->fd = fd;
	j->size = (off_t)len;
}

/* Append the parts of an opened capsule, and sync them. */
static void journal_append(struct decryptor *d, const struct capsule *c)
{
	struct journal *j = &d->journal;
	if (j->fd < 0 || c->loaded)
		return;
	for (unsigned i = 0; i < c->parts; i++) {
		size_t n = strlen(c->device) + strlen(c->part[i]) + ABE_ID_HEX + 64;
		char *line = xmalloc(n);
		int len = snprintf(line, n, "%s " ABE_MAGIC " capsule %s %u/%u %s\n", c->device, c->id, i + 1, c->parts,
				   c->part[i]);
		if (!write_all(j->fd, line, (size_t)len))
			die(EXIT_SYSTEM, "%s: %s", j->path, strerror(errno));
		j->size += len;
		free(line);
	}
	if (fdatasync(j->fd) < 0)
		die(EXIT_SYSTEM, "%s: %s", j->path, strerror(errno));
	if (j->size > (off_t)JOURNAL_MAX)
		journal_compact(j);
}

/* All parts are in: decode, check, decapsulate. */
static void open_capsule(struct decryptor *d, struct capsule *c)
{
	size_t total = 0;
	for (unsigned i = 0; i < c->parts; i++)
		total += strlen(c->part[i]) / 4 * 3;
	uint8_t *bytes = xmalloc(total ? total : 1);
	size_t len = 0;
	for (unsigned i = 0; i < c->parts; i++) {
		size_t n;
		if (!base64_decode_strict(c->part[i], strlen(c->part[i]), bytes + len, total - len, &n)) {
			free(bytes);
			unreadable(c, "capsule: a part is not canonical base64");
			return;
		}
		len += n;
	}
	char id[ABE_ID_HEX + 1];
	abe_capsule_id(bytes, len, id);
	if (strcmp(id, c->id) != 0) {
		free(bytes);
		unreadable(c, "capsule: its parts do not hash to its id (changed or mixed up)");
		return;
	}
	if (!rate_allows(d, c->device)) {
		free(bytes);
		unreadable(c, "capsule: not opened: more new capsules from this device than --max-capsules a minute");
		return;
	}
	uint8_t object_id[FAME_ID_BYTES];
	int status;
	if (fame_object_id(object_id, bytes, len) == FAME_OK &&
	    memcmp(object_id, fame_public_id(d->pub), FAME_ID_BYTES) != 0) {
		status = FAME_ERR_PARAMS;
	} else if (d->key.cp) {
		struct fame_cp_ciphertext *ct;
		status = fame_cp_ciphertext_decode(&ct, bytes, len);
		if (status == FAME_OK)
			status = fame_cp_decaps(c->key, d->pub, d->key.cp, ct);
		fame_cp_ciphertext_free(ct);
	} else {
		struct fame_kp_ciphertext *ct;
		status = fame_kp_ciphertext_decode(&ct, bytes, len);
		if (status == FAME_OK)
			status = fame_kp_decaps(c->key, d->pub, d->key.kp, ct);
		fame_kp_ciphertext_free(ct);
	}
	free(bytes);
	if (status != FAME_OK) {
		char why[160];
		snprintf(why, sizeof why, "capsule: %s",
			 status == FAME_ERR_NOT_SATISFIED ? "this key may not read it (policy not satisfied)"
			 : status == FAME_ERR_PARAMS	   ? "made for other parameters than this key's"
			 : status == FAME_ERR_DECODE ? (d->key.cp ? "not a CP capsule, or damaged" : "not a KP capsule, or damaged")
						      : fame_strerror(status));
		unreadable(c, why);
		return;
	}
	journal_append(d, c);
	free_parts(c);
	c->state = CAPSULE_OPEN;
}

/*
 * One part of a capsule of device, from stdin or (loaded) from the capsule
 * file. A capsule whose parts are all in is opened at once, or, when it was
 * loaded, when a data record first needs it. Returns why the capsule cannot
 * be read, when this part made that known; NULL otherwise.
 */
static const char *capsule_part(struct decryptor *d, const char *device, const struct abe_record *r, bool loaded)
{
	struct capsule *cap = capsule_find(d, device, r->id, true);
	if (cap->state != CAPSULE_PARTS)
		return NULL; /* seen before: a repeat */
	if (!cap->have)
		cap->loaded = loaded;
	if (cap->parts && cap->parts != r->parts) {
		unreadable(cap, "capsule: its parts disagree on how many there are");
		return cap->why;
	}
	cap->parts = r->parts;
	if (cap->part[r->part - 1])
		return NULL; /* a repeat of a part */
	if (!loaded && pending_bytes + r->b64_len + 1 > PENDING_MAX) {
		unreadable(cap, "capsule: not kept: too many capsules arriving in parts at once");
		return cap->why;
	}
	if (!loaded) {
		pending_bytes += r->b64_len + 1;
		cap->counted += r->b64_len + 1;
	}
	cap->part[r->part - 1] = xmalloc(r->b64_len + 1);
	memcpy(cap->part[r->part - 1], r->b64, r->b64_len);
	cap->part[r->part - 1][r->b64_len] = '\0';
	cap->have++;
	if (cap->have == cap->parts && !cap->loaded) {
		open_capsule(d, cap);
		if (cap->state == CAPSULE_UNREADABLE)
			return cap->why;
	}
	return NULL;
}

/* Read the capsule file back, then keep it open to append to. */
static void journal_load(struct decryptor *d, const char *path)
{
	struct journal *j = &d->journal;
	j->path = path;
	j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
	struct stat sb;
	if (j->fd < 0 || fstat(j->fd, &sb) < 0)
		die(EXIT_CONFIG, "%s: %s", path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		die(EXIT_CONFIG, "%s: not a regular file", path);
	if (sb.st_mode & 022)
		die(EXIT_CONFIG, "%s: writable by group or others (mode %03o): chmod 600 it", path,
		    (unsigned)(sb.st_mode & 0777));
	j->size = sb.st_size;
	if (j->size > (off_t)JOURNAL_MAX) {
		journal_compact(j);
		if (lseek(j->fd, 0, SEEK_SET) < 0)
			die(EXIT_SYSTEM, "%s: %s", path, strerror(errno));
	}
	struct line_reader in;
	line_reader_init(&in, j->fd, path, FRAME_MAX);
	in.strip_bom = false;
	in.strip_cr = false;
	char *line;
	size_t len;
	unsigned long long bad = 0;
	for (;;) {
		enum line_status st = line_read(&in, &line, &len, -1);
		if (st == LINE_EOF)
			break;
		if (st == LINE_INTERRUPTED)
			continue;
		const char *why = st == LINE_TOO_LONG ? "longer than a frame" : LINE_INCOMPLETE_WHY;
		struct abe_record r = {0};
		char *space = st == LINE_OK ? memchr(line, ' ', len) : NULL;
		if (st == LINE_OK && !space)
			why = "not \"DEVICE abe1 capsule ...\"";
		else if (st == LINE_OK && !device_id_valid(line, (size_t)(space - line)))
			why = "not a device id before the first space";
		else if (st == LINE_OK && abe_record_parse(space + 1, len - (size_t)(space + 1 - line), &r, &why) &&
			 r.kind != ABE_CAPSULE)
			why = "not a capsule part";
		if (st != LINE_OK || r.kind != ABE_CAPSULE) {
			if (bad++ < 10)
				warning("%s: line %llu: %s; ignored", path, in.lineno, why);
			continue;
		}
		*space = '\0';
		capsule_part(d, line, &r, true);
	}
	line_reader_free(&in);
	if (bad > 10)
		warning("%s: %llu lines ignored in all", path, bad);
}

int main(int argc, char **argv)
{
	struct decryptor d = {.journal.fd = -1};
	const char *params = NULL, *key_path = NULL, *capsules_path = NULL, *config_path = NULL;
	long long max_capsules = -1;
	int c;

	error_init(argv);
	secrets_protect();
	while ((c = getopt_long(argc, argv, "k:", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_PARAMS:
			params = optarg;
			break;
		case 'k':
			key_path = optarg;
			break;
		case OPT_MAX_CAPSULES:
			max_capsules = option_number("--max-capsules", optarg, 1, 1000000);
			break;
		case OPT_CAPSULES:
			capsules_path = optarg;
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
			usage();
		}
	}
	if (optind != argc) {
		warning("unexpected argument: %s", argv[optind]);
		usage();
	}
	struct config *cfg = config_open(config_path);
	if (!params)
		params = config_string(cfg, "abe.params");
	if (!key_path)
		key_path = config_string(cfg, "decrypt.key");
	if (!capsules_path)
		capsules_path = config_string(cfg, "decrypt.capsules");
	if (max_capsules < 0 && !config_integer(cfg, "decrypt.max_capsules", &max_capsules))
		max_capsules = 60;
	d.max_capsules = (unsigned)max_capsules;
	if (!params || !key_path) {
		config_free(cfg);
		warning("--params PARAMS and -k KEYFILE are required (or abe.params and decrypt.key in the configuration)");
		usage();
	}
	d.pub = abe_parameters_load(params);
	struct passphrase_source none = PASSPHRASE_SOURCE_NONE;
	abe_key_load(key_path, &none, &d.key);
	if (memcmp(d.key.params, fame_public_id(d.pub), FAME_ID_BYTES) != 0)
		die(EXIT_CONFIG, "%s: a key of other parameters than %s", key_path, params);
	d.capsule = xcalloc(CAPSULES, sizeof *d.capsule);
	d.rate = xcalloc(RATES, sizeof *d.rate);
	if (capsules_path)
		journal_load(&d, capsules_path);
	output_init();
	stop_on_signals();

	struct line_reader in;
	line_reader_init(&in, STDIN_FILENO, "stdin", FRAME_MAX);
	in.flush_before_wait = stdout; /* a live stream: what is read goes out before waiting for more */
	in.strip_bom = false;
	in.strip_cr = false;
	char *line;
	size_t len;
	uint8_t sealed[RECORD_MAX], plain[RECORD_MAX], aad[ABE_AAD_MAX];
	unsigned long long read = 0, left_out = 0;
	for (;;) {
		enum line_status st = line_read(&in, &line, &len, -1);
		if (st == LINE_EOF || stop_requested())
			break;
		if (st == LINE_INTERRUPTED)
			continue;
		if (st != LINE_OK) {
			warning("stdin: line %llu: %s; left out", in.lineno,
				st == LINE_TOO_LONG ? "longer than a frame" : LINE_INCOMPLETE_WHY);
			left_out++;
			continue;
		}
		struct frame f;
		const char *why;
		if (!frame_parse(line, len, &f, &why)) {
			warning("stdin: line %llu: not a frame: %s; left out", in.lineno, why);
			left_out++;
			continue;
		}
		char device[DEVICE_ID_MAX + 1];
		memcpy(device, f.device, f.device_len);
		device[f.device_len] = '\0';
		struct abe_record r;
		if (!abe_record_parse(f.record, f.record_len, &r, &why)) {
			warning("stdin: line %llu: device %s seq %llu: %s; left out", in.lineno, device,
				(unsigned long long)f.seq, why);
			left_out++;
			continue;
		}
		if (r.kind == ABE_NONE) {
			if (!output_line(f.record, f.record_len))
				break;
			read++;
			continue;
		}
		if (r.kind == ABE_CAPSULE) {
			const char *problem = capsule_part(&d, device, &r, false);
			if (problem)
				warning("stdin: line %llu: device %s seq %llu: %s", in.lineno, device,
					(unsigned long long)f.seq, problem);
			continue;
		}
		struct capsule *cap = capsule_find(&d, device, r.id, false);
		if (cap && cap->state == CAPSULE_PARTS && cap->parts && cap->have == cap->parts)
			open_capsule(&d, cap); /* loaded from the capsule file */
		const char *problem = NULL;
		size_t n = 0;
		if (!cap || cap->state == CAPSULE_PARTS)
			problem = "its capsule was not received (sent before this run began, or lost)";
		else if (cap->state == CAPSULE_UNREADABLE)
			problem = cap->why;
		else if (!base64_decode_strict(r.b64, r.b64_len, sealed, sizeof sealed, &n) || n < FAME_SEAL_OVERHEAD)
			problem = "not canonical base64, or too short";
		else {
			size_t aad_len = abe_aad(aad, device, f.device_len, r.id);
			if (fame_open(plain, cap->key, aad, aad_len, sealed, n) != FAME_OK)
				problem = "does not authenticate (changed, or moved from another device or capsule)";
		}
		if (problem) {
			warning("stdin: line %llu: device %s seq %llu: %s; left out", in.lineno, device,
				(unsigned long long)f.seq, problem);
			left_out++;
			continue;
		}
		if (!output_line((const char *)plain, n - FAME_SEAL_OVERHEAD))
			break;
		read++;
	}
	line_reader_free(&in);
	OPENSSL_cleanse(plain, sizeof plain);
	if (!output_flush())
		exit(EXIT_SYSTEM);
	for (unsigned i = 0; i < CAPSULES; i++)
		capsule_clear(&d.capsule[i]);
	free(d.capsule);
	free(d.rate);
	if (d.journal.fd >= 0)
		close(d.journal.fd);
	config_free(cfg);
	abe_key_free(&d.key);
	fame_public_free(d.pub);
	if (left_out)
		warning("%llu records read, %llu left out", read, left_out);
	return left_out ? EXIT_REJECTED : EXIT_OK;
}
