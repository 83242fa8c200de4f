/* Encrypted records: see abemsg.h. */
#include "abemsg.h"

#include <string.h>

#include <openssl/evp.h>

static bool is_hex_lower(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool is_b64(const char *s, size_t n)
{
	if (n == 0 || n % 4 != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
			  c == '/' || (c == '=' && i + 2 >= n);
		if (!ok)
			return false;
	}
	return true;
}

/* A decimal in 1..max without leading zeros, ending at stop; advances *p. */
static bool small_number(const char **p, const char *end, char stop, unsigned max, unsigned *out)
{
	const char *s = *p;
	unsigned v = 0;
	if (s == end || *s < '1' || *s > '9')
		return false;
	while (s < end && *s >= '0' && *s <= '9') {
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return false;
		s++;
	}
	if (s == end || *s != stop)
		return false;
	*p = s + 1;
	*out = v;
	return true;
}

bool abe_record_parse(const char *record, size_t len, struct abe_record *r, const char **why)
{
	memset(r, 0, sizeof *r);
	r->kind = ABE_NONE;
	if (len < sizeof ABE_MAGIC || memcmp(record, ABE_MAGIC " ", sizeof ABE_MAGIC) != 0)
		return true;
	const char *p = record + sizeof ABE_MAGIC, *end = record + len;
	enum abe_kind kind;
	if ((size_t)(end - p) > 8 && memcmp(p, "capsule ", 8) == 0) {
		kind = ABE_CAPSULE;
		p += 8;
	} else if ((size_t)(end - p) > 5 && memcmp(p, "data ", 5) == 0) {
		kind = ABE_DATA;
		p += 5;
	} else {
		*why = "encrypted record: neither \"capsule\" nor \"data\" after \"abe1\"";
		return false;
	}
	if ((size_t)(end - p) < ABE_ID_HEX + 1 || !is_hex_lower(p, ABE_ID_HEX) || p[ABE_ID_HEX] != ' ') {
		*why = "encrypted record: the capsule id is not 32 lowercase hex digits";
		return false;
	}
	memcpy(r->id, p, ABE_ID_HEX);
	r->id[ABE_ID_HEX] = '\0';
	p += ABE_ID_HEX + 1;
	if (kind == ABE_CAPSULE) {
		if (!small_number(&p, end, '/', ABE_PARTS_MAX, &r->part) ||
		    !small_number(&p, end, ' ', ABE_PARTS_MAX, &r->parts) || r->part > r->parts) {
			*why = "encrypted record: the capsule part is not PART/PARTS (1 to 32)";
			return false;
		}
		if ((size_t)(end - p) > ABE_PART_B64_MAX) {
			*why = "encrypted record: a capsule part longer than 3000 characters";
			return false;
		}
	}
	if (!is_b64(p, (size_t)(end - p))) {
		*why = "encrypted record: not base64";
		return false;
	}
	r->kind = kind;
	r->b64 = p;
	r->b64_len = (size_t)(end - p);
	return true;
}

void abe_capsule_id(const uint8_t *capsule, size_t len, char id[ABE_ID_HEX + 1])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	static const char hex[] = "0123456789abcdef";
	EVP_Digest(capsule, len, digest, &n, EVP_sha256(), NULL);
	for (int i = 0; i < ABE_ID_BYTES; i++) {
		id[2 * i] = hex[digest[i] >> 4];
		id[2 * i + 1] = hex[digest[i] & 15];
	}
	id[ABE_ID_HEX] = '\0';
}

size_t abe_aad(uint8_t out[ABE_AAD_MAX], const char *device, size_t device_len, const char *id)
{
	size_t n = 0;
	memcpy(out, "smqtt-abe1\n", 11);
	n += 11;
	memcpy(out + n, device, device_len);
	n += device_len;
	out[n++] = '\n';
	memcpy(out + n, id, ABE_ID_HEX);
	return n + ABE_ID_HEX;
}
