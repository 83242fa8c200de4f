#!/usr/bin/env bats
# Lines end with LF (smqtt-frame(5)). Text after the last LF at end of input
# is a line cut short, by a writer killed mid-write or a truncated file: every
# program that reads frames or records reports it with its line number and
# never processes it, so a cut frame cannot be stored as a reading.

load test_helper
bats_require_minimum_version 1.5.0

setup() {
	common_setup
	make_key m
	printf 'ABC,2013-11-02 00:15:00,0,12.5\nABC,2013-11-02 00:30:00,0,987.25\n' | smqtt-sign -k m.key -i ABC > frames
}

q() { sqlite3 -batch -noheader db "$@"; }

# cut_last N: frames without the last N bytes (so without the final newline, and more).
cut_last() {
	head -c "$(($(wc -c < frames) - $1))" frames
}

@test "store: a frame cut at end of input is reported and not stored; the real frame is stored later" {
	# Four bytes short, the value 987.25 still parses as a number (987): the red team's case.
	cut_last 4 > cut
	[ "$(tail -c 4 cut)" = ',987' ] || fail "the cut does not end where expected: $(tail -c 10 cut)"
	run --separate-stderr smqtt-store -d db < cut
	assert_status 1
	[[ $stderr == *"smqtt-store: line 2: no newline at end of input: incomplete line; not stored"* ]] ||
		fail "stderr: $stderr"
	[[ $stderr == *"1 stored, 0 duplicates, 1 rejected"* ]] || fail "stderr: $stderr"
	[ "$(q 'select count(*) from readings')" -eq 1 ]
	# The whole frame, when it comes, is stored, not counted as a duplicate.
	run --separate-stderr smqtt-store -d db < frames
	assert_status 0
	[[ $stderr == *"1 stored, 1 duplicates, 0 rejected"* ]] || fail "stderr: $stderr"
	q 'select frame from readings order by seq' | smqtt-verify --pubkey ABC=m.pub > again
	cmp again frames
}

@test "store: a whole frame whose newline alone is missing is still incomplete" {
	cut_last 1 > cut
	run --separate-stderr smqtt-store -d db < cut
	assert_status 1
	[[ $stderr == *"line 2: no newline at end of input"* ]] || fail "stderr: $stderr"
	[ "$(q 'select count(*) from readings')" -eq 1 ]
}

@test "verify: a frame cut at end of input is rejected with its line number, also with -j 2 and into the rejects file" {
	cut_last 4 > cut
	for jobs in 1 2; do
		rm -f rejects
		run --separate-stderr smqtt-verify -j "$jobs" --pubkey ABC=m.pub --rejects rejects < cut
		assert_status 1
		[[ $stderr == *"smqtt-verify: line 2: no newline at end of input: incomplete line"* ]] ||
			fail "-j $jobs: stderr: $stderr"
		[ "$output" = "$(head -n 1 frames)" ] || fail "-j $jobs: stdout: $output"
		# The rejects file holds what arrived, so nothing is lost from sight.
		[ "$(cat rejects)" = "$(tail -n 1 cut)" ] || fail "-j $jobs: rejects: $(cat rejects)"
	done
}

@test "sign: a record without its newline at end of input is not signed" {
	printf 'ABC,1\nABC,98' > records
	run --separate-stderr smqtt-sign -k m.key -i ABC -S s.seq < records
	assert_status 1
	[[ $stderr == *"smqtt-sign: stdin: line 2: no newline at end of input: incomplete line; not signed"* ]] ||
		fail "stderr: $stderr"
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
	[[ $output == *" ABC,1" ]] || fail "stdout: $output"
}

@test "issue: a device id without its newline at end of input gets no certificate" {
	smqtt-issue ca --ca-dir ca > /dev/null 2>&1
	printf 'meter-1\nmeter-12' > ids
	run --separate-stderr smqtt-issue device --ca-dir ca -o fleet < ids
	assert_status 1
	[[ $stderr == *"smqtt-issue: stdin: line 2: no newline at end of input: incomplete line; skipped"* ]] ||
		fail "stderr: $stderr"
	[ -e fleet/meter-1.crt ]
	[ ! -e fleet/meter-12.crt ] && [ ! -e fleet/meter-12.key ]
}

@test "register: a device line without its newline at end of input is refused" {
	smqtt-issue ca --ca-dir ca > /dev/null 2>&1
	printf 'meter-1\nmeter-2\n' | smqtt-issue device --ca-dir ca -o fleet > issued 2> /dev/null
	smqtt-register -R reg.db init --ca ca/ca.crt
	head -c "$(($(wc -c < issued) - 1))" issued > cut
	run --separate-stderr smqtt-register -R reg.db add < cut
	assert_status 1
	[[ $stderr == *"line 2"*"no newline at end of input: incomplete line"* ]] || fail "stderr: $stderr"
	[ "$(smqtt-register -R reg.db list | wc -l)" -eq 1 ]
}

@test "register: a PEM certificate without a final newline is still read (its END line frames it)" {
	smqtt-issue ca --ca-dir ca > /dev/null 2>&1
	echo meter-1 | smqtt-issue device --ca-dir ca -o fleet > /dev/null 2>&1
	smqtt-register -R reg.db init --ca ca/ca.crt
	printf '%s' "$(cat fleet/meter-1.crt)" > cert.pem
	[ "$(tail -c 1 cert.pem | od -An -c | tr -d ' ')" = '-' ]
	run --separate-stderr smqtt-register -R reg.db add < cert.pem
	assert_status 0
	[ "$(smqtt-register -R reg.db list | wc -l)" -eq 1 ]
}
