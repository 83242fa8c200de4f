/* Files of attribute-based encryption: see abefile.h. */
#include "abefile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/buffer.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "error.h"

bool abe_parameters_write(FILE *out, const struct fame_public *pub)
{
	uint8_t *enc;
	size_t len;
	if (fame_public_encode(pub, &enc, &len) != FAME_OK)
		die(EXIT_SYSTEM, "encoding the public parameters");
	int ok = PEM_write(out, ABE_PEM_PARAMETERS, "", enc, (long)len);
	free(enc);
	if (!ok && errno == 0)
		errno = EIO;
	return ok && fflush(out) != EOF;
}

struct fame_public *abe_parameters_load(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		die(EXIT_CONFIG, "parameters %s: %s", path, strerror(errno));
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len = 0;
	ERR_clear_error();
	int ok = PEM_read(f, &name, &header, &data, &len);
	fclose(f);
	if (!ok)
		die(EXIT_CONFIG, "parameters %s: no PEM block (expected " ABE_PEM_PARAMETERS ")", path);
	if (strcmp(name, ABE_PEM_PARAMETERS) != 0)
		die(EXIT_CONFIG, "parameters %s: a PEM %s, not " ABE_PEM_PARAMETERS, path, name);
	struct fame_public *pub;
	int status = fame_public_decode(&pub, data, (size_t)len);
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	if (status != FAME_OK)
		die(EXIT_CONFIG, "parameters %s: %s", path, fame_strerror(status));
	return pub;
}

/* PKCS#8 around an encoding, as PEM in secure memory, encrypted if passphrase. */
static void write_secret(const char *path, const char *oid, uint8_t *enc, size_t len, const char *passphrase,
			 bool replace)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	PKCS8_PRIV_KEY_INFO *p8 = PKCS8_PRIV_KEY_INFO_new();
	unsigned char *octets = OPENSSL_malloc(len);
	if (!obj || !p8 || !octets)
		die_ssl(EXIT_SYSTEM, "%s: encoding the key", path);
	memcpy(octets, enc, len);
	OPENSSL_cleanse(enc, len);
	free(enc);
	/* From here the octets belong to p8. */
	if (!PKCS8_pkey_set0(p8, obj, 0, V_ASN1_UNDEF, NULL, octets, (int)len))
		die_ssl(EXIT_SYSTEM, "%s: encoding the key", path);
	BIO *bio = BIO_new(BIO_s_secmem());
	BUF_MEM *buf = NULL;
	int ok = 0;
	if (bio && passphrase) {
		X509_SIG *sealed = PKCS8_encrypt(-1, EVP_aes_256_cbc(), passphrase, (int)strlen(passphrase), NULL, 0,
						 0, p8);
		ok = sealed && PEM_write_bio_PKCS8(bio, sealed);
		X509_SIG_free(sealed);
	} else if (bio) {
		ok = PEM_write_bio_PKCS8_PRIV_KEY_INFO(bio, p8);
	}
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (!ok || BIO_get_mem_ptr(bio, &buf) <= 0 || !buf)
		die_ssl(EXIT_SYSTEM, "%s: encoding the key", path);
	key_write_pem(path, buf->data, buf->length, replace, true);
	BIO_free(bio);
}

/* The encoding inside a PKCS#8 key file of one of the algorithms (which: its index); it lives in *p8, which wipes it when freed. */
static const unsigned char *read_secret(const char *path, const struct passphrase_source *pass, const char *const *oids,
					int n_oids, int *which, int *len, PKCS8_PRIV_KEY_INFO **p8)
{
	*p8 = key_load_pkcs8(path, pass);
	const ASN1_OBJECT *obj;
	const unsigned char *octets;
	const X509_ALGOR *alg;
	if (!PKCS8_pkey_get0(&obj, &octets, len, &alg, *p8))
		die_ssl(EXIT_CONFIG, "%s: not a PKCS#8 private key", path);
	char text[128];
	OBJ_obj2txt(text, sizeof text, obj, 1);
	for (*which = 0; *which < n_oids; (*which)++)
		if (strcmp(text, oids[*which]) == 0)
			return octets;
	die(EXIT_CONFIG, "%s: a private key of algorithm %s, not an smqtt attribute-based encryption key", path,
	    text);
}

