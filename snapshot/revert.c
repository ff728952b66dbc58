/* vmsnapfs: preview, undo, commit and revert; memory restore on start.
 *
 * libvirt 9.0 cannot revert to an external snapshot, so these are built as
 * oVirt builds them.  A preview puts the VM's disks on new overlays over
 * the snapshot's frozen volumes (qemu-img create) and keeps what it had
 * (its volumes, libvirt's current snapshot, its pending memory restore) in
 * vmsnapfs's record in the VM's metadata.  The disk switch and the record
 * change in one virDomainDefineXML.  An undo defines the kept state back
 * and drops the overlays; a commit drops the kept volumes instead.  A
 * start with a pending restore restores the snapshot's memory with
 * virDomainRestoreFlags, the saved XML changed to name the current disks.
 *
 * All of it needs the VM shut off with no managed save image (EBUSY: the
 * image's run resumes on the volumes the VM has now), and runs under the
 * VM's operation lock.  A client of libvirt's own (virsh start) does not
 * take that lock: the state is read again right before any volume is
 * removed, and a VM started meanwhile keeps its volumes (EBUSY).
 *
 * Crash model: the record (what a preview keeps, "resume") changes with
 * the disks in the one virDomainDefineXML; new overlays are made before
 * it, dropped volumes removed after it.  A daemon killed in between leaves
 * files that nothing names, never a VM on missing volumes; the next daemon
 * has nothing to carry on, and a pending restore waits for the next start
 * through VM/state.  See doc/DESIGN.md, Crash models.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/build.h"
#include "host/conn.h"
#include "host/files.h"
#include "host/ops.h"
#include "host/refresh.h"
#include "host/vmop.h"

#include "snapshot/revert.h"
#include "snapshot/runs.h"
#include "snapshot/shared.h"

/* One operation's context: the VM, libvirt's domain, its persistent XML
 * and what vmsnapfs recorded in it. */
struct op
{
  const struct vs_vm *vm;
  virDomainPtr dom;
  char *xml;
  struct dom_xml *dx;
  int reason;                 /* why it is shut off (virDomainShutoffReason) */
  bool saved;                 /* refused: it has a managed save image */
  struct vs_snapshot *target; /* op_open_target's, read under the lock */
};

static void
op_close (struct op *o)
{
  if (o->dom)
    virDomainFree (o->dom);
  free (o->xml);
  dom_xml_free (o->dx);
  if (o->target)
    snapshot_unref (o->target);
  host_sync (o->vm, false); /* failed or not: libvirt may have shown a part */
  vm_op_end (o->vm);
}

/* Whether O's VM is shut off with no managed save image: 0, or -EBUSY
 * (logged, O->saved set for an image) or -EIO.  WHEN says when it was
 * asked, for the log. */
static int
check_idle (struct op *o, const char *when)
{
  int state, saved;

  if (virDomainGetState (o->dom, &state, &o->reason, 0) < 0
      || (saved = virDomainHasManagedSaveImage (o->dom, 0)) < 0)
    {
      log_error ("VM '%s': cannot read its state: %s", o->vm->name,
                 virt_error ());
      return -EIO;
    }
  if (state != VIR_DOMAIN_SHUTOFF)
    {
      log_error ("VM '%s': it is %s%s; a preview, commit, revert or undo "
                 "needs it shut off%s.",
                 o->vm->name, domain_state_word (state), when,
                 *when ? ", and it keeps its volumes" : "");
      return -EBUSY;
    }
  if (saved)
    {
      o->saved = true;
      log_error ("VM '%s': it has a managed save image%s, whose run its "
                 "next start resumes on the volumes it has now; no preview, "
                 "commit, revert, undo or stateless revert before that run "
                 "ends.",
                 o->vm->name, when);
      return -EBUSY;
    }
  return 0;
}

/* Begin an operation on VM, which must be shut off. */
static int
op_open (const struct vs_vm *vm, struct op *o)
{
  int r;

  memset (o, 0, sizeof *o);
  o->vm = vm;
  if ((r = vm_op_begin (vm)) < 0)
    return r;
  if ((r = lookup_domain (vm, &o->dom)) < 0)
    ;
  else if ((r = check_idle (o, "")) == 0)
    r = read_inactive (vm->name, o->dom, &o->xml, &o->dx);
  if (r < 0)
    {
      op_close (o);
      o->vm = NULL;
      o->dom = NULL;
    }
  return r;
}

