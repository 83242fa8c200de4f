#!/usr/bin/env bash
# The whole of smqtt in one run, in a new workspace on this machine (what
# `make demo` runs):
#
#   1. a CA, a broker certificate and a fleet of meters from
#      examples/devices.yaml (smqtt-issue), registered with smqtt-register;
#   2. mosquitto on a free loopback port with examples/mosquitto's mutual-TLS
#      configuration and ACL;
#   3. each meter's readings of examples/readings.csv through
#      smqtt-sign | smqtt-pub, and at the control center
#      smqtt-sub | smqtt-verify --registry | smqtt-store into SQLite;
#   4. a command signed by the control center, received and verified by
#      meter ABC (the reverse path);
#   5. a compromised meter injects, through the broker, a forged frame,
#      rejected by smqtt-verify, a replayed one, dropped as a duplicate of
#      the frame it accepted already, and a reading signed with its own key
#      that names another meter, rejected by smqtt-store; each with its
#      reason;
#   6. a summary, the consumption per meter from the database, and a PNG plot
#      of it (gnuplot, examples/plot.gp);
#   7. encryption: a key authority (smqtt-pkg) gives billing and grid
#      operations keys for their roles and each meter the attributes the
#      registry holds; two meters publish encrypted readings
#      (smqtt-encrypt | smqtt-sign | smqtt-pub) that each consumer reads as
#      far as its key allows, and an eavesdropper allowed on the topic
#      cannot; the control center sends a command encrypted for the
#      household meters of feeder F12, which only ABC can read;
#   8. the broker and every process started here are stopped on exit, also
#      when interrupted.
#
# With --step it waits for Enter (a line on stdin) before each step, for
# showing it to an audience.
#
# The workspace (a new directory under $TMPDIR, default /tmp) is kept so that
# its files can be looked at; its path is printed at the end. The programs
# come from $SMQTT_BIN, else from the bin/ next to this directory, else from
# PATH. Exits 0 when every step gave the expected result.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
if [ -n "${SMQTT_BIN:-}" ]; then
	PATH=$SMQTT_BIN:$PATH
elif [ -x "$root/bin/smqtt-sign" ]; then
	PATH=$root/bin:$PATH
fi
unset SMQTT_CONFIG
export XDG_CONFIG_HOME=/nonexistent	# no configuration file but what is given here

STEP=0
case ${1:-} in
--step) STEP=1 ;;
"") ;;
*)
	echo "usage: demo.sh [--step]" >&2
	exit 2
	;;
esac

say() { printf '%s\n' "$*"; }
step() {
	printf '\n== %s\n' "$*"
	if [ "$STEP" = 1 ]; then
		printf '(press Enter to go on)\n'
		read -r _ || true
	fi
}
die() {
	printf 'demo: FAILED: %s\n' "$*" >&2
	exit 1
}
for p in smqtt-issue smqtt-register smqtt-sign smqtt-pub smqtt-sub smqtt-verify smqtt-store \
	smqtt-pkg smqtt-encrypt smqtt-decrypt mosquitto mosquitto_sub sqlite3 gnuplot python3; do
	command -v "$p" > /dev/null || die "$p not found (make demo installs and builds everything)"
done
for f in readings.csv devices.yaml plot.gp mosquitto/mosquitto.conf mosquitto/acl; do
	[ -f "$here/$f" ] || die "examples/$f is missing"
done

ws=$(mktemp -d "${TMPDIR:-/tmp}/smqtt-demo.XXXXXX")
BROKER_PID=
PIDS=()

# Stop what this script started, by PID: the pipelines and the broker. A
# second INT or TERM meanwhile must not leave the broker running: ignore them.
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local status=$? pid
	trap '' INT TERM
	trap - EXIT
	for pid in "${PIDS[@]}" $BROKER_PID; do
		kill "$pid" 2> /dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2> /dev/null || true
	done
	if [ -n "$BROKER_PID" ]; then
		wait "$BROKER_PID" 2> /dev/null || true
		say "broker (pid $BROKER_PID) stopped"
	fi
	if [ "$status" -ne 0 ]; then
		say "demo: stopped (status $status); the workspace is $ws"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Start CMD... in the background with stdin IN, stdout OUT and stderr ERR,
