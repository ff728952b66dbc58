/* Unit tests of fs/changes.c: the changes of VMs counted, and whether a
 * VM changed since a request began, as a listing asks for each entry:
 * never "no" when it did; "yes" for another VM only when their keys share
 * a slot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "../../fs/changes.h"
#include "fs.h"

static void
test_per_vm (void **state)
{
  uint64_t a = fs_vm_key (NULL, "a"), b = fs_vm_key (NULL, "b");
  uint64_t c = fs_vm_key ("h2", "a"), begin, k;

  (void)state;
  assert_int_not_equal (a % CHANGE_SLOTS, b % CHANGE_SLOTS);
  assert_int_not_equal (a % CHANGE_SLOTS, c % CHANGE_SLOTS);
  begin = changes_now ();
  assert_false (changes_since (begin, a));
  assert_false (changes_since (begin, 0));

  k = changes_count (b);
  assert_int_equal (k, begin + 1);
  assert_int_equal (changes_now (), k);
  assert_false (changes_since (begin, a)); /* another VM changed */
  assert_true (changes_since (begin, b));
  assert_true (changes_since (begin, 0)); /* any VM */
  assert_false (changes_since (k, b));    /* not since its own */

  changes_count (a);
  assert_true (changes_since (begin, a));
  assert_true (changes_since (k, a));
  assert_false (changes_since (k, b));
  assert_false (changes_since (k, c)); /* the same name on another host */
}

/* More changes of others than the old ring of 1,024 held: still exact. */
static void
test_many_others (void **state)
{
  uint64_t a = fs_vm_key (NULL, "quiet"), begin = changes_now ();
  char name[32];

  (void)state;
  for (int i = 0; i < 5000; i++)
    {
      uint64_t key;

      snprintf (name, sizeof name, "vm%d", i);
      key = fs_vm_key (NULL, name);
      if (key % CHANGE_SLOTS != a % CHANGE_SLOTS)
        changes_count (key);
    }
  assert_false (changes_since (begin, a));
  changes_count (a);
  assert_true (changes_since (begin, a));
}

/* Two VMs in one slot: a change of either says "changed" for both. */
static void
test_shared_slot (void **state)
{
  uint64_t a = fs_vm_key (NULL, "x"), b = 0, begin;
  char name[32];

  (void)state;
  for (int i = 0; b == 0; i++)
    {
      snprintf (name, sizeof name, "y%d", i);
      if (fs_vm_key (NULL, name) % CHANGE_SLOTS == a % CHANGE_SLOTS)
        b = fs_vm_key (NULL, name);
    }
  begin = changes_now ();
  changes_count (b);
  assert_true (changes_since (begin, a));
  assert_true (changes_since (begin, b));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_per_vm),
    cmocka_unit_test (test_many_others),
    cmocka_unit_test (test_shared_slot),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
