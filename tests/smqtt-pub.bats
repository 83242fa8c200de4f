#!/usr/bin/env bats
# smqtt-pub against a real mosquitto over mutual TLS (see broker_helper.bash).

load test_helper
load pki_helper
load broker_helper

setup() {
	common_setup
}

teardown() {
	broker_teardown
}

# frames DEVICE N: N frames signed for DEVICE in DEVICE.frames; its signing
# certificate in sign-DEVICE.crt
frames() {
	if [ ! -f "sign-$1.key" ]; then
		make_key "sign-$1" && make_cert "sign-$1" "$1" || return 1
	fi
	meter_records "$2" "$1" | smqtt-sign -k "sign-$1.key" -i "$1" > "$1.frames"
}

# lines FILE: its number of lines
lines() {
	wc -l < "$1" | tr -d ' '
}

@test "smqtt-pub: usage errors exit 2 and --help exits 0" {
	for args in "-q 3" "-t smqtt/+/frames" "-t smqtt/#" "-V 4" "--inflight 0" "-p 0" "--tls-version tlsv1.1" \
		"--retry-for -1" "-k 2" "--no-such-option" "extra-argument"; do
		# shellcheck disable=SC2086
		run smqtt-pub $args < /dev/null
		[ "$status" -eq 2 ] || fail "smqtt-pub $args: expected status 2, got $status: $output"
		[[ $output == smqtt-pub:* || $output == *"usage: smqtt-pub"* ]] || fail "smqtt-pub $args: $output"
	done
	run smqtt-pub --cert a.crt < /dev/null
	assert_status 2
	assert_contains "give --cert and --key together"
	run smqtt-pub --cafile /dev/null < /dev/null
	assert_status 2
	assert_contains "no client id: give -i CLIENTID"
	run smqtt-pub --help
	assert_status 0
	assert_contains "usage: smqtt-pub"
}

@test "smqtt-pub: missing or unusable TLS files are named with their option" {
	pki_setup pki ABC
	run smqtt-pub -i ABC --cafile pki/ca.crt --cert nope.crt --key pki/ABC.key < /dev/null
	assert_status 3
	[ "$output" = "smqtt-pub: --cert nope.crt: No such file or directory" ] || fail "got: $output"
	run smqtt-pub --cafile missing-ca.crt --cert pki/ABC.crt --key pki/ABC.key < /dev/null
	assert_status 3
	[ "$output" = "smqtt-pub: --cafile missing-ca.crt: No such file or directory" ] || fail "got: $output"
	echo "not a certificate" > junk.pem
	run smqtt-pub --cafile pki/ca.crt --cert junk.pem --key pki/ABC.key < /dev/null
	assert_status 3
	assert_contains "--cert junk.pem: not a PEM certificate"
	run smqtt-pub --cafile junk.pem --cert pki/ABC.crt --key pki/ABC.key < /dev/null
	assert_status 3
	assert_contains "--cafile junk.pem: no usable CA certificate"
	cp pki/ABC.key open.key
	chmod 644 open.key
	run smqtt-pub --cafile pki/ca.crt --cert pki/ABC.crt --key open.key < /dev/null
	assert_status 3
	assert_contains "--key open.key: accessible by group or others (mode 0644)"
	run smqtt-pub --cafile pki/ca.crt --cert pki/ABC.crt --key pki/ca.key < /dev/null
	assert_status 3
	assert_contains "--key pki/ca.key: does not belong to --cert pki/ABC.crt"
	(umask 077 && openssl pkcs8 -topk8 -v2 aes-256-cbc -in pki/ABC.key -out sealed.key -passout pass:s3cret)
	run smqtt-pub --cafile pki/ca.crt --cert pki/ABC.crt --key sealed.key < /dev/null
	assert_status 3
	assert_contains "--key sealed.key: encrypted; give the passphrase with --passfile, --passenv or --passfd"
	run env PASS=wrong smqtt-pub --cafile pki/ca.crt --cert pki/ABC.crt --key sealed.key --passenv PASS < /dev/null
	assert_status 3
	assert_contains "--key sealed.key: wrong passphrase or damaged key"
}

