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
 * that none of them can fake a line or drive the terminal. */
static void
vlog(int pri, const char *fmt, va_list ap)
{
	char raw[2048], msg[ESCAPED_MAX(2048)];

	if (log_nowhere)
		return;
	vsnprintf(raw, sizeof raw, fmt, ap);
	str_escape(msg, sizeof msg, raw);
	if (to_stderr(pri))
		fprintf(stderr, "%s: %s\n", AGENT_NAME, msg);
	syslog(pri, "%s", msg);
}

/* Appends strerror(errno) and leaves errno as it found it. */
static void
vlog_errno(int pri, const char *fmt, va_list ap)
{
	char raw[2048], msg[ESCAPED_MAX(2048)];
	int saved = errno;

	if (log_nowhere)
		return;
	vsnprintf(raw, sizeof raw, fmt, ap);
	str_escape(msg, sizeof msg, raw);
	if (to_stderr(pri))
		fprintf(stderr, "%s: %s: %s\n", AGENT_NAME, msg, strerror(saved));
	syslog(pri, "%s: %s", msg, strerror(saved));
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(EXIT_USAGE);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(EXIT_USAGE);
}
