# Test PKI made with smqtt-issue.
# pki_setup DIR DEVICE...   creates, in DIR:
#   ca.crt ca.key                    the operator's CA (ca/ holds the CA directory itself)
#   broker.crt broker.key            server cert, CN=localhost, SAN DNS:localhost IP:127.0.0.1 IP:::1
#   DEVICE.crt DEVICE.key            client cert per device, CN=DEVICE, clientAuth
# Keys are P-256, mode 0600.

pki_setup() {
	local dir=$1
	shift
	mkdir -p "$dir"
	smqtt-issue ca --ca-dir "$dir/ca" > /dev/null || return 1
	cp "$dir/ca/ca.crt" "$dir/ca.crt"
	cp -p "$dir/ca/ca.key" "$dir/ca.key"
	smqtt-issue server --ca-dir "$dir/ca" -o "$dir/server" --dns localhost --ip 127.0.0.1 --ip ::1 localhost > /dev/null || return 1
	mv "$dir/server/localhost.crt" "$dir/broker.crt"
	mv "$dir/server/localhost.key" "$dir/broker.key"
	rmdir "$dir/server"
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" | smqtt-issue device --ca-dir "$dir/ca" -o "$dir" > /dev/null 2>&1 || return 1
	fi
	[ -s "$dir/ca.crt" ] && [ -s "$dir/broker.crt" ]
}
