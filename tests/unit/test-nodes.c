/* Unit tests of fs/nodes.c and the model: paths resolved against a view
 * built here by hand, with no FUSE and no libvirt. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "access.h"
#include "fs.h"
#include "host.h"
#include "statcache.h"
#include "util.h"

static char volume[] = "/tmp/vmsnapfs-test-nodes.XXXXXX";
static const struct caller as_root = { 0, 0, 0, { 0 } };

static struct vs_snapshot *
make_snapshot (const char *uuid, const char *name, const char *parent,
               bool memory, const char *xml)
{
  struct vs_snapshot *s = xcalloc (1, sizeof *s);

  s->refs = 1;
  s->name = xstrdup (name);
  s->parent = xstrdup_null (parent);
  s->created = 1795456087;
  s->vm_state = "running";
  s->status = "ok";
  if (memory)
    s->memory_file = xstrdup (volume);
  s->ndisks = 1;
  s->disks = xcalloc (1, sizeof *s->disks);
  s->disks[0].target = xstrdup ("vda");
  s->disks[0].file = xstrdup ("vda.qcow2");
  s->disks[0].volume = xstrdup (volume);
  s->disks[0].format = xstrdup ("qcow2");
  s->disks[0].virtual_size = 67108864;
  s->disks[0].nchain = 1;
  s->disks[0].chain = xcalloc (1, sizeof *s->disks[0].chain);
  s->disks[0].chain[0] = xstrdup (volume);
  s->domain_xml = xstrdup ("<domain/>\n");
  s->domain_xml_len = strlen (s->domain_xml);
  s->ino = hash_strings (uuid, name, xml, NULL);
  snapshot_render (s);
  return s;
}

static struct vs_host *
make_host (const char *name)
{
  struct vs_host *h = xcalloc (1, sizeof *h);
  struct vs_vm *vm = xcalloc (1, sizeof *vm);

  vm->refs = 1;
  vm->name = xstrdup ("web");
  strcpy (vm->uuid, "b0e34f9b-95c3-434a-8cbc-8acec0e82fca");
  vm->state = "running";
  vm->snapshot_mode = xstrdup ("memory");
  vm->current = xstrdup ("s2");
  vm->nsnaps = 2;
  vm->snaps = xcalloc (2, sizeof *vm->snaps);
  vm->snaps[0] = make_snapshot (vm->uuid, "s1", NULL, true, "<x1/>");
  vm->snaps[1] = make_snapshot (vm->uuid, "s2", "s1", false, "<x2/>");
  vm->ino = hash_strings (name, vm->uuid, NULL);
  h->refs = 1;
  h->name = name;
  h->ino = hash_strings ("host", name, NULL);
  h->status = xstrdup ("uri: test:///\nstate: connected\n");
  h->status_len = strlen (h->status);
  h->reachable = true;
  h->nvms = 1;
  h->vms = xcalloc (1, sizeof *h->vms);
  h->vms[0] = vm;
  return h;
}

/* N hosts, "h1".."hN", each with VM "web": the same VM on each. */
static struct vs_fleet *
make_fleet (size_t n)
{
  static const char *const names[] = { "h1", "h2", "h3" };
  struct vs_fleet *f = xmalloc (sizeof *f + n * sizeof f->hosts[0]);

  f->nhosts = n;
  for (size_t i = 0; i < n; i++)
    f->hosts[i] = make_host (names[i]);
  return f;
}

static void
free_fleet (struct vs_fleet *f)
{
  for (size_t i = 0; i < f->nhosts; i++)
    host_unref (f->hosts[i]);
  free (f);
}

static int
setup (void **state)
{
  int fd = mkstemp (volume);

  if (fd < 0 || write (fd, "frozen bytes", 12) != 12 || fchmod (fd, 0644) < 0)
    return -1;
  close (fd);
  *state = make_fleet (1);
  return 0;
}

static int
teardown (void **state)
{
  free_fleet (*state);
  unlink (volume);
  return 0;
}

struct path_case
{
  const char *path;
  int expect;
  mode_t type; /* S_IFDIR, S_IFREG, S_IFLNK */
  mode_t perm;
};

