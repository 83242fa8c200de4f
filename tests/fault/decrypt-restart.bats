#!/usr/bin/env bats
# Fault injection: encrypted readings from three meters, each session's
# capsule sent once at its start (no repeats),
#   smqtt-encrypt | smqtt-sign | smqtt-pub      (one per meter)
#   ==TLS==> mosquitto ==TLS==>
#   smqtt-sub | smqtt-verify -R | smqtt-decrypt --capsules   (each under a supervisor)
# while the decryptor is killed twice and smqtt-sub is stopped and started
# again, all in the middle of the sessions. The decryptors started after a
# kill never see a capsule: they read on from the capsule file. Afterwards
# every reading was decrypted exactly once and no record was left out.
# Run by `make faults`; see smqtt-decrypt(1).

: "${SMQTT_BIN:=$BATS_TEST_DIRNAME/../../bin}"
load ../test_helper
load pipe_helper
load ../pki_helper
load ../broker_helper
load ../registry_helper
REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

DEVICES=(E1 E2 E3)
RECORDS_PER_DEVICE=3000

setup() {
	common_setup
	STAGES=(sub verify decrypt)
}

teardown() {
	local name
	for name in "${STAGES[@]}"; do
		[ -f "$name.supervisor" ] && kill "$(cat "$name.supervisor")" 2> /dev/null
	done
	for name in "${STAGES[@]}"; do
		[ -f "$name.pid" ] && kill -CONT "$(cat "$name.pid")" 2> /dev/null && kill "$(cat "$name.pid")" 2> /dev/null
	done
	for name in "${DEVICES[@]}"; do
		[ -f "$name.pub.pid" ] && kill -KILL "$(cat "$name.pub.pid")" 2> /dev/null
	done
	broker_teardown
}

decrypted() {
	wc -l < plain
}

# restart_decryptor: kill the decryptor when it has read all that reached it
# (the verifier paused, the pipe between them empty, the decryptor waiting),
# so that the kill loses no frame and the test can count every reading.
restart_decryptor() {
	local verify decrypt
	verify=$(cat verify.pid)
	decrypt=$(cat decrypt.pid)
	kill -STOP "$verify"
	wait_long "the decryptor to drain its pipe" 60 \
		'[ "$(fifo_bytes decrypt.in)" = 0 ] && [ "$(awk "{print \$3}" /proc/'"$decrypt"'/stat)" = S ]'
	kill -KILL "$decrypt"
	wait_long "a new decryptor" 60 '[ "$(cat decrypt.pid)" != '"$decrypt"' ]'
	kill -CONT "$verify"
}

