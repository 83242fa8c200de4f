#!/usr/bin/env bash
# The PostgreSQL store, run by `make bench`: rows/s of `smqtt-store -d
# postgresql://...` against `psql -c '\copy readings from FILE csv'` of the
# very same rows into a table of the very same definition (pg_dump of the
# one smqtt-store made: columns, primary key, index), on one server started
# for the run (initdb + pg_ctl in a temporary directory, a free loopback port,
# fsync off for both). Each repetition loads a fresh database with each
# program, the order alternating; rates are medians. Also the peak RSS of
# smqtt-store. Goal: smqtt-store >= 0.5 of COPY.
#
# Prints progress on stderr and a Markdown table on stdout, also written to
# build/bench-pg.md. Environment: SMQTT_BIN, SMQTT_BENCH_PG_N (frames,
# default 200000), SMQTT_BENCH_REPS (default 3).

if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SMQTT_BIN:-$root/bin}
# shellcheck disable=SC1091
. "$here/lib.bash"
N=${SMQTT_BENCH_PG_N:-200000}
REPS=${SMQTT_BENCH_REPS:-3}
GOAL=0.5

for p in smqtt-keygen smqtt-sign smqtt-store; do
	[ -x "$bin/$p" ] || die "$bin/$p not found (run make first)"
done
/usr/bin/time -f %M true > /dev/null 2>&1 || die "GNU time (/usr/bin/time) not installed"

# The tests' server helpers; their failures end the benchmark.
fail() { die "$*"; }
# shellcheck disable=SC1091 # free_port
. "$root/tests/broker_helper.bash"
# shellcheck disable=SC1091
. "$root/tests/pg_helper.bash"

work=$(mktemp -d "${TMPDIR:-/tmp}/smqtt-bench-pg.XXXXXX")
cleanup() {
	pg_stop_server || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

say "PostgreSQL store: starting a server"
pg_start_server
say "  $("$PG_BIN/postgres" --version) on port $PG_PORT"
psql_url() { printf 'postgresql://%s:%s@127.0.0.1:%s/%s' "$PG_USER" "$PG_PASSWORD" "$PG_PORT" "$1"; }

say "  signing $N frames"
"$bin/smqtt-keygen" -k "$work/m.key" > "$work/m.pub" 2> /dev/null
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++)
	printf "M1,2026-12-04 %02d:%02d:%02d,%d,%.3f\n", (i / 3600) % 24, (i / 60) % 60, i % 60, i % 2, i / 7 }' |
	"$bin/smqtt-sign" -k "$work/m.key" -i M1 > "$work/frames"

# store DB: smqtt-store into the new database DB; sets secs, rss_kib.
store() {
	pg_new_database "$1"
	local t0 t1
	t0=$EPOCHREALTIME
	/usr/bin/time -f %M -o "$work/rss" "$bin/smqtt-store" -d "$PG_URL" < "$work/frames" 2> "$work/store.err" ||
		{ tail -n 5 "$work/store.err" >&2; die "smqtt-store failed"; }
	t1=$EPOCHREALTIME
	secs=$(elapsed "$t0" "$t1")
	rss_kib=$(tail -n 1 "$work/rss")
	grep -q "^smqtt-store: $N stored, 0 duplicates, 0 rejected" "$work/store.err" ||
		{ cat "$work/store.err" >&2; die "smqtt-store did not report $N rows stored"; }
	[ "$(pg_sql "$1" 'select count(*) from readings')" -eq "$N" ] || die "smqtt-store: not $N rows in $1"
}

# copy DB: psql \copy of the same rows into the new database DB, same table; sets secs.
copy() {
	pg_new_database "$1"
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U "$PG_USER" -d "$1" -f "$work/schema.sql" \
		> /dev/null 2> "$work/schema.err" || { cat "$work/schema.err" >&2; die "creating the table for psql \\copy failed"; }
	local t0 t1
	t0=$EPOCHREALTIME
	PGPASSWORD=$PG_PASSWORD "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$1" \
		-c "\\copy readings from '$work/rows.csv' csv" > /dev/null 2> "$work/copy.err" ||
		{ cat "$work/copy.err" >&2; die "psql \\copy failed"; }
	t1=$EPOCHREALTIME
	secs=$(elapsed "$t0" "$t1")
	[ "$(pg_sql "$1" 'select count(*) from readings')" -eq "$N" ] || die "psql \\copy: not $N rows in $1"
}

store_rates=() copy_rates=() rss=()
for ((rep = 1; rep <= REPS; rep++)); do
	say "repetition $rep/$REPS"
	order="store copy"
	[ $((rep % 2)) -eq 0 ] && order="copy store"
	for what in $order; do
		if [ "$what" = store ]; then
			store "store$rep"
			store_rates+=("$(rate "$N" "$secs")")
			rss+=("$rss_kib")
			say "  smqtt-store  $N rows in ${secs}s = ${store_rates[-1]} rows/s, peak RSS $rss_kib KiB"
			if [ ! -s "$work/rows.csv" ]; then
				# The anchor's input and table: what smqtt-store wrote, exported once.
				"$PG_BIN/pg_dump" -h "$PG_DIR" -p "$PG_PORT" -U "$PG_USER" --schema-only --no-owner -t readings "store$rep" |
					grep -v '^SET \|^SELECT pg_catalog.set_config' > "$work/schema.sql"
				grep -q 'CREATE TABLE' "$work/schema.sql" || die "no CREATE TABLE in pg_dump's output"
				pg_sql "store$rep" "copy readings to stdout csv" > "$work/rows.csv"
				[ "$(wc -l < "$work/rows.csv")" -eq "$N" ] || die "exported rows: $(wc -l < "$work/rows.csv")"
			fi
		else
			if [ ! -s "$work/rows.csv" ]; then
				die "internal: the first repetition must run smqtt-store first"
			fi
			copy "copy$rep"
			copy_rates+=("$(rate "$N" "$secs")")
			say "  psql \\copy  $N rows in ${secs}s = ${copy_rates[-1]} rows/s"
		fi
	done
done

s=$(median "${store_rates[@]}")
c=$(median "${copy_rates[@]}")
r=$(ratio "$s" "$c")
mkdir -p "$root/build"
{
	echo "### PostgreSQL store ($N frames, median of $REPS, $("$PG_BIN/postgres" --version | sed 's/^postgres (PostgreSQL) /PostgreSQL /'))"
	echo
	echo "| row | smqtt | anchor | ratio | goal | met |"
	echo "|---|---|---|---|---|---|"
	echo "| store into PostgreSQL, rows/s vs psql \\copy of the same rows | $s | $c | $r | >= $GOAL | $(atleast "$r" "$GOAL") |"
	echo
	echo "smqtt-store peak RSS: $(mib "$(maximum "${rss[@]}")") MiB. Both load a fresh database with the same table (pg_dump of smqtt-store's) on the same server, the order alternating."
} | tee "$root/build/bench-pg.md"
