#!/usr/bin/env bats
# One meaning per option letter across the toolkit: the letters a program
# accepts, what each means, and the older spellings still understood.

load test_helper
load registry_helper
bats_require_minimum_version 1.5.0

setup() {
	common_setup
}

@test "options: -R names the registry in smqtt-register and smqtt-issue; their old -r works with a warning" {
	smqtt-issue ca --ca-dir ca > /dev/null 2>&1
	run --separate-stderr smqtt-register -R reg.db init --ca ca/ca.crt
	assert_status 0
	[ -z "$stderr" ] || fail "stderr: $stderr"
	run --separate-stderr smqtt-issue device --ca-dir ca -o fleet -R reg.db <<< A
	assert_status 0
	[[ $stderr != *deprecated* ]] || fail "stderr: $stderr"
	run --separate-stderr smqtt-register -r reg.db list
	assert_status 0
	[[ $output == "A active 1 "* ]] || fail "list: $output"
	[ "$stderr" = "smqtt-register: -r is deprecated; use -R" ] || fail "stderr: $stderr"
	run --separate-stderr smqtt-issue device --ca-dir ca -o fleet -r reg.db <<< B
	assert_status 0
	[[ $stderr == "smqtt-issue: -r is deprecated; use -R"$'\n'* ]] || fail "stderr: $stderr"
	[ "$(smqtt-register -R reg.db list | cut -d' ' -f1 | tr '\n' ' ')" = "A B " ]
}

@test "options: smqtt-verify refuses -r, which named the rejects file, before reading anything" {
	make_key m
	printf 'ABC,1\n' | smqtt-sign -k m.key -i ABC | sed 's/ABC,1$/ABC,2/' > forged
	run --separate-stderr smqtt-verify --pubkey ABC=m.pub -r rejects.txt < forged
	assert_status 2
	[ "$stderr" = "smqtt-verify: -r is no longer accepted: the rejects file is --rejects FILE, the registry -R FILE" ] ||
		fail "stderr: $stderr"
	[ ! -e rejects.txt ] || fail "rejects.txt was written"
	[ -z "$output" ]
	run --separate-stderr smqtt-verify --pubkey ABC=m.pub --rejects rejects.txt < forged
	assert_status 1
	cmp rejects.txt forged
}

# table_options: "LETTER --LONG PROGRAM" for each program the option table of
# smqtt(7) names under each letter.
table_options() {
	sed -n '/^\.\\" option-table-begin$/,/^\.\\" option-table-end$/p' "$REPO/man/smqtt.7" | awk '
		/^\.It Fl [A-Za-z0-9] , Fl -[a-z]/ { letter = $3; long = "-" $6; next }
		/^\.(It|El)/ { letter = ""; next }
		letter != "" && /^\.Xr smqtt-[a-z]+ / { print letter, long, $2 }'
}

# help_options: "LETTER --LONG PROGRAM" for each short option in each program's --help.
help_options() {
	local prog
	for prog in "$REPO"/cmd/smqtt-*.c; do
		prog=${prog##*/}
		prog=${prog%.c}
		"$SMQTT_BIN/$prog" --help | sed -nE "s/^  -([A-Za-z0-9]), (--[a-z][a-z0-9-]*).*/\\1 \\2 $prog/p"
	done
}

@test "options: the option table of smqtt(7) is what each program's --help lists, one meaning per letter" {
	table_options | sort > table
	help_options | sort > help
	[ "$(wc -l < table)" -ge 20 ] || fail "option table not found in smqtt.7: $(cat table)"
	[ "$(wc -l < help)" -ge 20 ] || fail "too few short options in --help: $(cat help)"
	diff table help || fail "smqtt(7)'s option table (<) and the programs' --help (>) differ"
	# One long option, so one meaning, per letter, in every program.
	dups=$(cut -d' ' -f1,2 help | sort -u | cut -d' ' -f1 | uniq -d)
	[ -z "$dups" ] || fail "letters with more than one meaning: $dups"
	# Each letter is described once.
	dups=$(sed -n '/option-table-begin/,/option-table-end/p' "$REPO/man/smqtt.7" |
		sed -n 's/^\.It Fl \([A-Za-z0-9]\) .*/\1/p' | sort | uniq -d)
	[ -z "$dups" ] || fail "letters in the table twice: $dups"
}

@test "options: the older letters still work with a warning where unambiguous" {
	make_key m
	run --separate-stderr smqtt-keygen -t ed25519 -k e.key
	assert_status 0
	[ "$stderr" = "smqtt-keygen: -t is deprecated; use --type" ] || fail "stderr: $stderr"
	grep -q 'BEGIN PRIVATE KEY' e.key
	[ "$(openssl pkey -in e.key -noout -text 2>/dev/null | head -n 1 | cut -d' ' -f1)" = ED25519 ] || fail "not an Ed25519 key"
	run --separate-stderr smqtt-issue ca -d ca -t p384
	assert_status 0
	[[ $stderr == *"smqtt-issue: -d is deprecated; use --ca-dir"* ]] || fail "stderr: $stderr"
	[[ $stderr == *"smqtt-issue: -t is deprecated; use --type"* ]] || fail "stderr: $stderr"
	[ -f ca/ca.crt ]
	printf 'ABC,1\n' | smqtt-sign -k m.key -i ABC > frames
	run --separate-stderr smqtt-verify -p ABC=m.pub < frames
	assert_status 0
	[ "$output" = "$(cat frames)" ]
	[ "$stderr" = "smqtt-verify: -p is deprecated; use --pubkey" ] || fail "stderr: $stderr"
	# smqtt-pub -k and -d: the warnings come before any connection is tried.
	run --separate-stderr smqtt-pub --config /dev/null --no-tls -p 1 -k 30 -d --retry-for 0 < /dev/null
	[[ $stderr == *"smqtt-pub: -k is deprecated; use --keepalive"* ]] || fail "stderr: $stderr"
	[[ $stderr == *"smqtt-pub: -d is deprecated; use --debug"* ]] || fail "stderr: $stderr"
}
