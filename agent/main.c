/*
 * airgap-agent: the command line.  main() only parses arguments and
 * calls the named steps in order.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airgap-agent.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: %s [-v] [-c CONFIG] COMMAND [ARGS]\n"
	    "\n"
	    "commands:\n"
	    "  check         load and validate the configuration, print it\n"
	    "  ingest POOL   receive every queued backup into the imported POOL\n"
	    "  verify FILE   decrypt, check and decompress a queue file, receive nothing\n"
	    "  help          show this text\n"
	    "\n"
	    "options:\n"
	    "  -c CONFIG     configuration file (default %s)\n"
	    "  -v            verbose; also log to stderr\n"
	    "\n"
	    "exit status: 0 done (or waiting for its turn), 1 something failed\n"
	    "or was rejected, 2 usage or configuration error.\n",
	    AGENT_NAME, DEFAULT_CONFIG);
}

static int
cmd_check(const struct config *cfg)
{
	config_print(cfg);
	return EXIT_OK;
}

static int
cmd_ingest(const struct config *cfg, const char *pool)
{
	int lock;

	if (gpg_init() == -1 || mkdir_private(cfg->state_dir) == -1)
		return EXIT_FAILED;
	if ((lock = lock_take(cfg->state_dir, 1)) == -1)
		return EXIT_FAILED;
	return ingest_run(cfg, pool) == 0 ? EXIT_OK : EXIT_FAILED;
}

static int
cmd_verify(const struct config *cfg, int argc, char **argv)
{
	int i, rc = EXIT_OK;

	if (gpg_init() == -1)
		return EXIT_FAILED;
	for (i = 1; i < argc; i++)
		if (ingest_verify(cfg, argv[i]) == -1)
			rc = EXIT_FAILED;
	return rc;
}

static int
run(const struct config *cfg, int argc, char **argv)
{
	const char *cmd = argv[0];

	if (strcmp(cmd, "check") == 0 && argc == 1)
		return cmd_check(cfg);
	if (strcmp(cmd, "ingest") == 0 && argc == 2)
		return cmd_ingest(cfg, argv[1]);
	if (strcmp(cmd, "verify") == 0 && argc >= 2)
		return cmd_verify(cfg, argc, argv);
	usage(stderr);
	return EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	struct config cfg;
	int ch, verbose = 0, rc;

	while ((ch = getopt(argc, argv, "+c:hv")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 || strcmp(argv[0], "help") == 0) {
		usage(argc == 0 ? stderr : stdout);
		return argc == 0 ? EXIT_USAGE : EXIT_OK;
	}
	log_init(verbose || isatty(STDERR_FILENO), verbose);
	/* A receiver that dies must show up as EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (config_load(path, &cfg) == -1)
		return EXIT_USAGE;
	rc = run(&cfg, argc, argv);
	config_free(&cfg);
	return rc;
}
