#!/usr/bin/env bats
# smqtt-store on PostgreSQL: the scenarios of smqtt-store.bats against a real
# server (tests/pg_helper.bash), and what only a server has: connection
# strings, authentication, a server that goes away and comes back.

load test_helper
load broker_helper # free_port
load pg_helper
bats_require_minimum_version 1.5.0

setup_file() {
	pg_start_server
}

teardown_file() {
	pg_stop_server
}

setup() {
	common_setup
	make_key m
	meter_records 6 | smqtt-sign -k m.key -i ABC > frames
	DBNAME=t$BATS_TEST_NUMBER
	pg_new_database "$DBNAME"
	DB=$PG_URL
	# As messages show it: no password.
	SHOWN="postgresql://$PG_USER@127.0.0.1:$PG_PORT/$DBNAME"
	PIDS=()
}

teardown() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2> /dev/null || true
		wait "$pid" 2> /dev/null || true
	done
	# A test that stopped the server and failed before starting it again.
	pg_ready || pg_resume
}

q() { pg_sql "$DBNAME" "$1"; }

@test "pg-store: one typed row per frame, with the whole frame kept" {
	run smqtt-store -d "$DB" < frames
	assert_status 0
	assert_contains "smqtt-store: 6 stored, 0 duplicates, 0 rejected, 0 gaps (0 frames missing)"
	[ "$(q 'select count(*) from readings')" -eq 6 ]
	[ "$(q "select meter, time, channel, value from readings where seq = 2")" = "ABC|2013-11-02 00:15:00|1|7" ]
	[ "$(q "select pg_typeof(channel) || ',' || pg_typeof(value) from readings limit 1")" = "bigint,double precision" ]
	[ "$(q 'select frame from readings order by seq')" = "$(cat frames)" ]
}

@test "pg-store: stored frames verify again straight from the server" {
	smqtt-store -d "$DB" < frames 2> /dev/null
	q 'select frame from readings order by device, seq' | smqtt-verify --pubkey ABC=m.pub > again
	cmp again frames
}

@test "pg-store: schema is versioned" {
	smqtt-store -d "$DB" < frames 2> /dev/null
	[ "$(q "select value from smqtt_meta where key = 'schema_version'")" -eq 1 ]
	[ "$(q "select value from smqtt_meta where key = 'columns'")" = "meter:device,time:text,channel:integer,value:real" ]
}

@test "pg-store: duplicates are ignored and counted; a re-run stores nothing twice" {
	smqtt-store -d "$DB" < frames 2> /dev/null
	run smqtt-store -d "$DB" < frames
	assert_status 0
	assert_contains "0 stored, 6 duplicates, 0 rejected"
	{ cat frames; cat frames; } > twice
	q 'drop table readings; drop table smqtt_meta'
	run smqtt-store -d "$DB" < twice
	assert_contains "6 stored, 6 duplicates"
	[ "$(q 'select count(*) from readings')" -eq 6 ]
}

@test "pg-store: a gap in a device's sequence is reported with its range" {
	sed '3,4d' frames > holes
	run smqtt-store -d "$DB" < holes
	assert_status 0
	assert_contains "smqtt-store: line 3: device ABC seq 5: gap: 2 frames missing (seq 3..4)"
	assert_contains "4 stored, 0 duplicates, 0 rejected, 1 gaps (2 frames missing)"
	run smqtt-store -d "$DB" < frames
	assert_contains "2 stored, 4 duplicates, 0 rejected, 0 gaps"
	meter_records 3 | smqtt-sign -k m.key -i ABC > more
	sed 1d more > later
	run smqtt-store -d "$DB" < later
	assert_contains "line 1: device ABC seq 8: gap: 1 frames missing (seq 7..7)"
}

