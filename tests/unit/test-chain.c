/* Unit tests of chain/: the parser on tables of good and hostile JSON, and
 * the probe on real chains built here with qemu-img. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "chain.h"
#include "util.h"

#define IMG(file, size, backing)                                              \
  "{\"filename\":\"" file                                                     \
  "\",\"format\":\"qcow2\",\"virtual-size\":" size backing "}"
#define BACKED(b)                                                             \
  ",\"full-backing-filename\":\"" b "\",\"backing-filename-format\":"         \
  "\"qcow2\""

struct parse_case
{
  const char *what;
  const char *json;
  int expect; /* 0 or -errno */
  size_t n;   /* images, when 0 expected */
};

static const struct parse_case cases[] = {
  { "one image", "[" IMG ("/a", "1048576", "") "]", 0, 1 },
  { "three images",
    "[" IMG ("/c", "1048576", BACKED ("/b")) "," IMG (
        "/b", "1048576", BACKED ("/a")) "," IMG ("/a", "1048576", "") "]\n",
    0, 3 },
  { "empty input", "", -EINVAL, 0 },
  { "truncated", "[" IMG ("/a", "1048576", ""), -EINVAL, 0 },
  { "truncated mid-string", "[{\"filename\":\"/a", -EINVAL, 0 },
  { "garbage", "\x01\x02not json at all\xff", -EINVAL, 0 },
  { "trailing garbage", "[" IMG ("/a", "1", "") "] x", -EINVAL, 0 },
  { "an object, not an array", IMG ("/a", "1", ""), -EINVAL, 0 },
  { "an empty array", "[]", -EINVAL, 0 },
  { "an element that is a number", "[42]", -EINVAL, 0 },
  { "no filename", "[{\"format\":\"qcow2\",\"virtual-size\":1}]", -EINVAL, 0 },
  { "no format", "[{\"filename\":\"/a\",\"virtual-size\":1}]", -EINVAL, 0 },
  { "no size", "[{\"filename\":\"/a\",\"format\":\"raw\"}]", -EINVAL, 0 },
  { "empty filename", "[" IMG ("", "1", "") "]", -EINVAL, 0 },
  { "NUL in filename", "[" IMG ("/a\\u0000/etc/passwd", "1", "") "]", -EINVAL,
    0 },
  { "filename is a number",
    "[{\"filename\":7,\"format\":\"raw\",\"virtual-size\":1}]", -EINVAL, 0 },
  { "size is a string", "[" IMG ("/a", "\"1\"", "") "]", -EINVAL, 0 },
  { "size is a float", "[" IMG ("/a", "1.5", "") "]", -EINVAL, 0 },
  { "negative size", "[" IMG ("/a", "-1", "") "]", -EOVERFLOW, 0 },
  { "size above INT64_MAX", "[" IMG ("/a", "18446744073709551615", "") "]",
    -EOVERFLOW, 0 },
  { "size far beyond 64 bits",
    "[" IMG ("/a", "99999999999999999999999", "") "]", -EOVERFLOW, 0 },
  { "size at INT64_MAX", "[" IMG ("/a", "9223372036854775807", "") "]", 0, 1 },
  { "a loop",
    "[" IMG ("/b", "1", BACKED ("/a")) "," IMG (
        "/a", "1", BACKED ("/b")) "," IMG ("/b", "1", "") "]",
    -ELOOP, 0 },
  { "an image backed by itself",
    "[" IMG ("/a", "1", BACKED ("/a")) "," IMG ("/a", "1", "") "]", -ELOOP,
    0 },
  { "a missing backing file", "[" IMG ("/b", "1", BACKED ("/a")) "]", -ENOENT,
    0 },
  { "a backing file that is not the next image",
    "[" IMG ("/c", "1", BACKED ("/b")) "," IMG ("/a", "1", "") "]", -EINVAL,
    0 },
  { "images below the base",
    "[" IMG ("/b", "1", "") "," IMG ("/a", "1", "") "]", -EINVAL, 0 },
  { "a backing format that differs",
    "[{\"filename\":\"/b\",\"format\":\"qcow2\",\"virtual-size\":1,"
    "\"full-backing-filename\":\"/"
    "a\",\"backing-filename-format\":\"raw\"}," IMG ("/a", "1", "") "]",
    -EINVAL, 0 },
  { "a backing file of no recorded format: qemu probed it",
    "[{\"filename\":\"/b\",\"format\":\"qcow2\",\"virtual-size\":1,"
    "\"full-backing-filename\":\"/a\"}," IMG ("/a", "1", "") "]",
    -EINVAL, 0 },
  { "deep nesting",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
    "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    -EINVAL, 0 },
};

static void
test_parse_table (void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      struct chain *c = (struct chain *)0x1;
      int r = chain_parse (cases[i].json, strlen (cases[i].json), &c);

      if (r != cases[i].expect)
        fail_msg ("%s: expected %d, got %d", cases[i].what, cases[i].expect,
                  r);
      if (r == 0)
        {
          assert_non_null (c);
          assert_int_equal (c->n, cases[i].n);
        }
      else
        assert_null (c);
      chain_free (c);
    }
}