@test "smqtt-pub: TLS round trip: sign | smqtt-pub -> broker -> smqtt-sub | smqtt-verify" {
	broker_setup ABC
	frames ABC 50
	tls_args collector
	smqtt-sub "${TLS_ARGS[@]}" -t 'smqtt/+/frames' -C 50 -W 30 > received 2> sub.err 3>&- &
	sub=$!
	track "$sub"
	wait_for "the collector's subscription" '[ "$(subscriptions collector)" -ge 1 ]'
	run pub_as ABC < ABC.frames
	assert_status 0
	[ "$(printf '%s\n' "$output" | grep -c '^smqtt1 ABC ')" -eq 50 ] || fail "smqtt-pub reported: $output"
	wait "$sub" || fail "smqtt-sub failed: $(cat sub.err)"
	cmp received ABC.frames || fail "received frames differ from those sent"
	run smqtt-verify -c sign-ABC.crt < received
	assert_status 0
	[ "$(printf '%s\n' "$output" | grep -c '^smqtt1 ABC ')" -eq 50 ] || fail "smqtt-verify passed: $output"
	[ ! -s sub.err ] || fail "smqtt-sub: $(cat sub.err)"
}

@test "smqtt-pub, smqtt-sub: --no-tls speaks plain TCP with a warning; TLS options with it are usage errors" {
	BROKER_PLAIN=1 broker_setup ABC
	frames ABC 20
	smqtt-sub --no-tls -p "$BROKER_TCP_PORT" -i plain-sub -t 'smqtt/+/frames' -C 20 -W 30 > received 2> sub.err 3>&- &
	sub=$!
	track "$sub"
	wait_for "the plain subscription" '[ "$(subscriptions plain-sub)" -ge 1 ]'
	smqtt-pub --no-tls -p "$BROKER_TCP_PORT" -i plain-pub -q 1 < ABC.frames > delivered 2> pub.err ||
		fail "smqtt-pub --no-tls: status $?: $(cat pub.err)"
	cmp delivered ABC.frames || fail "smqtt-pub --no-tls acknowledged other frames: $(cat delivered)"
	wait "$sub" || fail "smqtt-sub --no-tls: $(cat sub.err)"
	cmp received ABC.frames || fail "smqtt-sub --no-tls received other frames"
	grep -q "warning: --no-tls: the connection to localhost:$BROKER_TCP_PORT is neither encrypted nor authenticated" pub.err ||
		fail "no warning: $(cat pub.err)"
	grep -q "warning: --no-tls" sub.err || fail "no warning: $(cat sub.err)"
	# Without TLS there is no certificate to take the client id from.
	run smqtt-pub --no-tls -p "$BROKER_TCP_PORT" < /dev/null
	assert_status 2
	assert_contains "--no-tls: no client id: give -i CLIENTID"
	for args in "--cafile $PKI/ca.crt" "--cert $PKI/ABC.crt --key $PKI/ABC.key" "--tls-version tlsv1.3" "--insecure"; do
		# shellcheck disable=SC2086
		run smqtt-sub --no-tls -i x -t a $args < /dev/null
		[ "$status" -eq 2 ] || fail "smqtt-sub --no-tls $args: status $status: $output"
		assert_contains "the TLS options"
	done
	# The TLS listener still wants TLS: a plain client there gets a clear error, not a hang.
	run smqtt-pub --no-tls -p "$BROKER_PORT" -i plain-pub --retry-for 0 < ABC.frames
	[ "$status" -ne 0 ] || fail "a plain client was accepted on the TLS listener: $output"
	assert_contains "broker localhost:$BROKER_PORT: connection closed by the broker before it answered CONNECT (--no-tls: is this a TLS listener?)"
}

@test "smqtt-pub: stdout is exactly the acknowledged frames; malformed lines are named and not published" {
	broker_setup ABC
	frames ABC 5
	{ head -n 2 ABC.frames; echo "not a frame"; printf 'smqtt1 ABC 9 AAAA\r\n'; tail -n 3 ABC.frames; } > input
	pub_as ABC < input > delivered 2> err && fail "status 0 despite malformed lines"
	cmp delivered ABC.frames || fail "delivered: $(cat delivered)"
	grep -q '^smqtt-pub: line 3: malformed frame: .*; not published$' err || fail "stderr: $(cat err)"
	grep -q '^smqtt-pub: line 4: malformed frame: .*; not published$' err || fail "stderr: $(cat err)"
	grep -q '^smqtt-pub: 5 delivered, 0 refused, 2 malformed, 0 not acknowledged$' err || fail "stderr: $(cat err)"
}

