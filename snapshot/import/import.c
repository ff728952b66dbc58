/* vmsnapfs: a new VM from a directory copied out of the mount.
 *
 * `ln -s /backup/dir MOUNT/NEWVM`, as oVirt's export domain is imported.
 * The directory is one of:
 *
 *   - a whole VM (`rsync -a --sparse --exclude '*.img' MOUNT/VM/ DIR/`):
 *     `snapshots/NAME/` with `info.json`, `domain.xml`, each disk's frozen
 *     volume (`TARGET.qcow2`, or `TARGET.raw` for a raw base) and `memory`
 *     where there was some; and `active`, the link to the snapshot the VM
 *     was at.
 *   - one snapshot (`rsync -a --sparse MOUNT/VM/snapshots/NAME/ DIR/`):
 *     `domain.xml`, `info.json`, the whole disks (`TARGET.img`) or
 *     volumes with no backing file (`TARGET.qcow2`), and `memory`.
 *
 * Everything is checked before anything is made: each snapshot's disks are
 * there, of the size info.json says, and stand on their parent's (the
 * backing files are rebuilt from the parents in info.json, `qemu-img
 * rebase -u`, formats always given); `active` names one of them.  Then the
 * files are copied into a directory of NEWVM's (in libvirt's default
 * storage pool), the memory images with NEWVM's domain in their header
 * (saveimage.c), NEWVM is defined from the active snapshot's domain with
 * its own name, UUID, MACs and console files (clone-xml.c), on new volumes
 * over the active snapshot's, each snapshot is redefined against the new
 * files, and `resume` is set where the active snapshot has memory.  A
 * failure at any step undefines NEWVM and removes every file made.
 *
 * The directory is read with the caller's rights, by descriptor, and no
 * file that a volume's header names is opened (import-open.c,
 * import-read.c); a caller who is not root imports only a domain that
 * names no host resource but the files the import makes
 * (import-policy.c).  One import of a name at a time, across daemons; the
 * copy (import-copy.c) stops when the caller gives up (EINTR).
 *
 * What the source VM wrote after its last snapshot is not in an export.
 *
 * Crash model: the import's record (a file in NEWVM's directory,
 * import-record.c) names each file the import makes, written and synced
 * once the file is made (O_EXCL) and before a byte is copied into it; it
 * goes when the VM is whole or rolled back.  The next daemon (or the next
 * import of that name) finds a record and rolls that import back: its VM,
 * unless it runs, and every file it made (import_recover).  Either the
 * whole VM or nothing.  See doc/DESIGN.md, Crash models.
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/conn.h"
#include "host/files.h"
#include "host/ops.h"
#include "host/refresh.h"
#include "host/space.h"

#include "snapshot/clone.h"
#include "snapshot/shared.h"

#include "import.h"

/* The directory NEWVM's files go to (malloc'd): in libvirt's default
 * storage pool, else /var/lib/libvirt/images. */
static char *
images_dir (virConnectPtr conn, const char *name)
{
  CLEANUP_FREE char *base = import_images_base (conn);

  return xasprintf ("%s/%s", base, name);
}

/* Plan NEWVM's files (their names). */
static void
plan_files (struct import *im)
{
  for (size_t i = 0; i < im->nsnaps; i++)
    {
      struct isnap *s = &im->snaps[i];

      for (size_t k = 0; k < s->ndisks; k++)
        {
          struct idisk *d = &s->disks[k];
          CLEANUP_FREE char *stem = xasprintf ("%s.%s", d->target, s->name);

          d->copy = new_volume_in (im->host, im->dir, im->name, stem,
                                   d->convert ? "qcow2" : d->format);
        }
      if (s->memory.rel)
        s->memory_copy
            = new_volume_in (im->host, im->dir, im->name, s->name, "mem");
    }
  /* The volume made at each snapshot: its child's copy, or for the active
   * snapshot the new volume the VM runs on. */
  for (size_t i = 0; i < im->nsnaps; i++)
    for (size_t k = 0; k < im->snaps[i].ndisks; k++)
      {
        struct idisk *d = &im->snaps[i].disks[k];

        for (size_t j = 0; j < im->nsnaps && !d->overlay; j++)
          if (im->snaps[j].parent
              && strcmp (im->snaps[j].parent, im->snaps[i].name) == 0
              && k < im->snaps[j].ndisks && j != i)
            d->overlay = xstrdup (im->snaps[j].disks[k].copy);
        if (i == im->active || d->overlay == NULL)
          {
            CLEANUP_FREE char *stem
                = xasprintf ("%s.from-%s", d->target, im->snaps[i].name);

            if (i == im->active)
              {
                free (d->overlay);
                d->overlay = NULL;
              }
            if (d->overlay == NULL)
              d->overlay
                  = new_volume_in (im->host, im->dir, im->name, stem, "qcow2");
          }
      }
}

