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
	smqtt-issue ca -d ca > /dev/null 2>&1
	run --separate-stderr smqtt-register -R reg.db init --ca ca/ca.crt
	assert_status 0
	[ -z "$stderr" ] || fail "stderr: $stderr"
	run --separate-stderr smqtt-issue device -d ca -o fleet -R reg.db <<< A
	assert_status 0
	[[ $stderr != *deprecated* ]] || fail "stderr: $stderr"
	run --separate-stderr smqtt-register -r reg.db list
	assert_status 0
	[[ $output == "A active 1 "* ]] || fail "list: $output"
	[ "$stderr" = "smqtt-register: -r is deprecated; use -R" ] || fail "stderr: $stderr"
	run --separate-stderr smqtt-issue device -d ca -o fleet -r reg.db <<< B
	assert_status 0
	[[ $stderr == "smqtt-issue: -r is deprecated; use -R"$'\n'* ]] || fail "stderr: $stderr"
	[ "$(smqtt-register -R reg.db list | cut -d' ' -f1 | tr '\n' ' ')" = "A B " ]
}

@test "options: smqtt-verify refuses -r, which named the rejects file, before reading anything" {
	make_key m
	printf 'ABC,1\n' | smqtt-sign -k m.key -i ABC | sed 's/ABC,1$/ABC,2/' > forged
	run --separate-stderr smqtt-verify -p ABC=m.pub -r rejects.txt < forged
	assert_status 2
	[ "$stderr" = "smqtt-verify: -r is no longer accepted: the rejects file is --rejects FILE, the registry -R FILE" ] ||
		fail "stderr: $stderr"
	[ ! -e rejects.txt ] || fail "rejects.txt was written"
	[ -z "$output" ]
	run --separate-stderr smqtt-verify -p ABC=m.pub --rejects rejects.txt < forged
	assert_status 1
	cmp rejects.txt forged
}
