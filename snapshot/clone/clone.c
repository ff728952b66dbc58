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
 * (vmsnapfs says EBUSY).  Each step is done again or skipped after a
 * restart from what the record and the files say.  A failure before the
 * end undefines NEWVM and removes every file it made: nothing is left.
 * While a copy runs, the source VM's snapshots are not merged or renamed
 * (EBUSY): the volumes being read stay as they are.  The pin that says so
 * is in the source's record, where every vmsnapfs sees it (clonepin.c),
 * from before NEWVM is defined until it is finished or removed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "chain.h"
#include "cleanup.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/build.h"
#include "host/conn.h"
#include "host/files.h"
#include "host/ops.h"
#include "host/refresh.h"
#include "host/saveimage.h"
#include "host/space.h"
#include "host/vmlock.h"
#include "host/vmop.h"

#include "snapshot/clone.h"
#include "snapshot/hooks.h"
#include "snapshot/shared.h"

/* A clone under way. */
struct clone
{
  struct clone *next;
  char uuid[VIR_UUID_STRING_BUFLEN];        /* the clone's */
  char source_uuid[VIR_UUID_STRING_BUFLEN]; /* its source VM's */
  char *name;
  struct host *host;  /* where both are */
  struct vs_meta rec; /* the clone's record, as written */
  uint64_t *need;     /* bytes each copy will take (qemu-img measure) */
  size_t copying;     /* the disk being copied */
  bool copying_memory;
  int lock; /* on the clone, against other daemons (vm_lock_take) */
};

static pthread_mutex_t clones_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t clones_cond = PTHREAD_COND_INITIALIZER;
static struct clone *clones;
static bool stopping;

static bool
is_stopping (void)
{
  SCOPED_LOCK (&clones_lock);
  return stopping;
}

