#!/usr/bin/env bats
# common/bls12_381: known answers (published encodings of the generators and
# their small multiples, ethereum/bls12-381-tests' deserialization cases,
# RFC 9380's hash-to-curve vectors) and algebraic properties
# (tests/bls/driver.c check), about a thousand random cases recomputed by an
# independent implementation, @noble/curves (tests/bls/oracle.js, installed
# into build/noble by tests/deps.sh), and a constant-time check under
# valgrind.

load test_helper

setup() {
	common_setup
	# The driver is built beside the programs: build/release/tests for bin/,
	# build/sanitize/tests for build/sanitize/bin.
	if [ -n "${SMQTT_BLS_DRIVER:-}" ]; then
		driver=$SMQTT_BLS_DRIVER
	elif [ "$SMQTT_BIN" = "$REPO/bin" ]; then
		driver=$REPO/build/release/tests/bls-driver
	else
		driver=$SMQTT_BIN/../tests/bls-driver
	fi
	[ -x "$driver" ] || fail "no test driver at $driver (make all builds it)"
}

@test "bls12_381: field, group, encoding and pairing properties; published encodings and deserialization cases; RFC 9380 vectors" {
	run "$driver" check
	[ "$status" -eq 0 ] || fail "$(printf '%s\n' "$output" | grep -v '^ok ')"
	# Every check ran and none was skipped.
	[ "$(printf '%s\n' "$output" | grep -c '^ok ')" -ge 104 ] || fail "too few checks: $output"
}

@test "bls12_381: random multiplications, encodings, decodings, pairings and hashes agree with @noble/curves" {
	command -v node > /dev/null || fail "node is missing: the oracle cannot run (tests/deps.sh installs it)"
	[ -f "$REPO/build/noble/node_modules/@noble/curves/package.json" ] ||
		fail "@noble/curves is missing from build/noble (run tests/deps.sh or make check)"
	"$driver" cases 80 > cases || fail "the driver failed"
	run node "$REPO/tests/bls/oracle.js" "$REPO/build/noble" < cases
	printf '%s\n' "$output"
	assert_status 0
	# Several hundred cases, every kind present, refusals and acceptances both.
	total=$(printf '%s\n' "$output" | sed -n 's/^@noble\/curves [0-9.]*: \([0-9]*\) cases, 0 mismatches$/\1/p')
	[ -n "$total" ] && [ "$total" -ge 960 ] || fail "expected at least 960 cases"
	for kind in 'g1 multiplication' 'g2 multiplication' 'g1 point times scalar' 'g2 addition' \
		'g1 decoding (accepted)' 'g1 decoding (refused)' 'g2 decoding (accepted)' 'g2 decoding (refused)' \
		'pairing' 'multi-pairing' 'hash to G1' 'scalar arithmetic mod r'; do
		assert_contains "$kind: "
	done
}

@test "bls12_381: a driver result changed by one bit is caught by the oracle" {
	"$driver" cases 2 > cases || fail "the driver failed"
	# Flip the last hex digit of the first pairing's result.
	awk '!done && $1 == "pairing" { n = length($NF); c = substr($NF, n, 1); $NF = substr($NF, 1, n - 1) (c == "0" ? "1" : "0"); done = 1 } { print }' cases > tampered
	! cmp -s cases tampered || fail "nothing was changed"
	run node "$REPO/tests/bls/oracle.js" "$REPO/build/noble" < tampered
	assert_status 1
	assert_contains "pairing: 1 cases, 1 mismatches"
}

# ctgrind: the driver marks secret inputs undefined for valgrind's memcheck,
# which then reports every branch or memory index that depends on them.
@test "bls12_381: no branch or memory index depends on a secret (valgrind), and a variable-time call is caught" {
	command -v valgrind > /dev/null || fail "valgrind is missing (tests/deps.sh installs it)"
	# valgrind cannot run a sanitizer build: use the release driver.
	ct_driver=$driver
	case $driver in
	*/sanitize/*) ct_driver=$REPO/build/release/tests/bls-driver ;;
	esac
	[ -x "$ct_driver" ] || skip "no release build of the driver (make all) to run under valgrind"
	run valgrind -q --error-exitcode=99 "$ct_driver" ct
	assert_status 0
	assert_contains "ran on secret inputs"
	run valgrind -q --error-exitcode=99 "$ct_driver" ct-control
	assert_status 99
	assert_contains "Conditional jump or move depends on uninitialised value"
}
