/* The config loader: defaults, the contract keys, and refusals that
 * name file, line and key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	CHECK(strcmp(c.import_args[0], "-N") == 0 && c.import_args[1] == NULL);
	CHECK(strcmp(c.receive_args[0], "-u") == 0);
	CHECK(strcmp(c.receive_args[2], "readonly=on") == 0);
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
	/* -o readonly=on: the value after -o is not an option */
	CHECK(load("zfs = { receive_args = [ \"-o\", \"sync=standard\" ]; };",
	    &c) == 0);
	config_free(&c);
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
	unlink(path);
	return unit_done("test_config");
}
