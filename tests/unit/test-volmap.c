/* Unit tests of chain/volmap.c, compose.c and volcache.c: a volume's own
 * map read from its qcow2 tables (or a raw file's holes), exact to the
 * byte on images qemu-img and qemu-io make here; a whole disk's map
 * composed from its volumes, compared run by run with `qemu-img map` of
 * the same chain (zero clusters, discards, a backing file shorter than
 * its overlay, a raw base); hostile headers refused; each state of a
 * volume read once. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "chain.h"
#include "cleanup.h"
#include "util.h"

#define K 1024ULL
#define M (1024 * 1024ULL)

#include "scratch.h"

/* The map of DIR/NAME of FORMAT read directly, or its error. */
static int
read_vol (const char *name, const char *format, struct volmap **v)
{
  char path[256];
  int fd, r;

  snprintf (path, sizeof path, "%s/%s", dir, name);
  fd = open (path, O_RDONLY);
  assert_true (fd >= 0);
  r = volmap_read (fd, format, v);
  close (fd);
  return r;
}

struct seg
{
  uint64_t start, length;
  enum vseg_kind kind;
};

static void
assert_segs (const struct volmap *v, const struct seg *want, size_t n)
{
  if (v->n != n)
    for (size_t i = 0; i < v->n; i++)
      print_message ("seg %zu: %llu+%llu kind %d\n", i,
                     (unsigned long long)v->segs[i].start,
                     (unsigned long long)v->segs[i].length, v->segs[i].kind);
  assert_int_equal (v->n, n);
  for (size_t i = 0; i < n; i++)
    {
      assert_int_equal (v->segs[i].start, want[i].start);
      assert_int_equal (v->segs[i].length, want[i].length);
      assert_int_equal (v->segs[i].kind, want[i].kind);
    }
}

/* One qcow2 volume: data, a zero cluster, a compressed cluster,
 * unallocated, exactly where qemu-io put them. */
static void
test_qcow2_own (void **state)
{
  struct volmap *v;
  static const struct seg want[] = {
    { 0, 1 * M, VSEG_UNALLOC },
    { 1 * M, 128 * K, VSEG_DATA },
    { 1 * M + 128 * K, 64 * K, VSEG_ZERO },
    { 1 * M + 192 * K, 64 * K, VSEG_UNALLOC },
    { 1 * M + 256 * K, 64 * K, VSEG_ELSEWHERE },
    { 1 * M + 320 * K, 4 * M - 320 * K - 1 * M, VSEG_UNALLOC },
    { 4 * M, 512 * K, VSEG_DATA },
    { 4 * M + 512 * K, 3 * M + 512 * K, VSEG_UNALLOC },
  };

  (void)state;
  sh ("qemu-img create -q -f qcow2 %s/own.qcow2 8M", dir);
  sh ("qemu-io -f qcow2 -c 'write -q 1M 128k' -c 'write -q -z 1152k 64k' "
      "-c 'write -q -c 1280k 64k' -c 'write -q 4M 512k' %s/own.qcow2",
      dir);
  assert_int_equal (read_vol ("own.qcow2", "qcow2", &v), 0);
  assert_int_equal (v->size, 8 * M);
  assert_null (v->backing);
  assert_segs (v, want, sizeof want / sizeof *want);
  /* The data's bytes lie where the segment says. */
  {
    char path[256], a[4096], b[4096];
    int fd;

    sh ("qemu-io -f qcow2 -c 'write -q -P 0x5a 4M 4k' %s/own.qcow2", dir);
    volmap_free (v);
    assert_int_equal (read_vol ("own.qcow2", "qcow2", &v), 0);
    snprintf (path, sizeof path, "%s/own.qcow2", dir);
    fd = open (path, O_RDONLY);
    assert_true (fd >= 0);
    assert_int_equal (pread (fd, a, sizeof a, (off_t)v->segs[6].offset),
                      (ssize_t)sizeof a);
    memset (b, 0x5a, sizeof b);
    assert_memory_equal (a, b, sizeof a);
    close (fd);
  }
  volmap_free (v);
}

