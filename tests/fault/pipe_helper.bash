# Named pipes between pipeline stages, for the fault-injection tests.

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
