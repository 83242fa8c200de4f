#!/usr/bin/env bats
# An edge broker bridged to the control center's, as examples/mosquitto/edge.conf
# configures it: meters publish to the edge broker, the bridge forwards their
# frames with QoS 1, and the collector at the control center receives every
# one of them, also when the edge broker or the control center's broker
# restarts in the middle of the stream.

load test_helper
load pki_helper
load broker_helper
load registry_helper

DEVICES=(M1 M2)
FRAMES_EACH=1000

EDGE_PID=

setup() {
	common_setup
	# edge-S1: the edge broker's client certificate at the control center.
	broker_setup "${DEVICES[@]}" edge-S1
	smqtt-register -R reg.db init --ca "$PKI/ca.crt"
	local d
	for d in "${DEVICES[@]}"; do
		issue_line "$d" "$PKI/$d.crt"
	done | smqtt-register -R reg.db add 2> /dev/null
	for d in "${DEVICES[@]}"; do
		sign "$d" "$PKI/$d.key" "$FRAMES_EACH" > "$d.frames"
	done
	EDGE_DIR=$BATS_TEST_TMPDIR/edge
	mkdir -p "$EDGE_DIR"
	EDGE_PORT=$(free_port)
	# The edge broker serves the meters with the test's server certificate.
	sed -e "s|/etc/mosquitto/smqtt/acl|$BROKER_DIR/acl|" \
		-e "s|/etc/mosquitto/smqtt/edge-server\.|$PKI/broker.|" \
		-e "s|/etc/mosquitto/smqtt/|$PKI/|" \
		-e "s|/var/lib/mosquitto/|$EDGE_DIR/|" \
		-e "s|^listener 8883\$|listener $EDGE_PORT 127.0.0.1|" \
		-e "s|^address control-center.example.net:8883\$|address 127.0.0.1:$BROKER_PORT|" \
		"$REPO/examples/mosquitto/edge.conf" > "$EDGE_DIR/mosquitto.conf"
	grep -q "^address 127.0.0.1:$BROKER_PORT\$" "$EDGE_DIR/mosquitto.conf" &&
		grep -q "^listener $EDGE_PORT 127.0.0.1\$" "$EDGE_DIR/mosquitto.conf" ||
		fail "examples/mosquitto/edge.conf no longer has the expected listener and address lines"
	printf 'user %s\nlog_dest file %s\nlog_type all\n' "$(id -un)" "$EDGE_DIR/mosquitto.log" >> "$EDGE_DIR/mosquitto.conf"
	edge_start
}

teardown() {
	edge_stop KILL
	broker_teardown
}

edge_accepts() {
	(exec 3<> "/dev/tcp/127.0.0.1/$EDGE_PORT") 2> /dev/null
}

edge_start() {
	mosquitto -c "$EDGE_DIR/mosquitto.conf" 2>> "$EDGE_DIR/stderr" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	EDGE_PID=$!
	wait_for "the edge broker" "edge_accepts || ! kill -0 $EDGE_PID"
	kill -0 "$EDGE_PID" || fail "the edge broker did not start: $(cat "$EDGE_DIR/stderr")"
	# The bridge is up once the control center's broker has seen its client id.
	wait_for "the bridge to connect" "grep -q 'as edge-S1 ' '$BROKER_LOG'"
}

edge_stop() {
	[ -n "$EDGE_PID" ] || return 0
	kill -"${1:-TERM}" "$EDGE_PID" 2> /dev/null
	wait "$EDGE_PID" 2> /dev/null || true
	EDGE_PID=
}

