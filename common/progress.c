#include "progress.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "lineio.h"

#define PROGRESS_INTERVAL_MS 200

/*
 * Lines from offset to the end of a regular file, a last line without LF
 * included; 0 for anything else. pread leaves the offset where the reader
 * of the input expects it.
 */
static unsigned long long count_lines(int fd)
{
	struct stat sb;
	off_t at = lseek(fd, 0, SEEK_CUR);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || at < 0)
		return 0;
	static char buf[1 << 16];
	unsigned long long lines = 0;
	char last = '\n';
	ssize_t n;
	while ((n = pread(fd, buf, sizeof buf, at)) > 0) {
		for (const char *p = buf, *end = buf + n; (p = memchr(p, '\n', (size_t)(end - p))); p++)
			lines++;
		last = buf[n - 1];
		at += n;
	}
	return n < 0 ? 0 : lines + (last != '\n');
}

void progress_start(struct progress *p, const char *path)
{
	*p = (struct progress){.on = isatty(STDERR_FILENO) == 1};
	p->started_ms = monotonic_ms();
	if (!p->on)
		return;
	if (!path) {
		p->total_lines = count_lines(STDIN_FILENO);
		return;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0) {
		p->total_lines = count_lines(fd);
		close(fd);
	}
}

void progress_show(struct progress *p, unsigned long long devices, unsigned long long line, bool final)
{
	if (!p->on)
		return;
	long long now = monotonic_ms();
	if (!final && now - p->shown_ms < PROGRESS_INTERVAL_MS)
		return;
	p->shown_ms = now;
	double secs = (double)(now - p->started_ms) / 1000.0;
	double rate = secs > 0 ? (double)devices / secs : 0.0;
	char of_total[64] = "", left[32] = "";
	if (p->total_lines) {
		/* A file that grew meanwhile has more lines than were counted. */
		unsigned long long total = line > p->total_lines ? line : p->total_lines;
		if (final)
			line = total;
		snprintf(of_total, sizeof of_total, ", %llu%% of %llu lines", line * 100 / total, total);
		if (!final && line > 0 && secs >= 1)
			snprintf(left, sizeof left, ", %.0f s left", secs * (double)(total - line) / (double)line);
	}
	/* Back to the start of the line, the new text, and clear what a longer one left. */
	fprintf(stderr, "\r%s: %llu devices%s, %.0f/s%s\033[K%s", error_progname(), devices, of_total, rate, left,
		final ? "\n" : "");
	p->shown = !final;
}

void progress_break(struct progress *p)
{
	if (p->shown)
		fputc('\n', stderr);
	p->shown = false;
}
