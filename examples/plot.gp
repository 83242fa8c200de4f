# Consumption per meter over time, from a database of smqtt-store with the
# default schema (meter:device,time:text,channel:integer,value:real): one line
# per meter for channel 0 (import), as a PNG. Meters are told apart by the
# device that signed each reading, the device column.
#
#     gnuplot -e "db='readings.db'; out='consumption.png'" examples/plot.gp
#
# Needs gnuplot (Debian: gnuplot-nox) and the sqlite3 command-line shell.
if (!exists("db")) db = "readings.db"
if (!exists("out")) out = "consumption.png"
if (!exists("channel")) channel = 0

query(sql) = sprintf("< sqlite3 -separator '\t' '%s' \"%s\"", db, sql)
meters = system(sprintf("sqlite3 '%s' 'select distinct device from readings order by device'", db))
if (strlen(meters) == 0) print "plot.gp: no readings in ".db; exit status 1

set terminal png size 960,540 font ",10"
set output out
set datafile separator "\t"
set xdata time
set timefmt "%Y-%m-%d %H:%M:%S"
set format x "%d %b\n%H:%M"
set xlabel "time (15-minute readings)"
set ylabel sprintf("channel %d value per interval", channel)
set title sprintf("Consumption per meter (%s)", db)
set key outside right top
set grid
plot for [m in meters] \
	query(sprintf("select time, value from readings where device = '%s' and channel = %d order by time", m, channel)) \
	using 1:2 with steps linewidth 2 title m
