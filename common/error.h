/* Diagnostics and the exit-code table shared by every smqtt program. */
#ifndef SMQTT_ERROR_H
#define SMQTT_ERROR_H

#include <stddef.h>
#include <sys/types.h>

/*
 * One table for all programs, documented in smqtt(7) and in every man page.
 * A pipeline can tell from the status alone whether data was refused (1),
 * the command line was wrong (2), a key/certificate/config file is unusable (3),
 * or the system failed under it (4).
 */
enum exit_code {
	EXIT_OK = 0,       /* every input line was accepted */
	EXIT_REJECTED = 1, /* some input lines were rejected; the rest was processed */
	EXIT_USAGE = 2,    /* bad option or argument */
	EXIT_CONFIG = 3,   /* key, certificate, trust or configuration file unusable */
	EXIT_SYSTEM = 4,   /* I/O, database, memory or other system failure */
};

#define SMQTT_VERSION "0.1.0"

/* Set once by main() from argv[0]'s last component; every message starts with it. */
void error_init(char *argv[]);
const char *error_progname(void);

/* "prog: message\n" on stderr. */
void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: message\n" on stderr, then exit(code). */
_Noreturn void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like warning/die, with the first queued OpenSSL error appended as ": reason". */
void warning_ssl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die_ssl(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Text from the input or the command line, fit to repeat in a message:
 * printable ASCII as it is, the backslash and every other byte as a C octal
 * escape (ESC is \033), so that a message can neither drive the terminal
 * that shows it nor hide what the text holds. Writes as much of the len
 * bytes of text as fits in buf, then "..." if some did not; size must be at
 * least 4, and ESCAPED_SIZE(len) holds any text whole. Returns buf.
 */
#define ESCAPED_SIZE(len) (4 * (len) + 4)
const char *escape_text(const char *text, size_t len, char *buf, size_t size);

/*
 * Wait for a worker process this program forked. Its failure becomes ours:
 * killed by a signal ends the program with EXIT_SYSTEM; a non-zero exit status
 * (the worker has said why) ends it with that status.
 */
void wait_worker(pid_t pid);

/* "prog: --version" output, shared so every program prints the same line. */
void print_version(void);

/* Allocation that cannot fail: out of memory ends the program with EXIT_SYSTEM. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
