/* vmsnapfs: deleting a snapshot that several branches stand on.
 *
 * A merge commits the volume made at snapshot S into S's frozen volume.
 * When another branch stands on that frozen volume too (after a revert to
 * S, or a preview of it), the commit would change what that branch reads,
 * so a branch point is deleted the other way round, as VMware deletes
 * one: S's data is copied up into the first volume of each branch above
 * it, which then stands on what S stood on, and S's frozen volume, memory
 * file and metadata are deleted.
 *
 *   - A branch volume no qemu has open: `qemu-img rebase` in safe mode
 *     (it writes into the volume what differs between S's volume and the
 *     new backing file, so the volume reads as before).
 *   - The running VM's active volume: a block pull down to the new backing
 *     file (virDomainBlockRebase), live; libvirt rewrites its backing file.
 *   - A volume of the running VM's chain below its active one: libvirt 9.0
 *     pulls into the active volume only, not into one below it, and qemu
 *     keeps that volume open: EBUSY, the VM must be shut off (or the
 *     snapshots above deleted first).
 *
 * The room is checked first (each branch may take a copy of S's volume).
 * Runs under the VM's operation lock.
 *
 * Crash model: the whole deletion (each branch volume, the backing file
 * it gets, S's parent) is written in the VM's record (<vmsnapfs:branch>)
 * before the first step; each step looks at the files first and can be
 * made again; S's metadata goes before its volumes, the record last.  The
 * next daemon finds the record and runs the deletion again
 * (branch_recover).  See doc/DESIGN.md, Crash models.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "cleanup.h"
#include "export.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/conn.h"
#include "host/files.h"
#include "host/helperdom.h"
#include "host/jobs.h"
#include "host/refresh.h"
#include "host/space.h"
#include "host/vmop.h"

#include "snapshot/delete.h"
#include "snapshot/hooks.h"
#include "snapshot/redefine.h"
#include "snapshot/shared.h"

#define PULL_WAIT_MS (24 * 3600 * 1000)

/* The backing file of PATH (FORMAT) now, and its format (malloc'd); 0, or
 * -EIO when PATH cannot be read. */
static int
backing_now (struct host *h, const char *path, const char *format,
             char **backing, char **backing_format)
{
  struct chain *c = NULL;
  int r = host_chain (h, path, format, false, &c);

  *backing = *backing_format = NULL;
  if (r == 0)
    {
      *backing = xstrdup_null (c->images[0].backing);
      *backing_format = xstrdup_null (c->images[0].backing_format);
    }
  chain_free (c);
  return r < 0 ? -EIO : 0;
}

/* The volumes of the running chain of disk TARGET, top first (malloc'd
 * strings), as the files say; *N set. */
static char **
running_chain (const struct dom_xml *live, const char *target, size_t *n)
{
  char **v = NULL;

  *n = 0;
  for (size_t i = 0; live && i < live->ndisks; i++)
    if (strcmp (live->disks[i].target, target) == 0)
      {
        v = xcalloc (live->disks[i].nbacking + 1, sizeof *v);
        v[(*n)++] = xstrdup (live->disks[i].source);
        for (size_t j = 0; j < live->disks[i].nbacking; j++)
          v[(*n)++] = xstrdup (live->disks[i].backing[j]);
      }
  return v;
}

