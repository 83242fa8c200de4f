#!/usr/bin/env bats
# smqtt-verify -R: keys, revocations and validity from the registry, and replay
# state that outlives the verifier.

load test_helper
load registry_helper

setup() {
	common_setup
	registry_fresh
}

# wait_for COMMAND...: poll until COMMAND succeeds (10 s at most).
wait_for() {
	local i
	for i in $(seq 100); do
		"$@" && return 0
		sleep 0.1
	done
	fail "timed out waiting for: $*"
}

lines_at_least() { [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ]; }
contains() { grep -q -- "$2" "$1"; }
later_than() { [ "$(date +%s)" -gt "$1" ]; }

# start_verifier ARGS...: smqtt-verify ARGS reading the fifo "in" (opened on
# fd 6), writing out and err in the background; $verifier is its pid.
start_verifier() {
	rm -f in
	mkfifo in
	smqtt-verify "$@" < in > out 2> err &
	verifier=$!
	exec 6> in
}

stop_verifier() {
	exec 6>&-
	wait "$verifier"
}

@test "verify -R: registered devices pass, unknown devices are rejected" {
	registry_setup A B
	smqtt-register -R "$REG" add < issued 2> /dev/null
	{ sign A certs/A.key 3; sign B certs/B.key 2; } > good
	run smqtt-verify -R "$REG" < good
	assert_status 0
	[ "$output" = "$(cat good)" ]
	smqtt-issue device --ca-dir ca -o certs <<< C > /dev/null 2>&1
	sign C certs/C.key > c.frames
	run smqtt-verify --registry "$REG" < c.frames
	assert_status 1
	assert_contains "smqtt-verify: line 1: device C seq 1: unknown device"
	# A frame from a registered device signed with another device's key.
	meter_records 1 A | smqtt-sign -k certs/B.key -i A -S forged.seq > forged
	sed -i 's/ 1 / 9 /' forged
	run smqtt-verify -R "$REG" < forged
	assert_status 1
	assert_contains "device A seq 9: bad signature"
}

@test "verify -R: P-384 and Ed25519 device keys" {
	registry_setup
	smqtt-issue device --ca-dir ca -o certs --type p384 <<< P > p.issued 2> /dev/null
	smqtt-issue device --ca-dir ca -o certs --type ed25519 <<< E > e.issued 2> /dev/null
	cat p.issued e.issued | smqtt-register -R "$REG" add 2> /dev/null
	[ "$(reg_sql 'select key_type from keys order by device' | paste -sd,)" = "ed25519,p384" ]
	{ sign P certs/P.key 2; sign E certs/E.key 2; } > f
	run smqtt-verify -R "$REG" < f
	assert_status 0
	[ "$output" = "$(cat f)" ]
	# Each key verifies only its own device's frames.
	sed 's/^smqtt1 P /smqtt1 E /' f | sed -n 1p > swapped
	run smqtt-verify -R "$REG" < swapped
	assert_status 1
	assert_contains "device E seq 1:"
}

@test "verify -R: a revoked device is rejected, also by a verifier already running" {
	registry_setup A B
	smqtt-register -R "$REG" add < issued 2> /dev/null
	sign A certs/A.key 2 > a.frames
	sign B certs/B.key 1 > b.frames
	start_verifier -R "$REG"
	sed -n 1p a.frames >&6
	wait_for lines_at_least out 1
	smqtt-register -R "$REG" revoke A --reason keyCompromise
	sed -n 2p a.frames >&6
	cat b.frames >&6
	wait_for lines_at_least out 2
	stop_verifier || true
	assert_clean_stderr err
	grep -q "smqtt-verify: line 2: device A seq 2: revoked device" err || fail "$(cat err)"
	[ "$(cat out)" = "$(sed -n 1p a.frames; cat b.frames)" ]
	# And a verifier started afterwards rejects the device from the start.
	run smqtt-verify -R "$REG" < a.frames
	assert_status 1
	[ "$(printf '%s\n' "$output" | grep -c ': revoked device')" -eq 2 ]
}

@test "verify -R: an expired certificate is rejected" {
	registry_setup
	end=$(($(date +%s) + 3))
	odd_cert short EXP "$(utc_offset -60)" "$(date -u -d "@$end" +%Y%m%d%H%M%SZ)" "$DEVICE_EXTENSIONS"
	issue_line EXP short.crt | smqtt-register -R "$REG" add 2> add.err || fail "$(cat add.err)"
	sign EXP short.key 2 > f
	head -n 1 f | smqtt-verify -R "$REG" > /dev/null
	wait_for later_than "$end"
	run smqtt-verify -R "$REG" < f
	assert_status 1
	assert_contains "smqtt-verify: line 2: device EXP seq 2: expired certificate"
}