/* Small clusters: several L2 tables, and a size that ends inside one. */
static void
test_qcow2_small_clusters (void **state)
{
  struct volmap *v;
  /* 4k clusters: one L2 table covers 2 MiB; the second table lies
   * between the two clusters, which are not contiguous in the file. */
  static const struct seg want[] = {
    { 0, 2 * M - 4 * K, VSEG_UNALLOC },
    { 2 * M - 4 * K, 4 * K, VSEG_DATA },
    { 2 * M, 4 * K, VSEG_DATA },
    { 2 * M + 4 * K, 5 * M + 3 * K - 2 * M - 4 * K, VSEG_UNALLOC },
  };

  (void)state;
  sh ("qemu-img create -q -f qcow2 -o cluster_size=4k %s/small.qcow2 "
      "5245952",
      dir); /* 5 MiB + 3 KiB */
  sh ("qemu-io -f qcow2 -c 'write -q 2044k 8k' %s/small.qcow2", dir);
  assert_int_equal (read_vol ("small.qcow2", "qcow2", &v), 0);
  assert_int_equal (v->size, 5 * M + 3 * K);
  assert_segs (v, want, sizeof want / sizeof *want);
  assert_int_not_equal (v->segs[1].offset + 4 * K, v->segs[2].offset);
  volmap_free (v);
}

static void
test_raw_own (void **state)
{
  struct volmap *v;
  static const struct seg want[] = {
    { 0, 1 * M, VSEG_ZERO },
    { 1 * M, 64 * K, VSEG_DATA },
    { 1 * M + 64 * K, 3 * M - 64 * K, VSEG_ZERO },
  };

  (void)state;
  sh ("truncate -s 4M %s/own.raw", dir);
  sh ("dd if=/dev/urandom of=%s/own.raw bs=64k seek=16 count=1 "
      "conv=notrunc status=none",
      dir);
  assert_int_equal (read_vol ("own.raw", "raw", &v), 0);
  assert_int_equal (v->size, 4 * M);
  assert_segs (v, want, sizeof want / sizeof *want);
  assert_int_equal (v->segs[1].offset, 1 * M);
  volmap_free (v);
}

/* Whether A and B are the same map, run by run. */
static void
assert_same_map (const struct map *a, const struct map *b)
{
  assert_int_equal (a->size, b->size);
  assert_int_equal (a->data_bytes, b->data_bytes);
  assert_int_equal (a->changed_bytes, b->changed_bytes);
  assert_int_equal (a->depths, b->depths);
  assert_int_equal (a->n, b->n);
  for (size_t i = 0; i < a->n; i++)
    {
      assert_int_equal (a->extents[i].start, b->extents[i].start);
      assert_int_equal (a->extents[i].length, b->extents[i].length);
      assert_int_equal (a->extents[i].data, b->extents[i].data);
    }
  assert_int_equal (a->nchanged, b->nchanged);
  for (size_t i = 0; i < a->nchanged; i++)
    {
      assert_int_equal (a->changed[i].start, b->changed[i].start);
      assert_int_equal (a->changed[i].length, b->changed[i].length);
      assert_int_equal (a->changed[i].data, b->changed[i].data);
    }
  assert_int_equal (a->nruns, b->nruns);
  for (size_t i = 0; i < a->nruns; i++)
    {
      assert_int_equal (a->runs[i].start, b->runs[i].start);
      assert_int_equal (a->runs[i].length, b->runs[i].length);
      assert_int_equal (a->runs[i].depth, b->runs[i].depth);
      if (a->runs[i].depth < RUN_ELSEWHERE)
        assert_int_equal (a->runs[i].offset, b->runs[i].offset);
    }
}

/* Compose the chain of DIR/TOP and compare with qemu-img map. */
static void
compare_with_qemu (const char *top, const char *format)
{
  char path[256];
  struct map *ours, *qemu;

  snprintf (path, sizeof path, "%s/%s", dir, top);
  assert_int_equal (map_compose_file (path, format, &ours), 0);
  assert_int_equal (map_probe (path, format, &qemu), 0);
  assert_same_map (ours, qemu);
  map_free (ours);
  map_free (qemu);
}

/* Compose DIR/TOP, a qcow2, over the map of the whole disk of its backing
 * file DIR/BELOW, of BELOW_FORMAT: as qemu-img gives it and as composed
 * here; both must be qemu-img's map of TOP. */
static void
compare_over (const char *top, const char *below, const char *below_format)
{
  char path[256], bpath[256];
  CLEANUP_FREE char *named = NULL;
  struct map *under[2], *ours, *qemu;
  struct volmap *v;

  snprintf (path, sizeof path, "%s/%s", dir, top);
  snprintf (bpath, sizeof bpath, "%s/%s", dir, below);
  assert_int_equal (volmap_get (path, "qcow2", &v), 0);
  named = volmap_backing_path (path, v);
  assert_non_null (named);
  assert_string_equal (named, bpath);
  assert_int_equal (map_probe (path, "qcow2", &qemu), 0);
  assert_int_equal (map_probe (bpath, below_format, &under[0]), 0);
  assert_int_equal (map_compose_file (bpath, below_format, &under[1]), 0);
  for (size_t i = 0; i < 2; i++)
    {
      assert_int_equal (map_compose_over (v, under[i], &ours), 0);
      assert_same_map (ours, qemu);
      map_free (ours);
      map_free (under[i]);
    }
  map_free (qemu);
  volmap_put (v);
}

