/* vmsnapfs: renaming a snapshot (rename(2) of VM/snapshots/NAME).
 *
 * libvirt cannot rename a snapshot, so a rename is built from what it
 * can do, on snapshot metadata only (the volumes and the memory file keep
 * their names):
 *
 *   1. the snapshot is defined again under its new name (REDEFINE of its
 *      own XML, the name changed);
 *   2. each child is defined again with the new name as its parent;
 *   3. the new one becomes libvirt's current snapshot if the old one was,
 *      and the old one's metadata is deleted;
 *   4. vmsnapfs's record (preview, resume, and what a preview keeps) names
 *      the new one.
 *
 * Crash model: before step 1 the rename is written in vmsnapfs's record
 * in the VM's metadata (rename_from, rename_to), and step 4 removes it;
 * each step can be done again.  The next daemon finds the record and
 * finishes the rename (rename_recover), from step 1 if need be; a record
 * whose old and new names are both gone is dropped.  See doc/DESIGN.md,
 * Crash models.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "export.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/conn.h"
#include "host/refresh.h"
#include "host/vmop.h"

#include "snapshot/clone.h"
#include "snapshot/hooks.h"
#include "snapshot/redefine.h"
#include "snapshot/shared.h"

/* Replace FROM by TO in *FIELD. */
static void
rename_field (char **field, const char *from, const char *to)
{
  if (*field && strcmp (*field, from) == 0)
    {
      free (*field);
      *field = xstrdup (to);
    }
}

/* Steps 1 to 4 of the rename M records; M is written back without it. */
static int
finish (const struct vs_vm *vm, virDomainPtr dom, struct vs_meta *m)
{
  const char *from = m->rename_from, *to = m->rename_to;
  CLEANUP_SNAPSHOT virDomainSnapshotPtr old = NULL, renamed = NULL;
  CLEANUP_FREE char *xml = NULL;
  int r = 0;

  old = virDomainSnapshotLookupByName (dom, from, 0);
  renamed = virDomainSnapshotLookupByName (dom, to, 0);
  if (old && renamed == NULL)
    {
      if ((xml
           = virDomainSnapshotGetXMLDesc (old, VIR_DOMAIN_SNAPSHOT_XML_SECURE))
              == NULL
          || (r = snapshot_redefine (vm, dom, xml, to, 0)) < 0)
        return xml ? r : -EIO;
      renamed = virDomainSnapshotLookupByName (dom, to, 0);
    }
  if (renamed && (r = move_children (vm, dom, from, to)) < 0)
    return r;
  if (old && renamed)
    {
      if (virDomainSnapshotIsCurrent (old, 0) == 1)
        {
          CLEANUP_FREE char *again = virDomainSnapshotGetXMLDesc (
              renamed, VIR_DOMAIN_SNAPSHOT_XML_SECURE);

          if (again == NULL
              || (r = snapshot_redefine (vm, dom, again, NULL,
                                         VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT))
                     < 0)
            return again ? r : -EIO;
        }
      if (virDomainSnapshotDelete (old,
                                   VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
          < 0)
        {
          log_error ("VM '%s': cannot drop the old name '%s': %s", vm->name,
                     from, virt_error ());
          return -EIO;
        }
    }
  if (renamed)
    {
      rename_field (&m->preview, from, to);
      rename_field (&m->resume, from, to);
      rename_field (&m->kept_current, from, to);
      rename_field (&m->kept_resume, from, to);
      rename_field (&m->stateless, from, to);
      log_info ("VM '%s': snapshot '%s' renamed '%s'.", vm->name, from, to);
    }
  else
    log_info ("VM '%s': the rename of '%s' to '%s' had not begun; dropped.",
              vm->name, from, to);
  free (m->rename_from);
  free (m->rename_to);
  m->rename_from = m->rename_to = NULL;
  return meta_write (vm, dom, m);
}

/* Checks of a rename of FROM to TO of VM, whose record is M. */
static int
check (const struct vs_vm *vm, virDomainPtr dom, const struct vs_meta *m,
       const char *from, const char *to)
{
  CLEANUP_SNAPSHOT virDomainSnapshotPtr old = NULL, taken = NULL;
  const struct vs_snapshot *snap = vm_find_snapshot (vm, from);

  if ((old = virDomainSnapshotLookupByName (dom, from, 0)) == NULL
      || snap == NULL)
    return -ENOENT;
  if ((taken = virDomainSnapshotLookupByName (dom, to, 0)) != NULL)
    {
      log_error ("VM '%s': cannot rename '%s': '%s' is taken.", vm->name, from,
                 to);
      return -EEXIST;
    }
  if (m->merge)
    {
      log_error ("VM '%s': cannot rename '%s' while the merge of '%s' is "
                 "not over.",
                 vm->name, from, m->merge);
      return -EBUSY;
    }
  /* Open whole disks are known by the snapshot's inode, which its name
   * makes. */
  if (release_readers (vm, snap->ino, false) < 0)
    {
      log_error ("VM '%s': cannot rename '%s' while its whole disks are "
                 "read.",
                 vm->name, from);
      return -EBUSY;
    }
  return 0;
}

int
host_snapshot_rename (const struct vs_vm *vm, const char *from, const char *to)
{
  CLEANUP_DOMAIN virDomainPtr dom = NULL;
  CLEANUP_FREE char *what
      = xasprintf ("snapshot '%s' cannot be renamed", from);
  struct vs_meta m = { 0 };
  int r;

  if ((r = snapshot_name_valid (vm, to)) < 0
      || (r = clone_job_check (vm, what)) < 0)
    return r;
  if (strcmp (from, to) == 0)
    return vm_find_snapshot (vm, from) ? 0 : -ENOENT;
  if ((r = vm_op_begin (vm)) < 0)
    return r;
  if ((r = lookup_domain (vm, &dom)) < 0)
    ;
  else if ((r = meta_read (vm, dom, &m)) < 0)
    ;
  else if (m.rename_from && (r = finish (vm, dom, &m)) < 0)
    ; /* an earlier rename that did not end */
  /* A clone's last step reads its snapshot by name. */
  else if ((r = clone_pins_check (vm, dom, &m, what)) < 0)
    ;
  else if ((r = check (vm, dom, &m, from, to)) == 0)
    {
      log_info ("VM '%s': renaming snapshot '%s' to '%s'.", vm->name, from,
                to);
      m.rename_from = xstrdup (from);
      m.rename_to = xstrdup (to);
      if ((r = meta_write (vm, dom, &m)) == 0)
        r = finish (vm, dom, &m);
    }
  vs_meta_clear (&m);
  /* Its children are read again: they name their parent. */
  host_sync (vm, true);
  vm_op_end (vm);
  return r;
}

static bool
renaming (const struct vs_vm *vm)
{
  return vm->renaming;
}

static bool
rename_recorded (const struct vs_meta *m)
{
  return m->rename_from != NULL;
}

/* The rename VM's record says a previous daemon began, finished. */
static void
carry_on (const struct vs_vm *vm, virDomainPtr dom)
{
  struct vs_meta m = { 0 };

  if (meta_read (vm, dom, &m) == 0 && m.rename_from)
    finish (vm, dom, &m);
  vs_meta_clear (&m);
}

void
rename_recover (const struct vs_host *h)
{
  recover_each (h, renaming, rename_recorded,
                "a rename of a snapshot was under way; finishing it.",
                carry_on);
}
