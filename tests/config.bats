#!/usr/bin/env bats
# The configuration file (smqtt.conf(5)): search order, precedence, and a
# clear FILE:LINE message with exit status 3 for every kind of bad file.

load test_helper

setup() {
	common_setup
	# Only the files a test makes may be found: no user's or caller's configuration.
	unset SMQTT_CONFIG
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/xdg"
	mkdir -p "$XDG_CONFIG_HOME" etc
}

# The system file cannot be moved aside by a test; skip what it would change.
require_no_system_config() {
	[ ! -e /etc/smqtt/config.yaml ] || skip "/etc/smqtt/config.yaml exists on this machine"
}

# conf TEXT: etc/smqtt.yaml holding TEXT (a printf format, so \n and \xNN work).
conf() {
	printf -- "$1" > etc/smqtt.yaml
}

# A meter key and certificate in etc/, and a configuration naming them relative to etc/.
meter_setup() {
	smqtt-keygen -k etc/m.key > etc/m.pub
	openssl req -new -x509 -key etc/m.key -subj /CN=ABC -days 2 -out etc/m.crt 2>/dev/null
	cat > etc/smqtt.yaml <<-'EOF'
	device:
	  id: ABC
	  key: m.key
	  state: m.state
	store:
	  db: readings.db
	EOF
}

rows() {
	sqlite3 "$1" "select count(*) from readings"
}

@test "config: sign and store take their settings from the file, paths relative to it" {
	meter_setup
	mkdir elsewhere
	cd elsewhere
	meter_records 5 | smqtt-sign --config ../etc/smqtt.yaml > frames.txt
	[ "$(wc -l < frames.txt)" -eq 5 ] || fail "expected 5 frames: $(cat frames.txt)"
	[ "$(cut -d' ' -f2 frames.txt | sort -u)" = ABC ] || fail "not signed as ABC: $(cat frames.txt)"
	[ -f ../etc/m.state ] || fail "device.state was not used as the state file"
	[ ! -e ../etc/m.key.seq ] && [ ! -e m.state ] || fail "state file in the wrong place"
	smqtt-verify --pubkey ABC=../etc/m.pub < frames.txt | smqtt-store --config ../etc/smqtt.yaml 2> err
	grep -q '5 stored' err || fail "store: $(cat err)"
	[ "$(rows ../etc/readings.db)" -eq 5 ] || fail "rows not in etc/readings.db"
	[ ! -e readings.db ] || fail "store.db was taken relative to the current directory"
}

@test "config: device.cert names the device; with device.id too, they must agree" {
	meter_setup
	printf 'device:\n  cert: m.crt\n  key: m.key\n' > etc/smqtt.yaml
	meter_records 2 | smqtt-sign --config etc/smqtt.yaml > frames.txt
	[ "$(cut -d' ' -f2 frames.txt | sort -u)" = ABC ] || fail "not signed as the CN: $(cat frames.txt)"
	printf 'device:\n  id: ABC\n  cert: m.crt\n  key: m.key\n' > etc/smqtt.yaml
	meter_records 1 | smqtt-sign --config etc/smqtt.yaml > frames.txt
	[ "$(cut -d' ' -f2 frames.txt)" = ABC ] || fail "id and matching cert refused"
	printf 'device:\n  id: XYZ\n  cert: m.crt\n  key: m.key\n' > etc/smqtt.yaml
	run smqtt-sign --config etc/smqtt.yaml < /dev/null
	assert_status 3
	assert_contains "smqtt-sign: etc/smqtt.yaml:2: key device.id: XYZ is not the device ABC named by certificate etc/m.crt"
}

