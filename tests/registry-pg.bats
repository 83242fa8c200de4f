#!/usr/bin/env bats
# The device registry on PostgreSQL: what only a server has. The registry
# tests of an SQLite file (smqtt-register.bats, registry-verify.bats,
# issue-registry.bats, shared-registry.bats, rollover.bats, smqtt-pkg.bats)
# run again on a real server with SMQTT_TEST_REGISTRY=postgresql (make check
# does); here, against a server of their own (tests/pg_helper.bash): the
# tables' types, connection strings and the password in them, a server that
# goes away and comes back under running verifiers, a database that holds
# something else or another schema version.

load test_helper
load broker_helper # free_port
load pg_helper
load registry_helper
bats_require_minimum_version 1.5.0

setup_file() {
	pg_start_server
}

teardown_file() {
	pg_stop_server
}

setup() {
	common_setup
	DBNAME=r$BATS_TEST_NUMBER
	pg_new_database "$DBNAME"
	REG=$PG_URL
	# As messages show it: no password.
	SHOWN="postgresql://$PG_USER@127.0.0.1:$PG_PORT/$DBNAME"
	PIDS=()
	VPIDS=()
}

teardown() {
	local pid
	for pid in "${PIDS[@]}" "${VPIDS[@]}"; do
		kill -TERM "$pid" 2> /dev/null || true
		wait "$pid" 2> /dev/null || true
	done
	# A test that stopped the server and failed before starting it again.
	pg_ready || pg_resume
}

q() { pg_sql "$DBNAME" "$1"; }

