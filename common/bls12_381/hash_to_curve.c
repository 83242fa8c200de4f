/*
 * Hashing to G1 per RFC 9380, suite BLS12381G1_XMD:SHA-256_SSWU_RO_:
 *
 *   expand_message_xmd (section 5.3.1) with SHA-256 through OpenSSL's EVP,
 *   hash_to_field with count 2 and L = 64 (section 5.2),
 *   the simplified SWU map to the curve E' isogenous to E (section 6.6.2),
 *   the 11-isogeny from E' to E (appendix E.2),
 *   cofactor clearing by h_eff = 0xd201000000010001 (section 8.8.1).
 *
 * Constant time in the message (it may name an attribute a caller wants to
 * keep private): the map is the RFC's straight-line version, with every
 * choice made by a masked move, and the isogeny and the cofactor clearing
 * are fixed sequences of field operations. Only the lengths of the message
 * and the tag are visible.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "internal.h"

#define SHA256_BYTES 32
#define SHA256_BLOCK 64
/* Two field elements of L = ceil((381 + 128) / 8) = 64 bytes each. */
#define FIELD_ELEMENT_BYTES 64
#define UNIFORM_BYTES (2 * FIELD_ELEMENT_BYTES)

/* The constants of RFC 9380 section 8.8.1 and appendix E.2, in the RFC's own hex. */
static const char curve_a_hex[] = /* A' of E': y^2 = x^3 + A' x + B' */
	"144698a3b8e9433d693a02c96d4982b0ea985383ee66a8d8e8981aefd881ac98936f8da0e0f97f5cf428082d584c1d";
static const char curve_b_hex[] =
	"12e2908d11688030018b12e8753eee3b2016c1f0f24f4070a0b9c14fcef35ef55a23215a316ceaa5d1cc48e98e172be0";
#define SSWU_Z 11
static const char minus_b_over_a_hex[] = /* -B' / A' */
	"0793154fd85631d966ef2470460c78f6a928ad9f5bdbfac21df39753aa278ba751bdfcf95a84188e29d670675e4c9c7c";
static const char minus_one_over_z_hex[] = /* -1 / Z */
	"025d302c90dd14f6c102839c34a9c9e509221e235bf4d328ac4a41b18aca44ec02c9d1743eaa8ba2e25cfffffffff83e";

