#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include "error.h"

static void read_first_line(int fd, const char *what, char *buf, size_t len)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, len - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die(EXIT_CONFIG, "reading passphrase from %s: %s", what, strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
		if (memchr(buf, '\n', n) || n == len - 1)
			break;
	}
	buf[n] = '\0';
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	else if (n == len - 1)
		die(EXIT_CONFIG, "passphrase from %s: longer than %zu bytes", what, len - 2);
	size_t l = strlen(buf);
	if (l > 0 && buf[l - 1] == '\r')
		buf[l - 1] = '\0';
	if (buf[0] == '\0')
		die(EXIT_CONFIG, "passphrase from %s: empty", what);
}

void secrets_protect(void)
{
	const struct rlimit none = {0, 0};
	if (setrlimit(RLIMIT_CORE, &none) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die(EXIT_SYSTEM, "protecting private keys from core dumps: %s", strerror(errno));
}

bool passphrase_read(const struct passphrase_source *src, char *buf, size_t len)
{
	if (src->file) {
		int fd = open(src->file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			die(EXIT_CONFIG, "passphrase file %s: %s", src->file, strerror(errno));
		read_first_line(fd, src->file, buf, len);
		close(fd);
		return true;
	}
	if (src->env) {
		char *v = getenv(src->env);
		if (!v)
			die(EXIT_CONFIG, "passphrase variable %s: not set", src->env);
		if (!*v)
			die(EXIT_CONFIG, "passphrase variable %s: empty", src->env);
		if (strlen(v) >= len)
			die(EXIT_CONFIG, "passphrase variable %s: longer than %zu bytes", src->env, len - 1);
		strcpy(buf, v);
		/*
		 * Keep it out of any process this one starts and out of environment
		 * dumps: /proc/PID/environ shows the environment as it was at exec,
		 * whatever unsetenv() does, so the value is wiped where it lies.
		 */
		OPENSSL_cleanse(v, strlen(v));
		unsetenv(src->env);
		return true;
	}
	if (src->fd >= 0) {
		char what[32];
		snprintf(what, sizeof what, "descriptor %d", src->fd);
		read_first_line(src->fd, what, buf, len);
		return true;
	}
	return false;
}

bool key_type_parse(const char *name, enum key_type *type)
{
	if (strcmp(name, "p256") == 0)
		*type = KEY_P256;
	else if (strcmp(name, "p384") == 0)
		*type = KEY_P384;
	else if (strcmp(name, "ed25519") == 0)
		*type = KEY_ED25519;
	else
		return false;
	return true;
}

const char *key_type_name(enum key_type type)
{
	switch (type) {
	case KEY_P256:
		return "p256";
	case KEY_P384:
		return "p384";
	case KEY_ED25519:
		return "ed25519";
	}
	return "?";
}

bool key_type_of(const EVP_PKEY *pkey, enum key_type *type)
{
	if (EVP_PKEY_is_a(pkey, "ED25519")) {
		*type = KEY_ED25519;
		return true;
	}
	if (!EVP_PKEY_is_a(pkey, "EC"))
		return false;
	char group[64];
	if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL))
		return false;
	if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
		*type = KEY_P256;
	else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
		*type = KEY_P384;
	else
		return false;
	return true;
}

EVP_PKEY *key_generate(enum key_type type)
{
	EVP_PKEY *pkey = NULL;
	switch (type) {
	case KEY_P256:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case KEY_P384:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case KEY_ED25519:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	}
	if (!pkey)
		die_ssl(EXIT_SYSTEM, "generating %s key", key_type_name(type));
	return pkey;
}

/*
 * Create the key file without any window where another user could open it:
 * O_EXCL with mode 0600, or with --force a private temporary file renamed over.
 */
