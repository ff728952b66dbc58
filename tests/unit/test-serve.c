/* Unit tests of chain/serve.c: a chain of descriptors served over NBD.
 * The files are removed once open (the server opens none by name), the
 * top's header names a decoy backing file that is not read (the chain is
 * the one given), each export reads its chain from its layer down, the
 * server runs in a session of its own and is found by its pid file, and
 * once stopped it is gone with its socket. */
#include <errno.h>
#include <fcntl.h>
#include <libnbd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "serve.h"
#include "util.h"

#define MIB (1024 * 1024)

static char dir[] = "/tmp/vmsnapfs-test-serve.XXXXXX";

static void
sh (const char *fmt, const char *arg)
{
  char *cmd = xasprintf (fmt, arg, arg, arg, arg);

  assert_int_equal (system (cmd), 0);
  free (cmd);
}

/* Byte OFF of export NAME on SOCK, read through NBD. */
static int
byte_at (const char *sock, const char *name, uint64_t off)
{
  struct nbd_handle *h = nbd_create ();
  unsigned char c = 0xff;

  assert_non_null (h);
  assert_int_equal (nbd_set_export_name (h, name), 0);
  assert_int_equal (nbd_connect_unix (h, sock), 0);
  assert_int_equal (nbd_pread (h, &c, 1, off, 0), 0);
  assert_int_equal (nbd_is_read_only (h), 1);
  nbd_close (h);
  return c;
}

static void
test_serve (void **state)
{
  char *sock, *pidfile;
  struct serve_layer l[2];
  pid_t pid;

  (void)state;
  assert_non_null (mkdtemp (dir));
  sh ("cd %s && qemu-img create -q -f qcow2 base.qcow2 8M"
      " && qemu-io -c 'write -P 0x11 0 1M' base.qcow2 >/dev/null"
      " && qemu-img create -q -f qcow2 decoy.qcow2 8M"
      " && qemu-io -c 'write -P 0x33 0 2M' decoy.qcow2 >/dev/null"
      " && qemu-img create -q -f qcow2 -b %s/decoy.qcow2 -F qcow2 top.qcow2"
      " && qemu-io -c 'write -P 0x22 1M 1M' top.qcow2 >/dev/null",
      dir);
  sock = xasprintf ("%s/run/s.sock", dir);
  l[0] = (struct serve_layer){ .format = "qcow2", .below = -1,
                               .name = "base" };
  l[1] = (struct serve_layer){ .format = "qcow2", .below = 0, .name = "top" };
  {
    char *b = xasprintf ("%s/base.qcow2", dir);
    char *t = xasprintf ("%s/top.qcow2", dir);

    assert_true ((l[0].fd = open (b, O_RDONLY | O_CLOEXEC)) > 2);
    assert_true ((l[1].fd = open (t, O_RDONLY | O_CLOEXEC)) > 2);
    unlink (b);
    unlink (t);
    free (b);
    free (t);
  }
  assert_int_equal (serve_start (sock, getgid (), l, 2, &pid), 0);
  close (l[0].fd);
  close (l[1].fd);
  assert_true (pid > 0);
  assert_true (getsid (pid) != getsid (0));
  assert_true (serve_alive (pid, sock));
  assert_true (serve_alive (0, sock)); /* from its pid file */
  assert_int_equal (byte_at (sock, "top", 0), 0x11); /* not the decoy's */
  assert_int_equal (byte_at (sock, "top", MIB), 0x22);
  assert_int_equal (byte_at (sock, "top", 3 * MIB), 0);
  assert_int_equal (byte_at (sock, "base", MIB), 0);
  {
    struct stat st;

    assert_int_equal (stat (sock, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0660);
  }
  {
    char *b = serve_backing (sock, "top");
    char *want = xasprintf ("nbd+unix:///top?socket=%s", sock);

    assert_string_equal (b, want);
    free (b);
    free (want);
  }
  serve_stop (0, sock);
  assert_false (serve_alive (pid, sock));
  assert_int_equal (access (sock, F_OK), -1);
  pidfile = serve_pidfile (sock);
  assert_int_equal (access (pidfile, F_OK), -1);
  free (pidfile);
  free (sock);
  sh ("rm -rf %s", dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_serve),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
