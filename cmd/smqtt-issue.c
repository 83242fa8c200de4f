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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "batchkey.h"
#include "config.h"
#include "devmap.h"
#include "error.h"
#include "frame.h"
#include "keys.h"
#include "lineio.h"
#include "manifest.h"
#include "options.h"
#include "pki.h"
#include "progress.h"
#include "registry.h"
#include "x509.h"

static const char usage_text[] =
	"usage: smqtt-issue ca --ca-dir CADIR [--type p256|p384] [--cn NAME] [--days N] [-f]\n"
	"       smqtt-issue device --ca-dir CADIR -o OUTDIR [--type TYPE] [--days N]\n"
	"                   [--manifest FILE] [--reissue] [--jobs N] [-R REGISTRY]\n"
	"       smqtt-issue server --ca-dir CADIR -o OUTDIR [--days N] [--dns NAME]...\n"
	"                   [--ip ADDRESS]... NAME\n"
	"       smqtt-issue crl --ca-dir CADIR [--days N]\n"
	"\n"
	"ca      create CADIR/ca.key (mode 0600) and the self-signed CADIR/ca.crt\n"
	"device  issue a client certificate per device: device ids on stdin, one per\n"
	"        line as \"ID [name=value]...\", or a YAML --manifest; a key is made\n"
	"        (OUTDIR/ID.key) unless csr=FILE or pubkey=FILE is given; the\n"
	"        certificate is OUTDIR/ID.crt; one line per device on stdout:\n"
	"        ID serial=HEX fingerprint=HEX cert=PATH [key=PATH] [name=value]...\n"
	"        With -R, each certificate is also registered in REGISTRY at once\n"
	"        (what piping the lines into smqtt-register add would do).\n"
	"server  issue a broker certificate NAME with subjectAltName entries\n"
	"crl     write a CRL (PEM) to stdout revoking the serials on stdin, one per\n"
	"        line as \"SERIAL [DEVICE [TIME [REASON]]]\" or \"device=ID\"\n"
	"\n"
	"      --ca-dir DIR     the CA directory\n"
	"  -o, --out DIR        where keys and certificates are written\n"
	"      --type TYPE      key type: p256 (default), p384; ed25519 for devices\n"
	"      --cn NAME        the CA's common name (default \"smqtt root CA\")\n"
	"      --days N         validity: CA 3650, device 3650, server 825, CRL 30\n"
	"      --manifest FILE  read the devices from a YAML manifest\n"
	"      --reissue        issue again for devices that already have a certificate\n"
	"      --jobs N         worker processes for device issuance (default: the\n"
	"                       number of CPUs, at most 16)\n"
	"  -R, --registry FILE  device: register the devices in this registry, which\n"
	"                       must trust this CA (see smqtt-register init)\n"
	"      --dns NAME       add a DNS subjectAltName (server)\n"
	"      --ip ADDRESS     add an IP subjectAltName (server)\n"
	"  -f, --force          replace an existing CA\n"
	"      --passfile FILE  the CA key's passphrase is the first line of FILE\n"
	"      --passenv VAR    the CA key's passphrase is the value of VAR\n"
	"      --passfd FD      the CA key's passphrase is the first line read from FD\n"
	"      --config FILE    read settings (issue.ca_dir, issue.out, issue.passfile)\n"
	"                       from this YAML file\n"
	"      --help           show this help\n"
	"      --version        show the version\n"
	"\n"
	"Without --config, the file named by $SMQTT_CONFIG is read, else the first of\n"
	"$XDG_CONFIG_HOME/smqtt/config.yaml (~/.config/...) and /etc/smqtt/config.yaml\n"
	"that exists; options win over it.\n"
	"\n"
	"Exit status: 0 all issued, 1 some devices or serials rejected (or, with -R,\n"
	"not registered), 2 usage error, 3 CA, key, registry or input file unusable,\n"
	"4 system error.\n";

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
	OPT_JOBS,
	OPT_CONFIG,
	OPT_TYPE,
	OPT_CA_DIR,
};

static const struct option long_options[] = {
	{"ca-dir", required_argument, NULL, OPT_CA_DIR},
	{"out", required_argument, NULL, 'o'},
	{"type", required_argument, NULL, OPT_TYPE},
	{"cn", required_argument, NULL, OPT_CN},
	{"days", required_argument, NULL, OPT_DAYS},
	{"manifest", required_argument, NULL, OPT_MANIFEST},
	{"reissue", no_argument, NULL, OPT_REISSUE},
	{"dns", required_argument, NULL, OPT_DNS},
	{"ip", required_argument, NULL, OPT_IP},
	{"jobs", required_argument, NULL, OPT_JOBS},
	{"registry", required_argument, NULL, 'R'},
	{"force", no_argument, NULL, 'f'},
	{"config", required_argument, NULL, OPT_CONFIG},
	PASSPHRASE_LONG_OPTIONS,
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

struct settings {
	const char *ca_dir, *out_dir, *cn, *manifest, *registry;
	enum key_type type;
	bool type_given, force, reissue;
	int days; /* 0: the mode's default */
	int jobs; /* worker processes for device issuance */
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
	/* Keys go here, and files found here are taken as ours (a resumed batch): nobody else may write here. */
	secret_dir_check(dir, false);
}

/* Put every file written into dir on disk before reporting them as issued. */
static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) < 0 || fsync(fd) < 0)
		die(EXIT_SYSTEM, "directory %s: syncing: %s", dir, strerror(errno));
	close(fd);
}

/* Set at start: whether the umask would keep a new certificate file from being mode 0644. */
static bool umask_strips_cert_mode;

/*
 * Write a public file (a certificate, the CRL number), mode 0644, named in
 * messages as what. A new file is written in place (a crash leaves at worst a
 * damaged file that the next run reports), into fd when the caller created it
 * already (-1 otherwise); one that replaces an existing file goes through a
 * temporary file renamed over it, so the old one stays whole until the new
 * one is, and a symbolic link at path is replaced, never written through.
 */
