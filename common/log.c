/* vmsnapfs: the log. */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static bool to_syslog;
static bool with_debug;

void
log_init (bool foreground, bool debug)
{
  with_debug = debug;
  to_syslog = !foreground;
  if (to_syslog)
    openlog ("vmsnapfs", LOG_PID, LOG_DAEMON);
}

void
log_msg (int prio, const char *fmt, ...)
{
  va_list ap;

  if (prio == LOG_DEBUG && !with_debug)
    return;

  va_start (ap, fmt);
  if (to_syslog)
    vsyslog (prio, fmt, ap);
  else
    {
      /* One fprintf per line, so that lines of threads do not interleave. */
      char line[4096];
      vsnprintf (line, sizeof line, fmt, ap);
      fprintf (stderr, "vmsnapfs: %s\n", line);
    }
  va_end (ap);
}
