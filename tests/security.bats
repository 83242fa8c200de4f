#!/usr/bin/env bats
# The security requirements, one or more tests each, against the real
# programs, a real mosquitto (broker_helper.bash) and certificates from
# smqtt-issue:
#
#   forged frames (wrong key) are rejected
#   a bit flipped in any field of a frame is rejected
#   a device id swapped between two valid frames is rejected
#   a replay is rejected after the verifier restarts
#   a revoked device is refused by the verifier and, through the CRL, by the broker
#   TLS below 1.2 is refused, by the broker and by smqtt-pub
#   a connection without a client certificate is refused
#   device A is refused on device B's topic
#   private keys never appear in argv, in the environment or in any output
#   passphrase-protected keys work, and a wrong passphrase is a clear error

load test_helper
load pki_helper
load broker_helper

setup() {
	common_setup
}

teardown() {
	broker_teardown
}

# sign DEVICE KEY [N]: N (default 1) records of DEVICE signed with KEY, numbered
# on from the state file DEVICE.seq.
sign() {
	meter_records "${3:-1}" "$1" | smqtt-sign -k "$2" -i "$1" -S "$1.seq"
}

# make_pki DEVICE...: the PKI of broker_setup, without a broker: $PKI holds
# the CA, the broker's certificate and each DEVICE's (see pki_helper.bash).
make_pki() {
	PKI=$BATS_TEST_TMPDIR/pki
	pki_setup "$PKI" "$@"
}

# registry_of DEVICE...: reg.db trusting $PKI's CA, with the devices'
# certificates (from broker_setup or make_pki) registered.
registry_of() {
	smqtt-register -R reg.db init --ca "$PKI/ca.crt" || return 1
	local d
	for d in "$@"; do cat "$PKI/$d.crt"; done | smqtt-register -R reg.db add 2> /dev/null
}

# seal KEY OUT PASSPHRASE: KEY encrypted (PKCS#8, AES-256) with PASSPHRASE in OUT, mode 0600.
seal() {
	(umask 077 && openssl pkcs8 -topk8 -v2 aes-256-cbc -in "$1" -out "$2" -passout "pass:$3")
}

# key_secrets KEY [PASSPHRASE]: append to the file "secrets" the strings that
# would give KEY away, one per line: the private scalar in hex (as one string,
# in both cases, and as openssl pkey -text prints it) and every 16-character
# piece of the unencrypted PEM body.
key_secrets() {
	local text hex
	text=$(openssl pkey -in "$1" ${2:+-passin "pass:$2"} -noout -text) || return 1
	hex=$(printf '%s\n' "$text" | sed -n '/^priv:$/,/^pub:$/p' | sed '1d;$d' | tr -d ' :\n')
	[ "${#hex}" -ge 64 ] || fail "no private scalar in: $text" || return 1
	{
		printf '%s\n' "$hex" "${hex^^}"
		printf '%s\n' "$text" | sed -n '/^priv:$/{n;p;}' | tr -d ' '
		openssl pkey -in "$1" ${2:+-passin "pass:$2"} | sed '/^-----/d' | fold -w 16 | grep -E '^.{16}$'
	} >> secrets
}

# refute_secrets FILE...: none of the files holds a line of "secrets".
refute_secrets() {
	[ -s secrets ] || fail "no secrets to look for" || return 1
	local hits
	if hits=$(grep -F -f secrets -- "$@"); then
		fail "key material or passphrase in the output: $hits"
	fi
}

# proc_snapshot PID NAME: the command line and environment of PID, as NAME.cmdline and NAME.environ.
proc_snapshot() {
	tr '\0' '\n' < "/proc/$1/cmdline" > "$2.cmdline" &&
		tr '\0' '\n' < "/proc/$1/environ" > "$2.environ" &&
		[ -s "$2.cmdline" ] && [ -s "$2.environ" ]
}

lines() {
	wc -l < "$1" | tr -d ' '
}

# ---- forged frames ----

@test "forged: a frame signed with any key but the device's is a bad signature" {
	make_pki ABC DEF
	registry_of ABC DEF
	make_key attacker
	sign ABC "$PKI/ABC.key" 1 > good
	# The same record, seq 2, signed by an outsider's key, by another registered
	# device (a compromised meter) and by the CA.
	for key in attacker.key "$PKI/DEF.key" "$PKI/ca.key"; do
		meter_records 1 ABC | smqtt-sign -k "$key" -i ABC -S "forged-${key##*/}.seq" |
			sed 's/^smqtt1 ABC 1 /smqtt1 ABC 2 /'
	done > forged
	[ "$(lines forged)" -eq 3 ]
	for trust in "-c $PKI/ABC.crt" "-R reg.db"; do
		# shellcheck disable=SC2086
		run smqtt-verify $trust < <(cat good forged)
		assert_status 1
		for n in 2 3 4; do
			assert_contains "smqtt-verify: line $n: device ABC seq 2: bad signature"
		done
		assert_contains "1 verified, 3 rejected"
		[ "$(printf '%s\n' "$output" | grep -c '^smqtt1 ')" -eq 1 ] || fail "$output"
		[ "$(printf '%s\n' "$output" | grep '^smqtt1 ')" = "$(cat good)" ] || fail "$output"
	done
}

# ---- bit flips ----