static void write_public_file(const char *path, const char *what, int fd, const char *text, size_t len, bool replace)
{
	char *tmp = NULL;
	if (fd >= 0) {
		/* created by the caller */
	} else if (replace) {
		size_t n = strlen(path) + sizeof ".XXXXXX";
		tmp = xmalloc(n);
		snprintf(tmp, n, "%s.XXXXXX", path);
		fd = mkstemp(tmp);
	} else {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
	}
	if (fd < 0)
		die(EXIT_SYSTEM, "%s %s: %s", what, path, strerror(errno));
	/* The whole file in one write: a PEM writer on a descriptor writes a line at a time. */
	int saved = 0;
	if (!write_all(fd, text, len) || ((replace || umask_strips_cert_mode) && fchmod(fd, 0644) < 0))
		saved = errno;
	if (close(fd) < 0 && !saved)
		saved = errno;
	if (saved) {
		unlink(tmp ? tmp : path);
		die(EXIT_SYSTEM, "%s %s: writing: %s", what, path, strerror(saved));
	}
	if (tmp && rename(tmp, path) < 0) {
		unlink(tmp);
		die(EXIT_SYSTEM, "%s %s: %s", what, path, strerror(errno));
	}
	free(tmp);
}

static void write_cert_pem(const char *path, int fd, const char *pem, size_t len, bool replace)
{
	write_public_file(path, "certificate", fd, pem, len, replace);
}

static void write_cert(const char *path, int fd, X509 *cert, bool replace)
{
	size_t len;
	char *pem = x509_pem(cert, &len);
	write_cert_pem(path, fd, pem, len, replace);
	free(pem);
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

static void index_line(X509 *cert, const char *subject, char *out, size_t len)
{
	char serial[80];
	cert_serial_hex(cert, serial, sizeof serial);
	time_t not_after = 0;
	struct tm tm;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm))
		not_after = timegm(&tm);
	snprintf(out, len, "%s %s %lld\n", serial, subject, (long long)not_after);
}

static void index_append(FILE *index, X509 *cert, const char *subject)
{
	char line[192];
	index_line(cert, subject, line, sizeof line);
	if (fputs(line, index) == EOF)
		die(EXIT_SYSTEM, "CA index: %s", strerror(errno));
}

/* ---- ca ---- */

