#!/usr/bin/env bats
# Files the programs write besides keys: the signer's state file, the
# verifier's rejects file and the CA's CRL number are opened safely, and the
# state's last number is reported for what it is.

load test_helper
bats_require_minimum_version 1.5.0

setup() {
	common_setup
	make_key m
}

@test "sign: a state file that is a symbolic link is refused, and a dangling one creates nothing (3)" {
	ln -s elsewhere/target.seq s.seq
	mkdir elsewhere
	run --separate-stderr smqtt-sign -k m.key -i ABC -S s.seq <<< 'ABC,1'
	assert_status 3
	[ "$stderr" = "smqtt-sign: state file s.seq: a symbolic link; not followed" ] || fail "stderr: $stderr"
	[ ! -e elsewhere/target.seq ] || fail "the link's target was created"
	[ -z "$output" ]
}

@test "sign: once the last sequence number is used, the next run says the numbers are exhausted (3)" {
	# The state holds the next number: 2^63 - 1, the last one.
	printf '%020d\n' 9223372036854775807 > s.seq
	run --separate-stderr smqtt-sign -k m.key -i ABC -S s.seq <<< $'ABC,1\nABC,2'
	assert_status 3
	[[ $output == "smqtt1 ABC 9223372036854775807 "* ]] || fail "stdout: $output"
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
	[[ $stderr == *"state file s.seq: sequence numbers exhausted"* ]] || fail "stderr: $stderr"
	[ "$(cat s.seq)" = 09223372036854775808 ]
	run --separate-stderr smqtt-sign -k m.key -i ABC -S s.seq <<< 'ABC,3'
	assert_status 3
	[[ $stderr == *"state file s.seq: sequence numbers exhausted"* ]] || fail "stderr: $stderr"
	[[ $stderr != *damaged* ]] || fail "stderr: $stderr"
	[ -z "$output" ]
}

@test "verify: the rejects file is not followed through a link, is created 0600, and is never a database or PEM file" {
	printf 'ABC,1\n' | smqtt-sign -k m.key -i ABC > frames
	sed 's/ABC,1$/ABC,2/' frames > forged
	ln -s target rejects.link
	run --separate-stderr smqtt-verify --pubkey ABC=m.pub --rejects rejects.link < forged
	assert_status 2
	[ "$stderr" = "smqtt-verify: rejects file rejects.link: a symbolic link; not followed" ] || fail "stderr: $stderr"
	[ ! -e target ]
	(umask 000 && smqtt-verify --pubkey ABC=m.pub --rejects rejects < forged 2> /dev/null) || true
	[ "$(stat -c %a rejects)" = 600 ]
	cmp rejects forged
	sqlite3 reg.db 'create table t(x)'
	cp reg.db before.db
	run --separate-stderr smqtt-verify --pubkey ABC=m.pub --rejects reg.db < forged
	assert_status 2
	[[ $stderr == "smqtt-verify: rejects file reg.db: an SQLite database, not a rejects file"* ]] || fail "stderr: $stderr"
	cmp reg.db before.db
	cp m.key before.key
	run --separate-stderr smqtt-verify --pubkey ABC=m.pub --rejects m.key < forged
	assert_status 2
	[[ $stderr == *"rejects file m.key: a PEM file (a key or certificate), not a rejects file"* ]] || fail "stderr: $stderr"
	cmp m.key before.key
}

@test "issue crl: the CRL number is replaced, never written through a symbolic link" {
	smqtt-issue ca --ca-dir ca > /dev/null 2>&1
	: | smqtt-issue crl --ca-dir ca > crl1.pem
	[ "$(cat ca/crlnumber)" = 1 ]
	mv ca/crlnumber elsewhere
	ln -s ../elsewhere ca/crlnumber
	run --separate-stderr smqtt-issue crl --ca-dir ca < /dev/null
	assert_status 3
	[[ $stderr == *"CRL number file ca/crlnumber: a symbolic link; not followed"* ]] || fail "stderr: $stderr"
	[ "$(cat elsewhere)" = 1 ]
	rm ca/crlnumber
	: | smqtt-issue crl --ca-dir ca > crl2.pem
	[ "$(cat ca/crlnumber)" = 1 ] && [ ! -L ca/crlnumber ]
	[ -z "$(ls ca | grep 'crlnumber\.')" ] || fail "a temporary file was left: $(ls ca)"
}
