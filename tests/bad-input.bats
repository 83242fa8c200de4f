#!/usr/bin/env bats
# The bad-input catalogue: one test per kind of bad input, for every program.
#
# Each case checks that the program
#   - exits with the status its manual page documents (0 ok, 1 some input
#     rejected, 2 usage, 3 unusable file, 4 system or broker failure);
#   - says so on stderr as "smqtt-X: where: why", naming the line, the file
#     or the broker at fault (input it repeats is escaped, never raw);
#   - lets nothing of the bad input through: not to stdout, not into a
#     database, not into a file it writes;
#   - for a stream, processes the good input before and after the bad line.
#
#   #  program         bad input                                                       status
#   1  smqtt-keygen    a key file that exists is kept                                  3
#   2  smqtt-keygen    a key file in a missing directory                               4
#   3  smqtt-keygen    an empty passphrase file                                        3
#   4  smqtt-keygen    an unknown key type                                             2
#   5  smqtt-sign      a NUL byte in a record                                          1
#   6  smqtt-sign      a CR byte inside a record                                       1
#   7  smqtt-sign      a record longer than 4096 bytes                                 1
#   8  smqtt-sign      empty input                                                     0
#   9  smqtt-sign      a missing key file                                              3
#  10  smqtt-sign      a key file that is a directory                                  3
#  11  smqtt-sign      a world-readable key file                                       3
#  12  smqtt-sign      an unreadable key file                                          3
#  13  smqtt-sign      an RSA key, a type smqtt does not sign with                     3
#  14  smqtt-sign      an encrypted key without its passphrase                         3
#  15  smqtt-sign      an encrypted key with the wrong passphrase                      3
#  16  smqtt-sign      the certificate of another key                                  3
#  17  smqtt-sign      a device id holding ESC and a byte that is not UTF-8            2
#  18  smqtt-sign      a damaged state file is refused, not guessed                    3
#  19  smqtt-sign      a state file that is a directory                                3
#  20  smqtt-sign      a configuration with a type error names FILE:LINE               3
#  21  smqtt-sign      stdout on a full disk                                           4
#  22  smqtt-verify    a line that is not a frame                                      1
#  23  smqtt-verify    a NUL byte in a frame                                           1
#  24  smqtt-verify    invalid UTF-8 in a device id                                    1
#  25  smqtt-verify    a truncated base64 signature                                    1
#  26  smqtt-verify    a frame longer than a frame can be                              1
#  27  smqtt-verify    an altered record                                               1
#  28  smqtt-verify    a frame of an unknown device                                    1
#  29  smqtt-verify    a replayed frame                                                1
#  30  smqtt-verify    a frame with a CRLF line ending                                 1
#  31  smqtt-verify    empty input                                                     0
#  32  smqtt-verify    frames of a device whose key has expired (registry)             1
#  33  smqtt-verify    frames of a revoked device (registry)                           1
#  34  smqtt-verify    a registry holding a damaged public key                         3
#  35  smqtt-verify    frames of many unknown devices through a small cache            1
#  36  smqtt-verify    a missing trust file                                            3
#  37  smqtt-verify    a trust file that is a directory                                3
#  38  smqtt-verify    an RSA certificate as trust file                                3
#  39  smqtt-verify    a private key as trust file                                     3
#  40  smqtt-verify    a database of smqtt-store as registry                           3
#  41  smqtt-verify    a registry that is a directory                                  3
#  42  smqtt-verify    --pubkey with a device id holding ESC and BEL                         2
#  43  smqtt-verify    a configuration with a type error names FILE:LINE               3
#  44  smqtt-store     a line that is not a frame                                      1
#  45  smqtt-store     a record field of the wrong type                                1
#  46  smqtt-store     a record field holding ESC is reported escaped                  1
#  47  smqtt-store     a record with too many fields                                   1
#  48  smqtt-store     a record with an unterminated quote                             1
#  49  smqtt-store     a frame longer than a frame can be                              1
#  50  smqtt-store     a file that is not an SQLite database is left as it was         3
#  51  smqtt-store     a database that is a directory                                  3
#  52  smqtt-store     a registry given as database is left as it was                  3
#  53  smqtt-store     a database created with other columns                           3
#  54  smqtt-store     an invalid -s schema                                            2
#  55  smqtt-store     a configuration with a type error names FILE:LINE               3
#  56  smqtt-store     empty input                                                     0
#  57  smqtt-issue     an invalid device id holding ESC is reported escaped            1
#  58  smqtt-issue     a NUL byte in a device line                                     1
#  59  smqtt-issue     a duplicate device id                                           1
#  60  smqtt-issue     pubkey= of an RSA key, a type smqtt does not sign with          1
#  61  smqtt-issue     a missing CA directory                                          3
#  62  smqtt-issue     a manifest with a type error names FILE:LINE                    3
#  63  smqtt-issue     a CRL line that is not a serial                                 1
#  64  smqtt-register  a certificate from another CA                                   1
#  65  smqtt-register  an expired certificate                                          1
#  66  smqtt-register  a certificate without the clientAuth extended key usage         1
#  67  smqtt-register  cert= naming a missing file                                     1
#  68  smqtt-register  cert= naming a directory                                        1
#  69  smqtt-register  a truncated PEM certificate                                     1
#  70  smqtt-register  an invalid device id holding ESC is reported escaped            1
#  71  smqtt-register  a device certificate given to init as the CA                    3
#  72  smqtt-register  a registry that is a directory                                  3
#  73  smqtt-register  an invalid attribute                                            2
#  74  smqtt-pub       a broker that is down                                           4
#  75  smqtt-pub       a broker certificate for another host name                      3
#  76  smqtt-pub       a broker certificate for another IP address                     3
#  77  smqtt-pub       --cafile of another CA                                          3
#  78  smqtt-pub       a client certificate from another CA                            3
#  79  smqtt-pub       an expired client certificate                                   3
#  80  smqtt-pub       a client certificate without the clientAuth extended key usage  3
#  81  smqtt-pub       a line that is not a frame                                      1
#  82  smqtt-pub       --cert that is a directory                                      3
#  83  smqtt-pub       a client id that is not UTF-8                                   2
#  84  smqtt-pub       a configuration with a type error names FILE:LINE               3
#  85  smqtt-sub       a broker that is down                                           4
#  86  smqtt-sub       a message holding a NUL byte                                    1
#  87  smqtt-sub       an invalid topic filter                                         2
#  88  smqtt-sub       a configuration with a type error names FILE:LINE               3
#  89  smqtt-pkg       a policy that does not parse, in a bulk keygen, names the byte  1
#  90  smqtt-pkg       an attribute the registry does not hold for the device          1
#  91  smqtt-pkg       a key for a revoked device                                      1
#  92  smqtt-encrypt   a policy that does not parse names the byte                     2
#  93  smqtt-encrypt   a record longer than an encrypted record can hold               1
#  94  smqtt-decrypt   a key made for other parameters                                 3
#  95  smqtt-decrypt   a truncated data record                                         1
#  96  smqtt-decrypt   an oversized capsule part                                       1
#  97  smqtt-decrypt   encrypted records re-signed as another device's                 1
#  98  smqtt-decrypt   a capsule file others may write to                              3

bats_require_minimum_version 1.5.0

load test_helper
load pki_helper
load registry_helper
load broker_helper

