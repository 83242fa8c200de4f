#!/usr/bin/env bats
# smqtt-decrypt: encrypted readings (smqtt-encrypt before smqtt-sign) read
# after smqtt-verify with keys from smqtt-pkg. CP and KP round trips, keys
# that may not read, changed and moved records, capsules changed or never
# completed, the encrypted frames stored and read back, and the whole chain
# through a real mosquitto with TLS, watched by mosquitto_sub.

load test_helper
load pki_helper
load broker_helper
load abe_helper
bats_require_minimum_version 1.5.0

setup() {
	common_setup
	abe_setup
}

teardown() {
	broker_teardown
}

@test "decrypt: CP: a key whose attributes satisfy the policy reads every record; another reads none" {
	chain -P 'role:billing or role:audit'
	# One capsule record, then one data record per reading; nothing in clear.
	[ "$(grep -c '^abe1 capsule [0-9a-f]\{32\} 1/1 ' enc)" -eq 1 ]
	[ "$(grep -c '^abe1 data ' enc)" -eq 6 ]
	! grep -q 'ABC,' enc || fail "a record in clear"
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey < verified
	assert_status 0
	[ "$output" = "$(cat in.csv)" ] || fail "$output"
	run smqtt-decrypt --params params.pem -k keys/ops.cpkey < verified
	assert_status 1
	assert_contains "stdin: line 1: device ABC seq 1: capsule: this key may not read it (policy not satisfied)"
	assert_contains "stdin: line 2: device ABC seq 2: capsule: this key may not read it (policy not satisfied); left out"
	assert_contains "0 records read, 6 left out"
	refute_contains "ABC,"
}

@test "decrypt: KP: records under attributes are read by keys whose policy they satisfy" {
	chain -a feeder:F12 -a kind:household
	run smqtt-decrypt --params params.pem -k keys/audit.kpkey < verified
	assert_status 0
	[ "$output" = "$(cat in.csv)" ]
	run smqtt-decrypt --params params.pem -k keys/other.kpkey < verified
	assert_status 1
	assert_contains "policy not satisfied"
	# A CP key on a KP capsule: refused, not misread.
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey < verified
	assert_status 1
	assert_contains "capsule: not a CP capsule, or damaged"
}

@test "decrypt: a data record changed, moved to another device or capsule, or without its capsule is left out" {
	chain -P role:billing
	# Changed: one base64 character of record 3 (line 4).
	awk 'NR == 4 { c = substr($NF, 10, 1); $NF = substr($NF, 1, 9) (c == "A" ? "B" : "A") substr($NF, 11) } { print }' \
		verified > changed
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey < changed
	assert_status 1
	assert_contains "stdin: line 4: device ABC seq 4: does not authenticate"
	assert_contains "5 records read, 1 left out"
	# Moved: the same encrypted records signed as device XYZ's.
	make_key XYZ && make_cert XYZ XYZ
	sed -n 1,3p enc | smqtt-sign -k XYZ.key -i XYZ -S XYZ.seq | smqtt-verify -c XYZ.crt > moved
	# XYZ's stream holds ABC's capsule too: its records still bind to ABC.
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey < moved
	assert_status 1
	assert_contains "device XYZ seq 2: does not authenticate (changed, or moved from another device or capsule)"
	# Without the capsule (a subscriber that joined late).
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey < <(tail -n +2 verified)
	assert_status 1
	assert_contains "stdin: line 1: device ABC seq 2: its capsule was not received"
	assert_contains "0 records read, 6 left out"
}

