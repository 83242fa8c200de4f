#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <openssl/err.h>
#include <openssl/opensslv.h>

static const char *program = "smqtt";

void error_init(char *argv[])
{
	const char *slash = strrchr(argv[0], '/');
	program = slash ? slash + 1 : argv[0];
	/* getopt's own messages start with argv[0]: the same name as ours. */
	argv[0] = (char *)program;
}

const char *error_progname(void)
{
	return program;
}

/*
 * One line on stderr. Text from the input is escaped where it is quoted
 * (escape_text); what is left is made safe here: a control byte that came in
 * with a command-line argument, a file name or a server's message is shown
 * as its C octal escape, so that no message can drive the terminal or break
 * the one-line format that scripts read.
 */
static void vreport(const char *fmt, va_list ap, const char *suffix)
{
	char msg[2048], line[2400], shown[4 * sizeof line];
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (suffix)
		snprintf(line, sizeof line, "%s: %s: %s", program, msg, suffix);
	else
		snprintf(line, sizeof line, "%s: %s", program, msg);
	size_t n = 0;
	for (const unsigned char *c = (const unsigned char *)line; *c; c++) {
		if (*c < ' ' || *c == 0x7f)
			n += (size_t)snprintf(shown + n, sizeof shown - n, "\\%03o", *c);
		else
			shown[n++] = (char)*c;
	}
	shown[n++] = '\n';
	fwrite(shown, 1, n, stderr);
}

void warning(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap, NULL);
	va_end(ap);
}

_Noreturn void die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap, NULL);
	va_end(ap);
	exit(code);
}

/* OpenSSL's reason string for the oldest queued error, without its library prefix. */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;
	if (reason)
		snprintf(buf, len, "%s", reason);
	else if (e)
		snprintf(buf, len, "OpenSSL error %lx", e);
	else
		snprintf(buf, len, "unknown OpenSSL error");
	ERR_clear_error();
	return buf;
}

void warning_ssl(const char *fmt, ...)
{
	char reason[256];
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap, ssl_reason(reason, sizeof reason));
	va_end(ap);
}

_Noreturn void die_ssl(int code, const char *fmt, ...)
{
	char reason[256];
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap, ssl_reason(reason, sizeof reason));
	va_end(ap);
	exit(code);
}

const char *escape_text(const char *text, size_t len, char *buf, size_t size)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		char one[5];
		if (c == '\\')
			snprintf(one, sizeof one, "\\\\");
		else if (c >= ' ' && c < 0x7f)
			snprintf(one, sizeof one, "%c", c);
		else
			snprintf(one, sizeof one, "\\%03o", c);
		size_t w = strlen(one);
		/* Keep room for "..." and the NUL while more text follows. */
		if (n + w + (i + 1 < len ? 4 : 1) > size) {
			memcpy(buf + n, "...", 4);
			return buf;
		}
		memcpy(buf + n, one, w);
		n += w;
	}
	buf[n] = '\0';
	return buf;
}

void print_version(void)
{
	printf("%s %s (%s)\n", program, SMQTT_VERSION, OPENSSL_VERSION_TEXT);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die(EXIT_SYSTEM, "out of memory allocating %zu bytes", n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die(EXIT_SYSTEM, "out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die(EXIT_SYSTEM, "out of memory allocating %zu bytes", n);
	return p;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

void wait_worker(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die(EXIT_SYSTEM, "waiting for a worker process: %s", strerror(errno));
	if (WIFSIGNALED(status))
		die(EXIT_SYSTEM, "a worker process was killed by signal %d", WTERMSIG(status));
	if (WEXITSTATUS(status) != 0)
		exit(WEXITSTATUS(status));
}
