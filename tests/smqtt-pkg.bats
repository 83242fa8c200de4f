#!/usr/bin/env bats
# smqtt-pkg: the key authority. Parameters and the master secret in formats
# OpenSSL reads on its own; CP and KP keys for one identity or in bulk;
# attributes granted only from the registry, revoked identities refused;
# the epoch attribute; the record of what was issued; bad input named.

load test_helper
load registry_helper

setup() {
	common_setup
	registry_fresh
	smqtt-pkg setup -m master.key > params.pem
	mkdir -m 700 keys
}

OID=2.25.14047966797898528082281868243671959402

@test "pkg: setup writes a 0600 PKCS#8 master secret and PEM parameters; OpenSSL reads both" {
	[ "$(stat -c %a master.key)" = 600 ]
	head -n 1 params.pem | grep -qx -- '-----BEGIN SMQTT FAME PARAMETERS-----'
	# The parameters: 1350 bytes, starting with "FAME", version 1, type 1.
	sed '1d;$d' params.pem | openssl base64 -d > params.bin
	[ "$(stat -c %s params.bin)" -eq 1350 ]
	[ "$(head -c 6 params.bin | od -An -tx1 | tr -d ' \n')" = 46414d450101 ]
	run openssl asn1parse -in master.key
	assert_status 0
	assert_contains ":$OID.1"
	assert_contains "OCTET STRING"
	# Never overwritten without -f.
	cp master.key before
	run smqtt-pkg setup -m master.key
	assert_status 3
	cmp -s master.key before || fail "the master secret was replaced"
	run smqtt-pkg setup -f -m master.key
	assert_status 0
	! cmp -s master.key before || fail "-f did not replace it"
}

@test "pkg: a passphrase encrypts the master secret (PBES2); openssl kdf and enc open it; keygen needs it" {
	echo 'correct horse' > pass
	smqtt-pkg setup -f -m master.key --passfile pass > params.pem
	head -n 1 master.key | grep -qx -- '-----BEGIN ENCRYPTED PRIVATE KEY-----'
	run openssl asn1parse -in master.key
	assert_contains "PBES2"
	# An independent reader: the PBES2 fields from openssl asn1parse, the key
	# from openssl kdf (PBKDF2), the plain PKCS#8 from openssl enc.
	openssl asn1parse -in master.key > parsed
	salt=$(awk '/PBKDF2/ { p = 1 } p && /OCTET STRING/ { sub(/.*:/, ""); print; exit }' parsed)
	iter=$(awk '/PBKDF2/ { p = 1 } p && /INTEGER/ { sub(/.*:/, ""); print; exit }' parsed)
	iv=$(awk '/aes-256-cbc/ { p = 1; next } p && /OCTET STRING/ { sub(/.*:/, ""); print; exit }' parsed)
	grep -q 'hmacWithSHA256' parsed || fail "not PBKDF2 with HMAC-SHA256: $(cat parsed)"
	[ -n "$salt" ] && [ -n "$iter" ] && [ -n "$iv" ] || fail "PBES2 fields not found: $(cat parsed)"
	key=$(openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt "pass:correct horse" -kdfopt "hexsalt:$salt" \
		-kdfopt "iter:$((16#$iter))" PBKDF2 | tr -d :)
	offset=$(awk '/OCTET STRING/ { o = $1 } END { sub(/:.*/, "", o); print o }' parsed)
	openssl asn1parse -in master.key -strparse "$offset" -noout -out sealed.der
	openssl enc -d -aes-256-cbc -K "$key" -iv "$iv" -in sealed.der -out plain.der
	run openssl asn1parse -inform DER -in plain.der
	assert_status 0
	assert_contains ":$OID.1"
	run smqtt-pkg keygen --params params.pem -m master.key -o keys A role:x
	assert_status 3
	assert_contains "encrypted; give the passphrase"
	echo wrong > bad
	run smqtt-pkg keygen --params params.pem -m master.key -o keys --passfile bad A role:x
	assert_status 3
	assert_contains "wrong passphrase"
	run smqtt-pkg keygen --params params.pem -m master.key -o keys --passfile pass A role:x
	assert_status 0
	[ -f keys/A.cpkey ]
}

