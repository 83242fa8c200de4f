# A real mosquitto for the MQTT tests: TLS with client certificates on a free
# loopback port chosen at run time, an ACL like examples/mosquitto/acl, and
# persistence in the test's directory. Load after test_helper and pki_helper.
#
# broker_setup DEVICE...   PKI in $PKI (CA, broker, each DEVICE, collector,
#                          control; see pki_helper.bash), then start the broker.
#                          Sets BROKER_PORT, BROKER_DIR, BROKER_LOG.
# broker_stop [SIGNAL]     stop it (SIGTERM: it saves its state) and wait for it
# broker_start             start it again on the same port, with its saved state
# broker_teardown          stop it if running, and every process given to
#                          track; call from teardown()
# track PID                stop PID in broker_teardown
# tls_args NAME            TLS_ARGS: the broker and TLS options of identity NAME
# pub_as, sub_as NAME ARG...  smqtt-pub, smqtt-sub as the identity NAME
# wait_for WHAT CONDITION  poll the shell CONDITION until it holds (bounded)
#
# Start background clients as direct children, with bats' descriptor 3 closed:
#   tls_args collector; smqtt-sub "${TLS_ARGS[@]}" -t ... > out 2> err 3>&- & track $!

BROKER_PID=
BACKGROUND_PIDS=()

# wait_for WHAT CONDITION: evaluate CONDITION every 50 ms until it holds; fail after 30 s.
wait_for() {
	local i
	for ((i = 0; i < 600; i++)); do
		eval "$2" && return 0
		sleep 0.05
	done
	fail "timed out waiting for $1"
}

