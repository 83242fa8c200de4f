#include "db.h"

#include <errno.h>
#include <iconv.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "error.h"

/* Seconds to wait for a server to answer when connecting, unless the URI says. */
#define CONNECT_TIMEOUT "10"

/* Executions db_queue holds before db_queue_results. */
#define QUEUE_MAX DB_QUEUE_MAX

struct db {
	sqlite3 *lite;
	PGconn *pg;
	char *name;
	const char *label;
	bool server_utf8;      /* the server checks text against UTF-8 */
	iconv_t utf8;          /* for db_text_storable, opened on first use */
	unsigned connection;   /* counts connections to the server: statements are prepared on each */
	unsigned statements;   /* names the server's prepared statements */
	char error[512];
	struct db_stmt *begin, *commit, *rollback;
	/* db_queue on SQLite: what each execution changed, until db_queue_results */
	int64_t queued[QUEUE_MAX];
	size_t nqueued;
};

/* On a server, a statement's parameters are sent as text (blobs as bytes) and its rows read as text. */
#define PARAMS_MAX DB_PARAMS_MAX

struct db_stmt {
	struct db *db;
	sqlite3_stmt *lite;
	/* PostgreSQL */
	char *sql, name[24];
	unsigned prepared_on; /* db->connection it is prepared on; 0 none */
	int nparams;
	const char *values[PARAMS_MAX];
	int lengths[PARAMS_MAX], formats[PARAMS_MAX];
	char numbers[PARAMS_MAX][32];
	char *texts[PARAMS_MAX]; /* NUL-terminated copies of text parameters */
	PGresult *result;
	int row; /* the current row of result; -1 before the first */
	unsigned char *blob; /* the current row's last blob column, unescaped */
	size_t blob_len;
	int64_t changes;
};

/* postgresql://USER@HOST:PORT/DBNAME from parsed options: what a message may show. */
static void server_name(PQconninfoOption *opts, char *out, size_t len)
{
	const char *user = NULL, *host = NULL, *hostaddr = NULL, *port = NULL, *dbname = NULL;
	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		if (strcmp(o->keyword, "user") == 0)
			user = o->val;
		else if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			hostaddr = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			dbname = o->val;
	}
	if (!host)
		host = hostaddr;
	snprintf(out, len, "postgresql://%s%s%s%s%s/%s", user ? user : "", user ? "@" : "", host ? host : "",
		 port ? ":" : "", port ? port : "", dbname ? dbname : "");
}

/*
 * libpq's messages end in a newline and may go on over more lines (a hint);
 * keep the first line, without the "connection to server at ... failed: "
 * that the name we give already says, nor a severity such as "FATAL:  ".
 */
static void keep_message(char *out, size_t len, const char *msg)
{
	if (!msg || !*msg)
		msg = "unknown error";
	size_t n = strcspn(msg, "\n");
	const char *failed = strstr(msg, " failed: ");
	if (strncmp(msg, "connection to server ", 21) == 0 && failed && failed < msg + n) {
		n -= (size_t)(failed + 9 - msg);
		msg = failed + 9;
	}
	static const char *const severities[] = {"FATAL:  ", "ERROR:  ", "PANIC:  "};
	for (size_t i = 0; i < sizeof severities / sizeof *severities; i++) {
		size_t sl = strlen(severities[i]);
		if (n >= sl && strncmp(msg, severities[i], sl) == 0) {
			msg += sl;
			n -= sl;
		}
	}
	while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '\t'))
		n--;
	snprintf(out, len, "%.*s", (int)n, msg);
}

