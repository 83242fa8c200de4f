/* smqtt-issue: the operator's CA: root certificate, batch device certificates, broker certificates, CRLs. */
#define _GNU_SOURCE 1 /* syncfs */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "devmap.h"
#include "error.h"
#include "frame.h"
#include "keys.h"
#include "lineio.h"
#include "manifest.h"
#include "options.h"
#include "pki.h"
#include "x509.h"

static const char usage_text[] =
	"usage: smqtt-issue ca -d CADIR [-t p256|p384] [--cn NAME] [--days N] [-f]\n"
	"       smqtt-issue device -d CADIR -o OUTDIR [-t TYPE] [--days N]\n"
	"                   [--manifest FILE] [--reissue]\n"
	"       smqtt-issue server -d CADIR -o OUTDIR [--days N] [--dns NAME]...\n"
	"                   [--ip ADDRESS]... NAME\n"
	"       smqtt-issue crl -d CADIR [--days N]\n"
	"\n"
	"ca      create CADIR/ca.key (mode 0600) and the self-signed CADIR/ca.crt\n"
	"device  issue a client certificate per device: device ids on stdin, one per\n"
	"        line as \"ID [name=value]...\", or a YAML --manifest; a key is made\n"
	"        (OUTDIR/ID.key) unless csr=FILE or pubkey=FILE is given; the\n"
	"        certificate is OUTDIR/ID.crt; one line per device on stdout:\n"
	"        ID serial=HEX fingerprint=HEX cert=PATH [key=PATH] [name=value]...\n"
	"server  issue a broker certificate NAME with subjectAltName entries\n"
	"crl     write a CRL (PEM) to stdout revoking the serials on stdin, one per\n"
	"        line as \"SERIAL [DEVICE [TIME [REASON]]]\" or \"device=ID\"\n"
	"\n"
	"  -d, --ca-dir DIR     the CA directory\n"
	"  -o, --out DIR        where keys and certificates are written\n"
	"  -t, --type TYPE      key type: p256 (default), p384; ed25519 for devices\n"
	"      --cn NAME        the CA's common name (default \"smqtt root CA\")\n"
	"      --days N         validity: CA 3650, device 3650, server 825, CRL 30\n"
	"      --manifest FILE  read the devices from a YAML manifest\n"
	"      --reissue        issue again for devices that already have a certificate\n"
	"      --dns NAME       add a DNS subjectAltName (server)\n"
	"      --ip ADDRESS     add an IP subjectAltName (server)\n"
	"  -f, --force          replace an existing CA\n"
	"      --passfile FILE  the CA key's passphrase is the first line of FILE\n"
	"      --passenv VAR    the CA key's passphrase is the value of VAR\n"
	"      --passfd FD      the CA key's passphrase is the first line read from FD\n"
	"      --help           show this help\n"
	"      --version        show the version\n"
	"\n"
	"Exit status: 0 all issued, 1 some devices or serials rejected, 2 usage error,\n"
	"3 CA, key or input file unusable, 4 system error.\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

enum {
	OPT_CN = OPT_FIRST_PROGRAM_OPTION,
	OPT_DAYS,
	OPT_MANIFEST,
	OPT_REISSUE,
	OPT_DNS,
	OPT_IP,
};

static const struct option long_options[] = {
	{"ca-dir", required_argument, NULL, 'd'},
	{"out", required_argument, NULL, 'o'},
	{"type", required_argument, NULL, 't'},
	{"cn", required_argument, NULL, OPT_CN},
	{"days", required_argument, NULL, OPT_DAYS},
	{"manifest", required_argument, NULL, OPT_MANIFEST},
	{"reissue", no_argument, NULL, OPT_REISSUE},
	{"dns", required_argument, NULL, OPT_DNS},
	{"ip", required_argument, NULL, OPT_IP},
	{"force", no_argument, NULL, 'f'},
	PASSPHRASE_LONG_OPTIONS,
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

struct settings {
	const char *ca_dir, *out_dir, *cn, *manifest;
	enum key_type type;
	bool type_given, force, reissue;
	int days; /* 0: the mode's default */
	char san[4096];
	size_t san_len;
	struct passphrase_source pass;
};

static char *path_join(const char *dir, const char *name, const char *suffix)
{
	size_t n = strlen(dir) + strlen(name) + strlen(suffix) + 2;
	char *p = xmalloc(n);
	snprintf(p, n, "%s/%s%s", dir, name, suffix);
	return p;
}

static void make_dir(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		die(EXIT_SYSTEM, "directory %s: %s", dir, strerror(errno));
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		die(EXIT_SYSTEM, "directory %s: not a directory", dir);
}

/* Put every file written into dir on disk before reporting them as issued. */
static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) < 0 || fsync(fd) < 0)
		die(EXIT_SYSTEM, "directory %s: syncing: %s", dir, strerror(errno));
	close(fd);
}