/* Define O's domain anew: disks per CHANGES, record META. */
static int
op_define (struct op *o, const struct disk_change *changes, size_t n,
           const struct vs_meta *meta)
{
  return define_changed (o->vm, o->xml, changes, n, meta);
}

/* Make SNAP libvirt's current snapshot of O's VM. */
static int
set_current (struct op *o, const char *snap)
{
  CLEANUP_SNAPSHOT virDomainSnapshotPtr s = NULL, again = NULL;
  CLEANUP_FREE char *xml = NULL;

  if (snap == NULL)
    return 0;
  if ((s = virDomainSnapshotLookupByName (o->dom, snap, 0)) == NULL
      || (xml
          = virDomainSnapshotGetXMLDesc (s, VIR_DOMAIN_SNAPSHOT_XML_SECURE))
             == NULL
      || (again = virDomainSnapshotCreateXML (
              o->dom, xml,
              VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE
                  | VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT))
             == NULL)
    {
      log_error ("VM '%s': cannot make '%s' its current snapshot: %s",
                 o->vm->name, snap, virt_error ());
      return -EIO;
    }
  return 0;
}

/* Remove the files of a dropped state; volumes that some snapshot still
 * stands on are kept.  The state is read again first: a VM that another
 * client of libvirt started (or saved) since the operation began may run
 * on them, and keeps them all (-EBUSY, logged). */
static int
drop_volumes (struct op *o, const struct vs_meta *m, bool kept)
{
  int r = check_idle (o, " now (started meanwhile)");

  if (r < 0)
    return r;
  for (size_t i = 0; i < m->ndisks; i++)
    {
      const char *path = kept ? m->disks[i].kept : m->disks[i].preview;
      bool in_use = false;

      for (size_t s = 0; s < o->vm->nsnaps; s++)
        for (size_t d = 0; d < o->vm->snaps[s]->ndisks; d++)
          if (strcmp (o->vm->snaps[s]->disks[d].volume, path) == 0)
            in_use = true;
      if (in_use)
        log_info ("VM '%s': '%s' is kept: a snapshot stands on it.",
                  o->vm->name, path);
      else if (host_file_unlink (o->vm->host, path) < 0)
        log_warning ("VM '%s': cannot remove '%s'.", o->vm->name, path);
      else
        log_info ("VM '%s': removed '%s'.", o->vm->name, path);
    }
  return 0;
}

/* The preview step: new overlays over SNAP's volumes, the state kept. */
static int
do_preview (struct op *o, const struct vs_snapshot *snap)
{
  const struct dom_xml *dx = o->dx;
  struct disk_change *ch = xcalloc (dx->ndisks, sizeof *ch);
  struct vs_meta m = { 0 };
  int r = 0;

  m.snapshot_mode = xstrdup_null (dx->meta.snapshot_mode);
  m.stateless = xstrdup_null (dx->meta.stateless);
  m.preview = xstrdup (snap->name);
  m.kept_current = current_snapshot_name (o->dom);
  m.kept_resume = xstrdup_null (dx->meta.resume);
  m.resume = snap->memory_file ? xstrdup (snap->name) : NULL;
  for (size_t i = 0; i < dx->meta.npins; i++)
    vs_meta_add_pin (&m, dx->meta.pins[i].snapshot, dx->meta.pins[i].clone,
                     dx->meta.pins[i].uuid);
  m.disks = xcalloc (dx->ndisks, sizeof *m.disks);
  for (size_t i = 0; i < dx->ndisks && r == 0; i++)
    {
      const struct dom_disk *cur = &dx->disks[i];
      const struct vs_disk *frozen = NULL;
      CLEANUP_FREE char *stem = NULL;
      struct kept_disk *k = &m.disks[m.ndisks];

      for (size_t j = 0; j < snap->ndisks; j++)
        if (strcmp (snap->disks[j].target, cur->target) == 0)
          frozen = &snap->disks[j];
      if (frozen == NULL)
        {
          log_error ("VM '%s': snapshot '%s' has no volume for disk '%s'.",
                     o->vm->name, snap->name, cur->target);
          r = -EINVAL;
          break;
        }
      stem = xasprintf ("%s.from-%s", cur->target, snap->name);
      k->target = xstrdup (cur->target);
      k->kept = xstrdup (cur->source);
      k->format = xstrdup_null (cur->format);
      k->preview = new_volume_path (o->vm->host, cur->source, o->vm->name,
                                    stem, "qcow2");
      m.ndisks++;
      if ((r = host_make_overlay (o->vm->host, k->preview, frozen->volume,
                                  frozen->format, frozen->virtual_size))
          < 0)
        log_error ("VM '%s': cannot make the volume '%s'.", o->vm->name,
                   k->preview);
      ch[i] = (struct disk_change){ k->target, k->preview, "qcow2" };
    }
  if (r == 0)
    r = op_define (o, ch, dx->ndisks, &m);
  if (r == 0 && (r = set_current (o, snap->name)) < 0)
    {
      /* Back to the state it had. */
      for (size_t i = 0; i < m.ndisks; i++)
        ch[i] = (struct disk_change){ m.disks[i].target, m.disks[i].kept,
                                      m.disks[i].format };
      op_define (o, ch, m.ndisks, &dx->meta);
    }
  if (r < 0)
    (void)drop_volumes (o, &m, false);
  else
    log_info ("VM '%s': previewing snapshot '%s'.", o->vm->name, snap->name);
  vs_meta_clear (&m);
  free (ch);
  return r;
}