@test "pkg: CP and KP keys: files, lines on stdout, the epoch attribute, the record" {
	run smqtt-pkg keygen --params params.pem -m master.key -o keys --epoch 2026-12 billing role:billing feeder:F12
	assert_status 0
	[ "$output" = "billing key=keys/billing.cpkey cp role:billing feeder:F12 epoch:2026-12" ]
	[ "$(stat -c %a keys/billing.cpkey)" = 600 ]
	run openssl asn1parse -in keys/billing.cpkey
	assert_contains ":$OID.2"
	run smqtt-pkg keygen --kp --params params.pem -m master.key -o keys --epoch 2026-12 audit \
		'feeder:F12 and (kind:household OR kind:industrial)'
	assert_status 0
	[ "$output" = "audit key=keys/audit.kpkey kp (feeder:F12 and (kind:household or kind:industrial)) and epoch:2026-12" ]
	run openssl asn1parse -in keys/audit.kpkey
	assert_contains ":$OID.3"
	# The default epoch is the current month in UTC; --no-epoch adds none.
	run smqtt-pkg keygen --params params.pem -m master.key -o keys now role:x
	assert_contains "cp role:x epoch:$(date -u +%Y-%m)"
	run smqtt-pkg keygen --params params.pem -m master.key -o keys --no-epoch bare role:x
	[ "$output" = "bare key=keys/bare.cpkey cp role:x" ]
	# Each key is recorded with the parameters' id, in order.
	[ "$(wc -l < master.key.issued)" -eq 4 ]
	params_id=$(sed '1d;$d' params.pem | openssl base64 -d | openssl dgst -sha256 -r | cut -d' ' -f1)
	run cat master.key.issued
	assert_line "$(sed -n 1p master.key.issued | cut -d' ' -f1) params=$params_id billing key=keys/billing.cpkey cp role:billing feeder:F12 epoch:2026-12"
	sed -n 2p master.key.issued | grep -q " params=$params_id audit key=keys/audit.kpkey kp " || fail "$output"
	# An existing key is kept unless -f.
	run smqtt-pkg keygen --params params.pem -m master.key -o keys billing role:other
	assert_status 3
	run smqtt-pkg keygen -f --params params.pem -m master.key -o keys billing role:other
	assert_status 0
}

@test "pkg: keys in bulk from stdin; a bad line is named and skipped, the rest issued" {
	{
		echo 'M1 kind:household feeder:F12'
		echo '# a comment'
		echo ''
		echo 'M2 kind:industrial'
		echo 'bad/id role:x'                   # 5: not an identity
		echo 'M3'                              # 6: no attributes
		echo 'M4 role:x epoch:2020-01'         # 7: epochs are the authority's
		printf 'M5 a\001b\n'                   # 8: a control byte
		echo 'M6 role:y'
	} > requests
	run smqtt-pkg keygen --params params.pem -m master.key -o keys < requests
	assert_status 1
	assert_contains "stdin: line 5: bad/id: not a valid identity"
	assert_contains "stdin: line 6: M3: no attributes; no key issued"
	assert_contains "stdin: line 7: M4: attribute epoch:2020-01: epochs are set by the key authority"
	assert_contains "stdin: line 8: M5: attribute "
	assert_contains "3 keys issued, 4 refused"
	for id in M1 M2 M6; do [ -f keys/$id.cpkey ] || fail "no key for $id"; done
	for id in M3 M4 M5; do [ ! -e keys/$id.cpkey ] || fail "a key for $id"; done
	[ "$(wc -l < master.key.issued)" -eq 3 ]
	# KP in bulk: the rest of the line is the policy; a bad policy names the byte.
	printf 'K1 kind:household or feeder:F12\nK2 kind:household and\nK3 (a or b) and c\n' > kp
	run smqtt-pkg keygen --kp --params params.pem -m master.key -o keys --no-epoch < kp
	assert_status 1
	assert_contains "K1 key=keys/K1.kpkey kp kind:household or feeder:F12"
	assert_contains "stdin: line 2: K2: policy: byte 19: expected an attribute or '(' but the policy ended"
	assert_contains "K3 key=keys/K3.kpkey kp (a or b) and c"
}

@test "pkg -R: only attributes the registry holds; all of them by default; unknown and revoked refused" {
	registry_setup M1 M2 M3
	smqtt-register -R "$REG" add < issued 2> /dev/null
	smqtt-register -R "$REG" set M1 kind=household feeder=F12
	smqtt-register -R "$REG" set M2 kind=industrial
	smqtt-register -R "$REG" revoke M3 --reason keyCompromise 2> /dev/null
	run smqtt-pkg keygen -R "$REG" --params params.pem -m master.key -o keys --epoch 2026-12 M1
	assert_status 0
	[ "$output" = "M1 key=keys/M1.cpkey cp feeder:F12 kind:household epoch:2026-12" ]
	run smqtt-pkg keygen -R "$REG" --params params.pem -m master.key -o keys --epoch 2026-12 M2 kind:household
	assert_status 1
	assert_contains "M2: attribute kind:household: not held by M2 in the registry; no key issued"
	[ ! -e keys/M2.cpkey ]
	run smqtt-pkg keygen -R "$REG" --params params.pem -m master.key -o keys M3
	assert_status 1
	assert_contains "M3: revoked in the registry $REG_SHOWN; no key issued"
	run smqtt-pkg keygen -R "$REG" --params params.pem -m master.key -o keys NOPE role:x
	assert_status 1
	assert_contains "NOPE: not in the registry $REG_SHOWN"
	refute_password
	# KP: every attribute of the policy must be held.
	run smqtt-pkg keygen --kp -R "$REG" --params params.pem -m master.key -o keys M1 'kind:household and feeder:F12'
	assert_status 0
	run smqtt-pkg keygen --kp -R "$REG" --params params.pem -m master.key -o keys M2 'kind:industrial or role:admin'
	assert_status 1
	assert_contains "attribute role:admin: not held by M2 in the registry"
	[ ! -e keys/M2.kpkey ]
}

