#!/usr/bin/env bats
# The deployment examples work as documented: the cron job that signs and
# publishes CSV drops (examples/cron), the systemd units of the sink and of
# the drop timer (examples/systemd), and the plot script.

load test_helper
load pki_helper
load broker_helper
load registry_helper

setup() {
	common_setup
	unset SMQTT_CONFIG
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/xdg"
	SEND_DROPS=$REPO/examples/cron/smqtt-send-drops
}

SINK_PID=

teardown() {
	[ -z "$SINK_PID" ] || stop_sink "$SINK_PID"
	broker_teardown
}

# config FILE IDENTITY: a configuration file for the test broker with the TLS
# identity IDENTITY, then the lines on stdin; broker.retry_for is 1 second.
config() {
	{
		cat <<-EOF
			broker:
			  host: localhost
			  port: $BROKER_PORT
			  cafile: $PKI/ca.crt
			  cert: $PKI/$2.crt
			  key: $PKI/$2.key
			  retry_for: 1
		EOF
		cat
	} > "$1"
}

# A meter's configuration for smqtt-send-drops: device ABC signs and publishes.
meter_config() {
	config meter.yaml ABC <<-EOF
		device:
		  key: $PKI/ABC.key
		  cert: $PKI/ABC.crt
		  state: $BATS_TEST_TMPDIR/ABC.seq
	EOF
	export SMQTT_CONFIG=$BATS_TEST_TMPDIR/meter.yaml
}

# drop NAME N [START]: N readings of meter ABC in spool/incoming/NAME.csv, the
# way the meter software is told to write them (a temporary name, then rename).
drop() {
	mkdir -p spool/incoming
	meter_records "$(($2 + ${3:-0}))" ABC | tail -n "$2" > "spool/incoming/$1.csv.tmp"
	mv "spool/incoming/$1.csv.tmp" "spool/incoming/$1.csv"
}

@test "cron: a drop is signed and published, and archived in sent/" {
	broker_setup ABC
	tls_args collector
	smqtt-sub "${TLS_ARGS[@]}" -t 'smqtt/+/frames' -C 10 -W 60 > received 2> sub.err 3>&- &
	track $!
	wait_for "the collector's subscription" '[ "$(subscriptions collector)" -ge 1 ]'
	meter_config
	drop 20131102-0015 10
	run "$SEND_DROPS" spool
	[ "$status" -eq 0 ] || fail "status $status: $output"
	[ -z "$(find spool/incoming spool/signing spool/outbox -type f)" ] || fail "left over: $(ls -R spool)"
	[ "$(ls spool/sent)" = 00000000000000000001-20131102-0015.frames ] || fail "sent/: $(ls spool/sent)"
	wait_for "10 frames at the collector" '[ "$(wc -l < received)" -ge 10 ]'
	cmp received spool/sent/00000000000000000001-20131102-0015.frames
	smqtt-verify -c "$PKI/ABC.crt" < received | cut -d' ' -f5- > records
	meter_records 10 ABC | cmp - records
}

