#!/usr/bin/env bats
# A duplicate is a frame the verifier has already passed on, arriving again
# (a publisher restarted with its unacknowledged frames, a message delivered
# twice): dropped and counted, not rejected. A replay, a validly signed frame
# at or below the device's last number that was not accepted as such, is
# rejected. smqtt-frame(5) and smqtt-verify(1) define both the same way.

load test_helper
bats_require_minimum_version 1.5.0

setup() {
	common_setup
	make_key m
	meter_records 300 | smqtt-sign -k m.key -i ABC -S m.seq > frames
}

@test "verify: a resent window of accepted frames is dropped as duplicates, on one thread or two" {
	# The last 300 frames again, as a restarted smqtt-pub sends its window.
	for jobs in 1 2; do
		run --separate-stderr smqtt-verify -j "$jobs" --pubkey ABC=m.pub < <(cat frames frames)
		assert_status 0
		[ "$output" = "$(cat frames)" ] || fail "-j $jobs: stdout differs"
		[[ $stderr == *"smqtt-verify: 300 verified, 0 rejected, 300 duplicates dropped"* ]] || fail "-j $jobs: $stderr"
	done
}

@test "verify: a resend after other frames is still a duplicate; a new frame with an old number is a replay" {
	head -n 100 frames > first
	# Frames 1..100 arrive again after 101..300 were accepted: duplicates.
	run --separate-stderr smqtt-verify --pubkey ABC=m.pub < <(cat frames first)
	assert_status 0
	[[ $stderr == *"300 verified, 0 rejected, 100 duplicates dropped"* ]] || fail "$stderr"
	# A different record signed under an already used number (a second state file): a replay.
	echo 'ABC,2013-11-05 00:00:00,0,999.0' | smqtt-sign -k m.key -i ABC -S other.seq > forged
	[[ $(cat forged) == "smqtt1 ABC 1 "* ]]
	run --separate-stderr smqtt-verify --pubkey ABC=m.pub < <(cat frames forged)
	assert_status 1
	[[ $stderr == *"line 301: device ABC seq 1: replay: seq already accepted (last accepted seq 300)"* ]] || fail "$stderr"
	# The same frame re-signed (a new ECDSA signature) is the same frame: a duplicate.
	head -n 1 frames | cut -d' ' -f5- | smqtt-sign -k m.key -i ABC -S resign.seq > resigned
	[ "$(cut -d' ' -f3 resigned)" = 1 ] && ! cmp -s resigned <(head -n 1 frames)
	run --separate-stderr smqtt-verify --pubkey ABC=m.pub < <(cat frames resigned)
	assert_status 0
	[[ $stderr == *"300 verified, 0 rejected, 1 duplicates dropped"* ]] || fail "$stderr"
}

@test "verify -R: a resent window is dropped as duplicates while the verifier runs; the registry's state is unchanged" {
	smqtt-issue ca --ca-dir ca > /dev/null 2>&1
	smqtt-register -R reg.db init --ca ca/ca.crt
	echo ABC | smqtt-issue device --ca-dir ca -o fleet > issued 2> /dev/null
	smqtt-register -R reg.db add < issued 2> /dev/null
	meter_records 200 | smqtt-sign -k fleet/ABC.key -i ABC -S abc.seq > reg-frames
	run --separate-stderr smqtt-verify -R reg.db < <(cat reg-frames reg-frames)
	assert_status 0
	[[ $stderr == *"200 verified, 0 rejected, 200 duplicates dropped"* ]] || fail "$stderr"
	[ "$(sqlite3 reg.db "select last_seq from devices where id = 'ABC'")" = 200 ]
}