static int create_key_file(const char *path, bool force, char **tmp_path)
{
	*tmp_path = NULL;
	if (!force) {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
		if (fd < 0 && errno == EEXIST)
			die(EXIT_CONFIG, "key file %s: already exists (use -f to replace it)", path);
		if (fd < 0)
			die(EXIT_SYSTEM, "key file %s: %s", path, strerror(errno));
		return fd;
	}
	size_t n = strlen(path) + sizeof ".XXXXXX";
	*tmp_path = xmalloc(n);
	snprintf(*tmp_path, n, "%s.XXXXXX", path);
	int fd = mkstemp(*tmp_path);
	if (fd < 0)
		die(EXIT_SYSTEM, "key file %s: creating temporary file: %s", path, strerror(errno));
	return fd;
}

bool write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* The whole file in one write: PEM writers called on a file descriptor write a line at a time. */
static void write_key_file(int fd, const char *path, const char *tmp_path, const char *pem, size_t len, bool sync)
{
	int saved = 0;
	if (!write_all(fd, pem, len) || (sync && fsync(fd) < 0))
		saved = errno;
	if (close(fd) < 0 && !saved)
		saved = errno;
	if (saved) {
		unlink(tmp_path ? tmp_path : path);
		die(EXIT_SYSTEM, "key file %s: %s", path, strerror(saved));
	}
	if (tmp_path && rename(tmp_path, path) < 0) {
		unlink(tmp_path);
		die(EXIT_SYSTEM, "key file %s: %s", path, strerror(errno));
	}
}

/* The key as PEM in secure memory (free the BIO); encrypted when passphrase is not NULL. */
static BIO *encode_private(const char *path, EVP_PKEY *pkey, const char *passphrase, BUF_MEM **buf)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	const EVP_CIPHER *cipher = passphrase ? EVP_aes_256_cbc() : NULL;
	*buf = NULL;
	if (!bio ||
	    !PEM_write_bio_PrivateKey(bio, pkey, cipher, (const unsigned char *)passphrase,
				      passphrase ? (int)strlen(passphrase) : 0, NULL, NULL) ||
	    BIO_get_mem_ptr(bio, buf) <= 0 || !*buf)
		die_ssl(EXIT_SYSTEM, "key file %s: encoding the key", path);
	return bio;
}

void key_write_private(const char *path, EVP_PKEY *pkey, const char *passphrase, bool replace, bool sync)
{
	BUF_MEM *buf;
	BIO *bio = encode_private(path, pkey, passphrase, &buf);
	key_write_pem(path, buf->data, buf->length, replace, sync);
	BIO_free(bio);
}

void secret_dir_check(const char *dir, bool allow_sticky)
{
	struct stat st;
	/* A directory that is not there: creating the file in it fails, with the file's name. */
	if (stat(dir, &st) < 0 || !(st.st_mode & S_IWOTH) || (allow_sticky && (st.st_mode & S_ISVTX)))
		return;
	die(EXIT_CONFIG, "directory %s: writable by others (mode %04o); no private key is written there; run chmod o-w %s",
	    dir, (unsigned)(st.st_mode & 07777), dir);
}

/* The directory a key file goes into, for key_write_pem. */
static void key_dir_check(const char *path)
{
	char *copy = xstrdup(path); /* dirname may change its argument */
	secret_dir_check(dirname(copy), true);
	free(copy);
}

/*
 * A file left by one of our own runs: a regular file with one name, owned by
 * this user, with no permission beyond mode. Anything else may have been put
 * there by someone who wants to read what we write into it.
 */
static bool ours(const struct stat *st, mode_t mode)
{
	return S_ISREG(st->st_mode) && st->st_nlink == 1 && st->st_uid == geteuid() &&
	       (st->st_mode & 07777 & ~mode) == 0;
}

bool key_file_ours(const char *path, char *why, size_t size)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		snprintf(why, size, "key file %s: %s", path, strerror(errno));
		return false;
	}
	if (ours(&st, 0600))
		return true;
	if (!S_ISREG(st.st_mode))
		snprintf(why, size, "key file %s: not a regular file; not used", path);
	else if (st.st_uid != geteuid())
		snprintf(why, size, "key file %s: owned by uid %u, not by this user; not used", path, (unsigned)st.st_uid);
	else if (st.st_nlink != 1)
		snprintf(why, size, "key file %s: has %lu links; not used", path, (unsigned long)st.st_nlink);
	else
		snprintf(why, size, "key file %s: accessible by group or others (mode %04o); not used", path,
			 (unsigned)(st.st_mode & 07777));
	return false;
}

