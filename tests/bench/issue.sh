#!/usr/bin/env bash
# Issuance benchmark for smqtt-issue, run by `make bench` after tests/bench.sh.
#
#   issue     certificates/s of `smqtt-issue device --jobs J` (key +
#             certificate + files) on a batch of SMQTT_BENCH_ISSUE_N devices
#             (default 10k), median of SMQTT_BENCH_REPS (3), vs an openssl CLI
#             loop doing the same per device (genpkey, req, x509) as J loops
#             side by side (J = SMQTT_BENCH_ISSUE_JOBS, default nproc: the same
#             parallelism), alternating with the smqtt-issue runs: each of its
#             REPS runs issues SMQTT_BENCH_OPENSSL_DEVICES / REPS devices
#             (default 10k in all), and its rate is the median of those runs
#             (goal >= 100x)
#   fleet     time to issue a fleet of SMQTT_BENCH_FLEET devices (default 1M)
#             and register it in the same run (smqtt-issue -R; goal <= 120 s
#             on a 2-core machine), then, for comparison, to issue
#             SMQTT_BENCH_FLEET_PIPE more (default the same; 0 skips it) and
#             register them through a pipe into smqtt-register add; with the
#             peak memory (maximum resident set size) of each program, from
#             GNU time
#
# Markdown table on stdout, also written to build/bench-issue.md.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SMQTT_BIN:-$root/bin}
# shellcheck disable=SC1091
. "$here/lib.bash"
N=${SMQTT_BENCH_ISSUE_N:-10000}
N_OPENSSL=${SMQTT_BENCH_OPENSSL_DEVICES:-$N}
JOBS=${SMQTT_BENCH_ISSUE_JOBS:-$(nproc)}
FLEET=${SMQTT_BENCH_FLEET:-1000000}
PIPE=${SMQTT_BENCH_FLEET_PIPE:-$FLEET}
REPS=${SMQTT_BENCH_REPS:-3}

[ -x "$bin/smqtt-issue" ] || die "$bin/smqtt-issue not found (run make first)"
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or later is needed (EPOCHREALTIME)"
[ -x /usr/bin/time ] || die "GNU time (/usr/bin/time) is needed: run make deps"