@test "verify -R: a certificate not yet valid is rejected" {
	registry_setup F
	smqtt-register -R "$REG" add < issued 2> /dev/null
	sign F certs/F.key 1 > f
	# smqtt-register refuses such a certificate, so make the registry say so directly.
	reg_sql "update keys set not_before = $(($(date +%s) + 3600)) where device = 'F'"
	run smqtt-verify -R "$REG" < f
	assert_status 1
	assert_contains "device F seq 1: certificate not yet valid"
	reg_sql "update keys set not_before = $(($(date +%s) - 3600)) where device = 'F'"
	smqtt-verify -R "$REG" < f > /dev/null
}

@test "verify -R: during a key rollover both keys verify; a retired key is rejected" {
	registry_setup R
	smqtt-register -R "$REG" add < issued 2> /dev/null
	sleep 1 # one-second notBefore: the new key must be the newer one
	smqtt-issue device --ca-dir ca -o new --reissue <<< R > new.issued 2> /dev/null
	smqtt-register -R "$REG" add < new.issued 2> /dev/null
	sign R certs/R.key 2 > old1
	sign R new/R.key 2 > new1
	sign R certs/R.key 1 > old2
	run smqtt-verify -R "$REG" < <(cat old1 new1 old2)
	assert_status 0
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 5 ]
	# The rollover ends: the old key is retired.
	old_serial=$(cut -d' ' -f2 issued | cut -d= -f2)
	smqtt-register -R "$REG" retire R "$old_serial"
	sign R certs/R.key 1 > old3
	sign R new/R.key 1 > new2
	run smqtt-verify -R "$REG" < <(cat old3 new2)
	assert_status 1
	assert_contains "line 1: device R seq 6: retired key"
	refute_contains "line 2:"
	[ "$(reg_sql "select last_seq from devices where id = 'R'")" = 7 ]
	# Retiring the last active key leaves the device without one.
	smqtt-register -R "$REG" retire R "$(cut -d' ' -f2 new.issued | cut -d= -f2)"
	sign R new/R.key 1 > new3
	run smqtt-verify -R "$REG" < new3
	assert_status 1
	assert_contains "device R seq 8: no active key"
}

@test "verify -R: a frame signed with a revoked key is named so; the device's other key still verifies" {
	registry_setup K
	smqtt-register -R "$REG" add < issued 2> /dev/null
	sleep 1
	smqtt-issue device --ca-dir ca -o new --reissue <<< K > new.issued 2> /dev/null
	smqtt-register -R "$REG" add < new.issued 2> /dev/null
	smqtt-register -R "$REG" revoke K "$(cut -d' ' -f2 issued | cut -d= -f2)" --reason keyCompromise
	{ sign K certs/K.key 1; sign K new/K.key 1; } > f
	# A frame signed by a key that never belonged to K is still a bad signature.
	meter_records 1 K | smqtt-sign -k new/K.key -i K -S other.seq | sed 's/^smqtt1 K 1 /smqtt1 K 3 /' > forged
	run smqtt-verify -R "$REG" < <(cat f forged)
	assert_status 1
	assert_contains "line 1: device K seq 1: revoked key"
	refute_contains "line 2:"
	assert_contains "line 3: device K seq 3: bad signature"
	run smqtt-register -R "$REG" list
	[ "$output" = "K active 1 2" ]
}

@test "verify -R: replay state survives a restart, and a crash after output" {
	registry_setup A
	smqtt-register -R "$REG" add < issued 2> /dev/null
	sign A certs/A.key 4 > f
	head -n 3 f | smqtt-verify -R "$REG" > /dev/null
	[ "$(reg_sql "select last_seq from devices where id = 'A'")" = 3 ]
	{ sed -n 2p f; sed -n 4p f; sed -n 4p f; } > again
	run smqtt-verify -R "$REG" < again
	assert_status 1
	assert_contains "line 1: device A seq 2: replay: seq already accepted (last accepted seq 3)"
	assert_contains "1 verified, 1 rejected, 1 duplicates dropped"
	# An exact repeat of the last frame, after a restart, is still recognised.
	run smqtt-verify -R "$REG" < <(sed -n 4p f)
	assert_status 0
	assert_contains "0 verified, 0 rejected, 1 duplicates dropped"
	# A frame on stdout means its sequence number is on disk: kill -9 loses nothing.
	sign A certs/A.key 3 > more
	start_verifier -R "$REG"
	cat more >&6
	wait_for lines_at_least out 3
	[ "$(reg_sql "select last_seq from devices where id = 'A'")" = 7 ]
	kill -KILL "$verifier"
	exec 6>&-
	wait "$verifier" || true
	run smqtt-verify -R "$REG" < more
	assert_status 1
	[ "$(printf '%s\n' "$output" | grep -c ': replay: seq already accepted (last accepted seq 7)')" -eq 2 ]
	assert_contains "0 verified, 2 rejected, 1 duplicates dropped"
}

