#!/usr/bin/env bash
# Benchmarks for smqtt, run by `make bench`.
#
# Measures, each rate the median of 3 repetitions:
#   sign    frames/s of smqtt-sign (P-256)   vs  openssl speed ecdsap256 sign/s
#   verify  frames/s of smqtt-verify -j 1 (P-256, one thread) vs  openssl speed
#           ecdsap256 verify/s (one core)
#   store   rows/s of smqtt-store            vs  sqlite3 .import of the same rows
#   verify -j 2  frames/s of smqtt-verify -j 2 (two threads) vs openssl speed
#           -multi 2 ecdsap256 verify/s (two processes), in the same
#           repetitions
# plus the peak RSS of smqtt-sign, smqtt-verify and smqtt-store on 200k and 1M
# records, and one run each of Ed25519 and P-384 signing. Registry-backed
# verification is tests/bench/registry.sh.
#
# Prints progress on stderr and a Markdown table on stdout, also written to
# build/bench.md. Exits 0 when every command worked, whether or not the goals
# were met; non-zero as soon as a program fails or gives a wrong count.
#
# Environment: SMQTT_BIN (directory with the programs, default bin/),
# SMQTT_BENCH_N (records, default 200000), SMQTT_BENCH_NBIG (records for the
# memory runs, default 1000000), SMQTT_BENCH_REPS (default 3),
# SMQTT_BENCH_SECONDS (openssl speed seconds, default 3).

if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bin=${SMQTT_BIN:-$root/bin}
# shellcheck disable=SC1091
. "$root/tests/bench/lib.bash"
N=${SMQTT_BENCH_N:-200000}
NBIG=${SMQTT_BENCH_NBIG:-1000000}
REPS=${SMQTT_BENCH_REPS:-3}
OSSL_SECONDS=${SMQTT_BENCH_SECONDS:-3}
N_ED25519=$((N / 2))	# extra rows: one run each, on fewer records
N_P384=$((N / 10))	# P-384 signs about 25 times slower than P-256
RSS_LIMIT_MIB=16
RSS_FLAT=1.10		# "flat": peak RSS at NBIG at most this times that at N


# --- prerequisites -----------------------------------------------------------
for p in smqtt-keygen smqtt-sign smqtt-verify smqtt-store; do
	[ -x "$bin/$p" ] || die "$bin/$p not found (run make first)"
done
command -v openssl >/dev/null || die "openssl not installed"
command -v sqlite3 >/dev/null || die "sqlite3 not installed"
/usr/bin/time -f %M true >/dev/null 2>&1 || die "GNU time (/usr/bin/time) not installed"
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or later is needed (EPOCHREALTIME)"
[ "$N" -le "$NBIG" ] || die "SMQTT_BENCH_N must not exceed SMQTT_BENCH_NBIG"

