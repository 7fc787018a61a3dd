/*
 * Child processes: the only file that forks, execs, makes pipes and
 * waits.  Each child gets an argument vector (never a shell string), a
 * clean environment, default signal handling, no descriptors but
 * stdin, stdout and stderr, and optionally a service user.  Its stderr
 * is logged line by line under the tool's name by a small thread, and
 * waits are bounded by a timeout so a hung tool cannot hang the agent.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "airgap-agent.h"

/* More output than this is refused whole: a part of a list (of
 * snapshots, of packets) must never be taken for all of it. */
#define CHILD_OUTPUT_MAX (64 * 1024 * 1024)
#define CHILD_KILL_GRACE 5

struct child {
	pid_t pid;
	int own_group; /* the child leads a process group of its own */
	int killed;
	int pidfd;
	int in_fd;
	int out_fd;
	int err_fd;
	int stop[2]; /* tells the stderr thread to drain and finish */
	int reaped;
	int status;
	char name[64];
	pthread_t err_thread;
	int err_thread_running;
};

static char *const child_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LC_ALL=C",
	NULL
};

struct drop {
	int active;
	uid_t uid;
	gid_t gid;
	char home[256];
};

static void
child_name(const char *argv0, char *out, size_t len)
{
	const char *slash = strrchr(argv0, '/');

	snprintf(out, len, "%s", slash ? slash + 1 : argv0);
}

/* Everything below runs in the forked child before exec: only
 * async-signal-safe calls, no logging, no allocation. */
static void
child_die(const char *what)
{
	const char *e = strerror(errno);

	(void)!write(STDERR_FILENO, what, strlen(what));
	(void)!write(STDERR_FILENO, ": ", 2);
	(void)!write(STDERR_FILENO, e, strlen(e));
	(void)!write(STDERR_FILENO, "\n", 1);
	_exit(127);
}

