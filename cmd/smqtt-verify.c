/* smqtt-verify: pass on the smqtt1 frames whose signature, device and sequence check out. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "devmap.h"
#include "error.h"
#include "frame.h"
#include "keys.h"
#include "lineio.h"
#include "options.h"
#include "trust.h"

static const char usage_text[] =
	"usage: smqtt-verify [--config FILE] [-j JOBS] [-c CERTFILE]...\n"
	"                    [--pubkey DEVICE=FILE]... [--rejects FILE]\n"
	"       smqtt-verify [--config FILE] [-j JOBS] -R REGISTRY [--archive]\n"
	"                    [--cache DEVICES] [--rejects FILE]\n"
	"\n"
	"Read smqtt1 frames from stdin and write the ones that verify, unchanged, to\n"
	"stdout. Each rejected frame is reported on stderr as\n"
	"  smqtt-verify: line N: device D seq S: reason\n"
	"Rejected: malformed frames, unknown devices, bad signatures and replays\n"
	"(a sequence number not above the last one accepted for the device); with a\n"
	"registry also revoked devices and devices without a key valid now. An\n"
	"exact repeat of the last accepted frame is dropped and counted, not rejected.\n"
	"\n"
	"  -c, --cert FILE          trust this certificate for the device in its CN\n"
	"      --pubkey DEVICE=FILE trust this public key (or certificate) for DEVICE\n"
	"  -R, --registry FILE      trust the active keys in this smqtt-register\n"
	"                           registry, and keep replay state in it across runs\n"
	"                           (a file or a postgresql:// URI)\n"
	"      --archive            with -R: re-verify stored frames: every key a device\n"
	"                           had counts, a retired or revoked one up to the last\n"
	"                           seq accepted before it stopped (none for\n"
	"                           keyCompromise); the registry is only read\n"
	"      --cache DEVICES      with -R: devices kept in memory (default 100000)\n"
	"      --rejects FILE       also append each rejected line to FILE\n"
	"  -j, --jobs JOBS          check signatures on this many threads (default: the\n"
	"                           number of online CPUs, at most 8); the output is\n"
	"                           the same whatever the number\n"
	"      --config FILE        read settings (verify.cert, verify.pubkey,\n"
	"                           registry.db, verify.rejects) from this YAML file\n"
	"      --help               show this help\n"
	"      --version            show the version\n"
	"\n"
	"Without --config, the file named by $SMQTT_CONFIG is read, else the first of\n"
	"$XDG_CONFIG_HOME/smqtt/config.yaml (~/.config/...) and /etc/smqtt/config.yaml\n"
	"that exists. Options win over the file; trust is taken from the command line\n"
	"or from the file as a group, and verify.cert and verify.pubkey take the place\n"
	"of registry.db.\n"
	"\n"
	"A device may be given two keys (key rollover). With -R, a frame is written\n"
	"out only once its sequence number is saved in the registry (in batches of\n"
	"up to 10000 frames or 1 second). Exit status: 0 every frame verified, 1 some\n"
	"frames rejected, 2 usage error, 3 trust file or registry unusable, 4 system\n"
	"error.\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

enum { OPT_CACHE = OPT_FIRST_PROGRAM_OPTION, OPT_CONFIG, OPT_ARCHIVE, OPT_REJECTS, OPT_PUBKEY };

static const struct option long_options[] = {
	{"cert", required_argument, NULL, 'c'},
	{"pubkey", required_argument, NULL, OPT_PUBKEY},
	{"registry", required_argument, NULL, 'R'},
	{"cache", required_argument, NULL, OPT_CACHE},
	{"archive", no_argument, NULL, OPT_ARCHIVE},
	{"rejects", required_argument, NULL, OPT_REJECTS},
	{"jobs", required_argument, NULL, 'j'},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

struct counts {
	unsigned long long verified, rejected, duplicates;
};

/*
 * Accepted frames wait here until their replay state is saved (trust_sync),
 * so no frame leaves before a restarted verifier would reject its replay.
 * They go out when input pauses, or after this many frames, bytes or
 * milliseconds: each release is one registry commit, and larger batches
 * write each device's state once for many of its frames.
 */