# and remember it for cleanup. Sets PID.
start() {
	local in=$1 out=$2 err=$3
	shift 3
	"$@" < "$in" > "$out" 2> "$err" &
	PID=$!
	PIDS+=("$PID")
}

# wait_until WHAT SECONDS CONDITION: poll the shell CONDITION every 50 ms.
wait_until() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		eval "$3" && return 0
		sleep 0.05
	done
	die "timed out after $2 s waiting for $1"
}

# A loopback port nobody listens on now, outside the ephemeral range.
free_port() {
	python3 -c '
import random, socket
try:
    low, high = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
except OSError:
    low, high = 32768, 60999
ports = [p for p in range(10000, 65536) if not low <= p <= high]
for _ in range(100):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.choice(ports)))
    except OSError:
        continue
    print(s.getsockname()[1])
    break
'
}

broker_accepts() { (exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null; }

# subscribed CLIENTID FILTER: the broker has logged CLIENTID's subscription to FILTER.
# shellcheck disable=SC2317 # called through wait_until
subscribed() { grep -qF -- " $1 1 $2" broker/mosquitto.log 2> /dev/null; }

lines() { wc -l < "$1" | tr -d ' '; }

# A frame on stdin with its signature shortened, for display.
short() { awk '{ record = $0; for (i = 0; i < 4; i++) sub(/^[^ ]+ /, "", record)
	printf "%s %s %s %.10s... %s\n", $1, $2, $3, $4, record }'; }

cd "$ws"
say "smqtt demo; workspace $ws"
say "programs from $(dirname "$(command -v smqtt-sign)")"
cp "$here/readings.csv" "$here/devices.yaml" "$here/plot.gp" .
meters=$(cut -d, -f1 readings.csv | sort -u)

# --- 1 ---------------------------------------------------------------------
step "1/8 PKI: a CA, the broker's certificate, the fleet and the control center"
smqtt-issue ca --ca-dir ca --cn "smqtt demo CA" > /dev/null
say "CA                 ca/ca.crt ($(openssl x509 -in ca/ca.crt -noout -subject))"
smqtt-issue server --ca-dir ca -o broker --dns localhost --ip 127.0.0.1 localhost > /dev/null
mv broker/localhost.crt broker/broker.crt
mv broker/localhost.key broker/broker.key
say "broker             broker/broker.crt (CN localhost, DNS:localhost, IP:127.0.0.1)"
smqtt-issue device --ca-dir ca -o fleet --manifest devices.yaml > fleet.txt 2> issue.err ||
	{ cat issue.err >&2; die "smqtt-issue device --manifest devices.yaml"; }
say "meters             $(tr '\n' ' ' < <(cut -d' ' -f1 fleet.txt))(fleet/ID.crt, fleet/ID.key, from devices.yaml)"
# The control center's identities: collector reads every meter's frames,
# control signs and sends commands (see examples/mosquitto/acl).
printf '%s\n' collector control | smqtt-issue device --ca-dir ca -o center > center.txt 2> issue.err ||
	{ cat issue.err >&2; die "smqtt-issue device (control center)"; }
say "control center     center/collector.crt (reads frames), center/control.crt (signs commands)"
smqtt-register -R registry.db init --ca ca/ca.crt
smqtt-register -R registry.db add < fleet.txt 2> register.err ||
	{ cat register.err >&2; die "smqtt-register add"; }
say "registry           registry.db: $(cat register.err)"
smqtt-register -R registry.db list | sed 's/^/                     /'

# --- 2 ---------------------------------------------------------------------
step "2/8 Broker: mosquitto with mutual TLS and the ACL of examples/mosquitto"
for _ in 1 2 3 4 5; do
	PORT=$(free_port)
	[ -n "$PORT" ] || die "no free loopback port"
	# examples/mosquitto/mosquitto.conf, pointed at this workspace and port.
	sed -e "s|/etc/mosquitto/smqtt/acl|$ws/broker/acl|" \
		-e "s|/etc/mosquitto/smqtt/ca.crt|$ws/ca/ca.crt|" \
		-e "s|/etc/mosquitto/smqtt/|$ws/broker/|" \
		-e "s|/var/lib/mosquitto/|$ws/broker/|" \
		-e "s|^listener 8883\$|listener $PORT 127.0.0.1|" \
		"$here/mosquitto/mosquitto.conf" > broker/mosquitto.conf
	# As root, mosquitto would switch to the user mosquitto, who cannot read
	# this workspace; as anyone else it stays who it is.
	cat >> broker/mosquitto.conf <<-EOF
		user $(id -un)
		log_dest file $ws/broker/mosquitto.log
		log_type error
		log_type warning
		log_type notice
		log_type information
		log_type subscribe
	EOF
	cp "$here/mosquitto/acl" broker/acl
	grep -q "^listener $PORT 127.0.0.1\$" broker/mosquitto.conf ||
		die "examples/mosquitto/mosquitto.conf has no 'listener 8883' line"
	mosquitto -c broker/mosquitto.conf 2>> broker/stderr &
	BROKER_PID=$!
	for ((i = 0; i < 200; i++)); do
		broker_accepts && break 2
		kill -0 "$BROKER_PID" 2> /dev/null || break
		sleep 0.05
	done
	kill "$BROKER_PID" 2> /dev/null || true
	wait "$BROKER_PID" 2> /dev/null || true
	BROKER_PID=
done
[ -n "$BROKER_PID" ] || die "mosquitto did not start: $(cat broker/stderr broker/mosquitto.log 2> /dev/null)"
say "broker             mosquitto pid $BROKER_PID on 127.0.0.1:$PORT (TLS, client certificates required)"
say "                   configuration broker/mosquitto.conf, ACL broker/acl, log broker/mosquitto.log"

# Broker and TLS options of identity CERT (a path without .crt).
tls() { printf '%s\n' -h localhost -p "$PORT" --cafile ca/ca.crt --cert "$1.crt" --key "$1.key" --retry-for 10; }
mapfile -t COLLECTOR < <(tls center/collector)
mapfile -t CONTROL < <(tls center/control)

# --- 3 ---------------------------------------------------------------------
step "3/8 Readings: each meter signs and publishes; the control center verifies and stores"
records=$(lines readings.csv)
injected=3
expected=$((records + injected))
mkdir sink
mkfifo sink/received sink/verified
# The sink: smqtt-sub | smqtt-verify --registry | smqtt-store, as three
# processes joined by named pipes so that each can be stopped by its PID.
# smqtt-sub exits after the frames this demo sends (or after 60 s).
# smqtt-store's default schema makes the meter column a device column: a
# record must name the meter that signed it.
start sink/verified /dev/null sink/store.err smqtt-store -d readings.db
STORE_PID=$PID
start sink/received sink/verified sink/verify.err smqtt-verify --registry registry.db --rejects sink/rejected.txt
VERIFY_PID=$PID
start /dev/null sink/received sink/sub.err \
	smqtt-sub "${COLLECTOR[@]}" -i sink -t 'smqtt/+/frames' -C "$expected" -W 60
SUB_PID=$PID
say "sink               smqtt-sub (pid $SUB_PID) | smqtt-verify --registry registry.db (pid $VERIFY_PID) | smqtt-store -d readings.db (pid $STORE_PID)"
wait_until "the sink's subscription" 30 "subscribed sink 'smqtt/+/frames' || ! kill -0 $SUB_PID 2> /dev/null"
kill -0 "$SUB_PID" 2> /dev/null || die "smqtt-sub exited: $(cat sink/sub.err)"

mkdir meters
sent=0
for m in $meters; do
	mapfile -t METER < <(tls "fleet/$m")
	grep "^$m," readings.csv |
		smqtt-sign -k "fleet/$m.key" -c "fleet/$m.crt" 2> "meters/$m.sign.err" |
		smqtt-pub "${METER[@]}" > "meters/$m.delivered" 2> "meters/$m.pub.err" ||
		{ cat "meters/$m.sign.err" "meters/$m.pub.err" >&2; die "meter $m: smqtt-sign | smqtt-pub"; }
	n=$(lines "meters/$m.delivered")
	sent=$((sent + n))
	say "meter $m          $(grep -c "^$m," readings.csv) readings signed, $n frames acknowledged by the broker on smqtt/$m/frames"
done
say "first frame of ABC $(head -n 1 meters/ABC.delivered | short)"

# --- 4 ---------------------------------------------------------------------
step "4/8 Command: the control center signs a command, meter ABC verifies it"
mkdir commands
mkfifo commands/received
mapfile -t ABC < <(tls fleet/ABC)
start commands/received commands/ABC.verified commands/ABC.verify.err smqtt-verify -c center/control.crt
CMD_VERIFY_PID=$PID
start /dev/null commands/received commands/ABC.sub.err \
	smqtt-sub "${ABC[@]}" -i ABC-commands -t smqtt/ABC/commands -C 1 -W 30
CMD_SUB_PID=$PID
wait_until "meter ABC's command subscription" 30 \
	"subscribed ABC-commands smqtt/ABC/commands || ! kill -0 $CMD_SUB_PID 2> /dev/null"
command='ABC,set-interval,900'
printf '%s\n' "$command" | smqtt-sign -k center/control.key -c center/control.crt > commands/sent 2> commands/sign.err ||
	{ cat commands/sign.err >&2; die "control: smqtt-sign"; }
smqtt-pub "${CONTROL[@]}" -t smqtt/ABC/commands < commands/sent > /dev/null 2> commands/pub.err ||
	{ cat commands/pub.err >&2; die "control: smqtt-pub"; }
say "control sent       $(short < commands/sent)"
wait "$CMD_SUB_PID" || die "meter ABC: smqtt-sub: $(cat commands/ABC.sub.err)"
wait "$CMD_VERIFY_PID" || die "meter ABC: smqtt-verify: $(cat commands/ABC.verify.err)"
grep -qxF "$(cat commands/sent)" commands/ABC.verified || die "meter ABC did not verify the command"
say "ABC verified       $(cut -d' ' -f5- commands/ABC.verified) (signed by $(cut -d' ' -f2 commands/ABC.verified), seq $(cut -d' ' -f3 commands/ABC.verified), checked against center/control.crt)"

# --- 5 ---------------------------------------------------------------------
step "5/8 Attack: meter GHI is compromised and injects frames in ABC's name"
mkdir attack
mapfile -t GHI < <(tls fleet/GHI)
# The ACL keeps GHI off ABC's topic...
tail -n 1 meters/ABC.delivered > attack/own-topic
if smqtt-pub "${GHI[@]}" -t smqtt/ABC/frames < attack/own-topic > /dev/null 2> attack/acl.err; then
	die "the broker let GHI publish on smqtt/ABC/frames"
fi
say "broker refused     GHI's frame on smqtt/ABC/frames: $(sed -n 's/.*refused by the broker: \(.*\) on topic.*/\1/p' attack/acl.err | head -n 1)"
# ...but GHI may publish on its own topic, and the broker does not look inside frames.
# Forged: ABC's next sequence number and its last import reading made
# smaller, under that reading's signature. Replayed: ABC's 9th frame, again;
# the collector accepted it already, so it drops it as a duplicate.
grep ',0,[0-9.]*$' meters/ABC.delivered | tail -n 1 |
	awk -v seq="$(tail -n 1 meters/ABC.delivered | cut -d' ' -f3)" '{
		record = $0; for (i = 0; i < 4; i++) sub(/^[^ ]+ /, "", record)
		sub(/,[^,]*$/, ",0.1", record); print $1, $2, seq + 1, $4, record }' > attack/frames
