#!/usr/bin/env bats
# smqtt-register: only certificates fit for a device get in; every refusal is
# named by its input line; the registry is safe to read while it is written.

load test_helper
load registry_helper

setup() {
	common_setup
	registry_fresh
}

# devices_in: number of devices in the registry, straight from the database.
devices_in() {
	reg_sql 'select count(*) from devices'
}

@test "register: init creates a versioned registry (in a file, in WAL mode) trusting the CA" {
	registry_setup
	if registry_on_server; then
		[ "$(reg_sql "select value from meta where name = 'schema_version'")" = 4 ]
	else
		[ "$(reg_sql 'pragma user_version')" = 3 ]
		[ "$(reg_sql 'pragma journal_mode')" = wal ]
	fi
	[ "$(reg_sql "select value from meta where name = 'format'")" = smqtt-registry ]
	reg_sql "select value from meta where name = 'ca_certificate'" > stored.pem
	[ "$(openssl x509 -in stored.pem -noout -fingerprint -sha256)" = "$(openssl x509 -in ca/ca.crt -noout -fingerprint -sha256)" ]
	run smqtt-register -R "$REG" init --ca ca/ca.crt
	assert_status 3
	assert_contains "smqtt-register: registry $REG_SHOWN: already exists"
	refute_password
	run smqtt-register -R new.db init
	assert_status 2
	assert_contains "--ca CAFILE"
	smqtt-issue device --ca-dir ca -o certs <<< D1 > /dev/null 2>&1
	run smqtt-register -R new.db init --ca certs/D1.crt
	assert_status 3
	assert_contains "not a CA certificate"
	[ ! -e new.db ]
	run smqtt-register -R missing.db list
	assert_status 3
	assert_contains "registry missing.db: No such file or directory"
	echo junk > junk.db
	run smqtt-register -R junk.db list
	assert_status 3
	assert_contains "junk.db"
	sqlite3 other.db 'create table t (x)'
	run smqtt-register -R other.db list
	assert_status 3
	assert_contains "not an smqtt registry"
}