@test "cron: a batch that cannot be sent is kept, and sent in order on the next run once the broker is back" {
	broker_setup ABC
	tls_args collector
	# The collector's persistent session keeps what is published while it is away.
	smqtt-sub "${TLS_ARGS[@]}" -i collector -t 'smqtt/+/frames' -W 1 > /dev/null 2> sub.err 3>&- ||
		fail "could not open the collector's session: $(cat sub.err)"
	meter_config
	broker_stop
	drop a 6
	run "$SEND_DROPS" spool
	[ "$status" -eq 1 ] || fail "expected status 1 with the broker down, got $status: $output"
	assert_contains "0 of 6 frames acknowledged; the other 6 are kept for the next run"
	[ "$(ls spool/outbox)" = 00000000000000000001-a.frames ] || fail "outbox: $(ls spool/outbox)"
	[ -z "$(find spool/sent spool/incoming spool/signing -type f)" ] || fail "unexpected files: $(ls -R spool)"
	[ "$(wc -l < spool/outbox/00000000000000000001-a.frames)" -eq 6 ]
	# Still down: a later drop is signed once and waits behind the first one.
	drop b 4 6
	run "$SEND_DROPS" spool
	[ "$status" -eq 1 ] || fail "expected status 1, got $status: $output"
	[ "$(ls spool/outbox | tr '\n' ' ')" = "00000000000000000001-a.frames 00000000000000000007-b.frames " ] ||
		fail "outbox: $(ls spool/outbox)"
	[ "$(cut -d' ' -f3 spool/outbox/*.frames | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 9 10 " ] ||
		fail "frames signed again or out of order: $(cut -d' ' -f3 spool/outbox/*.frames)"

	broker_start
	run "$SEND_DROPS" spool
	[ "$status" -eq 0 ] || fail "status $status once the broker is back: $output"
	[ -z "$(ls spool/outbox)" ] || fail "outbox not emptied: $(ls spool/outbox)"
	[ "$(ls spool/sent | wc -l)" -eq 2 ]
	smqtt-sub "${TLS_ARGS[@]}" -i collector -t 'smqtt/+/frames' -C 10 -W 60 > received 2> sub.err 3>&- ||
		fail "collector: $(cat sub.err)"
	# All ten, in signing order, each once: the verifier accepts every one.
	[ "$(cut -d' ' -f3 received | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 9 10 " ] ||
		fail "received: $(cut -d' ' -f3 received)"
	run smqtt-verify -c "$PKI/ABC.crt" < received
	assert_status 0
	[ "$(printf '%s\n' "$output" | cut -d' ' -f5- | cmp - <(meter_records 10 ABC) && echo same)" = same ]
	# A third run has nothing to do.
	run "$SEND_DROPS" spool
	assert_status 0
	[ "$(ls spool/sent | wc -l)" -eq 2 ]
}

# bad_drop NAME: ten lines of meter ABC in spool/incoming/NAME.csv, of which
# line 4 holds a NUL byte and line 7 is longer than a record may be; the
# eight good ones are in NAME.good.
bad_drop() {
	mkdir -p spool/incoming
	meter_records 10 ABC > "$1.all"
	{
		sed -n 1,3p "$1.all"
		printf '%s\0x\n' "$(sed -n 4p "$1.all")"
		sed -n 5,6p "$1.all"
		printf '%s,%05000d\n' "$(sed -n 7p "$1.all")" 0
		sed -n 8,10p "$1.all"
	} > "spool/incoming/$1.csv.tmp"
	sed '4d;7d' "spool/incoming/$1.csv.tmp" > "$1.good"
	mv "spool/incoming/$1.csv.tmp" "spool/incoming/$1.csv"
}

# collect N: the frames the collector's persistent session holds, until N came.
collect() {
	smqtt-sub "${TLS_ARGS[@]}" -i collector -t 'smqtt/+/frames' -C "$1" -W 60 2> sub.err 3>&- ||
		fail "collector: $(cat sub.err)"
}

# next_seq: the sequence number meter ABC's state gives the next frame.
next_seq() {
	echo 'ABC,probe' | smqtt-sign | cut -d' ' -f3
}