/* Three layers: the base's data, a middle that writes zeros over some of
 * it and discards (zero clusters over a backing file), a top larger than
 * its backing files, with data of its own, zeros, and a discard of data
 * it wrote. */
static void
test_compose_chain (void **state)
{
  const char *names[] = { "cb.qcow2", "cm.qcow2", "ct.qcow2" };

  (void)state;
  sh ("qemu-img create -q -f qcow2 %s/cb.qcow2 16M", dir);
  sh ("qemu-io -f qcow2 -c 'write -q 1M 4M' -c 'write -q -z 8M 1M' "
      "-c 'write -q 12M 64k' %s/cb.qcow2",
      dir);
  sh ("qemu-img create -q -f qcow2 -b %s/cb.qcow2 -F qcow2 %s/cm.qcow2", dir,
      dir);
  sh ("qemu-io -f qcow2 -c 'write -q -z 2M 512k' -c 'discard -q 3M 1M' "
      "-c 'write -q 6M 128k' -c 'write -q -z 12M 64k' %s/cm.qcow2",
      dir);
  sh ("qemu-img create -q -f qcow2 -b cm.qcow2 -F qcow2 %s/ct.qcow2 24M", dir);
  sh ("qemu-io -f qcow2 -c 'write -q 1536k 64k' -c 'write -q 20M 1M' "
      "-c 'discard -q 20M 512k' -c 'write -q -z 4M 64k' "
      "-c 'write -q -z 17M 1M' %s/ct.qcow2",
      dir);
  for (size_t i = 0; i < 3; i++)
    compare_with_qemu (names[i], "qcow2");
  /* Named absolute, then relative. */
  compare_over ("cm.qcow2", "cb.qcow2", "qcow2");
  compare_over ("ct.qcow2", "cm.qcow2", "qcow2");
}

/* Preallocated metadata: qemu reports a data cluster over a hole of the
 * file as zeros. */
static void
test_compose_preallocated (void **state)
{
  char path[256];
  struct map *m;

  (void)state;
  sh ("qemu-img create -q -f qcow2 -o preallocation=metadata %s/pm.qcow2 "
      "8M",
      dir);
  sh ("qemu-io -f qcow2 -c 'write -q 1M 64k' -c 'write -q -z 2M 64k' "
      "%s/pm.qcow2",
      dir);
  compare_with_qemu ("pm.qcow2", "qcow2");
  snprintf (path, sizeof path, "%s/pm.qcow2", dir);
  assert_int_equal (map_compose_file (path, "qcow2", &m), 0);
  assert_int_equal (m->data_bytes, 64 * K);
  map_free (m);
}

/* A raw base with holes under a qcow2 overlay; and the raw alone. */
static void
test_compose_raw_base (void **state)
{
  (void)state;
  sh ("truncate -s 8M %s/rb.raw", dir);
  sh ("dd if=/dev/urandom of=%s/rb.raw bs=64k seek=32 count=3 "
      "conv=notrunc status=none",
      dir);
  sh ("qemu-img create -q -f qcow2 -b %s/rb.raw -F raw %s/rt.qcow2", dir, dir);
  sh ("qemu-io -f qcow2 -c 'write -q -z 2M 64k' -c 'write -q 5M 64k' "
      "%s/rt.qcow2",
      dir);
  compare_with_qemu ("rt.qcow2", "qcow2");
  compare_with_qemu ("rb.raw", "raw");
  compare_over ("rt.qcow2", "rb.raw", "raw");
}

/* A volume's map is read once for each state of its file, however many
 * chains share it; a write makes a new state. */