@test "register: smqtt-issue lines and PEM certificates are added, with attributes" {
	registry_setup M1 'M2 site=north feeder=7'
	smqtt-issue device --ca-dir ca -o certs <<< M3 > /dev/null 2>&1
	run smqtt-register -R "$REG" add < issued
	assert_status 0
	assert_contains "smqtt-register: 2 added, 0 already registered, 0 rejected, 0 keys retired"
	cat certs/M3.crt > pems
	run smqtt-register -R "$REG" add < pems
	assert_status 0
	assert_contains "1 added"
	run smqtt-register -R "$REG" list
	assert_status 0
	[ "$output" = "M1 active 1 0
M2 active 1 0 feeder=7 site=north
M3 active 1 0" ]
	serial=$(openssl x509 -in certs/M2.crt -noout -serial | cut -d= -f2)
	fingerprint=$(openssl x509 -in certs/M2.crt -noout -fingerprint -sha256 | cut -d= -f2 | tr -d :)
	run smqtt-register -R "$REG" show M2
	assert_status 0
	assert_contains "device M2"
	assert_contains "state active"
	assert_contains "last_seq 0"
	assert_contains "attribute site=north"
	assert_contains "key $serial active p256 "
	assert_contains " $fingerprint"
	# What is stored is what the certificate holds.
	[ "$(reg_sql "select serial from keys where device = 'M2'")" = "$serial" ]
	openssl x509 -in certs/M2.crt -pubkey -noout | openssl pkey -pubin -outform DER > spki.der
	[ "$(reg_sql "select $(reg_hex public_key) from keys where device = 'M2'")" = "$(od -An -tx1 -v spki.der | tr -d ' \n' | tr a-f A-F)" ]
	[ "$(reg_sql "select not_after from keys where device = 'M2'")" = \
		"$(date -u -d "$(openssl x509 -in certs/M2.crt -noout -enddate | cut -d= -f2)" +%s)" ]
	reg_sql "select certificate from keys where device = 'M2'" > m2.pem
	cmp <(openssl x509 -in m2.pem -outform DER) <(openssl x509 -in certs/M2.crt -outform DER)
}

@test "register: adding the same certificates again changes nothing and is counted" {
	registry_setup A B C
	smqtt-register -R "$REG" add < issued 2> /dev/null
	reg_sql 'select * from keys order by serial' > before
	run smqtt-register -R "$REG" add < issued
	assert_status 0
	assert_contains "0 added, 3 already registered, 0 rejected, 0 keys retired"
	cat certs/A.crt certs/B.crt | smqtt-register -R "$REG" add 2> err
	grep -q "0 added, 2 already registered" err
	reg_sql 'select * from keys order by serial' > after
	cmp before after
	[ "$(devices_in)" = 3 ]
	# The same certificate twice in one input is added once.
	smqtt-issue device --ca-dir ca -o certs <<< D > /dev/null 2>&1
	cat certs/D.crt certs/D.crt | smqtt-register -R "$REG" add 2> err
	grep -q "1 added, 1 already registered" err
}

@test "register: each bad certificate or line is named, and the rest is still added" {
	registry_setup GOOD1 GOOD2 ROGUE
	smqtt-issue ca --ca-dir other > /dev/null
	smqtt-issue device --ca-dir other -o othercerts <<< STRANGER > other.issued 2> /dev/null
	smqtt-issue server --ca-dir ca -o server --dns broker.example broker > /dev/null 2>&1
	odd_cert expired OLD 20200101000000Z 20210101000000Z "$DEVICE_EXTENSIONS"
	odd_cert future LATER 20990101000000Z 21000101000000Z "$DEVICE_EXTENSIONS"
	odd_cert noeku NOEKU 20200101000000Z 20990101000000Z 'keyUsage=critical,digitalSignature'
	odd_cert noku NOKU 20200101000000Z 20990101000000Z 'extendedKeyUsage=clientAuth'
	odd_cert badcn 'not a device' 20200101000000Z 20990101000000Z "$DEVICE_EXTENSIONS"
	good1=$(grep '^GOOD1 ' issued)
	good2=$(grep '^GOOD2 ' issued)
	rogue=$(grep '^ROGUE ' issued)
	{
		echo "$good1"                                             # 1
		cat other.issued                                          # 2 wrong CA
		issue_line OLD expired.crt                                # 3 expired
		issue_line LATER future.crt                               # 4 not yet valid
		issue_line NOEKU noeku.crt                                # 5 no clientAuth EKU
		issue_line NOKU noku.crt                                  # 6 no digitalSignature KU
		issue_line BADCN badcn.crt                                # 7 CN not a device id
		issue_line broker server/broker.crt                       # 8 a server certificate
		echo "${rogue/ROGUE /OTHER }"                             # 9 CN is not the device
		echo "${rogue/serial=/serial=00}"                         # 10 serial does not match
		echo "${rogue/fingerprint=/fingerprint=AB}"               # 11 fingerprint does not match
		echo "${rogue/cert=/cert=missing-}"                       # 12 no such file
		echo "bad/id serial=01 fingerprint=AB cert=x.crt"         # 13 invalid device id
		echo "$rogue Bad=1"                                       # 14 bad attribute name
		echo "ROGUE serial=01 fingerprint=AB"                     # 15 no cert=
		issue_line CA ca/ca.crt                                   # 16 the CA itself
		echo "$good2"                                             # 17
	} > input
	run smqtt-register -R "$REG" add < input
	assert_status 1
	assert_contains "smqtt-register: stdin: line 2: device STRANGER: not issued by the registry's CA"
	assert_contains "stdin: line 3: device OLD: certificate has expired"
	assert_contains "stdin: line 4: device LATER: certificate is not yet valid"
	assert_contains "stdin: line 5: device NOEKU: no clientAuth extended key usage"
	assert_contains "stdin: line 6: device NOKU: no digitalSignature key usage"
	assert_contains "stdin: line 7: device BADCN: subject CN is not a valid device id"
	assert_contains "stdin: line 8: device broker: no clientAuth extended key usage"
	assert_contains "stdin: line 9: device OTHER: certificate CN ROGUE is not the device id"
	assert_contains "stdin: line 10: device ROGUE: serial=00"
	assert_contains "does not match the certificate"
	assert_contains "stdin: line 11: device ROGUE: fingerprint=AB"
	assert_contains "stdin: line 12: device ROGUE: cert missing-certs/ROGUE.crt: No such file or directory"
	assert_contains "stdin: line 13: bad/id: invalid device id"
	assert_contains "stdin: line 14: device ROGUE: Bad=1: attribute names are"
	assert_contains "stdin: line 15: device ROGUE: no cert=PATH field"
	assert_contains "stdin: line 16: device CA: a CA certificate, not a device certificate"
	assert_contains "2 added, 0 already registered, 15 rejected, 0 keys retired"
	refute_contains "line 1:"
	refute_contains "line 17:"
	[ "$(smqtt-register -R "$REG" list | cut -d' ' -f1 | tr '\n' ' ')" = "GOOD1 GOOD2 " ]
}

@test "register: bad PEM blocks are named by certificate number and line" {
	registry_setup G1 G2
	odd_cert expired OLD 20200101000000Z 20210101000000Z "$DEVICE_EXTENSIONS"
	{
		cat certs/G1.crt                      # lines 1-?: certificate 1
		cat expired.crt                       # certificate 2
		cat certs/G1.key                      # a private key: refused, not echoed
		echo "-----BEGIN CERTIFICATE-----"    # certificate 3: garbage inside
		echo "bm90IGEgY2VydGlmaWNhdGU="
		echo "-----END CERTIFICATE-----"
		cat certs/G2.crt                      # certificate 4
		echo "-----BEGIN CERTIFICATE-----"    # certificate 5: no END
		echo "MIIB"
	} > input
	l2=$(($(wc -l < certs/G1.crt) + 1))
	lkey=$((l2 + $(wc -l < expired.crt)))
	l3=$((lkey + $(wc -l < certs/G1.key)))
	l5=$((l3 + 3 + $(wc -l < certs/G2.crt)))
	run smqtt-register -R "$REG" add < input
	assert_status 1
	assert_contains "stdin: certificate 2 (line $l2): device OLD: certificate has expired"
	assert_contains "stdin: line $lkey: a PEM PRIVATE KEY block, not a certificate"
	assert_contains "stdin: certificate 3 (line $l3): "
	assert_contains "stdin: certificate 5 (line $l5): no END line"
	assert_contains "2 added, 0 already registered, 4 rejected"
	refute_contains "$(sed -n 2p certs/G1.key)"
	# Reported in input order.
	printf '%s\n' "$output" | grep -o 'line [0-9]*' | cut -d' ' -f2 > order
	[ "$(wc -l < order)" -eq 4 ]
	sort -n -c order || fail "messages out of line order: $output"
	[ "$(devices_in)" = 2 ]
}

@test "register: a new certificate is a key rotation; the two newest keys stay active" {
	registry_setup R
	smqtt-register -R "$REG" add < issued 2> /dev/null
	first=$(reg_sql "select serial from keys where device = 'R'")
	sleep 1 # notBefore has one-second resolution; the newest key must be unambiguous
	smqtt-issue device --ca-dir ca -o certs2 <<< R > second.issued 2> /dev/null
	run smqtt-register -R "$REG" add < second.issued
	assert_status 0
	assert_contains "1 added, 0 already registered, 0 rejected, 0 keys retired"
	[ "$(reg_sql "select count(*) from keys where device = 'R' and state = 'active'")" = 2 ]
	run smqtt-register -R "$REG" list
	[ "$output" = "R active 2 0" ]
	sleep 1
	smqtt-issue device --ca-dir ca -o certs3 <<< R > third.issued 2> /dev/null
	run smqtt-register -R "$REG" add < third.issued
	assert_status 0
	assert_contains "1 added, 0 already registered, 0 rejected, 1 keys retired"
	[ "$(reg_sql "select state from keys where serial = '$first'")" = retired ]
	[ "$(reg_sql "select count(*) from keys where device = 'R' and state = 'active'")" = 2 ]
	# --retire-old ends the rollover at once.
	sleep 1
	smqtt-issue device --ca-dir ca -o certs4 <<< R > fourth.issued 2> /dev/null
	run smqtt-register -R "$REG" add --retire-old < fourth.issued
	assert_status 0
	assert_contains "1 added, 0 already registered, 0 rejected, 2 keys retired"
	newest=$(cut -d' ' -f2 fourth.issued | cut -d= -f2)
	[ "$(reg_sql "select serial from keys where device = 'R' and state = 'active'")" = "$newest" ]
	# show lists the active key first
	run smqtt-register -R "$REG" show R
	[ "$(printf '%s\n' "$output" | grep '^key ' | head -n 1 | cut -d' ' -f2,3)" = "$newest active" ]
	[ "$(printf '%s\n' "$output" | grep -c '^key .* retired ')" = 3 ]
}

@test "register: retire stops one key; revoke stops a device and lists its keys for the CRL" {
	registry_setup A B C
	smqtt-register -R "$REG" add < issued 2> /dev/null
	a=$(grep '^A ' issued | cut -d' ' -f2 | cut -d= -f2)
	b=$(grep '^B ' issued | cut -d' ' -f2 | cut -d= -f2)
	c=$(grep '^C ' issued | cut -d' ' -f2 | cut -d= -f2)
	run smqtt-register -R "$REG" retire A "$(printf '%s' "$a" | tr A-F a-f)"
	assert_status 0
	[ "$(reg_sql "select state from keys where serial = '$a'")" = retired ]
	run smqtt-register -R "$REG" list
	assert_contains "A inactive 0 0"
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
	run smqtt-register -R "$REG" show B
	assert_contains "state revoked"
	assert_contains "revocation_reason keyCompromise"
	assert_contains "key $b revoked p256"
	run smqtt-register -R "$REG" revoked
	assert_status 0
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 2 ]
	printf '%s\n' "$output" | grep -qE "^$b B [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z keyCompromise\$"
	printf '%s\n' "$output" | grep -qE "^$c C [0-9T:Z-]+ cessationOfOperation\$"
	# smqtt-issue crl takes the list as it is, and openssl reads the CRL.
	smqtt-register -R "$REG" revoked | smqtt-issue crl --ca-dir ca > crl.pem
	openssl crl -in crl.pem -noout -text > crl.txt
	grep -q "Serial Number: $b" crl.txt
	grep -q "Serial Number: $c" crl.txt
	grep -q "Key Compromise" crl.txt
	! grep -q "Serial Number: $a" crl.txt
	# A revoked device takes no new keys.
	smqtt-issue device --ca-dir ca -o again --reissue <<< B > b2.issued 2> /dev/null
	run smqtt-register -R "$REG" add < b2.issued
	assert_status 1
	assert_contains "stdin: line 1: device B: the device is revoked; it takes no new keys"
	run smqtt-register -R "$REG" revoke A --reason removeFromCRL
	assert_status 2
	assert_contains "not an RFC 5280 revocation reason"
}

