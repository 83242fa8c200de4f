# Certificates for the registry tests.
#
# registry_setup DEVICE...    a CA in ca/ (smqtt-issue ca), device certificates
#                             and keys in certs/ (smqtt-issue device), their
#                             smqtt-issue lines in issued, and reg.db trusting
#                             the CA (the devices are not added)
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
	smqtt-register -R reg.db init --ca ca/ca.crt
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