@test "verify -R: replay state is saved when the verifier is stopped with SIGTERM" {
	registry_setup A
	smqtt-register -R "$REG" add < issued 2> /dev/null
	sign A certs/A.key 2 > f
	start_verifier -R "$REG"
	cat f >&6
	wait_for lines_at_least out 2
	kill -TERM "$verifier"
	wait "$verifier" || fail "smqtt-verify exited with status $? on SIGTERM: $(cat err)"
	exec 6>&-
	assert_clean_stderr err
	[ "$(reg_sql "select last_seq from devices where id = 'A'")" = 2 ]
	[ "$(reg_sql "select length(last_digest) from devices where id = 'A'")" = 32 ]
}

@test "verify -R: a small cache evicts devices without losing their replay state" {
	registry_setup D1 D2 D3 D4 D5
	smqtt-register -R "$REG" add < issued 2> /dev/null
	for d in D1 D2 D3 D4 D5; do sign "$d" "certs/$d.key" 3 > "$d.frames"; done
	# Round robin over five devices with room for two: every frame misses the cache.
	for n in 1 2 3; do
		for d in D1 D2 D3 D4 D5; do sed -n "${n}p" "$d.frames"; done
	done > rounds
	# Numbers already taken, on other records: replays the registry's state must catch.
	echo 'D1,other' | smqtt-sign -k certs/D1.key -i D1 -S d1.again > replays
	printf '%020d\n' 2 > d4.again
	echo 'D4,other' | smqtt-sign -k certs/D4.key -i D4 -S d4.again >> replays
	{ cat rounds replays; } > in.frames
	run smqtt-verify -R "$REG" --cache 2 < in.frames
	assert_status 1
	assert_contains "line 16: device D1 seq 1: replay: seq already accepted (last accepted seq 3)"
	assert_contains "line 17: device D4 seq 2: replay: seq already accepted (last accepted seq 3)"
	assert_contains "15 verified, 2 rejected"
	[ "$(reg_sql 'select last_seq from devices' | paste -sd,)" = "3,3,3,3,3" ]
}

@test "verify -R: keys lent from one cached device to another never verify the first one's frames" {
	registry_setup D1 D2 D3 D4 D5 D6
	smqtt-register -R "$REG" add < issued 2> /dev/null
	local d k
	sign D1 certs/D1.key 6 > D1.frames
	for d in D2 D3 D4 D5 D6; do sign "$d" "certs/$d.key" 1 > "$d.frames"; done
	# Room for eight devices, and so key objects for two (a quarter): all
	# stay cached while the key objects are lent from device to device. After each other
	# device's frame comes one of D1, numbered on, signed with that device's
	# key: the key object D1 had may hold that key now.
	for k in 2 3 4 5 6; do
		sed -n "$((k - 1))p" D1.frames
		cat "D$k.frames"
		printf '%020d\n' $((k + 10)) > forged.seq
		echo "D1,forged by D$k" | smqtt-sign -k "certs/D$k.key" -i D1 -S forged.seq
	done > in.frames
	sed -n 6p D1.frames >> in.frames
	local j reg
	for j in 1 2; do
		reg=$(registry_copy "j$j")
		run smqtt-verify -j "$j" -R "$reg" --cache 8 < in.frames
		assert_status 1
		for k in 2 3 4 5 6; do
			assert_contains "line $((3 * k - 3)): device D1 seq $((k + 10)): bad signature"
		done
		assert_contains "11 verified, 5 rejected"
		[ "$(reg_sql_in "$reg" 'select last_seq from devices order by id' | paste -sd,)" = "6,1,1,1,1,1" ]
	done
}

