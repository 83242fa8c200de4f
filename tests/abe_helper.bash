# Keys and frames for the tests of smqtt-encrypt and smqtt-decrypt. Load
# after test_helper.
#
# abe_setup      a key authority (params.pem, master.key) and keys in keys/:
#                CP billing (role:billing) and ops (role:ops), KP audit
#                (feeder:F12 and kind:household) and other (feeder:F13), all
#                of epoch 2026-12; the meter ABC's key and certificate; six
#                of its readings in in.csv
# chain ARGS...  in.csv encrypted with ARGS, signed and verified, into
#                verified (enc and frames on the way)

abe_setup() {
	smqtt-pkg setup -m master.key > params.pem || return 1
	mkdir -m 700 keys
	pkg() { smqtt-pkg keygen --params params.pem -m master.key -o keys --epoch 2026-12 "$@" > /dev/null; }
	pkg billing role:billing
	pkg ops role:ops
	pkg --kp audit 'feeder:F12 and kind:household'
	pkg --kp other 'feeder:F13'
	make_key ABC && make_cert ABC ABC
	meter_records 6 ABC > in.csv
}

chain() {
	smqtt-encrypt --params params.pem -i ABC --epoch 2026-12 "$@" < in.csv > enc &&
		smqtt-sign -k ABC.key -i ABC -S ABC.seq < enc > frames &&
		smqtt-verify -c ABC.crt < frames > verified
}
