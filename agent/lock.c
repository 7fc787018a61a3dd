/*
 * One run at a time: an flock(2) on STATE_DIR/lock.  The kernel drops
 * it when the process dies, so a kill -9 never leaves a stale lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "airgap-agent.h"

/* Returns the descriptor holding the lock (kept open for the life of
 * the process), or -1. */
int
lock_take(const char *state_dir, int wait)
{
	char *path = xasprintf("%s/lock", state_dir);
	int fd, rc;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		log_warn("lock: open %s", path);
		free(path);
		return -1;
	}
	rc = flock(fd, LOCK_EX | LOCK_NB);
	if (rc == -1 && errno == EWOULDBLOCK && wait) {
		log_info("lock: %s is held by another run, waiting", path);
		do
			rc = flock(fd, LOCK_EX);
		while (rc == -1 && errno == EINTR);
	}
	if (rc == -1) {
		log_warn("lock: %s", path);
		close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}