/* Every copy of the len bytes at secret in text (of size bytes) becomes "...". */
static void hide(char *text, size_t size, const char *secret, size_t len)
{
	if (!secret || len == 0)
		return;
	char out[512];
	size_t o = 0;
	for (const char *p = text; *p && o + 4 < sizeof out;) {
		if (strncmp(p, secret, len) == 0) {
			memcpy(out + o, "...", 3);
			o += 3;
			p += len;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	snprintf(text, size, "%s", out);
}

bool db_target_check(const char *target, char *shown, size_t shown_len, char *why, size_t why_len)
{
	if (!db_target_is_server(target)) {
		snprintf(shown, shown_len, "%s", target);
		return true;
	}
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(target, &err);
	if (!opts) {
		/* Show the scheme only: what follows may hold a password. */
		const char *rest = strstr(target, "://") + 3, *at = strchr(rest, '@');
		snprintf(shown, shown_len, "%.*s%s", (int)(rest - target), target, at ? "...@..." : "...");
		keep_message(why, why_len, err ? err : "out of memory");
		PQfreemem(err);
		/* libpq quotes the part it cannot read, which may be the password itself. */
		const char *colon = at ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
		hide(why, why_len, colon ? colon + 1 : NULL, colon ? (size_t)(at - colon - 1) : 0);
		for (const char *p = strstr(target, "password="); p; p = strstr(p + 9, "password="))
			hide(why, why_len, p + 9, strcspn(p + 9, "&"));
		return false;
	}
	server_name(opts, shown, shown_len);
	PQconninfoFree(opts);
	return true;
}

const char *db_name(const struct db *db)
{
	return db->name;
}

const char *db_error(const struct db *db)
{
	return db->error;
}

bool db_is_server(const struct db *db)
{
	return db->pg != NULL;
}

_Noreturn void db_die(const struct db *db, int code, const char *doing)
{
	die(code, "%s %s: %s: %s", db->label, db->name, doing, db->error);
}

static void set_error(struct db *db, const char *msg)
{
	keep_message(db->error, sizeof db->error, msg);
}

/* A failure to connect: EXIT_CONFIG when the server refused us, EXIT_SYSTEM when it could not be reached. */
static _Noreturn void connect_failed(struct db *db)
{
	set_error(db, PQerrorMessage(db->pg));
	/*
	 * libpq reports a failed connection as text only. Refusals name what
	 * to fix in the connection string or on the server (the password, the
	 * user, the database, pg_hba.conf); anything else (refused, unknown
	 * host, timeout, too many connections) may go away by itself.
	 */
	const char *msg = db->error;
	bool refused = PQconnectionNeedsPassword(db->pg) || strstr(msg, "authentication failed") ||
		       strstr(msg, "no pg_hba.conf entry") || strstr(msg, "does not exist") ||
		       strstr(msg, "password") || strstr(msg, "permission denied");
	char error[sizeof db->error];
	snprintf(error, sizeof error, "%s",
		 PQconnectionNeedsPassword(db->pg) ? "the server asks for a password and none was given" : msg);
	PQfinish(db->pg);
	die(refused ? EXIT_CONFIG : EXIT_SYSTEM, "%s %s: %s: %s", db->label, db->name,
	    refused ? "refused by the server" : "connecting", error);
}

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void open_server(struct db *db, const char *target)
{
	char why[256];
	char shown[512];
	if (!db_target_check(target, shown, sizeof shown, why, sizeof why))
		die(EXIT_CONFIG, "%s %s: bad connection string: %s", db->label, shown, why);
	db->name = xstrdup(shown);
	/*
	 * A server that does not answer (a host down, packets dropped) must not
	 * hold a program for minutes, at start or when it reconnects: 10 s,
	 * unless the URI sets connect_timeout, which comes later and wins.
	 */
	static const char *const keywords[] = {"connect_timeout", "dbname", NULL};
	const char *const values[] = {CONNECT_TIMEOUT, target, NULL};
	db->pg = PQconnectdbParams(keywords, values, 1);
	if (!db->pg)
		die(EXIT_SYSTEM, "%s %s: connecting: out of memory", db->label, db->name);
	if (PQstatus(db->pg) != CONNECTION_OK)
		connect_failed(db);
	/* Parameters go as UTF-8; frames are checked against it before they are sent (db_text_storable). */
	if (PQsetClientEncoding(db->pg, "UTF8") != 0) {
		set_error(db, PQerrorMessage(db->pg));
		db_die(db, EXIT_SYSTEM, "setting the client encoding");
	}
	/* A server in SQL_ASCII takes any bytes; any other converts from UTF-8, so it must be UTF-8. */
	const char *enc = PQparameterStatus(db->pg, "server_encoding");
	db->server_utf8 = !enc || strcmp(enc, "SQL_ASCII") != 0;
	/* Notices (such as "relation already exists, skipping") are not for our users. */
	PQsetNoticeProcessor(db->pg, ignore_notice, NULL);
	db->connection = 1;
}

static void open_file(struct db *db, const char *path, int flags, int busy_ms)
{
	db->name = xstrdup(path);
	struct stat sb;
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		die(EXIT_CONFIG, "%s %s: %s", db->label, path, strerror(EISDIR));
	int lite_flags = flags & DB_READONLY ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	if (flags & DB_CREATE)
		lite_flags |= SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &db->lite, lite_flags, NULL) != SQLITE_OK) {
		int err = sqlite3_system_errno(db->lite);
		die(EXIT_SYSTEM, "%s %s: opening: %s", db->label, path, err ? strerror(err) : sqlite3_errmsg(db->lite));
	}
	/* Wait for another writer (or a reader holding a checkpoint) instead of failing at once. */
	sqlite3_busy_timeout(db->lite, busy_ms);
}

