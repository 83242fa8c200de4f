#!/bin/sh
# A whole keygen -> sign -> verify -> store run under valgrind memcheck:
# any memory error or definite leak fails it.
set -eu
bin=${SMQTT_BIN:?SMQTT_BIN must name the programs to check}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
vg="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite"
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$work"
head -n 200 "$here/examples/readings.csv" | grep '^ABC,' > in.csv
export KEYPASS=memcheck-pass
$vg "$bin/smqtt-keygen" -k m.key > m.pub
$vg "$bin/smqtt-keygen" --type ed25519 --passenv KEYPASS -k e.key > e.pub
$vg "$bin/smqtt-sign" -k m.key -i ABC < in.csv > frames
export KEYPASS=memcheck-pass
# E's own readings: smqtt-store refuses a record naming another meter.
sed 's/^ABC,/E,/' in.csv | $vg "$bin/smqtt-sign" -k e.key -i E --passenv KEYPASS >> frames
openssl req -new -x509 -key m.key -subj /CN=ABC -days 1 -out m.crt 2>/dev/null
$vg "$bin/smqtt-verify" -c m.crt --pubkey E=e.pub < frames > verified
{ cat frames; echo garbage; head -n 1 frames; } | $vg "$bin/smqtt-verify" --pubkey ABC=m.pub --pubkey E=e.pub > /dev/null 2>&1 && exit 1
[ $? -eq 1 ] || exit 1
$vg "$bin/smqtt-store" -d db < verified 2> store.err
cat verified verified | $vg "$bin/smqtt-store" -d db 2>> store.err
n=$(sqlite3 db 'select count(*) from readings')
[ "$n" -eq "$(wc -l < verified)" ] || { echo "memcheck: stored $n rows" >&2; exit 1; }
echo "memcheck: keygen, sign, verify, store clean under valgrind ($n frames)"
# The BLS12-381 arithmetic, through its test driver (built by make all).
driver=${SMQTT_BLS_DRIVER:-$here/build/release/tests/bls-driver}
$vg "$driver" check > bls-check || { echo "memcheck: bls12_381 checks failed" >&2; exit 1; }
$vg "$driver" cases 2 > /dev/null
$vg "$driver" ct > /dev/null || { echo "memcheck: bls12_381: a secret reaches a branch or an index" >&2; exit 1; }
echo "memcheck: bls12_381 checks and random cases clean under valgrind ($(grep -c '^ok ' bls-check) checks)"
# FAME: set-up, keys, encapsulation, decapsulation and the decoders.
fame=${SMQTT_FAME_DRIVER:-$here/build/release/tests/fame-driver}
$vg "$fame" check > fame-check || { echo "memcheck: fame checks failed" >&2; exit 1; }
$vg "$fame" roundtrip 4 >> fame-check || { echo "memcheck: fame round trips failed" >&2; exit 1; }
$vg "$fame" invalid >> fame-check || { echo "memcheck: fame invalid encodings failed" >&2; exit 1; }
echo "memcheck: fame checks, round trips and invalid encodings clean under valgrind ($(grep -c '^ok ' fame-check) checks)"
# Encrypted readings: the key authority, encryption before signing, decryption after verifying.
$vg "$bin/smqtt-pkg" setup -m abe-master.key > abe-params.pem
mkdir -m 700 abe-keys
$vg "$bin/smqtt-pkg" keygen --params abe-params.pem -m abe-master.key -o abe-keys billing role:billing > /dev/null
$vg "$bin/smqtt-encrypt" --params abe-params.pem -i ABC -P 'role:billing or role:audit' --repeat 1000 < in.csv > abe-records
"$bin/smqtt-sign" -k m.key -i ABC -S abe.seq < abe-records | "$bin/smqtt-verify" -c m.crt > abe-frames
$vg "$bin/smqtt-decrypt" --params abe-params.pem -k abe-keys/billing.cpkey < abe-frames > abe-out
cmp -s abe-out in.csv || { echo "memcheck: decrypted records differ from the originals" >&2; exit 1; }
# A restart: the second run reads its capsule from the capsule file.
head -n 97 abe-frames > abe-first
tail -n +98 abe-frames > abe-rest
$vg "$bin/smqtt-decrypt" --params abe-params.pem -k abe-keys/billing.cpkey --capsules abe-caps < abe-first > abe-out
$vg "$bin/smqtt-decrypt" --params abe-params.pem -k abe-keys/billing.cpkey --capsules abe-caps < abe-rest >> abe-out
cmp -s abe-out in.csv || { echo "memcheck: records decrypted in two runs differ from the originals" >&2; exit 1; }
echo "memcheck: pkg, encrypt, decrypt clean under valgrind ($(wc -l < abe-out) records)"