static void
free_strings (char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

/* The live definition of DOM while it runs, else NULL. */
static struct dom_xml *
live_xml (virDomainPtr dom)
{
  CLEANUP_FREE char *xml = NULL;
  struct dom_xml *dx = NULL;

  if (virDomainIsActive (dom) != 1
      || (xml = virDomainGetXMLDesc (dom, 0)) == NULL
      || dom_xml_parse (xml, &dx) < 0)
    return NULL;
  return dx;
}

int
branch_plan (const struct vs_vm *vm, virDomainPtr dom,
             const struct vs_snapshot *snap, const struct dom_xml *dx,
             struct vs_meta *m)
{
  struct dom_xml *live = live_xml (dom);
  uint64_t need = 0;
  struct stat st;
  int r = 0;

  /* The branches' volumes are rewritten: no snapshot's files may be read
   * through them meanwhile. */
  for (size_t i = 0; i < vm->nsnaps && r == 0; i++)
    if ((r = release_readers (vm, vm->snaps[i]->ino, true)) < 0)
      log_error ("VM '%s': snapshot '%s' cannot be deleted while the files "
                 "of snapshot '%s' are read.",
                 vm->name, snap->name, vm->snaps[i]->name);
  if (r < 0)
    {
      dom_xml_free (live);
      return r;
    }
  m->branch = xstrdup (snap->name);
  m->branch_memory = xstrdup_null (snap->memory_file);
  m->branch_parent = xstrdup_null (snap->parent);
  for (size_t i = 0; i < snap->ndisks && r == 0; i++)
    {
      const struct vs_disk *d = &snap->disks[i];
      size_t nvols, nkids, nrun;
      struct vol *vols = known_volumes (vm, dx, d->target, &nvols);
      struct vol *kids
          = children_of (vm->host, vols, nvols, d->volume, &nkids);
      char **run = running_chain (live, d->target, &nrun);
      CLEANUP_FREE char *backing = NULL, *backing_format = NULL;

      if (backing_now (vm->host, d->volume, d->format, &backing,
                       &backing_format)
          < 0)
        r = -EIO;
      for (size_t k = 0; k < nkids && r == 0; k++)
        {
          struct branch_child *c;

          for (size_t j = 1; j < nrun; j++)
            if (strcmp (run[j], kids[k].path) == 0)
              {
                log_error ("VM '%s': snapshot '%s' cannot be deleted while "
                           "the VM runs: on disk '%s', the branch volume "
                           "'%s' lies under the one it writes, and libvirt "
                           "pulls into that one only. Shut it off, or "
                           "delete the snapshots above first.",
                           vm->name, snap->name, d->target, kids[k].path);
                r = -EBUSY;
              }
          if (kids[k].format == NULL)
            {
              log_error ("VM '%s': the branch volume '%s' is of no known "
                         "format.",
                         vm->name, kids[k].path);
              r = -EIO;
            }
          if (r < 0)
            break;
          m->branch_children
              = xrealloc (m->branch_children,
                          (m->nbranch + 1) * sizeof *m->branch_children);
          c = &m->branch_children[m->nbranch++];
          memset (c, 0, sizeof *c);
          c->target = xstrdup (d->target);
          c->path = xstrdup (kids[k].path);
          c->format = xstrdup (kids[k].format);
          c->volume = xstrdup (d->volume);
          c->backing = xstrdup_null (backing);
          c->backing_format = xstrdup_null (backing_format);
          c->live = nrun > 0 && strcmp (run[0], kids[k].path) == 0;
          if (stat (d->volume, &st) == 0)
            need += (uint64_t)st.st_blocks * 512;
        }
      free_strings (run, nrun);
      free (kids);
      free (vols);
    }
  if (r == 0 && m->nbranch > 0
      && !room_beside (m->branch_children[0].path, need))
    {
      log_error ("VM '%s': deleting the branch point '%s' copies up to "
                 "%llu MiB into its branches; there is less room.",
                 vm->name, snap->name, (unsigned long long)(need >> 20));
      r = -ENOSPC;
    }
  dom_xml_free (live);
  return r;
}

/* Pull C's backing volume into the running VM's active volume, down to
 * C's new backing file, and wait for the end. */
static int
pull_live (const struct vs_vm *vm, virDomainPtr dom,
           const struct branch_child *c)
{
  long long until = now_ms () + PULL_WAIT_MS;
  virDomainBlockJobInfo info;
  int j;

  if (virDomainGetBlockJobInfo (dom, c->target, &info, 0) == 0
      && virDomainBlockRebase (dom, c->target, c->backing, merge_bandwidth (),
                               0)
             < 0)
    {
      log_error ("VM '%s': cannot pull '%s' into '%s': %s", vm->name,
                 c->volume, c->path, virt_error ());
      return -EIO;
    }
  log_info ("VM '%s': pulling '%s' into '%s', live.", vm->name, c->volume,
            c->path);
  while ((j = virDomainGetBlockJobInfo (dom, c->target, &info, 0)) > 0)
    {
      if (now_ms () > until)
        return -ETIMEDOUT;
      job_note (vm->uuid, c->target, &info, NULL);
      usleep (200 * 1000);
    }
  return j < 0 ? -EIO : 0;
}

/* Make branch volume C stand on C's new backing file, reading as before. */
static int
move_up (const struct vs_vm *vm, virDomainPtr dom,
         const struct branch_child *c)
{
  CLEANUP_FREE char *now = NULL, *now_format = NULL, *out = NULL;
  const char *argv[12];
  size_t n = 0;
  int r;

  if (backing_now (vm->host, c->path, c->format, &now, &now_format) < 0)
    return -EIO;
  if (now == NULL || strcmp (now, c->volume) != 0)
    return 0; /* done before */
  if (c->live && virDomainIsActive (dom) == 1)
    {
      if ((r = pull_live (vm, dom, c)) < 0)
        return r;
      free (now);
      free (now_format);
      if (backing_now (vm->host, c->path, c->format, &now, &now_format) < 0
          || (now && strcmp (now, c->volume) == 0))
        {
          log_error ("VM '%s': the pull into '%s' ended, and it still "
                     "stands on '%s'.",
                     vm->name, c->path, c->volume);
          return -EIO;
        }
      return 0;
    }
  if (!host_is_local (vm->host))
    return helper_pull (vm, c->target, c->path, c->format, c->backing,
                        merge_bandwidth (), NULL, NULL, NULL);
  argv[n++] = "qemu-img";
  argv[n++] = "rebase";
  argv[n++] = "-q";
  argv[n++] = "-f";
  argv[n++] = c->format;
  argv[n++] = "-b";
  argv[n++] = c->backing ? c->backing : "";
  if (c->backing)
    {
      argv[n++] = "-F";
      argv[n++] = c->backing_format ? c->backing_format : "qcow2";
    }
  argv[n++] = c->path;
  argv[n] = NULL;
  log_info ("VM '%s': moving '%s' up into '%s' (qemu-img rebase).", vm->name,
            c->volume, c->path);
  if ((r = run_capture (argv, 65536, PULL_WAIT_MS, &out, NULL, NULL)) < 0)
    {
      log_error ("VM '%s': qemu-img rebase of '%s' failed.", vm->name,
                 c->path);
      return -EIO;
    }
  return 0;
}

/* The volumes made at the parent of M's snapshot were that snapshot's
 * frozen volumes: point the parent's record at the first branch volume
 * that now stands where they stood, unless done. */
static int
repoint_parent (const struct vs_vm *vm, virDomainPtr dom,
                const struct vs_meta *m)
{
  CLEANUP_SNAPSHOT virDomainSnapshotPtr p = NULL, made = NULL;
  CLEANUP_FREE char *xml = NULL, *again = NULL;
  struct disk_change *ch;
  struct snap_xml *sx = NULL;
  size_t n = 0;
  int r = 0;

  if (m->branch_parent == NULL
      || (p = virDomainSnapshotLookupByName (dom, m->branch_parent, 0)) == NULL
      || (xml
          = virDomainSnapshotGetXMLDesc (p, VIR_DOMAIN_SNAPSHOT_XML_SECURE))
             == NULL
      || snap_xml_parse (xml, &sx) < 0)
    return 0; /* no parent (any more): nothing stands on a name */
  ch = xcalloc (sx->ndisks + 1, sizeof *ch);
  for (size_t i = 0; i < sx->ndisks; i++)
    for (size_t k = 0; k < m->nbranch; k++)
      if (strcmp (sx->disks[i].target, m->branch_children[k].target) == 0
          && sx->disks[i].overlay
          && strcmp (sx->disks[i].overlay, m->branch_children[k].volume) == 0)
        {
          ch[n++] = (struct disk_change){ sx->disks[i].target,
                                          m->branch_children[k].path, NULL };
          break;
        }
  if (n > 0
      && ((again = snap_xml_set_overlays (xml, ch, n)) == NULL
          || (made = virDomainSnapshotCreateXML (
                  dom, again, VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE))
                 == NULL))
    {
      log_error ("VM '%s': cannot redefine snapshot '%s' on its new "
                 "volumes: %s",
                 vm->name, m->branch_parent, virt_error ());
      r = -EIO;
    }
  free (ch);
  snap_xml_free (sx);
  return r;
}

int
branch_run (const struct vs_vm *vm, virDomainPtr dom)
{
  CLEANUP_SNAPSHOT virDomainSnapshotPtr s = NULL;
  struct vs_meta m = { 0 };
  int r;

  if ((r = meta_read (vm, dom, &m)) < 0)
    return r;
  if (m.branch == NULL)
    {
      vs_meta_clear (&m);
      return 0;
    }
  log_info ("VM '%s': deleting the branch point '%s'.", vm->name, m.branch);
  for (size_t i = 0; i < m.nbranch && r == 0; i++)
    r = move_up (vm, dom, &m.branch_children[i]);
  if (r == 0)
    r = repoint_parent (vm, dom, &m);
  /* libvirt 9.0, deleting a snapshot that has children, rewrites their
   * domain to stand on the deleted one's volumes (as after a commit),
   * which is not where they stand after a move up: they get the parent
   * first, and the snapshot is deleted childless. */
  if (r == 0)
    r = move_children (vm, dom, m.branch, m.branch_parent);
  /* The metadata first: no view shows the snapshot without its files. */
  if (r == 0 && (s = virDomainSnapshotLookupByName (dom, m.branch, 0))
      && virDomainSnapshotDelete (s, VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
             < 0)
    {
      log_error ("VM '%s': cannot delete the metadata of '%s': %s", vm->name,
                 m.branch, virt_error ());
      r = -EIO;
    }
  virResetLastError ();
  for (size_t i = 0; i < m.nbranch && r == 0; i++)
    {
      const char *v = m.branch_children[i].volume;

      int e = host_file_unlink (vm->host, v);

      if (e == 0)
        log_info ("VM '%s': deleted the volume '%s'.", vm->name, v);
      else if (e != -ENOENT)
        log_warning ("VM '%s': cannot delete '%s': %s.", vm->name, v,
                     strerror (-e));
    }
  if (r == 0 && m.branch_memory)
    {
      int e = host_file_unlink (vm->host, m.branch_memory);

      if (e < 0 && e != -ENOENT)
        log_warning ("VM '%s': cannot delete '%s': %s.", vm->name,
                     m.branch_memory, strerror (-e));
    }
  if (r == 0)
    {
      log_info ("VM '%s': snapshot '%s' deleted; its branches stand on "
                "what it stood on.",
                vm->name, m.branch);
      vs_meta_clear_branch (&m);
      r = meta_write (vm, dom, &m);
    }
  vs_meta_clear (&m);
  return r;
}

static bool
deleting (const struct vs_vm *vm)
{
  return vm->branch_deleting;
}

static bool
branch_recorded (const struct vs_meta *m)
{
  return m->branch != NULL;
}

static void
carry_on (const struct vs_vm *vm, virDomainPtr dom)
{
  branch_run (vm, dom);
}

void
branch_recover (const struct vs_host *h)
{
  recover_each (h, deleting, branch_recorded,
                "the deletion of a branch point was under way; carrying it "
                "on.",
                carry_on);
}
