#!/usr/bin/env bats
# Fault injection: the verifier is killed in the middle of writing to a store
# that is too slow to keep up, over and over. Each time the pipe to the store
# ends inside a frame; the store must report that cut frame and store only
# whole ones, so that every stored row verifies again. Run by `make faults`;
# see RELIABILITY in smqtt(7).

: "${SMQTT_BIN:=$BATS_TEST_DIRNAME/../../bin}"
load ../test_helper
load pipe_helper
load ../broker_helper # wait_for
bats_require_minimum_version 1.5.0

ROUNDS=25
FRAMES_PER_ROUND=2000

setup() {
	common_setup
	STORE_PID= VERIFY_PID=
}

teardown() {
	[ -z "$VERIFY_PID" ] || kill -KILL "$VERIFY_PID" 2> /dev/null
	[ -z "$STORE_PID" ] || { kill -CONT "$STORE_PID" && kill "$STORE_PID"; } 2> /dev/null
	exec 5>&- 2> /dev/null || true
}

@test "fault injection: a verifier killed mid-write $ROUNDS times into a stopped store leaves only whole, verifiable frames" {
	make_key m
	local round cut=0 stored status i
	for ((round = 1; round <= ROUNDS; round++)); do
		meter_records "$FRAMES_PER_ROUND" | smqtt-sign -k m.key -i ABC -S m.seq > frames
		rm -f store.in && mkfifo store.in
		# Hold the pipe open for writing, so the store's open does not wait for the verifier.
		exec 5<> store.in
		smqtt-store -d db < store.in 2> store.err 3>&- 5>&- &
		STORE_PID=$!
		# The slow store: stopped once it is reading.
		wait_for "the store to read" '[ "$(awk "{print \$3}" /proc/$STORE_PID/stat)" = S ]'
		kill -STOP "$STORE_PID"
		smqtt-verify --pubkey ABC=m.pub < frames > store.in 2> verify.err 3>&- 5>&- &
		VERIFY_PID=$!
		wait_for "the verifier to block on the full pipe" 'pipe_full store.in 0.2'
		kill -KILL "$VERIFY_PID"
		{ wait "$VERIFY_PID"; } 2> /dev/null || true
		VERIFY_PID=
		exec 5>&-
		kill -CONT "$STORE_PID"
		status=0
		wait "$STORE_PID" || status=$?
		STORE_PID=
		if grep -q 'no newline at end of input: incomplete line; not stored' store.err; then
			cut=$((cut + 1))
			[ "$status" -eq 1 ] || fail "round $round: a cut frame reported, but status $status: $(cat store.err)"
		else
			[ "$status" -eq 0 ] || fail "round $round: status $status: $(cat store.err)"
		fi
		! grep -v -E '^smqtt-store: (line [0-9]+: no newline at end of input: incomplete line; not stored|line [0-9]+: device ABC seq [0-9]+: gap: [0-9]+ frames? missing \(seq [0-9.]+\)|[0-9]+ stored, 0 duplicates, [01] rejected, [0-9]+ gaps? \([0-9]+ frames? missing\))$' store.err ||
			fail "round $round: unexpected messages from the store"
	done
	# The pipe holds 64 KiB when the verifier blocks; it ends exactly at a newline only by chance.
	[ "$cut" -ge $((ROUNDS - 3)) ] || fail "only $cut of $ROUNDS rounds cut a frame: the test did not kill mid-write"
	stored=$(sqlite3 -batch -noheader db 'select count(*) from readings')
	[ "$stored" -gt 0 ] || fail "nothing was stored"
	sqlite3 -batch -noheader db 'select frame from readings order by seq' > rows
	run --separate-stderr smqtt-verify --pubkey ABC=m.pub < rows
	[ "$status" -eq 0 ] || fail "stored rows that do not verify: $stderr"
	[ "$(printf '%s\n' "$output" | wc -l)" -eq "$stored" ] || fail "re-verified $(printf '%s\n' "$output" | wc -l) of $stored rows"
	echo "# $cut of $ROUNDS rounds ended in a cut frame; $stored rows stored, all verified again" >&3
}
