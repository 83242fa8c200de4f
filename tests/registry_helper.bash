# Registries and certificates for the registry tests.
#
# The registry is an SQLite file, reg.db, or with SMQTT_TEST_REGISTRY=postgresql
# a database on a real PostgreSQL server (tests/pg_helper.bash), so that the
# same tests show the same for both. make check runs the registry tests both
# ways. On a server, setup_file starts one server for the file and
# teardown_file stops it; a file with hooks of its own calls
# registry_setup_file and registry_teardown_file from them.
#
# registry_fresh              from setup: REG, the registry location the test
#                             uses (reg.db, or the postgresql:// URI of a new,
#                             empty database), and REG_SHOWN, REG as messages
#                             name it (no password)
# registry_new NAME           print the location of another, new registry
#                             (NAME.db, or a new database); nothing is created
#                             in it
# registry_copy NAME          print the location of a copy of the registry REG
#                             (NAME.db, or a database made from REG's)
# registry_on_server          true when REG is on a server
# reg_sql QUERY               run QUERY on the registry REG: one row a line,
#                             columns separated by |, NULL as nothing
# reg_sql_in LOCATION QUERY   the same on the registry at LOCATION
# reg_hex EXPR [LOCATION]     SQL for the BLOB (bytea) EXPR in upper-case hex,
#                             on the backend of LOCATION (default REG)
# refute_password             the last `run`'s output does not hold the
#                             server's password (a file has none)
# registry_setup DEVICE...    a CA in ca/ (smqtt-issue ca), device certificates
#                             and keys in certs/ (smqtt-issue device), their
#                             smqtt-issue lines in issued, and the registry REG
#                             trusting the CA (the devices are not added)
# odd_cert NAME CN START END EXTENSIONS [CADIR]
#                             NAME.crt and NAME.key (P-256) for subject CN,
#                             issued by the CA in CADIR (default ca) with
#                             openssl ca: validity START to END (YYYYMMDDHHMMSSZ),
#                             EXTENSIONS the body of an openssl extension
#                             section (one extension per line); for the
#                             certificates smqtt-issue will not make
# issue_line DEVICE CERT [NAME=VALUE]...
#                             the line smqtt-issue device prints for CERT
# utc_offset SECONDS          the time SECONDS from now, as openssl ca wants it
# sign DEVICE KEY [N]         N (default 1) frames from DEVICE signed with KEY,
#                             numbered on from DEVICE's sequence file DEVICE.seq
#
# Verifiers sharing one registry, on the frames in the file frames:
# start_verifiers N ARGS...   N smqtt-verify -R REG ARGS at once, into out.I and
#                             err.I; their pids in VPIDS. With PACE=K, each
#                             reads its frames K at a time with a pause of its
#                             own (0 to 40 ms) between, so that the verifiers'
#                             batches interleave and each gets ahead of the
#                             others now and then
# wait_verifiers              wait for them; their exit statuses in STATUSES
# passed_once N               every frame of 20000 from ten devices (2000 each)
#                             was passed on by exactly one of the N verifiers
# shares N                    how many frames each verifier passed on, for the log

: "${SMQTT_TEST_REGISTRY:=sqlite}"
REG=reg.db
REG_SHOWN=reg.db

if [ "$SMQTT_TEST_REGISTRY" = postgresql ]; then
	load broker_helper # free_port
	load pg_helper
	setup_file() {
		registry_setup_file
	}
	teardown_file() {
		registry_teardown_file
	}
elif [ "$SMQTT_TEST_REGISTRY" != sqlite ]; then
	fail "SMQTT_TEST_REGISTRY=$SMQTT_TEST_REGISTRY: expected sqlite or postgresql"
	return 1
fi

registry_setup_file() {
	[ "$SMQTT_TEST_REGISTRY" != postgresql ] || pg_start_server
}

registry_teardown_file() {
	[ "$SMQTT_TEST_REGISTRY" != postgresql ] || pg_stop_server
}

registry_fresh() {
	if [ "$SMQTT_TEST_REGISTRY" = postgresql ]; then
		REG_DB=r$BATS_TEST_NUMBER
		pg_new_database "$REG_DB" || return 1
		REG=$PG_URL
		REG_SHOWN="postgresql://$PG_USER@127.0.0.1:$PG_PORT/$REG_DB"
	else
		REG=reg.db
		REG_SHOWN=reg.db
	fi
}

registry_on_server() {
	case $REG in
	postgresql:*) return 0 ;;
	*) return 1 ;;
	esac
}

registry_new() {
	if registry_on_server; then
		pg_new_database "${REG_DB}_$1" || return 1
		printf '%s\n' "$PG_URL"
	else
		printf '%s.db\n' "$1"
	fi
}

registry_copy() {
	if registry_on_server; then
		# A database made from another is a copy of it (no one may be connected to it).
		pg_sql postgres "CREATE DATABASE \"${REG_DB}_$1\" TEMPLATE \"$REG_DB\"" || return 1
		printf 'postgresql://%s:%s@127.0.0.1:%s/%s\n' "$PG_USER" "$PG_PASSWORD" "$PG_PORT" "${REG_DB}_$1"
	else
		cp "$REG" "$1.db" && printf '%s.db\n' "$1"
	fi
}

reg_sql_in() {
	case $1 in
	postgresql:*)
		local db=${1##*/}
		pg_sql "${db%%\?*}" "$2"
		;;
	*) sqlite3 "$1" "$2" ;;
	esac
}

