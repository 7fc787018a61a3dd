/*
 * Logging in the shape of OpenSMTPD's log.c: syslog always (ident
 * airgap-agent), and stderr too when running in the foreground.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "airgap-agent.h"

static int log_stderr;
static int log_verbose;
static int log_nowhere;

/* TO_STDERR: 1 also to stderr, 0 syslog only, -1 nowhere (fuzzing). */
void
log_init(int to_stderr, int verbose)
{
	log_stderr = to_stderr > 0;
	log_nowhere = to_stderr < 0;
	log_verbose = verbose;
	if (!log_nowhere)
		openlog(AGENT_NAME, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static void
vlog(int pri, const char *fmt, va_list ap)
{
	char msg[2048];

	if (log_nowhere)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (log_stderr)
		fprintf(stderr, "%s: %s\n", AGENT_NAME, msg);
	syslog(pri, "%s", msg);
}

/* Appends strerror(errno) and leaves errno as it found it. */
static void
vlog_errno(int pri, const char *fmt, va_list ap)
{
	char msg[2048];
	int saved = errno;

	if (log_nowhere)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (log_stderr)
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