static const struct path_case paths[] = {
  { "/", 0, S_IFDIR, 0755 },
  { "/web", 0, S_IFDIR, 0755 },
  { "//web//", 0, S_IFDIR, 0755 },
  { "/web/state", 0, S_IFREG, 0644 },
  { "/web/snapshot-mode", 0, S_IFREG, 0644 },
  { "/web/active", 0, S_IFLNK, 0777 },
  { "/web/jobs", 0, S_IFREG, 0444 },
  { "/web/jobs.json", 0, S_IFREG, 0444 },
  { "/web/progress", 0, S_IFREG, 0444 },
  { "/web/snapshots", 0, S_IFDIR, 0755 },
  { "/web/snapshots/s1", 0, S_IFDIR, 0555 },
  { "/web/snapshots/s1/info", 0, S_IFREG, 0444 },
  { "/web/snapshots/s1/info.json", 0, S_IFREG, 0444 },
  { "/web/snapshots/s1/domain.xml", 0, S_IFREG, 0444 },
  { "/web/snapshots/s1/memory", 0, S_IFREG, 0400 },
  { "/web/snapshots/s1/vda.qcow2", 0, S_IFREG, 0444 },
  { "/web/snapshots/s2/memory", -ENOENT, 0, 0 }, /* taken without memory */
  { "/web/snapshots/s1/vda.img", 0, S_IFREG, 0444 },
  { "/web/snapshots/s1/vda.delta.img", 0, S_IFREG, 0444 },
  { "/web/snapshots/s1/vda.delta.json", 0, S_IFREG, 0444 },
  { "/web/snapshots/s1/vdz.delta.img", -ENOENT, 0, 0 },
  { "/web/snapshots/s1/vdb.img", -ENOENT, 0, 0 },
  { "/web/snapshots/s1/vdb.qcow2", -ENOENT, 0, 0 },
  { "/web/snapshots/s3", -ENOENT, 0, 0 },
  { "/web/preview", -ENOENT, 0, 0 },
  { "/web/resume", -ENOENT, 0, 0 },
  { "/db", -ENOENT, 0, 0 },
  { "/web/state/x", -ENOTDIR, 0, 0 },
  { "/web/snapshots/s1/info/x", -ENOTDIR, 0, 0 },
  { "/web/snapshots/s1/x/y", -ENOENT, 0, 0 },
  { "/web/..", -ENOENT, 0, 0 },
  { "/web/snapshots/..", -ENOENT, 0, 0 },
};

static void
test_resolve_table (void **state)
{
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
    {
      struct node n;
      struct stat st;
      int r = node_resolve (*state, paths[i].path, &n);

      if (r != paths[i].expect)
        fail_msg ("%s: expected %d, got %d", paths[i].path, paths[i].expect,
                  r);
      if (r < 0)
        continue;
      assert_int_equal (node_getattr (&n, NULL, &st), 0);
      if ((st.st_mode & S_IFMT) != paths[i].type
          || (st.st_mode & 07777) != paths[i].perm)
        fail_msg ("%s: mode %o", paths[i].path, st.st_mode);
      assert_true (st.st_ino != 0);
    }
}

static void
test_long_name (void **state)
{
  char path[600];
  struct node n;

  memset (path, 'a', sizeof path - 1);
  path[0] = '/';
  path[sizeof path - 1] = '\0';
  assert_int_equal (node_resolve (*state, path, &n), -ENOENT);
}

static int
collect (void *ctx, const char *name, const struct stat *st)
{
  char *list = ctx;

  (void)st;
  strcat (list, name);
  strcat (list, " ");
  return 0;
}

static void
test_readdir (void **state)
{
  const struct
  {
    const char *path, *names;
  } dirs[] = {
    { "/", "web " },
    { "/web", "state snapshot-mode active jobs jobs.json snapshots " },
    { "/web/snapshots", "s1 s2 " },
    { "/web/snapshots/s1", "info info.json domain.xml memory vda.qcow2 "
                           "vda.img vda.delta.img vda.delta.json " },
    { "/web/snapshots/s2", "info info.json domain.xml vda.qcow2 vda.img "
                           "vda.delta.img vda.delta.json " },
  };

  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    {
      char list[512] = "";
      struct node n;

      assert_int_equal (node_resolve (*state, dirs[i].path, &n), 0);
      assert_int_equal (node_readdir (&n, collect, list), 0);
      assert_string_equal (list, dirs[i].names);
    }
}

