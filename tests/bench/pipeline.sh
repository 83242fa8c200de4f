#!/usr/bin/env bash
# End-to-end benchmark, run by `make bench`: frames/s through the whole
# system on this machine,
#
#   records | smqtt-sign | smqtt-pub ==TLS==> mosquitto ==TLS==> smqtt-sub | smqtt-verify -R | smqtt-store
#
# against the broker of tests/broker_helper.bash (examples/mosquitto's
# configuration and ACL, mutual TLS, loopback): SMQTT_BENCH_PIPELINE_DEVICES
# meters (default 1000, P-256, each with its own key, certificate, TLS client
# connection and registry entry) sending SMQTT_BENCH_N records in all
# (default 200k) at QoS 1 to a control center that verifies them against the
# registry and stores them in a new database. Each meter runs its own
# `smqtt-sign | smqtt-pub` on its records; SMQTT_BENCH_PIPELINE_LANES of them
# (default 4) run at a time. The clock starts when the first meter starts
# (the sink is already subscribed) and stops when smqtt-store has committed
# the last row; the rate is the median of SMQTT_BENCH_REPS runs (default 3).
#
# Anchor: the crypto bound of two cores, each frame signed once and verified
# once, 2 / (1/sign_per_s + 1/verify_per_s), from `openssl speed ecdsap256`
# (one core, SMQTT_BENCH_SECONDS each, default 3), measured before each run
# (alternating with them); the ratio is of the medians. Goal: at least 0.6.
#
# Where the time goes: the CPU seconds (user + system, from GNU time; the
# broker's from /proc) of each stage per 100k frames, medians of the runs,
# beside the CPU time of the signatures alone at openssl speed's rates.
#
# Markdown table on stdout, also written to build/bench-pipeline.md.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SMQTT_BIN:-$root/bin}
# shellcheck disable=SC1091
. "$here/lib.bash"
N=${SMQTT_BENCH_N:-200000}
REPS=${SMQTT_BENCH_REPS:-3}
OSSL_SECONDS=${SMQTT_BENCH_SECONDS:-3}
GOAL=0.6
DEV=B0001
DEVICES=${SMQTT_BENCH_PIPELINE_DEVICES:-1000}
LANES=${SMQTT_BENCH_PIPELINE_LANES:-4}
[ $((N % DEVICES)) -eq 0 ] || die "SMQTT_BENCH_N ($N) must be a multiple of SMQTT_BENCH_PIPELINE_DEVICES ($DEVICES)"
PER_DEVICE=$((N / DEVICES))

for p in smqtt-issue smqtt-register smqtt-sign smqtt-pub smqtt-sub smqtt-verify smqtt-store; do
	[ -x "$bin/$p" ] || die "$bin/$p not found (run make first)"
done
for p in mosquitto openssl sqlite3 python3; do
	command -v "$p" > /dev/null || die "$p is not installed (make deps installs it)"
done
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or later is needed (EPOCHREALTIME)"
export PATH="$bin:$PATH"
unset SMQTT_CONFIG
export XDG_CONFIG_HOME=/nonexistent