@test "cron: a drop with bad lines is signed once: its good lines are sent, the bad ones set aside and reported once" {
	broker_setup ABC
	tls_args collector
	smqtt-sub "${TLS_ARGS[@]}" -i collector -t 'smqtt/+/frames' -W 1 > /dev/null 2> sub.err 3>&- ||
		fail "could not open the collector's session: $(cat sub.err)"
	meter_config
	broker_stop
	bad_drop a
	cp spool/incoming/a.csv a.csv
	run "$SEND_DROPS" spool
	[ "$status" -eq 1 ] || fail "expected status 1, got $status: $output"
	assert_contains "a.csv: line 4: contains a NUL byte"
	assert_contains "a.csv: line 7: longer than 4096 bytes"
	assert_contains "a.csv: 2 lines not signed, set aside in spool/rejected/a.csv"
	assert_contains "0 of 8 frames acknowledged"
	[ "$(ls spool/outbox)" = 00000000000000000001-a.frames ] || fail "outbox: $(ls -R spool)"
	[ -z "$(find spool/incoming spool/signing spool/sent -type f)" ] || fail "left over: $(ls -R spool)"
	sed -n '4p;7p' a.csv | cmp - spool/rejected/a.csv || fail "rejected/a.csv is not lines 4 and 7"
	[ "$(cut -d: -f1 spool/rejected/a.why | tr '\n' ' ')" = "line 4 line 7 " ] ||
		fail "rejected/a.why: $(cat spool/rejected/a.why)"
	cp spool/outbox/00000000000000000001-a.frames a.frames
	[ "$(cut -d' ' -f3 a.frames | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 " ] || fail "frames: $(cut -d' ' -f3 a.frames)"

	# The broker is still down: nothing is signed again, the rejects are not
	# reported again, and a later drop waits behind the first.
	run "$SEND_DROPS" spool
	[ "$status" -eq 1 ] || fail "expected status 1, got $status: $output"
	refute_contains "line 4"
	cmp a.frames spool/outbox/00000000000000000001-a.frames || fail "the batch changed"
	printf 'ABC,2013-11-02 02:30:00,0,1.0\nABC,bad\rline\nABC,2013-11-02 02:45:00,0,2.0\n' > b.csv
	sed 2d b.csv > b.good
	mv b.csv spool/incoming/b.csv
	run "$SEND_DROPS" spool
	[ "$status" -eq 1 ] || fail "expected status 1, got $status: $output"
	assert_contains "b.csv: line 2: contains a CR byte"
	[ "$(cut -d' ' -f3 spool/outbox/*.frames | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 9 10 " ] ||
		fail "signed again or out of order: $(cut -d' ' -f3 spool/outbox/*.frames)"

	broker_start
	run "$SEND_DROPS" spool
	[ "$status" -eq 0 ] || fail "status $status once the broker is back: $output"
	[ -z "$(ls spool/outbox)" ] || fail "outbox not emptied: $(ls spool/outbox)"
	run "$SEND_DROPS" spool
	assert_status 0
	[ -z "$output" ] || fail "a run with nothing to do said: $output"
	collect 10 > received
	[ "$(cut -d' ' -f3 received | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 9 10 " ] ||
		fail "received: $(cut -d' ' -f3 received)"
	smqtt-verify -c "$PKI/ABC.crt" < received | cut -d' ' -f5- > records
	cat a.good b.good | cmp - records || fail "records: $(cat records)"
	# No sequence number was spent on anything but these ten frames.
	[ "$(next_seq)" -eq 11 ] || fail "the state moved on to $(next_seq)"
}

@test "cron: a drop whose signing was cut short is signed on from where it stopped, never twice" {
	broker_setup ABC
	tls_args collector
	smqtt-sub "${TLS_ARGS[@]}" -i collector -t 'smqtt/+/frames' -W 1 > /dev/null 2> sub.err 3>&- ||
		fail "could not open the collector's session: $(cat sub.err)"
	meter_config
	bad_drop a
	cp spool/incoming/a.csv a.csv
	# A run killed while signing: smqtt-sign had signed lines 1 to 5 (line 4
	# rejected) and written half of the next frame.
	mkdir killed
	cat > killed/smqtt-sign <<-EOF
		#!/bin/sh
		head -n 5 | "$SMQTT_BIN/smqtt-sign" "\$@"
		printf 'smqtt1 ABC 5 MEUCIQ'
		kill -KILL \$PPID \$\$
	EOF
	chmod +x killed/smqtt-sign
	PATH=$BATS_TEST_TMPDIR/killed:$PATH run "$SEND_DROPS" spool
	[ "$status" -ge 128 ] || fail "the run was not killed: status $status: $output"
	[ "$(ls spool/signing | tr '\n' ' ')" = "a.csv a.frames a.from-0.err " ] || fail "signing/: $(ls spool/signing)"

	run "$SEND_DROPS" spool
	[ "$status" -eq 1 ] || fail "expected status 1 (lines rejected), got $status: $output"
	assert_contains "a.csv: line 4: contains a NUL byte"
	assert_contains "a.csv: line 7: longer than 4096 bytes"
	sed -n '4p;7p' a.csv | cmp - spool/rejected/a.csv || fail "rejected/a.csv is not lines 4 and 7"
	[ -z "$(find spool/incoming spool/signing spool/outbox -type f)" ] || fail "left over: $(ls -R spool)"
	collect 8 > received
	[ "$(cut -d' ' -f3 received | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 " ] || fail "received: $(cut -d' ' -f3 received)"
	cmp received spool/sent/00000000000000000001-a.frames
	smqtt-verify -c "$PKI/ABC.crt" < received | cut -d' ' -f5- | cmp - a.good || fail "not each good line once"
	[ "$(next_seq)" -eq 9 ] || fail "the state moved on to $(next_seq)"
}

