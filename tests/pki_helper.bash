# Test PKI: a CA, a broker certificate and device certificates.
# pki_setup DIR DEVICE...   creates, in DIR:
#   ca.crt ca.key                    the operator's CA
#   broker.crt broker.key            server cert, CN=localhost, SAN DNS:localhost IP:127.0.0.1 IP:::1
#   DEVICE.crt DEVICE.key            client cert per device, CN=DEVICE, clientAuth
# Keys are P-256, mode 0600.

pki_setup() {
	local dir=$1
	shift
	mkdir -p "$dir"
	(
		cd "$dir" || exit 1
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
			-subj /CN=smqtt-test-ca -days 2 -out ca.crt \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout broker.key \
			-subj /CN=localhost -out broker.csr 2>/dev/null
		openssl x509 -req -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out broker.crt \
			-extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n') 2>/dev/null
		for d in "$@"; do
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d.key" \
				-subj "/CN=$d" -out "$d.csr" 2>/dev/null
			openssl x509 -req -in "$d.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out "$d.crt" \
				-extfile <(printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n') 2>/dev/null
		done
		rm -f ./*.csr ca.srl
	)
	[ -s "$dir/ca.crt" ] && [ -s "$dir/broker.crt" ]
}
