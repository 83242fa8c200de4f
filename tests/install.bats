#!/usr/bin/env bats
# make install: every program, page and completion lands under DESTDIR and works from there.

load test_helper

setup() { common_setup; }

@test "install: programs, man pages and completions under DESTDIR/PREFIX" {
	root="$BATS_TEST_TMPDIR/root"
	make -s -C "$REPO" install DESTDIR="$root" PREFIX=/usr > make.log 2>&1 || fail "$(cat make.log)"
	for src in "$REPO"/cmd/smqtt-*.c; do
		p=$(basename "$src" .c)
		[ -x "$root/usr/bin/$p" ] || fail "$p not installed"
		[ -f "$root/usr/share/man/man1/$p.1" ] || fail "$p.1 not installed"
		[ -f "$root/usr/share/bash-completion/completions/$p" ] || fail "$p completion not installed"
		"$root/usr/bin/$p" --version | grep -q "^$p "
	done
	for page in "$REPO"/man/*.5; do
		[ -f "$root/usr/share/man/man5/${page##*/}" ] || fail "${page##*/} not installed"
	done
	[ -f "$root/usr/share/man/man7/smqtt.7" ]
	[ -f "$root/usr/share/zsh/site-functions/_smqtt" ]
	man -l "$root/usr/share/man/man1/smqtt-sign.1" > /dev/null 2>&1 || mandoc "$root/usr/share/man/man1/smqtt-sign.1" > /dev/null
}

@test "install: the installed programs run the chain" {
	root="$BATS_TEST_TMPDIR/root"
	make -s -C "$REPO" install DESTDIR="$root" PREFIX=/opt/smqtt > make.log 2>&1 || fail "$(cat make.log)"
	b="$root/opt/smqtt/bin"
	"$b/smqtt-keygen" -k m.key > m.pub
	meter_records 10 | "$b/smqtt-sign" -k m.key -i ABC | "$b/smqtt-verify" --pubkey ABC=m.pub | "$b/smqtt-store" -d db 2> err
	grep -q "10 stored" err
	make -s -C "$REPO" uninstall DESTDIR="$root" PREFIX=/opt/smqtt
	[ -z "$(find "$root" -type f)" ] || fail "left behind: $(find "$root" -type f)"
}

@test "install: make demo's script runs the whole system with the installed programs" {
	root="$BATS_TEST_TMPDIR/root"
	make -s -C "$REPO" install DESTDIR="$root" PREFIX=/usr > make.log 2>&1 || fail "$(cat make.log)"
	TMPDIR=$BATS_TEST_TMPDIR SMQTT_BIN="$root/usr/bin" bash "$REPO/examples/demo.sh" > out 2> err 3>&- ||
		fail "demo failed with the installed programs (status $?): $(cat out err)"
	grep -qE "^stored +$(wc -l < "$REPO/examples/readings.csv") readings" out || fail "$(cat out)"
	grep -qx "programs from $root/usr/bin" out || fail "not the installed programs: $(head -n 2 out)"
	ws=$(sed -n 's/^The workspace is //p' out)
	[ -s "$ws/consumption.png" ]
}
