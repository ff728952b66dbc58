/* Unit tests of fs/inodes.c: the node ids the kernel holds, the paths
 * they stand for, through lookups, forgets, removals and renames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "../../fs/inodes.h"

#define ROOT 1

static void
assert_path (uint64_t id, const char *name, const char *want)
{
  char *p = inodes_path (id, name);

  if (want == NULL)
    assert_null (p);
  else
    assert_string_equal (p, want);
  free (p);
}

static void
test_paths (void **state)
{
  uint64_t vm, snaps, s1, again;

  (void)state;
  assert_path (ROOT, NULL, "/");
  assert_path (ROOT, "web", "/web");
  vm = inodes_lookup (ROOT, "web", S_IFDIR | 0755, 0);
  snaps = inodes_lookup (vm, "snapshots", S_IFDIR, 0);
  s1 = inodes_lookup (snaps, "s1", S_IFDIR, 0);
  assert_path (s1, NULL, "/web/snapshots/s1");
  assert_path (s1, "info", "/web/snapshots/s1/info");
  /* The same name, the same id, one more lookup. */
  again = inodes_lookup (snaps, "s1", S_IFDIR, 0);
  assert_int_equal (again, s1);
  assert_int_equal (inodes_count (), 3);
  inodes_forget (s1, 1);
  assert_path (s1, NULL, "/web/snapshots/s1"); /* one lookup left */
  inodes_forget (s1, 1);
  assert_int_equal (inodes_count (), 2);
  /* The parents stay while the kernel holds them. */
  assert_path (snaps, NULL, "/web/snapshots");
  inodes_forget (snaps, 1);
  inodes_forget (vm, 1);
  assert_int_equal (inodes_count (), 0);
  inodes_clear ();
}

static void
test_removed (void **state)
{
  uint64_t vm, link, dir;

  (void)state;
  vm = inodes_lookup (ROOT, "web", S_IFDIR, 0);
  link = inodes_lookup (vm, "tmp", S_IFLNK, 0);
  inodes_unhash (vm, "tmp");
  /* Its id lives on, with no path; the name is free for another. */
  assert_path (link, NULL, NULL);
  assert_int_not_equal (inodes_lookup (vm, "tmp", S_IFLNK, 0), link);
  /* A name whose file became another kind gets a new id: a clone's link
   * that is a directory now. */
  link = inodes_lookup (ROOT, "copy", S_IFLNK, 0);
  dir = inodes_lookup (ROOT, "copy", S_IFDIR, 0);
  assert_int_not_equal (dir, link);
  assert_path (link, NULL, NULL);
  assert_path (dir, NULL, "/copy");
  /* An id of no name has no path. */
  assert_path (inodes_lookup (ROOT, NULL, S_IFLNK, 0), NULL, NULL);
  inodes_clear ();
  assert_int_equal (inodes_count (), 0);
}

static void
test_rename (void **state)
{
  uint64_t vm, snaps, a, disk, b, old;

  (void)state;
  vm = inodes_lookup (ROOT, "web", S_IFDIR, 0);
  snaps = inodes_lookup (vm, "snapshots", S_IFDIR, 0);
  a = inodes_lookup (snaps, "a", S_IFDIR, 0);
  disk = inodes_lookup (a, "vda.img", S_IFREG, 0);
  old = inodes_lookup (snaps, "b", S_IFDIR, 0);
  inodes_rename (snaps, "a", snaps, "b");
  /* What was below follows; what was there is removed. */
  assert_path (disk, NULL, "/web/snapshots/b/vda.img");
  assert_path (old, NULL, NULL);
  b = inodes_lookup (snaps, "b", S_IFDIR, 0);
  assert_int_equal (b, a);
  assert_path (snaps, "a", "/web/snapshots/a");
  /* The removed one goes when forgotten; the renamed one stays. */
  inodes_forget (old, 1);
  assert_int_equal (inodes_count (), 4);
  inodes_clear ();
}

/* What the kernel holds under a VM, for telling it that the VM changed:
 * the VM's directory and all below it, of no other VM, on one host or
 * below a host's directory. */
static void
test_below (void **state)
{
  uint64_t web, db, snaps, s1, info, gone, host, hvm, *ids;
  size_t n;

  (void)state;
  web = inodes_lookup (ROOT, "web", S_IFDIR, 0);
  db = inodes_lookup (ROOT, "db", S_IFDIR, 0);
  snaps = inodes_lookup (web, "snapshots", S_IFDIR, 0);
  s1 = inodes_lookup (snaps, "s1", S_IFDIR, 0);
  info = inodes_lookup (s1, "info", S_IFREG, 0);
  gone = inodes_lookup (s1, "vda.img", S_IFREG, 0);
  inodes_unhash (s1, "vda.img"); /* removed, still held */
  inodes_lookup (db, "state", S_IFREG, 0);
  n = inodes_below (NULL, "web", UINT64_MAX, &ids);
  assert_int_equal (n, 5);
  for (uint64_t want[] = { web, snaps, s1, info, gone }, *w = want;
       w < want + 5; w++)
    {
      size_t k = 0;

      while (k < n && ids[k] != *w)
        k++;
      assert_true (k < n);
    }
  free (ids);
  assert_int_equal (inodes_below (NULL, "mail", UINT64_MAX, &ids), 0);
  assert_null (ids);
  host = inodes_lookup (ROOT, "h1", S_IFDIR, 0);
  hvm = inodes_lookup (host, "web", S_IFDIR, 0);
  inodes_lookup (hvm, "jobs", S_IFREG, 0);
  assert_int_equal (inodes_below ("h1", "web", UINT64_MAX, &ids), 2);
  free (ids);
  assert_int_equal (inodes_below ("h2", "web", UINT64_MAX, &ids), 0);
  /* A snapshot renamed into another VM: it and what is below it follow. */
  inodes_rename (snaps, "s1", db, "s1");
  assert_int_equal (inodes_below (NULL, "web", UINT64_MAX, &ids), 2);
  free (ids);
  assert_int_equal (inodes_below (NULL, "db", UINT64_MAX, &ids), 5);
  free (ids);
  /* Born later than asked for: left out (a second drop leaves out what
   * was given after the change it follows). */
  inodes_lookup (db, "late", S_IFREG, 7);
  assert_int_equal (inodes_below (NULL, "db", 7, &ids), 5);
  free (ids);
  assert_int_equal (inodes_below (NULL, "db", 8, &ids), 6);
  free (ids);
  inodes_clear ();
  assert_int_equal (inodes_count (), 0);
  assert_int_equal (inodes_below (NULL, "db", UINT64_MAX, &ids), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_paths),
    cmocka_unit_test (test_removed),
    cmocka_unit_test (test_rename),
    cmocka_unit_test (test_below),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