static void
test_parse_fields (void **state)
{
  const char *json
      = "[{\"filename\":\"/t\",\"format\":\"qcow2\",\"virtual-size\":"
        "1073741824,\"actual-size\":200704,\"backing-filename\":\"b.raw\","
        "\"full-backing-filename\":\"/d/b.raw\","
        "\"backing-filename-format\":\"raw\"},"
        "{\"filename\":\"/d/b.raw\",\"format\":\"raw\",\"virtual-size\":"
        "1073741824}]";
  struct chain *c;

  (void)state;
  assert_int_equal (chain_parse (json, strlen (json), &c), 0);
  assert_string_equal (c->images[0].filename, "/t");
  assert_string_equal (c->images[0].backing, "/d/b.raw");
  assert_string_equal (c->images[0].backing_format, "raw");
  assert_int_equal (c->images[0].virtual_size, 1073741824);
  assert_int_equal (c->images[0].actual_size, 200704);
  assert_string_equal (c->images[1].format, "raw");
  assert_null (c->images[1].backing);
  chain_free (c);
}

/* A tail is the chain of an image below the top: a copy, fields and all,
 * that outlives the chain it came from. */
static void
test_tail (void **state)
{
  const char *json
      = "[{\"filename\":\"/d/s2\",\"format\":\"qcow2\",\"virtual-size\":16,"
        "\"full-backing-filename\":\"/d/s1\","
        "\"backing-filename-format\":\"qcow2\"},"
        "{\"filename\":\"/d/s1\",\"format\":\"qcow2\",\"virtual-size\":16,"
        "\"actual-size\":4096,\"full-backing-filename\":\"/d/b\","
        "\"backing-filename-format\":\"raw\"},"
        "{\"filename\":\"/d/b\",\"format\":\"raw\",\"virtual-size\":16}]";
  struct chain *c, *whole, *t;

  (void)state;
  assert_int_equal (chain_parse (json, strlen (json), &c), 0);
  whole = chain_tail (c, 0);
  t = chain_tail (c, 1);
  chain_free (c);
  assert_int_equal (whole->n, 3);
  assert_string_equal (whole->images[0].filename, "/d/s2");
  assert_int_equal (t->n, 2);
  assert_string_equal (t->images[0].filename, "/d/s1");
  assert_string_equal (t->images[0].backing, "/d/b");
  assert_string_equal (t->images[0].backing_format, "raw");
  assert_int_equal (t->images[0].actual_size, 4096);
  assert_string_equal (t->images[1].filename, "/d/b");
  assert_null (t->images[1].backing);
  chain_free (whole);
  chain_free (t);
}