/* Write a certificate atomically (temporary file renamed into place), mode 0644. */
static void write_cert(const char *path, X509 *cert)
{
	size_t n = strlen(path) + sizeof ".XXXXXX";
	char *tmp = xmalloc(n);
	snprintf(tmp, n, "%s.XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0)
		die(EXIT_SYSTEM, "certificate %s: %s", path, strerror(errno));
	BIO *bio = BIO_new_fd(fd, BIO_CLOSE);
	if (!bio || !PEM_write_bio_X509(bio, cert) || BIO_flush(bio) != 1 || fchmod(fd, 0644) < 0) {
		unlink(tmp);
		die_ssl(EXIT_SYSTEM, "certificate %s: writing", path);
	}
	BIO_free(bio);
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		die(EXIT_SYSTEM, "certificate %s: %s", path, strerror(errno));
	}
	free(tmp);
}

/* Hold the CA's index lock for the whole run, so two issuers never interleave. */
static FILE *open_index(const char *ca_dir)
{
	char *path = path_join(ca_dir, CA_INDEX_FILE, "");
	int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		die(EXIT_SYSTEM, "CA index %s: %s", path, strerror(errno));
	struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	if (fcntl(fd, F_SETLK, &lock) < 0)
		die(EXIT_SYSTEM, "CA index %s: in use by another smqtt-issue", path);
	FILE *f = fdopen(fd, "a+");
	if (!f)
		die(EXIT_SYSTEM, "CA index %s: %s", path, strerror(errno));
	free(path);
	return f;
}

static void index_append(FILE *index, X509 *cert, const char *subject)
{
	char serial[80];
	cert_serial_hex(cert, serial, sizeof serial);
	time_t not_after = 0;
	struct tm tm;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm))
		not_after = timegm(&tm);
	if (fprintf(index, "%s %s %lld\n", serial, subject, (long long)not_after) < 0)
		die(EXIT_SYSTEM, "CA index: %s", strerror(errno));
}

/* ---- ca ---- */

static int make_ca(struct settings *s)
{
	if (s->type == KEY_ED25519)
		die(EXIT_USAGE, "-t ed25519: a CA key must be p256 or p384 (broker TLS needs ECDSA)");
	make_dir(s->ca_dir);
	char *key_path = path_join(s->ca_dir, CA_KEY_FILE, ""), *cert_path = path_join(s->ca_dir, CA_CERT_FILE, "");
	if (!s->force && access(cert_path, F_OK) == 0)
		die(EXIT_CONFIG, "CA %s: %s already exists (use -f to replace the CA)", s->ca_dir, cert_path);
	char pass[PASSPHRASE_MAX];
	bool encrypt = passphrase_read(&s->pass, pass, sizeof pass);
	EVP_PKEY *key = key_generate(s->type);
	X509 *cert = ca_certificate_create(key, s->type, s->cn ? s->cn : "smqtt root CA", s->days ? s->days : 3650);
	key_write_private(key_path, key, encrypt ? pass : NULL, s->force, true);
	OPENSSL_cleanse(pass, sizeof pass);
	write_cert(cert_path, cert);
	FILE *index = open_index(s->ca_dir);
	index_append(index, cert, "ca");
	fclose(index);
	if (!PEM_write_X509(stdout, cert) || fflush(stdout) == EOF)
		die(EXIT_SYSTEM, "writing stdout: %s", strerror(errno));
	X509_free(cert);
	EVP_PKEY_free(key);
	free(key_path);
	free(cert_path);
	return EXIT_OK;
}

/* ---- device ---- */