sed -n 9p meters/ABC.delivered >> attack/frames
# Misfiled: a reading of 999 naming ABC, signed with GHI's own key and next
# sequence number. The signature is good; were it stored, a sum by the meter
# column would bill it to ABC.
printf 'ABC,%s,0,999.0\n' "$(tail -n 1 readings.csv | cut -d, -f2)" |
	smqtt-sign -k fleet/GHI.key -c fleet/GHI.crt >> attack/frames 2> attack/sign.err ||
	{ cat attack/sign.err >&2; die "GHI: smqtt-sign"; }
smqtt-pub "${GHI[@]}" -t smqtt/GHI/frames < attack/frames > attack/delivered 2> attack/pub.err ||
	{ cat attack/pub.err >&2; die "GHI: smqtt-pub"; }
say "GHI injected       forged:   $(sed -n 1p attack/frames | short)"
say "                   replayed: $(sed -n 2p attack/frames | short)"
say "                   misfiled: $(sed -n 3p attack/frames | short)"
sent=$((sent + $(lines attack/delivered)))

say "waiting for the sink to receive all $expected frames"
wait "$SUB_PID" || die "smqtt-sub (sink): $(cat sink/sub.err)"
# smqtt-verify exits 1 when it rejected frames, as it should here.
vstatus=0
wait "$VERIFY_PID" || vstatus=$?
[ "$vstatus" -le 1 ] || die "smqtt-verify (sink) exited $vstatus: $(cat sink/verify.err)"
# smqtt-store exits 1 as well: it rejected the misfiled reading.
sstatus=0
wait "$STORE_PID" || sstatus=$?
[ "$sstatus" -le 1 ] || die "smqtt-store exited $sstatus: $(cat sink/store.err)"
PIDS=()
say "rejected by smqtt-verify:"
sed 's/^/                   /' sink/verify.err
say "rejected by smqtt-store:"
grep '^smqtt-store: line [0-9]*: ' sink/store.err | sed 's/^/                   /' || true

