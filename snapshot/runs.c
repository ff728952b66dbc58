/* vmsnapfs: when a VM's run ends, and a stamp of the volumes the last
 * revert left (runs.h).
 *
 * A stateless VM is reverted to its snapshot when its run ends
 * (stateless.c), by the revert of revert.c, which refuses a VM whose run
 * goes on and records the stamp of the volumes it made.  Both ask here:
 * which stops end a run, by the event's detail or by the reason libvirt
 * gives a VM found shut off, and whether a VM's volumes are still those
 * the revert left.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <libvirt/libvirt.h>

#include "cleanup.h"
#include "host.h"
#include "remote.h"
#include "util.h"
#include "virxml.h"

#include "snapshot/runs.h"

int
stop_reason (int detail)
{
  switch (detail)
    {
    case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
      return VIR_DOMAIN_SHUTOFF_SHUTDOWN;
    case VIR_DOMAIN_EVENT_STOPPED_DESTROYED:
      return VIR_DOMAIN_SHUTOFF_DESTROYED;
    case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
      return VIR_DOMAIN_SHUTOFF_CRASHED;
    case VIR_DOMAIN_EVENT_STOPPED_FAILED:
      return VIR_DOMAIN_SHUTOFF_FAILED;
    case VIR_DOMAIN_EVENT_STOPPED_MIGRATED:
      return VIR_DOMAIN_SHUTOFF_MIGRATED;
    case VIR_DOMAIN_EVENT_STOPPED_SAVED:
      return VIR_DOMAIN_SHUTOFF_SAVED;
    case VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT:
      return VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT;
    default:
      return -1;
    }
}

bool
shutoff_ends_run (int reason)
{
  switch (reason)
    {
    case VIR_DOMAIN_SHUTOFF_UNKNOWN: /* never run, or libvirtd restarted */
    case VIR_DOMAIN_SHUTOFF_SHUTDOWN:
    case VIR_DOMAIN_SHUTOFF_DESTROYED:
    case VIR_DOMAIN_SHUTOFF_CRASHED:
    case VIR_DOMAIN_SHUTOFF_FAILED:
    case VIR_DOMAIN_SHUTOFF_DAEMON:
      return true;
    default: /* saved, migrated, reverted by libvirt, or not known */
      return false;
    }
}

bool
stop_ends_run (int detail)
{
  return shutoff_ends_run (stop_reason (detail));
}

const char *
stop_cause (int reason)
{
  switch (reason)
    {
    case VIR_DOMAIN_SHUTOFF_SAVED:
      return "by a save (managed, or to a file)";
    case VIR_DOMAIN_SHUTOFF_MIGRATED:
      return "by a migration to another host";
    case VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT:
      return "by libvirt's revert to a snapshot";
    default:
      return "for a reason libvirt does not name";
    }
}

char *
stateless_stamp (const struct vs_vm *vm, const struct dom_xml *dx)
{
  CLEANUP_FREE char *all = xstrdup ("");

  if (!vm_is_local (vm))
    return NULL;
  for (size_t i = 0; i < dx->ndisks; i++)
    {
      struct stat st;
      char *more;

      if (dx->disks[i].source == NULL || stat (dx->disks[i].source, &st) < 0)
        return NULL;
      more = xasprintf ("%s%s %ju %jd %lld.%09ld\n", all, dx->disks[i].source,
                        (uintmax_t)st.st_ino, (intmax_t)st.st_size,
                        (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
      free (all);
      all = more;
    }
  return xasprintf ("%016" PRIx64, hash_strings (all, NULL));
}