@test "pg-store: --gaps lists the runs missing on the server, written by two stores at once" {
	local d
	for d in A B C; do
		meter_records 30 "$d" | smqtt-sign -k m.key -i "$d" -S "$d.seq" > "$d.frames"
	done
	paste -d '\n' A.frames B.frames C.frames > all
	grep -E '^smqtt1 (A [5-7]|B [12]) ' all > missing
	grep -v -F -x -f missing all > sent
	[ "$(wc -l < missing)" -eq 5 ]
	awk 'NR % 2' sent > half.1
	awk 'NR % 2 == 0' sent > half.2
	smqtt-store -d "$DB" -b 7 < half.1 2> err.1 3>&- &
	PIDS+=($!)
	smqtt-store -d "$DB" -b 7 < half.2 2> err.2 || fail "status $?: $(cat err.2)"
	wait "${PIDS[0]}" || fail "status $?: $(cat err.1)"
	[ "$(q 'select count(*) from readings')" -eq 85 ]
	run --separate-stderr smqtt-store -d "$DB" --gaps
	assert_status 0
	[ "$output" = "$(printf 'A 5 7 3\nB 1 2 2')" ] || fail "got: $output"
	[ "$stderr" = "smqtt-store: 2 gaps (5 frames missing)" ] || fail "stderr: $stderr"
	smqtt-store -d "$DB" < missing 2> /dev/null
	run --separate-stderr smqtt-store -d "$DB" --gaps
	assert_status 0
	[ -z "$output" ]
	[ "$stderr" = "smqtt-store: 0 gaps (0 frames missing)" ]
}

@test "pg-store: gaps of many devices in one round trip are told as one by one, and --gaps agrees" {
	# 300 devices, 3 frames each, round by round: a round trip carries up to
	# 256 frames of as many devices. Every 7th device's second frame is lost.
	local i
	for ((i = 1; i <= 300; i++)); do
		meter_records 3 "D$i" | smqtt-sign -k m.key -i "D$i" -S "d.$i.seq" > "d.$i"
	done
	for r in 1 2 3; do
		for ((i = 1; i <= 300; i++)); do
			[ "$r" -eq 2 ] && [ $((i % 7)) -eq 0 ] && continue
			sed -n "${r}p" "d.$i"
		done
	done > sent
	[ "$(wc -l < sent)" -eq 858 ]
	# The first round stored before, so that the rest is told against the server.
	head -n 300 sent | smqtt-store -d "$DB" 2> /dev/null
	tail -n +301 sent > rest
	run --separate-stderr smqtt-store -d "$DB" < rest
	assert_status 0
	[[ "$stderr" == *"558 stored, 0 duplicates, 0 rejected, 42 gaps (42 frames missing)"* ]] || fail "$stderr"
	[[ "$stderr" == *"device D7 seq 3: gap: 1 frames missing (seq 2..2)"* ]] || fail "$stderr"
	[ "$(grep -c ': gap: ' <<< "$stderr")" -eq 42 ]
	run --separate-stderr smqtt-store -d "$DB" --gaps
	assert_status 0
	[ "$(wc -l <<< "$output")" -eq 42 ]
	[ "$(awk '$2 != 2 || $3 != 2 || $4 != 1 || substr($1, 2) % 7' <<< "$output")" = "" ]
	[ "$stderr" = "smqtt-store: 42 gaps (42 frames missing)" ]
}

@test "pg-store: rows sent many to a statement: duplicates within one and of rows stored before are told apart" {
	meter_records 200 | smqtt-sign -k m.key -i ABC -S abc.seq > many
	# Every fifth of the first 100 stored before; in the input, each tenth frame twice in a row.
	awk 'NR <= 100 && NR % 5 == 0' many | smqtt-store -d "$DB" 2> /dev/null
	awk '{ print } NR % 10 == 0 { print }' many > twice
	[ "$(wc -l < twice)" -eq 220 ]
	run smqtt-store -d "$DB" < twice
	assert_status 0
	# 180 new; 20 stored before; 20 second copies, 10 of which are also of rows stored before.
	assert_contains "smqtt-store: 180 stored, 40 duplicates, 0 rejected, 0 gaps (0 frames missing)"
	[ "$(q 'select count(*) from readings')" -eq 200 ]
	[ "$(q 'select frame from readings order by seq')" = "$(cat many)" ]
}

