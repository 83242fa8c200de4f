#!/bin/sh
# Install the Debian packages smqtt builds, tests and benchmarks with, when missing.
set -eu
packages="make gcc libc6-dev pkg-config libssl-dev openssl libsqlite3-dev sqlite3 libyaml-dev
libmosquitto-dev mosquitto mosquitto-clients bats mandoc valgrind time clang libclang-rt-dev python3
gnuplot-nox systemd"
missing=
for p in $packages; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing packages:$missing (install them with your package manager)" >&2
	exit 1
fi
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
