# Helpers shared by the benchmark scripts (sourced, not run).

say() { printf 'bench: %s\n' "$*" >&2; }
die() {
	printf 'bench: FAILED: %s\n' "$*" >&2
	exit 1
}

# elapsed START END: seconds between two $EPOCHREALTIME readings
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# rate COUNT SECONDS: per second, rounded
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
# ratio A B: A / B to two places (0 when B is 0)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
# atleast RATIO GOAL: yes or no
atleast() { awk -v r="$1" -v g="$2" 'BEGIN { print (r >= g ? "yes" : "no") }'; }
# mib KIB: mebibytes to one place
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# median NUMBER...
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
# maximum NUMBER...
maximum() { printf '%s\n' "$@" | sort -g | tail -n 1; }
