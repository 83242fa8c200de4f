#!/usr/bin/env bash
# End-to-end benchmark, run by `make bench`: frames/s through the whole
# system on this machine,
#
#   records | smqtt-sign | smqtt-pub ==TLS==> mosquitto ==TLS==> smqtt-sub | smqtt-verify -R | smqtt-store
#
# against the broker of tests/broker_helper.bash (examples/mosquitto's
# configuration and ACL, mutual TLS, loopback), one meter (B0001, P-256)
# sending SMQTT_BENCH_N records (default 200k) at QoS 1 to a control center
# that verifies them against a registry and stores them in a new database.
# The clock starts when the first record is read (the sink is already
# subscribed) and stops when smqtt-store has committed the last row; the rate
# is the median of SMQTT_BENCH_REPS runs (default 3).
#
# Anchor, measured in the same run: the crypto bound of two cores, each frame
# signed once and verified once, 2 / (1/sign_per_s + 1/verify_per_s), from
# `openssl speed ecdsap256` (one core, SMQTT_BENCH_SECONDS each, default 3).
# Goal: at least 0.6 of it.
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
SINK=()
cleanup() {
	local pid
	for pid in "${SINK[@]}" $BROKER_PID; do
		kill "$pid" 2> /dev/null || true
	done
	for pid in "${SINK[@]}" $BROKER_PID; do
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


say "crypto bound: openssl speed -seconds $OSSL_SECONDS ecdsap256"
speed=$(openssl speed -mr -elapsed -seconds "$OSSL_SECONDS" ecdsap256 2> openssl.err) ||
	{ tail -n 5 openssl.err >&2; die "openssl speed ecdsap256 failed"; }
# -mr: "+F4:N:256:SIGN_PER_S:VERIFY_PER_S".
read -r sign_s verify_s < <(printf '%s\n' "$speed" | awk -F: '$1 == "+F4" && $3 == 256 {
	printf "%.0f %.0f\n", $4, $5 }')
[ -n "${verify_s:-}" ] || die "could not parse openssl speed ecdsap256: $speed"
bound=$(awk -v s="$sign_s" -v v="$verify_s" 'BEGIN { printf "%.0f", 2 / (1 / s + 1 / v) }')
say "  $sign_s sign/s, $verify_s verify/s: bound $bound frames/s on 2 cores"

say "PKI, registry and mosquitto (TLS, loopback)"
broker_setup "$DEV" > /dev/null
say "  broker on 127.0.0.1:$BROKER_PORT, pid $BROKER_PID"
smqtt-register -R registry.db init --ca "$PKI/ca.crt"
issue_line "$DEV" "$PKI/$DEV.crt" | smqtt-register -R registry.db add 2> register.err ||
	{ cat register.err >&2; die "smqtt-register add"; }
tls_args "$DEV"
PUB_TLS=("${TLS_ARGS[@]}")
tls_args collector
SUB_TLS=("${TLS_ARGS[@]}")

awk -v n="$N" -v device="$DEV" -f "$here/records.awk" > records
[ "$(wc -l < records)" -eq "$N" ] || die "record generator"
mkfifo received verified

results=()
for ((r = 1; r <= REPS; r++)); do
	say "run $r of $REPS: $N records end to end"
	rm -f readings.db
	before=$(subscriptions bench-sink)
	smqtt-store -d readings.db < verified > /dev/null 2> store.err &
	SINK=("$!")
	smqtt-verify -R registry.db < received > verified 2> verify.err &
	SINK+=("$!")
	smqtt-sub "${SUB_TLS[@]}" -i bench-sink -q 1 -t 'smqtt/+/frames' -C "$N" -W 900 \
		< /dev/null > received 2> sub.err &
	SINK+=("$!")
	wait_for "the sink's subscription" "[ \"\$(subscriptions bench-sink)\" -gt $before ]"

	t0=$EPOCHREALTIME
	smqtt-sign -k "$PKI/$DEV.key" -c "$PKI/$DEV.crt" -S sign.seq < records 2> sign.err |
		smqtt-pub "${PUB_TLS[@]}" -q 1 > /dev/null 2> pub.err ||
		{ cat sign.err pub.err >&2; die "smqtt-sign | smqtt-pub failed"; }
	t_pub=$EPOCHREALTIME
	for i in 2 1 0; do
		wait "${SINK[$i]}" || { cat sub.err verify.err store.err >&2; die "the sink failed (stage $i)"; }
	done
	t1=$EPOCHREALTIME
	SINK=()
	stored=$(sqlite3 readings.db 'select count(*) from readings')
	[ "$stored" -eq "$N" ] || { cat verify.err store.err >&2; die "stored $stored of $N frames"; }
	! grep -q ': line [0-9]*: ' verify.err || { head verify.err >&2; die "smqtt-verify rejected frames"; }
	results+=("$(rate "$N" "$(elapsed "$t0" "$t1")")")
	say "  ${results[-1]} frames/s (published in $(elapsed "$t0" "$t_pub") s, stored in $(elapsed "$t0" "$t1") s)"
done
kill -0 "$BROKER_PID" 2> /dev/null || die "mosquitto exited during the benchmark"
broker_stop KILL

m=$(median "${results[@]}")
q=$(ratio "$m" "$bound")

mkdir -p "$root/build"
{
	echo "# smqtt end-to-end benchmark"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M:%S UTC') · $(uname -m) · $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) · nproc $(nproc) · $(openssl version | cut -d' ' -f1-2) · $(mosquitto -h 2> /dev/null | head -n 1 | cut -d' ' -f1,3) · TLS 1.2+, mutual, loopback, QoS 1"
	echo
	echo "| measurement | smqtt | anchor | ratio | goal | met? |"
	echo "| --- | ---: | ---: | ---: | --- | --- |"
	echo "| sign \\| pub -> mosquitto -> sub \\| verify -R \\| store, frames/s on $N frames, median of $REPS ($(printf '%s ' "${results[@]}" | sed 's/ $//')) (anchor: 2 cores / (1/sign + 1/verify) from openssl speed ecdsap256: $sign_s sign/s, $verify_s verify/s) | $m | $bound | $q | ratio >= $GOAL | $(atleast "$q" "$GOAL") |"
} | tee "$root/build/bench-pipeline.md"
