#!/usr/bin/env bats
# Fault injection at the collector: the broker holds a backlog of 20000
# frames for smqtt-sub's session; the subscriber is killed and restarted
# while it drains them, then the broker is killed (SIGKILL) and restarted
# from its saved state. At QoS 1 every frame arrives. At QoS 2 mosquitto 2.0
# sends more messages than the receive maximum allows once it holds a
# backlog, which libmosquitto takes for a protocol error on every
# reconnection: smqtt-sub must then stop with a message naming the cause,
# not reconnect for ever. Run by `make faults`; see QoS 2 in smqtt-sub(1).

: "${SMQTT_BIN:=$BATS_TEST_DIRNAME/../../bin}"
load ../test_helper
load ../pki_helper
load ../broker_helper
REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

FRAMES=20000

setup() {
	common_setup
}

teardown() {
	broker_teardown
}

# unique FILE...: distinct lines in the files
unique() {
	cat "$@" | sort -u | wc -l
}

# start_sub NAME QOS: smqtt-sub in the background, stdout to NAME, stderr to
# NAME.err, exit status to NAME.status once it ends; its pid in SUB.
start_sub() {
	tls_args collector
	{
		status=0
		sh -c 'echo $$ > "$0.pid" && exec smqtt-sub "$@"' "$1" "${TLS_ARGS[@]}" -q "$2" -t 'smqtt/+/frames' \
			> "$1" 2> "$1.err" || status=$?
		echo "$status" > "$1.status"
	} 3>&- &
	track $!
	wait_for "smqtt-sub to start" '[ -s '"$1"'.pid ]'
	SUB=$(cat "$1.pid")
	track "$SUB"
}

# progress NAME LINES: wait until NAME holds LINES lines or its smqtt-sub has ended.
progress() {
	wait_for "$2 lines in $1" '[ "$(wc -l < '"$1"')" -ge '"$2"' ] || [ -s '"$1"'.status ]'
}

# saves: how many times the broker has saved its state since it started.
saves() {
	grep -c "Saving in-memory database" "$BROKER_LOG" || true
}

# scenario QOS: the steps of the report, at QOS, in the directory qosQOS with
# a broker of its own; the last subscriber is run "two".
scenario() {
	local qos=$1 saved
	BATS_TEST_TMPDIR=$BATS_TEST_TMPDIR/qos$qos
	mkdir "$BATS_TEST_TMPDIR" && cd "$BATS_TEST_TMPDIR" || return 1
	broker_setup ABC
	# Save every second, so that the broker comes back with the QoS 2 states
	# of the messages in flight.
	echo "autosave_interval 1" >> "$BROKER_DIR/mosquitto.conf"
	broker_stop TERM
	broker_start
	make_key sign-ABC && make_cert sign-ABC ABC
	meter_records "$FRAMES" ABC | smqtt-sign -k sign-ABC.key -i ABC > ABC.frames
	# The collector's session, then the backlog while it is away, saved by a clean stop.
	run sub_as collector -q "$qos" -t 'smqtt/+/frames' --session-expiry 3600 -W 1
	[ "$status" -eq 0 ] || fail "opening the session: $output"
	pub_as ABC -q "$qos" < ABC.frames > /dev/null 2> pub.err || fail "smqtt-pub: $(cat pub.err)"
	broker_stop TERM
	broker_start
	# 1. The subscriber is killed while it drains the backlog, and restarted.
	start_sub one "$qos"
	progress one 3000
	kill -KILL "$SUB" 2> /dev/null || true
	wait_for "the first run to end" '[ -s one.status ]'
	start_sub two "$qos"
	progress two 3000
	# 2. Once the broker has saved the state of the messages in flight, it is killed.
	saved=$(saves)
	wait_for "the broker to save its state" '[ "$(saves)" -gt '"$saved"' ] || [ -s two.status ]'
	broker_stop KILL
	broker_start
	# Every frame arrives, or smqtt-sub ends: at most a minute, never an endless retry.
	local i
	for ((i = 0; i < 600; i++)); do
		[ "$(unique one two)" -ge "$FRAMES" ] || [ -s two.status ] && break
		sleep 0.1
	done
}

# gave_up NAME: run NAME stopped with status 4, naming the protocol error and the way out.
gave_up() {
	[ "$(cat "$1.status")" = 4 ] || fail "$1: status $(cat "$1.status"): $(cat "$1.err")"
	grep -q "^smqtt-sub: broker localhost:$BROKER_PORT: giving up after 3 protocol errors in a row: protocol error: the broker sent more QoS 2 messages than the receive maximum of 1000 allows (mosquitto 2.0 does so once it holds a backlog); drain the backlog with -V 311, then subscribe at QoS 1 (see QoS 2 in smqtt-sub(1))\$" "$1.err" ||
		fail "$1: $(cat "$1.err")"
}

@test "fault injection: a QoS 2 backlog through a subscriber restart and a broker kill ends in every frame or a clear error; QoS 1 gets every frame" {
	scenario 2
	grep -q "^smqtt-sub: warning: QoS 2: .* (see QoS 2 in smqtt-sub(1))\$" one.err || fail "no warning: $(cat one.err)"
	got=$(unique one two)
	echo "# QoS 2: $got of $FRAMES frames; run one: $(cat one.status 2> /dev/null || echo killed), run two: $(cat two.status 2> /dev/null || echo running)" >&3
	if [ "$got" -lt "$FRAMES" ]; then
		# Not every frame: then smqtt-sub has stopped, and said why.
		[ -s two.status ] || fail "after a minute smqtt-sub -q 2 has $got of $FRAMES frames and is still retrying: $(tail -n 3 two.err)"
		gave_up two
		# The first run, if it did not live to be killed, gave up the same way.
		[ ! -s one.status ] || gave_up one
	fi
	broker_stop KILL

	scenario 1
	got=$(unique one two)
	echo "# QoS 1: $got of $FRAMES frames" >&3
	[ "$got" -eq "$FRAMES" ] || fail "QoS 1: $got of $FRAMES frames: $(cat two.err)"
	cmp <(sort -u one two) <(sort ABC.frames) || fail "QoS 1: frames differ from those sent"
	[ ! -s two.status ] || fail "QoS 1: smqtt-sub ended with status $(cat two.status): $(cat two.err)"
	kill -TERM "$SUB"
	wait_for "smqtt-sub to stop" '[ -s two.status ]'
	[ "$(cat two.status)" = 0 ] || fail "QoS 1: status $(cat two.status) on SIGTERM: $(cat two.err)"
	grep -q "connection lost" two.err || fail "the broker was not lost: $(cat two.err)"
	! grep -v -E "^smqtt-sub: broker localhost:$BROKER_PORT: (connection lost: .*; retrying|reconnected after .*)\$" two.err ||
		fail "QoS 1: unexpected messages: $(cat two.err)"
}