/* Whether NEWVM's directory has room for every copy planned: the disks,
 * the memory images and the files booted from (planned by check_domains).
 * Returns 0 or -ENOSPC (logged). */
static int
check_room (struct import *im)
{
  uint64_t need = 0;

  for (size_t i = 0; i < im->nsnaps; i++)
    {
      for (size_t k = 0; k < im->snaps[i].ndisks; k++)
        need += im->snaps[i].disks[k].file.bytes;
      if (im->snaps[i].memory.rel)
        need += im->snaps[i].memory.bytes;
    }
  for (size_t i = 0; i < im->nboots; i++)
    need += im->boots[i].size;
  /* The copies all go to NEWVM's directory (on a remote host, each is
   * made here first, one at a time: not measured). */
  if (im->stage == NULL && !room_beside (im->snaps[0].disks[0].copy, need))
    {
      log_error ("Import: '%s' needs %llu MiB in '%s'; there is less room.",
                 im->name, (unsigned long long)(need >> 20), im->dir);
      return -ENOSPC;
    }
  return 0;
}

/* Whether every snapshot's domain passes policy, before anything is
 * copied: 0, -EPERM or -EINVAL (logged). */
static int
check_domains (struct import *im)
{
  int r = 0;

  for (size_t i = 0; i < im->nsnaps && r == 0; i++)
    {
      struct isnap *s = &im->snaps[i];
      CLEANUP_FREE struct disk_change *frozen = import_frozen_disks (s);
      CLEANUP_FREE char *xml
          = import_domain_xml (im, s->domain_xml, frozen, s->ndisks, NULL);

      r = xml ? import_domain_ok (im, s, xml) : -EINVAL;
    }
  return r < 0 || im->stage ? r : import_nvram_free (im);
}

/* Redefine snapshot S in DOM against NEWVM's files. */
static int
redefine (struct import *im, virDomainPtr dom, struct isnap *s, bool current)
{
  struct disk_change *frozen = import_frozen_disks (s);
  struct disk_change *overlays = xcalloc (s->ndisks, sizeof *overlays);
  CLEANUP_FREE char *domain = NULL, *xml = NULL;
  virDomainSnapshotPtr made = NULL;
  int r = -EINVAL;

  for (size_t k = 0; k < s->ndisks; k++)
    {
      const struct idisk *d = &s->disks[k];

      overlays[k] = (struct disk_change){ d->target, d->overlay, "qcow2" };
    }
  if ((domain = import_domain_xml (im, s->domain_xml, frozen, s->ndisks, NULL))
          != NULL
      && (xml = snap_xml_make (s->name, s->parent, s->created, s->state,
                               s->memory_copy, overlays, s->ndisks, domain))
             != NULL
      && (made = virDomainSnapshotCreateXML (
              dom, xml,
              VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE
                  | (current ? VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT : 0)))
             != NULL)
    r = 0;
  else
    log_error ("Import: snapshot '%s' cannot be defined in '%s': %s", s->name,
               im->name, xml ? virt_error () : "its XML");
  if (made)
    virDomainSnapshotFree (made);
  free (frozen);
  free (overlays);
  return r;
}

/* Remove every file IM made, and NEWVM. */
static void
roll_back (struct import *im, virDomainPtr dom)
{
  if (dom)
    virDomainUndefineFlags (dom, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                                     | VIR_DOMAIN_UNDEFINE_NVRAM);
  for (size_t i = 0; i < im->nsnaps; i++)
    {
      for (size_t k = 0; k < im->snaps[i].ndisks; k++)
        {
          if (im->snaps[i].disks[k].made)
            host_file_unlink (im->host, im->snaps[i].disks[k].copy);
          if (im->snaps[i].disks[k].overlay_made)
            host_file_unlink (im->host, im->snaps[i].disks[k].overlay);
        }
      if (im->snaps[i].memory_made)
        host_file_unlink (im->host, im->snaps[i].memory_copy);
    }
  import_boots_remove (im);
  import_record_end (im); /* nothing left */
  if (im->made_dir && im->stage == NULL)
    rmdir (im->dir);
}