work=$(mktemp -d "${TMPDIR:-/tmp}/smqtt-bench-issue.XXXXXX")
LOOPS=()
cleanup() {
	local pid
	for pid in "${LOOPS[@]}"; do
		kill "$pid" 2> /dev/null || true
		wait "$pid" 2> /dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$work"


"$bin/smqtt-issue" ca --ca-dir ca > /dev/null
seq -f 'm%07.0f' 1 "$N" > ids

printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' > ext.cnf
# openssl_loop DIR FIRST LAST: one device after another, as a shell script would issue them
openssl_loop() {
	local i
	for ((i = $2; i <= $3; i++)); do
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1/d$i.key" 2> /dev/null &&
			openssl req -new -key "$1/d$i.key" -subj "/CN=d$i" -out "$1/d$i.csr" &&
			openssl x509 -req -in "$1/d$i.csr" -CA ca/ca.crt -CAkey ca/ca.key -CAserial "$1/serial" -CAcreateserial \
				-days 3650 -extfile ext.cnf -out "$1/d$i.crt" 2> /dev/null || return 1
	done
}
# Each loop keeps its serial number file in its own directory: loops side by side must not share one.
per_run=$(((N_OPENSSL + REPS - 1) / REPS))
per_loop=$(((per_run + JOBS - 1) / JOBS))

rates=() ossl_rates=()
time_smqtt_issue() {
	local t0 t1
	say "smqtt-issue --jobs $JOBS: $N devices, run $r of $REPS"
	# A new directory each run: on some file systems (ext4 without a journal) creating
	# files right after deleting many is several times slower, which is not issuance.
	t0=$EPOCHREALTIME
	"$bin/smqtt-issue" device --ca-dir ca --jobs "$JOBS" -o "out$r" < ids > issued 2> err ||
		{ cat err >&2; die "smqtt-issue failed"; }
	t1=$EPOCHREALTIME
	[ "$(wc -l < issued)" -eq "$N" ] || die "smqtt-issue printed $(wc -l < issued) lines, not $N"
	[ "$(find "out$r" -name '*.crt' | wc -l)" -eq "$N" ] || die "smqtt-issue wrote the wrong number of certificates"
	rates+=("$(rate "$N" "$(elapsed "$t0" "$t1")")")
	say "  ${rates[-1]} devices/s"
}
time_openssl_loops() {
	local t0 t1 j pid
	say "openssl CLI loops: $JOBS side by side, $per_loop devices each, run $r of $REPS"
	t0=$EPOCHREALTIME
	LOOPS=()
	for ((j = 0; j < JOBS; j++)); do
		mkdir -p "ossl$r-$j"
		openssl_loop "ossl$r-$j" 1 "$per_loop" &
		LOOPS+=("$!")
	done
	for pid in "${LOOPS[@]}"; do
		wait "$pid" || die "the openssl loop failed"
	done
	LOOPS=()
	t1=$EPOCHREALTIME
	openssl verify -CAfile ca/ca.crt "ossl$r-0/d$per_loop.crt" > /dev/null || die "openssl loop certificates do not verify"
	ossl_rates+=("$(rate "$((per_loop * JOBS))" "$(elapsed "$t0" "$t1")")")
	say "  ${ossl_rates[-1]} devices/s"
}
for ((r = 1; r <= REPS; r++)); do
	if ((r % 2)); then time_smqtt_issue; time_openssl_loops; else time_openssl_loops; time_smqtt_issue; fi
done
openssl verify -CAfile ca/ca.crt out1/m0000001.crt "out1/m$(printf %07d "$N").crt" > /dev/null ||
	die "certificates do not verify"
m_issue=$(median "${rates[@]}")
m_openssl=$(median "${ossl_rates[@]}")
# The sample directories stay until the end: on ext4 without a journal, files
# created within minutes of a mass deletion cost many times more, which would
# be measured as issuance.

fleet_secs=- fleet_register=no issue_rss=- pipe_secs=- pipe_issue_rss=- pipe_register_rss=-
peak_mib() { awk '{ printf "%.0f", $1 / 1024 }' "$1"; }
registered() { sqlite3 "$1" 'select count(*) from keys' 2> /dev/null || echo "?"; }
if [ "$FLEET" -gt 0 ]; then
	seq -f 'f%07.0f' 1 "$FLEET" > fleet-ids
	if [ -x "$bin/smqtt-register" ]; then
		say "fleet: issuing $FLEET devices and registering them in the same run (smqtt-issue -R)"
		"$bin/smqtt-register" -R reg.db init --ca ca/ca.crt
		t0=$EPOCHREALTIME
		/usr/bin/time -f %M -o issue.rss "$bin/smqtt-issue" device --ca-dir ca -o fleet -R reg.db < fleet-ids > /dev/null 2> issue.err ||
			{ tail -n 3 issue.err >&2; die "smqtt-issue -R failed"; }
		t1=$EPOCHREALTIME
		fleet_register=yes
		n=$(registered reg.db)
		[ "$n" = "$FLEET" ] || die "registry holds $n keys, not $FLEET"
		if [ "$PIPE" -gt 0 ]; then
			# The first fleet stays: deleting a million files first would slow the file system down.
			say "fleet: issuing $PIPE devices and registering them through a pipe (smqtt-issue | smqtt-register add)"
			"$bin/smqtt-register" -R pipe.db init --ca ca/ca.crt
			head -n "$PIPE" fleet-ids > pipe-ids
			p0=$EPOCHREALTIME
			/usr/bin/time -f %M -o pipe-issue.rss "$bin/smqtt-issue" device --ca-dir ca -o fleet2 < pipe-ids 2> pipe-issue.err |
				/usr/bin/time -f %M -o pipe-register.rss "$bin/smqtt-register" -R pipe.db add > /dev/null 2> pipe-register.err ||
				{ tail -n 3 pipe-issue.err pipe-register.err >&2; die "issue | register failed"; }
			p1=$EPOCHREALTIME
			n=$(registered pipe.db)
			[ "$n" = "$PIPE" ] || die "registry holds $n keys, not $PIPE"
			pipe_secs=$(elapsed "$p0" "$p1")
			pipe_issue_rss=$(peak_mib pipe-issue.rss)
			pipe_register_rss=$(peak_mib pipe-register.rss)
		fi
	else
		say "fleet: issuing $FLEET devices (smqtt-register not built: issuance only)"
		t0=$EPOCHREALTIME
		/usr/bin/time -f %M -o issue.rss "$bin/smqtt-issue" device --ca-dir ca -o fleet < fleet-ids > /dev/null 2> issue.err ||
			die "smqtt-issue failed"
		t1=$EPOCHREALTIME
	fi
	fleet_secs=$(elapsed "$t0" "$t1")
	issue_rss=$(peak_mib issue.rss)
fi

{
	echo "# smqtt issuance benchmark"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M:%S UTC') · $(uname -m) · $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) · nproc $(nproc) · $(openssl version | cut -d' ' -f1-2)"
	echo
	echo "| measurement | smqtt | anchor | ratio | goal | met? |"
	echo "| --- | ---: | ---: | ---: | --- | --- |"
	ratio=$(awk -v a="$m_issue" -v b="$m_openssl" 'BEGIN { printf "%.0f", a / b }')
	met=$(awk -v r="$ratio" 'BEGIN { print (r >= 100 ? "yes" : "no") }')
	echo "| issue, devices/s on $N devices, --jobs $JOBS, median of $REPS ($(printf '%s ' "${rates[@]}" | sed 's/ $//')) (anchor: $JOBS openssl genpkey+req+x509 loops side by side, $((per_loop * JOBS * REPS)) devices in $REPS runs alternating with smqtt-issue's: $(printf '%s ' "${ossl_rates[@]}" | sed 's/ $//')) | $m_issue | $m_openssl | $ratio | ratio >= 100 | $met |"
	if [ "$fleet_secs" != - ]; then
		what="issue (smqtt-register not built)"
		[ "$fleet_register" = yes ] && what="issue and register (smqtt-issue -R)"
		met=$(awk -v s="$fleet_secs" 'BEGIN { print (s <= 120 ? "yes" : "no") }')
		echo "| $what $FLEET devices, seconds (peak memory $issue_rss MiB) | $fleet_secs | - | - | <= 120 s | $met |"
	fi
	if [ "$pipe_secs" != - ]; then
		echo "| issue \\| register add through a pipe, $PIPE devices, seconds (peak memory $pipe_issue_rss / $pipe_register_rss MiB) | $pipe_secs | - | - | - | - |"
	fi
} | tee "$root/build/bench-issue.md"
