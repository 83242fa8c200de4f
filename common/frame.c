#include "frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "error.h"

bool device_id_valid(const char *id, size_t len)
{
	if (len < 1 || len > DEVICE_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '_' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

bool seq_parse(const char *text, size_t len, uint64_t *seq)
{
	if (len < 1 || len > SEQ_TEXT_MAX || text[0] == '0')
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		unsigned d = (unsigned)(text[i] - '0');
		if (v > ((uint64_t)SEQ_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*seq = v;
	return true;
}

static bool base64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
	       c == '/' || c == '=';
}

/* Next space-terminated field starting at *p; advances *p past the space. */
static bool next_field(const char **p, const char *end, const char **field, size_t *len)
{
	const char *sp = memchr(*p, ' ', (size_t)(end - *p));
	if (!sp)
		return false;
	*field = *p;
	*len = (size_t)(sp - *p);
	*p = sp + 1;
	return true;
}

bool frame_parse(const char *line, size_t len, struct frame *f, const char **why)
{
	const char *p = line, *end = line + len;
	const char *magic, *seq_text;
	size_t magic_len, seq_len;

	if (len > FRAME_MAX) {
		*why = "frame too long";
		return false;
	}
	if (memchr(line, '\0', len) || memchr(line, '\r', len) || memchr(line, '\n', len)) {
		*why = "frame contains CR, LF or NUL";
		return false;
	}
	if (!next_field(&p, end, &magic, &magic_len) || magic_len != sizeof FRAME_MAGIC - 1 ||
	    memcmp(magic, FRAME_MAGIC, magic_len) != 0) {
		*why = "not an smqtt1 frame";
		return false;
	}
	if (!next_field(&p, end, &f->device, &f->device_len)) {
		*why = "missing fields after version";
		return false;
	}
	if (!device_id_valid(f->device, f->device_len)) {
		*why = "invalid device id";
		return false;
	}
	if (!next_field(&p, end, &seq_text, &seq_len)) {
		*why = "missing fields after device id";
		return false;
	}
	if (!seq_parse(seq_text, seq_len, &f->seq)) {
		*why = "invalid sequence number";
		return false;
	}
	if (!next_field(&p, end, &f->signature, &f->signature_len)) {
		*why = "missing record";
		return false;
	}
	if (f->signature_len < 4 || f->signature_len > SIGNATURE_B64_MAX || f->signature_len % 4 != 0) {
		*why = "invalid signature encoding";
		return false;
	}
	for (size_t i = 0; i < f->signature_len; i++) {
		if (!base64_char((unsigned char)f->signature[i])) {
			*why = "invalid signature encoding";
			return false;
		}
	}
	f->record = p;
	f->record_len = (size_t)(end - p);
	if (f->record_len == 0) {
		*why = "empty record";
		return false;
	}
	if (f->record_len > RECORD_MAX) {
		*why = "record too long";
		return false;
	}
	return true;
}

struct frame_hasher {
	EVP_MD *md;
	EVP_MD_CTX *ctx;
};

struct frame_hasher *frame_hasher_new(void)
{
	struct frame_hasher *h = xcalloc(1, sizeof *h);
	h->md = EVP_MD_fetch(NULL, "BLAKE2S-256", NULL);
	h->ctx = EVP_MD_CTX_new();
	if (!h->md || !h->ctx)
		die_ssl(EXIT_SYSTEM, "cannot set up BLAKE2s-256");
	return h;
}

void frame_hasher_free(struct frame_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	EVP_MD_free(h->md);
	free(h);
}

void frame_digest(struct frame_hasher *h, const char *device, size_t device_len, uint64_t seq,
		  const char *record, size_t record_len, unsigned char digest[DIGEST_LEN])
{
	char seq_text[SEQ_TEXT_MAX + 2];
	int seq_len = snprintf(seq_text, sizeof seq_text, "%llu\n", (unsigned long long)seq);
	unsigned int out_len = 0;

	if (!EVP_DigestInit_ex2(h->ctx, h->md, NULL) ||
	    !EVP_DigestUpdate(h->ctx, FRAME_CONTEXT, sizeof FRAME_CONTEXT - 1) ||
	    !EVP_DigestUpdate(h->ctx, device, device_len) || !EVP_DigestUpdate(h->ctx, "\n", 1) ||
	    !EVP_DigestUpdate(h->ctx, seq_text, (size_t)seq_len) ||
	    !EVP_DigestUpdate(h->ctx, record, record_len) || !EVP_DigestFinal_ex(h->ctx, digest, &out_len) ||
	    out_len != DIGEST_LEN)
		die_ssl(EXIT_SYSTEM, "BLAKE2s-256 failed");
}

size_t frame_format(char *out, const char *device, uint64_t seq, const char *signature_b64,
		    const char *record, size_t record_len)
{
	int n = snprintf(out, FRAME_MAX + 1, FRAME_MAGIC " %s %llu %s ", device, (unsigned long long)seq,
			 signature_b64);
	memcpy(out + n, record, record_len);
	return (size_t)n + record_len;
}