struct batch {
	struct settings *s;
	struct ca ca;
	FILE *index;
	EVP_PKEY_CTX *keygen; /* reused for every generated device key */
	struct devmap *seen;  /* id -> line it first appeared on */
	const char *source;   /* "stdin" or the manifest path, for messages */
	unsigned long long issued, existing, rejected;
	long long progress_at_ms, started_ms;
	bool progress;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void show_progress(struct batch *b, bool final)
{
	if (!b->progress)
		return;
	long long now = now_ms();
	if (!final && now - b->progress_at_ms < 200)
		return;
	b->progress_at_ms = now;
	double secs = (double)(now - b->started_ms) / 1000.0;
	unsigned long long done = b->issued + b->existing + b->rejected;
	fprintf(stderr, "\r%s: %llu devices, %.0f/s%s", error_progname(), done, secs > 0 ? (double)done / secs : 0.0,
		final ? "\n" : "");
}

static void reject_device(struct batch *b, unsigned long line, const char *id, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void reject_device(struct batch *b, unsigned long line, const char *id, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (b->progress)
		fputc('\n', stderr);
	warnx("%s: line %lu: device %s: %s", b->source, line, id, msg);
	b->rejected++;
}

/* The public key a CSR or public-key file supplies, or NULL with *why set. */
static EVP_PKEY *supplied_key(const char *csr_path, const char *pub_path, const char *id, char *why, size_t len)
{
	const char *path = csr_path ? csr_path : pub_path;
	BIO *bio = BIO_new_file(path, "r");
	if (!bio) {
		snprintf(why, len, "%s %s: %s", csr_path ? "CSR" : "public key", path, strerror(errno));
		ERR_clear_error();
		return NULL;
	}
	EVP_PKEY *pkey = NULL;
	if (csr_path) {
		X509_REQ *req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
		char cn[DEVICE_ID_MAX + 2] = "";
		if (!req) {
			snprintf(why, len, "CSR %s: not a PEM certificate request", path);
		} else if (!(pkey = X509_REQ_get_pubkey(req)) || X509_REQ_verify(req, pkey) != 1) {
			snprintf(why, len, "CSR %s: its signature does not verify", path);
			EVP_PKEY_free(pkey);
			pkey = NULL;
		} else {
			X509_NAME *name = X509_REQ_get_subject_name(req);
			int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
			if (i >= 0) {
				ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
				snprintf(cn, sizeof cn, "%.*s", ASN1_STRING_length(data), ASN1_STRING_get0_data(data));
				if (strcmp(cn, id) != 0) {
					snprintf(why, len, "CSR %s: subject CN \"%s\" is not the device id", path, cn);
					EVP_PKEY_free(pkey);
					pkey = NULL;
				}
			}
		}
		X509_REQ_free(req);
	} else {
		pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		if (!pkey)
			snprintf(why, len, "public key %s: not a PEM public key", path);
	}
	BIO_free(bio);
	ERR_clear_error();
	enum key_type type;
	if (pkey && !key_type_of(pkey, &type)) {
		snprintf(why, len, "%s: unsupported key type (use p256, p384 or ed25519)", path);
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	return pkey;
}

static EVP_PKEY *generate_device_key(struct batch *b)
{
	EVP_PKEY *pkey = NULL;
	if (EVP_PKEY_keygen(b->keygen, &pkey) <= 0)
		die_ssl(EXIT_SYSTEM, "generating a device key");
	return pkey;
}

static void print_device(struct batch *b, const char *id, X509 *cert, const char *cert_path, const char *key_path,
			 const char *attributes)
{
	char serial[80], fingerprint[2 * EVP_MAX_MD_SIZE + 1];
	cert_serial_hex(cert, serial, sizeof serial);
	cert_fingerprint_hex(cert, fingerprint, sizeof fingerprint);
	if (printf("%s serial=%s fingerprint=%s cert=%s", id, serial, fingerprint, cert_path) < 0 ||
	    (key_path && printf(" key=%s", key_path) < 0) ||
	    (attributes && *attributes && printf(" %s", attributes) < 0) || putchar('\n') == EOF)
		die(EXIT_SYSTEM, "writing stdout: %s", strerror(errno));
	(void)b;
}

static void issue_device(struct batch *b, unsigned long line, const char *id, const char *csr, const char *pubkey,
			 const char *attributes)
{
	size_t id_len = strlen(id);
	if (!device_id_valid(id, id_len)) {
		reject_device(b, line, id, "invalid device id (1-64 of A-Z a-z 0-9 . _ -)");
		return;
	}
	unsigned long *first = devmap_get(b->seen, id, id_len);
	if (first) {
		reject_device(b, line, id, "duplicate of line %lu", *first);
		return;
	}
	first = xmalloc(sizeof *first);
	*first = line;
	devmap_put(b->seen, id, id_len, first);

	char *cert_path = path_join(b->s->out_dir, id, ".crt"), *key_path = path_join(b->s->out_dir, id, ".key");
	bool own_key = !csr && !pubkey;
	if (!b->s->reissue && access(cert_path, F_OK) == 0) {
		/* Already issued: describe it again so the output always covers the whole batch. */
		BIO *bio = BIO_new_file(cert_path, "r");
		X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
		ERR_clear_error();
		if (!cert) {
			reject_device(b, line, id, "%s exists but is not a readable certificate (use --reissue)", cert_path);
		} else {
			print_device(b, id, cert, cert_path, access(key_path, F_OK) == 0 ? key_path : NULL, attributes);
			b->existing++;
			X509_free(cert);
		}
		free(cert_path);
		free(key_path);
		return;
	}

	char why[512];
	EVP_PKEY *pkey;
	if (!own_key) {
		pkey = supplied_key(csr, pubkey, id, why, sizeof why);
		if (!pkey) {
			reject_device(b, line, id, "%s", why);
			free(cert_path);
			free(key_path);
			return;
		}
	} else if (!b->s->reissue && access(key_path, F_OK) == 0) {
		/* A key left by an interrupted run: certify it rather than fail or replace it. */
		struct passphrase_source none = PASSPHRASE_SOURCE_NONE;
		pkey = key_load_private(key_path, &none);
	} else {
		pkey = generate_device_key(b);
		key_write_private(key_path, pkey, NULL, b->s->reissue, false);
	}
	X509 *cert = ca_issue(&b->ca, pkey, id, PROFILE_DEVICE, NULL, b->s->days ? b->s->days : 3650);
	write_cert(cert_path, cert);
	index_append(b->index, cert, id);
	print_device(b, id, cert, cert_path, own_key ? key_path : NULL, attributes);
	b->issued++;
	X509_free(cert);
	EVP_PKEY_free(pkey);
	free(cert_path);
	free(key_path);
	show_progress(b, false);
}

static void issue_manifest_device(const struct manifest_device *d, void *arg)
{
	issue_device(arg, d->line, d->id, d->csr, d->pubkey, d->attributes);
}

/* "ID [name=value]..." with csr= and pubkey= taken out of the attributes. */
static void issue_line(struct batch *b, unsigned long line, char *text)
{
	char *save, *id = strtok_r(text, " \t", &save);
	if (!id || *id == '#')
		return;
	char attributes[MANIFEST_ATTRIBUTES_MAX] = "";
	size_t used = 0;
	const char *csr = NULL, *pubkey = NULL;
	for (char *tok; (tok = strtok_r(NULL, " \t", &save));) {
		char *eq = strchr(tok, '=');
		if (!eq || !attribute_name_valid(tok, (size_t)(eq - tok)) || !attribute_value_valid(eq + 1, strlen(eq + 1))) {
			reject_device(b, line, id, "attribute \"%s\": expected name=value (name: a-z 0-9 _)", tok);
			return;
		}
		if (strncmp(tok, "csr=", 4) == 0) {
			csr = eq + 1;
		} else if (strncmp(tok, "pubkey=", 7) == 0) {
			pubkey = eq + 1;
		} else {
			int n = snprintf(attributes + used, sizeof attributes - used, "%s%s", used ? " " : "", tok);
			if (n < 0 || (size_t)n >= sizeof attributes - used) {
				reject_device(b, line, id, "attributes longer than %d bytes", MANIFEST_ATTRIBUTES_MAX);
				return;
			}
			used += (size_t)n;
		}
	}
	if (csr && pubkey) {
		reject_device(b, line, id, "give csr= or pubkey=, not both");
		return;
	}
	issue_device(b, line, id, csr, pubkey, attributes);
}

static int issue_devices(struct settings *s)
{
	struct batch b = {.s = s, .source = s->manifest ? s->manifest : "stdin"};
	if (s->type == KEY_P384 || s->type == KEY_P256) {
		b.keygen = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (!b.keygen || EVP_PKEY_keygen_init(b.keygen) <= 0 ||
		    EVP_PKEY_CTX_set_group_name(b.keygen, s->type == KEY_P384 ? "P-384" : "P-256") <= 0)
			die_ssl(EXIT_SYSTEM, "setting up key generation");
	} else {
		b.keygen = EVP_PKEY_CTX_new_from_name(NULL, "ED25519", NULL);
		if (!b.keygen || EVP_PKEY_keygen_init(b.keygen) <= 0)
			die_ssl(EXIT_SYSTEM, "setting up key generation");
	}
	ca_load(&b.ca, s->ca_dir, &s->pass);
	make_dir(s->out_dir);
	b.index = open_index(s->ca_dir);
	b.seen = devmap_new();
	b.progress = isatty(STDERR_FILENO);
	b.started_ms = now_ms();

	if (s->manifest) {
		manifest_read(s->manifest, issue_manifest_device, &b);
	} else {
		struct line_reader in;
		char *text;
		size_t len;
		line_reader_init(&in, STDIN_FILENO, "stdin", 8192);
		for (enum line_status st; (st = line_read(&in, &text, &len, -1)) != LINE_EOF;) {
			if (st == LINE_TOO_LONG) {
				warnx("stdin: line %llu: longer than 8192 bytes; skipped", in.lineno);
				b.rejected++;
			} else if (st == LINE_OK) {
				issue_line(&b, (unsigned long)in.lineno, text);
			}
		}
		line_reader_free(&in);
	}
	show_progress(&b, true);
	sync_dir(s->out_dir);
	if (fflush(stdout) == EOF)
		die(EXIT_SYSTEM, "writing stdout: %s", strerror(errno));
	if (fclose(b.index) == EOF)
		die(EXIT_SYSTEM, "CA index: %s", strerror(errno));
	warnx("%llu issued, %llu already issued, %llu rejected", b.issued, b.existing, b.rejected);
	devmap_free(b.seen, free);
	EVP_PKEY_CTX_free(b.keygen);
	ca_free(&b.ca);
	return b.rejected ? EXIT_REJECTED : EXIT_OK;
}

/* ---- server ---- */

static int issue_server(struct settings *s, const char *name)
{
	if (!device_id_valid(name, strlen(name)))
		die(EXIT_USAGE, "%s: invalid server name (1-64 of A-Z a-z 0-9 . _ -)", name);
	if (s->type == KEY_ED25519)
		die(EXIT_USAGE, "-t ed25519: broker certificates use p256 or p384");
	struct ca ca;
	ca_load(&ca, s->ca_dir, &s->pass);
	make_dir(s->out_dir);
	FILE *index = open_index(s->ca_dir);
	char *cert_path = path_join(s->out_dir, name, ".crt"), *key_path = path_join(s->out_dir, name, ".key");
	EVP_PKEY *pkey = key_generate(s->type);
	X509 *cert = ca_issue(&ca, pkey, name, PROFILE_SERVER, s->san, s->days ? s->days : 825);
	key_write_private(key_path, pkey, NULL, s->force || s->reissue, true);
	write_cert(cert_path, cert);
	index_append(index, cert, name);
	fclose(index);
	print_device(NULL, name, cert, cert_path, key_path, NULL);
	if (fflush(stdout) == EOF)
		die(EXIT_SYSTEM, "writing stdout: %s", strerror(errno));
	X509_free(cert);
	EVP_PKEY_free(pkey);
	ca_free(&ca);
	free(cert_path);
	free(key_path);
	return EXIT_OK;
}

static void add_san(struct settings *s, const char *kind, const char *value)
{
	for (const char *p = value; *p; p++)
		if (*p == ',' || *p == ' ' || (unsigned char)*p < ' ')
			die(EXIT_USAGE, "--%s %s: invalid name", kind, value);
	int n = snprintf(s->san + s->san_len, sizeof s->san - s->san_len, "%s%s:%s", s->san_len ? "," : "",
			 strcmp(kind, "dns") == 0 ? "DNS" : "IP", value);
	if (n < 0 || (size_t)n >= sizeof s->san - s->san_len)
		die(EXIT_USAGE, "too many subjectAltName entries");
	s->san_len += (size_t)n;
}

/* ---- crl ---- */

/* Revocation time: epoch seconds or ISO 8601 UTC (2026-11-22T10:00:00Z). */
static bool parse_time(const char *text, time_t *t)
{
	char *end;
	if (*text >= '0' && *text <= '9' && !strchr(text, '-')) {
		errno = 0;
		long long v = strtoll(text, &end, 10);
		if (errno || *end || v < 0)
			return false;
		*t = (time_t)v;
		return true;
	}
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return false;
	*t = timegm(&tm);
	return true;
}

static bool serial_hex_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 40)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void crl_add(X509_CRL *crl, const char *serial_hex, time_t when, int reason)
{
	BIGNUM *bn = NULL;
	X509_REVOKED *rev = X509_REVOKED_new();
	ASN1_INTEGER *serial = NULL;
	ASN1_TIME *t = ASN1_TIME_set(NULL, when);
	if (!rev || !t || !BN_hex2bn(&bn, serial_hex) || !(serial = BN_to_ASN1_INTEGER(bn, NULL)) ||
	    !X509_REVOKED_set_serialNumber(rev, serial) || !X509_REVOKED_set_revocationDate(rev, t))
		die_ssl(EXIT_SYSTEM, "building CRL entry %s", serial_hex);
	if (reason > 0) {
		ASN1_ENUMERATED *code = ASN1_ENUMERATED_new();
		if (!code || !ASN1_ENUMERATED_set(code, reason) ||
		    !X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, code, 0, 0))
			die_ssl(EXIT_SYSTEM, "building CRL entry %s", serial_hex);
		ASN1_ENUMERATED_free(code);
	}
	if (!X509_CRL_add0_revoked(crl, rev))
		die_ssl(EXIT_SYSTEM, "building CRL");
	BN_free(bn);
	ASN1_INTEGER_free(serial);
	ASN1_TIME_free(t);
}

/* All serials issued to a device, from the CA index. */
static size_t add_device_serials(X509_CRL *crl, FILE *index, const char *device, time_t when, int reason)
{
	char line[256];
	size_t n = 0;
	rewind(index);
	while (fgets(line, sizeof line, index)) {
		char serial[80], subject[80];
		if (sscanf(line, "%79s %79s", serial, subject) == 2 && strcmp(subject, device) == 0 &&
		    serial_hex_valid(serial)) {
			crl_add(crl, serial, when, reason);
			n++;
		}
	}
	return n;
}

static unsigned long long next_crl_number(const char *ca_dir)
{
	char *path = path_join(ca_dir, CA_CRLNUMBER_FILE, "");
	unsigned long long n = 0;
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%llu", &n) != 1)
			die(EXIT_CONFIG, "CRL number file %s: damaged", path);
		fclose(f);
	}
	n++;
	f = fopen(path, "w");
	if (!f || fprintf(f, "%llu\n", n) < 0 || fclose(f) == EOF)
		die(EXIT_SYSTEM, "CRL number file %s: %s", path, strerror(errno));
	free(path);
	return n;
}