@test "cron: a run killed while publishing: the next run sends only what the broker had not acknowledged" {
	broker_setup ABC
	tls_args collector
	smqtt-sub "${TLS_ARGS[@]}" -i collector -t 'smqtt/+/frames' -W 1 > /dev/null 2> sub.err 3>&- ||
		fail "could not open the collector's session: $(cat sub.err)"
	meter_config
	drop a 6
	mkdir killed
	cat > killed/smqtt-pub <<-EOF
		#!/bin/sh
		head -n 3 | "$SMQTT_BIN/smqtt-pub" "\$@"
		kill -KILL \$PPID \$\$
	EOF
	chmod +x killed/smqtt-pub
	PATH=$BATS_TEST_TMPDIR/killed:$PATH run "$SEND_DROPS" spool
	[ "$status" -ge 128 ] || fail "the run was not killed: status $status: $output"
	[ "$(wc -l < spool/outbox/00000000000000000001-a.frames.acked)" -eq 3 ] || fail "outbox: $(ls spool/outbox)"
	run "$SEND_DROPS" spool
	assert_status 0
	collect 6 > received
	[ "$(cut -d' ' -f3 received | tr '\n' ' ')" = "1 2 3 4 5 6 " ] || fail "received: $(cut -d' ' -f3 received)"
	# Nothing more is waiting in the session: no frame went out twice.
	run smqtt-sub "${TLS_ARGS[@]}" -i collector -t 'smqtt/+/frames' -W 1
	[ -z "$output" ] || fail "sent twice: $output"
	cmp <(sort received) <(sort spool/sent/00000000000000000001-a.frames)
}

@test "cron: -f takes the lines appended to a growing file since the last run, each once; a line still being written waits" {
	broker_setup ABC
	tls_args collector
	smqtt-sub "${TLS_ARGS[@]}" -i collector -t 'smqtt/+/frames' -W 1 > /dev/null 2> sub.err 3>&- ||
		fail "could not open the collector's session: $(cat sub.err)"
	meter_config
	meter_records 9 ABC > all
	mkdir meter
	# The meter software keeps the file open and appends.
	exec 7>> meter/readings.csv
	sed -n 1,3p all >&7
	printf '%s' "$(sed -n 4p all | cut -c1-12)" >&7
	run "$SEND_DROPS" -f meter/readings.csv spool
	[ "$status" -eq 0 ] || fail "status $status: $output"
	[ "$(cat spool/sent/*.frames | wc -l)" -eq 3 ] || fail "sent: $(cat spool/sent/*)"
	run "$SEND_DROPS" -f meter/readings.csv spool
	assert_status 0
	[ "$(cat spool/sent/*.frames | wc -l)" -eq 3 ] || fail "taken twice: $(cat spool/sent/*)"
	# The rest of line 4, a bad line, lines 5 and 6.
	printf '%s\n' "$(sed -n 4p all | cut -c13-)" >&7
	printf 'ABC,\0bad\n' >&7
	sed -n 5,6p all >&7
	run "$SEND_DROPS" -f meter/readings.csv spool
	[ "$status" -eq 1 ] || fail "expected status 1 (a line rejected), got $status: $output"
	assert_contains "line 2: contains a NUL byte"
	printf 'ABC,\0bad\n' | cmp - spool/rejected/readings-*.csv || fail "rejected: $(ls -l spool/rejected)"
	# Replaced by a new file (rotated): taken from its start.
	exec 7>&-
	sed -n 7,9p all > meter/readings.csv.new
	mv meter/readings.csv.new meter/readings.csv
	run "$SEND_DROPS" -f "$BATS_TEST_TMPDIR/meter/readings.csv" spool
	[ "$status" -eq 0 ] || fail "status $status: $output"
	collect 9 > received
	[ "$(cut -d' ' -f3 received | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 9 " ] || fail "received: $(cut -d' ' -f3 received)"
	smqtt-verify -c "$PKI/ABC.crt" < received | cut -d' ' -f5- | cmp - all || fail "not each line once, in order"
	[ "$(ls spool/sent | wc -l)" -eq 3 ] || fail "sent/: $(ls spool/sent)"
}