@test "config: options on the command line win over the file" {
	meter_setup
	smqtt-keygen -k other.key > other.pub
	# -i replaces device.id; the key and state still come from the file.
	meter_records 2 | smqtt-sign --config etc/smqtt.yaml -i XYZ > frames.txt
	[ "$(cut -d' ' -f2 frames.txt | sort -u)" = XYZ ] || fail "-i did not win: $(cat frames.txt)"
	[ "$(cat etc/m.state)" -ge 3 ] || fail "device.state not used with -i"
	# -k replaces device.key and with it device.state: the other key counts in its own file.
	meter_records 2 | smqtt-sign --config etc/smqtt.yaml -k other.key > frames.txt
	smqtt-verify --pubkey ABC=other.pub < frames.txt > /dev/null || fail "not signed with -k other.key"
	[ -f other.key.seq ] || fail "-k did not bring its own default state file"
	[ "$(cut -d' ' -f3 frames.txt | head -n 1)" = 1 ] || fail "-k other.key continued the configured key's sequence"
	# -d and -s replace store.db and store.schema.
	printf 'store:\n  db: readings.db\n  schema: a:text,b:text,c:integer,d:real\n' > etc/smqtt.yaml
	meter_records 3 | smqtt-sign -k other.key -i ABC | smqtt-store --config etc/smqtt.yaml -d mine.db 2> err
	[ "$(rows mine.db)" -eq 3 ] || fail "-d did not win: $(cat err)"
	[ ! -e etc/readings.db ] || fail "the file's store.db was created although -d was given"
	[ "$(sqlite3 mine.db 'select group_concat(name) from pragma_table_info("readings")')" = device,seq,a,b,c,d,frame ] ||
		fail "store.schema not used: $(sqlite3 mine.db .schema)"
	meter_records 3 | smqtt-sign -k other.key -i DEF | smqtt-store --config etc/smqtt.yaml -d flag.db -s m:text,t:text,ch:integer,v:real 2> err
	[ "$(sqlite3 flag.db 'select group_concat(name) from pragma_table_info("readings")')" = device,seq,m,t,ch,v,frame ] ||
		fail "-s did not win over store.schema: $(sqlite3 flag.db .schema)"
}

@test "config: SMQTT_CONFIG names the file; --config wins over it" {
	printf 'store:\n  db: env.db\n' > etc/env.yaml
	printf 'store:\n  db: flag.db\n' > etc/flag.yaml
	SMQTT_CONFIG=etc/env.yaml smqtt-store < /dev/null 2> err || fail "$(cat err)"
	[ -f etc/env.db ] || fail "SMQTT_CONFIG was not read"
	SMQTT_CONFIG=etc/env.yaml smqtt-store --config etc/flag.yaml < /dev/null 2> err || fail "$(cat err)"
	[ -f etc/flag.db ] || fail "--config did not win over SMQTT_CONFIG"
	# --config /dev/null: no file at all, whatever the environment says.
	SMQTT_CONFIG=etc/env.yaml run smqtt-store --config /dev/null < /dev/null
	assert_status 2
	assert_contains "no database given"
}

@test "config: the user's file is found under XDG_CONFIG_HOME, and its absence is no error" {
	require_no_system_config
	run smqtt-store < /dev/null
	assert_status 2
	assert_contains "no database given (-d DBFILE, or store.db in the configuration)"
	mkdir -p "$XDG_CONFIG_HOME/smqtt"
	printf 'store:\n  db: xdg.db\n' > "$XDG_CONFIG_HOME/smqtt/config.yaml"
	smqtt-store < /dev/null 2> err || fail "$(cat err)"
	[ -f "$XDG_CONFIG_HOME/smqtt/xdg.db" ] || fail "the XDG file was not read"
	# SMQTT_CONFIG comes first; only one file is read.
	printf 'store:\n  batch: 5\n' > etc/env.yaml
	SMQTT_CONFIG=etc/env.yaml run smqtt-store < /dev/null
	assert_status 2
	assert_contains "no database given"
	# Without XDG_CONFIG_HOME, ~/.config is used.
	mkdir -p home/.config/smqtt
	printf 'store:\n  db: home.db\n' > home/.config/smqtt/config.yaml
	env -u XDG_CONFIG_HOME HOME="$PWD/home" smqtt-store < /dev/null 2> err || fail "$(cat err)"
	[ -f home/.config/smqtt/home.db ] || fail "~/.config/smqtt/config.yaml was not read"
}

@test "config: a file named by --config or SMQTT_CONFIG must exist" {
	run smqtt-store --config nope.yaml -d x.db < /dev/null
	assert_status 3
	[ "$output" = "smqtt-store: config file nope.yaml: No such file or directory" ] || fail "got: $output"
	SMQTT_CONFIG=etc/gone.yaml run smqtt-sign -k m.key -i ABC < /dev/null
	assert_status 3
	assert_contains "smqtt-sign: config file etc/gone.yaml (from SMQTT_CONFIG): No such file or directory"
	[ ! -e x.db ] || fail "store went on after the configuration error"
}