struct db *db_open(const char *target, const char *label, int flags, int busy_ms)
{
	struct db *db = xcalloc(1, sizeof *db);
	db->label = label;
	db->utf8 = (iconv_t)-1;
	if (db_target_is_server(target)) {
		open_server(db, target);
	} else {
		open_file(db, target, flags, busy_ms);
	}
	return db;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	db_finalize(db->begin);
	db_finalize(db->commit);
	db_finalize(db->rollback);
	if (db->utf8 != (iconv_t)-1)
		iconv_close(db->utf8);
	if (db->pg) {
		PQfinish(db->pg);
	} else if (sqlite3_close(db->lite) != SQLITE_OK) {
		set_error(db, sqlite3_errmsg(db->lite));
		db_die(db, EXIT_SYSTEM, "closing");
	}
	free(db->name);
	free(db);
}

/* ---- SQLite ---- */

static enum db_result lite_result(struct db *db, int rc)
{
	if (rc == SQLITE_ROW)
		return DB_ROW;
	if (rc == SQLITE_DONE || rc == SQLITE_OK)
		return DB_DONE;
	set_error(db, sqlite3_errmsg(db->lite));
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_FULL:
	case SQLITE_IOERR:
		return DB_RETRY;
	case SQLITE_NOTADB:
		return DB_NOT_DATABASE;
	default:
		return DB_FAILED;
	}
}

/* ---- PostgreSQL ---- */

/*
 * Failures that may go away by themselves: the connection (class 08, or no
 * result at all), a serialization failure or deadlock (40), a full disk or
 * too many connections (53), a server shutting down or starting up (57P),
 * a lock not available (55P03), an I/O error (58). A unique violation
 * (23505) is told apart.
 */
static enum db_result pg_failure(struct db *db, PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	set_error(db, primary ? primary : PQerrorMessage(db->pg));
	if (PQstatus(db->pg) != CONNECTION_OK || !state)
		return DB_RETRY;
	if (strcmp(state, "23505") == 0)
		return DB_DUPLICATE;
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "40", 2) == 0 || strncmp(state, "53", 2) == 0 ||
	    strncmp(state, "57P", 3) == 0 || strcmp(state, "55P03") == 0 || strncmp(state, "58", 2) == 0)
		return DB_RETRY;
	return DB_FAILED;
}

static enum db_result pg_check(struct db *db, PGresult *res)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return DB_DONE;
	return pg_failure(db, res);
}