static int make_ca(struct settings *s)
{
	if (s->type == KEY_ED25519)
		die(EXIT_USAGE, "--type ed25519: a CA key must be p256 or p384 (broker TLS needs ECDSA)");
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
	write_cert(cert_path, -1, cert, s->force);
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

/*
 * Devices are issued in chunks: the main process reads and checks ids, worker
 * processes (it and --jobs - 1 forked once at the start) make keys,
 * certificates and files for a chunk in parallel, taking its devices one at a
 * time, and the main process reports the chunk in input order (stdout, index,
 * registry, errors) while the workers issue the next one, then joins them.
 * Chunks live in shared memory, so jobs and results need no copying; a byte
 * on a socket pair tells a worker which chunk to work on, and tells the main
 * process it is done. Processes rather than threads: in OpenSSL 3.0 every
 * key, digest and signature operation takes global read-write locks, and two
 * threads issued no faster than one. Forked once rather than per chunk: the
 * main process's memory is then not copied on write again after every fork.
 */
#define CHUNK_DEVICES 2048
#define JOBS_MAX 16
#define CERT_PEM_MAX 8192 /* with --registry: the largest existing certificate file registered */
#define JOB_PATH_MAX 4096 /* csr= and pubkey= paths */
#define CHUNK_STRINGS (256 * 1024) /* a chunk's csr= and pubkey= paths */

enum job_result { JOB_PENDING, JOB_ISSUED, JOB_EXISTING, JOB_REJECTED };

struct job {
	unsigned long line;
	char id[DEVICE_ID_MAX + 1];
	unsigned csr_at, pubkey_at; /* 1 + offset of the csr= and pubkey= paths in the chunk's strings; 0 if absent */
	char attributes[MANIFEST_ATTRIBUTES_MAX];
	enum job_result result;
	bool indexed; /* its CA index line is written (main process) */
	char message[600];  /* why it was rejected */
	char output[2048];  /* the stdout line */
	char index_line[192];
	/*
	 * With --registry, what the main process stores: for an issued device the
	 * key (its public_key and certificate point into spki and pem once read
	 * back by the main process); for an existing one the certificate to check.
	 */
	struct registry_key key;
	unsigned char spki[256];
	char pem[CERT_PEM_MAX];
};

/* Shared memory: the devices of one chunk and the next one a worker may take. */
struct chunk {
	size_t njobs;
	size_t next; /* taken with an atomic add */
	struct job jobs[CHUNK_DEVICES];
	size_t strings_used;
	char strings[CHUNK_STRINGS];
};

static const char *job_string(const struct chunk *c, unsigned at)
{
	return at ? c->strings + at - 1 : NULL;
}

struct batch {
	struct settings *s;
	struct ca ca;
	FILE *index;
	struct devmap *seen; /* id -> line it first appeared on */
	const char *source;  /* "stdin" or the manifest path, for messages */
	struct chunk *chunks[2]; /* one being filled and issued, the other issued and waiting to be reported */
	int current;
	int threads;
	pid_t pids[JOBS_MAX]; /* forked workers, from 1 */
	int socks[JOBS_MAX];  /* this process's end of each one's socket pair */
	int *stop;            /* shared: set when this process exits, so workers take no more devices */
	pid_t main_pid;
	unsigned long long issued, existing, rejected;
	struct registry *registry; /* --registry, open for writing */
	X509_STORE *trust;         /* the registry's CA, for existing certificates it does not know */
	unsigned long long registered, already_registered, retired;
	struct progress progress;
	unsigned long reported_line; /* input line of the last device reported */
};

struct worker {
	struct batch *b;
	bool forked; /* a forked worker, not the main process */
	EVP_PKEY_CTX *keygen;          /* Ed25519 keys */
	struct batch_keygen *ec_keygen; /* P-256 and P-384 keys */
};

static void show_progress(struct batch *b, bool final)
{
	progress_show(&b->progress, b->issued + b->existing + b->rejected, b->reported_line, final);
}

static void reject_job(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reject_job(struct job *j, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->message, sizeof j->message, fmt, ap);
	va_end(ap);
	j->result = JOB_REJECTED;
}

/* The public key a CSR or public-key file supplies, or NULL with *why set. */
static EVP_PKEY *supplied_key(const char *csr_path, const char *pub_path, const char *id, char *why, size_t len)
{
	const char *given = csr_path ? csr_path : pub_path;
	/* The path comes from the input: shown escaped in every message. */
	char path[ESCAPED_SIZE(256)];
	escape_text(given, strlen(given), path, sizeof path);
	BIO *bio = x509_open_pem(given);
	if (!bio) {
		snprintf(why, len, "%s %s: %s", csr_path ? "CSR" : "public key", path, strerror(errno));
		return NULL;
	}
	EVP_PKEY *pkey = NULL;
	if (csr_path) {
		X509_REQ *req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
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
				if (ASN1_STRING_length(data) != (int)strlen(id) ||
				    memcmp(ASN1_STRING_get0_data(data), id, strlen(id)) != 0) {
					snprintf(why, len, "CSR %s: subject CN is not the device id", path);
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

static void describe_as(struct job *j, const char *serial, const char *fingerprint, const char *cert_path,
			const char *key_path)
{
	snprintf(j->output, sizeof j->output, "%s serial=%s fingerprint=%s cert=%s%s%s%s%s", j->id, serial, fingerprint,
		 cert_path, key_path ? " key=" : "", key_path ? key_path : "", j->attributes[0] ? " " : "",
		 j->attributes);
}

static void describe(struct job *j, X509 *cert, const char *cert_path, const char *key_path)
{
	char serial[80], fingerprint[2 * EVP_MAX_MD_SIZE + 1];
	cert_serial_hex(cert, serial, sizeof serial);
	cert_fingerprint_hex(cert, fingerprint, sizeof fingerprint);
	describe_as(j, serial, fingerprint, cert_path, key_path);
}

/* With --registry: the issued certificate's key, copied into the shared job for the main process to store. */
static void keep_issued(struct job *j, X509 *cert, enum key_type type)
{
	char why[160];
	struct registry_key k;
	if (!registry_key_of(cert, type, &k, why, sizeof why))
		die(EXIT_SYSTEM, "device %s: %s", j->id, why); /* the CN is a checked device id */
	size_t pem_len = strlen(k.certificate);
	if (k.public_key_len > sizeof j->spki || pem_len >= sizeof j->pem)
		die(EXIT_SYSTEM, "device %s: the certificate is too large to register", j->id);
	j->key = k;
	j->key.public_key = NULL;
	j->key.certificate = NULL;
	memcpy(j->spki, k.public_key, k.public_key_len);
	memcpy(j->pem, k.certificate, pem_len + 1);
	registry_key_clear(&k);
}

/*
 * With --registry: an existing certificate (its fingerprint is in
 * j->key.fingerprint already), for the main process to look up and, if new
 * to the registry, check.
 */
static void keep_existing(struct job *j, X509 *cert, const char *cert_path)
{
	size_t len;
	char *pem = x509_pem(cert, &len);
	if (len >= sizeof j->pem)
		reject_job(j, "%s: too large to register (over %zu bytes)", cert_path, sizeof j->pem - 1);
	else
		memcpy(j->pem, pem, len + 1);
	free(pem);
}

/* Already issued: describe the certificate again so the output always covers the whole batch. */
static void describe_existing(struct batch *b, struct job *j, const char *cert_path, const char *key_path)
{
	BIO *bio = BIO_new_file(cert_path, "r");
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	ERR_clear_error();
	if (!cert) {
		reject_job(j, "%s exists but is not a readable certificate (use --reissue)", cert_path);
		return;
	}
	char serial[80];
	cert_serial_hex(cert, serial, sizeof serial);
	cert_fingerprint_hex(cert, j->key.fingerprint, sizeof j->key.fingerprint);
	describe_as(j, serial, j->key.fingerprint, cert_path, access(key_path, F_OK) == 0 ? key_path : NULL);
	j->result = JOB_EXISTING;
	if (b->registry)
		keep_existing(j, cert, cert_path);
	X509_free(cert);
}

/*
 * Make the key (unless supplied), the certificate and their files for one
 * device. Without --reissue the files are created exclusively: a certificate
 * file that exists means the device is issued already, and a key file
 * without a certificate is a key left by an interrupted run.
 */
static void run_job(struct worker *w, const struct chunk *c, struct job *j)
{
	struct batch *b = w->b;
	const char *csr = job_string(c, j->csr_at), *pubkey = job_string(c, j->pubkey_at);
	char *cert_path = path_join(b->s->out_dir, j->id, ".crt"), *key_path = path_join(b->s->out_dir, j->id, ".key");
	bool own_key = !csr && !pubkey, replace = b->s->reissue;
	int cert_fd = -1, key_fd = -1;
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	int days = b->s->days ? b->s->days : 3650;

	if (!replace) {
		cert_fd = file_create_new(cert_path, 0644);
		if (cert_fd < 0 && errno == EEXIST) {
			describe_existing(b, j, cert_path, key_path);
			goto done;
		}
		if (cert_fd < 0)
			die(EXIT_SYSTEM, "certificate %s: %s", cert_path, strerror(errno));
	}
	if (!own_key) {
		char why[ESCAPED_SIZE(256) + 128];
		pkey = supplied_key(csr, pubkey, j->id, why, sizeof why);
		if (!pkey) {
			reject_job(j, "%s", why);
			if (cert_fd >= 0) {
				close(cert_fd);
				unlink(cert_path);
			}
			goto done;
		}
	} else if (!replace && (key_fd = key_file_create(key_path)) < 0) {
		int saved = errno;
		/* No empty certificate file is left behind if the key cannot be used: it is created again below. */
		close(cert_fd);
		unlink(cert_path);
		cert_fd = -1;
		if (saved != EEXIST)
			die(EXIT_SYSTEM, "key file %s: %s", key_path, strerror(saved));
		/* A key left by an interrupted run: certify it rather than fail or replace it, if it is ours. */
		char why[4096 + 128];
		if (!key_file_ours(key_path, why, sizeof why)) {
			reject_job(j, "%s", why);
			goto done;
		}
		struct passphrase_source none = PASSPHRASE_SOURCE_NONE;
		pkey = key_load_private(key_path, &none);
	} else if (w->ec_keygen) {
		struct batch_key key;
		if (!batch_key_generate(w->ec_keygen, &key))
			die_ssl(EXIT_SYSTEM, "generating a key for %s", j->id);
		if (key_fd >= 0)
			key_file_write_pem(key_fd, key_path, key.pem, key.pem_len);
		else
			key_write_pem(key_path, key.pem, key.pem_len, replace, false);
		OPENSSL_cleanse(key.pem, sizeof key.pem);
		struct public_octets pub = {.type = b->s->type, .len = key.point_len};
		memcpy(pub.data, key.point, key.point_len);
		cert = ca_issue_octets(&b->ca, &pub, j->id, PROFILE_DEVICE, NULL, days);
	} else {
		if (EVP_PKEY_keygen(w->keygen, &pkey) <= 0)
			die_ssl(EXIT_SYSTEM, "generating a key for %s", j->id);
		if (key_fd >= 0)
			key_file_write_private(key_fd, key_path, pkey);
		else
			key_write_private(key_path, pkey, NULL, replace, false);
	}
	if (!cert)
		cert = ca_issue(&b->ca, pkey, j->id, PROFILE_DEVICE, NULL, days);
	if (b->registry) {
		/* The registry's copy is encoded once and serves the file and the line as well. */
		enum key_type type = b->s->type;
		if (pkey && !key_type_of(pkey, &type))
			die(EXIT_SYSTEM, "device %s: unsupported key type", j->id); /* supplied keys are checked */
		keep_issued(j, cert, type);
		write_cert_pem(cert_path, cert_fd, j->pem, strlen(j->pem), replace);
		describe_as(j, j->key.serial, j->key.fingerprint, cert_path, own_key ? key_path : NULL);
	} else {
		write_cert(cert_path, cert_fd, cert, replace);
		describe(j, cert, cert_path, own_key ? key_path : NULL);
	}
	index_line(cert, j->id, j->index_line, sizeof j->index_line);
	j->result = JOB_ISSUED;
	X509_free(cert);
	EVP_PKEY_free(pkey);
done:
	free(cert_path);
	free(key_path);
}

static void worker_main(struct worker *w, struct chunk *c)
{
	struct batch *b = w->b;
	for (size_t i; (i = __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED)) < c->njobs;) {
		/* The main process is gone or going: sign nothing it could not put in the CA index. */
		if (__atomic_load_n(b->stop, __ATOMIC_ACQUIRE) || (w->forked && getppid() != b->main_pid))
			break;
		if (c->jobs[i].result == JOB_PENDING)
			run_job(w, c, &c->jobs[i]);
	}
}

static EVP_PKEY_CTX *new_keygen(enum key_type type)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type == KEY_ED25519 ? "ED25519" : "EC", NULL);
	if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 ||
	    (type != KEY_ED25519 && EVP_PKEY_CTX_set_group_name(ctx, type == KEY_P384 ? "P-384" : "P-256") <= 0))
		die_ssl(EXIT_SYSTEM, "setting up key generation");
	return ctx;
}

