#!/usr/bin/env bats
# The offline chain end to end: keygen -> sign -> verify -> store.

load test_helper

setup() { common_setup; }

@test "pipeline: example meter data signed, verified and stored intact" {
	csv="$REPO/examples/readings.csv"
	[ -s "$csv" ] || fail "missing $csv"
	set -o pipefail
	for m in $(cut -d, -f1 "$csv" | sort -u); do
		smqtt-keygen -k "$m.key" > "$m.pub"
		grep "^$m," "$csv" | smqtt-sign -k "$m.key" -i "$m" > "$m.frames"
		trust+=(-p "$m=$m.pub")
	done
	# interleave the meters as a broker would
	paste -d '\n' ./*.frames | grep -v '^$' > all.frames
	smqtt-verify "${trust[@]}" < all.frames | smqtt-store -d db 2> store.err
	grep -q "smqtt-store: $(wc -l < "$csv") stored, 0 duplicates, 0 rejected, 0 gaps" store.err
	expected=$(awk -F, '{s[$1 "|" $3] += $4} END {for (k in s) printf "%s|%.2f\n", k, s[k]}' "$csv" | sort)
	actual=$(sqlite3 db "select meter || '|' || channel || '|' || printf('%.2f', sum(value)) from readings group by meter, channel" | sort)
	[ "$expected" = "$actual" ] || fail "sums differ: $expected vs $actual"
	# and the database re-verifies on its own
	sqlite3 db 'select frame from readings order by device, seq' | smqtt-verify "${trust[@]}" | wc -l > n
	[ "$(cat n)" -eq "$(wc -l < "$csv")" ]
}

@test "pipeline: a value altered in transit is rejected, not stored, and shows up as a gap" {
	smqtt-keygen -k m.key > m.pub
	meter_records 10 ABC | smqtt-sign -k m.key -i ABC > frames
	sed '5s/,[0-9.]*$/,999.9/' frames > tampered
	! cmp -s frames tampered
	smqtt-verify --pubkey ABC=m.pub < tampered 2> verify.err | smqtt-store -d db 2> store.err
	grep -q "smqtt-verify: line 5: device ABC seq 5: bad signature" verify.err
	grep -q "device ABC seq 6: gap: 1 frames missing (seq 5..5)" store.err
	[ "$(sqlite3 db 'select count(*) from readings where value = 999.9')" -eq 0 ]
	[ "$(sqlite3 db 'select count(*) from readings')" -eq 9 ]
}

@test "pipeline: a stream sent twice adds nothing" {
	smqtt-keygen -k m.key > m.pub
	meter_records 5 ABC | smqtt-sign -k m.key -i ABC > frames
	cat frames frames | smqtt-verify --pubkey ABC=m.pub 2> verify.err | smqtt-store -d db 2> store.err
	grep -qx "smqtt-verify: 5 verified, 0 rejected, 5 duplicates dropped" verify.err
	grep -q "5 stored, 0 duplicates, 0 rejected" store.err
	# Sent again to a new verifier, which cannot tell them from replays: the store keeps each once.
	smqtt-verify --pubkey ABC=m.pub < frames 2> /dev/null | smqtt-store -d db 2> /dev/null
	[ "$(sqlite3 db 'select count(*) from readings')" -eq 5 ]
	# Within one verifier, the last frame arriving first does not turn the earlier ones into
	# replays (they are inside the replay window); its second copy is dropped as a duplicate.
	smqtt-verify --pubkey ABC=m.pub < <(tail -n 1 frames; cat frames) 2> verify.err > out
	grep -qx "smqtt-verify: 5 verified, 0 rejected, 1 duplicates dropped" verify.err
	! grep -q ': replay: ' verify.err
	[ "$(wc -l < out)" -eq 5 ]
}

@test "pipeline: the examples script runs" {
	[ -f "$REPO/examples/offline-pipeline.sh" ] || fail "missing examples/offline-pipeline.sh"
	cd "$REPO"
	PATH="$SMQTT_BIN:$PATH" run sh examples/offline-pipeline.sh
	assert_status 0
}
