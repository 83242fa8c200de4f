#!/usr/bin/env bash
# make deb-test (CI, as root): build the Debian package, check it with
# lintian, install it with apt-get, use what it installed (programs, manual
# pages, completions, units, configuration, user), purge it and check that
# it left nothing behind but the system user smqtt, which Debian packages
# keep (files may still belong to it).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
me=deb-test
[ "$(id -u)" -eq 0 ] || { echo "$me: installs and purges a package; run it as root" >&2; exit 2; }
fail() { echo "$me: FAIL: $*" >&2; exit 1; }
ok() { echo "$me: ok: $*"; }
start=$SECONDS

export DEBIAN_FRONTEND=noninteractive
if dpkg-query -W -f='${Status}\n' smqtt 2> /dev/null | grep -q ' installed$'; then
	fail "smqtt is already installed; purge it first (apt-get purge smqtt)"
fi

sh tests/deb/build.sh
version=$(sed -n 's/^#define SMQTT_VERSION "\(.*\)"$/\1/p' common/error.h)
deb=$(ls build/deb/smqtt_"$version"-*_"$(dpkg --print-architecture)".deb)
ok "built $deb ($((SECONDS - start)) s)"

# What the checks below use, and the package's own dependencies, installed
# before the file list is taken, so that the list compares the package alone.
tools="lintian man-db bash zsh openssl systemd"
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $tools > /dev/null
apt-get satisfy -y -qq --no-install-recommends "$(dpkg-deb -f "$deb" Depends)" > /dev/null

lintian --fail-on error,warning --display-info "${deb%.deb}.changes" ||
	fail "lintian found errors or warnings (above)"
ok "lintian: no errors or warnings"

# Every file and directory a package may leave on the system, less the
# package manager's own records, caches and logs.
system_files() {
	find /etc /usr /var /opt /srv -xdev \
		\( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache -o -path /var/log \
		-o -path /var/tmp -o -path /var/mail \) -prune -o -print | sort
}
system_files > build/deb/files-before

apt-get install -y -qq --no-install-recommends "./$deb" > build/deb/install.log 2>&1 ||
	fail "apt-get install ./$deb: $(cat build/deb/install.log)"
dpkg-query -W -f='${Status} ${Version}\n' smqtt | grep -qx "install ok installed $version-[0-9.]*" ||
	fail "smqtt $version is not installed: $(dpkg-query -W -f='${Status} ${Version}' smqtt)"
ok "installed ($((SECONDS - start)) s)"

