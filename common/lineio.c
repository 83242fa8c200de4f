#include "lineio.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

#define READ_CHUNK 65536

void line_reader_init(struct line_reader *r, int fd, const char *name, size_t max)
{
	memset(r, 0, sizeof *r);
	r->fd = fd;
	r->name = name;
	r->max = max;
	/* Room for a whole maximal line (plus CR) and a full read behind it. */
	r->cap = max + 2 + READ_CHUNK;
	r->buf = xmalloc(r->cap);
	r->strip_bom = true;
	r->strip_cr = true;
}

void line_reader_free(struct line_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

static bool output_failed(void);

/* Wait for input; returns LINE_OK when readable. */
static enum line_status wait_readable(struct line_reader *r, int timeout_ms)
{
	struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
	int n = poll(&pfd, 1, 0);
	if (n == 0) {
		/*
		 * A failed flush drops what was buffered: never in silence. On stdout
		 * it is the error output_flush() would report (the reader gone: the
		 * next output call says so).
		 */
		if (r->flush_before_wait && fflush(r->flush_before_wait) == EOF) {
			if (r->flush_before_wait != stdout)
				die(EXIT_SYSTEM, "writing output: %s", strerror(errno));
			output_failed();
		}
		n = poll(&pfd, 1, timeout_ms);
	}
	if (n < 0 && errno == EINTR)
		return LINE_INTERRUPTED;
	if (n < 0)
		die(EXIT_SYSTEM, "waiting for %s: %s", r->name, strerror(errno));
	return n == 0 ? LINE_TIMEOUT : LINE_OK;
}

static enum line_status fill(struct line_reader *r, int timeout_ms)
{
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (timeout_ms >= 0 || r->flush_before_wait) {
		enum line_status s = wait_readable(r, timeout_ms);
		if (s != LINE_OK)
			return s;
	}
	ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end - 1); /* keep a byte for the NUL */
	if (n < 0 && errno == EINTR)
		return LINE_INTERRUPTED;
	if (n < 0)
		die(EXIT_SYSTEM, "reading %s: %s", r->name, strerror(errno));
	if (n == 0)
		r->eof = true;
	r->end += (size_t)n;
	return LINE_OK;
}

enum line_status line_read(struct line_reader *r, char **line, size_t *len, int timeout_ms)
{
	for (;;) {
		char *begin = r->buf + r->start;
		size_t avail = r->end - r->start;
		char *nl = memchr(begin, '\n', avail);

		if (r->skipping) {
			/* Discard the rest of an over-long line. */
			if (!nl) {
				r->start = r->end = 0;
				if (r->eof) {
					r->skipping = false;
					return LINE_EOF;
				}
			} else {
				r->start += (size_t)(nl - begin) + 1;
				r->skipping = false;
				continue;
			}
		} else if (nl || (r->eof && avail > 0)) {
			size_t n = nl ? (size_t)(nl - begin) : avail;
			r->start += nl ? n + 1 : n;
			r->lineno++;
			if (!nl) {
				begin[n] = '\0';
				*line = begin;
				*len = n;
				return LINE_INCOMPLETE;
			}
			if (r->lineno == 1 && r->strip_bom && n >= 3 && memcmp(begin, "\xEF\xBB\xBF", 3) == 0) {
				begin += 3;
				n -= 3;
			}
			if (r->strip_cr && n > 0 && begin[n - 1] == '\r')
				n--;
			if (n > r->max)
				return LINE_TOO_LONG;
			begin[n] = '\0';
			*line = begin;
			*len = n;
			return LINE_OK;
		} else if (avail > r->max + 4) {
			/* No newline within the limit (+ BOM and CR): report it now, skip the rest. */
			r->lineno++;
			r->skipping = true;
			r->start = r->end = 0;
			return LINE_TOO_LONG;
		} else if (r->eof) {
			return LINE_EOF;
		}
		enum line_status s = fill(r, timeout_ms);
		if (s != LINE_OK)
			return s;
	}
}

void output_init(void)
{
	signal(SIGPIPE, SIG_IGN);
	static char buf[1 << 16];
	setvbuf(stdout, buf, _IOFBF, sizeof buf);
}

/* The reader of stdout has gone (EPIPE): every later output call says so. */
static bool stdout_closed;

static bool output_failed(void)
{
	if (errno == EPIPE) {
		stdout_closed = true;
		return false;
	}
	die(EXIT_SYSTEM, "writing stdout: %s", strerror(errno));
}

bool output_line(const char *line, size_t len)
{
	if (stdout_closed)
		return false;
	if (fwrite(line, 1, len, stdout) != len || putc('\n', stdout) == EOF)
		return output_failed();
	return true;
}

bool output_flush(void)
{
	if (stdout_closed)
		return false;
	if (fflush(stdout) == EOF)
		return output_failed();
	return true;
}

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

void stop_on_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: interrupt blocking reads */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

bool stop_requested(void)
{
	return stop_signal != 0;
}

long long monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