@test "verify -R: -j 1 and -j 4 give the same output, messages, status and replay state" {
	registry_setup A B C D R X
	grep -v '^X ' issued | smqtt-register -R "$REG" add 2> /dev/null
	sleep 1 # one-second notBefore: the new key must be the newer one
	smqtt-issue device --ca-dir ca -o new --reissue <<< R > new.issued 2> /dev/null
	smqtt-register -R "$REG" add < new.issued 2> /dev/null
	smqtt-register -R "$REG" revoke D
	for d in A B C D X; do sign "$d" "certs/$d.key" 200 > "$d.frames"; done
	sign R certs/R.key 30 > r.old
	sign R new/R.key 30 > r.new
	# B's numbers again, on other records: replays, not repeats of accepted frames.
	meter_records 200 B | sed 's/$/5/' | smqtt-sign -k certs/B.key -i B -S rb.seq > rb
	meter_records 200 A | smqtt-sign -k certs/B.key -i A -S forged.seq | sed 's/^smqtt1 A /smqtt1 A 9/' > forged
	# Round robin over the devices, with duplicates, replays, forgeries and junk among them.
	awk '
		{ f[FILENAME, FNR] = $0 }
		END {
			for (i = 1; i <= 200; i++) {
				print f["A.frames", i]; print f["B.frames", i]; print f["C.frames", i]
				if (i <= 30) { print f["r.old", i]; print f["r.new", i] }
				if (i % 7 == 0) print f["C.frames", i]         # duplicate
				if (i % 11 == 0) print f["rb", i - 3]          # replay
				if (i % 13 == 0) print f["forged", i]          # bad signature
				if (i % 17 == 0) print f["D.frames", i]        # revoked device
				if (i % 19 == 0) print f["X.frames", i]        # unknown device
				if (i % 23 == 0) print "smqtt1 A 1 x r"         # malformed
			}
		}' A.frames B.frames C.frames D.frames X.frames r.old r.new forged rb > in.frames
	for run in 1:100000 4:100000 1:2 4:2; do
		j=${run%:*} cache=${run#*:}
		copy=$(registry_copy "reg.$j.$cache")
		status=0
		smqtt-verify -j "$j" -R "$copy" --cache "$cache" < in.frames > "out.$j.$cache" \
			2> "err.$j.$cache" || status=$?
		echo "$status" > "status.$j.$cache"
		reg_sql_in "$copy" "select id, last_seq, $(reg_hex last_digest "$copy") from devices order by id" \
			> "state.$j.$cache"
	done
	for run in 4.100000 1.2 4.2; do
		cmp out.1.100000 "out.$run"
		cmp err.1.100000 "err.$run"
		cmp status.1.100000 "status.$run"
		cmp state.1.100000 "state.$run"
	done
	[ "$(cat status.1.100000)" = 1 ]
	[ "$(wc -l < out.1.100000)" -eq 660 ]
	grep -q ': device A seq 913: bad signature$' err.1.100000
	grep -q ': device B seq 8: replay: seq already accepted (last accepted seq 11)$' err.1.100000
	grep -q ': device D seq 17: revoked device$' err.1.100000
	grep -q ': device X seq 19: unknown device$' err.1.100000
	# R's frames from its old key arrive after those of its new key (numbered on from 31): not
	# accepted before and inside the replay window, they pass.
	! grep -q ': device R seq' err.1.100000
	grep -q ': malformed frame: ' err.1.100000
	grep -q '660 verified, 62 rejected, 28 duplicates dropped$' err.1.100000
	[ "$(sed -n 's/^C|\([0-9]*\)|.*/\1/p' state.1.100000)" = 200 ]
}

@test "verify -R: with -j 4, replay state is saved when the verifier is stopped with SIGTERM" {
	registry_setup A
	smqtt-register -R "$REG" add < issued 2> /dev/null
	sign A certs/A.key 40 > f
	start_verifier -j 4 -R "$REG"
	cat f >&6
	wait_for lines_at_least out 40
	kill -TERM "$verifier"
	wait "$verifier" || fail "smqtt-verify exited with status $? on SIGTERM: $(cat err)"
	exec 6>&-
	assert_clean_stderr err
	cmp f out
	[ "$(reg_sql "select last_seq from devices where id = 'A'")" = 40 ]
}

@test "verify -R: a device registered while the verifier runs is accepted" {
	registry_setup A N
	grep '^A ' issued | smqtt-register -R "$REG" add 2> /dev/null
	sign N certs/N.key 2 > n.frames
	start_verifier -R "$REG"
	sed -n 1p n.frames >&6
	wait_for contains err "unknown device"
	grep '^N ' issued | smqtt-register -R "$REG" add 2> /dev/null
	sed -n 2p n.frames >&6
	wait_for lines_at_least out 1
	# smqtt-register reads and writes the registry while the verifier holds it.
	run smqtt-register -R "$REG" list
	assert_status 0
	[ "$output" = "A active 1 0
N active 1 2" ]
	smqtt-register -R "$REG" set N site=x
	stop_verifier || true
	[ "$(cat out)" = "$(sed -n 2p n.frames)" ]
}

# open_transactions: transactions open on the registry's server, other than
# this query's own; on a file, "busy" when a reader keeps the write-ahead log
# from being checkpointed to the end and truncated.
open_transactions() {
	if registry_on_server; then
		reg_sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
	else
		sqlite3 "$REG" 'PRAGMA wal_checkpoint(TRUNCATE)' | cut -d '|' -f 1 | sed 's/^1$/busy/'
	fi
}
no_open_transactions() { [ "$(open_transactions)" = 0 ]; }

# idle_scenario JOBS KNOWN UNKNOWN: a verifier with -j JOBS, fed a frame of
# the unregistered device UNKNOWN, then one of KNOWN; after each, while it
# waits for more input, others write to the registry and no transaction of
# the verifier's stays open.
idle_scenario() {
	start_verifier -j "$1" -R "$REG"
	# Devices are read in batches, in one snapshot; it must not outlast the
	# input: not after a rejected frame, with nothing held for release...
	cat "$3.frames" >&6
	wait_for contains err "unknown device"
	grep "^$3 " issued | smqtt-register -R "$REG" add 2> /dev/null
	wait_for no_open_transactions
	# ... nor after an accepted one.
	cat "$2.frames" >&6
	wait_for lines_at_least out 1
	smqtt-register -R "$REG" set "$2" site=x
	wait_for no_open_transactions
	stop_verifier || true
	[ "$(cat out)" = "$(cat "$2.frames")" ]
}

@test "verify -R: a verifier waiting for input holds no transaction on the registry" {
	registry_setup A B C D
	grep -e '^A ' -e '^C ' issued | smqtt-register -R "$REG" add 2> /dev/null
	local d
	for d in A B C D; do
		sign "$d" "certs/$d.key" 1 > "$d.frames"
	done
	idle_scenario 1 A B
	idle_scenario 2 C D
}

@test "verify -R: a stream of duplicates holds back neither an accepted frame nor the registry" {
	registry_setup A
	grep '^A ' issued | smqtt-register -R "$REG" add 2> /dev/null
	sign A certs/A.key 1 > a.frames
	local j reg flood
	for j in 1 2; do
		reg=$(registry_copy "j$j")
		REG=$reg start_verifier -j "$j" -R "$reg"
		# The frame, then copies of it without a pause, until told to stop
		# (at most 200000): each is dropped as a duplicate, and none lets
		# the input pause. Whole lines only: the writer is not killed.
		rm -f stop
		(
			block=$(for ((k = 0; k < 100; k++)); do cat a.frames; done)
			for ((i = 0; i < 2000; i++)); do
				[ ! -e stop ] || break
				printf '%s\n' "$block"
			done
		) >&6 &
		flood=$!
		wait_for lines_at_least out 1
		REG=$reg smqtt-register -R "$reg" set A site=x
		REG=$reg wait_for no_open_transactions
		touch stop
		wait "$flood" || true
		stop_verifier || true
		[ "$(cat out)" = "$(cat a.frames)" ] || fail "-j $j: $(wc -l < out) lines out"
		grep -q ' 1 verified, 0 rejected' err || fail "-j $j: $(tail -n 2 err)"
	done
}

@test "verify -R: usage and registry errors" {
	registry_setup A
	make_key k
	run smqtt-verify -R "$REG" --pubkey A=k.pub < /dev/null
	assert_status 2
	assert_contains "give either a registry or trust files"
	run smqtt-verify --pubkey A=k.pub --cache 10 < /dev/null
	assert_status 2
	assert_contains "--cache is for -R REGISTRY"
	run smqtt-verify -R "$REG" --cache 0 < /dev/null
	assert_status 2
	run smqtt-verify -R missing.db < /dev/null
	assert_status 3
	assert_contains "registry missing.db"
	sqlite3 other.db 'create table t (x)'
	run smqtt-verify -R other.db < /dev/null
	assert_status 3
	assert_contains "not an smqtt registry"
}