static void
test_parse_image (void **state)
{
  static const struct parse_case images[] = {
    { "one image", IMG ("/b", "1048576", BACKED ("/a")), 0, 1 },
    { "an array", "[" IMG ("/b", "1", "") "]", -EINVAL, 0 },
    { "truncated", "{\"filename\":\"/b\",\"format\":", -EINVAL, 0 },
    { "negative size", IMG ("/b", "-4", ""), -EOVERFLOW, 0 },
    { "NUL in the backing name",
      "{\"filename\":\"/b\",\"format\":\"qcow2\",\"virtual-size\":1,"
      "\"full-backing-filename\":\"/a\\u0000x\"}",
      -EINVAL, 0 },
  };
  struct chain *c;

  (void)state;
  for (size_t i = 0; i < sizeof images / sizeof images[0]; i++)
    {
      int r = chain_parse_image (images[i].json, strlen (images[i].json), &c);
      if (r != images[i].expect)
        fail_msg ("%s: expected %d, got %d", images[i].what, images[i].expect,
                  r);
      if (r == 0)
        {
          assert_string_equal (c->images[0].backing, "/a");
          chain_free (c);
        }
    }
}

static void
test_parse_too_deep (void **state)
{
  struct strbuf b = { 0 };
  struct chain *c;
  char *json;
  size_t len;

  (void)state;
  strbuf_printf (&b, "[");
  for (int i = CHAIN_MAX_DEPTH; i >= 0; i--)
    {
      strbuf_printf (&b,
                     "%s{\"filename\":\"/%d\",\"format\":\"qcow2\","
                     "\"virtual-size\":1",
                     i == CHAIN_MAX_DEPTH ? "" : ",", i);
      if (i > 0)
        strbuf_printf (&b, ",\"full-backing-filename\":\"/%d\"", i - 1);
      strbuf_printf (&b, "}");
    }
  strbuf_printf (&b, "]");
  json = strbuf_steal (&b, &len);
  assert_int_equal (chain_parse (json, len, &c), -ELOOP);
  free (json);
}

/* --- maps --------------------------------------------------------------- */

#define EXT(s, l, z) "{\"start\":" #s ",\"length\":" #l ",\"zero\":" #z "}"

static const struct
{
  const char *what;
  const char *json;
  int r;
} map_cases[] = {
  { "empty array", "[]", -EINVAL },
  { "not an array", "{}", -EINVAL },
  { "truncated", "[" EXT (0, 10, true), -EINVAL },
  { "a gap", "[" EXT (0, 10, true) "," EXT (11, 10, false) "]", -EINVAL },
  { "an overlap", "[" EXT (0, 10, true) "," EXT (5, 10, false) "]", -EINVAL },
  { "not from 0", "[" EXT (1, 10, true) "]", -EINVAL },
  { "zero length", "[" EXT (0, 0, true) "]", -EINVAL },
  { "negative", "[" EXT (0, -1, true) "]", -EOVERFLOW },
  { "past 2^63",
    "[" EXT (0, 9223372036854775807, true) "," EXT (9223372036854775807, 1,
                                                    true) "]",
    -EOVERFLOW },
  { "zero not a boolean", "[{\"start\":0,\"length\":1,\"zero\":1}]", -EINVAL },
  { "no start", "[{\"length\":1,\"zero\":true}]", -EINVAL },
  { "an extent not an object", "[1]", -EINVAL },
  { "fine", "[" EXT (0, 10, true) "," EXT (10, 5, false) "]", 0 },
  { "an offset and no depth",
    "[{\"start\":0,\"length\":1,\"zero\":false,\"offset\":0}]", -EINVAL },
  { "a depth past the deepest chain",
    "[{\"start\":0,\"length\":1,\"zero\":false,\"offset\":0,"
    "\"depth\":256}]",
    -EINVAL },
  { "a negative offset",
    "[{\"start\":0,\"length\":1,\"zero\":false,\"offset\":-1,"
    "\"depth\":0}]",
    -EOVERFLOW },
  { "an offset near 2^63",
    "[{\"start\":0,\"length\":2,\"zero\":false,"
    "\"offset\":9223372036854775807,\"depth\":0}]",
    -EOVERFLOW },
  { "an offset not a number",
    "[{\"start\":0,\"length\":1,\"zero\":false,\"offset\":\"0\","
    "\"depth\":0}]",
    -EINVAL },
};