/* Give S's domain the secrets (VNC and SPICE passwords) that its memory
 * image holds as libvirt saved them, read from NEWVM's copy: the mount
 * shows domain.xml without them, so an export's has none. */
static void
add_saved_secrets (virConnectPtr conn, struct isnap *s)
{
  CLEANUP_FREE char *saved = NULL;
  char *with;

  if (s->memory_copy == NULL)
    return;
  saved = virDomainSaveImageGetXMLDesc (conn, s->memory_copy,
                                        VIR_DOMAIN_SAVE_IMAGE_XML_SECURE);
  if (saved == NULL
      || (with = dom_xml_add_secrets (s->domain_xml, saved)) == NULL)
    {
      log_warning ("Import: the secrets in the memory of '%s' cannot be "
                   "read; it is imported without them: %s",
                   s->name, saved ? "its XML" : virt_error ());
      virResetLastError ();
      return;
    }
  free (s->domain_xml);
  s->domain_xml = with;
}

/* Make IM's VM: files, definition, snapshots. */
static int
make (struct import *im, virConnectPtr conn)
{
  struct isnap *a = &im->snaps[im->active];
  struct disk_change *ch = xcalloc (a->ndisks, sizeof *ch);
  struct vs_meta m = { 0 };
  CLEANUP_FREE char *xml = NULL;
  virDomainPtr dom = NULL;
  size_t left = im->nsnaps;
  int r = 0;

  r = import_record_begin (im);
  if (r == 0)
    r = import_copy_boots (im);
  if (r == 0 && import_can_serve (im))
    r = import_serve (im, conn);
  for (size_t i = 0; i < im->nsnaps && r == 0; i++)
    if ((r = import_interrupted (im)) == 0)
      r = import_copy_snapshot (im, &im->snaps[i]);
  for (size_t i = 0; i < im->nsnaps && r == 0; i++)
    add_saved_secrets (conn, &im->snaps[i]);
  if (r == 0 && im->instant)
    import_served_disks (im, ch, &m);
  for (size_t k = 0; k < a->ndisks && r == 0 && !im->instant; k++)
    {
      struct idisk *d = &a->disks[k];

      if ((r = import_claim (im, d->overlay, &d->overlay_made)) < 0)
        break;
      if (host_make_overlay (im->host, d->overlay, d->copy,
                             d->convert ? "qcow2" : d->format, 0)
          < 0)
        r = -EIO;
      else
        d->overlay_made = true;
      ch[k] = (struct disk_change){ d->target, d->overlay, "qcow2" };
    }
  m.resume = a->memory.rel ? a->name : NULL;
  if (r == 0 && (r = import_interrupted (im)) == 0)
    {
      xml = import_domain_xml (im, a->domain_xml, ch, a->ndisks, &m);
      if (xml && (r = import_domain_ok (im, a, xml)) < 0)
        ;
      else if (xml == NULL || (dom = virDomainDefineXML (conn, xml)) == NULL)
        {
          log_error ("Import: libvirt refuses the domain of '%s': %s", a->name,
                     xml ? virt_error () : "it cannot be edited");
          r = -EINVAL;
        }
    }
  /* Parents first; the active one last, made current. */
  while (r == 0 && left > 0)
    {
      size_t before = left;

      for (size_t i = 0; i < im->nsnaps && r == 0; i++)
        {
          struct isnap *s = &im->snaps[i];
          ssize_t p = s->parent ? import_find_snap (im, s->parent) : -1;

          if (s->done || (p >= 0 && !im->snaps[p].done))
            continue;
          if ((r = redefine (im, dom, s, false)) == 0)
            {
              s->done = true;
              left--;
            }
        }
      if (r == 0 && left == before)
        {
          log_error ("Import: the snapshots' parents make a loop.");
          r = -EINVAL;
        }
    }
  if (r == 0)
    r = redefine (im, dom, a, true);
  if (r < 0)
    {
      import_serve_stop (im);
      roll_back (im, dom);
    }
  else
    import_record_end (im); /* the VM whole */
  if (r == 0 && im->instant)
    import_pull_start (im, &m); /* logged; the next daemon tries again */
  import_serve_end (im);
  free (m.clone_disks);
  if (dom)
    virDomainFree (dom);
  free (ch);
  return r;
}