@test "pg-store: duplicates found by a later round trip of a transaction, and by the next, are told apart" {
	meter_records 1200 | smqtt-sign -k m.key -i ABC -S abc.seq > many
	head -n 300 many | smqtt-store -d "$DB" 2> /dev/null
	# New rows, then rows stored before (one of them twice), then new rows again: one transaction, then more.
	{ sed -n 301,700p many; sed -n 100,110p many; sed -n 105p many; sed -n 701,1200p many; } > mixed
	run smqtt-store -d "$DB" -b 1000 < mixed
	assert_status 0
	assert_contains "smqtt-store: 900 stored, 12 duplicates, 0 rejected, 0 gaps (0 frames missing)"
	[ "$(q 'select count(*) from readings')" -eq 1200 ]
	[ "$(q 'select frame from readings order by seq')" = "$(cat many)" ]
}

@test "pg-store: of two frames with one device and seq in one round trip, the first is stored" {
	meter_records 4 | smqtt-sign -k m.key -i ABC -S c.seq > f
	printf 'ABC,first,1,1\n' | smqtt-sign -k m.key -i ABC -S a.seq --first-seq 5 >> f
	printf 'ABC,second,1,2\n' | smqtt-sign -k m.key -i ABC -S b.seq --first-seq 5 >> f
	run smqtt-store -d "$DB" < f
	assert_status 0
	assert_contains "smqtt-store: 5 stored, 1 duplicates, 0 rejected, 0 gaps (0 frames missing)"
	[ "$(q 'select time from readings where seq = 5')" = first ]
	[ "$(q 'select frame from readings where seq = 5')" = "$(sed -n 5p f)" ]
}

@test "pg-store: text with tabs, backslashes and other control bytes is stored byte for byte" {
	printf 'T,a\tb,1,1\nT,c\\d,1,2\nT,\\N,1,3\nT,\\.,1,4\nT,"x\\ty\001\177",1,5\nT,\\\\\t\\,1,6\n' |
		smqtt-sign -k m.key -i T -S t.seq > f
	run smqtt-store -d "$DB" < f
	assert_status 0
	assert_contains "smqtt-store: 6 stored, 0 duplicates, 0 rejected"
	[ "$(q "select count(*) from readings where time is null")" -eq 0 ]
	[ "$(q 'select frame from readings order by seq')" = "$(cat f)" ]
	[ "$(q "select string_agg(encode(convert_to(time, 'UTF8'), 'hex'), ' ' order by seq) from readings")" = \
		"610962 635c64 5c4e 5c2e 785c7479017f 5c5c095c" ]
	q 'select frame from readings order by seq' | smqtt-verify --pubkey T=m.pub > /dev/null
}

@test "pg-store: a transaction of many round trips stores each row once" {
	meter_records 15000 | smqtt-sign -k m.key -i ABC -S abc.seq > many
	sed 7000d many > holes
	run smqtt-store -d "$DB" -b 100000 < holes
	assert_status 0
	assert_contains "smqtt-store: 14999 stored, 0 duplicates, 0 rejected, 1 gaps (1 frames missing)"
	[ "$(q "select count(distinct seq) || ' ' || count(*) from readings")" = "14999 14999" ]
	run smqtt-store -d "$DB" -b 100000 < many
	assert_contains "smqtt-store: 1 stored, 14999 duplicates, 0 rejected, 0 gaps (0 frames missing)"
	[ "$(q 'select frame from readings order by seq')" = "$(cat many)" ]
}

