#include "seqstate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "frame.h"

struct seq_state {
	char *path;
	int fd;
	uint64_t next;     /* next number to hand out */
	uint64_t reserved; /* numbers below this are recorded as used on disk */
};

/* The file holds one decimal number, the next unused one, zero-padded to a fixed width. */
static void write_next(struct seq_state *s, uint64_t value)
{
	char text[32];
	int n = snprintf(text, sizeof text, "%020llu\n", (unsigned long long)value);
	if (pwrite(s->fd, text, (size_t)n, 0) != n || ftruncate(s->fd, n) < 0 || fdatasync(s->fd) < 0)
		die(EXIT_SYSTEM, "state file %s: %s", s->path, strerror(errno));
}

static uint64_t read_next(struct seq_state *s)
{
	char text[64];
	ssize_t n = pread(s->fd, text, sizeof text - 1, 0);
	if (n < 0)
		die(EXIT_SYSTEM, "state file %s: %s", s->path, strerror(errno));
	if (n == 0)
		return 1; /* new file: sequence numbers start at 1 */
	text[n] = '\0';
	size_t len = strcspn(text, "\n");
	size_t zeros = strspn(text, "0");
	uint64_t v;
	/* SEQ_MAX + 1: every number was used, which seq_state_next reports. */
	if (len + 1 == (size_t)n && text[len] == '\n' && len - zeros == 19 &&
	    memcmp(text + zeros, "9223372036854775808", 19) == 0)
		return (uint64_t)SEQ_MAX + 1;
	if (zeros >= len || text[len] != '\n' || len + 1 != (size_t)n ||
	    !seq_parse(text + zeros, len - zeros, &v))
		die(EXIT_CONFIG, "state file %s: damaged (expected the next sequence number); refusing to guess",
		    s->path);
	return v;
}

struct seq_state *seq_state_open(const char *path)
{
	struct seq_state *s = xcalloc(1, sizeof *s);
	s->path = xstrdup(path);
	/* Not through a symbolic link: a dangling one would create its target wherever it points. */
	s->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (s->fd < 0) {
		/* A directory, a missing directory or a file we may not write cannot be a state file. */
		int err = errno;
		if (err == ELOOP)
			die(EXIT_CONFIG, "state file %s: a symbolic link; not followed", path);
		die(err == EISDIR || err == ENOENT || err == ENOTDIR || err == EACCES ? EXIT_CONFIG : EXIT_SYSTEM,
		    "state file %s: %s", path, strerror(err));
	}
	struct stat st;
	if (fstat(s->fd, &st) < 0)
		die(EXIT_SYSTEM, "state file %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		die(EXIT_CONFIG, "state file %s: not a regular file", path);

	struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	if (fcntl(s->fd, F_SETLK, &lock) < 0) {
		if (errno != EACCES && errno != EAGAIN)
			die(EXIT_SYSTEM, "state file %s: locking: %s", path, strerror(errno));
		struct flock holder = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		if (fcntl(s->fd, F_GETLK, &holder) == 0 && holder.l_type != F_UNLCK)
			die(EXIT_SYSTEM, "state file %s: in use by process %ld", path, (long)holder.l_pid);
		die(EXIT_SYSTEM, "state file %s: in use by another process", path);
	}
	s->next = read_next(s);
	s->reserved = s->next;
	return s;
}

void seq_state_skip_to(struct seq_state *s, uint64_t first)
{
	if (first <= s->next)
		return;
	write_next(s, first);
	s->next = s->reserved = first;
}

uint64_t seq_state_next(struct seq_state *s)
{
	if (s->next > SEQ_MAX)
		die(EXIT_CONFIG, "state file %s: sequence numbers exhausted; sign with a new device id", s->path);
	if (s->next >= s->reserved) {
		uint64_t upto = s->next + SEQ_RESERVE_BLOCK;
		if (upto > SEQ_MAX)
			upto = (uint64_t)SEQ_MAX + 1;
		write_next(s, upto);
		s->reserved = upto;
	}
	return s->next++;
}

void seq_state_close(struct seq_state *s)
{
	if (!s)
		return;
	if (s->next != s->reserved)
		write_next(s, s->next);
	close(s->fd); /* releases the lock */
	free(s->path);
	free(s);
}
