/* vmsnapfs: a new VM from a snapshot, memory included.
 *
 * `ln -s VM/snapshots/NAME NEWVM` at the top of the mount.  NEWVM is
 * defined at once, from the domain NAME recorded, with its own name, UUID,
 * MAC addresses and console files (clone-xml.c), and a record of the clone
 * in its metadata (<vmsnapfs:clone>: source, snapshot, each disk's copy
 * and overlay).
 *
 * The clone is instant (clone-pull.c).  Before `ln` returns: each disk's
 * copy NEWVM.TARGET.qcow2 is made as a thin volume over NAME's frozen
 * volume, and NEWVM's disk is a thin top NEWVM.TARGET.NAME.thin.qcow2
 * over the same; NAME's memory is copied, with NEWVM's domain in the
 * image's header (saveimage.c), into NEWVM.NAME.mem; snapshot NAME is
 * defined in NEWVM (frozen volumes the copies, overlays the final
 * NEWVM.TARGET.NAME.qcow2; on a remote host the source's frozen volumes
 * until each copy is whole: clone-remote.c) and the record says "resume
 * NAME": NEWVM may start at once, its first start resuming the memory onto
 * its tops.  Then a worker (clone-copy.c) runs the job: a block pull fills
 * each copy in a paused helper domain, whether NEWVM runs or not; then
 * each disk moves from its top onto its copy (while NEWVM is shut off: the
 * top rebased and renamed the overlay here, copied into it in a helper
 * domain on a remote host; while it runs: a shallow block copy into a new
 * overlay and a pivot); then the record is dropped, and NEWVM stands on no
 * file of its source.
 *
 * A clone an older vmsnapfs began on a remote host copies first: each disk
 * of NAME is read through its chain by qemu-img convert into the copy, the
 * memory is copied, the overlays made over the copies, snapshot NAME
 * defined, and the record made "resume NAME" as it is dropped.  Until the
 * overlays exist NEWVM cannot start (EBUSY).
 *
 * A failure in `ln` undefines NEWVM and removes every file it made:
 * nothing is left.  A failure of the job leaves NEWVM, which may run, on
 * its source's snapshot, recorded, and the job is tried again
 * (clone-copy.c); a clone whose source is gone is rolled back.  Until the job
 * ends, the source VM's snapshot NAME is pinned (clonepin.c): not merged or
 * renamed (EBUSY, a log line naming the clone), in every daemon.
 *
 * Crash model: the pin goes in the source's record before NEWVM is
 * defined, and NEWVM is defined with its record before a file is made.
 * Each step after leaves a mark the next daemon reads (clone_recover, then
 * the worker from its first step, each step skipped when done):
 *   - the copies, the tops, the memory copy: there or not (a memory copy
 *     goes through ".part");
 *   - snapshot NAME in NEWVM: defined or not;
 *   - the pull: a copy stands alone (no backing file) when it is done; a
 *     pull cut short is run again, and copies only what the copy lacks
 *     (the helper is AUTODESTROY: a killed daemon's stops with it; NEWVM,
 *     whose qemu is not the daemon's, runs on).  On a remote host the
 *     mark is snapshot NAME naming the copy (clone-remote.c);
 *   - the switch of a disk: NEWVM's persistent definition names its top
 *     (not done) or its overlay (done; a top left is removed).  Shut off:
 *     the rebase is harmless twice, and a top renamed whose definition was
 *     not changed yet is found as an overlay with no top (on a remote
 *     host the top's data is copied into the overlay again); running: a
 *     block copy a killed daemon began is aborted and done again, the
 *     overlay made anew;
 *   - the record dropped, then the pin.
 * A record with neither snapshot NAME defined nor a top for its disk is a
 * copy-first clone of an older vmsnapfs, carried on by copying; one
 * whose source is gone is rolled back.  Stale pins are dropped.  See
 * doc/DESIGN.md, Crash models.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "clone-copy.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/build.h"
#include "host/conn.h"
#include "host/ops.h"
#include "host/refresh.h"
#include "host/space.h"
#include "host/vmlock.h"
#include "host/vmop.h"

#include "snapshot/clone.h"
#include "snapshot/hooks.h"
#include "snapshot/shared.h"

/* --- the verb ------------------------------------------------------------ */

/* The domain snapshot NAME of DOM recorded, with its secrets (VNC and
 * SPICE passwords), which the view's copy is shown without (malloc'd), or
 * NULL (logged). */
