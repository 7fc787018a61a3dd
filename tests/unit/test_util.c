/* Small helpers with a big reach: the escaping of text made by others,
 * and the atomic replacement of state files, which the watch daemon
 * does on every light change and must not leak doing when the disk
 * refuses to take it. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airgap-agent.h"
#include "unit.h"

static char dir[] = "/tmp/test_util.XXXXXX";

static void
test_escape(void)
{
	char out[ESCAPED_MAX(64)], small[8];

	CHECK(strcmp(str_escape(out, sizeof out, "plain name-1.2_x"),
	    "plain name-1.2_x") == 0);
	CHECK(strcmp(str_escape(out, sizeof out, "a\tb\nc\033[2J\x7f\xc3\xa9"),
	    "a\\x09b\\x0ac\\x1b[2J\\x7f\\xc3\\xa9") == 0);
	/* twice is once: a backslash is not escaped */
	CHECK(strcmp(str_escape(out, sizeof out, "a\\x09b"), "a\\x09b") == 0);
	/* an escape is never cut in half */
	CHECK(strcmp(str_escape(small, sizeof small, "abcd\n"), "abcd") == 0);
	CHECK(strcmp(str_escape(small, sizeof small, "ab\ncd"), "ab\\x0ac") == 0);
	CHECK(str_escape(small, 1, "x")[0] == '\0');
}

static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d != NULL && readdir(d) != NULL)
		n++;
	if (d != NULL)
		closedir(d);
	return n;
}

static char *
slurp(const char *path)
{
	static char b[256];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(b, 1, sizeof b - 1, f) : 0;

	if (f != NULL)
		fclose(f);
	b[n] = '\0';
	return b;
}

/* RLIMIT_FSIZE makes every write past a few bytes fail (EFBIG), as a
 * full disk would. */
static void
limit_writes(int on)
{
	struct rlimit r;

	CHECK(getrlimit(RLIMIT_FSIZE, &r) == 0);
	r.rlim_cur = on ? 4 : r.rlim_max;
	CHECK(setrlimit(RLIMIT_FSIZE, &r) == 0);
}

static void
test_replace(void)
{
	char *path = xasprintf("%s/state", dir), *tmp = xasprintf("%s.tmp", path);
	int before, i;

	CHECK(file_replace(path, "one\n", 4) == 0);
	CHECK(strcmp(slurp(path), "one\n") == 0);
	CHECK(access(tmp, F_OK) == -1);
	before = open_fds();
	limit_writes(1);
	for (i = 0; i < 20; i++)
		CHECK(file_replace(path, "two, and longer\n", 16) == -1);
	limit_writes(0);
	CHECK(open_fds() == before);
	CHECK(strcmp(slurp(path), "one\n") == 0); /* the old one stays whole */
	CHECK(access(tmp, F_OK) == -1);
	/* a symbolic link in its place is not followed */
	CHECK(symlink("/dev/null", tmp) == 0);
	CHECK(file_replace(path, "three\n", 6) == -1);
	CHECK(strcmp(slurp(path), "one\n") == 0);
	unlink(tmp);
	unlink(path);
	free(path);
	free(tmp);
}

/* The light's state file, written on every change: a disk that refuses
 * the write must not cost the daemon a descriptor each time. */
static void
test_indicator_no_leak(void)
{
	char *leds[] = { NULL };
	struct config cfg;
	char *path = xasprintf("%s/indicator", dir);
	int before, i;

	memset(&cfg, 0, sizeof cfg);
	cfg.state_dir = dir;
	cfg.leds = leds;
	cfg.beeper = "";
	indicator_set(&cfg, IND_IDLE, "waiting");
	CHECK(strncmp(slurp(path), "state=idle\n", 11) == 0);
	before = open_fds();
	limit_writes(1);
	for (i = 0; i < 20; i++)
		indicator_set(&cfg, IND_WORKING, "a long message that does not fit");
	limit_writes(0);
	CHECK(open_fds() == before);
	CHECK(strncmp(slurp(path), "state=idle\n", 11) == 0);
	unlink(path);
	free(path);
}

int
main(void)
{
	if (mkdtemp(dir) == NULL)
		return 2;
	signal(SIGXFSZ, SIG_IGN);
	log_init(LOG_TO_NOWHERE, 0);
	test_escape();
	test_replace();
	test_indicator_no_leak();
	rmdir(dir);
	return unit_done("test_util");
}
