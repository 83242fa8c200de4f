#!/bin/sh
# Run the bats suite: tests/*.bats, or the .bats files given and those of the
# directories given as arguments; end with a "N passed, N failed, N skipped"
# line. Fails unless every planned test ran and passed, and no sanitizer
# report was written anywhere (including by a program whose status a pipeline
# hid).
set -u
here=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || set -- "$here"
# The files to run replace the arguments (after them, then shifted off).
given=$#
for arg in "$@"; do
	if [ -d "$arg" ]; then
		dir=$(cd "$arg" && pwd) || exit 1
		for f in "$dir"/*.bats; do
			[ ! -f "$f" ] || set -- "$@" "$f"
		done
	elif [ -f "$arg" ] && [ "${arg%.bats}" != "$arg" ]; then
		set -- "$@" "$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")"
	else
		echo "run.sh: $arg: not a directory or a .bats file" >&2
		exit 1
	fi
done
shift "$given"
[ $# -gt 0 ] || { echo "run.sh: no .bats files to run" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/sanitizer"
export SMQTT_SANITIZER_LOG="$work/sanitizer"
bats --tap "$@" | tee "$work/log"
planned=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$work/log" | head -n 1)
# A skipped test did not pass: count it apart (bats prints "ok N ... # skip").
skipped=$(grep -c '^ok .* # skip' "$work/log" || true)
passed=$(($(grep -c '^ok ' "$work/log" || true) - skipped))
failed=$(grep -c '^not ok ' "$work/log" || true)
reports=$(ls "$work/sanitizer")
if [ -n "$reports" ]; then
	echo "sanitizer reports:" >&2
	cat "$work/sanitizer"/* >&2
	failed=$((failed + 1))
fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ] && [ "$((passed + skipped))" = "${planned:-x}" ]