@test "pg-store: bad lines are rejected by number, nothing from them stored, the rest kept" {
	make_key x
	printf 'XYZ,t,notint,1.0\nXYZ,t,1\nXYZ,t,1,1e999\nXYZ,"quoted, text",1,2.5\n' |
		smqtt-sign -k x.key -i XYZ > bad
	{ sed -n 1p frames; cat bad; echo garbage; sed -n 2p frames; } > in
	run smqtt-store -d "$DB" < in
	assert_status 1
	assert_contains "line 2: device XYZ seq 1: record: field 3 (channel): not an integer: \"notint\""
	assert_contains "line 3: device XYZ seq 2: record: 3 fields, schema has 4"
	assert_contains "line 4: device XYZ seq 3: record: field 4 (value): not a real number"
	assert_contains "line 6: malformed frame: not an smqtt1 frame"
	assert_contains "3 stored, 0 duplicates, 4 rejected"
	[ "$(q "select time || '|' || value from readings where device = 'XYZ'")" = "quoted, text|2.5" ]
}

@test "pg-store: text that is not UTF-8 is rejected by line; the rest of the batch is stored" {
	printf 'ABC,t\377x,1,2\nABC,t\303\251,1,3\n' | smqtt-sign -k m.key -i ABC -S abc.seq > f
	run smqtt-store -d "$DB" < f
	assert_status 1
	assert_contains "smqtt-store: line 1: device ABC seq 1: record: not UTF-8 text, which the database's text columns hold"
	assert_contains "1 stored, 0 duplicates, 1 rejected"
	[ "$(q 'select seq, time from readings')" = "2|té" ]
}

@test "pg-store: empty fields are NULL and quotes are unescaped" {
	printf 'N,,1,\nN,"say ""hi""",,2\n"N",t,1,3\n' | smqtt-sign -k m.key -i N -S n.seq > f
	smqtt-store -d "$DB" < f 2> /dev/null
	[ "$(q "select quote_nullable(time) || ' ' || quote_nullable(value) from readings where seq = 1")" = "NULL NULL" ]
	[ "$(q "select time || ' ' || quote_nullable(channel) from readings where seq = 2")" = 'say "hi" NULL' ]
	[ "$(q "select meter from readings where seq = 3")" = N ]
}

@test "pg-store: a custom column schema, and a schema mismatch refused" {
	printf '12.5,a\n13,b\n' | smqtt-sign -k m.key -i T > f
	run smqtt-store -d "$DB" -s 'celsius:real,label:text' < f
	assert_status 0
	[ "$(q 'select sum(celsius) from readings')" = 25.5 ]
	run smqtt-store -d "$DB" < f
	assert_status 3
	assert_contains "smqtt-store: database $SHOWN: created with columns \"celsius:real,label:text\""
	refute_contains "$PG_PASSWORD"
}

@test "pg-store: a device column must name the device that signed the frame, on the server too" {
	printf 'meter-0005,t1,0,1.5\nmeter-0002,t2,0,999\n"meter-0005",t4,0,2.5\n' |
		smqtt-sign -k m.key -i meter-0005 -S m5.seq > f
	run smqtt-store -d "$DB" < f
	assert_status 1
	assert_contains 'smqtt-store: line 2: device meter-0005 seq 2: record: field 1 (meter): "meter-0002" is not the device that signed the frame'
	assert_contains "2 stored, 0 duplicates, 1 rejected"
	[ "$(q "select string_agg(seq || ':' || meter || ':' || value, ' ' order by seq) from readings")" = "1:meter-0005:1.5 3:meter-0005:2.5" ]
	run pg_sql "$DBNAME" "insert into readings values ('meter-0005', 9, 'meter-0002', 't', 0, 1, 'frame')"
	[ "$status" -ne 0 ] || fail "the table took a row filed under another meter"
	assert_contains "check constraint"
}

