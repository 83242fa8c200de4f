#!/usr/bin/env bats
# Every example in the EXAMPLES section of every manual page runs as written.
#
# The examples of a page run one after the other in one directory, as a
# reader would type them, starting from a copy of env/: the files the pages
# take as given (readings.csv, frames.txt, the keys and certificates they
# name, a CA in ca/, registries; readings.csv holds the readings of the
# meter ABC, as on that meter). A line of an example that does not start
# with "$ " (or with blanks, continuing a command) is what the command before
# it prints, and must be among what it printed. Every command must exit 0
# unless STATUS below says otherwise. The MQTT examples run against a real
# mosquitto (broker_helper.bash).
#
# The same few changes are made to every example, and no other:
# - /etc/smqtt/, /run/secrets/, /var/lib/smqtt/ and /tmp/ are root/etc/smqtt/
#   (and so on) in the example's directory;
# - the broker's names (broker.example.net, broker.example, mqtt.example) are
#   localhost, and the broker's port, the default in the examples, comes from
#   the file SMQTT_CONFIG names;
# - a command that runs until it is stopped (smqtt-sub without -C or -W,
#   tail -F) is started in the background, and stopped once UNTIL holds.
#
# Each row of the tables below is about one example: PAGE, the number of the
# example on the page, the start of its first line, then "|" and the row's
# value. A row whose example is not there any more, or starts otherwise,
# fails the test, and so does an example that is neither run nor listed in
# NOT_RUN.

load test_helper
load pki_helper
load broker_helper

# Examples not run here, and why.
NOT_RUN='
smqtt-frame.5 1 smqtt1 ABC 1 |a frame, not a command
smqtt-frame.5 2 frame=$(sed -n 1p frames.txt)|the openssl recipe: docs.bats runs it on P-256, P-384 and Ed25519 frames
smqtt-frame.5 3 openssl x509 -in cert.pem -pubkey|docs.bats runs it with the openssl recipe
smqtt-decrypt.1 1 $ smqtt-sub -t |leaves out the broker and TLS options (...); smqtt-decrypt.bats runs this pipeline through mosquitto
smqtt-register.1 3 $ smqtt-sub ... |leaves out the broker and TLS options (...); the sink test of examples.bats runs this pipeline
smqtt-register.1 8 $ createdb -h db.example|needs a PostgreSQL server of its own (db.example); registry-pg.bats runs init, issuing into the registry and verifiers sharing it against a real server
smqtt-sub.1 2 $ smqtt-sub -i collector-1 |leaves out the broker and TLS options (...); smqtt-sub.bats tests a shared subscription
smqtt-sub.1 4 $ smqtt-sub -v -W 10 |leaves out the broker and TLS options (...)
smqtt-verify.1 5 $ smqtt-sub ... |leaves out the broker and TLS options (...)
smqtt.conf.5 1 # Meter ABC|a configuration file: the next example runs with it, and config.bats loads it
smqtt.conf.5 3 # Control center|a configuration file: config.bats loads it
'