static void
test_map_table (void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof map_cases / sizeof map_cases[0]; i++)
    {
      struct map *m = (struct map *)0x1;
      int r = map_parse (map_cases[i].json, strlen (map_cases[i].json), &m);

      if (r != map_cases[i].r)
        fail_msg ("%s: expected %d, got %d", map_cases[i].what, map_cases[i].r,
                  r);
      if (r < 0)
        assert_null (m);
      map_free (r == 0 ? m : NULL);
    }
}

static void
test_map_seek (void **state)
{
  /* hole [0,10) data [10,15) data [15,20) hole [20,30) data [30,40) */
  const char *json = "[" EXT (0, 10, true) "," EXT (10, 5, false) "," EXT (
      15, 5, false) "," EXT (20, 10, true) "," EXT (30, 10, false) "]";
  struct map *m;

  (void)state;
  assert_int_equal (map_parse (json, strlen (json), &m), 0);
  assert_int_equal (m->n, 4); /* neighbours of one kind joined */
  assert_int_equal (m->size, 40);
  assert_int_equal (m->data_bytes, 20);
  assert_int_equal (map_seek (m, 0, true), 10);
  assert_int_equal (map_seek (m, 0, false), 0);
  assert_int_equal (map_seek (m, 12, true), 12);
  assert_int_equal (map_seek (m, 12, false), 20);
  assert_int_equal (map_seek (m, 25, true), 30);
  assert_int_equal (map_seek (m, 35, false), 40); /* the end is a hole */
  assert_int_equal (map_seek (m, 39, true), 39);
  assert_int_equal (map_seek (m, 40, true), -ENXIO);
  assert_int_equal (map_seek (m, 40, false), -ENXIO);
  map_free (m);
}

#define RUN(s, l, d, o)                                                       \
  "{\"start\":" #s ",\"length\":" #l ",\"zero\":false,\"depth\":" #d          \
  ",\"offset\":" #o "}"
#define COMPRESSED(s, l) "{\"start\":" #s ",\"length\":" #l ",\"zero\":false}"

static void
test_map_runs (void **state)
{
  /* zeros [0,10); depth 0 at 100 [10,15) and at 105 [15,20), which
   * continue each other; depth 0 at 300 [20,25), which does not; depth 1
   * at 0 [25,30); no offset [30,35) and [35,40); zeros [40,50). */
  const char *json
      = "[" EXT (0, 10, true) "," RUN (10, 5, 0, 100) "," RUN (15, 5, 0, 105) "," RUN (
          20, 5, 0,
          300) "," RUN (25, 5, 1,
                        0) "," COMPRESSED (30,
                                           5) "," COMPRESSED (35,
                                                              5) "," EXT (40,
                                                                          10,
                                                                          true) "]";
  const struct run *r;
  struct map *m;

  (void)state;
  assert_int_equal (map_parse (json, strlen (json), &m), 0);
  assert_int_equal (m->nruns, 6);
  assert_int_equal (m->depths, 2);
  assert_int_equal (m->runs[0].depth, RUN_ZERO);
  assert_int_equal (m->runs[1].start, 10);
  assert_int_equal (m->runs[1].length, 10);
  assert_int_equal (m->runs[1].offset, 100);
  assert_int_equal (m->runs[2].offset, 300);
  assert_int_equal (m->runs[3].depth, 1);
  assert_int_equal (m->runs[4].depth, RUN_ELSEWHERE);
  assert_int_equal (m->runs[4].length, 10);
  assert_int_equal (m->runs[5].depth, RUN_ZERO);
  /* The holes and data stay as they were. */
  assert_int_equal (m->n, 3);
  assert_int_equal (m->data_bytes, 30);

  assert_int_equal (map_runs (m, 12, 10, &r), 2); /* [12,22) */
  assert_ptr_equal (r, &m->runs[1]);
  assert_int_equal (map_runs (m, 0, 1, &r), 1);
  assert_ptr_equal (r, &m->runs[0]);
  assert_int_equal (map_runs (m, 0, 50, &r), 6);
  assert_int_equal (map_runs (m, 49, 1, &r), 1);
  assert_ptr_equal (r, &m->runs[5]);

  /* A copy is the same map, in memory of its own. */
  struct map *d = map_dup (m);
  assert_int_equal (d->n, m->n);
  assert_int_equal (d->nruns, m->nruns);
  assert_int_equal (d->size, m->size);
  assert_int_equal (d->data_bytes, m->data_bytes);
  assert_int_equal (d->depths, m->depths);
  assert_ptr_not_equal (d->runs, m->runs);
  assert_memory_equal (d->runs, m->runs, m->nruns * sizeof *m->runs);
  assert_memory_equal (d->extents, m->extents, m->n * sizeof *m->extents);
  map_free (m);
  assert_int_equal (map_seek (d, 12, false), 40);
  map_free (d);
}