static void
test_readlink (void **state)
{
  char buf[64];
  struct node n;

  assert_int_equal (node_resolve (*state, "/web/active", &n), 0);
  assert_int_equal (node_readlink (&n, buf, sizeof buf), 0);
  assert_string_equal (buf, "snapshots/s2");
  /* A short buffer is truncated, as readlink(2) does. */
  assert_int_equal (node_readlink (&n, buf, 5), 0);
  assert_string_equal (buf, "snap");
  assert_int_equal (node_resolve (*state, "/web/state", &n), 0);
  assert_int_equal (node_readlink (&n, buf, sizeof buf), -EINVAL);
}

static void
test_open_read_only (void **state)
{
  static const int write_flags[] = { O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC };
  struct handle *h;
  struct node n;
  enum page_cache cache;

  assert_int_equal (node_resolve (*state, "/web/snapshots/s1/vda.qcow2", &n),
                    0);
  for (size_t i = 0; i < sizeof write_flags / sizeof write_flags[0]; i++)
    assert_int_equal (node_open (&n, &as_root, write_flags[i], &h, &cache),
                      -EROFS);
  /* A node not opened before: whatever the kernel kept of it goes. */
  assert_int_equal (node_open (&n, &as_root, O_RDONLY, &h, &cache), 0);
  assert_true (h->fd >= 0);
  assert_int_equal (cache, PAGE_CACHE_DROP);
  handle_close (h);
  assert_int_equal (node_open (&n, &as_root, O_RDONLY, &h, &cache), 0);
  assert_int_equal (cache, PAGE_CACHE_KEEP);
  handle_close (h);

  assert_int_equal (node_resolve (*state, "/web/snapshots", &n), 0);
  assert_int_equal (node_open (&n, &as_root, O_RDONLY, &h, &cache), -EISDIR);

  assert_int_equal (node_resolve (*state, "/web/state", &n), 0);
  assert_int_equal (node_open (&n, &as_root, O_RDONLY, &h, &cache), 0);
  assert_int_equal (cache, PAGE_CACHE_NONE);
  assert_int_equal (h->len, strlen ("running\n"));
  assert_memory_equal (h->data, "running\n", h->len);
  handle_close (h);
}

/* A name that comes to stand for another host file (a merge's base, of the
 * same size) has the kernel drop the pages of the old one, once. */
static void
test_open_other_file (void **state)
{
  char other[sizeof volume + 8];
  enum page_cache cache;
  struct handle *h;
  struct node n;
  int fd;

  assert_int_equal (node_resolve (*state, "/web/snapshots/s2/vda.qcow2", &n),
                    0);
  assert_int_equal (node_open (&n, &as_root, O_RDONLY, &h, &cache), 0);
  handle_close (h);
  assert_int_equal (node_open (&n, &as_root, O_RDONLY, &h, &cache), 0);
  assert_int_equal (cache, PAGE_CACHE_KEEP);
  handle_close (h);

  snprintf (other, sizeof other, "%s.other", volume);
  fd = open (other, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, "merged bytes", 12), 12);
  close (fd);
  assert_int_equal (rename (other, volume), 0);

  assert_int_equal (node_open (&n, &as_root, O_RDONLY, &h, &cache), 0);
  assert_int_equal (cache, PAGE_CACHE_DROP);
  handle_close (h);
  assert_int_equal (node_open (&n, &as_root, O_RDONLY, &h, &cache), 0);
  assert_int_equal (cache, PAGE_CACHE_KEEP);
  handle_close (h);
}