/* ? and ?N become $N, outside quoted text. */
static char *translate_placeholders(const char *sql, int *nparams)
{
	size_t n = strlen(sql);
	char *out = xmalloc(n * 4 + 1), *o = out;
	int next = 0, most = 0;
	char quote = 0;
	for (const char *p = sql; *p; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
			*o++ = *p;
		} else if (*p == '\'' || *p == '"') {
			quote = *p;
			*o++ = *p;
		} else if (*p == '?') {
			int i;
			if (p[1] >= '0' && p[1] <= '9') {
				char *end;
				i = (int)strtol(p + 1, &end, 10);
				p = end - 1;
			} else {
				i = ++next;
			}
			if (i > most)
				most = i;
			o += sprintf(o, "$%d", i);
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	*nparams = most;
	return out;
}

static enum db_result pg_prepare(struct db_stmt *s)
{
	struct db *db = s->db;
	if (s->prepared_on == db->connection)
		return DB_DONE;
	PGresult *res = PQprepare(db->pg, s->name, s->sql, 0, NULL);
	enum db_result r = pg_check(db, res);
	PQclear(res);
	if (r == DB_DONE)
		s->prepared_on = db->connection;
	return r;
}

/* ---- both ---- */

enum db_result db_exec(struct db *db, const char *sql)
{
	if (db->lite) {
		char *msg = NULL;
		int rc = sqlite3_exec(db->lite, sql, NULL, NULL, &msg);
		if (rc != SQLITE_OK && msg) {
			enum db_result r = lite_result(db, rc);
			set_error(db, msg);
			sqlite3_free(msg);
			return r;
		}
		return lite_result(db, rc);
	}
	PGresult *res = PQexec(db->pg, sql);
	enum db_result r = pg_check(db, res);
	PQclear(res);
	return r;
}

struct db_stmt *db_prepare(struct db *db, const char *sql)
{
	struct db_stmt *s = xcalloc(1, sizeof *s);
	s->db = db;
	if (db->lite) {
		if (sqlite3_prepare_v3(db->lite, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->lite, NULL) != SQLITE_OK) {
			enum db_result r = lite_result(db, sqlite3_errcode(db->lite));
			db_die(db, r == DB_NOT_DATABASE ? EXIT_CONFIG : EXIT_SYSTEM, "preparing a statement");
		}
		return s;
	}
	s->sql = translate_placeholders(sql, &s->nparams);
	if (s->nparams > PARAMS_MAX)
		die(EXIT_SYSTEM, "%s %s: a statement with %d parameters, more than %d", db->label, db->name,
		    s->nparams, PARAMS_MAX);
	snprintf(s->name, sizeof s->name, "smqtt_%u", ++db->statements);
	s->row = -1;
	/* Prepared when first run, and again on each new connection. */
	return s;
}

void db_reset(struct db_stmt *s)
{
	if (s->lite) {
		sqlite3_reset(s->lite);
		sqlite3_clear_bindings(s->lite);
		return;
	}
	PQclear(s->result);
	s->result = NULL;
	s->row = -1;
	free(s->blob);
	s->blob = NULL;
	for (int i = 0; i < s->nparams; i++) {
		s->values[i] = NULL;
		s->lengths[i] = s->formats[i] = 0;
	}
}

void db_finalize(struct db_stmt *s)
{
	if (!s)
		return;
	if (s->lite) {
		sqlite3_finalize(s->lite);
	} else {
		db_reset(s);
		/* The server forgets the statement with the connection. */
		for (int i = 0; i < PARAMS_MAX; i++)
			free(s->texts[i]);
		free(s->sql);
	}
	free(s);
}

static bool param_index(struct db_stmt *s, int i)
{
	if (i < 1 || i > s->nparams)
		die(EXIT_SYSTEM, "%s %s: parameter %d of a statement with %d", s->db->label, s->db->name, i,
		    s->nparams);
	return true;
}

void db_bind_null(struct db_stmt *s, int i)
{
	if (s->lite) {
		sqlite3_bind_null(s->lite, i);
	} else if (param_index(s, i)) {
		s->values[i - 1] = NULL;
	}
}

void db_bind_int64(struct db_stmt *s, int i, int64_t v)
{
	if (s->lite) {
		sqlite3_bind_int64(s->lite, i, v);
	} else if (param_index(s, i)) {
		snprintf(s->numbers[i - 1], sizeof s->numbers[i - 1], "%" PRId64, v);
		s->values[i - 1] = s->numbers[i - 1];
		s->formats[i - 1] = 0;
	}
}

void db_bind_double(struct db_stmt *s, int i, double v)
{
	if (s->lite) {
		sqlite3_bind_double(s->lite, i, v);
	} else if (param_index(s, i)) {
		/* 17 significant digits: the same double back. */
		snprintf(s->numbers[i - 1], sizeof s->numbers[i - 1], "%.17g", v);
		s->values[i - 1] = s->numbers[i - 1];
		s->formats[i - 1] = 0;
	}
}

void db_bind_text(struct db_stmt *s, int i, const char *text, size_t len)
{
	if (s->lite) {
		sqlite3_bind_text(s->lite, i, text, (int)len, SQLITE_STATIC);
	} else if (param_index(s, i)) {
		/* Text parameters go in text format, which ends at a NUL. */
		s->texts[i - 1] = xrealloc(s->texts[i - 1], len + 1);
		memcpy(s->texts[i - 1], text, len);
		s->texts[i - 1][len] = '\0';
		s->values[i - 1] = s->texts[i - 1];
		s->formats[i - 1] = 0;
	}
}

void db_bind_blob(struct db_stmt *s, int i, const void *data, size_t len)
{
	if (s->lite) {
		sqlite3_bind_blob(s->lite, i, data, (int)len, SQLITE_STATIC);
	} else if (param_index(s, i)) {
		/* bytea in binary format: the bytes as they are. */
		s->values[i - 1] = len ? data : "";
		s->lengths[i - 1] = (int)len;
		s->formats[i - 1] = 1;
	}
}

enum db_result db_step(struct db_stmt *s)
{
	struct db *db = s->db;
	if (s->lite) {
		enum db_result r = lite_result(db, sqlite3_step(s->lite));
		if (r == DB_DONE)
			s->changes = sqlite3_changes(db->lite);
		return r;
	}
	if (!s->result) {
		enum db_result prepared = pg_prepare(s);
		if (prepared != DB_DONE)
			return prepared;
		s->result = PQexecPrepared(db->pg, s->name, s->nparams, s->values, s->lengths, s->formats, 0);
		enum db_result r = pg_check(db, s->result);
		if (r != DB_DONE) {
			PQclear(s->result);
			s->result = NULL;
			return r;
		}
		const char *tuples = PQcmdTuples(s->result);
		s->changes = *tuples ? strtoll(tuples, NULL, 10) : 0;
		s->row = -1;
	}
	free(s->blob);
	s->blob = NULL;
	if (PQresultStatus(s->result) == PGRES_TUPLES_OK && s->row + 1 < PQntuples(s->result)) {
		s->row++;
		return DB_ROW;
	}
	return DB_DONE;
}

enum db_result db_queue_ready(struct db_stmt *s)
{
	if (s->lite || PQpipelineStatus(s->db->pg) != PQ_PIPELINE_OFF)
		return DB_DONE;
	return pg_prepare(s);
}

enum db_result db_queue(struct db_stmt *s)
{
	struct db *db = s->db;
	if (s->lite) {
		enum db_result r = db_step(s);
		if (r == DB_DONE)
			db->queued[db->nqueued < QUEUE_MAX ? db->nqueued++ : QUEUE_MAX - 1] = s->changes;
		return r;
	}
	/* Prepared on this connection before the pipeline, where only asynchronous calls are allowed. */
	if (PQpipelineStatus(db->pg) == PQ_PIPELINE_OFF) {
		enum db_result r = pg_prepare(s);
		if (r != DB_DONE)
			return r;
		if (!PQenterPipelineMode(db->pg)) {
			set_error(db, PQerrorMessage(db->pg));
			return DB_RETRY;
		}
	} else if (s->prepared_on != db->connection) {
		die(EXIT_SYSTEM, "%s %s: a statement queued before it was prepared (db_queue_ready)", db->label, db->name);
	}
	if (!PQsendQueryPrepared(db->pg, s->name, s->nparams, s->values, s->lengths, s->formats, 0)) {
		set_error(db, PQerrorMessage(db->pg));
		return DB_RETRY;
	}
	return DB_DONE;
}

/* Hand each row of a result to fn, as text. */
static void each_row(PGresult *res, size_t execution, db_row_fn fn, void *arg)
{
	enum { COLUMNS_MAX = 16 };
	const char *values[COLUMNS_MAX];
	int lengths[COLUMNS_MAX];
	int ncolumns = PQnfields(res) < COLUMNS_MAX ? PQnfields(res) : COLUMNS_MAX;
	for (int row = 0; row < PQntuples(res); row++) {
		for (int c = 0; c < ncolumns; c++) {
			values[c] = PQgetisnull(res, row, c) ? NULL : PQgetvalue(res, row, c);
			lengths[c] = PQgetlength(res, row, c);
		}
		fn(arg, execution, ncolumns, values, lengths);
	}
}

enum db_result db_queue_results(struct db *db, size_t n, int64_t *changes)
{
	return db_queue_results_rows(db, n, changes, NULL, NULL);
}

enum db_result db_queue_results_rows(struct db *db, size_t n, int64_t *changes, db_row_fn fn, void *arg)
{
	if (db->lite) {
		if (n > db->nqueued)
			die(EXIT_SYSTEM, "%s %s: %zu results asked for, %zu queued", db->label, db->name, n, db->nqueued);
		memcpy(changes, db->queued, n * sizeof *changes);
		db->nqueued = 0;
		return DB_DONE;
	}
	if (PQpipelineStatus(db->pg) == PQ_PIPELINE_OFF)
		return DB_DONE;
	enum db_result r = DB_DONE;
	if (!PQpipelineSync(db->pg)) {
		set_error(db, PQerrorMessage(db->pg));
		r = DB_RETRY;
	}
	/* Each query's results end with NULL; the pipeline's with its sync point. */
	size_t i = 0, nulls = 0;
	while (r == DB_DONE || PQstatus(db->pg) == CONNECTION_OK) {
		PGresult *res = PQgetResult(db->pg);
		if (!res) {
			if (PQstatus(db->pg) != CONNECTION_OK || ++nulls > n + 1) {
				if (r == DB_DONE)
					r = pg_failure(db, NULL);
				break;
			}
			continue;
		}
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			break;
		}
		if (st == PGRES_COMMAND_OK && i < n) {
			const char *tuples = PQcmdTuples(res);
			changes[i++] = *tuples ? strtoll(tuples, NULL, 10) : 0;
		} else if (st == PGRES_TUPLES_OK && i < n) {
			changes[i] = PQntuples(res);
			if (fn && r == DB_DONE)
				each_row(res, i, fn, arg);
			i++;
		} else if (st != PGRES_PIPELINE_ABORTED && r == DB_DONE) {
			r = pg_failure(db, res);
		}
		PQclear(res);
	}
	if (PQstatus(db->pg) == CONNECTION_OK && !PQexitPipelineMode(db->pg) && r == DB_DONE) {
		set_error(db, PQerrorMessage(db->pg));
		r = DB_FAILED;
	}
	if (r == DB_DONE && i != n) {
		snprintf(db->error, sizeof db->error, "%zu results for %zu statements", i, n);
		r = DB_FAILED;
	}
	return r;
}