@test "bit flips: one bit flipped in each field (magic, device, seq, signature, record) is rejected, naming why" {
	# Devices meter-0 and meter-1 differ in one bit, so a flip in the device
	# id can land on another trusted device.
	make_key m0
	make_key m1
	sign meter-1 m1.key 5 | tail -n 1 > frame
	frame=$(cat frame)
	read -r magic device seq sig record <<< "$frame"
	[ "$device $seq" = "meter-1 5" ]
	# flip STRING INDEX BIT: STRING with bit BIT of byte INDEX flipped (ASCII only)
	flip() {
		local c
		printf -v c '%d' "'${1:$2:1}"
		printf -v c '\\x%02x' $((c ^ (1 << $3)))
		printf '%s%b%s' "${1:0:$2}" "$c" "${1:$2+1}"
	}
	# r of the ECDSA signature with one bit flipped, re-encoded canonically:
	# the text is well formed and the signature is wrong.
	sig_r=$(python3 -c '
import base64, sys
der = bytearray(base64.b64decode(sys.argv[1]))
assert der[0] == 0x30 and der[2] == 0x02
der[4 + der[3] - 1] ^= 0x10   # the last byte of r
print(base64.b64encode(bytes(der)).decode())' "$sig")
	{
		echo "$(flip "$magic" 0 0) $device $seq $sig $record"     # 1 rmqtt1
		echo "$magic $(flip "$device" 6 0) $seq $sig $record"     # 2 meter-0
		echo "$magic $(flip "$device" 5 0) $seq $sig $record"     # 3 meter,1: not a device id
		echo "$magic $device $(flip "$seq" 0 0) $sig $record"     # 4 seq 4
		echo "$magic $device $(flip "$seq" 0 4) $sig $record"     # 5 seq %: not a number
		echo "$magic $device $seq $sig_r $record"                 # 6 r changed
		echo "$magic $device $seq $(flip "$sig" 10 1) $record"    # 7 base64 text changed
		echo "$magic $device $seq $sig $(flip "$record" 0 5)"     # 8 record
		echo "$magic $device $seq $sig $(flip "$record" $((${#record} - 1)) 0)"
		echo "$frame"                                             # 10 the original
	} > flipped
	run smqtt-verify --pubkey meter-0=m0.pub --pubkey meter-1=m1.pub < flipped
	assert_status 1
	assert_contains "smqtt-verify: line 1: malformed frame: not an smqtt1 frame"
	assert_contains "smqtt-verify: line 2: device meter-0 seq 5: bad signature"
	assert_contains "smqtt-verify: line 3: malformed frame: invalid device id"
	assert_contains "smqtt-verify: line 4: device meter-1 seq 4: bad signature"
	assert_contains "smqtt-verify: line 5: malformed frame: invalid sequence number"
	assert_contains "smqtt-verify: line 6: device meter-1 seq 5: bad signature"
	[[ $output =~ "smqtt-verify: line 7: "(malformed\ frame|device\ meter-1\ seq\ 5:\ (bad\ signature|non-canonical)) ]] ||
		fail "line 7: $output"
	assert_contains "smqtt-verify: line 8: device meter-1 seq 5: bad signature"
	assert_contains "smqtt-verify: line 9: device meter-1 seq 5: bad signature"
	refute_contains "line 10:"
	assert_contains "smqtt-verify: 1 verified, 9 rejected, 0 duplicates dropped"
	[ "$(printf '%s\n' "$output" | grep '^smqtt1 ')" = "$frame" ] || fail "$output"
}

@test "bit flips: every bit of every byte of a P-256, P-384 and Ed25519 frame, one at a time: none is accepted" {
	for type in p256 p384 ed25519; do
		make_key "$type" "$type"
		# A 'J' turns into a newline and an 'M' into a CR with one flip.
		echo "J-7,2013-11-02 00:15:00,0,49.1,MWh" | smqtt-sign -k "$type.key" -i J-7 -S "$type.seq" > "$type.frame"
		# Each of the 8 x length mutations on a line of its own; a flip that
		# makes a newline splits its line in two, and both halves must fail.
		python3 - "$type.frame" > "$type.mutated" <<-'PY'
			import sys
			frame = open(sys.argv[1], "rb").read().rstrip(b"\n")
			out = sys.stdout.buffer
			for i in range(len(frame)):
			    for bit in range(8):
			        m = bytearray(frame)
			        m[i] ^= 1 << bit
			        out.write(bytes(m) + b"\n")
		PY
		len=$(($(wc -c < "$type.frame") - 1))
		newlines=$(tr -cd '\n' < "$type.mutated" | wc -c)
		[ "$newlines" -gt $((8 * len)) ] || fail "no mutation made a newline"
		cat "$type.frame" >> "$type.mutated"
		for jobs in 1 4; do
			status=0
			smqtt-verify -j "$jobs" --pubkey "J-7=$type.pub" < "$type.mutated" > out 2> err || status=$?
			[ "$status" -eq 1 ] || fail "$type -j $jobs: status $status: $(tail -n 3 err)"
			# Only the original, last, gets through; every other line is named.
			cmp out "$type.frame" || fail "$type -j $jobs: a mutated frame was accepted: $(head -n 3 out)"
			[ "$(grep -c '^smqtt-verify: line [0-9]*: ' err)" -eq "$newlines" ] ||
				fail "$type -j $jobs: $(grep -c '^smqtt-verify: line ' err) of $newlines lines rejected"
			grep -q "^smqtt-verify: 1 verified, $newlines rejected, 0 duplicates dropped\$" err || fail "$(tail -n 1 err)"
			assert_clean_stderr err
		done
		# All three kinds of refusal occur: the syntax, the signature text, the signature.
		grep -q ': malformed frame: ' err
		grep -q ': bad signature$' err
		grep -q ': non-canonical signature encoding$' err
	done
}

# ---- device id swap ----

@test "device swap: the device ids of two valid frames of two devices swapped: both rejected" {
	make_pki ABC DEF
	registry_of ABC DEF
	sign ABC "$PKI/ABC.key" 1 > abc
	sign DEF "$PKI/DEF.key" 1 > def
	# Both are valid as they are (checked on a copy, to leave the replay state alone).
	cp reg.db copy.db
	smqtt-verify -R copy.db < <(cat abc def) > out
	cmp out <(cat abc def)
	{
		sed 's/^smqtt1 ABC /smqtt1 DEF /' abc
		sed 's/^smqtt1 DEF /smqtt1 ABC /' def
	} > swapped
	cmp -s swapped <(cat abc def) && fail "nothing was swapped"
	run smqtt-verify -R reg.db < swapped
	assert_status 1
	assert_contains "smqtt-verify: line 1: device DEF seq 1: bad signature"
	assert_contains "smqtt-verify: line 2: device ABC seq 1: bad signature"
	refute_contains "smqtt1 "
	# The same with certificate files.
	sign ABC "$PKI/ABC.key" 1 | sed 's/^smqtt1 ABC /smqtt1 DEF /' > swapped2
	sign DEF "$PKI/DEF.key" 1 | sed 's/^smqtt1 DEF /smqtt1 ABC /' >> swapped2
	run smqtt-verify -c "$PKI/ABC.crt" -c "$PKI/DEF.crt" < swapped2
	assert_status 1
	assert_contains "smqtt-verify: line 1: device DEF seq 2: bad signature"
	assert_contains "smqtt-verify: line 2: device ABC seq 2: bad signature"
	refute_contains "smqtt1 "
}

# ---- replay ----

@test "replay: after the verifier restarts, from a clean exit, SIGTERM or SIGKILL, old frames are still rejected" {
	make_pki A
	registry_of A
	sign A "$PKI/A.key" 9 > f
	# Run 1 accepts frames 1-3 and exits.
	head -n 3 f | smqtt-verify -R reg.db > out1
	[ "$(lines out1)" -eq 3 ]
	# Run 2 (a new process) sees them replayed, in order and out of order, then frame 4.
	{ sed -n 1,2p f; sed -n 4p f; sed -n 3p f; } > again
	run smqtt-verify -R reg.db < again
	assert_status 1
	assert_contains "smqtt-verify: line 1: device A seq 1: replay: seq already accepted (last accepted seq 3)"
	assert_contains "smqtt-verify: line 2: device A seq 2: replay: seq already accepted (last accepted seq 3)"
	assert_contains "smqtt-verify: line 4: device A seq 3: replay: seq already accepted (last accepted seq 4)"
	[ "$(printf '%s\n' "$output" | grep '^smqtt1 ')" = "$(sed -n 4p f)" ] || fail "$output"

	# A verifier stopped with SIGTERM, and one killed with SIGKILL, after
	# passing frames on: what they passed on stays passed.
	for run in TERM:5:6 KILL:7:9; do
		IFS=: read -r signal first last <<< "$run"
		rm -f in
		mkfifo in
		smqtt-verify -R reg.db < in > running.out 2> running.err 3>&- &
		verifier=$!
		track "$verifier"
		exec 5> in
		sed -n "$first,${last}p" f >&5
		wait_for "the verifier to pass frames $first-$last" '[ "$(lines running.out)" -eq $((last - first + 1)) ]'
		kill -"$signal" "$verifier"
		exec 5>&-
		wait "$verifier" || true
		# Every frame so far again: all replays, but for the exact repeat of the last one.
		run smqtt-verify -R reg.db < <(head -n "$last" f)
		assert_status 1
		[ "$(printf '%s\n' "$output" | grep -c ": replay: seq already accepted (last accepted seq $last)\$")" -eq $((last - 1)) ] ||
			fail "after SIG$signal: $output"
		assert_contains "0 verified, $((last - 1)) rejected, 1 duplicates dropped"
	done
	[ "$(sqlite3 reg.db "select last_seq from devices where id = 'A'")" = 9 ]
}

# ---- revocation ----

@test "revoked: smqtt-register revoke makes the verifier reject the device as revoked, its frames old and new" {
	make_pki GOOD BAD
	registry_of GOOD BAD
	sign BAD "$PKI/BAD.key" 1 > bad.before
	sign GOOD "$PKI/GOOD.key" 1 > good
	smqtt-verify -R reg.db < <(cat bad.before good) > /dev/null
	sign BAD "$PKI/BAD.key" 2 > bad.after
	smqtt-register -R reg.db revoke BAD --reason keyCompromise
	sign GOOD "$PKI/GOOD.key" 1 > good2
	run smqtt-verify -R reg.db < <(cat bad.after good2)
	assert_status 1
	assert_contains "smqtt-verify: line 1: device BAD seq 2: revoked device"
	assert_contains "smqtt-verify: line 2: device BAD seq 3: revoked device"
	refute_contains "line 3:"
	[ "$(printf '%s\n' "$output" | grep '^smqtt1 ')" = "$(cat good2)" ] || fail "$output"
	# Re-verifying what was stored before the revocation rejects it too.
	run smqtt-verify -R reg.db < <(cat bad.before)
	assert_status 1
	assert_contains "device BAD seq 1: revoked device"
	run smqtt-register -R reg.db list
	assert_contains "BAD revoked"
}

@test "revoked: the registry's revocations as a CRL (smqtt-issue crl) make mosquitto refuse the device's TLS connection" {
	broker_setup GOOD BAD
	registry_of GOOD BAD
	sign GOOD "$PKI/GOOD.key" 1 > good
	sign BAD "$PKI/BAD.key" 1 > bad
	pub_as BAD < bad > before 2> err || fail "BAD refused before its revocation: $(cat err)"
	cmp before bad
	smqtt-register -R reg.db revoke BAD --reason keyCompromise
	smqtt-register -R reg.db revoked > revoked
	grep -q "^$(openssl x509 -in "$PKI/BAD.crt" -noout -serial | cut -d= -f2) BAD " revoked || fail "$(cat revoked)"
	smqtt-issue crl --ca-dir "$PKI/ca" < revoked > "$PKI/crl.pem" 2> crl.err || fail "$(cat crl.err)"
	broker_stop
	echo "crlfile $PKI/crl.pem" >> "$BROKER_DIR/mosquitto.conf"
	broker_start
	run pub_as BAD < bad
	assert_status 3
	assert_contains "smqtt-pub: broker localhost:$BROKER_PORT: TLS handshake failed: the broker refused the client certificate: certificate revoked (--cert $PKI/BAD.crt)"
	refute_contains "smqtt1 "
	wait_for "the broker to log the refusal" 'grep -q "certificate verify failed" "$BROKER_LOG"'
	# openssl alone is refused too: the broker, not smqtt-pub, decides.
	run openssl s_client -connect "127.0.0.1:$BROKER_PORT" -tls1_2 -CAfile "$PKI/ca.crt" \
		-cert "$PKI/BAD.crt" -key "$PKI/BAD.key" < /dev/null
	[ "$status" -ne 0 ] || fail "s_client got through: $output"
	assert_contains "alert certificate revoked"
	# ... and a device not revoked still gets through.
	pub_as GOOD < good > delivered 2> err || fail "GOOD refused: $(cat err)"
	cmp delivered good
}

# ---- TLS version ----

@test "TLS below 1.2: the broker refuses TLS 1.0 and 1.1 clients with valid certificates, and takes TLS 1.2" {
	broker_setup ABC
	tls=(-connect "127.0.0.1:$BROKER_PORT" -CAfile "$PKI/ca.crt" -cert "$PKI/ABC.crt" -key "$PKI/ABC.key")
	# SECLEVEL=0 lets this client offer the old versions at all; the broker must still say no.
	for version in -tls1 -tls1_1; do
		run openssl s_client "${tls[@]}" "$version" -cipher 'DEFAULT@SECLEVEL=0' < /dev/null
		[ "$status" -ne 0 ] || fail "s_client $version: status 0: $output"
		assert_contains "alert protocol version"
		[[ $output =~ "Cipher is (NONE)" ]] || fail "s_client $version: a cipher was agreed: $output"
	done
	wait_for "the broker to log the refusal" 'grep -q "unsupported protocol" "$BROKER_LOG"'
	run openssl s_client "${tls[@]}" -tls1_2 < /dev/null
	assert_status 0
	assert_contains "Protocol  : TLSv1.2"
	assert_contains "Verify return code: 0 (ok)"
}

@test "TLS below 1.2: smqtt-pub refuses a server that speaks only TLS 1.1; --tls-version below 1.2 is a usage error" {
	make_pki ABC
	sign ABC "$PKI/ABC.key" 1 > frame
	# mosquitto's tls_version is a minimum, so a broker limited to TLS 1.1 is
	# played by openssl s_server, with the broker's certificate.
	port=$(free_port)
	openssl s_server -accept "127.0.0.1:$port" -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' \
		-cert "$PKI/broker.crt" -key "$PKI/broker.key" -quiet < /dev/null > server.out 2> server.err 3>&- &
	track $!
	wait_for "openssl s_server" "(exec 6<> /dev/tcp/127.0.0.1/$port) 2> /dev/null"
	# It does speak TLS 1.1, to a client that asks for it.
	run openssl s_client -connect "127.0.0.1:$port" -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' -CAfile "$PKI/ca.crt" < /dev/null
	assert_contains "Protocol  : TLSv1.1"
	assert_contains "Verify return code: 0 (ok)"
	refute_contains "Cipher is (NONE)"
	run smqtt-pub -p "$port" --cafile "$PKI/ca.crt" --cert "$PKI/ABC.crt" --key "$PKI/ABC.key" --retry-for 0 < frame
	assert_status 3
	assert_contains "smqtt-pub: broker localhost:$port: TLS handshake failed: no TLS version in common with the broker (this client speaks TLS 1.2 and later; see --tls-version)"
	refute_contains "smqtt1 "
	wait_for "the server to log the refusal" 'grep -q "unsupported protocol" server.err'
	for version in tlsv1 tlsv1.1 sslv3; do
		for prog in smqtt-pub smqtt-sub; do
			run "$prog" --tls-version "$version" -t smqtt/ABC/frames --cafile "$PKI/ca.crt" \
				--cert "$PKI/ABC.crt" --key "$PKI/ABC.key" < frame
			assert_status 2
			assert_contains "$prog: --tls-version $version: expected tlsv1.2 or tlsv1.3"
		done
	done
}

# ---- client certificate ----

@test "no client certificate: the broker refuses the TLS connection; smqtt-pub and smqtt-sub say so" {
	broker_setup ABC
	sign ABC "$PKI/ABC.key" 1 > frame
	run openssl s_client -connect "127.0.0.1:$BROKER_PORT" -tls1_2 -CAfile "$PKI/ca.crt" < /dev/null
	[ "$status" -ne 0 ] || fail "s_client without a certificate: status 0: $output"
	assert_contains "alert handshake failure"
	run mosquitto_pub -h localhost -p "$BROKER_PORT" --cafile "$PKI/ca.crt" -i ABC -t smqtt/ABC/frames -m x
	[ "$status" -ne 0 ] || fail "mosquitto_pub without a certificate: status 0: $output"
	wait_for "the broker to log the refusal" 'grep -q "peer did not return a certificate" "$BROKER_LOG"'
	run smqtt-pub -p "$BROKER_PORT" --cafile "$PKI/ca.crt" -i ABC < frame
	assert_status 3
	assert_contains "smqtt-pub: broker localhost:$BROKER_PORT: TLS handshake failed: the broker requires a client certificate (give --cert and --key)"
	refute_contains "smqtt1 "
	run smqtt-sub -p "$BROKER_PORT" --cafile "$PKI/ca.crt" -i collector -t 'smqtt/+/frames' -W 5
	assert_status 3
	assert_contains "smqtt-sub: broker localhost:$BROKER_PORT: TLS handshake failed: the broker requires a client certificate (give --cert and --key)"
	# The same client with its certificate gets through, so the certificate made the difference.
	pub_as ABC < frame > delivered 2> err || fail "$(cat err)"
	cmp delivered frame
}

# ---- topics ----

@test "topics: device A publishing on device B's topic, or on any topic not its own, is refused (0x87) and not delivered" {
	broker_setup ABC DEF
	sign ABC "$PKI/ABC.key" 2 > frames
	sed -n 1p frames > first
	sed -n 2p frames > second
	tls_args collector
	smqtt-sub "${TLS_ARGS[@]}" -t 'smqtt/#' -C 1 -W 30 > received 2> sub.err 3>&- &
	sub=$!
	track "$sub"
	wait_for "the collector's subscription" '[ "$(subscriptions collector)" -ge 1 ]'
	for topic in smqtt/DEF/frames smqtt/DEF/commands smqtt/ABC/commands smqtt/ABC smqtt/other; do
		run pub_as ABC -t "$topic" < first
		assert_status 1
		assert_contains "smqtt-pub: line 1: device ABC seq 1: refused by the broker: Not authorized (0x87) on topic $topic"
		assert_contains "smqtt-pub: 0 delivered, 1 refused, 0 malformed, 0 not acknowledged"
		refute_contains "smqtt1 "
	done
	# On its own topic it is delivered, and that is the first and only message the collector sees.
	pub_as ABC < second > delivered 2> err || fail "$(cat err)"
	cmp delivered second
	wait "$sub" || fail "smqtt-sub: $(cat sub.err)"
	cmp received second || fail "the collector received: $(cat received)"
}

# ---- private keys and passphrases out of sight ----

@test "private keys: not in the command line or environment of a running smqtt-sign, smqtt-pub or smqtt-sub, nor a --passenv passphrase" {
	broker_setup ABC
	pass=Pass-3c9e1f-word
	seal "$PKI/ABC.key" sealed.key "$pass"
	seal "$PKI/collector.key" collector.key "$pass"
	key_secrets "$PKI/ABC.key"
	key_secrets "$PKI/collector.key"
	echo "$pass" >> secrets
	echo "$pass" > passfile
	# The checker finds what it looks for.
	refute_secrets "$PKI/ABC.key" 2> /dev/null && fail "the key file itself passed the check"
	openssl pkey -in sealed.key -passin "pass:$pass" -noout -text > text
	refute_secrets text 2> /dev/null && fail "the key's text form passed the check"
	env | grep -q Pass-3c9e1f && fail "the passphrase is in the test's own environment"

	# Each program runs with the passphrase in a variable of its own environment,
	# reads a line, and is looked at once it has used its key.
	mkfifo sign.in pub.in
	# A core size limit the programs must lower themselves.
	ulimit -c 4096 || fail "cannot set a core file size limit to check that the programs lower it"
	SMQTT_PASS=$pass smqtt-sign -k sealed.key -i ABC -S abc.seq --passenv SMQTT_PASS < sign.in > signed 2> sign.err 3>&- &
	signer=$!
	track "$signer"
	SMQTT_PASS=$pass smqtt-pub -p "$BROKER_PORT" --cafile "$PKI/ca.crt" --cert "$PKI/ABC.crt" --key sealed.key \
		--passenv SMQTT_PASS < pub.in > delivered 2> pub.err 3>&- &
	publisher=$!
	track "$publisher"
	SMQTT_PASS=$pass smqtt-sub -p "$BROKER_PORT" --cafile "$PKI/ca.crt" --cert "$PKI/collector.crt" \
		--key collector.key --passenv SMQTT_PASS -t 'smqtt/+/frames' > received 2> sub.err 3>&- &
	subscriber=$!
	track "$subscriber"
	exec 5> sign.in 6> pub.in
	meter_records 1 ABC >&5
	wait_for "a signed frame" '[ "$(lines signed)" -eq 1 ]'
	wait_for "the collector's subscription" '[ "$(subscriptions collector)" -ge 1 ]'
	cat signed >&6
	wait_for "the frame delivered" '[ "$(lines delivered)" -eq 1 ]'
	wait_for "the frame received" '[ "$(lines received)" -eq 1 ]'
	for p in signer publisher subscriber; do
		if [ "$(id -u)" -ne 0 ]; then
			# Not dumpable: another process of the same user cannot read the environment at all.
			! cat "/proc/${!p}/environ" > /dev/null 2>&1 || fail "$p: /proc/PID/environ is readable by its user"
			tr '\0' '\n' < "/proc/${!p}/cmdline" > "$p.cmdline"
			: > "$p.environ"
		else
			proc_snapshot "${!p}" "$p"
		fi
		grep -q -- '--passenv' "$p.cmdline"
		refute_secrets "$p.cmdline" "$p.environ"
		# No core dump can hold the key: the core file size limit is 0.
		grep -Eq '^Max core file size +0 +0 ' "/proc/${!p}/limits" ||
			fail "$p may dump core: $(grep 'core' "/proc/${!p}/limits")"
	done
	exec 5>&- 6>&-
	wait "$signer" || fail "smqtt-sign: $(cat sign.err)"
	wait "$publisher" || fail "smqtt-pub: $(cat pub.err)"
	refute_secrets sign.err pub.err sub.err signed delivered received
}

@test "private keys: not in the output of smqtt-pub -d, smqtt-sub -d, nor in any error about a key, certificate, passphrase or configuration" {
	broker_setup ABC
	pass=Pass-7a41d2-word
	seal "$PKI/ABC.key" sealed.key "$pass"
	echo "$pass" > passfile
	echo "not-$pass" > wrongpass
	for key in ABC collector ca broker; do key_secrets "$PKI/$key.key"; done
	printf '%s\n' "$pass" "not-$pass" >> secrets
	key=$PKI/ABC.key cert=$PKI/ABC.crt ca=$PKI/ca.crt
	smqtt-issue ca --ca-dir eca --passfile passfile > /dev/null
	key_secrets eca/ca.key "$pass"
	sign ABC "$key" 3 > frames
	mkdir o
	# Debug runs that succeed, with a plain and with an encrypted key.
	tls_args collector
	smqtt-sub --debug "${TLS_ARGS[@]}" -t 'smqtt/+/frames' -C 6 -W 30 > o/sub-debug.out 2> o/sub-debug.err 3>&- &
	sub=$!
	track "$sub"
	wait_for "the collector's subscription" '[ "$(subscriptions collector)" -ge 1 ]'
	pub_as ABC -d < frames > o/pub-debug.out 2> o/pub-debug.err || fail "$(cat o/pub-debug.err)"
	sign ABC "$key" 3 > more
	smqtt-pub --debug -p "$BROKER_PORT" --cafile "$ca" --cert "$cert" --key sealed.key --passfile passfile \
		< more > o/pub-sealed.out 2> o/pub-sealed.err || fail "$(cat o/pub-sealed.err)"
	wait "$sub" || fail "smqtt-sub: $(cat o/sub-debug.err)"
	[ "$(lines o/sub-debug.out)" -eq 6 ]
	grep -q '^smqtt-pub: debug: Client ABC sending PUBLISH' o/pub-debug.err
	grep -q '^smqtt-sub: debug: Client collector received PUBLISH' o/sub-debug.err
	# A debug run the broker refuses.
	pub_as ABC -d -t smqtt/other < frames > o/pub-refused.out 2> o/pub-refused.err && fail "not refused"
	grep -q 'Not authorized (0x87)' o/pub-refused.err

	# Every place a key, certificate or passphrase is named, given the wrong
	# file: one numbered run each, its stdout and stderr kept in o/.
	runs=(
		"smqtt-sign -k $key -c $key"
		"smqtt-sign -k $key -c $PKI/collector.crt"
		"smqtt-sign -k $cert -i ABC"
		"smqtt-sign -k sealed.key -i ABC"
		"smqtt-sign -k sealed.key -i ABC --passfile wrongpass"
		"smqtt-sign -k sealed.key -i ABC --passfile $key"
		"smqtt-sign --config $key"
		"smqtt-verify --pubkey ABC=$key"
		"smqtt-verify -c $key"
		"smqtt-verify -R $key"
		"smqtt-verify --config $key"
		"smqtt-pub -p $BROKER_PORT --cafile $ca --cert $key --key $key"
		"smqtt-pub -p $BROKER_PORT --cafile $key --cert $cert --key $key"
		"smqtt-pub -p $BROKER_PORT --cafile $ca --cert $cert --key $PKI/collector.key"
		"smqtt-pub -p $BROKER_PORT --cafile $ca --cert $cert --key sealed.key --passfile wrongpass"
		"smqtt-pub -p $BROKER_PORT --cafile $ca --cert $cert --key sealed.key"
		"smqtt-pub --debug -p $BROKER_PORT --cafile $ca --cert $PKI/collector.crt --key $PKI/collector.key --retry-for 0 -t smqtt/x"
		"smqtt-pub --debug -p $BROKER_PORT --cafile $ca --cert $PKI/broker.crt --key $PKI/broker.key -i ABC --retry-for 0"
		"smqtt-pub --config $key"
		"smqtt-sub --debug -p $BROKER_PORT --cafile $ca --cert $cert --key $PKI/ca.key -t x"
		"smqtt-sub --debug -p $BROKER_PORT --cafile $key --cert $cert --key $key -t x"
		"smqtt-sub --config $key -t x"
		"smqtt-store -d $key"
		"smqtt-store --config $key"
		"smqtt-register -R $key list"
		"smqtt-register -R reg.db init --ca $key"
		"smqtt-issue device --ca-dir $key"
		"smqtt-issue crl --ca-dir eca --passfile wrongpass"
		"smqtt-issue device --ca-dir eca -o issued"
		"smqtt-issue server --ca-dir $PKI/ca --config $key x"
		"smqtt-keygen -k $key"
	)
	for i in "${!runs[@]}"; do
		# shellcheck disable=SC2086
		${runs[i]} < frames > "o/$i.out" 2> "o/$i.err" && fail "succeeded: ${runs[i]}"
		grep -q '^smqtt-[a-z]*: ' "o/$i.err" || fail "no message from: ${runs[i]}: $(cat "o/$i.err")"
	done
	for i in "${!runs[@]}"; do
		refute_secrets "o/$i.out" "o/$i.err" || fail "in the output of: ${runs[i]}"
	done
	refute_secrets o/*
}

@test "private keys: a key file fed by mistake to a program's stdin is not echoed, and no certificate is issued for it" {
	broker_setup ABC
	key_secrets "$PKI/ca.key"
	key_secrets "$PKI/ABC.key"
	smqtt-register -R reg.db init --ca "$PKI/ca.crt"
	for key in "$PKI/ca.key" "$PKI/ABC.key"; do
		runs=(
			"smqtt-verify -c $PKI/ABC.crt"
			"smqtt-store -d db"
			"smqtt-pub -p $BROKER_PORT --cafile $PKI/ca.crt --cert $PKI/ABC.crt --key $PKI/ABC.key"
			"smqtt-register -R reg.db add"
			"smqtt-issue device --ca-dir $PKI/ca -o issued"
			"smqtt-issue crl --ca-dir $PKI/ca"
		)
		for i in "${!runs[@]}"; do
			# shellcheck disable=SC2086
			${runs[i]} < "$key" > out 2> err && fail "accepted a key on stdin: ${runs[i]}"
			grep -q '^smqtt-[a-z]*: ' err || fail "no message from: ${runs[i]}"
			refute_secrets out err || fail "from: ${runs[i]} < $key"
		done
		[ ! -e issued ] || [ -z "$(ls issued)" ] || fail "certificates issued for lines of $key: $(ls issued)"
		[ -z "$(smqtt-register -R reg.db list)" ]
	done
}

@test "passphrases: a wrong or missing passphrase is a clear error, status 3, that never shows a passphrase" {
	make_pki ABC
	pass=Pass-5be0c8-word
	wrong=Wrong-92d1fa-word
	printf '%s\n' "$pass" "$wrong" > secrets
	echo "$pass" > passfile
	echo "$wrong" > wrongfile
	smqtt-keygen -k sign.key --passfile passfile > sign.pub
	seal "$PKI/ABC.key" tls.key "$pass"
	smqtt-issue ca --ca-dir eca --passfile passfile > /dev/null
	sign ABC "$PKI/ABC.key" 1 > frame
	# The encrypted key of each program, and how it is named in its messages.
	programs=(
		"smqtt-sign -k sign.key -i ABC|private key sign.key"
		"smqtt-pub --cafile $PKI/ca.crt --cert $PKI/ABC.crt --key tls.key|--key tls.key"
		"smqtt-sub --cafile $PKI/ca.crt --cert $PKI/ABC.crt --key tls.key -t x|--key tls.key"
		"smqtt-issue device --ca-dir eca -o out|private key eca/ca.key"
	)
	for entry in "${programs[@]}"; do
		cmd=${entry%|*} name=${entry#*|}
		for source in "--passfile wrongfile" "--passenv SMQTT_PASS" "--passfd 7"; do
			# shellcheck disable=SC2086
			run env SMQTT_PASS="$wrong" $cmd $source 7< wrongfile < frame
			assert_status 3
			[ "$output" = "${cmd%% *}: $name: wrong passphrase or damaged key" ] || fail "$cmd $source: $output"
			printf '%s\n' "$output" >> seen
		done
		# shellcheck disable=SC2086
		run $cmd < frame
		assert_status 3
		[ "$output" = "${cmd%% *}: $name: encrypted; give the passphrase with --passfile, --passenv or --passfd" ] ||
			fail "$cmd: $output"
		# shellcheck disable=SC2086
		run $cmd --passenv SMQTT_UNSET_VARIABLE < frame
		assert_status 3
		assert_contains "passphrase variable SMQTT_UNSET_VARIABLE: not set"
	done
	# Nothing above printed a passphrase, right or wrong (the checker does find one).
	refute_secrets seen
	refute_secrets wrongfile 2> /dev/null && fail "the check missed the wrong passphrase"
	# Passphrases the programs cannot use are refused, without being quoted.
	: > empty
	head -c 2000 /dev/zero | tr '\0' x > long
	for file in empty long; do
		run smqtt-sign -k sign.key -i ABC --passfile "$file" < frame
		assert_status 3
		assert_contains "passphrase from $file: "
		refute_contains "xxxxxxxx"
	done
	run env SMQTT_PASS="$(cat long)" smqtt-pub --cafile "$PKI/ca.crt" --cert "$PKI/ABC.crt" --key tls.key --passenv SMQTT_PASS < frame
	assert_status 3
	assert_contains "passphrase variable SMQTT_PASS: longer than"
	refute_contains "xxxxxxxx"
	# The keys are encrypted on disk: openssl cannot read them without the passphrase.
	for key in sign.key tls.key eca/ca.key; do
		grep -q 'BEGIN ENCRYPTED PRIVATE KEY' "$key"
		openssl pkey -in "$key" -passin pass: -noout 2> /dev/null && fail "$key: readable without the passphrase"
		openssl pkey -in "$key" -passin "pass:$pass" -noout
	done
}

@test "passphrase-protected keys: signing, verifying, publishing over TLS and issuing with encrypted keys all work" {
	broker_setup ABC
	pass=Pass-e04b77-word
	echo "$pass" > passfile
	# A signing key made encrypted by smqtt-keygen, used through each passphrase source.
	run smqtt-keygen -k sign.key --type p384 --passenv SMQTT_PASS
	assert_status 3
	assert_contains "smqtt-keygen: passphrase variable SMQTT_PASS: not set"
	[ ! -e sign.key ] || fail "a key was written without its passphrase"
	SMQTT_PASS=$pass smqtt-keygen -k sign.key --type p384 --passenv SMQTT_PASS > sign.pub
	meter_records 1 ABC | smqtt-sign -k sign.key -i ABC --passfile passfile > frames
	meter_records 1 ABC | SMQTT_PASS=$pass smqtt-sign -k sign.key -i ABC --passenv SMQTT_PASS >> frames
	meter_records 1 ABC | smqtt-sign -k sign.key -i ABC --passfd 7 7< passfile >> frames
	[ "$(cut -d' ' -f3 frames | tr '\n' ' ')" = "1 2 3 " ]
	run smqtt-verify --pubkey ABC=sign.pub < frames
	assert_status 0
	[ "$output" = "$(cat frames)" ]
	# TLS client keys encrypted, on both ends of the broker.
	seal "$PKI/ABC.key" abc-tls.key "$pass"
	seal "$PKI/collector.key" collector-tls.key "$pass"
	SMQTT_PASS=$pass smqtt-sub -p "$BROKER_PORT" --cafile "$PKI/ca.crt" --cert "$PKI/collector.crt" \
		--key collector-tls.key --passenv SMQTT_PASS -t 'smqtt/+/frames' -C 3 -W 30 > received 2> sub.err 3>&- &
	sub=$!
	track "$sub"
	wait_for "the collector's subscription" '[ "$(subscriptions collector)" -ge 1 ]'
	smqtt-pub -p "$BROKER_PORT" --cafile "$PKI/ca.crt" --cert "$PKI/ABC.crt" --key abc-tls.key --passfd 7 \
		7< passfile < frames > delivered 2> pub.err || fail "smqtt-pub: $(cat pub.err)"
	cmp delivered frames
	wait "$sub" || fail "smqtt-sub: $(cat sub.err)"
	cmp received frames
	smqtt-verify --pubkey ABC=sign.pub < received > /dev/null
	# An encrypted CA key issues devices that a registry then trusts.
	smqtt-issue ca --ca-dir eca --passfile passfile > /dev/null
	grep -q 'BEGIN ENCRYPTED PRIVATE KEY' eca/ca.key
	echo NEW | SMQTT_PASS=$pass smqtt-issue device --ca-dir eca -o fleet --passenv SMQTT_PASS > issued 2> issue.err ||
		fail "$(cat issue.err)"
	smqtt-register -R reg.db init --ca eca/ca.crt
	smqtt-register -R reg.db add < issued 2> /dev/null
	meter_records 2 NEW | smqtt-sign -k fleet/NEW.key -c fleet/NEW.crt > new.frames
	run smqtt-verify -R reg.db < new.frames
	assert_status 0
	[ "$output" = "$(cat new.frames)" ]
}

# ---- readings filed under another meter ----

@test "misfiled: a meter's own key cannot file a reading under another meter" {
	make_pki meter-0002 meter-0005
	registry_of meter-0002 meter-0005
	sign meter-0002 "$PKI/meter-0002.key" 2 > honest
	sign meter-0005 "$PKI/meter-0005.key" 1 > own
	# meter-0005 is compromised: with its own key and next sequence number it
	# signs a reading of 999 that names meter-0002.
	printf 'meter-0002,2013-11-02 00:30:00,0,999\n' |
		smqtt-sign -k "$PKI/meter-0005.key" -i meter-0005 -S meter-0005.seq > misfiled
	cat honest own misfiled > frames
	# The signature is good, so the verifier passes it on...
	smqtt-verify -R reg.db < frames > verified 2> verify.err || fail "smqtt-verify: $(cat verify.err)"
	cmp verified frames
	# ...and the store refuses it, by line and reason, and stores the rest.
	run smqtt-store -d db < verified
	assert_status 1
	assert_contains 'smqtt-store: line 4: device meter-0005 seq 2: record: field 1 (meter): "meter-0002" is not the device that signed the frame'
	assert_contains "3 stored, 0 duplicates, 1 rejected"
	# meter-0002's bill is what meter-0002 signed, by either column.
	honest_total=$(cut -d, -f4 <(cut -d' ' -f5- honest) | awk '{ s += $1 } END { printf "%.1f", s }')
	[ "$(sqlite3 db "select printf('%.1f', sum(value)) from readings where device = 'meter-0002'")" = "$honest_total" ]
	[ "$(sqlite3 db "select printf('%.1f', sum(value)) from readings where meter = 'meter-0002'")" = "$honest_total" ]
	[ "$(sqlite3 db "select count(*) from readings where value = 999")" -eq 0 ]
}
