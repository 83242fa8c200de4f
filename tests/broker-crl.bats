#!/usr/bin/env bats
# Revocation at the broker: a CRL from smqtt-issue, loaded by a real mosquitto
# through crlfile, shuts out the revoked device and no other.

load test_helper
load pki_helper
load broker_helper

setup() {
	common_setup
	broker_setup GOOD BAD
}

teardown() {
	broker_teardown
}

@test "broker CRL: a device revoked with smqtt-issue crl is refused by mosquitto, the others still publish" {
	for d in GOOD BAD; do
		echo "$d,2013-11-02 00:15:00,0,1.0" | smqtt-sign -k "$PKI/$d.key" -c "$PKI/$d.crt" > "$d.frames"
	done
	# both connect before the revocation
	pub_as BAD < BAD.frames > before 2> err || fail "BAD refused before revocation: $(cat err)"
	[ "$(wc -l < before)" -eq 1 ]

	serial=$(openssl x509 -in "$PKI/BAD.crt" -noout -serial | cut -d= -f2)
	echo "$serial BAD $(date -u +%Y-%m-%dT%H:%M:%SZ) keyCompromise" | smqtt-issue crl --ca-dir "$PKI/ca" > "$PKI/crl.pem" 2> /dev/null
	openssl crl -in "$PKI/crl.pem" -noout -CAfile "$PKI/ca.crt" 2>&1 | grep -q 'verify OK'
	broker_stop
	echo "crlfile $PKI/crl.pem" >> "$BROKER_DIR/mosquitto.conf"
	broker_start

	pub_as GOOD < GOOD.frames > good.out 2> good.err || fail "GOOD refused: $(cat good.err)"
	[ "$(wc -l < good.out)" -eq 1 ]
	run pub_as BAD --retry-for 2 < BAD.frames
	assert_status 3
	assert_contains "the broker refused the client certificate: certificate revoked"
	refute_contains "smqtt1 BAD"
}
