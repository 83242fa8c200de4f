#!/usr/bin/env bash
# Registry benchmark for smqtt-verify -R, run by `make bench` after
# tests/bench.sh: what it costs to verify frames from many registered devices,
# each of whose first frame loads its key from the registry into the cache
# (and, past --cache devices, evicts another), against the same number of
# frames from one registered device, whose key is loaded once.
#
# For each size D in SMQTT_BENCH_REGISTRY_DEVICES (default "100000 1000000"):
# D devices issued and registered with `smqtt-issue device -R` (one shared
# key, certified per device, so one helper process signs for all of them; the
# verifier still loads one key per device), then
#   verify -R  frames/s of smqtt-verify -j 1 -R, one frame per device (as
#              meters send one frame per interval), vs D frames from one of
#              the registered devices, alternating, each run on a fresh copy
#              of the registry; median of SMQTT_BENCH_REGISTRY_REPS (default
#              SMQTT_BENCH_REPS, 3); goal >= 0.8; and the peak RSS of both
# and, for the first size only, the same with SMQTT_BENCH_REGISTRY_ROUNDS
# (default 3) frames per device, round by round, as earlier runs measured it.
# The cache keeps its default size (100000 devices).
#
# Markdown table on stdout, also written to build/bench-registry.md.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SMQTT_BIN:-$root/bin}
# shellcheck disable=SC1091
. "$here/lib.bash"
SIZES=${SMQTT_BENCH_REGISTRY_DEVICES:-100000 1000000}
ROUNDS=${SMQTT_BENCH_REGISTRY_ROUNDS:-3}
REPS=${SMQTT_BENCH_REGISTRY_REPS:-${SMQTT_BENCH_REPS:-3}}
GOAL=0.8

for p in smqtt-keygen smqtt-issue smqtt-register smqtt-verify; do
	[ -x "$bin/$p" ] || die "$bin/$p not found (run make first)"
done
[ -f "$root/build/release/libsmqtt.a" ] || die "build/release/libsmqtt.a not found (run make first)"
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or later is needed (EPOCHREALTIME)"
[ -x /usr/bin/time ] || die "GNU time (/usr/bin/time) is needed: run make deps"

work=$(mktemp -d "${TMPDIR:-/tmp}/smqtt-bench-registry.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$work"

lines() { wc -l < "$1" | tr -d ' '; }
expect_lines() {
	local n
	n=$(lines "$2")
	[ "$n" -eq "$3" ] || die "$1 wrote $n lines, not $3"
}

cc -std=c11 -O2 -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -I"$root/common" -o sign-devices \
	"$here/sign-devices.c" "$root/build/release/libsmqtt.a" -lcrypto 2> cc.err ||
	{ cat cc.err >&2; die "building tests/bench/sign-devices.c against build/release/libsmqtt.a failed"; }
"$bin/smqtt-keygen" -k shared.key > shared.pub || die "smqtt-keygen failed"
"$bin/smqtt-issue" ca --ca-dir ca > /dev/null || die "smqtt-issue ca failed"

# verify_run KIND: one smqtt-verify -R run on frames.KIND against a fresh copy of reg.db;
# sets secs and rss_kib
verify_run() {
	local t0 t1 n
	cp reg.db run.db
	rm -f run.db-wal run.db-shm
	n=$(lines "frames.$1")
	t0=$EPOCHREALTIME
	/usr/bin/time -f %M -o verify.rss "$bin/smqtt-verify" -j 1 -R run.db < "frames.$1" > verified 2> verify.err ||
		{ tail -n 5 verify.err >&2; die "smqtt-verify -R ($1) failed"; }
	t1=$EPOCHREALTIME
	expect_lines "smqtt-verify -R ($1)" verified "$n"
	secs=$(elapsed "$t0" "$t1") rss_kib=$(tail -n 1 verify.rss)
}

rows=()
first=yes
for D in $SIZES; do
	say "registry of $D devices: issuing and registering (smqtt-issue device -R)"
	rm -rf certs reg.db reg.db-wal reg.db-shm
	"$bin/smqtt-register" -R reg.db init --ca ca/ca.crt || die "smqtt-register init failed"
	seq -f 'm%07.0f' 1 "$D" > ids
	sed "s|\$| pubkey=$work/shared.pub|" ids |
		"$bin/smqtt-issue" device --ca-dir ca -o certs -R reg.db > /dev/null 2> issue.err ||
		{ tail -n 3 issue.err >&2; die "smqtt-issue device -R failed"; }
	[ "$(sqlite3 reg.db 'select count(*) from keys')" = "$D" ] || die "the registry does not hold $D keys"
	sqlite3 -bail reg.db 'pragma wal_checkpoint(truncate);' > /dev/null
	rm -rf certs

	rounds_list=1
	[ "$first" = yes ] && [ "$ROUNDS" -gt 1 ] && rounds_list="1 $ROUNDS"
	first=no
	for R in $rounds_list; do
		n=$((D * R))
		say "  $D devices x $R frame(s) = $n frames, against $n frames of one device"
		./sign-devices shared.key "$R" < ids > frames.many || die "signing frames for $D devices failed"
		head -n 1 ids | ./sign-devices shared.key "$n" > frames.one || die "signing frames for one device failed"
		expect_lines sign-devices frames.many "$n"
		expect_lines sign-devices frames.one "$n"
		one=() many=() one_rss=() many_rss=()
		for ((r = 1; r <= REPS; r++)); do
			# alternate which goes first
			kinds="many one"
			((r % 2)) || kinds="one many"
			for kind in $kinds; do
				verify_run "$kind"
				if [ "$kind" = one ]; then
					one+=("$(rate "$n" "$secs")") one_rss+=("$rss_kib")
				else
					many+=("$(rate "$n" "$secs")") many_rss+=("$rss_kib")
				fi
				say "    run $r, $kind: $(rate "$n" "$secs") frames/s, peak RSS $rss_kib KiB"
			done
		done
		m_many=$(median "${many[@]}") m_one=$(median "${one[@]}")
		q=$(ratio "$m_many" "$m_one")
		rows+=("| verify -R, frames/s, $D registered devices x $R frame(s) each, $n frames, median of $REPS ($(printf '%s ' "${many[@]}" | sed 's/ $//')), alternating (anchor: $n frames of 1 registered device: $(printf '%s ' "${one[@]}" | sed 's/ $//')) | $m_many | $m_one | $q | ratio >= $GOAL | $(atleast "$q" "$GOAL") |")
		rows+=("| peak RSS of smqtt-verify -R, MiB, $D devices x $R (anchor: 1 device) | $(mib "$(maximum "${many_rss[@]}")") | $(mib "$(maximum "${one_rss[@]}")") | - | - | - |")
		rm -f frames.many frames.one verified run.db run.db-wal run.db-shm
	done
done

mkdir -p "$root/build"
{
	echo "# smqtt registry benchmark"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M:%S UTC') · $(uname -m) · $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) · nproc $(nproc) · $(openssl version | cut -d' ' -f1-2) · SQLite $(sqlite3 --version | cut -d' ' -f1) · smqtt-verify -j 1 -R, cache 100000 devices"
	echo
	echo "| measurement | smqtt | anchor | ratio | goal | met? |"
	echo "| --- | ---: | ---: | ---: | --- | --- |"
	printf '%s\n' "${rows[@]}"
} | tee "$root/build/bench-registry.md"
