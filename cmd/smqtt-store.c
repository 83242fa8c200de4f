/* smqtt-store: keep smqtt1 frames in SQLite or PostgreSQL, one typed row per frame, idempotent on (device, seq). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "devmap.h"
#include "error.h"
#include "frame.h"
#include "lineio.h"
#include "options.h"
#include "record.h"
#include "store.h"

static const char usage_text[] =
	"usage: smqtt-store [--config FILE] -d DBFILE|URI [-s SCHEMA] [-b ROWS] [-w MS]\n"
	"       smqtt-store [--config FILE] -d DBFILE|URI --gaps\n"
	"\n"
	"Read smqtt1 frames from stdin and store each as a row of an SQLite database\n"
	"or of a PostgreSQL database: device, seq, the record split into typed\n"
	"columns, and the whole frame (so the data can be verified again later).\n"
	"Frames already stored are counted and skipped; gaps in a device's sequence\n"
	"numbers are reported.\n"
	"\n"
	"  -d, --db FILE|URI    SQLite database file, created on first use, or a\n"
	"                       PostgreSQL server: postgresql://[USER@]HOST[:PORT]/DBNAME\n"
	"                       (the tables are created on first use)\n"
	"  -s, --schema SCHEMA  record columns as NAME:TYPE,...; TYPE is text, integer,\n"
	"                       real, or device: text that must be the id of the\n"
	"                       device that signed the frame (default\n"
	"                       " SCHEMA_DEFAULT ")\n"
	"  -b, --batch ROWS     commit after this many rows (default 10000)\n"
	"  -w, --wait MS        commit at most MS milliseconds after a row arrives\n"
	"                       (default 1000)\n"
	"      --gaps           list the sequence numbers missing in the database, of\n"
	"                       every writer, one run per line: DEVICE FIRST LAST COUNT\n"
	"      --config FILE    read settings (store.db, store.schema, store.batch,\n"
	"                       store.wait) from FILE; options given here win\n"
	"      --help           show this help\n"
	"      --version        show the version\n"
	"\n"
	"Without --config, the file named by $SMQTT_CONFIG is read, else the first of\n"
	"$XDG_CONFIG_HOME/smqtt/config.yaml (~/.config/...) and /etc/smqtt/config.yaml\n"
	"that exists; see smqtt.conf(5).\n"
	"\n"
	"Exit status: 0 every frame stored or already present, 1 some lines rejected,\n"
	"2 usage error, 3 database has another schema or configuration file unusable,\n"
	"4 database or system error.\n";

static _Noreturn void usage(void)
{
	fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

enum { OPT_CONFIG = OPT_FIRST_PROGRAM_OPTION, OPT_GAPS };

static const struct option long_options[] = {
	{"db", required_argument, NULL, 'd'},
	{"schema", required_argument, NULL, 's'},
	{"batch", required_argument, NULL, 'b'},
	{"wait", required_argument, NULL, 'w'},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"gaps", no_argument, NULL, OPT_GAPS},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

/*
 * The rows of the open transaction are kept until it is committed, so that
 * they can be written again when the database fails under it; a transaction
 * is committed at -b rows or at this many bytes of frames, whichever is first.
 */
#define BATCH_BYTES (8 << 20)
/* Pauses between attempts to write a batch again: doubling from the first to the last. */
#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS 5000