static void registry_warn(struct batch *b, const struct job *j, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void registry_warn(struct batch *b, const struct job *j, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	progress_break(&b->progress);
	warning("%s: line %lu: device %s: not registered: %s", b->source, j->line, j->id, msg);
	b->rejected++;
}

/* The key of an existing certificate the registry does not hold yet, after every check smqtt-register makes. */
static bool check_existing(struct batch *b, struct job *j, struct registry_key *k)
{
	char why[320];
	BIO *bio = BIO_new_mem_buf(j->pem, -1);
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	ERR_clear_error();
	if (!cert)
		die_ssl(EXIT_SYSTEM, "device %s: reading its certificate back", j->id);
	if (!b->trust)
		b->trust = registry_trust_store(b->registry);
	bool ok = registry_check_certificate(b->trust, cert, k, why, sizeof why);
	X509_free(cert);
	if (!ok) {
		registry_warn(b, j, "%s", why);
	} else if (strcmp(k->device, j->id) != 0) {
		registry_warn(b, j, "certificate CN %s is not the device id", k->device);
		registry_key_clear(k);
		ok = false;
	}
	return ok;
}

/* Register one reported device (inside the chunk's transaction): its key, then its attributes. */
static void register_job(struct batch *b, struct job *j)
{
	struct registry_key k = j->key, checked = {0};
	char holder[DEVICE_ID_MAX + 1] = "";
	if (j->result == JOB_EXISTING) {
		if (registry_key_holder(b->registry, j->key.fingerprint, holder)) {
			if (strcmp(holder, j->id) != 0) {
				registry_warn(b, j, "the certificate is registered to device %s", holder);
				return;
			}
			b->already_registered++;
			goto attributes;
		}
		if (!check_existing(b, j, &checked))
			return;
		k = checked;
	} else {
		k.public_key = j->spki;
		k.certificate = j->pem;
	}
	unsigned retired = 0;
	enum registry_add_result result = registry_add_key(b->registry, &k, REGISTRY_ACTIVE_KEYS_MAX, &retired, holder);
	if (result == REGISTRY_ADDED) {
		b->registered++;
		b->retired += retired;
	} else if (result == REGISTRY_ALREADY) {
		b->already_registered++;
	} else {
		char why[200];
		registry_warn(b, j, "%s", registry_add_refusal(result, &k, holder, why, sizeof why));
		registry_key_clear(&checked);
		return;
	}
	registry_key_clear(&checked);
attributes:
	/* "name=value name=value", checked when the line or manifest was read. */
	for (char *save = NULL, *pair = strtok_r(j->attributes, " ", &save); pair; pair = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(pair, '=');
		*eq = '\0';
		registry_set_attribute(b->registry, j->id, pair, eq + 1);
	}
}

/* Report an issued chunk in input order: errors, stdout lines, the CA index and the registry. */
static void report_chunk(struct batch *b, struct chunk *c)
{
	if (b->registry && c->njobs)
		registry_begin(b->registry);
	for (size_t i = 0; i < c->njobs; i++) {
		struct job *j = &c->jobs[i];
		if (j->result == JOB_PENDING)
			die(EXIT_SYSTEM, "device %s: left unissued by the workers", j->id);
		if (j->result == JOB_REJECTED) {
			char id[ESCAPED_SIZE(DEVICE_ID_MAX)];
			progress_break(&b->progress);
			escape_text(j->id, strlen(j->id), id, sizeof id);
			warning("%s: line %lu: device %s: %s", b->source, j->line, id, j->message);
			b->rejected++;
		} else {
			if (b->registry)
				register_job(b, j);
			if (puts(j->output) == EOF)
				die(EXIT_SYSTEM, "writing stdout: %s", strerror(errno));
			if (j->result == JOB_ISSUED) {
				if (fputs(j->index_line, b->index) == EOF)
					die(EXIT_SYSTEM, "CA index: %s", strerror(errno));
				j->indexed = true;
				b->issued++;
			} else {
				b->existing++;
			}
		}
	}
	/* The CA index holds every certificate before the registry does, so each one can be revoked. */
	if (fflush(b->index) == EOF || (b->registry && c->njobs && fdatasync(fileno(b->index)) < 0))
		die(EXIT_SYSTEM, "CA index: %s", strerror(errno));
	if (b->registry && c->njobs)
		registry_commit(b->registry);
	if (fflush(stdout) == EOF)
		die(EXIT_SYSTEM, "writing stdout: %s", strerror(errno));
	if (c->njobs)
		b->reported_line = c->jobs[c->njobs - 1].line;
	c->njobs = 0;
	c->strings_used = 0;
	show_progress(b, false);
}

/* A forked worker: issue the chunk each byte names, answer with the byte; end when the socket closes. */
static _Noreturn void worker_loop(struct worker *w, int sock)
{
	for (;;) {
		unsigned char which;
		ssize_t n = recv(sock, &which, 1, 0);
		if (n == 0)
			_exit(EXIT_OK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			_exit(EXIT_SYSTEM);
		worker_main(w, w->b->chunks[which & 1]);
		if (send(sock, &which, 1, MSG_NOSIGNAL) != 1)
			_exit(EXIT_SYSTEM);
	}
}

static void start_workers(struct batch *b, struct worker *workers)
{
	/* Nothing buffered may be copied into a worker, which could write it again if it exits through die(). */
	if (fflush(stdout) == EOF)
		die(EXIT_SYSTEM, "writing stdout: %s", strerror(errno));
	if (fflush(b->index) == EOF)
		die(EXIT_SYSTEM, "CA index: %s", strerror(errno));
	for (int t = 1; t < b->threads; t++) {
		int pair[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
			die(EXIT_SYSTEM, "starting a worker process: %s", strerror(errno));
		b->pids[t] = fork();
		if (b->pids[t] < 0)
			die(EXIT_SYSTEM, "starting a worker process: %s", strerror(errno));
		if (b->pids[t] == 0) {
			/* Hold neither stdout (its reader waits for the main process only) nor another worker's socket. */
			int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
			if (null < 0 || dup2(null, STDOUT_FILENO) < 0)
				_exit(EXIT_SYSTEM);
			close(null);
			for (int o = 1; o < t; o++)
				close(b->socks[o]);
			close(pair[0]);
			workers[t].forked = true;
			worker_loop(&workers[t], pair[1]);
		}
		close(pair[1]);
		b->socks[t] = pair[0];
	}
}

/* A worker that did not answer: it has ended, with its status or a signal. */
static _Noreturn void worker_lost(struct batch *b, int t)
{
	pid_t pid = b->pids[t];
	close(b->socks[t]);
	b->socks[t] = -1;
	b->pids[t] = 0;
	wait_worker(pid); /* ends this process with the worker's status */
	die(EXIT_SYSTEM, "a worker process ended early");
}

static void stop_workers(struct batch *b)
{
	for (int t = 1; t < b->threads; t++) {
		close(b->socks[t]);
		b->socks[t] = -1;
	}
	for (int t = 1; t < b->threads; t++) {
		pid_t pid = b->pids[t];
		b->pids[t] = 0;
		wait_worker(pid);
	}
}

/* The batch whose workers must be stopped if the main process exits early. */
static struct batch *running_batch;

/*
 * On an early exit of the main process (die() on a full stdout, say): stop
 * the workers, wait for them, and put every certificate they signed that is
 * not in the CA index yet into it, so each can still be revoked.
 */
static void stop_workers_at_exit(void)
{
	struct batch *b = running_batch;
	if (!b || getpid() != b->main_pid)
		return;
	running_batch = NULL;
	__atomic_store_n(b->stop, 1, __ATOMIC_RELEASE);
	for (int t = 1; t < b->threads; t++) {
		if (b->socks[t] >= 0)
			close(b->socks[t]);
		if (b->pids[t] > 0)
			while (waitpid(b->pids[t], NULL, 0) < 0 && errno == EINTR)
				;
	}
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < b->chunks[k]->njobs; i++) {
			struct job *j = &b->chunks[k]->jobs[i];
			if (j->result == JOB_ISSUED && !j->indexed) {
				fputs(j->index_line, b->index);
				j->indexed = true;
			}
		}
	fflush(b->index);
}

/*
 * Issue the queued chunk in parallel, reporting the one issued before it in
 * the meantime; the chunk just issued is reported by the next call, or by
 * finish_chunks.
 */
static void run_chunk(struct batch *b, struct worker *workers)
{
	struct chunk *c = b->chunks[b->current], *previous = b->chunks[!b->current];
	unsigned char which = (unsigned char)b->current;
	c->next = 0;
	for (int t = 1; t < b->threads && c->njobs; t++)
		if (send(b->socks[t], &which, 1, MSG_NOSIGNAL) != 1)
			worker_lost(b, t);
	report_chunk(b, previous);
	worker_main(&workers[0], c);
	for (int t = 1; t < b->threads && c->njobs; t++) {
		unsigned char done;
		ssize_t n;
		while ((n = recv(b->socks[t], &done, 1, 0)) < 0 && errno == EINTR)
			;
		if (n != 1)
			worker_lost(b, t);
	}
	b->current = !b->current;
}

/* Issue what is queued and report everything still unreported. */
static void finish_chunks(struct batch *b, struct worker *workers)
{
	run_chunk(b, workers);
	report_chunk(b, b->chunks[!b->current]);
}

static bool ascii_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s > 0x7e)
			return false;
	return true;
}

