/*
 * libFuzzer harness: the BLS12-381 point decoders. The first byte picks the
 * group (even: G1, 48 bytes follow; odd: G2, 96 bytes follow). A point that
 * decodes must be on the curve and in the subgroup, and must encode back to
 * exactly the bytes it came from: the format has one encoding per point.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bls12_381/bls12_381.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] % 2 == 0) {
		uint8_t in[BLS_G1_BYTES], out[BLS_G1_BYTES];
		struct bls_g1 p;
		if (size != 1 + sizeof in)
			return 0;
		memcpy(in, data + 1, sizeof in);
		if (bls_g1_decode(&p, in) != 0)
			return 0;
		if (!bls_g1_is_on_curve(&p) || !bls_g1_in_subgroup(&p))
			abort();
		bls_g1_encode(out, &p);
		if (memcmp(in, out, sizeof in) != 0)
			abort();
	} else {
		uint8_t in[BLS_G2_BYTES], out[BLS_G2_BYTES];
		struct bls_g2 p;
		if (size != 1 + sizeof in)
			return 0;
		memcpy(in, data + 1, sizeof in);
		if (bls_g2_decode(&p, in) != 0)
			return 0;
		if (!bls_g2_is_on_curve(&p) || !bls_g2_in_subgroup(&p))
			abort();
		bls_g2_encode(out, &p);
		if (memcmp(in, out, sizeof in) != 0)
			abort();
	}
	return 0;
}