@test "decrypt: a capsule changed, of other parameters, or malformed records are refused with a reason" {
	chain -P role:billing
	awk 'NR == 1 { n = length($NF); c = substr($NF, n - 8, 1); $NF = substr($NF, 1, n - 9) (c == "A" ? "B" : "A") substr($NF, n - 7) } { print }' \
		verified > changed
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey < changed
	assert_status 1
	assert_contains "stdin: line 1: device ABC seq 1: capsule: its parts do not hash to its id"
	# A capsule of another key authority.
	smqtt-pkg setup -m other.key > other.pem
	smqtt-encrypt --params other.pem -i ABC -P role:billing < in.csv | smqtt-sign -k ABC.key -i ABC -S ABC.seq |
		smqtt-verify -c ABC.crt > foreign
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey < foreign
	assert_status 1
	assert_contains "capsule: made for other parameters than this key's"
	# A key of other parameters than those given is refused at the start.
	run smqtt-decrypt --params other.pem -k keys/billing.cpkey < foreign
	assert_status 3
	assert_contains "keys/billing.cpkey: a key of other parameters than other.pem"
	# Malformed encrypted records.
	printf 'abe1 data xyz AAAA\nabe1 capsule %s 3/2 AAAA\nabe1 nonsense\n' "$(printf %032d 0)" |
		smqtt-sign -k ABC.key -i ABC -S ABC.seq | smqtt-verify -c ABC.crt > bad
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey < bad
	assert_status 1
	assert_contains "capsule id is not 32 lowercase hex digits"
	assert_contains "capsule part is not PART/PARTS"
	assert_contains "neither \"capsule\" nor \"data\""
}

@test "decrypt: the control center stores the encrypted frames: the database re-verifies and stays confidential" {
	chain -P role:billing
	run smqtt-store -d readings.db -s sealed:text < verified
	assert_status 0
	assert_contains "7 stored, 0 duplicates, 0 rejected"
	! sqlite3 readings.db .dump | grep -q 'ABC,20' || fail "a record in clear in the database"
	sqlite3 readings.db 'select frame from readings order by seq' | smqtt-verify -c ABC.crt > again
	cmp -s again verified || fail "the stored frames do not verify to what was stored"
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey < again
	assert_status 0
	[ "$output" = "$(cat in.csv)" ]
}

@test "decrypt: capsules that never complete cannot fill the decryptor's memory" {
	# 600 capsules of 32 parts sent without their last part, 3000 characters
	# each part (56 MB in all): at most 8 MiB of parts are kept.
	awk 'BEGIN { b = ""; for (i = 0; i < 750; i++) b = b "QUJD"
		for (i = 0; i < 600; i++) for (k = 1; k < 32; k++) printf "abe1 capsule %032x %d/32 %s\n", i, k, b }' |
		smqtt-sign -k ABC.key -i ABC -S ABC.seq | smqtt-verify -c ABC.crt > halves
	# The peak RSS of a run on three frames is the baseline (a sanitizer build has a larger one).
	chain -P role:billing
	head -n 3 verified > small
	base=$( { /usr/bin/time -f 'rss %M' smqtt-decrypt --params params.pem -k keys/billing.cpkey < small > /dev/null; } 2>&1 |
		sed -n 's/^rss //p')
	run /usr/bin/time -f 'rss %M' smqtt-decrypt --params params.pem -k keys/billing.cpkey < halves
	assert_status 0
	assert_contains "capsule: not kept: too many capsules arriving in parts at once"
	rss=$(printf '%s\n' "$output" | sed -n 's/^rss //p')
	[ -n "$base" ] && [ -n "$rss" ] || fail "no RSS measured: $output"
	# 8 MiB of parts, with room for the allocator (before the bound: 54 MB more in a release build).
	[ "$((rss - base))" -lt 24576 ] || fail "peak RSS $rss kB, $((rss - base)) kB above the baseline of $base kB"
}