static void
test_cache_once (void **state)
{
  char path[256];
  struct volmap *a, *b, *c;

  (void)state;
  sh ("qemu-img create -q -f qcow2 %s/cache.qcow2 1M", dir);
  snprintf (path, sizeof path, "%s/cache.qcow2", dir);
  assert_int_equal (volmap_get (path, "qcow2", &a), 0);
  assert_int_equal (volmap_get (path, "qcow2", &b), 0);
  assert_ptr_equal (a, b);
  assert_int_equal (a->n, 1);
  sh ("touch -d '2001-01-01' %s; qemu-io -f qcow2 -c 'write -q 0 64k' %s",
      path, path);
  assert_int_equal (volmap_get (path, "qcow2", &c), 0);
  assert_ptr_not_equal (a, c);
  assert_int_equal (c->n, 2);
  assert_int_equal (c->segs[0].kind, VSEG_DATA);
  volmap_put (a);
  volmap_put (b);
  volmap_put (c);
}

/* The kind of the first segment of DIR/NAME as volmap_get gives it, from
 * the store when the memory is forgotten first. */
static enum vseg_kind
first_kind (const char *name)
{
  char path[256];
  struct volmap *v;
  enum vseg_kind k;

  volcache_forget ();
  snprintf (path, sizeof path, "%s/%s", dir, name);
  assert_int_equal (volmap_get (path, "qcow2", &v), 0);
  k = v->segs[0].kind;
  volmap_put (v);
  return k;
}

/* DIR/NAME made a fresh qcow2 of 1 MiB whose first segment is KIND once
 * CMD (NULL: none) wrote it, its map kept in STORE. */
static void
kept_map (const char *store, const char *name, const char *cmd,
          enum vseg_kind kind)
{
  volstore_set_dir (store);
  sh ("qemu-img create -q -f qcow2 %s/%s 1M", dir, name);
  if (cmd)
    sh ("qemu-io -f qcow2 -c '%s' %s/%s", cmd, dir, name);
  assert_int_equal (first_kind (name), kind);
}

/* Zeros written over the first cluster of DIR/NAME in place, its time put
 * back: the state looks the same, so a kept map (data) is told from one
 * read anew (zeros). */
static void
zero_in_place (const char *name)
{
  sh ("cd %s && touch -r %s ref && "
      "qemu-io -f qcow2 -c 'write -q -z 0 64k' %s && touch -r ref %s",
      dir, name, name, name);
}

/* The size of FILE, or -1. */
static long long
size_of (const char *file)
{
  struct stat st;

  return stat (file, &st) == 0 ? (long long)st.st_size : -1;
}

/* The store STORE closed and opened again, as by a restart: then the
 * first segment of DIR/NAME is KIND, and the log LOG is LEN bytes. */
static void
after_restart (const char *store, const char *name, enum vseg_kind kind,
               const char *log, long long len)
{
  volstore_set_dir (NULL);
  volstore_set_dir (store);
  assert_int_equal (first_kind (name), kind);
  assert_int_equal (size_of (log), len);
}

/* Maps kept on disk, in one log: read again after a restart (the memory
 * forgotten) while the file's state is the same; a damaged record
 * ignored, a torn one skipped, another daemon's records found; the log
 * ignored when open to others. */
