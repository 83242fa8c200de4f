#!/usr/bin/env bats
# Several collector pipelines behind one MQTT 5 shared subscription
# ($share/GROUP/smqtt/+/frames), as smqtt(7) describes the deployment: each
# frame reaches one collector, all of them share one registry and one
# database, and a frame sent again reaches any collector and is still
# accepted once only.

load test_helper
load pki_helper
load broker_helper
load registry_helper
bats_require_minimum_version 1.5.0

DEVICES=(M1 M2 M3 M4 M5 M6)
FRAMES_EACH=1000

setup() {
	common_setup
	broker_setup "${DEVICES[@]}"
	smqtt-register -R reg.db init --ca "$PKI/ca.crt"
	local d
	for d in "${DEVICES[@]}"; do
		issue_line "$d" "$PKI/$d.crt"
	done | smqtt-register -R reg.db add 2> /dev/null
	for d in "${DEVICES[@]}"; do
		sign "$d" "$PKI/$d.key" "$FRAMES_EACH" > "$d.frames"
	done
}

teardown() { broker_teardown; }

# start_collectors N: N pipelines smqtt-sub | tee received.N.log |
# smqtt-verify -R reg.db | smqtt-store -d readings.db on the shared
# subscription, joined by fifos so that each stage is a child of this shell;
# SUB_PIDS and STAGE_PIDS hold them. received.N.log holds what collector N's
# smqtt-sub has written out.
start_collectors() {
	SUB_PIDS=() STAGE_PIDS=()
	local n TLS_ARGS
	tls_args collector
	for ((n = 1; n <= $1; n++)); do
		mkfifo "sub.$n" "received.$n" "verified.$n"
		smqtt-sub "${TLS_ARGS[@]}" -i "collector-$n" -t '$share/sink/smqtt/+/frames' \
			> "sub.$n" 2> "sub.$n.err" 3>&- &
		SUB_PIDS+=($!)
		track $!
		tee "received.$n.log" < "sub.$n" > "received.$n" 3>&- &
		STAGE_PIDS+=($!)
		track $!
		smqtt-verify -R reg.db --rejects "rejects.$n" < "received.$n" > "verified.$n" 2> "verify.$n.err" 3>&- &
		STAGE_PIDS+=($!)
		track $!
		smqtt-store -d readings.db < "verified.$n" 2> "store.$n.err" 3>&- &
		STAGE_PIDS+=($!)
		track $!
	done
	for ((n = 1; n <= $1; n++)); do
		wait_for "collector-$n to subscribe" "[ \"\$(subscriptions collector-$n)\" -ge 1 ]"
	done
}

# stop_collectors: end each smqtt-sub; the rest of each pipeline then drains,
# commits and exits on its own.
stop_collectors() {
	local pid
	for pid in "${SUB_PIDS[@]}"; do
		kill -TERM "$pid"
	done
	for pid in "${SUB_PIDS[@]}" "${STAGE_PIDS[@]}"; do
		wait "$pid" || true
	done
}

rows() {
	sqlite3 readings.db 'select count(*) from readings' 2> /dev/null || echo 0
}

# publish_all: every device publishes its frames, at the same time.
publish_all() {
	local d pids=()
	for d in "${DEVICES[@]}"; do
		pub_as "$d" < "$d.frames" > "$d.acked" 2> "$d.pub.err" 3>&- &
		pids+=($!)
	done
	local pid status=0
	for pid in "${pids[@]}"; do
		wait "$pid" || status=$?
	done
	[ "$status" -eq 0 ] || fail "a publisher failed: $(cat ./*.pub.err)"
}

# received: the frames the collectors' smqtt-sub have written out.
received() {
	cat received.*.log 2> /dev/null | wc -l
}

# summary FIELD FILE...: the sum of the number before FIELD in the summary lines.
summary() {
	local field=$1
	shift
	sed -n "s/.* \([0-9][0-9]*\) $field.*/\1/p" "$@" | awk '{ s += $1 } END { print s + 0 }'
}

