/* smqtt-register: the device registry: certificates, keys, attributes, revocations (SQLite or PostgreSQL). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "error.h"
#include "frame.h"
#include "lineio.h"
#include "manifest.h"
#include "options.h"
#include "progress.h"
#include "registry.h"
#include "x509.h"

static const char usage_text[] =
	"usage: smqtt-register -R REGISTRY init --ca CAFILE\n"
	"       smqtt-register -R REGISTRY add [--retire-old]\n"
	"       smqtt-register -R REGISTRY list [--csv | --json]\n"
	"       smqtt-register -R REGISTRY show [--csv | --json] DEVICE\n"
	"       smqtt-register -R REGISTRY cert DEVICE\n"
	"       smqtt-register -R REGISTRY set DEVICE NAME=VALUE...\n"
	"       smqtt-register -R REGISTRY get DEVICE NAME\n"
	"       smqtt-register -R REGISTRY unset DEVICE NAME...\n"
	"       smqtt-register -R REGISTRY retire DEVICE SERIAL\n"
	"       smqtt-register -R REGISTRY revoke [--reason REASON] DEVICE [SERIAL]\n"
	"       smqtt-register -R REGISTRY revoked\n"
	"\n"
	"The registry of devices, their certificates and keys, attributes and\n"
	"revocations, and the replay state of smqtt-verify --registry.\n"
	"\n"
	"init     create REGISTRY, trusting the CA certificate in CAFILE\n"
	"add      register the certificates on stdin: lines from smqtt-issue device\n"
	"         (ID serial=HEX fingerprint=HEX cert=PATH [name=value]...) or PEM\n"
	"         certificates. Each must chain to the CA, be valid now, carry the\n"
	"         digitalSignature key usage and the clientAuth extended key usage,\n"
	"         and have a device id as its CN. A new certificate for a known device\n"
	"         is a key rotation: the two newest keys stay active, older ones are\n"
	"         retired. Adding a registered certificate again changes nothing.\n"
	"list     one line per device: ID STATE ACTIVE_KEYS LAST_SEQ [name=value]...\n"
	"show     the device, its attributes and its keys\n"
	"cert     the device's active certificates (PEM), newest first\n"
	"set      set attributes; get prints one; unset removes them\n"
	"retire   stop accepting frames signed with one key of the device\n"
	"revoke   revoke the device and all its keys, or only the key SERIAL\n"
	"revoked  the revoked keys, for smqtt-issue crl: SERIAL DEVICE TIME REASON\n"
	"\n"
	"  -R, --registry FILE  the registry database: an SQLite file, or a PostgreSQL\n"
	"                       server: postgresql://[USER@]HOST[:PORT]/DBNAME\n"
	"      --ca FILE        init: the CA certificate (PEM) to trust\n"
	"      --retire-old     add: retire the other active keys of a device that\n"
	"                       gets a new one, ending its rollover at once\n"
	"      --csv            list, show: CSV with a header line\n"
	"      --json           list, show: JSON\n"
	"      --reason REASON  revoke: an RFC 5280 reason (default unspecified):\n"
	"                       keyCompromise, affiliationChanged, superseded,\n"
	"                       cessationOfOperation, certificateHold, ...\n"
	"      --config FILE    read the registry (registry.db) from this YAML file\n"
	"      --help           show this help\n"
	"      --version        show the version\n"
	"\n"
	"Without -R, the registry is registry.db of the configuration: the file named\n"
	"by --config, else by $SMQTT_CONFIG, else the first of\n"
	"$XDG_CONFIG_HOME/smqtt/config.yaml (~/.config/...) and /etc/smqtt/config.yaml\n"
	"that exists.\n"
	"\n"
	"Exit status: 0 ok, 1 some certificates or devices rejected, 2 usage error,\n"
	"3 registry or CA certificate unusable, 4 system error.\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

enum {
	OPT_CA = OPT_FIRST_PROGRAM_OPTION,
	OPT_RETIRE_OLD,
	OPT_CSV,
	OPT_JSON,
	OPT_REASON,
	OPT_CONFIG,
};

static const struct option long_options[] = {
	{"registry", required_argument, NULL, 'R'},
	{"ca", required_argument, NULL, OPT_CA},
	{"retire-old", no_argument, NULL, OPT_RETIRE_OLD},
	{"csv", no_argument, NULL, OPT_CSV},
	{"json", no_argument, NULL, OPT_JSON},
	{"reason", required_argument, NULL, OPT_REASON},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

enum format { FORMAT_TEXT, FORMAT_CSV, FORMAT_JSON };

struct settings {
	const char *registry, *ca, *reason;
	enum format format;
	bool format_given, retire_old;
};

/* ---- output ---- */

/* Set once stdout's reader has gone away: every listing then stops quietly. */
static bool output_closed;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void out(const char *fmt, ...)
{
	if (output_closed)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vprintf(fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (errno != EPIPE)
			die(EXIT_SYSTEM, "writing stdout: %s", strerror(errno));
		output_closed = true;
	}
}

