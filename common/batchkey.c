/*
 * OpenSSL 3.0 builds a new encoder chain every time a provider key is written
 * (OSSL_ENCODER_CTX_new_for_pkey): about 60 us per key, three times the cost
 * of making the key. The EC_KEY interface, deprecated in 3.0 but present,
 * encodes through the EC method's own PKCS#8 writer, which costs a few
 * microseconds; the file is the same PKCS#8 PrivateKeyInfo either way.
 * OpenSSL 3.1 and later cache encoder chains, so once 3.0 is no longer
 * supported this file can go back to EVP_PKEY_keygen and
 * PEM_write_bio_PrivateKey. The deprecated calls are confined to this file.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "batchkey.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "error.h"

struct batch_keygen {
	EC_GROUP *group;
	BIO *out; /* reused memory BIO for the PEM text */
};

struct batch_keygen *batch_keygen_new(enum key_type type)
{
	if (type != KEY_P256 && type != KEY_P384)
		die(EXIT_SYSTEM, "batch key generation: %s is not an EC key type", key_type_name(type));
	struct batch_keygen *g = xcalloc(1, sizeof *g);
	g->group = EC_GROUP_new_by_curve_name(type == KEY_P256 ? NID_X9_62_prime256v1 : NID_secp384r1);
	g->out = BIO_new(BIO_s_mem());
	if (!g->group || !g->out)
		die_ssl(EXIT_SYSTEM, "setting up key generation");
	return g;
}

void batch_keygen_free(struct batch_keygen *g)
{
	if (!g)
		return;
	EC_GROUP_free(g->group);
	BIO_free(g->out);
	free(g);
}

bool batch_key_generate(struct batch_keygen *g, struct batch_key *out)
{
	bool ok = false;
	EC_KEY *ec = EC_KEY_new();
	EVP_PKEY *pkey = EVP_PKEY_new();
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	if (!ec || !pkey || !EC_KEY_set_group(ec, g->group) || !EC_KEY_generate_key(ec))
		goto end;
	out->point_len = EC_POINT_point2oct(g->group, EC_KEY_get0_public_key(ec), POINT_CONVERSION_UNCOMPRESSED,
					    out->point, sizeof out->point, NULL);
	if (out->point_len == 0 || !EVP_PKEY_set1_EC_KEY(pkey, ec) || !(p8 = EVP_PKEY2PKCS8(pkey)))
		goto end;
	(void)BIO_reset(g->out);
	BUF_MEM *buf = NULL;
	if (!PEM_write_bio_PKCS8_PRIV_KEY_INFO(g->out, p8) || BIO_get_mem_ptr(g->out, &buf) <= 0 || !buf ||
	    buf->length >= sizeof out->pem)
		goto end;
	memcpy(out->pem, buf->data, buf->length);
	out->pem_len = buf->length;
	out->pem[out->pem_len] = '\0';
	ok = true;
end:
	if (g->out)
		(void)BIO_reset(g->out);
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_PKEY_free(pkey);
	EC_KEY_free(ec);
	return ok;
}