/*
 * COPY's binary format: a header, then each row as its number of fields
 * (16 bits) and each field as its length (32 bits, -1 for NULL) and bytes,
 * then -1 (16 bits); integers big-endian, text as it is.
 */
static const char COPY_HEADER[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
#define COPY_HEADER_LEN 19

struct db_copy {
	unsigned char *data;
	size_t len, cap;
	size_t row;  /* where the current row starts */
	int nfields; /* in it so far */
};

struct db_copy *db_copy_new(void)
{
	return xcalloc(1, sizeof(struct db_copy));
}

void db_copy_free(struct db_copy *c)
{
	if (!c)
		return;
	free(c->data);
	free(c);
}

/* n more bytes at the end, where they go; the header first. */
static unsigned char *copy_grow(struct db_copy *c, size_t n)
{
	if (c->len + n + COPY_HEADER_LEN > c->cap) {
		c->cap = (c->len + n + COPY_HEADER_LEN) * 2;
		c->data = xrealloc(c->data, c->cap);
	}
	if (c->len == 0) {
		memcpy(c->data, COPY_HEADER, COPY_HEADER_LEN);
		c->len = COPY_HEADER_LEN;
	}
	unsigned char *at = c->data + c->len;
	c->len += n;
	return at;
}

static void put_be(unsigned char *at, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		at[i] = (unsigned char)v;
}

/* A field of len bytes (-1: NULL); where its bytes go. Fields are frames or parts of one: far below 2 GiB. */
static unsigned char *copy_field(struct db_copy *c, int32_t len)
{
	if (c->nfields == 0) {
		/* A new row: its number of fields first, written at its end. */
		copy_grow(c, 2);
		c->row = c->len - 2;
	}
	unsigned char *at = copy_grow(c, 4 + (len > 0 ? (size_t)len : 0));
	put_be(at, (uint32_t)len, 4);
	c->nfields++;
	return at + 4;
}

void db_copy_null(struct db_copy *c)
{
	copy_field(c, -1);
}

void db_copy_int64(struct db_copy *c, int64_t v)
{
	put_be(copy_field(c, 8), (uint64_t)v, 8);
}

void db_copy_double(struct db_copy *c, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof bits);
	put_be(copy_field(c, 8), bits, 8);
}