struct sink {
	struct store *store;
	const struct schema *schema;
	struct devmap *last_seq; /* device -> uint64_t highest stored seq */
	long long batch_rows, wait_ms;
	bool batch_open;
	long long deadline_ms;      /* commit by then */
	long long pending;          /* rows inserted in the open transaction */
	char *rows;                 /* its frames, each as struct kept_row + bytes */
	size_t rows_len, rows_cap;
	unsigned long long kept, first_kept_line, last_kept_line;
	char *notes;                /* gap reports for its rows, NUL-separated, printed once committed */
	size_t notes_len, notes_cap;
	unsigned long long stored, duplicates, rejected, gaps, missing;
	unsigned long long stored_before, gaps_before, missing_before; /* before the open transaction */
	char *scratch;
	struct field fields[SCHEMA_COLUMNS_MAX];
	/*
	 * Frames read and parsed, not yet sent: to a server, up to
	 * STORE_QUEUE_MAX go in one round trip (store_insert_many); to a file,
	 * one at a time, as the round trip costs nothing.
	 */
	struct queued *queue;
	size_t queued, queue_max;
	struct store_row sending[STORE_QUEUE_MAX];
	enum store_result results[STORE_QUEUE_MAX];
};

struct queued {
	unsigned long long lineno;
	char *line; /* a copy, FRAME_MAX bytes */
	size_t len;
	char *scratch; /* record_parse's, RECORD_MAX + 1 bytes */
	struct field fields[SCHEMA_COLUMNS_MAX];
	struct frame f; /* into line */
};

struct kept_row {
	unsigned long long lineno;
	size_t len;
};

static void append_bytes(char **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
	if (*len + n > *cap) {
		*cap = (*len + n) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	memcpy(*buf + *len, data, n);
	*len += n;
}

/* The highest stored seq for a device, read from the database the first time the device is seen. */
static uint64_t *last_seq_of(struct sink *k, const struct frame *f)
{
	uint64_t *last = devmap_get(k->last_seq, f->device, f->device_len);
	if (!last) {
		uint64_t seq;
		if (!store_last_seq(k->store, f->device, f->device_len, &seq))
			return NULL;
		last = xmalloc(sizeof *last);
		*last = seq;
		devmap_put(k->last_seq, f->device, f->device_len, last);
	}
	return last;
}

/*
 * On a server, the highest stored seqs of the queued frames' devices not
 * yet known in this transaction, in one round trip rather than one each.
 */
static bool read_last_seqs(struct sink *k)
{
	const char *devices[STORE_QUEUE_MAX];
	size_t lens[STORE_QUEUE_MAX], n = 0;
	uint64_t seqs[STORE_QUEUE_MAX], *last[STORE_QUEUE_MAX];
	if (k->queued < 2)
		return true;
	for (size_t i = 0; i < k->queued; i++) {
		const struct frame *f = &k->queue[i].f;
		if (devmap_get(k->last_seq, f->device, f->device_len))
			continue;
		/* Filled in below; if the query fails, the retry starts from an empty map. */
		last[n] = xcalloc(1, sizeof *last[n]);
		devmap_put(k->last_seq, f->device, f->device_len, last[n]);
		devices[n] = f->device;
		lens[n++] = f->device_len;
	}
	if (n == 0)
		return true;
	if (!store_last_seq_many(k->store, n, devices, lens, seqs))
		return false;
	for (size_t i = 0; i < n; i++)
		*last[i] = seqs[i];
	return true;
}

/* Note a gap when a device's frame skips numbers beyond the highest stored one. */
static void track_sequence(struct sink *k, unsigned long long lineno, const struct frame *f, uint64_t *last)
{
	if (f->seq > *last + 1) {
		uint64_t first = *last + 1, final = f->seq - 1;
		char note[DEVICE_ID_MAX + 160];
		int n = snprintf(note, sizeof note, "line %llu: device %.*s seq %llu: gap: %llu frames missing (seq %llu..%llu)",
				 lineno, (int)f->device_len, f->device, (unsigned long long)f->seq,
				 (unsigned long long)(final - first + 1), (unsigned long long)first,
				 (unsigned long long)final);
		append_bytes(&k->notes, &k->notes_len, &k->notes_cap, note, (size_t)n + 1);
		k->gaps++;
		k->missing += final - first + 1;
	}
	if (f->seq > *last)
		*last = f->seq;
}

/* Insert a frame whose record is parsed into k->fields, in the open transaction. */
static enum store_result insert_frame(struct sink *k, unsigned long long lineno, const struct frame *f,
				      const char *line, size_t len)
{
	uint64_t *last = last_seq_of(k, f);
	if (!last)
		return STORE_RETRY;
	enum store_result r = store_insert(k->store, f, line, len, k->fields);
	if (r == STORE_INSERTED) {
		k->stored++;
		k->pending++;
		track_sequence(k, lineno, f, last);
	} else if (r == STORE_DUPLICATE) {
		k->duplicates++;
	}
	return r;
}

static void open_batch(struct sink *k, unsigned long long lineno)
{
	k->batch_open = true;
	k->deadline_ms = monotonic_ms() + k->wait_ms;
	k->first_kept_line = lineno;
	k->stored_before = k->stored;
	k->gaps_before = k->gaps;
	k->missing_before = k->missing;
}

/*
 * The batch is committed: report its gaps and forget its rows, and the
 * devices' highest seqs with them. The next transaction reads those again,
 * so that rows other writers have stored meanwhile (collectors behind a
 * shared subscription) count, and the memory held is bounded by the batch,
 * not by the number of devices ever seen.
 */
static void close_batch(struct sink *k)
{
	for (size_t at = 0; at < k->notes_len; at += strlen(k->notes + at) + 1)
		warning("%s", k->notes + at);
	devmap_free(k->last_seq, free);
	k->last_seq = devmap_new();
	k->batch_open = false;
	k->pending = 0;
	k->kept = 0;
	k->rows_len = k->notes_len = 0;
}

/* Insert every kept row again in a new transaction; false when the database failed again. */
static bool replay_batch(struct sink *k)
{
	k->stored = k->stored_before;
	k->gaps = k->gaps_before;
	k->missing = k->missing_before;
	k->pending = 0;
	k->notes_len = 0;
	/* What was cached for the devices of the lost transaction is no longer true. */
	devmap_free(k->last_seq, free);
	k->last_seq = devmap_new();
	if (!store_begin(k->store))
		return false;
	for (size_t at = 0; at < k->rows_len;) {
		struct kept_row row;
		memcpy(&row, k->rows + at, sizeof row);
		const char *line = k->rows + at + sizeof row;
		struct frame f;
		const char *why;
		char err[160];
		/* Kept rows were parsed once already, so they parse again. */
		if (!frame_parse(line, row.len, &f, &why) ||
		    !record_parse(k->schema, f.record, f.record_len, k->scratch, k->fields, err, sizeof err))
			die(EXIT_SYSTEM, "line %llu: kept frame no longer parses", row.lineno);
		if (insert_frame(k, row.lineno, &f, line, row.len) == STORE_RETRY)
			return false;
		at += sizeof row + row.len;
	}
	return true;
}

static void pause_ms(long long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000};
	nanosleep(&ts, NULL); /* SIGINT and SIGTERM cut it short */
}

