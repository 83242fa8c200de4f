#!/usr/bin/env bats
# smqtt-issue: CA, batch device certificates, broker certificates, CRLs.

load test_helper

setup() {
	common_setup
	smqtt-issue ca --ca-dir ca > ca.out
}

@test "issue ca: key 0600, self-signed CA certificate, also on stdout" {
	[ "$(stat -c %a ca/ca.key)" = 600 ]
	openssl verify -CAfile ca/ca.crt ca/ca.crt
	openssl x509 -in ca/ca.crt -noout -ext basicConstraints,keyUsage | grep -q 'CA:TRUE'
	openssl x509 -in ca/ca.crt -noout -ext keyUsage | grep -q 'Certificate Sign, CRL Sign'
	cmp <(openssl x509 -in ca.out) <(openssl x509 -in ca/ca.crt)
	[ "$(openssl x509 -in ca/ca.crt -noout -subject)" = "subject=CN = smqtt root CA" ]
}

@test "issue ca: never replaced without -f; P-384, name and validity options" {
	run smqtt-issue ca --ca-dir ca
	assert_status 3
	assert_contains "already exists (use -f to replace the CA)"
	smqtt-issue ca --ca-dir ca384 --type p384 --cn 'Grid Operator CA' --days 30 > /dev/null
	openssl x509 -in ca384/ca.crt -noout -text | grep -q 'NIST CURVE: P-384'
	openssl x509 -in ca384/ca.crt -noout -text | grep -q 'ecdsa-with-SHA384'
	openssl x509 -in ca384/ca.crt -noout -subject | grep -q 'Grid Operator CA'
	openssl x509 -in ca384/ca.crt -noout -checkend $((29 * 86400)) > /dev/null
	! openssl x509 -in ca384/ca.crt -noout -checkend $((31 * 86400)) > /dev/null
	run smqtt-issue ca --ca-dir e --type ed25519
	assert_status 2
}