void db_copy_text(struct db_copy *c, const char *text, size_t len)
{
	memcpy(copy_field(c, (int32_t)len), text, len);
}

void db_copy_end_row(struct db_copy *c)
{
	if (c->nfields == 0) {
		copy_grow(c, 2);
		c->row = c->len - 2;
	}
	put_be(c->data + c->row, (uint16_t)c->nfields, 2);
	c->nfields = 0;
}

enum db_result db_copy(struct db *db, const char *sql, struct db_copy *c)
{
	enum db_result r = DB_DONE;
	memcpy(copy_grow(c, 2), "\377\377", 2); /* the end: no more rows */
	size_t len = c->len;
	c->len = c->row = 0;
	c->nfields = 0;
	if (!PQsendQuery(db->pg, sql))
		return pg_failure(db, NULL);
	/* Each statement's result in turn, then NULL; the COPY's asks for the rows. */
	bool sent = false;
	PGresult *res;
	while ((res = PQgetResult(db->pg))) {
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_COPY_IN) {
			/* The rows, once; a COPY they cannot be sent to is ended with an error. */
			bool ok = !sent && PQputCopyData(db->pg, (const char *)c->data, (int)len) == 1 &&
				  PQputCopyEnd(db->pg, NULL) == 1;
			sent = true;
			if (!ok) {
				if (r == DB_DONE)
					r = pg_failure(db, NULL);
				if (PQputCopyEnd(db->pg, "rows not sent") != 1) {
					/* The connection is lost: db_begin makes a new one. */
					PQclear(res);
					break;
				}
			}
		} else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && r == DB_DONE) {
			r = pg_failure(db, res);
		}
		PQclear(res);
	}
	return r;
}

