/*
 * airgap-agent: the command line.  main() only parses arguments and
 * calls the named steps in order.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	    "  prune [--dry-run] POOL  thin the imported POOL's snapshots as\n"
	    "                retention.schedule says; --dry-run: list, destroy nothing\n"
	    "  handle DEV    identify a plugged block device and do its whole job\n"
	    "  watch         daemon: handle each medium plugged in, one at a time\n"
	    "  status [--json] queue, backup disks, quarantine, last runs, light\n"
	    "  enqueue DEST  NNCP exec handler: queue the stream on stdin for DEST\n"
	    "  restore list POOL            what a plugged backup disk holds\n"
	    "  restore open POOL HOST/DATASET@SNAP   browse a snapshot read-only\n"
	    "  restore close POOL           close it again, export the pool\n"
	    "  restore send POOL HOST/DATASET@SNAP DEV   the snapshot as a stream\n"
	    "                               onto the transport stick DEV\n"
	    "  drill POOL [--scrub]         read every newest snapshot end to end\n"
	    "  help          show this text\n"
	    "\n"
	    "options:\n"
	    "  -c CONFIG     configuration file (default %s)\n"
	    "  -v            verbose: debug messages, and all of the log on stderr\n"
	    "                (errors go there anyway)\n"
	    "\n"
	    "exit status: 0 done (or waiting for its turn; for handle: safe to\n"
	    "remove), 1 something failed or was rejected, 2 usage or configuration\n"
	    "error, 3 (handle) the medium is not ours.\n",
	    AGENT_NAME, DEFAULT_CONFIG);
}

/* The keyring is the admin's to fill: a signer missing from it is a
 * warning, not a configuration error. */
static int
cmd_check(const struct config *cfg)
{
	config_print(cfg);
	if (gpg_init() == 0)
		gpg_check_signers(cfg);
	return EXIT_OK;
}

/* A state folder others could write is a configuration error. */
static int
prepare(const struct config *cfg)
{
	if (mkdir_private(cfg->state_dir) == -1)
		return EXIT_USAGE;
	if (gpg_init() == -1)
		return EXIT_FAILED;
	return EXIT_OK;
}

/* prepare, then the run's lock (waited for) in *LOCK. */
static int
prepare_locked(const struct config *cfg, int *lock)
{
	int rc = prepare(cfg);

	if (rc == EXIT_OK && (*lock = lock_take(cfg->state_dir, 1)) == -1)
		rc = EXIT_FAILED;
	return rc;
}

static int
cmd_ingest(const struct config *cfg, const char *pool)
{
	struct retention_summary thin;
	int lock, rc;

	if ((rc = prepare_locked(cfg, &lock)) != EXIT_OK)
		return rc;
	retention_if_low(cfg, pool, NULL);
	rc = ingest_run(cfg, pool, NULL, NULL) == 0 ? EXIT_OK : EXIT_FAILED;
	if (retention_run(cfg, pool, NULL, 0, &thin) == -1)
		rc = EXIT_FAILED;
	close(lock);
	return rc;
}

static int
cmd_prune(const struct config *cfg, const char *pool, int dry_run)
{
	struct retention_summary thin;
	int lock, rc;

	if ((rc = prepare_locked(cfg, &lock)) != EXIT_OK)
		return rc;
	if (!zfs_pool_exists(cfg, pool)) {
		log_warnx("prune: pool %s is not imported", pool);
		rc = EXIT_FAILED;
	} else if (retention_run(cfg, pool, NULL, dry_run, &thin) == -1)
		rc = EXIT_FAILED;
	close(lock);
	return rc;
}

static int
cmd_verify(const struct config *cfg, int argc, char **argv)
{
	int i, rc = EXIT_OK;

	if (gpg_init() == -1)
		return EXIT_FAILED;
	for (i = 1; i < argc; i++)
		if (verify_file(cfg, argv[i]) == -1)
			rc = EXIT_FAILED;
	return rc;
}

