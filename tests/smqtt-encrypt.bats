#!/usr/bin/env bats
# smqtt-encrypt: epochs and new capsules, a policy whose capsule spans
# several records, and bad input (the round trips are in smqtt-decrypt.bats).

load test_helper
load abe_helper

setup() {
	common_setup
	abe_setup
}

@test "encrypt: a key of another epoch reads nothing; a new month starts a new capsule" {
	smqtt-pkg keygen --params params.pem -m master.key -o keys --epoch 2027-01 next role:billing > /dev/null
	chain -P role:billing
	run smqtt-decrypt --params params.pem -k keys/next.cpkey < verified
	assert_status 1
	assert_contains "policy not satisfied"
	# Without --epoch the current month is used, as smqtt-pkg does.
	smqtt-pkg keygen --params params.pem -m master.key -o keys now role:billing > /dev/null
	smqtt-encrypt --params params.pem -i ABC -P role:billing < in.csv | smqtt-sign -k ABC.key -i ABC -S ABC.seq |
		smqtt-verify -c ABC.crt > current
	run smqtt-decrypt --params params.pem -k keys/now.cpkey < current
	assert_status 0
	[ "$output" = "$(cat in.csv)" ]
	# --rekey: a new capsule every 2 records, each read.
	smqtt-encrypt --params params.pem -i ABC -P role:billing --epoch 2026-12 --rekey 2 < in.csv > enc
	[ "$(grep -c '^abe1 capsule ' enc)" -eq 3 ]
	[ "$(cut -d' ' -f3 enc | sort -u | wc -l)" -eq 3 ]
	smqtt-sign -k ABC.key -i ABC -S ABC.seq < enc | smqtt-verify -c ABC.crt > verified
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey < verified
	assert_status 0
	[ "$output" = "$(cat in.csv)" ]
}

@test "encrypt: a 30-attribute policy: the capsule spans several records within the record limit" {
	policy=$(for i in $(seq 1 30); do printf 'zone:%02d and ' "$i"; done)role:billing
	smqtt-pkg keygen --params params.pem -m master.key -o keys --epoch 2026-12 wide \
		$(for i in $(seq 1 30); do printf 'zone:%02d ' "$i"; done) role:billing > /dev/null
	chain -P "$policy"
	parts=$(grep -c '^abe1 capsule ' enc)
	[ "$parts" -ge 2 ] || fail "one part for 31 attributes"
	awk '{ if (length($0) > 4096) exit 1 }' enc || fail "a record over 4096 bytes"
	run smqtt-decrypt --params params.pem -k keys/wide.cpkey < verified
	assert_status 0
	[ "$output" = "$(cat in.csv)" ]
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey < verified
	assert_status 1
	assert_contains "policy not satisfied"
}

@test "encrypt: bad input to smqtt-encrypt: policies with the byte, records too long, usage" {
	run smqtt-encrypt --params params.pem -i ABC -P 'role:billing and'
	assert_status 2
	assert_contains "-P: byte 17: expected an attribute or '(' but the policy ended"
	run smqtt-encrypt --params params.pem -i ABC -P 'role:billing and epoch:2020-01'
	assert_status 2
	assert_contains "the epoch is added by --epoch"
	run smqtt-encrypt --params params.pem -i ABC -P a -a b
	assert_status 2
	run smqtt-encrypt --params params.pem -P a
	assert_status 2
	run smqtt-encrypt --params nothere -i ABC -P a
	assert_status 3
	# Records: an empty one and one too long are named; the rest is encrypted.
	{ echo first; echo; head -c 3100 /dev/zero | tr '\0' x; echo; echo last; } > mixed
	run smqtt-encrypt --params params.pem -i ABC -P role:billing < mixed
	assert_status 1
	assert_contains "stdin: line 2: empty record; not encrypted"
	assert_contains "stdin: line 3: longer than the 3011 bytes an encrypted record can hold; not encrypted"
	[ "$(printf '%s\n' "$output" | grep -c '^abe1 data ')" -eq 2 ]
}
