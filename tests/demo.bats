#!/usr/bin/env bats
# make demo: examples/demo.sh runs the whole system (PKI, registry, a real
# mosquitto with mutual TLS, signed readings both ways, an attack, SQLite,
# a plot) and leaves nothing running, also when interrupted.

load test_helper

DEMO_PID=

setup() {
	common_setup
	command -v gnuplot > /dev/null || fail "gnuplot is not installed (make deps installs it)"
	command -v mosquitto > /dev/null || fail "mosquitto is not installed (make deps installs it)"
}

teardown() {
	if [ -n "$DEMO_PID" ]; then
		kill "$DEMO_PID" 2> /dev/null || true
		wait "$DEMO_PID" 2> /dev/null || true
	fi
}

# gone PID NAME: no process PID runs NAME (it may have been reused by another program).
gone() {
	[ -n "$1" ] || fail "no pid for $2 in the demo's output" || return 1
	[ ! -e "/proc/$1" ] || ! tr '\0' ' ' < "/proc/$1/cmdline" 2> /dev/null | grep -q -- "$2" ||
		fail "$2 (pid $1) is still running"
}

# Nothing of the demo left: its broker and sink, and no process working in its workspace.
assert_nothing_left() {
	local out=$1 ws pid broker
	ws=$(sed -n 's/^smqtt demo; workspace //p' "$out")
	[ -d "$ws" ] || fail "no workspace in: $(cat "$out")"
	broker=$(sed -n 's/.*mosquitto pid \([0-9]*\) on 127\.0\.0\.1:.*/\1/p' "$out")
	gone "$broker" mosquitto
	for pid in $(sed -n 's/^sink .*smqtt-sub (pid \([0-9]*\)).*/\1/p' "$out"); do gone "$pid" smqtt-sub; done
	for pid in $(sed -n 's/^sink .*smqtt-verify .*(pid \([0-9]*\)).*/\1/p' "$out"); do gone "$pid" smqtt-verify; done
	for pid in $(sed -n 's/^sink .*smqtt-store .*(pid \([0-9]*\))$/\1/p' "$out"); do gone "$pid" smqtt-store; done
	for pid in /proc/[0-9]*; do
		[ "$(readlink "$pid/cwd" 2> /dev/null)" != "$ws" ] ||
			fail "process ${pid#/proc/} ($(tr '\0' ' ' < "$pid/cmdline")) still runs in the workspace"
	done
}

