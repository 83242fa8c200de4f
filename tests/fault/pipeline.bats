#!/usr/bin/env bats
# Fault injection: a QoS 1 stream of 50000 frames from five devices,
#   smqtt-sign | smqtt-pub                      (one per device)
#   ==TLS==> mosquitto (persistence on) ==TLS==>
#   smqtt-sub | smqtt-verify -R | smqtt-store   (each stage restarted by a supervisor loop)
# while the broker is killed three times, each stage of the collector is
# killed once, the store's file size limit drops to nothing and comes back,
# another process holds the database locked, and the store stalls. Afterwards
# every signed frame is in the database exactly once or inside a gap that
# smqtt-store reported, and every program said and returned what it should.
# Run by `make faults`; see RELIABILITY in smqtt(7).

: "${SMQTT_BIN:=$BATS_TEST_DIRNAME/../../bin}"
load ../test_helper
load pipe_helper
load ../pki_helper
load ../broker_helper
load ../registry_helper
REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

DEVICES=(D1 D2 D3 D4 D5)
FRAMES_PER_DEVICE=10000

setup() {
	common_setup
	STAGES=(sub verify store)
}

teardown() {
	local name pid
	# Supervisors first, so that nothing is started again, then what they ran.
	for name in "${STAGES[@]}"; do
		[ -f "$name.supervisor" ] && kill "$(cat "$name.supervisor")" 2> /dev/null
	done
	for name in "${STAGES[@]}"; do
		[ -f "$name.pid" ] && kill -CONT "$(cat "$name.pid")" 2> /dev/null && kill "$(cat "$name.pid")" 2> /dev/null
	done
	# The publishers; the rest of each device's pipeline then ends on a closed pipe.
	for name in "${DEVICES[@]}"; do
		[ -f "$name.pub.pid" ] && kill -KILL "$(cat "$name.pub.pid")" 2> /dev/null
	done
	[ -z "${LOCKER:-}" ] || kill "$LOCKER" 2> /dev/null
	broker_teardown
}

rows() {
	sqlite3 -batch -noheader db 'select count(*) from readings' 2> /dev/null || echo 0
}

# wait_rows N: until the database holds N rows (the stream has moved on).
wait_rows() {
	wait_long "$1 rows in the database (have $(rows))" 120 '[ "$(rows)" -ge '"$1"' ]'
}

# step WHAT: note the time since the stream started, for the log.
step() {
	echo "# $((SECONDS - STARTED)) s: $1" >&3
}

# only_lines FILE REGEX: every line of FILE matches the extended REGEX.
only_lines() {
	local other
	other=$(grep -v -E "$2" "$1" | head -n 5)
	[ -z "$other" ] || fail "$1: unexpected lines: $other"
}

# kill_stage NAME: SIGKILL the running NAME and wait until its supervisor has started another.
kill_stage() {
	local pid
	pid=$(cat "$1.pid")
	kill -KILL "$pid"
	wait_long "a new $1" 60 '[ "$(cat '"$1"'.pid)" != '"$pid"' ]'
}

