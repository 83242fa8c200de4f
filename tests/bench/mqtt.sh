#!/usr/bin/env bash
# MQTT benchmark for smqtt-pub and smqtt-sub, run by `make bench` after
# tests/bench/issue.sh, against a real mosquitto with mutual TLS on a free
# loopback port (the broker of tests/broker_helper.bash: examples/mosquitto's
# configuration and ACL). Everything is measured in the same run, on the same
# broker, with the same SMQTT_BENCH_MQTT_N frames (default 200k) signed once by
# a device whose certificate is both its TLS client certificate and its
# signing key; each rate is the median of SMQTT_BENCH_REPS runs (default 3).
#
#   pub QoS 0   msgs/s of smqtt-pub -q 0 vs mosquitto_pub -l -q 0, same TLS
#               options, lines and topic (goal: ratio >= 1.0)
#   pub QoS 1   msgs/s of smqtt-pub -q 1 vs tests/bench/mosq-pub.c, a plain
#               libmosquitto publisher with the same window (300 messages sent
#               and not yet acknowledged, smqtt-pub's default), the same MQTT
#               version (5), TLS options, lines and topic, which exits only
#               once every message is acknowledged (goal: ratio >= 1.0), the
#               two alternating, first one then the other; delivered/sent of
#               each (acknowledged by the broker; goal 1.00); and, once, what
#               mosquitto_pub -l -q 1 delivers (counted by a subscriber), the
#               reason it is no anchor. The topic has no subscriber, so the
#               broker only acknowledges; smqtt-pub's QoS 0 rate is shown too.
#   sub drain   msgs/s to drain N frames published at QoS 1 while the
#               subscriber was away (persistent session, QoS 1 subscription,
#               MQTT 5 for both): smqtt-sub vs mosquitto_sub -c -V mqttv5,
#               alternating which drains first (goal: ratio >= 1.0)
#   plain TCP   msgs/s of smqtt-pub -q 0 --no-tls vs mosquitto_pub -l -q 0 on
#               the broker's plain listener, and what TLS costs (TLS / plain)
#   memory      peak RSS of smqtt-pub -q 1, of smqtt-sub draining a session
#               and of smqtt-sub receiving while they are published, on N and
#               on 5N frames (topics of their own): flat means at most 1.10
#               times as much for 5N
#   broker CPU  seconds of CPU mosquitto spent on each pub run (from
#               /proc/PID/stat): on 2 cores the broker itself bounds the rates,
#               and its QoS 0 / QoS 1 CPU ratio bounds the QoS 1 / QoS 0 rate ratio
#
# Markdown table on stdout, also written to build/bench-mqtt.md.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SMQTT_BIN:-$root/bin}
# shellcheck disable=SC1091
. "$here/lib.bash"
N=${SMQTT_BENCH_MQTT_N:-200000}
REPS=${SMQTT_BENCH_REPS:-3}
DEV=B0001

for p in smqtt-issue smqtt-sign smqtt-pub smqtt-sub; do
	[ -x "$bin/$p" ] || die "$bin/$p not found (run make first)"
done
for p in mosquitto mosquitto_pub mosquitto_sub python3 cc; do
	command -v "$p" > /dev/null || die "$p is not installed (make deps installs it)"
done
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or later is needed (EPOCHREALTIME)"
export PATH="$bin:$PATH"