@test "register: attributes: set, get, unset; bad names and values are usage errors" {
	registry_setup D
	smqtt-register -R "$REG" add < issued 2> /dev/null
	smqtt-register -R "$REG" set D site=north 'note=a"b\c,d' meter_type=3ph
	run smqtt-register -R "$REG" get D note
	assert_status 0
	[ "$output" = 'a"b\c,d' ]
	smqtt-register -R "$REG" set D site=south
	[ "$(smqtt-register -R "$REG" get D site)" = south ]
	smqtt-register -R "$REG" unset D meter_type
	run smqtt-register -R "$REG" get D meter_type
	assert_status 1
	assert_contains "device D: no such attribute"
	run smqtt-register -R "$REG" get NOPE site
	assert_status 1
	assert_contains "device NOPE: not registered"
	run smqtt-register -R "$REG" set NOPE site=x
	assert_status 1
	assert_contains "device NOPE: not registered"
	run smqtt-register -R "$REG" set D Site=x
	assert_status 2
	run smqtt-register -R "$REG" set D 'site=two words'
	assert_status 2
	assert_contains "without spaces"
	run smqtt-register -R "$REG" set D serial=1
	assert_status 2
	assert_contains "not attribute names"
	run smqtt-register -R "$REG" set D site
	assert_status 2
	assert_contains "expected NAME=VALUE"
	run smqtt-register -R "$REG" unset D nothing_here
	assert_status 0
	assert_contains "attribute nothing_here was not set"
}