# What the text of the page says holds before the example, as commands run
# in the example's directory: where an example starts over, or is one of
# several ways to do the same thing, or needs something the page describes.
GIVEN='
smqtt-decrypt.1 2 $ smqtt-verify -c abc.crt|smqtt-pkg setup -m master.key > params.pem && smqtt-pkg keygen --params params.pem -m master.key -o . billing role:billing > /dev/null && smqtt-encrypt --params params.pem -i ABC -P role:billing < readings.csv | smqtt-sign -k abc.key -i ABC -S ../enc.seq > frames.enc
smqtt-encrypt.1 1 $ smqtt-encrypt --params params.pem|smqtt-pkg setup -m master.key > params.pem
smqtt-issue.1 1 $ smqtt-issue ca --ca-dir ca|rm -rf ca registry.db
smqtt-issue.1 2 $ smqtt-register -R registry.db init|rm -rf registry.db fleet
smqtt-keygen.1 1 $ smqtt-keygen -k abc.key|rm abc.key abc.pub
smqtt-keygen.1 2 $ smqtt-keygen --type ed25519|rm abc.key abc.pub
smqtt-keygen.1 3 $ SMQTT_PASS=|rm abc.key abc.pub
smqtt-keygen.1 4 $ openssl req -new -x509|cp -p ../env/abc.key ../env/abc.pub .
smqtt-pkg.1 1 $ smqtt-pkg setup|mkdir -m 700 pkg && echo "a passphrase for the authority" > pkg/pass
smqtt-pkg.1 2 $ smqtt-pkg keygen --params|mkdir -m 700 keys
smqtt-pkg.1 3 $ smqtt-register -R registry.db list|smqtt-register -R registry.db set ABC feeder=F12 kind=household && smqtt-register -R registry.db set DEF feeder=F12 kind=industrial && smqtt-register -R registry.db set GHI feeder=F13
smqtt-register.1 1 $ smqtt-issue ca --ca-dir ca|rm -rf ca reg.db
smqtt-register.1 2 $ cat meter-a.crt meter-b.crt|printf "meter-a\nmeter-b\n" | smqtt-issue device --ca-dir ca -o elsewhere > /dev/null 2>&1 && cp elsewhere/meter-a.crt elsewhere/meter-b.crt .
smqtt-sub.1 3 $ smqtt-sub -t smqtt/ABC/commands|sub_as ABC -i ABC-commands -t smqtt/ABC/commands -W 1 > /dev/null && echo ABC,set-interval,900 | smqtt-sign -k control.key -c control.crt -S ../control.seq | pub_as control -t smqtt/ABC/commands > /dev/null
smqtt-verify.1 9 $ smqtt-verify -c meter.crt < frames.txt|head -n 5 ../env/frames.txt | sed "3s/,[0-9.]*\$/,999.9/" > frames.txt
smqtt.7 1 $ smqtt-keygen -k abc.key|rm abc.key abc.pub
smqtt.7 3 $ smqtt-sign -k ABC.key|cp -a ../env ../center && cd ../center
smqtt.7 5 $ sqlite3 readings.db|rm -f readings.db* && cp ../center/readings.db .
smqtt.conf.5 2 $ read-meter /dev/ttyUSB0|cp ca.crt ABC.crt ABC.key root/etc/smqtt/ && map < "$BLOCKS/1" | sed "s/^  port: 8883\$/  port: $BROKER_PORT/" > root/etc/smqtt/config.yaml && export SMQTT_CONFIG=$PWD/root/etc/smqtt/config.yaml
'
# Why: smqtt-issue(1) and smqtt-register(1) start a CA and a registry of
# their own; the first three examples of smqtt-keygen(1) are three ways to
# make abc.key, and the fourth uses a key without a passphrase (the one
# frames.txt was signed with, for the fifth); the second example of
# smqtt-issue(1) does in one step what the first does with a pipe; meter-a.crt
# and meter-b.crt are "certificates from elsewhere" issued by that CA; the
# meter of smqtt-sub(1) takes "the next command", so one is waiting; the last
# example of smqtt-verify(1) counts the problems of frames.txt, five frames
# of which the third was altered; in smqtt(7), the meter and the control
# center of the MQTT example are other machines than the first two examples',
# and the re-verification against the registry runs on the control center's
# database;
# in smqtt.conf(5), "with it" is the meter's configuration shown before, in
# /etc/smqtt/config.yaml.

# The exit status of an example's last command, where it is not 0.
STATUS='
smqtt-verify.1 9 $ smqtt-verify -c meter.crt < frames.txt|1
'

# Run once, in the bats process, after an example has been started.
AFTER='
smqtt-sub.1 1 $ smqtt-sub -t |pub_as ABC < frames.txt > /dev/null
'

# For an example that runs until stopped: what shows it did its work (polled).
UNTIL='
smqtt-pub.1 3 $ tail -F -n 0 readings.csv|echo ABC,tail-probe >> readings.csv && sub_as collector -i collector -t "smqtt/+/frames" -W 1 | grep -q " ABC,tail-probe\$"
smqtt-sub.1 1 $ smqtt-sub -t |[ "$(sqlite3 readings.db "select count(*) from readings" 2> /dev/null || echo 0)" -eq 192 ]
smqtt.7 3 $ smqtt-sign -k ABC.key|[ "$(sqlite3 readings.db "select count(*) from readings" 2> /dev/null || echo 0)" -eq 192 ]
'

setup() {
	common_setup
	BACKGROUND_GROUPS=()
}