# Made once for the file and only read by the tests: an operator CA with the
# devices ABC and DEF (pki/), their issue lines (issued), a registry holding
# them (reg.db), another operator's CA with a device GHI (other/), and an RSA
# key and certificate, a key type smqtt does not sign with.
setup_file() {
	cd "$BATS_FILE_TMPDIR" || return 1
	smqtt-issue ca --ca-dir ca > /dev/null || return 1
	printf '%s\n' ABC DEF | smqtt-issue device --ca-dir ca -o "$BATS_FILE_TMPDIR/pki" > issued 2> /dev/null || return 1
	smqtt-register -R reg.db init --ca ca/ca.crt || return 1
	smqtt-register -R reg.db add < issued 2> /dev/null || return 1
	smqtt-issue ca --ca-dir other-ca > /dev/null || return 1
	echo GHI | smqtt-issue device --ca-dir other-ca -o other > /dev/null 2>&1 || return 1
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key 2> /dev/null || return 1
	chmod 600 rsa.key
	openssl req -new -x509 -key rsa.key -subj /CN=RSA -days 2 -out rsa.crt 2> /dev/null || return 1
	openssl pkey -in rsa.key -pubout -out rsa.pub 2> /dev/null
}

setup() {
	common_setup
	S=$BATS_FILE_TMPDIR
}

teardown() {
	broker_teardown
	[ -z "${OPEN_DIR:-}" ] || rm -rf "$OPEN_DIR"
}

# signed DEVICE N: N good frames of DEVICE, with this test's own state file.
signed() {
	meter_records "$2" "$1" | smqtt-sign -k "$S/pki/$1.key" -c "$S/pki/$1.crt" -S "$1.seq"
}

# around GOOD BAD: line 1 of file GOOD, all of file BAD, then line 2 of GOOD:
# a bad line with good input before and after it.
around() {
	sed -n 1p "$1"
	cat "$2"
	sed -n 2p "$1"
}

# expect STATUS: the last `run --separate-stderr` ended with STATUS.
expect() {
	[ "$status" -eq "$1" ] || fail "expected status $1, got $status; stderr: $stderr; stdout: $output"
}

# said TEXT...: the last run's stderr holds every TEXT.
said() {
	local text
	for text in "$@"; do
		[[ $stderr == *"$text"* ]] || fail "stderr lacks '$text': $stderr"
	done
}

# no_raw_bytes: the last run's stderr holds no ESC, BEL or byte outside ASCII.
no_raw_bytes() {
	! printf '%s' "$stderr" | LC_ALL=C grep -q $'[\a\033\x80-\xff]' || fail "raw bytes in stderr: $stderr"
}

# no_output: the last run wrote nothing to stdout.
no_output() {
	[ -z "$output" ] || fail "stdout: $output"
}

# stdout_is FILE: the last run's stdout is exactly FILE.
stdout_is() {
	[ "$output" = "$(cat "$1")" ] || fail "stdout is not $1: $output"
}

# ---- smqtt-keygen ----

@test "#1 smqtt-keygen: a key file that exists is kept (3)" {
	make_key k
	cp k.key before
	run --separate-stderr smqtt-keygen -k k.key
	expect 3
	said "smqtt-keygen: key file k.key: already exists (use -f to replace it)"
	cmp k.key before || fail "the key was replaced"
	no_output
}

@test "#2 smqtt-keygen: a key file in a missing directory (4)" {
	run --separate-stderr smqtt-keygen -k nodir/k.key
	expect 4
	said "smqtt-keygen: key file nodir/k.key: No such file or directory"
	no_output
}

@test "#3 smqtt-keygen: an empty passphrase file (3)" {
	: > empty.pass
	run --separate-stderr smqtt-keygen --passfile empty.pass -k k.key
	expect 3
	said "smqtt-keygen: passphrase from empty.pass: empty"
	[ ! -e k.key ] || fail "a key was written"
	no_output
}

@test "#4 smqtt-keygen: an unknown key type (2)" {
	run --separate-stderr smqtt-keygen --type rsa -k k.key
	expect 2
	said "smqtt-keygen: --type rsa: unknown key type (p256, p384 or ed25519)"
	[ ! -e k.key ] || fail "a key was written"
}

# ---- smqtt-sign ----

# sign_around: sign ABC's two records (records) around the file bad.
sign_around() {
	meter_records 2 ABC > records
	around records bad > input
	run --separate-stderr smqtt-sign -k "$S/pki/ABC.key" -c "$S/pki/ABC.crt" -S ABC.seq < input
}

# both_signed: stdout is ABC's two records as frames 1 and 2, and they verify.
both_signed() {
	local want
	want=$(printf 'smqtt1 ABC %s %s\n' 1 "$(sed -n 1p records)" 2 "$(sed -n 2p records)")
	[ "$(printf '%s\n' "$output" | cut -d ' ' -f 1-3,5-)" = "$want" ] || fail "stdout: $output"
	printf '%s\n' "$output" | smqtt-verify -c "$S/pki/ABC.crt" > /dev/null || fail "the frames do not verify"
}

@test "#5 smqtt-sign: a NUL byte in a record (1)" {
	printf 'ABC,2013-11-02 00:30:00,0,\00061.5\n' > bad
	sign_around
	expect 1
	said "smqtt-sign: stdin: line 2: contains a NUL byte; skipped"
	both_signed
}

@test "#6 smqtt-sign: a CR byte inside a record (1)" {
	printf 'ABC,2013-11-02 00:30:00,0,\r61.5\n' > bad
	sign_around
	expect 1
	said "smqtt-sign: stdin: line 2: contains a CR byte; skipped"
	both_signed
}

@test "#7 smqtt-sign: a record longer than 4096 bytes (1)" {
	printf 'ABC,%s\n' "$(head -c 5000 /dev/zero | tr '\0' 7)" > bad
	sign_around
	expect 1
	said "smqtt-sign: stdin: line 2: longer than 4096 bytes; skipped"
	both_signed
}

@test "#8 smqtt-sign: empty input (0)" {
	run --separate-stderr smqtt-sign -k "$S/pki/ABC.key" -c "$S/pki/ABC.crt" -S ABC.seq < /dev/null
	expect 0
	[ -z "$stderr" ] || fail "stderr: $stderr"
	no_output
}

@test "#9 smqtt-sign: a missing key file (3)" {
	echo 'ABC,1' > input
	run --separate-stderr smqtt-sign -k nope.key -i ABC < input
	expect 3
	said "smqtt-sign: private key nope.key: No such file or directory"
	[ ! -e nope.key.seq ] || fail "a state file was made"
	no_output
}

@test "#10 smqtt-sign: a key file that is a directory (3)" {
	mkdir d.key
	echo 'ABC,1' > input
	run --separate-stderr smqtt-sign -k d.key -i ABC < input
	expect 3
	said "smqtt-sign: private key d.key: Is a directory"
	no_output
}

@test "#11 smqtt-sign: a world-readable key file (3)" {
	cp "$S/pki/ABC.key" open.key
	chmod 644 open.key
	echo 'ABC,1' > input
	run --separate-stderr smqtt-sign -k open.key -i ABC < input
	expect 3
	said "smqtt-sign: private key open.key: accessible by group or others (mode 0644); run chmod 600 open.key"
	no_output
}

# bats test_tags=unprivileged
@test "#12 smqtt-sign: an unreadable key file (3)" {
	# A directory anyone may enter, holding a key file nobody but its owner may read.
	OPEN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/smqtt-bad-input.XXXXXX")
	chmod 755 "$OPEN_DIR"
	cp "$S/pki/ABC.key" "$OPEN_DIR/locked.key"
	chmod 000 "$OPEN_DIR/locked.key"
	echo 'ABC,1' > input
	run --separate-stderr as_unprivileged env XDG_CONFIG_HOME="$OPEN_DIR/xdg" \
		smqtt-sign -k "$OPEN_DIR/locked.key" -i ABC -S "$OPEN_DIR/s.seq" < input
	expect 3
	said "smqtt-sign: private key $OPEN_DIR/locked.key: Permission denied"
	[ ! -e "$OPEN_DIR/s.seq" ] || fail "a state file was made"
	no_output
}

@test "#13 smqtt-sign: an RSA key, a type smqtt does not sign with (3)" {
	echo 'RSA,1' > input
	run --separate-stderr smqtt-sign -k "$S/rsa.key" -i RSA -S rsa.seq < input
	expect 3
	said "smqtt-sign: private key $S/rsa.key: unsupported key type (use p256, p384 or ed25519)"
	[ ! -e rsa.seq ] || fail "a state file was made"
	no_output
}

