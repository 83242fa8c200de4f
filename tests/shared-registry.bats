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

# verifiers N ARGS...: N smqtt-verify -R reg.db ARGS started at once on the same frames,
# each writing out.I and err.I; their exit statuses in STATUSES. With PACE=K, each
# reads its frames K at a time with a pause of its own (0 to 40 ms) between, so that
# the verifiers' batches interleave and each gets ahead of the others now and then.
verifiers() {
	local n=$1 i
	shift
	local pids=()
	for ((i = 1; i <= n; i++)); do
		if [ -n "${PACE:-}" ]; then
			awk -v k="$PACE" -v seed="$i" 'BEGIN { srand(seed) }
				{ print } NR % k == 0 { fflush(); system("sleep " rand() * 0.04) }' frames |
				smqtt-verify -R reg.db "$@" > "out.$i" 2> "err.$i" &
		else
			smqtt-verify -R reg.db "$@" < frames > "out.$i" 2> "err.$i" &
		fi
		pids+=($!)
	done
	STATUSES=()
	for ((i = 0; i < n; i++)); do
		local st=0
		wait "${pids[$i]}" || st=$?
		STATUSES+=("$st")
	done
}

# passed_once N: every frame was passed on by exactly one of the N verifiers.
passed_once() {
	local n=$1 i
	local outs=() errs=()
	for ((i = 1; i <= n; i++)); do
		outs+=("out.$i")
		errs+=("err.$i")
	done
	sort "${outs[@]}" > both
	sort frames > all
	local twice
	twice=$(uniq -d both | wc -l)
	[ "$twice" -eq 0 ] || fail "$twice frames passed on by more than one verifier: $(uniq -d both | head -n 2)"
	cmp -s both all || fail "passed on: $(wc -l < both) of $(wc -l < all) frames"
	# The other copies of each were rejected as replays by the other verifiers and said so, or
	# dropped as duplicates of the device's last frame, which they learnt from the registry.
	local rejected=0 duplicates=0 dup
	for ((i = 1; i <= n; i++)); do
		rejected=$((rejected + $(grep -c ': replay: ' "err.$i" || true)))
		dup=$(sed -n 's/.* \([0-9]*\) duplicates dropped$/\1/p' "err.$i")
		duplicates=$((duplicates + ${dup:-0}))
		[ "${STATUSES[$((i - 1))]}" -le 1 ] || fail "verifier $i: status ${STATUSES[$((i - 1))]}: $(tail -n 3 "err.$i")"
	done
	[ "$((rejected + duplicates))" -eq $((20000 * (n - 1))) ] ||
		fail "$rejected replays and $duplicates duplicates: $(tail -n 2 "${errs[@]}")"
	[ "$(sqlite3 reg.db 'select group_concat(last_seq) from devices')" = "$(printf '2000,%.0s' {1..10} | sed 's/,$//')" ]
}

# shares N: how many frames each of the N verifiers passed on, for the log.
shares() {
	local i line="#"
	for ((i = 1; i <= $1; i++)); do
		line="$line verifier $i passed $(wc -l < "out.$i");"
	done
	echo "$line" >&3
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
	[ "$(sqlite3 reg.db "select last_seq from devices where id = 'D01'")" -eq 2000 ]
	shares 4
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