int file_create_new(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, mode);
	if (fd >= 0 || errno != EEXIST)
		return fd;
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && ours(&st, mode) && st.st_size == 0 && fchmod(fd, mode) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	errno = EEXIST;
	return -1;
}

int key_file_create(const char *path)
{
	return file_create_new(path, 0600);
}

void key_file_write_pem(int fd, const char *path, const char *pem, size_t len)
{
	write_key_file(fd, path, NULL, pem, len, false);
}

void key_file_write_private(int fd, const char *path, EVP_PKEY *pkey)
{
	BUF_MEM *buf;
	BIO *bio = encode_private(path, pkey, NULL, &buf);
	write_key_file(fd, path, NULL, buf->data, buf->length, false);
	BIO_free(bio);
}

void key_write_pem(const char *path, const char *pem, size_t len, bool replace, bool sync)
{
	char *tmp_path;
	key_dir_check(path);
	int fd = create_key_file(path, replace, &tmp_path);
	write_key_file(fd, path, tmp_path, pem, len, sync);
	free(tmp_path);
}

struct password_request {
	const struct passphrase_source *src;
	bool asked;
};

static int password_callback(char *buf, int size, int rwflag, void *u)
{
	(void)rwflag;
	struct password_request *req = u;
	req->asked = true;
	char pass[PASSPHRASE_MAX];
	if (!passphrase_read(req->src, pass, sizeof pass))
		return -1;
	size_t n = strlen(pass);
	if (n > (size_t)size) {
		OPENSSL_cleanse(pass, sizeof pass);
		return -1;
	}
	memcpy(buf, pass, n);
	OPENSSL_cleanse(pass, sizeof pass);
	return (int)n;
}

BIO *key_file_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		die(EXIT_CONFIG, "private key %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		die(EXIT_CONFIG, "private key %s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		die(EXIT_CONFIG, "private key %s: %s", path, strerror(EISDIR));
	if (!S_ISREG(st.st_mode))
		die(EXIT_CONFIG, "private key %s: not a regular file", path);
	if (st.st_mode & 077)
		die(EXIT_CONFIG, "private key %s: accessible by group or others (mode %04o); run chmod 600 %s",
		    path, (unsigned)(st.st_mode & 07777), path);

	BIO *bio = BIO_new_fd(fd, BIO_CLOSE);
	if (!bio)
		die_ssl(EXIT_SYSTEM, "private key %s", path);
	return bio;
}

/* The error for a key that did not load, depending on whether a passphrase was asked for and given. */
static _Noreturn void key_load_failed(const char *path, const struct passphrase_source *pass, bool asked,
				      const char *what)
{
	bool have_pass = pass->file || pass->env || pass->fd >= 0;
	if (asked && !have_pass)
		die(EXIT_CONFIG, "private key %s: encrypted; give the passphrase with --passfile, "
				 "--passenv or --passfd",
		    path);
	if (asked)
		die(EXIT_CONFIG, "private key %s: wrong passphrase or damaged key", path);
	die_ssl(EXIT_CONFIG, "private key %s: %s", path, what);
}

PKCS8_PRIV_KEY_INFO *key_load_pkcs8(const char *path, const struct passphrase_source *pass)
{
	BIO *bio = key_file_open(path);
	struct password_request req = {pass, false};
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len = 0;
	ERR_clear_error();
	if (PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
		const unsigned char *at = data;
		if (strcmp(name, PEM_STRING_PKCS8INF) == 0) {
			p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &at, len);
		} else if (strcmp(name, PEM_STRING_PKCS8) == 0) {
			X509_SIG *sealed = d2i_X509_SIG(NULL, &at, len);
			char buf[PASSPHRASE_MAX];
			int n = sealed ? password_callback(buf, sizeof buf, 0, &req) : -1;
			if (n >= 0)
				p8 = PKCS8_decrypt(sealed, buf, n);
			OPENSSL_cleanse(buf, sizeof buf);
			X509_SIG_free(sealed);
		}
		if (p8 && at != data + len) {
			PKCS8_PRIV_KEY_INFO_free(p8);
			p8 = NULL;
		}
	}
	BIO_free(bio);
	OPENSSL_free(name);
	OPENSSL_free(header);
	if (data)
		OPENSSL_cleanse(data, (size_t)len);
	OPENSSL_free(data);
	if (!p8)
		key_load_failed(path, pass, req.asked, "not a PEM PKCS#8 private key");
	return p8;
}

