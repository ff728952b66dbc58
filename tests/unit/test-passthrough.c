/* Unit tests of fs/passthrough.c: the bytes its hooks let through, on
 * pipes in place of /dev/fuse.  The protocol's layouts come from the
 * system's <linux/fuse.h> (Debian 12's: protocol 7.38), so that the
 * module's own copies of them are checked against it; max_stack_depth,
 * newer than that header, is its first unused word. */
#include <linux/fuse.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs.h"

#define PASSTHROUGH_FLAGS2 (1u << (37 - 32)) /* FUSE_PASSTHROUGH >> 32 */
#define FOPEN_PASSTHROUGH_FLAG (1u << 7)

static const struct fuse_custom_io *io;
static int req[2], rep[2]; /* kernel -> daemon, daemon -> kernel */

/* Let the module read request OPCODE number UNIQUE, with BODY. */
static void
request (uint32_t opcode, uint64_t unique, const void *body, size_t len)
{
  struct fuse_in_header in = { .len = (uint32_t)(sizeof in + len),
                               .opcode = opcode,
                               .unique = unique };
  char buf[4096];

  assert_int_equal (write (req[1], &in, sizeof in), sizeof in);
  if (len)
    assert_int_equal (write (req[1], body, len), (ssize_t)len);
  assert_int_equal (io->read (req[0], buf, sizeof buf, NULL),
                    (ssize_t)(sizeof in + len));
}

/* Have the module write the reply to UNIQUE of BODY; read back what it
 * wrote into BODY. */
static void
reply (uint64_t unique, void *body, size_t len)
{
  struct fuse_out_header out
      = { .len = (uint32_t)(sizeof out + len), .unique = unique };
  struct iovec iov[2] = { { &out, sizeof out }, { body, len } };
  struct fuse_out_header back;

  assert_int_equal (io->writev (rep[1], iov, 2, NULL),
                    (ssize_t)(sizeof out + len));
  assert_int_equal (read (rep[0], &back, sizeof back), sizeof back);
  assert_int_equal (back.unique, unique);
  assert_int_equal (read (rep[0], body, len), (ssize_t)len);
}

static int
setup (void **state)
{
  (void)state;
  if (pipe (req) < 0 || pipe (rep) < 0)
    return -1;
  io = passthrough_io (-1);
  return 0;
}

static int
teardown (void **state)
{
  (void)state;
  close (req[0]), close (req[1]), close (rep[0]), close (rep[1]);
  return 0;
}

/* A kernel that does not offer passthrough: the reply goes as libfuse
 * made it, and no open is passed through. */
static void
test_not_offered (void **state)
{
  struct fuse_init_in in = { .major = 7, .minor = 38, .flags = FUSE_INIT_EXT };
  struct fuse_init_out out = { .major = 7, .minor = 37, .flags = 1 };
  struct fuse_init_out made = out;

  (void)state;
  request (FUSE_INIT, 2, &in, sizeof in);
  reply (2, &out, sizeof out);
  assert_memory_equal (&out, &made, sizeof out);
  assert_false (passthrough_enabled ());
  assert_int_equal (passthrough_open (0), 0);
}

/* The offer taken, and an OPEN answered with the backing file. */
static void
test_offered (void **state)
{
  struct fuse_init_in in = { .major = 7,
                             .minor = 40,
                             .flags = FUSE_INIT_EXT,
                             .flags2 = PASSTHROUGH_FLAGS2 };
  struct fuse_init_out out = { .major = 7, .minor = 37, .max_write = 4096 };
  struct fuse_open_in open_in = { .flags = 0 };
  struct fuse_open_out open_out = { .fh = 42 };

  (void)state;
  if (geteuid () != 0)
    skip (); /* the offer is taken with CAP_SYS_ADMIN only */
  request (FUSE_INIT, 4, &in, sizeof in);
  reply (4, &out, sizeof out);
  assert_true (out.flags & FUSE_INIT_EXT);
  assert_true (out.flags2 & PASSTHROUGH_FLAGS2);
  assert_int_equal (out.unused[0], 2); /* max_stack_depth */
  assert_int_equal (out.max_write, 4096);
  assert_true (passthrough_enabled ());

  /* The OPEN this thread read, with a backing file: passed through. */
  request (FUSE_OPEN, 6, &open_in, sizeof open_in);
  passthrough_reply (9);
  reply (6, &open_out, sizeof open_out);
  assert_int_equal (open_out.fh, 42);
  assert_true (open_out.open_flags & FOPEN_PASSTHROUGH_FLAG);
  assert_int_equal (open_out.padding, 9); /* backing_id */

  /* An OPEN with none, and a reply to another request: untouched. */
  open_out = (struct fuse_open_out){ .fh = 43 };
  request (FUSE_OPEN, 8, &open_in, sizeof open_in);
  reply (8, &open_out, sizeof open_out);
  assert_int_equal (open_out.open_flags, 0);
  request (FUSE_OPEN, 10, &open_in, sizeof open_in);
  passthrough_reply (9);
  reply (12, &open_out, sizeof open_out);
  assert_int_equal (open_out.open_flags, 0);
  assert_int_equal (open_out.padding, 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_not_offered),
    cmocka_unit_test (test_offered),
  };
  return cmocka_run_group_tests_name ("passthrough", tests, setup, teardown);
}