@test "pg-store: a database made with meter:text is opened with the default schema and checked from then on" {
	meter_records 2 ABC | smqtt-sign -k m.key -i ABC -S abc.seq > first
	smqtt-store -d "$DB" -s meter:text,time:text,channel:integer,value:real < first 2> /dev/null
	meter_records 1 DEF | smqtt-sign -k m.key -i ABC -S abc.seq > misfiled
	run smqtt-store -d "$DB" < misfiled
	assert_status 1
	assert_contains 'line 1: device ABC seq 3: record: field 1 (meter): "DEF" is not the device that signed the frame'
	run smqtt-store -d "$DB" -s meter:device,time:text,channel:text,value:real < /dev/null
	assert_status 3
	assert_contains "database $SHOWN: created with columns \"meter:text,time:text,channel:integer,value:real\", not \"meter:device,time:text,channel:text,value:real\""
}

@test "pg-store: small batches commit as they go" {
	meter_records 250 B | smqtt-sign -k m.key -i B > f
	run smqtt-store -d "$DB" -b 7 < f
	assert_status 0
	[ "$(q 'select count(*) from readings')" -eq 250 ]
}

@test "pg-store: rows are committed within the wait time while input stays open; SIGINT commits the rest" {
	mkfifo in
	smqtt-store -d "$DB" -w 200 < in 2> err 3>&- &
	PIDS+=($!)
	exec 7> in
	head -n 3 frames >&7
	wait_until "3 rows" '[ "$(q "select count(*) from readings")" = 3 ]'
	tail -n 3 frames >&7
	sleep 0.05
	kill -INT "${PIDS[0]}"
	wait "${PIDS[0]}"
	exec 7>&-
	[ "$(q 'select count(*) from readings')" -eq 6 ]
	grep -q "smqtt-store: 6 stored" err || fail "$(cat err)"
}

@test "pg-store: two stores starting at once on a new database both store, each row once" {
	meter_records 40 A | smqtt-sign -k m.key -i A > a
	meter_records 40 B | smqtt-sign -k m.key -i B > b
	smqtt-store -d "$DB" < a 2> err-a 3>&- &
	PIDS+=($!)
	smqtt-store -d "$DB" < b 2> err-b 3>&- &
	PIDS+=($!)
	run smqtt-store -d "$DB" < a
	assert_status 0
	wait "${PIDS[0]}" || fail "status $?: $(cat err-a)"
	wait "${PIDS[1]}" || fail "status $?: $(cat err-b)"
	[ "$(q 'select count(*) from readings')" -eq 80 ]
	[ "$(q 'select count(distinct (device, seq)) from readings')" -eq 80 ]
}

# wait_until WHAT CONDITION: poll the shell CONDITION every 50 ms, for 30 s at most.
wait_until() {
	for _ in $(seq 600); do
		eval "$2" && return 0
		sleep 0.05
	done
	fail "timed out waiting for $1"
}

@test "pg-store: a server that goes away keeps the batch; it is stored once the server is back, no row lost or doubled" {
	make_key f
	meter_records 20 F | smqtt-sign -k f.key -i F > f
	mkfifo in
	smqtt-store -d "$DB" -w 50 < in 2> err 3>&- &
	PIDS+=($!)
	exec 7> in
	head -n 10 f >&7
	wait_until "the first rows" '[ "$(q "select count(*) from readings" 2> /dev/null)" = 10 ]'
	pg_halt
	# seq 11 to 20 without 15. The frames read at once find the server gone; no
	# more input is read until they are stored, so the pipe holds the rest.
	tail -n +11 f | sed 5d >&7
	wait_until "the failure report" 'grep -q "not stored yet" err'
	grep -Eq "^smqtt-store: database $SHOWN: [1-9] frames from lines 11-(1[1-9]) not stored yet: .*; keeping them and retrying$" err ||
		fail "$(cat err)"
	[ "$(grep -c "not stored yet" err)" -le 2 ] || fail "the same failure reported more than once: $(cat err)"
	pg_resume
	wait_until "the kept rows" '[ "$(q "select count(*) from readings")" = 19 ]'
	exec 7>&-
	wait "${PIDS[0]}" || fail "status $?: $(cat err)"
	grep -Eq "^smqtt-store: database $SHOWN: [1-9] frames from lines 11-(1[1-9]) stored after [0-9]+ s of retrying$" err || fail "$(cat err)"
	grep -q "^smqtt-store: line 15: device F seq 16: gap: 1 frames missing (seq 15..15)$" err || fail "$(cat err)"
	grep -q "^smqtt-store: 19 stored, 0 duplicates, 0 rejected, 1 gaps (1 frames missing)$" err || fail "$(cat err)"
	[ "$(q 'select count(distinct seq) from readings')" = 19 ]
	! grep -q "$PG_PASSWORD" err || fail "the password in a message: $(cat err)"
}

