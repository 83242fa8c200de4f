/*
 * Device manifests for batch issuance, in YAML (parsed with libyaml):
 *
 *     devices:
 *       - id: ABC                  # required
 *         csr: abc.csr             # optional: sign this CSR instead of making a key
 *         pubkey: abc.pub          # optional: sign this public key
 *         attributes: {site: north, feeder: F12}
 *       - DEF                      # a bare id is enough
 *
 * Devices are handed to a callback one at a time, so a manifest of a million
 * devices is never held in memory.
 */
#ifndef SMQTT_MANIFEST_H
#define SMQTT_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define MANIFEST_ATTRIBUTES_MAX 1024 /* "name=value name=value" text */

struct manifest_device {
	unsigned long line; /* 1-based line of the entry in the file */
	const char *id;
	const char *csr;    /* NULL if absent */
	const char *pubkey; /* NULL if absent */
	const char *attributes; /* "name=value ..." or "" */
};

/*
 * Read the manifest, calling fn for each device (fn's return value is ignored
 * for flow; per-device problems are the caller's to report). A structural
 * error in the YAML ends the program with EXIT_CONFIG, naming FILE:LINE.
 * Returns the number of devices seen.
 */
size_t manifest_read(const char *path, void (*fn)(const struct manifest_device *d, void *arg), void *arg);

/* The same from an open stream; on a structural error writes "NAME:LINE: why" to error and returns false. */
bool manifest_read_stream(FILE *f, const char *name, void (*fn)(const struct manifest_device *d, void *arg),
			  void *arg, size_t *count, char *error, size_t error_len);

/* Attribute names are [a-z][a-z0-9_]*; values are non-empty and hold no space, '=' or control byte. */
bool attribute_name_valid(const char *s, size_t len);
bool attribute_value_valid(const char *s, size_t len);
/* Names smqtt-issue's output lines use for their own fields, so no attribute may take them. */
bool attribute_name_reserved(const char *s, size_t len);
#define ATTRIBUTE_RESERVED_WHY "serial, fingerprint, cert and key are not attribute names"

#endif
