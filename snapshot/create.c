/* vmsnapfs: take a snapshot (mkdir VM/snapshots/NAME).
 *
 * One libvirt call makes it: virDomainSnapshotCreateXML with external
 * overlays for every disk and, when the VM runs in "memory" mode, an
 * external memory file, all atomic.  libvirt then holds the snapshot's
 * metadata; vmsnapfs keeps nothing of its own.
 *
 * New files go beside each disk's current volume, named VM.TARGET.NAME.qcow2
 * and VM.NAME.mem, with a number added where a file of that name exists.
 * When libvirt fails, anything at those names is removed: it can only be
 * what the failed attempt left (unless the VM uses it: a reply lost after
 * libvirt made the snapshot).
 *
 * Crash model: no record; the snapshot is one atomic libvirt call.  A
 * shut-off VM's overlays are made here just before it (mode 0600): a
 * daemon killed in between leaves them, named by nothing (orphan files,
 * never lost data).  The next daemon has nothing to carry on.  See
 * doc/DESIGN.md, Crash models.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/conn.h"
#include "host/files.h"
#include "host/ops.h"
#include "host/refresh.h"
#include "host/vmop.h"

#include "snapshot/shared.h"

/* Escape S for an XML attribute or text. */
static void
xml_escaped (struct strbuf *b, const char *s)
{
  for (; *s; s++)
    switch (*s)
      {
      case '<':
        strbuf_printf (b, "&lt;");
        break;
      case '>':
        strbuf_printf (b, "&gt;");
        break;
      case '&':
        strbuf_printf (b, "&amp;");
        break;
      case '\'':
        strbuf_printf (b, "&apos;");
        break;
      case '"':
        strbuf_printf (b, "&quot;");
        break;
      default:
        strbuf_printf (b, "%c", *s);
      }
}

struct plan
{
  char *xml;      /* the snapshot's XML */
  unsigned flags; /* for virDomainSnapshotCreateXML */
  size_t nfiles;
  char **files; /* the new files it will make */
  bool made;    /* the overlays are made here, not by libvirt */
};

static void
plan_free (struct plan *p)
{
  free (p->xml);
  for (size_t i = 0; i < p->nfiles; i++)
    free (p->files[i]);
  free (p->files);
}

/* Decide what to take of VM (libvirt's DOM, in STATE, defined by DX). */
static void
make_plan (const struct vs_vm *vm, const char *name, int state,
           const struct dom_xml *dx, struct plan *p)
{
  struct strbuf b = { 0 };
  bool active = state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_PAUSED;
  bool memory = active && strcmp (vm->snapshot_mode, "memory") == 0;

  p->files = xcalloc (dx->ndisks + 1, sizeof *p->files);
  p->flags = VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC;
  if (!memory)
    p->flags |= VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY;
  if (active && strcmp (vm->snapshot_mode, "quiesce") == 0)
    p->flags |= VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE;
  /* Live: the guest runs while its memory is written.  Not for a guest
   * QEMU emulates (TCG): QEMU 7.2's live save of one left a memory image
   * that the guest crashed on after a restore (a corrupted kernel stack),
   * 3 tries in 36 here; saved with the guest paused, none of 25 did. */
  if (memory && state == VIR_DOMAIN_RUNNING && !dx->emulated)
    p->flags |= VIR_DOMAIN_SNAPSHOT_CREATE_LIVE;
  /* Shut off, libvirt 9.0 makes the overlays with qemu-img and its own
   * umask: readable by all (CVE-2025-13193).  So they are made here, mode
   * 0600, and libvirt takes them as they are.  (Running, it makes them
   * 0600 itself.) */
  p->made = !active;
  for (size_t i = 0; i < dx->ndisks; i++)
    if (dx->disks[i].format == NULL)
      p->made = false;
  if (p->made)
    p->flags |= VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT;

  strbuf_printf (&b, "<domainsnapshot>\n  <name>");
  xml_escaped (&b, name);
  strbuf_printf (&b, "</name>\n");
  /* libvirt keeps no record of quiescing: the description does. */
  if (p->flags & VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE)
    strbuf_printf (&b, "  <description>%s</description>\n",
                   SNAPSHOT_QUIESCED_MARK);
  if (memory)
    {
      char *mem = new_volume_path (vm->host, dx->disks[0].source, vm->name,
                                   name, "mem");
      strbuf_printf (&b, "  <memory snapshot='external' file='");
      xml_escaped (&b, mem);
      strbuf_printf (&b, "'/>\n");
      p->files[p->nfiles++] = mem;
    }
  strbuf_printf (&b, "  <disks>\n");
  for (size_t i = 0; i < dx->ndisks; i++)
    {
      CLEANUP_FREE char *stem
          = xasprintf ("%s.%s", dx->disks[i].target, name);
      char *overlay = new_volume_path (vm->host, dx->disks[i].source,
                                       vm->name, stem, "qcow2");
      strbuf_printf (&b, "    <disk name='");
      xml_escaped (&b, dx->disks[i].target);
      strbuf_printf (&b, "' snapshot='external' type='file'>\n"
                         "      <driver type='qcow2'/>\n"
                         "      <source file='");
      xml_escaped (&b, overlay);
      strbuf_printf (&b, "'/>\n    </disk>\n");
      p->files[p->nfiles++] = overlay;
    }
  strbuf_printf (&b, "  </disks>\n</domainsnapshot>\n");
  p->xml = strbuf_steal (&b, NULL);
}