# until_true COMMAND...: poll until COMMAND succeeds (20 s at most).
until_true() {
	local i
	for ((i = 0; i < 200; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	fail "timed out waiting for: $*"
}

lines_at_least() { [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ]; }
# passed_at_least N FILE...: the FILEs hold N lines between them (which of
# several verifiers wins a frame is up to the race).
passed_at_least() {
	local n=$1
	shift
	[ "$(cat "$@" 2> /dev/null | wc -l)" -ge "$n" ]
}
has_line() { grep -q -- "$2" "$1"; }

# start_verifier ARGS...: smqtt-verify ARGS reading the fifo "in" (on fd 6),
# writing out and err in the background; $verifier is its pid.
start_verifier() {
	rm -f in
	mkfifo in
	smqtt-verify "$@" < in > out 2> err &
	verifier=$!
	PIDS+=("$verifier")
	exec 6> in
}

@test "registry-pg: init creates the registry's tables on the server, typed, trusting the CA" {
	registry_setup
	[ "$(q "select value from meta where name = 'format'")" = smqtt-registry ]
	[ "$(q "select value from meta where name = 'schema_version'")" = 4 ]
	[ "$(q "select value from meta where name = 'generation'")" = 1 ]
	q "select value from meta where name = 'ca_certificate'" > stored.pem
	[ "$(openssl x509 -in stored.pem -noout -fingerprint -sha256)" = "$(openssl x509 -in ca/ca.crt -noout -fingerprint -sha256)" ]
	[ "$(q "select string_agg(tablename, ' ' order by tablename) from pg_tables where schemaname = 'public'")" = \
		"attributes devices keys meta" ]
	# The same columns as in a file, INTEGER as bigint, BLOB as bytea.
	[ "$(q "select string_agg(column_name || ':' || data_type, ' ' order by ordinal_position)
		from information_schema.columns where table_name = 'devices'")" = \
		"id:text added_at:bigint revoked_at:bigint revocation_reason:text generation:bigint last_seq:bigint last_digest:bytea replay_window:bytea" ]
	[ "$(q "select data_type from information_schema.columns where table_name = 'keys' and column_name = 'public_point'")" = bytea ]
	run smqtt-register -R "$REG" list
	assert_status 0
	[ -z "$output" ]
	run smqtt-register -R "$REG" init --ca ca/ca.crt
	assert_status 3
	assert_contains "smqtt-register: registry $SHOWN: already exists"
	refute_contains "$PG_PASSWORD"
}

# The shared-registry scenario: ten devices, 2000 frames each, round robin,
# verified by verifiers sharing the registry (start_verifiers, wait_verifiers,
# passed_once and shares in registry_helper.bash).
DEVICES=(D01 D02 D03 D04 D05 D06 D07 D08 D09 D10)

shared_setup() {
	registry_setup "${DEVICES[@]}"
	smqtt-register -R "$REG" add < issued 2> /dev/null
	local d
	for d in "${DEVICES[@]}"; do
		meter_records 2000 "$d" | smqtt-sign -k "certs/$d.key" -i "$d" -S "$d.seq" > "$d.frames"
	done
	paste -d '\n' "${DEVICES[@]/%/.frames}" > frames
	[ "$(wc -l < frames)" -eq 20000 ]
}

@test "registry-pg: two verifiers while the server restarts under them pass each frame on once" {
	shared_setup
	PACE=500 start_verifiers 2
	until_true passed_at_least 1000 out.1 out.2
	pg_halt
	sleep 1
	pg_resume
	wait_verifiers
	passed_once 2
	grep -h 'waiting for the server\|not saved yet' err.1 err.2 | head -n 2 | sed 's/^/# /' >&3
	! grep -h "$PG_PASSWORD" err.1 err.2
}

@test "registry-pg: a verifier waits for a server that is down, holding frames, and passes them on once it is back" {
	registry_setup A
	smqtt-register -R "$REG" add < issued 2> /dev/null
	sign A certs/A.key 4 > f
	start_verifier -R "$REG"
	sed -n '1p;2p' f >&6
	until_true lines_at_least out 2
	pg_halt
	sed -n '3p;4p' f >&6
	until_true has_line err 'waiting for the server'
	sleep 0.5
	[ "$(wc -l < out)" -eq 2 ]
	pg_resume
	until_true lines_at_least out 4
	exec 6>&-
	wait "$verifier"
	cmp out f
	grep -q "smqtt-verify: registry $SHOWN: .*waiting for the server" err || fail "$(cat err)"
	! grep -q "$PG_PASSWORD" err
	[ "$(q "select last_seq from devices where id = 'A'")" = 4 ]
}

@test "registry-pg: SIGTERM while the server is down exits 4; the frames held are not passed on, and verify later" {
	registry_setup A
	smqtt-register -R "$REG" add < issued 2> /dev/null
	sign A certs/A.key 4 > f
	start_verifier -R "$REG"
	sed -n '1p;2p' f >&6
	until_true lines_at_least out 2
	pg_halt
	sed -n '3p;4p' f >&6
	until_true has_line err 'waiting for the server'
	kill -TERM "$verifier"
	status=0
	wait "$verifier" || status=$?
	exec 6>&-
	[ "$status" -eq 4 ]
	[ "$(wc -l < out)" -eq 2 ]
	pg_resume
	[ "$(q "select last_seq from devices where id = 'A'")" = 2 ]
	run --separate-stderr smqtt-verify -R "$REG" < <(sed -n '3p;4p' f)
	assert_status 0
	[ "$output" = "$(sed -n '3p;4p' f)" ]
}

@test "registry-pg: a server that is down is a system error (4), named without the password" {
	registry_setup A
	pg_halt
	run smqtt-register -R "$REG" list
	assert_status 4
	assert_contains "smqtt-register: registry $SHOWN: connecting: "
	refute_contains "$PG_PASSWORD"
	run smqtt-verify -R "$REG" < /dev/null
	assert_status 4
	assert_contains "smqtt-verify: registry $SHOWN: connecting: "
	run smqtt-register -R "$REG" init --ca ca/ca.crt
	assert_status 4
	assert_contains "registry $SHOWN: connecting: "
	pg_resume
	run smqtt-register -R "$REG" list
	assert_status 0
}

@test "registry-pg: a bad connection string, a wrong password or no such database is a configuration error (3)" {
	registry_setup
	run smqtt-register -R "postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$DBNAME?nosuchparam=1" list
	assert_status 3
	assert_contains "smqtt-register: registry postgresql://...@...: bad connection string: "
	refute_contains "$PG_PASSWORD"
	# libpq quotes what it cannot read; a password is not repeated even then.
	run smqtt-verify -R "postgresql://$PG_USER:se%zzcret@127.0.0.1:$PG_PORT/$DBNAME" < /dev/null
	assert_status 3
	assert_contains 'smqtt-verify: registry postgresql://...@...: bad connection string: invalid percent-encoded token: "..."'
	refute_contains "zzcret"
	run smqtt-register -R "postgresql://$PG_USER:wrong-secret@127.0.0.1:$PG_PORT/$DBNAME" list
	assert_status 3
	assert_contains "smqtt-register: registry $SHOWN: refused by the server: "
	refute_contains "wrong-secret"
	run smqtt-register -R "postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/nosuchdb" list
	assert_status 3
	assert_contains "registry postgresql://$PG_USER@127.0.0.1:$PG_PORT/nosuchdb: refused by the server: "
}

@test "registry-pg: a database of another schema is refused (3), named, and left alone" {
	smqtt-issue ca --ca-dir ca > /dev/null
	# An empty database is no registry.
	run smqtt-register -R "$REG" list
	assert_status 3
	assert_contains "smqtt-register: registry $SHOWN: no registry in this database (create one with smqtt-register init)"
	# smqtt-store's database.
	make_key m
	meter_records 2 | smqtt-sign -k m.key -i ABC | smqtt-store -d "$REG" 2> /dev/null
	q 'select count(*) from readings' > before
	run smqtt-register -R "$REG" list
	assert_status 3
	assert_contains "smqtt-register: registry $SHOWN: not an smqtt registry: the database holds other tables"
	run smqtt-verify -R "$REG" < /dev/null
	assert_status 3
	assert_contains "smqtt-verify: registry $SHOWN: not an smqtt registry"
	run smqtt-register -R "$REG" init --ca ca/ca.crt
	assert_status 3
	assert_contains "smqtt-register: registry $SHOWN: the database holds other tables; a registry needs one of its own"
	refute_contains "$PG_PASSWORD"
	[ "$(q "select count(*) from pg_tables where schemaname = 'public'")" = 2 ]
	cmp before <(q 'select count(*) from readings')
	# A table named meta of another program.
	pg_new_database "${DBNAME}m"
	pg_sql "${DBNAME}m" 'create table meta (k int)'
	run smqtt-register -R "$PG_URL" list
	assert_status 3
	assert_contains "not an smqtt registry"
}

@test "registry-pg: a registry of an older or newer schema version is refused (3), named" {
	registry_setup
	q "update meta set value = '5' where name = 'schema_version'"
	run smqtt-register -R "$REG" list
	assert_status 3
	assert_contains "smqtt-register: registry $SHOWN: schema version 5; this program handles versions 3 to 4 on a PostgreSQL server"
	q "update meta set value = '2' where name = 'schema_version'"
	run smqtt-verify -R "$REG" < /dev/null
	assert_status 3
	assert_contains "smqtt-verify: registry $SHOWN: schema version 2; this program handles versions 3 to 4"
	refute_contains "$PG_PASSWORD"
}

@test "registry-pg: a registry of version 3 is upgraded when opened: its keys numbered in the order it broke ties by" {
	registry_setup E
	# Version 3 had no added_order: keys with the same notBefore went by
	# added_at, then serial. Three such keys, added in serial order 30 10 20.
	q "alter table keys drop column added_order; update meta set value = '3' where name = 'schema_version'"
	q "insert into devices (id, added_at, generation) values ('D', 1000, 1)"
	local s
	for s in 30 10 20; do
		q "insert into keys (serial, fingerprint, device, state, key_type, public_key, public_point,
			not_before, not_after, added_at, certificate)
			values ('S$s', 'F$s', 'D', 'retired', 'p256', '\\x00', '\\x00', 1, 2, 1000, 'pem')"
	done
	run smqtt-register -R "$REG" list
	assert_status 0
	[ "$(q "select value from meta where name = 'schema_version'")" = 4 ]
	[ "$(q "select string_agg(serial, ' ' order by added_order) from keys")" = "S10 S20 S30" ]
	[ "$(q "select is_nullable || ' ' || is_identity from information_schema.columns
		where table_name = 'keys' and column_name = 'added_order'")" = "NO YES" ]
	# A key added from now on comes after them.
	smqtt-register -R "$REG" add < issued
	[ "$(q "select max(added_order) from keys where device = 'E'")" = 4 ]
	# Opened again, it is left as it is.
	run smqtt-register -R "$REG" list
	assert_status 0
	[ "$(q "select string_agg(serial, ' ' order by added_order) from keys where device = 'D'")" = "S10 S20 S30" ]
}

@test "registry-pg: registry.db in the configuration may name the server" {
	registry_setup A
	mkdir conf
	printf 'registry:\n  db: "%s"\n' "$REG" > conf/smqtt.yaml
	run smqtt-register --config conf/smqtt.yaml add < issued
	assert_status 0
	assert_contains "1 added"
	sign A certs/A.key 2 > f
	run --separate-stderr smqtt-verify --config conf/smqtt.yaml < f
	assert_status 0
	[ "$output" = "$(cat f)" ]
	[ "$(q "select last_seq from devices where id = 'A'")" = 2 ]
	[ ! -e conf/postgresql: ]
}
