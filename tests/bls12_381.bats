#!/usr/bin/env bats
# common/bls12_381: known answers and algebraic properties (tests/bls/driver.c
# check).

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

@test "bls12_381: field, group, encoding and pairing properties; published generator encodings" {
	run "$driver" check
	[ "$status" -eq 0 ] || fail "$(printf '%s\n' "$output" | grep -v '^ok ')"
	# Every check ran and none was skipped.
	[ "$(printf '%s\n' "$output" | grep -c '^ok ')" -ge 48 ] || fail "too few checks: $output"
}