/* The commit step: the kept state dropped.  A stateless VM committed to
 * its snapshot records the stamp of its volumes (host_rearm). */
static int
do_commit (struct op *o)
{
  /* The record without the preview, its fields borrowed from O's. */
  const struct vs_meta *k = &o->dx->meta;
  CLEANUP_FREE char *armed
      = k->stateless && k->preview && strcmp (k->stateless, k->preview) == 0
            ? stateless_stamp (o->vm, o->dx)
            : NULL;
  struct vs_meta m = { .snapshot_mode = k->snapshot_mode,
                       .resume = k->resume,
                       .stateless = k->stateless,
                       .armed = armed,
                       .npins = k->npins,
                       .pins = k->pins };
  int r = op_define (o, NULL, 0, &m);

  if (r == 0 && (r = drop_volumes (o, k, true)) < 0)
    /* Started meanwhile, on the volumes the preview kept or on its own:
     * the record that names them both, again. */
    op_define (o, NULL, 0, NULL);
  else if (r == 0)
    log_info ("VM '%s': committed snapshot '%s'.", o->vm->name, k->preview);
  return r;
}

/* Refresh O's definition after a step changed it. */
static int
op_reread (struct op *o)
{
  free (o->xml);
  dom_xml_free (o->dx);
  return read_inactive (o->vm->name, o->dom, &o->xml, &o->dx);
}

/* Begin an operation on snapshot NAME of VM (shut off): -EINVAL when VM
 * has no such snapshot, -EBUSY while another one is being previewed. */
static int
op_open_target (const struct vs_vm *vm, const char *name, struct op *o,
                const struct vs_snapshot **snap)
{
  int r;

  if ((*snap = vm_find_snapshot (vm, name)) == NULL)
    {
      log_error ("VM '%s': it has no snapshot '%s'.", vm->name, name);
      return -EINVAL;
    }
  if ((r = clone_job_check (vm, "its disks cannot be reverted")) < 0
      || (r = op_open (vm, o)) < 0)
    return r;
  if (o->dx->meta.preview && strcmp (o->dx->meta.preview, name) != 0)
    {
      log_error ("VM '%s': snapshot '%s' is being previewed; undo or commit "
                 "that first.",
                 vm->name, o->dx->meta.preview);
      op_close (o);
      *snap = NULL;
      return -EBUSY;
    }
  /* Its volumes as libvirt and the files have them now: the view was
   * read before the lock, and another vmsnapfs may have merged a
   * snapshot next to it meanwhile. */
  if ((o->target = snapshot_read (o->dom, vm, name)) == NULL)
    {
      op_close (o);
      *snap = NULL;
      return -EINVAL;
    }
  *snap = o->target;
  return 0;
}