teardown() {
	local group
	for group in "${BACKGROUND_GROUPS[@]}"; do
		kill -- "-$group" 2> /dev/null || true
	done
	broker_teardown
}

# map: the changes made to every example (see the top of this file).
map() {
	sed -E -e "s# /(etc/smqtt|run/secrets|var/lib/smqtt|tmp)/# $PWD/root/\1/#g" \
		-e 's/(broker\.example\.net|broker\.example|mqtt\.example)/localhost/g'
}

# row TABLE PAGE N: the value of the table's row for example N of PAGE;
# false if there is none.
row() {
	local line
	while IFS= read -r line; do
		case $line in
		"$2 $3 "*)
			printf '%s\n' "${line#*|}"
			return 0
			;;
		esac
	done <<< "$1"
	return 1
}

# check_rows PAGE: every row for PAGE names an example of the page, which
# starts as the row says.
check_rows() {
	local table line n prefix first
	for table in "$NOT_RUN" "$GIVEN" "$STATUS" "$AFTER" "$UNTIL"; do
		while IFS= read -r line; do
			case $line in
			"$1 "*) ;;
			*) continue ;;
			esac
			n=${line#"$1 "}
			n=${n%% *}
			[ -f "$BLOCKS/$n" ] || fail "a row for man/$1 example $n, which does not exist: $line" || return 1
			prefix=${line#"$1 $n "}
			prefix=${prefix%%|*}
			first=$(head -n 1 "$BLOCKS/$n")
			case $first in
			"$prefix"*) ;;
			*) fail "man/$1 example $n now starts '$first', not '$prefix': update the rows of man-examples.bats"
				return 1 ;;
			esac
		done <<< "$table"
	done
}

# examples PAGE DIR: each literal display of PAGE's EXAMPLES section as DIR/N.
examples() {
	mkdir -p "$2"
	awk -v dir="$2" '/^\.Sh EXAMPLES/ { ex = 1; next }
		ex && /^\.Sh / { exit }
		ex && /^\.Bd -literal/ { n++; in_display = 1; next }
		in_display && /^\.Ed/ { in_display = 0; next }
		in_display { gsub(/\\e/, "\\"); print > (dir "/" n) }' "$REPO/man/$1"
}

# fixture: env/, the files the pages take as given, and the PKI in $PKI.
fixture() {
	local here=$PWD
	mkdir -p env/bin env/root/etc/smqtt env/root/run/secrets env/root/var/lib/smqtt env/root/tmp
	cd env || return 1
	# The meter ABC's readings: the pages sign readings.csv as ABC.
	grep '^ABC,' "$REPO/examples/readings.csv" > readings.csv
	cp -a "$PKI/ca" ca
	cp "$PKI/ca.crt" .
	local f
	for f in ABC abc abc-tls; do
		cp -p "$PKI/ABC.key" "$f.key"
		cp "$PKI/ABC.crt" "$f.crt"
	done
	cp "$PKI/ABC.crt" meter.crt
	cp "$PKI/DEF.crt" def.crt
	cp "$PKI/GHI.crt" ghi.crt
	cp "$PKI/pmu-7.crt" pmu-7.crt
	for f in collector control; do
		cp -p "$PKI/$f.key" "$f.key"
		cp "$PKI/$f.crt" "$f.crt"
	done
	cp -p control.key control-tls.key
	cp control.crt control-tls.crt
	openssl pkey -in abc.key -pubout -out abc.pub
	cp abc.pub abc-2025.pub
	smqtt-keygen -k ../next.key > abc-2026.pub
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ../csr.key \
		-subj /CN=ABC -out abc.csr 2> /dev/null
	smqtt-keygen -k ../def.key > def.pub
	grep '^ABC,' readings.csv | smqtt-sign -k abc.key -c abc.crt -S ../frames.seq > frames.txt
	printf '2013-11-02 00:00:0%s.000,50.0%s,0.002,0\n' 0 1 1 2 2 0 |
		smqtt-sign -k "$PKI/pmu-7.key" -c pmu-7.crt -S ../pmu.seq > pmu.txt
	smqtt-register -R reg.db init --ca ca.crt
	cat ABC.crt def.crt ghi.crt | smqtt-register -R reg.db add 2> /dev/null
	cp reg.db registry.db
	echo 'a passphrase' > root/etc/smqtt/pass
	echo 'another passphrase' > root/run/secrets/abc
	# read-meter stands for any program that prints one reading per line.
	meter_records 4 ABC > bin/read-meter.data
	printf '#!/bin/sh\nexec cat "$(dirname "$0")/read-meter.data"\n' > bin/read-meter
	chmod +x bin/read-meter
	cd "$here" || return 1
	export PATH="$BATS_TEST_TMPDIR/env/bin:$PATH"
}