/*
 * The database failed under the open transaction: a lock held elsewhere, a
 * full disk, an I/O error. Write the kept rows again, pausing longer each
 * time, until they are committed. No input is read meanwhile, so the pipe
 * fills up and the programs upstream wait. SIGINT or SIGTERM gives up.
 */
static void retry_batch(struct sink *k)
{
	long long started = monotonic_ms(), delay = RETRY_FIRST_MS;
	unsigned long long duplicates_before = k->duplicates;
	char reported[256] = "";
	for (;;) {
		store_rollback(k->store);
		if (strcmp(reported, store_error(k->store)) != 0) {
			snprintf(reported, sizeof reported, "%s", store_error(k->store));
			warning("database %s: %llu frames from lines %llu-%llu not stored yet: %s; keeping them and retrying",
			      store_path(k->store), k->kept, k->first_kept_line, k->last_kept_line, reported);
		}
		if (stop_requested())
			die(EXIT_SYSTEM, "database %s: %llu frames from lines %llu-%llu not stored: %s",
			    store_path(k->store), k->kept, k->first_kept_line, k->last_kept_line, reported);
		pause_ms(delay);
		delay = delay * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : delay * 2;
		k->duplicates = duplicates_before;
		if (replay_batch(k) && store_commit(k->store))
			break;
	}
	warning("database %s: %llu frames from lines %llu-%llu stored after %lld s of retrying", store_path(k->store),
	      k->kept, k->first_kept_line, k->last_kept_line, (monotonic_ms() - started + 500) / 1000);
	close_batch(k);
}

