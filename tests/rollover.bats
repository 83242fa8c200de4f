#!/usr/bin/env bats
# Key rollover: a device makes a new key, has it certified and registered,
# and goes on signing above the old key's numbers, so that the verifier,
# which keeps one last accepted number per device, loses no frame.

load test_helper
load registry_helper
bats_require_minimum_version 1.5.0

setup() {
	common_setup
	registry_fresh
	smqtt-issue ca --ca-dir ca > /dev/null 2>&1
	smqtt-register -R "$REG" init --ca ca/ca.crt
	echo ABC | smqtt-issue device --ca-dir ca -o fleet 2> /dev/null | smqtt-register -R "$REG" add 2> /dev/null
	meter_records 5 ABC | smqtt-sign -k fleet/ABC.key -c fleet/ABC.crt > old.frames
	smqtt-verify -R "$REG" < old.frames > /dev/null
	# The device's own new key, certified from its CSR and registered beside the old one.
	smqtt-keygen -k new.key > new.pub
	openssl req -new -key new.key -subj /CN=ABC -out new.csr 2> /dev/null
	sleep 1 # one-second notBefore: the new certificate must be the newer one
	echo 'ABC csr=new.csr' | smqtt-issue device --ca-dir ca -o fleet --reissue 2> /dev/null |
		smqtt-register -R "$REG" add 2> /dev/null
	openssl x509 -in fleet/ABC.crt -noout -pubkey | cmp - new.pub
}

@test "rollover: the new key numbers on from the old state file, and every frame is accepted through the registry" {
	[ "$(cat fleet/ABC.key.seq)" = 00000000000000000006 ]
	meter_records 10 ABC | tail -n 5 |
		smqtt-sign -k new.key -c fleet/ABC.crt --first-seq "$(cat fleet/ABC.key.seq)" > new.frames
	[ "$(cut -d' ' -f3 new.frames | tr '\n' ' ')" = '6 7 8 9 10 ' ]
	[ "$(cat new.key.seq)" = 00000000000000000011 ]
	run --separate-stderr smqtt-verify -R "$REG" < new.frames
	assert_status 0
	[ "$output" = "$(cat new.frames)" ] || fail "stderr: $stderr"
	[ "$(reg_sql "select last_seq from devices where id = 'ABC'")" = 10 ]
	# Later runs continue from the new state; giving --first-seq again changes nothing.
	echo 'ABC,2013-11-02 03:00:00,0,1.0' |
		smqtt-sign -k new.key -c fleet/ABC.crt --first-seq "$(cat fleet/ABC.key.seq)" > more.frames
	[ "$(cut -d' ' -f3 more.frames)" = 11 ]
	smqtt-verify -R "$REG" < more.frames > /dev/null
	# Both keys' frames verify again from the store.
	cat old.frames new.frames more.frames | smqtt-store -d db 2> /dev/null
	[ "$(sqlite3 db 'select count(*) from readings')" -eq 11 ]
}

@test "rollover: without --first-seq the new key starts at 1 and the verifier rejects its frames as replays" {
	meter_records 2 ABC | smqtt-sign -k new.key -c fleet/ABC.crt > new.frames
	run --separate-stderr smqtt-verify -R "$REG" < new.frames
	assert_status 1
	[[ $stderr == *"device ABC seq 1: replay: seq already accepted (last accepted seq 5)"* ]] || fail "stderr: $stderr"
}

@test "rollover: --first-seq never goes back, and takes only sequence numbers" {
	echo 'ABC,1' | smqtt-sign -k new.key -i ABC --first-seq 100 > a
	[ "$(cut -d' ' -f3 a)" = 100 ]
	echo 'ABC,2' | smqtt-sign -k new.key -i ABC --first-seq 50 > b
	[ "$(cut -d' ' -f3 b)" = 101 ]
	for bad in 0 -1 x 9223372036854775808 ''; do
		run --separate-stderr smqtt-sign -k new.key -i ABC --first-seq "$bad" <<< 'ABC,3'
		assert_status 2
		[[ $stderr == "smqtt-sign: --first-seq $bad: not a sequence number"* ]] || fail "$bad: $stderr"
	done
	[ "$(cat new.key.seq)" = 00000000000000000102 ]
}
