/* vmsnapfs: the verbs' hooks, registered with the model (host/verbtable.h),
 * which names no verb.  The order of the calls is the verbs' business, and
 * is kept as it was when the model called them by name: after a host's
 * first connection, merges, renames, clones, imports, branch points'
 * deletions, then the stateless VMs that stopped while no daemon ran; at
 * the daemon's stop, the stateless thread, the merges' workers, then the
 * clones' copies. */
#include "verbs.h"

#include "host/verbtable.h"

#include "snapshot/hooks.h"

static void
recover (struct host *h, const struct vs_host *v)
{
  merge_recover (v);
  rename_recover (v);
  clone_recover (h);
  import_recover (h);
  branch_recover (v);
  stateless_recover (v);
}

static void
stop (void)
{
  stateless_stop ();
  merge_stop ();
  clone_stop ();
}

static const struct verb_table table = {
  .recover = recover,
  .start = stateless_start,
  .stop = stop,
  .vm_stopped = stateless_stopped,
  .block_job = merge_wake,
  .jobs = clone_jobs,
};

void
verbs_init (void)
{
  verb_table_register (&table);
}
