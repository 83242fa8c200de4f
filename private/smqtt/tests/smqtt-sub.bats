#!/usr/bin/env bats
# smqtt-sub against a real mosquitto over mutual TLS (see broker_helper.bash).

load test_helper
load pki_helper
load broker_helper

setup() {
	common_setup
}

teardown() {
	broker_teardown
}

# frames DEVICE N: N frames signed for DEVICE in DEVICE.frames
frames() {
	if [ ! -f "sign-$1.key" ]; then
		make_key "sign-$1" && make_cert "sign-$1" "$1" || return 1
	fi
	meter_records "$2" "$1" | smqtt-sign -k "sign-$1.key" -i "$1" > "$1.frames"
}

lines() {
	wc -l < "$1" | tr -d ' '
}

# start_sub NAME OUT ARG...: smqtt-sub as NAME in the background, stdout to OUT,
# stderr to OUT.err; its PID in SUB. Waits until the broker has its subscriptions.
start_sub() {
	local who=$1 out=$2 id=$1 before TLS_ARGS
	shift 2
	local prev=
	for arg in "$@"; do
		[ "$prev" = -i ] && id=$arg
		prev=$arg
	done
	before=$(subscriptions "$id")
	tls_args "$who"
	smqtt-sub "${TLS_ARGS[@]}" "$@" > "$out" 2> "$out.err" 3>&- &
	SUB=$!
	track "$SUB"
	wait_for "the subscription of $id" "[ \"\$(subscriptions $id)\" -gt $before ]"
}

@test "smqtt-sub: usage errors exit 2 and --help exits 0" {
	for args in "" "-t a/#/b" "-t a -C 0" "-t a -W 0" "-t a --session-expiry -1" "-t a -q 3" \
		"-t a -V 3" "-t a --bogus" "-t a extra"; do
		# shellcheck disable=SC2086
		run smqtt-sub $args
		[ "$status" -eq 2 ] || fail "smqtt-sub $args: expected status 2, got $status: $output"
		[[ $output == smqtt-sub:* || $output == *"usage: smqtt-sub"* ]] || fail "smqtt-sub $args: $output"
	done
	run smqtt-sub -t a
	assert_status 2
	assert_contains "no client id: give -i CLIENTID"
	run smqtt-sub --help
	assert_status 0
	assert_contains "usage: smqtt-sub"
}

@test "smqtt-sub: -v, -C and -W" {
	broker_setup ABC
	frames ABC 3
	start_sub collector out -t 'smqtt/+/frames' -v -C 2 -W 30
	pub_as ABC < ABC.frames > /dev/null
	wait "$SUB" || fail "status $?: $(cat out.err)"
	cmp out <(head -n 2 ABC.frames | sed 's|^|smqtt/ABC/frames |') || fail "got: $(cat out)"
	[ ! -s out.err ] || fail "stderr: $(cat out.err)"
	# -W ends a quiet subscription with status 0.
	start=$SECONDS
	run sub_as collector -i quiet -t 'smqtt/nothing/here' -W 1
	assert_status 0
	[ -z "$output" ] || fail "$output"
	((SECONDS - start < 5)) || fail "-W 1 took $((SECONDS - start)) s"
}

@test "smqtt-sub: restarted with its persistent session, it receives what was published while it was away" {
	broker_setup ABC
	frames ABC 8
	start_sub collector first -t 'smqtt/+/frames' -C 3 -W 30
	head -n 3 ABC.frames | pub_as ABC > /dev/null
	wait "$SUB" || fail "status $?: $(cat first.err)"
	cmp first <(head -n 3 ABC.frames) || fail "first run got: $(cat first)"
	# Away: the broker keeps these for the session.
	tail -n +4 ABC.frames | pub_as ABC > /dev/null
	run sub_as collector -t 'smqtt/+/frames' -C 5 -W 30
	assert_status 0
	[ "$output" = "$(tail -n +4 ABC.frames)" ] || fail "second run got: $output"
	# Without a persistent session (--session-expiry 0) nothing waits.
	run sub_as collector -i forgetful -t 'smqtt/+/frames' --session-expiry 0 -W 1
	assert_status 0
	head -n 1 ABC.frames | pub_as ABC > /dev/null
	run sub_as collector -i forgetful -t 'smqtt/+/frames' --session-expiry 0 -W 1
	assert_status 0
	[ -z "$output" ] || fail "got: $output"
}