@test "pg-store: a server restarted under an open transaction: its rows are written again, none lost or doubled" {
	make_key f
	meter_records 600 F | smqtt-sign -k f.key -i F > f
	mkfifo in
	smqtt-store -d "$DB" -b 100000 -w 3600000 < in 2> err 3>&- &
	PIDS+=($!)
	exec 7> in
	head -n 400 f >&7
	wait_until "rows sent, not committed" \
		'[ "$(q "select count(*) from pg_stat_activity where datname = '\''$DBNAME'\'' and state = '\''idle in transaction'\''")" = 1 ]'
	pg_halt
	pg_resume
	tail -n +401 f >&7
	exec 7>&-
	wait "${PIDS[0]}" || fail "status $?: $(cat err)"
	grep -q "^smqtt-store: 600 stored, 0 duplicates, 0 rejected, 0 gaps (0 frames missing)$" err || fail "$(cat err)"
	[ "$(q "select count(distinct seq) || ' ' || count(*) from readings")" = "600 600" ]
	[ "$(q 'select frame from readings order by seq')" = "$(cat f)" ]
}

@test "pg-store: SIGTERM while the server is down exits 4, naming what was not stored" {
	mkfifo in
	smqtt-store -d "$DB" -w 50 < in 2> err 3>&- &
	PIDS+=($!)
	exec 7> in
	# Connected and storing before the server goes away.
	head -n 1 frames >&7
	wait_until "the first row" '[ "$(q "select count(*) from readings" 2> /dev/null)" = 1 ]'
	pg_halt
	sed -n 2p frames >&7
	wait_until "the failure report" 'grep -q "not stored yet" err'
	kill -TERM "${PIDS[0]}"
	status=0
	wait "${PIDS[0]}" || status=$?
	exec 7>&-
	pg_resume
	[ "$status" -eq 4 ] || fail "status $status: $(cat err)"
	grep -q "^smqtt-store: database $SHOWN: 1 frames from lines 2-2 not stored: connection lost: " err || fail "$(cat err)"
	[ "$(q 'select count(*) from readings')" -eq 1 ]
}

@test "pg-store: a server that is down or not there at all is a system error (4), named" {
	port=$(free_port)
	run smqtt-store -d "postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$port/$DBNAME" < frames
	assert_status 4
	assert_contains "smqtt-store: database postgresql://$PG_USER@127.0.0.1:$port/$DBNAME: connecting: Connection refused"
	refute_contains "$PG_PASSWORD"
	pg_halt
	run smqtt-store -d "$DB" < frames
	pg_resume
	assert_status 4
	assert_contains "smqtt-store: database $SHOWN: connecting: "
}

@test "pg-store: a server that never answers is given up after the connect timeout (4)" {
	port=$(free_port)
	# Takes the connection and says nothing.
	python3 -c 'import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
open("listening", "w").close()
time.sleep(60)' "$port" 3>&- &
	PIDS+=($!)
	wait_until "the listener" '[ -e listening ]'
	SECONDS=0
	run smqtt-store -d "postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$port/$DBNAME?connect_timeout=1" < frames
	assert_status 4
	assert_contains "smqtt-store: database postgresql://$PG_USER@127.0.0.1:$port/$DBNAME: connecting: timeout expired"
	[ "$SECONDS" -lt 10 ] || fail "gave up after $SECONDS s"
}

