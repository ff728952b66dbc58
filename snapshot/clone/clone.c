/* vmsnapfs: a new VM from a snapshot, memory included.
 *
 * `ln -s VM/snapshots/NAME NEWVM` at the top of the mount.  NEWVM is
 * defined at once, from the domain NAME recorded, with its own name, UUID,
 * MAC addresses and console files (clone-xml.c), and a record of the clone
 * in its metadata; then a worker copies, while VM runs on:
 *
 *   1. each disk of NAME, read through its chain by qemu-img convert, into
 *      a standalone qcow2 volume of NEWVM's beside the source's
 *      (NEWVM.TARGET.qcow2), through a ".part" file renamed when whole;
 *   2. NAME's memory, with NEWVM's domain in the image's header
 *      (saveimage.c), into NEWVM.NAME.mem;
 *   3. a new volume over each copy, NEWVM's disk (NEWVM.TARGET.NAME.qcow2);
 *   4. snapshot NAME in NEWVM, redefined with the copies as its frozen
 *      volumes and the memory copy as its memory; and the record made
 *      "resume NAME" where there is memory, so that the first start
 *      restores it, as a preview's does.
 *
 * Until step 3 NEWVM's disks do not exist, so no client can start it
 * (vmsnapfs says EBUSY).  A failure before the end undefines NEWVM and
 * removes every file it made: nothing is left.  While a copy runs, the
 * source VM's snapshots are not merged or renamed (EBUSY): the volumes
 * being read stay as they are.  The copy is clone-copy.c's.
 *
 * Crash model: the pin goes in the source's record (clonepin.c) before
 * NEWVM is defined, and NEWVM is defined with its own record of the
 * clone (<vmsnapfs:clone>: source, snapshot, each disk's copy and
 * overlay) before a byte is copied; copies go through ".part" files
 * renamed when whole; the record becomes "resume NAME" last, then the pin
 * is dropped.  The next daemon finds the record and carries the clone on,
 * each step done again or skipped from what the files say (clone_recover),
 * or rolls it back when its source is gone; stale pins are dropped.  See
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
      d->copy = new_volume_path (vm->host, sd->volume, name, sd->target,
                                 "qcow2");
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
      c->rec.clone_memory_copy = new_volume_path (
          vm->host, snap->memory_file, name, snap->name, "mem");
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
  if ((r = vm_op_begin (vm)) < 0)
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

  /* NEWVM, with disks that do not exist yet: nobody starts it before the
   * copies are whole. */
  ch = xcalloc (c->rec.nclone, sizeof *ch);
  for (size_t i = 0; i < c->rec.nclone; i++)
    ch[i] = (struct disk_change){ c->rec.clone_disks[i].target,
                                  c->rec.clone_disks[i].overlay, "qcow2" };
  m = c->rec; /* the record, its strings borrowed */
  m.snapshot_mode = NULL;
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
  log_info ("VM '%s': defined the clone '%s' of snapshot '%s'; copying.",
            vm->name, name, snapshot);
  {
    struct vs_vm v;

    vm_stand_in (&v, vm->host, name, c->uuid);
    if ((r = clone_copy_start (c)) < 0)
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
  clone_free (c);
  if (snap)
    snapshot_unref (snap);
  vm_op_end (vm);
  return r;
}

/* --- recovery ------------------------------------------------------------ */

void
clone_recover (struct host *h)
{
  virConnectPtr conn = host_conn (h);
  virDomainPtr *doms = NULL;
  int n;

  if (conn == NULL)
    return;
  n = virConnectListAllDomains (conn, &doms,
                                VIR_CONNECT_LIST_DOMAINS_PERSISTENT);
  for (int i = 0; i < n; i++)
    {
      char uuid[VIR_UUID_STRING_BUFLEN] = "";
      struct vs_vm v;
      struct vs_meta m = { 0 };
      CLEANUP_DOMAIN virDomainPtr src = NULL;
      struct clone *c;
      int lock = VM_LOCK_NONE;

      virDomainGetUUIDString (doms[i], uuid);
      vm_stand_in (&v, h, virDomainGetName (doms[i]), uuid);
      if (meta_read (&v, doms[i], &m) == 0 && m.npins)
        clone_pins_prune (h, doms[i]); /* a daemon killed at the end */
      if (m.clone_vm == NULL
          || (lock = vm_lock_take (h, v.uuid, v.name)) == -EBUSY)
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
      c->need = xcalloc (m.nclone ? m.nclone : 1, sizeof *c->need);
      for (size_t k = 0; k < m.nclone; k++)
        clone_measure (h, m.clone_disks[k].source, m.clone_disks[k].format,
                       &c->need[k]);
      src = virDomainLookupByName (conn, m.clone_vm);
      if (src)
        virDomainGetUUIDString (src, c->source_uuid);
      log_info ("VM '%s': carrying on its clone from snapshot '%s' of '%s'.",
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