@test "smqtt-sub: -C above the receive maximum stops at the count and loses nothing queued behind it" {
	broker_setup ABC
	frames ABC 2500
	# Open the persistent session, then publish while it is away.
	run sub_as collector -t 'smqtt/+/frames' -W 1
	assert_status 0
	pub_as ABC < ABC.frames > /dev/null
	run sub_as collector -t 'smqtt/+/frames' -C 1200 -W 60
	assert_status 0
	printf '%s\n' "$output" > first
	[ "$(lines first)" -eq 1200 ] || fail "-C 1200 wrote $(lines first) lines"
	cmp first <(head -n 1200 ABC.frames) || fail "the first run did not get the first 1200 frames in order"
	# The rest comes to the next run; repeats of the last ones are allowed, losses are not.
	run sub_as collector -t 'smqtt/+/frames' -W 5
	assert_status 0
	printf '%s\n' "$output" > second
	cmp <(sort -u first second) <(sort -u ABC.frames) || fail "frames were lost between the two runs"
	# What comes again was written by the first run (not acknowledged when it stopped), nothing else.
	comm -23 <(sort second) <(tail -n +1201 ABC.frames | sort) > repeated
	comm -13 <(sort first) <(sort -u repeated) | grep -q . && fail "the second run repeated frames the first never wrote"
	true
}

@test "smqtt-sub: a shared subscription splits the load between subscribers" {
	broker_setup ABC
	frames ABC 200
	start_sub collector one -i collector-1 -t '$share/sink/smqtt/+/frames'
	one=$SUB
	start_sub collector two -i collector-2 -t '$share/sink/smqtt/+/frames'
	two=$SUB
	pub_as ABC < ABC.frames > /dev/null
	wait_for "200 frames between the two" '[ "$(cat one two | wc -l)" -ge 200 ]'
	kill "$one" "$two"
	wait "$one" || fail "collector-1: status $?: $(cat one.err)"
	wait "$two" || fail "collector-2: status $?: $(cat two.err)"
	[ "$(lines one)" -gt 0 ] && [ "$(lines two)" -gt 0 ] || fail "split $(lines one) / $(lines two)"
	[ "$(cat one two | wc -l)" -eq 200 ] || fail "$(cat one two | wc -l) frames received in all"
	cmp <(sort one two) <(sort ABC.frames) || fail "frames received differ from those sent"
	# Each sink pipeline verifies on its own.
	smqtt-verify -c sign-ABC.crt < one > /dev/null || fail "collector-1's frames do not verify"
	smqtt-verify -c sign-ABC.crt < two > /dev/null || fail "collector-2's frames do not verify"
}

@test "smqtt-sub: commands: the control center signs and publishes, the device receives and verifies" {
	broker_setup ABC DEF
	make_key control-sign
	make_cert control-sign control
	start_sub ABC commands -t smqtt/ABC/commands -C 1 -W 30
	abc=$SUB
	# Another device may not read ABC's commands.
	start_sub DEF snooped -t smqtt/ABC/commands -W 3
	def=$SUB
	echo 'ABC,set-interval,900' | smqtt-sign -k control-sign.key -c control-sign.crt > command
	run pub_as control -t smqtt/ABC/commands < command
	assert_status 0
	[ "$output" = "$(cat command)" ] || fail "$output"
	wait "$abc" || fail "status $?: $(cat commands.err)"
	run smqtt-verify -c control-sign.crt < commands
	assert_status 0
	[ "$output" = "$(cat command)" ] || fail "$output"
	assert_contains " ABC,set-interval,900"
	wait "$def" || fail "status $?: $(cat snooped.err)"
	[ ! -s snooped ] || fail "DEF read ABC's command: $(cat snooped)"
	# Nor may a device send commands.
	echo 'DEF,open-breaker' | smqtt-sign -k control-sign.key -c control-sign.crt > forged
	run pub_as ABC -t smqtt/DEF/commands < forged
	assert_status 1
	assert_contains "refused by the broker: Not authorized (0x87) on topic smqtt/DEF/commands"
}