static void flush_queue(struct sink *k);

static void commit(struct sink *k)
{
	flush_queue(k);
	if (!k->batch_open)
		return;
	if (!store_commit(k->store)) {
		retry_batch(k);
		return;
	}
	close_batch(k);
}

static void keep_row(struct sink *k, const struct queued *q)
{
	struct kept_row row = {.lineno = q->lineno, .len = q->len};
	append_bytes(&k->rows, &k->rows_len, &k->rows_cap, &row, sizeof row);
	append_bytes(&k->rows, &k->rows_len, &k->rows_cap, q->line, q->len);
	k->kept++;
	k->last_kept_line = q->lineno;
}

/*
 * Insert the queued frames in the open transaction (opening it if need be).
 * Each device's highest stored seq is read first, so that the gaps are told
 * as if the frames had been inserted one by one; a duplicate is not part of
 * the batch.
 */
static void flush_queue(struct sink *k)
{
	if (k->queued == 0)
		return;
	if (!k->batch_open)
		open_batch(k, k->queue[0].lineno);
	bool ok = store_begin(k->store) && read_last_seqs(k);
	for (size_t i = 0; ok && i < k->queued; i++)
		ok = last_seq_of(k, &k->queue[i].f) != NULL;
	if (ok) {
		for (size_t i = 0; i < k->queued; i++)
			k->sending[i] = (struct store_row){.frame = k->queue[i].f, .line = k->queue[i].line,
							.len = k->queue[i].len, .fields = k->queue[i].fields};
		store_insert_many(k->store, k->queued, k->sending, k->results);
		ok = k->results[0] != STORE_RETRY;
	}
	size_t n = k->queued;
	k->queued = 0;
	if (!ok) {
		for (size_t i = 0; i < n; i++)
			keep_row(k, &k->queue[i]);
		retry_batch(k);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct queued *q = &k->queue[i];
		k->last_kept_line = q->lineno;
		if (k->results[i] == STORE_DUPLICATE) {
			k->duplicates++;
			continue;
		}
		keep_row(k, q);
		k->stored++;
		k->pending++;
		track_sequence(k, q->lineno, &q->f, last_seq_of(k, &q->f));
	}
	/* Input that never pauses must not hold rows back longer than -w either. */
	if (k->pending >= k->batch_rows || k->rows_len >= BATCH_BYTES || monotonic_ms() >= k->deadline_ms)
		commit(k);
}

/*
 * A device column names the device that signed the frame, and nothing else:
 * a device's key must not file a reading under another meter.
 */
static bool check_device_columns(const struct schema *s, const struct field *fields, const struct frame *f,
				 char *err, size_t errlen)
{
	for (size_t c = 0; c < s->ncolumns; c++) {
		const struct field *fld = &fields[c];
		if (s->columns[c].type != COLUMN_DEVICE ||
		    (!fld->is_null && fld->len == f->device_len && memcmp(fld->text, f->device, f->device_len) == 0))
			continue;
		char shown[ESCAPED_SIZE(DEVICE_ID_MAX)];
		if (fld->is_null)
			snprintf(err, errlen, "field %zu (%s): empty, not the device that signed the frame", c + 1,
				 s->columns[c].name);
		else
			snprintf(err, errlen, "field %zu (%s): \"%s\" is not the device that signed the frame", c + 1,
				 s->columns[c].name, escape_text(fld->text, fld->len, shown, sizeof shown));
		return false;
	}
	return true;
}