@test "#14 smqtt-sign: an encrypted key without its passphrase (3)" {
	echo s3cret > pass
	smqtt-keygen --passfile pass -k sealed.key > /dev/null
	echo 'ABC,1' > input
	run --separate-stderr smqtt-sign -k sealed.key -i ABC < input
	expect 3
	said "smqtt-sign: private key sealed.key: encrypted; give the passphrase with --passfile, --passenv or --passfd"
	no_output
}

@test "#15 smqtt-sign: an encrypted key with the wrong passphrase (3)" {
	echo s3cret > pass
	smqtt-keygen --passfile pass -k sealed.key > /dev/null
	echo wrong > wrong.pass
	echo 'ABC,1' > input
	run --separate-stderr smqtt-sign -k sealed.key --passfile wrong.pass -i ABC < input
	expect 3
	said "smqtt-sign: private key sealed.key: wrong passphrase or damaged key"
	no_output
}

@test "#16 smqtt-sign: the certificate of another key (3)" {
	echo 'ABC,1' > input
	run --separate-stderr smqtt-sign -k "$S/pki/DEF.key" -c "$S/pki/ABC.crt" -S s.seq < input
	expect 3
	said "smqtt-sign: certificate $S/pki/ABC.crt: does not match the private key"
	no_output
}

@test "#17 smqtt-sign: a device id holding ESC and a byte that is not UTF-8 (2)" {
	echo 'ABC,1' > input
	run --separate-stderr smqtt-sign -k "$S/pki/ABC.key" -i $'AB\033[2J\xff' -S s.seq < input
	expect 2
	said 'smqtt-sign: -i AB\033[2J\377: invalid device id (1-64 of A-Z a-z 0-9 . _ -)'
	no_raw_bytes
	no_output
}

@test "#18 smqtt-sign: a damaged state file is refused, not guessed (3)" {
	echo 'twelve' > s.seq
	cp s.seq before
	echo 'ABC,1' > input
	run --separate-stderr smqtt-sign -k "$S/pki/ABC.key" -i ABC -S s.seq < input
	expect 3
	said "smqtt-sign: state file s.seq: damaged (expected the next sequence number); refusing to guess"
	cmp s.seq before || fail "the state file was changed"
	no_output
}

@test "#19 smqtt-sign: a state file that is a directory (3)" {
	mkdir s.seq
	echo 'ABC,1' > input
	run --separate-stderr smqtt-sign -k "$S/pki/ABC.key" -i ABC -S s.seq < input
	expect 3
	said "smqtt-sign: state file s.seq: Is a directory"
	no_output
}

@test "#20 smqtt-sign: a configuration with a type error names FILE:LINE (3)" {
	printf 'device:\n  id: ABC\n  key: [a.key, b.key]\n' > bad.yaml
	echo 'ABC,1' > input
	run --separate-stderr smqtt-sign --config bad.yaml < input
	expect 3
	said "smqtt-sign: bad.yaml:3: key device.key: expected a file name"
	no_output
}

@test "#21 smqtt-sign: stdout on a full disk (4)" {
	[ -w /dev/full ] || fail "no /dev/full"
	meter_records 3 ABC > input
	run --separate-stderr sh -c 'smqtt-sign -k "$1" -c "$2" -S s.seq < input > /dev/full' sh \
		"$S/pki/ABC.key" "$S/pki/ABC.crt"
	expect 4
	said "smqtt-sign: writing stdout: No space left on device"
}

# ---- smqtt-verify ----

# verify_around: verify ABC's frames in good around the file bad.
verify_around() {
	run --separate-stderr smqtt-verify -c "$S/pki/ABC.crt" < <(around good bad)
}

# three_frames: good holds ABC's frames 1 and 2, third its frame 3 to make bad ones of.
three_frames() {
	signed ABC 3 > three
	sed -n 1,2p three > good
	sed -n 3p three > third
}

@test "#22 smqtt-verify: a line that is not a frame (1)" {
	three_frames
	echo 'ABC,2013-11-02 00:30:00,0,61.5' > bad
	verify_around
	expect 1
	said "smqtt-verify: line 2: malformed frame: not an smqtt1 frame" "smqtt-verify: 2 verified, 1 rejected"
	stdout_is good
}

@test "#23 smqtt-verify: a NUL byte in a frame (1)" {
	three_frames
	sed 's/,\([^,]*\)$/,X\1/' third | tr X '\0' > bad
	verify_around
	expect 1
	said "smqtt-verify: line 2: malformed frame: frame contains CR, LF or NUL"
	stdout_is good
}

@test "#24 smqtt-verify: invalid UTF-8 in a device id (1)" {
	three_frames
	sed 's/^smqtt1 ABC /smqtt1 AB\xff\xfe /' third > bad
	verify_around
	expect 1
	said "smqtt-verify: line 2: malformed frame: invalid device id"
	no_raw_bytes
	stdout_is good
}

@test "#25 smqtt-verify: a truncated base64 signature (1)" {
	three_frames
	awk '{ $4 = substr($4, 1, length($4) - 3); print }' third > bad
	verify_around
	expect 1
	said "smqtt-verify: line 2: malformed frame: invalid signature encoding"
	stdout_is good
}

@test "#26 smqtt-verify: a frame longer than a frame can be (1)" {
	three_frames
	printf 'smqtt1 ABC 3 %s ABC,%s\n' "$(cut -d ' ' -f 4 third)" "$(head -c 5000 /dev/zero | tr '\0' 7)" > bad
	verify_around
	expect 1
	said "smqtt-verify: line 2: malformed frame: frame too long"
	stdout_is good
}

@test "#27 smqtt-verify: an altered record (1)" {
	three_frames
	sed 's/,[^,]*$/,99999.9/' third > bad
	verify_around
	expect 1
	said "smqtt-verify: line 2: device ABC seq 3: bad signature"
	stdout_is good
}

@test "#28 smqtt-verify: a frame of an unknown device (1)" {
	three_frames
	signed DEF 1 > bad
	verify_around
	expect 1
	said "smqtt-verify: line 2: device DEF seq 1: unknown device"
	stdout_is good
}

@test "#29 smqtt-verify: a replayed frame (1)" {
	three_frames
	# ABC's key signed another record under number 1 (a second state file): a frame it
	# signed, but not the one accepted as number 1, so not a duplicate of it.
	echo 'ABC,2013-11-02 00:00:00,0,99.0' | smqtt-sign -k "$S/pki/ABC.key" -c "$S/pki/ABC.crt" -S again.seq > replayed
	{ sed -n 1,2p three; cat replayed; sed -n 3p three; } > input
	run --separate-stderr smqtt-verify -c "$S/pki/ABC.crt" < input
	expect 1
	said "smqtt-verify: line 3: device ABC seq 1: replay: seq already accepted (last accepted seq 2)" \
		"smqtt-verify: 3 verified, 1 rejected"
	stdout_is three
}

@test "#30 smqtt-verify: a frame with a CRLF line ending (1)" {
	three_frames
	sed 's/$/\r/' third > bad
	verify_around
	expect 1
	said "smqtt-verify: line 2: malformed frame: frame contains CR, LF or NUL"
	stdout_is good
}

@test "#31 smqtt-verify: empty input (0)" {
	run --separate-stderr smqtt-verify -c "$S/pki/ABC.crt" < /dev/null
	expect 0
	[ -z "$stderr" ] || fail "stderr: $stderr"
	no_output
}

