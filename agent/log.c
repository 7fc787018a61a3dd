/*
 * Logging in the shape of OpenSMTPD's log.c: syslog always (ident
 * airgap-agent), and stderr too: errors for every command a person or
 * a script runs, everything when in the foreground or verbose.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "airgap-agent.h"

static int log_stderr; /* LOG_TO_* */
static int log_verbose;
static int log_nowhere;

/* TO_STDERR is one of LOG_TO_*. */
void
log_init(int to_stderr, int verbose)
{
	log_stderr = to_stderr;
	log_nowhere = to_stderr == LOG_TO_NOWHERE;
	log_verbose = verbose;
	if (!log_nowhere)
		openlog(AGENT_NAME, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static int
to_stderr(int pri)
{
	return log_stderr == LOG_TO_STDERR ||
	    (log_stderr == LOG_TO_ERRORS && pri <= LOG_ERR);
}

/* Messages carry file names, labels and tools' output: escaped, so
 * that none of them can fake a line or drive the terminal.  With
 * WITH_ERRNO, strerror(errno) is appended.  errno is left as it was. */
static void
vlog(int pri, int with_errno, const char *fmt, va_list ap)
{
	char raw[2048], msg[ESCAPED_MAX(2048)];
	const char *sep = with_errno ? ": " : "";
	int saved = errno;

	if (log_nowhere || (pri == LOG_DEBUG && !log_verbose))
		return;
	vsnprintf(raw, sizeof raw, fmt, ap);
	str_escape(msg, sizeof msg, raw);
	if (to_stderr(pri))
		fprintf(stderr, "%s: %s%s%s\n", AGENT_NAME, msg, sep,
		    with_errno ? strerror(saved) : "");
	syslog(pri, "%s%s%s", msg, sep, with_errno ? strerror(saved) : "");
	errno = saved;
}

/* log_warn, log_warnx, log_info, log_debug (airgap-agent.h). */
void
log_msg(int pri, int with_errno, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(pri, with_errno, fmt, ap);
	va_end(ap);
}

/* fatal, fatalx: a usage or configuration error the run cannot go on
 * after. */
void
log_fatal(int with_errno, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, with_errno, fmt, ap);
	va_end(ap);
	exit(EXIT_USAGE);
}
