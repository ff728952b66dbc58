/* Unit tests of snapshot/runs.c's choice of the stops that end a
 * run: only those re-arm a stateless VM.  A save or a migration stops the
 * VM too, but its run goes on (later, or on another host) on the volumes
 * it has now, which a revert would delete. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libvirt/libvirt.h>

#include "../../snapshot/runs.h"

static void
test_stop_events (void **state)
{
  static const struct
  {
    int detail;
    bool ends;
  } table[] = {
    { VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN, true },
    { VIR_DOMAIN_EVENT_STOPPED_DESTROYED, true },
    { VIR_DOMAIN_EVENT_STOPPED_CRASHED, true },
    { VIR_DOMAIN_EVENT_STOPPED_FAILED, true },
    { VIR_DOMAIN_EVENT_STOPPED_SAVED, false },
    { VIR_DOMAIN_EVENT_STOPPED_MIGRATED, false },
    { VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT, false },
    /* A detail a later libvirt may add: not taken for an end. */
    { 7, false },
    { 1000, false },
    { -1, false },
  };

  (void)state;
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    {
      print_message ("detail %d\n", table[i].detail);
      assert_int_equal (stop_ends_run (table[i].detail), table[i].ends);
    }
}

static void
test_shutoff_reasons (void **state)
{
  static const struct
  {
    int reason;
    bool ends;
  } table[] = {
    { VIR_DOMAIN_SHUTOFF_UNKNOWN, true }, /* after libvirtd's restart */
    { VIR_DOMAIN_SHUTOFF_SHUTDOWN, true },
    { VIR_DOMAIN_SHUTOFF_DESTROYED, true },
    { VIR_DOMAIN_SHUTOFF_CRASHED, true },
    { VIR_DOMAIN_SHUTOFF_FAILED, true },
    { VIR_DOMAIN_SHUTOFF_DAEMON, true },
    { VIR_DOMAIN_SHUTOFF_SAVED, false },
    { VIR_DOMAIN_SHUTOFF_MIGRATED, false },
    { VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT, false },
    { 9, false },
    { -1, false },
  };

  (void)state;
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    {
      print_message ("reason %d\n", table[i].reason);
      assert_int_equal (shutoff_ends_run (table[i].reason), table[i].ends);
    }
}

/* Each stop that does not end a run has a cause to log. */
static void
test_causes (void **state)
{
  (void)state;
  assert_string_equal (stop_cause (VIR_DOMAIN_SHUTOFF_SAVED),
                       "by a save (managed, or to a file)");
  assert_string_equal (stop_cause (VIR_DOMAIN_SHUTOFF_MIGRATED),
                       "by a migration to another host");
  assert_string_equal (stop_cause (VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT),
                       "by libvirt's revert to a snapshot");
  assert_non_null (stop_cause (42));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_stop_events),
    cmocka_unit_test (test_shutoff_reasons),
    cmocka_unit_test (test_causes),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
