#!/usr/bin/env bats
# Fault injection behind a shared subscription, on PostgreSQL: ten meters
# publish 50,000 frames at QoS 1 through mosquitto (mutual TLS) to four
# collector pipelines
#   smqtt-sub | smqtt-verify -R URI | smqtt-store -d URI   (each stage under a supervisor)
# on $share/sink/smqtt/+/frames, sharing one registry and one database on one
# PostgreSQL server. In the middle of the run one collector's three stages
# are killed at once (SIGKILL) and start again with the same MQTT session,
# and the server is killed (an immediate shutdown: no checkpoint, every
# connection cut, as in a crash) and started again. Afterwards every frame
# is stored exactly once or lies inside a gap that smqtt-store --gaps
# reports, nothing is stored that was not sent, and each meter's last frame
# is stored. Run by `make faults`; see smqtt(7).

: "${SMQTT_BIN:=$BATS_TEST_DIRNAME/../../bin}"
load ../test_helper
load pipe_helper
load ../pki_helper
load ../broker_helper
load ../registry_helper
load ../pg_helper
REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
bats_require_minimum_version 1.5.0

DEVICES=(S01 S02 S03 S04 S05 S06 S07 S08 S09 S10)
FRAMES_EACH=5000
COLLECTORS=4

setup_file() {
	pg_start_server
}

teardown_file() {
	pg_stop_server
}

setup() {
	common_setup
	STAGES=()
}

teardown() {
	local name
	touch stop
	for name in "${STAGES[@]}"; do
		[ -f "$name.supervisor" ] && kill "$(cat "$name.supervisor")" 2> /dev/null
	done
	for name in "${STAGES[@]}"; do
		[ -f "$name.pid" ] && kill "$(cat "$name.pid")" 2> /dev/null
	done
	for name in "${DEVICES[@]}"; do
		[ -f "$name.pub.pid" ] && kill -KILL "$(cat "$name.pub.pid")" 2> /dev/null
	done
	broker_teardown
	# A test that failed while the server was down.
	pg_ready || pg_resume
}

rows() {
	pg_sql readings 'select count(*) from readings' 2> /dev/null || echo 0
}

# Devices whose last frame is stored.
finished() {
	pg_sql readings "select count(*) from (select device from readings group by device
		having max(seq) = $FRAMES_EACH) as done" 2> /dev/null || echo 0
}

# pg_crash: stop the server the way a crash would (immediate shutdown).
pg_crash() {
	pg_as_owner "$PG_BIN/pg_ctl" stop -D "$PG_DIR/data" -m immediate -s -w -t 30 > /dev/null 2>&1 ||
		fail "PostgreSQL would not stop: $(tail -n 5 "$PG_DIR/log")"
}

# kill_collector N: SIGKILL the three stages of collector N at once; their
# supervisors start them again.
kill_collector() {
	local stage old=()
	for stage in sub verify store; do
		old+=("$(cat "$stage.$1.pid")")
	done
	kill -KILL "${old[@]}"
	local i=0
	for stage in sub verify store; do
		wait_long "a new $stage in collector $1" 60 '[ "$(cat '"$stage.$1"'.pid)" != '"${old[$i]}"' ]'
		i=$((i + 1))
	done
}