@test "#32 smqtt-verify: frames of a device whose key has expired (registry) (1)" {
	cp "$S/reg.db" reg.db
	# DEF's key is past its validity, as if its certificate had run out meanwhile.
	sqlite3 reg.db "update keys set not_after = strftime('%s', 'now') - 60 where device = 'DEF'"
	signed ABC 2 > good
	signed DEF 1 > bad
	run --separate-stderr smqtt-verify -R reg.db < <(around good bad)
	expect 1
	said "smqtt-verify: line 2: device DEF seq 1: expired certificate"
	stdout_is good
	[ "$(sqlite3 reg.db "select last_seq from devices where id = 'DEF'")" = 0 ] || fail "DEF's frame was taken"
}

@test "#33 smqtt-verify: frames of a revoked device (registry) (1)" {
	cp "$S/reg.db" reg.db
	smqtt-register -R reg.db revoke DEF --reason keyCompromise
	signed ABC 2 > good
	signed DEF 1 > bad
	run --separate-stderr smqtt-verify -R reg.db < <(around good bad)
	expect 1
	said "smqtt-verify: line 2: device DEF seq 1: revoked device"
	stdout_is good
	[ "$(sqlite3 reg.db "select last_seq from devices where id = 'DEF'")" = 0 ] || fail "DEF's frame was taken"
}

@test "#34 smqtt-verify: a registry holding a damaged public key (3)" {
	cp "$S/reg.db" reg.db
	sqlite3 reg.db "update keys set public_point = x'04' where device = 'DEF'"
	signed DEF 1 > input
	run --separate-stderr smqtt-verify -R reg.db < input
	expect 3
	said "smqtt-verify: registry reg.db: device DEF: damaged public key"
	no_output
	[ "$(sqlite3 reg.db "select last_seq from devices where id = 'DEF'")" = 0 ] || fail "DEF's frame was taken"
}

@test "#35 smqtt-verify: frames of many unknown devices through a small cache (1)" {
	cp "$S/reg.db" reg.db
	signed ABC 2 > good
	for i in 1 2 3 4 5 6; do
		echo "XYZ$i,1" | smqtt-sign -k "$S/pki/DEF.key" -i "XYZ$i" -S xyz.seq
	done > bad
	run --separate-stderr smqtt-verify -R reg.db --cache 2 < <(around good bad)
	expect 1
	said "smqtt-verify: line 2: device XYZ1 seq 1: unknown device" \
		"smqtt-verify: line 7: device XYZ6 seq 6: unknown device" "smqtt-verify: 2 verified, 6 rejected"
	stdout_is good
	[ "$(sqlite3 reg.db "select last_seq from devices where id = 'ABC'")" = 2 ] || fail "ABC's replay state was lost"
}

@test "#36 smqtt-verify: a missing trust file (3)" {
	signed ABC 1 > input
	run --separate-stderr smqtt-verify -c nope.crt < input
	expect 3
	said "smqtt-verify: trust file nope.crt: No such file or directory"
	no_output
}

@test "#37 smqtt-verify: a trust file that is a directory (3)" {
	mkdir d.crt
	signed ABC 1 > input
	run --separate-stderr smqtt-verify -c d.crt < input
	expect 3
	said "smqtt-verify: trust file d.crt: Is a directory"
	no_output
}

@test "#38 smqtt-verify: an RSA certificate as trust file (3)" {
	signed ABC 1 > input
	run --separate-stderr smqtt-verify -c "$S/rsa.crt" < input
	expect 3
	said "smqtt-verify: trust file $S/rsa.crt: unsupported key type (use p256, p384 or ed25519)"
	no_output
}

@test "#39 smqtt-verify: a private key as trust file (3)" {
	signed ABC 1 > input
	run --separate-stderr smqtt-verify --pubkey ABC="$S/pki/ABC.key" < input
	expect 3
	said "smqtt-verify: trust file $S/pki/ABC.key: holds a PRIVATE KEY, not a certificate or public key"
	no_output
}

@test "#40 smqtt-verify: a database of smqtt-store as registry (3)" {
	signed ABC 2 > good
	smqtt-store -d store.db < good 2> /dev/null
	cp store.db before
	run --separate-stderr smqtt-verify -R store.db < good
	expect 3
	said "smqtt-verify: registry store.db: not an smqtt registry (create one with smqtt-register init)"
	cmp store.db before || fail "the database was changed"
	[ ! -e store.db-wal ] && [ ! -e store.db-shm ] || fail "files left: $(ls)"
	no_output
}

@test "#41 smqtt-verify: a registry that is a directory (3)" {
	mkdir reg.db
	signed ABC 1 > input
	run --separate-stderr smqtt-verify -R reg.db < input
	expect 3
	said "smqtt-verify: registry reg.db: Is a directory"
	no_output
}

@test "#42 smqtt-verify: --pubkey with a device id holding ESC and BEL (2)" {
	signed ABC 1 > input
	run --separate-stderr smqtt-verify --pubkey $'A\033]0;owned\a'="$S/pki/ABC.crt" < input
	expect 2
	said 'smqtt-verify: A\033]0;owned\007: invalid device id (1-64 of A-Z a-z 0-9 . _ -)'
	no_raw_bytes
	no_output
}

@test "#43 smqtt-verify: a configuration with a type error names FILE:LINE (3)" {
	printf 'verify:\n  cert: %s\n' "$S/pki/ABC.crt" > bad.yaml
	signed ABC 1 > input
	run --separate-stderr smqtt-verify --config bad.yaml < input
	expect 3
	said "smqtt-verify: bad.yaml:2: key verify.cert: expected a list of file names"
	no_output
}

# ---- smqtt-store ----

# store_around: store the frames of good around the file bad in db.
store_around() {
	run --separate-stderr smqtt-store -d db < <(around good bad)
}

# both_stored: db holds the frames of good, as they were signed, and nothing else.
both_stored() {
	[ "$(sqlite3 db 'select frame from readings order by seq')" = "$(cat good)" ] ||
		fail "stored: $(sqlite3 db 'select device, seq, frame from readings')"
}

# bad_record RECORD: good holds ABC's frames 1 and 3, bad its frame 2 of RECORD:
# frames that verify, and one whose record the store's schema does not take.
bad_record() {
	meter_records 2 ABC > records
	around records <(printf '%s\n' "$1") | smqtt-sign -k "$S/pki/ABC.key" -c "$S/pki/ABC.crt" -S ABC.seq > three
	sed -n '1p;3p' three > good
	sed -n 2p three > bad
}

@test "#44 smqtt-store: a line that is not a frame (1)" {
	signed ABC 2 > good
	echo 'ABC,2013-11-02 00:30:00,0,61.5' > bad
	store_around
	expect 1
	said "smqtt-store: line 2: malformed frame: not an smqtt1 frame" \
		"smqtt-store: 2 stored, 0 duplicates, 1 rejected, 0 gaps (0 frames missing)"
	both_stored
}

@test "#45 smqtt-store: a record field of the wrong type (1)" {
	bad_record 'ABC,2013-11-02 00:30:00,0,lots'
	store_around
	expect 1
	said 'smqtt-store: line 2: device ABC seq 2: record: field 4 (value): not a real number: "lots"'
	both_stored
}

@test "#46 smqtt-store: a record field holding ESC is reported escaped (1)" {
	bad_record $'ABC,2013-11-02 00:30:00,\033[2J,61.5'
	store_around
	expect 1
	said 'smqtt-store: line 2: device ABC seq 2: record: field 3 (channel): not an integer: "\033[2J"'
	no_raw_bytes
	both_stored
}

@test "#47 smqtt-store: a record with too many fields (1)" {
	bad_record 'ABC,2013-11-02 00:30:00,0,61.5,extra'
	store_around
	expect 1
	said "smqtt-store: line 2: device ABC seq 2: record: more than 4 fields"
	both_stored
}

@test "#48 smqtt-store: a record with an unterminated quote (1)" {
	bad_record 'ABC,"2013-11-02 00:30:00,0,61.5'
	store_around
	expect 1
	said "smqtt-store: line 2: device ABC seq 2: record: field 2: unterminated quote"
	both_stored
}