work=$(mktemp -d "${TMPDIR:-/tmp}/smqtt-bench-pipeline.XXXXXX")
BROKER_PID=
SINK=() LANE_PIDS=()
cleanup() {
	local pid
	for pid in "${LANE_PIDS[@]}" "${SINK[@]}" $BROKER_PID; do
		kill "$pid" 2> /dev/null || true
	done
	for pid in "${LANE_PIDS[@]}" "${SINK[@]}" $BROKER_PID; do
		wait "$pid" 2> /dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$work"

# The bats helpers, sourced from bash: they expect fail, REPO and BATS_TEST_TMPDIR.
fail() { die "$*"; }
# shellcheck disable=SC2034 # read by broker_helper.bash
REPO=$root BATS_TEST_TMPDIR=$work
# shellcheck disable=SC1091
. "$root/tests/pki_helper.bash"
# shellcheck disable=SC1091
. "$root/tests/broker_helper.bash"
# shellcheck disable=SC1091
. "$root/tests/registry_helper.bash"


# crypto_bound: sets sign_s, verify_s and bound from one openssl speed run
crypto_bound() {
	local speed
	speed=$(openssl speed -mr -elapsed -seconds "$OSSL_SECONDS" ecdsap256 2> openssl.err) ||
		{ tail -n 5 openssl.err >&2; die "openssl speed ecdsap256 failed"; }
	# -mr: "+F4:N:256:SIGN_PER_S:VERIFY_PER_S".
	read -r sign_s verify_s < <(printf '%s\n' "$speed" | awk -F: '$1 == "+F4" && $3 == 256 {
		printf "%.0f %.0f\n", $4, $5 }')
	[ -n "${verify_s:-}" ] || die "could not parse openssl speed ecdsap256: $speed"
	bound=$(awk -v s="$sign_s" -v v="$verify_s" 'BEGIN { printf "%.0f", 2 / (1 / s + 1 / v) }')
}

say "PKI, $DEVICES meters, registry and mosquitto (TLS, loopback)"
broker_setup "$DEV" > /dev/null
say "  broker on 127.0.0.1:$BROKER_PORT, pid $BROKER_PID"
smqtt-register -R registry.db init --ca "$PKI/ca.crt"
seq -f 'E%04.0f' 1 "$DEVICES" > ids
smqtt-issue device --ca-dir "$PKI/ca" -o meters -R registry.db < ids > /dev/null 2> issue.err ||
	{ tail -n 3 issue.err >&2; die "smqtt-issue device -R"; }
[ "$(sqlite3 registry.db 'select count(*) from keys')" = "$DEVICES" ] || die "the registry does not hold $DEVICES keys"
tls_args collector
SUB_TLS=("${TLS_ARGS[@]}")

mapfile -t IDS < ids
mkdir records state
while read -r id; do
	awk -v n="$PER_DEVICE" -v device="$id" -f "$here/records.awk" > "records/$id"
done < ids
[ "$(cat records/* | wc -l)" -eq "$N" ] || die "record generator"
mkfifo received verified
TICKS=$(getconf CLK_TCK)
broker_cpu() { awk -v t="$TICKS" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$BROKER_PID/stat"; }
# cpu_sum FILE: the sum of the "USER SYSTEM" lines GNU time wrote to FILE
cpu_sum() { awk '{ s += $1 + $2 } END { printf "%.3f", s }' "$1"; }
# per100k SECONDS: scaled to 100k frames
per100k() { awk -v s="$1" -v n="$N" 'BEGIN { printf "%.2f", s * 100000 / n }'; }

# lane FIRST STEP: the meters FIRST, FIRST + STEP, ... one after another,
# each signing its records and publishing them over its own TLS connection
lane() {
	local i id
	for ((i = $1; i <= DEVICES; i += $2)); do
		id=${IDS[i - 1]}
		/usr/bin/time -a -o sign.cpu -f '%U %S' \
			smqtt-sign -k "meters/$id.key" -c "meters/$id.crt" -S "state/$id.seq" < "records/$id" 2>> sign.err |
			/usr/bin/time -a -o pub.cpu -f '%U %S' \
				smqtt-pub -p "$BROKER_PORT" --cafile "$PKI/ca.crt" --cert "meters/$id.crt" --key "meters/$id.key" \
				-q 1 > /dev/null 2>> pub.err || return 1
	done
}

results=() bounds=() signs=() verifies=()
declare -A cpu cpu_m
stages="sign pub broker sub verify store"
for ((r = 1; r <= REPS; r++)); do
	say "run $r of $REPS: crypto bound (openssl speed -seconds $OSSL_SECONDS ecdsap256)"
	crypto_bound
	bounds+=("$bound") signs+=("$sign_s") verifies+=("$verify_s")
	say "  $sign_s sign/s, $verify_s verify/s: bound $bound frames/s on 2 cores"
	say "run $r of $REPS: $N records from $DEVICES meters end to end, $LANES at a time"
	rm -f readings.db ./*.cpu
	before=$(subscriptions bench-sink)
	/usr/bin/time -o store.cpu -f '%U %S' smqtt-store -d readings.db < verified > /dev/null 2> store.err &
	SINK=("$!")
	/usr/bin/time -o verify.cpu -f '%U %S' smqtt-verify -R registry.db < received > verified 2> verify.err &
	SINK+=("$!")
	/usr/bin/time -o sub.cpu -f '%U %S' smqtt-sub "${SUB_TLS[@]}" -i bench-sink -q 1 -t 'smqtt/+/frames' \
		-C "$N" -W 900 < /dev/null > received 2> sub.err &
	SINK+=("$!")
	wait_for "the sink's subscription" "[ \"\$(subscriptions bench-sink)\" -gt $before ]"

	b0=$(broker_cpu) t0=$EPOCHREALTIME
	LANE_PIDS=()
	for ((l = 1; l <= LANES; l++)); do
		lane "$l" "$LANES" &
		LANE_PIDS+=("$!")
	done
	for pid in "${LANE_PIDS[@]}"; do
		wait "$pid" || { tail -n 5 sign.err pub.err >&2; die "smqtt-sign | smqtt-pub failed"; }
	done
	LANE_PIDS=()
	t_pub=$EPOCHREALTIME
	for i in 2 1 0; do
		wait "${SINK[$i]}" || { cat sub.err verify.err store.err >&2; die "the sink failed (stage $i)"; }
	done
	t1=$EPOCHREALTIME b1=$(broker_cpu)
	SINK=()
	stored=$(sqlite3 readings.db 'select count(*) from readings')
	[ "$stored" -eq "$N" ] || { cat verify.err store.err >&2; die "stored $stored of $N frames"; }
	! grep -q ': line [0-9]*: ' verify.err || { head verify.err >&2; die "smqtt-verify rejected frames"; }
	[ "$(wc -l < sign.cpu)" -eq "$DEVICES" ] || die "not every meter ran"
	results+=("$(rate "$N" "$(elapsed "$t0" "$t1")")")
	elapsed "$b0" "$b1" > broker.total
	for st in $stages; do
		if [ "$st" = broker ]; then c=$(cat broker.total); else c=$(cpu_sum "$st.cpu"); fi
		cpu[$st]+="$(per100k "$c") "
	done
	say "  ${results[-1]} frames/s (published in $(elapsed "$t0" "$t_pub") s, stored in $(elapsed "$t0" "$t1") s)"
done
kill -0 "$BROKER_PID" 2> /dev/null || die "mosquitto exited during the benchmark"
broker_stop KILL

m=$(median "${results[@]}")
m_bound=$(median "${bounds[@]}") m_sign=$(median "${signs[@]}") m_verify=$(median "${verifies[@]}")
q=$(ratio "$m" "$m_bound")
total=0
for st in $stages; do
	# shellcheck disable=SC2086 # the runs' figures, one word each
	cpu_m[$st]=$(median ${cpu[$st]})
	total=$(awk -v a="$total" -v b="${cpu_m[$st]}" 'BEGIN { printf "%.2f", a + b }')
done
wall=$(awk -v r="$m" 'BEGIN { printf "%.2f", 100000 / r }')
crypto=$(awk -v s="$m_sign" -v v="$m_verify" 'BEGIN { printf "%.2f", 100000 / s + 100000 / v }')

mkdir -p "$root/build"
{
	echo "# smqtt end-to-end benchmark"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M:%S UTC') · $(uname -m) · $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) · nproc $(nproc) · $(openssl version | cut -d' ' -f1-2) · $(mosquitto -h 2> /dev/null | head -n 1 | cut -d' ' -f1,3) · TLS 1.2+, mutual, loopback, QoS 1"
	echo
	echo "| measurement | smqtt | anchor | ratio | goal | met? |"
	echo "| --- | ---: | ---: | ---: | --- | --- |"
	echo "| sign \\| pub -> mosquitto -> sub \\| verify -R \\| store, frames/s on $N frames from $DEVICES meters ($LANES at a time), median of $REPS ($(printf '%s ' "${results[@]}" | sed 's/ $//')) (anchor: 2 cores / (1/sign + 1/verify) from openssl speed ecdsap256 before each run: $(printf '%s ' "${bounds[@]}" | sed 's/ $//'); median $m_sign sign/s, $m_verify verify/s) | $m | $m_bound | $q | ratio >= $GOAL | $(atleast "$q" "$GOAL") |"
	echo
	echo "CPU seconds per 100k frames, median of $REPS runs (wall clock per 100k frames: $wall s on 2 cores, so $(awk -v w="$wall" 'BEGIN { printf "%.2f", 2 * w }') CPU-seconds available):"
	echo
	echo "| stage | CPU s / 100k frames | share | runs |"
	echo "| --- | ---: | ---: | --- |"
	for st in $stages; do
		name=$st
		case $st in
		sign) name="smqtt-sign ($DEVICES processes)" ;;
		pub) name="smqtt-pub ($DEVICES processes, TLS, QoS 1)" ;;
		broker) name="mosquitto" ;;
		sub) name="smqtt-sub" ;;
		verify) name="smqtt-verify -R" ;;
		store) name="smqtt-store" ;;
		esac
		echo "| $name | ${cpu_m[$st]} | $(awk -v a="${cpu_m[$st]}" -v t="$total" 'BEGIN { printf "%.0f %%", 100 * a / t }') | ${cpu[$st]% } |"
	done
	echo "| all stages | $total | 100 % | - |"
	echo "| signing and verifying 100k frames at openssl speed's rates | $crypto | $(awk -v a="$crypto" -v t="$total" 'BEGIN { printf "%.0f %%", 100 * a / t }') | - |"
} | tee "$root/build/bench-pipeline.md"
