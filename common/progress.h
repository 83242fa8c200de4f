/*
 * Progress of a long batch (smqtt-issue device, smqtt-register add) on a
 * terminal: one line on stderr, rewritten at most every 200 ms,
 *
 *     smqtt-register: 12000 devices, 12% of 100000 lines, 4300/s, 20 s left
 *
 * The total is known when the input is a regular file: its lines are counted
 * before the batch starts. From a pipe, the line shows the count and the rate.
 * Nothing is shown when stderr is not a terminal.
 */
#ifndef SMQTT_PROGRESS_H
#define SMQTT_PROGRESS_H

#include <stdbool.h>

struct progress {
	bool on;    /* stderr is a terminal */
	bool shown; /* a progress line is on the screen, not ended yet */
	long long started_ms, shown_ms;
	unsigned long long total_lines; /* 0: not known */
};

/* Start timing; count the lines of path, or of stdin from where it is when path is NULL. */
void progress_start(struct progress *p, const char *path);
/*
 * devices: how many are done; line: the input line the last of them came
 * from, which says how far through the input the batch is. final shows the
 * line however soon after the last one, as complete, and ends it.
 */
void progress_show(struct progress *p, unsigned long long devices, unsigned long long line, bool final);
/* End the progress line, if one is shown, so that a message starts on a line of its own. */
void progress_break(struct progress *p);

#endif
