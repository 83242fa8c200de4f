#!/usr/bin/env bats
# smqtt-issue device -R REGISTRY: devices are registered as they are issued,
# with exactly what `smqtt-issue device | smqtt-register add` would store.

load test_helper
load registry_helper

setup() {
	common_setup
	registry_fresh
}

# keys_of REGISTRY: every stored key column, one row per key, in serial order.
keys_of() {
	reg_sql_in "$1" "select serial, fingerprint, device, state, key_type, $(reg_hex public_key "$1"),
		$(reg_hex public_point "$1"), not_before, not_after, certificate from keys order by serial"
}

attributes_of() {
	reg_sql_in "$1" 'select device, name, value from attributes order by device, name'
}

@test "issue -R: the registry holds what smqtt-register add stores for the same certificates" {
	registry_setup
	# The registry smqtt-register add fills is a file, also when REG is on a
	# server: the two backends must hold the same.
	smqtt-register -R piped.db init --ca ca/ca.crt
	# Keys made here in three types, and keys supplied as a CSR and as a public key.
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout csr.key -subj /CN=C1 \
		-out c1.csr 2> /dev/null
	openssl genpkey -algorithm ed25519 -out pk.key
	openssl pkey -in pk.key -pubout -out pk.pub
	printf 'A1 site=north feeder=7\nA2\nC1 csr=c1.csr\nP1 pubkey=pk.pub zone=x\n' > ids
	run smqtt-issue device --ca-dir ca -o certs -R "$REG" < ids
	assert_status 0
	assert_contains "smqtt-issue: 4 issued, 0 already issued, 0 rejected"
	assert_contains "smqtt-issue: $REG_SHOWN: 4 added, 0 already registered, 0 keys retired"
	refute_password
	printf '%s\n' "$output" | grep -v '^smqtt-issue:' > lines
	[ "$(wc -l < lines)" = 4 ]
	printf 'B1\nB2 site=south\n' | smqtt-issue device --ca-dir ca -o certs --type p384 -R "$REG" >> lines 2> /dev/null
	printf 'E1\n' | smqtt-issue device --ca-dir ca -o certs --type ed25519 -R "$REG" >> lines 2> /dev/null
	run smqtt-register -R piped.db add < lines
	assert_status 0
	assert_contains "7 added"
	[ "$(reg_sql 'select count(*) from keys')" = 7 ]
	[ "$(reg_sql 'select key_type from keys order by device' | paste -sd' ')" = \
		"p256 p256 p384 p384 p256 ed25519 ed25519" ]
	diff <(keys_of piped.db) <(keys_of "$REG")
	diff <(attributes_of piped.db) <(attributes_of "$REG")
	[ "$(attributes_of "$REG" | wc -l)" = 4 ]
	[ "$(smqtt-register -R "$REG" list)" = "$(smqtt-register -R piped.db list)" ]
}

@test "issue -R: frames from the issued devices verify against the registry" {
	registry_setup
	printf 'M1\nM2\n' | smqtt-issue device --ca-dir ca -o certs -R "$REG" > /dev/null 2>&1
	{
		meter_records 3 M1 | smqtt-sign -k certs/M1.key -i M1 -S m1.seq
		meter_records 2 M2 | smqtt-sign -k certs/M2.key -i M2 -S m2.seq
	} > frames
	run smqtt-verify -R "$REG" < frames
	assert_status 0
	[ "$output" = "$(cat frames)" ]
	meter_records 1 M1 | smqtt-sign -k certs/M2.key -i M1 -S forged.seq | sed 's/ 1 / 9 /' > forged
	run smqtt-verify -R "$REG" < forged
	assert_status 1
	assert_contains "device M1 seq 9: bad signature"
}

