/*
 * The replay window of one device: the highest sequence number accepted, and
 * which of the REPLAY_WINDOW numbers at and below it were accepted.
 *
 * A single verifier sees a device's frames in the order they were signed, so
 * the highest number alone would do. Collectors behind a shared subscription
 * do not: the broker hands consecutive frames of one device to different
 * collectors, which accept them in any order. A frame is therefore a replay
 * when its own number was accepted before, or when it lies so far below the
 * highest accepted that the window no longer tells (the anti-replay window
 * of IPsec, RFC 4303 section 3.4.3, and DTLS, RFC 6347 section 4.1.2.6).
 *
 * Numbers below the window, and 0 and below (no frame has them), count as
 * accepted: closed. The stored form (replay_encode) is the window's bytes,
 * newest first, without the closed bytes at its old end, so a device whose
 * frames all arrived in order stores nothing, and a registry written before
 * windows existed (no stored bytes) keeps its old meaning: everything at or
 * below the highest number is closed.
 */
#ifndef SMQTT_REPLAY_H
#define SMQTT_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPLAY_WINDOW 1024
#define REPLAY_WORDS (REPLAY_WINDOW / 64)
#define REPLAY_BYTES (REPLAY_WINDOW / 8)

struct replay_window {
	uint64_t last;                /* the highest accepted number; 0 before the first */
	uint64_t seen[REPLAY_WORDS];  /* bit i: number last - i accepted or closed */
};

enum replay_check {
	REPLAY_NEW,     /* not accepted yet: may be accepted */
	REPLAY_SEEN,    /* accepted before */
	REPLAY_TOO_OLD, /* REPLAY_WINDOW or more below the highest accepted */
};

/* Nothing accepted yet: last 0, everything closed. */
void replay_init(struct replay_window *w);
/* Everything at or below last closed (the meaning of a stored number without a window). */
void replay_init_at(struct replay_window *w, uint64_t last);
enum replay_check replay_check(const struct replay_window *w, uint64_t seq);
/* Record seq as accepted (moving the window up when seq is above last). */
void replay_mark(struct replay_window *w, uint64_t seq);
/* Move the window up to last (no lower), closing nothing but what falls off its old end. */
void replay_advance(struct replay_window *w, uint64_t last);
/* into |= from, at the higher of the two numbers. */
void replay_merge(struct replay_window *into, const struct replay_window *from);
/* Whether seq counts as accepted in w: marked, closed, or 0. */
bool replay_bit(const struct replay_window *w, uint64_t seq);
/* The stored form into out (at most REPLAY_BYTES); returns its length. */
size_t replay_encode(const struct replay_window *w, unsigned char out[REPLAY_BYTES]);
/* From last and the stored form; false if the stored form is longer than a window. */
bool replay_decode(struct replay_window *w, uint64_t last, const unsigned char *in, size_t len);

#endif