static char *
secure_domain (virDomainPtr dom, const char *vm, const char *name)
{
  CLEANUP_SNAPSHOT virDomainSnapshotPtr s = NULL;
  CLEANUP_FREE char *xml = NULL;
  struct snap_xml *sx = NULL;
  char *domain = NULL;

  if ((s = virDomainSnapshotLookupByName (dom, name, 0)) == NULL
      || (xml
          = virDomainSnapshotGetXMLDesc (s, VIR_DOMAIN_SNAPSHOT_XML_SECURE))
             == NULL
      || snap_xml_parse (xml, &sx) < 0 || sx->domain_xml == NULL)
    log_error ("VM '%s': cannot read the domain of snapshot '%s': %s", vm,
               name, xml ? "its XML is not valid" : virt_error ());
  else
    {
      domain = sx->domain_xml;
      sx->domain_xml = NULL;
    }
  snap_xml_free (sx);
  return domain;
}

/* Plan the clone NAME of snapshot SNAP of VM into C: its files, beside
 * the source's, and the room they need.  Returns 0, -ENOSPC or -EIO. */
static int
plan (const struct vs_vm *vm, const struct vs_snapshot *snap, const char *name,
      struct clone *c)
{
  uint64_t total = 0;
  struct stat st;

  c->name = xstrdup (name);
  c->host = vm->host;
  memcpy (c->source_uuid, vm->uuid, sizeof c->source_uuid);
  clone_new_uuid (c->uuid);
  if ((c->lock = vm_lock_take (c->host, c->uuid, name)) == -EBUSY)
    return -EBUSY;
  c->thin = true;
  vm_lock_lend (c->host, c->uuid, c->lock); /* NEWVM may start */
  c->thin_job = clone_thin_job;
  c->rec.clone_vm = xstrdup (vm->name);
  c->rec.clone_snapshot = xstrdup (snap->name);
  c->rec.clone_disks = xcalloc (snap->ndisks, sizeof *c->rec.clone_disks);
  c->need = xcalloc (snap->ndisks, sizeof *c->need);
  for (size_t i = 0; i < snap->ndisks; i++)
    {
      const struct vs_disk *sd = &snap->disks[i];
      struct clone_disk *d = &c->rec.clone_disks[c->rec.nclone++];
      CLEANUP_FREE char *ostem = xasprintf ("%s.%s", sd->target, snap->name);

      d->target = xstrdup (sd->target);
      d->source = xstrdup (sd->volume);
      d->format = xstrdup (sd->format);
      d->copy
          = new_volume_path (vm->host, sd->volume, name, sd->target, "qcow2");
      {
        /* A pull file by that name is an abandoned clone's: never
         * this one's data. */
        CLEANUP_FREE char *pulled = clone_pull_file (d);

        if (host_is_local (vm->host))
          unlink (pulled);
      }
      d->overlay
          = new_volume_path (vm->host, sd->volume, name, ostem, "qcow2");
      if (clone_measure (vm->host, sd->volume, sd->format, &c->need[i]) < 0)
        {
          log_error ("VM '%s': cannot measure '%s' of snapshot '%s'.",
                     vm->name, sd->target, snap->name);
          return -EIO;
        }
      total += c->need[i];
    }
  if (snap->memory_file)
    {
      c->rec.clone_memory = xstrdup (snap->memory_file);
      c->rec.clone_memory_copy = new_volume_path (vm->host, snap->memory_file,
                                                  name, snap->name, "mem");
      if (stat (snap->memory_file, &st) == 0)
        total += (uint64_t)st.st_size;
    }
  /* Where the copies go (beside the source's volumes, on one file system
   * as a rule): all of it must fit.  (Not measured on a remote host.) */
  for (size_t i = 0; i < c->rec.nclone && host_is_local (vm->host); i++)
    if (!room_beside (c->rec.clone_disks[i].copy, total))
      {
        log_error ("VM '%s': a clone of snapshot '%s' needs %llu MiB beside "
                   "'%s'; there is less room.",
                   vm->name, snap->name, (unsigned long long)(total >> 20),
                   c->rec.clone_disks[i].source);
        return -ENOSPC;
      }
  return 0;
}