@test "#49 smqtt-store: a frame longer than a frame can be (1)" {
	signed ABC 2 > good
	printf 'smqtt1 ABC 9 %s ABC,%s\n' "$(sed -n 1p good | cut -d ' ' -f 4)" \
		"$(head -c 5000 /dev/zero | tr '\0' 7)" > bad
	store_around
	expect 1
	said "smqtt-store: line 2: malformed frame: frame too long"
	both_stored
}

@test "#50 smqtt-store: a file that is not an SQLite database is left as it was (3)" {
	signed ABC 2 > good
	printf 'meter readings, kept by hand\n' > db
	cp db before
	run --separate-stderr smqtt-store -d db < good
	expect 3
	said "smqtt-store: database db: not an SQLite database"
	cmp db before || fail "the file was changed"
	[ ! -e db-wal ] && [ ! -e db-shm ] && [ ! -e db-journal ] || fail "files left: $(ls)"
}

@test "#51 smqtt-store: a database that is a directory (3)" {
	signed ABC 2 > good
	mkdir db
	run --separate-stderr smqtt-store -d db < good
	expect 3
	said "smqtt-store: database db: Is a directory"
	[ -z "$(ls db)" ] || fail "files made in the directory: $(ls db)"
}

@test "#52 smqtt-store: a registry given as database is left as it was (3)" {
	signed ABC 2 > good
	cp "$S/reg.db" reg.db
	cp reg.db before
	run --separate-stderr smqtt-store -d reg.db < good
	expect 3
	said "smqtt-store: database reg.db: not a database of smqtt-store (it has other tables)"
	cmp reg.db before || fail "the registry was changed"
	[ ! -e reg.db-wal ] && [ ! -e reg.db-shm ] || fail "files left: $(ls)"
	smqtt-register -R reg.db list > /dev/null || fail "the registry no longer works"
}

@test "#53 smqtt-store: a database created with other columns (3)" {
	signed ABC 2 > good
	smqtt-store -d db -s reading:text < /dev/null 2> /dev/null
	run --separate-stderr smqtt-store -d db < good
	expect 3
	said 'smqtt-store: database db: created with columns "reading:text", not "meter:device,time:text,channel:integer,value:real"'
	[ "$(sqlite3 db 'select count(*) from readings')" = 0 ] || fail "rows were stored"
}

@test "#54 smqtt-store: an invalid -s schema (2)" {
	signed ABC 2 > good
	run --separate-stderr smqtt-store -d db -s 'meter:text,value:float' < good
	expect 2
	said 'smqtt-store: -s meter:text,value:float: column 2 (value): unknown type "float" (text, integer, real or device)'
	[ ! -e db ] || fail "a database was made"
}

@test "#55 smqtt-store: a configuration with a type error names FILE:LINE (3)" {
	printf 'store:\n  db: readings.db\n  batch: many\n' > bad.yaml
	signed ABC 2 > good
	run --separate-stderr smqtt-store --config bad.yaml < good
	expect 3
	said "smqtt-store: bad.yaml:3: key store.batch: expected an integer 1..1000000"
	[ ! -e readings.db ] || fail "a database was made"
}

@test "#56 smqtt-store: empty input (0)" {
	run --separate-stderr smqtt-store -d db < /dev/null
	expect 0
	said "smqtt-store: 0 stored, 0 duplicates, 0 rejected, 0 gaps (0 frames missing)"
	[ "$(sqlite3 db 'select count(*) from readings')" = 0 ] || fail "rows were stored"
}

# ---- smqtt-issue ----

# issue_around: issue the devices AAA, the file bad and CCC, in out/, from a copy of the CA.
issue_around() {
	cp -rp "$S/ca" ca
	printf '%s\n' AAA CCC > good
	run --separate-stderr smqtt-issue device --ca-dir ca -o out < <(around good bad)
}

# both_issued: AAA and CCC were issued, and nothing else was.
both_issued() {
	[ "$(printf '%s\n' "$output" | cut -d ' ' -f 1 | tr '\n' ' ')" = "AAA CCC " ] || fail "stdout: $output"
	[ "$(cd out && ls | tr '\n' ' ')" = "AAA.crt AAA.key CCC.crt CCC.key " ] || fail "files: $(ls out)"
}

@test "#57 smqtt-issue: an invalid device id holding ESC is reported escaped (1)" {
	printf 'BB\033[2J\n' > bad
	issue_around
	expect 1
	said 'smqtt-issue: stdin: line 2: device BB\033[2J: invalid device id (1-64 of A-Z a-z 0-9 . _ -)' \
		"smqtt-issue: 2 issued, 0 already issued, 1 rejected"
	no_raw_bytes
	both_issued
}

@test "#58 smqtt-issue: a NUL byte in a device line (1)" {
	printf 'BBB\0junk\n' > bad
	issue_around
	expect 1
	said "smqtt-issue: stdin: line 2: contains a NUL byte; skipped"
	both_issued
}

@test "#59 smqtt-issue: a duplicate device id (1)" {
	echo 'AAA site=north' > bad
	cp -rp "$S/ca" ca
	printf '%s\n' AAA CCC > good
	run --separate-stderr smqtt-issue device --ca-dir ca -o out < <(cat good bad)
	expect 1
	said "smqtt-issue: stdin: line 3: device AAA: duplicate of line 1"
	both_issued
	[[ $output != *site=north* ]] || fail "the duplicate was described: $output"
}

@test "#60 smqtt-issue: pubkey= of an RSA key, a type smqtt does not sign with (1)" {
	echo "BBB pubkey=$S/rsa.pub" > bad
	issue_around
	expect 1
	said "smqtt-issue: stdin: line 2: device BBB: $S/rsa.pub: unsupported key type (use p256, p384 or ed25519)"
	both_issued
}

@test "#61 smqtt-issue: a missing CA directory (3)" {
	echo AAA > input
	run --separate-stderr smqtt-issue device --ca-dir nope -o out < input
	expect 3
	said "smqtt-issue: certificate nope/ca.crt: No such file or directory"
	[ ! -e out ] || fail "output made: $(ls out)"
	no_output
}

@test "#62 smqtt-issue: a manifest with a type error names FILE:LINE (3)" {
	cp -rp "$S/ca" ca
	printf 'devices:\n  - id: AAA\n  - id: [BBB]\n' > fleet.yaml
	run --separate-stderr smqtt-issue device --ca-dir ca -o out --manifest fleet.yaml
	expect 3
	said "smqtt-issue: fleet.yaml:3:"
	[ -z "$(ls out 2> /dev/null)" ] || fail "files: $(ls out)"
	no_output
}

@test "#63 smqtt-issue: a CRL line that is not a serial (1)" {
	cp -rp "$S/ca" ca
	printf '01AB\n\033[2J\n02CD\n' > input
	run --separate-stderr smqtt-issue crl --ca-dir ca < input
	expect 1
	said 'smqtt-issue: stdin: line 2: \033[2J: not a serial number (hex) or device=ID' \
		"smqtt-issue: no CRL written: 1 of 3 lines rejected; fix or remove them"
	no_raw_bytes
	# A CRL without line 2 would un-revoke what it named: none is written.
	no_output
	# The good lines around it make a CRL once the bad one is gone.
	grep -v '^.\[' input | smqtt-issue crl --ca-dir ca > crl.pem
	[ "$(openssl crl -in crl.pem -noout -text | grep -c 'Serial Number:')" = 2 ] || fail "CRL: $(cat crl.pem)"
}

# ---- smqtt-register ----

# register_around: add ABC's issue line, the file bad and DEF's issue line to a new registry.
register_around() {
	smqtt-register -R reg.db init --ca "$S/ca/ca.crt"
	grep -E '^(ABC|DEF) ' "$S/issued" > good
	run --separate-stderr smqtt-register -R reg.db add < <(around good bad)
}