@test "smqtt-pub: a device publishing on another device's topic is refused, named and not counted as delivered" {
	broker_setup ABC DEF
	frames ABC 3
	frames DEF 2
	cat ABC.frames DEF.frames > input
	run pub_as ABC < input
	assert_status 1
	assert_contains "smqtt-pub: line 4: device DEF seq 1: refused by the broker: Not authorized (0x87) on topic smqtt/DEF/frames"
	assert_contains "smqtt-pub: line 5: device DEF seq 2: refused by the broker: Not authorized (0x87)"
	assert_contains "smqtt-pub: 3 delivered, 2 refused, 0 malformed, 0 not acknowledged"
	[ "$(printf '%s\n' "$output" | grep -c '^smqtt1 ABC ')" -eq 3 ] || fail "$output"
	refute_contains "smqtt1 DEF"
	# The broker did not drop the connection over it: one connection served all five.
	[ "$(grep -c 'New client connected .* as ABC ' "$BROKER_LOG")" -eq 1 ] || fail "$(cat "$BROKER_LOG")"
}

@test "smqtt-pub: with -V 311 a refused frame is acknowledged like any other, as documented" {
	broker_setup ABC DEF
	frames ABC 1
	frames DEF 2
	cat DEF.frames ABC.frames > input
	tls_args collector
	smqtt-sub "${TLS_ARGS[@]}" -t 'smqtt/+/frames' -C 1 -W 30 > received 2> sub.err 3>&- &
	sub=$!
	track "$sub"
	wait_for "the collector's subscription" '[ "$(subscriptions collector)" -ge 1 ]'
	run pub_as ABC -V 311 < input
	assert_status 0
	[ "$(printf '%s\n' "$output" | grep -c '^smqtt1 DEF ')" -eq 2 ] || fail "$output"
	# ... and yet the broker dropped them: the collector's first frame is ABC's.
	wait "$sub" || fail "smqtt-sub: $(cat sub.err)"
	cmp received ABC.frames || fail "received: $(cat received)"
}

@test "smqtt-pub: a client without a certificate is refused by the broker, with a clear reason" {
	broker_setup ABC
	frames ABC 1
	run smqtt-pub -p "$BROKER_PORT" --cafile "$PKI/ca.crt" -i ABC < ABC.frames
	assert_status 3
	assert_contains "smqtt-pub: broker localhost:$BROKER_PORT: TLS handshake failed: the broker requires a client certificate (give --cert and --key)"
	refute_contains "smqtt1"
	grep -q "peer did not return a certificate" "$BROKER_LOG" || fail "$(cat "$BROKER_LOG")"
}

@test "smqtt-pub: a broker certificate from another CA is a clear error naming --cafile" {
	broker_setup ABC
	pki_setup other
	frames ABC 1
	run smqtt-pub -p "$BROKER_PORT" --cafile other/ca.crt --cert "$PKI/ABC.crt" --key "$PKI/ABC.key" < ABC.frames
	assert_status 3
	assert_contains "smqtt-pub: broker localhost:$BROKER_PORT: TLS handshake failed: certificate verify failed:"
	assert_contains "(--cafile other/ca.crt)"
	refute_contains "smqtt1"
	# And a client certificate from another CA is refused by the broker, naming --cert.
	run smqtt-pub -p "$BROKER_PORT" --cafile "$PKI/ca.crt" --cert other/broker.crt --key other/broker.key -i ABC < ABC.frames
	assert_status 3
	assert_contains "the broker refused the client certificate"
	assert_contains "(--cert other/broker.crt)"
}

@test "smqtt-pub: the broker's certificate must name the host; --insecure skips that check with a warning" {
	broker_setup ABC
	frames ABC 2
	# A broker certificate for another name, from the same CA.
	(
		cd "$PKI" || exit 1
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout elsewhere.key \
			-subj /CN=elsewhere.example -out elsewhere.csr 2> /dev/null &&
			openssl x509 -req -in elsewhere.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
				-out elsewhere.crt -extfile <(printf 'subjectAltName=DNS:elsewhere.example\n') 2> /dev/null
	) || fail "could not make a certificate"
	broker_stop
	sed -i "s|^certfile .*|certfile $PKI/elsewhere.crt|; s|^keyfile .*|keyfile $PKI/elsewhere.key|" "$BROKER_DIR/mosquitto.conf"
	broker_start
	run pub_as ABC < ABC.frames
	assert_status 3
	assert_contains "TLS handshake failed: the broker's certificate is not valid for localhost (--insecure skips this check)"
	run pub_as ABC --insecure < ABC.frames
	assert_status 0
	assert_contains "smqtt-pub: warning: --insecure: not checking that the broker's certificate names localhost"
	[ "$(printf '%s\n' "$output" | grep -c '^smqtt1 ABC ')" -eq 2 ] || fail "$output"
}