int
host_clone (const struct vs_vm *vm, const char *snapshot, const char *name)
{
  virConnectPtr conn = NULL;
  CLEANUP_DOMAIN virDomainPtr dom = NULL, exists = NULL, made = NULL;
  CLEANUP_FREE char *xml = NULL, *domain = NULL;
  struct vs_snapshot *snap = NULL;
  struct disk_change *ch = NULL;
  char **tops = NULL;
  size_t ntops = 0;
  struct clone *c = NULL;
  struct vs_meta m = { 0 };
  int r;

  if ((r = snapshot_name_check (name)) < 0)
    {
      log_error ("'%s' is not a name for a VM (1 to %d bytes of UTF-8, no "
                 "'/', not starting with '.').",
                 name, SNAPSHOT_NAME_MAX);
      return r;
    }
  if ((r = clone_job_check (vm, "it cannot be cloned")) < 0
      || (r = vm_op_begin (vm)) < 0)
    return r;
  if ((r = lookup_domain (vm, &dom)) < 0)
    goto out;
  conn = virDomainGetConnect (dom);
  if ((exists = virDomainLookupByName (conn, name)) != NULL)
    {
      log_error ("A VM named '%s' exists.", name);
      r = -EEXIST;
      goto out;
    }
  if ((snap = snapshot_read (dom, vm, snapshot)) == NULL
      || snap->domain_xml == NULL || snap->ndisks == 0
      || strcmp (snap->status, "ok") != 0)
    {
      log_error ("VM '%s': snapshot '%s' cannot be cloned: %s.", vm->name,
                 snapshot,
                 snap == NULL        ? "it cannot be read"
                 : snap->ndisks == 0 ? "it has no disk volumes"
                                     : "it is not whole");
      r = snap == NULL ? -EINVAL : -EBUSY;
      goto out;
    }
  if ((domain = secure_domain (dom, vm->name, snapshot)) == NULL)
    {
      r = -EIO;
      goto out;
    }
  c = xcalloc (1, sizeof *c);
  c->lock = VM_LOCK_NONE;
  if ((r = plan (vm, snap, name, c)) < 0
      || (r = clone_pin (vm, dom, snapshot, name, c->uuid)) < 0)
    goto out;

  /* NEWVM, on its thin tops, made next (it cannot start before its
   * snapshot is defined, after them). */
  ch = xcalloc (c->rec.nclone, sizeof *ch);
  tops = xcalloc (c->rec.nclone, sizeof *tops);
  ntops = c->rec.nclone;
  for (size_t i = 0; i < c->rec.nclone; i++)
    {
      tops[i] = clone_thin_top (&c->rec.clone_disks[i]);
      ch[i] = (struct disk_change){ c->rec.clone_disks[i].target, tops[i],
                                    "qcow2" };
    }
  m = c->rec; /* the record, its strings borrowed */
  m.snapshot_mode = NULL;
  /* An instant clone's first start resumes the memory, from the start. */
  m.resume = c->thin && c->rec.clone_memory ? c->rec.clone_snapshot : NULL;
  {
    struct dom_identity id
        = { .name = name, .uuid = c->uuid, .old_name = vm->name };
    xml = dom_xml_clone (domain, &id, ch, c->rec.nclone, &m);
  }
  if (xml == NULL || (made = virDomainDefineXML (conn, xml)) == NULL)
    {
      log_error ("VM '%s': cannot define the clone '%s': %s", vm->name, name,
                 xml ? virt_error ()
                     : "the snapshot's domain cannot be "
                       "edited");
      r = xml ? -virt_errno () : -EIO;
      if (r == -EBUSY || r == -EAGAIN || r == -ENOSPC)
        r = -EIO;
      clone_unpin_locked (vm, dom, c->uuid);
      goto out;
    }
  log_info ("VM '%s': defined the clone '%s' of snapshot '%s'; %s.", vm->name,
            name, snapshot,
            c->thin ? "it may start now, and its copy is filled meanwhile"
                    : "copying");
  {
    struct vs_vm v;

    vm_stand_in (&v, vm->host, name, c->uuid);
    if (c->thin
        && ((r = clone_make_thin (c)) < 0
            || (r = clone_define_snapshot (c, made, clone_copies_at_start (c)))
                   < 0))
      {
        clone_roll_back (c, made);
        clone_unpin_locked (vm, dom, c->uuid);
      }
    else if ((r = clone_copy_start (c)) < 0)
      {
        clone_roll_back (c, made);
        clone_unpin_locked (vm, dom, c->uuid);
      }
    else
      c = NULL; /* the worker's */
    host_sync (&v, false);
  }
out:
  free (ch);
  for (size_t i = 0; i < ntops; i++)
    free (tops[i]);
  free (tops);
  clone_free (c);
  if (snap)
    snapshot_unref (snap);
  vm_op_end (vm);
  return r;
}

/* --- recovery ------------------------------------------------------------ */

/* Whether the clone DOM, whose record is M, is an instant one: its
 * snapshot defined, or its first disk on its thin top (a clone copied
 * first, by an older vmsnapfs, has neither before its last step). */
static bool
is_thin (virDomainPtr dom, const struct vs_meta *m)
{
  CLEANUP_SNAPSHOT virDomainSnapshotPtr s = NULL;
  CLEANUP_FREE char *top = NULL;
  struct dom_xml *dx = NULL;
  bool thin = false;

  if (m->nclone == 0)
    return false;
  if ((s = virDomainSnapshotLookupByName (dom, m->clone_snapshot, 0)))
    return true;
  top = clone_thin_top (&m->clone_disks[0]);
  if (read_inactive (virDomainGetName (dom), dom, NULL, &dx) == 0)
    for (size_t k = 0; k < dx->ndisks; k++)
      if (strcmp (dx->disks[k].target, m->clone_disks[0].target) == 0)
        thin = dx->disks[k].source && strcmp (dx->disks[k].source, top) == 0;
  dom_xml_free (dx);
  return thin;
}