@test "fault injection: four collectors on PostgreSQL, one killed and the server crashed: every frame stored once or in a reported gap" {
	broker_setup "${DEVICES[@]}"
	pg_new_database registry
	local REG=$PG_URL
	pg_new_database readings
	local DB=$PG_URL
	smqtt-register -R "$REG" init --ca "$PKI/ca.crt" > /dev/null
	local d n
	for d in "${DEVICES[@]}"; do
		issue_line "$d" "$PKI/$d.crt"
	done | smqtt-register -R "$REG" add 2> register.err || fail "smqtt-register: $(cat register.err)"
	for d in "${DEVICES[@]}"; do
		sign "$d" "$PKI/$d.key" "$FRAMES_EACH" > "$d.frames"
	done
	local total=$((${#DEVICES[@]} * FRAMES_EACH))
	cat ./*.frames | sort > sent.sorted
	[ "$(wc -l < sent.sorted)" -eq "$total" ]

	# The collectors: three stages joined by named pipes, each under a supervisor.
	local TLS_ARGS
	tls_args collector
	for ((n = 1; n <= COLLECTORS; n++)); do
		mkfifo "verify.$n.in" "store.$n.in"
		STAGES+=("sub.$n" "verify.$n" "store.$n")
		supervise "sub.$n" "smqtt-sub ${TLS_ARGS[*]} -i collector-$n -t '\$share/sink/smqtt/+/frames' \
			--session-expiry 3600 > verify.$n.in" 2>&1 3>&- | cat > "sub.$n.err" &
		track $!
		supervise "verify.$n" "smqtt-verify -R '$REG' < verify.$n.in > store.$n.in" 2>&1 3>&- |
			cat > "verify.$n.err" &
		track $!
		supervise "store.$n" "smqtt-store -d '$DB' < store.$n.in" 2>&1 3>&- | cat > "store.$n.err" &
		track $!
	done
	for ((n = 1; n <= COLLECTORS; n++)); do
		wait_long "collector $n to subscribe" 30 '[ "$(subscriptions collector-'"$n"')" -ge 1 ]'
	done

	# The meters, at about 100 frames a second each, so that the faults land mid-run.
	for d in "${DEVICES[@]}"; do
		tls_args "$d"
		{
			pace < "$d.frames" |
				sh -c 'echo $$ > "$0.pub.pid" && exec smqtt-pub "$@"' "$d" "${TLS_ARGS[@]}" > /dev/null 2> "$d.pub.err"
			echo "${PIPESTATUS[*]}" > "$d.exit"
		} 3>&- &
		track $!
	done

	wait_long "10000 rows" 120 '[ "$(rows)" -ge 10000 ]'
	kill_collector 2
	wait_long "25000 rows" 120 '[ "$(rows)" -ge 25000 ]'
	pg_crash
	sleep 3
	pg_resume
	local after_crash
	after_crash=$(rows)

	for d in "${DEVICES[@]}"; do
		wait_long "$d to finish publishing" 180 '[ -s '"$d"'.exit ]'
		[ "$(cat "$d.exit")" = "0 0" ] || fail "$d: exit statuses $(cat "$d.exit"): $(cat "$d.pub.err")"
	done
	wait_long "every meter's last frame stored (have $(rows) rows)" 120 \
		'[ "$(finished)" -eq '"${#DEVICES[@]}"' ]'
	# Each store commits within its 1 s wait; then the collectors are stopped.
	sleep 2
	touch stop
	for ((n = 1; n <= COLLECTORS; n++)); do
		kill -TERM "$(cat "sub.$n.pid")"
	done
	for name in "${STAGES[@]}"; do
		wait_long "the $name supervisor to end" 60 '! kill -0 "$(cat '"$name"'.supervisor)" 2> /dev/null'
	done

	# The faults happened: collector 2 ran again after its kill, the server was
	# down under the collectors, and they stored more after it came back.
	for stage in sub verify store; do
		[ "$(grep -c . "$stage.2.status")" -ge 2 ] || fail "$stage.2 ran $(grep -c . "$stage.2.status") times"
	done
	grep -q 'retrying' store.*.err verify.*.err || fail "no stage noticed the server go: $(tail -n 3 store.*.err)"
	[ "$(rows)" -gt "$after_crash" ]

	# Exactly once: what is stored was sent, each (device, seq) once (the key
	# says so; the frames say which), and the rest lies in reported gaps.
	pg_sql readings 'select frame from readings' | sort > stored.sorted
	local stored extra
	stored=$(wc -l < stored.sorted)
	extra=$(comm -13 sent.sorted stored.sorted | wc -l)
	[ "$extra" -eq 0 ] || fail "$extra stored frames were never sent"
	[ "$(uniq -d stored.sorted | wc -l)" -eq 0 ]
	run --separate-stderr smqtt-store -d "$DB" --gaps
	assert_status 0
	local missing
	missing=$(awk '{ s += $4 } END { print s + 0 }' <<< "$output")
	[ "$((stored + missing))" -eq "$total" ] ||
		fail "$stored stored + $missing in gaps != $total sent; gaps: $output"
	# What a kill can lose is what the killed stages held: the pipes' contents
	# and one uncommitted batch; the server's crash loses nothing.
	[ "$missing" -le 2000 ] || fail "$missing frames missing: $output"
	local s
	for ((s = 1; s <= COLLECTORS; s++)); do
		[ "$(sed -n 's/.* \([0-9][0-9]*\) stored,.*/\1/p' "store.$s.err" | awk '{ t += $1 } END { print t + 0 }')" -gt 0 ] ||
			fail "collector $s stored nothing: $(tail -n 3 "sub.$s.err")"
	done
	echo "# $stored stored, $missing in reported gaps ($(grep -c . <<< "$output") runs), of $total" >&3
}