/* The name of the domain in XML (malloc'd), or NULL. */
static char *
domain_name (const char *xml)
{
  const char *a = strstr (xml, "<name>"), *b;

  if (a == NULL || (b = strstr (a, "</name>")) == NULL)
    return NULL;
  return xasprintf ("%.*s", (int)(b - a - 6), a + 6);
}

int
host_import (struct host *host, const char *dir, const char *name,
             const struct caller *who, bool (*cancel) (void))
{
  virConnectPtr conn = NULL;
  virDomainPtr exists = NULL;
  struct import im = {
    .host = host,
    .name = name,
    .x = { .fd = -1 },
    .cancel = cancel,
    .record = -1,
  };
  CLEANUP_FREE char *copy = xstrdup (dir);
  int lock, r, recovered = 0;

  if ((r = snapshot_name_check (name)) < 0)
    {
      log_error ("'%s' is not a name for a VM.", name);
      return r;
    }
  /* One import of a name at a time, in this daemon and in every daemon of
   * this machine. */
  if ((lock = import_name_take (host, name)) == -EEXIST)
    return -EEXIST;
  if ((r = import_open_dir (&im.x, dir, who)) < 0)
    goto out;
  if ((conn = host_conn (host)) == NULL)
    {
      r = -EIO;
      goto out;
    }
  /* The name is this import's: a record in its directory is of one cut
   * short, whose VM and files go first. */
  im.dir = images_dir (conn, name);
  if (host_is_local (host))
    recovered = import_recover_dir (host, im.dir, false);
  if ((exists = virDomainLookupByName (conn, name)) != NULL)
    {
      virDomainFree (exists);
      log_error ("A VM named '%s' exists.", name);
      r = -EEXIST;
      goto out;
    }
  virResetLastError ();
  im.conn = conn;
  if (who->uid != 0)
    im.emulators = import_emulators (conn);
  r = import_read (&im, basename (copy));
  if (r == 0
      && (im.old_name = domain_name (im.snaps[im.active].domain_xml)) == NULL)
    r = -EINVAL;
  if (r == 0)
    {
      char uuid_buf[VIR_UUID_STRING_BUFLEN];

      clone_new_uuid (uuid_buf);
      memcpy (im.uuid, uuid_buf, sizeof im.uuid);
      if (!host_is_local (host))
        {
          /* Made here first, then copied there through libvirt. */
          im.stage = xstrdup ("/var/tmp/vmsnapfs-import.XXXXXX");
          if (mkdtemp (im.stage) == NULL || remote_make_dir (host, im.dir) < 0)
            {
              log_error ("Import: cannot make '%s' there, or a staging "
                         "directory here.",
                         im.dir);
              r = -EIO;
            }
          im.made_dir = true;
        }
      else if ((r = make_vm_dir (im.dir)) == 0)
        im.made_dir = true;
      else if (r == -EEXIST && recovered > 0)
        {
          /* Left by this name's import cut short, just rolled back: its
           * own again, made by it or found by it as before. */
          im.made_dir = recovered == 2;
          r = 0;
        }
      else if (r == -EEXIST)
        /* Its files would count as the import's own. */
        log_error ("Import: '%s' exists, and no import of '%s' made it: "
                   "the name is in use.",
                   im.dir, name);
      else
        {
          log_error ("Import: cannot make '%s': %s.", im.dir, strerror (-r));
          r = -EIO;
        }
    }
  if (r == 0)
    plan_files (&im);
  if (r == 0 && ((r = check_domains (&im)) < 0 || (r = check_room (&im)) < 0))
    roll_back (&im, NULL);
  if (r == 0)
    {
      log_info ("Import: copying '%s' into '%s' for the new VM '%s'.", dir,
                im.dir, name);
      r = make (&im, conn);
    }
  if (r == 0)
    {
      struct vs_vm v;

      vm_stand_in (&v, host, name, im.uuid);
      log_info ("VM '%s': imported from '%s' (%zu snapshots), at '%s'.", name,
                dir, im.nsnaps, im.snaps[im.active].name);
      host_sync (&v, false);
    }
out:
  if (im.stage)
    {
      rmdir (im.stage);
      free (im.stage);
    }
  import_boots_free (&im);
  import_free (&im);
  if (conn)
    virConnectClose (conn);
  import_name_drop (host, name, lock);
  return r;
}
