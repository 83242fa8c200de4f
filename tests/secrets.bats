#!/usr/bin/env bats
# Private keys are written only into files this run created exclusively, or
# into files that are provably its own (the resume of an interrupted batch),
# and never into a directory others may write to.

load test_helper
bats_require_minimum_version 1.5.0

setup() {
	common_setup
	smqtt-issue ca --ca-dir ca > /dev/null 2>&1
}

# plant FILE: make FILE someone else's (another user's when run as root;
# otherwise a file of ours that no run of ours leaves: mode 0666). Sets
# PLANTED_WHY to the reason smqtt-issue must give for not using it.
plant() {
	if [ "$(id -u)" -eq 0 ]; then
		chown nobody "$1"
		PLANTED_WHY="owned by uid $(id -u nobody), not by this user; not used"
	else
		chmod 666 "$1"
		PLANTED_WHY="accessible by group or others (mode 0666); not used"
	fi
}

@test "issue device: an output directory others may write to is refused, naming it (3)" {
	mkdir fleet && chmod 777 fleet
	run --separate-stderr smqtt-issue device --ca-dir ca -o fleet <<< victim
	assert_status 3
	[ "$stderr" = "smqtt-issue: directory fleet: writable by others (mode 0777); no private key is written there; run chmod o-w fleet" ] ||
		fail "stderr: $stderr"
	[ -z "$(ls fleet)" ] || fail "files written: $(ls fleet)"
	# Not even with the sticky bit: a planted ID.crt there would pass for an issued device.
	chmod 1777 fleet
	run --separate-stderr smqtt-issue device --ca-dir ca -o fleet <<< victim
	assert_status 3
	[ -z "$(ls fleet)" ] || fail "files written: $(ls fleet)"
}

@test "issue device: an empty key file planted before the directory was closed is not written into" {
	mkdir -m 755 fleet
	: > fleet/victim.key
	plant fleet/victim.key
	run --separate-stderr smqtt-issue device --ca-dir ca -o fleet <<< $'victim\nother'
	assert_status 1
	[[ $stderr == *"smqtt-issue: stdin: line 1: device victim: key file fleet/victim.key: $PLANTED_WHY"* ]] || fail "stderr: $stderr"
	[ ! -s fleet/victim.key ] || fail "a private key was written into the planted file"
	[ ! -e fleet/victim.crt ] || fail "a certificate was issued for victim"
	[ -s fleet/other.key ] && [ -s fleet/other.crt ] || fail "the rest of the batch was not issued"
	[[ $output == other\ * ]] || fail "stdout: $output"
}

@test "issue device: a key planted by someone who knows it is not certified" {
	mkdir -m 755 fleet
	smqtt-keygen -k known.key > /dev/null
	cp known.key fleet/victim.key
	plant fleet/victim.key
	run --separate-stderr smqtt-issue device --ca-dir ca -o fleet <<< victim
	assert_status 1
	[[ $stderr == *"key file fleet/victim.key: $PLANTED_WHY"* ]] || fail "stderr: $stderr"
	[ ! -e fleet/victim.crt ] || fail "the planted key was certified"
}

@test "issue device: a key file with a second name is not used (it could be read through the other)" {
	mkdir -m 700 fleet
	smqtt-keygen -k fleet/victim.key > /dev/null
	ln fleet/victim.key elsewhere.key
	run --separate-stderr smqtt-issue device --ca-dir ca -o fleet <<< victim
	assert_status 1
	[[ $stderr == *"key file fleet/victim.key: has 2 links; not used"* ]] || fail "stderr: $stderr"
	[ ! -e fleet/victim.crt ]
}

@test "issue device: a key left by our own interrupted run is still certified (the resume)" {
	mkdir -m 700 fleet
	smqtt-keygen -k fleet/left.key > fleet/left.pub
	run --separate-stderr smqtt-issue device --ca-dir ca -o fleet <<< left
	assert_status 0
	openssl x509 -in fleet/left.crt -noout -pubkey | cmp - fleet/left.pub
}

@test "issue ca and server: a directory others may write to is refused for their keys (3)" {
	mkdir -m 777 open
	run --separate-stderr smqtt-issue ca --ca-dir open
	assert_status 3
	[[ $stderr == *"directory open: writable by others (mode 0777)"* ]] || fail "stderr: $stderr"
	[ ! -e open/ca.key ]
	run --separate-stderr smqtt-issue server --ca-dir ca -o open --dns broker.example broker
	assert_status 3
	[ ! -e open/broker.key ]
}

@test "keygen: not into a directory others may write to, unless it is sticky like /tmp (3)" {
	mkdir -m 777 open
	run --separate-stderr smqtt-keygen -k open/k.key
	assert_status 3
	[ "$stderr" = "smqtt-keygen: directory open: writable by others (mode 0777); no private key is written there; run chmod o-w open" ] ||
		fail "stderr: $stderr"
	[ ! -e open/k.key ]
	# In a sticky directory the file is created exclusively and nobody else can replace it.
	chmod 1777 open
	run --separate-stderr smqtt-keygen -k open/k.key
	assert_status 0
	[ "$(stat -c %a open/k.key)" = 600 ]
}