static void
test_info (void **state)
{
  struct handle *h;
  struct node n;
  struct stat st;
  enum page_cache cache;

  assert_int_equal (node_resolve (*state, "/web/snapshots/s2/info", &n), 0);
  assert_int_equal (node_getattr (&n, NULL, &st), 0);
  assert_int_equal (node_open (&n, &as_root, O_RDONLY, &h, &cache), 0);
  assert_int_equal ((size_t)st.st_size, h->len);
  assert_non_null (strstr (h->data, "name: s2\n"));
  assert_non_null (strstr (h->data, "parent: s1\n"));
  assert_non_null (strstr (h->data, "created: 2026-11-23T17:48:07Z\n"));
  assert_non_null (strstr (h->data, "memory: no\n"));
  assert_non_null (strstr (h->data, "status: ok\n"));
  assert_non_null (strstr (h->data, "disk.vda.virtual_size: 67108864\n"));
  handle_close (h);

  assert_int_equal (node_resolve (*state, "/web/snapshots/s1/info.json", &n),
                    0);
  assert_int_equal (node_open (&n, &as_root, O_RDONLY, &h, &cache), 0);
  assert_non_null (strstr (h->data, "\"memory\":\"yes\""));
  assert_non_null (strstr (h->data, "\"parent\":\"\""));
  assert_non_null (strstr (h->data, "\"virtual_size\":67108864"));
  handle_close (h);
}

/* Commands are one word, with or without a newline: anything else is
 * EINVAL before any operation runs; files that take none give EROFS. */
static void
test_write_parsing (void **state)
{
  static const char *const bad[] = { "",
                                     "\n",
                                     "start\nstop",
                                     "st\0art",
                                     "start\n\n",
                                     "a-command-longer-than-sixty-three-"
                                     "bytes-is-no-command-at-all-really" };
  struct node n;

  assert_int_equal (node_resolve (*state, "/web/state", &n), 0);
  assert_true (node_writable (&n));
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      size_t len = i == 3 ? 6 : strlen (bad[i]);
      if (node_write (&n, bad[i], len) != -EINVAL)
        fail_msg ("command %zu was not refused", i);
    }
  assert_int_equal (node_resolve (*state, "/web/snapshots/s1/info", &n), 0);
  assert_false (node_writable (&n));
  assert_int_equal (node_write (&n, "x", 1), -EROFS);
}

/* mkdir makes snapshots in VM/snapshots and nothing anywhere else. */
static void
test_mkdir_places (void **state)
{
  static const char *const nowhere[] = { "/", "/web", "/web/snapshots/s1" };
  struct node n;

  for (size_t i = 0; i < sizeof nowhere / sizeof nowhere[0]; i++)
    {
      assert_int_equal (node_resolve (*state, nowhere[i], &n), 0);
      assert_int_equal (node_mkdir (&n, "x"), -EPERM);
    }
  assert_int_equal (node_resolve (*state, "/web/state", &n), 0);
  assert_int_equal (node_mkdir (&n, "x"), -ENOTDIR);
  assert_int_equal (node_resolve (*state, "/web/snapshots", &n), 0);
  assert_int_equal (node_mkdir (&n, "s1"), -EEXIST);
}

/* Renames: read-only under snapshots/, across VMs EXDEV, and within a VM
 * only a temporary link over preview or active. */
static void
test_rename_refusals (void **state)
{
  struct node snap, snaps, vm, root;

  assert_int_equal (node_resolve (*state, "/web/snapshots/s1", &snap), 0);
  assert_int_equal (node_resolve (*state, "/web/snapshots", &snaps), 0);
  assert_int_equal (node_resolve (*state, "/web", &vm), 0);
  assert_int_equal (node_resolve (*state, "/", &root), 0);
  assert_int_equal (node_rename (&snap, "info", &snap, "x"), -EINVAL);
  assert_int_equal (node_rename (&snaps, "s1", &vm, "s1"), -EINVAL);
  assert_int_equal (node_rename (&vm, "state", &snaps, "x"), -EINVAL);
  assert_int_equal (node_rename (&vm, "state", &vm, "x"), -EINVAL);
  assert_int_equal (node_rename (&vm, "nope", &vm, "active"), -EINVAL);
  assert_int_equal (node_rename (&root, "web", &root, "db"), -EINVAL);
  assert_int_equal (node_rename (&snap, "info", &root, "x"), -EXDEV);
}

