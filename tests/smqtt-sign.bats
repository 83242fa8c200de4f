#!/usr/bin/env bats
# smqtt-sign: records in, frames out, sequence numbers never repeated.

load test_helper

setup() {
	common_setup
	make_key m
}

@test "sign: one frame per record, seq from 1, record kept verbatim" {
	printf 'ABC,2013-11-02 00:15:00,0,58.0\nDEF, spaced ,1,"q,uoted"\n' > in.csv
	run smqtt-sign -k m.key -i meter-1 < in.csv
	assert_status 0
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 2 ]
	[ "$(printf '%s\n' "$output" | cut -d' ' -f1-3)" = "$(printf 'smqtt1 meter-1 1\nsmqtt1 meter-1 2')" ]
	[ "$(printf '%s\n' "$output" | cut -d' ' -f5-)" = "$(cat in.csv)" ]
	printf '%s\n' "$output" | smqtt-verify --pubkey meter-1=m.pub > /dev/null
}

@test "sign: CRLF, a UTF-8 BOM and blank lines are tolerated" {
	printf '\357\273\277a,1\r\n\r\n   \n\t\nb,2\r\n' | smqtt-sign -k m.key -i X > out
	[ "$(cut -d' ' -f3,5- out)" = "$(printf '1 a,1\n2 b,2')" ]
	! grep -q $'\r' out
}

@test "sign: an over-long line is rejected by number, the others are signed" {
	{ echo first; head -c 5000 /dev/zero | tr '\0' x; echo; echo third; } > in
	run smqtt-sign -k m.key -i X < in
	assert_status 1
	assert_contains "smqtt-sign: stdin: line 2: longer than 4096 bytes; skipped"
	[ "$(printf '%s\n' "$output" | grep '^smqtt1' | cut -d' ' -f3,5-)" = "$(printf '1 first\n2 third')" ]
}

@test "sign: a record of exactly 4096 bytes is accepted" {
	head -c 4096 /dev/zero | tr '\0' y > in
	echo >> in
	smqtt-sign -k m.key -i X < in > out
	[ "$(cut -d' ' -f5- out | tr -d '\n' | wc -c)" -eq 4096 ]
	smqtt-verify --pubkey X=m.pub < out > /dev/null
}

@test "sign: a line with a NUL byte is rejected by number" {
	printf 'good\nba\000d\nalso good\n' > in
	run smqtt-sign -k m.key -i X < in
	assert_status 1
	assert_contains "line 2: contains a NUL byte"
	[ "$(printf '%s\n' "$output" | grep -c '^smqtt1')" -eq 2 ]
}

@test "sign: a CR inside a record is rejected by number" {
	printf 'good\r\nba\rd\nx\r\r\nalso good\n' > in
	run smqtt-sign -k m.key -i X < in
	assert_status 1
	assert_contains "line 2: contains a CR byte"
	assert_contains "line 3: contains a CR byte"
	[ "$(printf '%s\n' "$output" | grep '^smqtt1' | cut -d' ' -f5- | tr '\n' ' ')" = "good also good " ]
}

@test "sign: sequence numbers continue across runs with no gap" {
	meter_records 3 | smqtt-sign -k m.key -i X > a
	meter_records 2 | smqtt-sign -k m.key -i X > b
	[ "$(cut -d' ' -f3 a b | tr '\n' ' ')" = "1 2 3 4 5 " ]
	[ "$(cat m.key.seq)" = "00000000000000000006" ]
	cat a b | smqtt-verify --pubkey X=m.pub > /dev/null
}

@test "sign: -S chooses the state file" {
	echo r | smqtt-sign -k m.key -i X -S other.seq > /dev/null
	[ -f other.seq ] && [ ! -e m.key.seq ]
	[ "$(stat -c %a other.seq)" = 600 ]
}

@test "sign: after a crash numbers resume above the reserved block, never repeating" {
	mkfifo in
	smqtt-sign -k m.key -i X < in > out &
	pid=$!
	exec 7> in
	printf 'a\nb\n' >&7
	for _ in $(seq 100); do [ -s m.key.seq ] && break; sleep 0.05; done
	kill -9 "$pid"
	wait "$pid" || true
	exec 7>&-
	echo c | smqtt-sign -k m.key -i X > after
	[ "$(cut -d' ' -f3 after)" -eq 1025 ]
}

@test "sign: SIGTERM ends cleanly and the next run continues without a gap" {
	mkfifo in
	smqtt-sign -k m.key -i X < in > out &
	pid=$!
	exec 7> in
	printf 'a\nb\n' >&7
	for _ in $(seq 100); do [ "$(wc -l < out)" -eq 2 ] && break; sleep 0.05; done
	[ "$(wc -l < out)" -eq 2 ] || fail "frames were not flushed while input paused"
	kill -TERM "$pid"
	wait "$pid"
	exec 7>&-
	echo c | smqtt-sign -k m.key -i X > after
	[ "$(cut -d' ' -f3 after)" -eq 3 ]
}

