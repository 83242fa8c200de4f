#!/usr/bin/env bash
# Encrypted readings, run by `make bench`: the key authority (smqtt-pkg
# setup, keygen with 10 attributes), smqtt-encrypt and smqtt-decrypt per
# record with one capsule for the whole stream (amortized) and with a
# capsule per record (--rekey 1), beside smqtt-sign and smqtt-verify in the
# same run; bytes per reading, plain and encrypted; and the collector's
# verify | decrypt against verify alone (goal, issue 13: at least 0.8).
# Then the control center with SMQTT_BENCH_ABE_METERS meters (default
# 1000), SMQTT_BENCH_ABE_PER_METER readings each (default 200), every meter
# its own session and capsule (smqtt-encrypt with its defaults), all
# registered with one shared signing key: the collector `smqtt-verify -R |
# smqtt-store` on the encrypted frames (stored sealed, -s sealed:text)
# against the same on the plain frames (typed rows), and the consumer
# `smqtt-verify -R | smqtt-decrypt` against `smqtt-verify -R | cut` of the
# plain frames' records, from files (the broker's part is the same for both
# and left out).
# Wall-clock seconds, median of SMQTT_BENCH_ABE_RUNS runs (default 5).
#
# Prints a Markdown table on stdout, also written to build/bench-abe.md.

set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck disable=SC1091
. "$here/lib.bash"
RUNS=${SMQTT_BENCH_ABE_RUNS:-5}
N=${SMQTT_BENCH_ABE_RECORDS:-20000}
N_REKEY=${SMQTT_BENCH_ABE_REKEYED:-200}
bin=${SMQTT_BIN:-$root/bin}
export PATH="$bin:$PATH"
for p in smqtt-pkg smqtt-encrypt smqtt-decrypt smqtt-sign smqtt-verify smqtt-keygen; do
	command -v "$p" > /dev/null || die "$p not found in $bin (run make first)"
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# timed VAR CMD...: run CMD (a shell string) RUNS times; VAR gets the median seconds.
timed() {
	local var=$1 cmd=$2 t=() i start end
	for ((i = 0; i < RUNS; i++)); do
		start=$EPOCHREALTIME
		bash -c "$cmd" || die "failed: $cmd"
		end=$EPOCHREALTIME
		t+=("$(elapsed "$start" "$end")")
	done
	printf -v "$var" '%s' "$(median "${t[@]}")"
}
per() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.1f", s * 1e6 / n }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }

smqtt-keygen -k m.key > /dev/null
openssl req -new -x509 -key m.key -subj /CN=M1 -days 2 -out m.crt 2> /dev/null
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "M1,2026-12-%02d %02d:%02d:00,%d,%.1f\n", 1 + int(i / 96) % 28, int(i % 96 / 4), (i % 4) * 15, i % 2, (i * 7) % 1000 / 10 }' > records
head -n "$N_REKEY" records > records.rekey
attrs='a:1 a:2 a:3 a:4 a:5 a:6 a:7 a:8 a:9'
policy='a:1 and a:2 and a:3 and a:4 and a:5 and a:6 and a:7 and a:8 and a:9'
mkdir -m 700 keys

