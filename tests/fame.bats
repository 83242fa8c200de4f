#!/usr/bin/env bats
# common/fame: FAME CP-ABE and KP-ABE on BLS12-381 through its test driver
# (tests/fame/driver.c): the policy grammar and its span programs, random
# policies with keys that do and do not satisfy them, every byte of keys and
# ciphertexts changed, hand-made invalid encodings, and a run under valgrind.

load test_helper

setup() {
	common_setup
	# The driver is built beside the programs: build/release/tests for bin/,
	# build/sanitize/tests for build/sanitize/bin.
	if [ -n "${SMQTT_FAME_DRIVER:-}" ]; then
		driver=$SMQTT_FAME_DRIVER
	elif [ "$SMQTT_BIN" = "$REPO/bin" ]; then
		driver=$REPO/build/release/tests/fame-driver
	else
		driver=$SMQTT_BIN/../tests/fame-driver
	fi
	[ -x "$driver" ] || fail "no test driver at $driver (make all builds it)"
}

# Every line "ok NAME", at least $1 of them, and none "FAIL".
assert_checks() {
	[ "$status" -eq 0 ] || fail "$(printf '%s\n' "$output" | grep -v '^ok ')"
	! printf '%s\n' "$output" | grep -q '^FAIL' || fail "$output"
	[ "$(printf '%s\n' "$output" | grep -c '^ok ')" -ge "$1" ] || fail "too few checks: $output"
}

@test "fame: new BLS12-381 primitives agree with the old ones; hashing is domain-separated; skipped columns and repeated attributes" {
	run "$driver" check
	assert_checks 14
}

@test "fame: policies become Lewko-Waters span programs, in canonical text" {
	run "$driver" policy 'a and b'
	assert_status 0
	assert_line 'ok 2 2 a and b'
	assert_line 'row a: 1 1'
	assert_line 'row b: 0 -1'
	run "$driver" policy 'A AND (b OR c)'
	assert_status 0
	assert_line 'ok 2 3 A and (b or c)'
	run "$driver" policy '(a or b) and (c or d) and e'
	assert_status 0
	assert_line 'ok 3 5 (a or b) and (c or d) and e'
	assert_line 'row e: 0 0 -1'
	# "and" binds tighter than "or"; redundant parentheses go.
	run "$driver" policy 'a or b and c'
	assert_status 0
	assert_line 'ok 2 3 a or (b and c)'
	run "$driver" policy '((a))'
	assert_status 0
	assert_line 'ok 1 1 a'
	# The attributes of the registry need no quotes; others do, keywords too.
	run "$driver" policy 'feeder:F12 and kind:household and epoch:2026-12'
	assert_status 0
	assert_line 'ok 3 3 feeder:F12 and kind:household and epoch:2026-12'
	run "$driver" policy '"role billing" or "AND" or "a\"b\\c"'
	assert_status 0
	assert_line 'ok 1 3 "role billing" or "AND" or "a\"b\\c"'
	assert_line 'row a"b\c: 1'
	# A repeated attribute is one row per occurrence.
	run "$driver" policy 'a and (a or b)'
	assert_status 0
	assert_line 'ok 2 3 a and (a or b)'
}

@test "fame: a policy that does not parse is refused with the byte offset and what was expected" {
	run "$driver" policy 'and'
	assert_status 1
	assert_line "error 0: expected an attribute or '(' (quote an attribute named like a keyword)"
	run "$driver" policy 'a and'
	assert_status 1
	assert_contains 'error 5: '
	assert_contains 'ended'
	run "$driver" policy '(a or b'
	assert_status 1
	assert_contains "error 7: expected 'and', 'or' or ')'"
	run "$driver" policy 'a b'
	assert_status 1
	assert_contains 'error 2: '
	run "$driver" policy '"" or a'
	assert_status 1
	assert_line 'error 0: empty attribute'
	run "$driver" policy "$(printf 'a or b\001')"
	assert_status 1
	assert_line "error 6: expected 'and', 'or' or the end of the policy, not the control byte 0x01"
	run "$driver" policy '"unterminated'
	assert_status 1
	assert_contains 'error '
	run "$driver" policy ''
	assert_status 1
	assert_contains 'error 0: '
}

@test "fame: random policies (depth up to 4, 1 to 30 attributes, repeats): CP and KP decrypt exactly when satisfied" {
	run "$driver" roundtrip 150
	assert_checks 2
	# Both outcomes for both schemes, and policies of many attributes among them.
	line=$(printf '%s\n' "$output" | grep '^cases 150: ')
	[ -n "$line" ] || fail "no summary: $output"
	read -r _ _ _ cp_yes _ cp_no _ _ kp_yes _ kp_no _ _ _ max _ <<< "$line"
	[ "$cp_yes" -ge 10 ] && [ "$cp_no" -ge 10 ] && [ "$kp_yes" -ge 10 ] && [ "$kp_no" -ge 10 ] || fail "$line"
	[ "$max" -ge 20 ] || fail "no policy of 20 or more attributes: $line"
}

@test "fame: every byte of keys and ciphertexts changed, fields swapped, truncated or extended: never a wrong success" {
	run "$driver" tamper
	assert_checks 19
}

@test "fame: invalid encodings (off the curve, outside the subgroup, identity, non-canonical, lengths, other parameters) refused" {
	run "$driver" invalid
	assert_checks 31
}

@test "fame: set-up, key generation, encryption and decryption clean under valgrind" {
	command -v valgrind > /dev/null || fail "valgrind is missing (tests/deps.sh installs it)"
	# valgrind cannot run a sanitizer build: use the release driver.
	vg_driver=$driver
	case $driver in
	*/sanitize/*) vg_driver=$REPO/build/release/tests/fame-driver ;;
	esac
	[ -x "$vg_driver" ] || fail "no release build of the driver at $vg_driver (make all)"
	run valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		"$vg_driver" roundtrip 3
	assert_status 0
	assert_contains 'ok random CP and KP round trips'
	# The fixed cases: keys that do and do not satisfy, the skipped-column key, "01".
	run valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		"$vg_driver" check
	assert_status 0
}
