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
