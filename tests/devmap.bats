#!/usr/bin/env bats
# common/devmap.c, the table of device ids behind smqtt-verify's key cache,
# smqtt-store's sequence numbers and smqtt-issue's duplicate check, through
# the helper tests/devmap-probe.c.

load test_helper

setup() {
	common_setup
	cc -std=c11 -O2 -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -I"$REPO/common" -o devmap-probe \
		"$REPO/tests/devmap-probe.c" "$REPO/common/devmap.c" "$REPO/common/error.c" -lcrypto ||
		fail "building tests/devmap-probe.c failed"
}

@test "devmap: 16384 ids made to collide under the old unkeyed hash still spread out" {
	./devmap-probe collide 16384 > ids
	[ "$(sort -u ids | wc -l)" -eq 16384 ] || fail "not 16384 distinct ids"
	! grep -vqxE '[A-Za-z0-9._-]{1,64}' ids || fail "not all valid device ids: $(grep -vxE '[A-Za-z0-9._-]{1,64}' ids | head -n 3)"
	# They do collide: under 64-bit FNV-1a, with the offset basis devmap had,
	# all share the low 32 bits, so all had the same home slot in any table
	# of up to 2^32 slots (and a lookup walked past all of them).
	run python3 -c '
import sys
low = set()
for line in sys.stdin:
    h = 1469598103934665603
    for b in line.rstrip("\n").encode():
        h = ((h ^ b) * 0x100000001b3) % 2**64
    low.add(h % 2**32)
print(len(low))' < ids
	[ "$output" = 1 ] || fail "the ids do not collide under the old hash: $output distinct low 32 bits"
	# Keyed with a random key, the hash spreads them as it would any ids. In a
	# table of 32768 slots a run of 256 taken slots has a probability far
	# below 1e-15; the old hash made it 16384.
	run ./devmap-probe < ids
	assert_status 0
	longest=$(printf '%s\n' "$output" | sed -n 's/^16384 ids, longest probe \([0-9]*\)$/\1/p')
	[ -n "$longest" ] || fail "unexpected output: $output"
	[ "$longest" -lt 256 ] || fail "a lookup visits up to $longest slots: the ids still collide"
}

@test "devmap: another process hashes the same ids differently" {
	seq -f 'meter-%06.0f' 1 2000 > ids
	# The longest probe depends on the key: over 20 runs, at least two differ
	# (it takes about 10 values; all 20 alike is far less likely than 1e-9).
	for _ in $(seq 20); do ./devmap-probe < ids; done | sort -u > seen
	[ "$(wc -l < seen)" -ge 2 ] || fail "every run probed alike: $(cat seen)"
}

@test "devmap: a map that keeps the caller's ids finds, removes and keeps them as one with copies does" {
	./devmap-probe collide 4096 > ids
	seq -f 'meter-%06.0f' 1 5000 >> ids
	# Sized for 1000: it grows past that, moving the ids it was given.
	run ./devmap-probe borrow < ids
	assert_status 0
	[[ "$output" =~ ^9096\ ids,\ longest\ probe\ [0-9]+$ ]] || fail "unexpected output: $output"
	run ./devmap-probe < ids
	assert_status 0
	[[ "$output" =~ ^9096\ ids,\ longest\ probe\ [0-9]+$ ]] || fail "unexpected output: $output"
}