# --- 6 ---------------------------------------------------------------------
step "6/8 Results"
stored=$(sqlite3 readings.db 'select count(*) from readings')
rejected=$(grep -c '^smqtt-verify: line [0-9]*: ' sink/verify.err || true)
duplicates=$(sed -n 's/^smqtt-verify: .* \([0-9][0-9]*\) duplicates dropped$/\1/p' sink/verify.err)
misfiled=$(grep -c '^smqtt-store: line [0-9]*: .*is not the device that signed the frame$' sink/store.err || true)
gaps=$(sed -n 's/.* \([0-9][0-9]*\) gaps.*/\1/p' sink/store.err | tail -n 1)
integrity=$(sqlite3 readings.db 'pragma integrity_check')
trust=()
for m in $meters; do
	trust+=(-c "fleet/$m.crt")
done
again=$(sqlite3 readings.db 'select frame from readings order by device, seq' | smqtt-verify "${trust[@]}" | wc -l)
say "sent               $sent frames ($records readings from $(wc -w <<< "$meters") meters, $injected injected)"
say "stored             $stored readings in readings.db ($(tail -n 1 sink/store.err | sed 's/^smqtt-store: //'))"
say "rejected           $rejected frames by smqtt-verify, kept in sink/rejected.txt; $misfiled by smqtt-store"
say "duplicates         ${duplicates:-0} frame already accepted, dropped by smqtt-verify (not stored twice)"
say "gaps               ${gaps:-?}"
say "database           integrity_check: $integrity; $again stored frames verify again against the meters' certificates"
say "command            $(cut -d' ' -f5- commands/ABC.verified) verified by meter ABC"
say
say "Consumption per meter, by the device that signed it (channel 0 import, channel 1 export):"
sqlite3 -header -column readings.db "
	select device as meter, count(*) as readings, min(time) as first, max(time) as last,
		round(sum(case when channel = 0 then value end), 1) as import,
		round(sum(case when channel = 1 then value end), 1) as export
	from readings group by device order by device" | sed 's/^/    /'
