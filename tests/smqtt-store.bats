#!/usr/bin/env bats
# smqtt-store: typed rows, whole frames kept, idempotent, gaps reported, clean shutdown.

load test_helper
bats_require_minimum_version 1.5.0

setup() {
	common_setup
	make_key m
	meter_records 6 | smqtt-sign -k m.key -i ABC > frames
}

q() { sqlite3 -batch -noheader db "$@"; }

@test "store: one typed row per frame, with the whole frame kept" {
	run smqtt-store -d db < frames
	assert_status 0
	assert_contains "smqtt-store: 6 stored, 0 duplicates, 0 rejected, 0 gaps (0 frames missing)"
	[ "$(q 'select count(*) from readings')" -eq 6 ]
	[ "$(q "select meter, time, channel, value from readings where seq = 2" )" = "ABC|2013-11-02 00:15:00|1|7.0" ]
	[ "$(q "select typeof(channel) || ',' || typeof(value) from readings limit 1")" = "integer,real" ]
	[ "$(q 'select frame from readings order by seq')" = "$(cat frames)" ]
}

@test "store: stored frames verify again straight from SQLite" {
	smqtt-store -d db < frames 2> /dev/null
	q 'select frame from readings order by device, seq' | smqtt-verify --pubkey ABC=m.pub > again
	cmp again frames
}

@test "store: schema is versioned, WAL mode is on" {
	smqtt-store -d db < frames 2> /dev/null
	[ "$(q 'pragma user_version')" -eq 1 ]
	[ "$(q 'pragma journal_mode')" = wal ]
	[ "$(q "select value from smqtt_meta where key = 'schema_version'")" -eq 1 ]
	[ "$(q "select value from smqtt_meta where key = 'columns'")" = "meter:device,time:text,channel:integer,value:real" ]
}

@test "store: duplicates are ignored and counted; a re-run stores nothing twice" {
	smqtt-store -d db < frames 2> /dev/null
	run smqtt-store -d db < frames
	assert_status 0
	assert_contains "0 stored, 6 duplicates, 0 rejected"
	{ cat frames; cat frames; } > twice
	rm -f db db-wal db-shm
	run smqtt-store -d db < twice
	assert_contains "6 stored, 6 duplicates"
	[ "$(q 'select count(*) from readings')" -eq 6 ]
}

@test "store: a gap in a device's sequence is reported with its range" {
	sed '3,4d' frames > holes
	run smqtt-store -d db < holes
	assert_status 0
	assert_contains "smqtt-store: line 3: device ABC seq 5: gap: 2 frames missing (seq 3..4)"
	assert_contains "4 stored, 0 duplicates, 0 rejected, 1 gaps (2 frames missing)"
	# the late frames fill the gap without a new report
	run smqtt-store -d db < frames
	assert_contains "2 stored, 4 duplicates, 0 rejected, 0 gaps"
	# a gap against what an earlier run stored
	meter_records 3 | smqtt-sign -k m.key -i ABC > more
	sed 1d more > later
	run smqtt-store -d db < later
	assert_contains "line 1: device ABC seq 8: gap: 1 frames missing (seq 7..7)"
}

# gap_frames: frames of devices A, B and C (30 each, one key) as one round-robin
# stream, with A's seq 5..7 and B's 1..2 left out (in missing).
gap_frames() {
	local d
	for d in A B C; do
		meter_records 30 "$d" | smqtt-sign -k m.key -i "$d" -S "$d.seq" > "$d.frames"
	done
	paste -d '\n' A.frames B.frames C.frames | grep -v '^$' > all
	grep -E '^smqtt1 (A [5-7]|B [12]) ' all > missing || true
	grep -v -F -x -f missing all > sent
	[ "$(wc -l < missing)" -eq 5 ]
}

@test "store: stores starting at once on a new file all find the tables one of them made" {
	# The version was once read before the tables, and could be that of the file still being made.
	local round i pids
	for round in $(seq 1 25); do
		rm -f db db-wal db-shm
		pids=()
		for i in 1 2 3 4; do
			smqtt-store -d db < /dev/null 2> "err.$i" &
			pids+=($!)
		done
		for i in 1 2 3 4; do
			wait "${pids[$((i - 1))]}" || fail "round $round, store $i: status $?: $(cat "err.$i")"
		done
	done
	[ "$(q 'pragma user_version')" -eq 1 ]
}