@test "cron: -f: a run killed while taking new lines from the file loses none and takes none twice" {
	broker_setup ABC
	meter_config
	meter_records 6 ABC > all
	mkdir meter killed
	# mv that kills the run instead of making the rename named by $KILL_AT.
	cat > killed/mv <<-'EOF'
		#!/bin/sh
		case $2 in
		$KILL_AT) kill -KILL $PPID $$ ;;
		esac
		exec /bin/mv "$@"
	EOF
	chmod +x killed/mv
	# Killed after the lines were copied out, before the offset was recorded:
	# they are taken again.
	sed -n 1,2p all > meter/readings.csv
	KILL_AT='follow/readings.offset' PATH=$BATS_TEST_TMPDIR/killed:$PATH run "$SEND_DROPS" -f meter/readings.csv spool
	[ "$status" -ge 128 ] || fail "the run was not killed: status $status: $output"
	[ -z "$(ls spool/incoming)" ] || fail "handed over before it was recorded: $(ls spool/incoming)"
	# Killed after the offset was recorded, before the lines were handed over:
	# the next run hands them over.
	KILL_AT='incoming/*' PATH=$BATS_TEST_TMPDIR/killed:$PATH run "$SEND_DROPS" -f meter/readings.csv spool
	[ "$status" -ge 128 ] || fail "the run was not killed: status $status: $output"
	[ -s spool/follow/readings.offset ] || fail "no offset recorded: $(ls -R spool)"
	sed -n 3,6p all >> meter/readings.csv
	run "$SEND_DROPS" -f meter/readings.csv spool
	[ "$status" -eq 0 ] || fail "status $status: $output"
	[ -z "$(ls spool/follow | grep -v '^readings.offset$')" ] || fail "left in follow/: $(ls spool/follow)"
	cat spool/sent/*.frames | cut -d' ' -f5- | cmp - all || fail "not each line once: $(cat spool/sent/*.frames)"
}

@test "cron: a run while another holds the spool's lock leaves the spool alone" {
	mkdir -p spool
	drop x 3
	exec 8> spool/lock
	flock -n 8
	SMQTT_CONFIG=/nonexistent run "$SEND_DROPS" spool
	exec 8>&-
	assert_status 0
	assert_contains "another run is still going on"
	[ -f spool/incoming/x.csv ] || fail "the drop was touched"
}

@test "cron: usage error, and the crontab line names the script, a user and a 15-minute schedule" {
	run "$SEND_DROPS"
	assert_status 2
	assert_contains "usage: smqtt-send-drops [-f FILE]... SPOOL"
	line=$(grep -v '^#' "$REPO/examples/cron/smqtt-send-drops.cron" | grep -v '=' | grep .)
	[ "$(printf '%s\n' "$line" | wc -l)" -eq 1 ] || fail "expected one job line: $line"
	read -r minute hour dom month dow user command spool <<< "$line"
	[ "$minute $hour $dom $month $dow" = "*/15 * * * *" ] || fail "schedule: $minute $hour $dom $month $dow"
	[ "$user" = smqtt ] && [ "${command##*/}" = smqtt-send-drops ] && [ -n "$spool" ] || fail "job: $line"
	grep -q '^SMQTT_CONFIG=/' "$REPO/examples/cron/smqtt-send-drops.cron"
}

# yaml_value FILE SECTION.KEY: the value of a two-level key of FILE.
yaml_value() {
	awk -v want="$2" '/^[a-z_]+:/ { section = $1; sub(/:$/, "", section); next }
		/^ +[a-z_]+:/ { key = $1; sub(/:$/, "", key); if (section "." key == want) print $2 }' "$1"
}

