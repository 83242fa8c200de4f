#!/usr/bin/env bats
# The device registry on PostgreSQL: what smqtt-register.bats,
# issue-registry.bats, registry-verify.bats and shared-registry.bats show for
# an SQLite file, against a real server (tests/pg_helper.bash), and what only
# a server has: connection strings, a server that goes away and comes back,
# a database that holds something else.

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

# A CA in ca/, certificates for DEVICE... in certs/ and their lines in issued,
# and a registry on the server trusting the CA (the devices not added).
pg_registry_setup() {
	smqtt-issue ca --ca-dir ca > /dev/null || return 1
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" | smqtt-issue device --ca-dir ca -o certs > issued 2> /dev/null || return 1
	else
		: > issued
	fi
	smqtt-register -R "$REG" init --ca ca/ca.crt
}

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
	pg_registry_setup
	[ "$(q "select value from meta where name = 'format'")" = smqtt-registry ]
	[ "$(q "select value from meta where name = 'schema_version'")" = 3 ]
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

@test "registry-pg: add, list, show, attributes, retire, revoke and revoked through smqtt-register" {
	pg_registry_setup A 'B site=north feeder=7' C
	run smqtt-register -R "$REG" add < issued
	assert_status 0
	assert_contains "smqtt-register: 3 added, 0 already registered, 0 rejected, 0 keys retired"
	run smqtt-register -R "$REG" add < issued
	assert_status 0
	assert_contains "0 added, 3 already registered, 0 rejected"
	run smqtt-register -R "$REG" list
	assert_status 0
	[ "$output" = "A active 1 0
B active 1 0 feeder=7 site=north
C active 1 0" ]
	a=$(grep '^A ' issued | cut -d' ' -f2 | cut -d= -f2)
	b=$(grep '^B ' issued | cut -d' ' -f2 | cut -d= -f2)
	c=$(grep '^C ' issued | cut -d' ' -f2 | cut -d= -f2)
	fingerprint=$(openssl x509 -in certs/B.crt -noout -fingerprint -sha256 | cut -d= -f2 | tr -d :)
	run smqtt-register -R "$REG" show B
	assert_status 0
	assert_contains "device B"
	assert_contains "state active"
	assert_contains "attribute site=north"
	assert_contains "key $b active p256 "
	assert_contains " $fingerprint"
	# What is stored is what the certificate holds.
	openssl x509 -in certs/B.crt -pubkey -noout | openssl pkey -pubin -outform DER > spki.der
	[ "$(q "select encode(public_key, 'hex') from keys where device = 'B'")" = "$(od -An -tx1 -v spki.der | tr -d ' \n')" ]
	q "select certificate from keys where device = 'B'" > b.pem
	cmp <(openssl x509 -in b.pem -outform DER) <(openssl x509 -in certs/B.crt -outform DER)
	run smqtt-register -R "$REG" cert B
	assert_status 0
	cmp <(printf '%s\n' "$output" | openssl x509 -outform DER) <(openssl x509 -in certs/B.crt -outform DER)

	# Attributes.
	run smqtt-register -R "$REG" set A zone=x site=south
	assert_status 0
	run smqtt-register -R "$REG" get A zone
	assert_status 0
	[ "$output" = x ]
	run smqtt-register -R "$REG" unset A zone
	assert_status 0
	run smqtt-register -R "$REG" get A zone
	assert_status 1
	run smqtt-register -R "$REG" set NOPE k=v
	assert_status 1
	[ "$(q "select string_agg(device || '.' || name || '=' || value, ' ' order by device, name) from attributes")" = \
		"A.site=south B.feeder=7 B.site=north" ]

	# Retire and revoke, each bumping the generation.
	generation=$(q "select value from meta where name = 'generation'")
	run smqtt-register -R "$REG" retire A "$a"
	assert_status 0
	[ "$(q "select state from keys where serial = '$a'")" = retired ]
	[ "$(q "select retired_at_seq from keys where serial = '$a'")" = 0 ]
	run smqtt-register -R "$REG" retire A "$a"
	assert_status 0
	assert_contains "not active; nothing to retire"
	run smqtt-register -R "$REG" retire A 0123
	assert_status 1
	assert_contains "device A: has no key with serial 0123"
	run smqtt-register -R "$REG" revoke B --reason keyCompromise
	assert_status 0
	run smqtt-register -R "$REG" revoke C "$c" --reason cessationOfOperation
	assert_status 0
	run smqtt-register -R "$REG" revoke B
	assert_status 0
	assert_contains "device B: already revoked"
	run smqtt-register -R "$REG" revoke NOPE
	assert_status 1
	assert_contains "device NOPE: not registered"
	[ "$(q "select value from meta where name = 'generation'")" -gt "$generation" ]
	run smqtt-register -R "$REG" list
	[ "$output" = "A inactive 0 0 site=south
B revoked 0 0 feeder=7 site=north
C inactive 0 0" ]
	run smqtt-register -R "$REG" show B
	assert_contains "state revoked"
	assert_contains "revocation_reason keyCompromise"
	run smqtt-register -R "$REG" revoked
	assert_status 0
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 2 ]
	printf '%s\n' "$output" | grep -qE "^$b B [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z keyCompromise\$"
	printf '%s\n' "$output" | grep -qE "^$c C [0-9T:Z-]+ cessationOfOperation\$"
	# A revoked device takes no new key.
	smqtt-issue device --ca-dir ca -o certs2 <<< B > b2.issued 2> /dev/null
	run smqtt-register -R "$REG" add < b2.issued
	assert_status 1
	assert_contains "device B: the device is revoked; it takes no new keys"
}

@test "registry-pg: a new certificate is a key rotation; --retire-old keeps the newest key only" {
	pg_registry_setup R
	smqtt-register -R "$REG" add < issued 2> /dev/null
	sleep 1 # notBefore has one-second resolution
	smqtt-issue device --ca-dir ca -o certs2 <<< R > second.issued 2> /dev/null
	run smqtt-register -R "$REG" add < second.issued
	assert_contains "1 added, 0 already registered, 0 rejected, 0 keys retired"
	[ "$(q "select count(*) from keys where device = 'R' and state = 'active'")" = 2 ]
	sleep 1
	smqtt-issue device --ca-dir ca -o certs3 <<< R > third.issued 2> /dev/null
	run smqtt-register -R "$REG" add --retire-old < third.issued
	assert_status 0
	assert_contains "1 added, 0 already registered, 0 rejected, 2 keys retired"
	newest=$(cut -d' ' -f2 third.issued | cut -d= -f2)
	[ "$(q "select serial from keys where device = 'R' and state = 'active'")" = "$newest" ]
	run smqtt-register -R "$REG" show R
	[ "$(printf '%s\n' "$output" | grep '^key ' | head -n 1 | cut -d' ' -f2,3)" = "$newest active" ]
}

@test "registry-pg: smqtt-issue -R registers on the server what smqtt-register add stores in a file" {
	pg_registry_setup
	smqtt-register -R piped.db init --ca ca/ca.crt
	printf 'A1 site=north feeder=7\nA2\n' > ids
	run smqtt-issue device --ca-dir ca -o certs -R "$REG" < ids
	assert_status 0
	assert_contains "smqtt-issue: 2 issued, 0 already issued, 0 rejected"
	assert_contains "smqtt-issue: $SHOWN: 2 added, 0 already registered, 0 keys retired"
	refute_contains "$PG_PASSWORD"
	printf '%s\n' "$output" | grep -v '^smqtt-issue:' > lines
	printf 'E1\n' | smqtt-issue device --ca-dir ca -o certs --type ed25519 -R "$REG" >> lines 2> /dev/null
	smqtt-register -R piped.db add < lines 2> /dev/null
	[ "$(q 'select count(*) from keys')" = 3 ]
	diff <(sqlite3 piped.db "select serial, fingerprint, device, state, key_type, lower(hex(public_key)),
		lower(hex(public_point)), not_before, not_after from keys order by serial") \
		<(q "select serial, fingerprint, device, state, key_type, encode(public_key, 'hex'),
		encode(public_point, 'hex'), not_before, not_after from keys order by serial")
	[ "$(smqtt-register -R "$REG" list)" = "$(smqtt-register -R piped.db list)" ]
	# A device revoked in the registry is refused a new certificate.
	smqtt-register -R "$REG" revoke A2 2> /dev/null
	run smqtt-issue device --ca-dir ca -o certs -R "$REG" <<< A2
	assert_status 1
	assert_contains "device A2: the device is revoked in $SHOWN; it takes no new keys"
}

@test "registry-pg: smqtt-verify -R passes good frames and refuses forged, unknown and revoked ones" {
	pg_registry_setup A B
	smqtt-register -R "$REG" add < issued 2> /dev/null
	{ sign A certs/A.key 3; sign B certs/B.key 2; } > good
	run --separate-stderr smqtt-verify -R "$REG" < good
	assert_status 0
	[ "$output" = "$(cat good)" ]
	[ "$(q "select id || '=' || last_seq from devices order by id" | tr '\n' ' ')" = "A=3 B=2 " ]
	smqtt-issue device --ca-dir ca -o certs <<< C > /dev/null 2>&1
	sign C certs/C.key > c.frames
	run smqtt-verify --registry "$REG" < c.frames
	assert_status 1
	assert_contains "smqtt-verify: line 1: device C seq 1: unknown device"
	meter_records 1 A | smqtt-sign -k certs/B.key -i A -S forged.seq > forged
	sed -i 's/ 1 / 9 /' forged
	run smqtt-verify -R "$REG" < forged
	assert_status 1
	assert_contains "device A seq 9: bad signature"
	smqtt-register -R "$REG" revoke B --reason keyCompromise 2> /dev/null
	sign B certs/B.key 1 > b.frames
	run smqtt-verify -R "$REG" < b.frames
	assert_status 1
	assert_contains "device B seq 3: revoked device"
}

@test "registry-pg: a verifier already running sees a revocation (the generation moved)" {
	pg_registry_setup A B
	smqtt-register -R "$REG" add < issued 2> /dev/null
	sign A certs/A.key 2 > a.frames
	sign B certs/B.key 1 > b.frames
	start_verifier -R "$REG"
	sed -n 1p a.frames >&6
	until_true lines_at_least out 1
	smqtt-register -R "$REG" revoke A --reason keyCompromise
	sed -n 2p a.frames >&6
	cat b.frames >&6
	until_true lines_at_least out 2
	exec 6>&-
	status=0
	wait "$verifier" || status=$?
	[ "$status" -eq 1 ]
	grep -q "smqtt-verify: line 2: device A seq 2: revoked device" err || fail "$(cat err)"
	[ "$(cat out)" = "$(sed -n 1p a.frames; cat b.frames)" ]
}

@test "registry-pg: replay state is kept on the server across restarts, window included" {
	pg_registry_setup A
	smqtt-register -R "$REG" add < issued 2> /dev/null
	sign A certs/A.key 6 > f
	sed -n '1p;2p;4p' f | smqtt-verify -R "$REG" > out.1
	[ "$(wc -l < out.1)" -eq 3 ]
	[ "$(q "select last_seq from devices where id = 'A'")" = 4 ]
	[ "$(q "select replay_window is not null from devices where id = 'A'")" = t ]
	{ sed -n 2p f; sed -n 3p f; sed -n 4p f; } > again
	run --separate-stderr smqtt-verify -R "$REG" < again
	assert_status 1
	[ "$output" = "$(sed -n 3p f)" ]
	[[ "$stderr" == *"line 1: device A seq 2: replay: seq already accepted (last accepted seq 4)"* ]] || fail "$stderr"
	[[ "$stderr" == *"1 verified, 1 rejected, 1 duplicates dropped"* ]] || fail "$stderr"
	# A frame on stdout means its sequence number is committed: kill -9 loses nothing.
	start_verifier -R "$REG"
	sed -n '5p;6p' f >&6
	until_true lines_at_least out 2
	[ "$(q "select last_seq from devices where id = 'A'")" = 6 ]
	kill -KILL "$verifier"
	exec 6>&-
	wait "$verifier" || true
	run smqtt-verify -R "$REG" < f
	assert_status 1
	[ "$(printf '%s\n' "$output" | grep -c ': replay: seq already accepted (last accepted seq 6)')" -eq 5 ]
	assert_contains "0 verified, 5 rejected, 1 duplicates dropped"
}

# The shared-registry scenarios: ten devices, 2000 frames each, round robin.
DEVICES=(D01 D02 D03 D04 D05 D06 D07 D08 D09 D10)

shared_setup() {
	pg_registry_setup "${DEVICES[@]}"
	smqtt-register -R "$REG" add < issued 2> /dev/null
	local d
	for d in "${DEVICES[@]}"; do
		meter_records 2000 "$d" | smqtt-sign -k "certs/$d.key" -i "$d" -S "$d.seq" > "$d.frames"
	done
	paste -d '\n' "${DEVICES[@]/%/.frames}" > frames
	[ "$(wc -l < frames)" -eq 20000 ]
}

# verifiers N ARGS...: N smqtt-verify -R REG ARGS at once on the same frames,
# into out.I and err.I; their pids in VPIDS. With PACE=K, each reads its
# frames K at a time with a pause of its own (0 to 40 ms) between.
start_verifiers() {
	local n=$1 i
	shift
	VPIDS=()
	for ((i = 1; i <= n; i++)); do
		if [ -n "${PACE:-}" ]; then
			awk -v k="$PACE" -v seed="$i" 'BEGIN { srand(seed) }
				{ print } NR % k == 0 { fflush(); system("sleep " rand() * 0.04) }' frames |
				smqtt-verify -R "$REG" "$@" > "out.$i" 2> "err.$i" &
		else
			smqtt-verify -R "$REG" "$@" < frames > "out.$i" 2> "err.$i" &
		fi
		VPIDS+=($!)
		PIDS+=($!)
	done
}

wait_verifiers() {
	local i
	STATUSES=()
	for ((i = 0; i < ${#VPIDS[@]}; i++)); do
		local st=0
		wait "${VPIDS[$i]}" || st=$?
		STATUSES+=("$st")
	done
}

# passed_once N: every frame was passed on by exactly one of the N verifiers,
# each other copy rejected as a replay or dropped as a duplicate, and the
# server holds each device's last number.
passed_once() {
	local n=$1 i
	local outs=()
	for ((i = 1; i <= n; i++)); do
		outs+=("out.$i")
		[ "${STATUSES[$((i - 1))]}" -le 1 ] || fail "verifier $i: status ${STATUSES[$((i - 1))]}: $(tail -n 3 "err.$i")"
	done
	sort "${outs[@]}" > both
	local twice
	twice=$(uniq -d both | wc -l)
	[ "$twice" -eq 0 ] || fail "$twice frames passed on by more than one verifier: $(uniq -d both | head -n 2)"
	cmp -s both <(sort frames) || fail "passed on: $(wc -l < both) of $(wc -l < frames) frames"
	local rejected=0 duplicates=0 dup
	for ((i = 1; i <= n; i++)); do
		rejected=$((rejected + $(grep -c ': replay: ' "err.$i" || true)))
		dup=$(sed -n 's/.* \([0-9]*\) duplicates dropped$/\1/p' "err.$i")
		duplicates=$((duplicates + ${dup:-0}))
	done
	[ "$((rejected + duplicates))" -eq $((20000 * (n - 1))) ] ||
		fail "$rejected replays and $duplicates duplicates"
	[ "$(q 'select string_agg(last_seq::text, $$,$$ order by id) from devices')" = "$(printf '2000,%.0s' {1..10} | sed 's/,$//')" ]
}

shares() {
	local i line="#"
	for ((i = 1; i <= $1; i++)); do
		line="$line verifier $i passed $(wc -l < "out.$i");"
	done
	echo "$line" >&3
}

@test "registry-pg: two verifiers started at once on the same 20000 frames pass each on once" {
	shared_setup
	start_verifiers 2
	wait_verifiers
	passed_once 2
	shares 2
}

@test "registry-pg: two verifiers with two threads each and a small cache pass each frame on once" {
	shared_setup
	start_verifiers 2 -j 2 --cache 4
	wait_verifiers
	passed_once 2
	shares 2
}

@test "registry-pg: four verifiers reading the same 20000 frames paced and interleaved pass each on once" {
	shared_setup
	PACE=1000 start_verifiers 4
	wait_verifiers
	passed_once 4
	shares 4
}

@test "registry-pg: four verifiers racing on one device pass each of its frames on once" {
	shared_setup
	cp D01.frames frames
	PACE=50 start_verifiers 4 --cache 1
	wait_verifiers
	local i
	for i in 0 1 2 3; do
		[ "${STATUSES[$i]}" -le 1 ] || fail "verifier $((i + 1)): status ${STATUSES[$i]}: $(tail -n 3 "err.$((i + 1))")"
	done
	sort out.1 out.2 out.3 out.4 > both
	[ -z "$(uniq -d both)" ] || fail "passed on twice: $(uniq -d both | head -n 2)"
	cmp -s both <(sort frames) || fail "passed on: $(wc -l < both) of 2000 frames"
	[ "$(q "select last_seq from devices where id = 'D01'")" -eq 2000 ]
	shares 4
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
	pg_registry_setup A
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
	pg_registry_setup A
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
	pg_registry_setup A
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
	pg_registry_setup
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
	pg_registry_setup
	q "update meta set value = '4' where name = 'schema_version'"
	run smqtt-register -R "$REG" list
	assert_status 3
	assert_contains "smqtt-register: registry $SHOWN: schema version 4; this program handles version 3 on a PostgreSQL server"
	q "update meta set value = '2' where name = 'schema_version'"
	run smqtt-verify -R "$REG" < /dev/null
	assert_status 3
	assert_contains "smqtt-verify: registry $SHOWN: schema version 2; this program handles version 3"
	refute_contains "$PG_PASSWORD"
}

@test "registry-pg: smqtt-pkg -R grants only what the registry on the server holds" {
	pg_registry_setup M1 M2
	smqtt-register -R "$REG" add < issued 2> /dev/null
	smqtt-register -R "$REG" set M1 kind=household feeder=F12
	smqtt-register -R "$REG" revoke M2 2> /dev/null
	smqtt-pkg setup -m master.key > params.pem
	mkdir -m 700 keys
	run smqtt-pkg keygen -R "$REG" --params params.pem -m master.key -o keys --epoch 2026-12 M1
	assert_status 0
	[ "$output" = "M1 key=keys/M1.cpkey cp feeder:F12 kind:household epoch:2026-12" ]
	run smqtt-pkg keygen -R "$REG" --params params.pem -m master.key -o keys M1 role:admin
	assert_status 1
	assert_contains "M1: attribute role:admin: not held by M1 in the registry"
	run smqtt-pkg keygen -R "$REG" --params params.pem -m master.key -o keys M2
	assert_status 1
	assert_contains "M2: revoked in the registry $SHOWN; no key issued"
	run smqtt-pkg keygen -R "$REG" --params params.pem -m master.key -o keys NOPE role:x
	assert_status 1
	assert_contains "NOPE: not in the registry $SHOWN"
	refute_contains "$PG_PASSWORD"
}

@test "registry-pg: registry.db in the configuration may name the server" {
	pg_registry_setup A
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
