#include "trust.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "devmap.h"
#include "error.h"
#include "x509.h"

struct trust {
	struct devmap *devices;
};

struct trust *trust_new(void)
{
	struct trust *t = xcalloc(1, sizeof *t);
	t->devices = devmap_new();
	return t;
}

static void free_device(void *p)
{
	struct trusted_device *d = p;
	for (size_t i = 0; i < d->nkeys; i++)
		signing_key_free(d->keys[i]);
	free(d);
}

void trust_free(struct trust *t)
{
	if (!t)
		return;
	devmap_free(t->devices, free_device);
	free(t);
}

void trust_add_file(struct trust *t, const char *device, const char *path)
{
	X509 *cert = NULL;
	EVP_PKEY *pkey = x509_load_public(path, &cert);
	char cn[DEVICE_ID_MAX + 1];
	if (!device) {
		if (!cert)
			die(EXIT_USAGE, "trust file %s: a public key needs its device id (-p DEVICE=%s)", path, path);
		if (!x509_common_name(cert, cn, sizeof cn) || !device_id_valid(cn, strlen(cn)))
			die(EXIT_CONFIG, "certificate %s: subject CN is not a valid device id", path);
		device = cn;
	}
	X509_free(cert);
	if (!device_id_valid(device, strlen(device)))
		die(EXIT_USAGE, "%s: invalid device id (1-64 of A-Z a-z 0-9 . _ -)", device);
	struct signing_key *key = signing_key_new(pkey, false);
	if (!key)
		die(EXIT_CONFIG, "trust file %s: unsupported key type (use p256, p384 or ed25519)", path);

	struct trusted_device *d = devmap_get(t->devices, device, strlen(device));
	if (!d) {
		d = xcalloc(1, sizeof *d);
		devmap_put(t->devices, device, strlen(device), d);
	}
	if (d->nkeys == TRUST_KEYS_MAX)
		die(EXIT_USAGE, "device %s: more than %d keys given", device, TRUST_KEYS_MAX);
	d->keys[d->nkeys++] = key;
}

struct trusted_device *trust_lookup(struct trust *t, const char *device, size_t len)
{
	return devmap_get(t->devices, device, len);
}

enum verdict trust_verify(struct trusted_device *d, const unsigned char digest[DIGEST_LEN],
			  const char *b64, size_t b64_len)
{
	enum verdict v = SIGNATURE_INVALID;
	for (size_t i = 0; i < d->nkeys; i++) {
		v = signature_verify(d->keys[i], digest, b64, b64_len);
		if (v == SIGNATURE_VALID)
			return v;
	}
	return v;
}
