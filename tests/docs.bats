#!/usr/bin/env bats
# Documentation: manual pages, shell completions and examples agree with the
# programs, and every recipe they show actually works.

: "${SMQTT_BIN:=$BATS_TEST_DIRNAME/../bin}"
load test_helper

# Every manual page in man/.
PAGES=$(cd "$BATS_TEST_DIRNAME/../man" && ls)

setup() {
	common_setup
}

# The programs that exist: one per cmd/smqtt-*.c.
programs() {
	local f
	for f in "$REPO"/cmd/smqtt-*.c; do
		[ -e "$f" ] || continue
		f=${f##*/}
		printf '%s\n' "${f%.c}"
	done
}

require_mandoc() {
	command -v mandoc > /dev/null || fail "mandoc is not installed (make deps installs it); cannot check the manual pages"
}

# render PAGE: the page as plain text, without overstrike.
render() {
	mandoc -Tascii "$REPO/man/$1" | sed 's/.\x08//g'
}

# long_options PROG: the long options named in PROG --help, one per line.
long_options() {
	"$SMQTT_BIN/$1" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u
}

# complete_words WORD...: run the bash completion registered for WORD[0] on
# the command line WORD..., completing the last word; print COMPREPLY.
complete_words() {
	bash --norc --noprofile -c '
		file=$1
		shift
		source "$file" || exit 90
		spec=$(complete -p "$1") || exit 91
		func=$(printf "%s\n" "$spec" | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
		[ -n "$func" ] || exit 92
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		COMPREPLY=()
		"$func" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		for w in "${COMPREPLY[@]}"; do
			printf "%s\n" "$w"
		done
	' complete_words "$REPO/completions/smqtt.bash" "$@"
}

# help_entries PROG: "--LONG<TAB>text" for each option in PROG --help, continuation lines joined.
help_entries() {
	"$SMQTT_BIN/$1" --help | awk '
		function flush() { if (opt != "") print opt "\t" text; opt = "" }
		/^  (-[A-Za-z0-9], )?--[a-z]/ || /^      --[a-z]/ {
			flush(); match($0, /--[a-z][a-z0-9-]*/)
			opt = substr($0, RSTART, RLENGTH); text = $0; next
		}
		/^        / && opt != "" { text = text " " $0; next }
		{ flush() }
		END { flush() }' | tr -s ' '
}
# man_entries PAGE: "--LONG<TAB>text" for each option tagged in the rendered OPTIONS section.
man_entries() {
	mandoc -Tascii "$REPO/man/$1" | col -bx | awk '
		function flush() { if (opt != "") print opt "\t" text; opt = "" }
		/^[A-Z]/ { flush(); options = ($0 == "OPTIONS"); next }
		!options { next }
		/^     -/ {
			flush(); tag = $0; sub(/^ +/, "", tag); sub(/  .*/, "", tag)
			if (match(tag, /(^|, )--[a-z][a-z0-9-]*/)) {
				opt = substr(tag, RSTART, RLENGTH); sub(/^, /, "", opt); text = $0
			}
			next
		}
		/^     [^ ]/ { flush(); next }
		opt != "" { text = text " " $0 }
		END { flush() }' | tr -s ' '
}
# default_numbers TEXT: the numbers in the clause after the first "default", up to ")", ";" or a full stop.
default_numbers() {
	awk '{
		i = match($0, /[Dd]efault/); if (!i) exit
		s = substr($0, i + 7); e = length(s) + 1
		if ((j = index(s, ")")) && j < e) e = j
		if ((j = index(s, ";")) && j < e) e = j
		if (match(s, /\.( |$)/) && RSTART < e) e = RSTART
		s = substr(s, 1, e - 1)
		while (match(s, /[0-9]+/)) { print substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH) }
	}' <<< "$1" | sort -u | tr '\n' ' '
}

# recipe_script: the openssl recipe from smqtt-frame(5), as sh commands.
recipe_script() {
	sed -n '/^\.\\" openssl-recipe-begin$/,/^\.\\" openssl-recipe-end$/p' "$REPO/man/smqtt-frame.5" |
		grep -v '^\.' | sed 's/\\e/\\/g'
}

