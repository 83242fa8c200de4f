/*
 * The operator's certificate authority: a self-signed root, device (client)
 * and broker (server) certificates signed by it, and CRLs. Everything X.509
 * is done by OpenSSL; this module only fixes the profiles.
 */
#ifndef SMQTT_PKI_H
#define SMQTT_PKI_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "keys.h"

struct ca {
	char *dir;
	X509 *cert;
	EVP_PKEY *key;
	const EVP_MD *md; /* SHA-256 for a P-256 CA, SHA-384 for P-384 */
};

/* Paths inside a CA directory. */
#define CA_CERT_FILE "ca.crt"
#define CA_KEY_FILE "ca.key"
#define CA_INDEX_FILE "index.txt"     /* one "SERIAL DEVICE NOTAFTER" line per issued certificate */
#define CA_CRLNUMBER_FILE "crlnumber" /* last CRL number issued */

/* Create a self-signed root certificate for key. */
X509 *ca_certificate_create(EVP_PKEY *key, enum key_type type, const char *common_name, int days);

/* Load CADIR/ca.crt and CADIR/ca.key (mode 0600 enforced); dies with EXIT_CONFIG naming the file. */
void ca_load(struct ca *ca, const char *dir, const struct passphrase_source *pass);
void ca_free(struct ca *ca);

enum cert_profile { PROFILE_DEVICE, PROFILE_SERVER };

/*
 * Issue a certificate for pubkey with subject CN=common_name: random positive
 * 128-bit serial, digitalSignature key usage, clientAuth (device) or
 * serverAuth (server) extended key usage, subjectAltName entries for a server.
 * san is a comma-separated OpenSSL list such as "DNS:localhost,IP:127.0.0.1".
 */
X509 *ca_issue(struct ca *ca, EVP_PKEY *pubkey, const char *common_name, enum cert_profile profile,
	       const char *san, int days);

/* A public key as a certificate carries it: an EC point or the raw Ed25519 key. */
struct public_octets {
	enum key_type type;
	unsigned char data[160];
	size_t len;
};
bool public_octets_of(EVP_PKEY *pkey, struct public_octets *out);

/* ca_issue for a key known only by its octets (batch issuance makes those without an EVP_PKEY). */
X509 *ca_issue_octets(struct ca *ca, const struct public_octets *pub, const char *common_name,
		      enum cert_profile profile, const char *san, int days);

/* Uppercase hex serial and SHA-256 fingerprint of a certificate. */
void cert_serial_hex(X509 *cert, char *out, size_t len);
void cert_fingerprint_hex(X509 *cert, char *out, size_t len);

#define CRL_REASON_UNSPECIFIED 0
/* RFC 5280 reason name (keyCompromise, superseded, ...) to code; -1 if unknown. */
int crl_reason_code(const char *name);

#endif
