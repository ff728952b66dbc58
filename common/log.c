/* vmsnapfs: the log. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

static bool to_syslog;
static bool with_debug;

/* A verb under way in this thread (log_verb_begin): its VM, and the
 * errors and warnings held for its one line. */
static __thread bool holding;
static __thread char held_vm[256];
static __thread struct strbuf held;
static __thread int held_prio;

void
log_init (bool foreground, bool debug)
{
  with_debug = debug;
  to_syslog = !foreground;
  if (to_syslog)
    openlog ("vmsnapfs", LOG_PID, LOG_DAEMON);
}

static void
emit (int prio, const char *line)
{
  if (to_syslog)
    syslog (prio, "%s", line);
  else
    fprintf (stderr, "vmsnapfs: %s\n", line); /* one call: lines whole */
}

/* Hold LINE for the verb under way: its VM's name, which the verb's line
 * gives, left out. */
static void
hold (int prio, const char *line)
{
  size_t n = strlen (held_vm);

  if (n && strncmp (line, "VM '", 4) == 0
      && strncmp (line + 4, held_vm, n) == 0
      && strncmp (line + 4 + n, "': ", 3) == 0)
    line += 4 + n + 3;
  strbuf_printf (&held, "%s%s",
                held.len == 0                      ? ""
                : held.s[held.len - 1] == '.' ? " "
                                                   : "; ",
                line);
  if (held_prio == 0 || prio < held_prio)
    held_prio = prio;
}

void
log_msg (int prio, const char *fmt, ...)
{
  char line[4096];
  va_list ap;

  if (prio == LOG_DEBUG && !with_debug)
    return;
  va_start (ap, fmt);
  vsnprintf (line, sizeof line, fmt, ap);
  va_end (ap);
  if (holding && prio <= LOG_WARNING)
    hold (prio, line);
  else
    emit (prio, line);
}

void
log_verb_begin (const char *vm)
{
  holding = true;
  snprintf (held_vm, sizeof held_vm, "%s", vm ? vm : "");
  free (held.s);
  held = (struct strbuf){ 0 };
  held_prio = 0;
}

void
log_verb_end (int r, const char *verb, const char *what)
{
  char line[4096], vm[300] = "";
  const char *name;
  char *shown = printable (what); /* one line, whatever the name */

  holding = false;
  if (held_vm[0])
    snprintf (vm, sizeof vm, "VM '%s': ", held_vm);
  if (r < 0)
    {
      name = strerrorname_np (-r);
      if (held.len)
        snprintf (line, sizeof line, "%s%s %s: %s: %s", vm, verb, shown,
                  name ? name : "error", held.s);
      else
        snprintf (line, sizeof line, "%s%s %s: %s (%s).", vm, verb, shown,
                  name ? name : "error", strerror (-r));
      emit (LOG_ERR, line);
    }
  else if (held.len)
    {
      /* Done all the same: what was held, as it was said. */
      snprintf (line, sizeof line, "%s%s", vm, held.s);
      emit (held_prio, line);
    }
  free (held.s);
  held = (struct strbuf){ 0 };
  free (shown);
}