#define RELEASE_FRAMES 10000
#define RELEASE_BYTES (4 << 20)
#define RELEASE_MS 1000

/* One accepted frame waiting in struct pending. */
struct held {
	size_t offset, len; /* in text, without the newline */
	unsigned long long lineno;
	uint64_t seq;
	size_t device_len; /* the device id follows FRAME_MAGIC and a space */
};

struct pending {
	char *text; /* accepted lines, each with its newline */
	size_t len, cap, frames;
	struct held *held; /* one per frame */
	size_t held_cap;
	long long since_ms; /* when the oldest waiting frame was accepted */
};

/*
 * The frames this verifier accepted most recently, by digest (device,
 * sequence number and record). A frame below its device's last accepted
 * number whose digest is here is one this verifier passed on already, sent
 * again (a publisher restarted with its unacknowledged frames, a message
 * delivered twice): a duplicate, dropped. Any other one is a replay. Bounded:
 * the oldest digest goes when a new one comes.
 */
#define RECENT_FRAMES 65536

struct recent {
	struct devmap *map; /* digest -> its ring slot, keyed by the digest in the ring itself */
	unsigned char (*ring)[DIGEST_LEN];
	size_t next, count;
};

static void recent_init(struct recent *r)
{
	r->map = devmap_new_borrowing(RECENT_FRAMES);
	r->ring = xmalloc(RECENT_FRAMES * sizeof *r->ring);
	r->next = r->count = 0;
}

static void recent_free(struct recent *r)
{
	devmap_free(r->map, NULL);
	free(r->ring);
}

static void recent_add(struct recent *r, const unsigned char digest[DIGEST_LEN])
{
	unsigned char *slot = r->ring[r->next];
	/* The slot's digest is the key of its entry: out of the map before it is overwritten. */
	if (r->count == RECENT_FRAMES)
		devmap_remove(r->map, (const char *)slot, DIGEST_LEN);
	else
		r->count++;
	memcpy(slot, digest, DIGEST_LEN);
	devmap_put(r->map, (const char *)slot, DIGEST_LEN, slot);
	r->next = (r->next + 1) % RECENT_FRAMES;
}

static bool recent_has(const struct recent *r, const unsigned char digest[DIGEST_LEN])
{
	return devmap_get(r->map, (const char *)digest, DIGEST_LEN) != NULL;
}

struct verifier {
	struct trust *trust;
	struct recent recent;
	struct frame_hasher *hasher;
	FILE *rejects;
	const char *rejects_path;
	struct pending out;
	struct counts n;
	bool archive; /* re-verifying stored frames (trust_verify_stored) */
};

static void hold(struct pending *p, const char *line, size_t len, unsigned long long lineno, const struct frame *f)
{
	if (p->frames == p->held_cap) {
		p->held_cap = p->held_cap ? 2 * p->held_cap : 1024;
		p->held = xrealloc(p->held, p->held_cap * sizeof *p->held);
	}
	p->held[p->frames] = (struct held){p->len, len, lineno, f->seq, f->device_len};
	if (p->len + len + 1 > p->cap) {
		p->cap = p->cap ? p->cap * 2 : 1 << 16;
		while (p->cap < p->len + len + 1)
			p->cap *= 2;
		p->text = xrealloc(p->text, p->cap);
	}
	if (p->frames == 0)
		p->since_ms = monotonic_ms();
	memcpy(p->text + p->len, line, len);
	p->text[p->len + len] = '\n';
	p->len += len + 1;
	p->frames++;
}

static void reject(struct verifier *v, unsigned long long lineno, const struct frame *f, const char *line,
		   size_t len, const char *reason);

/*
 * Another verifier sharing the registry accepted some of the devices'
 * frames while this one held them (trust_taken): leave out every held frame
 * at or below what it took, as the replays they are here.
 */