@test "smqtt-sub: messages holding CR, LF or NUL, empty or too long are reported with their topic and skipped" {
	command -v mosquitto_pub > /dev/null || fail "mosquitto_pub is not installed (package mosquitto-clients)"
	broker_setup ABC
	frames ABC 2
	start_sub collector out -t 'smqtt/+/frames' -C 2 -W 30
	tls_args ABC
	mp=(mosquitto_pub "${TLS_ARGS[@]}" -q 1 -t smqtt/ABC/frames)
	printf 'smqtt1 ABC 7 x\rinjected' > cr
	printf 'smqtt1 ABC 8 x\nsmqtt1 ABC 9 injected' > lf
	printf 'smqtt1 ABC 10 x\0nul' > nul
	head -c 5000 /dev/zero | tr '\0' x > long
	"${mp[@]}" -m "$(head -n 1 ABC.frames)"
	for f in cr lf nul long; do
		"${mp[@]}" -f "$f"
	done
	"${mp[@]}" -n
	"${mp[@]}" -m "$(tail -n 1 ABC.frames)"
	status=0
	wait "$SUB" || status=$?
	[ "$status" -eq 1 ] || fail "status $status: $(cat out.err)"
	cmp out ABC.frames || fail "got: $(cat out)"
	for f in "cr:contains a CR byte" "lf:contains a LF byte" "nul:contains a NUL byte" \
		"long:is longer than a frame can be"; do
		n=$(wc -c < "${f%%:*}")
		grep -qFx "smqtt-sub: topic smqtt/ABC/frames: message of $n bytes ${f#*:}; skipped" out.err ||
			fail "no report of the ${f%%:*} message: $(cat out.err)"
	done
	grep -qFx 'smqtt-sub: topic smqtt/ABC/frames: message of 0 bytes is empty; skipped' out.err || fail "$(cat out.err)"
	grep -q '^smqtt-sub: 2 messages written, 5 skipped$' out.err || fail "$(cat out.err)"
}

@test "smqtt-sub: a closed stdout ends it cleanly, and what it did not write comes again" {
	broker_setup ABC
	frames ABC 3
	run sub_as collector -t 'smqtt/+/frames' -W 1
	head -n 1 ABC.frames | pub_as ABC > /dev/null
	start=$SECONDS
	sub_as collector -t 'smqtt/+/frames' -W 20 2> err | head -n 1 > first
	status=${PIPESTATUS[0]}
	[ "$status" -eq 0 ] || fail "status $status: $(cat err)"
	((SECONDS - start < 10)) || fail "smqtt-sub took $((SECONDS - start)) s to notice"
	cmp first <(head -n 1 ABC.frames) || fail "got: $(cat first)"
	[ ! -s err ] || fail "stderr: $(cat err)"
	tail -n +2 ABC.frames | pub_as ABC > /dev/null
	run sub_as collector -t 'smqtt/+/frames' -C 2 -W 20
	assert_status 0
	[ "$output" = "$(tail -n +2 ABC.frames)" ] || fail "got: $output"
}

@test "smqtt-sub: two subscribers with one client id: the broker closing their connections in turn is explained" {
	broker_setup ABC
	start_sub collector first -i twin -t 'smqtt/+/frames' -W 4
	run sub_as collector -i twin -t 'smqtt/+/frames' -W 2
	assert_status 0
	wait "$SUB" || fail "status $?: $(cat first.err)"
	output+=$(cat first.err)
	assert_contains "connection closed by the broker again after"
	assert_contains "(is another client connected with client id twin?); retrying"
}

@test "smqtt-sub: a broker certificate from another CA is a clear error naming --cafile" {
	broker_setup ABC
	pki_setup other
	run smqtt-sub -p "$BROKER_PORT" --cafile other/ca.crt --cert "$PKI/collector.crt" --key "$PKI/collector.key" -t 'smqtt/#'
	assert_status 3
	assert_contains "smqtt-sub: broker localhost:$BROKER_PORT: TLS handshake failed: certificate verify failed:"
	assert_contains "(--cafile other/ca.crt)"
}