# under PATH DIR...: PATH is DIR or lies below one of the DIRs.
under() {
	local path=$1 dir
	shift
	for dir; do
		case $path in
		"$dir" | "$dir"/*) return 0 ;;
		esac
	done
	return 1
}

@test "install: the cron helper and the examples are installed with the prefix's paths, and the units pass systemd-analyze verify" {
	command -v systemd-analyze > /dev/null || fail "systemd-analyze is not installed (make deps installs systemd)"
	root=$BATS_TEST_TMPDIR/root
	make -s -C "$REPO" install DESTDIR="$root" PREFIX=/opt/smqtt > make.log 2>&1 || fail "$(cat make.log)"
	helper=/opt/smqtt/libexec/smqtt/smqtt-send-drops
	[ -x "$root$helper" ] || fail "$helper is not installed"
	cmp "$SEND_DROPS" "$root$helper"
	examples=$root/opt/smqtt/share/doc/smqtt/examples
	for f in smqtt.yaml cron/smqtt-send-drops.cron systemd/smqtt-sink.service systemd/smqtt-sink@.service \
		systemd/smqtt-send-drops.service systemd/smqtt-send-drops.timer mosquitto/mosquitto.conf \
		mosquitto/edge.conf mosquitto/acl; do
		[ -f "$examples/$f" ] || fail "examples/$f is not installed"
	done
	run grep -rn /usr/local "$examples"
	[ "$status" -eq 1 ] || fail "the installed examples name /usr/local: $output"
	# cron runs the installed helper with the installed programs on its PATH.
	grep -q "^PATH=/opt/smqtt/bin:" "$examples/cron/smqtt-send-drops.cron" || fail "cron: no PATH=/opt/smqtt/bin:..."
	grep -q "^\*/15 .* smqtt $helper /var/spool/smqtt\$" "$examples/cron/smqtt-send-drops.cron" ||
		fail "cron: the job does not run $helper"

	mkdir units
	for unit in "$examples"/systemd/*.service; do
		name=${unit##*/}
		program=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
		case $program in
		/opt/smqtt/*) [ -x "$root$program" ] || fail "$name runs $program, which make install did not install" ;;
		*) [ -x "$program" ] || fail "$name runs $program, which is not on this system" ;;
		esac
		grep -qx 'Environment=PATH=/opt/smqtt/bin:/usr/bin:/bin' "$unit" || fail "$name: programs not on its PATH"
		grep -qx 'Environment=SMQTT_CONFIG=/etc/smqtt/config.yaml' "$unit" || fail "$name: not /etc/smqtt/config.yaml"
		# systemd-analyze checks that the program exists: the one in DESTDIR.
		sed "s|^ExecStart=/opt/smqtt/|ExecStart=$root/opt/smqtt/|" "$unit" > "units/$name"
	done
	cp "$examples"/systemd/*.timer units/
	# A template is verified as one of its instances.
	mv units/smqtt-sink@.service units/smqtt-sink@1.service
	run systemd-analyze verify --man=no units/smqtt-sink.service units/smqtt-sink@1.service \
		units/smqtt-send-drops.service units/smqtt-send-drops.timer
	[ "$status" -eq 0 ] && [ -z "$output" ] || fail "systemd-analyze verify: $output"
	grep -qx 'Restart=on-failure' units/smqtt-sink.service

	# What the programs write, by the installed configuration, is where the
	# units let them write (ProtectSystem=strict makes the rest read-only).
	for check in smqtt-send-drops.service:device.state smqtt-sink.service:store.db \
		smqtt-sink.service:registry.db smqtt-sink.service:verify.rejects; do
		unit=$examples/systemd/${check%%:*}
		read -ra writable <<< "$(sed -n 's/^ReadWritePaths=//p' "$unit")"
		[ "${#writable[@]}" -ge 1 ] || fail "$unit: no ReadWritePaths"
		value=$(yaml_value "$examples/smqtt.yaml" "${check#*:}")
		[ -n "$value" ] || fail "smqtt.yaml sets no ${check#*:}"
		# A relative name lies in /etc/smqtt, beside the file.
		case $value in
		/*) ;;
		*) value=/etc/smqtt/$value ;;
		esac
		under "$value" "${writable[@]}" ||
			fail "${check#*:} is $value, which ${check%%:*} may not write (ReadWritePaths=${writable[*]})"
	done
	# The spool, the registry and the rejects named on the command lines.
	for unit in "$examples"/systemd/*.service; do
		read -ra writable <<< "$(sed -n 's/^ReadWritePaths=//p' "$unit")"
		for path in $(sed -n 's/^ExecStart=//p' "$unit" | grep -o ' /var/[^ ]*'); do
			under "$path" "${writable[@]}" || fail "${unit##*/} names $path, which it may not write"
		done
	done

	make -s -C "$REPO" uninstall DESTDIR="$root" PREFIX=/opt/smqtt
	[ -z "$(find "$root" -type f)" ] || fail "left behind: $(find "$root" -type f)"
	[ ! -e "$root/opt/smqtt/libexec/smqtt" ] && [ ! -e "$root/opt/smqtt/share/doc/smqtt" ] ||
		fail "directories left behind: $(find "$root" -name '*smqtt*')"
}