# both_registered: ABC and DEF were added, and nothing else was.
both_registered() {
	[ "$(smqtt-register -R reg.db list | cut -d ' ' -f 1,2 | tr '\n' ' ')" = "ABC active DEF active " ] ||
		fail "registry: $(smqtt-register -R reg.db list)"
	[ "$(sqlite3 reg.db 'select count(*) from keys')" = 2 ] || fail "keys: $(sqlite3 reg.db 'select device from keys')"
}

@test "#64 smqtt-register: a certificate from another CA (1)" {
	issue_line GHI "$S/other/GHI.crt" > bad
	register_around
	expect 1
	said "smqtt-register: stdin: line 2: device GHI: not issued by the registry's CA" \
		"smqtt-register: 2 added, 0 already registered, 1 rejected, 0 keys retired"
	both_registered
}

@test "#65 smqtt-register: an expired certificate (1)" {
	odd_cert old GHI "$(utc_offset -172800)" "$(utc_offset -86400)" "$DEVICE_EXTENSIONS" "$S/ca"
	issue_line GHI old.crt > bad
	register_around
	expect 1
	said "smqtt-register: stdin: line 2: device GHI: certificate has expired"
	both_registered
}

@test "#66 smqtt-register: a certificate without the clientAuth extended key usage (1)" {
	odd_cert srv GHI "$(utc_offset -60)" "$(utc_offset 86400)" "${DEVICE_EXTENSIONS/clientAuth/serverAuth}" "$S/ca"
	issue_line GHI srv.crt > bad
	register_around
	expect 1
	said "smqtt-register: stdin: line 2: device GHI: no clientAuth extended key usage"
	both_registered
}

@test "#67 smqtt-register: cert= naming a missing file (1)" {
	echo 'GHI cert=nope.crt' > bad
	register_around
	expect 1
	said "smqtt-register: stdin: line 2: device GHI: cert nope.crt: No such file or directory"
	both_registered
}

@test "#68 smqtt-register: cert= naming a directory (1)" {
	mkdir d.crt
	echo 'GHI cert=d.crt' > bad
	register_around
	expect 1
	said "smqtt-register: stdin: line 2: device GHI: cert d.crt: Is a directory"
	both_registered
}

@test "#69 smqtt-register: a truncated PEM certificate (1)" {
	smqtt-register -R reg.db init --ca "$S/ca/ca.crt"
	cat "$S/pki/ABC.crt" "$S/pki/DEF.crt" > good
	head -n 4 "$S/other/GHI.crt" > bad
	run --separate-stderr smqtt-register -R reg.db add < <(cat good bad)
	expect 1
	said "smqtt-register: stdin: certificate 3 (line $(($(wc -l < good) + 1))): no END line"
	both_registered
}

@test "#70 smqtt-register: an invalid device id holding ESC is reported escaped (1)" {
	printf 'G\033[2JI cert=x.crt\n' > bad
	register_around
	expect 1
	said 'smqtt-register: stdin: line 2: G\033[2JI: invalid device id (1-64 of A-Z a-z 0-9 . _ -)'
	no_raw_bytes
	both_registered
}

@test "#71 smqtt-register: a device certificate given to init as the CA (3)" {
	run --separate-stderr smqtt-register -R reg.db init --ca "$S/pki/ABC.crt"
	expect 3
	said "smqtt-register: certificate $S/pki/ABC.crt: not a CA certificate"
	[ ! -e reg.db ] || fail "a registry was made"
}

@test "#72 smqtt-register: a registry that is a directory (3)" {
	mkdir reg.db
	run --separate-stderr smqtt-register -R reg.db add < "$S/issued"
	expect 3
	said "smqtt-register: registry reg.db: Is a directory"
	[ -z "$(ls reg.db)" ] || fail "files made in the directory: $(ls reg.db)"
}

@test "#73 smqtt-register: an invalid attribute (2)" {
	cp "$S/reg.db" reg.db
	run --separate-stderr smqtt-register -R reg.db set ABC site=north $'owner=\033[2J'
	expect 2
	said 'smqtt-register: owner=\033[2J: attribute values are 1-256 printable ASCII characters without spaces'
	no_raw_bytes
	[ -z "$(sqlite3 reg.db 'select * from attributes')" ] || fail "attributes were set"
}

# ---- smqtt-pub ----

@test "#74 smqtt-pub: a broker that is down (4)" {
	pki_setup pki ABC
	signed ABC 2 > good
	port=$(free_port)
	start=$SECONDS
	run --separate-stderr smqtt-pub -p "$port" --retry-for 1 --cafile pki/ca.crt --cert pki/ABC.crt \
		--key pki/ABC.key < good
	expect 4
	said "smqtt-pub: broker localhost:$port: cannot connect: Connection refused; retrying for up to 1 s" \
		"smqtt-pub: broker localhost:$port: giving up after 1 s: Connection refused"
	no_output
	((SECONDS - start < 10)) || fail "took $((SECONDS - start)) s"
}

# broker_certificate NAME ARG...: restart the broker with a certificate for NAME
# from its CA (smqtt-issue server ARG... NAME).
broker_certificate() {
	local name=$1
	shift
	smqtt-issue server --ca-dir "$PKI/ca" -o "$PKI/elsewhere" "$@" "$name" > /dev/null || return 1
	broker_stop
	sed -i "s|^certfile .*|certfile $PKI/elsewhere/$name.crt|; s|^keyfile .*|keyfile $PKI/elsewhere/$name.key|" \
		"$BROKER_DIR/mosquitto.conf"
	broker_start
}

@test "#75 smqtt-pub: a broker certificate for another host name (3)" {
	broker_setup ABC
	broker_certificate elsewhere.example --dns elsewhere.example
	signed ABC 2 > good
	run --separate-stderr pub_as ABC < good
	expect 3
	said "smqtt-pub: broker localhost:$BROKER_PORT: TLS handshake failed: the broker's certificate is not valid for localhost (--insecure skips this check)"
	no_output
}

@test "#76 smqtt-pub: a broker certificate for another IP address (3)" {
	broker_setup ABC
	broker_certificate elsewhere.example --dns elsewhere.example --ip 192.0.2.1
	signed ABC 2 > good
	run --separate-stderr pub_as ABC -h 127.0.0.1 < good
	expect 3
	said "smqtt-pub: broker 127.0.0.1:$BROKER_PORT: TLS handshake failed: the broker's certificate is not valid for 127.0.0.1 (--insecure skips this check)"
	no_output
}

@test "#77 smqtt-pub: --cafile of another CA (3)" {
	broker_setup ABC
	signed ABC 2 > good
	run --separate-stderr smqtt-pub -p "$BROKER_PORT" --cafile "$S/other-ca/ca.crt" --cert "$PKI/ABC.crt" \
		--key "$PKI/ABC.key" < good
	expect 3
	said "smqtt-pub: broker localhost:$BROKER_PORT: TLS handshake failed: certificate verify failed: self-signed certificate in certificate chain (--cafile $S/other-ca/ca.crt)"
	no_output
}

@test "#78 smqtt-pub: a client certificate from another CA (3)" {
	broker_setup ABC
	signed ABC 2 > good
	run --separate-stderr smqtt-pub -p "$BROKER_PORT" --cafile "$PKI/ca.crt" --cert "$S/other/GHI.crt" \
		--key "$S/other/GHI.key" < good
	expect 3
	said "smqtt-pub: broker localhost:$BROKER_PORT: TLS handshake failed: the broker refused the client certificate: unknown CA (--cert $S/other/GHI.crt)"
	no_output
}

@test "#79 smqtt-pub: an expired client certificate (3)" {
	broker_setup ABC
	odd_cert old ABC "$(utc_offset -172800)" "$(utc_offset -86400)" "$DEVICE_EXTENSIONS" "$PKI/ca"
	signed ABC 2 > good
	run --separate-stderr smqtt-pub -p "$BROKER_PORT" --cafile "$PKI/ca.crt" --cert old.crt --key old.key < good
	expect 3
	said "smqtt-pub: warning: --cert old.crt: has expired; the broker will probably refuse it" \
		"smqtt-pub: broker localhost:$BROKER_PORT: TLS handshake failed: the broker refused the client certificate: certificate expired (--cert old.crt)"
	no_output
}