@test "config: a directory, or an unreadable default file, is an error" {
	run smqtt-store --config etc -d x.db < /dev/null
	assert_status 3
	[ "$output" = "smqtt-store: config file etc: Is a directory" ] || fail "got: $output"
	mkdir -p "$XDG_CONFIG_HOME/smqtt/config.yaml"
	run smqtt-store -d x.db < /dev/null
	assert_status 3
	assert_contains "config file $XDG_CONFIG_HOME/smqtt/config.yaml: Is a directory"
}

@test "config: an unknown key is an error naming FILE:LINE, with the nearest known key" {
	conf 'store:\n  db: x.db\nbrokr:\n  host: example.net\n'
	run smqtt-store --config etc/smqtt.yaml < /dev/null
	assert_status 3
	[ "$output" = "smqtt-store: etc/smqtt.yaml:3: unknown key brokr (did you mean broker?)" ] || fail "got: $output"
	conf '# a comment\nbroker:\n  host: example.net\n  prot: 8883\n'
	run smqtt-sign --config etc/smqtt.yaml -k m.key -i ABC < /dev/null
	assert_status 3
	[ "$output" = "smqtt-sign: etc/smqtt.yaml:4: unknown key broker.prot (did you mean broker.port?)" ] || fail "got: $output"
	conf 'colour: blue\n'
	run smqtt-store --config etc/smqtt.yaml -d x.db < /dev/null
	assert_status 3
	[ "$output" = "smqtt-store: etc/smqtt.yaml:1: unknown key colour" ] || fail "got: $output"
	# A key of another program is no error: the file is shared.
	conf 'broker:\n  host: example.net\n  port: 8883\nverify:\n  cert: [a.crt]\n'
	smqtt-store --config etc/smqtt.yaml -d x.db < /dev/null 2> err || fail "$(cat err)"
}

@test "config: a value of the wrong type is an error naming FILE:LINE and the type" {
	check() {
		conf "$1"
		run smqtt-store --config etc/smqtt.yaml -d x.db < /dev/null
		assert_status 3
		[ "$output" = "smqtt-store: etc/smqtt.yaml:$2" ] || fail "for '$1': got: $output"
	}
	check 'broker:\n  port: 99999\n' '2: key broker.port: expected an integer 1..65535'
	check 'broker:\n  host: h\n  port: "8883"\n' '3: key broker.port: expected an integer 1..65535'
	check 'broker:\n  port: 0x22b3\n' '2: key broker.port: expected an integer 1..65535'
	check 'store:\n  wait: 010\n' '2: key store.wait: expected an integer 0..3600000'
	check 'broker:\n  insecure: yes\n' '2: key broker.insecure: expected true or false'
	check 'broker:\n  tls_version: tlsv1.1\n' '2: key broker.tls_version: expected one of tlsv1.2, tlsv1.3'
	check 'store:\n  db:\n' '2: key store.db: expected a file name'
	check 'store:\n  db: [a, b]\n' '2: key store.db: expected a file name'
	check 'store:\n  schema: {a: text}\n' '2: key store.schema: expected a string'
	check 'verify:\n  cert: a.crt\n' '2: key verify.cert: expected a list of file names'
	check 'verify:\n  cert:\n    - a.crt\n    - [b.crt]\n' '4: key verify.cert: expected a list of file names'
	check 'verify:\n  pubkey: [ABC]\n' '2: key verify.pubkey: expected a list of DEVICE=FILE'
	check 'store: readings.db\n' '1: key store: expected a mapping of store keys'
	check 'store:\n  db: "a\\nb"\n' '2: key store.db: the value holds a control character'
	check '- store\n' '1: expected a mapping of sections such as broker: or store:'
	# A plain number is a fine string: device ids are often digits.
	conf 'device:\n  id: 12345678\n'
	smqtt-keygen -k m.key > /dev/null
	echo 'r' | smqtt-sign --config etc/smqtt.yaml -k m.key > frames.txt || fail "numeric device.id refused"
	[ "$(cut -d' ' -f2 frames.txt)" = 12345678 ] || fail "got: $(cat frames.txt)"
}