static void
child_reset_signals(void)
{
	struct sigaction sa;
	sigset_t all;
	int sig;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

static void
child_setup_fds(int in, int out, int err)
{
	if (dup2(in, STDIN_FILENO) == -1 || dup2(out, STDOUT_FILENO) == -1 ||
	    dup2(err, STDERR_FILENO) == -1)
		child_die("dup2");
	if (syscall(SYS_close_range, 3U, ~0U, 0U) == -1) {
		int fd;

		for (fd = 3; fd < 1024; fd++)
			close(fd);
	}
}

static void
child_drop(const struct drop *d)
{
	if (!d->active)
		return;
	if (setgroups(1, &d->gid) == -1)
		child_die("setgroups");
	if (setresgid(d->gid, d->gid, d->gid) == -1)
		child_die("setresgid");
	if (setresuid(d->uid, d->uid, d->uid) == -1)
		child_die("setresuid");
	if (setuid(0) != -1)
		child_die("privileges still there after the drop");
	if (chdir("/") == -1)
		child_die("chdir");
}

static void
child_exec(char *const *argv, int in, int out, int err, const struct drop *d,
    int own_group)
{
	if (own_group && setpgid(0, 0) == -1)
		child_die("setpgid");
	child_reset_signals();
	child_setup_fds(in, out, err);
	child_drop(d);
	execve(argv[0], argv, child_env);
	child_die(argv[0]);
}

/* The parent's side. */

static void
log_lines(const char *name, char *buf, size_t *len, int flush)
{
	char *start = buf, *nl;

	while ((nl = memchr(start, '\n', *len - (size_t)(start - buf))) != NULL) {
		*nl = '\0';
		if (nl > start)
			log_info("%s: %s", name, start);
		start = nl + 1;
	}
	*len -= (size_t)(start - buf);
	memmove(buf, start, *len);
	if (*len > 0 && (flush || *len >= 1023)) {
		buf[*len] = '\0';
		log_info("%s: %s", name, buf);
		*len = 0;
	}
}

static void *
child_err_loop(void *arg)
{
	struct child *c = arg;
	char buf[1024];
	size_t len = 0;
	int draining = 0;

	for (;;) {
		struct pollfd p[2] = { { c->err_fd, POLLIN, 0 },
			{ c->stop[0], POLLIN, 0 } };
		ssize_t n;

		if (poll(p, 2, draining ? 0 : -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			draining = 1;
		if (p[0].revents & (POLLERR | POLLNVAL))
			break;
		if (!(p[0].revents & (POLLIN | POLLHUP))) {
			if (draining)
				break;
			continue;
		}
		n = read(c->err_fd, buf + len, sizeof buf - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		log_lines(c->name, buf, &len, 0);
	}
	log_lines(c->name, buf, &len, 1);
	return NULL;
}

static int
child_lookup_user(const char *user, struct drop *d)
{
	struct passwd *pw;

	memset(d, 0, sizeof *d);
	if (user == NULL)
		return 0;
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		if (errno)
			log_warn("getpwnam %s", user);
		else
			log_warnx("user %s: no such user", user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		log_warnx("user %s: is root, refusing to run as it", user);
		return -1;
	}
	d->active = 1;
	d->uid = pw->pw_uid;
	d->gid = pw->pw_gid;
	return 0;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Picks the descriptor the child gets for one of stdin/stdout, and the
 * end the parent keeps when it is a pipe. */
static int
child_pipe_end(int mode, int for_stdin, int *child_end, int *parent_end)
{
	int p[2];

	*parent_end = -1;
	if (mode >= 0) {
		*child_end = mode;
		return 0;
	}
	if (mode == CHILD_NULL) {
		*child_end = open("/dev/null", for_stdin ? O_RDONLY : O_WRONLY |
		    O_CLOEXEC);
		return *child_end == -1 ? -1 : 0;
	}
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	*child_end = for_stdin ? p[0] : p[1];
	*parent_end = for_stdin ? p[1] : p[0];
	return 0;
}

static int
child_spawn(struct child *c, const struct child_opts *o, const struct drop *d)
{
	int in = -1, out = -1, err[2] = { -1, -1 }, rc = -1;

	if (child_pipe_end(o->stdin_fd, 1, &in, &c->in_fd) == -1 ||
	    child_pipe_end(o->stdout_fd, 0, &out, &c->out_fd) == -1 ||
	    pipe2(c->stop, O_CLOEXEC) == -1) {
		log_warn("%s: pipe", c->name);
		goto out;
	}
	if (o->share_stderr)
		err[1] = STDERR_FILENO;
	else if (pipe2(err, O_CLOEXEC) == -1) {
		log_warn("%s: pipe", c->name);
		goto out;
	}
	c->err_fd = err[0];
	if ((c->pid = fork()) == -1) {
		log_warn("%s: fork", c->name);
		goto out;
	}
	if (c->pid == 0)
		child_exec(o->argv, in, out, err[1], d, o->own_group);
	/* Set from both sides, so that a kill right after the fork finds
	 * the group already. */
	if (o->own_group)
		(void)setpgid(c->pid, c->pid);
	c->own_group = o->own_group;
	rc = 0;
out:
	if (o->stdin_fd < 0)
		close_fd(&in);
	if (o->stdout_fd < 0)
		close_fd(&out);
	if (!o->share_stderr)
		close_fd(&err[1]);
	return rc;
}

static void
child_log_argv(const char *name, char *const *argv)
{
	struct buf b = { 0 };
	size_t i;

	for (i = 0; argv[i] != NULL; i++) {
		if (i > 0)
			buf_append(&b, " ", 1);
		buf_append(&b, argv[i], strlen(argv[i]));
	}
	log_debug("%s: running %s", name, b.data ? b.data : "");
	buf_free(&b);
}

struct child *
child_start(const struct child_opts *o)
{
	struct child *c = xcalloc(1, sizeof *c);
	struct drop d;

	c->pid = -1;
	c->pidfd = c->in_fd = c->out_fd = c->err_fd = -1;
	c->stop[0] = c->stop[1] = -1;
	child_name(o->argv[0], c->name, sizeof c->name);
	if (child_lookup_user(o->user, &d) == -1) {
		child_free(c);
		return NULL;
	}
	child_log_argv(c->name, o->argv);
	if (child_spawn(c, o, &d) == -1) {
		child_free(c);
		return NULL;
	}
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	if (c->err_fd >= 0 &&
	    pthread_create(&c->err_thread, NULL, child_err_loop, c) == 0)
		c->err_thread_running = 1;
	return c;
}

int
child_stdin(const struct child *c)
{
	return c->in_fd;
}

int
child_stdout(const struct child *c)
{
	return c->out_fd;
}

void
child_close_stdin(struct child *c)
{
	close_fd(&c->in_fd);
}

static void
child_stop_logger(struct child *c)
{
	if (!c->err_thread_running)
		return;
	(void)!write(c->stop[1], "x", 1);
	pthread_join(c->err_thread, NULL);
	c->err_thread_running = 0;
}

/* Waits up to TIMEOUT seconds (0: forever) for the child to exit. */
static int
child_reap(struct child *c, int timeout)
{
	pid_t r;

	if (c->reaped)
		return 0;
	if (c->pidfd >= 0) {
		struct pollfd p = { c->pidfd, POLLIN, 0 };
		int n;

		do
			n = poll(&p, 1, timeout > 0 ? timeout * 1000 : -1);
		while (n == -1 && errno == EINTR);
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
	do
		r = waitpid(c->pid, &c->status, 0);
	while (r == -1 && errno == EINTR);
	if (r == -1)
		return -1;
	c->reaped = 1;
	return 0;
}

int
child_wait(struct child *c, int timeout, int *status)
{
	char s[64];

	if (child_reap(c, timeout) == -1) {
		if (errno == ETIMEDOUT)
			log_warnx("%s: still running after %d seconds", c->name,
			    timeout);
		else
			log_warn("%s: waitpid", c->name);
		return -1;
	}
	child_stop_logger(c);
	*status = c->status;
	log_debug("%s: %s", c->name, child_status_str(c->status, s, sizeof s));
	return 0;
}

static void
child_signal(const struct child *c, int sig)
{
	kill(c->own_group ? -c->pid : c->pid, sig);
}

/* SIGTERM, then SIGKILL, to the child (and to its whole process group
 * when it has one of its own); a process stuck in the kernel (a
 * suspended pool, a hung disk) may survive both, and then we stop
 * waiting for it.  Done once. */
void
child_kill(struct child *c)
{
	if (c->pid <= 0 || c->killed)
		return;
	c->killed = 1;
	close_fd(&c->in_fd);
	if (c->reaped && !c->own_group)
		return;
	child_signal(c, SIGTERM);
	if (child_reap(c, CHILD_KILL_GRACE) == 0 && !c->own_group)
		return;
	child_signal(c, SIGKILL);
	if (child_reap(c, CHILD_KILL_GRACE) == -1)
		log_warnx("%s: pid %ld does not die, leaving it", c->name,
		    (long)c->pid);
}

/* Is PID in process group PGID, and not a zombie?  From /proc/PID/stat:
 * "pid (comm) state ppid pgrp ...", where comm may hold anything. */
static int
in_group_alive(const char *pid, pid_t pgid)
{
	char path[64], b[512], state;
	const char *p;
	long ppid, pgrp;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%s/stat", pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	n = fread(b, 1, sizeof b - 1, f);
	fclose(f);
	b[n] = '\0';
	if ((p = strrchr(b, ')')) == NULL ||
	    sscanf(p + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3)
		return 0;
	return pgrp == (long)pgid && state != 'Z' && state != 'X';
}

/* After child_kill of a child with a group of its own: how many of the
 * group's processes are still there (waiting a moment for those that
 * are dying).  Any left are stuck in the kernel, unkillable: a hung
 * disk or pool, which only a reboot clears. */
int
child_group_left(const struct child *c)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	int i, left = 0;

	for (i = 0; i < CHILD_KILL_GRACE * 10; i++) {
		struct dirent *de;
		DIR *d = opendir("/proc");

		left = 0;
		while (d != NULL && (de = readdir(d)) != NULL)
			if (de->d_name[0] >= '1' && de->d_name[0] <= '9' &&
			    in_group_alive(de->d_name, c->pid))
				left++;
		if (d != NULL)
			closedir(d);
		if (left == 0)
			break;
		nanosleep(&ts, NULL);
	}
	return left;
}

void
child_free(struct child *c)
{
	if (c == NULL)
		return;
	if (c->pid > 0 && !c->reaped)
		child_kill(c);
	if (c->pid > 0 && !c->reaped && c->err_thread_running) {
		/* Its logger thread still reads from it: keep both. */
		pthread_detach(c->err_thread);
		return;
	}
	child_stop_logger(c);
	close_fd(&c->in_fd);
	close_fd(&c->out_fd);
	close_fd(&c->pidfd);
	if (!c->err_thread_running) {
		close_fd(&c->err_fd);
		close_fd(&c->stop[0]);
		close_fd(&c->stop[1]);
	}
	free(c);
}

static int
child_read_output(struct child *c, struct buf *out, double deadline)
{
	char tmp[65536];

	for (;;) {
		struct pollfd p = { c->out_fd, POLLIN, 0 };
		int ms = -1, n;
		ssize_t r;

		if (deadline > 0) {
			double left = deadline - now_seconds();

			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			ms = (int)(left * 1000) + 1;
		}
		n = poll(&p, 1, ms);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			errno = n == 0 ? ETIMEDOUT : errno;
			return -1;
		}
		r = read(c->out_fd, tmp, sizeof tmp);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? 0 : -1;
		if (out == NULL)
			continue;
		if (out->len + (size_t)r > CHILD_OUTPUT_MAX) {
			errno = EFBIG;
			return -1;
		}
		buf_append(out, tmp, (size_t)r);
	}
}

/* Runs a child to completion, collecting its stdout into OUT (if not
 * NULL) and logging its stderr.  Returns -1 only when it could not be
 * run, timed out (errno ETIMEDOUT) or said too much (EFBIG: OUT is
 * then no use); its exit status is in *STATUS. */
int
child_run(const struct child_opts *o, struct buf *out, int *status)
{
	struct child_opts opts = *o;
	struct child *c;
	double deadline = o->timeout > 0 ? now_seconds() + o->timeout : 0;
	int rc = -1, saved = 0;

	if (opts.stdout_fd == CHILD_PIPE || out != NULL)
		opts.stdout_fd = CHILD_PIPE;
	if ((c = child_start(&opts)) == NULL)
		return -1;
	if (c->out_fd >= 0 && child_read_output(c, out, deadline) == -1) {
		saved = errno;
		if (saved == ETIMEDOUT)
			log_warnx("%s: no answer after %d seconds", c->name, o->timeout);
		else if (saved == EFBIG)
			log_warnx("%s: more than %d MiB of output; not using any of "
			    "it", c->name, CHILD_OUTPUT_MAX / 1024 / 1024);
		else
			log_warn("%s: reading its output", c->name);
		goto out;
	}
	rc = child_wait(c, deadline > 0 ? (int)(deadline - now_seconds()) + 1 : 0,
	    status);
	saved = errno;
out:
	if (rc == -1)
		child_kill(c);
	child_free(c);
	errno = saved;
	return rc;
}

const char *
child_status_str(int status, char *s, size_t len)
{
	if (WIFEXITED(status))
		snprintf(s, len, "exited with %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(s, len, "killed by SIG%s", sigabbrev_np(WTERMSIG(status)) ?
		    sigabbrev_np(WTERMSIG(status)) : "?");
	else
		snprintf(s, len, "status %d", status);
	return s;
}

int
child_ok(int status)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