void
clone_recover (struct host *h)
{
  virConnectPtr conn = host_conn (h);
  virDomainPtr *doms = NULL;
  int n;

  if (conn == NULL)
    return;
  if (host_is_local (h))
    clone_restore_sweep (h, conn);
  n = virConnectListAllDomains (conn, &doms,
                                VIR_CONNECT_LIST_DOMAINS_PERSISTENT);
  for (int i = 0; i < n; i++)
    {
      char uuid[VIR_UUID_STRING_BUFLEN] = "";
      struct vs_vm v;
      struct vs_meta m = { 0 };
      CLEANUP_DOMAIN virDomainPtr src = NULL;
      struct clone *c;
      int lock = VM_LOCK_NONE, read;

      virDomainGetUUIDString (doms[i], uuid);
      vm_stand_in (&v, h, virDomainGetName (doms[i]), uuid);
      if (meta_read (&v, doms[i], &m) == 0 && m.npins)
        clone_pins_prune (h, doms[i]); /* a daemon killed at the end */
      if (m.clone_vm != NULL)
        lock = vm_lock_take (h, v.uuid, v.name);
      /* The record again, under the lock: the daemon that held it may have
       * ended the clone since. */
      if (m.clone_vm != NULL && lock != -EBUSY)
        {
          vs_meta_clear (&m);
          if ((read = meta_read (&v, doms[i], &m)) < 0 || m.clone_vm == NULL)
            {
              if (read < 0)
                log_error ("VM '%s': its record cannot be read again; its "
                           "clone is left to the next start.",
                           v.name);
              else
                log_info ("VM '%s': its clone is no longer under way "
                          "(another vmsnapfs ended it meanwhile); nothing to "
                          "carry on.",
                          v.name);
              vm_lock_drop (h, v.uuid, lock);
              lock = VM_LOCK_NONE;
              vs_meta_clear (&m);
            }
        }
      if (m.clone_vm == NULL || lock == -EBUSY)
        {
          if (lock == -EBUSY)
            log_info ("VM '%s': its clone is copied by another vmsnapfs; "
                      "left to it.",
                      v.name);
          vs_meta_clear (&m);
          virDomainFree (doms[i]);
          continue;
        }
      c = xcalloc (1, sizeof *c);
      c->lock = lock;
      c->name = xstrdup (v.name);
      c->host = h;
      memcpy (c->uuid, v.uuid, sizeof c->uuid);
      c->rec = m;
      c->thin = is_thin (doms[i], &m);
      c->thin_job = clone_thin_job;
      if (c->thin)
        vm_lock_lend (h, c->uuid, lock);
      c->need = xcalloc (m.nclone ? m.nclone : 1, sizeof *c->need);
      for (size_t k = 0; k < m.nclone; k++)
        clone_measure (h, m.clone_disks[k].source, m.clone_disks[k].format,
                       &c->need[k]);
      if (clone_is_restore (&m))
        {
          log_info ("VM '%s': carrying on its restore from '%s'.", c->name,
                    m.clone_vm);
          if (clone_restore_carry (c) < 0)
            clone_free (c);
          virDomainFree (doms[i]);
          continue;
        }
      src = virDomainLookupByName (conn, m.clone_vm);
      if (src)
        virDomainGetUUIDString (src, c->source_uuid);
      if (!clone_is_restore (&m))
        log_info ("VM '%s': carrying on its clone from snapshot '%s' of "
                  "'%s'.",
                  c->name, m.clone_snapshot, m.clone_vm);
      if (src == NULL)
        {
          log_error ("VM '%s': its source '%s' is gone; the clone is "
                     "removed.",
                     c->name, m.clone_vm);
          clone_roll_back (c, doms[i]);
          clone_free (c);
        }
      else
        {
          /* Pinned since the clone began, unless an older vmsnapfs began
           * it. */
          if (clone_pin_ensure (h, c->source_uuid, m.clone_vm,
                                m.clone_snapshot, c->name, c->uuid)
              < 0)
            log_warning ("VM '%s': cannot pin its source '%s': its "
                         "snapshots may be merged while it is copied.",
                         c->name, m.clone_vm);
          if (clone_copy_start (c) < 0)
            clone_free (c);
        }
      virDomainFree (doms[i]);
    }
  free (doms);
  virConnectClose (conn);
}