/* Make PLAN's overlays, one on each disk of DX, for libvirt to take.
 * Returns 0, or -EIO with none left (logged). */
static int
make_overlays (const struct vs_vm *vm, const char *name,
               const struct dom_xml *dx, const struct plan *p)
{
  for (size_t i = 0; i < dx->ndisks; i++)
    if (host_make_overlay (vm->host, p->files[i], dx->disks[i].source,
                           dx->disks[i].format, 0)
        < 0)
      {
        log_error ("VM '%s': snapshot '%s' failed: the overlay '%s' of disk "
                   "'%s' cannot be made.",
                   vm->name, name, p->files[i], dx->disks[i].target);
        while (i-- > 0)
          host_file_unlink (vm->host, p->files[i]);
        return -EIO;
      }
  return 0;
}

/* After libvirt said a snapshot failed: remove the files PLAN names, but
 * only what is surely a leftover.  A reply can be lost after libvirt made
 * the snapshot (libvirtd gone at the wrong moment): then a "planned
 * overlay" is the running VM's active volume.  So the snapshot is looked
 * up, and the VM's disks, live and persistent, before anything goes; what
 * cannot be told is kept (an orphan file, never lost data).  Returns true
 * when the snapshot exists after all. */
static bool
clean_after_failure (const struct vs_vm *vm, virDomainPtr dom,
                     const char *name, const struct plan *p)
{
  virDomainSnapshotPtr s = virDomainSnapshotLookupByName (dom, name, 0);
  CLEANUP_FREE char *live = NULL;
  struct dom_xml *lx = NULL, *ix = NULL;

  if (s)
    {
      virDomainSnapshotFree (s);
      log_warning ("VM '%s': libvirt reported a failure, but snapshot '%s' "
                   "exists: it was taken, and its files are kept.",
                   vm->name, name);
      return true;
    }
  if (virGetLastErrorCode () != VIR_ERR_NO_DOMAIN_SNAPSHOT
      || (live = virDomainGetXMLDesc (dom, 0)) == NULL
      || dom_xml_parse (live, &lx) < 0
      || read_inactive (vm->name, dom, NULL, &ix) < 0)
    {
      log_warning ("VM '%s': cannot tell whether the failed snapshot '%s' "
                   "left files behind; they are kept.",
                   vm->name, name);
      dom_xml_free (lx);
      return false;
    }
  for (size_t i = 0; i < p->nfiles; i++)
    if (dom_xml_uses (lx, p->files[i]) || dom_xml_uses (ix, p->files[i]))
      log_warning ("VM '%s': '%s' is in use by the VM: kept.", vm->name,
                   p->files[i]);
    else if (unlink (p->files[i]) == 0)
      log_info ("Removed '%s', left by the failed snapshot.", p->files[i]);
  dom_xml_free (lx);
  dom_xml_free (ix);
  return false;
}