int64_t db_changes(struct db_stmt *s)
{
	return s->changes;
}

bool db_column_null(struct db_stmt *s, int col)
{
	if (s->lite)
		return sqlite3_column_type(s->lite, col) == SQLITE_NULL;
	return PQgetisnull(s->result, s->row, col);
}

int64_t db_column_int64(struct db_stmt *s, int col)
{
	if (s->lite)
		return sqlite3_column_int64(s->lite, col);
	return strtoll(PQgetvalue(s->result, s->row, col), NULL, 10);
}

const char *db_column_text(struct db_stmt *s, int col)
{
	if (s->lite)
		return (const char *)sqlite3_column_text(s->lite, col);
	return PQgetisnull(s->result, s->row, col) ? NULL : PQgetvalue(s->result, s->row, col);
}

/* bytea, as text: the server's hex form, decoded here. */
#define BYTEA_OID 17

const void *db_column_blob(struct db_stmt *s, int col)
{
	if (s->lite)
		return sqlite3_column_blob(s->lite, col);
	if (PQgetisnull(s->result, s->row, col))
		return NULL;
	if (PQftype(s->result, col) != BYTEA_OID)
		return PQgetvalue(s->result, s->row, col);
	free(s->blob);
	s->blob = PQunescapeBytea((const unsigned char *)PQgetvalue(s->result, s->row, col), &s->blob_len);
	if (!s->blob)
		die(EXIT_SYSTEM, "out of memory");
	return s->blob;
}

