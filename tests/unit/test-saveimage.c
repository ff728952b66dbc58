/* Unit tests of host/saveimage.c: a memory image copied with another
 * domain in its header, the stream after it unchanged, and a copy that its
 * caller gives up on (an import interrupted by Ctrl-C) stops between
 * chunks and leaves nothing.  Real files in a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../host/saveimage.h"

#define OLD_XML "<domain><name>old</name></domain>"
#define NEW_XML "<domain><name>new</name></domain>"
/* The stream after the header: more than one chunk of the copy. */
#define STREAM_BYTES (80u * 1024 * 1024 + 12345)

static char dir[] = "/tmp/vmsnapfs-test-saveimage.XXXXXX";
static char src[128], dst[128];
static int cancel_calls, cancel_after;

static char *
edit (const char *xml, void *arg)
{
  (void)arg;
  return strstr (xml, "<name>old</name>") ? strdup (NEW_XML) : NULL;
}

/* Gives up at its CANCEL_AFTER'th call (0: never). */
static bool
cancel (void)
{
  return cancel_after > 0 && ++cancel_calls >= cancel_after;
}

/* A version 2 image: header, the XML and an empty cookie in 4 KiB of
 * data, then STREAM_BYTES of a pattern. */
static int
setup (void **state)
{
  unsigned char head[92] = { 0 };
  uint32_t words[5] = { 2, 4096, 1, 0, sizeof OLD_XML };
  static char data[4096], chunk[1 << 16];
  int fd;

  (void)state;
  assert_non_null (mkdtemp (dir));
  snprintf (src, sizeof src, "%s/memory", dir);
  snprintf (dst, sizeof dst, "%s/copy", dir);
  memcpy (head, "LibvirtQemudSave", 16);
  memcpy (head + 16, words, sizeof words);
  memcpy (data, OLD_XML, sizeof OLD_XML);
  fd = open (src, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, head, sizeof head), (ssize_t)sizeof head);
  assert_int_equal (write (fd, data, sizeof data), (ssize_t)sizeof data);
  for (size_t i = 0; i < sizeof chunk; i++)
    chunk[i] = (char)(i * 7 + 3);
  for (size_t done = 0; done < STREAM_BYTES;)
    {
      size_t n = STREAM_BYTES - done < sizeof chunk ? STREAM_BYTES - done
                                                    : sizeof chunk;

      assert_int_equal (write (fd, chunk, n), (ssize_t)n);
      done += n;
    }
  close (fd);
  return 0;
}

static int
teardown (void **state)
{
  (void)state;
  unlink (src);
  unlink (dst);
  rmdir (dir);
  return 0;
}

/* The last N bytes of PATH, compared with those of SRC. */
static void
assert_same_tail (const char *path, size_t n)
{
  static char a[1 << 16], b[1 << 16];
  int fa = open (src, O_RDONLY), fb = open (path, O_RDONLY);
  struct stat sa, sb;

  assert_true (fa >= 0 && fb >= 0);
  assert_int_equal (fstat (fa, &sa), 0);
  assert_int_equal (fstat (fb, &sb), 0);
  for (size_t off = 0; off < n; off += sizeof a)
    {
      size_t len = n - off < sizeof a ? n - off : sizeof a;

      assert_int_equal (pread (fa, a, len, sa.st_size - (off_t)n + (off_t)off),
                        (ssize_t)len);
      assert_int_equal (pread (fb, b, len, sb.st_size - (off_t)n + (off_t)off),
                        (ssize_t)len);
      assert_memory_equal (a, b, len);
    }
  close (fa);
  close (fb);
}

static void
test_copy_whole (void **state)
{
  static char head[92 + 4096];
  int in = open (src, O_RDONLY), fd;

  (void)state;
  cancel_calls = 0;
  cancel_after = 0;
  assert_int_equal (save_image_copy_fd (in, src, dst, false, UINT64_MAX, cancel, edit,
                                        NULL),
                    0);
  close (in);
  fd = open (dst, O_RDONLY);
  assert_true (fd >= 0);
  assert_int_equal (read (fd, head, sizeof head), (ssize_t)sizeof head);
  close (fd);
  assert_non_null (memmem (head, sizeof head, NEW_XML, strlen (NEW_XML)));
  assert_null (memmem (head, sizeof head, OLD_XML, strlen (OLD_XML)));
  assert_same_tail (dst, STREAM_BYTES);
  unlink (dst);
}

static void
test_copy_cancelled (void **state)
{
  int in = open (src, O_RDONLY);
  struct stat st;

  (void)state;
  cancel_calls = 0;
  cancel_after = 2; /* after the first chunk */
  assert_int_equal (save_image_copy_fd (in, src, dst, false, UINT64_MAX, cancel, edit,
                                        NULL),
                    -ESHUTDOWN);
  close (in);
  assert_int_equal (cancel_calls, 2);
  assert_int_equal (stat (dst, &st), -1); /* nothing left */
  assert_int_equal (errno, ENOENT);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_copy_whole),
    cmocka_unit_test (test_copy_cancelled),
  };

  return cmocka_run_group_tests (tests, setup, teardown);
}