void abe_master_write(const char *path, const struct fame_master *master, const char *passphrase, bool replace)
{
	uint8_t *enc;
	size_t len;
	if (fame_master_encode(master, &enc, &len) != FAME_OK)
		die(EXIT_SYSTEM, "%s: encoding the master secret", path);
	write_secret(path, ABE_OID_MASTER, enc, len, passphrase, replace);
}

struct fame_master *abe_master_load(const char *path, const struct passphrase_source *pass)
{
	static const char *const oids[] = {ABE_OID_MASTER, ABE_OID_CP_KEY, ABE_OID_KP_KEY};
	PKCS8_PRIV_KEY_INFO *p8;
	int which, len;
	const unsigned char *octets = read_secret(path, pass, oids, 3, &which, &len, &p8);
	if (which != 0)
		die(EXIT_CONFIG, "%s: a decryption key, not the master secret", path);
	struct fame_master *master;
	int status = fame_master_decode(&master, octets, (size_t)len);
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (status != FAME_OK)
		die(EXIT_CONFIG, "%s: master secret: %s", path, fame_strerror(status));
	return master;
}

void abe_key_write(const char *path, const struct abe_key *key, bool replace)
{
	uint8_t *enc;
	size_t len;
	int status = key->cp ? fame_cp_key_encode(key->cp, &enc, &len) : fame_kp_key_encode(key->kp, &enc, &len);
	if (status != FAME_OK)
		die(EXIT_SYSTEM, "%s: encoding the key", path);
	write_secret(path, key->cp ? ABE_OID_CP_KEY : ABE_OID_KP_KEY, enc, len, NULL, replace);
}

void abe_key_load(const char *path, const struct passphrase_source *pass, struct abe_key *key)
{
	static const char *const oids[] = {ABE_OID_CP_KEY, ABE_OID_KP_KEY, ABE_OID_MASTER};
	PKCS8_PRIV_KEY_INFO *p8;
	int which, len, status;
	const unsigned char *octets = read_secret(path, pass, oids, 3, &which, &len, &p8);
	memset(key, 0, sizeof *key);
	if (which == 2)
		die(EXIT_CONFIG, "%s: the master secret, not a decryption key (keep it on the key authority)", path);
	if (which == 0)
		status = fame_cp_key_decode(&key->cp, octets, (size_t)len);
	else
		status = fame_kp_key_decode(&key->kp, octets, (size_t)len);
	if (status == FAME_OK)
		status = fame_object_id(key->params, octets, (size_t)len);
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (status != FAME_OK)
		die(EXIT_CONFIG, "%s: %s key: %s", path, which == 0 ? "CP" : "KP", fame_strerror(status));
}

void abe_key_free(struct abe_key *key)
{
	fame_cp_key_free(key->cp);
	fame_kp_key_free(key->kp);
	key->cp = NULL;
	key->kp = NULL;
}

bool abe_epoch_valid(const char *epoch)
{
	size_t n = strspn(epoch, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:-_.");
	return n > 0 && n <= ABE_EPOCH_MAX && epoch[n] == '\0';
}

void abe_epoch_now(char out[ABE_EPOCH_MAX + 1])
{
	time_t now = time(NULL);
	struct tm tm;
	if (!gmtime_r(&now, &tm) || strftime(out, ABE_EPOCH_MAX + 1, "%Y-%m", &tm) == 0)
		die(EXIT_SYSTEM, "the current month: the clock is unusable");
}

void abe_epoch_option(const char *epoch)
{
	if (!abe_epoch_valid(epoch))
		die(EXIT_USAGE, "--epoch %s: 1 to %d of A-Z a-z 0-9 : - _ .", epoch, ABE_EPOCH_MAX);
}