@test "docs: every manual page exists and is clean under mandoc -Tlint -Wwarning" {
	require_mandoc
	for page in $PAGES; do
		[ -f "$REPO/man/$page" ] || fail "man/$page is missing"
	done
	for page in "$REPO"/man/*.[1-9]; do
		run mandoc -Tlint -Wwarning "$page"
		[ "$status" -eq 0 ] && [ -z "$output" ] || fail "mandoc -Tlint -Wwarning $page: $output"
	done
}

@test "docs: every manual page renders without a literal macro in its text" {
	require_mandoc
	# A macro that lost its line start (".It" after a sentence's period) is
	# printed as text; -Tlint does not notice.
	local macros='Ad|An|Ap|Ar|Bd|Bl|Cd|Cm|D1|Dl|Dq|Dt|Dv|Ed|El|Em|Er|Ev|Fa|Fl|Fn|Ic|In|It|Lk|Li|Nd|Nm|No|Ns|Op|Pa|Pp|Pq|Ql|Qq|Sh|Ss|Sq|Sx|Sy|Ta|Tn|Va|Xr'
	local page n=0
	for page in $PAGES; do
		run render "$page"
		[ "$status" -eq 0 ] && [ -n "$output" ] || fail "mandoc -Tascii $page: status $status"
		stray=$(grep -nE "(^|[^A-Za-z0-9_])\.($macros)([^A-Za-z0-9]|\$)" <<< "$output") &&
			fail "$page renders a macro as text: $stray"
		n=$((n + 1))
	done
	[ "$n" -ge 10 ] || fail "only $n pages rendered"
}

@test "docs: every program has a manual page, --help and --version" {
	local n=0
	for prog in $(programs); do
		n=$((n + 1))
		[ -f "$REPO/man/$prog.1" ] || fail "cmd/$prog.c has no man/$prog.1"
		"$SMQTT_BIN/$prog" --help > out 2> err || fail "$prog --help: exit status $?"
		grep -q '^usage: ' out || fail "$prog --help: no 'usage:' line on stdout: $(cat out)"
		[ ! -s err ] || fail "$prog --help wrote to stderr: $(cat err)"
		"$SMQTT_BIN/$prog" --version > out 2> err || fail "$prog --version: exit status $?"
		grep -q "^$prog [0-9]" out || fail "$prog --version: unexpected output: $(cat out)"
	done
	[ "$n" -ge 4 ] || fail "found only $n programs under cmd/"
}

@test "docs: every manual page has NAME, SYNOPSIS, DESCRIPTION, the exit-code table, EXAMPLES and SEE ALSO" {
	require_mandoc
	for page in $PAGES; do
		render "$page" > text
		for section in NAME DESCRIPTION 'EXIT STATUS' EXAMPLES 'SEE ALSO'; do
			grep -q "^$section\$" text || fail "man/$page: no $section section"
		done
		case $page in
		*.1) grep -q '^SYNOPSIS$' text || fail "man/$page: no SYNOPSIS section" ;;
		esac
		# Exit codes 0 to 4, each as an item of the EXIT STATUS list.
		sed -n '/^EXIT STATUS$/,/^[A-Z]/p' text > exits
		for code in 0 1 2 3 4; do
			grep -qE "^ +$code {2,}[A-Z]" exits || fail "man/$page: exit status $code not documented"
		done
	done
}

@test "docs: cross-references to smqtt pages point at pages that exist" {
	for page in $PAGES; do
		for ref in $(sed -n 's/^\.Xr \(smqtt[a-z-]*\) \([1-9]\).*/\1.\2/p' "$REPO/man/$page"); do
			[ -f "$REPO/man/$ref" ] || fail "man/$page refers to $ref, which does not exist"
		done
	done
}

@test "docs: every long option of every program is in its manual page" {
	require_mandoc
	for prog in $(programs); do
		opts=$(long_options "$prog")
		[ -n "$opts" ] || fail "$prog --help names no long options"
		render "$prog.1" > text
		for opt in $opts; do
			grep -qE -- "(^|[^a-z-])$opt([^a-z-]|\$)" text || fail "man/$prog.1 does not mention $opt"
		done
	done
}