/* --- real chains -------------------------------------------------------- */

#include "scratch.h"

static void
test_probe_real_chain (void **state)
{
  char top[256];
  struct chain *c;

  (void)state;
  sh ("qemu-img create -q -f raw %s/base.raw 16M", dir);
  sh ("qemu-img create -q -f qcow2 -b %s/base.raw -F raw %s/mid.qcow2", dir,
      dir);
  sh ("qemu-img create -q -f qcow2 -b %s/mid.qcow2 -F qcow2 %s/top.qcow2 32M",
      dir, dir);
  snprintf (top, sizeof top, "%s/top.qcow2", dir);

  assert_int_equal (chain_probe (top, "qcow2", true, &c), 0);
  assert_int_equal (c->n, 3);
  assert_string_equal (c->images[0].filename, top);
  assert_int_equal (c->images[0].virtual_size, 32 * 1024 * 1024);
  assert_string_equal (c->images[1].format, "qcow2");
  assert_string_equal (c->images[2].format, "raw");
  assert_int_equal (c->images[2].virtual_size, 16 * 1024 * 1024);
  assert_null (c->images[2].backing);
  chain_free (c);

  /* Only the top image: its backing file named, not followed. */
  assert_int_equal (chain_probe (top, "qcow2", false, &c), 0);
  assert_int_equal (c->n, 1);
  assert_int_equal (c->images[0].virtual_size, 32 * 1024 * 1024);
  assert_non_null (strstr (c->images[0].backing, "/mid.qcow2"));
  assert_string_equal (c->images[0].backing_format, "qcow2");
  chain_free (c);

  /* The format is given, never probed: reading a qcow2 as raw gives a
   * one-image chain of raw bytes. */
  assert_int_equal (chain_probe (top, "raw", true, &c), 0);
  assert_int_equal (c->n, 1);
  assert_string_equal (c->images[0].format, "raw");
  chain_free (c);
}

