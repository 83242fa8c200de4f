#!/bin/sh
# Install the Debian packages smqtt builds, tests and benchmarks with, when missing.
set -eu
cd "$(dirname "$0")/.."
packages="make gcc libc6-dev pkg-config libssl-dev openssl libsqlite3-dev sqlite3 libyaml-dev
libmosquitto-dev mosquitto mosquitto-clients libpq-dev postgresql bats mandoc valgrind time clang
libclang-rt-dev python3 gnuplot-nox systemd"
missing=
for p in $packages; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
# Node and npm run the BLS12-381 oracle (tests/bls/oracle.js); any Node from
# 18 on will do, so Debian's packages come in only when there is no node.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	for p in nodejs npm; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing="$missing $p"
	done
fi
if [ -n "$missing" ] && ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing packages:$missing (install them with your package manager)" >&2
	exit 1
fi
if [ -n "$missing" ]; then
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "deps: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	# Debian's postgresql creates and tries to start a cluster when installed;
	# without a service manager (a container) that start fails, harmlessly: the
	# tests start servers of their own (tests/pg_helper.bash). policy-rc.d says
	# so up front, for the install only, when none is there already.
	policy=
	if [ ! -e /usr/sbin/policy-rc.d ] && [ "$(id -u)" -eq 0 ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' > "$policy"
		chmod 755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	# shellcheck disable=SC2086
	$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
	[ -z "$policy" ] || rm -f "$policy"
fi

# @noble/curves, the independent implementation the BLS12-381 tests compare
# with: the exact version and hashes of tests/bls/package-lock.json, into
# build/noble (not into the source tree), and only when not already there.
noble=build/noble
pinned=$(sed -n 's/.*"@noble\/curves": "\([0-9.]*\)".*/\1/p' tests/bls/package.json)
have=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$noble/node_modules/@noble/curves/package.json" 2>/dev/null || true)
if [ "$have" != "$pinned" ]; then
	echo "deps: installing @noble/curves $pinned into $noble" >&2
	mkdir -p "$noble"
	cp tests/bls/package.json tests/bls/package-lock.json "$noble/"
	npm ci --prefix "$noble" --no-audit --no-fund --loglevel=error >/dev/null
fi
