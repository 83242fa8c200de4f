#!/usr/bin/env bats
# smqtt-verify: only authentic, fresh frames pass; every rejection is named.

load test_helper

setup() {
	common_setup
	make_key m
	meter_records 4 | smqtt-sign -k m.key -i ABC > good
}

@test "verify: valid frames pass through byte for byte" {
	run smqtt-verify --pubkey ABC=m.pub < good
	assert_status 0
	[ "$output" = "$(cat good)" ]
	smqtt-verify --pubkey ABC=m.pub < good > out 2> err
	cmp good out
	[ ! -s err ]
}

@test "verify: flipping any single byte of a frame is rejected" {
	frame=$(head -n 1 good)
	len=${#frame}
	: > mutated
	for ((i = 0; i < len; i++)); do
		c=${frame:i:1}
		for r in A 0; do
			[ "$c" = "$r" ] && r=B
			printf '%s%s%s\n' "${frame:0:i}" "$r" "${frame:i+1}" >> mutated
		done
	done
	n=$(wc -l < mutated)
	[ "$n" -eq $((2 * len)) ]
	run smqtt-verify --pubkey ABC=m.pub < mutated
	assert_status 1
	[ "$(printf '%s\n' "$output" | grep -c '^smqtt-verify: line ')" -eq "$n" ] || fail "not every mutation was rejected"
	smqtt-verify --pubkey ABC=m.pub < mutated > out 2> /dev/null || true
	[ ! -s out ] || fail "a mutated frame passed: $(cat out)"
}

@test "verify: flipping any single bit of the record or signature is rejected" {
	frame=$(head -n 1 good)
	# Flip each bit of every byte after "smqtt1 ABC 1 " (signature and record) with tr-free bash arithmetic.
	prefix="smqtt1 ABC 1 "
	rest=${frame#"$prefix"}
	: > flipped
	for ((i = 0; i < ${#rest}; i++)); do
		printf -v code '%d' "'${rest:i:1}"
		for bit in 0 1 2 3 4 5 6; do
			new=$((code ^ (1 << bit)))
			# keep the line a line: skip flips into LF, CR or NUL
			[ "$new" -eq 10 ] || [ "$new" -eq 13 ] || [ "$new" -eq 0 ] && continue
			printf -v ch "\\x$(printf %02x "$new")"
			printf '%s%s%s%s\n' "$prefix" "${rest:0:i}" "$ch" "${rest:i+1}" >> flipped
		done
	done
	[ "$(wc -l < flipped)" -gt 500 ]
	smqtt-verify --pubkey ABC=m.pub < flipped > out 2> err || true
	[ ! -s out ] || fail "a bit-flipped frame passed: $(head -n 1 out)"
	[ "$(grep -c '^smqtt-verify: line ' err)" -eq "$(wc -l < flipped)" ]
}

@test "verify: a frame signed by another key is a bad signature" {
	make_key other
	echo 'ABC,t,0,1' | smqtt-sign -k other.key -i ABC > forged
	run smqtt-verify --pubkey ABC=m.pub < forged
	assert_status 1
	assert_contains "smqtt-verify: line 1: device ABC seq 1: bad signature"
}

@test "verify: a device id swapped between two valid frames is rejected" {
	make_key d
	echo 'DEF,t,0,1' | smqtt-sign -k d.key -i DEF > def
	sed 's/^smqtt1 DEF /smqtt1 ABC /' def > swapped
	run smqtt-verify --pubkey ABC=m.pub --pubkey DEF=d.pub < swapped
	assert_status 1
	assert_contains "device ABC seq 1: bad signature"
}

@test "verify: replays are rejected, a repeat of an accepted frame is dropped and counted" {
	# Another record signed under number 2, which the verifier accepted for a different one: a replay.
	printf '%020d\n' 2 > old.seq
	echo 'ABC,2013-11-02 00:15:00,1,99.0' | smqtt-sign -k m.key -i ABC -S old.seq > replay
	{ cat good replay; sed -n 2p good; tail -n 1 good; } > in
	run smqtt-verify --pubkey ABC=m.pub < in
	assert_status 1
	assert_contains "smqtt-verify: line 5: device ABC seq 2: replay: seq already accepted (last accepted seq 4)"
	refute_contains "line 6:"
	refute_contains "line 7:"
	assert_contains "smqtt-verify: 4 verified, 1 rejected, 2 duplicates dropped"
	{ cat good; tail -n 1 good; } | smqtt-verify --pubkey ABC=m.pub > out
	cmp out good
}

@test "verify: a frame arriving after a later one passes once; another frame of its number is a replay" {
	# Collectors behind a shared subscription receive a device's frames out of order.
	printf 'ABC,2013-11-02 00:00:00,9,1.5\n' | smqtt-sign -k m.key -i ABC -S other.seq > other
	{ sed -n 3p good; sed -n 1p good; sed -n 1p good; cat other; sed -n 2p good; } > in
	status=0
	smqtt-verify --pubkey ABC=m.pub < in > out 2> err || status=$?
	[ "$status" -eq 1 ]
	[ "$(cat out)" = "$(sed -n 3p good; sed -n 1p good; sed -n 2p good)" ]
	grep -qx "smqtt-verify: line 4: device ABC seq 1: replay: seq already accepted (last accepted seq 3)" err
	grep -qx "smqtt-verify: 3 verified, 1 rejected, 1 duplicates dropped" err
}

@test "verify: a frame 1024 or more below the last accepted one is a replay" {
	meter_records 1025 | smqtt-sign -k m.key -i ABC -S long.seq > long
	{ tail -n 1 long; head -n 2 long; } > in
	status=0
	smqtt-verify --pubkey ABC=m.pub < in > out 2> err || status=$?
	[ "$status" -eq 1 ]
	grep -qx "smqtt-verify: line 2: device ABC seq 1: replay: 1024 or more below last accepted seq 1025" err
	# seq 2 is 1023 below: inside the window, not accepted before.
	[ "$(cat out)" = "$(tail -n 1 long; sed -n 2p long)" ]
}

@test "verify: unknown devices are rejected by name" {
	make_key x
	echo r | smqtt-sign -k x.key -i XYZ > x.frames
	run smqtt-verify --pubkey ABC=m.pub < x.frames
	assert_status 1
	assert_contains "smqtt-verify: line 1: device XYZ seq 1: unknown device"
}

@test "verify: malformed lines are rejected by number and good lines around them pass" {
	frame=$(head -n 1 good)
	sig=$(echo "$frame" | cut -d' ' -f4)
	{
		echo "$frame"                                   # 1 good
		echo ""                                         # 2 empty
		echo "garbage"                                  # 3
		echo "smqtt2 ABC 2 $sig r"                      # 4 other version
		echo "smqtt1 ABC 02 $sig r"                     # 5 leading zero
		echo "smqtt1 ABC 0 $sig r"                      # 6 seq 0
		echo "smqtt1 ABC 99999999999999999999 $sig r"   # 7 seq overflow
		echo "smqtt1 AB/C 2 $sig r"                     # 8 bad device id
		echo "smqtt1 ABC 2 $sig"                        # 9 no record
		echo "smqtt1 ABC 2 $sig "                       # 10 empty record
		echo "smqtt1 ABC 2 ${sig%?} r"                  # 11 truncated base64
		echo "smqtt1  ABC 2 $sig r"                     # 12 double space
		printf '%s\r\n' "$(sed -n 2p good)"             # 13 CR
		head -c 5000 /dev/zero | tr '\0' a; echo        # 14 too long
		printf 'smqtt1 ABC 2 %s a\000b\n' "$sig"        # 15 NUL
		printf 'smqtt1 \303\251 2 %s r\n' "$sig"        # 16 non-ASCII device id
		sed -n 2p good                                  # 17 good
	} > in
	run smqtt-verify --pubkey ABC=m.pub < in
	assert_status 1
	for n in 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do
		assert_contains "smqtt-verify: line $n: "
	done
	assert_contains "line 3: malformed frame: not an smqtt1 frame"
	assert_contains "line 5: malformed frame: invalid sequence number"
	assert_contains "line 8: malformed frame: invalid device id"
	assert_contains "line 14: malformed frame: frame too long"
	smqtt-verify --pubkey ABC=m.pub < in > out 2> /dev/null || true
	[ "$(cat out)" = "$(head -n 2 good)" ]
}

@test "verify: non-canonical signature encodings are rejected" {
	command -v python3 > /dev/null || fail "python3 is required (make deps installs it)"
	# A frame whose base64 signature is padded (a DER signature of 69 bytes,
	# about 1 in 200, is not), so that the unused bits of its last character
	# can be set; each of the four frames is one more chance.
	awk '$4 ~ /=$/ { print; exit }' good > one
	[ -s one ] || fail "none of the frames has a padded signature: $(cut -d ' ' -f 4 good)"
	local seq
	seq=$(cut -d ' ' -f 3 one)
	python3 - one > variants <<'PY'
import base64, sys
n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
magic, dev, seq, sig, rec = open(sys.argv[1]).read().rstrip("\n").split(" ", 4)
der = base64.b64decode(sig)
def ints(d):
    assert d[0] == 0x30
    i, out = 2, []
    while i < len(d):
        l = d[i + 1]; out.append(int.from_bytes(d[i + 2:i + 2 + l], "big")); i += 2 + l
    return out
def enc_int(v, pad=0):
    b = v.to_bytes((v.bit_length() + 8) // 8, "big")
    b = b"\0" * pad + b
    return b"\x02" + bytes([len(b)]) + b
def enc(r, s, pad=0):
    body = enc_int(r, pad) + enc_int(s)
    return b"\x30" + bytes([len(body)]) + body
r, s = ints(der)
assert enc(r, s) == der
def line(sig_b64):
    print(" ".join([magic, dev, seq, sig_b64, rec]))
line(base64.b64encode(enc(r, n - s)).decode())          # high S: valid math, not canonical
line(base64.b64encode(enc(r, s, pad=1)).decode())       # non-minimal DER integer
line(base64.b64encode(der + b"\0").decode())            # trailing garbage after DER
b = base64.b64encode(der).decode()
alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
k = b.rstrip("=")
assert len(k) < len(b), "low-S P-256 DER is at most 71 bytes, so base64 is padded"
# same bytes, non-zero unused bits in the last character
line(k[:-1] + alphabet[alphabet.index(k[-1]) + 1] + b[len(k):])
PY
	[ "$(wc -l < variants)" -eq 4 ]
	run smqtt-verify --pubkey ABC=m.pub < variants
	assert_status 1
	for n in 1 2 3 4; do
		assert_contains "line $n: device ABC seq $seq: non-canonical signature encoding"
	done
	# the original still verifies, so the variants differ only in encoding
	smqtt-verify --pubkey ABC=m.pub < one > /dev/null
}

@test "verify: rejected lines go to the rejects file too" {
	{ sed -n 1p good; echo junk; sed -n 1p good | sed 's/$/9/'; sed -n 2p good; } > in
	run smqtt-verify --pubkey ABC=m.pub --rejects rej < in
	assert_status 1
	[ "$(wc -l < rej)" -eq 2 ]
	[ "$(sed -n 1p rej)" = junk ]
	run smqtt-verify --pubkey ABC=m.pub --rejects rej < in
	[ "$(wc -l < rej)" -eq 4 ] || fail "rejects file should be appended to"
}

@test "verify: trust from certificates, by CN or bound with -p" {
	make_cert m meter-9
	echo r | smqtt-sign -k m.key -c m.crt > f
	smqtt-verify -c m.crt < f > out
	cmp f out
	smqtt-verify --pubkey meter-9=m.crt < f > out
	cmp f out
	run smqtt-verify --pubkey other=m.crt < f
	assert_status 1
	assert_contains "unknown device"
}

@test "verify: a device may hold two keys during a rollover" {
	make_key new
	echo old | smqtt-sign -k m.key -i R -S r.seq > a
	echo new | smqtt-sign -k new.key -i R -S r.seq > b
	cat a b | smqtt-verify --pubkey R=m.pub --pubkey R=new.pub > out
	[ "$(wc -l < out)" -eq 2 ]
	make_key third
	run smqtt-verify --pubkey R=m.pub --pubkey R=new.pub --pubkey R=third.pub < /dev/null
	assert_status 2
	assert_contains "device R: more than 2 keys given"
}

@test "verify: P-384 and Ed25519 signatures" {
	make_key p p384
	make_key e ed25519
	meter_records 2 | smqtt-sign -k p.key -i P > f
	meter_records 2 | smqtt-sign -k e.key -i E >> f
	smqtt-verify --pubkey P=p.pub --pubkey E=e.pub < f > out
	cmp f out
	# keys of another type must not verify
	run smqtt-verify --pubkey P=e.pub --pubkey E=p.pub < f
	assert_status 1
	[ "$(printf '%s\n' "$output" | grep -c 'non-canonical signature encoding\|bad signature')" -eq 4 ]
}

# mixed_stream: frames of devices A (m.key), B (b.key) and R (rolling over
# from m.key to new.key, interleaved so every other frame is a replay), with
# forged, replayed, repeated, unknown-device, malformed and over-long lines
# among them, over a thousand lines in all.
mixed_stream() {
	make_key b
	make_key new
	meter_records 500 A | smqtt-sign -k m.key -i A -S a.seq > a
	meter_records 500 B | smqtt-sign -k b.key -i B -S b.seq > b
	# B's numbers again, on other records: replays, not repeats of accepted frames.
	meter_records 500 B | sed 's/$/5/' | smqtt-sign -k b.key -i B -S rb.seq > rb
	meter_records 40 R | smqtt-sign -k m.key -i R -S r.seq > r.old
	meter_records 40 R | smqtt-sign -k new.key -i R -S r.seq > r.new
	meter_records 500 A | smqtt-sign -k b.key -i A -S forged.seq | sed 's/^smqtt1 A \([0-9]*\) /smqtt1 A 1\1 /' > forged
	meter_records 25 U | smqtt-sign -k m.key -i U -S u.seq > u
	long=$(head -c 5000 /dev/zero | tr '\0' x)
	awk -v long="$long" '
		FILENAME == ARGV[1] { a[FNR] = $0 } FILENAME == ARGV[2] { b[FNR] = $0 } FILENAME == ARGV[7] { rb[FNR] = $0 }
		FILENAME == ARGV[3] { ro[FNR] = $0 } FILENAME == ARGV[4] { rn[FNR] = $0 }
		FILENAME == ARGV[5] { f[FNR] = $0 } FILENAME == ARGV[6] { u[FNR] = $0 }
		END {
			for (i = 1; i <= 500; i++) {
				print a[i]; print b[i]
				if (i <= 40) { print ro[i]; print rn[i] }
				if (i % 10 == 0) print a[i]         # duplicate
				if (i % 13 == 0) print rb[i - 5]    # replay
				if (i % 17 == 0) print f[i]         # bad signature
				if (i % 19 == 0) print "garbage " i # malformed
				if (i % 23 == 0) print u[i / 23]    # unknown device
				if (i % 29 == 0) print long         # too long
				if (i % 31 == 0) print a[i] "\r"    # CR: malformed
			}
		}' a b r.old r.new forged u rb
}

@test "verify: -j 1 and -j 4 give the same output, messages and status on a mixed stream" {
	mixed_stream > mixed
	[ "$(wc -l < mixed)" -eq 1277 ]
	trust=(-p A=m.pub -p B=b.pub -p R=m.pub -p R=new.pub)
	for j in 1 4; do
		status=0
		smqtt-verify -j "$j" "${trust[@]}" --rejects "rejects.$j" < mixed > "out.$j" 2> "err.$j" || status=$?
		echo "$status" > "status.$j"
	done
	cmp out.1 out.4
	cmp err.1 err.4
	cmp rejects.1 rejects.4
	cmp status.1 status.4
	[ "$(cat status.1)" = 1 ]
	# The stream holds every kind of frame, each decided the same way.
	[ "$(wc -l < out.1)" -eq 1080 ]
	grep -q ': device A seq 117: bad signature$' err.1
	grep -q ': device B seq 8: replay: seq already accepted (last accepted seq 13)$' err.1
	# R's frames from its old key arrive after those of its new key (numbered on from 41): not
	# accepted before and inside the replay window, they pass.
	! grep -q ': device R seq' err.1
	grep -q ': device U seq 1: unknown device$' err.1
	grep -q ': malformed frame: not an smqtt1 frame$' err.1
	grep -q ': malformed frame: frame too long$' err.1
	grep -q '1080 verified, 147 rejected, 50 duplicates dropped$' err.1
	# In a pipe, where input arrives in pieces, and with the long option.
	cat mixed | smqtt-verify --jobs 3 "${trust[@]}" > out.pipe 2> err.pipe || true
	cmp out.1 out.pipe
	cmp err.1 err.pipe
}

@test "verify: bad -j values are usage errors" {
	for j in 0 65 -1 x 2x ''; do
		run smqtt-verify -j "$j" --pubkey ABC=m.pub < good
		assert_status 2
		assert_contains "smqtt-verify: -j $j: "
	done
	run smqtt-verify --jobs 64 --pubkey ABC=m.pub < good
	assert_status 0
	[ "$output" = "$(cat good)" ]
}

@test "verify: usage and trust-file errors" {
	run smqtt-verify < good
	assert_status 2
	assert_contains "no trusted devices"
	run smqtt-verify --pubkey m.pub < good
	assert_status 2
	assert_contains "--pubkey m.pub: expected DEVICE=FILE"
	run smqtt-verify --pubkey ABC=missing.pub < good
	assert_status 3
	assert_contains "trust file missing.pub: No such file or directory"
	run smqtt-verify -c m.pub < good
	assert_status 2
	assert_contains "a public key needs its device id"
	run smqtt-verify --pubkey ABC=m.key < good
	assert_status 3
	assert_contains "not a certificate or public key"
	echo junk > junk.pem
	run smqtt-verify --pubkey ABC=junk.pem < good
	assert_status 3
	assert_contains "trust file junk.pem"
	run smqtt-verify --pubkey 'A B=m.pub' < good
	assert_status 2
	assert_contains "invalid device id"
	run smqtt-verify --pubkey ABC=m.pub --rejects no/such/dir/rej < good
	assert_status 4
	assert_contains "rejects file no/such/dir/rej"
}

@test "verify: a closed stdout ends quietly; a full one is an error" {
	meter_records 3000 | smqtt-sign -k m.key -i ABC -S big.seq > big
	run bash -c 'smqtt-verify --pubkey ABC=m.pub < big | head -n 1'
	assert_status 0
	refute_contains "smqtt-verify:"
	run sh -c 'smqtt-verify --pubkey ABC=m.pub < good > /dev/full'
	assert_status 4
	assert_contains "writing stdout"
	# Frames that arrive with pauses between them, as from smqtt-sub: each
	# pause flushes what was accepted, and a failure is seen there too.
	local j
	for j in 1 4; do
		run bash -c "for i in 1 2 3 4 5; do sed -n \"\${i}p\" big; sleep 0.2; done |
			smqtt-verify -j $j --pubkey ABC=m.pub > /dev/full"
		assert_status 4
		assert_contains "writing stdout"
		# A reader that goes away is noticed at the next pause: the feeder
		# is stopped long before the last of its 3000 frames.
		run bash -c "for i in \$(seq 1 3000); do sed -n \"\${i}p\" big || break; echo \$i > fed; sleep 0.005; done |
			smqtt-verify -j $j --pubkey ABC=m.pub | head -n 1"
		assert_status 0
		refute_contains "smqtt-verify:"
		[ "$(cat fed)" -lt 1000 ] || fail "smqtt-verify -j $j read $(cat fed) frames after its reader had gone"
	done
}