# script N: example N of the page (in $BLOCKS) as a bash script that runs
# each command, keeps what it printed in out.N.K, and stops at the first one
# that does not exit as expected; commands that run until stopped are
# started in the background, their process groups listed in groups.
script() {
	local n=$1 last_status=$2 k=0 line command=
	printf 'set -o pipefail\n'
	# flush K COMMAND: the command K, run and checked.
	flush() {
		[ -n "$command" ] || return 0
		k=$((k + 1))
		case $command in
		*smqtt-sub*" -C "* | *smqtt-sub*" -W "*) ;;
		*smqtt-sub* | "tail -F"*)
			printf '%s\n' "$command" > "bg.$n.$k.sh"
			printf 'setsid bash -o pipefail bg.%s.%s.sh > out.%s.%s 2>&1 < /dev/null &\necho $! >> groups\n' \
				"$n" "$k" "$n" "$k"
			command=
			return 0
			;;
		esac
		printf '{\n%s\n} > out.%s.%s 2>&1\n' "$command" "$n" "$k"
		printf 'status=$?; [ "$status" -eq "${expect_%s:-0}" ] || { echo "command %s: exit status $status" >&2; exit 1; }\n' \
			"$k" "$k"
		command=
	}
	while IFS= read -r line; do
		case $line in
		'$ '*)
			flush
			command=${line#\$ }
			;;
		' '*) command="$command"$'\n'"$line" ;;
		*)
			flush
			# What command K printed.
			printf 'grep -qxF -- %q out.%s.%s || { echo "command %s did not print: %s" >&2; exit 1; }\n' \
				"$line" "$n" "$k" "$k" "$line"
			;;
		esac
	done < <(map < "$BLOCKS/$n")
	# The status expected of the last command: set before it runs.
	flush
	printf 'exit 0\n'
	[ "$k" -ge 1 ] || fail "example $n: no command"
	# Put the expected status of the last command at the top.
	echo "expect_$k=$last_status"
}

# run_page PAGE: run every example of PAGE in order, in PAGE/.
run_page() {
	local page=$1 n first reason given status after until sandbox=$BATS_TEST_TMPDIR/$1
	BLOCKS=$BATS_TEST_TMPDIR/examples-$page
	examples "$page" "$BLOCKS"
	[ -n "$(ls "$BLOCKS")" ] || fail "man/$page has no examples"
	check_rows "$page"
	cp -a env "$sandbox"
	local ran=0 listed=0
	for n in $(ls "$BLOCKS" | sort -n); do
		first=$(head -n 1 "$BLOCKS/$n")
		cd "$sandbox" || return 1
		if reason=$(row "$NOT_RUN" "$page" "$n"); then
			listed=$((listed + 1))
			continue
		fi
		case $first in
		'$ '*) ;;
		*) fail "man/$page example $n is not a command (\$ ...) and not in NOT_RUN: $first" ;;
		esac
		if given=$(row "$GIVEN" "$page" "$n"); then
			eval "$given" || fail "man/$page example $n: the given commands failed: $given"
		fi
		status=$(row "$STATUS" "$page" "$n") || status=0
		script "$n" "$status" > "script.$n"
		# The expectation first, then the commands.
		{ tail -n 1 "script.$n"; sed '$d' "script.$n"; } > "example.$n.sh"
		rm -f groups
		bash "example.$n.sh" > "example.$n.out" 2>&1 3>&- ||
			fail "man/$page example $n failed: $(cat "example.$n.out"); the example:" "$(cat "$BLOCKS/$n")" \
				"printed: $(cat out."$n".* 2> /dev/null)"
		if [ -s groups ]; then
			BACKGROUND_GROUPS+=($(cat groups))
		fi
		if after=$(row "$AFTER" "$page" "$n"); then
			eval "$after" || fail "man/$page example $n: the commands after it failed: $after"
		fi
		if until=$(row "$UNTIL" "$page" "$n"); then
			[ -s groups ] || fail "man/$page example $n has an UNTIL row but nothing runs until stopped"
			holds_within 60 "$until" ||
				fail "man/$page example $n did not do its work within 60 s ($until); it printed:" \
					"$(cat out."$n".* 2> /dev/null)"
			stop_groups $(cat groups)
		elif [ -s groups ]; then
			fail "man/$page example $n runs until stopped, but has no UNTIL row to say when it did its work"
		fi
		ran=$((ran + 1))
	done
	cd "$BATS_TEST_TMPDIR" || return 1
	[ "$ran" -ge 1 ] || [ "$listed" -ge 1 ] || fail "man/$page: nothing run"
	echo "# man/$page: $ran examples run, $listed not run" >&3
}

