/* Certificates: loading trust files and reading the device id (CN) out of them. */
#ifndef SMQTT_X509_H
#define SMQTT_X509_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * Open a PEM file for reading; NULL with errno set when it cannot be opened.
 * A directory is refused with EISDIR: open(2) takes one, and reading it would
 * only end in PEM's "no start line".
 */
BIO *x509_open_pem(const char *path);

/* Load one PEM certificate; dies with EXIT_CONFIG naming the file. */
X509 *x509_load_cert(const char *path);

/* The certificate as PEM text, NUL-terminated (free it); *len is its length. Dies on failure. */
char *x509_pem(X509 *cert, size_t *len);

/* Copy the subject CN into buf; false if absent, repeated or longer than len - 1. */
bool x509_common_name(X509 *cert, char *buf, size_t len);

/*
 * Load a PEM file holding either a certificate or a public key. *cert is set
 * (and owned by the caller) when it was a certificate. Dies with EXIT_CONFIG.
 */
EVP_PKEY *x509_load_public(const char *path, X509 **cert);

/*
 * Whether a line of input is "-----BEGIN LABEL-----" (kind "BEGIN ") or
 * "-----END LABEL-----" (kind "END "); copies LABEL, cut to 63 bytes.
 */
bool pem_boundary(const char *line, size_t len, const char *kind, char label[64]);

#endif
