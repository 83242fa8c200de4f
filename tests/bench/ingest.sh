#!/usr/bin/env bash
# Ingest benchmark, run by `make bench`: frames/s that 1, 2 and 4 collector
# pipelines behind one MQTT 5 shared subscription take in,
#
#   mosquitto ==TLS==> smqtt-sub ($share/bench/smqtt/+/frames) | smqtt-verify -R | smqtt-store   (x K)
#
# all sharing one registry (an SQLite file) and one database: an SQLite file,
# then a PostgreSQL server started for the run (initdb + pg_ctl in a
# temporary directory, fsync off). SMQTT_BENCH_INGEST_N frames (default
# 100k), one per device and round from SMQTT_BENCH_INGEST_DEVICES devices
# (default 1000, registered with one shared key), signed beforehand, are
# published at QoS 1 by one libmosquitto publisher (tests/bench/mosq-pub.c,
# window 300) once every collector is subscribed; the clock runs from the
# first publish to the moment the database holds every frame (polled every
# 100 ms). Every frame must be stored exactly once (checked).
#
# Anchor: the verify bound of this machine's two cores, 2 x `openssl speed
# ecdsap256` verify/s (one core, SMQTT_BENCH_SECONDS), measured before each
# round of runs; goal: 2 pipelines >= 0.9 of it. The broker and the
# publisher run on the same two cores, so the goal is out of reach here by
# construction; the row says how far.
#
# Where the machine's time goes: each run reads the CPU time (user + system,
# /proc/PID/stat) of the publisher, the broker, every collector's three
# stages and, on PostgreSQL, the server (the postmaster, the backends it has
# reaped and those still running), per 100k frames. From the sum comes the machine bound: the frames/s
# these two cores could take if they did nothing else and every stage kept
# them busy, 2 x N / (CPU seconds of the run). A run near it is held back by
# the CPU the whole system spends per frame, not by waiting.
#
# Markdown table on stdout, also written to build/bench-ingest.md.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SMQTT_BIN:-$root/bin}
# shellcheck disable=SC1091
. "$here/lib.bash"
N=${SMQTT_BENCH_INGEST_N:-100000}
DEVICES=${SMQTT_BENCH_INGEST_DEVICES:-1000}
REPS=${SMQTT_BENCH_REPS:-3}
OSSL_SECONDS=${SMQTT_BENCH_SECONDS:-3}
COLLECTORS="1 2 4"
GOAL=0.9
DEV=B0001
WINDOW=300
[ $((N % DEVICES)) -eq 0 ] || die "SMQTT_BENCH_INGEST_N ($N) must be a multiple of SMQTT_BENCH_INGEST_DEVICES ($DEVICES)"

for p in smqtt-keygen smqtt-issue smqtt-register smqtt-sub smqtt-verify smqtt-store; do
	[ -x "$bin/$p" ] || die "$bin/$p not found (run make first)"
done
for p in mosquitto openssl sqlite3 python3 cc; do
	command -v "$p" > /dev/null || die "$p is not installed (make deps installs it)"
done
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or later is needed (EPOCHREALTIME)"
export PATH="$bin:$PATH"
unset SMQTT_CONFIG
export XDG_CONFIG_HOME=/nonexistent

