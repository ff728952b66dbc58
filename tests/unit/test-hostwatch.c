/* Unit tests of fs/hostwatch.c, driven without FUSE: a view of one host
 * made by hand, whose VMs show files of one directory reached by two
 * paths (the directory, and a symbolic link to it).  inotify gives both
 * paths one watch: a change is told to the VM that names the file by
 * either path, and the directory's removal ends the watch under both. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../host/hostdef.h"
#include "fs.h"
#include "util.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char named[4096];

static void
on_change (const char *host, const char *vm)
{
  (void)host;
  pthread_mutex_lock (&lock);
  if (strlen (named) + strlen (vm) + 2 < sizeof named)
    {
      strcat (named, vm);
      strcat (named, " ");
    }
  pthread_mutex_unlock (&lock);
}

/* Whether VM was named since the last take; take what was named. */
static bool
was_named (const char *vm)
{
  char word[64];
  bool found;

  snprintf (word, sizeof word, "%s ", vm);
  pthread_mutex_lock (&lock);
  found = strstr (named, word) != NULL;
  pthread_mutex_unlock (&lock);
  return found;
}

static void
take_named (void)
{
  pthread_mutex_lock (&lock);
  named[0] = '\0';
  pthread_mutex_unlock (&lock);
}

/* Wait up to 2 s for COND (). */
static bool
wait_until (bool (*cond) (const char *), const char *arg)
{
  for (int i = 0; i < 200; i++)
    {
      struct timespec t = { 0, 10 * 1000 * 1000 };

      if (cond (arg))
        return true;
      nanosleep (&t, NULL);
    }
  return cond (arg);
}

static char top[] = "/tmp/vmsnapfs-hostwatch.XXXXXX";
static char real_dir[128], link_dir[128];
static char real_file[160], link_file[160];

/* A VM called NAME whose one snapshot has its memory in FILE. */
static struct vs_vm *
vm_showing (const char *name, const char *file)
{
  struct vs_vm *vm = xcalloc (1, sizeof *vm);
  struct vs_snapshot *s = xcalloc (1, sizeof *s);

  s->refs = 1;
  s->name = xstrdup ("s1");
  s->memory_file = xstrdup (file);
  vm->refs = 1;
  vm->name = xstrdup (name);
  vm->nsnaps = 1;
  vm->snaps = xcalloc (1, sizeof *vm->snaps);
  vm->snaps[0] = s;
  return vm;
}

static struct host host = { .name = (char *)"here", .uri = (char *)"qemu:///system" };
static struct host *hosts[] = { &host };

static int
setup (void **state)
{
  FILE *f;

  (void)state;
  assert_non_null (mkdtemp (top));
  snprintf (real_dir, sizeof real_dir, "%s/images", top);
  snprintf (link_dir, sizeof link_dir, "%s/link", top);
  snprintf (real_file, sizeof real_file, "%s/a.mem", real_dir);
  snprintf (link_file, sizeof link_file, "%s/b.mem", link_dir);
  assert_int_equal (mkdir (real_dir, 0755), 0);
  assert_int_equal (symlink (real_dir, link_dir), 0);
  assert_non_null (f = fopen (real_file, "w"));
  fclose (f);
  assert_non_null (f = fopen (link_file, "w"));
  fclose (f);

  /* VM "a" names its file by the directory, VM "b" by the link. */
  pthread_mutex_init (&host.lock, NULL);
  host.view = new_view (&host);
  host.view->vms = xcalloc (2, sizeof *host.view->vms);
  host.view->vms[host.view->nvms++] = vm_showing ("a", real_file);
  host.view->vms[host.view->nvms++] = vm_showing ("b", link_file);
  fleet_state.hosts = hosts;
  fleet_state.n = 1;
  hostwatch_start (on_change);
  return 0;
}

static int
teardown (void **state)
{
  char cmd[256];

  (void)state;
  hostwatch_stop ();
  fleet_state.n = 0;
  host_unref (host.view);
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", top);
  return system (cmd) == 0 ? 0 : -1;
}

static void
test_two_paths (void **state)
{
  (void)state;
  /* The directory first, then the link: one watch, given twice. */
  assert_true (hostwatch_covers (real_file));
  assert_true (hostwatch_covers (link_file));
  take_named ();

  assert_int_equal (chmod (real_file, 0600), 0);
  assert_true (wait_until (was_named, "a"));
  assert_false (was_named ("b"));
  take_named ();

  assert_int_equal (chmod (link_file, 0600), 0);
  assert_true (wait_until (was_named, "b"));
  assert_false (was_named ("a"));
  take_named ();
}

static bool
not_covered (const char *path)
{
  return !hostwatch_covers (path);
}

static void
test_removed (void **state)
{
  (void)state;
  assert_true (hostwatch_covers (real_file));
  assert_true (hostwatch_covers (link_file));
  assert_int_equal (unlink (real_file), 0);
  assert_int_equal (unlink (link_file), 0);
  assert_int_equal (rmdir (real_dir), 0);
  /* Watched by neither path once the kernel says the watch ended. */
  assert_true (wait_until (not_covered, real_file));
  assert_true (wait_until (not_covered, link_file));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_two_paths),
    cmocka_unit_test (test_removed),
  };

  return cmocka_run_group_tests (tests, setup, teardown);
}