static const char *const x_num_hex[12] = {
	"11a05f2b1e833340b809101dd99815856b303e88a2d7005ff2627b56cdb4e2c85610c2d5f2e62d6eaeac1662734649b7",
	"17294ed3e943ab2f0588bab22147a81c7c17e75b2f6a8417f565e33c70d1e86b4838f2a6f318c356e834eef1b3cb83bb",
	"d54005db97678ec1d1048c5d10a9a1bce032473295983e56878e501ec68e25c958c3e3d2a09729fe0179f9dac9edcb0",
	"1778e7166fcc6db74e0609d307e55412d7f5e4656a8dbf25f1b33289f1b330835336e25ce3107193c5b388641d9b6861",
	"e99726a3199f4436642b4b3e4118e5499db995a1257fb3f086eeb65982fac18985a286f301e77c451154ce9ac8895d9",
	"1630c3250d7313ff01d1201bf7a74ab5db3cb17dd952799b9ed3ab9097e68f90a0870d2dcae73d19cd13c1c66f652983",
	"d6ed6553fe44d296a3726c38ae652bfb11586264f0f8ce19008e218f9c86b2a8da25128c1052ecaddd7f225a139ed84",
	"17b81e7701abdbe2e8743884d1117e53356de5ab275b4db1a682c62ef0f2753339b7c8f8c8f475af9ccb5618e3f0c88e",
	"80d3cf1f9a78fc47b90b33563be990dc43b756ce79f5574a2c596c928c5d1de4fa295f296b74e956d71986a8497e317",
	"169b1f8e1bcfa7c42e0c37515d138f22dd2ecb803a0c5c99676314baf4bb1b7fa3190b2edc0327797f241067be390c9e",
	"10321da079ce07e272d8ec09d2565b0dfa7dccdde6787f96d50af36003b14866f69b771f8c285decca67df3f1605fb7b",
	"6e08c248e260e70bd1e962381edee3d31d79d7e22c837bc23c0bf1bc24c6b68c24b1b80b64d391fa9c8ba2e8ba2d229",
};
/* x_den is monic of degree 10: k_(2,0) .. k_(2,9), then 1. */
static const char *const x_den_hex[10] = {
	"8ca8d548cff19ae18b2e62f4bd3fa6f01d5ef4ba35b48ba9c9588617fc8ac62b558d681be343df8993cf9fa40d21b1c",
	"12561a5deb559c4348b4711298e536367041e8ca0cf0800c0126c2588c48bf5713daa8846cb026e9e5c8276ec82b3bff",
	"b2962fe57a3225e8137e629bff2991f6f89416f5a718cd1fca64e00b11aceacd6a3d0967c94fedcfcc239ba5cb83e19",
	"3425581a58ae2fec83aafef7c40eb545b08243f16b1655154cca8abc28d6fd04976d5243eecf5c4130de8938dc62cd8",
	"13a8e162022914a80a6f1d5f43e7a07dffdfc759a12062bb8d6b44e833b306da9bd29ba81f35781d539d395b3532a21e",
	"e7355f8e4e667b955390f7f0506c6e9395735e9ce9cad4d0a43bcef24b8982f7400d24bc4228f11c02df9a29f6304a5",
	"772caacf16936190f3e0c63e0596721570f5799af53a1894e2e073062aede9cea73b3538f0de06cec2574496ee84a3a",
	"14a7ac2a9d64a8b230b3f5b074cf01996e7f63c21bca68a81996e1cdf9822c580fa5b9489d11e2d311f7d99bbdcc5a5e",
	"a10ecf6ada54f825e920b3dafc7a3cce07f8d1d7161366b74100da67f39883503826692abba43704776ec3a79a1d641",
	"95fc13ab9e92ad4476d6e3eb3a56680f682b4ee96f7d03776df533978f31c1593174e4b4b7865002d6384d168ecdd0a",
};
static const char *const y_num_hex[16] = {
	"90d97c81ba24ee0259d1f094980dcfa11ad138e48a869522b52af6c956543d3cd0c7aee9b3ba3c2be9845719707bb33",
	"134996a104ee5811d51036d776fb46831223e96c254f383d0f906343eb67ad34d6c56711962fa8bfe097e75a2e41c696",
	"cc786baa966e66f4a384c86a3b49942552e2d658a31ce2c344be4b91400da7d26d521628b00523b8dfe240c72de1f6",
	"1f86376e8981c217898751ad8746757d42aa7b90eeb791c09e4a3ec03251cf9de405aba9ec61deca6355c77b0e5f4cb",
	"8cc03fdefe0ff135caf4fe2a21529c4195536fbe3ce50b879833fd221351adc2ee7f8dc099040a841b6daecf2e8fedb",
	"16603fca40634b6a2211e11db8f0a6a074a7d0d4afadb7bd76505c3d3ad5544e203f6326c95a807299b23ab13633a5f0",
	"4ab0b9bcfac1bbcb2c977d027796b3ce75bb8ca2be184cb5231413c4d634f3747a87ac2460f415ec961f8855fe9d6f2",
	"987c8d5333ab86fde9926bd2ca6c674170a05bfe3bdd81ffd038da6c26c842642f64550fedfe935a15e4ca31870fb29",
	"9fc4018bd96684be88c9e221e4da1bb8f3abd16679dc26c1e8b6e6a1f20cabe69d65201c78607a360370e577bdba587",
	"e1bba7a1186bdb5223abde7ada14a23c42a0ca7915af6fe06985e7ed1e4d43b9b3f7055dd4eba6f2bafaaebca731c30",
	"19713e47937cd1be0dfd0b8f1d43fb93cd2fcbcb6caf493fd1183e416389e61031bf3a5cce3fbafce813711ad011c132",
	"18b46a908f36f6deb918c143fed2edcc523559b8aaf0c2462e6bfe7f911f643249d9cdf41b44d606ce07c8a4d0074d8e",
	"b182cac101b9399d155096004f53f447aa7b12a3426b08ec02710e807b4633f06c851c1919211f20d4c04f00b971ef8",
	"245a394ad1eca9b72fc00ae7be315dc757b3b080d4c158013e6632d3c40659cc6cf90ad1c232a6442d9d3f5db980133",
	"5c129645e44cf1102a159f748c4a3fc5e673d81d7e86568d9ab0f5d396a7ce46ba1049b6579afb7866b1e715475224b",
	"15e6be4e990f03ce4ea50b3b42df2eb5cb181d8f84965a3957add4fa95af01b2b665027efec01c7704b456be69c8b604",
};
/* y_den is monic of degree 15: k_(4,0) .. k_(4,14), then 1. */
static const char *const y_den_hex[15] = {
	"16112c4c3a9c98b252181140fad0eae9601a6de578980be6eec3232b5be72e7a07f3688ef60c206d01479253b03663c1",
	"1962d75c2381201e1a0cbd6c43c348b885c84ff731c4d59ca4a10356f453e01f78a4260763529e3532f6102c2e49a03d",
	"58df3306640da276faaae7d6e8eb15778c4855551ae7f310c35a5dd279cd2eca6757cd636f96f891e2538b53dbf67f2",
	"16b7d288798e5395f20d23bf89edb4d1d115c5dbddbcd30e123da489e726af41727364f2c28297ada8d26d98445f5416",
	"be0e079545f43e4b00cc912f8228ddcc6d19c9f0f69bbb0542eda0fc9dec916a20b15dc0fd2ededda39142311a5001d",
	"8d9e5297186db2d9fb266eaac783182b70152c65550d881c5ecd87b6f0f5a6449f38db9dfa9cce202c6477faaf9b7ac",
	"166007c08a99db2fc3ba8734ace9824b5eecfdfa8d0cf8ef5dd365bc400a0051d5fa9c01a58b1fb93d1a1399126a775c",
	"16a3ef08be3ea7ea03bcddfabba6ff6ee5a4375efa1f4fd7feb34fd206357132b920f5b00801dee460ee415a15812ed9",
	"1866c8ed336c61231a1be54fd1d74cc4f9fb0ce4c6af5920abc5750c4bf39b4852cfe2f7bb9248836b233d9d55535d4a",
	"167a55cda70a6e1cea820597d94a84903216f763e13d87bb5308592e7ea7d4fbc7385ea3d529b35e346ef48bb8913f55",
	"4d2f259eea405bd48f010a01ad2911d9c6dd039bb61a6290e591b36e636a5c871a5c29f4f83060400f8b49cba8f6aa8",
	"accbb67481d033ff5852c1e48c50c477f94ff8aefce42d28c0f9a88cea7913516f968986f7ebbea9684b529e2561092",
	"ad6b9514c767fe3c3613144b45f1496543346d98adf02267d5ceef9a00d9b8693000763e3b90ac11e99b138573345cc",
	"2660400eb2e4f3b628bdd0d53cd76f2bf565b94e72927c1cb748df27942480e420517bd8714cc80d1fadc1326ed06f7",
	"e0fa1d816ddc03e6b24255e0d7819c171c40f65e273b853324efcd6356caa205ca2f570f13497804415473a1d634b8f",
};

