/* Command-line helpers shared by the programs: number arguments and passphrase options. */
#ifndef SMQTT_OPTIONS_H
#define SMQTT_OPTIONS_H

#include <stdbool.h>

#include "keys.h"

/* Parse a decimal in [min, max]; dies with EXIT_USAGE naming the option on error. */
long long option_number(const char *option, const char *text, long long min, long long max);

/*
 * The passphrase options every key-reading program takes:
 * --passfile FILE, --passenv VAR, --passfd FD (never the passphrase itself in argv).
 */
#define PASSPHRASE_LONG_OPTIONS                                                                    \
	{"passfile", required_argument, NULL, OPT_PASSFILE},                                        \
	{"passenv", required_argument, NULL, OPT_PASSENV},                                          \
	{"passfd", required_argument, NULL, OPT_PASSFD}
enum { OPT_PASSFILE = 256, OPT_PASSENV, OPT_PASSFD, OPT_HELP, OPT_VERSION, OPT_FIRST_PROGRAM_OPTION };

/* Handle one of the passphrase options; returns false if opt is not one of them. */
bool passphrase_option(struct passphrase_source *src, int opt, const char *arg);

#endif