static void
test_snapshot_names (void **state)
{
  static const struct
  {
    const char *name;
    int expect;
  } names[] = {
    { "nightly", 0 },
    { "a", 0 },
    { "Nightly-3_2026.11.23+x:y@z", 0 },
    { "x.", 0 },
    { "", -EINVAL },
    { ".hidden", -EINVAL },
    { ".", -EINVAL },
    { "..", -EINVAL },
    { "a/b", -EINVAL },
    { "tab\t", -EINVAL },
    { "new\nline", -EINVAL },
    { "caf\xc3", -EINVAL },
    { "bad\xff", -EINVAL },
    /* What people and file managers type. */
    { "New Folder", 0 },
    { "star*", 0 },
    { "quote'", 0 },
    { "amp&lt;", 0 },
    { "caf\xc3\xa9", 0 },
    { "\xe5\xbf\xab\xe7\x85\xa7", 0 },
  };
  char name[200];

  (void)state;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (snapshot_name_check (names[i].name) != names[i].expect)
      fail_msg ("'%s': expected %d", names[i].name, names[i].expect);
  memset (name, 'n', sizeof name);
  name[SNAPSHOT_NAME_MAX] = '\0';
  assert_int_equal (snapshot_name_check (name), 0);
  name[SNAPSHOT_NAME_MAX] = 'n';
  name[SNAPSHOT_NAME_MAX + 1] = '\0';
  assert_int_equal (snapshot_name_check (name), -ENAMETOOLONG);
  name[SNAPSHOT_NAME_MAX + 1] = '.';
  name[sizeof name - 1] = '\0';
  name[0] = '.';
  assert_int_equal (snapshot_name_check (name), -ENAMETOOLONG);
}

/* Inode numbers depend on what a node shows, not on the view: a view
 * rebuilt from the same libvirt state gives the same numbers. */
static void
test_stable_inodes (void **state)
{
  struct vs_fleet *again = make_fleet (1);
  const char *p[]
      = { "/web", "/web/state", "/web/snapshots/s1",
          "/web/snapshots/s1/vda.qcow2", "/web/snapshots/s1/info" };
  uint64_t seen[5];

  for (size_t i = 0; i < 5; i++)
    {
      struct node a, b;
      struct stat sa, sb;

      assert_int_equal (node_resolve (*state, p[i], &a), 0);
      assert_int_equal (node_resolve (again, p[i], &b), 0);
      node_getattr (&a, NULL, &sa);
      node_getattr (&b, NULL, &sb);
      assert_int_equal (sa.st_ino, sb.st_ino);
      assert_int_equal (sa.st_mtime, sb.st_mtime);
      seen[i] = sa.st_ino;
      for (size_t j = 0; j < i; j++)
        assert_int_not_equal (seen[i], seen[j]);
    }
  free_fleet (again);
}

/* A rename within one VM whose two directories were resolved in two views
 * (a refresh between them) is no rename across VMs: the VM is the same
 * UUID, whatever its record. */
static void
test_rename_across_views (void **state)
{
  struct vs_fleet *other = make_fleet (1);
  struct node a, b;

  assert_int_equal (node_resolve (*state, "/web/snapshots", &a), 0);
  assert_int_equal (node_resolve (other, "/web/snapshots", &b), 0);
  assert_ptr_not_equal (a.vm, b.vm);
  /* A bad new name: refused before any libvirt call, and not as EXDEV. */
  assert_int_equal (node_rename (&a, "s1", &b, ".bad"), -EINVAL);
  free_fleet (other);
}

/* With several hosts the top lists them, each directory holds its host's
 * VMs and a status file, the same VM on two hosts is two directories, and
 * nothing is renamed from one host to another. */