@test "issue device: one key and certificate per id, with the device profile" {
	printf 'meter-1 site=north feeder=F12\nmeter-2\n' | smqtt-issue device --ca-dir ca -o out > issued
	[ "$(wc -l < issued)" -eq 2 ]
	[ "$(stat -c %a out/meter-1.key)" = 600 ]
	openssl verify -CAfile ca/ca.crt out/meter-1.crt out/meter-2.crt
	openssl x509 -in out/meter-1.crt -noout -subject | grep -q 'CN = meter-1'
	text=$(openssl x509 -in out/meter-1.crt -noout -text)
	[[ "$text" == *"TLS Web Client Authentication"* ]]
	[[ "$text" == *"Digital Signature"* ]]
	[[ "$text" == *"CA:FALSE"* ]]
	[ "$(openssl x509 -in out/meter-1.crt -noout -pubkey)" = "$(openssl pkey -in out/meter-1.key -pubout)" ]
	# serial: random, 128 bits, positive; fingerprint: SHA-256 of the DER
	serial=$(openssl x509 -in out/meter-1.crt -noout -serial | cut -d= -f2)
	[ ${#serial} -eq 32 ]
	fp=$(openssl x509 -in out/meter-1.crt -noout -fingerprint -sha256 | cut -d= -f2 | tr -d :)
	[ "$(sed -n 1p issued)" = "meter-1 serial=$serial fingerprint=$fp cert=out/meter-1.crt key=out/meter-1.key site=north feeder=F12" ]
	[ "$(sed -n 2p issued | cut -d' ' -f1,4,5)" = "meter-2 cert=out/meter-2.crt key=out/meter-2.key" ]
	[ "$(openssl x509 -in out/meter-2.crt -noout -serial)" != "serial=$serial" ]
}

@test "issue device: the keys sign frames that verify against the certificates" {
	echo m1 | smqtt-issue device --ca-dir ca -o out > /dev/null
	echo 'ABC,t,0,1' | smqtt-sign -k out/m1.key -c out/m1.crt > f
	smqtt-verify -c out/m1.crt < f > /dev/null
}

@test "issue device: re-runs skip issued devices unless --reissue" {
	printf 'a\nb\n' | smqtt-issue device --ca-dir ca -o out > first 2> err1
	grep -q "2 issued, 0 already issued" err1
	printf 'a\nb\nc\n' | smqtt-issue device --ca-dir ca -o out > second 2> err2
	grep -q "1 issued, 2 already issued" err2
	[ "$(head -n 2 second)" = "$(cat first)" ]
	echo a | smqtt-issue device --ca-dir ca -o out --reissue > third 2> /dev/null
	[ "$(cut -d' ' -f2 third)" != "$(head -n 1 first | cut -d' ' -f2)" ]
	openssl verify -CAfile ca/ca.crt out/a.crt
	[ "$(grep -c ' a ' ca/index.txt)" -eq 2 ]
}

@test "issue device: a key left by an interrupted run is certified, not replaced" {
	smqtt-keygen -k left.key > left.pub
	mkdir -p out && chmod 700 out && cp -p left.key out/left.key
	echo left | smqtt-issue device --ca-dir ca -o out > /dev/null 2>&1
	[ "$(openssl x509 -in out/left.crt -noout -pubkey)" = "$(cat left.pub)" ]
}

@test "issue device: a refused device leaves no file; certificates are 0644 whatever the umask" {
	mkdir -p out
	# A left key that cannot be used, and a CSR that is not one.
	smqtt-keygen -k out/bad.key > /dev/null
	chmod 644 out/bad.key
	echo junk > junk.csr
	run smqtt-issue device --ca-dir ca -o out <<< $'nocsr csr=junk.csr'
	assert_status 1
	assert_contains "device nocsr: CSR junk.csr: not a PEM certificate request"
	[ ! -e out/nocsr.crt ]
	[ ! -e out/nocsr.key ]
	run smqtt-issue device --ca-dir ca -o out <<< bad
	assert_status 1
	assert_contains "device bad: key file out/bad.key: accessible by group or others (mode 0644); not used"
	[ ! -e out/bad.crt ]
	# Fixed, the left key is certified on the next run.
	chmod 600 out/bad.key
	run smqtt-issue device --ca-dir ca -o out <<< bad
	assert_status 0
	[ "$(openssl x509 -in out/bad.crt -noout -pubkey)" = "$(openssl pkey -in out/bad.key -pubout)" ]
	(umask 077 && echo strict | smqtt-issue device --ca-dir ca -o out > /dev/null 2>&1)
	[ "$(stat -c %a out/strict.crt)" = 644 ]
	[ "$(stat -c %a out/strict.key)" = 600 ]
	[ "$(stat -c %a out/bad.crt)" = 644 ]
}

@test "issue device: bad lines are named, the rest of the batch still issues" {
	printf 'ok-1\nbad/id\nok-2\nok-1\nx attr\nok-3 Bad=1\n%s\nok-4 csr=nope.csr\n# comment\n\nok-5\n' "$(printf 'a%.0s' $(seq 65))" > in
	run smqtt-issue device --ca-dir ca -o out < in
	assert_status 1
	assert_contains "smqtt-issue: stdin: line 2: device bad/id: invalid device id"
	assert_contains "smqtt-issue: stdin: line 4: device ok-1: duplicate of line 1"
	assert_contains "smqtt-issue: stdin: line 5: device x: attribute \"attr\": expected name=value"
	assert_contains "line 6: device ok-3: attribute \"Bad=1\""
	assert_contains "line 7: device aaaa"
	assert_contains "line 8: device ok-4: CSR nope.csr: No such file or directory"
	assert_contains "3 issued, 0 already issued, 6 rejected"
	for d in ok-1 ok-2 ok-5; do openssl verify -CAfile ca/ca.crt "out/$d.crt" > /dev/null; done
	[ ! -e out/ok-3.crt ] && [ ! -e out/ok-4.crt ] && [ ! -e out/ok-4.key ]
}

@test "issue device: signs a CSR, checking its signature and CN" {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dev.key -subj /CN=dev-7 -out dev.csr 2>/dev/null
	openssl req -new -key dev.key -subj /CN=someone-else -out other.csr 2>/dev/null
	# a CSR whose signature is broken: flip a byte inside the signature
	python3 - dev.csr broken.csr <<'PY'
import base64, sys
lines = open(sys.argv[1]).read().splitlines()
der = bytearray(base64.b64decode("".join(lines[1:-1])))
der[-5] ^= 0x01
b64 = base64.b64encode(bytes(der)).decode()
open(sys.argv[2], "w").write(lines[0] + "\n" + "\n".join(b64[i:i+64] for i in range(0, len(b64), 64)) + "\n" + lines[-1] + "\n")
PY
	printf 'dev-7 csr=dev.csr\ndev-8 csr=other.csr\ndev-9 csr=broken.csr\n' > in
	run smqtt-issue device --ca-dir ca -o out < in
	assert_status 1
	assert_contains "line 2: device dev-8: CSR other.csr: subject CN is not the device id"
	assert_contains "line 3: device dev-9: CSR broken.csr: its signature does not verify"
	[ "$(openssl x509 -in out/dev-7.crt -noout -pubkey)" = "$(openssl pkey -in dev.key -pubout)" ]
	[ ! -e out/dev-7.key ]
	printf '%s\n' "$output" | grep '^dev-7 ' | grep -vq ' key='
}

@test "issue device: signs a supplied public key, also Ed25519" {
	smqtt-keygen -k p.key > p.pub
	smqtt-keygen --type ed25519 -k e.key > e.pub
	printf 'P pubkey=p.pub\nE pubkey=e.pub\nX pubkey=p.key\n' > in
	run smqtt-issue device --ca-dir ca -o out < in
	assert_status 1
	assert_contains "line 3: device X: public key p.key: not a PEM public key"
	[ "$(openssl x509 -in out/E.crt -noout -pubkey)" = "$(cat e.pub)" ]
	openssl verify -CAfile ca/ca.crt out/P.crt out/E.crt
	echo r | smqtt-sign -k e.key -c out/E.crt | smqtt-verify -c out/E.crt > /dev/null
}

@test "issue device: devices from a YAML manifest" {
	smqtt-keygen -k p.key > p.pub
	cat > fleet.yaml <<'YAML'
# the north feeder
devices:
  - id: n-1
    attributes: {site: north, feeder: F12}
  - n-2
  - id: n-3
    pubkey: p.pub
YAML
	smqtt-issue device --ca-dir ca -o out --manifest fleet.yaml > issued 2> err
	[ "$(cut -d' ' -f1 issued | tr '\n' ' ')" = "n-1 n-2 n-3 " ]
	grep -q '^n-1 .* site=north feeder=F12$' issued
	grep -q "3 issued" err
}

@test "issue device: manifest errors name the file and line" {
	printf 'devices:\n  - id: a\n    colour: red\n' > m1.yaml
	run smqtt-issue device --ca-dir ca -o out --manifest m1.yaml
	assert_status 3
	assert_contains "smqtt-issue: m1.yaml:3: unknown key \"colour\""
	printf 'devices:\n  - id: a\n    attributes: {Site: x}\n' > m2.yaml
	run smqtt-issue device --ca-dir ca -o out --manifest m2.yaml
	assert_status 3
	assert_contains "m2.yaml:3: attribute name \"Site\""
	printf 'devices: [a, b\n' > m3.yaml
	run smqtt-issue device --ca-dir ca -o out --manifest m3.yaml
	assert_status 3
	assert_contains "m3.yaml:2:"
	printf 'devices:\n  - &x a\n  - *x\n' > m4.yaml
	run smqtt-issue device --ca-dir ca -o out --manifest m4.yaml
	assert_status 3
	assert_contains "aliases are not supported"
	: > m5.yaml
	run smqtt-issue device --ca-dir ca -o out --manifest m5.yaml
	assert_status 3
	assert_contains "empty manifest"
	run smqtt-issue device --ca-dir ca -o out --manifest missing.yaml
	assert_status 3
	assert_contains "manifest missing.yaml: No such file or directory"
	printf 'devices:\n  - ok\n  - bad/id\n' > m6.yaml
	run smqtt-issue device --ca-dir ca -o out --manifest m6.yaml
	assert_status 1
	assert_contains "m6.yaml: line 3: device bad/id: invalid device id"
}

@test "issue device: on a terminal, progress shows the total when stdin or the manifest is a file" {
	printf '%s\n' p1 p2 p3 > ids
	# script(1) runs the command with a terminal for stderr; stdout goes to a file.
	run script -qec "smqtt-issue device --ca-dir ca -o out < ids > issued" /dev/null < /dev/null
	assert_status 0
	assert_contains "smqtt-issue: 3 devices, 100% of 3 lines, "
	assert_contains "smqtt-issue: 3 issued, 0 already issued, 0 rejected"
	[ "$(wc -l < issued)" -eq 3 ]
	printf 'devices:\n  - id: q1\n  - id: q2\n\n# end\n' > fleet.yaml
	run script -qec "smqtt-issue device --ca-dir ca -o out --manifest fleet.yaml > issued" /dev/null < /dev/null
	assert_status 0
	assert_contains "smqtt-issue: 2 devices, 100% of 5 lines, "
	# Through a pipe the total is not known: the count and the rate only.
	run script -qec "cat ids | smqtt-issue device --ca-dir ca -o piped > issued" /dev/null < /dev/null
	assert_status 0
	assert_contains "smqtt-issue: 3 devices, "
	refute_contains "% of"
	# Not on a terminal, no progress at all.
	smqtt-issue device --ca-dir ca -o quiet < ids > /dev/null 2> err
	[ "$(cat err)" = "smqtt-issue: 3 issued, 0 already issued, 0 rejected" ] || fail "$(cat err)"
}

@test "issue server: broker certificate with subjectAltName and serverAuth" {
	run smqtt-issue server --ca-dir ca -o srv --dns localhost --dns broker.example --ip 127.0.0.1 --ip ::1 broker
	assert_status 0
	assert_contains "broker serial="
	openssl verify -CAfile ca/ca.crt -purpose sslserver srv/broker.crt
	san=$(openssl x509 -in srv/broker.crt -noout -ext subjectAltName)
	[[ "$san" == *"DNS:localhost, DNS:broker.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"* ]]
	run smqtt-issue server --ca-dir ca -o srv broker2
	assert_status 2
	assert_contains "give at least one --dns NAME or --ip ADDRESS"
	run smqtt-issue server --ca-dir ca -o srv --ip 'not an ip' b3
	assert_status 2
}

@test "issue crl: serials and devices revoked, accepted by openssl" {
	printf 'a\nb\nc\n' | smqtt-issue device --ca-dir ca -o out > issued 2> /dev/null
	sa=$(sed -n 1p issued | sed 's/.*serial=\([0-9A-F]*\).*/\1/')
	# One line it cannot read: no CRL at all, since one without that line
	# would un-revoke the device where it replaces the old CRL.
	run sh -c "{ echo '$sa a 2026-11-01T10:00:00Z keyCompromise'; echo device=c; echo 'not-a-serial!'; } | smqtt-issue crl --ca-dir ca"
	assert_status 1
	assert_contains "line 3: not-a-serial!: not a serial number"
	assert_contains "no CRL written: 1 of 3 lines rejected; fix or remove them"
	[ ! -e ca/crlnumber ] || fail "a CRL number was used: $(cat ca/crlnumber)"
	[[ "$output" != *"BEGIN X509 CRL"* ]]
	{ echo "$sa a 2026-11-01T10:00:00Z keyCompromise"; echo "device=c"; } | smqtt-issue crl --ca-dir ca > crl.pem
	openssl crl -in crl.pem -noout -CAfile ca/ca.crt 2>&1 | grep -q 'verify OK'
	text=$(openssl crl -in crl.pem -noout -text)
	[[ "$text" == *"Serial Number: $sa"* ]]
	[[ "$text" == *"Key Compromise"* ]]
	[[ "$text" == *"Nov  1 10:00:00 2026 GMT"* ]]
	sc=$(sed -n 3p issued | sed 's/.*serial=\([0-9A-F]*\).*/\1/')
	[[ "$text" == *"Serial Number: $sc"* ]]
	sb=$(sed -n 2p issued | sed 's/.*serial=\([0-9A-F]*\).*/\1/')
	[[ "$text" != *"$sb"* ]]
	# a revoked certificate fails verification with the CRL, a good one passes
	cat ca/ca.crt crl.pem > chain.pem
	! openssl verify -crl_check -CAfile chain.pem out/a.crt 2> /dev/null
	openssl verify -crl_check -CAfile chain.pem out/b.crt
	# CRL numbers increase
	smqtt-issue crl --ca-dir ca < /dev/null > crl2.pem 2> /dev/null
	[ "$(openssl crl -in crl2.pem -noout -crlnumber)" = "crlNumber=0x02" ]
}

@test "issue: CA problems and usage errors" {
	run smqtt-issue device --ca-dir nowhere -o out < /dev/null
	assert_status 3
	assert_contains "certificate nowhere/ca.crt: No such file or directory"
	chmod 644 ca/ca.key
	run smqtt-issue device --ca-dir ca -o out < /dev/null
	assert_status 3
	assert_contains "private key ca/ca.key: accessible by group or others"
	chmod 600 ca/ca.key
	smqtt-issue ca --ca-dir other > /dev/null
	cp other/ca.key ca/ca.key
	run smqtt-issue device --ca-dir ca -o out < /dev/null
	assert_status 3
	assert_contains "ca.crt does not match ca.key"
	run smqtt-issue
	assert_status 2
	run smqtt-issue frobnicate --ca-dir ca
	assert_status 2
	assert_contains "unknown command: frobnicate"
	run smqtt-issue device --ca-dir ca < /dev/null
	assert_status 2
	assert_contains "no output directory"
	run smqtt-issue device -o out < /dev/null
	assert_status 2
	run smqtt-issue ca --ca-dir x --days 0
	assert_status 2
}

@test "issue: an encrypted CA key with its passphrase" {
	export CAPASS=s3cret
	smqtt-issue ca --ca-dir eca --passenv CAPASS > /dev/null
	grep -q 'ENCRYPTED' eca/ca.key
	run smqtt-issue device --ca-dir eca -o out <<< "d1"
	assert_status 3
	assert_contains "encrypted; give the passphrase"
	export CAPASS=s3cret
	echo d1 | smqtt-issue device --ca-dir eca -o out --passenv CAPASS > /dev/null 2>&1
	openssl verify -CAfile eca/ca.crt out/d1.crt
}

@test "issue: a 10k-device batch through a pipe, every certificate valid and distinct" {
	seq -f 'm%05g' 1 10000 > ids
	smqtt-issue device --ca-dir ca -o fleet < ids > issued 2> err
	[ "$(wc -l < issued)" -eq 10000 ]
	[ "$(cut -d' ' -f2 issued | sort -u | wc -l)" -eq 10000 ]
	[ "$(ls fleet/*.crt | wc -l)" -eq 10000 ]
	[ "$(cut -d' ' -f1 issued)" = "$(cat ids)" ]
	# spot-check a sample with openssl
	for n in 00001 04321 10000; do openssl verify -CAfile ca/ca.crt "fleet/m$n.crt" > /dev/null; done
}

@test "issue device: an interrupted run's empty files are taken over; a closed stdout stops the workers" {
	mkdir -p out
	: > out/E1.crt
	(umask 077 && : > out/E1.key) # as smqtt-issue creates it
	smqtt-keygen -k out/E2.key > /dev/null
	: > out/E2.crt
	run smqtt-issue device --ca-dir ca -o out <<< $'E1\nE2'
	assert_status 0
	assert_contains "smqtt-issue: 2 issued, 0 already issued, 0 rejected"
	[ "$(openssl x509 -in out/E1.crt -noout -pubkey)" = "$(openssl pkey -in out/E1.key -pubout)" ]
	[ "$(openssl x509 -in out/E2.crt -noout -pubkey)" = "$(openssl pkey -in out/E2.key -pubout)" ]
	[ "$(stat -c %a out/E1.key)" = 600 ]
	# A reader that goes away: the run ends, and every certificate written is in the CA index.
	seq -f 'h%05g' 1 6000 > ids
	set +e
	smqtt-issue device --ca-dir ca -o pipe < ids 2> err | head -n 1 > first
	status=${PIPESTATUS[0]}
	set -e
	[ "$status" = 4 ] || fail "status $status: $(cat err)"
	grep -q "writing stdout" err
	sleep 0.5
	written=$(find pipe -name '*.crt' | wc -l)
	[ "$written" -lt 6000 ]
	[ "$(grep -c ' h[0-9]* ' ca/index.txt)" = "$written" ]
}
