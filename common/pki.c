#include "pki.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "error.h"
#include "x509.h"

static void add_extension(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext || !X509_add_ext(cert, ext, -1))
		die_ssl(EXIT_USAGE, "certificate extension %s = %s", OBJ_nid2sn(nid), value);
	X509_EXTENSION_free(ext);
}

/* A random positive serial of 128 bits (RFC 5280 allows up to 20 octets). */
static void set_random_serial(X509 *cert)
{
	unsigned char bytes[16];
	if (RAND_bytes(bytes, sizeof bytes) != 1)
		die_ssl(EXIT_SYSTEM, "random serial");
	bytes[0] &= 0x7f; /* positive */
	bytes[0] |= 0x40; /* and exactly 127 significant bits, never zero */
	BIGNUM *bn = BN_bin2bn(bytes, sizeof bytes, NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
		die_ssl(EXIT_SYSTEM, "random serial");
	BN_free(bn);
}

bool public_octets_of(EVP_PKEY *pkey, struct public_octets *out)
{
	if (!key_type_of(pkey, &out->type))
		return false;
	out->len = sizeof out->data;
	if (out->type == KEY_ED25519)
		return EVP_PKEY_get_raw_public_key(pkey, out->data, &out->len) == 1;
	return EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, out->data, sizeof out->data,
					       &out->len) == 1;
}

/*
 * Put the subject public key into the certificate from its algorithm and key
 * octets. X509_set_pubkey() gets the same SubjectPublicKeyInfo through the
 * generic encoder machinery, which costs more than signing the certificate;
 * in batch issuance that dominated the run time.
 */
static bool set_public_key(X509 *cert, const struct public_octets *pub)
{
	unsigned char *copy = OPENSSL_memdup(pub->data, pub->len);
	if (!copy)
		return false;
	X509_PUBKEY *spki = X509_get_X509_PUBKEY(cert);
	int ok;
	if (pub->type == KEY_ED25519)
		ok = X509_PUBKEY_set0_param(spki, OBJ_nid2obj(NID_ED25519), V_ASN1_UNDEF, NULL, copy, (int)pub->len);
	else
		ok = X509_PUBKEY_set0_param(spki, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
					    OBJ_nid2obj(pub->type == KEY_P256 ? NID_X9_62_prime256v1 : NID_secp384r1),
					    copy, (int)pub->len);
	if (!ok)
		OPENSSL_free(copy);
	return ok;
}

static X509 *new_certificate(const struct public_octets *pub, const char *common_name, int days)
{
	X509 *cert = X509_new();
	X509_NAME *name = X509_NAME_new();
	if (!cert || !name || !X509_set_version(cert, X509_VERSION_3) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)common_name, -1, -1, 0) ||
	    !X509_set_subject_name(cert, name) || !set_public_key(cert, pub) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), 0) ||
	    !X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL))
		die_ssl(EXIT_SYSTEM, "building certificate for %s", common_name);
	X509_NAME_free(name);
	set_random_serial(cert);
	return cert;
}

static const EVP_MD *digest_for(enum key_type type)
{
	return type == KEY_P384 ? EVP_sha384() : EVP_sha256();
}

X509 *ca_certificate_create(EVP_PKEY *key, enum key_type type, const char *common_name, int days)
{
	struct public_octets pub;
	if (!public_octets_of(key, &pub))
		die_ssl(EXIT_SYSTEM, "building CA certificate");
	X509 *cert = new_certificate(&pub, common_name, days);
	if (!X509_set_issuer_name(cert, X509_get_subject_name(cert)))
		die_ssl(EXIT_SYSTEM, "building CA certificate");
	add_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
	add_extension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
	add_extension(cert, cert, NID_subject_key_identifier, "hash");
	add_extension(cert, cert, NID_authority_key_identifier, "keyid:always");
	if (!X509_sign(cert, key, type == KEY_ED25519 ? NULL : digest_for(type)))
		die_ssl(EXIT_SYSTEM, "signing CA certificate");
	return cert;
}

static char *join(const char *dir, const char *file)
{
	size_t n = strlen(dir) + strlen(file) + 2;
	char *p = xmalloc(n);
	snprintf(p, n, "%s/%s", dir, file);
	return p;
}

void ca_load(struct ca *ca, const char *dir, const struct passphrase_source *pass)
{
	memset(ca, 0, sizeof *ca);
	ca->dir = xstrdup(dir);
	char *cert_path = join(dir, CA_CERT_FILE), *key_path = join(dir, CA_KEY_FILE);
	ca->cert = x509_load_cert(cert_path);
	ca->key = key_load_private(key_path, pass);
	if (X509_check_private_key(ca->cert, ca->key) != 1)
		die(EXIT_CONFIG, "CA %s: %s does not match %s", dir, CA_CERT_FILE, CA_KEY_FILE);
	enum key_type type;
	key_type_of(ca->key, &type);
	ca->md = type == KEY_ED25519 ? NULL : digest_for(type);
	free(cert_path);
	free(key_path);
}

void ca_free(struct ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	free(ca->dir);
	memset(ca, 0, sizeof *ca);
}

X509 *ca_issue(struct ca *ca, EVP_PKEY *pubkey, const char *common_name, enum cert_profile profile,
	       const char *san, int days)
{
	struct public_octets pub;
	if (!public_octets_of(pubkey, &pub))
		die_ssl(EXIT_SYSTEM, "building certificate for %s", common_name);
	return ca_issue_octets(ca, &pub, common_name, profile, san, days);
}

X509 *ca_issue_octets(struct ca *ca, const struct public_octets *pub, const char *common_name,
		      enum cert_profile profile, const char *san, int days)
{
	X509 *cert = new_certificate(pub, common_name, days);
	if (!X509_set_issuer_name(cert, X509_get_subject_name(ca->cert)))
		die_ssl(EXIT_SYSTEM, "building certificate for %s", common_name);
	add_extension(cert, ca->cert, NID_basic_constraints, "critical,CA:FALSE");
	add_extension(cert, ca->cert, NID_key_usage, "critical,digitalSignature");
	add_extension(cert, ca->cert, NID_ext_key_usage, profile == PROFILE_SERVER ? "serverAuth" : "clientAuth");
	add_extension(cert, ca->cert, NID_subject_key_identifier, "hash");
	add_extension(cert, ca->cert, NID_authority_key_identifier, "keyid:always");
	if (san && *san)
		add_extension(cert, ca->cert, NID_subject_alt_name, san);
	if (!X509_sign(cert, ca->key, ca->md))
		die_ssl(EXIT_SYSTEM, "signing certificate for %s", common_name);
	return cert;
}

void cert_serial_hex(X509 *cert, char *out, size_t len)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	snprintf(out, len, "%s", hex ? hex : "?");
	OPENSSL_free(hex);
	BN_free(bn);
}

void cert_fingerprint_hex(X509 *cert, char *out, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!X509_digest(cert, EVP_sha256(), md, &n))
		die_ssl(EXIT_SYSTEM, "certificate fingerprint");
	if (OPENSSL_buf2hexstr_ex(out, len, NULL, md, n, '\0') != 1)
		die_ssl(EXIT_SYSTEM, "certificate fingerprint");
}

int crl_reason_code(const char *name)
{
	static const char *const names[] = {
		"unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
		"cessationOfOperation", "certificateHold", NULL, "removeFromCRL", "privilegeWithdrawn",
		"aACompromise",
	};
	for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
		if (names[i] && strcmp(names[i], name) == 0)
			return i;
	return -1;
}
