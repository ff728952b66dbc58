/* Unit tests of host/snapwatch.c: a real directory laid out as
 * libvirt's qemu driver keeps its snapshot files, changed as it changes
 * them (NAME.xml.new written, then renamed over NAME.xml), and the VMs the
 * watch names for each change. */
#include <errno.h>
#include <fcntl.h>
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

#include "../../host/snapwatch.h"

/* What the watch named, in order ("*" for NULL: any VM). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char named[4096];

static void
on_change (void *opaque, const char *vm)
{
  (void)opaque;
  pthread_mutex_lock (&lock);
  strcat (named, vm ? vm : "*");
  strcat (named, " ");
  pthread_mutex_unlock (&lock);
}

/* Wait up to 2 s for WORD to have been named; take what was named. */
static char *
wait_named (const char *word)
{
  char *got = NULL;

  for (int i = 0; i < 200; i++)
    {
      pthread_mutex_lock (&lock);
      if (strstr (named, word))
        i = 200;
      pthread_mutex_unlock (&lock);
      if (i < 200)
        usleep (10000);
    }
  usleep (50000); /* what came with it */
  pthread_mutex_lock (&lock);
  got = strdup (named);
  named[0] = '\0';
  pthread_mutex_unlock (&lock);
  return got;
}

/* Wait for WORD; what was named must be EXACTLY that, or hold it (NULL). */
static void
expect_named (const char *word, const char *exactly)
{
  char *got = wait_named (word);

  if (exactly)
    assert_string_equal (got, exactly);
  else
    assert_non_null (strstr (got, word));
  free (got);
}

static char top[] = "/tmp/vmsnapfs-snapwatch.XXXXXX";

static void
write_file (const char *vm, const char *name, const char *text)
{
  char path[256];
  FILE *f;

  snprintf (path, sizeof path, "%s/%s/%s", top, vm, name);
  f = fopen (path, "w");
  assert_non_null (f);
  fputs (text, f);
  fclose (f);
}

/* As libvirt writes a snapshot's file: NAME.xml.new, renamed. */
static void
libvirt_writes (const char *vm, const char *snap)
{
  char from[256], to[256], name[64];

  snprintf (name, sizeof name, "%s.xml.new", snap);
  write_file (vm, name, "<domainsnapshot/>");
  snprintf (from, sizeof from, "%s/%s/%s.xml.new", top, vm, snap);
  snprintf (to, sizeof to, "%s/%s/%s.xml", top, vm, snap);
  assert_int_equal (rename (from, to), 0);
}

static void
make_dir (const char *vm)
{
  char path[256];

  snprintf (path, sizeof path, "%s/%s", top, vm);
  assert_int_equal (mkdir (path, 0755), 0);
}

static void
test_dir_for (void **state)
{
  char *d;

  (void)state;
  d = snapwatch_dir_for ("qemu:///system");
  assert_string_equal (d, "/var/lib/libvirt/qemu/snapshot");
  free (d);
  d = snapwatch_dir_for ("qemu:///system?socket=/run/x");
  assert_string_equal (d, "/var/lib/libvirt/qemu/snapshot");
  free (d);
  setenv ("XDG_CONFIG_HOME", "/home/u/.cfg", 1);
  d = snapwatch_dir_for ("qemu:///session");
  assert_string_equal (d, "/home/u/.cfg/libvirt/qemu/snapshot");
  free (d);
  unsetenv ("XDG_CONFIG_HOME");
  setenv ("HOME", "/home/u", 1);
  d = snapwatch_dir_for ("qemu:///session");
  assert_string_equal (d, "/home/u/.config/libvirt/qemu/snapshot");
  free (d);
  /* Elsewhere, or another driver: nothing to watch here. */
  assert_null (snapwatch_dir_for ("qemu+ssh://root@host2/system"));
  assert_null (snapwatch_dir_for ("qemu:///systemd"));
  assert_null (snapwatch_dir_for ("test:///default"));
  assert_null (snapwatch_dir_for (NULL));
}

static void
test_changes (void **state)
{
  struct snapwatch *w;
  char path[256];

  (void)state;
  assert_non_null (mkdtemp (top));
  make_dir ("vm1");
  named[0] = '\0';
  w = snapwatch_start (top, on_change, NULL);
  assert_non_null (w);
  assert_true (snapwatch_complete (w));

  /* A snapshot made: vm1, and nothing for the file on its way alone. */
  libvirt_writes ("vm1", "s1");
  expect_named ("vm1", "vm1 ");
  write_file ("vm1", "s2.xml.new", "x");
  expect_named ("never", "");

  /* A VM's first snapshot makes its directory: watched from then on. */
  make_dir ("vm2");
  expect_named ("vm2", NULL);
  libvirt_writes ("vm2", "a");
  expect_named ("vm2", "vm2 ");

  /* A snapshot deleted; a file written in place. */
  snprintf (path, sizeof path, "%s/vm1/s1.xml", top);
  assert_int_equal (unlink (path), 0);
  expect_named ("vm1", "vm1 ");
  write_file ("vm2", "b.xml", "<domainsnapshot/>");
  expect_named ("vm2", "vm2 ");

  /* A VM's directory gone with its last snapshot. */
  snprintf (path, sizeof path, "%s/vm1/s2.xml.new", top);
  unlink (path);
  snprintf (path, sizeof path, "%s/vm1", top);
  assert_int_equal (rmdir (path), 0);
  expect_named ("vm1", NULL);

  /* The top gone: every VM, and polling from then on. */
  snprintf (path, sizeof path, "rm -rf '%s'", top);
  assert_int_equal (system (path), 0);
  expect_named ("*", NULL);
  assert_false (snapwatch_complete (w));
  snapwatch_stop (w);
}

static void
test_cannot_watch (void **state)
{
  (void)state;
  assert_null (
      snapwatch_start ("/nonexistent/vmsnapfs/snapshot", on_change, NULL));
  assert_false (snapwatch_complete (NULL));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_dir_for),
    cmocka_unit_test (test_changes),
    cmocka_unit_test (test_cannot_watch),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