@test "fault injection: a decryptor killed twice mid-session and smqtt-sub restarted: every reading decrypted once, none left out" {
	broker_setup "${DEVICES[@]}"
	smqtt-register -R reg.db init --ca "$PKI/ca.crt" > /dev/null
	for d in "${DEVICES[@]}"; do
		issue_line "$d" "$PKI/$d.crt"
	done | smqtt-register -R reg.db add 2> register.err || fail "smqtt-register: $(cat register.err)"
	smqtt-pkg setup -m master.key > params.pem
	mkdir -m 700 keys
	smqtt-pkg keygen --params params.pem -m master.key -o keys --epoch 2026-12 billing role:billing > /dev/null

	# The collector, three stages joined by named pipes, each under a supervisor.
	mkfifo verify.in decrypt.in
	: > plain
	tls_args collector
	supervise sub "smqtt-sub ${TLS_ARGS[*]} -t 'smqtt/+/frames' --session-expiry 3600 > verify.in" 2>&1 3>&- | cat > sub.err &
	track $!
	supervise verify "smqtt-verify -R reg.db < verify.in > decrypt.in" 2>&1 3>&- | cat > verify.err &
	track $!
	supervise decrypt "smqtt-decrypt --params params.pem -k keys/billing.cpkey --capsules caps < decrypt.in >> plain" \
		2>&1 3>&- | cat > decrypt.err &
	track $!
	wait_long "the collector's subscription" 30 '[ "$(subscriptions collector)" -ge 1 ]'

	# The meters: one session each, its capsule sent once, first.
	for d in "${DEVICES[@]}"; do
		meter_records "$RECORDS_PER_DEVICE" "$d" > "$d.records"
		tls_args "$d"
		{
			pace < "$d.records" |
				smqtt-encrypt --params params.pem -i "$d" -P 'role:billing or role:audit' --epoch 2026-12 \
					--repeat 1000000 2> "$d.encrypt.err" |
				smqtt-sign -k "$PKI/$d.key" -i "$d" -S "$d.seq" 2> "$d.sign.err" |
				sh -c 'echo $$ > "$0.pub.pid" && exec smqtt-pub "$@"' "$d" "${TLS_ARGS[@]}" > /dev/null 2> "$d.pub.err"
			echo "${PIPESTATUS[*]}" > "$d.exit"
		} 3>&- &
		track $!
	done

	total=$((${#DEVICES[@]} * RECORDS_PER_DEVICE))
	wait_long "1500 readings decrypted" 120 '[ "$(decrypted)" -ge 1500 ]'
	restart_decryptor
	wait_long "3500 readings decrypted" 120 '[ "$(decrypted)" -ge 3500 ]'
	# smqtt-sub stopped and started again: the broker keeps its session's frames meanwhile.
	sub=$(cat sub.pid)
	kill -TERM "$sub"
	wait_long "a new smqtt-sub" 60 '[ "$(cat sub.pid)" != '"$sub"' ]'
	wait_long "5500 readings decrypted" 120 '[ "$(decrypted)" -ge 5500 ]'
	restart_decryptor
	at_second_restart=$(decrypted)

	for d in "${DEVICES[@]}"; do
		wait_long "$d to finish publishing" 180 '[ -s '"$d"'.exit ]'
	done
	wait_long "all $total readings decrypted (have $(decrypted); decrypt: $(head -n 3 decrypt.err); verify: $(tail -n 3 verify.err); sub: $(tail -n 3 sub.err))" 120 '[ "$(decrypted)" -ge '"$total"' ]'
	touch stop
	kill -TERM "$(cat sub.pid)"
	for name in "${STAGES[@]}"; do
		wait_long "the $name supervisor to end" 60 '! kill -0 "$(cat '"$name"'.supervisor)" 2> /dev/null'
	done

	for d in "${DEVICES[@]}"; do
		[ "$(cat "$d.exit")" = "0 0 0 0" ] || fail "$d: pace|encrypt|sign|pub exit statuses $(cat "$d.exit")"
		[ "$(grep -c . "$d.encrypt.err")" -eq 0 ] || fail "$d: smqtt-encrypt: $(cat "$d.encrypt.err")"
	done
	# Each meter sent one capsule, at the very start: the decryptors after the kills saw none.
	[ "$(grep -c . caps)" -eq "${#DEVICES[@]}" ] || fail "capsule file: $(cut -c1-60 caps)"
	[ "$at_second_restart" -lt "$total" ] || fail "the stream ended before the second restart"
	# Every reading exactly once, nothing else.
	cat "${DEVICES[@]/%/.records}" | sort > all.records
	sort plain > all.plain
	cmp -s all.records all.plain || fail "decrypted $(wc -l < plain) lines of $total; $(comm -3 all.records all.plain | head -n 3)"
	# No record left out, by any decryptor: the only messages are the counts at a clean end.
	[ ! -s decrypt.err ] || fail "smqtt-decrypt: $(head -n 5 decrypt.err)"
	[ "$(grep -c -x 137 decrypt.status)" -eq 2 ] || fail "decrypt statuses: $(cat decrypt.status)"
	! grep -v -x -E '0|137' decrypt.status || fail "decrypt statuses: $(cat decrypt.status)"
	echo "# $total readings from ${#DEVICES[@]} meters decrypted once each across $(wc -l < decrypt.status) decryptor runs; $at_second_restart done at the second restart" >&3
}