static int finish_output(void)
{
	if (!output_closed && !output_flush())
		output_closed = true;
	return EXIT_OK;
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void out_json_string(const char *s)
{
	if (!s) {
		out("null");
		return;
	}
	out("\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			out("\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			out("\\u%04x", *p);
		else
			out("%c", *p);
	}
	out("\"");
}

/* A CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma, quote or line break. */
static void out_csv_field(const char *s, bool last)
{
	if (!s)
		s = "";
	if (strpbrk(s, ",\"\r\n")) {
		out("\"");
		for (const char *p = s; *p; p++)
			out(*p == '"' ? "\"\"" : "%c", *p);
		out("\"");
	} else {
		out("%s", s);
	}
	out(last ? "\n" : ",");
}

/* A time as ISO 8601 UTC text; "" (text, CSV) or null (JSON) when unset. */
static const char *time_text(int64_t t, char buf[21])
{
	if (t == 0)
		return NULL;
	time_format(t, buf);
	return buf;
}

static void out_json_time(int64_t t)
{
	char buf[21];
	out_json_string(time_text(t, buf));
}

/* ---- names and values ---- */

/* Printable ASCII without spaces, so a value stays one field of a line. */
static bool registry_value_valid(const char *value)
{
	size_t len = strlen(value);
	if (len < 1 || len > ATTRIBUTE_VALUE_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (value[i] < 0x21 || value[i] > 0x7e)
			return false;
	return true;
}

/* Check NAME=VALUE and split it at the '='; why says what is wrong. */
static bool attribute_parse(char *text, char **value, const char **why)
{
	char *eq = strchr(text, '=');
	if (!eq) {
		*why = "expected NAME=VALUE";
		return false;
	}
	size_t len = (size_t)(eq - text);
	if (!attribute_name_valid(text, len)) {
		*why = "attribute names are 1-64 of a-z 0-9 _, starting with a letter";
		return false;
	}
	if (attribute_name_reserved(text, len)) {
		*why = ATTRIBUTE_RESERVED_WHY;
		return false;
	}
	if (!registry_value_valid(eq + 1)) {
		*why = "attribute values are 1-256 printable ASCII characters without spaces";
		return false;
	}
	*eq = '\0';
	*value = eq + 1;
	return true;
}

static void check_device_id(const char *id)
{
	char shown[ESCAPED_SIZE(DEVICE_ID_MAX)];
	if (!device_id_valid(id, strlen(id)))
		die(EXIT_USAGE, "%s: invalid device id (1-64 of A-Z a-z 0-9 . _ -)",
		    escape_text(id, strlen(id), shown, sizeof shown));
}

/* Serials are stored in uppercase hex, as smqtt-issue prints them. */
static void serial_normalize(const char *text, char out_serial[SERIAL_HEX_MAX + 1])
{
	size_t len = strlen(text);
	char shown[ESCAPED_SIZE(SERIAL_HEX_MAX)];
	if (len < 1 || len > SERIAL_HEX_MAX || strspn(text, "0123456789abcdefABCDEF") != len)
		die(EXIT_USAGE, "%s: not a serial number (hex)", escape_text(text, len, shown, sizeof shown));
	for (size_t i = 0; i <= len; i++)
		out_serial[i] = (char)(text[i] >= 'a' && text[i] <= 'f' ? text[i] - 'a' + 'A' : text[i]);
}

/* ---- init ---- */

static int cmd_init(struct settings *s)
{
	X509 *ca = x509_load_cert(s->ca);
	if (X509_check_ca(ca) == 0)
		die(EXIT_CONFIG, "certificate %s: not a CA certificate", s->ca);
	struct registry *r = registry_create(s->registry, ca);
	registry_close(r);
	X509_free(ca);
	return EXIT_OK;
}

/* ---- add ---- */

/*
 * Certificates checked in parallel, then stored in one transaction. Serials
 * and fingerprints are random, so every insert lands on another page of
 * their indexes: a large transaction writes each touched page once for many
 * certificates. The write lock is held only while storing, not checking.
 *
 * The checking is done by worker processes (this one and one forked per
 * further CPU for each batch), not threads: in OpenSSL 3.0 parsing and
 * verifying a certificate take global read-write locks, and two threads
 * checked only 1.2 times as fast as one. The batch lives in shared memory;
 * a forked worker puts each checked certificate's PEM and public key in its
 * own shared arena, and leaves to this process any that no longer fit.
 */
#define ADD_BATCH 16384
#define ADD_LINE_MAX 16384
#define PEM_BLOCK_MAX 65536
#define LINE_ATTRIBUTES_MAX 32
#define ADD_WORKERS_MAX 8
#define ADD_ARENA_SIZE ((size_t)32 << 20) /* per forked worker: a batch's certificates take about 15 MiB */

/* One certificate to register: a line from smqtt-issue or a PEM block. */
struct add_item {
	unsigned long long line;  /* first input line */
	unsigned long block;      /* PEM certificate number; 0 for a device line */
	char *text;               /* the line or the PEM block */
	/* A device line's fields, split before checking (pointers into text). */
	const char *device_claim; /* DEVICE */
	const char *serial_claim, *fingerprint_claim, *cert_path;
	char *attributes[LINE_ATTRIBUTES_MAX][2];
	size_t nattributes;
	/* Filled in by check_item, possibly in another process. */
	bool ok, already;
	bool refused_early; /* refused while reading input (why is set), reported in line order */
	bool in_arena;      /* key.public_key and key.certificate point into a worker's arena */
	bool deferred;      /* a worker had no room for it: checked again by this process */
	char device[DEVICE_ID_MAX + 1]; /* the CN, when it could be read: for messages */
	char why[320];
	struct registry_key key;
};

/* Shared memory a forked worker copies its results into. */
struct arena {
	char *base;
	size_t used;
};

/* What the checking workers share (read-only) and own (a registry connection and an arena each). */
struct add_context {
	const char *registry;
	X509_STORE *store;
	struct registry *reader; /* this process's connection */
	size_t nworkers;
	struct arena arenas[ADD_WORKERS_MAX]; /* [0] unused: this process keeps what it allocates */
	struct add_item *items;  /* shared memory */
	size_t nitems;
};

struct add_counts {
	unsigned long long added, already, rejected, retired;
};

/* add on a terminal: how far it is; each message about an item ends the progress line first. */
static struct progress add_progress;
static unsigned long long add_done; /* items stored before the batch being checked */

static void item_fail(struct add_item *it, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void item_fail(struct add_item *it, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(it->why, sizeof it->why, fmt, ap);
	va_end(ap);
	it->ok = false;
}

/* Split "DEVICE serial=HEX fingerprint=HEX cert=PATH [key=PATH] [name=value]...". */
static bool parse_device_line(struct add_item *it, const char **serial, const char **fingerprint, const char **cert)
{
	char *save = NULL, *field = strtok_r(it->text, " ", &save);
	*serial = *fingerprint = *cert = NULL;
	if (!field) {
		item_fail(it, "empty line");
		return false;
	}
	it->device_claim = field;
	char shown[84];
	if (!device_id_valid(field, strlen(field))) {
		item_fail(it, "%s: invalid device id (1-64 of A-Z a-z 0-9 . _ -)",
			  escape_text(field, strlen(field), shown, sizeof shown));
		return false;
	}
	snprintf(it->device, sizeof it->device, "%s", field);
	while ((field = strtok_r(NULL, " ", &save))) {
		char *value;
		const char *why;
		if (strncmp(field, "serial=", 7) == 0)
			*serial = field + 7;
		else if (strncmp(field, "fingerprint=", 12) == 0)
			*fingerprint = field + 12;
		else if (strncmp(field, "cert=", 5) == 0)
			*cert = field + 5;
		else if (strncmp(field, "key=", 4) == 0)
			continue; /* the private key stays where smqtt-issue wrote it */
		else if (!attribute_parse(field, &value, &why)) {
			item_fail(it, "%s: %s", escape_text(field, strlen(field), shown, sizeof shown), why);
			return false;
		} else if (it->nattributes == LINE_ATTRIBUTES_MAX) {
			item_fail(it, "more than %d attributes", LINE_ATTRIBUTES_MAX);
			return false;
		} else {
			it->attributes[it->nattributes][0] = field;
			it->attributes[it->nattributes][1] = value;
			it->nattributes++;
		}
	}
	if (!*cert || !**cert) {
		item_fail(it, "no cert=PATH field");
		return false;
	}
	return true;
}

/* Read one PEM certificate's DER bytes from bio; false with why set. */
static bool read_certificate_der(struct add_item *it, BIO *bio, const char *what, unsigned char **der, long *len)
{
	char *name = NULL, *header = NULL;
	bool ok = false;
	if (!PEM_read_bio(bio, &name, &header, der, len))
		item_fail(it, "%sno PEM certificate", what);
	else if (strcmp(name, "CERTIFICATE") != 0) {
		char shown[ESCAPED_SIZE(40)];
		item_fail(it, "%sholds a %s, not a certificate", what, escape_text(name, strnlen(name, 40), shown, sizeof shown));
	}
	else
		ok = true;
	OPENSSL_free(name);
	OPENSSL_free(header);
	if (!ok) {
		OPENSSL_free(*der);
		*der = NULL;
	}
	ERR_clear_error();
	return ok;
}

static void fingerprint_of(const unsigned char *der, long len, char out_hex[FINGERPRINT_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!EVP_Digest(der, (size_t)len, md, &n, EVP_sha256(), NULL) ||
	    OPENSSL_buf2hexstr_ex(out_hex, FINGERPRINT_HEX_LEN + 1, NULL, md, n, '\0') != 1)
		die_ssl(EXIT_SYSTEM, "certificate fingerprint");
}

/*
 * Everything about one item that needs no write access: parse it, read the
 * certificate, skip the costly checks for a certificate already registered,
 * check the rest. Runs on any thread; reader is this thread's connection.
 */
static void check_item(struct add_context *c, struct registry *reader, struct add_item *it)
{
	const char *serial = it->serial_claim, *fingerprint = it->fingerprint_claim, *cert_path = it->cert_path;
	char what[240] = ""; /* names the certificate file in messages about a device line */
	char shown[204];
	BIO *bio;
	it->ok = !it->refused_early;
	if (!it->ok)
		return;
	if (it->block) {
		bio = BIO_new_mem_buf(it->text, -1);
	} else {
		escape_text(cert_path, strlen(cert_path), shown, sizeof shown);
		bio = x509_open_pem(cert_path);
		if (!bio) {
			item_fail(it, "cert %s: %s", shown, strerror(errno));
			return;
		}
		snprintf(what, sizeof what, "cert %s: ", shown);
	}
	if (!bio)
		die_ssl(EXIT_SYSTEM, "reading certificates");
	unsigned char *der = NULL;
	long der_len = 0;
	bool have_der = read_certificate_der(it, bio, what, &der, &der_len);
	BIO_free(bio);
	if (!have_der)
		return;

	char actual[FINGERPRINT_HEX_LEN + 1], holder[DEVICE_ID_MAX + 1];
	fingerprint_of(der, der_len, actual);
	if (fingerprint && strcasecmp(fingerprint, actual) != 0) {
		item_fail(it, "fingerprint=%s does not match the certificate (%s)",
			  escape_text(fingerprint, strlen(fingerprint), shown, 72), actual);
		OPENSSL_free(der);
		return;
	}
	if (registry_key_holder(reader, actual, holder)) {
		OPENSSL_free(der);
		snprintf(it->device, sizeof it->device, "%s", holder);
		if (it->device_claim && strcmp(it->device_claim, holder) != 0)
			item_fail(it, "the certificate is registered to device %s", holder);
		else
			it->already = true;
		return;
	}

	const unsigned char *p = der;
	X509 *cert = d2i_X509(NULL, &p, der_len);
	OPENSSL_free(der);
	ERR_clear_error();
	if (!cert) {
		item_fail(it, "%sdamaged certificate", what);
		return;
	}
	char cn[DEVICE_ID_MAX + 1];
	if (!it->device_claim && x509_common_name(cert, cn, sizeof cn) && device_id_valid(cn, strlen(cn)))
		snprintf(it->device, sizeof it->device, "%s", cn);
	if (!registry_check_certificate(c->store, cert, &it->key, it->why, sizeof it->why)) {
		it->ok = false;
	} else if (it->device_claim && strcmp(it->key.device, it->device_claim) != 0) {
		item_fail(it, "certificate CN %s is not the device id", it->key.device);
	} else if (serial && strcasecmp(serial, it->key.serial) != 0) {
		item_fail(it, "serial=%s does not match the certificate (%s)",
			  escape_text(serial, strlen(serial), shown, 72), it->key.serial);
	}
	if (!it->ok)
		registry_key_clear(&it->key);
	X509_free(cert);
}

/* Copy a checked key's allocations into the arena; false if they do not fit. */
static bool arena_keep(struct arena *a, struct registry_key *k)
{
	size_t pem_len = strlen(k->certificate) + 1, need = pem_len + k->public_key_len + 16;
	if (a->used + need > ADD_ARENA_SIZE)
		return false;
	char *pem = a->base + a->used;
	memcpy(pem, k->certificate, pem_len);
	unsigned char *der = (unsigned char *)pem + pem_len;
	memcpy(der, k->public_key, k->public_key_len);
	a->used += (need + 15) & ~(size_t)15;
	OPENSSL_free(k->public_key);
	free(k->certificate);
	k->certificate = pem;
	k->public_key = der;
	return true;
}

/* Check every nworkers-th item from the first; a forked worker leaves its results in shared memory. */
static void check_share(struct add_context *c, struct registry *reader, size_t first, struct arena *a)
{
	size_t workers = c->nworkers < c->nitems ? c->nworkers : c->nitems;
	for (size_t i = first; i < c->nitems; i += workers) {
		struct add_item *it = &c->items[i];
		check_item(c, reader, it);
		/* This process checks every nworkers-th item while the others check theirs: about i are done. */
		if (!a)
			progress_show(&add_progress, add_done + i + 1, it->line, false);
		if (a && it->ok && !it->already) {
			if (arena_keep(a, &it->key)) {
				it->in_arena = true;
			} else {
				registry_key_clear(&it->key);
				it->deferred = true;
			}
		}
	}
}

/* Split the device lines of a batch, so workers only read the text. */
static void split_lines(struct add_context *c)
{
	for (size_t i = 0; i < c->nitems; i++) {
		struct add_item *it = &c->items[i];
		if (!it->refused_early && !it->block &&
		    !parse_device_line(it, &it->serial_claim, &it->fingerprint_claim, &it->cert_path))
			it->refused_early = true;
	}
}

/* Check a batch in every worker (this process included); returns when all are done. */
static void check_batch(struct add_context *c)
{
	pid_t pids[ADD_WORKERS_MAX];
	size_t started = 1;
	split_lines(c);
	fflush(stdout);
	for (; started < c->nworkers && started < c->nitems; started++) {
		c->arenas[started].used = 0;
		pids[started] = fork();
		if (pids[started] < 0)
			die(EXIT_SYSTEM, "starting a worker process: %s", strerror(errno));
		if (pids[started] == 0) {
			/* Its own connection: an SQLite connection must not be used across fork(). */
			struct registry *reader = registry_open(c->registry, false);
			check_share(c, reader, started, &c->arenas[started]);
			registry_close(reader);
			_exit(EXIT_OK);
		}
	}
	check_share(c, c->reader, 0, NULL);
	for (size_t i = 1; i < started; i++)
		wait_worker(pids[i]);
	for (size_t i = 0; i < c->nitems; i++)
		if (c->items[i].deferred)
			check_item(c, c->reader, &c->items[i]);
}

static void report_item(const struct add_item *it, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report_item(const struct add_item *it, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char device[DEVICE_ID_MAX + 16] = "";
	if (it->device[0])
		snprintf(device, sizeof device, "device %s: ", it->device);
	progress_break(&add_progress);
	if (it->block)
		warning("stdin: certificate %lu (line %llu): %s%s", it->block, it->line, device, msg);
	else
		warning("stdin: line %llu: %s%s", it->line, device, msg);
}

/* Store a checked batch in one transaction, in input order. */
static void store_batch(struct registry *r, struct add_context *c, const struct settings *s, struct add_counts *n)
{
	registry_begin(r);
	for (size_t i = 0; i < c->nitems; i++) {
		struct add_item *it = &c->items[i];
		if (!it->ok) {
			report_item(it, "%s", it->why);
			n->rejected++;
			continue;
		}
		if (it->already) {
			n->already++;
		} else {
			unsigned retired = 0;
			char holder[DEVICE_ID_MAX + 1] = "";
			enum registry_add_result result =
				registry_add_key(r, &it->key, s->retire_old ? 1 : REGISTRY_ACTIVE_KEYS_MAX, &retired, holder);
			if (result == REGISTRY_ADDED) {
				n->added++;
				n->retired += retired;
			} else if (result == REGISTRY_ALREADY) {
				n->already++;
			} else {
				char why[200];
				report_item(it, "%s", registry_add_refusal(result, &it->key, holder, why, sizeof why));
				n->rejected++;
				continue;
			}
		}
		for (size_t a = 0; a < it->nattributes; a++)
			registry_set_attribute(r, it->device, it->attributes[a][0], it->attributes[a][1]);
	}
	registry_commit(r);
	add_done = n->added + n->already + n->rejected;
	progress_show(&add_progress, add_done, c->items[c->nitems - 1].line, false);
	for (size_t i = 0; i < c->nitems; i++) {
		if (!c->items[i].in_arena)
			registry_key_clear(&c->items[i].key);
		free(c->items[i].text);
	}
	c->nitems = 0;
}

static void process_batch(struct registry *r, struct add_context *c, const struct settings *s, struct add_counts *n)
{
	if (c->nitems == 0)
		return;
	check_batch(c);
	store_batch(r, c, s, n);
}

static struct add_item *new_item(struct add_context *c, unsigned long long line, unsigned long block, char *text)
{
	struct add_item *it = &c->items[c->nitems++];
	memset(it, 0, sizeof *it);
	it->line = line;
	it->block = block;
	it->text = text;
	return it;
}

/* Input refused as it is read still takes its place in the batch, so messages come in line order. */
static void refuse_item(struct add_context *c, unsigned long long line, unsigned long block, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void refuse_item(struct add_context *c, unsigned long long line, unsigned long block, const char *fmt, ...)
{
	struct add_item *it = new_item(c, line, block, NULL);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(it->why, sizeof it->why, fmt, ap);
	va_end(ap);
	it->refused_early = true;
}

/* A PEM block being collected from stdin. */
struct pem_block {
	char *text;
	size_t len, cap;
	unsigned long long first_line;
	bool certificate, too_long;
	char label[64];
};

static void pem_append(struct pem_block *b, const char *line, size_t len)
{
	if (b->too_long || b->len + len + 2 > PEM_BLOCK_MAX) {
		b->too_long = true;
		return;
	}
	if (b->len + len + 2 > b->cap) {
		b->cap = b->cap ? b->cap * 2 : 4096;
		while (b->cap < b->len + len + 2)
			b->cap *= 2;
		b->text = xrealloc(b->text, b->cap);
	}
	memcpy(b->text + b->len, line, len);
	b->len += len;
	b->text[b->len++] = '\n';
	b->text[b->len] = '\0';
}

/* Memory shared with forked workers; pages are only used once touched. */
static void *shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die(EXIT_SYSTEM, "allocating shared memory: %s", strerror(errno));
	return p;
}

static int cmd_add(struct settings *s)
{
	struct registry *r = registry_open(s->registry, true);
	registry_expect_bulk_writes(r);
	struct add_context c = {.registry = s->registry, .store = registry_trust_store(r)};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	c.nworkers = cpus < 1 ? 1 : cpus > ADD_WORKERS_MAX ? ADD_WORKERS_MAX : (size_t)cpus;
	c.reader = registry_open(s->registry, false);
	registry_expect_bulk_writes(c.reader);
	c.items = shared_alloc(ADD_BATCH * sizeof *c.items);
	for (size_t i = 1; i < c.nworkers; i++)
		c.arenas[i].base = shared_alloc(ADD_ARENA_SIZE);

	struct add_counts n = {0};
	struct pem_block pem = {0};
	bool in_pem = false;
	unsigned long blocks = 0;
	struct line_reader in;
	char *line;
	size_t len;
	line_reader_init(&in, STDIN_FILENO, "stdin", ADD_LINE_MAX);
	progress_start(&add_progress, NULL);
	stop_on_signals();
	for (;;) {
		/* Store what was read whenever input pauses, so a slow producer's devices appear promptly. */
		enum line_status st = line_read(&in, &line, &len, c.nitems ? 0 : -1);
		if (st == LINE_TIMEOUT) {
			process_batch(r, &c, s, &n);
			continue;
		}
		if (st == LINE_EOF || stop_requested())
			break;
		if (st == LINE_INTERRUPTED)
			continue;
		char label[64];
		if (st == LINE_TOO_LONG) {
			if (in_pem && pem.certificate)
				pem.too_long = true;
			else if (!in_pem)
				refuse_item(&c, in.lineno, 0, "longer than %d bytes", ADD_LINE_MAX);
		} else if (st == LINE_INCOMPLETE && !in_pem) {
			/* A PEM block has its own end line, which tells a cut block; a device line does not. */
			refuse_item(&c, in.lineno, 0, "%s", LINE_INCOMPLETE_WHY);
		} else if (in_pem) {
			if (pem_boundary(line, len, "END ", label)) {
				in_pem = false;
				pem_append(&pem, line, len);
				if (!pem.certificate)
					refuse_item(&c, pem.first_line, 0, "a PEM %s block, not a certificate", pem.label);
				else if (pem.too_long)
					refuse_item(&c, pem.first_line, blocks, "longer than %d bytes", PEM_BLOCK_MAX);
				else
					new_item(&c, pem.first_line, blocks, xstrdup(pem.text));
			} else if (pem.certificate) {
				pem_append(&pem, line, len);
			}
		} else if (pem_boundary(line, len, "BEGIN ", label)) {
			in_pem = true;
			pem.len = 0;
			pem.too_long = false;
			pem.first_line = in.lineno;
			pem.certificate = strcmp(label, "CERTIFICATE") == 0;
			escape_text(label, strlen(label), pem.label, sizeof pem.label); /* for messages */
			if (pem.certificate) {
				blocks++;
				pem_append(&pem, line, len);
			}
		} else if (len == 0 || line[0] == '#') {
			continue;
		} else if (memchr(line, '\0', len)) {
			refuse_item(&c, in.lineno, 0, "contains a NUL byte");
		} else {
			new_item(&c, in.lineno, 0, xstrdup(line));
		}
		if (c.nitems == ADD_BATCH)
			process_batch(r, &c, s, &n);
	}
	if (in_pem && pem.certificate)
		refuse_item(&c, pem.first_line, blocks, "no END line");
	else if (in_pem)
		refuse_item(&c, pem.first_line, 0, "a PEM %s block without an END line", pem.label);
	process_batch(r, &c, s, &n);
	progress_show(&add_progress, add_done, in.lineno, true);
	line_reader_free(&in);
	free(pem.text);
	munmap(c.items, ADD_BATCH * sizeof *c.items);
	for (size_t i = 1; i < c.nworkers; i++)
		munmap(c.arenas[i].base, ADD_ARENA_SIZE);
	registry_close(c.reader);
	X509_STORE_free(c.store);
	registry_close(r);
	warning("%llu added, %llu already registered, %llu rejected, %llu keys retired", n.added, n.already, n.rejected,
	      n.retired);
	return n.rejected ? EXIT_REJECTED : EXIT_OK;
}

/* ---- list and show ---- */

struct listing {
	struct registry *r;
	enum format format;
	size_t count;     /* records written so far */
	bool attributes;  /* text: attributes follow on the line */
};

static int out_attribute_text(const char *name, const char *value, void *arg)
{
	size_t *n = arg;
	out(*n ? " %s=%s" : "%s=%s", name, value);
	++*n;
	return output_closed;
}

static int out_attribute_json(const char *name, const char *value, void *arg)
{
	size_t *n = arg;
	out(*n ? ", " : "");
	out_json_string(name);
	out(": ");
	out_json_string(value);
	++*n;
	return output_closed;
}

/* A growing string. */
struct text {
	char *text;
	size_t len, cap;
};

static int append_attribute(const char *name, const char *value, void *arg)
{
	struct text *t = arg;
	size_t need = t->len + strlen(name) + strlen(value) + 3;
	if (need > t->cap) {
		t->cap = need * 2;
		t->text = xrealloc(t->text, t->cap);
	}
	t->len += (size_t)sprintf(t->text + t->len, t->len ? " %s=%s" : "%s=%s", name, value);
	return 0;
}

static int ignore_device(const struct registry_device *d, void *arg)
{
	(void)d;
	(void)arg;
	return 1;
}

static bool device_known(struct registry *r, const char *device)
{
	return registry_find_device(r, device, ignore_device, NULL);
}

static void out_device_json(struct listing *l, const struct registry_device *d)
{
	size_t n = 0;
	out("{\"device\": ");
	out_json_string(d->id);
	out(", \"state\": ");
	out_json_string(d->state);
	out(", \"active_keys\": %u, \"key_count\": %u, \"last_seq\": %llu, \"added_at\": ", d->active_keys, d->keys,
	    (unsigned long long)d->last_seq);
	out_json_time(d->added_at);
	out(", \"revoked_at\": ");
	out_json_time(d->revoked_at);
	out(", \"revocation_reason\": ");
	out_json_string(d->revocation_reason);
	out(", \"attributes\": {");
	registry_each_attribute(l->r, d->id, out_attribute_json, &n);
	out("}");
}

static int list_device(const struct registry_device *d, void *arg)
{
	struct listing *l = arg;
	char added[21], revoked[21];
	size_t n = 0;
	switch (l->format) {
	case FORMAT_TEXT:
		out("%s %s %u %llu", d->id, d->state, d->active_keys, (unsigned long long)d->last_seq);
		n = 1;
		registry_each_attribute(l->r, d->id, out_attribute_text, &n);
		out("\n");
		break;
	case FORMAT_CSV: {
		char counts[64];
		if (l->count == 0)
			out("device,state,active_keys,key_count,last_seq,added_at,revoked_at,revocation_reason,attributes\n");
		out_csv_field(d->id, false);
		out_csv_field(d->state, false);
		snprintf(counts, sizeof counts, "%u,%u,%llu", d->active_keys, d->keys, (unsigned long long)d->last_seq);
		out("%s,", counts);
		out_csv_field(time_text(d->added_at, added), false);
		out_csv_field(time_text(d->revoked_at, revoked), false);
		out_csv_field(d->revocation_reason, false);
		/* All attributes in one field, as name=value pairs separated by spaces. */
		struct text attributes = {0};
		registry_each_attribute(l->r, d->id, append_attribute, &attributes);
		out_csv_field(attributes.text, true);
		free(attributes.text);
		break;
	}
	case FORMAT_JSON:
		out(l->count ? ",\n  " : "[\n  ");
		out_device_json(l, d);
		out("}");
		break;
	}
	l->count++;
	return output_closed;
}

static int cmd_list(struct settings *s)
{
	struct registry *r = registry_open(s->registry, false);
	struct listing l = {.r = r, .format = s->format};
	registry_each_device(r, list_device, &l);
	if (s->format == FORMAT_JSON)
		out(l.count ? "\n]\n" : "[]\n");
	else if (s->format == FORMAT_CSV && l.count == 0)
		out("device,state,active_keys,key_count,last_seq,added_at,revoked_at,revocation_reason,attributes\n");
	registry_close(r);
	return finish_output();
}

static int show_key_text(const struct registry_key_info *k, void *arg)
{
	(void)arg;
	char nb[21], na[21];
	time_format(k->not_before, nb);
	time_format(k->not_after, na);
	out("key %s %s %s %s %s %s\n", k->serial, k->state, k->type, nb, na, k->fingerprint);
	return output_closed;
}

static int show_key_csv(const struct registry_key_info *k, void *arg)
{
	(void)arg;
	char nb[21], na[21], added[21], retired[21], revoked[21];
	out_csv_field(k->device, false);
	out_csv_field(k->serial, false);
	out_csv_field(k->state, false);
	out_csv_field(k->type, false);
	out_csv_field(time_text(k->not_before, nb), false);
	out_csv_field(time_text(k->not_after, na), false);
	out_csv_field(k->fingerprint, false);
	out_csv_field(time_text(k->added_at, added), false);
	out_csv_field(time_text(k->retired_at, retired), false);
	out_csv_field(time_text(k->revoked_at, revoked), false);
	out_csv_field(k->revocation_reason, true);
	return output_closed;
}

static int show_key_json(const struct registry_key_info *k, void *arg)
{
	size_t *n = arg;
	out(*n ? ",\n    {\"serial\": " : "\n    {\"serial\": ");
	out_json_string(k->serial);
	out(", \"state\": ");
	out_json_string(k->state);
	out(", \"type\": ");
	out_json_string(k->type);
	out(", \"fingerprint\": ");
	out_json_string(k->fingerprint);
	out(", \"not_before\": ");
	out_json_time(k->not_before);
	out(", \"not_after\": ");
	out_json_time(k->not_after);
	out(", \"added_at\": ");
	out_json_time(k->added_at);
	out(", \"retired_at\": ");
	out_json_time(k->retired_at);
	out(", \"revoked_at\": ");
	out_json_time(k->revoked_at);
	out(", \"revocation_reason\": ");
	out_json_string(k->revocation_reason);
	out("}");
	++*n;
	return output_closed;
}

static int show_attribute_text(const char *name, const char *value, void *arg)
{
	(void)arg;
	out("attribute %s=%s\n", name, value);
	return output_closed;
}

static int show_device(const struct registry_device *d, void *arg)
{
	struct listing *l = arg;
	char t[21];
	size_t n = 0;
	switch (l->format) {
	case FORMAT_TEXT:
		out("device %s\nstate %s\nadded_at %s\n", d->id, d->state, time_text(d->added_at, t));
		if (d->revoked_at)
			out("revoked_at %s\nrevocation_reason %s\n", time_text(d->revoked_at, t),
			    d->revocation_reason ? d->revocation_reason : "unspecified");
		out("last_seq %llu\n", (unsigned long long)d->last_seq);
		registry_each_attribute(l->r, d->id, show_attribute_text, NULL);
		registry_each_key(l->r, d->id, show_key_text, NULL);
		break;
	case FORMAT_CSV:
		out("device,serial,state,type,not_before,not_after,fingerprint,added_at,retired_at,revoked_at,"
		    "revocation_reason\n");
		registry_each_key(l->r, d->id, show_key_csv, NULL);
		break;
	case FORMAT_JSON:
		out_device_json(l, d);
		out(", \"keys\": [");
		registry_each_key(l->r, d->id, show_key_json, &n);
		out(n ? "\n  ]}\n" : "]}\n");
		break;
	}
	return 1;
}

static int cmd_show(struct settings *s, const char *device)
{
	struct registry *r = registry_open(s->registry, false);
	struct listing l = {.r = r, .format = s->format};
	bool found = registry_find_device(r, device, show_device, &l);
	registry_close(r);
	if (!found) {
		warning("device %s: not registered", device);
		return EXIT_REJECTED;
	}
	return finish_output();
}

static int out_certificate(const struct registry_key_info *k, void *arg)
{
	size_t *n = arg;
	if (strcmp(k->state, "active") != 0)
		return 1; /* active keys come first */
	out("%s", k->certificate);
	++*n;
	return output_closed;
}

static int cmd_cert(struct settings *s, const char *device)
{
	struct registry *r = registry_open(s->registry, false);
	size_t n = 0;
	registry_each_key(r, device, out_certificate, &n);
	bool known = n > 0 || device_known(r, device);
	registry_close(r);
	if (n == 0) {
		warning("device %s: %s", device, known ? "no active certificate" : "not registered");
		return EXIT_REJECTED;
	}
	return finish_output();
}

/* ---- attributes ---- */

static int cmd_set(struct settings *s, const char *device, char **pairs, int npairs)
{
	for (int i = 0; i < npairs; i++) {
		char *value;
		const char *why;
		char copy[ATTRIBUTE_NAME_MAX + ATTRIBUTE_VALUE_MAX + 2], shown[84];
		snprintf(copy, sizeof copy, "%s", pairs[i]);
		if (strlen(pairs[i]) >= sizeof copy || !attribute_parse(copy, &value, &why))
			die(EXIT_USAGE, "%s: %s", escape_text(pairs[i], strlen(pairs[i]), shown, sizeof shown),
			    strlen(pairs[i]) >= sizeof copy ? "attribute too long" : why);
	}
	struct registry *r = registry_open(s->registry, true);
	registry_begin(r);
	bool found = true;
	for (int i = 0; i < npairs && found; i++) {
		char *value;
		const char *why;
		attribute_parse(pairs[i], &value, &why);
		found = registry_set_attribute(r, device, pairs[i], value);
	}
	registry_commit(r);
	registry_close(r);
	if (!found) {
		warning("device %s: not registered", device);
		return EXIT_REJECTED;
	}
	return EXIT_OK;
}

static int cmd_get(struct settings *s, const char *device, const char *name)
{
	char shown[84];
	if (!attribute_name_valid(name, strlen(name)))
		die(EXIT_USAGE, "%s: attribute names are 1-64 of a-z 0-9 _, starting with a letter",
		    escape_text(name, strlen(name), shown, sizeof shown));
	struct registry *r = registry_open(s->registry, false);
	char value[ATTRIBUTE_VALUE_MAX + 1];
	bool found = registry_get_attribute(r, device, name, value);
	bool known = found || device_known(r, device);
	registry_close(r);
	if (!found) {
		warning("device %s: %s", device, known ? "no such attribute" : "not registered");
		return EXIT_REJECTED;
	}
	out("%s\n", value);
	return finish_output();
}

static int cmd_unset(struct settings *s, const char *device, char **names, int nnames)
{
	char shown[84];
	for (int i = 0; i < nnames; i++)
		if (!attribute_name_valid(names[i], strlen(names[i])))
			die(EXIT_USAGE, "%s: attribute names are 1-64 of a-z 0-9 _, starting with a letter",
			    escape_text(names[i], strlen(names[i]), shown, sizeof shown));
	struct registry *r = registry_open(s->registry, true);
	registry_begin(r);
	int rc = EXIT_OK;
	for (int i = 0; i < nnames; i++) {
		int v = registry_unset_attribute(r, device, names[i]);
		if (v < 0) {
			warning("device %s: not registered", device);
			rc = EXIT_REJECTED;
			break;
		}
		if (v == 0)
			warning("device %s: attribute %s was not set", device, names[i]);
	}
	registry_commit(r);
	registry_close(r);
	return rc;
}

/* ---- retire and revoke ---- */

static int change_result(enum registry_change c, const char *device, const char *serial, const char *nothing)
{
	switch (c) {
	case CHANGE_DONE:
		return EXIT_OK;
	case CHANGE_NOTHING_TO_DO:
		warning("device %s%s%s: %s", device, serial ? " key " : "", serial ? serial : "", nothing);
		return EXIT_OK;
	case CHANGE_NO_DEVICE:
		warning("device %s: not registered", device);
		return EXIT_REJECTED;
	case CHANGE_NO_KEY:
		warning("device %s: has no key with serial %s", device, serial);
		return EXIT_REJECTED;
	}
	return EXIT_SYSTEM;
}

static int cmd_retire(struct settings *s, const char *device, const char *serial_text)
{
	char serial[SERIAL_HEX_MAX + 1];
	serial_normalize(serial_text, serial);
	struct registry *r = registry_open(s->registry, true);
	registry_begin(r);
	enum registry_change c = registry_retire_key(r, device, serial);
	registry_commit(r);
	registry_close(r);
	return change_result(c, device, serial, "not active; nothing to retire");
}

static int cmd_revoke(struct settings *s, const char *device, const char *serial_text)
{
	char serial[SERIAL_HEX_MAX + 1];
	const char *reason = s->reason ? s->reason : "unspecified";
	if (serial_text)
		serial_normalize(serial_text, serial);
	struct registry *r = registry_open(s->registry, true);
	registry_begin(r);
	enum registry_change c;
	unsigned keys;
	if (serial_text)
		c = registry_revoke_key(r, device, serial, reason);
	else
		c = registry_revoke_device(r, device, reason, &keys);
	registry_commit(r);
	registry_close(r);
	return change_result(c, device, serial_text ? serial : NULL, "already revoked");
}

static int out_revoked(const struct registry_key_info *k, void *arg)
{
	(void)arg;
	char t[21];
	time_format(k->revoked_at, t);
	out("%s %s %s %s\n", k->serial, k->device, t, k->revocation_reason ? k->revocation_reason : "unspecified");
	return output_closed;
}

static int cmd_revoked(struct settings *s)
{
	struct registry *r = registry_open(s->registry, false);
	registry_each_revoked(r, out_revoked, NULL);
	registry_close(r);
	return finish_output();
}

/* ---- command line ---- */

struct command {
	const char *name;
	int min_args, max_args; /* operands after the command name; -1: any number */
	bool formats, reason, ca, retire_old;
};

static const struct command commands[] = {
	{.name = "init", .ca = true},
	{.name = "add", .retire_old = true},
	{.name = "list", .formats = true},
	{.name = "show", .min_args = 1, .max_args = 1, .formats = true},
	{.name = "cert", .min_args = 1, .max_args = 1},
	{.name = "set", .min_args = 2, .max_args = -1},
	{.name = "get", .min_args = 2, .max_args = 2},
	{.name = "unset", .min_args = 2, .max_args = -1},
	{.name = "retire", .min_args = 2, .max_args = 2},
	{.name = "revoke", .min_args = 1, .max_args = 2, .reason = true},
	{.name = "revoked"},
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void check_options(const struct command *cmd, const struct settings *s, int nargs)
{
	if (nargs < cmd->min_args || (cmd->max_args >= 0 && nargs > cmd->max_args)) {
		warning("%s: wrong number of arguments", cmd->name);
		usage();
	}
	if (s->format_given && !cmd->formats)
		die(EXIT_USAGE, "%s: --csv and --json are for list and show", cmd->name);
	if (s->reason && !cmd->reason)
		die(EXIT_USAGE, "%s: --reason is for revoke", cmd->name);
	if (s->ca && !cmd->ca)
		die(EXIT_USAGE, "%s: --ca is for init", cmd->name);
	if (!s->ca && cmd->ca)
		die(EXIT_USAGE, "init: give the CA certificate to trust (--ca CAFILE)");
	if (s->retire_old && !cmd->retire_old)
		die(EXIT_USAGE, "%s: --retire-old is for add", cmd->name);
}

static int run_command(const struct command *cmd, struct settings *s, char **args, int nargs)
{
	const char *name = cmd->name;
	if (nargs > 0 && strcmp(name, "init") != 0)
		check_device_id(args[0]);
	if (strcmp(name, "init") == 0)
		return cmd_init(s);
	if (strcmp(name, "add") == 0)
		return cmd_add(s);
	if (strcmp(name, "list") == 0)
		return cmd_list(s);
	if (strcmp(name, "show") == 0)
		return cmd_show(s, args[0]);
	if (strcmp(name, "cert") == 0)
		return cmd_cert(s, args[0]);
	if (strcmp(name, "set") == 0)
		return cmd_set(s, args[0], args + 1, nargs - 1);
	if (strcmp(name, "get") == 0)
		return cmd_get(s, args[0], args[1]);
	if (strcmp(name, "unset") == 0)
		return cmd_unset(s, args[0], args + 1, nargs - 1);
	if (strcmp(name, "retire") == 0)
		return cmd_retire(s, args[0], args[1]);
	if (strcmp(name, "revoke") == 0)
		return cmd_revoke(s, args[0], nargs > 1 ? args[1] : NULL);
	return cmd_revoked(s);
}

/* The configuration; the settings point into it until exit. */
static struct config *cfg;

static void free_config(void)
{
	config_free(cfg);
}

int main(int argc, char **argv)
{
	struct settings s = {0};
	const char *config_path = NULL;
	int c;

	error_init(argv);
	while ((c = getopt_long(argc, argv, "R:r:", long_options, NULL)) != -1) {
		switch (c) {
		case 'r':
			warning("-r is deprecated; use -R");
			/* fall through */
		case 'R':
			s.registry = optarg;
			break;
		case OPT_CA:
			s.ca = optarg;
			break;
		case OPT_RETIRE_OLD:
			s.retire_old = true;
			break;
		case OPT_CSV:
		case OPT_JSON:
			if (s.format_given && s.format != (c == OPT_CSV ? FORMAT_CSV : FORMAT_JSON))
				die(EXIT_USAGE, "give at most one of --csv and --json");
			s.format = c == OPT_CSV ? FORMAT_CSV : FORMAT_JSON;
			s.format_given = true;
			break;
		case OPT_REASON:
			if (!revocation_reason_valid(optarg))
				die(EXIT_USAGE, "--reason %s: not an RFC 5280 revocation reason (unspecified, "
						"keyCompromise, cACompromise, affiliationChanged, superseded, "
						"cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise)",
				    optarg);
			s.reason = optarg;
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
	if (optind == argc) {
		warning("no command given");
		usage();
	}
	const struct command *cmd = find_command(argv[optind]);
	if (!cmd) {
		warning("%s: unknown command", argv[optind]);
		usage();
	}
	/* -R wins over the file. */
	cfg = config_open(config_path);
	atexit(free_config);
	if (!s.registry)
		s.registry = config_string(cfg, "registry.db");
	if (!s.registry) {
		warning("no registry given (-R REGISTRY, or registry.db in the configuration)");
		usage();
	}
	int nargs = argc - optind - 1;
	check_options(cmd, &s, nargs);
	output_init();
	return run_command(cmd, &s, argv + optind + 1, nargs);
}