@test "pg-store: authentication refused, or no such database, is a configuration error (3), named" {
	run smqtt-store -d "postgresql://$PG_USER:wrong@127.0.0.1:$PG_PORT/$DBNAME" < frames
	assert_status 3
	assert_contains "smqtt-store: database $SHOWN: refused by the server: password authentication failed for user \"$PG_USER\""
	refute_contains wrong
	run smqtt-store -d "postgresql://$PG_USER@127.0.0.1:$PG_PORT/$DBNAME" < frames
	assert_status 3
	assert_contains "smqtt-store: database $SHOWN: refused by the server: the server asks for a password and none was given"
	run smqtt-store -d "postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/nosuchdb" < frames
	assert_status 3
	assert_contains "smqtt-store: database postgresql://$PG_USER@127.0.0.1:$PG_PORT/nosuchdb: refused by the server: database \"nosuchdb\" does not exist"
	# libpq's own ways to give the password work: a password file.
	printf '127.0.0.1:%s:%s:%s:%s\n' "$PG_PORT" "$DBNAME" "$PG_USER" "$PG_PASSWORD" > pgpass
	chmod 600 pgpass
	PGPASSFILE=$PWD/pgpass run smqtt-store -d "postgresql://$PG_USER@127.0.0.1:$PG_PORT/$DBNAME" < frames
	assert_status 0
	[ "$(q 'select count(*) from readings')" -eq 6 ]
}

@test "pg-store: a connection string libpq cannot read is a usage error (2), or 3 in the configuration" {
	run smqtt-store -d "postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$DBNAME?nosuch=1" < frames
	assert_status 2
	assert_contains "smqtt-store: -d postgresql://...@...: invalid URI query parameter: \"nosuch\""
	refute_contains "$PG_PASSWORD"
	run smqtt-store -d "postgresql://[::1/x" < frames
	assert_status 2
	assert_contains "smqtt-store: -d postgresql://...: "
	# libpq quotes what it cannot read; a password is not repeated even then.
	run smqtt-store -d "postgresql://$PG_USER:se%zzcret@127.0.0.1/$DBNAME" < frames
	assert_status 2
	assert_contains 'smqtt-store: -d postgresql://...@...: invalid percent-encoded token: "..."'
	refute_contains "zzcret"
	run smqtt-store -d "postgresql://127.0.0.1/$DBNAME?password=se%zzcret" < frames
	assert_status 2
	refute_contains "zzcret"
	printf 'store:\n  db: "postgresql://u:secret@127.0.0.1/x?nosuch=1"\n' > conf.yaml
	run smqtt-store --config conf.yaml < frames
	assert_status 3
	assert_contains "smqtt-store: conf.yaml:2: key store.db: postgresql://...@...: invalid URI query parameter: \"nosuch\""
	refute_contains secret
}

@test "pg-store: a database of another schema is refused (3), named, and left alone" {
	q 'create table t (x integer)'
	run smqtt-store -d "$DB" < frames
	assert_status 3
	assert_contains "smqtt-store: database $SHOWN: not a database of smqtt-store (it has other tables)"
	[ "$(q "select count(*) from pg_tables where schemaname = 'public'")" -eq 1 ]
	q 'drop table t'
	smqtt-store -d "$DB" < /dev/null 2> /dev/null
	q "update smqtt_meta set value = '2' where key = 'schema_version'"
	run smqtt-store -d "$DB" < frames
	assert_status 3
	assert_contains "smqtt-store: database $SHOWN: schema version 2; this smqtt-store handles version 1"
	[ "$(q 'select count(*) from readings')" -eq 0 ]
}

@test "pg-store: store.db in the configuration may name the server; it is not taken for a relative path" {
	mkdir conf
	printf 'store:\n  db: "%s"\n  batch: 2\n' "$DB" > conf/smqtt.yaml
	run smqtt-store --config conf/smqtt.yaml < frames
	assert_status 0
	assert_contains "6 stored"
	[ "$(q 'select count(*) from readings')" -eq 6 ]
	[ ! -e conf/postgresql: ]
}