reg_sql() {
	reg_sql_in "$REG" "$1"
}

refute_password() {
	[ -z "${PG_PASSWORD:-}" ] || refute_contains "$PG_PASSWORD"
}

reg_hex() {
	case ${2:-$REG} in
	postgresql:*) printf "upper(encode(%s, 'hex'))" "$1" ;;
	*) printf 'hex(%s)' "$1" ;;
	esac
}

# The extensions smqtt-issue gives a device certificate.
DEVICE_EXTENSIONS='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth'

registry_setup() {
	smqtt-issue ca --ca-dir ca > /dev/null || return 1
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" | smqtt-issue device --ca-dir ca -o certs > issued 2> /dev/null || return 1
	else
		: > issued
	fi
	smqtt-register -R "$REG" init --ca ca/ca.crt
}

odd_cert() {
	local name=$1 cn=$2 start=$3 end=$4 extensions=$5 ca=${6:-ca}
	local dir=$name.openssl-ca
	mkdir -p "$dir"
	: > "$dir/index.txt"
	openssl rand -hex 16 | tr a-f A-F > "$dir/serial"
	cat > "$dir/openssl.cnf" <<-EOF
		[ca]
		default_ca = test_ca
		[test_ca]
		database = $dir/index.txt
		new_certs_dir = $dir
		serial = $dir/serial
		default_md = sha256
		policy = any_cn
		x509_extensions = device
		unique_subject = no
		email_in_dn = no
		[any_cn]
		commonName = supplied
		[device]
		$extensions
	EOF
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" \
		-subj "/CN=$cn" -out "$dir/req.csr" 2> /dev/null || return 1
	openssl ca -batch -notext -config "$dir/openssl.cnf" -cert "$ca/ca.crt" -keyfile "$ca/ca.key" \
		-in "$dir/req.csr" -out "$name.crt" -startdate "$start" -enddate "$end" 2> "$dir/err" ||
		{ cat "$dir/err" >&2; return 1; }
	chmod 600 "$name.key"
}

issue_line() {
	local device=$1 cert=$2 serial fingerprint
	shift 2
	serial=$(openssl x509 -in "$cert" -noout -serial | cut -d= -f2)
	fingerprint=$(openssl x509 -in "$cert" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d :)
	printf '%s serial=%s fingerprint=%s cert=%s' "$device" "$serial" "$fingerprint" "$cert"
	[ $# -eq 0 ] || printf ' %s' "$@"
	printf '\n'
}

utc_offset() {
	date -u -d "@$(($(date +%s) + $1))" +%Y%m%d%H%M%SZ
}

sign() {
	meter_records "${3:-1}" "$1" | smqtt-sign -k "$2" -i "$1" -S "$1.seq"
}

start_verifiers() {
	local n=$1 i
	shift
	VPIDS=()
	for ((i = 1; i <= n; i++)); do
		if [ -n "${PACE:-}" ]; then
			awk -v k="$PACE" -v seed="$i" 'BEGIN { srand(seed) }
				{ print } NR % k == 0 { fflush(); system("sleep " rand() * 0.04) }' frames |
				smqtt-verify -R "$REG" "$@" > "out.$i" 2> "err.$i" &
		else
			smqtt-verify -R "$REG" "$@" < frames > "out.$i" 2> "err.$i" &
		fi
		VPIDS+=($!)
	done
}

wait_verifiers() {
	local i
	STATUSES=()
	for ((i = 0; i < ${#VPIDS[@]}; i++)); do
		local st=0
		wait "${VPIDS[$i]}" || st=$?
		STATUSES+=("$st")
	done
}

passed_once() {
	local n=$1 i
	local outs=() errs=()
	for ((i = 1; i <= n; i++)); do
		outs+=("out.$i")
		errs+=("err.$i")
		[ "${STATUSES[$((i - 1))]}" -le 1 ] || fail "verifier $i: status ${STATUSES[$((i - 1))]}: $(tail -n 3 "err.$i")"
	done
	sort "${outs[@]}" > both
	sort frames > all
	local twice
	twice=$(uniq -d both | wc -l)
	[ "$twice" -eq 0 ] || fail "$twice frames passed on by more than one verifier: $(uniq -d both | head -n 2)"
	cmp -s both all || fail "passed on: $(wc -l < both) of $(wc -l < all) frames"
	# The other copies of each were rejected as replays by the other verifiers and said so, or
	# dropped as duplicates of the device's last frame, which they learnt from the registry.
	local rejected=0 duplicates=0 dup
	for ((i = 1; i <= n; i++)); do
		rejected=$((rejected + $(grep -c ': replay: ' "err.$i" || true)))
		dup=$(sed -n 's/.* \([0-9]*\) duplicates dropped$/\1/p' "err.$i")
		duplicates=$((duplicates + ${dup:-0}))
	done
	[ "$((rejected + duplicates))" -eq $((20000 * (n - 1))) ] ||
		fail "$rejected replays and $duplicates duplicates: $(tail -n 2 "${errs[@]}")"
	# The registry holds each device's last number.
	[ "$(reg_sql 'select last_seq from devices order by id' | paste -sd,)" = "$(printf '2000,%.0s' {1..10} | sed 's/,$//')" ]
}

shares() {
	local i line="#"
	for ((i = 1; i <= $1; i++)); do
		line="$line verifier $i passed $(wc -l < "out.$i");"
	done
	echo "$line" >&3
}