@test "#80 smqtt-pub: a client certificate without the clientAuth extended key usage (3)" {
	broker_setup ABC
	odd_cert srv ABC "$(utc_offset -60)" "$(utc_offset 86400)" "${DEVICE_EXTENSIONS/clientAuth/serverAuth}" "$PKI/ca"
	signed ABC 2 > good
	run --separate-stderr smqtt-pub -p "$BROKER_PORT" --cafile "$PKI/ca.crt" --cert srv.crt --key srv.key < good
	expect 3
	said "smqtt-pub: broker localhost:$BROKER_PORT: TLS handshake failed: the broker refused the client certificate: unsupported certificate (--cert srv.crt)"
	no_output
}

@test "#81 smqtt-pub: a line that is not a frame (1)" {
	broker_setup ABC
	signed ABC 2 > good
	echo 'ABC,2013-11-02 00:30:00,0,61.5' > bad
	# A subscriber sees what reached the broker: the first two messages must be the good frames.
	before=$(subscriptions collector)
	tls_args collector
	smqtt-sub "${TLS_ARGS[@]}" -t 'smqtt/+/frames' -C 2 -W 30 > received 2> sub.err 3>&- &
	sub=$!
	track "$sub"
	wait_for "the subscription" "[ \"\$(subscriptions collector)\" -gt $before ]"
	run --separate-stderr pub_as ABC < <(around good bad)
	expect 1
	said "smqtt-pub: line 2: malformed frame: not an smqtt1 frame; not published" \
		"smqtt-pub: 2 delivered, 0 refused, 1 malformed, 0 not acknowledged"
	stdout_is good
	wait "$sub" || fail "smqtt-sub: status $?: $(cat sub.err)"
	cmp received good || fail "the broker got: $(cat received)"
}

@test "#82 smqtt-pub: --cert that is a directory (3)" {
	pki_setup pki ABC
	mkdir d.crt
	signed ABC 1 > good
	run --separate-stderr smqtt-pub --cafile pki/ca.crt --cert d.crt --key pki/ABC.key < good
	expect 3
	said "smqtt-pub: --cert d.crt: Is a directory"
	no_output
}

@test "#83 smqtt-pub: a client id that is not UTF-8 (2)" {
	signed ABC 1 > good
	run --separate-stderr smqtt-pub -i $'ABC\xff\033[2J' --no-tls < good
	expect 2
	said 'smqtt-pub: -i ABC\377\033[2J: not a valid client id'
	no_raw_bytes
	no_output
}

@test "#84 smqtt-pub: a configuration with a type error names FILE:LINE (3)" {
	printf 'broker:\n  host: localhost\n  port: "8883"\n' > bad.yaml
	signed ABC 1 > good
	run --separate-stderr smqtt-pub --config bad.yaml -i ABC < good
	expect 3
	said "smqtt-pub: bad.yaml:3: key broker.port: expected an integer 1..65535"
	no_output
}

# ---- smqtt-sub ----

@test "#85 smqtt-sub: a broker that is down (4)" {
	pki_setup pki collector
	port=$(free_port)
	run --separate-stderr smqtt-sub -p "$port" --retry-for 1 -t 'smqtt/+/frames' --cafile pki/ca.crt \
		--cert pki/collector.crt --key pki/collector.key
	expect 4
	said "smqtt-sub: broker localhost:$port: cannot connect: Connection refused; retrying for up to 1 s" \
		"smqtt-sub: broker localhost:$port: giving up after 1 s: Connection refused"
	no_output
}

@test "#86 smqtt-sub: a message holding a NUL byte (1)" {
	command -v mosquitto_pub > /dev/null || fail "mosquitto_pub is not installed (package mosquitto-clients)"
	broker_setup ABC
	signed ABC 2 > good
	before=$(subscriptions collector)
	tls_args collector
	smqtt-sub "${TLS_ARGS[@]}" -t 'smqtt/+/frames' -C 2 -W 30 > out 2> err 3>&- &
	sub=$!
	track "$sub"
	wait_for "the subscription" "[ \"\$(subscriptions collector)\" -gt $before ]"
	tls_args ABC
	mp=(mosquitto_pub "${TLS_ARGS[@]}" -q 1 -t smqtt/ABC/frames)
	printf '%s\0injected' "$(sed -n 2p good)" > nul
	"${mp[@]}" -m "$(sed -n 1p good)"
	"${mp[@]}" -f nul
	"${mp[@]}" -m "$(sed -n 2p good)"
	status=0
	wait "$sub" || status=$?
	[ "$status" -eq 1 ] || fail "status $status: $(cat err)"
	grep -qFx "smqtt-sub: topic smqtt/ABC/frames: message of $(wc -c < nul) bytes contains a NUL byte; skipped" err ||
		fail "stderr: $(cat err)"
	cmp out good || fail "stdout: $(cat out)"
}

@test "#87 smqtt-sub: an invalid topic filter (2)" {
	run --separate-stderr smqtt-sub -i x --no-tls -t 'smqtt/#/frames'
	expect 2
	said "smqtt-sub: -t smqtt/#/frames: not a valid topic filter"
	no_output
}

@test "#88 smqtt-sub: a configuration with a type error names FILE:LINE (3)" {
	printf 'sub:\n  topic: [smqtt/+/frames]\n  qos: 3\n' > bad.yaml
	run --separate-stderr smqtt-sub --config bad.yaml -i x --no-tls
	expect 3
	said "smqtt-sub: bad.yaml:3: key sub.qos: expected an integer 0..2"
	no_output
}

@test "usage: getopt's own message names the program as every other message does, not the path it was run by" {
	run --separate-stderr "$SMQTT_BIN/smqtt-keygen" --no-such-option
	expect 2
	[[ "$stderr" == "smqtt-keygen: unrecognized option '--no-such-option'"* ]] || fail "stderr: $stderr"
}

@test "PEM labels and csr= paths from the input are shown escaped (smqtt-issue crl, device; smqtt-register add)" {
	cp -rp "$S/ca" ca
	printf '%s\n' $'-----BEGIN \033[2J KEY-----' AAAA $'-----END \033[2J KEY-----' > input
	run --separate-stderr smqtt-issue crl --ca-dir ca < input
	expect 1
	said 'smqtt-issue: stdin: line 1: a PEM \033[2J KEY block, not a serial number; skipped'
	no_raw_bytes
	no_output

	printf 'devices:\n  - id: AAA\n    csr: "x\\e[2Jy.csr"\n' > fleet.yaml
	run --separate-stderr smqtt-issue device --ca-dir ca -o out --manifest fleet.yaml
	expect 1
	said 'CSR x\033[2Jy.csr: No such file or directory'
	no_raw_bytes

	printf '%s\n' $'-----BEGIN \033[2J-----' AAAA $'-----END \033[2J-----' > odd.pem
	smqtt-register -R reg.db init --ca ca/ca.crt
	run --separate-stderr smqtt-register -R reg.db add <<< "AAA serial=01 fingerprint=00 cert=odd.pem"
	expect 1
	said 'holds a \033[2J, not a certificate'
	no_raw_bytes
}

@test "control bytes in command-line arguments and file names are shown escaped in every program's messages" {
	local bad=$'a\033[2Jb\nc'
	run --separate-stderr smqtt-encrypt --params params.pem -i A -a "$bad" < /dev/null
	expect 2
	said 'smqtt-encrypt: -a a\033[2Jb\012c: not an attribute (1 to 255 bytes, no control byte)'
	no_raw_bytes
	run --separate-stderr smqtt-pub -p "$bad" < /dev/null
	expect 2
	said 'smqtt-pub: -p a\033[2Jb\012c: not a number'
	no_raw_bytes
	run --separate-stderr smqtt-keygen -t "$bad"
	expect 2
	said 'smqtt-keygen: --type a\033[2Jb\012c: unknown key type (p256, p384 or ed25519)'
	no_raw_bytes
	run --separate-stderr smqtt-sign -k "$bad" -i A < /dev/null
	expect 3
	said 'a\033[2Jb\012c'
	no_raw_bytes
	[ "${#stderr_lines[@]}" -eq 1 ] || fail "more than one line: $stderr"
}