# holds_within SECONDS CONDITION: evaluate CONDITION until it holds, for at most SECONDS.
holds_within() {
	local deadline=$((SECONDS + $1))
	while [ "$SECONDS" -lt "$deadline" ]; do
		eval "$2" && return 0
		sleep 0.1
	done
	return 1
}

# stop_groups PGID...: stop the process groups started by an example, and
# wait until they are gone.
stop_groups() {
	local group i
	for group; do
		kill -- "-$group" 2> /dev/null || true
	done
	for group; do
		for ((i = 0; i < 200; i++)); do
			kill -0 -- "-$group" 2> /dev/null || break
			sleep 0.05
		done
	done
}

# page_setup [broker]: the PKI (and a broker whose port SMQTT_CONFIG names,
# with the collector's persistent session open), then env/.
page_setup() {
	if [ "${1:-}" = broker ]; then
		broker_setup ABC DEF GHI pmu-7
		printf 'broker:\n  port: %s\n' "$BROKER_PORT" > "$BATS_TEST_TMPDIR/port.yaml"
		export SMQTT_CONFIG=$BATS_TEST_TMPDIR/port.yaml
		sub_as collector -i collector -t 'smqtt/+/frames' -W 1 > /dev/null 2> sub.err ||
			fail "could not open the collector's session: $(cat sub.err)"
	else
		PKI=$BATS_TEST_TMPDIR/pki
		pki_setup "$PKI" collector control ABC DEF GHI pmu-7 || fail "pki_setup failed"
	fi
	fixture || fail "could not prepare the examples' files"
}

@test "man-examples: every manual page is tested here" {
	local n=0
	for page in $(cd "$REPO/man" && ls); do
		n=$((n + 1))
		grep -qF "@test \"man-examples: $page\" {" "$BATS_TEST_FILENAME" || fail "man/$page has no test here"
	done
	[ "$n" -ge 10 ] || fail "found only $n manual pages"
}

@test "man-examples: smqtt-frame.5" {
	page_setup
	run_page smqtt-frame.5
}

@test "man-examples: smqtt-abe.5" {
	page_setup
	run_page smqtt-abe.5
}

@test "man-examples: smqtt-decrypt.1" {
	page_setup
	run_page smqtt-decrypt.1
}

@test "man-examples: smqtt-encrypt.1" {
	page_setup
	run_page smqtt-encrypt.1
}

@test "man-examples: smqtt-pkg.1" {
	page_setup
	run_page smqtt-pkg.1
}

@test "man-examples: smqtt-issue.1" {
	page_setup
	run_page smqtt-issue.1
}

@test "man-examples: smqtt-keygen.1" {
	page_setup
	run_page smqtt-keygen.1
}

@test "man-examples: smqtt-pub.1" {
	page_setup broker
	run_page smqtt-pub.1
}

@test "man-examples: smqtt-register.1" {
	page_setup
	run_page smqtt-register.1
}

@test "man-examples: smqtt-sign.1" {
	page_setup
	run_page smqtt-sign.1
}

@test "man-examples: smqtt-store.1" {
	page_setup
	run_page smqtt-store.1
}

@test "man-examples: smqtt-sub.1" {
	page_setup broker
	run_page smqtt-sub.1
}

@test "man-examples: smqtt-verify.1" {
	page_setup
	run_page smqtt-verify.1
}

@test "man-examples: smqtt.7" {
	page_setup broker
	run_page smqtt.7
}

@test "man-examples: smqtt.conf.5" {
	page_setup broker
	run_page smqtt.conf.5
}
