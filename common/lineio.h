/*
 * Line-oriented stdin/stdout for filters. Input lines are bounded: an
 * over-long line is reported once and skipped whole, never split into records,
 * so memory stays flat whatever the input. Output is flushed before the reader
 * blocks, so a slow trickle of input still flows through a pipeline promptly.
 */
#ifndef SMQTT_LINEIO_H
#define SMQTT_LINEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum line_status {
	LINE_OK,          /* a line is ready in line/len */
	LINE_TOO_LONG,    /* a line over the limit was skipped; lineno names it */
	LINE_INCOMPLETE,  /* input ended inside a line (no LF): a writer died mid-line */
	LINE_EOF,         /* end of input */
	LINE_TIMEOUT,     /* no complete line within the timeout */
	LINE_INTERRUPTED, /* a signal arrived while waiting */
};

struct line_reader {
	int fd;
	const char *name;   /* for messages: "stdin" */
	char *buf;
	size_t cap, start, end;
	size_t max;         /* longest accepted line, without newline */
	unsigned long long lineno;
	bool eof, skipping;
	bool strip_bom, strip_cr; /* both on by default; frames readers turn them off */
	FILE *flush_before_wait; /* flushed before blocking for more input */
};

void line_reader_init(struct line_reader *r, int fd, const char *name, size_t max);
void line_reader_free(struct line_reader *r);

/*
 * Lines end with LF. Text after the last LF at end of input is a line cut
 * short (the writer upstream was killed mid-write, a file was truncated): it
 * is returned as LINE_INCOMPLETE with its line number, and callers report it
 * and never process it, so a cut frame or record can never pass for a whole
 * one. line/len then hold what there was, for a rejects file.
 */
#define LINE_INCOMPLETE_WHY "no newline at end of input: incomplete line"

/*
 * Next line without its LF; a trailing CR is removed when strip_cr is set
 * (CRLF input), and a UTF-8 byte-order mark at the start of input is dropped
 * when strip_bom is set.
 * timeout_ms < 0 waits forever. Read errors end the program with EXIT_SYSTEM.
 */
enum line_status line_read(struct line_reader *r, char **line, size_t *len, int timeout_ms);

/*
 * Write one line plus LF to stdout. Returns false when the reader downstream
 * has gone away (EPIPE): the caller should stop quietly. Other write errors
 * (disk full, /dev/full) end the program with EXIT_SYSTEM.
 */
bool output_line(const char *line, size_t len);
/* Flush stdout with the same error handling. */
bool output_flush(void);
/* Ignore SIGPIPE and give stdout a large buffer; call once from main(). */
void output_init(void);

/*
 * Catch SIGINT and SIGTERM without restarting reads, so a blocked line_read()
 * returns LINE_INTERRUPTED and the program can finish its work and exit cleanly.
 */
void stop_on_signals(void);
bool stop_requested(void);

/* Milliseconds on the monotonic clock, for timeouts and rates. */
long long monotonic_ms(void);

#endif