/* h_eff for G1 (RFC 9380 section 8.8.1): 1 - x. */
static const uint64_t cofactor_h_eff[1] = {0xd201000000010001};

/* A constant of the tables above: at most 96 hex digits, below p. */
static void fp_from_hex(struct bls_fp *r, const char *hex)
{
	uint8_t b[BLS_FP_BYTES] = {0};
	size_t n = strlen(hex);
	for (size_t i = 0; i < n; i++) {
		char c = hex[n - 1 - i];
		unsigned v = c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
		b[BLS_FP_BYTES - 1 - i / 2] |= (uint8_t)(v << (4 * (i % 2)));
	}
	if (bls_fp_from_bytes(r, b) != 0)
		bls_fp_zero(r); /* cannot happen: the tests check every constant through the RFC's vectors */
}

static void fp_from_small(struct bls_fp *r, unsigned v)
{
	bls_fp_zero(r);
	for (unsigned i = 0; i < v; i++)
		bls_fp_add(r, r, &bls_fp_one_mont);
}

/* RFC 9380 section 5.3.1, for len_in_bytes = 128 (ell = 4). */
int bls_expand_message_xmd(uint8_t *out, size_t out_len, const uint8_t *msg, size_t msg_len,
	const uint8_t *dst, size_t dst_len)
{
	static const uint8_t zero_block[SHA256_BLOCK];
	uint8_t b0[SHA256_BYTES], bi[SHA256_BYTES], x[SHA256_BYTES];
	uint8_t length[2] = {(uint8_t)(out_len >> 8), (uint8_t)out_len};
	uint8_t dst_size = (uint8_t)dst_len, zero = 0;
	size_t ell = (out_len + SHA256_BYTES - 1) / SHA256_BYTES;
	int ok = 0;

	if (dst_len == 0 || dst_len > 255 || out_len == 0 || out_len > 65535 || ell > 255)
		return -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return -1;
	/* b_0 = H(Z_pad || msg || l_i_b_str || I2OSP(0, 1) || DST_prime) */
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, zero_block, sizeof zero_block) != 1 ||
	    EVP_DigestUpdate(ctx, msg, msg_len) != 1 ||
	    EVP_DigestUpdate(ctx, length, sizeof length) != 1 ||
	    EVP_DigestUpdate(ctx, &zero, 1) != 1 ||
	    EVP_DigestUpdate(ctx, dst, dst_len) != 1 ||
	    EVP_DigestUpdate(ctx, &dst_size, 1) != 1 ||
	    EVP_DigestFinal_ex(ctx, b0, NULL) != 1)
		goto done;
	/* b_i = H(strxor(b_0, b_(i-1)) || I2OSP(i, 1) || DST_prime), b_1 with b_0 alone. */
	memset(bi, 0, sizeof bi);
	for (size_t i = 1; i <= ell; i++) {
		uint8_t index = (uint8_t)i;
		for (size_t j = 0; j < SHA256_BYTES; j++)
			x[j] = b0[j] ^ bi[j];
		if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
		    EVP_DigestUpdate(ctx, x, sizeof x) != 1 ||
		    EVP_DigestUpdate(ctx, &index, 1) != 1 ||
		    EVP_DigestUpdate(ctx, dst, dst_len) != 1 ||
		    EVP_DigestUpdate(ctx, &dst_size, 1) != 1 ||
		    EVP_DigestFinal_ex(ctx, bi, NULL) != 1)
			goto done;
		size_t at = (i - 1) * SHA256_BYTES;
		memcpy(out + at, bi, out_len - at < SHA256_BYTES ? out_len - at : SHA256_BYTES);
	}
	ok = 1;
