/* vmsnapfs: the free space of the mount (statfs, what df shows).
 *
 * A snapshot writes its overlays beside each disk's current volume, and
 * its memory file beside the first; so "will it fit" is answered by the
 * file system of those volumes.  When they lie on several, the one with
 * the least room answers: the first to fill stops the snapshot.
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#include "conn.h"
#include "space.h"

/* Measure the file system of SOURCE's directory into *ST when it has less
 * room than *ST (or *ST is empty, FOUND false).  Returns whether SOURCE
 * could be measured. */
static bool
measure (const char *source, struct statvfs *st, bool found)
{
  char *copy = xstrdup (source);
  struct statvfs here;
  bool ok = source[0] == '/' && statvfs (dirname (copy), &here) == 0;

  free (copy);
  if (!ok)
    return false;
  if (!found
      || (unsigned long long)here.f_bavail * here.f_frsize
             < (unsigned long long)st->f_bavail * st->f_frsize)
    *st = here;
  return true;
}

bool
room_beside (const char *path, uint64_t need)
{
  struct statvfs st;

  /* Not measured: the writes themselves will say. */
  return !measure (path, &st, false)
         || (uint64_t)st.f_bavail * st.f_frsize >= need;
}

/* Measure the file systems of VM's volumes into *ST (see measure). */
static bool
measure_vm (const struct vs_vm *vm, struct statvfs *st, bool found)
{
  for (size_t d = 0; d < vm->ndisks; d++)
    if (vm->disk_sources[d] && measure (vm->disk_sources[d], st, found))
      found = true;
  return found;
}

int
host_statfs (const struct vs_host *h, const struct vs_vm *vm,
             struct statvfs *st)
{
  bool found = false;

  memset (st, 0, sizeof *st);
  if (!host_is_local (h->host))
    return -ENOENT;
  if (vm != NULL)
    found = measure_vm (vm, st, false);
  else
    for (size_t v = 0; v < h->nvms; v++)
      found = measure_vm (h->vms[v], st, found);
  return found ? 0 : -ENOENT;
}

int
fleet_statfs (const struct vs_fleet *f, struct statvfs *st)
{
  int r = -ENOENT;

  memset (st, 0, sizeof *st);
  for (size_t i = 0; i < f->nhosts; i++)
    {
      struct statvfs here;

      if (host_statfs (f->hosts[i], NULL, &here) == 0
          && (r < 0
              || here.f_bavail * here.f_frsize < st->f_bavail * st->f_frsize))
        {
          *st = here;
          r = 0;
        }
    }
  return r;
}