@test "register: list and show as JSON and CSV, escaped properly" {
	command -v python3 > /dev/null || fail "python3 is required (make deps installs it)"
	registry_setup D1 D2
	smqtt-register -R "$REG" add < issued 2> /dev/null
	smqtt-register -R "$REG" set D1 'note=q"uo\te,comma' site=x
	smqtt-register -R "$REG" revoke D2 --reason superseded
	smqtt-register -R "$REG" list --json > list.json
	python3 -m json.tool list.json > /dev/null || fail "list --json is not valid JSON: $(cat list.json)"
	python3 - list.json <<-'PY'
		import json, sys
		devices = json.load(open(sys.argv[1]))
		assert [d["device"] for d in devices] == ["D1", "D2"], devices
		assert devices[0]["attributes"] == {"note": 'q"uo\\te,comma', "site": "x"}, devices[0]
		assert devices[0]["state"] == "active" and devices[0]["revoked_at"] is None
		assert devices[1]["state"] == "revoked" and devices[1]["revocation_reason"] == "superseded"
	PY
	smqtt-register -R "$REG" show D1 --json > show.json
	python3 -m json.tool show.json > /dev/null || fail "show --json is not valid JSON: $(cat show.json)"
	python3 - show.json certs/D1.crt <<-'PY'
		import json, subprocess, sys
		d = json.load(open(sys.argv[1]))
		serial = subprocess.run(["openssl", "x509", "-in", sys.argv[2], "-noout", "-serial"],
		                        capture_output=True, text=True).stdout.strip().split("=")[1]
		assert d["keys"][0]["serial"] == serial and d["keys"][0]["state"] == "active", d
		assert d["last_seq"] == 0 and d["active_keys"] == 1
	PY
	smqtt-register -R "$REG" list --csv > list.csv
	python3 - list.csv <<-'PY'
		import csv, sys
		rows = list(csv.DictReader(open(sys.argv[1], newline="")))
		assert [r["device"] for r in rows] == ["D1", "D2"], rows
		assert rows[0]["attributes"] == 'note=q"uo\\te,comma site=x', rows[0]
		assert rows[1]["revocation_reason"] == "superseded"
	PY
	run smqtt-register -R "$REG" show D2 --csv
	assert_status 0
	[ "$(printf '%s\n' "$output" | head -n 1)" = "device,serial,state,type,not_before,not_after,fingerprint,added_at,retired_at,revoked_at,revocation_reason" ]
	printf '%s\n' "$output" | sed -n 2p | grep -q '^D2,[0-9A-F]*,revoked,p256,.*,superseded$'
	# An empty registry is still valid JSON.
	smqtt-issue ca --ca-dir ca2 > /dev/null
	empty=$(registry_new empty)
	smqtt-register -R "$empty" init --ca ca2/ca.crt
	[ "$(smqtt-register -R "$empty" list --json)" = "[]" ]
	run smqtt-register -R "$REG" list --csv --json
	assert_status 2
}

