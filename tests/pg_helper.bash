# A real PostgreSQL server for the tests: a new cluster (initdb) in a
# directory of its own, listening on 127.0.0.1 at a free port chosen at run
# time and on a unix socket in that directory, stopped at the end (pg_ctl,
# which signals the postmaster by the PID in its data directory). Load after
# test_helper and broker_helper (free_port). initdb and postgres refuse to run
# as root, so under root the server runs as nobody, in a directory nobody
# owns.
#
# pg_start_server    create and start the cluster (from setup_file); sets
#                    PG_DIR, PG_PORT, PG_USER, PG_PASSWORD
# pg_stop_server     stop it, fast, and remove its directory (teardown_file)
# pg_halt, pg_resume stop the server and start it again on the same port and
#                    data, for tests of a server that is down
# pg_new_database NAME   a new, empty database; sets PG_URL to its
#                    postgresql:// connection string, password included
# pg_sql DB SQL      run SQL in database DB as the superuser; rows on stdout
#                    (unaligned, no header, | between columns)
#
# The superuser (PG_USER) logs in with PG_PASSWORD over TCP (scram-sha-256)
# and without one on the unix socket, which only the helper uses.

PG_USER=smqtt
: "${PG_BIN:=}"

pg_find_bin() {
	local d
	if [ -z "$PG_BIN" ]; then
		d=$(pg_config --bindir 2> /dev/null)
		# pg_config of libpq-dev may point at /usr/bin, without the server programs.
		[ -x "$d/initdb" ] || d=$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -n 1)
		[ -x "$d/initdb" ] || fail "no PostgreSQL server programs (initdb); run make deps"
		PG_BIN=$d
	fi
}

# The server's programs run as the owner of its directory.
pg_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd "$PG_DIR" && setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups -- "$@")
	else
		(cd "$PG_DIR" && "$@")
	fi
}

# The server outlives the test that starts it (pg_resume), so it must not hold
# the test's descriptors: bats' own (3), or a FIFO the test writes to, whose
# reader would then never see end of file.
pg_ctl_start() {
	(
		local fd
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			[ "$fd" -le 2 ] || eval "exec $fd>&-"
		done
		pg_as_owner "$PG_BIN/pg_ctl" start -D "$PG_DIR/data" -l "$PG_DIR/log" -s -w -t 30 \
			-o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR -c fsync=off" \
			> /dev/null 2>&1
	)
}

pg_ready() {
	"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d postgres -U "$PG_USER"
}

pg_wait_ready() {
	local i
	for ((i = 0; i < 600; i++)); do
		pg_ready && return 0
		sleep 0.05
	done
	fail "PostgreSQL on port $PG_PORT not ready after 30 s: $(tail -n 5 "$PG_DIR/log")"
}

# pg_give_up LOG WHY: show the end of the server's LOG file, if any, remove its
# directory and fail (under set -e too: nothing here may fail first).
pg_give_up() {
	tail -n 20 "$PG_DIR/$1" >&2 2> /dev/null || true
	rm -rf "$PG_DIR"
	fail "$2"
}

pg_start_server() {
	pg_find_bin || return 1
	PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/smqtt-pg.XXXXXX") || return 1
	chmod 755 "$PG_DIR"
	PG_PASSWORD=$(openssl rand -hex 12)
	printf '%s\n' "$PG_PASSWORD" > "$PG_DIR/pwfile"
	[ "$(id -u)" -ne 0 ] || chown -R nobody: "$PG_DIR"
	pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$PG_USER" --pwfile="$PG_DIR/pwfile" \
		--auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync > "$PG_DIR/initdb.log" 2>&1 ||
		{ pg_give_up initdb.log "initdb failed"; return 1; }
	rm -f "$PG_DIR/pwfile"
	# Another program may take the port between choosing it and listening on it.
	local try
	for try in 1 2 3 4 5; do
		PG_PORT=$(free_port) || break
		pg_ctl_start && break
		PG_PORT=
	done
	[ -n "$PG_PORT" ] || { pg_give_up log "PostgreSQL did not start"; return 1; }
	pg_wait_ready || return 1
	export PG_DIR PG_PORT PG_USER PG_PASSWORD PG_BIN
}

# The postmaster's PID, from the file it keeps while it runs.
pg_pid() {
	head -n 1 "$PG_DIR/data/postmaster.pid" 2> /dev/null
}

pg_halt() {
	local pid
	pid=$(pg_pid)
	[ -n "$pid" ] || return 0
	pg_as_owner "$PG_BIN/pg_ctl" stop -D "$PG_DIR/data" -m fast -s -w -t 30 > /dev/null 2>&1 ||
		kill -KILL "$pid" 2> /dev/null || true
}

pg_resume() {
	pg_ctl_start || fail "PostgreSQL did not start again on port $PG_PORT: $(tail -n 5 "$PG_DIR/log")"
	pg_wait_ready
}

pg_stop_server() {
	[ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR" ] || return 0
	pg_halt
	rm -rf "$PG_DIR"
}

pg_sql() {
	"$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U "$PG_USER" -d "$1" -c "$2"
}

pg_new_database() {
	pg_sql postgres "CREATE DATABASE \"$1\"" || return 1
	PG_URL="postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$1"
}