work=$(mktemp -d "${TMPDIR:-/tmp}/smqtt-bench.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
bench_start=$EPOCHREALTIME

# --- helpers -----------------------------------------------------------------

# run LABEL IN OUT ERR CMD...: run CMD with stdin IN, stdout OUT and stderr ERR
# under GNU time. Sets secs (wall clock, from EPOCHREALTIME) and rss_kib (peak
# RSS). Dies if CMD exits non-zero.
run() {
	local label=$1 in=$2 out=$3 err=$4 t0 t1 rc=0
	shift 4
	t0=$EPOCHREALTIME
	/usr/bin/time -f %M -o "$work/rss" "$@" <"$in" >"$out" 2>"$err" || rc=$?
	t1=$EPOCHREALTIME
	if [ "$rc" -ne 0 ]; then
		[ "$err" = /dev/null ] || tail -n 5 "$err" >&2
		die "$label exited with status $rc"
	fi
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
	rss_kib=$(tail -n 1 "$work/rss")
}

# lines FILE: number of lines in FILE
lines() { wc -l <"$1" | tr -d ' '; }

# expect_lines LABEL FILE N
expect_lines() {
	local got
	got=$(lines "$2")
	[ "$got" -eq "$3" ] || die "$1: expected $3 lines, got $got"
}

# rows DB: number of rows in table readings
rows() { sqlite3 -bail "$1" 'select count(*) from readings;'; }

# expect_rows LABEL DB N
expect_rows() {
	local got
	got=$(rows "$2")
	[ "$got" = "$3" ] || die "$1: expected $3 rows, got $got"
}



# at_least VALUE GOAL: "yes" or "no"
at_least() { awk -v v="$1" -v g="$2" 'BEGIN { print (v >= g ? "yes" : "no") }'; }

# openssl_speed ALG...: one line "BITS SIGN/s VERIFY/s" per algorithm, from the
# machine-readable output. -elapsed makes openssl divide by wall-clock time,
# as the smqtt figures are.
openssl_speed() {
	local out
	out=$(openssl speed -mr -elapsed -seconds "$OSSL_SECONDS" "$@" 2>"$work/openssl.err") ||
		{ tail -n 5 "$work/openssl.err" >&2; die "openssl speed $* failed"; }
	# +F4:index:bits:sign/s:verify/s (ECDSA); +F6:index:bits:name:sign/s:verify/s (EdDSA)
	printf '%s\n' "$out" | awk -F: '
		/^\+F4:/ { printf "%d %.0f %.0f\n", $3, $4, $5 }
		/^\+F6:/ { printf "%d %.0f %.0f\n", $3, $5, $6 }'
}

# --- input -------------------------------------------------------------------
say "work directory $work"
say "generating $NBIG records"
awk -v n="$NBIG" -v device=M0001 -f "$here/bench/records.awk" >"$work/records.big"
expect_lines "record generator" "$work/records.big" "$NBIG"
head -n "$N" "$work/records.big" >"$work/records"
expect_lines "record generator" "$work/records" "$N"

"$bin/smqtt-keygen" -k "$work/p256.key" --type p256 >"$work/p256.pem" ||
	die "smqtt-keygen --type p256 failed"

# --- repeated measurements ---------------------------------------------------
sign_rates=() sign_rss=() os_sign=() os_verify=()
verify_rates=() verify_rss=() store_rates=() store_rss=() import_rates=()
verify2_rates=() os_verify2=()

for rep in $(seq 1 "$REPS"); do
	say "repetition $rep/$REPS"

	# sign: fresh sequence state each time, so every run numbers from 1
	rm -f "$work/p256.seq"
	run "smqtt-sign" "$work/records" "$work/frames" "$work/sign.err" \
		"$bin/smqtt-sign" -k "$work/p256.key" -i M0001 -S "$work/p256.seq"
	expect_lines "smqtt-sign" "$work/frames" "$N"
	sign_rates+=("$(rate "$N" "$secs")") sign_rss+=("$rss_kib")
	say "  smqtt-sign    $N frames in ${secs}s = ${sign_rates[-1]} frames/s, peak RSS $rss_kib KiB"

	# openssl: one call gives both sign/s and verify/s
	read -r _ s v < <(openssl_speed ecdsap256 | awk '$1 == 256')
	[ -n "${v:-}" ] || die "could not parse openssl speed ecdsap256 output"
	os_sign+=("$s") os_verify+=("$v")
	say "  openssl speed ecdsap256: $s sign/s, $v verify/s"

	# verify: the output must be every input frame, unchanged
	run "smqtt-verify" "$work/frames" "$work/verified" "$work/verify.err" \
		"$bin/smqtt-verify" -j 1 --pubkey "M0001=$work/p256.pem"
	expect_lines "smqtt-verify" "$work/verified" "$N"
	cmp -s "$work/frames" "$work/verified" || die "smqtt-verify changed frames"
	verify_rates+=("$(rate "$N" "$secs")") verify_rss+=("$rss_kib")
	say "  smqtt-verify  $N frames in ${secs}s = ${verify_rates[-1]} frames/s, peak RSS $rss_kib KiB"

	# two threads against two openssl processes
	run "smqtt-verify -j 2" "$work/frames" "$work/verified" "$work/verify.err" \
		"$bin/smqtt-verify" -j 2 --pubkey "M0001=$work/p256.pem"
	expect_lines "smqtt-verify -j 2" "$work/verified" "$N"
	cmp -s "$work/frames" "$work/verified" || die "smqtt-verify -j 2 changed frames"
	verify2_rates+=("$(rate "$N" "$secs")")
	say "  smqtt-verify -j 2  $N frames in ${secs}s = ${verify2_rates[-1]} frames/s"
	read -r _ _ v < <(openssl_speed -multi 2 ecdsap256 | awk '$1 == 256' | tail -n 1)
	[ -n "${v:-}" ] || die "could not parse openssl speed -multi 2 ecdsap256 output"
	os_verify2+=("$v")
	say "  openssl speed -multi 2 ecdsap256: $v verify/s"

	# store into a fresh database
	rm -f "$work/store.db" "$work/store.db-wal" "$work/store.db-shm" "$work/store.db-journal"
	run "smqtt-store" "$work/frames" /dev/null "$work/store.err" \
		"$bin/smqtt-store" -d "$work/store.db"
	grep -q "^smqtt-store: $N stored, 0 duplicates, 0 rejected" "$work/store.err" ||
		{ cat "$work/store.err" >&2; die "smqtt-store did not report $N rows stored"; }
	expect_rows "smqtt-store" "$work/store.db" "$N"
	store_rates+=("$(rate "$N" "$secs")") store_rss+=("$rss_kib")
	say "  smqtt-store   $N rows in ${secs}s = ${store_rates[-1]} rows/s, peak RSS $rss_kib KiB"

	# sqlite3 .import of the same rows into a fresh database with the same table
	if [ "$rep" -eq 1 ]; then
		sqlite3 -bail "$work/store.db" '.schema readings' >"$work/schema.sql"
		grep -q 'CREATE TABLE readings' "$work/schema.sql" ||
			die "no CREATE TABLE readings in the smqtt-store database"
		sqlite3 -bail -csv "$work/store.db" 'select * from readings;' >"$work/rows.csv"
	fi
	rm -f "$work/import.db" "$work/import.db-journal"
	sqlite3 -bail "$work/import.db" <"$work/schema.sql" || die "creating the import database failed"
	run "sqlite3 .import" /dev/null /dev/null "$work/import.err" \
		sqlite3 -bail "$work/import.db" ".import --csv $work/rows.csv readings"
	[ ! -s "$work/import.err" ] || { cat "$work/import.err" >&2; die "sqlite3 .import reported errors"; }
	expect_rows "sqlite3 .import" "$work/import.db" "$N"
	import_rates+=("$(rate "$N" "$secs")")
	say "  sqlite3 .import $N rows in ${secs}s = ${import_rates[-1]} rows/s"
done
rm -f "$work/verified" "$work/store.db" "$work/import.db" "$work/rows.csv"

# --- memory at NBIG records --------------------------------------------------
say "memory runs on $NBIG records"
rm -f "$work/big.seq"
run "smqtt-sign ($NBIG)" "$work/records.big" "$work/frames.big" "$work/sign.err" \
	"$bin/smqtt-sign" -k "$work/p256.key" -i M0001 -S "$work/big.seq"
expect_lines "smqtt-sign ($NBIG)" "$work/frames.big" "$NBIG"
big_sign_rss=$rss_kib
say "  smqtt-sign    $NBIG frames in ${secs}s = $(rate "$NBIG" "$secs") frames/s, peak RSS $rss_kib KiB"

run "smqtt-verify ($NBIG)" "$work/frames.big" "$work/verified.big" "$work/verify.err" \
	"$bin/smqtt-verify" -j 1 --pubkey "M0001=$work/p256.pem"
expect_lines "smqtt-verify ($NBIG)" "$work/verified.big" "$NBIG"
big_verify_rss=$rss_kib
say "  smqtt-verify  $NBIG frames in ${secs}s = $(rate "$NBIG" "$secs") frames/s, peak RSS $rss_kib KiB"
rm -f "$work/verified.big"

run "smqtt-store ($NBIG)" "$work/frames.big" /dev/null "$work/store.err" \
	"$bin/smqtt-store" -d "$work/big.db"
grep -q "^smqtt-store: $NBIG stored, 0 duplicates, 0 rejected" "$work/store.err" ||
	{ cat "$work/store.err" >&2; die "smqtt-store did not report $NBIG rows stored"; }
expect_rows "smqtt-store ($NBIG)" "$work/big.db" "$NBIG"
big_store_rss=$rss_kib
say "  smqtt-store   $NBIG rows in ${secs}s = $(rate "$NBIG" "$secs") rows/s, peak RSS $rss_kib KiB"
rm -f "$work/frames.big" "$work/big.db" "$work/records.big"

# --- other key types, one run each -------------------------------------------
say "extra key types: Ed25519 on $N_ED25519 records, P-384 on $N_P384 records"
head -n "$N_ED25519" "$work/records" >"$work/records.ed25519"
head -n "$N_P384" "$work/records" >"$work/records.p384"
declare -A extra_rate
for t in ed25519 p384; do
	"$bin/smqtt-keygen" -k "$work/$t.key" --type "$t" >"$work/$t.pem" || die "smqtt-keygen --type $t failed"
	n=$(lines "$work/records.$t")
	run "smqtt-sign ($t)" "$work/records.$t" "$work/frames.$t" "$work/sign.err" \
		"$bin/smqtt-sign" -k "$work/$t.key" -i M0001 -S "$work/$t.seq"
	expect_lines "smqtt-sign ($t)" "$work/frames.$t" "$n"
	extra_rate[$t]=$(rate "$n" "$secs")
	say "  smqtt-sign $t: $n frames in ${secs}s = ${extra_rate[$t]} frames/s"
done
openssl_speed ed25519 ecdsap384 >"$work/openssl.extra"
os_ed25519=$(awk '$1 == 253 { print $2 }' "$work/openssl.extra")
os_p384=$(awk '$1 == 384 { print $2 }' "$work/openssl.extra")
if [ -z "$os_ed25519" ] || [ -z "$os_p384" ]; then
	die "could not parse openssl speed ed25519 ecdsap384 output"
fi
say "  openssl speed: ed25519 $os_ed25519 sign/s, ecdsap384 $os_p384 sign/s"

# --- report ------------------------------------------------------------------
m_sign=$(median "${sign_rates[@]}") m_os_sign=$(median "${os_sign[@]}")
m_verify=$(median "${verify_rates[@]}") m_os_verify=$(median "${os_verify[@]}")
m_store=$(median "${store_rates[@]}") m_import=$(median "${import_rates[@]}")
r_sign=$(ratio "$m_sign" "$m_os_sign")
r_verify=$(ratio "$m_verify" "$m_os_verify")
r_store=$(ratio "$m_store" "$m_import")
m_verify2=$(median "${verify2_rates[@]}") m_os_verify2=$(median "${os_verify2[@]}")
r_verify2=$(ratio "$m_verify2" "$m_os_verify2")

# rss_row NAME KIB_AT_N KIB_AT_NBIG
rss_row() {
	local small big r met
	small=$(mib "$2") big=$(mib "$3") r=$(ratio "$3" "$2")
	met=$(awk -v b="$big" -v r="$r" -v lim="$RSS_LIMIT_MIB" -v flat="$RSS_FLAT" \
		'BEGIN { print (b <= lim && r <= flat ? "yes" : "no") }')
	printf '| peak RSS %s, MiB at %s records (anchor: at %s) | %s | %s | %s | <= %s MiB, ratio <= %s | %s |\n' \
		"$1" "$NBIG" "$N" "$big" "$small" "$r" "$RSS_LIMIT_MIB" "$RSS_FLAT" "$met"
}

cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
total=$(awk -v a="$bench_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
report=$work/bench.md
{
	echo "# smqtt benchmark"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M:%S UTC') · $(uname -m) · ${cpu:-unknown CPU} · nproc $(nproc)" \
		"· OpenSSL $(openssl version | awk '{ print $2 }') · SQLite $(sqlite3 --version | awk '{ print $1 }')"
	echo
	echo "Rates are the median of $REPS runs on $N records, wall clock;" \
		"openssl speed runs single-core with -elapsed -seconds $OSSL_SECONDS (two processes, -multi 2, for the -j 2 row)." \
		"Anchors: openssl speed for signing and verifying, sqlite3 .import of the same rows" \
		"into the same table for storing. Total time ${total}s."
	echo
	echo "| measurement | smqtt | anchor | ratio | goal | met? |"
	echo "| --- | ---: | ---: | ---: | --- | --- |"
	echo "| sign P-256, frames/s (anchor: openssl ecdsap256 sign/s) | $m_sign | $m_os_sign | $r_sign | ratio >= 0.85 | $(at_least "$r_sign" 0.85) |"
	echo "| verify P-256, frames/s (anchor: openssl ecdsap256 verify/s) | $m_verify | $m_os_verify | $r_verify | ratio >= 0.85 | $(at_least "$r_verify" 0.85) |"
	echo "| verify P-256 -j 2, frames/s (anchor: openssl speed -multi 2 ecdsap256 verify/s) | $m_verify2 | $m_os_verify2 | $r_verify2 | ratio >= 0.85 | $(at_least "$r_verify2" 0.85) |"
	echo "| store, rows/s (anchor: sqlite3 .import rows/s) | $m_store | $m_import | $r_store | ratio >= 0.5 | $(at_least "$r_store" 0.5) |"
	rss_row smqtt-sign "$(maximum "${sign_rss[@]}")" "$big_sign_rss"
	rss_row smqtt-verify "$(maximum "${verify_rss[@]}")" "$big_verify_rss"
	rss_row smqtt-store "$(maximum "${store_rss[@]}")" "$big_store_rss"
	echo "| sign Ed25519, frames/s, 1 run on $N_ED25519 records (anchor: openssl ed25519 sign/s) | ${extra_rate[ed25519]} | $os_ed25519 | $(ratio "${extra_rate[ed25519]}" "$os_ed25519") | - | - |"
	echo "| sign P-384, frames/s, 1 run on $N_P384 records (anchor: openssl ecdsap384 sign/s) | ${extra_rate[p384]} | $os_p384 | $(ratio "${extra_rate[p384]}" "$os_p384") | - | - |"
} >"$report"

mkdir -p "$root/build"
cp "$report" "$root/build/bench.md"
cat "$report"
say "done in ${total}s; report in build/bench.md"