work=$(mktemp -d "${TMPDIR:-/tmp}/smqtt-bench-ingest.XXXXXX")
BROKER_PID=
STAGES=()
cleanup() {
	local pid
	for pid in "${STAGES[@]}" $BROKER_PID; do
		kill "$pid" 2> /dev/null || true
	done
	for pid in "${STAGES[@]}" $BROKER_PID; do
		wait "$pid" 2> /dev/null || true
	done
	pg_stop_server || true
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
. "$root/tests/pg_helper.bash"

say "ingest: PKI, $DEVICES devices, registry, mosquitto (TLS, loopback) and PostgreSQL"
broker_setup "$DEV" > /dev/null
cc -std=c11 -O2 -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -pthread -o mosq-pub "$here/mosq-pub.c" -lmosquitto 2> cc.err ||
	{ cat cc.err >&2; die "building tests/bench/mosq-pub.c failed"; }
cc -std=c11 -O2 -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -I"$root/common" -o sign-devices \
	"$here/sign-devices.c" "$root/build/release/libsmqtt.a" -lcrypto 2> cc.err ||
	{ cat cc.err >&2; die "building tests/bench/sign-devices.c against build/release/libsmqtt.a failed"; }
smqtt-keygen -k shared.key > shared.pub
smqtt-register -R registry.db init --ca "$PKI/ca.crt"
seq -f 'm%06.0f' 1 "$DEVICES" > ids
sed "s|\$| pubkey=$work/shared.pub|" ids | smqtt-issue device --ca-dir "$PKI/ca" -o devices -R registry.db > /dev/null 2> issue.err ||
	{ tail -n 3 issue.err >&2; die "smqtt-issue device -R failed"; }
./sign-devices shared.key $((N / DEVICES)) < ids > frames
[ "$(wc -l < frames)" -eq "$N" ] || die "sign-devices wrote $(wc -l < frames) frames"
pg_start_server
say "  broker on port $BROKER_PORT, PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }') on port $PG_PORT"

# stored TARGET: rows in the database
stored() {
	if [ "$1" = sqlite ]; then
		sqlite3 readings.db 'select count(*) from readings' 2> /dev/null || echo 0
	else
		pg_sql "$PG_DB" 'select count(*) from readings' 2> /dev/null || echo 0
	fi
}

# cpu_ticks PID: user + system CPU time of PID so far, in clock ticks
cpu_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
# server_ticks: the same for the PostgreSQL server: the postmaster, the
# children it has waited for, and its children still running
server_ticks() {
	local pm child total
	pm=$(pg_pid)
	total=$(sed 's/^.*) //' "/proc/$pm/stat" | awk '{ print $12 + $13 + $14 + $15 }')
	for child in $(ps -o pid= --ppid "$pm"); do
		total=$((total + $(cpu_ticks "$child" 2> /dev/null || echo 0)))
	done
	echo "$total"
}
TICK=$(getconf CLK_TCK)
# secs_of TICKS: the CPU seconds TICKS make
secs_of() { awk -v t="$1" -v hz="$TICK" 'BEGIN { printf "%.2f", t / hz }'; }

# ingest TARGET K: one run with K collectors into a new database; sets secs
# and cpu (CPU seconds: publisher, broker, smqtt-sub, smqtt-verify,
# smqtt-store, the last three summed over the collectors, and the database
# server, 0 for SQLite)
ingest() {
	local target=$1 k=$2 n db t0 t1 i before broker0 server0=0 server1=0 stage_ticks
	rm -f readings.db readings.db-wal readings.db-shm run-registry.db-wal run-registry.db-shm
	cp registry.db run-registry.db
	if [ "$target" = sqlite ]; then
		db=readings.db
	else
		PG_DB="ingest$((++pg_runs))"
		pg_new_database "$PG_DB"
		db=$PG_URL
	fi
	# The database's table exists before the collectors race to make it.
	smqtt-store -d "$db" < /dev/null 2> /dev/null
	STAGES=()
	tls_args collector
	# Sessions end with their connection: a shared subscription's offline
	# members with a persistent session would still be given their share.
	for ((n = 1; n <= k; n++)); do
		rm -f "sub.$n" "verified.$n"
		mkfifo "sub.$n" "verified.$n"
		before=$(subscriptions "sink-$n")
		smqtt-sub "${TLS_ARGS[@]}" -i "sink-$n" -q 1 --session-expiry 0 -t '$share/bench/smqtt/+/frames' > "sub.$n" 2> "sub.$n.err" &
		STAGES+=("$!")
		smqtt-verify -R run-registry.db < "sub.$n" > "verified.$n" 2> "verify.$n.err" &
		STAGES+=("$!")
		smqtt-store -d "$db" < "verified.$n" > /dev/null 2> "store.$n.err" &
		STAGES+=("$!")
		wait_for "sink-$n's subscription" "[ \"\$(subscriptions sink-$n)\" -gt $before ]"
	done
	broker0=$(cpu_ticks "$BROKER_PID")
	[ "$target" = sqlite ] || server0=$(server_ticks)
	t0=$EPOCHREALTIME
	/usr/bin/time -f '%U %S' -o pub.cpu ./mosq-pub localhost "$BROKER_PORT" "$PKI/ca.crt" "$PKI/$DEV.crt" "$PKI/$DEV.key" "smqtt/$DEV/frames" "$WINDOW" 5 \
		< frames > pub.out 2> pub.err || { cat pub.err >&2; die "mosq-pub failed"; }
	[ "$(awk '{ print $2 }' pub.out)" = "$N" ] || die "mosq-pub: $(cat pub.out) (sent acknowledged), not $N"
	for ((i = 0; i < 3000; i++)); do
		[ "$(stored "$target")" -ge "$N" ] && break
		sleep 0.1
	done
	t1=$EPOCHREALTIME
	[ "$(stored "$target")" -eq "$N" ] || die "$k collectors on $target: $(stored "$target") of $N frames stored after 300 s"
	secs=$(elapsed "$t0" "$t1")
	[ "$target" = sqlite ] || server1=$(server_ticks)
	stage_ticks=(0 0 0)
	for i in "${!STAGES[@]}"; do
		stage_ticks[i % 3]=$((stage_ticks[i % 3] + $(cpu_ticks "${STAGES[i]}")))
	done
	cpu="$(awk '{ printf "%.2f", $1 + $2 }' pub.cpu) $(secs_of $(($(cpu_ticks "$BROKER_PID") - broker0)))"
	cpu+=" $(secs_of "${stage_ticks[0]}") $(secs_of "${stage_ticks[1]}") $(secs_of "${stage_ticks[2]}")"
	cpu+=" $(secs_of $((server1 - server0)))"
	# Each smqtt-sub ends on SIGTERM; its verifier and store then drain and exit.
	for ((n = 0; n < k; n++)); do
		kill -TERM "${STAGES[3 * n]}"
	done
	for i in "${!STAGES[@]}"; do
		wait "${STAGES[i]}" || die "$k collectors on $target: stage $i failed: $(cat ./*.err | head -n 5)"
	done
	STAGES=()
	[ "$(stored "$target")" -eq "$N" ] || die "$k collectors on $target: $(stored "$target") rows after the end, not $N"
	! grep -q ': line [0-9]*: ' verify.*.err || die "$k collectors: smqtt-verify rejected frames: $(grep -h ': line ' verify.*.err | head -n 3)"
	if [ "$target" = sqlite ]; then
		[ "$(sqlite3 readings.db 'select count(distinct device || " " || seq) from readings')" -eq "$N" ] || die "duplicate rows"
	fi
}

# verify_bound: 2 x openssl speed ecdsap256 verify/s of one core; sets bound
verify_bound() {
	local speed v
	speed=$(openssl speed -mr -elapsed -seconds "$OSSL_SECONDS" ecdsap256 2> openssl.err) ||
		{ tail -n 5 openssl.err >&2; die "openssl speed ecdsap256 failed"; }
	v=$(printf '%s\n' "$speed" | awk -F: '$1 == "+F4" && $3 == 256 { printf "%.0f", $5 }')
	[ -n "$v" ] || die "could not parse openssl speed ecdsap256: $speed"
	bound=$((2 * v))
}

declare -A rates cpus
bounds=()
pg_runs=0
for ((r = 1; r <= REPS; r++)); do
	verify_bound
	bounds+=("$bound")
	say "round $r of $REPS: verify bound $bound frames/s (2 x openssl speed ecdsap256 verify/s)"
	for target in sqlite postgresql; do
		for k in $COLLECTORS; do
			ingest "$target" "$k"
			rates[$target.$k]+="$(rate "$N" "$secs") "
			cpus[$target.$k]+="$cpu,"
			say "  $target, $k collector(s): $N frames in $secs s = $(rate "$N" "$secs") frames/s; CPU s (pub broker sub verify store server): $cpu"
		done
	done
done
kill -0 "$BROKER_PID" 2> /dev/null || die "mosquitto exited during the benchmark"
broker_stop KILL

m_bound=$(median "${bounds[@]}")
mkdir -p "$root/build"
{
	echo "### Ingest behind a shared subscription ($N frames from $DEVICES devices, QoS 1, median of $REPS)"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M:%S UTC') · nproc $(nproc) · anchor: 2 x openssl speed ecdsap256 verify/s, measured before each round: $(printf '%s ' "${bounds[@]}" | sed 's/ $//')"
	echo
	echo "| database | collectors | frames/s | runs | ratio to the verify bound | vs 1 collector |"
	echo "| --- | ---: | ---: | --- | ---: | ---: |"
	for target in sqlite postgresql; do
		# shellcheck disable=SC2086 # the runs' figures, one word each
		one=$(median ${rates[$target.1]})
		for k in $COLLECTORS; do
			# shellcheck disable=SC2086
			m=$(median ${rates[$target.$k]})
			echo "| $target | $k | $m | ${rates[$target.$k]% } | $(ratio "$m" "$m_bound") | $(ratio "$m" "$one") |"
		done
	done
	echo
	echo "CPU seconds per 100k frames (median of the runs, each stage summed over its collectors) and the machine bound, 2 x $N frames / (CPU seconds of all stages):"
	echo
	echo "| database | collectors | publisher | mosquitto | smqtt-sub | smqtt-verify | smqtt-store | PostgreSQL server | all | machine bound, frames/s | frames/s / machine bound |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for target in sqlite postgresql; do
		for k in $COLLECTORS; do
			row=$(printf '%s' "${cpus[$target.$k]}" | tr ',' '\n' | awk -v n="$N" '
				NF == 6 { for (i = 1; i <= 6; i++) v[i, NR] = $i * 100000 / n; rows = NR }
				END {
					for (i = 1; i <= 6; i++) {
						# median of column i
						for (r = 1; r <= rows; r++) c[r] = v[i, r]
						for (a = 1; a <= rows; a++) for (b = a + 1; b <= rows; b++) if (c[b] < c[a]) { t = c[a]; c[a] = c[b]; c[b] = t }
						m[i] = c[int((rows + 1) / 2)]
					}
					all = m[1] + m[2] + m[3] + m[4] + m[5] + m[6]
					printf "%.2f %.2f %.2f %.2f %.2f %.2f %.2f %.0f\n", m[1], m[2], m[3], m[4], m[5], m[6], all, 2 * 100000 / all
				}')
			read -r c_pub c_broker c_sub c_verify c_store c_server c_all machine <<< "$row"
			[ "$target" != sqlite ] || c_server=-
			# shellcheck disable=SC2086
			echo "| $target | $k | $c_pub | $c_broker | $c_sub | $c_verify | $c_store | $c_server | $c_all | $machine | $(ratio "$(median ${rates[$target.$k]})" "$machine") |"
		done
	done
	echo
	# shellcheck disable=SC2086
	q=$(ratio "$(median ${rates[sqlite.2]})" "$m_bound")
	echo "Goal: 2 pipelines >= $GOAL of the verify bound ($m_bound frames/s): $(atleast "$q" "$GOAL") ($q, SQLite). The broker, the publisher and the collectors share the machine's 2 cores."
} | tee "$root/build/bench-ingest.md"