@test "config: a value the program cannot use is a configuration error at its line" {
	conf 'store:\n  db: x.db\n  schema: a:text,b:blob\n'
	run smqtt-store --config etc/smqtt.yaml < /dev/null
	assert_status 3
	assert_contains "smqtt-store: etc/smqtt.yaml:3: key store.schema: "
	[ ! -e etc/x.db ] || fail "database created despite the bad schema"
	smqtt-keygen -k m.key > /dev/null
	conf 'device:\n  id: bad/id\n'
	run smqtt-sign --config etc/smqtt.yaml -k m.key < /dev/null
	assert_status 3
	assert_contains "smqtt-sign: etc/smqtt.yaml:2: key device.id: bad/id: invalid device id"
	[ ! -e m.key.seq ] || fail "state file created despite the bad configuration"
}

@test "config: a duplicate key or section is an error naming both lines" {
	conf 'store:\n  db: a.db\n  batch: 5\n  db: b.db\n'
	run smqtt-store --config etc/smqtt.yaml < /dev/null
	assert_status 3
	[ "$output" = "smqtt-store: etc/smqtt.yaml:4: duplicate key store.db (first given on line 2)" ] || fail "got: $output"
	conf 'store:\n  db: a.db\nbroker: {port: 1}\nstore:\n  batch: 5\n'
	run smqtt-store --config etc/smqtt.yaml < /dev/null
	assert_status 3
	[ "$output" = "smqtt-store: etc/smqtt.yaml:4: duplicate key store (first given on line 1)" ] || fail "got: $output"
	[ ! -e etc/a.db ] || fail "store went on after the configuration error"
}

@test "config: YAML syntax errors carry libyaml's line and column" {
	conf 'store:\n  db: a.db\n   batch: 5\n'
	run smqtt-store --config etc/smqtt.yaml < /dev/null
	assert_status 3
	[ "$output" = "smqtt-store: etc/smqtt.yaml:3:9: YAML syntax error: mapping values are not allowed in this context" ] ||
		fail "got: $output"
	conf 'store:\n  db: "a.db\n'
	run smqtt-store --config etc/smqtt.yaml < /dev/null
	assert_status 3
	assert_contains "smqtt-store: etc/smqtt.yaml:3:1: YAML syntax error: found unexpected end of stream (while scanning a quoted scalar at line 2)"
	conf 'store: {db: a.db\n'
	run smqtt-store --config etc/smqtt.yaml < /dev/null
	assert_status 3
	assert_contains "smqtt-store: etc/smqtt.yaml:2:1: YAML syntax error: "
	conf 'store:\n  db: a.db\n---\nstore:\n  db: b.db\n'
	run smqtt-store --config etc/smqtt.yaml < /dev/null
	assert_status 3
	[ "$output" = "smqtt-store: etc/smqtt.yaml:3: more than one YAML document" ] || fail "got: $output"
}

@test "config: anchors, aliases and tags are refused" {
	conf 'store:\n  db: &db a.db\n'
	run smqtt-store --config etc/smqtt.yaml < /dev/null
	assert_status 3
	[ "$output" = "smqtt-store: etc/smqtt.yaml:2: YAML anchors are not supported" ] || fail "got: $output"
	conf 'store:\n  db: a.db\nregistry:\n  db: *x\n'
	run smqtt-store --config etc/smqtt.yaml < /dev/null
	assert_status 3
	assert_contains "smqtt-store: etc/smqtt.yaml:4"
	conf 'store:\n  db: !!str a.db\n'
	run smqtt-store --config etc/smqtt.yaml < /dev/null
	assert_status 3
	[ "$output" = "smqtt-store: etc/smqtt.yaml:2: YAML tags are not supported" ] || fail "got: $output"
}

@test "config: text that is not UTF-8 is refused at its line and column" {
	conf 'store:\n  db: a.db\n  schema: caf\xe9:text\n'
	run smqtt-store --config etc/smqtt.yaml < /dev/null
	assert_status 3
	[ "$output" = "smqtt-store: etc/smqtt.yaml:3:15: not UTF-8: invalid trailing UTF-8 octet" ] || fail "got: $output"
	# UTF-16, which libyaml would otherwise accept after its byte order mark.
	printf 'store:\n  db: a.db\n' | iconv -f UTF-8 -t UTF-16 > etc/smqtt.yaml
	run smqtt-store --config etc/smqtt.yaml < /dev/null
	assert_status 3
	assert_contains "smqtt-store: etc/smqtt.yaml:1:1: not UTF-8: "
	# A UTF-8 byte order mark is fine.
	conf '\xef\xbb\xbfstore:\n  db: bom.db\n'
	smqtt-store --config etc/smqtt.yaml < /dev/null 2> err || fail "$(cat err)"
	[ -f etc/bom.db ] || fail "a UTF-8 BOM broke the file"
	[ ! -e etc/a.db ]
}

