#!/usr/bin/env bats
# smqtt-pub and smqtt-sub read the configuration file (smqtt.conf(5)): broker
# and TLS settings from the file, options winning over it, and bad values
# named by FILE:LINE with exit status 3.

load test_helper
load pki_helper
load broker_helper

setup() {
	common_setup
	# Only the files a test makes may be found: no user's or caller's configuration.
	unset SMQTT_CONFIG
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/xdg"
	mkdir -p "$XDG_CONFIG_HOME"
}

teardown() {
	broker_teardown
}

# frames DEVICE N: N frames signed for DEVICE in DEVICE.frames
frames() {
	if [ ! -f "sign-$1.key" ]; then
		make_key "sign-$1" && make_cert "sign-$1" "$1" || return 1
	fi
	meter_records "$2" "$1" | smqtt-sign -k "sign-$1.key" -i "$1" > "$1.frames"
}

# broker_conf FILE NAME [EXTRA]: FILE with the broker section of identity NAME,
# its TLS files named relative to the file's directory, then EXTRA.
broker_conf() {
	local dir
	dir=$(dirname "$1")
	mkdir -p "$dir"
	ln -sfn "$PKI" "$dir/pki"
	cat > "$1" <<-EOF
	broker:
	  host: localhost
	  port: $BROKER_PORT
	  cafile: pki/ca.crt
	  cert: pki/$2.crt
	  key: pki/$2.key
	  retry_for: 10
	EOF
	# EXTRA is indented with the test's tabs, which YAML does not allow.
	printf '%s\n' "$3" | sed 's/^\t*//' >> "$1"
}

@test "config-mqtt: smqtt-pub and smqtt-sub connect and deliver with only a configuration file" {
	broker_setup ABC
	frames ABC 20
	broker_conf meter/smqtt.yaml ABC "pub:
	  topic: smqtt/{device}/frames
	  qos: 2
	  inflight: 5"
	broker_conf center/smqtt.yaml collector "sub:
	  topic:
	    - smqtt/+/frames
	  qos: 1
	  session_expiry: 60"
	# The subscriber finds its file through SMQTT_CONFIG, the publisher by --config.
	SMQTT_CONFIG=center/smqtt.yaml smqtt-sub -C 20 -W 30 > received 2> sub.err 3>&- &
	sub=$!
	track "$sub"
	wait_for "the collector's subscription" '[ "$(subscriptions collector)" -ge 1 ]'
	grep -q "^[0-9]*: collector 1 smqtt/+/frames\$" "$BROKER_LOG" || fail "subscription: $(grep collector "$BROKER_LOG")"
	run smqtt-pub --config meter/smqtt.yaml < ABC.frames
	assert_status 0
	[ "$(printf '%s\n' "$output" | grep -c '^smqtt1 ABC ')" -eq 20 ] || fail "smqtt-pub reported: $output"
	wait "$sub" || fail "smqtt-sub failed: $(cat sub.err)"
	cmp received ABC.frames || fail "received frames differ from those sent"
	[ ! -s sub.err ] || fail "smqtt-sub: $(cat sub.err)"
}

@test "config-mqtt: options win over the configuration file" {
	broker_setup ABC
	frames ABC 3
	# A topic the broker's ACL refuses to ABC, a filter nothing is published to.
	broker_conf meter.yaml ABC "pub:
	  topic: smqtt/{device}/refused"
	broker_conf center.yaml collector "sub:
	  topic: [smqtt/nothing/here]
	  qos: 2"
	smqtt-sub --config center.yaml -t 'smqtt/+/frames' -q 0 -C 3 -W 30 > received 2> sub.err 3>&- &
	sub=$!
	track "$sub"
	wait_for "the collector's subscription" '[ "$(subscriptions collector)" -ge 1 ]'
	grep -q "^[0-9]*: collector 0 smqtt/+/frames\$" "$BROKER_LOG" || fail "subscription: $(grep collector "$BROKER_LOG")"
	! grep -q "smqtt/nothing/here" "$BROKER_LOG" || fail "the file's sub.topic was subscribed to as well"
	# The file's topic alone: refused by the broker.
	run smqtt-pub --config meter.yaml < ABC.frames
	assert_status 1
	assert_contains "on topic smqtt/ABC/refused"
	# -t wins.
	run smqtt-pub --config meter.yaml -t 'smqtt/{device}/frames' < ABC.frames
	assert_status 0
	[ "$(printf '%s\n' "$output" | grep -c '^smqtt1 ABC ')" -eq 3 ] || fail "smqtt-pub reported: $output"
	wait "$sub" || fail "smqtt-sub failed: $(cat sub.err)"
	cmp received ABC.frames || fail "received frames differ from those sent"
	# A port on the command line wins over the file's: nobody listens on port 1.
	run smqtt-pub --config meter.yaml -p 1 --retry-for 0 < ABC.frames
	assert_status 4
	assert_contains "broker localhost:1: Connection refused"
}

@test "config-mqtt: bad values in the file are named by FILE:LINE, exit 3" {
	pki_setup pki ABC
	printf 'broker:\n  host: localhost\n  port: "x"\n' > bad.yaml
	for prog in smqtt-pub smqtt-sub; do
		run $prog --config bad.yaml -t smqtt/ABC/frames < /dev/null
		assert_status 3
		assert_contains "bad.yaml:3: key broker.port"
	done
	printf 'pub:\n  qos: 1\n  topic: smqtt/+/frames\n' > topic.yaml
	run smqtt-pub --config topic.yaml -i ABC < /dev/null
	assert_status 3
	assert_contains "topic.yaml:3: key pub.topic: smqtt/+/frames: not a topic to publish to"
	printf 'sub:\n  topic:\n    - smqtt/#/frames\n' > filter.yaml
	run smqtt-sub --config filter.yaml -i collector < /dev/null
	assert_status 3
	assert_contains "filter.yaml:2: key sub.topic: smqtt/#/frames: not a valid topic filter"
	# The file must exist when named.
	run smqtt-sub --config missing.yaml -t smqtt/ABC/frames < /dev/null
	assert_status 3
	assert_contains "missing.yaml"
}
