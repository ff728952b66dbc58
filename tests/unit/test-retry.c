/* Unit tests of the pauses between the tries of an instant clone's or
 * restore's failed job (snapshot/clone/clone-copy.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../include/verbs.h"

static void
test_default (void **state)
{
  const unsigned want[] = { 5, 10, 20, 40, 60, 60, 60, 3600, 3600 };

  (void)state;
  clone_set_tries (0);
  for (unsigned k = 0; k < sizeof want / sizeof *want; k++)
    assert_int_equal (clone_retry_pause (k + 1, k + 1), want[k]);
}

static void
test_set (void **state)
{
  (void)state;
  /* Two tries, then hourly: what a mount with -o job_tries=2 does. */
  clone_set_tries (2);
  assert_int_equal (clone_retry_pause (1, 1), 5);
  assert_int_equal (clone_retry_pause (2, 2), 3600);
  assert_int_equal (clone_retry_pause (100, 100), 3600);
  /* Failures without libvirt (restarting) are not counted: the pauses
   * grow, up to a minute, but never to an hour. */
  assert_int_equal (clone_retry_pause (2, 1), 10);
  assert_int_equal (clone_retry_pause (100, 1), 60);
  /* One: hourly from the first failure. */
  clone_set_tries (1);
  assert_int_equal (clone_retry_pause (1, 1), 3600);
  assert_int_equal (clone_retry_pause (1, 0), 5);
  /* Many: the pauses stop growing at a minute. */
  clone_set_tries (1000);
  assert_int_equal (clone_retry_pause (999, 999), 60);
  assert_int_equal (clone_retry_pause (1000, 1000), 3600);
  clone_set_tries (0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_default),
    cmocka_unit_test (test_set),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