static void
test_several_hosts (void **state)
{
  struct vs_fleet *f = make_fleet (2);
  static const struct path_case cases[] = {
    { "/", 0, S_IFDIR, 0555 },
    { "/h1", 0, S_IFDIR, 0755 },
    { "/h2/status", 0, S_IFREG, 0444 },
    { "/h2/web/snapshots/s1/info", 0, S_IFREG, 0444 },
    { "/web", -ENOENT, 0, 0 },
    { "/h3", -ENOENT, 0, 0 },
    { "/h1/status/x", -ENOTDIR, 0, 0 },
  };
  struct node a, b;
  struct stat sa, sb;
  char names[64] = "";
  struct handle *h;
  enum page_cache cache;

  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      struct node n;
      struct stat st;
      int r = node_resolve (f, cases[i].path, &n);

      assert_int_equal (r, cases[i].expect);
      if (r < 0)
        continue;
      assert_int_equal (node_getattr (&n, NULL, &st), 0);
      assert_int_equal (st.st_mode & S_IFMT, cases[i].type);
      assert_int_equal (st.st_mode & 07777, cases[i].perm);
    }
  assert_int_equal (node_resolve (f, "/", &a), 0);
  assert_int_equal (node_readdir (&a, collect, names), 0);
  assert_string_equal (names, "h1 h2 ");
  names[0] = '\0';
  assert_int_equal (node_resolve (f, "/h1", &a), 0);
  assert_int_equal (node_readdir (&a, collect, names), 0);
  assert_string_equal (names, "status web ");

  assert_int_equal (node_resolve (f, "/h1/status", &a), 0);
  assert_int_equal (node_open (&a, &as_root, O_RDONLY, &h, &cache), 0);
  assert_int_equal (h->len, strlen ("uri: test:///\nstate: connected\n"));
  assert_memory_equal (h->data, "uri: test:///\nstate: connected\n", h->len);
  handle_close (h);

  assert_int_equal (node_resolve (f, "/h1/web", &a), 0);
  assert_int_equal (node_resolve (f, "/h2/web", &b), 0);
  node_getattr (&a, NULL, &sa);
  node_getattr (&b, NULL, &sb);
  assert_int_not_equal (sa.st_ino, sb.st_ino);
  assert_int_equal (node_resolve (f, "/h1/web/snapshots", &a), 0);
  assert_int_equal (node_resolve (f, "/h2/web/snapshots", &b), 0);
  assert_int_equal (node_rename (&a, "s1", &b, "s9"), -EXDEV);

  /* One host alone: no status file, the VMs at the top. */
  assert_int_equal (node_resolve (*state, "/status", &a), -ENOENT);
  free_fleet (f);
}

/* An open recorded and released at once (backing.c): whether NODE stood
 * for the file of ST at its last open. */
static bool
open_and_close (uint64_t node, const struct stat *st)
{
  bool same;

  assert_int_equal (backing_note_open (node, -1, st, &same, NULL), 0);
  backing_end (node, false);
  return same;
}

/* The table of which file each node stood for stays bounded: nodes with
 * no open are forgotten, and a forgotten node is never taken for the same
 * file. */
static void
test_backing_forgets (void **state)
{
  struct stat st;

  (void)state;
  assert_int_equal (stat (volume, &st), 0);
  assert_false (open_and_close (12345, &st));
  assert_true (open_and_close (12345, &st));
  for (uint64_t i = 0; i < 3 * 4096; i++)
    open_and_close (1000000 + i, &st);
  assert_false (open_and_close (12345, &st));
}

/* While an open of a node reads one file, an open of the node standing for
 * another is refused (after EXPORT_RELEASE_WAIT_MS), and the node shows
 * the size of the file its open reads; once that open is released, the
 * other opens, its pages dropped. */
