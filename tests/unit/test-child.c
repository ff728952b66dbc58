/* Unit tests of common/child.c: a child dies with SIGKILL when the process
 * that started it is killed, but not when the thread that asked for it
 * ends; it runs with signals unblocked and at their defaults, its output
 * where it was asked; a missing program is ENOENT; it holds only the
 * descriptors it is given, none the daemon has without O_CLOEXEC. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "child.h"

static const char *const sleeper[] = { "sleep", "1000", NULL };

static void *
spawn_thread (void *arg)
{
  pid_t *pid = arg;

  assert_int_equal (child_spawn (sleeper, NULL, -1, -1, pid), 0);
  return NULL;
}

/* A process that starts a sleep from a thread which then ends, and says
 * the sleep's pid, and whether it still ran after the thread's end. */
static void __attribute__ ((noreturn)) fake_daemon (int report)
{
  pthread_t t;
  pid_t pid = 0;
  char alive;

  if (pthread_create (&t, NULL, spawn_thread, &pid) != 0
      || pthread_join (t, NULL) != 0)
    _exit (1);
  usleep (300 * 1000); /* the kernel's signal at a thread's end comes late */
  alive = waitpid (pid, NULL, WNOHANG) == 0 ? 'A' : 'D';
  if (write (report, &pid, sizeof pid) != sizeof pid
      || write (report, &alive, 1) != 1)
    _exit (1);
  for (;;)
    pause ();
}

static void
test_dies_with_daemon (void **state)
{
  int p[2], status = 0;
  pid_t daemon, pid;
  char alive;

  (void)state;
  /* The orphaned sleep comes to this process, to be waited for. */
  assert_int_equal (prctl (PR_SET_CHILD_SUBREAPER, 1), 0);
  assert_int_equal (pipe (p), 0);
  if ((daemon = fork ()) == 0)
    fake_daemon (p[1]);
  assert_true (daemon > 0);
  assert_int_equal (read (p[0], &pid, sizeof pid), sizeof pid);
  assert_int_equal (read (p[0], &alive, 1), 1);
  close (p[0]);
  close (p[1]);
  kill (daemon, SIGKILL);
  assert_int_equal (waitpid (daemon, NULL, 0), daemon);
  assert_int_equal (alive, 'A'); /* the asking thread's end killed it */
  /* Within 10 s; else it is killed here, and the test fails. */
  for (int i = 0; i < 1000 && waitpid (pid, &status, WNOHANG) == 0; i++)
    usleep (10 * 1000);
  if (kill (pid, SIGKILL) == 0)
    {
      waitpid (pid, NULL, 0);
      fail_msg ("the child outlived its daemon");
    }
  prctl (PR_SET_CHILD_SUBREAPER, 0);
  assert_true (WIFSIGNALED (status));
  assert_int_equal (WTERMSIG (status), SIGKILL);
}

static void
test_signals_default (void **state)
{
  sigset_t term, old;
  struct sigaction ign = { .sa_handler = SIG_IGN }, oldsa;
  pid_t pid;
  int status;

  (void)state;
  /* A FUSE thread blocks every signal; the daemon catches SIGPIPE. */
  sigemptyset (&term);
  sigaddset (&term, SIGTERM);
  pthread_sigmask (SIG_BLOCK, &term, &old);
  sigaction (SIGTERM, &ign, &oldsa);
  assert_int_equal (child_spawn (sleeper, NULL, -1, -1, &pid), 0);
  sigaction (SIGTERM, &oldsa, NULL);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  kill (pid, SIGTERM);
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFSIGNALED (status));
  assert_int_equal (WTERMSIG (status), SIGTERM);
}

static void
test_output (void **state)
{
  const char *const argv[]
      = { "sh", "-c", "echo out; echo err >&2; echo $X; read a || echo eof",
          NULL };
  char *const envp[] = { (char *)"X=env", (char *)"PATH=/usr/bin:/bin", NULL };
  char buf[64];
  int out[2], err[2], status;
  ssize_t n;
  pid_t pid;

  (void)state;
  assert_int_equal (pipe2 (out, O_CLOEXEC), 0);
  assert_int_equal (pipe2 (err, O_CLOEXEC), 0);
  assert_int_equal (child_spawn (argv, envp, out[1], err[1], &pid), 0);
  close (out[1]);
  close (err[1]);
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  n = read (out[0], buf, sizeof buf - 1);
  assert_true (n > 0);
  buf[n] = '\0';
  assert_string_equal (buf, "out\nenv\neof\n");
  n = read (err[0], buf, sizeof buf - 1);
  assert_true (n > 0);
  buf[n] = '\0';
  assert_string_equal (buf, "err\n");
  close (out[0]);
  close (err[0]);
}

static void
test_missing (void **state)
{
  const char *const a[] = { "vmsnapfs-no-such-program", NULL };
  const char *const b[] = { "/nonexistent/prog", NULL };
  pid_t pid;

  (void)state;
  assert_int_equal (child_spawn (a, NULL, -1, -1, &pid), -ENOENT);
  assert_int_equal (child_spawn (b, NULL, -1, -1, &pid), -ENOENT);
  /* Nothing left to wait for. */
  assert_int_equal (waitpid (-1, NULL, WNOHANG), -1);
  assert_int_equal (errno, ECHILD);
}

/* Whether the child of spawn(KEEP) has descriptors STRAY and KEEP open:
 * "closed open" when it keeps KEEP only. */
static void
test_descriptors (void **state)
{
  int stray = open ("/dev/null", O_RDONLY),
      keep = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  char script[256], buf[64];
  int out[2], status;
  ssize_t n;
  pid_t pid;

  (void)state;
  assert_true (stray > 2 && keep > 2);
  snprintf (script, sizeof script,
            "for f in %d %d; do [ -e /proc/self/fd/$f ] && echo open || "
            "echo closed; done",
            stray, keep);
  const char *const argv[] = { "sh", "-c", script, NULL };
  assert_int_equal (pipe2 (out, O_CLOEXEC), 0);
  assert_int_equal (child_spawn_keepv (argv, NULL, out[1], -1, &keep, 1, &pid),
                    0);
  close (out[1]);
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  n = read (out[0], buf, sizeof buf - 1);
  assert_true (n > 0);
  buf[n] = '\0';
  assert_string_equal (buf, "closed\nopen\n");
  close (out[0]);
  close (stray);
  close (keep);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_dies_with_daemon),
    cmocka_unit_test (test_signals_default),
    cmocka_unit_test (test_output),
    cmocka_unit_test (test_missing),
    cmocka_unit_test (test_descriptors),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
