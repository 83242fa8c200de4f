#!/bin/sh
# make deb: install what building the Debian package needs (through sudo when
# not root), then build it with dpkg-buildpackage from a copy of the tree in
# build/deb/, where the package lands (dpkg-buildpackage writes its results
# next to the source directory, which would be outside the tree).
set -eu
cd "$(dirname "$0")/../.."
me=deb

# The package's version is the program's: common/error.h and debian/changelog agree.
version=$(sed -n 's/^#define SMQTT_VERSION "\(.*\)"$/\1/p' common/error.h)
package_version=$(sed -n '1s/^smqtt (\([^)]*\)) .*/\1/p' debian/changelog)
if [ -z "$version" ] || [ "${package_version%-*}" != "$version" ]; then
	echo "$me: debian/changelog is at ${package_version:-no version}, common/error.h at ${version:-no version};" \
		"add a debian/changelog entry for $version" >&2
	exit 1
fi

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
if ! command -v dpkg-checkbuilddeps > /dev/null 2>&1 || ! dpkg-checkbuilddeps > /dev/null 2>&1; then
	echo "$me: installing the build dependencies (debian/control)" >&2
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends build-essential dpkg-dev > /dev/null
	$sudo apt-get build-dep -y -qq ./ > /dev/null
fi

src=build/deb/smqtt-$version
rm -rf build/deb
mkdir -p "$src"
tar -c --exclude=./.git --exclude=./build --exclude=./bin --exclude=./debian/smqtt \
	--exclude=./debian/.debhelper . | tar -x -C "$src"
(cd "$src" && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b)
ls build/deb/smqtt_"$package_version"_*.deb