@test "store: --gaps lists the runs missing in the database, written by two stores at once" {
	gap_frames
	# Two collectors, each given every other frame, as a shared subscription deals them.
	awk 'NR % 2' sent > half.1
	awk 'NR % 2 == 0' sent > half.2
	smqtt-store -d db -b 7 < half.1 2> err.1 &
	local pid=$!
	smqtt-store -d db -b 7 < half.2 2> err.2 || fail "status $?: $(cat err.2)"
	wait "$pid" || fail "status $?: $(cat err.1)"
	[ "$(q 'select count(*) from readings')" -eq 85 ]
	run --separate-stderr smqtt-store -d db --gaps
	assert_status 0
	[ "$output" = "$(printf 'A 5 7 3\nB 1 2 2')" ] || fail "got: $output"
	[ "$stderr" = "smqtt-store: 2 gaps (5 frames missing)" ] || fail "stderr: $stderr"
	# The late frames fill them.
	smqtt-store -d db < missing 2> /dev/null
	run --separate-stderr smqtt-store -d db --gaps
	assert_status 0
	[ -z "$output" ]
	[ "$stderr" = "smqtt-store: 0 gaps (0 frames missing)" ]
}

@test "store: --gaps reads only the database: other options, or a database of another program, refused" {
	run smqtt-store -d db --gaps -b 10
	assert_status 2
	assert_contains "--gaps reads the database only: -s, -b and -w do not go with it"
	sqlite3 other.db 'create table t (a)'
	run smqtt-store -d other.db --gaps
	assert_status 3
	assert_contains "database other.db: no readings table (not a database smqtt-store wrote)"
	sqlite3 other.db 'select count(*) from t' > /dev/null
	[ ! -e other.db-wal ]
}

@test "store: bad lines are rejected by number, nothing from them stored, the rest kept" {
	make_key x
	printf 'XYZ,t,notint,1.0\nXYZ,t,1\nXYZ,t,1,2,3\nXYZ,t,1,abc\n"XYZ,t,1,2\nXYZ,t,1,1e999\nXYZ,t, 1,2\nXYZ,"quoted, text",1,2.5\n' \
		| smqtt-sign -k x.key -i XYZ > bad
	{ sed -n 1p frames; cat bad; echo garbage; sed -n 2p frames; } > in
	run smqtt-store -d db < in
	assert_status 1
	assert_contains "line 2: device XYZ seq 1: record: field 3 (channel): not an integer: \"notint\""
	assert_contains "line 3: device XYZ seq 2: record: 3 fields, schema has 4"
	assert_contains "line 4: device XYZ seq 3: record: more than 4 fields"
	assert_contains "line 5: device XYZ seq 4: record: field 4 (value): not a real number"
	assert_contains "line 6: device XYZ seq 5: record: field 1: unterminated quote"
	assert_contains "line 7: device XYZ seq 6: record: field 4 (value): not a real number"
	assert_contains "line 8: device XYZ seq 7: record: field 3 (channel): not an integer"
	assert_contains "line 10: malformed frame: not an smqtt1 frame"
	assert_contains "3 stored, 0 duplicates, 8 rejected"
	[ "$(q "select count(*) from readings where device = 'XYZ'")" -eq 1 ]
	[ "$(q "select time || '|' || value from readings where device = 'XYZ'")" = "quoted, text|2.5" ]
}

@test "store: empty fields are NULL and quotes are unescaped" {
	printf 'N,,1,\nN,"say ""hi""",,2\n"N",t,1,3\n' | smqtt-sign -k m.key -i N -S n.seq > f
	smqtt-store -d db < f 2> /dev/null
	[ "$(q "select quote(time) || ' ' || quote(value) from readings where seq = 1")" = "NULL NULL" ]
	[ "$(q "select time || ' ' || quote(channel) from readings where seq = 2")" = 'say "hi" NULL' ]
	[ "$(q "select meter from readings where seq = 3")" = N ]
}

@test "store: a custom column schema, and a schema mismatch refused" {
	printf '12.5,a\n13,b\n' | smqtt-sign -k m.key -i T > f
	run smqtt-store -d db -s 'celsius:real,label:text' < f
	assert_status 0
	[ "$(q 'select sum(celsius) from readings')" = 25.5 ]
	run smqtt-store -d db < f
	assert_status 3
	assert_contains "database db: created with columns \"celsius:real,label:text\""
}