static void
test_store (void **state)
{
  char store[256], log[300], many[256], many_log[300];
  struct stat st;
  long long one;

  (void)state;
  snprintf (store, sizeof store, "%s/store", dir);
  snprintf (log, sizeof log, "%s/log", store);
  snprintf (many_log, sizeof many_log, "%s/many/log", dir);
  kept_map (store, "st.qcow2", "write -q 0 64k", VSEG_DATA);
  assert_int_equal (stat (store, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0700);
  assert_int_equal (stat (log, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0600);
  one = size_of (log);
  assert_true (one > 0);
  sh ("cp -p %s %s/kept", log, dir);

  /* Read back, in this life and the next. */
  zero_in_place ("st.qcow2");
  assert_int_equal (first_kind ("st.qcow2"), VSEG_DATA);
  volstore_set_dir (NULL);
  volstore_set_dir (store);
  assert_int_equal (first_kind ("st.qcow2"), VSEG_DATA);
  assert_int_equal (size_of (log), one); /* read, not written again */

  /* Damaged: ignored, the volume read again (zeros), and kept anew. */
  sh ("printf x | dd of=%s bs=1 seek=120 conv=notrunc status=none", log);
  assert_int_equal (first_kind ("st.qcow2"), VSEG_ZERO);
  assert_int_equal (size_of (log), 2 * one);
  volstore_set_dir (NULL);
  volstore_set_dir (store);
  assert_int_equal (first_kind ("st.qcow2"), VSEG_ZERO);

  /* Torn: a record cut short (a daemon killed in its write), then whole
   * ones; those after it are found by their magic. */
  volstore_set_dir (NULL);
  sh ("head -c 50 %s/kept > %s && cat %s/kept >> %s", dir, log, dir, log);
  volstore_set_dir (store);
  assert_int_equal (first_kind ("st.qcow2"), VSEG_DATA);

  /* Torn after its header, a whole record after it, the length the
   * torn one gives running past the log's end: the whole one is found,
   * and the log written anew keeps it. */
  volstore_set_dir (NULL);
  snprintf (many, sizeof many, "%s/many", dir);
  sh ("qemu-img create -q -f qcow2 %s/many.qcow2 1M && qemu-io -f qcow2 "
      "-c 'write -q 0 64k' -c 'write -q 128k 64k' -c 'write -q 256k 64k' "
      "-c 'write -q 384k 64k' -c 'write -q 512k 64k' %s/many.qcow2",
      dir, dir);
  volstore_set_dir (many);
  assert_int_equal (first_kind ("many.qcow2"), VSEG_DATA);
  volstore_set_dir (NULL);
  assert_true (size_of (many_log) > 2 * one);
  sh ("head -c 120 %s > %s && cat %s/kept >> %s", many_log, log, dir, log);
  volstore_set_dir (store);
  assert_int_equal (first_kind ("st.qcow2"), VSEG_DATA);
  after_restart (store, "st.qcow2", VSEG_DATA, log, one);

  /* Written anew by another daemon while this one had it open: this one
   * reads the new log. */
  volstore_set_dir (NULL);
  sh ("rm %s", log);
  volstore_set_dir (store);
  sh ("cp -p %s/kept %s/new && mv %s/new %s", dir, store, store, log);
  assert_int_equal (first_kind ("st.qcow2"), VSEG_DATA);

  /* Not written anew while another daemon has it open (it would append
   * to the old one): three records of one volume stay, then one. */
  volstore_set_dir (NULL);
  sh ("cat %s/kept %s/kept %s/kept > %s", dir, dir, dir, log);
  sh ("flock -s %s -c 'touch %s/held; sleep 3' & "
      "while [ ! -e %s/held ]; do sleep 0.05; done",
      log, dir, dir);
  volstore_set_dir (store);
  assert_int_equal (size_of (log), 3 * one);
  sh ("flock -x %s true", log); /* the holder gone */
  volstore_set_dir (NULL);
  volstore_set_dir (store);
  assert_int_equal (size_of (log), one);

  /* Another daemon's record, appended after this one read the log. */
  volstore_set_dir (NULL);
  sh ("rm %s", log);
  volstore_set_dir (store);
  sh ("cat %s/kept >> %s", dir, log);
  assert_int_equal (first_kind ("st.qcow2"), VSEG_DATA);

  /* Open to others: ignored, given up. */
  sh ("chmod 0644 %s", log);
  assert_int_equal (first_kind ("st.qcow2"), VSEG_ZERO);
  sh ("chmod 0600 %s", log);
  volstore_set_dir (store);
  assert_int_equal (first_kind ("st.qcow2"), VSEG_DATA);
  /* The same file in another state: not its map. */
  sh ("qemu-io -f qcow2 -c 'write -q 64k 64k' %s/st.qcow2", dir);
  assert_int_equal (first_kind ("st.qcow2"), VSEG_ZERO);
  volstore_set_dir (NULL);
  volcache_forget ();
}

/* The log's first record (FNV-1a checked, its time at byte 64) made as if
 * written DAYS ago. */
static void
age_first_record (const char *log, int days)
{
  unsigned char buf[4096];
  uint64_t when = (uint64_t)(time (NULL) - days * 24 * 3600), h;
  int fd = open (log, O_RDWR);
  ssize_t len;
  size_t rlen, n;

  assert_true (fd >= 0);
  len = pread (fd, buf, sizeof buf, 0);
  assert_true (len > 104);
  n = 0;
  for (int i = 7; i >= 0; i--)
    n = n << 8 | buf[80 + i];
  rlen
      = 104 + 32 * n + (buf[88] | buf[89] << 8) + (buf[96] | buf[97] << 8) + 8;
  assert_true (rlen <= (size_t)len);
  for (int i = 0; i < 8; i++)
    buf[64 + i] = (unsigned char)(when >> (8 * i));
  h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < rlen - 8; i++)
    h = (h ^ buf[i]) * 0x100000001b3ULL;
  for (int i = 0; i < 8; i++)
    buf[rlen - 8 + i] = (unsigned char)(h >> (8 * i));
  assert_int_equal (pwrite (fd, buf, rlen, 0), (ssize_t)rlen);
  close (fd);
}

/* A daemon that starts writes the log anew without the records of maps
 * unread for over 30 days and those of volumes written again since; a
 * record read is written again, so kept.  The files of older versions (a
 * file a volume), and a half-written log over an hour old, are removed;
 * a newer one, and files of other names, stay. */
static void
test_store_prune (void **state)
{
  char store[256], log[300];
  long long one;

  (void)state;
  snprintf (store, sizeof store, "%s/prune", dir);
  snprintf (log, sizeof log, "%s/log", store);
  kept_map (store, "pr.qcow2", "write -q 0 64k", VSEG_DATA);
  one = size_of (log);
  volstore_set_dir (NULL);

  /* Unread for 40 days: left out; the volume read anew. */
  age_first_record (log, 40);
  sh ("cd %s && touch 00000000000000aa-00000000000000bb notamap && "
      "touch -d '-40 days' 00000000000000aa-00000000000000cc.1.2 "
      "log.tmp.1 && touch -d '-10 minutes' log.tmp.2 && chmod 0600 *",
      store);
  volstore_set_dir (store);
  assert_int_equal (size_of (log), 0);
  sh ("cd %s && test ! -e 00000000000000aa-00000000000000bb && "
      "test ! -e 00000000000000aa-00000000000000cc.1.2 && "
      "test ! -e log.tmp.1 && test -e log.tmp.2 && test -e notamap",
      store);
  zero_in_place ("pr.qcow2");
  assert_int_equal (first_kind ("pr.qcow2"), VSEG_ZERO);
  assert_int_equal (size_of (log), one);

  /* Unread for 20 days, then read: written again, so both stay until
   * the next start, which keeps the newer. */
  volstore_set_dir (NULL);
  age_first_record (log, 20);
  volstore_set_dir (store);
  assert_int_equal (size_of (log), one);
  assert_int_equal (first_kind ("pr.qcow2"), VSEG_ZERO);
  assert_int_equal (size_of (log), 2 * one);
  volstore_set_dir (NULL);
  volstore_set_dir (store);
  assert_int_equal (size_of (log), one);
  sh ("qemu-io -f qcow2 -c 'write -q 0 64k' %s/pr.qcow2", dir);
  assert_int_equal (first_kind ("pr.qcow2"), VSEG_DATA);
  after_restart (store, "pr.qcow2", VSEG_DATA, log, one);
  volstore_set_dir (NULL);
  volcache_forget ();
}

/* A chain from its headers is qemu-img info's, field by field: relative
 * backing names, a raw base, one image alone. */
static void
test_chain_headers (void **state)
{
  char top[256];
  struct chain *ours, *qemu;
  char *json;
  size_t len;

  (void)state;
  sh ("truncate -s 8M %s/hb.raw", dir);
  sh ("cd %s && qemu-img create -q -f qcow2 -b hb.raw -F raw hm.qcow2 && "
      "qemu-img create -q -f qcow2 -b hm.qcow2 -F qcow2 ht.qcow2 16M && "
      "qemu-io -f qcow2 -c 'write -q 0 1M' ht.qcow2",
      dir);
  snprintf (top, sizeof top, "%s/ht.qcow2", dir);
  for (int whole = 0; whole < 2; whole++)
    {
      const char *argv[] = { "qemu-img",
                             "info",
                             "--output=json",
                             "-U",
                             "-f",
                             "qcow2",
                             top,
                             whole ? "--backing-chain" : NULL,
                             NULL };

      assert_int_equal (chain_read_headers (top, "qcow2", whole, &ours), 0);
      assert_int_equal (
          run_capture (argv, CHAIN_MAX_JSON, 60000, &json, &len, NULL), 0);
      assert_int_equal (whole ? chain_parse (json, len, &qemu)
                              : chain_parse_image (json, len, &qemu),
                        0);
      free (json);
      assert_int_equal (ours->n, whole ? 3 : 1);
      assert_int_equal (ours->n, qemu->n);
      for (size_t i = 0; i < ours->n; i++)
        {
          const struct chain_image *a = &ours->images[i],
                                   *b = &qemu->images[i];

          assert_string_equal (a->filename, b->filename);
          assert_string_equal (a->format, b->format);
          assert_int_equal (a->virtual_size, b->virtual_size);
          assert_int_equal (a->actual_size, b->actual_size);
          assert_true ((a->backing == NULL) == (b->backing == NULL));
          if (a->backing)
            {
              assert_string_equal (a->backing, b->backing);
              assert_string_equal (a->backing_format, b->backing_format);
            }
          assert_int_equal (a->own_data, b->own_data);
        }
      chain_free (ours);
      chain_free (qemu);
    }
}

/* Write LEN bytes of BYTES at OFF of DIR/NAME. */
static void
poke (const char *name, off_t off, const void *bytes, size_t len)
{
  char path[256];
  int fd;

  snprintf (path, sizeof path, "%s/%s", dir, name);
  fd = open (path, O_WRONLY);
  assert_true (fd >= 0);
  assert_int_equal (pwrite (fd, bytes, len, off), (ssize_t)len);
  close (fd);
}

static uint64_t
get_be64 (const char *name, off_t off)
{
  char path[256];
  unsigned char b[8];
  uint64_t v = 0;
  int fd;

  snprintf (path, sizeof path, "%s/%s", dir, name);
  fd = open (path, O_RDONLY);
  assert_true (fd >= 0);
  assert_int_equal (pread (fd, b, 8, off), 8);
  close (fd);
  for (int i = 0; i < 8; i++)
    v = v << 8 | b[i];
  return v;
}

static void
put_be64 (const char *name, off_t off, uint64_t v)
{
  unsigned char b[8];

  for (int i = 7; i >= 0; i--, v >>= 8)
    b[i] = (unsigned char)v;
  poke (name, off, b, 8);
}

/* Hostile or unusual images: refused (-EINVAL), or left to qemu
 * (-ENOTSUP); never a wrong map. */
static void
test_refusals (void **state)
{
  struct volmap *v;
  uint64_t l1;

  (void)state;
  /* Not a qcow2 at all. */
  sh ("head -c 65536 /dev/urandom > %s/junk", dir);
  assert_int_equal (read_vol ("junk", "qcow2", &v), -EINVAL);
  sh ("head -c 20 %s/own.qcow2 > %s/short.qcow2", dir, dir);
  assert_int_equal (read_vol ("short.qcow2", "qcow2", &v), -EINVAL);
  assert_int_equal (read_vol ("junk", "vmdk", &v), -ENOTSUP);

  /* An L1 table past the end of the file; misaligned; an L2 table past
   * the end; an L2 table misaligned. */
  sh ("qemu-img create -q -f qcow2 %s/h.qcow2 4M", dir);
  sh ("qemu-io -f qcow2 -c 'write -q 0 64k' %s/h.qcow2", dir);
  l1 = get_be64 ("h.qcow2", 40);
  sh ("cp %s/h.qcow2 %s/h1.qcow2", dir, dir);
  put_be64 ("h1.qcow2", 40, 1ULL << 40);
  assert_int_equal (read_vol ("h1.qcow2", "qcow2", &v), -EINVAL);
  sh ("cp %s/h.qcow2 %s/h2.qcow2", dir, dir);
  put_be64 ("h2.qcow2", 40, l1 + 8);
  assert_int_equal (read_vol ("h2.qcow2", "qcow2", &v), -EINVAL);
  sh ("cp %s/h.qcow2 %s/h3.qcow2", dir, dir);
  put_be64 ("h3.qcow2", (off_t)l1, (1ULL << 63) | (1ULL << 40));
  assert_int_equal (read_vol ("h3.qcow2", "qcow2", &v), -EINVAL);
  sh ("cp %s/h.qcow2 %s/h4.qcow2", dir, dir);
  put_be64 ("h4.qcow2", (off_t)l1, (1ULL << 63) | (64 * K + 512));
  assert_int_equal (read_vol ("h4.qcow2", "qcow2", &v), -EINVAL);
  /* A data cluster past the end of the file, and one misaligned. */
  {
    uint64_t l2 = get_be64 ("h.qcow2", (off_t)l1) & 0x00fffffffffffe00ULL;

    sh ("cp %s/h.qcow2 %s/h5.qcow2", dir, dir);
    put_be64 ("h5.qcow2", (off_t)l2, (1ULL << 63) | (1ULL << 40));
    /* Left to qemu; or, where qemu takes the image for preallocated
     * metadata (this small file has holes), zeros as qemu says. */
    if (read_vol ("h5.qcow2", "qcow2", &v) == 0)
      {
        assert_int_equal (v->segs[0].kind, VSEG_ZERO);
        volmap_free (v);
        compare_with_qemu ("h5.qcow2", "qcow2");
      }
    sh ("cp %s/h.qcow2 %s/h6.qcow2", dir, dir);
    put_be64 ("h6.qcow2", (off_t)l2, (1ULL << 63) | (64 * K + 512));
    assert_int_equal (read_vol ("h6.qcow2", "qcow2", &v), -EINVAL);
  }
  /* An L1 table too small for the size; a cluster size out of range. */
  sh ("cp %s/h.qcow2 %s/h7.qcow2", dir, dir);
  put_be64 ("h7.qcow2", 24, 1ULL << 40);
  assert_int_equal (read_vol ("h7.qcow2", "qcow2", &v), -EINVAL);
  sh ("cp %s/h.qcow2 %s/h8.qcow2", dir, dir);
  poke ("h8.qcow2", 20, "\0\0\0\x30", 4);
  assert_int_equal (read_vol ("h8.qcow2", "qcow2", &v), -EINVAL);
  /* A dirty image: its refcounts are not to be trusted. */
  sh ("cp %s/h.qcow2 %s/h9.qcow2", dir, dir);
  put_be64 ("h9.qcow2", 72, 1);
  assert_int_equal (read_vol ("h9.qcow2", "qcow2", &v), -ENOTSUP);

  /* What qemu must read: extended L2, a data file, encryption, a backing
   * file of no recorded format. */
  sh ("qemu-img create -q -f qcow2 -o extended_l2=on %s/x.qcow2 1M", dir);
  assert_int_equal (read_vol ("x.qcow2", "qcow2", &v), -ENOTSUP);
  sh ("qemu-img create -q -f qcow2 -o data_file=%s/d.raw %s/d.qcow2 1M", dir,
      dir);
  assert_int_equal (read_vol ("d.qcow2", "qcow2", &v), -ENOTSUP);
  sh_tries (40,
            "qemu-img create -q -f qcow2 --object secret,id=s,data=x "
            "-o encrypt.format=luks,encrypt.key-secret=s %s/e.qcow2 1M "
            "2>/dev/null",
            dir);
  assert_int_equal (read_vol ("e.qcow2", "qcow2", &v), -ENOTSUP);
  sh ("qemu-img create -q -f qcow2 -b h.qcow2 -F qcow2 %s/nf.qcow2", dir);
  {
    static const unsigned char ext[] = { 0xe2, 0x79, 0x2a, 0xca };
    char path[256], head[4096], *at;
    struct map *m;
    int fd;

    /* The backing format's extension made one qemu ignores. */
    snprintf (path, sizeof path, "%s/nf.qcow2", dir);
    fd = open (path, O_RDONLY);
    assert_int_equal (pread (fd, head, sizeof head, 0), sizeof head);
    close (fd);
    at = memmem (head, sizeof head, ext, sizeof ext);
    assert_non_null (at);
    poke ("nf.qcow2", at - head, "\x12\x34\x56\x78", 4);
    assert_int_equal (map_compose_file (path, "qcow2", &m), -ENOTSUP);
  }
}

/* Random bytes over a real image's header and tables: an error or a map,
 * never a crash or a read out of bounds (run under ASan). */
static void
test_garbage (void **state)
{
  struct volmap *v;
  unsigned seed = 42;

  (void)state;
  sh ("qemu-img create -q -f qcow2 %s/g.qcow2 4M", dir);
  sh ("qemu-io -f qcow2 -c 'write -q 0 64k' -c 'write -q -z 1M 64k' "
      "-c 'write -q -c 2M 64k' %s/g.qcow2",
      dir);
  for (int i = 0; i < 300; i++)
    {
      unsigned char b = (unsigned char)rand_r (&seed);
      off_t off = rand_r (&seed) % (4 * 65536);

      sh ("cp %s/g.qcow2 %s/gx.qcow2", dir, dir);
      poke ("gx.qcow2", off, &b, 1);
      if (read_vol ("gx.qcow2", "qcow2", &v) == 0)
        {
          uint64_t at = 0;

          for (size_t j = 0; j < v->n; j++)
            {
              assert_int_equal (v->segs[j].start, at);
              at += v->segs[j].length;
            }
          assert_int_equal (at, v->size);
          volmap_free (v);
        }
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_qcow2_own),
    cmocka_unit_test (test_qcow2_small_clusters),
    cmocka_unit_test (test_raw_own),
    cmocka_unit_test (test_compose_chain),
    cmocka_unit_test (test_compose_raw_base),
    cmocka_unit_test (test_compose_preallocated),
    cmocka_unit_test (test_cache_once),
    cmocka_unit_test (test_store),
    cmocka_unit_test (test_store_prune),
    cmocka_unit_test (test_chain_headers),
    cmocka_unit_test (test_refusals),
    cmocka_unit_test (test_garbage),
  };

  return cmocka_run_group_tests (tests, setup_dir, remove_dir);
}
