/* smqtt-store: keep smqtt1 frames in SQLite, one typed row per frame, idempotent on (device, seq). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "devmap.h"
#include "error.h"
#include "frame.h"
#include "lineio.h"
#include "options.h"
#include "record.h"
#include "store.h"

static const char usage_text[] =
	"usage: smqtt-store [--config FILE] -d DBFILE [-s SCHEMA] [-b ROWS] [-w MS]\n"
	"\n"
	"Read smqtt1 frames from stdin and store each as a row of an SQLite database:\n"
	"device, seq, the record split into typed columns, and the whole frame (so the\n"
	"data can be verified again later). Frames already stored are counted and\n"
	"skipped; gaps in a device's sequence numbers are reported.\n"
	"\n"
	"  -d, --db FILE        SQLite database, created on first use\n"
	"  -s, --schema SCHEMA  record columns as NAME:TYPE,...; TYPE is text, integer\n"
	"                       or real (default " SCHEMA_DEFAULT ")\n"
	"  -b, --batch ROWS     commit after this many rows (default 10000)\n"
	"  -w, --wait MS        commit at most MS milliseconds after a row arrives\n"
	"                       (default 1000)\n"
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

enum { OPT_CONFIG = OPT_FIRST_PROGRAM_OPTION };

static const struct option long_options[] = {
	{"db", required_argument, NULL, 'd'},
	{"schema", required_argument, NULL, 's'},
	{"batch", required_argument, NULL, 'b'},
	{"wait", required_argument, NULL, 'w'},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

struct sink {
	struct store *store;
	const struct schema *schema;
	struct devmap *last_seq; /* device -> uint64_t highest stored seq */
	long long batch_rows, wait_ms;
	long long pending;          /* rows in the open transaction */
	unsigned long long first_pending_line;
	long long deadline_ms;      /* commit by then */
	unsigned long long stored, duplicates, rejected, gaps, missing;
};

static void commit(struct sink *k, unsigned long long last_line)
{
	if (!store_commit(k->store))
		die(EXIT_SYSTEM, "%lld frames from lines %llu-%llu not stored", k->pending, k->first_pending_line,
		    last_line);
	k->pending = 0;
}

/* The highest stored seq for a device, read from the database the first time the device is seen. */
static uint64_t *last_seq_of(struct sink *k, const struct frame *f)
{
	uint64_t *last = devmap_get(k->last_seq, f->device, f->device_len);
	if (!last) {
		last = xmalloc(sizeof *last);
		*last = store_last_seq(k->store, f->device, f->device_len);
		devmap_put(k->last_seq, f->device, f->device_len, last);
	}
	return last;
}

/* Report a gap when a device's frame skips numbers beyond the highest stored one. */
static void track_sequence(struct sink *k, unsigned long long lineno, const struct frame *f, uint64_t *last)
{
	if (f->seq > *last + 1) {
		uint64_t first = *last + 1, final = f->seq - 1;
		k->gaps++;
		k->missing += final - first + 1;
		warnx("line %llu: device %.*s seq %llu: gap: %llu frames missing (seq %llu..%llu)", lineno,
		      (int)f->device_len, f->device, (unsigned long long)f->seq,
		      (unsigned long long)(final - first + 1), (unsigned long long)first, (unsigned long long)final);
	}
	if (f->seq > *last)
		*last = f->seq;
}

static void store_line(struct sink *k, unsigned long long lineno, const char *line, size_t len,
		       char *scratch, struct field *fields)
{
	struct frame f;
	const char *why;
	char err[160];

	if (!frame_parse(line, len, &f, &why)) {
		warnx("line %llu: malformed frame: %s", lineno, why);
		k->rejected++;
		return;
	}
	if (!record_parse(k->schema, f.record, f.record_len, scratch, fields, err, sizeof err)) {
		warnx("line %llu: device %.*s seq %llu: record: %s", lineno, (int)f.device_len, f.device,
		      (unsigned long long)f.seq, err);
		k->rejected++;
		return;
	}
	if (!store_in_transaction(k->store)) {
		store_begin(k->store);
		k->deadline_ms = monotonic_ms() + k->wait_ms;
		k->first_pending_line = lineno;
	}
	uint64_t *last = last_seq_of(k, &f);
	if (!store_insert(k->store, &f, line, len, fields)) {
		k->duplicates++;
		return;
	}
	k->stored++;
	k->pending++;
	track_sequence(k, lineno, &f, last);
	/* Input that never pauses must not hold rows back longer than -w either. */
	if (k->pending >= k->batch_rows || monotonic_ms() >= k->deadline_ms)
		commit(k, lineno);
}

static void store_stream(struct sink *k)
{
	struct line_reader in;
	char *line;
	size_t len;
	char *scratch = xmalloc(RECORD_MAX + 1);
	struct field fields[SCHEMA_COLUMNS_MAX];

	line_reader_init(&in, STDIN_FILENO, "stdin", FRAME_MAX);
	in.strip_bom = false;
	in.strip_cr = false;
	while (!stop_requested()) {
		int timeout = -1;
		if (store_in_transaction(k->store)) {
			long long left = k->deadline_ms - monotonic_ms();
			timeout = left < 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
		}
		enum line_status st = line_read(&in, &line, &len, timeout);
		if (st == LINE_EOF)
			break;
		if (st == LINE_INTERRUPTED)
			continue;
		if (st == LINE_TIMEOUT) {
			commit(k, in.lineno);
			continue;
		}
		if (st == LINE_TOO_LONG) {
			warnx("line %llu: malformed frame: frame too long", in.lineno);
			k->rejected++;
			continue;
		}
		store_line(k, in.lineno, line, len, scratch, fields);
	}
	commit(k, in.lineno);
	line_reader_free(&in);
	free(scratch);
}

int main(int argc, char **argv)
{
	const char *config_path = NULL, *db_path = NULL, *schema_text = NULL;
	/* -1: not given on the command line, so the configuration or the default decides. */
	struct sink k = {.batch_rows = -1, .wait_ms = -1};
	struct schema schema;
	char err[160];
	int c;

	error_init(argv[0]);
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
		warnx("unexpected argument: %s", argv[optind]);
		usage();
	}

	/* Flags win; what they left open comes from the configuration, then the defaults. */
	struct config *cfg = config_open(config_path);
	const char *schema_where = NULL;
	if (!db_path)
		db_path = config_string(cfg, "store.db");
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
		warnx("no database given (-d DBFILE, or store.db in the configuration)");
		usage();
	}
	if (!schema_parse(schema_text, &schema, err, sizeof err)) {
		if (schema_where)
			die(EXIT_CONFIG, "%s: key store.schema: %s", schema_where, err);
		die(EXIT_USAGE, "-s %s: %s", schema_text, err);
	}

	k.schema = &schema;
	k.store = store_open(db_path, &schema, schema_text);
	k.last_seq = devmap_new();
	stop_on_signals();
	store_stream(&k);
	store_close(k.store);
	devmap_free(k.last_seq, free);
	config_free(cfg);
	warnx("%llu stored, %llu duplicates, %llu rejected, %llu gaps (%llu frames missing)", k.stored,
	      k.duplicates, k.rejected, k.gaps, k.missing);
	return k.rejected ? EXIT_REJECTED : EXIT_OK;
}