@test "store: a device column must name the device that signed the frame; the rest is stored" {
	# meter-0005's key signs its own reading, then one naming meter-0002, an
	# empty meter, and one quoting its own id.
	printf 'meter-0005,t1,0,1.5\nmeter-0002,t2,0,999\n,t3,0,999\n"meter-0005",t4,0,2.5\nmeter-0002x,t5,0,999\n' |
		smqtt-sign -k m.key -i meter-0005 -S m5.seq > f
	run smqtt-store -d db < f
	assert_status 1
	assert_contains 'smqtt-store: line 2: device meter-0005 seq 2: record: field 1 (meter): "meter-0002" is not the device that signed the frame'
	assert_contains 'smqtt-store: line 3: device meter-0005 seq 3: record: field 1 (meter): empty, not the device that signed the frame'
	assert_contains 'smqtt-store: line 5: device meter-0005 seq 5: record: field 1 (meter): "meter-0002x" is not the device that signed the frame'
	assert_contains "2 stored, 0 duplicates, 3 rejected"
	[ "$(q "select group_concat(seq || ':' || meter || ':' || value, ' ') from readings")" = "1:meter-0005:1.5 4:meter-0005:2.5" ]
	# Any column can be one, by any name; its field is shown escaped.
	printf 'x,A\033B\n' | smqtt-sign -k m.key -i D -S d.seq > g
	run smqtt-store -d db2 -s 'reading:text,source:device' < g
	assert_status 1
	assert_contains 'record: field 2 (source): "A\033B" is not the device that signed the frame'
	# SQLite keeps the table to it as well.
	run sqlite3 db "insert into readings values ('meter-0005', 9, 'meter-0002', 't', 0, 1, 'frame')"
	[ "$status" -ne 0 ] || fail "the table took a row filed under another meter"
	assert_contains "CHECK constraint failed"
}

@test "store: a database made with meter:text is opened with the default schema and checked from then on" {
	meter_records 2 ABC | smqtt-sign -k m.key -i ABC -S abc.seq > first
	smqtt-store -d db -s meter:text,time:text,channel:integer,value:real < first 2> /dev/null
	meter_records 1 DEF | smqtt-sign -k m.key -i ABC -S abc.seq > misfiled
	run smqtt-store -d db < misfiled
	assert_status 1
	assert_contains 'line 1: device ABC seq 3: record: field 1 (meter): "DEF" is not the device that signed the frame'
	# Made with the check, a database keeps it whatever -s says.
	smqtt-store -d checked.db < first 2> /dev/null
	run smqtt-store -d checked.db -s meter:text,time:text,channel:integer,value:real < misfiled
	assert_status 1
	assert_contains 'line 1: device ABC seq 3: record: field 1 (meter): "DEF" is not the device that signed the frame'
	[ "$(q 'select count(*) from readings')" -eq 2 ]
	# Other differences are still refused.
	run smqtt-store -d db -s meter:device,time:text,channel:text,value:real < /dev/null
	assert_status 3
	assert_contains 'database db: created with columns "meter:text,time:text,channel:integer,value:real", not "meter:device,time:text,channel:text,value:real"'
}

@test "store: bad schemas and options are usage errors" {
	for s in 'a' 'a:blob' '1a:text' 'seq:integer' 'a:text,A:real' 'a:text,' "a b:text" 'device:device'; do
		run smqtt-store -d db -s "$s" < /dev/null
		assert_status 2
		assert_contains "smqtt-store: -s $s: "
	done
	run smqtt-store -d db -s a:Device < /dev/null
	assert_contains 'column 1 (a): unknown type "Device" (text, integer, real or device)'
	run smqtt-store < /dev/null
	assert_status 2
	run smqtt-store -d db -b 0 < /dev/null
	assert_status 2
	run smqtt-store -d db -w soon < /dev/null
	assert_status 2
	[ ! -e db ]
}

@test "store: database problems are named" {
	run smqtt-store -d no/such/dir/db < frames
	assert_status 4
	assert_contains "database no/such/dir/db"
	sqlite3 other.db 'create table t(x)'
	run smqtt-store -d other.db < frames
	assert_status 3
	assert_contains "database other.db: not a database of smqtt-store (it has other tables)"
	# Another program's file with a version and no tables yet is not taken over.
	sqlite3 stamped.db 'pragma user_version = 7'
	run smqtt-store -d stamped.db < frames
	assert_status 3
	assert_contains "database stamped.db: not a database of smqtt-store"
	[ "$(sqlite3 stamped.db 'select count(*) from sqlite_master')" -eq 0 ]
	[ "$(sqlite3 stamped.db 'pragma user_version')" -eq 7 ]
	head -c 4096 /dev/urandom > noise.db
	run smqtt-store -d noise.db < frames
	assert_status 3
	assert_contains "database noise.db: not an SQLite database"
}

@test "store: rows are committed within the wait time while input stays open" {
	mkfifo in
	smqtt-store -d db -w 200 < in 2> err &
	pid=$!
	exec 7> in
	head -n 3 frames >&7
	n=0
	for _ in $(seq 100); do
		n=$(q 'select count(*) from readings' 2> /dev/null || echo 0)
		[ "$n" = 3 ] && break
		sleep 0.05
	done
	[ "$n" = 3 ] || fail "rows not committed while the pipe stayed open (saw $n)"
	kill -TERM "$pid"
	wait "$pid"
	exec 7>&-
	grep -q "smqtt-store: 3 stored" err
}