@test "config: an empty file or one of comments only is an empty configuration" {
	: > etc/smqtt.yaml
	run smqtt-store --config etc/smqtt.yaml < /dev/null
	assert_status 2
	assert_contains "no database given (-d DBFILE, or store.db in the configuration)"
	smqtt-store --config etc/smqtt.yaml -d e.db < /dev/null 2> err || fail "empty file refused: $(cat err)"
	conf '# store:\n#   db: x.db\nstore:\n#  batch: 5\n'
	smqtt-store --config etc/smqtt.yaml -d c.db < /dev/null 2> err || fail "commented file refused: $(cat err)"
	[ -f e.db ] && [ -f c.db ]
}

@test "config: examples/smqtt.yaml and the examples in smqtt.conf(5) load" {
	# What the programs write is under /var/lib/smqtt: here, under var/.
	mkdir var
	sed "s|/var/lib/smqtt/|$BATS_TEST_TMPDIR/var/|" "$REPO/examples/smqtt.yaml" > etc/smqtt.yaml
	smqtt-store --config etc/smqtt.yaml < /dev/null 2> err || fail "examples/smqtt.yaml: $(cat err)"
	[ -f var/readings.db ] || fail "store.db of the example not used"
	for part in meter center; do
		sed -n "/^\.\\\\\" example-$part-begin\$/,/^\.\\\\\" example-$part-end\$/p" "$REPO/man/smqtt.conf.5" |
			grep -v '^\.' > "$part.yaml"
		[ "$(wc -l < "$part.yaml")" -gt 10 ] || fail "example $part not found in smqtt.conf(5)"
		smqtt-store --config "$part.yaml" -d "$part.db" < /dev/null 2> err || fail "smqtt.conf(5) $part example: $(cat err)"
	done
}

@test "config: every key of the table is documented in smqtt.conf(5) and set in examples/smqtt.yaml" {
	keys=$(sed -n 's/^	{"\([a-z_]*\.[a-z_]*\)", CONFIG_.*/\1/p' "$REPO/common/config.c")
	[ "$(printf '%s\n' "$keys" | wc -l)" -ge 20 ] || fail "key table not found in common/config.c: $keys"
	# section.key for each active or commented-out "key:" line of the example.
	awk '/^[a-z_]+:/ { sub(/:.*/, ""); section = $0; next }
		/^ +#? *[a-z_]+:/ { sub(/^ +#? */, ""); sub(/:.*/, ""); print section "." $0 }' \
		"$REPO/examples/smqtt.yaml" > example-keys
	mandoc -Tascii "$REPO/man/smqtt.conf.5" | sed 's/.\x08//g' > page
	for key in $keys; do
		grep -qE "^ +$key \(" page || fail "smqtt.conf(5) does not document $key"
		grep -qFx "$key" example-keys || fail "examples/smqtt.yaml does not show $key"
	done
	for key in $(sed -n 's/^ \{5\}\([a-z_]*\.[a-z_]*\) (.*/\1/p' page); do
		printf '%s\n' "$keys" | grep -qFx "$key" || fail "smqtt.conf(5) documents $key, which is not in the table"
	done
}

