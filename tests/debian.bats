#!/usr/bin/env bats
# The Debian package's sources (debian/) agree with the tree, without building
# the package: its version is the programs', and its systemd units get the
# package's paths. make deb-test (tests/deb/test.sh) builds, installs and
# purges the package itself.

load test_helper

setup() { common_setup; }

@test "debian: debian/changelog is at the version the programs print" {
	version=$(sed -n 's/^#define SMQTT_VERSION "\(.*\)"$/\1/p' "$REPO/common/error.h")
	[ -n "$version" ] || fail "no SMQTT_VERSION in common/error.h"
	package=$(sed -n '1s/^smqtt (\([^)]*\)) .*/\1/p' "$REPO/debian/changelog")
	[ "${package%-*}" = "$version" ] ||
		fail "debian/changelog is at $package, common/error.h at $version: add a changelog entry"
	smqtt-sign --version | grep -qE "^smqtt-sign $version( |\$)" || fail "$(smqtt-sign --version)"
}

@test "debian: the packaged units run the package's programs and helper from /usr" {
	root="$BATS_TEST_TMPDIR/root"
	make -s -C "$REPO" install DESTDIR="$root" PREFIX=/usr > make.log 2>&1 || fail "$(cat make.log)"
	for unit in smqtt-sink.service smqtt-send-drops.service smqtt-send-drops.timer; do
		awk -f "$REPO/debian/unit-comment.awk" "$root/usr/share/doc/smqtt/examples/systemd/$unit" > "$unit"
		# Only comments change.
		diff <(grep -v '^#' "$root/usr/share/doc/smqtt/examples/systemd/$unit") <(grep -v '^#' "$unit") ||
			fail "$unit: more than comments changed"
		! grep -n '/usr/local\|make install' "$unit" || fail "$unit names /usr/local or make install"
	done
	grep -qx 'ExecStart=/usr/libexec/smqtt/smqtt-send-drops /var/spool/smqtt' smqtt-send-drops.service
	grep -qx 'Environment=PATH=/usr/bin:/bin' smqtt-send-drops.service
	grep -qx 'Environment=PATH=/usr/bin:/bin' smqtt-sink.service
	grep -q '^# Debian: the package created the user smqtt' smqtt-sink.service
	[ -x "$root/usr/libexec/smqtt/smqtt-send-drops" ]
}
