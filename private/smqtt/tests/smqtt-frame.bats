#!/usr/bin/env bats
# smqtt-frame(5): the format as documented, and the man page's openssl recipe.

load test_helper

setup() { common_setup; }

# The recipe exactly as printed in man/smqtt-frame.5 (mdoc's \e is a backslash).
recipe() {
	sed -n '/^\.\\" openssl-recipe-begin/,/^\.\\" openssl-recipe-end/p' "$REPO/man/smqtt-frame.5" |
		grep -v '^\.' | sed 's/\\e/\\/g' > recipe.sh
	[ "$(wc -l < recipe.sh)" -ge 5 ] || fail "recipe not found in man/smqtt-frame.5"
}

@test "frame: the man page's openssl recipe verifies a P-256 frame" {
	recipe
	make_key m
	echo 'ABC,2013-11-02 00:15:00,0,58.0' | smqtt-sign -k m.key -i ABC > frames.txt
	cp m.pub pub.pem
	run sh recipe.sh
	assert_status 0
	assert_contains "Signature Verified Successfully"
}

@test "frame: the recipe verifies P-384, and Ed25519 with -rawin" {
	recipe
	make_key p p384
	echo 'r, with spaces,  and commas ,' | smqtt-sign -k p.key -i P > frames.txt
	cp p.pub pub.pem
	run sh recipe.sh
	assert_status 0
	assert_contains "Signature Verified Successfully"
	make_key e ed25519
	echo 'ed,1' | smqtt-sign -k e.key -i E > frames.txt
	cp e.pub pub.pem
	sed 's/pkeyutl -verify/pkeyutl -verify -rawin/' recipe.sh > recipe-ed.sh
	run sh recipe-ed.sh
	assert_status 0
	assert_contains "Signature Verified Successfully"
}

@test "frame: the recipe refuses a tampered frame" {
	recipe
	make_key m
	echo 'ABC,2013-11-02 00:15:00,0,58.0' | smqtt-sign -k m.key -i ABC | sed 's/58\.0$/85.0/' > frames.txt
	cp m.pub pub.pem
	run sh recipe.sh
	[ "$status" -ne 0 ]
	refute_contains "Signature Verified Successfully"
}

@test "frame: the recipe works from a device certificate's public key" {
	recipe
	make_key m
	make_cert m meter-1
	echo 'x' | smqtt-sign -k m.key -c m.crt > frames.txt
	openssl x509 -in m.crt -pubkey -noout > pub.pem
	run sh recipe.sh
	assert_status 0
}

@test "frame: fields split with cut, the record is the rest of the line" {
	make_key m
	printf '%s\n' 'a b  c,d,,e ' > rec
	smqtt-sign -k m.key -i dev.1_x-2 < rec > f
	[ "$(cut -d' ' -f1 f)" = smqtt1 ]
	[ "$(cut -d' ' -f2 f)" = dev.1_x-2 ]
	[ "$(cut -d' ' -f3 f)" = 1 ]
	cut -d' ' -f4 f | openssl base64 -d -A | openssl asn1parse -inform DER > /dev/null
	[ "$(cut -d' ' -f5- f)" = "$(cat rec)" ]
	[ "$(awk '{print $2}' f)" = dev.1_x-2 ]
}

@test "frame: signatures are low-S, so each frame has one valid text" {
	make_key m
	meter_records 40 | smqtt-sign -k m.key -i L > f
	n_half=7FFFFFFF800000007FFFFFFFFFFFFFFFDE737D56D38BCF4279DCE5617E3192A8
	while read -r _ _ _ sig _; do
		s=$(printf '%s' "$sig" | openssl base64 -d -A | openssl asn1parse -inform DER | awk -F: '/INTEGER/ {v=$NF} END {print v}')
		# compare as fixed-width hex strings
		s=$(printf '%064s' "$s" | tr ' ' 0)
		[[ "$s" < "$n_half" || "$s" == "$n_half" ]] || fail "high S: $s"
	done < f
}