static void queue_device(struct batch *b, struct worker *workers, unsigned long line, const char *id, const char *csr,
			 const char *pubkey, const char *attributes, const char *error)
{
	struct chunk *c = b->chunks[b->current];
	size_t need = (csr ? strlen(csr) + 1 : 0) + (pubkey ? strlen(pubkey) + 1 : 0);
	if (need <= 2 * JOB_PATH_MAX && c->strings_used + need > sizeof c->strings) {
		run_chunk(b, workers); /* no room for the paths: issue what is queued first */
		c = b->chunks[b->current];
	}
	struct job *j = &c->jobs[c->njobs++];
	/* Only what is read later is cleared: the large buffers are written before they are read. */
	j->line = line;
	j->result = JOB_PENDING;
	j->indexed = false;
	j->csr_at = j->pubkey_at = 0;
	j->message[0] = j->output[0] = j->index_line[0] = '\0';
	if (b->registry) {
		j->pem[0] = '\0';
		memset(&j->key, 0, sizeof j->key);
	}
	snprintf(j->id, sizeof j->id, "%s", id);
	snprintf(j->attributes, sizeof j->attributes, "%s", attributes ? attributes : "");
	size_t id_len = strlen(id);
	unsigned long *first = device_id_valid(id, id_len) ? devmap_get(b->seen, id, id_len) : NULL;
	if (error) {
		reject_job(j, "%s", error);
	} else if (!device_id_valid(id, id_len)) {
		snprintf(j->id, sizeof j->id, "%.*s", DEVICE_ID_MAX, id);
		reject_job(j, "invalid device id (1-64 of A-Z a-z 0-9 . _ -)");
	} else if (first) {
		reject_job(j, "duplicate of line %lu", *first);
	} else {
		first = xmalloc(sizeof *first);
		*first = line;
		devmap_put(b->seen, id, id_len, first);
		const char *path = csr ? csr : pubkey;
		if (b->registry && registry_device_revoked(b->registry, id) == 1)
			reject_job(j, "the device is revoked in %s; it takes no new keys", registry_path(b->registry));
		else if (b->registry && !ascii_text(j->attributes))
			reject_job(j, "attribute values in a registry are printable ASCII");
		else if (csr && pubkey)
			reject_job(j, "give csr= or pubkey=, not both");
		else if (path && strlen(path) >= JOB_PATH_MAX)
			reject_job(j, "%s= path longer than %d bytes", csr ? "csr" : "pubkey", JOB_PATH_MAX - 1);
		else if (path) {
			memcpy(c->strings + c->strings_used, path, strlen(path) + 1);
			*(csr ? &j->csr_at : &j->pubkey_at) = (unsigned)c->strings_used + 1;
			c->strings_used += strlen(path) + 1;
		}
	}
	if (c->njobs == CHUNK_DEVICES)
		run_chunk(b, workers);
}