static void
test_map_real_chain (void **state)
{
  char top[256];
  struct map *m;

  (void)state;
  /* 1 MiB of data at 1 MiB in the base, 1 MiB at 8 MiB in the top. */
  sh ("qemu-img create -q -f qcow2 %s/mb.qcow2 16M", dir);
  sh ("qemu-io -f qcow2 -c 'write -q 1M 1M' %s/mb.qcow2", dir);
  sh ("qemu-img create -q -f qcow2 -b %s/mb.qcow2 -F qcow2 %s/mt.qcow2", dir,
      dir);
  sh ("qemu-io -f qcow2 -c 'write -q 8M 1M' %s/mt.qcow2", dir);
  snprintf (top, sizeof top, "%s/mt.qcow2", dir);
  assert_int_equal (map_probe (top, "qcow2", &m), 0);
  assert_int_equal (m->size, 16 * 1024 * 1024);
  assert_int_equal (m->data_bytes, 2 * 1024 * 1024);
  assert_int_equal (map_seek (m, 0, true), 1024 * 1024);
  assert_int_equal (map_seek (m, 1024 * 1024, false), 2 * 1024 * 1024);
  assert_int_equal (map_seek (m, 2 * 1024 * 1024, true), 8 * 1024 * 1024);
  /* Where the bytes are: the base's at depth 1, the top's at depth 0. */
  assert_int_equal (m->depths, 2);
  for (size_t i = 0; i < m->nruns; i++)
    {
      const struct run *r = &m->runs[i];

      if (r->start == 1024 * 1024)
        assert_int_equal (r->depth, 1);
      else if (r->start == 8 * 1024 * 1024)
        assert_int_equal (r->depth, 0);
      else
        assert_int_equal (r->depth, RUN_ZERO);
    }
  map_free (m);

  /* A compressed cluster has no offset: only qemu reads it. */
  sh ("qemu-img create -q -f qcow2 %s/mc.qcow2 1M", dir);
  sh ("qemu-io -f qcow2 -c 'write -q -c 64k 64k' %s/mc.qcow2", dir);
  snprintf (top, sizeof top, "%s/mc.qcow2", dir);
  assert_int_equal (map_probe (top, "qcow2", &m), 0);
  assert_int_equal (m->nruns, 3);
  assert_int_equal (m->runs[1].start, 64 * 1024);
  assert_int_equal (m->runs[1].depth, RUN_ELSEWHERE);
  map_free (m);
}

/* What changed in the top image, as qemu maps it: data it wrote, and
 * zeros it wrote over the base's data; not what only the base holds. */
static void
test_map_changes (void **state)
{
  const uint64_t mb = 1024 * 1024;
  char top[256];
  struct map *m, *c;

  (void)state;
  /* Base: data at [1M,3M).  Top: data at [8M,9M), zeros written at
   * [2M,3M) over the base's data, zeros written at [12M,13M). */
  sh ("qemu-img create -q -f qcow2 %s/cb.qcow2 16M", dir);
  sh ("qemu-io -f qcow2 -c 'write -q 1M 2M' %s/cb.qcow2", dir);
  sh ("qemu-img create -q -f qcow2 -b %s/cb.qcow2 -F qcow2 %s/ct.qcow2", dir,
      dir);
  sh ("qemu-io -f qcow2 -c 'write -q 8M 1M' -c 'write -q -z 2M 1M' "
      "-c 'write -q -z 12M 1M' %s/ct.qcow2",
      dir);
  snprintf (top, sizeof top, "%s/ct.qcow2", dir);
  assert_int_equal (map_probe (top, "qcow2", &m), 0);
  assert_int_equal (m->changed_bytes, 3 * mb);
  c = map_changes (m);
  assert_int_equal (c->size, 16 * mb);
  assert_int_equal (c->data_bytes, 3 * mb);
  assert_int_equal (map_seek (c, 0, true), 2 * mb);
  assert_int_equal (map_seek (c, 2 * mb, false), 3 * mb);
  assert_int_equal (map_seek (c, 3 * mb, true), 8 * mb);
  assert_int_equal (map_seek (c, 8 * mb, false), 9 * mb);
  assert_int_equal (map_seek (c, 9 * mb, true), 12 * mb);
  assert_int_equal (map_seek (c, 12 * mb, false), 13 * mb);
  assert_int_equal (map_seek (c, 13 * mb, true), -ENXIO);
  /* The disk's own holes and data are as before: [1M,2M) and [8M,9M). */
  assert_int_equal (m->data_bytes, 2 * mb);
  map_free (c);
  map_free (m);
}

