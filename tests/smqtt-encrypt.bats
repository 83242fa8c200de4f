#!/usr/bin/env bats
# smqtt-encrypt: epochs and new capsules, a policy whose capsule spans
# several records, and bad input (the round trips are in smqtt-decrypt.bats).

load test_helper
load abe_helper
bats_require_minimum_version 1.5.0

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

@test "encrypt: --repeat sends the capsule again; a subscriber that joins late reads from the next repeat on" {
	meter_records 250 ABC > in.csv
	smqtt-encrypt --params params.pem -i ABC -P role:billing --epoch 2026-12 --repeat 100 < in.csv > enc
	# The capsule before records 1, 101 and 201: the same capsule each time.
	[ "$(grep -n '^abe1 capsule ' enc | cut -d: -f1 | tr '\n' ' ')" = "1 102 203 " ] || fail "$(grep -n '^abe1 capsule ' enc | cut -c1-40)"
	[ "$(cut -d' ' -f3 enc | sort -u | wc -l)" -eq 1 ]
	[ "$(grep -c '^abe1 data ' enc)" -eq 250 ]
	smqtt-sign -k ABC.key -i ABC -S ABC.seq < enc | smqtt-verify -c ABC.crt > verified
	# Joining after the first 150 frames: records 149 to 200 are unreadable, 201 to 250 read.
	tail -n +151 verified > late
	run --separate-stderr smqtt-decrypt --params params.pem -k keys/billing.cpkey < late
	assert_status 1
	[ "$output" = "$(tail -n 50 in.csv)" ] || fail "read: $(printf '%s\n' "$output" | wc -l) records"
	[[ "$stderr" == *"stdin: line 1: device ABC seq 151: its capsule was not received (sent before this run began, or lost); left out"* ]] || fail "$stderr"
	[[ "$stderr" == *"50 records read, 52 left out"* ]] || fail "$stderr"
	# Kept frames read again with a capsule file: the first pass keeps the
	# repeated capsule, the second reads every record.
	smqtt-decrypt --params params.pem -k keys/billing.cpkey --capsules caps < late > /dev/null 2>&1 || true
	run --separate-stderr smqtt-decrypt --params params.pem -k keys/billing.cpkey --capsules caps < late
	assert_status 0
	[ "$output" = "$(tail -n 102 in.csv)" ] || fail "second pass read $(printf '%s\n' "$output" | wc -l) records"
	# The default: every 100 records.
	smqtt-encrypt --params params.pem -i ABC -P role:billing --epoch 2026-12 < in.csv > enc
	[ "$(grep -c '^abe1 capsule ' enc)" -eq 3 ]
}

@test "encrypt: settings from the configuration file: abe.params, device.id, encrypt.policy or encrypt.attributes" {
	cat > conf.yaml <<-EOF2
	abe:
	  params: params.pem
	device:
	  id: ABC
	encrypt:
	  policy: "role:billing"
	  rekey: 4
	  repeat: 2
	EOF2
	smqtt-encrypt --config conf.yaml --epoch 2026-12 < in.csv > enc
	# rekey 4: capsules before records 1 and 5; repeat 2: again before record 3.
	[ "$(grep -c '^abe1 capsule ' enc)" -eq 3 ]
	[ "$(cut -d' ' -f3 enc | sort -u | wc -l)" -eq 2 ]
	smqtt-sign -k ABC.key -i ABC -S ABC.seq < enc | smqtt-verify -c ABC.crt > verified
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey < verified
	assert_status 0
	[ "$output" = "$(cat in.csv)" ]
	# The command line comes first: -a replaces the configured policy (KP).
	smqtt-encrypt --config conf.yaml --epoch 2026-12 -a feeder:F12 -a kind:household < in.csv |
		smqtt-sign -k ABC.key -i ABC -S ABC.seq | smqtt-verify -c ABC.crt > verified
	run smqtt-decrypt --params params.pem -k keys/audit.kpkey < verified
	assert_status 0
	[ "$output" = "$(cat in.csv)" ]
	# KP attributes from the file.
	printf 'abe: {params: params.pem}\ndevice: {id: ABC}\nencrypt: {attributes: [feeder:F12, kind:household]}\n' > kp.yaml
	smqtt-encrypt --config kp.yaml --epoch 2026-12 < in.csv | smqtt-sign -k ABC.key -i ABC -S ABC.seq |
		smqtt-verify -c ABC.crt > verified
	run smqtt-decrypt --params params.pem -k keys/audit.kpkey < verified
	assert_status 0
	[ "$output" = "$(cat in.csv)" ]
	# Bad settings name the file, the line and the key.
	printf 'abe: {params: params.pem}\ndevice: {id: ABC}\nencrypt:\n  policy: "role:billing and"\n' > bad.yaml
	run smqtt-encrypt --config bad.yaml < in.csv
	assert_status 3
	assert_contains "bad.yaml:4: key encrypt.policy: byte 17: "
	printf 'abe: {params: params.pem}\ndevice: {id: ABC}\nencrypt:\n  policy: role:billing\n  attributes: [a:b]\n' > both.yaml
	run smqtt-encrypt --config both.yaml < in.csv
	assert_status 3
	assert_contains "encrypt.policy and encrypt.attributes are both set"
	printf 'abe: {params: params.pem}\ndevice: {id: "A B"}\nencrypt: {policy: role:billing}\n' > id.yaml
	run smqtt-encrypt --config id.yaml < in.csv
	assert_status 3
	assert_contains "id.yaml:2: key device.id: A B: not a device id"
	printf 'abe: {params: params.pem}\ndevice: {id: ABC}\nencrypt: {attributes: ["epoch:2026-12"]}\n' > ep.yaml
	run smqtt-encrypt --config ep.yaml < in.csv
	assert_status 3
	assert_contains "ep.yaml:3: key encrypt.attributes: epoch:2026-12: the epoch is added by --epoch"
}