# abe_keys: a key authority (params.pem, master.key), another one
# (other.pem), a CP key billing (role:billing) of the first and stranger of
# the other, all of epoch 2026-12; enc: three records of ABC encrypted for
# role:billing (a capsule and r1 r2 r3).
abe_keys() {
	smqtt-pkg setup -m master.key > params.pem && smqtt-pkg setup -m other.key > other.pem &&
		mkdir -m 700 keys &&
		smqtt-pkg keygen --params params.pem -m master.key -o keys --epoch 2026-12 billing role:billing > /dev/null &&
		smqtt-pkg keygen --params other.pem -m other.key -o keys --epoch 2026-12 stranger role:billing > /dev/null &&
		printf 'r1\nr2\nr3\n' | smqtt-encrypt --params params.pem -i ABC -P role:billing --epoch 2026-12 > enc
}

# verified_as DEVICE < records: signed as DEVICE and verified.
verified_as() {
	smqtt-sign -k "$S/pki/$1.key" -c "$S/pki/$1.crt" -S "$1.seq" | smqtt-verify -c "$S/pki/$1.crt"
}

@test "#89 smqtt-pkg: a policy that does not parse, in a bulk keygen, names the byte (1)" {
	abe_keys
	run --separate-stderr smqtt-pkg keygen --kp --params params.pem -m master.key -o keys --epoch 2026-12 \
		<<< $'a role:x\nb role:x and (feeder:F1 or\nc role:y'
	expect 1
	said "smqtt-pkg: stdin: line 2: b: policy: byte 25: expected an attribute or '(' but the policy ended; no key issued" \
		"smqtt-pkg: 2 keys issued, 1 refused"
	[ -e keys/a.kpkey ] && [ -e keys/c.kpkey ] && [ ! -e keys/b.kpkey ] || fail "keys: $(ls keys)"
	[ "$(printf '%s\n' "$output" | cut -d' ' -f1 | tr '\n' ' ')" = "a c " ] || fail "stdout: $output"
}

@test "#90 smqtt-pkg: an attribute the registry does not hold for the device (1)" {
	abe_keys
	cp "$S/reg.db" reg.db
	smqtt-register -R reg.db set ABC kind=household
	run --separate-stderr smqtt-pkg keygen -R reg.db --params params.pem -m master.key -o keys --epoch 2026-12 \
		ABC kind:household role:admin
	expect 1
	said "smqtt-pkg: ABC: attribute role:admin: not held by ABC in the registry; no key issued"
	[ ! -e keys/ABC.cpkey ] || fail "a key was issued"
	no_output
}

@test "#91 smqtt-pkg: a key for a revoked device (1)" {
	abe_keys
	cp "$S/reg.db" reg.db
	smqtt-register -R reg.db set ABC kind=household
	smqtt-register -R reg.db set DEF kind=household
	smqtt-register -R reg.db revoke DEF --reason keyCompromise 2> /dev/null
	run --separate-stderr smqtt-pkg keygen -R reg.db --params params.pem -m master.key -o keys --epoch 2026-12 <<< $'DEF\nABC'
	expect 1
	said "smqtt-pkg: stdin: line 1: DEF: revoked in the registry reg.db; no key issued"
	[ ! -e keys/DEF.cpkey ] && [ -e keys/ABC.cpkey ] || fail "keys: $(ls keys); $stderr"
	[ "$output" = "ABC key=keys/ABC.cpkey cp kind:household epoch:2026-12" ] || fail "stdout: $output"
}

@test "#92 smqtt-encrypt: a policy that does not parse names the byte (2)" {
	abe_keys
	run --separate-stderr smqtt-encrypt --params params.pem -i ABC -P 'role:billing or (feeder:F12 and' <<< r1
	expect 2
	said "smqtt-encrypt: -P: byte 32: expected an attribute or '(' but the policy ended"
	no_output
}

@test "#93 smqtt-encrypt: a record longer than an encrypted record can hold (1)" {
	abe_keys
	{ echo r1; head -c 3012 /dev/zero | tr '\0' x; echo; echo r2; } > in
	run --separate-stderr smqtt-encrypt --params params.pem -i ABC -P role:billing --epoch 2026-12 < in
	expect 1
	said "smqtt-encrypt: stdin: line 2: longer than the 3011 bytes an encrypted record can hold; not encrypted"
	printf '%s\n' "$output" | verified_as ABC > verified
	run --separate-stderr smqtt-decrypt --params params.pem -k keys/billing.cpkey < verified
	expect 0
	[ "$output" = $'r1\nr2' ] || fail "read: $output"
}

@test "#94 smqtt-decrypt: a key made for other parameters (3)" {
	abe_keys
	verified_as ABC < enc > verified
	run --separate-stderr smqtt-decrypt --params params.pem -k keys/stranger.cpkey < verified
	expect 3
	said "smqtt-decrypt: keys/stranger.cpkey: a key of other parameters than params.pem"
	no_output
}

@test "#95 smqtt-decrypt: a truncated data record (1)" {
	abe_keys
	# The capsule, r1, then r2 cut to 20 base64 characters, then r3.
	awk 'NR == 3 { $NF = substr($NF, 1, 20) } { print }' enc | verified_as ABC > verified
	run --separate-stderr smqtt-decrypt --params params.pem -k keys/billing.cpkey < verified
	expect 1
	said "smqtt-decrypt: stdin: line 3: device ABC seq 3: not canonical base64, or too short; left out" \
		"smqtt-decrypt: 2 records read, 1 left out"
	[ "$output" = $'r1\nr3' ] || fail "read: $output"
}

@test "#96 smqtt-decrypt: an oversized capsule part (1)" {
	abe_keys
	{
		sed -n 1,2p enc
		printf 'abe1 capsule %032d 1/1 %s\n' 0 "$(head -c 2400 /dev/zero | base64 -w 0)"
		sed -n '3,$p' enc
	} | verified_as ABC > verified
	run --separate-stderr smqtt-decrypt --params params.pem -k keys/billing.cpkey < verified
	expect 1
	said "smqtt-decrypt: stdin: line 3: device ABC seq 3: encrypted record: a capsule part longer than 3000 characters; left out"
	[ "$output" = $'r1\nr2\nr3' ] || fail "read: $output"
}

@test "#97 smqtt-decrypt: encrypted records re-signed as another device's (1)" {
	abe_keys
	# DEF takes ABC's encrypted records and signs them as its own: the signatures are good, the records do not open.
	{ verified_as ABC < enc; verified_as DEF < enc; } > verified
	run --separate-stderr smqtt-decrypt --params params.pem -k keys/billing.cpkey < verified
	expect 1
	said "smqtt-decrypt: stdin: line 6: device DEF seq 2: does not authenticate (changed, or moved from another device or capsule); left out" \
		"smqtt-decrypt: 3 records read, 3 left out"
	[ "$output" = $'r1\nr2\nr3' ] || fail "read: $output"
}

@test "#98 smqtt-decrypt: a capsule file others may write to (3)" {
	abe_keys
	verified_as ABC < enc > verified
	: > caps
	chmod 666 caps
	run --separate-stderr smqtt-decrypt --params params.pem -k keys/billing.cpkey --capsules caps < verified
	expect 3
	said "smqtt-decrypt: caps: writable by group or others (mode 666): chmod 600 it"
	no_output
	[ ! -s caps ] || fail "the file was written"
}
