#!/usr/bin/env bash
# BLS12-381 benchmark, run by `make bench`: milliseconds of CPU time per
# operation (median of SMQTT_BENCH_BLS_RUNS runs, default 21) for
# common/bls12_381 (tests/bls/driver.c bench) beside @noble/curves in Node
# (tests/bls/bench.js) in the same run, and openssl speed ecdsap256 for scale.
# Goal (issue 12): a pairing at least 10 times faster than noble's.
#
# Prints a Markdown table on stdout, also written to build/bench-bls.md.

set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck disable=SC1091
. "$here/lib.bash"
RUNS=${SMQTT_BENCH_BLS_RUNS:-21}
OSSL_SECONDS=${SMQTT_BENCH_SECONDS:-3}
driver=$root/build/release/tests/bls-driver
noble=$root/build/noble

[ -x "$driver" ] || die "$driver not found (run make first)"
command -v node >/dev/null || die "node not installed (tests/deps.sh installs it)"
[ -f "$noble/node_modules/@noble/curves/package.json" ] || die "@noble/curves missing from $noble (run tests/deps.sh)"
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$noble/node_modules/@noble/curves/package.json")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say "bls12_381: ours, $RUNS runs each"
"$driver" bench "$RUNS" >"$work/ours" || die "tests/bls/driver bench failed"
say "bls12_381: @noble/curves $version in node $(node --version), $RUNS runs each"
node "$root/tests/bls/bench.js" "$noble" "$RUNS" >"$work/noble" || die "tests/bls/bench.js failed"
say "openssl speed -seconds $OSSL_SECONDS ecdsap256"
ecdsa=$(openssl speed -mr -seconds "$OSSL_SECONDS" ecdsap256 2>/dev/null |
	awk -F: '/^\+F4:/ { printf "%.4f %.4f\n", 1000 / $4, 1000 / $5 }')
[ -n "$ecdsa" ] || die "could not parse openssl speed ecdsap256 output"

value() { awk -v n="$2" '$1 == n { print $2 }' "$1"; }
{
	echo "### BLS12-381 (ms of CPU time per operation, median of $RUNS)"
	echo
	echo "| operation | smqtt (C) | @noble/curves $version | noble / smqtt |"
	echo "| --- | ---: | ---: | ---: |"
	for op in pairing g1_mul g2_mul g1_mul_table g2_mul_table hash_to_g1 g1_decode g2_decode; do
		o=$(value "$work/ours" "$op")
		n=$(value "$work/noble" "$op")
		[ -n "$o" ] && [ -n "$n" ] || die "no $op timing"
		case $op in
		pairing) label="pairing e(P, Q)" ;;
		g1_mul) label="G1 scalar multiplication (constant time)" ;;
		g2_mul) label="G2 scalar multiplication (constant time)" ;;
		g1_mul_table) label="G1 generator multiplication, fixed-base table" ;;
		g2_mul_table) label="G2 generator multiplication, fixed-base table" ;;
		hash_to_g1) label="hash to G1 (RFC 9380)" ;;
		g1_decode) label="G1 decoding with subgroup check" ;;
		g2_decode) label="G2 decoding with subgroup check" ;;
		esac
		echo "| $label | $o | $n | $(ratio "$n" "$o") |"
	done
	read -r sign verify <<<"$ecdsa"
	echo "| scale: ECDSA P-256 sign / verify (openssl speed) | $sign / $verify | | |"
	echo
	p_ours=$(value "$work/ours" pairing)
	p_noble=$(value "$work/noble" pairing)
	echo "Pairing goal (at least 10 times faster than noble): $(atleast "$(ratio "$p_noble" "$p_ours")" 10)."
	echo "Filling a fixed-base table: G1 $(value "$work/ours" g1_table_init) ms, G2 $(value "$work/ours" g2_table_init) ms."
	echo "Base-field multiplication: $(value "$work/ours" fp_mul_ns) ns."
} | tee "$root/build/bench-bls.md"