@test "docs: each option's default in --help is the one its manual page gives" {
	require_mandoc
	local prog opt text page_text checked=0
	for prog in $(programs); do
		man_entries "$prog.1" > "$prog.man" || fail "$prog.1 did not render"
		help_entries "$prog" > "$prog.help"
		[ -s "$prog.help" ] || fail "$prog --help lists no options"
		while IFS=$'\t' read -r opt text; do
			[[ $text == *default* ]] || continue
			page_text=$(awk -F '\t' -v opt="$opt" '$1 == opt { print $2 }' "$prog.man")
			[ -n "$page_text" ] || fail "$prog.1 has no OPTIONS entry for $opt"
			[ "$(default_numbers "$text")" = "$(default_numbers "$page_text")" ] ||
				fail "$prog $opt: the default in --help ($text) differs from $prog.1 ($page_text)"
			[ -z "$(default_numbers "$text")" ] || checked=$((checked + 1))
		done < "$prog.help"
	done
	[ "$checked" -ge 10 ] || fail "only $checked defaults with numbers compared"
}

@test "docs: the bash completion offers every long option of every program" {
	for prog in $(programs); do
		complete_words "$prog" -- > offered || fail "bash completion for $prog failed (status $?)"
		for opt in $(long_options "$prog"); do
			grep -qFx -- "$opt" offered || fail "bash completion for $prog does not offer $opt; offered: $(tr '\n' ' ' < offered)"
		done
		# Only options that start with what was typed.
		! grep -qv -- '^--' offered || fail "bash completion for $prog offered non-matching words"
	done
}

@test "docs: the bash completion completes arguments by kind" {
	touch pub.pem public.crt other.txt
	run complete_words smqtt-keygen --type ''
	[ "$(printf '%s\n' "$output" | sort | tr '\n' ' ')" = "ed25519 p256 p384 " ] || fail "--type offered: $output"
	run complete_words smqtt-keygen --type e
	[ "$output" = ed25519 ] || fail "--type e offered: $output"
	run complete_words smqtt-sign -k pu
	[ "$(printf '%s\n' "$output" | sort | tr '\n' ' ')" = "pub.pem public.crt " ] || fail "-k pu offered: $output"
	run complete_words smqtt-store --db = oth
	[ "$output" = other.txt ] || fail "--db=oth offered: $output"
	run complete_words smqtt-verify --pubkey ABC = pub.
	[ "$output" = pub.pem ] || fail "-p ABC=pub. offered: $output"
	run complete_words smqtt-sign -i ''
	[ -z "$output" ] || fail "-i (a free-form device id) offered: $output"
	run complete_words smqtt-store -b ''
	[ -z "$output" ] || fail "-b (a number) offered: $output"
	run complete_words smqtt-verify --rejects p
	[ "$(printf '%s\n' "$output" | sort | tr '\n' ' ')" = "pub.pem public.crt " ] || fail "--rejects p offered: $output"
}

@test "docs: the zsh completion covers every program and long option" {
	head -n 1 "$REPO/completions/_smqtt" > first
	for prog in $(programs); do
		grep -qE "^#compdef( [a-z-]+)* $prog( |\$)" first || fail "_smqtt: #compdef line does not name $prog"
		grep -qE "^$prog\)" "$REPO/completions/_smqtt" || fail "_smqtt: no case for $prog"
		for opt in $(long_options "$prog"); do
			# As an _arguments spec: --opt=, --opt+, --opt[ or {-o,--opt}.
			grep -qE -- "$opt(=|\+|\[|\})" "$REPO/completions/_smqtt" || fail "_smqtt has no spec for $opt"
		done
	done
	if command -v zsh > /dev/null; then
		zsh -n "$REPO/completions/_smqtt" || fail "_smqtt: zsh syntax error"
	fi
}

@test "docs: the openssl recipe in smqtt-frame(5) verifies a P-256 frame and rejects a changed one" {
	recipe_script > recipe.sh
	[ "$(grep -c openssl recipe.sh)" -ge 3 ] || fail "recipe not found in smqtt-frame(5): $(cat recipe.sh)"
	make_key m p256
	mv m.pub pub.pem
	grep '^ABC,' "$REPO/examples/readings.csv" | head -n 5 | smqtt-sign -k m.key -i ABC > frames.txt
	run sh recipe.sh
	[ "$status" -eq 0 ] || fail "recipe failed: $output"
	assert_contains "Signature Verified Successfully"
	# The same recipe must catch a record changed after signing.
	sed -i '1s/,0,\([0-9]*\)\.\([0-9]\)$/,0,9\1.\2/' frames.txt
	run sh recipe.sh
	[ "$status" -ne 0 ] || fail "recipe accepted a changed record: $output"
	refute_contains "Signature Verified Successfully"
}