done:
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(b0, sizeof b0);
	OPENSSL_cleanse(bi, sizeof bi);
	OPENSSL_cleanse(x, sizeof x);
	return ok ? 0 : -1;
}

int bls_hash_to_field(struct bls_fp u[2], const uint8_t *msg, size_t msg_len,
	const uint8_t *dst, size_t dst_len)
{
	uint8_t uniform[UNIFORM_BYTES];
	if (bls_expand_message_xmd(uniform, sizeof uniform, msg, msg_len, dst, dst_len) != 0)
		return -1;
	bls_fp_from_bytes_reduce(&u[0], uniform, FIELD_ELEMENT_BYTES);
	bls_fp_from_bytes_reduce(&u[1], uniform + FIELD_ELEMENT_BYTES, FIELD_ELEMENT_BYTES);
	OPENSSL_cleanse(uniform, sizeof uniform);
	return 0;
}

/* Simplified SWU onto E', as RFC 9380 writes it out in straight-line form (map_to_curve_simple_swu). */
static void map_to_isogenous_curve(struct bls_fp *x, struct bls_fp *y, const struct bls_fp *u)
{
	struct bls_fp a, b, z, c1, c2, tv1, tv2, x1, x2, gx1, gx2, t, y1, y2, neg;
	fp_from_hex(&a, curve_a_hex);
	fp_from_hex(&b, curve_b_hex);
	fp_from_small(&z, SSWU_Z);
	fp_from_hex(&c1, minus_b_over_a_hex);
	fp_from_hex(&c2, minus_one_over_z_hex);

	bls_fp_sqr(&tv1, u);
	bls_fp_mul(&tv1, &tv1, &z);             /* tv1 = Z u^2 */
	bls_fp_sqr(&tv2, &tv1);                 /* tv2 = tv1^2 */
	bls_fp_add(&x1, &tv1, &tv2);
	bls_fp_inv(&x1, &x1);                   /* inv0: 0 stays 0 */
	bool e1 = bls_fp_is_zero(&x1);
	bls_fp_add(&x1, &x1, &bls_fp_one_mont);
	bls_fp_cmov(&x1, &c2, e1);              /* tv1 + tv2 = 0: x1 = -1 / Z */
	bls_fp_mul(&x1, &x1, &c1);              /* x1 = (-B / A)(1 + 1 / (Z^2 u^4 + Z u^2)) */
	bls_fp_sqr(&gx1, &x1);
	bls_fp_add(&gx1, &gx1, &a);
	bls_fp_mul(&gx1, &gx1, &x1);
	bls_fp_add(&gx1, &gx1, &b);             /* gx1 = x1^3 + A x1 + B */
	bls_fp_mul(&x2, &tv1, &x1);             /* x2 = Z u^2 x1 */
	bls_fp_mul(&tv2, &tv1, &tv2);
	bls_fp_mul(&gx2, &gx1, &tv2);           /* gx2 = (Z u^2)^3 gx1 */
	bool e2 = bls_fp_sqrt(&y1, &gx1);
	bls_fp_sqrt(&y2, &gx2);
	*x = x2;
	bls_fp_cmov(x, &x1, e2);
	t = y2;
	bls_fp_cmov(&t, &y1, e2);
	bool e3 = bls_fp_sgn0(u) == bls_fp_sgn0(&t);
	bls_fp_neg(&neg, &t);
	*y = neg;
	bls_fp_cmov(y, &t, e3);
}