@test "demo: the whole system in one run, checked from its output and its files" {
	TMPDIR=$BATS_TEST_TMPDIR SMQTT_BIN=$SMQTT_BIN bash "$REPO/examples/demo.sh" > out 2> err 3>&- ||
		fail "demo failed (status $?): $(cat out err)"
	ws=$(sed -n 's/^The workspace is //p' out)
	[ -d "$ws" ] && [ "${ws#"$BATS_TEST_TMPDIR"/smqtt-demo.}" != "$ws" ] ||
		fail "workspace '$ws' not under TMPDIR: $(cat out)"
	for n in 1 2 3 4 5 6 7 8; do
		grep -q "^== $n/8 " out || fail "no step $n/8 in: $(cat out)"
	done
	records=$(wc -l < "$REPO/examples/readings.csv")

	# Every reading sent was stored, and nothing else.
	grep -qE "^sent +$((records + 3)) frames \($records readings from 3 meters, 3 injected\)\$" out ||
		fail "unexpected sent line: $(grep '^sent' out)"
	grep -qE "^stored +$records readings in readings.db \($records stored, 0 duplicates, 1 rejected, 0 gaps" out ||
		fail "unexpected stored line: $(grep '^stored' out)"
	[ "$(sqlite3 "$ws/readings.db" 'select count(*) from readings')" -eq "$records" ]
	for m in ABC DEF GHI; do
		[ "$(wc -l < "$ws/meters/$m.delivered")" -eq "$(grep -c "^$m," "$REPO/examples/readings.csv")" ] ||
			fail "meter $m: not every frame acknowledged"
	done
	expected=$(awk -F, '{ s[$1 "|" $3] += $4 } END { for (k in s) printf "%s|%.1f\n", k, s[k] }' \
		"$REPO/examples/readings.csv" | sort)
	stored=$(sqlite3 "$ws/readings.db" "select device || '|' || channel || '|' || printf('%.1f', sum(value))
		from readings group by device, channel" | sort)
	[ "$expected" = "$stored" ] || fail "stored totals differ: $stored, expected $expected"
	# The per-meter table printed from the database.
	for m in ABC DEF GHI; do
		import=$(awk -F, -v m="$m" '$1 == m && $3 == 0 { s += $4 } END { printf "%.1f", s }' "$REPO/examples/readings.csv")
		grep -qE "^ +$m +192 +2013-11-02 00:15:00 +2013-11-03 00:00:00 +$import " out ||
			fail "no table row for $m with import $import: $(cat out)"
	done

	# The forged frame, rejected with its reason, and the replayed one, dropped as a duplicate; neither stored.
	grep -qE '^ +smqtt-verify: line [0-9]+: device ABC seq 193: bad signature$' out ||
		fail "forged frame not rejected as a bad signature: $(cat out)"
	grep -qE '^ +smqtt-verify: [0-9]+ verified, 1 rejected, 1 duplicates dropped$' out ||
		fail "replayed frame not dropped as a duplicate: $(cat out)"
	grep -qE '^rejected +1 frames by smqtt-verify, kept in sink/rejected.txt; 1 by smqtt-store$' out ||
		fail "unexpected rejected line: $(grep '^rejected' out)"
	grep -qE '^duplicates +1 frame already accepted, dropped by smqtt-verify' out ||
		fail "unexpected duplicates line: $(grep '^duplicates' out)"
	[ "$(wc -l < "$ws/sink/rejected.txt")" -eq 1 ]
	[ "$(sqlite3 "$ws/readings.db" "select count(*) from readings where device = 'ABC' and seq = 193")" -eq 0 ]

	# The reading GHI signed with its own key but filed under ABC: it verifies,
	# and smqtt-store refuses it, so it is in no meter's total.
	grep -qE '^ +misfiled: smqtt1 GHI 193 .* ABC,2013-11-03 00:00:00,0,999.0$' out ||
		fail "the misfiled reading is not shown: $(cat out)"
	grep -qE '^ +smqtt-store: line [0-9]+: device GHI seq 193: record: field 1 \(meter\): "ABC" is not the device that signed the frame$' out ||
		fail "the misfiled reading was not rejected by smqtt-store: $(cat out)"
	! grep -q 'device GHI seq 193' "$ws/sink/verify.err" || fail "smqtt-verify rejected the misfiled reading itself"
	[ "$(sqlite3 "$ws/readings.db" "select count(*) from readings where value = 999 or meter is not device")" -eq 0 ]
	grep -q "GHI's frame on smqtt/ABC/frames: Not authorized (0x87)" out ||
		fail "the broker's ACL refusal is not shown: $(cat out)"

	# The command, verified by the meter against the control center's certificate.
	grep -q '^ABC verified  *ABC,set-interval,900 (signed by control, seq 1' out ||
		fail "command not verified: $(cat out)"
	grep -qx 'smqtt1 control 1 [^ ]* ABC,set-interval,900' "$ws/commands/ABC.verified"

	# The database is sound, and the plot a PNG.
	[ "$(sqlite3 "$ws/readings.db" 'pragma integrity_check')" = ok ]
	grep -q '^database  *integrity_check: ok' out
	# Encryption: each consumer reads what its role allows, the eavesdropper
	# nothing, and the command reaches only the household meter of feeder F12.
	grep -qE '^billing read +8 readings: 4 of ABC, 4 of DEF$' out || fail "billing: $(grep '^billing' out)"
	grep -qE '^grid read +4 readings: 4 of DEF$' out || fail "grid: $(grep '^grid' out)"
	grep -qE '^eavesdropper saw +10 frames, only ciphertext: smqtt1 [A-Z]+ [0-9]+ .* abe1 data ' out ||
		fail "eavesdropper: $(grep '^eavesdropper' out)"
	! grep -qE ' (ABC|DEF),20' "$ws/abe/eavesdropper" || fail "the eavesdropper read a reading"
	grep -qE "^meter ABC +read 'set-interval,300'$" out || fail "ABC: $(grep '^meter ABC' out)"
	grep -qE '^meter DEF +cannot read it: policy not satisfied$' out || fail "DEF: $(grep '^meter DEF' out)"
	grep -qE '^meter GHI +cannot read it: policy not satisfied$' out || fail "GHI: $(grep '^meter GHI' out)"
	cmp -s "$ws/abe/billing.csv" <(grep -E '^(ABC|DEF),' "$REPO/examples/readings.csv" | awk -F, '{ n[$1]++ } n[$1] <= 4')
	[ -s "$ws/consumption.png" ] || fail "no plot"
	[ "$(head -c 8 "$ws/consumption.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
		fail "consumption.png is not a PNG"
	[ "$(stat -c %s "$ws/consumption.png")" -gt 10000 ] || fail "the plot is suspiciously small"

	grep -q 'nothing of the demo is left running' out
	assert_nothing_left out
	[ ! -s err ] || fail "the demo wrote to stderr: $(cat err)"
}

@test "demo: interrupted with INT mid-run, it stops its broker and pipelines and says where the workspace is" {
	mkfifo input
	exec 4<> input
	# A shell's background job ignores SIGINT; start the demo as a terminal would.
	TMPDIR=$BATS_TEST_TMPDIR SMQTT_BIN=$SMQTT_BIN python3 -c '
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' bash "$REPO/examples/demo.sh" --step < input > out 2> err 3>&- 4>&- &
	DEMO_PID=$!
	# Go through steps 1 to 3, then interrupt it while it waits before step 4:
	# the broker and the sink are running, the sink still waits for frames.
	printf '\n\n\n' >&4
	for ((i = 0; i < 600; i++)); do
		grep -q '^== 4/8' out && break
		kill -0 "$DEMO_PID" 2> /dev/null || fail "the demo ended early: $(cat out err)"
		sleep 0.05
	done
	grep -q '^== 4/8' out || fail "the demo did not reach step 4: $(cat out err)"
	broker=$(sed -n 's/.*mosquitto pid \([0-9]*\) on 127\.0\.0\.1:.*/\1/p' out)
	kill -0 "$broker" || fail "the broker is not running before the interrupt"
	kill -INT "$DEMO_PID"
	# It stops at once; its sink alone would wait 60 s for frames.
	for ((i = 0; i < 600; i++)); do
		kill -0 "$DEMO_PID" 2> /dev/null || break
		sleep 0.05
	done
	! kill -0 "$DEMO_PID" 2> /dev/null || fail "the demo still runs 30 s after INT: $(cat out err)"
	status=0
	wait "$DEMO_PID" || status=$?
	DEMO_PID=
	exec 4>&-
	[ "$status" -eq 130 ] || fail "expected status 130, got $status: $(cat out err)"
	grep -q "^broker (pid $broker) stopped" out || fail "broker stop not reported: $(cat out)"
	grep -q 'demo: stopped (status 130); the workspace is ' out
	assert_nothing_left out
}