struct manifest_queue {
	struct batch *b;
	struct worker *workers;
};

static void queue_manifest_device(const struct manifest_device *d, void *arg)
{
	struct manifest_queue *q = arg;
	queue_device(q->b, q->workers, d->line, d->id, d->csr, d->pubkey, d->attributes, NULL);
}

/*
 * A PEM block on stdin, such as a key file given by mistake, is reported once
 * by its first line and skipped to its END line. Its lines are never quoted
 * nor taken for device ids or serials: they may hold a private key.
 * True when the line belongs to a block; *rejected counts the blocks.
 */
static bool skip_pem_block(bool *in_block, const char *line, size_t len, unsigned long long lineno,
			   const char *expected, unsigned long long *rejected)
{
	char label[64];
	if (*in_block) {
		if (pem_boundary(line, len, "END ", label))
			*in_block = false;
		return true;
	}
	if (!pem_boundary(line, len, "BEGIN ", label))
		return false;
	char shown[ESCAPED_SIZE(sizeof label)];
	warning("stdin: line %llu: a PEM %s block, not %s; skipped", lineno,
	      escape_text(label, strlen(label), shown, sizeof shown), expected);
	(*rejected)++;
	*in_block = true;
	return true;
}

/* "ID [name=value]..." with csr= and pubkey= taken out of the attributes. */
static void queue_line(struct batch *b, struct worker *workers, unsigned long line, char *text)
{
	char *save, *id = strtok_r(text, " \t", &save);
	if (!id || *id == '#')
		return;
	char attributes[MANIFEST_ATTRIBUTES_MAX] = "";
	size_t used = 0;
	const char *csr = NULL, *pubkey = NULL;
	const char *bad = NULL;
	bool reserved = false;
	for (char *tok; (tok = strtok_r(NULL, " \t", &save));) {
		char *eq = strchr(tok, '=');
		if (!eq || !attribute_name_valid(tok, (size_t)(eq - tok)) || !attribute_value_valid(eq + 1, strlen(eq + 1))) {
			bad = tok;
			break;
		}
		if (attribute_name_reserved(tok, (size_t)(eq - tok))) {
			bad = tok;
			reserved = true;
			break;
		}
		if (strncmp(tok, "csr=", 4) == 0) {
			csr = eq + 1;
		} else if (strncmp(tok, "pubkey=", 7) == 0) {
			pubkey = eq + 1;
		} else {
			int n = snprintf(attributes + used, sizeof attributes - used, "%s%s", used ? " " : "", tok);
			if (n < 0 || (size_t)n >= sizeof attributes - used) {
				bad = "(too long)";
				break;
			}
			used += (size_t)n;
		}
	}
	char error[256] = "", shown[72];
	if (bad && reserved)
		snprintf(error, sizeof error, "attribute \"%s\": " ATTRIBUTE_RESERVED_WHY,
			 escape_text(bad, strlen(bad), shown, sizeof shown));
	else if (bad)
		snprintf(error, sizeof error,
			 "attribute \"%s\": expected name=value (name: a-z 0-9 _; value: no spaces; %d bytes in all)",
			 escape_text(bad, strlen(bad), shown, sizeof shown), MANIFEST_ATTRIBUTES_MAX);
	queue_device(b, workers, line, id, csr, pubkey, attributes, bad ? error : NULL);
}

