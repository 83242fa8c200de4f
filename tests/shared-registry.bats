#!/usr/bin/env bats
# Verifiers sharing one registry (collectors behind a shared subscription,
# or a replay sent to a second collector): every frame is passed on by one
# of them at most, because accepting a frame is a compare-and-set of the
# device's last sequence number in the registry.

load test_helper
load registry_helper
bats_require_minimum_version 1.5.0

DEVICES=(D01 D02 D03 D04 D05 D06 D07 D08 D09 D10)

setup() {
	common_setup
	registry_setup "${DEVICES[@]}"
	smqtt-register -R reg.db add < issued 2> /dev/null
	local d
	for d in "${DEVICES[@]}"; do
		meter_records 2000 "$d" | smqtt-sign -k "certs/$d.key" -i "$d" -S "$d.seq" > "$d.frames"
	done
	# Round robin over the devices, as a collector receives them.
	paste -d '\n' "${DEVICES[@]/%/.frames}" > frames
	[ "$(wc -l < frames)" -eq 20000 ]
}

# two_verifiers ARGS...: two smqtt-verify -R reg.db ARGS started at once on the same frames.
two_verifiers() {
	smqtt-verify -R reg.db "$@" < frames > out.1 2> err.1 &
	local a=$!
	smqtt-verify -R reg.db "$@" < frames > out.2 2> err.2 &
	local b=$!
	status_1=0 status_2=0
	wait "$a" || status_1=$?
	wait "$b" || status_2=$?
}

# passed_once: every frame was passed on by exactly one of the two verifiers.
passed_once() {
	sort out.1 out.2 > both
	sort frames > all
	local twice
	twice=$(uniq -d both | wc -l)
	[ "$twice" -eq 0 ] || fail "$twice frames passed on by both verifiers: $(uniq -d both | head -n 2)"
	cmp -s both all || fail "passed on: $(wc -l < both) of $(wc -l < all) frames"
	# The other copy of each was rejected as a replay by the other verifier and said so, or
	# dropped as a duplicate of the device's last frame, which it learnt from the registry.
	local rejected=$(($(grep -c ': replay: ' err.1 || true) + $(grep -c ': replay: ' err.2 || true)))
	local dup_1 dup_2
	dup_1=$(sed -n 's/.* \([0-9]*\) duplicates dropped$/\1/p' err.1)
	dup_2=$(sed -n 's/.* \([0-9]*\) duplicates dropped$/\1/p' err.2)
	local duplicates=$((${dup_1:-0} + ${dup_2:-0}))
	[ "$((rejected + duplicates))" -eq 20000 ] || fail "$rejected replays and $duplicates duplicates: $(tail -n 2 err.1 err.2)"
	[ "$status_1" -le 1 ] && [ "$status_2" -le 1 ] || fail "status $status_1 and $status_2: $(tail -n 3 err.1 err.2)"
	[ "$(sqlite3 reg.db 'select group_concat(last_seq) from devices')" = "$(printf '2000,%.0s' {1..10} | sed 's/,$//')" ]
}

@test "shared registry: two verifiers started at once on the same 20000 frames pass each on once" {
	two_verifiers
	passed_once
	echo "# verifier 1 passed $(wc -l < out.1), verifier 2 passed $(wc -l < out.2)" >&3
}

@test "shared registry: the same with two threads each and a small cache" {
	two_verifiers -j 2 --cache 4
	passed_once
	echo "# verifier 1 passed $(wc -l < out.1), verifier 2 passed $(wc -l < out.2)" >&3
}

@test "shared registry: a frame replayed to a second verifier while the first holds it is passed on once" {
	# The second verifier reads slowly: each of its batches overlaps the first verifier's.
	head -n 5000 frames > some
	smqtt-verify -R reg.db < some > out.1 2> err.1 &
	local a=$!
	awk '{ print } NR % 500 == 0 { fflush(); system("sleep 0.05") }' some | smqtt-verify -R reg.db > out.2 2> err.2 || true
	wait "$a" || true
	sort out.1 out.2 | uniq -d > twice
	[ ! -s twice ] || fail "passed on twice: $(head -n 2 twice)"
	[ "$(sort -u out.1 out.2 | wc -l)" -eq 5000 ]
}

@test "shared registry: a device's frames split between two verifiers, as a shared subscription splits them, all pass once" {
	# Odd numbers to one verifier, even ones to the other, both at once: each
	# accepts numbers below what the other already saved. The first 1000 of
	# each device: however far one verifier runs ahead of the other, the
	# other's numbers stay inside the replay window (1024).
	awk '$3 <= 1000 && $3 % 2' frames > odd
	awk '$3 <= 1000 && $3 % 2 == 0' frames > even
	smqtt-verify -R reg.db < odd > out.1 2> err.1 &
	local a=$!
	smqtt-verify -R reg.db < even > out.2 2> err.2 || fail "$(tail -n 3 err.2)"
	wait "$a" || fail "$(tail -n 3 err.1)"
	cmp out.1 odd
	cmp out.2 even
	# All of them again, to a new verifier: refused, but each device's last
	# frame, which the registry remembers, is a duplicate.
	status=0
	cat odd even | smqtt-verify -R reg.db > out.3 2> err.3 || status=$?
	[ "$status" -eq 1 ]
	[ ! -s out.3 ]
	[ "$(grep -c ': replay: seq already accepted' err.3)" -eq 9990 ]
	grep -qx 'smqtt-verify: 0 verified, 9990 rejected, 10 duplicates dropped' err.3
}

@test "shared registry: the replay window is kept in the registry across runs" {
	awk '$3 <= 1000 && $3 % 2' frames > odd
	awk '$3 <= 1000 && $3 % 2 == 0' frames > even
	smqtt-verify -R reg.db < odd > out.1
	cmp out.1 odd
	# Only devices with numbers missing in their last 1024 store a window.
	[ "$(sqlite3 reg.db 'select count(*) from devices where replay_window is not null')" -eq 10 ]
	smqtt-verify -R reg.db < even > out.2
	cmp out.2 even
	[ "$(sqlite3 reg.db 'select count(*) from devices where replay_window is not null')" -eq 0 ]
	status=0
	smqtt-verify -R reg.db < odd > out.3 2> err.3 || status=$?
	[ "$status" -eq 1 ]
	[ ! -s out.3 ]
	[ "$(grep -c ': replay: seq already accepted' err.3)" -eq 5000 ]
}