EVP_PKEY *key_load_private(const char *path, const struct passphrase_source *pass)
{
	BIO *bio = key_file_open(path);
	struct password_request req = {pass, false};
	ERR_clear_error();
	EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, password_callback, &req);
	BIO_free(bio);
	if (!pkey)
		key_load_failed(path, pass, req.asked, "not a PEM private key");
	enum key_type type;
	if (!key_type_of(pkey, &type))
		die(EXIT_CONFIG, "private key %s: unsupported key type (use p256, p384 or ed25519)", path);
	return pkey;
}

struct signing_key {
	EVP_PKEY *pkey;
	enum key_type type;
	EVP_PKEY_CTX *ctx;  /* ECDSA: one context reused for every digest */
	EVP_MD_CTX *mdctx;  /* Ed25519: one-shot interface */
	const BIGNUM *order; /* ECDSA: group order n and n/2 for low-S, shared per curve */
	const BIGNUM *half_order;
	bool for_signing;
};

/*
 * The order n and n/2 of each supported curve, computed once: a verifier may
 * hold a hundred thousand keys, and building an EC_GROUP per key to read n
 * cost time and memory for nothing.
 */
static struct curve_order {
	BIGNUM *order, *half_order;
} curve_orders[2]; /* P-256, P-384 */
static pthread_once_t curve_orders_once = PTHREAD_ONCE_INIT;

static void compute_curve_orders(void)
{
	const int nids[2] = {NID_X9_62_prime256v1, NID_secp384r1};
	for (int i = 0; i < 2; i++) {
		EC_GROUP *group = EC_GROUP_new_by_curve_name(nids[i]);
		struct curve_order *c = &curve_orders[i];
		c->order = group ? BN_dup(EC_GROUP_get0_order(group)) : NULL;
		c->half_order = c->order ? BN_dup(c->order) : NULL;
		EC_GROUP_free(group);
		if (!c->half_order || !BN_rshift1(c->half_order, c->order))
			die_ssl(EXIT_SYSTEM, "setting up ECDSA");
	}
}

static void free_curve_orders(void)
{
	for (int i = 0; i < 2; i++) {
		BN_free(curve_orders[i].order);
		BN_free(curve_orders[i].half_order);
	}
}

static void init_curve_orders(void)
{
	compute_curve_orders();
	atexit(free_curve_orders);
}

struct signing_key *signing_key_new(EVP_PKEY *pkey, bool for_signing)
{
	struct signing_key *k = xcalloc(1, sizeof *k);
	if (!key_type_of(pkey, &k->type))
		return free(k), NULL;
	k->pkey = pkey;
	k->for_signing = for_signing;
	if (k->type == KEY_ED25519) {
		k->mdctx = EVP_MD_CTX_new();
		if (!k->mdctx)
			die_ssl(EXIT_SYSTEM, "setting up Ed25519");
		return k;
	}
	pthread_once(&curve_orders_once, init_curve_orders);
	const struct curve_order *c = &curve_orders[k->type == KEY_P256 ? 0 : 1];
	k->order = c->order;
	k->half_order = c->half_order;
	k->ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (!k->ctx || (for_signing ? EVP_PKEY_sign_init(k->ctx) : EVP_PKEY_verify_init(k->ctx)) <= 0)
		die_ssl(EXIT_SYSTEM, "setting up ECDSA");
	return k;
}

