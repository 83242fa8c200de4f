#!/usr/bin/env bats
# The suite passes wherever the tree is, also in a directory only its owner
# may enter (root's home on Debian, a mktemp -d): the tests that run a
# program as another user must not depend on that user reaching the checkout.

load test_helper
bats_require_minimum_version 1.5.0

setup() {
	common_setup
}

@test "private checkout: the tests that run as another user pass from a checkout in a 0700 directory" {
	mkdir -m 700 private
	mkdir private/smqtt
	cp -R "$REPO/tests" private/smqtt/tests
	cp -R "$SMQTT_BIN" private/smqtt/bin
	[ "$(stat -c %a private)" = 700 ]
	run --separate-stderr env -u BATS_TEST_FILTER SMQTT_BIN="$PWD/private/smqtt/bin" \
		bats --tap --filter-tags unprivileged private/smqtt/tests
	[ "$status" -eq 0 ] || fail "status $status: $output $stderr"
	planned=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' <<< "$output")
	[ "${planned:-0}" -ge 1 ] || fail "no test is tagged unprivileged: $output"
	[ "$(grep -c '^ok ' <<< "$output")" -eq "$planned" ] || fail "$output"
	! grep -q '# skip' <<< "$output" || fail "skipped: $output"
}