/* sum k[i] x^i for i < n, plus x^n when monic. */
static void polynomial(struct bls_fp *r, const char *const *k, size_t n, bool monic, const struct bls_fp *x)
{
	struct bls_fp acc, c;
	if (monic) {
		bls_fp_one(&acc);
	} else {
		fp_from_hex(&acc, k[n - 1]);
		n--;
	}
	for (size_t i = n; i-- > 0;) {
		bls_fp_mul(&acc, &acc, x);
		fp_from_hex(&c, k[i]);
		bls_fp_add(&acc, &acc, &c);
	}
	*r = acc;
}

/*
 * The 11-isogeny E' -> E, straight into projective coordinates:
 * (x_num y_den : y' y_num x_den : x_den y_den). A zero denominator (the
 * isogeny's kernel) gives the identity, as the RFC asks.
 */
static void isogeny_map(struct bls_g1 *r, const struct bls_fp *x, const struct bls_fp *y)
{
	struct bls_fp xn, xd, yn, yd;
	struct bls_g1 identity;
	polynomial(&xn, x_num_hex, 12, false, x);
	polynomial(&xd, x_den_hex, 10, true, x);
	polynomial(&yn, y_num_hex, 16, false, x);
	polynomial(&yd, y_den_hex, 15, true, x);
	bls_fp_mul(&yn, &yn, y);
	bls_fp_mul(&r->x, &xn, &yd);
	bls_fp_mul(&r->y, &yn, &xd);
	bls_fp_mul(&r->z, &xd, &yd);
	bls_g1_identity(&identity);
	bool at_infinity = bls_fp_is_zero(&r->z);
	bls_fp_cmov(&r->x, &identity.x, at_infinity);
	bls_fp_cmov(&r->y, &identity.y, at_infinity);
	bls_fp_cmov(&r->z, &identity.z, at_infinity);
}

void bls_map_to_g1_curve(struct bls_g1 *r, const struct bls_fp *u)
{
	struct bls_fp x, y;
	map_to_isogenous_curve(&x, &y, u);
	isogeny_map(r, &x, &y);
}

int bls_hash_to_g1(struct bls_g1 *r, const uint8_t *msg, size_t msg_len,
	const uint8_t *dst, size_t dst_len)
{
	struct bls_fp u[2];
	struct bls_g1 q0, q1;
	if (bls_hash_to_field(u, msg, msg_len, dst, dst_len) != 0)
		return -1;
	bls_map_to_g1_curve(&q0, &u[0]);
	bls_map_to_g1_curve(&q1, &u[1]);
	bls_g1_add(&q0, &q0, &q1);
	/* A fixed public multiplier: the same operations whatever the point. */
	bls_g1_mul_vartime(r, &q0, cofactor_h_eff, 1);
	return 0;
}