static int make_crl(struct settings *s)
{
	struct ca ca;
	ca_load(&ca, s->ca_dir, &s->pass);
	FILE *index = open_index(s->ca_dir);
	X509_CRL *crl = X509_CRL_new();
	time_t now = time(NULL);
	ASN1_TIME *last = ASN1_TIME_set(NULL, now), *next_update = ASN1_TIME_adj(NULL, now, s->days ? s->days : 30, 0);
	if (!crl || !last || !next_update || !X509_CRL_set_version(crl, 1) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca.cert)) || !X509_CRL_set1_lastUpdate(crl, last) ||
	    !X509_CRL_set1_nextUpdate(crl, next_update))
		die_ssl(EXIT_SYSTEM, "building CRL");

	unsigned long long rejected = 0, revoked = 0;
	struct line_reader in;
	char *text;
	size_t len;
	line_reader_init(&in, STDIN_FILENO, "stdin", 8192);
	for (enum line_status st; (st = line_read(&in, &text, &len, -1)) != LINE_EOF;) {
		if (st != LINE_OK) {
			warnx("stdin: line %llu: too long; skipped", in.lineno);
			rejected++;
			continue;
		}
		char *save, *first = strtok_r(text, " \t", &save);
		if (!first || *first == '#')
			continue;
		strtok_r(NULL, " \t", &save); /* the device id, for people reading the list */
		char *when_text = strtok_r(NULL, " \t", &save), *reason_text = strtok_r(NULL, " \t", &save);
		time_t when = now;
		int reason = CRL_REASON_UNSPECIFIED;
		if (when_text && !parse_time(when_text, &when)) {
			warnx("stdin: line %llu: %s: not a time (epoch seconds or YYYY-MM-DDTHH:MM:SSZ)", in.lineno,
			      when_text);
			rejected++;
			continue;
		}
		if (reason_text && (reason = crl_reason_code(reason_text)) < 0) {
			warnx("stdin: line %llu: %s: not an RFC 5280 revocation reason", in.lineno, reason_text);
			rejected++;
			continue;
		}
		if (strncmp(first, "device=", 7) == 0) {
			size_t n = add_device_serials(crl, index, first + 7, when, reason);
			if (n == 0) {
				warnx("stdin: line %llu: device %s: not in the CA index", in.lineno, first + 7);
				rejected++;
			}
			revoked += n;
		} else if (serial_hex_valid(first)) {
			crl_add(crl, first, when, reason);
			revoked++;
		} else {
			warnx("stdin: line %llu: %s: not a serial number (hex) or device=ID", in.lineno, first);
			rejected++;
		}
	}
	line_reader_free(&in);

	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, ca.cert, NULL, NULL, crl, 0);
	X509_EXTENSION *aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
	ASN1_INTEGER *number = ASN1_INTEGER_new();
	if (!aki || !X509_CRL_add_ext(crl, aki, -1) || !number ||
	    !ASN1_INTEGER_set_uint64(number, next_crl_number(s->ca_dir)) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, 0))
		die_ssl(EXIT_SYSTEM, "building CRL extensions");
	X509_CRL_sort(crl);
	if (!X509_CRL_sign(crl, ca.key, ca.md))
		die_ssl(EXIT_SYSTEM, "signing CRL");
	if (!PEM_write_X509_CRL(stdout, crl) || fflush(stdout) == EOF)
		die(EXIT_SYSTEM, "writing stdout: %s", strerror(errno));
	warnx("CRL with %llu revoked certificates, %llu lines rejected", revoked, rejected);
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(number);
	ASN1_TIME_free(last);
	ASN1_TIME_free(next_update);
	X509_CRL_free(crl);
	fclose(index);
	ca_free(&ca);
	return rejected ? EXIT_REJECTED : EXIT_OK;
}