@test "store: SIGINT commits what was read and exits cleanly" {
	mkfifo in
	smqtt-store -d db -w 3600000 -b 1000000 < in 2> err &
	pid=$!
	exec 7> in
	cat frames >&7
	# the rows are in an open transaction, invisible to readers until the signal
	for _ in $(seq 100); do
		grep -q . db-wal 2> /dev/null && break
		sleep 0.05
	done
	sleep 0.2
	kill -INT "$pid"
	wait "$pid"
	exec 7>&-
	[ "$(q 'select count(*) from readings')" -eq 6 ]
	grep -q "smqtt-store: 6 stored" err
}

@test "store: small batches commit as they go" {
	meter_records 250 B | smqtt-sign -k m.key -i B > f
	run smqtt-store -d db -b 7 < f
	assert_status 0
	[ "$(q 'select count(*) from readings')" -eq 250 ]
}

@test "store: waits for another writer's lock instead of failing" {
	sqlite3 db 'select 1' > /dev/null
	smqtt-store -d db < /dev/null 2> /dev/null
	( sqlite3 db "begin immediate; select 1; " ".shell sleep 1" "commit;" > /dev/null ) &
	locker=$!
	sleep 0.3
	run smqtt-store -d db < frames
	wait "$locker"
	assert_status 0
	[ "$(q 'select count(*) from readings')" -eq 6 ]
}

# wait_until WHAT CONDITION: poll the shell CONDITION every 50 ms, for 30 s at most.
wait_until() {
	for _ in $(seq 600); do
		eval "$2" && return 0
		sleep 0.05
	done
	fail "timed out waiting for $1"
}

@test "store: a full disk keeps the batch, reports it, and stores it once there is room" {
	make_key f
	meter_records 20 F | smqtt-sign -k f.key -i F > f
	mkfifo in
	# stderr through a pipe: the file size limit below must not silence it
	smqtt-store -d db -w 50 < in 2> >(cat > err) &
	pid=$!
	exec 7> in
	head -n 10 f >&7
	wait_until "the first rows" '[ "$(q "select count(*) from readings" 2> /dev/null)" = 10 ]'
	# A file size limit of 0 for the running store: no write to the database can succeed.
	prlimit --pid "$pid" --fsize=0:unlimited
	# seq 11 to 20 without 15: the gap is reported once, when the batch is stored
	tail -n +11 f | sed 5d >&7
	wait_until "the failure report" 'grep -q "not stored yet" err'
	grep -q "^smqtt-store: database db: 9 frames from lines 11-19 not stored yet: .*; keeping them and retrying$" err ||
		fail "$(cat err)"
	[ "$(q 'select count(*) from readings')" = 10 ]
	prlimit --pid "$pid" --fsize=unlimited:unlimited
	wait_until "the kept rows" '[ "$(q "select count(*) from readings")" = 19 ]'
	exec 7>&-
	wait "$pid" || fail "status $?: $(cat err)"
	grep -q "^smqtt-store: database db: 9 frames from lines 11-19 stored after [0-9]* s of retrying$" err || fail "$(cat err)"
	[ "$(grep -c gap: err)" = 1 ] || fail "$(cat err)"
	grep -q "^smqtt-store: line 15: device F seq 16: gap: 1 frames missing (seq 15..15)$" err || fail "$(cat err)"
	grep -q "^smqtt-store: 19 stored, 0 duplicates, 0 rejected, 1 gaps (1 frames missing)$" err || fail "$(cat err)"
	[ "$(q 'pragma integrity_check')" = ok ]
}

@test "store: a lock held longer than the busy timeout is reported and waited out; SIGTERM meanwhile exits 4" {
	smqtt-store -d db < /dev/null 2> /dev/null
	mkfifo lock
	sqlite3 db < lock > /dev/null &
	locker=$!
	exec 8> lock
	printf '%s\n' '.bail on' 'begin exclusive;' 'select count(*) from readings;' '.shell touch locked' >&8
	wait_until "the lock" '[ -e locked ]'
	# SIGTERM while the batch cannot be stored: exit 4, naming what was not stored.
	smqtt-store -d db < frames 2> err &
	pid=$!
	wait_until "the lock to be reported" 'grep -q "database is locked" err'
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 4 ] || fail "status $status: $(cat err)"
	grep -q "^smqtt-store: database db: 1 frames from lines 1-1 not stored: database is locked$" err || fail "$(cat err)"
	smqtt-store -d db < frames 2> err &
	pid=$!
	wait_until "the lock to be reported" 'grep -q "database is locked" err'
	grep -q "^smqtt-store: database db: 1 frames from lines 1-1 not stored yet: database is locked; keeping them and retrying$" err ||
		fail "$(cat err)"
	echo 'commit;' >&8
	exec 8>&-
	wait "$locker"
	wait "$pid" || fail "status $?: $(cat err)"
	grep -q "^smqtt-store: 6 stored, 0 duplicates, 0 rejected, 0 gaps (0 frames missing)$" err || fail "$(cat err)"
	[ "$(q 'select count(*) from readings')" = 6 ]
}
