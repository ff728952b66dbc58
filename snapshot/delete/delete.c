/* vmsnapfs: rmdir of a snapshot (host_snapshot_delete): the refusals,
 * the plan from what libvirt and the files say now, and the choice
 * between a merge (merge.c: S's volume made at S committed into S's frozen
 * volume) and, for a branch point, the move of its data up into its
 * branches (branch.c).
 *
 * Crash model: under the VM's operation lock, the plan is written in the
 * VM's record (<vmsnapfs:merge> or <vmsnapfs:branch>) before any volume
 * changes; the next daemon finds it and carries the deletion on
 * (merge_recover, branch_recover); a record left marked failed is tried
 * again by the next rmdir, planned again when it no longer fits the
 * files.  See doc/DESIGN.md, Crash models.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "export.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/build.h"
#include "host/conn.h"
#include "host/refresh.h"
#include "host/vmop.h"

#include "snapshot/clone.h"
#include "snapshot/delete.h"
#include "snapshot/shared.h"

/* Whether the merge record M still fits the files: every disk whose commit
 * is not done has its TOP and its BASE.  A record planned from a view
 * older than a merge below may name a BASE that merge deleted. */
static bool
record_fits (const struct vs_meta *m)
{
  for (size_t i = 0; i < m->nmerge; i++)
    if (!m->merge_disks[i].committed
        && (access (m->merge_disks[i].top, F_OK) != 0
            || access (m->merge_disks[i].base, F_OK) != 0))
      return false;
  return true;
}

int
host_snapshot_delete (const struct vs_vm *vm, const char *name,
                      bool (*interrupted) (void))
{
  const struct vs_snapshot *snap = vm_find_snapshot (vm, name);
  CLEANUP_DOMAIN virDomainPtr dom = NULL;
  struct vs_snapshot *now = NULL;
  struct dom_xml *dx = NULL;
  CLEANUP_FREE char *what
      = xasprintf ("snapshot '%s' cannot be deleted", name);
  struct merge *m;
  int r;

  if (snap == NULL)
    return -ENOENT;
  if ((m = merge_find (vm, name)) != NULL)
    return merge_wait (m, interrupted); /* an rmdir interrupted before */
  if ((r = clone_job_check (vm, what)) < 0)
    return r;
  if (vm->stateless && strcmp (vm->stateless, name) == 0)
    {
      log_error ("VM '%s': snapshot '%s' cannot be deleted: the VM is "
                 "stateless at it (rm stateless first).",
                 vm->name, name);
      return -EBUSY;
    }
  if ((vm->preview && strcmp (vm->preview, name) == 0)
      || (vm->resume && strcmp (vm->resume, name) == 0))
    {
      log_error ("VM '%s': snapshot '%s' cannot be deleted: %s points to it.",
                 vm->name, name,
                 vm->preview && strcmp (vm->preview, name) == 0 ? "preview"
                                                                : "resume");
      return -EBUSY;
    }
  if ((r = vm_op_begin (vm)) < 0)
    return r;
  if ((r = lookup_domain (vm, &dom)) < 0)
    ;
  else if ((r = read_inactive (vm->name, dom, NULL, &dx)) < 0)
    ;
  /* A clone copying from any snapshot of the VM reads through the volumes
   * a merge changes. */
  else if ((r = clone_pins_check (vm, dom, &dx->meta, what)) < 0)
    ;
  /* Its whole disks must not be read while their volumes change. */
  else if ((r = release_readers (vm, snap->ino, true)) < 0)
    log_error ("VM '%s': snapshot '%s' cannot be deleted while its whole "
               "disks or frozen volumes are read.",
               vm->name, name);
  else if (dx->meta.branch)
    {
      /* A deletion of a branch point that stopped on an error: again. */
      if (strcmp (dx->meta.branch, name) == 0)
        r = branch_run (vm, dom);
      else
        {
          log_error ("VM '%s': snapshot '%s' cannot be deleted while the "
                     "deletion of '%s' is not over.",
                     vm->name, name, dx->meta.branch);
          r = -EBUSY;
        }
      dom_xml_free (dx);
      host_sync (vm, true);
      vm_op_end (vm);
      return r;
    }
  else if (dx->meta.merge && strcmp (dx->meta.merge, name) != 0)
    {
      log_error ("VM '%s': snapshot '%s' cannot be deleted while the merge "
                 "of '%s' is not over.",
                 vm->name, name, dx->meta.merge);
      r = -EBUSY;
    }
  else if (dx->meta.merge && record_fits (&dx->meta))
    {
      log_info ("VM '%s': trying the merge of '%s' again.", vm->name, name);
      dx->meta.merge_failed = false;
      r = meta_write (vm, dom, &dx->meta);
    }
  /* Planned from the snapshot as libvirt and the files have it now: the
   * view may be from before a merge or a probe that failed. */
  else if ((now = snapshot_read (dom, vm, name)) == NULL)
    r = -ENOENT;
  else
    {
      if (dx->meta.merge)
        {
          log_warning ("VM '%s': the record of the merge of '%s' no longer "
                       "fits its volumes: planned again.",
                       vm->name, name);
          vs_meta_clear_merge (&dx->meta);
        }
      if ((r = merge_plan (vm, now, dx, &dx->meta)) == 0)
        r = meta_write (vm, dom, &dx->meta);
      else if (r == -EMLINK)
        {
          /* A branch point: moved up into its branches, not merged. */
          vs_meta_clear_merge (&dx->meta);
          if ((r = branch_plan (vm, dom, now, dx, &dx->meta)) == 0
              && (r = meta_write (vm, dom, &dx->meta)) == 0)
            r = branch_run (vm, dom);
          snapshot_unref (now);
          dom_xml_free (dx);
          host_sync (vm, true);
          vm_op_end (vm);
          return r;
        }
    }
  snapshot_unref (now);
  dom_xml_free (dx);
  if (r < 0)
    {
      host_sync (vm, false);
      vm_op_end (vm);
      return r;
    }
  log_info ("VM '%s': deleting snapshot '%s' by merge.", vm->name, name);
  /* Its info says "status: merging" once the metadata event has rebuilt
   * the VM: no need to wait for it here. */
  if ((m = merge_start (vm, name)) == NULL)
    return -EIO;
  return merge_wait (m, interrupted);
}