static void store_line(struct sink *k, unsigned long long lineno, const char *line, size_t len)
{
	struct queued *q = &k->queue[k->queued];
	const char *why;
	char err[160];

	memcpy(q->line, line, len);
	q->len = len;
	q->lineno = lineno;
	if (!frame_parse(q->line, len, &q->f, &why)) {
		warning("line %llu: malformed frame: %s", lineno, why);
		k->rejected++;
		return;
	}
	const struct frame *f = &q->f;
	if (!record_parse(k->schema, f->record, f->record_len, q->scratch, q->fields, err, sizeof err) ||
	    !check_device_columns(k->schema, q->fields, f, err, sizeof err) ||
	    (!store_text_storable(k->store, f->record, f->record_len) &&
	     snprintf(err, sizeof err, "not UTF-8 text, which the database's text columns hold") > 0)) {
		warning("line %llu: device %.*s seq %llu: record: %s", lineno, (int)f->device_len, f->device,
		      (unsigned long long)f->seq, err);
		k->rejected++;
		return;
	}
	k->queued++;
	if (k->queued == k->queue_max || k->pending + (long long)k->queued >= k->batch_rows)
		flush_queue(k);
}

static void store_stream(struct sink *k)
{
	struct line_reader in;
	char *line;
	size_t len;

	line_reader_init(&in, STDIN_FILENO, "stdin", FRAME_MAX);
	in.strip_bom = false;
	in.strip_cr = false;
	while (!stop_requested()) {
		int timeout = -1;
		/* Frames queued are sent as soon as no more input is waiting. */
		if (k->queued) {
			timeout = 0;
		} else if (k->batch_open) {
			long long left = k->deadline_ms - monotonic_ms();
			timeout = left < 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
		}
		enum line_status st = line_read(&in, &line, &len, timeout);
		if (st == LINE_EOF)
			break;
		if (st == LINE_INTERRUPTED)
			continue;
		if (st == LINE_TIMEOUT) {
			if (k->queued)
				flush_queue(k);
			else
				commit(k);
			continue;
		}
		if (st == LINE_TOO_LONG) {
			warning("line %llu: malformed frame: frame too long", in.lineno);
			k->rejected++;
			continue;
		}
		if (st == LINE_INCOMPLETE) {
			warning("line %llu: %s; not stored", in.lineno, LINE_INCOMPLETE_WHY);
			k->rejected++;
			continue;
		}
		store_line(k, in.lineno, line, len);
	}
	commit(k);
	line_reader_free(&in);
}

struct gap_count {
	unsigned long long gaps, missing;
};

static int print_gap(const char *device, size_t len, uint64_t first, uint64_t last, void *arg)
{
	struct gap_count *n = arg;
	if (printf("%.*s %llu %llu %llu\n", (int)len, device, (unsigned long long)first, (unsigned long long)last,
		   (unsigned long long)(last - first + 1)) < 0)
		die(EXIT_SYSTEM, "writing stdout: %s", strerror(errno));
	n->gaps++;
	n->missing += last - first + 1;
	return 0;
}