work=$(mktemp -d "${TMPDIR:-/tmp}/smqtt-bench-mqtt.XXXXXX")
BROKER_PID='' LIVE_PID=''
cleanup() {
	if [ -n "${LIVE_PID:-}" ]; then
		kill "$LIVE_PID" 2> /dev/null || true
		wait "$LIVE_PID" 2> /dev/null || true
	fi
	if [ -n "${BROKER_PID:-}" ]; then
		kill -KILL "$BROKER_PID" 2> /dev/null || true
		wait "$BROKER_PID" 2> /dev/null || true
	fi
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

lines() { wc -l < "$1" | tr -d ' '; }
expect_lines() {
	local n
	n=$(lines "$2")
	[ "$n" -eq "$3" ] || die "$1 wrote $n lines, not $3"
}

say "PKI and mosquitto (TLS, loopback)"
BROKER_PLAIN=1 broker_setup "$DEV" > /dev/null
say "broker on 127.0.0.1:$BROKER_PORT (TLS) and :$BROKER_TCP_PORT (plain TCP), pid $BROKER_PID"
TICKS=$(getconf CLK_TCK)
# CPU seconds the broker has used so far (user + system).
broker_cpu() { awk -v t="$TICKS" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$BROKER_PID/stat"; }
tls_args "$DEV"
PUB_TLS=("${TLS_ARGS[@]}")
tls_args collector
SUB_TLS=("${TLS_ARGS[@]}")
TOPIC=smqtt/$DEV/frames
Q1_TOPIC=smqtt/$DEV/frames/q1     # no subscriber: the QoS 1 publishing runs
MQ1_TOPIC=smqtt/$DEV/frames/mq1   # mosquitto_pub -l -q 1, counted by a subscriber
WINDOW=300                        # smqtt-pub --inflight default

cc -std=c11 -O2 -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -pthread -o mosq-pub "$here/mosq-pub.c" -lmosquitto 2> cc.err ||
	{ cat cc.err >&2; die "building tests/bench/mosq-pub.c failed (libmosquitto-dev: make deps)"; }
# mosq-pub TOPIC < frames: "SENT ACKED" on stdout
mosq_pub() {
	./mosq-pub localhost "$BROKER_PORT" "$PKI/ca.crt" "$PKI/$DEV.crt" "$PKI/$DEV.key" "$1" "$WINDOW" 5
}

say "signing $N records once as $DEV"
awk -v n="$N" -f "$here/records.awk" > records
expect_lines "record generator" records "$N"
smqtt-sign -k "$PKI/$DEV.key" -c "$PKI/$DEV.crt" -S sign.seq < records > frames 2> sign.err ||
	{ cat sign.err >&2; die "smqtt-sign failed"; }
expect_lines smqtt-sign frames "$N"
rm records

# MQTT 5 as smqtt-sub: a session that outlives the connection needs an expiry interval.
MSUB_V5=(-V mqttv5 -x 86400)
# open_sessions R: persistent sessions with a QoS 1 subscription for both
# subscribers, new ones for each repetition R, so that what is published at
# QoS 1 from now on waits for them (QoS 0 is not queued for an absent
# client). New sessions each time: a subscriber that exits after -C N may
# leave its last acknowledgements unsent, and the broker would deliver those
# frames again to the same session's next drain.
open_sessions() {
	smqtt-sub "${SUB_TLS[@]}" -i "bench-smqtt-sub-$1" -q 1 -t 'smqtt/+/frames' -W 1 > /dev/null 2> sub.err ||
		{ cat sub.err >&2; die "smqtt-sub could not open its session"; }
	mosquitto_sub "${SUB_TLS[@]}" "${MSUB_V5[@]}" -h localhost -i "bench-mosquitto-sub-$1" -c -q 1 -t 'smqtt/+/frames' -E \
		> /dev/null 2> msub.err || { cat msub.err >&2; die "mosquitto_sub could not open its session"; }
}
# close_sessions R: end them (a new, empty session under each id), so that
# nothing more is queued for them.
close_sessions() {
	smqtt-sub "${SUB_TLS[@]}" -i "bench-smqtt-sub-$1" --session-expiry 0 -q 1 -t 'smqtt/+/frames' -W 1 > /dev/null 2> sub.err ||
		{ cat sub.err >&2; die "smqtt-sub could not end its session"; }
	mosquitto_sub "${SUB_TLS[@]}" -V mqttv5 -h localhost -i "bench-mosquitto-sub-$1" -q 1 -t 'smqtt/+/frames' -E \
		> /dev/null 2> msub.err || { cat msub.err >&2; die "mosquitto_sub could not end its session"; }
}

q0=() mq0=() q1=() mq1=() sub=() msub=() p0=() mp0=() c0=() c1=()
sent1=0 delivered1=0 msent1=0 mdelivered1=0

# smqtt-pub -q 1 on Q1_TOPIC: appends a rate to q1
time_smqtt_q1() {
	local b0 b1 t0 t1 d
	b0=$(broker_cpu) t0=$EPOCHREALTIME
	smqtt-pub "${PUB_TLS[@]}" -q 1 -t "$Q1_TOPIC" < frames > delivered 2> pub.err ||
		{ cat pub.err >&2; die "smqtt-pub -q 1 failed"; }
	t1=$EPOCHREALTIME b1=$(broker_cpu)
	c1+=("$(elapsed "$b0" "$b1")")
	d=$(lines delivered)
	sent1=$((sent1 + N)) delivered1=$((delivered1 + d))
	[ "$d" -eq "$N" ] || die "smqtt-pub -q 1 delivered $d of $N frames"
	q1+=("$(rate "$N" "$(elapsed "$t0" "$t1")")")
	say "  smqtt-pub -q 1      ${q1[-1]} msgs/s (broker CPU ${c1[-1]} s)"
}
# mosq-pub on Q1_TOPIC: appends a rate to mq1
time_mosq_q1() {
	local t0 t1 s a
	t0=$EPOCHREALTIME
	read -r s a < <(mosq_pub "$Q1_TOPIC" < frames 2> mosq.err) || true
	t1=$EPOCHREALTIME
	[ -n "${a:-}" ] || { cat mosq.err >&2; die "mosq-pub failed"; }
	msent1=$((msent1 + s)) mdelivered1=$((mdelivered1 + a))
	[ "$a" -eq "$N" ] || die "mosq-pub had $a of $N frames acknowledged"
	mq1+=("$(rate "$N" "$(elapsed "$t0" "$t1")")")
	say "  mosq-pub -q 1       ${mq1[-1]} msgs/s"
}
# drain with smqtt-sub, then with mosquitto_sub, or the other way round
time_smqtt_drain() {
	local t0 t1
	t0=$EPOCHREALTIME
	smqtt-sub "${SUB_TLS[@]}" -i "bench-smqtt-sub-$r" -q 1 -t 'smqtt/+/frames' -C "$N" -W 120 > got 2> sub.err ||
		{ cat sub.err >&2; die "smqtt-sub failed"; }
	t1=$EPOCHREALTIME
	expect_lines smqtt-sub got "$N"
	cmp -s <(sort got) <(sort frames) || die "smqtt-sub received other frames than were published"
	sub+=("$(rate "$N" "$(elapsed "$t0" "$t1")")")
	say "  smqtt-sub drain     ${sub[-1]} msgs/s"
}
time_mosquitto_drain() {
	local t0 t1
	t0=$EPOCHREALTIME
	mosquitto_sub "${SUB_TLS[@]}" "${MSUB_V5[@]}" -h localhost -i "bench-mosquitto-sub-$r" -c -q 1 \
		-t 'smqtt/+/frames' -C "$N" -W 120 > got 2> msub.err || { cat msub.err >&2; die "mosquitto_sub failed"; }
	t1=$EPOCHREALTIME
	expect_lines mosquitto_sub got "$N"
	cmp -s <(sort got) <(sort frames) || die "mosquitto_sub received other frames than were published"
	msub+=("$(rate "$N" "$(elapsed "$t0" "$t1")")")
	say "  mosquitto_sub drain ${msub[-1]} msgs/s"
}
for ((r = 1; r <= REPS; r++)); do
	say "run $r of $REPS: $N frames each"

	b0=$(broker_cpu) t0=$EPOCHREALTIME
	smqtt-pub "${PUB_TLS[@]}" -q 0 < frames > delivered 2> pub.err ||
		{ cat pub.err >&2; die "smqtt-pub -q 0 failed"; }
	t1=$EPOCHREALTIME b1=$(broker_cpu)
	expect_lines "smqtt-pub -q 0" delivered "$N"
	q0+=("$(rate "$N" "$(elapsed "$t0" "$t1")")")
	c0+=("$(elapsed "$b0" "$b1")")
	say "  smqtt-pub -q 0      ${q0[-1]} msgs/s (broker CPU ${c0[-1]} s)"

	t0=$EPOCHREALTIME
	smqtt-pub --no-tls -p "$BROKER_TCP_PORT" -i bench-plain -q 0 < frames > delivered 2> pub.err ||
		{ cat pub.err >&2; die "smqtt-pub --no-tls -q 0 failed"; }
	t1=$EPOCHREALTIME
	expect_lines "smqtt-pub --no-tls -q 0" delivered "$N"
	p0+=("$(rate "$N" "$(elapsed "$t0" "$t1")")")
	say "  smqtt-pub plain     ${p0[-1]} msgs/s"

	t0=$EPOCHREALTIME
	mosquitto_pub -h localhost -p "$BROKER_TCP_PORT" -i bench-mplain -q 0 -t "$TOPIC" -l < frames 2> mpub.err ||
		{ cat mpub.err >&2; die "mosquitto_pub -l (plain) failed"; }
	t1=$EPOCHREALTIME
	[ ! -s mpub.err ] || { cat mpub.err >&2; die "mosquitto_pub -l (plain) complained"; }
	mp0+=("$(rate "$N" "$(elapsed "$t0" "$t1")")")
	say "  mosquitto_pub plain ${mp0[-1]} msgs/s"

	t0=$EPOCHREALTIME
	mosquitto_pub "${PUB_TLS[@]}" -h localhost -q 0 -t "$TOPIC" -l < frames 2> mpub.err ||
		{ cat mpub.err >&2; die "mosquitto_pub -l failed"; }
	t1=$EPOCHREALTIME
	[ ! -s mpub.err ] || { cat mpub.err >&2; die "mosquitto_pub -l complained"; }
	mq0+=("$(rate "$N" "$(elapsed "$t0" "$t1")")")
	say "  mosquitto_pub -l    ${mq0[-1]} msgs/s"

	# QoS 1 publishing, the anchor first on even runs
	if ((r % 2)); then time_smqtt_q1; time_mosq_q1; else time_mosq_q1; time_smqtt_q1; fi

	# The frames both subscribers then drain (not timed), drained first by one, then the other.
	open_sessions "$r"
	smqtt-pub "${PUB_TLS[@]}" -q 1 < frames > delivered 2> pub.err || { cat pub.err >&2; die "smqtt-pub -q 1 failed"; }
	expect_lines "smqtt-pub -q 1" delivered "$N"
	if ((r % 2)); then time_smqtt_drain; time_mosquitto_drain; else time_mosquitto_drain; time_smqtt_drain; fi
	close_sessions "$r"
done
rm -f got delivered

# mosquitto_pub -l -q 1, once: what it delivers before it exits, counted by a
# subscriber that was there first (the reason it is no anchor).
say "mosquitto_pub -l -q 1, $N frames, counted by a subscriber"
mosquitto_sub "${SUB_TLS[@]}" -h localhost -i bench-mq1-sub -q 1 -t "$MQ1_TOPIC" -C "$N" -W 60 > got 2> mq1sub.err &
LIVE_PID=$!
wait_for "the counting subscriber" "[ \"\$(subscriptions bench-mq1-sub)\" -gt 0 ]"
mosquitto_pub "${PUB_TLS[@]}" -h localhost -q 1 -t "$MQ1_TOPIC" -l < frames 2> mpub.err || true
# Whatever the broker got arrives within a second or two; stop counting after 10 s of silence.
last=-1
for ((i = 0; i < 600; i++)); do
	kill -0 "$LIVE_PID" 2> /dev/null || break
	now=$(lines got)
	[ "$now" -eq "$last" ] && [ "$i" -ge 100 ] && break
	last=$now
	sleep 0.1
done
kill "$LIVE_PID" 2> /dev/null || true
wait "$LIVE_PID" 2> /dev/null || true
LIVE_PID=
mq1_got=$(lines got)
say "  mosquitto_pub -l -q 1: $mq1_got of $N delivered"
rm -f got

# Peak RSS (KiB) on N and 5N frames, published at QoS 1 to a topic only the
# memory subscriber's session holds, then drained by it; and of a subscriber
# receiving them live, on a topic of its own, while they are published.
[ -x /usr/bin/time ] || die "GNU time (/usr/bin/time) is needed: run make deps"
RSS_TOPIC="smqtt/$DEV/frames/rss"
smqtt-sub "${SUB_TLS[@]}" -i bench-rss-sub -q 1 -t "$RSS_TOPIC" -W 1 > /dev/null 2> sub.err ||
	{ cat sub.err >&2; die "smqtt-sub could not open its memory session"; }
LIVE_TOPIC="smqtt/$DEV/frames/live"
smqtt-sub "${SUB_TLS[@]}" -i bench-live-sub -q 1 -t "$LIVE_TOPIC" -W 1 > /dev/null 2> sub.err ||
	{ cat sub.err >&2; die "smqtt-sub could not open its live session"; }
pub_rss=() sub_rss=() live_rss=()
for times in 1 5; do
	for ((i = 0; i < times; i++)); do cat frames; done > many
	n=$((N * times))
	/usr/bin/time -f %M -o pub.rss smqtt-pub "${PUB_TLS[@]}" -q 1 -t "$RSS_TOPIC" < many > delivered 2> pub.err ||
		{ cat pub.err >&2; die "smqtt-pub -q 1 ($n frames) failed"; }
	expect_lines "smqtt-pub -q 1" delivered "$n"
	/usr/bin/time -f %M -o sub.rss smqtt-sub "${SUB_TLS[@]}" -i bench-rss-sub -q 1 -t "$RSS_TOPIC" -C "$n" -W 300 \
		> got 2> sub.err || { cat sub.err >&2; die "smqtt-sub ($n frames) failed"; }
	expect_lines smqtt-sub got "$n"
	# The live subscriber's session keeps what is published before it is connected.
	/usr/bin/time -f %M -o live.rss smqtt-sub "${SUB_TLS[@]}" -i bench-live-sub -q 1 -t "$LIVE_TOPIC" -C "$n" \
		-W 300 > got 2> live.err &
	LIVE_PID=$!
	smqtt-pub "${PUB_TLS[@]}" -q 1 -t "$LIVE_TOPIC" < many > delivered 2> pub.err ||
		{ cat pub.err >&2; die "smqtt-pub -q 1 ($n frames, live) failed"; }
	wait "$LIVE_PID" || { cat live.err >&2; die "live smqtt-sub ($n frames) failed"; }
	LIVE_PID=
	expect_lines "live smqtt-sub" got "$n"
	pub_rss+=("$(tail -n 1 pub.rss)") sub_rss+=("$(tail -n 1 sub.rss)") live_rss+=("$(tail -n 1 live.rss)")
	say "  peak RSS on $n frames: smqtt-pub ${pub_rss[-1]} KiB, smqtt-sub ${sub_rss[-1]} KiB draining, ${live_rss[-1]} KiB live"
done
rm -f many got delivered

kill -0 "$BROKER_PID" 2> /dev/null || die "mosquitto exited during the benchmark"
broker_stop KILL

m_q0=$(median "${q0[@]}")
m_mq0=$(median "${mq0[@]}")
m_q1=$(median "${q1[@]}")
m_mq1=$(median "${mq1[@]}")
r_mq1=$(ratio "$m_q1" "$m_mq1")
r_mdel=$(ratio "$mdelivered1" "$msent1")
r_q1q0=$(ratio "$m_q1" "$m_q0")
m_sub=$(median "${sub[@]}")
m_msub=$(median "${msub[@]}")
r_q0=$(ratio "$m_q0" "$m_mq0")
r_sub=$(ratio "$m_sub" "$m_msub")
r_del=$(ratio "$delivered1" "$sent1")
m_p0=$(median "${p0[@]}")
m_mp0=$(median "${mp0[@]}")
m_c0=$(median "${c0[@]}")
m_c1=$(median "${c1[@]}")
r_p0=$(ratio "$m_p0" "$m_mp0")
r_tls=$(ratio "$m_q0" "$m_p0")
r_cpu=$(ratio "$m_c0" "$m_c1")

mkdir -p "$root/build"
{
	echo "# smqtt MQTT benchmark"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M:%S UTC') · $(uname -m) · $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) · nproc $(nproc) · $(mosquitto -h 2> /dev/null | head -n 1 | cut -d' ' -f1,3) · TLS 1.2+, mutual, loopback"
	echo
	echo "| measurement | smqtt | anchor | ratio | goal | met? |"
	echo "| --- | ---: | ---: | ---: | --- | --- |"
	echo "| pub QoS 0, msgs/s on $N frames, median of $REPS (anchor: mosquitto_pub -l -q 0) | $m_q0 | $m_mq0 | $r_q0 | ratio >= 1.0 | $(atleast "$r_q0" 1.0) |"
	echo "| pub QoS 1, msgs/s on $N frames, median of $REPS, alternating (anchor: mosq-pub, libmosquitto, window $WINDOW, waits for every PUBACK) | $m_q1 | $m_mq1 | $r_mq1 | ratio >= 1.0 | $(atleast "$r_mq1" 1.0) |"
	echo "| pub QoS 1, delivered/sent on $N frames x $REPS: smqtt-pub (anchor: mosq-pub) | $delivered1/$sent1 | $mdelivered1/$msent1 | $r_del / $r_mdel | 1.00 | $(atleast "$r_del" 1.0) |"
	echo "| pub QoS 1, delivered/sent of mosquitto_pub -l -q 1 (counted by a subscriber; exits before its last PUBACKs, so no anchor) | - | $mq1_got/$N | $(ratio "$mq1_got" "$N") | - | - |"
	echo "| pub QoS 1 rate / smqtt-pub QoS 0 rate | $m_q1 | $m_q0 | $r_q1q0 | - | - |"
	echo "| sub, msgs/s draining $N QoS 1 frames queued in a persistent session, MQTT 5, median of $REPS, alternating which drains first (anchor: mosquitto_sub -c -V mqttv5) | $m_sub | $m_msub | $r_sub | ratio >= 1.0 | $(atleast "$r_sub" 1.0) |"
	echo "| pub QoS 0 over plain TCP, msgs/s, median of $REPS (anchor: mosquitto_pub -l -q 0, plain TCP) | $m_p0 | $m_mp0 | $r_p0 | ratio >= 1.0 | $(atleast "$r_p0" 1.0) |"
	echo "| pub QoS 0, TLS rate / plain TCP rate (what TLS costs) | $m_q0 | $m_p0 | $r_tls | - | - |"
	r_prss=$(ratio "${pub_rss[1]}" "${pub_rss[0]}")
	r_srss=$(ratio "${sub_rss[1]}" "${sub_rss[0]}")
	echo "| peak RSS of smqtt-pub -q 1, MiB, on $((5 * N)) frames vs $N | $(mib "${pub_rss[1]}") | $(mib "${pub_rss[0]}") | $r_prss | flat: ratio <= 1.10 | $(awk -v r="$r_prss" 'BEGIN { print (r <= 1.10 ? "yes" : "no") }') |"
	echo "| peak RSS of smqtt-sub draining, MiB, on $((5 * N)) frames vs $N | $(mib "${sub_rss[1]}") | $(mib "${sub_rss[0]}") | $r_srss | flat: ratio <= 1.10 | $(awk -v r="$r_srss" 'BEGIN { print (r <= 1.10 ? "yes" : "no") }') |"
	r_lrss=$(ratio "${live_rss[1]}" "${live_rss[0]}")
	echo "| peak RSS of smqtt-sub receiving live, MiB, on $((5 * N)) frames vs $N | $(mib "${live_rss[1]}") | $(mib "${live_rss[0]}") | $r_lrss | flat: ratio <= 1.10 | $(awk -v r="$r_lrss" 'BEGIN { print (r <= 1.10 ? "yes" : "no") }') |"
	echo "| broker CPU s per $N frames, QoS 0 vs QoS 1 (bounds the QoS 1 / QoS 0 rate ratio on this machine) | $m_c0 | $m_c1 | $r_cpu | - | - |"
} | tee "$root/build/bench-mqtt.md"