static void drop_taken(struct verifier *v)
{
	struct pending *p = &v->out;
	size_t kept = 0, len = 0;
	for (size_t i = 0; i < p->frames; i++) {
		struct held h = p->held[i];
		const char *line = p->text + h.offset;
		struct frame f = {.device = line + sizeof FRAME_MAGIC, .device_len = h.device_len, .seq = h.seq};
		bool too_old = false;
		uint64_t taken = trust_taken(v->trust, f.device, f.device_len, h.seq, &too_old);
		if (taken) {
			char reason[160];
			if (too_old)
				snprintf(reason, sizeof reason,
					 "replay: %d or more below last accepted seq %llu (moved on by another verifier)",
					 REPLAY_WINDOW, (unsigned long long)taken);
			else
				snprintf(reason, sizeof reason, "replay: accepted by another verifier (its last seq %llu)",
					 (unsigned long long)taken);
			reject(v, h.lineno, &f, line, h.len, reason);
			v->n.verified--;
			continue;
		}
		memmove(p->text + len, line, h.len + 1);
		h.offset = len;
		p->held[kept++] = h;
		len += h.len + 1;
	}
	p->frames = kept;
	p->len = len;
}

/*
 * Whether the frames held have waited RELEASE_MS, whatever came after them:
 * a stream of rejected or duplicate frames, which hold nothing, must not keep
 * them (or the registry's read snapshot, which release ends) waiting.
 */
static bool release_due(const struct verifier *v)
{
	return v->out.frames && monotonic_ms() - v->out.since_ms >= RELEASE_MS;
}

/* Save replay state, then write the waiting frames; false when stdout has gone away. */
static bool release(struct verifier *v)
{
	trust_sync(v->trust);
	if (trust_taken_any(v->trust)) {
		drop_taken(v);
		trust_taken_clear(v->trust);
	}
	if (v->out.frames == 0)
		return output_flush();
	bool open = output_line(v->out.text, v->out.len - 1) && output_flush();
	v->out.len = v->out.frames = 0;
	return open;
}

static void reject(struct verifier *v, unsigned long long lineno, const struct frame *f, const char *line,
		   size_t len, const char *reason)
{
	v->n.rejected++;
	if (f)
		warning("line %llu: device %.*s seq %llu: %s", lineno, (int)f->device_len, f->device,
		      (unsigned long long)f->seq, reason);
	else
		warning("line %llu: %s", lineno, reason);
	if (v->rejects && line && (fwrite(line, 1, len, v->rejects) != len || putc('\n', v->rejects) == EOF))
		die(EXIT_SYSTEM, "rejects file %s: %s", v->rejects_path, strerror(errno));
}

static void reject_malformed(struct verifier *v, unsigned long long lineno, const char *line, size_t len,
			     const char *why)
{
	char reason[128];
	snprintf(reason, sizeof reason, "malformed frame: %s", why);
	reject(v, lineno, NULL, line, len, reason);
}

/*
 * Decide a frame from its signature's verdict: reject it, drop it as a
 * duplicate, or accept it as the device's newest. Returns false when stdout
 * has gone away.
 */
static bool decide_frame(struct verifier *v, unsigned long long lineno, const char *line, size_t len,
			 const struct frame *f, struct trusted_device *d, const unsigned char digest[DIGEST_LEN],
			 enum verdict verdict)
{
	switch (verdict) {
	case SIGNATURE_MALFORMED:
		reject(v, lineno, f, line, len, "non-canonical signature encoding");
		return true;
	case SIGNATURE_INVALID: {
		const char *which = trust_explain_invalid(v->trust, d, digest, f->signature, f->signature_len);
		reject(v, lineno, f, line, len, which ? which : "bad signature");
		return true;
	}
	case SIGNATURE_VALID:
		break;
	}
	enum replay_check seen = replay_check(&d->window, f->seq);
	if (seen != REPLAY_NEW) {
		if ((f->seq == d->window.last && d->has_digest && memcmp(digest, d->last_digest, DIGEST_LEN) == 0) ||
		    recent_has(&v->recent, digest)) {
			v->n.duplicates++;
			return true;
		}
		char reason[128];
		if (seen == REPLAY_SEEN)
			snprintf(reason, sizeof reason, "replay: seq already accepted (last accepted seq %llu)",
				 (unsigned long long)d->window.last);
		else
			snprintf(reason, sizeof reason, "replay: %d or more below last accepted seq %llu", REPLAY_WINDOW,
				 (unsigned long long)d->window.last);
		reject(v, lineno, f, line, len, reason);
		return true;
	}
	trust_accept(v->trust, d, f->seq, digest);
	recent_add(&v->recent, digest);
	v->n.verified++;
	/* Nothing to save first: out through stdout's buffer, flushed (and checked) by the line reader when input pauses. */
	if (!trust_saves_state(v->trust))
		return output_line(line, len);
	hold(&v->out, line, len, lineno, f);
	if (v->out.frames >= RELEASE_FRAMES || v->out.len >= RELEASE_BYTES || release_due(v))
		return release(v);
	return true;
}

