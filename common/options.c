#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>

#include "error.h"

long long option_number(const char *option, const char *text, long long min, long long max)
{
	char *end;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	if (errno || end == text || *end)
		die(EXIT_USAGE, "%s %s: not a number", option, text);
	if (v < min || v > max)
		die(EXIT_USAGE, "%s %s: out of range %lld..%lld", option, text, min, max);
	return v;
}

bool passphrase_option(struct passphrase_source *src, int opt, const char *arg)
{
	if (opt != OPT_PASSFILE && opt != OPT_PASSENV && opt != OPT_PASSFD)
		return false;
	if (src->file || src->env || src->fd >= 0)
		die(EXIT_USAGE, "give at most one of --passfile, --passenv and --passfd");
	if (opt == OPT_PASSFILE)
		src->file = arg;
	else if (opt == OPT_PASSENV)
		src->env = arg;
	else
		src->fd = (int)option_number("--passfd", arg, 0, 1 << 20);
	return true;
}
