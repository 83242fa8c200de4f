#include "x509.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "error.h"

BIO *x509_open_pem(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return NULL;
	struct stat st;
	int err = fstat(fd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
	/* Through stdio: PEM is read a line at a time, and a bare fd BIO reads each line a byte at a time. */
	FILE *file = err ? NULL : fdopen(fd, "r");
	BIO *bio = file ? BIO_new_fp(file, BIO_CLOSE) : NULL;
	if (!bio) {
		err = err ? err : file ? ENOMEM : errno;
		if (file)
			fclose(file);
		else
			close(fd);
		errno = err;
	}
	return bio;
}

static BIO *open_pem(const char *what, const char *path)
{
	BIO *bio = x509_open_pem(path);
	if (!bio)
		die(EXIT_CONFIG, "%s %s: %s", what, path, strerror(errno));
	return bio;
}

X509 *x509_load_cert(const char *path)
{
	BIO *bio = open_pem("certificate", path);
	X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!cert)
		die_ssl(EXIT_CONFIG, "certificate %s: not a PEM certificate", path);
	return cert;
}

char *x509_pem(X509 *cert, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	if (!bio || !PEM_write_bio_X509(bio, cert))
		die_ssl(EXIT_SYSTEM, "encoding a certificate as PEM");
	long n = BIO_get_mem_data(bio, &data);
	char *pem = xmalloc((size_t)n + 1);
	memcpy(pem, data, (size_t)n);
	pem[n] = '\0';
	BIO_free(bio);
	*len = (size_t)n;
	return pem;
}

bool x509_common_name(X509 *cert, char *buf, size_t len)
{
	X509_NAME *name = X509_get_subject_name(cert);
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return false;
	ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	unsigned char *utf8 = NULL;
	int n = ASN1_STRING_to_UTF8(&utf8, data);
	bool ok = n > 0 && (size_t)n < len && !memchr(utf8, '\0', (size_t)n);
	if (ok) {
		memcpy(buf, utf8, (size_t)n);
		buf[n] = '\0';
	}
	OPENSSL_free(utf8);
	return ok;
}

EVP_PKEY *x509_load_public(const char *path, X509 **cert)
{
	BIO *bio = open_pem("trust file", path);
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len = 0;
	*cert = NULL;
	if (!PEM_read_bio(bio, &name, &header, &data, &len)) {
		BIO_free(bio);
		die_ssl(EXIT_CONFIG, "trust file %s: no PEM certificate or public key", path);
	}
	BIO_free(bio);
	EVP_PKEY *pkey = NULL;
	const unsigned char *p = data;
	if (strcmp(name, "CERTIFICATE") == 0) {
		*cert = d2i_X509(NULL, &p, len);
		if (*cert)
			pkey = X509_get_pubkey(*cert);
	} else if (strcmp(name, "PUBLIC KEY") == 0) {
		pkey = d2i_PUBKEY(NULL, &p, len);
	} else {
		char kind[64];
		snprintf(kind, sizeof kind, "%s", name);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		die(EXIT_CONFIG, "trust file %s: holds a %s, not a certificate or public key", path, kind);
	}
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	if (!pkey)
		die_ssl(EXIT_CONFIG, "trust file %s: damaged certificate or public key", path);
	return pkey;
}

bool pem_boundary(const char *line, size_t len, const char *kind, char label[64])
{
	size_t k = strlen(kind);
	if (len < 10 + k || memcmp(line, "-----", 5) != 0 || memcmp(line + 5, kind, k) != 0 ||
	    memcmp(line + len - 5, "-----", 5) != 0)
		return false;
	size_t n = len - 10 - k;
	if (n >= 64)
		n = 63;
	memcpy(label, line + 5 + k, n);
	label[n] = '\0';
	return true;
}