work=$(mktemp -d)
# A failed check leaves no package behind for the next run.
cleanup() {
	rm -rf "$work"
	if dpkg-query -W -f='${Status}\n' smqtt 2> /dev/null | grep -q ' installed$'; then
		apt-get purge -y -qq smqtt > /dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

# The programs, on PATH from /usr/bin, each with the project's version.
for src in cmd/smqtt-*.c; do
	p=$(basename "$src" .c)
	[ "$(command -v "$p")" = "/usr/bin/$p" ] || fail "$p is $(command -v "$p" || echo 'not on PATH')"
	"$p" --version | grep -qE "^$p $version( |\$)" || fail "$p --version: $("$p" --version 2>&1)"
	# The package's manual page and bash completion of each program.
	[ "$(man -w 1 "$p")" = "/usr/share/man/man1/$p.1.gz" ] || fail "man -w 1 $p: $(man -w 1 "$p" 2>&1)"
	bash -c "source /usr/share/bash-completion/completions/$p && complete -p $p" > "$work/complete" ||
		fail "bash completion for $p not loaded"
	grep -q -- "-F _smqtt.* $p\$" "$work/complete" || fail "complete -p $p: $(cat "$work/complete")"
done
ok "$(ls cmd/smqtt-*.c | wc -l) programs: --version, man -w 1, bash completion"

[ "$(man -w smqtt)" = /usr/share/man/man7/smqtt.7.gz ] || fail "man -w smqtt: $(man -w smqtt 2>&1)"
for page in man/*.5; do
	name=$(basename "$page" .5)
	[ "$(man -w 5 "$name")" = "/usr/share/man/man5/$name.5.gz" ] || fail "man -w 5 $name"
done
MANWIDTH=80 man smqtt-sign 2> "$work/man.err" | grep -q 'smqtt-sign' || fail "man smqtt-sign: $(cat "$work/man.err")"
[ ! -s "$work/man.err" ] || fail "man smqtt-sign: $(cat "$work/man.err")"
ok "man -w smqtt, section 5 pages, man smqtt-sign renders without warnings"

# zsh finds the completion on its default fpath.
zsh -fc 'autoload -U compinit && compinit -u -D && print -r -- $_comps[smqtt-sign]' > "$work/zsh" ||
	fail "zsh compinit failed"
grep -qx _smqtt "$work/zsh" || fail "zsh does not complete smqtt-sign with _smqtt: $(cat "$work/zsh")"
ok "zsh completion found by compinit"

# The units: paths of the package, installed but not enabled, and valid.
grep -qx 'ExecStart=/usr/libexec/smqtt/smqtt-send-drops /var/spool/smqtt' /lib/systemd/system/smqtt-send-drops.service ||
	fail "smqtt-send-drops.service: $(grep ExecStart /lib/systemd/system/smqtt-send-drops.service)"
[ -x /usr/libexec/smqtt/smqtt-send-drops ] || fail "/usr/libexec/smqtt/smqtt-send-drops is not installed"
for unit in smqtt-sink.service smqtt-send-drops.service smqtt-send-drops.timer; do
	case $unit in
	*.service)
		grep -qx 'Environment=PATH=/usr/bin:/bin' "/lib/systemd/system/$unit" ||
			fail "$unit: $(grep PATH= "/lib/systemd/system/$unit")"
		;;
	esac
	if grep -q '/usr/local\|make install' "/lib/systemd/system/$unit"; then
		fail "$unit names /usr/local or make install: $(grep '/usr/local\|make install' "/lib/systemd/system/$unit")"
	fi
	state=$(systemctl is-enabled "$unit" 2>&1 || true)
	# static: smqtt-send-drops.service has no [Install]; its timer starts it.
	case $state in
	disabled | static) ;;
	*) fail "$unit is $state, not disabled" ;;
	esac
	systemd-analyze verify "/lib/systemd/system/$unit" > "$work/verify" 2>&1 || fail "$unit: $(cat "$work/verify")"
	if grep -i "smqtt" "$work/verify"; then fail "systemd-analyze verify $unit complains"; fi
done
ok "units: /usr paths, not enabled, systemd-analyze verify clean"

# The user the units run as, owning the directories they write.
getent passwd smqtt | grep -q ':/var/lib/smqtt:/usr/sbin/nologin$' || fail "user smqtt: $(getent passwd smqtt)"
for dir in /var/lib/smqtt /var/spool/smqtt; do
	[ "$(stat -c %U:%G "$dir")" = smqtt:smqtt ] || fail "$dir is owned by $(stat -c %U:%G "$dir")"
done
ok "system user smqtt owns /var/lib/smqtt and /var/spool/smqtt"

# The configuration: a conffile that sets nothing.
dpkg-query -W -f='${Conffiles}\n' smqtt | grep -q '^ /etc/smqtt/config.yaml ' ||
	fail "/etc/smqtt/config.yaml is not a conffile"
ok "/etc/smqtt/config.yaml is a conffile"

# The README's offline pipeline with the installed programs, reading the
# installed /etc/smqtt/config.yaml (no user configuration).
pipeline() {
	cd "$work" || return
	export HOME=$work XDG_CONFIG_HOME= SMQTT_CONFIG=
	smqtt-keygen -k abc.key > abc.pub || return
	openssl req -new -x509 -key abc.key -subj /CN=ABC -days 3650 -out abc.crt 2> /dev/null || return
	grep '^ABC,' "$repo/examples/readings.csv" > abc.csv || return
	n=$(wc -l < abc.csv)
	smqtt-sign -k abc.key -c abc.crt < abc.csv > frames.txt 2> sign.err || return
	[ "$(wc -l < frames.txt)" -eq "$n" ] || { echo "$n records, $(wc -l < frames.txt) frames"; return 1; }
	smqtt-verify -c abc.crt < frames.txt 2> verify.err | smqtt-store -d readings.db 2> store.err || return
	grep -qx "smqtt-store: $n stored, 0 duplicates, 0 rejected, 0 gaps (0 frames missing)" store.err || return
	# One altered reading is rejected with its line number, the rest goes through.
	sed '3s/,[0-9.]*$/,999.9/' frames.txt > altered.txt
	if cmp -s frames.txt altered.txt; then echo "frame 3 not altered"; return 1; fi
	local status=0
	smqtt-verify -c abc.crt < altered.txt > good.txt 2> altered.err || status=$?
	[ "$status" -eq 1 ] || { echo "smqtt-verify exited $status on an altered frame"; return 1; }
	grep -qx 'smqtt-verify: line 3: device ABC seq 3: bad signature' altered.err || return
	[ "$(wc -l < good.txt)" -eq "$((n - 1))" ] || { echo "$(wc -l < good.txt) frames passed"; return 1; }
}
(pipeline) > "$work/pipeline.out" 2>&1 ||
	fail "offline pipeline: $(cat "$work/pipeline.out" "$work"/*.err 2> /dev/null)"
ok "offline pipeline keygen | sign | verify | store with the installed programs ($((SECONDS - start)) s)"

# The file list sees what the package installed.
system_files > build/deb/files-installed
for f in /usr/bin/smqtt-sign /etc/smqtt/config.yaml /var/lib/smqtt /lib/systemd/system/smqtt-sink.service; do
	f=$(readlink -f "$f")
	grep -qx "$f" build/deb/files-installed || fail "the file list misses $f"
done

apt-get purge -y -qq smqtt > build/deb/purge.log 2>&1 || fail "apt-get purge smqtt: $(cat build/deb/purge.log)"
if dpkg-query -W -f='${Status}\n' smqtt 2> /dev/null | grep -q 'installed'; then
	fail "smqtt still installed after purge"
fi
system_files > build/deb/files-after
# adduser saves the previous passwd, group, shadow and gshadow as FILE-.
diff build/deb/files-before build/deb/files-after |
	grep -Ev '^[<>] /etc/(passwd|group|shadow|gshadow)-$' | grep '^[<>]' > build/deb/files-diff || true
[ ! -s build/deb/files-diff ] || fail "the purge left the system changed:
$(cat build/deb/files-diff)"
getent passwd smqtt > /dev/null || fail "the user smqtt was removed (files may still belong to it)"
ok "purged: no file left behind; the user smqtt is kept, as Debian packages do"
echo "$me: all passed in $((SECONDS - start)) s"