@test "sign: a second signer on the same state file is refused" {
	mkfifo in
	smqtt-sign -k m.key -i X < in > first.out &
	pid=$!
	exec 7> in
	# Once the first signer has written a frame it holds the state file; not before.
	echo a >&7
	for _ in $(seq 100); do
		[ -s first.out ] && break
		sleep 0.05
	done
	[ -s first.out ] || fail "the first signer wrote no frame"
	run smqtt-sign -k m.key -i X <<< x
	exec 7>&-
	wait "$pid"
	[ "$status" -eq 4 ] || fail "second signer not refused (status $status): $output"
	case "$output" in
	*"state file m.key.seq: in use by process $pid"*) ;;
	*) fail "second signer not refused: '$output'" ;;
	esac
}

@test "sign: a key readable by group or others is refused" {
	chmod 640 m.key
	run smqtt-sign -k m.key -i X < /dev/null
	assert_status 3
	assert_contains "private key m.key: accessible by group or others (mode 0640)"
	chmod 604 m.key
	run smqtt-sign -k m.key -i X < /dev/null
	assert_status 3
}

@test "sign: key file problems are named" {
	run smqtt-sign -k nope.key -i X < /dev/null
	assert_status 3
	assert_contains "private key nope.key: No such file or directory"
	mkdir d.key
	chmod 700 d.key
	run smqtt-sign -k d.key -i X < /dev/null
	assert_status 3
	assert_contains "private key d.key: Is a directory"
	echo junk > j.key
	chmod 600 j.key
	run smqtt-sign -k j.key -i X < /dev/null
	assert_status 3
	assert_contains "private key j.key: not a PEM private key"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out r.key 2>/dev/null
	chmod 600 r.key
	run smqtt-sign -k r.key -i X < /dev/null
	assert_status 3
	assert_contains "unsupported key type"
}

@test "sign: encrypted key without or with a wrong passphrase" {
	export P=right
	smqtt-keygen --passenv P -k e.key > /dev/null
	run smqtt-sign -k e.key -i X < /dev/null
	assert_status 3
	assert_contains "private key e.key: encrypted; give the passphrase"
	export P=wrong
	run smqtt-sign -k e.key -i X --passenv P < /dev/null
	assert_status 3
	assert_contains "private key e.key: wrong passphrase or damaged key"
}

@test "sign: device id from a certificate's CN, which must match the key" {
	make_cert m meter-42
	echo r | smqtt-sign -k m.key -c m.crt > out
	[ "$(cut -d' ' -f2 out)" = meter-42 ]
	make_key other
	make_cert other meter-43
	run smqtt-sign -k m.key -c other.crt < /dev/null
	assert_status 3
	assert_contains "certificate other.crt: does not match the private key"
	openssl req -new -x509 -key m.key -subj "/CN=bad id!" -days 1 -out bad.crt 2>/dev/null
	run smqtt-sign -k m.key -c bad.crt < /dev/null
	assert_status 3
	assert_contains "subject CN is not a valid device id"
}

@test "sign: usage errors exit 2" {
	run smqtt-sign -k m.key < /dev/null
	assert_status 2
	assert_contains "exactly one of -i DEVICE and -c CERTFILE"
	run smqtt-sign -k m.key -i 'bad/id' < /dev/null
	assert_status 2
	assert_contains "-i bad/id: invalid device id"
	run smqtt-sign -k m.key -i "$(printf 'a%.0s' $(seq 65))" < /dev/null
	assert_status 2
	run smqtt-sign -i X < /dev/null
	assert_status 2
	run smqtt-sign -k m.key -i X --passfd notanumber < /dev/null
	assert_status 2
}

@test "sign: a damaged state file is refused, not guessed" {
	echo 'twelve' > m.key.seq
	run smqtt-sign -k m.key -i X < /dev/null
	assert_status 3
	assert_contains "state file m.key.seq: damaged"
}

@test "sign: a closed stdout ends quietly and keeps the state consistent" {
	meter_records 5000 > in
	run bash -c 'smqtt-sign -k m.key -i X < in | head -n 1'
	assert_status 0
	assert_contains "smqtt1 X 1 "
	refute_contains "smqtt-sign:"
	echo r | smqtt-sign -k m.key -i X > next
	[ "$(cut -d' ' -f3 next)" -gt 1 ]
}

@test "sign: a full stdout is an error" {
	run sh -c 'echo r | smqtt-sign -k m.key -i X > /dev/full'
	assert_status 4
	assert_contains "writing stdout"
	# Records with pauses between them: the flush at each pause fails, and says so.
	run bash -c 'for r in a b c; do echo "$r"; sleep 0.2; done | smqtt-sign -k m.key -i Y > /dev/full'
	assert_status 4
	assert_contains "writing stdout"
}

@test "sign: P-384 and Ed25519 keys" {
	make_key p p384
	make_key e ed25519
	meter_records 3 | smqtt-sign -k p.key -i P > p.frames
	meter_records 3 | smqtt-sign -k e.key -i E > e.frames
	cat p.frames e.frames | smqtt-verify --pubkey P=p.pub --pubkey E=e.pub > out
	[ "$(wc -l < out)" -eq 6 ]
}