static void
test_backing_old_opens (void **state)
{
  struct stat st, merged, shown;
  bool same;

  (void)state;
  assert_int_equal (stat (volume, &st), 0);
  merged = st;
  merged.st_ino++; /* another host file, of another size */
  merged.st_size += 65536;
  assert_int_equal (backing_note_open (777, -1, &st, &same, NULL), 0);
  assert_int_equal (backing_note_open (777, -1, &st, &same, NULL), 0);
  assert_true (same);
  shown = merged;
  assert_true (backing_stale (777, &shown));
  assert_int_equal (shown.st_size, st.st_size);
  shown = st;
  assert_false (backing_stale (777, &shown));
  assert_int_equal (backing_note_open (777, -1, &merged, &same, NULL),
                    -EBUSY);
  backing_end (777, false);
  assert_int_equal (backing_note_open (777, -1, &merged, &same, NULL),
                    -EBUSY);
  backing_end (777, false);
  shown = merged;
  assert_false (backing_stale (777, &shown));
  assert_int_equal (shown.st_size, merged.st_size);
  assert_int_equal (backing_note_open (777, -1, &merged, &same, NULL), 0);
  assert_false (same);
  backing_end (777, false);
}

/* --- who may do what (access.h) ---------------------------------------- */

/* The mode, owner and group PATH shows to root. */
static void
attrs_of (void **state, const char *path, struct stat *st)
{
  struct node n;

  assert_int_equal (node_resolve (*state, path, &n), 0);
  assert_int_equal (node_getattr (&n, NULL, st), 0);
}

struct perm_case
{
  mode_t host;         /* the volume's mode on the host */
  const char *readers; /* -o readers=, or NULL */
  const char *operators;
  const char *path;
  mode_t perm;
  gid_t gid;
};

/* gid 0 is root's group on every host; "1" names a group that is there
 * on Debian (daemon), for the group options. */
static const struct perm_case perms[] = {
  /* No wider than the host: write bits dropped, the host's mode kept. */
  { 0644, NULL, NULL, "/web/snapshots/s1/vda.qcow2", 0444, 0 },
  { 0600, NULL, NULL, "/web/snapshots/s1/vda.qcow2", 0400, 0 },
  { 0640, NULL, NULL, "/web/snapshots/s1/vda.qcow2", 0440, 0 },
  { 0600, NULL, NULL, "/web/snapshots/s1/vda.img", 0400, 0 },
  { 0644, NULL, NULL, "/web/snapshots/s1/vda.img", 0444, 0 },
  { 0644, NULL, NULL, "/web/snapshots/s1/memory", 0400, 0 },
  /* Readers: their group reads disks and memory. */
  { 0600, "1", NULL, "/web/snapshots/s1/vda.qcow2", 0440, 1 },
  { 0600, "1", NULL, "/web/snapshots/s1/vda.img", 0440, 1 },
  { 0644, "1", NULL, "/web/snapshots/s1/memory", 0440, 1 },
  { 0644, "1", NULL, "/web/snapshots/s1/info", 0444, 0 },
  { 0644, "1", NULL, "/web/snapshots", 0755, 0 },
  /* Operators: their group writes where the verbs are. */
  { 0644, NULL, "1", "/web/snapshots", 0775, 1 },
  { 0644, NULL, "1", "/web", 0775, 1 },
  { 0644, NULL, "1", "/web/state", 0664, 1 },
  { 0644, NULL, "1", "/web/snapshot-mode", 0664, 1 },
  { 0644, NULL, "1", "/web/jobs", 0444, 0 },
  { 0644, NULL, "1", "/web/snapshots/s1", 0555, 0 },
  { 0644, NULL, "1", "/web/snapshots/s1/vda.qcow2", 0444, 0 },
};

static void
test_modes (void **state)
{
  for (size_t i = 0; i < sizeof perms / sizeof perms[0]; i++)
    {
      struct stat st;

      assert_int_equal (chmod (volume, perms[i].host), 0);
      stat_cache_clear (); /* the daemon keeps a stat 0.1 s */
      assert_int_equal (
          access_configure (perms[i].readers, perms[i].operators), 0);
      attrs_of (state, perms[i].path, &st);
      if ((st.st_mode & 07777) != perms[i].perm || st.st_gid != perms[i].gid)
        fail_msg ("%s, host mode %o, readers %s, operators %s: mode %o "
                  "group %u",
                  perms[i].path, perms[i].host,
                  perms[i].readers ? perms[i].readers : "-",
                  perms[i].operators ? perms[i].operators : "-",
                  st.st_mode & 07777, (unsigned)st.st_gid);
    }
  chmod (volume, 0644);
  stat_cache_clear ();
  access_configure (NULL, NULL);
}

