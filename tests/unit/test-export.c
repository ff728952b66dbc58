/* Unit tests of chain/export.c's maps of whole disks, on real images: a
 * snapshot's whole disk is composed on the map the export of the disk
 * below it has (its backing file's), and only while that file is as it
 * was when that map was made. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chain.h"
#include "export.h"

#define M (1024 * 1024ULL)

#include "scratch.h"

/* The bytes of data of the whole disk of snapshot SNAP on DIR/NAME, from
 * its map made with no process. */
static uint64_t
data_bytes (uint64_t snap, const char *name)
{
  char path[256];
  uint64_t bytes = 0;

  snprintf (path, sizeof path, "%s/%s", dir, name);
  assert_int_equal (export_map_parse (snap, "vda", path, "qcow2"), 0);
  assert_int_equal (
      export_data_bytes (snap, "vda", path, "qcow2", false, false, &bytes), 0);
  return bytes;
}

/* base <- mid <- top <- top2, each snapshot's disk on the one before. */
static void
test_below (void **state)
{
  (void)state;
  sh ("qemu-img create -q -f qcow2 %s/base.qcow2 8M", dir);
  sh ("qemu-io -f qcow2 -c 'write -q 0 1M' %s/base.qcow2", dir);
  sh ("cd %s && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "
      "mid.qcow2 && qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 "
      "top.qcow2 && qemu-img create -q -f qcow2 -b top.qcow2 -F qcow2 "
      "top2.qcow2",
      dir);
  sh ("qemu-io -f qcow2 -c 'write -q 2M 1M' %s/top.qcow2", dir);

  /* Composed on the map below, as from the whole chain. */
  assert_int_equal (data_bytes (1, "base.qcow2"), 1 * M);
  assert_int_equal (data_bytes (2, "mid.qcow2"), 1 * M);
  assert_int_equal (data_bytes (3, "top.qcow2"), 2 * M);

  /* top.qcow2, top2's backing file, written since its map was made (as
   * another file of that name would be): top2's disk is not composed on
   * that map. */
  sh ("touch -d '2001-01-01' %s/top.qcow2 && "
      "qemu-io -f qcow2 -c 'write -q 4M 1M' %s/top.qcow2",
      dir, dir);
  assert_int_equal (data_bytes (4, "top2.qcow2"), 3 * M);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_below),
  };

  return cmocka_run_group_tests (tests, setup_dir, remove_dir);
}