@test "pkg: unusable parameters, master secret or output directory are configuration errors" {
	run smqtt-pkg keygen --params nothere -m master.key -o keys A role:x
	assert_status 3
	assert_contains "parameters nothere: No such file or directory"
	echo junk > junk.pem
	run smqtt-pkg keygen --params junk.pem -m master.key -o keys A role:x
	assert_status 3
	assert_contains "parameters junk.pem: no PEM block"
	# Parameters of another set-up.
	smqtt-pkg setup -m other.key > other.pem
	run smqtt-pkg keygen --params other.pem -m master.key -o keys A role:x
	assert_status 3
	assert_contains "the master secret was not made with these parameters"
	# A decryption key is not a master secret.
	smqtt-pkg keygen --params params.pem -m master.key -o keys A role:x > /dev/null
	run smqtt-pkg keygen --params params.pem -m keys/A.cpkey -o keys B role:x
	assert_status 3
	assert_contains "a decryption key, not the master secret"
	# A signing key is not one either.
	smqtt-keygen -k sign.key > /dev/null
	run smqtt-pkg keygen --params params.pem -m sign.key -o keys B role:x
	assert_status 3
	assert_contains "not an smqtt attribute-based encryption key"
	chmod 644 master.key
	run smqtt-pkg keygen --params params.pem -m master.key -o keys B role:x
	assert_status 3
	assert_contains "accessible by group or others"
	chmod 600 master.key
	run smqtt-pkg keygen --params params.pem -m master.key -o nodir B role:x
	assert_status 3
	assert_contains "output directory nodir"
	run smqtt-pkg keygen --params params.pem -m master.key B role:x
	assert_status 2
	run smqtt-pkg frobnicate
	assert_status 2
	assert_contains "unknown command: frobnicate"
	run smqtt-pkg keygen --epoch 'a b' --params params.pem -m master.key -o keys B role:x
	assert_status 2
}

@test "pkg: settings from the configuration file; its registry.db restricts keygen as -R does" {
	printf 'secret words\n' > pass && chmod 600 pass
	cat > conf.yaml <<-EOF2
	abe: {params: params2.pem}
	pkg: {master: master2.key, out: keys, passfile: pass}
	EOF2
	smqtt-pkg --config conf.yaml setup > params2.pem
	grep -q 'ENCRYPTED PRIVATE KEY' master2.key || fail "pkg.passfile did not encrypt the master secret"
	run smqtt-pkg --config conf.yaml keygen --epoch 2026-12 billing role:billing
	assert_status 0
	[ "$output" = "billing key=keys/billing.cpkey cp role:billing epoch:2026-12" ]
	# registry.db: only what the registry holds.
	registry_setup M1
	smqtt-register -R "$REG" add < issued 2> /dev/null
	smqtt-register -R "$REG" set M1 kind=household
	printf 'registry: {db: "%s"}\n' "$REG" >> conf.yaml
	run smqtt-pkg --config conf.yaml keygen --epoch 2026-12 M1
	assert_status 0
	[ "$output" = "M1 key=keys/M1.cpkey cp kind:household epoch:2026-12" ]
	run smqtt-pkg --config conf.yaml keygen --epoch 2026-12 ops role:ops
	assert_status 1
	assert_contains "ops: not in the registry"
	# The command line comes first.
	run smqtt-pkg --config conf.yaml keygen -m master.key --params params.pem --epoch 2026-12 -f M1
	assert_status 0
	# The key is of the parameters given on the command line: it reads what they encrypt.
	make_key M1 && make_cert M1 M1
	echo 'M1,reading' | smqtt-encrypt --params params.pem -i M1 --epoch 2026-12 -P kind:household |
		smqtt-sign -k M1.key -i M1 -S M1.seq | smqtt-verify -c M1.crt > verified
	run smqtt-decrypt --params params.pem -k keys/M1.cpkey < verified
	assert_status 0
	[ "$output" = "M1,reading" ]
}