# A port nobody listens on now (broker_setup retries if it is taken meanwhile),
# outside the ephemeral range: a client reconnecting to a port in that range
# while the broker is down can be connected to itself (TCP simultaneous open).
free_port() {
	python3 -c '
import random, socket
try:
    low, high = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
except OSError:
    low, high = 32768, 60999
ports = [p for p in range(10000, 65536) if not low <= p <= high] or [0]
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

broker_accepts() {
	(exec 3<> "/dev/tcp/127.0.0.1/$BROKER_PORT") 2> /dev/null
}

# The configuration of examples/mosquitto, pointed at the test's files and port.
broker_write_config() {
	sed -e "s|/etc/mosquitto/smqtt/acl|$BROKER_DIR/acl|" \
		-e "s|/etc/mosquitto/smqtt/|$PKI/|" \
		-e "s|/var/lib/mosquitto/|$BROKER_DIR/|" \
		-e "s|^listener 8883\$|listener $BROKER_PORT 127.0.0.1|" \
		"$REPO/examples/mosquitto/mosquitto.conf" > "$BROKER_DIR/mosquitto.conf"
	# Started as root, mosquitto switches to the user named here (by default
	# mosquitto, who cannot read a private test directory); started as anyone
	# else, it stays who it is.
	cat >> "$BROKER_DIR/mosquitto.conf" <<-EOF
		user $(id -un)
		log_dest file $BROKER_LOG
		log_type error
		log_type warning
		log_type notice
		log_type information
		log_type subscribe
	EOF
	cp "$REPO/examples/mosquitto/acl" "$BROKER_DIR/acl"
	# BROKER_PLAIN=1: also a plain TCP listener on BROKER_TCP_PORT, where
	# anonymous clients may use smqtt/# (for --no-tls tests and benchmarks).
	if [ "${BROKER_PLAIN:-}" = 1 ]; then
		BROKER_TCP_PORT=$(free_port) || return 1
		printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$BROKER_TCP_PORT" >> "$BROKER_DIR/mosquitto.conf"
		{ printf 'topic readwrite smqtt/#\n'; cat "$REPO/examples/mosquitto/acl"; } > "$BROKER_DIR/acl"
	fi
	grep -q "^listener $BROKER_PORT 127.0.0.1\$" "$BROKER_DIR/mosquitto.conf" &&
		grep -q "^acl_file $BROKER_DIR/acl\$" "$BROKER_DIR/mosquitto.conf" ||
		fail "examples/mosquitto/mosquitto.conf no longer has the expected listener and acl_file lines"
}

# Start mosquitto and wait until it accepts connections; false if it exited.
broker_launch() {
	# No descriptor of the test's (bats' 3, a pipe's write end) may stay open in the broker.
	mosquitto -c "$BROKER_DIR/mosquitto.conf" 2>> "$BROKER_DIR/stderr" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	BROKER_PID=$!
	local i
	for ((i = 0; i < 200; i++)); do
		broker_accepts && return 0
		kill -0 "$BROKER_PID" 2> /dev/null || break
		sleep 0.05
	done
	kill "$BROKER_PID" 2> /dev/null
	wait "$BROKER_PID" 2> /dev/null || true
	BROKER_PID=
	return 1
}

broker_setup() {
	command -v mosquitto > /dev/null || fail "mosquitto is not installed (make deps installs it)" || return 1
	PKI=$BATS_TEST_TMPDIR/pki
	pki_setup "$PKI" collector control "$@" || fail "pki_setup failed" || return 1
	BROKER_DIR=$BATS_TEST_TMPDIR/broker
	BROKER_LOG=$BROKER_DIR/mosquitto.log
	mkdir -p "$BROKER_DIR"
	local attempt
	for attempt in 1 2 3 4 5; do
		BROKER_PORT=$(free_port) || return 1
		broker_write_config
		broker_launch && return 0
	done
	fail "mosquitto did not start: $(cat "$BROKER_DIR/stderr" "$BROKER_LOG" 2> /dev/null)"
}

broker_start() {
	[ -z "$BROKER_PID" ] || fail "broker already running" || return 1
	local attempt
	for attempt in 1 2 3 4 5; do
		broker_launch && return 0
	done
	fail "mosquitto did not restart on port $BROKER_PORT: $(tail -n 5 "$BROKER_LOG")"
}

broker_stop() {
	[ -n "$BROKER_PID" ] || return 0
	kill -"${1:-TERM}" "$BROKER_PID" 2> /dev/null
	wait "$BROKER_PID" 2> /dev/null || true
	BROKER_PID=
	return 0
}

track() {
	BACKGROUND_PIDS+=("$1")
}

broker_teardown() {
	local pid
	for pid in "${BACKGROUND_PIDS[@]}"; do
		kill "$pid" 2> /dev/null
	done
	for pid in "${BACKGROUND_PIDS[@]}"; do
		wait "$pid" 2> /dev/null || true
	done
	BACKGROUND_PIDS=()
	[ -z "$BROKER_PID" ] || kill -CONT "$BROKER_PID" 2> /dev/null
	broker_stop KILL
}

tls_args() {
	TLS_ARGS=(-p "$BROKER_PORT" --cafile "$PKI/ca.crt" --cert "$PKI/$1.crt" --key "$PKI/$1.key")
}

pub_as() {
	local TLS_ARGS
	tls_args "$1"
	shift
	smqtt-pub "${TLS_ARGS[@]}" "$@"
}

sub_as() {
	local TLS_ARGS
	tls_args "$1"
	shift
	smqtt-sub "${TLS_ARGS[@]}" "$@"
}

# pipe_bytes FD: bytes written to the pipe on FD and not yet read.
pipe_bytes() {
	python3 -c 'import fcntl, struct, sys, termios
print(struct.unpack("i", fcntl.ioctl(int(sys.argv[1]), termios.FIONREAD, b"\0\0\0\0"))[0])' "$1"
}

# subscriptions CLIENTID: how many filters the broker has subscribed CLIENTID to, in all.
subscriptions() {
	grep -c "^[0-9]*: $1 [0-9] " "$BROKER_LOG" || true
}
