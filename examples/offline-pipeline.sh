#!/bin/sh
# A tour of the smqtt pipeline without a broker: make a key, sign meter ABC's
# readings from examples/readings.csv, verify the frames and store them in
# SQLite, then print the total of each channel.
#
# Run it from the top of the source tree after `make`:
#     sh examples/offline-pipeline.sh
# Everything it creates lives in a temporary directory removed at exit.
set -eu

bin=${SMQTT_BIN:-$(pwd)/bin}
csv=$(pwd)/examples/readings.csv
for prog in smqtt-keygen smqtt-sign smqtt-verify smqtt-store; do
	if [ ! -x "$bin/$prog" ]; then
		echo "offline-pipeline: $bin/$prog: not found (run make first, from the top of the tree)" >&2
		exit 2
	fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
cd "$work"

# 1. A P-256 key pair for the meter: abc.key (mode 0600) and abc.pub.
"$bin/smqtt-keygen" -k abc.key > abc.pub

# 2. Sign meter ABC's lines, one frame per line. The sequence numbers come
#    from the state file abc.key.seq, created next to the key.
grep '^ABC,' "$csv" | "$bin/smqtt-sign" -k abc.key -i ABC > frames.txt
echo "signed $(wc -l < frames.txt) frames; the first one:"
head -n 1 frames.txt

# 3. Check every frame against the meter's public key and store the ones that
#    pass. smqtt-store reports what it did on stderr.
"$bin/smqtt-verify" --pubkey ABC=abc.pub < frames.txt > verified.txt
"$bin/smqtt-store" -d readings.db < verified.txt

# 4. The database keeps each frame as signed, so it can be verified again at
#    any time without trusting the database.
sqlite3 readings.db 'select frame from readings order by device, seq' |
	"$bin/smqtt-verify" --pubkey ABC=abc.pub > /dev/null
echo "all stored frames verify again"

# 5. Energy per channel over the day (channel 0 import, channel 1 export).
sqlite3 -header -column readings.db \
	'select channel, count(*) as readings, round(sum(value), 1) as total
	 from readings where device = '\''ABC'\'' group by channel order by channel'
