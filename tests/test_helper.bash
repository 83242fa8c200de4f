# Shared setup for the smqtt bats suite.
# SMQTT_BIN points at the programs under test (make check sets it; the
# sanitizer build sets it to its own bin directory).

: "${SMQTT_BIN:=$BATS_TEST_DIRNAME/../bin}"
SMQTT_BIN=$(cd "$SMQTT_BIN" && pwd)
export PATH="$SMQTT_BIN:$PATH"
# Sanitizer findings get exit codes no program uses, so no test can mistake
# one for an expected failure; leak checks stay on.
# With SMQTT_SANITIZER_LOG set (tests/run.sh does), reports also land in
# files there, so one hidden inside a pipeline still fails the run.
sanitizer_log=${SMQTT_SANITIZER_LOG:+:log_path=$SMQTT_SANITIZER_LOG/report}
export ASAN_OPTIONS="exitcode=86:abort_on_error=0:detect_leaks=1$sanitizer_log"
export UBSAN_OPTIONS="halt_on_error=1:exitcode=87:print_stacktrace=1$sanitizer_log"

REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)

# A configuration file of the developer's or the machine's must not change
# what the tests see: no SMQTT_CONFIG, and an empty XDG config home.
unset SMQTT_CONFIG
export XDG_CONFIG_HOME="$BATS_RUN_TMPDIR/xdg-config"

common_setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	umask 022
}

# as_unprivileged CMD...: CMD as a user that file modes apply to (they do not
# stop root). That user may not be able to enter the checkout (a clone in
# root's 0700 home, or in any private directory), so the programs it runs are
# copies in a directory of their own that anyone may enter, removed after the
# run. Tag each test that uses it "unprivileged" (tests/private-checkout.bats
# runs those from a checkout in a 0700 directory).
as_unprivileged() {
	if [ "$(id -u)" -ne 0 ]; then
		"$@"
		return
	fi
	local open status=0
	open=$(mktemp -d "${TMPDIR:-/tmp}/smqtt-unprivileged.XXXXXX") || return 1
	chmod 755 "$open"
	cp "$SMQTT_BIN"/smqtt-* "$open"/
	PATH="$open:$PATH" setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups -- "$@" ||
		status=$?
	rm -rf "$open"
	return "$status"
}

# Fail the test with a message (bats shows stderr of a failing test).
fail() {
	printf '%s\n' "$*" >&2
	return 1
}

# assert_status N: the last `run` ended with status N.
assert_status() {
	[ "$status" -eq "$1" ] || fail "expected status $1, got $status; output: $output"
}

# assert_contains TEXT: the last `run`'s output holds TEXT.
assert_contains() {
	case "$output" in
	*"$1"*) ;;
	*) fail "expected output to contain '$1'; got: $output" ;;
	esac
}

# assert_line TEXT: one line of the last `run`'s output is exactly TEXT.
assert_line() {
	printf '%s\n' "$output" | grep -qxF -- "$1" || fail "expected a line '$1'; got: $output"
}

refute_contains() {
	case "$output" in
	*"$1"*) fail "expected output not to contain '$1'; got: $output" ;;
	esac
}

# No sanitizer report in a captured stderr file.
assert_clean_stderr() {
	! grep -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$1" || fail "sanitizer report in $1"
}

# make_key NAME [TYPE]: NAME.key (0600) and NAME.pub
make_key() {
	smqtt-keygen -k "$1.key" --type "${2:-p256}" > "$1.pub"
}

# make_cert NAME CN: a self-signed certificate NAME.crt for NAME.key
make_cert() {
	openssl req -new -x509 -key "$1.key" -subj "/CN=$2" -days 2 -out "$1.crt" 2>/dev/null
}

# meter_records N [METER]: N records in the example meter CSV shape
meter_records() {
	awk -v n="$1" -v m="${2:-ABC}" 'BEGIN {
		for (i = 0; i < n; i++) {
			t = i * 900
			printf "%s,2013-11-%02d %02d:%02d:00,%d,%.1f\n", m, 2 + int(t / 86400),
				int(t % 86400 / 3600), int(t % 3600 / 60), i % 2, (i * 7) % 100
		}
	}'
}
