#include "replay.h"

#include <string.h>

void replay_init_at(struct replay_window *w, uint64_t last)
{
	w->last = last;
	memset(w->seen, 0xff, sizeof w->seen);
}

void replay_init(struct replay_window *w)
{
	replay_init_at(w, 0);
}

bool replay_bit(const struct replay_window *w, uint64_t seq)
{
	if (seq > w->last)
		return false;
	uint64_t i = w->last - seq;
	if (i >= REPLAY_WINDOW || seq == 0)
		return true;
	return (w->seen[i / 64] >> (i % 64)) & 1;
}

enum replay_check replay_check(const struct replay_window *w, uint64_t seq)
{
	if (seq > w->last)
		return REPLAY_NEW;
	if (seq == 0 || w->last - seq >= REPLAY_WINDOW)
		return REPLAY_TOO_OLD;
	return replay_bit(w, seq) ? REPLAY_SEEN : REPLAY_NEW;
}

/* Shift the bits up by n places (numbers move away from last); the new low bits are clear. */
static void shift(struct replay_window *w, uint64_t n)
{
	if (n >= REPLAY_WINDOW) {
		memset(w->seen, 0, sizeof w->seen);
		return;
	}
	size_t words = (size_t)(n / 64), bits = (size_t)(n % 64);
	for (size_t i = REPLAY_WORDS; i-- > 0;) {
		uint64_t hi = i >= words ? w->seen[i - words] : 0;
		uint64_t lo = i >= words + 1 ? w->seen[i - words - 1] : 0;
		w->seen[i] = bits ? hi << bits | lo >> (64 - bits) : hi;
	}
}

void replay_advance(struct replay_window *w, uint64_t last)
{
	if (last <= w->last)
		return;
	shift(w, last - w->last);
	w->last = last;
}

void replay_mark(struct replay_window *w, uint64_t seq)
{
	replay_advance(w, seq);
	uint64_t i = w->last - seq;
	if (i < REPLAY_WINDOW)
		w->seen[i / 64] |= UINT64_C(1) << (i % 64);
}

void replay_merge(struct replay_window *into, const struct replay_window *from)
{
	struct replay_window f = *from;
	replay_advance(into, f.last);
	replay_advance(&f, into->last);
	for (size_t i = 0; i < REPLAY_WORDS; i++)
		into->seen[i] |= f.seen[i];
}

size_t replay_encode(const struct replay_window *w, unsigned char out[REPLAY_BYTES])
{
	for (size_t i = 0; i < REPLAY_BYTES; i++)
		out[i] = (unsigned char)(w->seen[i / 8] >> (8 * (i % 8)));
	size_t len = REPLAY_BYTES;
	while (len > 0 && out[len - 1] == 0xff)
		len--;
	return len;
}

bool replay_decode(struct replay_window *w, uint64_t last, const unsigned char *in, size_t len)
{
	if (len > REPLAY_BYTES)
		return false;
	replay_init_at(w, last);
	for (size_t i = 0; i < len; i++) {
		w->seen[i / 8] &= ~(UINT64_C(0xff) << (8 * (i % 8)));
		w->seen[i / 8] |= (uint64_t)in[i] << (8 * (i % 8));
	}
	return true;
}
