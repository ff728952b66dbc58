/* Unit tests of host/vmlock.c: one daemon at a time on a VM.  Real
 * lock files under /run/vmsnapfs; another daemon is a child process. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../include/export.h"
#include "../../host/hostdef.h"
#include "../../host/vmlock.h"

static struct host here = { .uri = (char *)"qemu:///system" };
static struct host there = { .uri = (char *)"qemu+tcp://10.0.0.2/system" };
static char uuid[VIR_UUID_STRING_BUFLEN];

/* Run in a child (another daemon): take the lock on UUID of H, tell the
 * parent through PIPE_W, and hold it until killed.  Returns its pid. */
static pid_t
other_daemon (struct host *h, int *ready)
{
  int p[2];
  pid_t pid;

  assert_int_equal (pipe (p), 0);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      char ok = vm_lock_take (h, uuid, "vm") >= 0 ? 'y' : 'n';

      if (write (p[1], &ok, 1) != 1)
        _exit (1);
      for (;;)
        pause ();
    }
  close (p[1]);
  *ready = p[0];
  return pid;
}

static void
test_one_process (void **state)
{
  int a, b;

  (void)state;
  a = vm_lock_take (&here, uuid, "vm");
  assert_true (a >= 0);
  /* A second operation in this process is refused by the process's own
   * list (ops.c), but the lock alone refuses it too. */
  assert_int_equal (vm_lock_take (&here, uuid, "vm"), -EBUSY);
  /* The same UUID on another host is another VM. */
  b = vm_lock_take (&there, uuid, "vm");
  assert_true (b >= 0);
  vm_lock_drop (&there, uuid, b);
  vm_lock_drop (&here, uuid, a);
  /* Dropped: the file is gone, and the lock is free. */
  a = vm_lock_take (&here, uuid, "vm");
  assert_true (a >= 0);
  vm_lock_drop (&here, uuid, a);
  vm_lock_drop (&here, uuid, VM_LOCK_NONE); /* nothing to do */
}

static void
test_other_daemon (void **state)
{
  int ready, status, fd;
  char ok = 0;
  pid_t pid = other_daemon (&here, &ready);

  (void)state;
  assert_int_equal (read (ready, &ok, 1), 1);
  close (ready);
  assert_int_equal (ok, 'y');
  assert_int_equal (vm_lock_take (&here, uuid, "vm"), -EBUSY);
  /* Held, as a sweep of servers sees it, whatever the host; the probe
   * leaves it held. */
  assert_true (vm_lock_held_anywhere (uuid));
  assert_int_equal (vm_lock_take (&here, uuid, "vm"), -EBUSY);
  /* Killed with SIGKILL: the kernel drops its lock, and the record it
   * left is this daemon's to carry on. */
  kill (pid, SIGKILL);
  assert_int_equal (waitpid (pid, &status, 0), pid);
  fd = vm_lock_take (&here, uuid, "vm");
  assert_true (fd >= 0);
  /* The holder's pid is in the file, for the other's log line. */
  {
    char buf[32] = "";

    assert_true (pread (fd, buf, sizeof buf - 1, 0) > 0);
    assert_int_equal (strtol (buf, NULL, 10), getpid ());
  }
  assert_true (vm_lock_held_anywhere (uuid)); /* by this process too */
  vm_lock_drop (&here, uuid, fd);
  assert_false (vm_lock_held_anywhere (uuid));
  fd = vm_lock_take (&there, uuid, "vm"); /* another host's URI */
  assert_true (fd >= 0);
  assert_true (vm_lock_held_anywhere (uuid));
  vm_lock_drop (&there, uuid, fd);
  assert_false (vm_lock_held_anywhere (uuid));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_one_process),
    cmocka_unit_test (test_other_daemon),
  };

  if (geteuid () != 0)
    {
      printf ("test-vmlock: skipped (needs root for /run/vmsnapfs)\n");
      return 0;
    }
  /* The daemon makes it at its start (export_init). */
  if (mkdir (EXPORT_RUN_DIR, 0700) < 0 && errno != EEXIST)
    {
      perror (EXPORT_RUN_DIR);
      return 1;
    }
  snprintf (uuid, sizeof uuid, "0000test-0000-4000-8000-%012d",
            (int)getpid ());
  return cmocka_run_group_tests (tests, NULL, NULL);
}