/* Decide one frame line; returns false when stdout has gone away. */
static bool verify_line(struct verifier *v, unsigned long long lineno, char *line, size_t len)
{
	struct frame f;
	const char *why;
	unsigned char digest[DIGEST_LEN];

	if (!frame_parse(line, len, &f, &why)) {
		reject_malformed(v, lineno, line, len, why);
		return true;
	}
	enum trust_refusal refusal;
	struct trusted_device *d = trust_lookup(v->trust, f.device, f.device_len, &refusal);
	if (!d) {
		reject(v, lineno, &f, line, len, trust_refusal_text(refusal));
		return true;
	}
	frame_digest(v->hasher, f.device, f.device_len, f.seq, f.record, f.record_len, digest);
	enum verdict verdict = v->archive ? trust_verify_stored(d, f.seq, digest, f.signature, f.signature_len)
					  : trust_verify(v->trust, d, digest, f.signature, f.signature_len);
	return decide_frame(v, lineno, line, len, &f, d, digest, verdict);
}

static void verify_stream(struct verifier *v)
{
	struct line_reader in;
	char *line;
	size_t len;

	line_reader_init(&in, STDIN_FILENO, "stdin", FRAME_MAX);
	/* A frame is taken byte for byte: no BOM or CR is silently dropped. */
	in.strip_bom = false;
	in.strip_cr = false;
	in.flush_before_wait = stdout;
	for (;;) {
		/*
		 * Accepted frames go out as soon as input pauses, and the
		 * registry's read snapshot ends then too.
		 */
		enum line_status st =
			line_read(&in, &line, &len, v->out.frames || trust_holds_snapshot(v->trust) ? 0 : -1);
		if (st == LINE_TIMEOUT) {
			if (!release(v))
				break;
			continue;
		}
		if (st == LINE_EOF || stop_requested())
			break;
		if (st == LINE_INTERRUPTED)
			continue;
		if (st == LINE_TOO_LONG) {
			reject(v, in.lineno, NULL, NULL, 0, "malformed frame: frame too long");
			continue;
		}
		if (st == LINE_INCOMPLETE) {
			reject(v, in.lineno, NULL, line, len, LINE_INCOMPLETE_WHY);
			continue;
		}
		/* Registry changes (a revocation, say) apply from the first frame of the next batch. */
		if (v->out.frames == 0)
			trust_refresh(v->trust);
		if (!verify_line(v, in.lineno, line, len) || (release_due(v) && !release(v)))
			break;
	}
	release(v);
	line_reader_free(&in);
	free(v->out.text);
	free(v->out.held);
}

/* ---- checking signatures on several threads ---- */

#define JOBS_MAX 64
#define JOBS_DEFAULT_MAX 8
/*
 * Frames read, looked up and decided together while their signatures are
 * checked on every thread. Reading never waits to fill a batch: it takes the
 * input that has arrived, so a slow stream still goes through frame by frame.
 */
#define BATCH_FRAMES 512
/* Signatures a thread takes from a batch at a time. */
#define CHUNK_FRAMES 8

static size_t default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > JOBS_DEFAULT_MAX ? JOBS_DEFAULT_MAX : (size_t)n;
}

enum slot_kind { SLOT_TOO_LONG, SLOT_INCOMPLETE, SLOT_MALFORMED, SLOT_REFUSED, SLOT_CHECK };