@test "smqtt-pub: QoS 0, 1 and 2, TLS 1.3 and MQTT 3.1.1 all deliver" {
	broker_setup ABC
	frames ABC 300
	for opts in "-q 0" "-q 1" "-q 2" "--tls-version tlsv1.3" "-V 311 -q 2" "--inflight 1"; do
		# shellcheck disable=SC2086
		pub_as ABC $opts < ABC.frames > delivered 2> err || fail "smqtt-pub $opts: status $?: $(cat err)"
		[ "$(lines delivered)" -eq 300 ] || fail "smqtt-pub $opts delivered $(lines delivered)"
		cmp <(sort delivered) <(sort ABC.frames) || fail "smqtt-pub $opts: wrong frames"
		[ ! -s err ] || fail "smqtt-pub $opts: stderr: $(cat err)"
	done
	# An encrypted client key, and -d showing the conversation.
	(umask 077 && openssl pkcs8 -topk8 -v2 aes-256-cbc -in "$PKI/ABC.key" -out sealed.key -passout pass:s3cret)
	echo s3cret > pass
	head -n 1 ABC.frames > one
	smqtt-pub -p "$BROKER_PORT" --cafile "$PKI/ca.crt" --cert "$PKI/ABC.crt" --key sealed.key --passfile pass --debug \
		< one > delivered 2> err || fail "status $?: $(cat err)"
	cmp delivered one || fail "delivered: $(cat delivered)"
	grep -q "^smqtt-pub: debug: Client ABC sending PUBLISH (d0, q1, r0, m1, 'smqtt/ABC/frames'" err || fail "$(cat err)"
	grep -q "^smqtt-pub: debug: Client ABC received PUBACK" err || fail "$(cat err)"
}

@test "smqtt-pub: a broker that stays away: gives up after --retry-for, naming the frames not acknowledged" {
	broker_setup ABC
	frames ABC 20
	broker_stop
	start=$SECONDS
	run pub_as ABC --retry-for 2 < ABC.frames
	assert_status 4
	assert_contains "smqtt-pub: broker localhost:$BROKER_PORT: cannot connect: Connection refused; retrying for up to 2 s"
	assert_contains "smqtt-pub: broker localhost:$BROKER_PORT: giving up after 2 s: Connection refused"
	refute_contains "smqtt1"
	((SECONDS - start < 10)) || fail "took $((SECONDS - start)) s"

	# Lost mid-stream, with frames sent and not acknowledged, and never back.
	broker_start
	mkfifo input
	tls_args ABC
	smqtt-pub "${TLS_ARGS[@]}" --retry-for 1 < input > delivered 2> err 3>&- &
	pub=$!
	track "$pub"
	exec 5> input
	head -n 5 ABC.frames >&5
	wait_for "5 frames delivered" '[ "$(lines delivered)" -eq 5 ]'
	kill -STOP "$BROKER_PID"
	tail -n +6 ABC.frames >&5
	wait_for "smqtt-pub to read every frame" '[ "$(pipe_bytes 5)" -eq 0 ]'
	broker_stop KILL
	exec 5>&-
	status=0
	wait "$pub" || status=$?
	[ "$status" -eq 4 ] || fail "status $status: $(cat err)"
	grep -q "^smqtt-pub: broker localhost:$BROKER_PORT: connection lost: .*; retrying for up to 1 s$" err || fail "$(cat err)"
	grep -q "^smqtt-pub: broker localhost:$BROKER_PORT: giving up after 1 s: " err || fail "$(cat err)"
	grep -q "^smqtt-pub: 15 frames not acknowledged by the broker, from line 6 on" err || fail "$(cat err)"
	grep -q "^smqtt-pub: 5 delivered, 0 refused, 0 malformed, 15 not acknowledged$" err || fail "$(cat err)"
	[ "$(lines delivered)" -eq 5 ] || fail "delivered: $(cat delivered)"
}