/* Which images keep plain bytes in their own files. */
static void
test_probe_own_data (void **state)
{
  const struct
  {
    const char *name, *format, *create;
    bool own;
  } images[] = {
    { "plain.qcow2", "qcow2", "-f qcow2", true },
    { "plain.raw", "raw", "-f raw", true },
    { "datafile.qcow2", "qcow2", "-f qcow2 -o data_file=%s/datafile.raw",
      false },
    { "luks.qcow2", "qcow2",
      "--object secret,id=s0,data=vmsnapfs -f qcow2 "
      "-o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10",
      false },
    { "vmdk.vmdk", "vmdk", "-f vmdk", false },
  };

  (void)state;
  for (size_t i = 0; i < sizeof images / sizeof images[0]; i++)
    {
      char create[512], path[256];
      struct chain *c;

      snprintf (create, sizeof create, images[i].create, dir);
      snprintf (path, sizeof path, "%s/%s", dir, images[i].name);
      sh_tries (40, "qemu-img create -q %s %s 1M 2>/dev/null", create, path);
      assert_int_equal (chain_probe (path, images[i].format, true, &c), 0);
      if (c->images[0].own_data != images[i].own)
        fail_msg ("%s: own_data %d", images[i].name, c->images[0].own_data);
      chain_free (c);
    }
}

static void
test_probe_refusals (void **state)
{
  char path[256];
  struct chain *c;

  (void)state;
  assert_int_equal (chain_probe ("relative.qcow2", "qcow2", true, &c),
                    -EINVAL);
  assert_int_equal (chain_probe ("/x.qcow2", NULL, true, &c), -EINVAL);
  assert_int_equal (chain_probe ("/x.qcow2", "-U", false, &c), -EINVAL);
  snprintf (path, sizeof path, "%s/no-such-file.qcow2", dir);
  assert_int_equal (chain_probe (path, "qcow2", true, &c), -EIO);
  assert_null (c);

  /* A chain whose base was deleted. */
  sh ("qemu-img create -q -f qcow2 %s/gone.qcow2 1M", dir);
  sh ("qemu-img create -q -f qcow2 -b %s/gone.qcow2 -F qcow2 %s/orphan.qcow2",
      dir, dir);
  sh ("rm %s/gone.qcow2", dir);
  snprintf (path, sizeof path, "%s/orphan.qcow2", dir);
  assert_int_not_equal (chain_probe (path, "qcow2", true, &c), 0);
  assert_null (c);

  /* A loop made by hand: a's backing file is b, b's is a. */
  sh ("qemu-img create -q -f qcow2 %s/a.qcow2 1M", dir);
  sh ("qemu-img create -q -f qcow2 -b %s/a.qcow2 -F qcow2 %s/b.qcow2", dir,
      dir);
  sh ("qemu-img rebase -q -u -f qcow2 -b %s/b.qcow2 -F qcow2 %s/a.qcow2", dir,
      dir);
  snprintf (path, sizeof path, "%s/a.qcow2", dir);
  assert_int_not_equal (chain_probe (path, "qcow2", true, &c), 0);
  assert_null (c);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_parse_table),
    cmocka_unit_test (test_parse_fields),
    cmocka_unit_test (test_tail),
    cmocka_unit_test (test_parse_image),
    cmocka_unit_test (test_parse_too_deep),
    cmocka_unit_test (test_map_table),
    cmocka_unit_test (test_map_seek),
    cmocka_unit_test (test_probe_real_chain),
    cmocka_unit_test (test_map_runs),
    cmocka_unit_test (test_map_real_chain),
    cmocka_unit_test (test_map_changes),
    cmocka_unit_test (test_probe_own_data),
    cmocka_unit_test (test_probe_refusals),
  };
  return cmocka_run_group_tests_name ("chain", tests, setup_dir, remove_dir);
}