@test "fault injection: 50000 QoS 1 frames through broker kills, stage kills, a full disk, a lock and a stall" {
	broker_setup "${DEVICES[@]}"
	# Save the broker's state every second, not only on a clean stop, so that
	# a SIGKILL loses at most about a second of what it had accepted.
	echo "autosave_interval 1" >> "$BROKER_DIR/mosquitto.conf"
	broker_stop TERM
	broker_start

	smqtt-register -R reg.db init --ca "$PKI/ca.crt" > /dev/null
	for d in "${DEVICES[@]}"; do
		issue_line "$d" "$PKI/$d.crt"
	done | smqtt-register -R reg.db add 2> register.err || fail "smqtt-register: $(cat register.err)"
	smqtt-store -d db < /dev/null 2> /dev/null

	# The collector: three stages joined by named pipes, each under a supervisor.
	mkfifo verify.in store.in
	tls_args collector
	supervise sub "smqtt-sub ${TLS_ARGS[*]} -t 'smqtt/+/frames' > verify.in" 2>&1 3>&- | cat > sub.err &
	track $!
	supervise verify "smqtt-verify -R reg.db < verify.in > store.in" 2>&1 3>&- | cat > verify.err &
	track $!
	# The store's messages go through a pipe, which its file size limit does not reach.
	supervise store "smqtt-store -d db -w 200 < store.in" 2>&1 3>&- | cat > store.err &
	track $!
	wait_long "the collector's subscription" 30 '[ "$(subscriptions collector)" -ge 1 ]'

	# The devices: records | smqtt-sign | smqtt-pub, what was signed kept in D.signed.
	for d in "${DEVICES[@]}"; do
		meter_records "$FRAMES_PER_DEVICE" "$d" > "$d.records"
		tls_args "$d"
		{
			pace < "$d.records" | smqtt-sign -k "$PKI/$d.key" -i "$d" -S "$d.seq" 2> "$d.sign.err" |
				tee "$d.signed" | sh -c 'echo $$ > "$0.pub.pid" && exec smqtt-pub "$@"' "$d" "${TLS_ARGS[@]}" \
				> "$d.delivered" 2> "$d.pub.err"
			echo "${PIPESTATUS[*]}" > "$d.exit"
		} 3>&- &
		track $!
	done

	STARTED=$SECONDS
	# 1. The broker killed and restarted.
	wait_rows 2000
	step "2000 rows"
	broker_stop KILL
	broker_start
	# 2.-4. Each stage of the collector killed; its supervisor starts it again.
	wait_rows 4500
	step "4500 rows"
	kill_stage sub
	wait_rows 7000
	step "7000 rows"
	kill_stage verify
	wait_rows 9500
	step "9500 rows"
	kill_stage store
	# 5. The broker again.
	wait_rows 12000
	step "12000 rows"
	broker_stop KILL
	broker_start
	# 6. The store's disk is full (a file size limit of 0), then has room again.
	wait_rows 14500
	step "14500 rows"
	store=$(cat store.pid)
	prlimit --pid "$store" --fsize=0:unlimited
	wait_long "the store to report the full disk" 60 'grep -q "not stored yet" store.err'
	full_at=$(rows)
	prlimit --pid "$store" --fsize=unlimited:unlimited
	wait_long "the kept frames to be stored" 60 'grep -q "stored after [0-9]* s of retrying" store.err'
	# 7. Another process holds the database locked for longer than the busy timeout.
	wait_rows 17000
	step "17000 rows"
	mkfifo lock
	sqlite3 db < lock > /dev/null 2>&1 3>&- &
	LOCKER=$!
	exec 8> lock
	# The store commits every 200 ms: wait for a turn, and stop at any error.
	printf '%s\n' '.bail on' '.timeout 30000' 'begin exclusive;' 'select count(*) from readings;' '.shell touch locked' >&8
	wait_long "the lock" 30 '[ -e locked ]'
	wait_long "the store to report the lock" 60 'grep -q "not stored yet: database is locked" store.err'
	echo 'commit;' >&8
	exec 8>&-
	wait "$LOCKER"
	LOCKER=
	# 8. A slow consumer: the store stops; the pipe before it fills and holds.
	wait_rows 19500
	step "19500 rows"
	store=$(cat store.pid)
	kill -STOP "$store"
	wait_long "the pipe to the stalled store to fill up" 60 'pipe_full store.in 0.5'
	stalled_at=$(rows)
	kill -CONT "$store"
	# 9. The broker a third time.
	wait_rows 22000
	step "22000 rows"
	broker_stop KILL
	broker_start

	# Every device's stream ends; then wait until each device's last frame is stored.
	for d in "${DEVICES[@]}"; do
		wait_long "$d to finish publishing" 180 '[ -s '"$d"'.exit ]'
	done
	for d in "${DEVICES[@]}"; do
		last=$(tail -n 1 "$d.signed" | cut -d ' ' -f 3)
		wait_long "$d's last frame in the database" 120 \
			'[ "$(sqlite3 db "select max(seq) from readings where device = '"'$d'"'")" = '"$last"' ]'
	done
	# A clean stop: smqtt-sub ends on SIGTERM, the stages after it at end of input.
	touch stop
	kill -TERM "$(cat sub.pid)"
	for name in "${STAGES[@]}"; do
		wait_long "the $name supervisor to end" 60 '! kill -0 "$(cat '"$name"'.supervisor)" 2> /dev/null'
	done

	# --- Each device: signed 1..N, every frame acknowledged by the broker once. ---
	signed=0
	for d in "${DEVICES[@]}"; do
		[ "$(cat "$d.exit")" = "0 0 0 0" ] || fail "$d: pace|sign|tee|pub exit statuses $(cat "$d.exit"): $(cat "$d.sign.err" "$d.pub.err")"
		[ "$(wc -l < "$d.signed")" -eq "$FRAMES_PER_DEVICE" ] || fail "$d: $(wc -l < "$d.signed") frames signed"
		cut -d ' ' -f 3 "$d.signed" | cmp -s - <(seq "$FRAMES_PER_DEVICE") || fail "$d: signed seq not 1..$FRAMES_PER_DEVICE"
		cmp -s <(sort "$d.delivered") <(sort "$d.signed") || fail "$d: delivered frames differ from the signed ones"
		[ ! -s "$d.sign.err" ] || fail "$d: smqtt-sign: $(cat "$d.sign.err")"
		grep -q "connection lost" "$d.pub.err" || fail "$d: the broker was not lost mid-stream: $(cat "$d.pub.err")"
		only_lines "$d.pub.err" ": broker localhost:$BROKER_PORT: (connection lost: .*|cannot connect: Connection refused; retrying for up to 60 s|reconnected after .*)$"
		signed=$((signed + FRAMES_PER_DEVICE))
	done

	# --- The database: nothing twice, nothing unsigned, intact. ---
	[ "$(sqlite3 db 'pragma integrity_check')" = ok ] || fail "integrity_check failed"
	[ "$(sqlite3 db 'select count(*) = count(distinct device || " " || seq) from readings')" = 1 ] || fail "duplicate rows"
	cat "${DEVICES[@]/%/.signed}" | sort > all.signed
	sqlite3 db 'select frame from readings' | sort > all.stored
	comm -13 all.signed all.stored > unsigned
	[ ! -s unsigned ] || fail "stored frames nobody signed: $(head -n 3 unsigned)"
	comm -23 all.signed all.stored | cut -d ' ' -f 2,3 > missing
	stored=$(wc -l < all.stored)

	# --- Every missing frame lies in a gap smqtt-store reported. ---
	sed -n 's/^smqtt-store: line [0-9]*: device \([^ ]*\) seq [0-9]*: gap: [0-9]* frames missing (seq \([0-9]*\)\.\.\([0-9]*\))$/\1 \2 \3/p' \
		store.err > gaps
	awk 'NR == FNR { lo[NR] = $2; hi[NR] = $3; dev[NR] = $1; n = NR; next }
		{ for (i = 1; i <= n; i++) if (dev[i] == $1 && $2 >= lo[i] && $2 <= hi[i]) next; print }' \
		gaps missing > unaccounted
	[ ! -s unaccounted ] || fail "$(wc -l < unaccounted) missing frames in no reported gap: $(head -n 5 unaccounted)"

	# --- Exit statuses and messages of the collector's stages. ---
	# Killed runs end with 137 (SIGKILL); the others stop cleanly at the end of their input.
	! grep -v -x -E '0|137' sub.status || fail "smqtt-sub statuses: $(cat sub.status)"
	! grep -v -x -E '0|137' store.status || fail "smqtt-store statuses: $(cat store.status)"
	! grep -v -x -E '0|1|137' verify.status || fail "smqtt-verify statuses: $(cat verify.status)"
	[ "$(grep -c -x 137 sub.status)" -eq 1 ] && [ "$(grep -c -x 137 verify.status)" -eq 1 ] &&
		[ "$(grep -c -x 137 store.status)" -eq 1 ] || fail "each stage should have been killed once"
	only_lines sub.err '^smqtt-sub: broker localhost:'"$BROKER_PORT"': (connection lost: .*|cannot connect: Connection refused; retrying|reconnected after .*)'
	only_lines store.err '^smqtt-store: (line [0-9]+: device D[0-9] seq [0-9]+: gap: .*|database db: [0-9]+ frames from lines [0-9]+-[0-9]+ (not stored yet: .*; keeping them and retrying|stored after [0-9]+ s of retrying)|[0-9]+ stored, [0-9]+ duplicates, 0 rejected, [0-9]+ gaps \([0-9]+ frames missing\))$'
	grep -q "not stored yet: database is locked" store.err || fail "lock not reported"
	# The one clean run at the end reports its counts.
	tail -n 1 store.err | grep -q "^smqtt-store: [0-9]* stored, " || fail "no summary at the end: $(tail -n 3 store.err)"
	# smqtt-verify rejects nothing but frames delivered twice (after a broker or
	# smqtt-sub restart), which it had already passed on: replays, all stored.
	sed -n 's/^smqtt-verify: line [0-9]*: device \([^ ]*\) seq \([0-9]*\): replay: .*$/\1 \2/p' verify.err | sort -u > replays
	only_lines verify.err '^smqtt-verify: (line [0-9]+: device D[0-9] seq [0-9]+: replay: .*|[0-9]+ verified, [0-9]+ rejected, [0-9]+ duplicates dropped)$'
	sqlite3 db "select device || ' ' || seq from readings" | sort > stored.ids
	comm -23 replays stored.ids > replayed-not-stored
	[ ! -s replayed-not-stored ] || fail "frames rejected as replays but never stored: $(head -n 3 replayed-not-stored)"

	missing_count=$(wc -l < missing)
	{
		echo "# signed $signed, stored $stored, missing $missing_count (all in $(wc -l < gaps) reported gaps)"
		echo "# verify replays rejected $(wc -l < replays); store runs $(wc -l < store.status), full disk at $full_at rows, stalled at $stalled_at rows"
	} >&3
	[ $((stored + missing_count)) -eq "$signed" ] || fail "stored $stored + missing $missing_count != signed $signed"
}
