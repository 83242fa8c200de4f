#!/bin/sh
# Run the bats suite; end with a "N passed, N failed" line. Fails unless every
# planned test ran and passed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT INT TERM
bats --tap "$here"/*.bats | tee "$log"
planned=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$log" | head -n 1)
passed=$(grep -c '^ok ' "$log" || true)
failed=$(grep -c '^not ok ' "$log" || true)
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ] && [ "$passed" = "${planned:-x}" ]