@test "config: smqtt-verify takes trust and the rejects file from the file; the command line's trust replaces it whole" {
	load registry_helper
	meter_setup
	smqtt-keygen -k other.key > other.pub
	meter_records 3 | smqtt-sign -k etc/m.key -i ABC -S m.seq > frames.txt
	meter_records 2 XYZ | smqtt-sign -k other.key -i XYZ > other.txt
	cat >> etc/smqtt.yaml <<-'EOF2'
	verify:
	  pubkey:
	    - ABC=m.pub
	  rejects: rejects.txt
	EOF2
	mkdir elsewhere
	cd elsewhere
	run smqtt-verify --config ../etc/smqtt.yaml < <(cat ../frames.txt ../other.txt)
	assert_status 1
	[ "$(printf '%s\n' "$output" | grep -c '^smqtt1 ABC ')" -eq 3 ] || fail "ABC frames not passed: $output"
	assert_contains "device XYZ seq 1: unknown device"
	[ "$(wc -l < ../etc/rejects.txt)" -eq 2 ] || fail "verify.rejects (relative to the file) not written"
	# Trust on the command line replaces the file's; the file's rejects file still applies.
	run smqtt-verify --config ../etc/smqtt.yaml --pubkey XYZ=../other.pub < <(cat ../frames.txt ../other.txt)
	assert_status 1
	[ "$(printf '%s\n' "$output" | grep -c '^smqtt1 XYZ ')" -eq 2 ] || fail "XYZ frames not passed: $output"
	assert_contains "device ABC seq 1: unknown device"
	[ "$(wc -l < ../etc/rejects.txt)" -eq 5 ] || fail "rejects not appended"
	# --rejects wins over verify.rejects.
	run smqtt-verify --config ../etc/smqtt.yaml --rejects mine.txt < ../other.txt
	assert_status 1
	[ "$(wc -l < mine.txt)" -eq 2 ] && [ "$(wc -l < ../etc/rejects.txt)" -eq 5 ] || fail "--rejects did not win"
	# registry.db is the trust when the file names no certificate or key.
	cd ..
	registry_setup R1
	smqtt-register -R reg.db add < issued > /dev/null
	meter_records 2 R1 | smqtt-sign -k certs/R1.key -i R1 > r1.txt
	printf 'registry:\n  db: reg.db\n' > reg.yaml
	run smqtt-verify --config reg.yaml < r1.txt
	assert_status 0
	[ "$(printf '%s\n' "$output" | grep -c '^smqtt1 R1 ')" -eq 2 ] || fail "registry.db not used: $output"
	# A certificate named in the file must be usable: named with its path.
	printf 'verify:\n  cert:\n    - missing.crt\n' > bad.yaml
	run smqtt-verify --config bad.yaml < r1.txt
	assert_status 3
	assert_contains "missing.crt"
}

@test "config: smqtt-issue and smqtt-register take the CA, output directory, passphrase file and registry from the file" {
	mkdir -p etc/secret
	printf 'correct horse\n' > etc/secret/ca.pass
	cat > etc/smqtt.yaml <<-'EOF2'
	issue:
	  ca_dir: ca
	  out: fleet
	  passfile: secret/ca.pass
	registry:
	  db: reg.db
	EOF2
	mkdir elsewhere
	cd elsewhere
	smqtt-issue --config ../etc/smqtt.yaml ca > /dev/null || fail "smqtt-issue ca failed"
	[ -f ../etc/ca/ca.crt ] || fail "issue.ca_dir (relative to the file) not used"
	grep -q ENCRYPTED ../etc/ca/ca.key || fail "issue.passfile did not encrypt the CA key"
	printf 'M1\nM2\n' | smqtt-issue --config ../etc/smqtt.yaml device > issued || fail "smqtt-issue device failed"
	[ -f ../etc/fleet/M1.crt ] && [ -f ../etc/fleet/M2.key ] || fail "issue.out not used"
	smqtt-register --config ../etc/smqtt.yaml init --ca ../etc/ca/ca.crt
	run smqtt-register --config ../etc/smqtt.yaml add < issued
	assert_status 0
	[ -f ../etc/reg.db ] || fail "registry.db not used"
	run smqtt-register --config ../etc/smqtt.yaml list
	assert_status 0
	[ "$(printf '%s\n' "$output" | cut -d' ' -f1 | tr '\n' ' ')" = "M1 M2 " ] || fail "list: $output"
	# Options win over the file.
	smqtt-issue --config ../etc/smqtt.yaml -o here device <<< M3 > /dev/null || fail "-o did not win"
	[ -f here/M3.crt ] && [ ! -e ../etc/fleet/M3.crt ] || fail "-o did not win over issue.out"
	smqtt-register --config ../etc/smqtt.yaml -R other.db init --ca ../etc/ca/ca.crt
	[ -f other.db ] || fail "-R did not win over registry.db"
	# Without -R or registry.db it is a usage error naming both.
	run smqtt-register --config /dev/null list
	assert_status 2
	assert_contains "no registry given (-R REGISTRY, or registry.db in the configuration)"
	run smqtt-issue --config /dev/null ca
	assert_status 2
	assert_contains "no CA directory given (--ca-dir CADIR, or issue.ca_dir in the configuration)"
}