void signing_key_free(struct signing_key *k)
{
	if (!k)
		return;
	EVP_PKEY_CTX_free(k->ctx);
	EVP_MD_CTX_free(k->mdctx);
	EVP_PKEY_free(k->pkey);
	free(k);
}

bool signing_key_set_public(struct signing_key *k, enum key_type type, const unsigned char *point, size_t len)
{
	if (k->for_signing || k->type == KEY_ED25519 || k->type != type)
		return false;
	/* The verifying context holds the same key; initialising it again drops anything kept of the old point. */
	return EVP_PKEY_set1_encoded_public_key(k->pkey, point, len) > 0 && EVP_PKEY_verify_init(k->ctx) > 0;
}

const EVP_PKEY *signing_key_pkey(const struct signing_key *k)
{
	return k->pkey;
}

void signature_create(struct signing_key *k, const unsigned char digest[DIGEST_LEN], char *out)
{
	unsigned char sig[SIGNATURE_MAX];
	size_t sig_len = sizeof sig;

	if (k->type == KEY_ED25519) {
		if (EVP_DigestSignInit_ex(k->mdctx, NULL, NULL, NULL, NULL, k->pkey, NULL) <= 0 ||
		    EVP_DigestSign(k->mdctx, sig, &sig_len, digest, DIGEST_LEN) <= 0)
			die_ssl(EXIT_SYSTEM, "Ed25519 signing failed");
	} else {
		if (EVP_PKEY_sign(k->ctx, sig, &sig_len, digest, DIGEST_LEN) <= 0)
			die_ssl(EXIT_SYSTEM, "ECDSA signing failed");
		/* Both (r, s) and (r, n - s) verify; emit only the low-S form so the text is unique. */
		const unsigned char *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
		if (!es)
			die_ssl(EXIT_SYSTEM, "ECDSA signing failed");
		const BIGNUM *r, *s;
		ECDSA_SIG_get0(es, &r, &s);
		if (BN_cmp(s, k->half_order) > 0) {
			BIGNUM *low_s = BN_new(), *r_copy = BN_dup(r);
			if (!low_s || !r_copy || !BN_sub(low_s, k->order, s) || !ECDSA_SIG_set0(es, r_copy, low_s))
				die_ssl(EXIT_SYSTEM, "ECDSA signing failed");
			unsigned char *q = sig;
			int n = i2d_ECDSA_SIG(es, NULL);
			if (n <= 0 || (size_t)n > sizeof sig || i2d_ECDSA_SIG(es, &q) != n)
				die_ssl(EXIT_SYSTEM, "ECDSA signing failed");
			sig_len = (size_t)n;
		}
		ECDSA_SIG_free(es);
	}
	EVP_EncodeBlock((unsigned char *)out, sig, (int)sig_len);
}

static bool base64_recheck(const char *b64, size_t b64_len, unsigned char *out, unsigned char *check,
			   size_t *out_len);

bool base64_decode_strict(const char *b64, size_t b64_len, unsigned char *out, size_t out_max,
			  size_t *out_len)
{
	unsigned char small[SIGNATURE_B64_MAX + 4];
	if (b64_len == 0 || b64_len % 4 != 0 || b64_len > INT_MAX || b64_len / 4 * 3 > out_max)
		return false;
	/* Signatures fit on the stack; longer texts (encrypted records) get a buffer of their own. */
	unsigned char *check = b64_len + 1 <= sizeof small ? small : xmalloc(b64_len + 1);
	bool ok = base64_recheck(b64, b64_len, out, check, out_len);
	if (check != small)
		free(check);
	return ok;
}

static bool base64_recheck(const char *b64, size_t b64_len, unsigned char *out, unsigned char *check,
			   size_t *out_len)
{
	int n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)b64_len);
	if (n < 0)
		return false;
	size_t pad = 0;
	if (b64[b64_len - 1] == '=')
		pad++;
	if (b64[b64_len - 2] == '=')
		pad++;
	size_t len = (size_t)n - pad;
	/* Re-encoding must give back the very same text (no stray bits, no misplaced '='). */
	int m = EVP_EncodeBlock(check, out, (int)len);
	if (m < 0 || (size_t)m != b64_len || memcmp(check, b64, b64_len) != 0)
		return false;
	*out_len = len;
	return true;
}