/* Read DOM's current disks and state. */
static int
read_domain (const struct vs_vm *vm, virDomainPtr dom, int *state,
             struct dom_xml **dx)
{
  CLEANUP_FREE char *xml = virDomainGetXMLDesc (dom, 0);
  int reason;

  if (virDomainGetState (dom, state, &reason, 0) < 0 || xml == NULL
      || dom_xml_parse (xml, dx) < 0)
    {
      log_error ("VM '%s': cannot read its definition: %s", vm->name,
                 virt_error ());
      return -EIO;
    }
  if ((*dx)->ndisks == 0)
    {
      log_error ("VM '%s': it has no file-backed disk to snapshot.", vm->name);
      dom_xml_free (*dx);
      *dx = NULL;
      return -EINVAL;
    }
  return 0;
}

int
host_snapshot_create (const struct vs_vm *vm, const char *name)
{
  CLEANUP_DOMAIN virDomainPtr dom = NULL;
  CLEANUP_SNAPSHOT virDomainSnapshotPtr snap = NULL;
  struct dom_xml *dx = NULL;
  struct plan plan = { 0 };
  int state, r;

  if ((r = snapshot_name_valid (vm, name)) < 0)
    return r;
  {
    CLEANUP_FREE char *what
        = xasprintf ("snapshot '%s' cannot be taken", name);

    if ((r = clone_job_check (vm, what)) < 0)
      return r;
  }
  if (vm->preview)
    {
      log_error ("VM '%s': snapshot '%s' is being previewed; commit or undo "
                 "it before taking snapshots.",
                 vm->name, vm->preview);
      return -EBUSY;
    }
  if ((r = vm_op_begin (vm)) < 0)
    return r;
  if ((r = lookup_domain (vm, &dom)) < 0)
    goto out;
  if ((snap = virDomainSnapshotLookupByName (dom, name, 0)) != NULL)
    {
      log_error ("VM '%s': a snapshot named '%s' exists already.", vm->name,
                 name);
      r = -EEXIST;
      goto out;
    }
  if ((r = read_domain (vm, dom, &state, &dx)) < 0)
    goto out;

  make_plan (vm, name, state, dx, &plan);
  log_debug ("VM '%s': creating snapshot '%s', flags 0x%x:\n%s", vm->name,
             name, plan.flags, plan.xml);
  if (plan.made && (r = make_overlays (vm, name, dx, &plan)) < 0)
    goto out;
  snap = virDomainSnapshotCreateXML (dom, plan.xml, plan.flags);
  if (snap == NULL)
    {
      r = -virt_errno ();
      log_error ("VM '%s': snapshot '%s' failed: %s", vm->name, name,
                 virt_error ());
      if (clean_after_failure (vm, dom, name, &plan))
        r = 0;
      goto out;
    }
  log_info ("VM '%s': took snapshot '%s' (%s).", vm->name, name,
            plan.flags & VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY ? "disks only"
            : plan.flags & VIR_DOMAIN_SNAPSHOT_CREATE_LIVE
                ? "disks and memory"
                : "disks and memory, the guest paused while its memory was "
                  "saved");

out:
  plan_free (&plan);
  dom_xml_free (dx);
  /* Published before the next operation may begin: it plans from the
   * view.  Failed or not: libvirt may have shown a part. */
  host_sync (vm, false);
  vm_op_end (vm);
  return r;
}
