/* Key files, passphrases and frame signatures (ECDSA P-256/P-384 with low-S, Ed25519). */
#ifndef SMQTT_KEYS_H
#define SMQTT_KEYS_H

#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "frame.h"

enum key_type { KEY_P256, KEY_P384, KEY_ED25519 };

/* Where a passphrase comes from; never argv. At most one of the three is set. */
struct passphrase_source {
	const char *file; /* first line of this file */
	const char *env;  /* value of this environment variable */
	int fd;           /* first line read from this descriptor; -1 if unset */
};
#define PASSPHRASE_SOURCE_NONE {NULL, NULL, -1}
#define PASSPHRASE_MAX 1024

/* Fill buf with the passphrase (NUL-terminated); false if no source is set. Dies on error. */
bool passphrase_read(const struct passphrase_source *src, char *buf, size_t len);

/*
 * For a program that holds private keys or passphrases: no core dump, and
 * its memory and /proc files closed to other processes of the same user
 * (as ssh-agent does). Call before the first secret is read.
 */
void secrets_protect(void);

bool key_type_parse(const char *name, enum key_type *type);
const char *key_type_name(enum key_type type);
/* The smqtt type of a loaded key; false for key types smqtt does not sign with. */
bool key_type_of(const EVP_PKEY *pkey, enum key_type *type);

EVP_PKEY *key_generate(enum key_type type);

/*
 * Load a PEM private key, refusing files readable by group or others.
 * Dies with EXIT_CONFIG naming the file on every failure.
 */
EVP_PKEY *key_load_private(const char *path, const struct passphrase_source *pass);
/*
 * A secret file opened for reading, after the checks key_load_private makes:
 * a regular file, not accessible by group or others. Dies otherwise.
 */
BIO *key_file_open(const char *path);
/*
 * A PEM PKCS#8 private key of any algorithm ("PRIVATE KEY", or "ENCRYPTED
 * PRIVATE KEY" decrypted with the passphrase from pass), with the same
 * checks and errors as key_load_private. Dies if it cannot be read.
 */
PKCS8_PRIV_KEY_INFO *key_load_pkcs8(const char *path, const struct passphrase_source *pass);

/*
 * Write a PEM private key (PKCS#8, AES-256-CBC encrypted when passphrase is not
 * NULL) to a new file of mode 0600. Without replace an existing file is an
 * error (EXIT_CONFIG); with replace a private temporary file is renamed over
 * it, so there is never a moment when the file is readable by others or half
 * written. With sync the file is on disk before this returns; batch writers
 * pass false and sync the whole directory once at the end instead.
 * Other failures end the program with EXIT_SYSTEM.
 */
void key_write_private(const char *path, EVP_PKEY *pkey, const char *passphrase, bool replace, bool sync);
/* The same for a key already encoded as PEM. */
void key_write_pem(const char *path, const char *pem, size_t len, bool replace, bool sync);
/*
 * The same in two steps, for batch writers that must know first whether the
 * file exists: create path (mode 0600, never an existing file) and return its
 * descriptor, or -1 with errno set (EEXIST: it exists); then write the key,
 * unencrypted, and close it. A failed write removes the file and ends the
 * program with EXIT_SYSTEM.
 */
int key_file_create(const char *path);
/*
 * Create path for writing (O_EXCL) with mode, or take over an empty regular
 * file of that name, as an interrupted batch leaves between creating a file
 * and writing it, if it is ours: owned by this user, one link, no permission
 * beyond mode. -1 with errno set otherwise (EEXIST: it holds something, or
 * belongs to someone else).
 */
int file_create_new(const char *path, mode_t mode);
/*
 * An existing key file may be used (a batch resumes with a key an interrupted
 * run left) only if it is ours: a regular file, one link, owned by this user,
 * mode 0600 or less. Otherwise false, with the reason in why.
 */
bool key_file_ours(const char *path, char *why, size_t size);
/*
 * Private keys are not written into a directory others may write to: they
 * could plant or swap files there. Ends the program with EXIT_CONFIG, naming
 * dir; a directory that is not there passes (creating the file fails). allow_sticky accepts such a directory with the sticky bit (/tmp),
 * where files are created exclusively and others cannot replace them.
 */
void secret_dir_check(const char *dir, bool allow_sticky);
void key_file_write_pem(int fd, const char *path, const char *pem, size_t len);
void key_file_write_private(int fd, const char *path, EVP_PKEY *pkey);

/* write(2) until everything is written; false with errno set. */
bool write_all(int fd, const void *data, size_t len);

/* A key ready to sign or verify many digests: contexts and curve order set up once. */
struct signing_key;
struct signing_key *signing_key_new(EVP_PKEY *pkey, bool for_signing);
void signing_key_free(struct signing_key *k);
/*
 * Give a P-256 or P-384 verifying key another public key on the same curve
 * (the encoded point, checked to be on the curve), keeping its contexts:
 * much cheaper than building a key, which copies the curve every time.
 * False, with the key unusable, for a point that is not valid; false and
 * the key unchanged for a signing key or an Ed25519 key.
 */
bool signing_key_set_public(struct signing_key *k, enum key_type type, const unsigned char *point, size_t len);
const EVP_PKEY *signing_key_pkey(const struct signing_key *k);

/* Sign a frame digest; writes strict base64 of the signature into out (SIGNATURE_B64_MAX + 1). */
void signature_create(struct signing_key *k, const unsigned char digest[DIGEST_LEN], char *out);

enum verdict { SIGNATURE_VALID, SIGNATURE_INVALID, SIGNATURE_MALFORMED };
/*
 * Verify base64 signature text against a digest. Only the canonical encoding is
 * accepted: strict padded base64, DER that re-encodes to the same bytes, low S.
 */
enum verdict signature_verify(struct signing_key *k, const unsigned char digest[DIGEST_LEN],
			      const char *b64, size_t b64_len);
/*
 * The same check for a key shared between threads: it works on a copy of the
 * key's context, so any number of threads may check signatures with one key at
 * once, as long as none calls signature_verify or signature_create on it then.
 */
enum verdict signature_verify_shared(const struct signing_key *k, const unsigned char digest[DIGEST_LEN],
				     const char *b64, size_t b64_len);

/* Strict base64 decode: the only accepted text is the one EVP_EncodeBlock produces. */
bool base64_decode_strict(const char *b64, size_t b64_len, unsigned char *out, size_t out_max,
			  size_t *out_len);

#endif