@test "docs: the openssl recipe with -rawin verifies an Ed25519 frame" {
	recipe_script | sed '$s/$/ -rawin/' > recipe.sh
	make_key m ed25519
	mv m.pub pub.pem
	printf 'DEF,2013-11-02 00:15:00,1,"a, quoted" record\n' | smqtt-sign -k m.key -i dev.1_x > frames.txt
	run sh recipe.sh
	[ "$status" -eq 0 ] || fail "recipe failed: $output"
	assert_contains "Signature Verified Successfully"
}

@test "docs: the public key taken from a certificate as shown in smqtt-frame(5) works with the recipe" {
	grep -q 'openssl x509 -in cert.pem -pubkey -noout > pub.pem' "$REPO/man/smqtt-frame.5" ||
		fail "smqtt-frame(5) no longer shows how to get pub.pem from a certificate"
	recipe_script > recipe.sh
	make_key m p384
	make_cert m GHI
	mv m.crt cert.pem
	openssl x509 -in cert.pem -pubkey -noout > pub.pem
	echo 'GHI,2013-11-02 00:15:00,0,12.5' | smqtt-sign -k m.key -c cert.pem > frames.txt
	run sh recipe.sh
	[ "$status" -eq 0 ] || fail "recipe failed: $output"
	assert_contains "Signature Verified Successfully"
}

@test "docs: examples/readings.csv is one day of 15-minute readings, two channels, three meters" {
	csv="$REPO/examples/readings.csv"
	[ "$(wc -l < "$csv")" -eq 576 ] || fail "expected 576 lines, got $(wc -l < "$csv")"
	run grep -cvE '^(ABC|DEF|GHI),2013-11-0[23] [0-2][0-9]:[0-5][0-9]:00,[01],[0-9]+\.[0-9]$' "$csv"
	[ "$output" -eq 0 ] || fail "$output lines do not look like METER,TIME,CHANNEL,VALUE"
	for meter in ABC DEF GHI; do
		for channel in 0 1; do
			n=$(grep -c "^$meter,.*,$channel,[0-9.]*\$" "$csv")
			[ "$n" -eq 96 ] || fail "$meter channel $channel: $n readings, expected 96"
		done
	done
}

@test "docs: examples/offline-pipeline.sh runs from the top of the tree and cleans up" {
	mkdir tmp
	expected=$(awk -F, '$1 == "ABC" && $3 == 0 { s += $4 } END { printf "%.1f", s }' "$REPO/examples/readings.csv")
	(cd "$REPO" && TMPDIR="$BATS_TEST_TMPDIR/tmp" SMQTT_BIN="$SMQTT_BIN" sh examples/offline-pipeline.sh) > out 2> err ||
		fail "offline-pipeline.sh failed (status $?): $(cat out err)"
	grep -qE "^0 +96 +$expected *\$" out || fail "no channel 0 total of $expected in: $(cat out)"
	grep -qE '^1 +96 +0\.0 *$' out || fail "no channel 1 total in: $(cat out)"
	grep -q 'smqtt-store: 192 stored, 0 duplicates, 0 rejected, 0 gaps' err || fail "unexpected stderr: $(cat err)"
	[ -z "$(ls -A tmp)" ] || fail "offline-pipeline.sh left files behind: $(ls -A tmp)"
}

@test "docs: the bash completion offers the commands of smqtt-issue and smqtt-register, as --help lists them" {
	for prog in smqtt-issue smqtt-register; do
		# The first lowercase word after the program name on each usage line.
		listed=$("$SMQTT_BIN/$prog" --help | awk -v p="$prog" '{
			for (i = 1; i < NF; i++)
				if ($i == p) {
					for (j = i + 1; j <= NF; j++)
						if ($j ~ /^[a-z]+$/) { print $j; break }
					break
				}
		}' | sort -u | tr '\n' ' ')
		[ "$(wc -w <<< "$listed")" -ge 4 ] || fail "$prog --help lists only: $listed"
		case $prog in
		smqtt-issue) complete_words "$prog" '' > offered ;;
		smqtt-register) complete_words "$prog" -R reg.db '' > offered ;;
		esac
		[ "$(sort -u offered | tr '\n' ' ')" = "$listed" ] ||
			fail "$prog: completion offers $(tr '\n' ' ' < offered), --help lists $listed"
	done
}