gnuplot -e "db='readings.db'; out='consumption.png'" plot.gp 2> plot.err ||
	{ cat plot.err >&2; die "gnuplot plot.gp"; }
say
say "plot               $ws/consumption.png"

status=0
[ "$stored" -eq "$records" ] || { say "demo: expected $records stored readings, got $stored" >&2; status=1; }
[ "$rejected" -eq 1 ] || { say "demo: expected 1 frame rejected by smqtt-verify, got $rejected" >&2; status=1; }
[ "${duplicates:-0}" -eq 1 ] || { say "demo: expected 1 duplicate dropped by smqtt-verify, got ${duplicates:-0}" >&2; status=1; }
[ "$misfiled" -eq 1 ] || { say "demo: expected 1 reading rejected by smqtt-store, got $misfiled" >&2; status=1; }
[ "$integrity" = ok ] || status=1
[ "$again" -eq "$stored" ] || status=1

# --- 7 ---------------------------------------------------------------------
step "7/8 Encryption: readings only the right consumers read, a command only the right meters read"
mkdir -m 700 pkg keys
mkdir abe
smqtt-pkg setup -m pkg/master.key > pkg/params.pem
say "key authority      pkg/master.key (mode 0600), public parameters pkg/params.pem"
pkg() { smqtt-pkg keygen --params pkg/params.pem -m pkg/master.key -o keys "$@"; }
# Consumers at the control center get the attributes of their role; the
# meters get exactly what the registry holds for them (for commands).
{ pkg billing role:billing && pkg grid role:grid && printf '%s\n' $meters | pkg -R registry.db; } > keys/issued 2> abe/pkg.err ||
	{ cat abe/pkg.err >&2; die "smqtt-pkg keygen"; }
