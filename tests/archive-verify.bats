#!/usr/bin/env bats
# smqtt-verify -R --archive: stored frames re-verify after their device or key
# stopped being trusted, up to the last sequence number accepted before, and
# the registry is left as it was.

load test_helper
load registry_helper

setup() {
	common_setup
}

serial_of() { cut -d' ' -f2 "$1" | cut -d= -f2; }
replay_state() { sqlite3 reg.db 'select id, last_seq, hex(last_digest) from devices order by id'; }

@test "archive: a device revoked as superseded re-verifies its stored frames, not later ones" {
	registry_setup A B
	smqtt-register -R reg.db add < issued 2> /dev/null
	sign A certs/A.key 3 > a.stored
	sign B certs/B.key 2 > b.stored
	cat a.stored b.stored | smqtt-verify -R reg.db > stored
	smqtt-register -R reg.db revoke A --reason superseded
	[ "$(sqlite3 reg.db "select revoked_at_seq from keys where device = 'A'")" = 3 ]
	# Normal verification rejects the device, as before.
	run smqtt-verify -R reg.db < a.stored
	assert_status 1
	assert_contains "line 1: device A seq 1: revoked device"
	# Re-verification passes every stored frame, on one thread and on several.
	for jobs in 1 4; do
		run smqtt-verify -R reg.db --archive -j "$jobs" < stored
		assert_status 0
		[ "$output" = "$(cat stored)" ] || fail "-j $jobs: $output"
	done
	# A frame the device signed after its revocation was never accepted.
	sign A certs/A.key 1 > a.late
	for jobs in 1 4; do
		run smqtt-verify -R reg.db --archive -j "$jobs" < <(cat stored a.late)
		assert_status 1
		assert_contains "line 6: device A seq 4: revoked key: seq above 3, the last accepted before its revocation"
		refute_contains "line 5:"
	done
}

@test "archive: keys revoked for keyCompromise verify no stored frame" {
	registry_setup K
	smqtt-register -R reg.db add < issued 2> /dev/null
	sign K certs/K.key 2 | smqtt-verify -R reg.db > stored
	smqtt-register -R reg.db revoke K --reason keyCompromise
	run smqtt-verify -R reg.db --archive < stored
	assert_status 1
	assert_contains "line 1: device K seq 1: revoked key: key compromise"
	assert_contains "line 2: device K seq 2: revoked key: key compromise"
	# A frame no key of the device signed is still a bad signature.
	sed 's/^smqtt1 K 1 /smqtt1 K 9 /' stored | sed -n 1p > forged
	run smqtt-verify -R reg.db --archive < forged
	assert_status 1
	assert_contains "device K seq 9: bad signature"
}

@test "archive: retired and revoked keys verify the frames they signed while trusted" {
	registry_setup R
	smqtt-register -R reg.db add < issued 2> /dev/null
	sign R certs/R.key 2 | smqtt-verify -R reg.db > stored
	sleep 1 # one-second notBefore: the new key must be the newer one
	smqtt-issue device --ca-dir ca -o new --reissue <<< R > new.issued 2> /dev/null
	smqtt-register -R reg.db add --retire-old < new.issued 2> /dev/null
	sign R new/R.key 2 | smqtt-verify -R reg.db >> stored
	smqtt-register -R reg.db revoke R "$(serial_of new.issued)" --reason cessationOfOperation
	[ "$(wc -l < stored)" -eq 4 ]
	run smqtt-verify -R reg.db --archive < stored
	assert_status 0
	[ "$output" = "$(cat stored)" ]
	# The old key signing again after its retirement is not taken.
	sign R certs/R.key 1 > late
	run smqtt-verify -R reg.db --archive < late
	assert_status 1
	assert_contains "device R seq 5: retired key: seq above 2, the last accepted before its retirement"
}

@test "archive: the registry's replay state is neither used nor changed" {
	registry_setup A
	smqtt-register -R reg.db add < issued 2> /dev/null
	sign A certs/A.key 3 | smqtt-verify -R reg.db > stored
	before=$(replay_state)
	# Normal mode calls all of these replays; re-verification passes them on.
	run smqtt-verify -R reg.db < stored
	assert_status 1
	assert_contains "replay"
	run smqtt-verify -R reg.db --archive < stored
	assert_status 0
	[ "$output" = "$(cat stored)" ]
	# New frames go through re-verification too, without a trace in the registry.
	sign A certs/A.key 2 > new
	run smqtt-verify -R reg.db --archive < new
	assert_status 0
	[ "$(replay_state)" = "$before" ]
	# Within one run, a number is still accepted once per device.
	printf 'A,2099-01-01 00:00:00,0,1.0\n' | smqtt-sign -k certs/A.key -i A -S other.seq > other
	run smqtt-verify -R reg.db --archive < <(cat new stored other)
	assert_status 1
	assert_contains "line 6: device A seq 1: replay: seq already accepted (last accepted seq 5)"
	[ "$(replay_state)" = "$before" ]
}

@test "archive: a version 1 registry is upgraded; revocations made before then count" {
	registry_setup A B
	smqtt-register -R reg.db add < issued 2> /dev/null
	{ sign A certs/A.key 2; sign B certs/B.key 2; } | smqtt-verify -R reg.db > stored
	smqtt-register -R reg.db revoke A --reason superseded
	smqtt-register -R reg.db revoke B "$(grep '^B ' issued | cut -d' ' -f2 | cut -d= -f2)" --reason superseded
	# Make it a registry as version 1 left it.
	sqlite3 reg.db "alter table keys drop column retired_at_seq; alter table keys drop column revoked_at_seq;
		alter table devices drop column replay_window;
		update meta set value = 1 where name = 'schema_version'; pragma user_version = 1"
	run smqtt-verify -R reg.db --archive < stored
	[ "$(sqlite3 reg.db 'pragma user_version')" = 3 ]
	[ "$(sqlite3 reg.db "select value from meta where name = 'schema_version'")" = 3 ]
	# The device revoked as a whole accepted nothing since: its bound is its last_seq.
	[ "$(sqlite3 reg.db "select device, revoked_at_seq from keys where device = 'A'")" = "A|2" ]
	refute_contains "device A"
	# A key revoked alone: when it stopped is unknown, so none of its frames pass.
	assert_status 1
	assert_contains "line 3: device B seq 1: revoked key: no sequence number recorded at its revocation"
}

@test "archive: usage" {
	registry_setup
	run smqtt-verify --archive < /dev/null
	assert_status 2
	make_key k
	run smqtt-verify --pubkey A=k.pub --archive < /dev/null
	assert_status 2
	assert_contains "smqtt-verify: --archive is for -R REGISTRY"
}