/* Decode and check the canonical form; on success sig holds the DER (or raw Ed25519) signature. */
static enum verdict signature_decode(const struct signing_key *k, const char *b64, size_t b64_len,
				     unsigned char sig[SIGNATURE_B64_MAX], size_t *sig_len)
{
	if (!base64_decode_strict(b64, b64_len, sig, SIGNATURE_B64_MAX, sig_len))
		return SIGNATURE_MALFORMED;
	if (k->type == KEY_ED25519)
		return *sig_len == 64 ? SIGNATURE_VALID : SIGNATURE_MALFORMED;

	const unsigned char *p = sig;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)*sig_len);
	if (!es) {
		ERR_clear_error();
		return SIGNATURE_MALFORMED;
	}
	enum verdict v = SIGNATURE_MALFORMED;
	unsigned char der[SIGNATURE_B64_MAX];
	unsigned char *q = der;
	int n = i2d_ECDSA_SIG(es, NULL);
	const BIGNUM *s;
	ECDSA_SIG_get0(es, NULL, &s);
	if (p == sig + *sig_len && n > 0 && (size_t)n == *sig_len && i2d_ECDSA_SIG(es, &q) == n &&
	    memcmp(der, sig, *sig_len) == 0 && BN_cmp(s, k->half_order) <= 0)
		v = SIGNATURE_VALID;
	ECDSA_SIG_free(es);
	ERR_clear_error();
	return v;
}

/* The signature check itself, with the contexts given (the key's own, or copies). */
static enum verdict signature_check(const struct signing_key *k, EVP_PKEY_CTX *ctx, EVP_MD_CTX *mdctx,
				    const unsigned char digest[DIGEST_LEN], const unsigned char *sig, size_t sig_len)
{
	int ok;
	if (k->type == KEY_ED25519)
		ok = EVP_DigestVerifyInit_ex(mdctx, NULL, NULL, NULL, NULL, k->pkey, NULL) > 0 &&
		     EVP_DigestVerify(mdctx, sig, sig_len, digest, DIGEST_LEN) == 1;
	else
		ok = EVP_PKEY_verify(ctx, sig, sig_len, digest, DIGEST_LEN) == 1;
	ERR_clear_error();
	return ok ? SIGNATURE_VALID : SIGNATURE_INVALID;
}

enum verdict signature_verify(struct signing_key *k, const unsigned char digest[DIGEST_LEN],
			      const char *b64, size_t b64_len)
{
	unsigned char sig[SIGNATURE_B64_MAX];
	size_t sig_len;
	if (signature_decode(k, b64, b64_len, sig, &sig_len) != SIGNATURE_VALID)
		return SIGNATURE_MALFORMED;
	return signature_check(k, k->ctx, k->mdctx, digest, sig, sig_len);
}

enum verdict signature_verify_shared(const struct signing_key *k, const unsigned char digest[DIGEST_LEN],
				     const char *b64, size_t b64_len)
{
	unsigned char sig[SIGNATURE_B64_MAX];
	size_t sig_len;
	if (signature_decode(k, b64, b64_len, sig, &sig_len) != SIGNATURE_VALID)
		return SIGNATURE_MALFORMED;
	/*
	 * A context holds per-operation state, so each call works on its own:
	 * copying the key's initialized context costs about a tenth of a
	 * microsecond, setting up a new one (a provider fetch) a few.
	 */
	EVP_PKEY_CTX *ctx = NULL;
	EVP_MD_CTX *mdctx = NULL;
	if (k->type == KEY_ED25519 ? !(mdctx = EVP_MD_CTX_new()) : !(ctx = EVP_PKEY_CTX_dup(k->ctx)))
		die_ssl(EXIT_SYSTEM, "setting up signature verification");
	enum verdict v = signature_check(k, ctx, mdctx, digest, sig, sig_len);
	EVP_PKEY_CTX_free(ctx);
	EVP_MD_CTX_free(mdctx);
	return v;
}
