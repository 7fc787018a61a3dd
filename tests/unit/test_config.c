/* The config loader: defaults, the contract keys, and refusals that
 * name file, line and key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airgap-agent.h"
#include "unit.h"

static char path[] = "/tmp/test_config.XXXXXX";

static int
load(const char *text, struct config *c)
{
	FILE *f = fopen(path, "w");
	int rc;

	fputs(text, f);
	fclose(f);
	rc = config_load(path, c);
	if (rc == -1)
		config_free(c);
	return rc;
}

#define FPR "0123456789ABCDEF0123456789ABCDEF01234567"

static void
test_defaults(void)
{
	struct config c;

	CHECK(load("", &c) == 0);
	CHECK(strcmp(c.state_dir, "/var/lib/airgap-agent") == 0);
	/* OpenZFS: nothing mounted, nothing left in zpool.cache */
	CHECK(strcmp(c.import_args[0], "-N") == 0);
	CHECK(strcmp(c.import_args[1], "-o") == 0);
	CHECK(strcmp(c.import_args[2], "cachefile=none") == 0);
	CHECK(c.import_args[3] == NULL);
	CHECK(strcmp(c.receive_args[0], "-u") == 0);
	CHECK(strcmp(c.receive_args[2], "readonly=on") == 0);
	CHECK(strcmp(c.receive_args[3], "-x") == 0);
	CHECK(strcmp(c.receive_args[4], "mountpoint") == 0);
	CHECK(c.receive_args[5] == NULL);
	CHECK(strcmp(c.store, "simplesnap") == 0);
	CHECK(c.nhosts == 0);
	config_free(&c);
}

static void
test_hosts(void)
{
	struct config c;

	CHECK(load("ingest = { hosts = ( { name = \"laptop\"; signers = [ \""
	    "0123456789abcdef0123456789abcdef01234567\" ]; },"
	    "{ name = \"nas\"; require_signature = false; } ); };", &c) == 0);
	CHECK(c.nhosts == 2);
	CHECK(strcmp(c.hosts[0].signers[0], FPR) == 0); /* upper-cased */
	CHECK(c.hosts[0].require_signature == 1);
	CHECK(c.hosts[1].require_signature == 0);
	CHECK(config_host(&c, "nas") == &c.hosts[1]);
	CHECK(config_host(&c, "x") == NULL);
	config_free(&c);
}

static void
test_refused(void)
{
	const char *bad[] = {
		"zfs = { receive_args = [ \"-F\" ]; };",
		"zfs = { receive_args = [ \"-uF\" ]; };",
		"zfs = { receive_args = [ \"-s\" ]; };",
		"zfs = { zfs = \"zfs\"; };",
		"zfs = { recieve_args = [ ]; };",
		"state_dir = 5;",
		"ingest = { store = \"../x\"; };",
		"ingest = { hosts = ( { name = \"a/b\"; require_signature = false; } ); };",
		"ingest = { hosts = ( { name = \"a\"; } ); };",
		"ingest = { hosts = ( { name = \"a\"; signers = [ \"XYZ\" ]; } ); };",
		"ingest = { hosts = ( { name = \"a\"; require_signature = false; },"
		    " { name = \"a\"; require_signature = false; } ); };",
		"timeouts = { command = 0; };",
		"state_dir = ;",
		/* the exec queue apart from incoming, however it is written */
		"ingest = { incoming = \"/x/in\"; exec_queue = \"/x/in\"; };",
		"ingest = { incoming = \"/x/in\"; exec_queue = \"/x/in/\"; };",
		"ingest = { incoming = \"/x/in\"; exec_queue = \"/x//in/.\"; };",
		"ingest = { incoming = \"/x/in\"; exec_queue = \"/x/q/../in\"; };",
		"ingest = { incoming = \"/x/in\"; exec_queue = \"/x/in/q\"; };",
		"ingest = { incoming = \"/x/in/\"; exec_queue = \"/x\"; };",
		"ingest = { incoming = \"/\"; exec_queue = \"/q\"; };",
		"status = { beeper = \"beeper\"; };",
		NULL
	};
	struct config c;
	int i;

	for (i = 0; bad[i] != NULL; i++) {
		int rc = load(bad[i], &c);

		if (rc != -1) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			config_free(&c);
		}
		CHECK(rc == -1);
	}
	/* "" means no beeper, as documented */
	CHECK(load("status = { beeper = \"\"; };", &c) == 0);
	CHECK(c.beeper != NULL && c.beeper[0] == '\0');
	config_free(&c);
	CHECK(load("ingest = { incoming = \"/x/in\"; exec_queue = \"/x/in2\"; };",
	    &c) == 0);
	config_free(&c);
	/* -o readonly=on: the value after -o is not an option */
	CHECK(load("zfs = { receive_args = [ \"-o\", \"sync=standard\" ]; };",
	    &c) == 0);
	config_free(&c);
}

/* A folder reached through a symbolic link is the same folder. */
static void
test_exec_queue_link(void)
{
	char dir[] = "/tmp/test_config_q.XXXXXX", *in, *link, *text;
	struct config c;

	if (mkdtemp(dir) == NULL)
		return;
	in = xasprintf("%s/in", dir);
	link = xasprintf("%s/link", dir);
	CHECK(mkdir(in, 0700) == 0 && symlink(in, link) == 0);
	text = xasprintf("ingest = { incoming = \"%s\"; exec_queue = \"%s\"; };",
	    in, link);
	CHECK(load(text, &c) == -1);
	free(text);
	text = xasprintf("ingest = { incoming = \"%s\"; exec_queue = \"%s/q\"; };",
	    link, in);
	CHECK(load(text, &c) == -1);
	free(text);
	unlink(link);
	rmdir(in);
	rmdir(dir);
	free(in);
	free(link);
}

int
main(void)
{
	int fd = mkstemp(path);

	if (fd == -1)
		return 2;
	close(fd);
	log_init(0, 0);
	test_defaults();
	test_hosts();
	test_refused();
	test_exec_queue_link();
	unlink(path);
	return unit_done("test_config");
}