sed 's/ key=[^ ]*//; s/^/key                /' keys/issued
# Everyone allowed on the topic sees the frames: an eavesdropper with the
# collector's identity, and the two consumers.
per_meter=4
frames=$((2 * (per_meter + 1)))
start /dev/null abe/eavesdropper abe/eavesdropper.err mosquitto_sub -h localhost -p "$PORT" --cafile ca/ca.crt \
	--cert center/collector.crt --key center/collector.key -i eavesdropper -q 1 -t 'smqtt/+/frames/encrypted' -C "$frames" -W 30
EAVES_PID=$PID
for who in billing grid; do
	start /dev/null "abe/$who.received" "abe/$who.sub.err" \
		smqtt-sub "${COLLECTOR[@]}" -i "$who" -t 'smqtt/+/frames/encrypted' -C "$frames" -W 30
	eval "${who}_PID=\$PID"
done
wait_until "the consumers' subscriptions" 30 "subscribed eavesdropper 'smqtt/+/frames/encrypted' &&
	subscribed billing 'smqtt/+/frames/encrypted' && subscribed grid 'smqtt/+/frames/encrypted'"
# ABC's readings are for billing only; DEF's for billing and grid operations.
for m in ABC DEF; do
	case $m in ABC) policy='role:billing' ;; DEF) policy='role:billing or role:grid' ;; esac
	mapfile -t METER < <(tls "fleet/$m")
	grep -m "$per_meter" "^$m," readings.csv |
		smqtt-encrypt --params pkg/params.pem -i "$m" -P "$policy" 2> "abe/$m.encrypt.err" |
		smqtt-sign -k "fleet/$m.key" -c "fleet/$m.crt" 2> "abe/$m.sign.err" |
		smqtt-pub "${METER[@]}" -t "smqtt/$m/frames/encrypted" > "abe/$m.delivered" 2> "abe/$m.pub.err" ||
		{ cat "abe/$m.encrypt.err" "abe/$m.sign.err" "abe/$m.pub.err" >&2; die "meter $m: smqtt-encrypt | smqtt-sign | smqtt-pub"; }
	say "meter $m          $per_meter readings encrypted for '$policy': $(lines "abe/$m.delivered") frames (a capsule, then one per reading)"
done
for who in billing grid; do
	eval "wait \$${who}_PID" || die "$who: smqtt-sub: $(cat "abe/$who.sub.err")"
	dstatus=0
	smqtt-verify -c fleet/ABC.crt -c fleet/DEF.crt < "abe/$who.received" 2> "abe/$who.verify.err" |
		smqtt-decrypt --params pkg/params.pem -k "keys/$who.cpkey" > "abe/$who.csv" 2> "abe/$who.decrypt.err" || dstatus=$?
	[ "$dstatus" -le 1 ] || die "$who: smqtt-decrypt exited $dstatus: $(cat "abe/$who.decrypt.err")"
	say "$(printf '%-18s' "$who read") $(lines "abe/$who.csv") readings: $(cut -d, -f1 "abe/$who.csv" | sort | uniq -c | awk '{ printf "%s%s of %s", (NR > 1 ? ", " : ""), $1, $2 }')"