size_t db_column_bytes(struct db_stmt *s, int col)
{
	if (s->lite)
		return (size_t)sqlite3_column_bytes(s->lite, col);
	if (PQgetisnull(s->result, s->row, col))
		return 0;
	if (PQftype(s->result, col) != BYTEA_OID)
		return (size_t)PQgetlength(s->result, s->row, col);
	db_column_blob(s, col);
	return s->blob_len;
}

static enum db_result run_once(struct db *db, struct db_stmt **s, const char *sql)
{
	if (!*s)
		*s = db_prepare(db, sql);
	enum db_result r = db_step(*s);
	db_reset(*s);
	return r;
}

enum db_result db_begin(struct db *db)
{
	if (db->lite)
		return run_once(db, &db->begin, "BEGIN IMMEDIATE");
	if (PQstatus(db->pg) != CONNECTION_OK) {
		/* Lost: connect again, with the same parameters; statements are prepared again on first use. */
		PQreset(db->pg);
		if (PQstatus(db->pg) != CONNECTION_OK) {
			char msg[sizeof db->error - 32];
			keep_message(msg, sizeof msg, PQerrorMessage(db->pg));
			snprintf(db->error, sizeof db->error, "connection lost: %s", msg);
			return DB_RETRY;
		}
		PQsetClientEncoding(db->pg, "UTF8");
		db->connection++;
	}
	/*
	 * READ COMMITTED whatever the server's default: each statement sees
	 * what was committed before it began, so one run after taking an
	 * advisory lock sees everything the lock's last holder committed.
	 */
	return run_once(db, &db->begin, "BEGIN ISOLATION LEVEL READ COMMITTED");
}

enum db_result db_commit(struct db *db)
{
	if (db->lite)
		return run_once(db, &db->commit, "COMMIT");
	PGresult *res = PQexec(db->pg, "COMMIT");
	enum db_result r = pg_check(db, res);
	/* COMMIT of a transaction that failed rolls it back, and says so only here. */
	if (r == DB_DONE && strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
		snprintf(db->error, sizeof db->error, "the transaction was rolled back");
		r = DB_FAILED;
	}
	PQclear(res);
	return r;
}

void db_rollback(struct db *db)
{
	if (db->lite) {
		/* SQLite may have rolled the transaction back itself already (full disk, I/O error). */
		if (!sqlite3_get_autocommit(db->lite))
			run_once(db, &db->rollback, "ROLLBACK");
		return;
	}
	PGTransactionStatusType t = PQtransactionStatus(db->pg);
	if (t == PQTRANS_INTRANS || t == PQTRANS_INERROR)
		PQclear(PQexec(db->pg, "ROLLBACK"));
}

static int count(struct db *db, const char *sql, const char *name)
{
	struct db_stmt *s = db_prepare(db, sql);
	if (name)
		db_bind_text(s, 1, name, strlen(name));
	enum db_result r = db_step(s);
	int n = r == DB_ROW ? (int)db_column_int64(s, 0) : -1;
	db_finalize(s);
	return n;
}

int db_table_exists(struct db *db, const char *name)
{
	if (db->lite)
		return count(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", name);
	return count(db, "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = ?",
		     name);
}

int db_table_count(struct db *db)
{
	if (db->lite)
		return count(db, "SELECT count(*) FROM sqlite_master", NULL);
	return count(db, "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()", NULL);
}

bool db_text_storable(struct db *db, const char *text, size_t len)
{
	if (!db->pg || !db->server_utf8)
		return true;
	/* iconv from UTF-8 to itself stops at the first byte that is not UTF-8. */
	if (db->utf8 == (iconv_t)-1 && (db->utf8 = iconv_open("UTF-8", "UTF-8")) == (iconv_t)-1)
		die(EXIT_SYSTEM, "iconv: UTF-8: %s", strerror(errno));
	iconv(db->utf8, NULL, NULL, NULL, NULL);
	char out[1024], *in = (char *)text;
	size_t left = len;
	while (left > 0) {
		char *o = out;
		size_t room = sizeof out;
		if (iconv(db->utf8, &in, &left, &o, &room) == (size_t)-1 && errno != E2BIG)
			return false;
	}
	return true;
}