@test "register: cert prints the active certificates, usable by smqtt-verify -c" {
	registry_setup M
	smqtt-register -R "$REG" add < issued 2> /dev/null
	smqtt-register -R "$REG" cert M > m.pem
	cmp <(openssl x509 -in m.pem -outform DER) <(openssl x509 -in certs/M.crt -outform DER)
	echo 'M,r' | smqtt-sign -k certs/M.key -i M > f
	smqtt-verify -c m.pem < f > out
	cmp f out
	run smqtt-register -R "$REG" cert NOPE
	assert_status 1
	assert_contains "device NOPE: not registered"
}

@test "register: readers work while a writer holds the registry; a second writer waits" {
	registry_setup A B
	smqtt-register -R "$REG" add < issued 2> /dev/null
	# Hold a write transaction open until told to commit: in sqlite3 for a
	# file; in psql on a server, holding the advisory lock every writer takes
	# first (its key is in registry.c).
	mkfifo ctl
	if registry_on_server; then
		"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U "$PG_USER" -d "$REG_DB" \
			< ctl > /dev/null 2>&1 &
		holder=$!
		exec 5> ctl
		echo "begin; select pg_advisory_xact_lock(8317428831806973287);
			update devices set last_seq = 5 where id = 'A';" >&5
		# Wait until the lock is taken: trying to take it from here then fails.
		for _ in $(seq 100); do
			[ "$(reg_sql 'select pg_try_advisory_xact_lock(8317428831806973287)')" = t ] || break
			sleep 0.1
		done
		[ "$(reg_sql 'select pg_try_advisory_xact_lock(8317428831806973287)')" = f ] ||
			fail "the write lock was never taken"
	else
		sqlite3 "$REG" < ctl > /dev/null 2>&1 &
		holder=$!
		exec 5> ctl
		echo "begin immediate; update devices set last_seq = 5 where id = 'A';" >&5
		# Wait until the lock is taken: taking it from here then fails at once.
		for _ in $(seq 100); do
			sqlite3 "$REG" 'begin immediate; rollback' 2> /dev/null || break
			sleep 0.1
		done
		! sqlite3 "$REG" 'begin immediate; rollback' 2> /dev/null || fail "the write lock was never taken"
	fi
	run smqtt-register -R "$REG" list
	assert_status 0
	[ "$output" = "A active 1 0
B active 1 0" ]
	run smqtt-register -R "$REG" show A --json
	assert_status 0
	smqtt-register -R "$REG" set B site=x 2> set.err &
	writer=$!
	sleep 1
	kill -0 "$writer" || fail "the second writer did not wait for the lock: $(cat set.err)"
	echo "commit;" >&5
	exec 5>&-
	wait "$holder"
	wait "$writer" || fail "the waiting writer failed: $(cat set.err)"
	[ "$(smqtt-register -R "$REG" get B site)" = x ]
	[ "$(smqtt-register -R "$REG" list | head -n 1)" = "A active 1 5" ]
}

@test "register: 10000 devices issued and registered through a pipe" {
	registry_setup
	seq -f 'meter-%05g' 1 10000 > ids
	start=$(date +%s)
	smqtt-issue device --ca-dir ca -o certs < ids 2> issue.err | smqtt-register -R "$REG" add 2> add.err
	end=$(date +%s)
	grep -q "smqtt-register: 10000 added, 0 already registered, 0 rejected" add.err || fail "$(cat add.err issue.err)"
	[ "$(devices_in)" = 10000 ]
	[ "$(reg_sql "select count(*) from keys where state = 'active'")" = 10000 ]
	[ "$(smqtt-register -R "$REG" list | wc -l)" -eq 10000 ]
	[ "$(smqtt-register -R "$REG" list | awk '$2 != "active"' | wc -l)" -eq 0 ]
	echo "# 10000 devices issued and registered in $((end - start)) s" >&3
	# A listing longer than any pipe buffer stops quietly when its reader goes away.
	run bash -c 'smqtt-register -R "$1" list --json | head -n 2' bash "$REG"
	assert_status 0
	refute_contains "smqtt-register:"
	assert_contains '{"device": "meter-00001"'

}

@test "register: usage errors" {
	registry_setup D
	run smqtt-register list
	assert_status 2
	assert_contains "no registry given"
	run smqtt-register -R "$REG"
	assert_status 2
	assert_contains "no command given"
	run smqtt-register -R "$REG" frobnicate
	assert_status 2
	assert_contains "frobnicate: unknown command"
	run smqtt-register -R "$REG" add --csv < /dev/null
	assert_status 2
	assert_contains "add: --csv and --json are for list and show"
	run smqtt-register -R "$REG" show
	assert_status 2
	assert_contains "show: wrong number of arguments"
	run smqtt-register -R "$REG" show 'A B'
	assert_status 2
	assert_contains "invalid device id"
	run smqtt-register -R "$REG" list --reason keyCompromise
	assert_status 2
	run smqtt-register -R "$REG" retire D xyz
	assert_status 2
	assert_contains "xyz: not a serial number"
	run smqtt-register -R "$REG" list --retire-old
	assert_status 2
	run smqtt-register --help
	assert_status 0
	assert_contains "usage: smqtt-register"
}

@test "register: a full stdout is an error" {
	registry_setup A B C
	smqtt-register -R "$REG" add < issued 2> /dev/null
	run sh -c 'smqtt-register -R "$1" list > /dev/full' sh "$REG"
	assert_status 4
	assert_contains "writing stdout"
}

@test "register add: on a terminal, progress shows the total when stdin is a file; messages start their own line" {
	registry_setup D1 D2 D3
	{ sed -n 1p issued; echo 'bad_line'; sed -n '2,3p' issued; } > input
	# script(1) runs the command with a terminal for stderr.
	run script -qec "smqtt-register -R '$REG' add < input" /dev/null < /dev/null
	assert_status 1
	assert_contains "smqtt-register: 4 devices, 100% of 4 lines, "
	assert_contains "smqtt-register: 3 added, 0 already registered, 1 rejected, 0 keys retired"
	[ "$(devices_in)" -eq 3 ]
	# The rejected line is reported on a line of its own, not after a progress line.
	message=$(printf '%s\n' "$output" | tr '\r' '\n' | grep 'stdin: line 2: ')
	[ "$message" = "smqtt-register: stdin: line 2: device bad_line: no cert=PATH field" ] || fail "message line: $message"
	# Through a pipe the total is not known: the count and the rate only.
	reg2=$(registry_new reg2)
	smqtt-register -R "$reg2" init --ca ca/ca.crt
	run script -qec "cat issued | smqtt-register -R '$reg2' add" /dev/null < /dev/null
	assert_status 0
	assert_contains "smqtt-register: 3 devices, "
	refute_contains "% of"
}
