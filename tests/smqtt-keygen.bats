#!/usr/bin/env bats
# smqtt-keygen: key files created safely, public key on stdout.

load test_helper

setup() { common_setup; }

@test "keygen: creates a 0600 P-256 key and prints its public key" {
	run smqtt-keygen -k m.key
	assert_status 0
	[ "$(stat -c %a m.key)" = 600 ]
	[ "$output" = "$(openssl pkey -in m.key -pubout)" ] || fail "stdout is not the key's public half"
	openssl pkey -in m.key -noout -text | grep -q 'NIST CURVE: P-256'
}

@test "keygen: mode 0600 even under a permissive umask" {
	umask 000
	smqtt-keygen -k m.key > /dev/null
	[ "$(stat -c %a m.key)" = 600 ]
}

@test "keygen: p384 and ed25519 key types" {
	smqtt-keygen --type p384 -k a.key > a.pub
	openssl pkey -in a.key -noout -text | grep -q 'NIST CURVE: P-384'
	smqtt-keygen --type ed25519 --key b.key > b.pub
	openssl pkey -in b.key -noout -text | grep -q 'ED25519'
	[ "$(cat b.pub)" = "$(openssl pkey -in b.key -pubout)" ]
}

@test "keygen: never overwrites an existing key without -f" {
	smqtt-keygen -k m.key > /dev/null
	before=$(cat m.key)
	run smqtt-keygen -k m.key
	assert_status 3
	assert_contains "smqtt-keygen: key file m.key: already exists"
	[ "$(cat m.key)" = "$before" ]
}

@test "keygen: -f replaces the key, keeping mode 0600 and leaving no temporary file" {
	smqtt-keygen -k m.key > old.pub
	smqtt-keygen -f -k m.key > new.pub
	[ "$(stat -c %a m.key)" = 600 ]
	! cmp -s old.pub new.pub
	[ "$(cat new.pub)" = "$(openssl pkey -in m.key -pubout)" ]
	[ "$(ls)" = "$(printf 'm.key\nnew.pub\nold.pub')" ]
}

@test "keygen: passphrase from the environment encrypts the key and is usable by sign" {
	export KEYPASS='correct horse'
	smqtt-keygen --passenv KEYPASS -k m.key > m.pub
	grep -q 'BEGIN ENCRYPTED PRIVATE KEY' m.key
	openssl pkey -in m.key -passin env:KEYPASS -noout
	echo 'ABC,t,0,1' | smqtt-sign -k m.key -i ABC --passenv KEYPASS > f
	smqtt-verify --pubkey ABC=m.pub < f > /dev/null
}

@test "keygen: passphrase from a file and from a descriptor" {
	printf 'from file\n' > pass.txt
	smqtt-keygen --passfile pass.txt -k a.key > /dev/null
	openssl pkey -in a.key -passin pass:'from file' -noout
	smqtt-keygen --passfd 3 -k b.key 3< pass.txt > /dev/null
	openssl pkey -in b.key -passin pass:'from file' -noout
}

@test "keygen: the passphrase is not stored in the key file" {
	export KEYPASS=hunter2secret
	smqtt-keygen --passenv KEYPASS -k m.key > /dev/null
	! grep -q hunter2secret m.key
	grep -q 'BEGIN ENCRYPTED PRIVATE KEY' m.key
}

@test "keygen: usage errors exit 2" {
	run smqtt-keygen
	assert_status 2
	assert_contains "no key file given"
	run smqtt-keygen --type rsa -k x.key
	assert_status 2
	assert_contains "--type rsa: unknown key type"
	run smqtt-keygen --passenv A --passfile B -k x.key
	assert_status 2
	run smqtt-keygen --bogus
	assert_status 2
	run smqtt-keygen -k x.key extra
	assert_status 2
	[ ! -e x.key ]
}

@test "keygen: bad passphrase sources are named" {
	run smqtt-keygen --passfile missing.txt -k x.key
	assert_status 3
	assert_contains "passphrase file missing.txt: No such file or directory"
	run smqtt-keygen --passenv SMQTT_UNSET_VARIABLE -k x.key
	assert_status 3
	assert_contains "passphrase variable SMQTT_UNSET_VARIABLE: not set"
	: > empty.txt
	run smqtt-keygen --passfile empty.txt -k x.key
	assert_status 3
	assert_contains "empty"
	[ ! -e x.key ]
}

@test "keygen: unwritable location is a system error naming the file" {
	run smqtt-keygen -k no/such/dir/m.key
	assert_status 4
	assert_contains "key file no/such/dir/m.key: No such file or directory"
}

@test "keygen: a full stdout is an error" {
	run sh -c 'smqtt-keygen -k n.key > /dev/full'
	assert_status 4
	assert_contains "stdout"
}
