/* Unit tests that make real images: a scratch directory, made before the
 * group and removed after it, and a shell to run qemu-img and qemu-io in
 * it (a failed command fails the test). */
#ifndef VMSNAPFS_TEST_SCRATCH_H
#define VMSNAPFS_TEST_SCRATCH_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static char dir[] = "/tmp/vmsnapfs-test.XXXXXX";

static void
sh (const char *fmt, ...)
{
  char cmd[4096];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (cmd, sizeof cmd, fmt, ap);
  va_end (ap);
  if (system (cmd) != 0)
    fail_msg ("command failed: %s", cmd);
}

/* Run a shell command up to TRIES times, until it succeeds.  For
 * qemu-img making a LUKS header: it times its key derivation on the
 * thread's CPU clock, and fails when the first timing reads 0 ms ("Unable
 * to get accurate CPU usage"): a third to a half of the tries on a
 * tick-based clock, and five in a row once in CI.  A failed try takes
 * milliseconds. */
/* Not every test uses it. */
__attribute__ ((unused)) static void
sh_tries (int tries, const char *fmt, ...)
{
  char cmd[4096];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (cmd, sizeof cmd, fmt, ap);
  va_end (ap);
  while (tries-- > 0)
    if (system (cmd) == 0)
      return;
  fail_msg ("command failed: %s", cmd);
}

static int
setup_dir (void **state)
{
  (void)state;
  return mkdtemp (dir) ? 0 : -1;
}

static int
remove_dir (void **state)
{
  (void)state;
  sh ("rm -rf %s", dir);
  return 0;
}

#endif /* VMSNAPFS_TEST_SCRATCH_H */