@test "decrypt: through mosquitto with TLS: the broker and an eavesdropper see only ciphertext; each consumer reads what its key allows" {
	broker_setup ABC
	# An eavesdropper: a client allowed to read the topic, without a key.
	mosquitto_sub -p "$BROKER_PORT" --cafile "$PKI/ca.crt" --cert "$PKI/collector.crt" --key "$PKI/collector.key" \
		-i eve -t 'smqtt/+/frames' -C 7 -W 30 > eve.out 2> eve.err 3>&- &
	track $!
	wait_for "the eavesdropper's subscription" '[ "$(subscriptions eve)" -gt 0 ]'
	tls_args collector
	smqtt-sub "${TLS_ARGS[@]}" -i collector -t 'smqtt/+/frames' -C 7 -W 30 > received 2> sub.err 3>&- &
	SUB=$!
	track "$SUB"
	wait_for "the collector's subscription" '[ "$(subscriptions collector)" -gt 0 ]'
	smqtt-encrypt --params params.pem -i ABC -P 'role:billing' --epoch 2026-12 < in.csv |
		smqtt-sign -k "$PKI/ABC.key" -i ABC -S ABC.seq | pub_as ABC > /dev/null
	wait "$SUB" || fail "smqtt-sub: $(cat sub.err)"
	[ "$(wc -l < received)" -eq 7 ]
	smqtt-verify -c "$PKI/ABC.crt" < received > verified
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey < verified
	assert_status 0
	[ "$output" = "$(cat in.csv)" ]
	run smqtt-decrypt --params params.pem -k keys/ops.cpkey < verified
	assert_status 1
	refute_contains "ABC,"
	wait_for "the eavesdropper's 7 messages" '[ "$(wc -l < eve.out)" -ge 7 ]'
	grep -q 'abe1 data ' eve.out || fail "the eavesdropper saw no ciphertext: $(cat eve.out)"
	! grep -q 'ABC,20' eve.out || fail "the eavesdropper read a record"
	! grep -q 'ABC,20' "$BROKER_DIR"/*.db 2> /dev/null || fail "a record in clear in the broker's store"
}

@test "decrypt: --capsules: a decryptor restarted mid-session reads on from the capsule file; a changed file opens nothing" {
	meter_records 40 ABC > in.csv
	chain -P role:billing --repeat 1000
	head -n 21 verified > first   # the capsule and records 1 to 20
	tail -n +22 verified > rest   # records 21 to 40, no capsule
	# Without a capsule file a new run cannot read the rest.
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey < rest
	assert_status 1
	assert_contains "its capsule was not received"
	smqtt-decrypt --params params.pem -k keys/billing.cpkey --capsules caps < first > plain
	[ "$(stat -c %a caps)" = 600 ]
	# One line per part: the device, then the capsule record as it arrived.
	[ "$(wc -l < caps)" -eq 1 ]
	[ "$(cat caps)" = "ABC $(head -n 1 enc)" ] || fail "capsule file: $(cut -c1-80 caps)"
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey --capsules caps < rest
	assert_status 0
	[ "$output" = "$(tail -n 20 in.csv)" ]
	cat plain - <<< "$output" | cmp -s - in.csv || fail "the two runs did not read the 40 records"
	# The capsule file holds no secret: a key that may not read the capsule still cannot.
	run smqtt-decrypt --params params.pem -k keys/ops.cpkey --capsules caps < rest
	assert_status 1
	assert_contains "capsule: this key may not read it (policy not satisfied)"
	refute_contains "ABC,"
	# A changed capsule in the file does not open (its id is the digest the signed records name).
	sed 's/\(.\{200\}\)[A-Z]/\1a/' caps > changed && cmp -s caps changed && fail "nothing changed"
	cp changed caps2 && chmod 600 caps2
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey --capsules caps2 < rest
	assert_status 1
	assert_contains "capsule: its parts do not hash to its id (changed or mixed up)"
	refute_contains "ABC,"
	# Lines that are not capsule parts are named and ignored.
	printf 'junk\nABC abe1 data %s QUJD\nA\001B abe1 capsule x\npartial' "$(printf '%032d' 0)" > caps3
	chmod 600 caps3
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey --capsules caps3 < verified
	assert_status 0
	assert_contains "caps3: line 1: not \"DEVICE abe1 capsule ...\"; ignored"
	assert_contains "caps3: line 2: not a capsule part; ignored"
	assert_contains "caps3: line 3: not a device id before the first space; ignored"
	assert_contains "caps3: line 4: no newline at end of input"
	# A capsule file others may write is refused.
	chmod 620 caps
	run smqtt-decrypt --params params.pem -k keys/billing.cpkey --capsules caps < rest
	assert_status 3
	assert_contains "caps: writable by group or others (mode 620): chmod 600 it"
}

@test "decrypt: --capsules: a capsule file past 32 MiB keeps its newer half, and what it needs" {
	meter_records 10 ABC > in.csv
	chain -P role:billing --repeat 1000
	smqtt-decrypt --params params.pem -k keys/billing.cpkey --capsules caps < <(head -n 1 verified) > /dev/null
	# 12,000 capsule parts of other devices (35 MiB) written before this one.
	awk 'BEGIN { b = "AAAA"; while (length(b) < 2996) b = b b; b = substr(b, 1, 2996);
		for (i = 1; i <= 12000; i++) printf "M%d abe1 capsule %032x 1/1 %s\n", i, i, b }' > big
	cat big caps > caps.new && mv caps.new caps && chmod 600 caps
	[ "$(stat -c %s caps)" -gt $((32 << 20)) ]
	run --separate-stderr smqtt-decrypt --params params.pem -k keys/billing.cpkey --capsules caps < <(tail -n +2 verified)
	assert_status 0
	[ "$output" = "$(cat in.csv)" ]
	size=$(stat -c %s caps)
	[ "$size" -le $((16 << 20)) ] && [ "$size" -gt $((15 << 20)) ] || fail "capsule file of $size bytes"
	# It starts at a line, and the newest capsule is its last line.
	head -n 1 caps | grep -q '^M[0-9]* abe1 capsule [0-9a-f]\{32\} 1/1 A*$' || fail "first line: $(head -c 60 caps)"
	[ "$(tail -n 1 caps | cut -d' ' -f1-3)" = "ABC abe1 capsule" ]
	[ "$(stat -c %a caps)" = 600 ]
}

@test "decrypt: settings from the configuration file: abe.params, decrypt.key, decrypt.capsules" {
	chain -P role:billing
	printf 'abe: {params: params.pem}\ndecrypt: {key: keys/billing.cpkey, capsules: caps, max_capsules: 5}\n' > conf.yaml
	run smqtt-decrypt --config conf.yaml < verified
	assert_status 0
	[ "$output" = "$(cat in.csv)" ]
	[ -s caps ] || fail "decrypt.capsules was not used"
	# The command line comes first.
	run smqtt-decrypt --config conf.yaml -k keys/ops.cpkey < verified
	assert_status 1
	assert_contains "policy not satisfied"
	printf 'decrypt: {max_capsules: 0}\n' > bad.yaml
	run smqtt-decrypt --config bad.yaml --params params.pem -k keys/billing.cpkey < verified
	assert_status 3
	assert_contains "bad.yaml:1"
}

@test "decrypt: a live stream: smqtt-encrypt and smqtt-decrypt write what they read before waiting for more input" {
	# Input that stays open, as from smqtt-sub: the output must not wait for its end.
	mkfifo enc.in dec.in
	exec 7<> enc.in 8<> dec.in
	smqtt-encrypt --params params.pem -i ABC -P role:billing --epoch 2026-12 < enc.in > live.enc 3>&- 7>&- 8>&- &
	track $!
	smqtt-decrypt --params params.pem -k keys/billing.cpkey < dec.in > live.out 3>&- 7>&- 8>&- &
	track $!
	cat in.csv >&7
	wait_for "6 encrypted records out of smqtt-encrypt" '[ "$(grep -c "^abe1 data " live.enc)" -eq 6 ]'
	smqtt-sign -k ABC.key -i ABC -S ABC.seq < live.enc | smqtt-verify -c ABC.crt >&8
	wait_for "6 records out of smqtt-decrypt" '[ "$(wc -l < live.out)" -eq 6 ]'
	cmp -s live.out in.csv || fail "$(cat live.out)"
	exec 7>&- 8>&-
}