say "abe: smqtt-pkg setup and keygen, $RUNS runs each"
timed t_setup 'smqtt-pkg setup -f -m master.key > params.pem'
smqtt-pkg setup -f -m master.key > params.pem
# 9 attributes and the epoch: 10.
timed t_keygen "smqtt-pkg keygen -f --params params.pem -m master.key -o keys K $attrs > /dev/null"
say "abe: $N records signed, verified, encrypted and decrypted, $RUNS runs each"
timed t_sign "rm -f s.seq; smqtt-sign -k m.key -i M1 -S s.seq < records > plain.frames"
timed t_verify "smqtt-verify -c m.crt < plain.frames > /dev/null"
timed t_encrypt "smqtt-encrypt --params params.pem -i M1 -P '$policy' < records > enc.records"
rm -f e.seq
smqtt-sign -k m.key -i M1 -S e.seq < enc.records > enc.frames
smqtt-verify -c m.crt < enc.frames > enc.verified
timed t_decrypt "smqtt-decrypt --params params.pem -k keys/K.cpkey < enc.verified > out"
cmp -s out records || die "decrypted records differ from the originals"
timed t_collector "smqtt-verify -c m.crt < enc.frames | smqtt-decrypt --params params.pem -k keys/K.cpkey > /dev/null"
timed t_collector_plain "smqtt-verify -c m.crt < plain.frames | cut -d' ' -f5- > /dev/null"
say "abe: $N_REKEY records with a capsule each (--rekey 1), $RUNS runs each"
timed t_encrypt_rekey "smqtt-encrypt --params params.pem -i M1 -P '$policy' --rekey 1 < records.rekey > rekey.records"
rm -f r.seq
smqtt-sign -k m.key -i M1 -S r.seq < rekey.records | smqtt-verify -c m.crt > rekey.verified
timed t_decrypt_rekey "smqtt-decrypt --params params.pem -k keys/K.cpkey --max-capsules 1000000 < rekey.verified > out.rekey"
cmp -s out.rekey records.rekey || die "decrypted records (rekeyed) differ from the originals"

M=${SMQTT_BENCH_ABE_METERS:-1000}
PER=${SMQTT_BENCH_ABE_PER_METER:-200}
say "abe: $M meters x $PER readings: keys, registry, encrypting and signing"
smqtt-keygen -k shared.key > shared.pub
smqtt-issue ca --ca-dir ca > /dev/null
smqtt-register -R reg.db init --ca ca/ca.crt
seq -f 'm%04.0f' 1 "$M" > ids
sed "s|\$| pubkey=$work/shared.pub|" ids | smqtt-issue device --ca-dir ca -o certs -R reg.db > /dev/null 2> issue.err ||
	{ tail -n 3 issue.err >&2; die "smqtt-issue device -R failed"; }
mkdir meters
# meter LANE: the meters LANE, LANE + 2, ...: plain and encrypted frames of each
meter() {
	local i id
	for ((i = $1; i <= M; i += 2)); do
		id=$(sed -n "${i}p" ids)
		awk -v n="$PER" -v d="$id" 'BEGIN { for (i = 0; i < n; i++) printf "%s,2026-12-%02d %02d:%02d:00,%d,%.1f\n", d, 1 + int(i / 96) % 28, int(i % 96 / 4), (i % 4) * 15, i % 2, (i * 7) % 1000 / 10 }' > "meters/$id"
		smqtt-sign -k shared.key -i "$id" -S "meters/$id.pseq" < "meters/$id" > "meters/$id.plain" || return 1
		smqtt-encrypt --params params.pem -i "$id" -P 'role:billing or (role:audit and feeder:F12)' < "meters/$id" |
			smqtt-sign -k shared.key -i "$id" -S "meters/$id.eseq" > "meters/$id.enc" || return 1
	done
}
meter 1 & lane1=$!
meter 2 & lane2=$!
wait "$lane1" && wait "$lane2" || die "encrypting and signing the meters' readings failed"
while read -r id; do cat "meters/$id.plain"; done < ids > fleet.plain
while read -r id; do cat "meters/$id.enc"; done < ids > fleet.enc
while read -r id; do cat "meters/$id"; done < ids > fleet.records
[ "$(wc -l < fleet.plain)" -eq $((M * PER)) ] || die "fleet: $(wc -l < fleet.plain) plain frames"
smqtt-pkg keygen -f --params params.pem -m master.key -o keys billing role:billing > /dev/null
say "abe: the control center on $((M * PER)) readings of $M meters, $RUNS runs each"
timed t_store_plain "rm -f run.db-wal run.db-shm && cp reg.db run.db && rm -f p.db* && smqtt-verify -R run.db < fleet.plain | smqtt-store -d p.db"
timed t_store_enc "rm -f run.db-wal run.db-shm && cp reg.db run.db && rm -f e.db* && smqtt-verify -R run.db < fleet.enc | smqtt-store -d e.db -s sealed:text"
[ "$(sqlite3 e.db 'select count(*) from readings')" -eq "$(wc -l < fleet.enc)" ] || die "sealed store: not every frame stored"
timed t_read_plain "rm -f run.db-wal run.db-shm && cp reg.db run.db && smqtt-verify -R run.db < fleet.plain | cut -d' ' -f5- > out.plain"
timed t_read_enc "rm -f run.db-wal run.db-shm && cp reg.db run.db && smqtt-verify -R run.db < fleet.enc | smqtt-decrypt --params params.pem -k keys/billing.cpkey > out.enc"
cmp -s out.enc fleet.records || die "the consumer's decrypted readings differ from the meters' records"
cmp -s out.plain fleet.records || die "the plain consumer's records differ from the meters' records"