/* One input line of a batch, and what the main thread found out about it. */
struct slot {
	unsigned long long lineno;
	size_t offset, len; /* the line, in the batch's text */
	enum slot_kind kind;
	const char *why; /* SLOT_MALFORMED: frame_parse's reason */
	enum trust_refusal refusal;
	struct frame f;
	struct trusted_device *d;
	/* SLOT_CHECK: the keys valid at lookup time, in trust_verify's order */
	const struct signing_key *keys[TRUST_KEYS_MAX];
	size_t nkeys;
	int64_t now; /* the lookup's time */
	unsigned char digest[DIGEST_LEN];
	enum verdict verdict; /* filled in by the crew */
};

struct batch {
	struct slot *slots;
	size_t n;
	char *text;
	size_t len, cap;
};

static void batch_add(struct batch *b, unsigned long long lineno, enum line_status st, const char *line,
		      size_t len)
{
	struct slot *s = &b->slots[b->n++];
	s->lineno = lineno;
	s->kind = st == LINE_TOO_LONG ? SLOT_TOO_LONG : st == LINE_INCOMPLETE ? SLOT_INCOMPLETE : SLOT_CHECK;
	s->offset = b->len;
	s->len = st == LINE_TOO_LONG ? 0 : len;
	if (b->len + s->len > b->cap) {
		while (b->len + s->len > b->cap)
			b->cap = b->cap ? b->cap * 2 : 1 << 16;
		b->text = xrealloc(b->text, b->cap);
	}
	if (s->len)
		memcpy(b->text + b->len, line, s->len);
	b->len += s->len;
}

/*
 * The helper threads, which check a batch's signatures along with the main
 * thread. They share nothing mutable but the slot counter: each slot's
 * verdict is written by the one thread that took it, and the mutex orders
 * the batch before the helpers' work and their work before the decisions.
 */
struct crew {
	pthread_mutex_t lock;
	pthread_cond_t start, done;
	struct slot *slots;
	size_t nslots;
	atomic_size_t next;  /* the first slot nobody has taken yet */
	unsigned long round; /* batches handed to the helpers so far */
	size_t working;      /* helpers not yet done with this round */
	bool quit;
	bool archive; /* stored frames: trust_verify_stored instead of the slot's keys */
	size_t nthreads;
	pthread_t threads[];
};

/* Take slots until none are left; each gets the verdict trust_verify would give. */
static void check_slots(struct crew *c)
{
	for (;;) {
		size_t i = atomic_fetch_add_explicit(&c->next, CHUNK_FRAMES, memory_order_relaxed);
		if (i >= c->nslots)
			return;
		size_t end = c->nslots - i < CHUNK_FRAMES ? c->nslots : i + CHUNK_FRAMES;
		for (; i < end; i++) {
			struct slot *s = &c->slots[i];
			if (s->kind != SLOT_CHECK)
				continue;
			if (c->archive) {
				s->verdict = trust_verify_stored(s->d, s->f.seq, s->digest, s->f.signature,
								 s->f.signature_len);
				continue;
			}
			/* As trust_verify: valid with the first key that verifies, else the last key's verdict. */
			s->verdict = SIGNATURE_INVALID;
			for (size_t k = 0; k < s->nkeys; k++) {
				s->verdict = signature_verify_shared(s->keys[k], s->digest, s->f.signature,
								     s->f.signature_len);
				if (s->verdict == SIGNATURE_VALID)
					break;
			}
		}
	}
}