@test "smqtt-pub: broker stopped (SIGTERM) and restarted during a QoS 1 stream: nothing lost end to end" {
	broker_setup ABC
	frames ABC 6000
	# A persistent collector session: the broker keeps what it has not delivered yet.
	tls_args collector
	smqtt-sub "${TLS_ARGS[@]}" -t 'smqtt/+/frames' > received 2> sub.err 3>&- &
	sub=$!
	track "$sub"
	wait_for "the collector's subscription" '[ "$(subscriptions collector)" -ge 1 ]'
	mkfifo input
	tls_args ABC
	smqtt-pub "${TLS_ARGS[@]}" --inflight 200 < input > delivered 2> pub.err 3>&- &
	pub=$!
	track "$pub"
	exec 5> input
	head -n 3000 ABC.frames >&5
	wait_for "the stream to start" '[ "$(lines delivered)" -ge 500 ]'
	broker_stop TERM
	# Frames written while the broker is away wait in the pipe and the window.
	tail -n +3001 ABC.frames >&5 &
	writer=$!
	track "$writer"
	broker_start
	wait "$writer"
	exec 5>&-
	status=0
	wait "$pub" || status=$?
	[ "$status" -eq 0 ] || fail "smqtt-pub: status $status: $(cat pub.err)"
	grep -q "connection lost" pub.err || fail "the broker was not lost mid-stream: $(cat pub.err)"
	grep -q "reconnected after" pub.err || fail "$(cat pub.err)"
	# stdout: every frame, once.
	[ "$(lines delivered)" -eq 6000 ] || fail "delivered $(lines delivered)"
	cmp <(sort delivered) <(sort ABC.frames) || fail "delivered frames differ"
	# The collector gets every frame, duplicates allowed; the store ignores them.
	wait_for "every frame at the collector" '[ "$(sort -u received | wc -l)" -eq 6000 ]'
	kill "$sub"
	wait "$sub" || fail "smqtt-sub: status $? on SIGTERM: $(cat sub.err)"
	smqtt-store -d db < received 2> store.err || fail "smqtt-store: $(cat store.err)"
	grep -q '^smqtt-store: 6000 stored, [0-9]* duplicates, 0 rejected, 0 gaps' store.err || fail "$(cat store.err)"
	cmp <(sqlite3 db 'select frame from readings order by seq') ABC.frames || fail "stored frames differ"
}

@test "smqtt-pub: broker killed (SIGKILL) and restarted mid-stream: every frame acknowledged once, none dropped" {
	broker_setup ABC
	frames ABC 6000
	mkfifo input
	tls_args ABC
	smqtt-pub "${TLS_ARGS[@]}" --inflight 200 < input > delivered 2> pub.err 3>&- &
	pub=$!
	track "$pub"
	exec 5> input
	head -n 3000 ABC.frames >&5
	wait_for "the stream to start" '[ "$(lines delivered)" -ge 500 ]'
	broker_stop KILL
	tail -n +3001 ABC.frames >&5 &
	writer=$!
	track "$writer"
	broker_start
	wait "$writer"
	exec 5>&-
	status=0
	wait "$pub" || status=$?
	[ "$status" -eq 0 ] || fail "smqtt-pub: status $status: $(cat pub.err)"
	grep -q "connection lost" pub.err || fail "the broker was not lost mid-stream: $(cat pub.err)"
	grep -q "reconnected after" pub.err || fail "$(cat pub.err)"
	[ "$(lines delivered)" -eq 6000 ] || fail "delivered $(lines delivered)"
	cmp <(sort delivered) <(sort ABC.frames) || fail "delivered frames differ"
}

@test "smqtt-pub: 100000 frames at QoS 1 are all delivered" {
	broker_setup ABC
	frames ABC 100000
	start=$(date +%s%N)
	pub_as ABC < ABC.frames > delivered 2> err || fail "status $?: $(cat err)"
	ms=$((($(date +%s%N) - start) / 1000000))
	echo "# smqtt-pub: 100000 frames at QoS 1 in $ms ms" >&3
	[ "$(lines delivered)" -eq 100000 ] || fail "delivered $(lines delivered)"
	cmp delivered ABC.frames || cmp <(sort delivered) <(sort ABC.frames) || fail "delivered frames differ"
	[ ! -s err ] || fail "stderr: $(cat err)"
}

@test "smqtt-pub: a closed stdout stops reading, and what was sent is still acknowledged" {
	broker_setup ABC
	frames ABC 2000
	pub_as ABC < ABC.frames 2> err | head -n 1 > first
	status=${PIPESTATUS[0]}
	[ "$status" -eq 0 ] || fail "status $status: $(cat err)"
	[ "$(lines first)" -eq 1 ] || fail "$(cat first)"
	[ ! -s err ] || fail "stderr: $(cat err)"
}

@test "smqtt-pub: SIGTERM stops reading; frames already read are still sent and acknowledged" {
	broker_setup ABC
	frames ABC 10
	mkfifo input
	tls_args ABC
	smqtt-pub "${TLS_ARGS[@]}" < input > delivered 2> err 3>&- &
	pub=$!
	track "$pub"
	exec 5> input
	head -n 4 ABC.frames >&5
	wait_for "4 frames delivered" '[ "$(lines delivered)" -eq 4 ]'
	kill -TERM "$pub"
	status=0
	wait "$pub" || status=$?
	exec 5>&-
	[ "$status" -eq 0 ] || fail "status $status: $(cat err)"
	[ ! -s err ] || fail "stderr: $(cat err)"
	cmp delivered <(head -n 4 ABC.frames) || fail "delivered: $(cat delivered)"
}
