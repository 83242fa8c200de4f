/*
 * The signer's sequence-number state file. A number is never handed out twice
 * for one state file, across restarts and crashes: numbers are reserved in
 * blocks written and synced to disk before use, and a clean close records the
 * exact next number so a normal restart leaves no gap. A crash leaves a gap
 * of at most SEQ_RESERVE_BLOCK numbers, which smqtt-store reports.
 */
#ifndef SMQTT_SEQSTATE_H
#define SMQTT_SEQSTATE_H

#include <stdint.h>

#define SEQ_RESERVE_BLOCK 1024

struct seq_state;

/* Open (creating with mode 0600) and lock the state file; dies if another process holds it. */
struct seq_state *seq_state_open(const char *path);
/*
 * Continue at first unless the state is already past it: a new key of a
 * device that signed before (a key rollover) starts above the old key's
 * numbers. Recorded and synced before it returns. Never goes back.
 */
void seq_state_skip_to(struct seq_state *s, uint64_t first);
/* The next unused sequence number. */
uint64_t seq_state_next(struct seq_state *s);
/* Record the exact next number, sync, unlock and free. */
void seq_state_close(struct seq_state *s);

#endif
