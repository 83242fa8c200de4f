# Named pipes between pipeline stages, supervisors and pacing, for the
# fault-injection tests.

# fifo_bytes FIFO: bytes waiting in the named pipe FIFO (its reader must be alive).
fifo_bytes() {
	python3 -c 'import fcntl, os, struct, sys, termios
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
print(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])' "$1"
}

# pipe_full FIFO SECONDS: FIFO holds 32 KiB or more and does not move for
# SECONDS: the stage writing to it is blocked in the middle of a write.
pipe_full() {
	local before
	before=$(fifo_bytes "$1")
	sleep "$2"
	[ "$before" -ge 32768 ] && [ "$(fifo_bytes "$1")" = "$before" ]
}

# wait_long WHAT SECONDS CONDITION: poll CONDITION every 100 ms until it holds.
wait_long() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		eval "$3" && return 0
		sleep 0.1
	done
	fail "timed out after $2 s waiting for $1"
}

# supervise NAME COMMAND: run the shell COMMAND again each time it ends, like
# systemd's Restart=always, until the file "stop" exists (100 runs at most).
# The running command's pid is in NAME.pid, each exit status is appended to
# NAME.status. Run in the background; its own pid is in NAME.supervisor.
supervise() {
	local name=$1 command=$2 run pid status
	echo "$BASHPID" > "$name.supervisor"
	for ((run = 1; run <= 100; run++)); do
		[ -e stop ] && return 0
		eval "$command &"
		pid=$!
		echo "$pid" > "$name.pid"
		status=0
		# (bash's "Killed" notice for a stage killed on purpose is no message of its)
		{ wait "$pid"; } 2> /dev/null || status=$?
		echo "$status" >> "$name.status"
	done
}

# pace: copy stdin to stdout at about 100 lines a second, so the stream lasts
# long enough for every fault to land in the middle of it.
pace() {
	awk '{ print } NR % 25 == 0 { fflush(); system("sleep 0.25") }'
}
