# Replace the "# Install: ..." paragraph of a unit's leading comment (how to
# set up by hand what the package does) with the package's own, and say where
# the package, not make install, puts the programs.
/^# Install:/ {
	skip = 1
	print "# Debian: the package created the user smqtt and the directories"
	print "# /var/lib/smqtt and /var/spool/smqtt, owned by smqtt. Configure"
	print "# /etc/smqtt/config.yaml (/usr/share/doc/smqtt/README.Debian), then enable\n# the unit with systemctl."
	next
}
skip && /^#/ { next }
/^# Where make install puts / { sub(/make install/, "the package") }
{ skip = 0; print }