# start_collector: smqtt-sub | smqtt-verify -R reg.db | smqtt-store at the control center.
start_collector() {
	local TLS_ARGS
	tls_args collector
	mkfifo sub.out verified
	smqtt-sub "${TLS_ARGS[@]}" -i collector-1 -t 'smqtt/+/frames' > sub.out 2> sub.err 3>&- &
	SUB_PID=$!
	track $!
	smqtt-verify -R reg.db < sub.out > verified 2> verify.err 3>&- &
	VERIFY_PID=$!
	track $!
	smqtt-store -d readings.db < verified 2> store.err 3>&- &
	STORE_PID=$!
	track $!
	wait_for "the collector to subscribe" '[ "$(subscriptions collector-1)" -ge 1 ]'
}

stop_collector() {
	kill -TERM "$SUB_PID"
	wait "$SUB_PID" || true
	wait "$VERIFY_PID" || true
	wait "$STORE_PID" || true
}

rows() {
	sqlite3 readings.db 'select count(*) from readings' 2> /dev/null || echo 0
}

# publish_to_edge: each meter publishes its frames to the edge broker, in the
# background, 20 frames every 0.1 s (about 5 s in all), so that a restart
# falls in the middle of the stream.
publish_to_edge() {
	PUB_PIDS=()
	local d TLS_ARGS
	for d in "${DEVICES[@]}"; do
		tls_args "$d"
		TLS_ARGS[1]=$EDGE_PORT
		awk '{ print } NR % 20 == 0 { fflush(); system("sleep 0.1") }' "$d.frames" |
			smqtt-pub "${TLS_ARGS[@]}" > "$d.acked" 2> "$d.pub.err" 3>&- &
		PUB_PIDS+=($!)
		track $!
	done
}

publishers_done() {
	local pid status=0
	for pid in "${PUB_PIDS[@]}"; do
		wait "$pid" || status=$?
	done
	[ "$status" -eq 0 ] || fail "a publisher failed: $(cat ./*.pub.err)"
}

# stored_exactly_once: every frame of every meter is stored, once.
stored_exactly_once() {
	local total=$((${#DEVICES[@]} * FRAMES_EACH))
	wait_for "$total rows" "[ \"\$(rows)\" -ge $total ]"
	stop_collector
	[ "$(rows)" -eq "$total" ] || fail "$(rows) rows for $total frames"
	[ "$(sqlite3 readings.db 'select count(distinct device || seq) from readings')" -eq "$total" ]
	sqlite3 readings.db 'select frame from readings order by device, seq' | sort > stored
	sort ./*.frames > sent
	cmp -s stored sent || fail "the stored frames differ from those sent"
}

@test "bridge: frames published to the edge broker reach the collector at the control center" {
	start_collector
	publish_to_edge
	publishers_done
	stored_exactly_once
	# The meters are not connected to the control center's broker; the bridge is.
	! grep -q ' as M1 ' "$BROKER_LOG"
	grep -q ' as edge-S1 ' "$BROKER_LOG"
}

@test "bridge: the edge broker restarting mid-stream loses no frame" {
	start_collector
	publish_to_edge
	wait_for "frames at the control center" '[ "$(rows)" -ge 200 ]'
	# A clean stop saves the edge's queue for the bridge; the meters reconnect and resend.
	edge_stop TERM
	local at_stop
	at_stop=$(rows)
	[ "$at_stop" -lt $((${#DEVICES[@]} * FRAMES_EACH)) ] || fail "every frame had arrived before the restart"
	echo "# $at_stop frames stored when the edge broker stopped" >&3
	edge_start
	publishers_done
	stored_exactly_once
}

@test "bridge: the control center's broker restarting mid-stream loses no frame" {
	start_collector
	publish_to_edge
	wait_for "frames at the control center" '[ "$(rows)" -ge 200 ]'
	broker_stop TERM
	local at_stop
	at_stop=$(rows)
	[ "$at_stop" -lt $((${#DEVICES[@]} * FRAMES_EACH)) ] || fail "every frame had arrived before the restart"
	echo "# $at_stop frames stored when the control center's broker stopped" >&3
	sleep 1
	broker_start
	publishers_done
	stored_exactly_once
}