/* The allocated bytes of PATH, 0 when it cannot be read. */
static uint64_t
allocated (const char *path)
{
  struct stat st;

  return stat (path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

size_t
clone_jobs (const char *uuid, size_t max, char **targets,
            virDomainBlockJobInfo *infos, char **snaps)
{
  SCOPED_LOCK (&clones_lock);
  size_t n = 0;

  for (struct clone *c = clones; c && n < max; c = c->next)
    {
      const struct clone_disk *d;
      CLEANUP_FREE char *part = NULL;

      if (strcmp (c->uuid, uuid) != 0 || c->copying_memory
          || c->copying >= c->rec.nclone)
        continue;
      d = &c->rec.clone_disks[c->copying];
      part = xasprintf ("%s.part", d->copy);
      targets[n] = xstrdup (d->target);
      snaps[n] = xstrdup (c->rec.clone_snapshot);
      infos[n] = (virDomainBlockJobInfo){
        .type = VIR_DOMAIN_BLOCK_JOB_TYPE_COPY,
        .end = c->need[c->copying],
        .cur = allocated (part),
      };
      if (infos[n].cur > infos[n].end)
        infos[n].cur = infos[n].end;
      n++;
    }
  return n;
}

static void
clone_free (struct clone *c)
{
  if (c == NULL)
    return;
  if (c->host)
    vm_lock_drop (c->host, c->uuid, c->lock);
  free (c->name);
  vs_meta_clear (&c->rec);
  free (c->need);
  free (c);
}

/* --- the copy ------------------------------------------------------------ */

/* Copy disk I of C whole into its own volume, unless done. */
static int
copy_disk (struct clone *c, size_t i)
{
  const struct clone_disk *d = &c->rec.clone_disks[i];
  CLEANUP_FREE char *part = xasprintf ("%s.part", d->copy);
  char rate[32];
  const char *argv[]
      = { "qemu-img", "convert", "-q", "-f",      d->format, "-O",
          "qcow2",    "-r",      rate, d->source, part,      NULL };
  int r;

  /* -r 0 would be a limit of nothing: no limit is a huge one. */
  snprintf (rate, sizeof rate, "%luM",
            merge_bandwidth () ? merge_bandwidth () : 1024UL * 1024);
  if (!host_is_local (c->host))
    {
      /* A copy there is made again: one a killed daemon began looks
       * whole. */
      pthread_mutex_lock (&clones_lock);
      c->copying = i;
      pthread_mutex_unlock (&clones_lock);
      log_info ("VM '%s': copying '%s' of '%s' into '%s' on its host.",
                c->name, d->target, c->rec.clone_snapshot, d->copy);
      return remote_copy_whole (c->host, d->source, d->copy, "qcow2",
                                c->need[i]);
    }
  if (access (d->copy, F_OK) == 0)
    return 0;
  unlink (part); /* a copy a stopped daemon began */
  pthread_mutex_lock (&clones_lock);
  c->copying = i;
  pthread_mutex_unlock (&clones_lock);
  log_info ("VM '%s': copying '%s' of '%s' into '%s'.", c->name, d->target,
            c->rec.clone_snapshot, d->copy);
  if ((r = run_volume_tool ("The clone's qemu-img convert", argv, is_stopping))
          == 0
      && rename (part, d->copy) < 0)
    r = -errno;
  if (r < 0)
    unlink (part);
  return r;
}

/* The clone's domain in the memory image: its identity and disks. */
static char *
edit_saved (const char *xml, void *arg)
{
  const struct clone *c = arg;
  struct dom_identity id
      = { .name = c->name, .uuid = c->uuid, .old_name = c->rec.clone_vm };
  struct disk_change *ch = xcalloc (c->rec.nclone, sizeof *ch);
  char *s;

  for (size_t i = 0; i < c->rec.nclone; i++)
    ch[i] = (struct disk_change){ c->rec.clone_disks[i].target,
                                  c->rec.clone_disks[i].overlay, "qcow2" };
  s = dom_xml_clone (xml, &id, ch, c->rec.nclone, NULL);
  free (ch);
  return s;
}

static int
copy_memory (struct clone *c)
{
  const char *copy = c->rec.clone_memory_copy;
  CLEANUP_FREE char *part = NULL;
  int r;

  if (c->rec.clone_memory == NULL)
    return 0;
  if (!host_is_local (c->host))
    {
      pthread_mutex_lock (&clones_lock);
      c->copying_memory = true;
      pthread_mutex_unlock (&clones_lock);
      host_file_unlink (c->host, copy); /* begun by a killed daemon */
      return remote_save_image_copy (c->host, c->rec.clone_memory, copy,
                                     edit_saved, c);
    }
  if (access (copy, F_OK) == 0)
    return 0;
  part = xasprintf ("%s.part", copy);
  unlink (part);
  pthread_mutex_lock (&clones_lock);
  c->copying_memory = true;
  pthread_mutex_unlock (&clones_lock);
  r = save_image_copy (c->rec.clone_memory, part, edit_saved, c);
  if (r == 0 && rename (part, copy) < 0)
    r = -errno;
  if (r < 0)
    unlink (part);
  return r;
}

static int
make_overlays (struct clone *c)
{
  for (size_t i = 0; i < c->rec.nclone; i++)
    {
      const struct clone_disk *d = &c->rec.clone_disks[i];

      if (host_file_exists (c->host, d->overlay))
        continue;
      if (host_make_overlay (c->host, d->overlay, d->copy, "qcow2", c->need[i])
          < 0)
        return -EIO;
    }
  return 0;
}

/* Snapshot NAME in the clone DOM, as the source has it, made the clone's;
 * unless it is there. */
static int
define_snapshot (struct clone *c, virDomainPtr dom)
{
  virConnectPtr conn = virDomainGetConnect (dom);
  CLEANUP_DOMAIN virDomainPtr src = NULL;
  CLEANUP_SNAPSHOT virDomainSnapshotPtr s = NULL, made = NULL;
  CLEANUP_FREE char *xml = NULL, *mine = NULL;
  struct dom_identity id
      = { .name = c->name, .uuid = c->uuid, .old_name = c->rec.clone_vm };
  size_t n = c->rec.nclone;
  struct disk_change *frozen = xcalloc (n, sizeof *frozen);
  struct disk_change *overlays = xcalloc (n, sizeof *overlays);
  int r = -EIO;

  if ((s = virDomainSnapshotLookupByName (dom, c->rec.clone_snapshot, 0)))
    {
      r = 0;
      goto out;
    }
  for (size_t i = 0; i < n; i++)
    {
      const struct clone_disk *d = &c->rec.clone_disks[i];

      frozen[i] = (struct disk_change){ d->target, d->copy, "qcow2" };
      overlays[i] = (struct disk_change){ d->target, d->overlay, "qcow2" };
    }
  if ((src = virDomainLookupByUUIDString (conn, c->source_uuid)) == NULL
      || (s = virDomainSnapshotLookupByName (src, c->rec.clone_snapshot, 0))
             == NULL
      || (xml
          = virDomainSnapshotGetXMLDesc (s, VIR_DOMAIN_SNAPSHOT_XML_SECURE))
             == NULL)
    {
      log_error ("VM '%s': cannot read snapshot '%s' of '%s' any more: %s",
                 c->name, c->rec.clone_snapshot, c->rec.clone_vm,
                 virt_error ());
      goto out;
    }
  if ((mine = snap_xml_clone (xml, &id, frozen, overlays, n,
                              c->rec.clone_memory_copy))
      == NULL)
    {
      log_error ("VM '%s': snapshot '%s' of '%s' cannot be made its own.",
                 c->name, c->rec.clone_snapshot, c->rec.clone_vm);
      goto out;
    }
  made = virDomainSnapshotCreateXML (dom, mine,
                                     VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE
                                         | VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT);
  if (made == NULL)
    log_error ("VM '%s': cannot define its snapshot '%s': %s", c->name,
               c->rec.clone_snapshot, virt_error ());
  else
    r = 0;
out:
  free (frozen);
  free (overlays);
  return r;
}

/* The end: the record made "resume NAME" where there is memory. */
static int
finish (struct clone *c, virDomainPtr dom)
{
  struct vs_vm v;
  struct vs_meta m = { 0 };
  int r;

  vm_stand_in (&v, c->host, c->name, c->uuid);
  if ((r = meta_read (&v, dom, &m)) < 0)
    return r;
  vs_meta_clear_clone (&m);
  free (m.resume);
  m.resume = c->rec.clone_memory ? xstrdup (c->rec.clone_snapshot) : NULL;
  r = meta_write (&v, dom, &m);
  vs_meta_clear (&m);
  return r;
}

/* Remove what C made, and NEWVM itself. */
static void
roll_back (struct clone *c, virDomainPtr dom)
{
  const char *files[3];

  if (dom
      && virDomainUndefineFlags (dom, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                                          | VIR_DOMAIN_UNDEFINE_NVRAM)
             < 0)
    log_error ("VM '%s': cannot undefine the unfinished clone: %s", c->name,
               virt_error ());
  for (size_t i = 0; i < c->rec.nclone; i++)
    {
      const struct clone_disk *d = &c->rec.clone_disks[i];
      CLEANUP_FREE char *part = xasprintf ("%s.part", d->copy);

      files[0] = d->copy, files[1] = part, files[2] = d->overlay;
      for (size_t k = 0; k < 3; k++)
        if (host_file_unlink (c->host, files[k]) == 0)
          log_info ("VM '%s': removed '%s'.", c->name, files[k]);
    }
  if (c->rec.clone_memory_copy)
    {
      CLEANUP_FREE char *part
          = xasprintf ("%s.part", c->rec.clone_memory_copy);

      unlink (part);
      host_file_unlink (c->host, c->rec.clone_memory_copy);
    }
}

static void
unregister (struct clone *c)
{
  SCOPED_LOCK (&clones_lock);

  for (struct clone **p = &clones; *p; p = &(*p)->next)
    if (*p == c)
      {
        *p = c->next;
        break;
      }
  pthread_cond_broadcast (&clones_cond);
}

static void *
worker_main (void *arg)
{
  struct clone *c = arg;
  virConnectPtr conn = host_conn (c->host);
  CLEANUP_DOMAIN virDomainPtr dom = NULL;
  struct vs_vm v;
  int r = conn ? 0 : -ESHUTDOWN;

  vm_stand_in (&v, c->host, c->name, c->uuid);
  for (size_t i = 0; r == 0 && i < c->rec.nclone; i++)
    r = copy_disk (c, i);
  if (r == 0)
    r = copy_memory (c);
  if (r == 0)
    r = make_overlays (c);
  if (r == 0 && (dom = virDomainLookupByUUIDString (conn, c->uuid)) == NULL)
    {
      log_error ("VM '%s': the clone went away while it was copied.", c->name);
      r = -ENOENT;
    }
  if (r == 0 && (r = define_snapshot (c, dom)) == 0)
    r = finish (c, dom);
  if (r == 0)
    log_info ("VM '%s': cloned from snapshot '%s' of '%s'.", c->name,
              c->rec.clone_snapshot, c->rec.clone_vm);
  else if (r == -ESHUTDOWN)
    log_info ("VM '%s': the clone's copy stops here; the next start of "
              "vmsnapfs carries it on.",
              c->name);
  else
    {
      log_error ("VM '%s': the clone failed; it is removed.", c->name);
      if (dom == NULL && conn)
        dom = virDomainLookupByUUIDString (conn, c->uuid);
      roll_back (c, dom);
    }
  if (conn)
    virConnectClose (conn);
  if (r != -ESHUTDOWN && c->source_uuid[0])
    clone_unpin (c->host, c->source_uuid, c->rec.clone_vm, c->uuid,
                 is_stopping);
  if (r != -ESHUTDOWN)
    host_sync (&v, true);
  unregister (c);
  clone_free (c);
  return NULL;
}

/* Register C and start its worker, which frees it. */
static int
start_worker (struct clone *c)
{
  int e;

  pthread_mutex_lock (&clones_lock);
  c->next = clones;
  clones = c;
  pthread_mutex_unlock (&clones_lock);
  if ((e = worker_start (worker_main, c)) != 0)
    {
      log_error ("VM '%s': cannot start the clone's copy: %s", c->name,
                 strerror (e));
      unregister (c);
      return -EIO;
    }
  return 0;
}

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

/* The bytes a whole copy of VOLUME (FORMAT) of H takes as qcow2, in *NEED:
 * on a remote host, its virtual size (no qemu-img measure there). */
static int
measure_copy (struct host *h, const char *volume, const char *format,
              uint64_t *need)
{
  const char *argv[] = { "qemu-img", "measure", "--output=json", "-f", format,
                         "-O",       "qcow2",   volume,          NULL };
  CLEANUP_FREE char *out = NULL;
  json_object *o, *req;
  int r;

  if (!host_is_local (h))
    {
      struct chain *c = NULL;

      if ((r = host_chain (h, volume, format, false, &c)) == 0)
        *need = c->images[0].virtual_size;
      chain_free (c);
      return r;
    }
  if ((r = run_capture (argv, 65536, 60000, &out, NULL, NULL)) < 0)
    return -EIO;
  o = json_tokener_parse (out);
  if (o && json_object_object_get_ex (o, "required", &req))
    *need = (uint64_t)json_object_get_int64 (req);
  else
    r = -EIO;
  json_object_put (o);
  return r;
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
      if (measure_copy (vm->host, sd->volume, sd->format, &c->need[i]) < 0)
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
    if ((r = start_worker (c)) < 0)
      {
        roll_back (c, made);
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
        measure_copy (h, m.clone_disks[k].source, m.clone_disks[k].format,
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
          roll_back (c, doms[i]);
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
          if (start_worker (c) < 0)
            clone_free (c);
        }
      virDomainFree (doms[i]);
    }
  free (doms);
  virConnectClose (conn);
}

void
clone_stop (void)
{
  SCOPED_LOCK (&clones_lock);

  stopping = true;
  while (clones)
    pthread_cond_wait (&clones_cond, &clones_lock);
}