done
grep -m 1 'policy not satisfied' abe/grid.decrypt.err | sed 's/^/                   /' || true
wait "$EAVES_PID" || true
PIDS=()
say "eavesdropper saw   $(lines abe/eavesdropper) frames, only ciphertext: $(grep -m 1 ' abe1 data ' abe/eavesdropper | short | cut -c1-100)..."
# A command for the household meters of feeder F12 only, sent to every meter.
command='set-interval,300'
for m in $meters; do
	mapfile -t METER < <(tls "fleet/$m")
	start /dev/null "abe/$m.command" "abe/$m.command.err" \
		smqtt-sub "${METER[@]}" -i "$m-encrypted" -t "smqtt/$m/commands/encrypted" -C 2 -W 30
	eval "cmd_${m//[^A-Za-z0-9]/_}_PID=\$PID"
	wait_until "meter $m's subscription" 30 "subscribed $m-encrypted smqtt/$m/commands/encrypted"
done
printf '%s\n' "$command" |
	smqtt-encrypt --params pkg/params.pem -i control -P 'kind:household and feeder:F12' |
	smqtt-sign -k center/control.key -c center/control.crt -S abe/control.seq > abe/command.frames 2> abe/command.err ||
	{ cat abe/command.err >&2; die "control: smqtt-encrypt | smqtt-sign"; }
for m in $meters; do
	smqtt-pub "${CONTROL[@]}" -t "smqtt/$m/commands/encrypted" < abe/command.frames > /dev/null 2> abe/command.pub.err ||
		{ cat abe/command.pub.err >&2; die "control: smqtt-pub to $m"; }
done
say "control sent       '$command' encrypted for 'kind:household and feeder:F12' to every meter"
abe_status=0
for m in $meters; do
	eval "wait \$cmd_${m//[^A-Za-z0-9]/_}_PID" || die "meter $m: smqtt-sub: $(cat "abe/$m.command.err")"
	got=$(smqtt-verify -c center/control.crt < "abe/$m.command" 2> /dev/null |
		smqtt-decrypt --params pkg/params.pem -k "keys/$m.cpkey" 2> "abe/$m.decrypt.err") || true
	case $m in ABC) want=$command ;; *) want= ;; esac
	[ "$got" = "$want" ] || { say "demo: meter $m read '$got', expected '$want'" >&2; abe_status=1; }
	say "meter $m          $(if [ -n "$got" ]; then echo "read '$got'"; else echo "cannot read it: $(grep -o 'policy not satisfied' "abe/$m.decrypt.err" | head -n 1)"; fi)"
done
PIDS=()
[ "$(lines abe/billing.csv)" -eq $((2 * per_meter)) ] || { say "demo: billing read $(lines abe/billing.csv) readings" >&2; abe_status=1; }
[ "$(lines abe/grid.csv)" -eq "$per_meter" ] && ! grep -q '^ABC,' abe/grid.csv ||
	{ say "demo: grid operations read $(lines abe/grid.csv) readings" >&2; abe_status=1; }
! grep -qE ' (ABC|DEF),20' abe/eavesdropper || { say "demo: the eavesdropper read a reading" >&2; abe_status=1; }
[ "$abe_status" -eq 0 ] || status=1

# --- 8 ---------------------------------------------------------------------
step "8/8 Stopping the broker"
kill "$BROKER_PID"
wait "$BROKER_PID" 2> /dev/null || true
say "broker (pid $BROKER_PID) stopped; nothing of the demo is left running"
BROKER_PID=
say
say "The workspace is $ws"
say "  fleet.txt, registry.db, readings.db, consumption.png, sink/, commands/, attack/, pkg/, keys/, abe/, broker/"
say "Try: sqlite3 $ws/readings.db 'select * from readings limit 3'"
exit "$status"