# The sink unit's command line, with /var/lib/smqtt moved to DIR.
sink_command() {
	sed -n 's/^ExecStart=//p' "$REPO/examples/systemd/smqtt-sink.service" | sed "s|/var/lib/smqtt|$1|g"
}

# children PID: the PIDs of PID's child processes.
children() {
	local stat line
	for stat in /proc/[0-9]*/stat; do
		read -r line 2> /dev/null < "$stat" || continue
		line=${line##*) }	# after the command name: STATE PPID ...
		line=${line#* }
		[ "${line%% *}" != "$1" ] || { stat=${stat#/proc/}; printf '%s\n' "${stat%/stat}"; }
	done
}

# Stop the sink started as PID (bash -c): stop the pipeline under it, by
# their PIDs; bash ends once it has reaped all of them.
stop_sink() {
	local pid=$1 child
	for child in $(children "$pid"); do kill "$child" 2> /dev/null; done
	wait "$pid" 2> /dev/null || true
}

@test "systemd: the sink unit's pipeline verifies and stores, and fails (for a restart) when smqtt-sub does" {
	broker_setup ABC
	mkdir state
	smqtt-register -R state/registry.db init --ca "$PKI/ca.crt"
	issue_line ABC "$PKI/ABC.crt" | smqtt-register -R state/registry.db add 2> /dev/null
	config sink.yaml collector <<-EOF
		sub:
		  topic: [smqtt/+/frames]
		store:
		  db: $BATS_TEST_TMPDIR/state/readings.db
	EOF
	sink_command state > sink.sh
	grep -q 'smqtt-sub | smqtt-verify --registry state/registry.db' sink.sh || fail "unexpected command: $(cat sink.sh)"
	exec_line=$(sed -n 's/^ExecStart=//p' "$REPO/examples/systemd/smqtt-sink.service")
	[ "${exec_line%% -c *}" = "/bin/bash -o pipefail" ] || fail "the sink does not run with pipefail: $exec_line"
	cmd=$(sed -n "s/^[^']*'\(.*\)'\$/\1/p" sink.sh)
	SMQTT_CONFIG=$BATS_TEST_TMPDIR/sink.yaml bash -o pipefail -c "$cmd" > sink.out 2> sink.err 3>&- &
	SINK_PID=$!
	wait_for "the sink's subscription" '[ "$(subscriptions collector)" -ge 1 ]'
	meter_records 8 ABC | smqtt-sign -k "$PKI/ABC.key" -c "$PKI/ABC.crt" -S abc.seq > frames
	sed '3s/,[0-9.]*$/,999.9/' frames | pub_as ABC > /dev/null 2> pub.err || fail "pub: $(cat pub.err)"
	wait_for "7 stored rows" \
		'[ "$(sqlite3 state/readings.db "select count(*) from readings" 2> /dev/null || echo 0)" -ge 7 ]'
	stop_sink "$SINK_PID"
	SINK_PID=
	grep -q 'device ABC seq 3: bad signature' sink.err || fail "no rejection logged: $(cat sink.err)"
	[ "$(wc -l < state/rejects.txt)" -eq 1 ] || fail "rejects.txt: $(cat state/rejects.txt)"
	[ "$(sqlite3 state/readings.db 'select count(*) from readings where value = 999.9')" -eq 0 ]

	# With the broker gone, smqtt-sub gives up after broker.retry_for and the
	# pipeline fails as a whole, so systemd restarts it (Restart=on-failure).
	broker_stop
	run env SMQTT_CONFIG="$BATS_TEST_TMPDIR/sink.yaml" bash -o pipefail -c "$cmd"
	[ "$status" -ne 0 ] || fail "the sink pipeline exited 0 with the broker down: $output"
	assert_contains "smqtt-sub: "
}

@test "mosquitto: the example's crlfile line, enabled, shuts out a device revoked after a reload (SIGHUP); its open connection stays" {
	broker_setup GOOD BAD
	broker_stop
	conf=$BROKER_DIR/mosquitto.conf
	grep -qx "#crlfile $PKI/crl.pem" "$conf" || fail "examples/mosquitto/mosquitto.conf has no '#crlfile .../crl.pem' line"
	sed -i "s|^#crlfile |crlfile |" "$conf"
	# As the file says: mosquitto does not start without the CRL, and does from an empty one.
	run timeout 20 mosquitto -c "$conf" 3>&-
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "mosquitto started without its CRL (status $status)"
	grep -q 'Unable to load certificate revocation file' "$BROKER_LOG" || fail "$(tail -n 3 "$BROKER_LOG")"
	smqtt-issue crl --ca-dir "$PKI/ca" < /dev/null > "$PKI/crl.pem" 2> /dev/null
	broker_start
	for d in GOOD BAD; do
		echo "$d,2013-11-02 00:15:00,0,1.0" | smqtt-sign -k "$PKI/$d.key" -c "$PKI/$d.crt" -S "$d.seq" > "$d.frames"
	done
	pub_as BAD < BAD.frames > /dev/null 2> err || fail "BAD refused before its revocation: $(cat err)"
	# BAD stays connected, waiting for a command, while it is revoked.
	tls_args BAD
	smqtt-sub "${TLS_ARGS[@]}" -t smqtt/BAD/commands -C 1 -W 60 > command 2> sub.err 3>&- &
	track $!
	wait_for "BAD's subscription" '[ "$(subscriptions BAD)" -ge 1 ]'

	grep -q 'systemctl reload mosquitto (SIGHUP)' "$REPO/examples/mosquitto/mosquitto.conf" ||
		fail "mosquitto.conf does not say how to reload the CRL"
	serial=$(openssl x509 -in "$PKI/BAD.crt" -noout -serial | cut -d= -f2)
	echo "$serial BAD $(date -u +%Y-%m-%dT%H:%M:%SZ) keyCompromise" |
		smqtt-issue crl --ca-dir "$PKI/ca" > "$PKI/crl.new" 2> /dev/null && mv "$PKI/crl.new" "$PKI/crl.pem"
	kill -HUP "$BROKER_PID"
	wait_for "the reload" 'grep -q "Reloading config" "$BROKER_LOG"'
	run pub_as BAD --retry-for 2 < BAD.frames
	assert_status 3
	assert_contains "certificate revoked"
	pub_as GOOD < GOOD.frames > good.out 2> err || fail "GOOD refused: $(cat err)"
	[ "$(wc -l < good.out)" -eq 1 ]
	# The connection BAD opened before the reload still gets its command.
	echo 'BAD,set-interval,900' | smqtt-sign -k "$PKI/control.key" -c "$PKI/control.crt" -S control.seq |
		pub_as control -t smqtt/BAD/commands > /dev/null 2> err || fail "control: $(cat err)"
	wait_for "the command at BAD" '[ -s command ]'
}

@test "plot: examples/plot.gp draws a PNG from a database of smqtt-store" {
	command -v gnuplot > /dev/null || fail "gnuplot is not installed (make deps installs it)"
	make_key m
	grep '^DEF,' "$REPO/examples/readings.csv" | smqtt-sign -k m.key -i DEF | smqtt-store -d r.db 2> /dev/null
	gnuplot -e "db='r.db'; out='p.png'" "$REPO/examples/plot.gp" 2> err || fail "gnuplot: $(cat err)"
	[ "$(head -c 8 p.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "not a PNG"
	sqlite3 empty.db 'create table readings (meter text, time text, channel integer, value real)'
	run gnuplot -e "db='empty.db'; out='q.png'" "$REPO/examples/plot.gp"
	[ "$status" -ne 0 ] || fail "plot.gp drew an empty database"
	assert_contains "no readings in empty.db"
}