@test "shared subscription: four collectors store every frame exactly once, and each takes a share" {
	local total=$((${#DEVICES[@]} * FRAMES_EACH))
	start_collectors 4
	publish_all
	wait_for "$total rows" "[ \"\$(rows)\" -ge $total ]"
	stop_collectors
	[ "$(rows)" -eq "$total" ] || fail "$(rows) rows for $total frames"
	[ "$(sqlite3 readings.db 'select count(*) from (select distinct device, seq from readings)')" -eq "$total" ]
	# Each frame was passed on by one verifier only (a second copy would be a
	# duplicate at the store), none was refused, and every collector had a share.
	[ "$(summary stored store.*.err)" -eq "$total" ] || fail "stored: $(tail -n 1 store.*.err)"
	[ "$(summary duplicates store.*.err)" -eq 0 ]
	local n
	for n in 1 2 3 4; do
		[ ! -s "verify.$n.err" ] || fail "collector $n: $(head -n 3 "verify.$n.err")"
		[ "$(summary stored "store.$n.err")" -gt 0 ] || fail "collector $n stored nothing: $(cat "sub.$n.err")"
	done
	# The stored frames verify again against the registry, one device at a time.
	sqlite3 readings.db 'select frame from readings order by device, seq' |
		smqtt-verify -R reg.db --archive > reverified 2> reverify.err
	[ "$(wc -l < reverified)" -eq "$total" ] || fail "$(tail -n 2 reverify.err)"
}

@test "shared subscription: frames sent a second time reach other collectors and are refused by all of them" {
	local total=$((${#DEVICES[@]} * FRAMES_EACH))
	start_collectors 4
	publish_all
	wait_for "$total rows" "[ \"\$(rows)\" -ge $total ]"
	# The same frames again, as a replaying attacker on the devices' topics
	# would send them: the broker spreads them over the collectors again, so
	# most reach a collector that did not see the original. mosquitto deals
	# a shared subscription's messages round robin, and the first round was
	# a multiple of 4: one frame sent again first moves every later one to
	# the next collector, should the publishers' frames reach the broker in
	# the same order as the first time.
	head -n 1 M1.frames | pub_as M1 > /dev/null 2> M1.pub.err || fail "$(cat M1.pub.err)"
	publish_all
	# Every copy has left a smqtt-sub before stopping: the verifiers then read
	# to the end of their input. Bounded, with room for a sanitizer build.
	local i sent=$((2 * total + 1))
	for ((i = 0; i < 2400; i++)); do
		[ "$(received)" -lt "$sent" ] || break
		sleep 0.05
	done
	[ "$(received)" -ge "$sent" ] ||
		fail "$(received) of $sent frames delivered after 120 s; per collector: $(wc -l received.*.log | tr '\n' ' ')"
	stop_collectors
	[ "$(rows)" -eq "$total" ] || fail "$(rows) rows for $total frames"
	[ "$(summary stored store.*.err)" -eq "$total" ] || fail "stored: $(tail -n 1 store.*.err)"
	[ "$(received)" -eq "$sent" ] || fail "$(received) frames delivered for $sent sent"
	local replays duplicates
	replays=$(cat verify.*.err | grep -c ': replay: ' || true)
	duplicates=$(summary 'duplicates dropped' verify.*.err)
	echo "# $replays replays, $duplicates duplicates; frames per collector: $(cat received.*.log | wc -l) in all, $(wc -l < received.1.log) $(wc -l < received.2.log) $(wc -l < received.3.log) $(wc -l < received.4.log)" >&3
	[ "$((replays + duplicates))" -eq "$((total + 1))" ] ||
		fail "$replays replays and $duplicates duplicates for $((total + 1)) frames sent again"
	# Most copies reached a collector that had not seen the original (all of
	# them when the publishers' frames reach the broker in the same order
	# twice, three in four when the order is random).
	[ "$replays" -ge $((total / 4)) ] ||
		fail "$replays replays; per collector: $(grep -c ': replay: ' verify.*.err | tr '\n' ' ')"
	# The stores saw no copy: the verifiers stopped them all.
	[ "$(summary duplicates store.*.err)" -eq 0 ]
}