@test "issue -R: on a re-run, certificates already in the registry stay; others are checked, then added" {
	registry_setup
	# X was issued without -R, so only its file exists; Y is registered.
	smqtt-issue device --ca-dir ca -o certs <<< X > /dev/null 2>&1
	smqtt-issue device --ca-dir ca -o certs -R "$REG" <<< Y > /dev/null 2>&1
	# Z's file is a certificate of another CA, put where smqtt-issue would write Z's.
	mkdir other
	smqtt-issue ca --ca-dir other/ca > /dev/null
	smqtt-issue device --ca-dir other/ca -o other <<< Z > /dev/null 2>&1
	cp other/Z.crt other/Z.key certs/
	reg_sql "select serial, fingerprint, state, added_at from keys where device = 'Y'" > y.before
	run smqtt-issue device --ca-dir ca -o certs -R "$REG" <<< $'X site=a\nY\nZ'
	assert_status 1
	assert_contains "smqtt-issue: stdin: line 3: device Z: not registered: not issued by the registry's CA"
	assert_contains "smqtt-issue: 0 issued, 3 already issued, 1 rejected"
	assert_contains "smqtt-issue: $REG_SHOWN: 1 added, 1 already registered, 0 keys retired"
	[ "$(smqtt-register -R "$REG" list)" = "X active 1 0 site=a
Y active 1 0" ]
	# Y's key is untouched, X's is the one in its file.
	diff y.before <(reg_sql "select serial, fingerprint, state, added_at from keys where device = 'Y'")
	[ "$(reg_sql "select count(*) from keys where device = 'Y'")" = 1 ]
	[ "$(reg_sql "select fingerprint from keys where device = 'X'")" = \
		"$(openssl x509 -in certs/X.crt -noout -fingerprint -sha256 | cut -d= -f2 | tr -d :)" ]
	# A third run changes nothing.
	keys_of "$REG" > second
	run smqtt-issue device --ca-dir ca -o certs -R "$REG" <<< $'X\nY'
	assert_status 0
	assert_contains "$REG_SHOWN: 0 added, 2 already registered, 0 keys retired"
	diff second <(keys_of "$REG")
}

@test "issue -R: a revoked device gets no certificate; --reissue is a key rotation" {
	registry_setup
	printf 'R1\nR2\n' | smqtt-issue device --ca-dir ca -o certs -R "$REG" > /dev/null 2>&1
	smqtt-register -R "$REG" revoke R1 2> /dev/null
	rm certs/R1.crt certs/R1.key
	run smqtt-issue device --ca-dir ca -o certs -R "$REG" <<< R1
	assert_status 1
	assert_contains "smqtt-issue: stdin: line 1: device R1: the device is revoked in $REG_SHOWN; it takes no new keys"
	refute_password
	assert_contains "0 issued, 0 already issued, 1 rejected"
	[ ! -e certs/R1.crt ]
	[ ! -e certs/R1.key ]
	old=$(reg_sql "select serial from keys where device = 'R2'")
	run smqtt-issue device --ca-dir ca -o certs -R "$REG" --reissue <<< R2
	assert_status 0
	assert_contains "$REG_SHOWN: 1 added, 0 already registered, 0 keys retired"
	[ "$(reg_sql "select count(*) from keys where device = 'R2' and state = 'active'")" = 2 ]
	new=$(openssl x509 -in certs/R2.crt -noout -serial | cut -d= -f2)
	[ "$new" != "$old" ]
	[ "$(reg_sql "select count(*) from keys where device = 'R2' and serial = '$new'")" = 1 ]
	# A third key retires the oldest. The three share their notBefore when
	# issued within a second; the one added first is retired, on a file by
	# its rowid, on a server by keys.added_order.
	run smqtt-issue device --ca-dir ca -o certs -R "$REG" --reissue <<< R2
	assert_contains "$REG_SHOWN: 1 added, 0 already registered, 1 keys retired"
	[ "$(reg_sql "select state from keys where device = 'R2' and serial = '$old'")" = retired ]
}

@test "issue -R: a registry of another CA, a missing registry or a misplaced -R is refused before issuing" {
	registry_setup
	smqtt-issue ca --ca-dir ca2 > /dev/null
	run smqtt-issue device --ca-dir ca2 -o certs -R "$REG" <<< D1
	assert_status 3
	[ "$output" = "smqtt-issue: $REG_SHOWN: the registry trusts another CA, not ca2/ca.crt" ]
	[ ! -e certs ]
	run smqtt-issue device --ca-dir ca -o certs -R missing.db <<< D1
	assert_status 3
	assert_contains "missing.db"
	[ ! -e certs ]
	[ ! -e missing.db ]
	echo 'not a database' > junk.db
	run smqtt-issue device --ca-dir ca -o certs -R junk.db <<< D1
	assert_status 3
	assert_contains "junk.db"
	[ ! -e certs ]
	run smqtt-issue ca --ca-dir ca3 -R "$REG"
	assert_status 2
	assert_contains "smqtt-issue: ca: -R REGISTRY is for the device command"
	[ ! -e ca3 ]
	[ "$(reg_sql 'select count(*) from devices')" = 0 ]
}

@test "issue: serial, fingerprint, cert and key are not attribute names; with -R values are ASCII" {
	registry_setup
	run smqtt-issue device --ca-dir ca -o certs <<< $'A1 serial=12\nA2 site=x'
	assert_status 1
	assert_contains 'smqtt-issue: stdin: line 1: device A1: attribute "serial=12": serial, fingerprint, cert and key are not attribute names'
	assert_contains "A2 serial="
	[ ! -e certs/A1.crt ]
	cat > m.yaml <<-EOF
		devices:
		  - id: B1
		    attributes:
		      key: x
	EOF
	run smqtt-issue device --ca-dir ca -o certs --manifest m.yaml
	assert_status 3
	assert_contains 'm.yaml:4: attribute name "key": serial, fingerprint, cert and key are not attribute names'
	[ ! -e certs/B1.crt ]
	run smqtt-issue device --ca-dir ca -o certs -R "$REG" <<< $'C1 town=K\xc3\xb6ln\nC2 town=Bonn'
	assert_status 1
	assert_contains "device C1: attribute values in a registry are printable ASCII"
	[ ! -e certs/C1.crt ]
	[ "$(smqtt-register -R "$REG" list)" = "C2 active 1 0 town=Bonn" ]
}

@test "issue -R: 10000 devices issued and registered in one step" {
	registry_setup
	seq -f 'meter-%05g' 1 10000 > ids
	run smqtt-issue device --ca-dir ca -o certs -R "$REG" < ids
	assert_status 0
	assert_contains "smqtt-issue: $REG_SHOWN: 10000 added, 0 already registered, 0 keys retired"
	[ "$(reg_sql "select count(*) from keys where state = 'active'")" = 10000 ]
	[ "$(reg_sql 'select count(distinct device) from keys')" = 10000 ]
	[ "$(smqtt-register -R "$REG" list | awk '$2 == "active"' | wc -l)" -eq 10000 ]
	# Every stored certificate is the file written for its device (a sample).
	for d in meter-00001 meter-05000 meter-10000; do
		reg_sql "select certificate from keys where device = '$d'" > stored.pem
		cmp <(openssl x509 -in stored.pem -outform DER) <(openssl x509 -in "certs/$d.crt" -outform DER)
	done
	# A file's own consistency check; a server has none to ask.
	if ! registry_on_server; then
		[ "$(reg_sql 'pragma integrity_check')" = ok ]
	fi
}

@test "issue -R: a CA certificate outside its validity is refused; a revoked id is still a duplicate later" {
	registry_setup
	mkdir old
	: > old/index.txt
	echo 01 > old/serial
	cat > old/cnf <<-EOF
		[ca]
		default_ca = c
		[c]
		database = old/index.txt
		new_certs_dir = old
		serial = old/serial
		default_md = sha256
		policy = p
		x509_extensions = x
		unique_subject = no
		[p]
		commonName = supplied
		[x]
		basicConstraints = critical,CA:TRUE
		keyUsage = critical,keyCertSign,cRLSign
		subjectKeyIdentifier = hash
	EOF
	openssl req -new -key ca/ca.key -subj '/CN=expired CA' -out old/req.csr
	openssl ca -batch -notext -selfsign -config old/cnf -keyfile ca/ca.key -in old/req.csr -out old/ca.crt \
		-startdate 20200101000000Z -enddate 20210101000000Z 2> /dev/null
	cp -r ca expired
	cp old/ca.crt expired/ca.crt
	expired=$(registry_new expired)
	smqtt-register -R "$expired" init --ca expired/ca.crt
	run smqtt-issue device --ca-dir expired -o certs -R "$expired" <<< D1
	assert_status 3
	[ "$output" = "smqtt-issue: expired/ca.crt: the CA certificate has expired; the registry would take no certificate it signs" ]
	[ ! -e certs ]
	printf 'R1\n' | smqtt-issue device --ca-dir ca -o certs -R "$REG" > /dev/null 2>&1
	smqtt-register -R "$REG" revoke R1 2> /dev/null
	run smqtt-issue device --ca-dir ca -o certs -R "$REG" --reissue <<< $'R1\nR1'
	assert_status 1
	assert_contains "line 1: device R1: the device is revoked in $REG_SHOWN; it takes no new keys"
	assert_contains "line 2: device R1: duplicate of line 1"
}

@test "issue -R: killed at any moment, every registered certificate is in the CA index" {
	registry_setup
	seq -f 'k%05g' 1 20000 > ids
	smqtt-issue device --ca-dir ca -o certs -R "$REG" < ids > /dev/null 2>&1 &
	pid=$!
	for i in $(seq 200); do
		n=$(reg_sql 'select count(*) from keys' 2> /dev/null || echo 0)
		[ "${n:-0}" -gt 0 ] && break
		sleep 0.05
	done
	kill -9 "$pid"
	wait "$pid" || true
	sleep 0.5 # the workers notice that the main process is gone
	[ "$(reg_sql 'select count(*) from keys')" -gt 0 ]
	cut -d' ' -f1 ca/index.txt | sort > indexed
	reg_sql 'select serial from keys' | sort > registered
	[ "$(comm -13 indexed registered | wc -l)" = 0 ]
	# The next run registers what the killed one issued but did not register, and finishes the batch.
	run smqtt-issue device --ca-dir ca -o certs -R "$REG" < ids
	assert_status 0
	[ "$(reg_sql 'select count(*) from keys')" = 20000 ]
	[ "$(reg_sql 'select count(distinct device) from keys')" = 20000 ]
}
