/* vmsnapfs: planning a merge: which volumes stand on which, as the view
 * and the files say, and the record of the merge of a snapshot.
 *
 * Reads files (qemu-img on the volumes, formats always given) and no
 * libvirt: the caller holds the VM's operation and passes what libvirt
 * says.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chain.h"
#include "cleanup.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/files.h"

#include "snapshot/delete.h"

/* The backing file of volume PATH of FORMAT on H (malloc'd), or NULL.  A
 * volume of no known format is not read: its format is never guessed. */
static char *
backing_of (struct host *h, const char *path, const char *format)
{
  struct chain *c = NULL;
  char *b = NULL;

  if (format && host_file_exists (h, path)
      && host_chain (h, path, format, false, &c) == 0 && c->images[0].backing)
    b = xstrdup (c->images[0].backing);
  chain_free (c);
  return b;
}

/* Every volume of disk TARGET that vmsnapfs knows of: the volumes of all
 * the VM's snapshots (an overlay's backing file is its snapshot's frozen
 * volume, read when the view was built), the disk's source in the
 * definition DX, and the volumes a preview keeps.  May repeat; *N set. */
struct vol *
known_volumes (const struct vs_vm *vm, const struct dom_xml *dx,
               const char *target, size_t *n)
{
  struct vol *v = NULL;
  size_t k = 0;

#define ADD(p, f, b)                                                          \
  do                                                                          \
    {                                                                         \
      v = xrealloc (v, (k + 1) * sizeof *v);                                  \
      v[k++] = (struct vol){ (p), (f), (b) };                                 \
    }                                                                         \
  while (0)
  for (size_t s = 0; s < vm->nsnaps; s++)
    for (size_t d = 0; d < vm->snaps[s]->ndisks; d++)
      if (strcmp (vm->snaps[s]->disks[d].target, target) == 0)
        {
          const struct vs_disk *sd = &vm->snaps[s]->disks[d];
          if (sd->overlay)
            ADD (sd->overlay, sd->overlay_format, sd->volume);
          ADD (sd->volume, sd->format, NULL);
        }
  for (size_t d = 0; d < dx->ndisks; d++)
    if (strcmp (dx->disks[d].target, target) == 0)
      ADD (dx->disks[d].source, dx->disks[d].format, NULL);
  for (size_t d = 0; d < dx->meta.ndisks; d++)
    if (strcmp (dx->meta.disks[d].target, target) == 0)
      {
        ADD (dx->meta.disks[d].kept, dx->meta.disks[d].format, NULL);
        /* A preview's volume is made by vmsnapfs, as qcow2 (revert.c). */
        ADD (dx->meta.disks[d].preview, "qcow2", NULL);
      }
#undef ADD
  *n = k;
  return v;
}

/* What VOLS knows of volume P: an entry of P that knows its backing file
 * (BACKING) or its format, or NULL. */
static const struct vol *
known (const struct vol *vols, size_t n, const char *p, bool backing)
{
  for (size_t i = 0; i < n; i++)
    if ((backing ? vols[i].backing : vols[i].format)
        && strcmp (vols[i].path, p) == 0)
      return &vols[i];
  return NULL;
}

/* The volumes among VOLS whose backing file is PARENT, without repeats,
 * each with its format (a malloc'd array of VOLS's strings), *N set.  The
 * view tells which may be; the file has the last word (a block commit
 * rewrites the backing file of the volume above it). */
struct vol *
children_of (struct host *h, const struct vol *vols, size_t nvols,
             const char *parent, size_t *n)
{
  struct vol *kids = NULL;
  size_t k = 0;

  for (size_t i = 0; i < nvols; i++)
    {
      CLEANUP_FREE char *b = NULL;
      const struct vol *kb = known (vols, nvols, vols[i].path, true);
      const struct vol *kf = known (vols, nvols, vols[i].path, false);
      const char *format = kf ? kf->format : NULL;
      bool seen = strcmp (vols[i].path, parent) == 0;

      for (size_t j = 0; j < k && !seen; j++)
        seen = strcmp (kids[j].path, vols[i].path) == 0;
      if (seen || (kb && strcmp (kb->backing, parent) != 0)
          || (b = backing_of (h, vols[i].path, format)) == NULL
          || strcmp (b, parent) != 0)
        continue;
      kids = xrealloc (kids, (k + 1) * sizeof *kids);
      kids[k++] = (struct vol){ vols[i].path, format, parent };
    }
  *n = k;
  return kids;
}

/* Fill the record M for deleting SNAP, checking that no branch but TOP's
 * stands on any BASE.  Returns 0, -EBUSY or -EIO (logged). */
int
merge_plan (const struct vs_vm *vm, const struct vs_snapshot *snap,
            const struct dom_xml *dx, struct vs_meta *m)
{
  m->merge = xstrdup (snap->name);
  m->merge_memory = xstrdup_null (snap->memory_file);
  m->merge_failed = false;
  m->merge_disks = xcalloc (snap->ndisks, sizeof *m->merge_disks);
  for (size_t i = 0; i < snap->ndisks; i++)
    {
      const struct vs_disk *d = &snap->disks[i];
      struct merge_disk *md;
      size_t nvols, nkids;
      struct vol *vols;
      struct vol *kids;

      if (d->overlay == NULL)
        continue;
      vols = known_volumes (vm, dx, d->target, &nvols);
      kids = children_of (vm->host, vols, nvols, d->volume, &nkids);
      free (vols);
      for (size_t k = 0; k < nkids; k++)
        if (strcmp (kids[k].path, d->overlay) != 0)
          {
            log_info ("VM '%s': on disk '%s', the volume '%s' of snapshot "
                      "'%s' is also the base of '%s', another branch.",
                      vm->name, d->target, d->volume, snap->name,
                      kids[k].path);
            free (kids);
            return -EMLINK;
          }
      free (kids);
      if (d->overlay_format == NULL)
        {
          log_error ("VM '%s': snapshot '%s' cannot be deleted: the volume "
                     "'%s' made on disk '%s' is gone, or of no recorded "
                     "format.",
                     vm->name, snap->name, d->overlay, d->target);
          return -EIO;
        }
      md = &m->merge_disks[m->nmerge++];
      md->target = xstrdup (d->target);
      md->top = xstrdup (d->overlay);
      md->base = xstrdup (d->volume);
      md->format = xstrdup (d->format);
      md->top_format = xstrdup (d->overlay_format);
    }
  return 0;
}