int main(int argc, char **argv)
{
	struct settings s = {.type = KEY_P256, .pass = PASSPHRASE_SOURCE_NONE};
	int c;

	error_init(argv[0]);
	while ((c = getopt_long(argc, argv, "d:o:t:f", long_options, NULL)) != -1) {
		switch (c) {
		case 'd':
			s.ca_dir = optarg;
			break;
		case 'o':
			s.out_dir = optarg;
			break;
		case 't':
			if (!key_type_parse(optarg, &s.type))
				die(EXIT_USAGE, "-t %s: unknown key type (p256, p384 or ed25519)", optarg);
			break;
		case 'f':
			s.force = true;
			break;
		case OPT_CN:
			s.cn = optarg;
			break;
		case OPT_DAYS:
			s.days = (int)option_number("--days", optarg, 1, 36500);
			break;
		case OPT_MANIFEST:
			s.manifest = optarg;
			break;
		case OPT_REISSUE:
			s.reissue = true;
			break;
		case OPT_DNS:
			add_san(&s, "dns", optarg);
			break;
		case OPT_IP:
			add_san(&s, "ip", optarg);
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
	if (optind >= argc) {
		warnx("no command given (ca, device, server or crl)");
		usage();
	}
	const char *command = argv[optind++];
	if (!s.ca_dir) {
		warnx("no CA directory given (-d CADIR)");
		usage();
	}
	output_init();
	if (strcmp(command, "ca") == 0 && optind == argc)
		return make_ca(&s);
	if (strcmp(command, "device") == 0 && optind == argc) {
		if (!s.out_dir)
			die(EXIT_USAGE, "device: no output directory given (-o OUTDIR)");
		return issue_devices(&s);
	}
	if (strcmp(command, "server") == 0 && optind + 1 == argc) {
		if (!s.out_dir)
			die(EXIT_USAGE, "server: no output directory given (-o OUTDIR)");
		if (!s.san_len)
			die(EXIT_USAGE, "server: give at least one --dns NAME or --ip ADDRESS");
		return issue_server(&s, argv[optind]);
	}
	if (strcmp(command, "crl") == 0 && optind == argc)
		return make_crl(&s);
	if (strcmp(command, "ca") && strcmp(command, "device") && strcmp(command, "server") && strcmp(command, "crl"))
		warnx("unknown command: %s", command);
	else
		warnx("%s: wrong arguments", command);
	usage();
}