/* --gaps: the database's account of what is missing, whoever wrote it. */
static int list_gaps(const char *target)
{
	struct gap_count n = {0};
	store_each_gap(target, print_gap, &n);
	if (fflush(stdout) != 0)
		die(EXIT_SYSTEM, "writing stdout: %s", strerror(errno));
	warning("%llu gaps (%llu frames missing)", n.gaps, n.missing);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	const char *config_path = NULL, *db_path = NULL, *schema_text = NULL;
	/* -1: not given on the command line, so the configuration or the default decides. */
	struct sink k = {.batch_rows = -1, .wait_ms = -1};
	bool gaps = false;
	struct schema schema;
	char err[160];
	int c;

	error_init(argv);
	while ((c = getopt_long(argc, argv, "d:s:b:w:", long_options, NULL)) != -1) {
		switch (c) {
		case 'd':
			db_path = optarg;
			break;
		case 's':
			schema_text = optarg;
			break;
		case 'b':
			k.batch_rows = option_number("-b", optarg, 1, 1000000);
			break;
		case 'w':
			k.wait_ms = option_number("-w", optarg, 0, 3600000);
			break;
		case OPT_CONFIG:
			config_path = optarg;
			break;
		case OPT_GAPS:
			gaps = true;
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			return EXIT_OK;
		case OPT_VERSION:
			print_version();
			return EXIT_OK;
		default:
			usage();
		}
	}
	if (optind != argc) {
		warning("unexpected argument: %s", argv[optind]);
		usage();
	}
	if (gaps && (schema_text || k.batch_rows >= 0 || k.wait_ms >= 0)) {
		warning("--gaps reads the database only: -s, -b and -w do not go with it");
		usage();
	}

	/* Flags win; what they left open comes from the configuration, then the defaults. */
	struct config *cfg = config_open(config_path);
	const char *schema_where = NULL, *db_where = NULL;
	if (!db_path && (db_path = config_string(cfg, "store.db")))
		db_where = config_where(cfg, "store.db");
	if (!schema_text && (schema_text = config_string(cfg, "store.schema")))
		schema_where = config_where(cfg, "store.schema");
	if (!schema_text)
		schema_text = SCHEMA_DEFAULT;
	if (k.batch_rows < 0 && !config_integer(cfg, "store.batch", &k.batch_rows))
		k.batch_rows = 10000;
	if (k.wait_ms < 0 && !config_integer(cfg, "store.wait", &k.wait_ms))
		k.wait_ms = 1000;

	if (!db_path) {
		config_free(cfg);
		warning("no database given (-d DBFILE, or store.db in the configuration)");
		usage();
	}
	char target[512];
	if (!db_target_check(db_path, target, sizeof target, err, sizeof err)) {
		if (db_where)
			die(EXIT_CONFIG, "%s: key store.db: %s: %s", db_where, target, err);
		die(EXIT_USAGE, "-d %s: %s", target, err);
	}
	if (gaps) {
		config_free(cfg);
		return list_gaps(db_path);
	}
	if (!schema_parse(schema_text, &schema, err, sizeof err)) {
		char shown[ESCAPED_SIZE(64)];
		if (schema_where)
			die(EXIT_CONFIG, "%s: key store.schema: %s", schema_where, err);
		die(EXIT_USAGE, "-s %s: %s", escape_text(schema_text, strlen(schema_text), shown, sizeof shown), err);
	}

	k.schema = &schema;
	k.scratch = xmalloc(RECORD_MAX + 1);
	/* A file size limit (ulimit -f) is a full disk to retry, not a reason to die. */
	signal(SIGXFSZ, SIG_IGN);
	k.store = store_open(db_path, &schema, schema_text);
	k.last_seq = devmap_new();
	k.queue_max = store_is_server(k.store) ? STORE_QUEUE_MAX : 1;
	k.queue = xcalloc(k.queue_max, sizeof *k.queue);
	for (size_t i = 0; i < k.queue_max; i++) {
		k.queue[i].line = xmalloc(FRAME_MAX);
		k.queue[i].scratch = xmalloc(RECORD_MAX + 1);
	}
	stop_on_signals();
	store_stream(&k);
	store_close(k.store);
	devmap_free(k.last_seq, free);
	free(k.scratch);
	for (size_t i = 0; i < k.queue_max; i++) {
		free(k.queue[i].line);
		free(k.queue[i].scratch);
	}
	free(k.queue);
	free(k.rows);
	free(k.notes);
	config_free(cfg);
	warning("%llu stored, %llu duplicates, %llu rejected, %llu gaps (%llu frames missing)", k.stored,
	      k.duplicates, k.rejected, k.gaps, k.missing);
	return k.rejected ? EXIT_REJECTED : EXIT_OK;
}