static int
cmd_handle(const struct config *cfg, const char *devnode)
{
	int rc;

	if ((rc = prepare(cfg)) != EXIT_OK)
		return rc;
	rc = handle_device(cfg, devnode);
	return rc == HANDLE_SAFE ? EXIT_OK : rc == HANDLE_NOT_OURS ?
	    EXIT_NOT_OURS : EXIT_FAILED;
}

static int
cmd_watch(const struct config *cfg, const char *cfg_path, int verbose)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	int rc;

	if (n <= 0) {
		log_warn("readlink /proc/self/exe");
		return EXIT_FAILED;
	}
	self[n] = '\0';
	if ((rc = prepare(cfg)) != EXIT_OK)
		return rc;
	return watch_run(cfg, self, cfg_path, verbose) == 0 ? EXIT_OK : EXIT_FAILED;
}

static int
run(const struct config *cfg, const char *cfg_path, int verbose, int argc,
    char **argv)
{
	const char *cmd = argv[0];
	int rc;

	if (strcmp(cmd, "check") == 0 && argc == 1)
		return cmd_check(cfg);
	if (strcmp(cmd, "ingest") == 0 && argc == 2)
		return cmd_ingest(cfg, argv[1]);
	if (strcmp(cmd, "verify") == 0 && argc >= 2)
		return cmd_verify(cfg, argc, argv);
	if (strcmp(cmd, "handle") == 0 && argc == 2)
		return cmd_handle(cfg, argv[1]);
	if (strcmp(cmd, "watch") == 0 && argc == 1)
		return cmd_watch(cfg, cfg_path, verbose);
	if (strcmp(cmd, "enqueue") == 0 && argc == 2)
		return enqueue_run(cfg, argv[1]) == 0 ? EXIT_OK : EXIT_FAILED;
	if (strcmp(cmd, "restore") == 0 &&
	    (rc = restore_command(cfg, argc, argv)) != EXIT_USAGE)
		return rc;
	if (strcmp(cmd, "drill") == 0 && (argc == 2 || (argc == 3 &&
	    strcmp(argv[2], "--scrub") == 0)))
		return drill_run(cfg, argv[1], argc == 3) == 0 ? EXIT_OK : EXIT_FAILED;
	if (strcmp(cmd, "prune") == 0 && (argc == 2 || (argc == 3 &&
	    strcmp(argv[1], "--dry-run") == 0)))
		return cmd_prune(cfg, argv[argc - 1], argc == 3);
	if (strcmp(cmd, "status") == 0 && argc == 1)
		return status_show(cfg, 0) == 0 ? EXIT_OK : EXIT_FAILED;
	if (strcmp(cmd, "status") == 0 && argc == 2 && strcmp(argv[1], "--json") == 0)
		return status_show(cfg, 1) == 0 ? EXIT_OK : EXIT_FAILED;
	usage(stderr);
	return EXIT_USAGE;
}

/* Errors reach whoever runs a command, in a terminal, a pipe or a
 * script, and syslog as well.  NNCP keeps a failing exec handler's
 * stderr in its log.  The daemon's stderr is the journal, which gets
 * syslog already. */
static int
log_dest(const char *cmd, int verbose)
{
	if (verbose || isatty(STDERR_FILENO) || strcmp(cmd, "enqueue") == 0)
		return LOG_TO_STDERR;
	return strcmp(cmd, "watch") == 0 ? LOG_TO_SYSLOG : LOG_TO_ERRORS;
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
	log_init(log_dest(argv[0], verbose), verbose);
	/* A receiver that dies must show up as EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	/* Reports, the ledger, quarantined files: for root's eyes only. */
	umask(077);
	if (config_load(path, &cfg) == -1)
		return EXIT_USAGE;
	rc = run(&cfg, path, verbose, argc, argv);
	config_free(&cfg);
	return rc;
}
