# bash completion for the smqtt programs.
#
# Installed once per program name in bash-completion's completions
# directory; whichever copy is loaded registers all the programs. It uses
# no helper from the bash-completion package, so it also works sourced on
# its own.

# _smqtt_files PREFIX CUR: complete file names starting with CUR, each
# preceded by PREFIX (used for "--opt=FILE" and "DEVICE=FILE" words).
_smqtt_files()
{
	compopt -o filenames 2>/dev/null
	mapfile -t COMPREPLY < <(compgen -f -P "$1" -- "$2")
}

# _smqtt_words WORDLIST PREFIX CUR: complete from a fixed list of words.
_smqtt_words()
{
	mapfile -t COMPREPLY < <(compgen -W "$1" -P "$2" -- "$3")
}

_smqtt()
{
	local program=${COMP_WORDS[0]##*/}
	local cword=$COMP_CWORD
	local cur=${COMP_WORDS[cword]} prev= prefix= left=
	((cword > 0)) && prev=${COMP_WORDS[cword - 1]}
	COMPREPLY=()

	# "--key=FILE" arrives as the three words "--key" "=" "FILE" while '='
	# is in COMP_WORDBREAKS (the default), and as one word otherwise.
	if [[ $cur == = ]]; then
		cur=
		left=$((cword - 1))
	elif [[ $prev == = ]] && ((cword > 1)); then
		left=$((cword - 2))
	elif [[ $cur == --*=* ]]; then
		prev=${cur%%=*}
		prefix=$prev=
		cur=${cur#*=}
	fi
	[[ -n $left ]] && prev=${COMP_WORDS[left]}

	local options file_options= type_options= env_options= free_options=
	case $program in
	smqtt-keygen)
		options='-k --key --type -f --force --passfile --passenv --passfd --help --version'
		file_options='-k --key --passfile'
		type_options='-t --type'
		env_options='--passenv'
		free_options='--passfd'
		;;
	smqtt-sign)
		options='-k --key -i --id -c --cert -S --state --first-seq --passfile --passenv --passfd --config --help --version'
		file_options='-k --key -c --cert -S --state --passfile --config'
		env_options='--passenv'
		free_options='-i --id --first-seq --passfd'
		;;
	smqtt-verify)
		options='-c --cert --pubkey -R --registry --archive --cache --rejects -j --jobs --config --help --version'
		file_options='-c --cert -R --registry --rejects --config'
		free_options='-p --pubkey --cache -j --jobs'
		# -p DEVICE=FILE: the device id is free-form, the file a file name.
		if [[ -n $left ]] && ((left > 0)); then
			case ${COMP_WORDS[left - 1]} in
			-p | --pubkey)
				_smqtt_files '' "$cur"
				return 0
				;;
			esac
		elif [[ ($prev == -p || $prev == --pubkey) && $cur == *=* ]]; then
			_smqtt_files "${cur%%=*}=" "${cur#*=}"
			return 0
		fi
		;;
	smqtt-store)
		options='-d --db -s --schema -b --batch -w --wait --gaps --config --help --version'
		file_options='-d --db --config'
		free_options='-s --schema -b --batch -w --wait'
		;;
	smqtt-issue)
		options='--ca-dir -o --out --type --cn --days --manifest --reissue --jobs -R --registry --dns --ip
			-f --force --passfile --passenv --passfd --config --help --version'
		file_options='--ca-dir -o --out --manifest -R --registry --passfile --config'
		type_options='-t --type'
		env_options='--passenv'
		free_options='--cn --days --jobs --dns --ip --passfd'
		# The command comes first: ca, device, server or crl.
		local w has_command=
		for w in "${COMP_WORDS[@]:1:cword-1}"; do
			case $w in ca | device | server | crl) has_command=1 ;; esac
		done
		if [[ -z $has_command && $cur != -* && -z $prefix ]] && ! [[ " $file_options $type_options $free_options $env_options " == *" $prev "* ]]; then
			_smqtt_words 'ca device server crl' '' "$cur"
			return 0
		fi
		;;
	smqtt-pkg)
		options='-m --master --params -o --out --kp -R --registry --epoch --no-epoch -f --force
			--passfile --passenv --passfd --config --help --version'
		file_options='-m --master --params -o --out -R --registry --passfile --config'
		env_options='--passenv'
		free_options='--epoch --passfd'
		# The command comes first: setup or keygen; ids, attributes and policies after it are free-form.
		local w has_command=
		for w in "${COMP_WORDS[@]:1:cword-1}"; do
			case $w in setup | keygen) has_command=1 ;; esac
		done
		if [[ $cur != -* && -z $prefix && -z $left ]] && ! [[ " $file_options $free_options $env_options " == *" $prev "* ]]; then
			[[ -z $has_command ]] && _smqtt_words 'setup keygen' '' "$cur"
			return 0
		fi
		;;
	smqtt-encrypt)
		options='--params -i --id -P --policy -a --attribute --epoch --no-epoch --rekey --repeat --config --help --version'
		file_options='--params --config'
		free_options='-i --id -P --policy -a --attribute --epoch --rekey --repeat'
		;;
	smqtt-decrypt)
		options='--params -k --key --capsules --max-capsules --config --help --version'
		file_options='--params -k --key --capsules --config'
		free_options='--max-capsules'
		;;
	smqtt-pub | smqtt-sub)
		options='-t --topic -q --qos -h --host -p --port -i --id -V --protocol-version
			--keepalive --cafile --capath --cert --key --passfile --passenv --passfd
			--tls-version --insecure --no-tls --retry-for --debug --config --help --version'
		if [[ $program == smqtt-pub ]]; then
			options+=' --inflight'
		else
			options+=' -C --count -W --timeout -v --verbose --session-expiry --max-packet-size'
		fi
		file_options='--cafile --cert --key --passfile --config'
		env_options='--passenv'
		free_options='-t --topic -h --host -p --port -i --id --keepalive --passfd --retry-for
			--inflight -C --count -W --timeout --session-expiry --max-packet-size'
		case $prev in
		-q | --qos)
			_smqtt_words '0 1 2' "$prefix" "$cur"
			return 0
			;;
		-V | --protocol-version)
			_smqtt_words '5 311' "$prefix" "$cur"
			return 0
			;;
		--tls-version)
			_smqtt_words 'tlsv1.2 tlsv1.3' "$prefix" "$cur"
			return 0
			;;
		--capath)
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -d -P "$prefix" -- "$cur")
			return 0
			;;
		esac
		;;
	smqtt-register)
		options='-R --registry --ca --retire-old --csv --json --reason --config --help --version'
		file_options='-R --registry --ca --config'
		if [[ $prev == --reason ]]; then
			_smqtt_words 'unspecified keyCompromise cACompromise affiliationChanged superseded
				cessationOfOperation certificateHold privilegeWithdrawn aACompromise' "$prefix" "$cur"
			return 0
		fi
		# The command comes first; device ids, serials and attributes after it are free-form.
		local w has_command=
		for w in "${COMP_WORDS[@]:1:cword-1}"; do
			case $w in init | add | list | show | cert | set | get | unset | retire | revoke | revoked) has_command=1 ;; esac
		done
		if [[ $cur != -* && -z $prefix && -z $left ]] && ! [[ " $file_options " == *" $prev "* ]]; then
			[[ -z $has_command ]] &&
				_smqtt_words 'init add list show cert set get unset retire revoke revoked' '' "$cur"
			return 0
		fi
		;;
	*)
		return 0
		;;
	esac

	# The argument of an option.
	local o
	for o in $file_options; do
		if [[ $prev == "$o" ]]; then
			_smqtt_files "$prefix" "$cur"
			return 0
		fi
	done
	for o in $type_options; do
		if [[ $prev == "$o" ]]; then
			_smqtt_words 'p256 p384 ed25519' "$prefix" "$cur"
			return 0
		fi
	done
	for o in $env_options; do
		if [[ $prev == "$o" ]]; then
			mapfile -t COMPREPLY < <(compgen -e -P "$prefix" -- "$cur")
			return 0
		fi
	done
	for o in $free_options; do
		# A free-form argument: nothing sensible to offer.
		[[ $prev == "$o" ]] && return 0
	done
	# Right of an '=' that belongs to no known option.
	[[ -n $left || -n $prefix ]] && return 0

	# No program takes operands, so any other word is an option.
	_smqtt_words "$options" '' "$cur"
	return 0
}

complete -F _smqtt smqtt-keygen smqtt-sign smqtt-verify smqtt-store smqtt-issue smqtt-register smqtt-pub smqtt-sub smqtt-pkg smqtt-encrypt smqtt-decrypt
