/* Child processes: output is collected whole or not at all.  A child
 * that prints more than the agent takes (a "zfs get -r" of a huge
 * dataset tree) must fail the call, never hand back the first part of
 * its list as if it were all of it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "airgap-agent.h"
#include "unit.h"

static int
run(const char *bytes, struct buf *out, int *status)
{
	char *argv[] = { "/usr/bin/head", "-c", (char *)bytes, "/dev/zero", NULL };
	struct child_opts o = { .argv = argv, .stdin_fd = CHILD_NULL,
		.stdout_fd = CHILD_NULL, .timeout = 60 };

	return child_run(&o, out, status);
}

static void
test_output(void)
{
	struct buf out = { 0 };
	int status = -1;

	CHECK(run("1000", &out, &status) == 0);
	CHECK(child_ok(status));
	CHECK(out.len == 1000);
	buf_free(&out);
	/* 64 MiB is taken whole */
	CHECK(run("67108864", &out, &status) == 0);
	CHECK(child_ok(status) && out.len == 67108864);
	buf_free(&out);
	/* one byte more is refused, loudly */
	errno = 0;
	CHECK(run("67108865", &out, &status) == -1);
	CHECK(errno == EFBIG);
	buf_free(&out);
	/* past the old limit (16 MiB, cut off silently): taken whole */
	CHECK(run("16777217", &out, &status) == 0 && out.len == 16777217);
	buf_free(&out);
}

int
main(void)
{
	log_init(LOG_TO_NOWHERE, 0);
	test_output();
	return unit_done("test_child");
}
