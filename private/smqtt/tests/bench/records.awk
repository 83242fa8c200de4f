# Generate N synthetic meter records, one per line:
#   METER,YYYY-MM-DD HH:MM:SS,CHANNEL,VALUE
# e.g. M0001,2013-11-02 00:15:00,0,58.0
# Four meters with two channels each (0 = import, 1 = export) report every
# 15 minutes from 2013-11-02 00:00:00 on. Values are pseudo-random but the
# same on every run (fixed seed). Plain POSIX awk (mawk is enough).
# With -v device=ID every record names ID instead, the device that signs
# them all, as smqtt-store's default schema requires.
# Usage: awk -v n=200000 [-v device=ID] -f records.awk

# Days since 1970-01-01 to YYYY-MM-DD (proleptic Gregorian calendar).
function civil(z,    era, doe, yoe, y, doy, mp, d, m) {
	z += 719468
	era = int((z >= 0 ? z : z - 146096) / 146097)
	doe = z - era * 146097
	yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)
	y = yoe + era * 400
	doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100))
	mp = int((5 * doy + 2) / 153)
	d = doy - int((153 * mp + 2) / 5) + 1
	m = mp < 10 ? mp + 3 : mp - 9
	if (m <= 2)
		y++
	return sprintf("%04d-%02d-%02d", y, m, d)
}

BEGIN {
	if (n == "")
		n = 200000
	meters = 4
	channels = 2
	per_slot = meters * channels
	day0 = 16011			# 2013-11-02
	srand(20131102)
	for (i = 0; i < n; i++) {
		slot = int(i / per_slot)	# 15-minute interval number
		k = i % per_slot
		meter = int(k / channels) + 1
		channel = k % channels
		mins = slot * 15
		day = day0 + int(mins / 1440)
		if (day != lastday) {
			date = civil(day)
			lastday = day
		}
		mod = mins % 1440
		# Import follows a daily curve; export is smaller and often zero.
		hour = int(mod / 60)
		if (channel == 0)
			v = 20 + 40 * rand() + (hour >= 17 && hour < 22 ? 30 : 0)
		else
			v = (hour >= 9 && hour < 16) ? 25 * rand() : 0
		printf "%s,%s %02d:%02d:00,%d,%.1f\n", (device != "" ? device : sprintf("M%04d", meter)), date,
			int(mod / 60), mod % 60, channel, v
	}
}
