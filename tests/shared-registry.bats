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
	registry_fresh
	registry_setup "${DEVICES[@]}"
	smqtt-register -R "$REG" add < issued 2> /dev/null
	local d
	for d in "${DEVICES[@]}"; do
		meter_records 2000 "$d" | smqtt-sign -k "certs/$d.key" -i "$d" -S "$d.seq" > "$d.frames"
	done
	# Round robin over the devices, as a collector receives them.
	paste -d '\n' "${DEVICES[@]/%/.frames}" > frames
	[ "$(wc -l < frames)" -eq 20000 ]
}

# verifiers N ARGS...: N smqtt-verify -R "$REG" ARGS started at once on the
# same frames, then waited for (start_verifiers, wait_verifiers in
# registry_helper.bash).
verifiers() {
	start_verifiers "$@"
	wait_verifiers
}

@test "shared registry: two verifiers started at once on the same 20000 frames pass each on once" {
	verifiers 2
	passed_once 2
	shares 2
}

@test "shared registry: the same with two threads each and a small cache" {
	verifiers 2 -j 2 --cache 4
	passed_once 2
	shares 2
}

@test "shared registry: four verifiers reading the same 20000 frames at once pass each on once" {
	PACE=1000 verifiers 4
	passed_once 4
	shares 4
}

@test "shared registry: four verifiers racing on one device pass each of its frames on once" {
	# Every frame of one device, so that each batch of each verifier claims the same row.
	cp D01.frames frames
	PACE=50 verifiers 4 --cache 1
	sort out.1 out.2 out.3 out.4 > both
	[ -z "$(uniq -d both)" ] || fail "passed on twice: $(uniq -d both | head -n 2)"
	cmp -s both <(sort frames) || fail "passed on: $(wc -l < both) of 2000 frames"
	local i
	for i in 0 1 2 3; do
		[ "${STATUSES[$i]}" -le 1 ] || fail "verifier $((i + 1)): status ${STATUSES[$i]}: $(tail -n 3 "err.$((i + 1))")"
	done
	[ "$(reg_sql "select last_seq from devices where id = 'D01'")" -eq 2000 ]
	shares 4
}

@test "shared registry: a frame replayed to a second verifier while the first holds it is passed on once" {
	# The second verifier reads slowly: each of its batches overlaps the first verifier's.
	head -n 5000 frames > some
	smqtt-verify -R "$REG" < some > out.1 2> err.1 &
	local a=$!
	awk '{ print } NR % 500 == 0 { fflush(); system("sleep 0.05") }' some | smqtt-verify -R "$REG" > out.2 2> err.2 || true
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
	smqtt-verify -R "$REG" < odd > out.1 2> err.1 &
	local a=$!
	smqtt-verify -R "$REG" < even > out.2 2> err.2 || fail "$(tail -n 3 err.2)"
	wait "$a" || fail "$(tail -n 3 err.1)"
	cmp out.1 odd
	cmp out.2 even
	# All of them again, to a new verifier: refused, but each device's last
	# frame, which the registry remembers, is a duplicate.
	status=0
	cat odd even | smqtt-verify -R "$REG" > out.3 2> err.3 || status=$?
	[ "$status" -eq 1 ]
	[ ! -s out.3 ]
	[ "$(grep -c ': replay: seq already accepted' err.3)" -eq 9990 ]
	grep -qx 'smqtt-verify: 0 verified, 9990 rejected, 10 duplicates dropped' err.3
}

@test "shared registry: the replay window is kept in the registry across runs" {
	awk '$3 <= 1000 && $3 % 2' frames > odd
	awk '$3 <= 1000 && $3 % 2 == 0' frames > even
	smqtt-verify -R "$REG" < odd > out.1
	cmp out.1 odd
	# Only devices with numbers missing in their last 1024 store a window.
	[ "$(reg_sql 'select count(*) from devices where replay_window is not null')" -eq 10 ]
	smqtt-verify -R "$REG" < even > out.2
	cmp out.2 even
	[ "$(reg_sql 'select count(*) from devices where replay_window is not null')" -eq 0 ]
	status=0
	smqtt-verify -R "$REG" < odd > out.3 2> err.3 || status=$?
	[ "$status" -eq 1 ]
	[ ! -s out.3 ]
	[ "$(grep -c ': replay: seq already accepted' err.3)" -eq 5000 ]
}