static int issue_devices(struct settings *s)
{
	struct batch b = {.s = s, .source = s->manifest ? s->manifest : "stdin", .threads = s->jobs};
	struct worker workers[JOBS_MAX];
	ca_load(&b.ca, s->ca_dir, &s->pass);
	if (s->registry) {
		b.registry = registry_open(s->registry, true);
		if (X509_cmp(registry_ca(b.registry), b.ca.cert) != 0)
			die(EXIT_CONFIG, "%s: the registry trusts another CA, not %s/%s", registry_path(b.registry), s->ca_dir,
			    CA_CERT_FILE);
		/* What it signs is stored unchecked, so the CA must be one the registry accepts certificates of now. */
		if (X509_cmp_current_time(X509_get0_notAfter(b.ca.cert)) <= 0)
			die(EXIT_CONFIG, "%s/%s: the CA certificate has expired; the registry would take no certificate it signs",
			    s->ca_dir, CA_CERT_FILE);
		if (X509_cmp_current_time(X509_get0_notBefore(b.ca.cert)) >= 0)
			die(EXIT_CONFIG, "%s/%s: the CA certificate is not valid yet", s->ca_dir, CA_CERT_FILE);
		registry_expect_bulk_writes(b.registry);
	}
	make_dir(s->out_dir);
	b.index = open_index(s->ca_dir);
	b.seen = devmap_new();
	for (int i = 0; i < 2; i++) {
		b.chunks[i] = mmap(NULL, sizeof *b.chunks[i], PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (b.chunks[i] == MAP_FAILED)
			die(EXIT_SYSTEM, "allocating shared memory: %s", strerror(errno));
	}
	b.stop = mmap(NULL, sizeof *b.stop, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (b.stop == MAP_FAILED)
		die(EXIT_SYSTEM, "allocating shared memory: %s", strerror(errno));
	b.main_pid = getpid();
	/* With stdin or the manifest a regular file, the progress line shows how far through it the batch is. */
	progress_start(&b.progress, s->manifest);
	for (int t = 0; t < b.threads; t++)
		workers[t] = (struct worker){.b = &b,
					     .keygen = s->type == KEY_ED25519 ? new_keygen(s->type) : NULL,
					     .ec_keygen = s->type == KEY_ED25519 ? NULL : batch_keygen_new(s->type)};
	for (int t = 0; t < JOBS_MAX; t++)
		b.socks[t] = -1;
	running_batch = &b;
	atexit(stop_workers_at_exit);
	start_workers(&b, workers);

	if (s->manifest) {
		struct manifest_queue q = {&b, workers};
		manifest_read(s->manifest, queue_manifest_device, &q);
	} else {
		struct line_reader in;
		char *text;
		size_t len;
		bool in_pem = false;
		line_reader_init(&in, STDIN_FILENO, "stdin", 8192);
		for (enum line_status st; (st = line_read(&in, &text, &len, -1)) != LINE_EOF;) {
			if (st == LINE_TOO_LONG) {
				warning("stdin: line %llu: longer than 8192 bytes; skipped", in.lineno);
				b.rejected++;
			} else if (st == LINE_INCOMPLETE) {
				warning("stdin: line %llu: %s; skipped", in.lineno, LINE_INCOMPLETE_WHY);
				b.rejected++;
			} else if (st == LINE_OK && memchr(text, '\0', len)) {
				/* The id would end at the NUL, and a device would be issued for part of the line. */
				warning("stdin: line %llu: contains a NUL byte; skipped", in.lineno);
				b.rejected++;
			} else if (st == LINE_OK &&
				   !skip_pem_block(&in_pem, text, len, in.lineno, "a device line", &b.rejected)) {
				queue_line(&b, workers, (unsigned long)in.lineno, text);
			}
		}
		line_reader_free(&in);
	}
	finish_chunks(&b, workers);
	stop_workers(&b);
	running_batch = NULL;
	show_progress(&b, true);
	sync_dir(s->out_dir);
	if (fflush(stdout) == EOF)
		die(EXIT_SYSTEM, "writing stdout: %s", strerror(errno));
	if (fclose(b.index) == EOF)
		die(EXIT_SYSTEM, "CA index: %s", strerror(errno));
	warning("%llu issued, %llu already issued, %llu rejected", b.issued, b.existing, b.rejected);
	if (b.registry) {
		warning("%s: %llu added, %llu already registered, %llu keys retired", registry_path(b.registry), b.registered,
		      b.already_registered, b.retired);
		X509_STORE_free(b.trust);
		registry_close(b.registry);
	}
	for (int t = 0; t < b.threads; t++) {
		EVP_PKEY_CTX_free(workers[t].keygen);
		batch_keygen_free(workers[t].ec_keygen);
	}
	for (int i = 0; i < 2; i++)
		munmap(b.chunks[i], sizeof *b.chunks[i]);
	munmap(b.stop, sizeof *b.stop);
	devmap_free(b.seen, free);
	ca_free(&b.ca);
	return b.rejected ? EXIT_REJECTED : EXIT_OK;
}

/* ---- server ---- */

static int issue_server(struct settings *s, const char *name)
{
	if (!device_id_valid(name, strlen(name))) {
		char shown[ESCAPED_SIZE(DEVICE_ID_MAX)];
		die(EXIT_USAGE, "%s: invalid server name (1-64 of A-Z a-z 0-9 . _ -)",
		    escape_text(name, strlen(name), shown, sizeof shown));
	}
	if (s->type == KEY_ED25519)
		die(EXIT_USAGE, "--type ed25519: broker certificates use p256 or p384");
	struct ca ca;
	ca_load(&ca, s->ca_dir, &s->pass);
	make_dir(s->out_dir);
	FILE *index = open_index(s->ca_dir);
	char *cert_path = path_join(s->out_dir, name, ".crt"), *key_path = path_join(s->out_dir, name, ".key");
	EVP_PKEY *pkey = key_generate(s->type);
	X509 *cert = ca_issue(&ca, pkey, name, PROFILE_SERVER, s->san, s->days ? s->days : 825);
	key_write_private(key_path, pkey, NULL, s->force || s->reissue, true);
	write_cert(cert_path, -1, cert, true);
	index_append(index, cert, name);
	fclose(index);
	struct job j = {0};
	snprintf(j.id, sizeof j.id, "%s", name);
	describe(&j, cert, cert_path, key_path);
	if (puts(j.output) == EOF || fflush(stdout) == EOF)
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
	char shown[ESCAPED_SIZE(64)];
	for (const char *p = value; *p; p++)
		if (*p == ',' || *p == ' ' || (unsigned char)*p < ' ')
			die(EXIT_USAGE, "--%s %s: invalid name", kind,
			    escape_text(value, strlen(value), shown, sizeof shown));
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
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT)
		die(errno == ELOOP ? EXIT_CONFIG : EXIT_SYSTEM, "CRL number file %s: %s", path,
		    errno == ELOOP ? "a symbolic link; not followed" : strerror(errno));
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (fd >= 0 && !f)
		die(EXIT_SYSTEM, "CRL number file %s: %s", path, strerror(errno));
	if (f) {
		if (fscanf(f, "%llu", &n) != 1)
			die(EXIT_CONFIG, "CRL number file %s: damaged", path);
		fclose(f);
	}
	n++;
	char text[32];
	int len = snprintf(text, sizeof text, "%llu\n", n);
	write_public_file(path, "CRL number file", -1, text, (size_t)len, true);
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
	bool in_pem = false;
	line_reader_init(&in, STDIN_FILENO, "stdin", 8192);
	for (enum line_status st; (st = line_read(&in, &text, &len, -1)) != LINE_EOF;) {
		if (st != LINE_OK) {
			warning("stdin: line %llu: %s; skipped", in.lineno,
			      st == LINE_INCOMPLETE ? LINE_INCOMPLETE_WHY : "too long");
			rejected++;
			continue;
		}
		if (memchr(text, '\0', len)) {
			warning("stdin: line %llu: contains a NUL byte; skipped", in.lineno);
			rejected++;
			continue;
		}
		if (skip_pem_block(&in_pem, text, len, in.lineno, "a serial number", &rejected))
			continue;
		char *save, *first = strtok_r(text, " \t", &save);
		if (!first || *first == '#')
			continue;
		strtok_r(NULL, " \t", &save); /* the device id, for people reading the list */
		char *when_text = strtok_r(NULL, " \t", &save), *reason_text = strtok_r(NULL, " \t", &save);
		time_t when = now;
		int reason = CRL_REASON_UNSPECIFIED;
		char shown[ESCAPED_SIZE(64)];
		if (when_text && !parse_time(when_text, &when)) {
			warning("stdin: line %llu: %s: not a time (epoch seconds or YYYY-MM-DDTHH:MM:SSZ)", in.lineno,
			      escape_text(when_text, strlen(when_text), shown, sizeof shown));
			rejected++;
			continue;
		}
		if (reason_text && (reason = crl_reason_code(reason_text)) < 0) {
			warning("stdin: line %llu: %s: not an RFC 5280 revocation reason", in.lineno,
			      escape_text(reason_text, strlen(reason_text), shown, sizeof shown));
			rejected++;
			continue;
		}
		if (strncmp(first, "device=", 7) == 0) {
			size_t n = add_device_serials(crl, index, first + 7, when, reason);
			if (n == 0) {
				warning("stdin: line %llu: device %s: not in the CA index", in.lineno,
				      escape_text(first + 7, strlen(first + 7), shown, sizeof shown));
				rejected++;
			}
			revoked += n;
		} else if (serial_hex_valid(first)) {
			crl_add(crl, first, when, reason);
			revoked++;
		} else {
			warning("stdin: line %llu: %s: not a serial number (hex) or device=ID", in.lineno,
			      escape_text(first, strlen(first), shown, sizeof shown));
			rejected++;
		}
	}
	unsigned long long lines = in.lineno;
	line_reader_free(&in);
	/* A CRL that leaves out a line it could not read un-revokes that device
	 * at every broker it replaces the old CRL at: write none. */
	if (rejected) {
		warning("no CRL written: %llu of %llu lines rejected; fix or remove them", rejected, lines);
		fclose(index);
		ca_free(&ca);
		X509_CRL_free(crl);
		ASN1_TIME_free(last);
		ASN1_TIME_free(next_update);
		return EXIT_REJECTED;
	}

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
	warning("CRL with %llu revoked certificates", revoked);
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(number);
	ASN1_TIME_free(last);
	ASN1_TIME_free(next_update);
	X509_CRL_free(crl);
	fclose(index);
	ca_free(&ca);
	return EXIT_OK;
}

/* The configuration; the settings point into it until exit. */
static struct config *cfg;

static void free_config(void)
{
	config_free(cfg);
}

int main(int argc, char **argv)
{
	struct settings s = {.type = KEY_P256, .pass = PASSPHRASE_SOURCE_NONE};
	const char *config_path = NULL;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	s.jobs = cpus < 1 ? 1 : cpus > JOBS_MAX ? JOBS_MAX : (int)cpus;
	int c;

	error_init(argv);
	secrets_protect(); /* private keys and passphrases pass through */
	mode_t mask = umask(0);
	umask(mask);
	umask_strips_cert_mode = (mask & 0644) != 0;
	while ((c = getopt_long(argc, argv, "d:o:t:fR:r:", long_options, NULL)) != -1) {
		switch (c) {
		case 'd':
			warning("-d is deprecated; use --ca-dir");
			/* fall through */
		case OPT_CA_DIR:
			s.ca_dir = optarg;
			break;
		case 'o':
			s.out_dir = optarg;
			break;
		case 't':
			warning("-t is deprecated; use --type");
			/* fall through */
		case OPT_TYPE:
			if (!key_type_parse(optarg, &s.type))
				die(EXIT_USAGE, "--type %s: unknown key type (p256, p384 or ed25519)", optarg);
			break;
		case 'f':
			s.force = true;
			break;
		case 'r':
			warning("-r is deprecated; use -R");
			/* fall through */
		case 'R':
			s.registry = optarg;
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
		case OPT_JOBS:
			s.jobs = (int)option_number("--jobs", optarg, 1, JOBS_MAX);
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
	if (optind >= argc) {
		warning("no command given (ca, device, server or crl)");
		usage();
	}
	const char *command = argv[optind++];
	if (s.registry && strcmp(command, "device") != 0)
		die(EXIT_USAGE, "%s: -R REGISTRY is for the device command", command);
	/* Flags win over the file, the file over the defaults. */
	cfg = config_open(config_path);
	atexit(free_config);
	if (!s.ca_dir)
		s.ca_dir = config_string(cfg, "issue.ca_dir");
	if (!s.out_dir)
		s.out_dir = config_string(cfg, "issue.out");
	if (!s.pass.file && !s.pass.env && s.pass.fd < 0)
		s.pass.file = config_string(cfg, "issue.passfile");
	if (!s.ca_dir) {
		warning("no CA directory given (--ca-dir CADIR, or issue.ca_dir in the configuration)");
		usage();
	}
	output_init();
	if (strcmp(command, "ca") == 0 && optind == argc)
		return make_ca(&s);
	if (strcmp(command, "device") == 0 && optind == argc) {
		if (!s.out_dir)
			die(EXIT_USAGE, "device: no output directory given (-o OUTDIR, or issue.out in the configuration)");
		return issue_devices(&s);
	}
	if (strcmp(command, "server") == 0 && optind + 1 == argc) {
		if (!s.out_dir)
			die(EXIT_USAGE, "server: no output directory given (-o OUTDIR, or issue.out in the configuration)");
		if (!s.san_len)
			die(EXIT_USAGE, "server: give at least one --dns NAME or --ip ADDRESS");
		return issue_server(&s, argv[optind]);
	}
	if (strcmp(command, "crl") == 0 && optind == argc)
		return make_crl(&s);
	if (strcmp(command, "ca") && strcmp(command, "device") && strcmp(command, "server") && strcmp(command, "crl"))
		warning("unknown command: %s", command);
	else
		warning("%s: wrong arguments", command);
	usage();
}