/* The daemon's own check at open, whatever the kernel let through. */
static void
test_open_checks_caller (void **state)
{
  const char *disks[]
      = { "/web/snapshots/s1/vda.qcow2", "/web/snapshots/s1/memory" };
  struct caller user = { 1000, 1000, 0, { 0 } };
  struct caller reader = { 1000, 1000, 2, { 27, 1 } };
  struct handle *h;
  enum page_cache cache;
  struct node n;

  assert_int_equal (chmod (volume, 0600), 0);
  stat_cache_clear ();
  for (size_t i = 0; i < 2; i++)
    {
      assert_int_equal (node_resolve (*state, disks[i], &n), 0);
      assert_int_equal (node_open (&n, &user, O_RDONLY, &h, &cache), -EACCES);
      assert_null (h);
      assert_int_equal (node_open (&n, &reader, O_RDONLY, &h, &cache),
                        -EACCES);
      /* A supplementary group counts. */
      assert_int_equal (access_configure ("1", NULL), 0);
      assert_int_equal (node_open (&n, &reader, O_RDONLY, &h, &cache), 0);
      handle_close (h);
      assert_int_equal (node_open (&n, &user, O_RDONLY, &h, &cache), -EACCES);
      assert_int_equal (access_configure (NULL, NULL), 0);
      assert_int_equal (node_open (&n, &as_root, O_RDONLY, &h, &cache), 0);
      handle_close (h);
    }
  /* Metadata is everyone's. */
  assert_int_equal (node_resolve (*state, "/web/snapshots/s1/info", &n), 0);
  assert_int_equal (node_open (&n, &user, O_RDONLY, &h, &cache), 0);
  handle_close (h);
  chmod (volume, 0644);
  stat_cache_clear ();
}

static void
test_verbs_and_groups (void **state)
{
  struct caller user = { 1000, 1000, 0, { 0 } };
  struct caller member = { 1000, 1000, 1, { 1 } };
  struct caller primary = { 1000, 1, 0, { 0 } };

  (void)state;
  assert_int_equal (access_configure (NULL, NULL), 0);
  assert_int_equal (access_verb (&as_root), 0);
  assert_int_equal (access_verb (&user), -EACCES);
  assert_int_equal (access_verb (&member), -EACCES);
  assert_int_equal (access_configure (NULL, "1"), 0);
  assert_int_equal (access_verb (&member), 0);
  assert_int_equal (access_verb (&primary), 0);
  assert_int_equal (access_verb (&user), -EACCES);
  /* Readers are no operators. */
  assert_int_equal (access_configure ("1", NULL), 0);
  assert_int_equal (access_verb (&member), -EACCES);
  /* Groups that do not exist are refused, by name or number. */
  assert_int_equal (access_configure ("no-such-group-vmsnapfs", NULL), -1);
  assert_int_equal (access_configure (NULL, "4294967290"), -1);
  assert_int_equal (access_configure (NULL, NULL), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_resolve_table),
    cmocka_unit_test (test_long_name),
    cmocka_unit_test (test_readdir),
    cmocka_unit_test (test_readlink),
    cmocka_unit_test (test_open_read_only),
    cmocka_unit_test (test_open_other_file),
    cmocka_unit_test (test_info),
    cmocka_unit_test (test_stable_inodes),
    cmocka_unit_test (test_write_parsing),
    cmocka_unit_test (test_mkdir_places),
    cmocka_unit_test (test_snapshot_names),
    cmocka_unit_test (test_rename_refusals),
    cmocka_unit_test (test_rename_across_views),
    cmocka_unit_test (test_several_hosts),
    cmocka_unit_test (test_backing_forgets),
    cmocka_unit_test (test_backing_old_opens),
    cmocka_unit_test (test_modes),
    cmocka_unit_test (test_open_checks_caller),
    cmocka_unit_test (test_verbs_and_groups),
  };
  return cmocka_run_group_tests_name ("nodes", tests, setup, teardown);
}