static void *crew_member(void *arg)
{
	struct crew *c = arg;
	unsigned long seen = 0;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->quit && c->round == seen)
			pthread_cond_wait(&c->start, &c->lock);
		if (c->quit)
			break;
		seen = c->round;
		pthread_mutex_unlock(&c->lock);
		check_slots(c);
		pthread_mutex_lock(&c->lock);
		if (--c->working == 0)
			pthread_cond_signal(&c->done);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static struct crew *crew_start(size_t nthreads, bool archive)
{
	struct crew *c = xcalloc(1, sizeof *c + nthreads * sizeof *c->threads);
	c->archive = archive;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->start, NULL);
	pthread_cond_init(&c->done, NULL);
	atomic_init(&c->next, 0);
	/* Signals stay with the main thread, where they interrupt reading. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (; c->nthreads < nthreads; c->nthreads++) {
		int err = pthread_create(&c->threads[c->nthreads], NULL, crew_member, c);
		if (err)
			die(EXIT_SYSTEM, "starting a thread: %s", strerror(err));
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return c;
}

static void crew_stop(struct crew *c)
{
	pthread_mutex_lock(&c->lock);
	c->quit = true;
	pthread_cond_broadcast(&c->start);
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < c->nthreads; i++)
		pthread_join(c->threads[i], NULL);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->start);
	pthread_cond_destroy(&c->done);
	free(c);
}

/* Check the signatures of a batch's SLOT_CHECK slots (nchecks of them); returns when all are done. */
static void crew_check(struct crew *c, struct slot *slots, size_t n, size_t nchecks)
{
	c->slots = slots;
	c->nslots = n;
	atomic_store_explicit(&c->next, 0, memory_order_relaxed);
	if (nchecks <= CHUNK_FRAMES) {
		/* Waking the helpers would cost more than it saves. */
		check_slots(c);
		return;
	}
	pthread_mutex_lock(&c->lock);
	c->round++;
	c->working = c->nthreads;
	pthread_cond_broadcast(&c->start);
	pthread_mutex_unlock(&c->lock);
	check_slots(c);
	pthread_mutex_lock(&c->lock);
	while (c->working)
		pthread_cond_wait(&c->done, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

/*
 * Decide a batch as verify_line decides each of its frames, in input order:
 * parse and look up every frame first (trust and its cache stay on this
 * thread), check all signatures at once, then apply the replay rules and
 * write out. Returns false when stdout has gone away.
 */
static bool decide_batch(struct verifier *v, struct crew *crew, struct batch *b)
{
	size_t nchecks = 0;
	if (v->out.frames == 0)
		trust_refresh(v->trust);
	trust_pin_begin(v->trust);
	for (size_t i = 0; i < b->n; i++) {
		struct slot *s = &b->slots[i];
		if (s->kind == SLOT_TOO_LONG || s->kind == SLOT_INCOMPLETE)
			continue;
		if (!frame_parse(b->text + s->offset, s->len, &s->f, &s->why)) {
			s->kind = SLOT_MALFORMED;
			continue;
		}
		s->d = trust_lookup(v->trust, s->f.device, s->f.device_len, &s->refusal);
		if (!s->d) {
			s->kind = SLOT_REFUSED;
			continue;
		}
		s->now = trust_time(v->trust);
		s->nkeys = trust_keys_valid_now(v->trust, s->d, s->keys);
		frame_digest(v->hasher, s->f.device, s->f.device_len, s->f.seq, s->f.record, s->f.record_len,
			     s->digest);
		nchecks++;
	}
	/* Writing the decisions may wait on stderr or --rejects: not inside a snapshot. */
	trust_reads_done(v->trust);
	crew_check(crew, b->slots, b->n, nchecks);

	bool open = true;
	for (size_t i = 0; i < b->n && open; i++) {
		struct slot *s = &b->slots[i];
		const char *line = b->text + s->offset;
		switch (s->kind) {
		case SLOT_TOO_LONG:
			reject(v, s->lineno, NULL, NULL, 0, "malformed frame: frame too long");
			break;
		case SLOT_INCOMPLETE:
			reject(v, s->lineno, NULL, line, s->len, LINE_INCOMPLETE_WHY);
			break;
		case SLOT_MALFORMED:
			reject_malformed(v, s->lineno, line, s->len, s->why);
			break;
		case SLOT_REFUSED:
			reject(v, s->lineno, &s->f, line, s->len, trust_refusal_text(s->refusal));
			break;
		case SLOT_CHECK:
			trust_set_time(v->trust, s->now);
			open = decide_frame(v, s->lineno, line, s->len, &s->f, s->d, s->digest, s->verdict);
			break;
		}
	}
	trust_pin_end(v->trust);
	return open;
}

/* verify_stream, a batch at a time; max_frames is at most the trust cache's size. */
static void verify_stream_batched(struct verifier *v, struct crew *crew, size_t max_frames)
{
	struct line_reader in;
	struct batch b = {.slots = xcalloc(max_frames, sizeof *b.slots)};
	char *line = NULL;
	size_t len = 0;

	line_reader_init(&in, STDIN_FILENO, "stdin", FRAME_MAX);
	in.strip_bom = false;
	in.strip_cr = false;
	in.flush_before_wait = stdout;
	for (bool end = false; !end;) {
		enum line_status st = line_read(&in, &line, &len, v->out.frames ? 0 : -1);
		if (st == LINE_TIMEOUT) {
			if (!release(v))
				break;
			continue;
		}
		if (st == LINE_EOF || stop_requested())
			break;
		if (st == LINE_INTERRUPTED)
			continue;
		/* This line and the ones already waiting behind it, up to max_frames. */
		b.n = b.len = 0;
		for (;;) {
			batch_add(&b, in.lineno, st, line, len);
			if (b.n == max_frames)
				break;
			st = line_read(&in, &line, &len, 0);
			if (st == LINE_TIMEOUT || st == LINE_INTERRUPTED)
				break;
			if (st == LINE_EOF || stop_requested()) {
				end = true;
				break;
			}
		}
		if (!decide_batch(v, crew, &b) || (release_due(v) && !release(v)))
			break;
	}
	release(v);
	line_reader_free(&in);
	free(b.slots);
	free(b.text);
	free(v->out.text);
	free(v->out.held);
}

/*
 * The rejects file: appended to, created 0600 (rejected frames may be worth
 * hiding from others), never through a symbolic link, and never a file that
 * holds something else: a registry or store database, a key or a
 * certificate given here by mistake would be damaged by the text.
 */
static FILE *open_rejects(const char *path)
{
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd < 0 && errno == ELOOP)
		die(EXIT_USAGE, "rejects file %s: a symbolic link; not followed", path);
	if (fd < 0)
		die(EXIT_SYSTEM, "rejects file %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		die(EXIT_SYSTEM, "rejects file %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
		die(EXIT_USAGE, "rejects file %s: not a regular file", path);
	char head[16];
	ssize_t n = S_ISREG(st.st_mode) ? pread(fd, head, sizeof head, 0) : 0;
	if (n == (ssize_t)sizeof head && memcmp(head, "SQLite format 3", 16) == 0)
		die(EXIT_USAGE, "rejects file %s: an SQLite database, not a rejects file (the registry is -R)", path);
	if (n >= 11 && memcmp(head, "-----BEGIN ", 11) == 0)
		die(EXIT_USAGE, "rejects file %s: a PEM file (a key or certificate), not a rejects file", path);
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		die(EXIT_SYSTEM, "rejects file %s: %s", path, strerror(errno));
	FILE *f = fdopen(fd, "a");
	if (!f)
		die(EXIT_SYSTEM, "rejects file %s: %s", path, strerror(errno));
	return f;
}

int main(int argc, char **argv)
{
	struct verifier v = {0};
	bool trusted = false;
	const char *registry = NULL, *config_path = NULL;
	long long cache = TRUST_CACHE_DEFAULT;
	size_t jobs = default_jobs();
	bool cache_given = false;
	int c;

	error_init(argv);
	v.trust = trust_new();
	while ((c = getopt_long(argc, argv, "c:p:R:r:j:", long_options, NULL)) != -1) {
		switch (c) {
		case 'c':
			trust_add_file(v.trust, NULL, optarg);
			trusted = true;
			break;
		case 'p':
			warning("-p is deprecated; use --pubkey");
			/* fall through */
		case OPT_PUBKEY: {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || !eq[1])
				die(EXIT_USAGE, "--pubkey %s: expected DEVICE=FILE", optarg);
			*eq = '\0';
			trust_add_file(v.trust, optarg, eq + 1);
			trusted = true;
			break;
		}
		case 'R':
			registry = optarg;
			break;
		case OPT_ARCHIVE:
			v.archive = true;
			break;
		case OPT_CACHE:
			cache = option_number("--cache", optarg, 1, 100000000);
			cache_given = true;
			break;
		case OPT_REJECTS:
			v.rejects_path = optarg;
			break;
		case 'r':
			/* -r once named this file, and names the registry in the other programs. */
			die(EXIT_USAGE, "-r is no longer accepted: the rejects file is --rejects FILE, the registry -R FILE");
			break;
		case 'j':
			jobs = (size_t)option_number("-j", optarg, 1, JOBS_MAX);
			break;
		case OPT_CONFIG:
			config_path = optarg;
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			trust_free(v.trust);
			return EXIT_OK;
		case OPT_VERSION:
			print_version();
			trust_free(v.trust);
			return EXIT_OK;
		default:
			usage();
		}
	}
	if (optind != argc) {
		warning("unexpected argument: %s", argv[optind]);
		usage();
	}
	if (registry && trusted)
		die(EXIT_USAGE, "-R takes the place of -c and --pubkey: give either a registry or trust files");
	/* Flags win over the file; trust comes from one or the other, whole. */
	struct config *cfg = config_open(config_path);
	if (!registry && !trusted) {
		const char *const *items;
		size_t n = config_list(cfg, "verify.cert", &items);
		for (size_t i = 0; i < n; i++, trusted = true)
			trust_add_file(v.trust, NULL, items[i]);
		n = config_list(cfg, "verify.pubkey", &items);
		for (size_t i = 0; i < n; i++, trusted = true) {
			/* "DEVICE=FILE", checked when the file was read */
			const char *eq = strchr(items[i], '=');
			char device[DEVICE_ID_MAX + 1];
			size_t len = (size_t)(eq - items[i]);
			if (len > DEVICE_ID_MAX) {
				char shown[ESCAPED_SIZE(DEVICE_ID_MAX)];
				die(EXIT_CONFIG, "%s: key verify.pubkey: %s: not a device id", config_where(cfg, "verify.pubkey"),
				    escape_text(items[i], len, shown, sizeof shown));
			}
			memcpy(device, items[i], len);
			device[len] = '\0';
			trust_add_file(v.trust, device, eq + 1);
		}
		if (!trusted)
			registry = config_string(cfg, "registry.db");
	}
	if (!v.rejects_path)
		v.rejects_path = config_string(cfg, "verify.rejects");
	if (cache_given && !registry)
		die(EXIT_USAGE, "--cache is for -R REGISTRY");
	if (v.archive && !registry)
		die(EXIT_USAGE, "--archive is for -R REGISTRY");
	if (!registry && !trusted) {
		config_free(cfg);
		warning("no trusted devices (give -c CERTFILE, --pubkey DEVICE=FILE or -R REGISTRY, or verify.cert, "
		      "verify.pubkey or registry.db in the configuration)");
		usage();
	}
	if (v.rejects_path)
		v.rejects = open_rejects(v.rejects_path);

	if (registry)
		trust_use_registry(v.trust, registry, (size_t)cache, v.archive);
	v.hasher = frame_hasher_new();
	recent_init(&v.recent);
	output_init();
	stop_on_signals();
	if (jobs == 1) {
		verify_stream(&v);
	} else {
		/* Every device of a batch stays cached until the batch is decided. */
		size_t batch = BATCH_FRAMES;
		if (registry && (size_t)cache < batch)
			batch = (size_t)cache;
		struct crew *crew = crew_start(jobs - 1, v.archive);
		verify_stream_batched(&v, crew, batch);
		crew_stop(crew);
	}
	if (v.rejects && fclose(v.rejects) == EOF)
		die(EXIT_SYSTEM, "rejects file %s: %s", v.rejects_path, strerror(errno));
	if (v.n.rejected || v.n.duplicates)
		warning("%llu verified, %llu rejected, %llu duplicates dropped", v.n.verified, v.n.rejected,
		      v.n.duplicates);
	frame_hasher_free(v.hasher);
	recent_free(&v.recent);
	trust_close(v.trust);
	config_free(cfg);
	return v.n.rejected ? EXIT_REJECTED : EXIT_OK;
}