plain_bytes=$(awk '{ n += length($0) + 1 } END { printf "%.0f", n / NR }' plain.frames)
enc_bytes=$(awk '{ n += length($0) + 1 } END { printf "%.0f", n / NR }' enc.frames)
capsules=$(grep -c ' abe1 capsule ' enc.frames)
capsule_bytes=$(grep ' abe1 capsule ' enc.frames | awk '{ n += length($0) + 1 } END { printf "%.0f", n / NR }')
{
	echo "### Encrypted readings (wall-clock, median of $RUNS runs; $N records, $N_REKEY with --rekey 1)"
	echo
	echo "| operation | time |"
	echo "| --- | ---: |"
	echo "| smqtt-pkg setup (the seed: KP 187 ms, CP 588 ms) | $(ms "$t_setup") ms |"
	echo "| smqtt-pkg keygen, 10 attributes | $(ms "$t_keygen") ms |"
	echo "| smqtt-sign, per record | $(per "$t_sign" "$N") µs |"
	echo "| smqtt-verify, per frame | $(per "$t_verify" "$N") µs |"
	echo "| smqtt-encrypt, per record, one capsule (10 attributes) | $(per "$t_encrypt" "$N") µs |"
	echo "| smqtt-encrypt, per record, a capsule each | $(per "$t_encrypt_rekey" "$N_REKEY") µs |"
	echo "| smqtt-decrypt, per frame, one capsule | $(per "$t_decrypt" "$N") µs |"
	echo "| smqtt-decrypt, per frame, a capsule each | $(per "$t_decrypt_rekey" "$N_REKEY") µs |"
	echo
	echo "Bytes per frame on the wire (frame and newline, capsule frames included): $plain_bytes plain, $enc_bytes encrypted; a capsule frame is $capsule_bytes bytes ($capsules in $N records: one per session of --rekey 10000 records, sent again every --repeat 100)."
	ratio_c=$(ratio "$t_collector_plain" "$t_collector")
	echo "Collector, smqtt-verify | smqtt-decrypt against smqtt-verify alone (same frames, one capsule): $ratio_c (goal 0.8: $(atleast "$ratio_c" 0.8))."
	echo
	echo "The control center, $M meters x $PER readings ($((M * PER)) in all; each meter its own session, capsule and repeats: $(grep -c ' abe1 capsule ' fleet.enc) capsule frames), seconds and readings/s:"
	echo
	echo "| pipeline | encrypted | plain | ratio (plain time / encrypted time) | goal | met |"
	echo "| --- | ---: | ---: | ---: | --- | --- |"
	r1=$(ratio "$t_store_plain" "$t_store_enc")
	echo "| collector: smqtt-verify -R \\| smqtt-store (sealed:text against typed rows) | $t_store_enc s, $(rate $((M * PER)) "$t_store_enc")/s | $t_store_plain s, $(rate $((M * PER)) "$t_store_plain")/s | $r1 | >= 0.8 | $(atleast "$r1" 0.8) |"
	r2=$(ratio "$t_read_plain" "$t_read_enc")
	echo "| consumer: smqtt-verify -R \\| smqtt-decrypt (against \\| cut) | $t_read_enc s, $(rate $((M * PER)) "$t_read_enc")/s | $t_read_plain s, $(rate $((M * PER)) "$t_read_plain")/s | $r2 | >= 0.8 | $(atleast "$r2" 0.8) |"
} | tee "$root/build/bench-abe.md"