int
host_preview (const struct vs_vm *vm, const char *name)
{
  const struct vs_snapshot *snap;
  struct op o;
  int r;

  if ((r = op_open_target (vm, name, &o, &snap)) < 0)
    return r;
  if (o.dx->meta.preview == NULL) /* else previewing it already */
    r = do_preview (&o, snap);
  op_close (&o);
  return r;
}

int
host_undo (const struct vs_vm *vm)
{
  const struct vs_meta *k;
  struct disk_change *ch;
  struct vs_meta m = { 0 };
  struct op o;
  int r;

  if ((r = op_open (vm, &o)) < 0)
    return r;
  k = &o.dx->meta;
  if (k->preview == NULL)
    {
      op_close (&o);
      return -ENOENT;
    }
  ch = xcalloc (k->ndisks, sizeof *ch);
  for (size_t i = 0; i < k->ndisks; i++)
    ch[i] = (struct disk_change){ k->disks[i].target, k->disks[i].kept,
                                  k->disks[i].format };
  m.snapshot_mode = k->snapshot_mode;
  m.resume = k->kept_resume;
  m.stateless = k->stateless;
  m.npins = k->npins;
  m.pins = k->pins;
  if ((r = op_define (&o, ch, k->ndisks, &m)) == 0)
    {
      set_current (&o, k->kept_current);
      if ((r = drop_volumes (&o, k, false)) < 0)
        {
          /* Started meanwhile, maybe on the preview's volumes: still
           * previewing. */
          op_define (&o, NULL, 0, NULL);
          set_current (&o, k->preview);
        }
      else
        log_info ("VM '%s': undid the preview of '%s'.", vm->name, k->preview);
    }
  free (ch);
  op_close (&o);
  return r;
}

/* Revert O's VM to SNAP, or commit its preview of SNAP. */
static int
activate (struct op *o, const struct vs_snapshot *snap)
{
  int r;

  /* Not previewing: revert, a preview and a commit in one step. */
  if (o->dx->meta.preview == NULL
      && ((r = do_preview (o, snap)) < 0 || (r = op_reread (o)) < 0))
    return r; /* the preview step failed, and undid itself */
  return do_commit (o);
}

int
host_activate (const struct vs_vm *vm, const char *name)
{
  const struct vs_snapshot *snap;
  struct op o;
  int r;

  if ((r = op_open_target (vm, name, &o, &snap)) < 0)
    return r;
  r = activate (&o, snap);
  op_close (&o);
  return r;
}

/* Whether O's VM is where host_rearm would take it: at its stateless
 * snapshot SNAP as the last revert left it. */
static bool
armed (const struct op *o, const struct vs_snapshot *snap)
{
  const struct vs_meta *k = &o->dx->meta;
  CLEANUP_FREE char *stamp = NULL;

  if (k->preview || k->armed == NULL
      || (snap->memory_file
          && (k->resume == NULL || strcmp (k->resume, snap->name) != 0)))
    return false;
  stamp = stateless_stamp (o->vm, o->dx);
  return stamp && strcmp (stamp, k->armed) == 0;
}

int
host_rearm (const struct vs_vm *vm)
{
  const struct vs_snapshot *snap;
  struct op o = { 0 };
  int r;

  if (vm->stateless == NULL)
    return -ENOENT;
  if ((r = op_open_target (vm, vm->stateless, &o, &snap)) < 0)
    return o.saved ? 2 : r; /* its saved run resumes: left as it is */
  /* Read again under the VM's lock: another vmsnapfs may have reverted
   * it, or ended its stateless mode, meanwhile. */
  if (o.dx->meta.stateless == NULL
      || strcmp (o.dx->meta.stateless, snap->name) != 0)
    r = -ENOENT;
  else if (!shutoff_ends_run (o.reason))
    {
      log_info ("VM '%s': stateless: it stopped %s, which does not end its "
                "run; left as it is.",
                vm->name, stop_cause (o.reason));
      r = 2;
    }
  else if (armed (&o, snap))
    r = 1;
  else
    r = activate (&o, snap);
  op_close (&o);
  return r;
}

static int
clear_resume (struct vs_meta *m, const char *arg)
{
  (void)arg;
  if (m->resume == NULL)
    return -ENOENT;
  free (m->resume);
  m->resume = NULL;
  return 0;
}

int
host_resume_clear (const struct vs_vm *vm)
{
  return meta_update (vm, clear_resume, NULL);
}
