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
 * What the source VM wrote after its last snapshot is not in an export.
 */
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "cleanup.h"
#include "internal.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#define IMPORT_MAX_SNAPSHOTS 4096
#define IMPORT_MAX_FILE (64 * 1024 * 1024)
#define DEFAULT_IMAGES "/var/lib/libvirt/images"

struct idisk
{
  char *target;
  char *file;   /* in the export */
  char *format; /* of FILE */
  bool convert; /* a whole raw disk: made a qcow2 volume */
  uint64_t size;
  char *copy;    /* NEWVM's */
  char *overlay; /* the volume made at the snapshot, in NEWVM */
};

struct isnap
{
  char *name;
  char *parent;
  long long created;
  const char *state; /* libvirt's word */
  char *domain_xml;
  char *memory;
  char *memory_copy;
  size_t ndisks;
  struct idisk *disks;
  bool done; /* redefined */
};

struct import
{
  struct host *host;
  char *stage; /* a remote host's: where its files are made here first */
  const char *name;
  char uuid[VIR_UUID_STRING_BUFLEN];
  char *old_name; /* the source VM's, from the active domain.xml */
  char *dir;      /* NEWVM's, for its files */
  bool made_dir;
  size_t nsnaps;
  struct isnap *snaps;
  size_t active;
};

static void
import_free (struct import *im)
{
  for (size_t i = 0; i < im->nsnaps; i++)
    {
      struct isnap *s = &im->snaps[i];

      for (size_t k = 0; k < s->ndisks; k++)
        {
          free (s->disks[k].target);
          free (s->disks[k].file);
          free (s->disks[k].format);
          free (s->disks[k].copy);
          free (s->disks[k].overlay);
        }
      free (s->disks);
      free (s->name);
      free (s->parent);
      free (s->domain_xml);
      free (s->memory);
      free (s->memory_copy);
    }
  free (im->snaps);
  free (im->old_name);
  free (im->dir);
}

/* The contents of PATH (malloc'd, NUL-terminated), or NULL. */
static char *
read_small (const char *path)
{
  CLEANUP_FREE char *buf = NULL;
  FILE *f = fopen (path, "re");
  size_t len = 0, cap = 0, n;
  char *r;

  if (f == NULL)
    return NULL;
  do
    {
      if (len + 4096 + 1 > cap)
        buf = xrealloc (buf, cap = (cap + 4096) * 2);
      n = fread (buf + len, 1, 4096, f);
      len += n;
    }
  while (n > 0 && len <= IMPORT_MAX_FILE);
  fclose (f);
  if (len > IMPORT_MAX_FILE)
    return NULL;
  buf[len] = '\0';
  r = buf;
  buf = NULL;
  return r;
}

static const char *
jstr (json_object *o, const char *key)
{
  json_object *v;

  return json_object_object_get_ex (o, key, &v)
                 && json_object_is_type (v, json_type_string)
             ? json_object_get_string (v)
             : NULL;
}

/* libvirt's state word for a snapshot of SPEC's VM_STATE, with or without
 * memory. */
static const char *
libvirt_state (const char *vm_state, bool memory)
{
  if (memory)
    return "running";
  if (vm_state && strcmp (vm_state, "shut_off") == 0)
    return "shutoff";
  return "disk-snapshot";
}

static bool
is_memory_image (const char *path)
{
  char magic[16];
  FILE *f = fopen (path, "re");
  bool ok = f && fread (magic, 1, 16, f) == 16
            && memcmp (magic, "LibvirtQemudSave", 16) == 0;

  if (f)
    fclose (f);
  return ok;
}

/* Read snapshot directory SDIR into S: DEFAULT_NAME when info.json names
 * none, WHOLE for a whole VM's export (frozen volumes), else one
 * snapshot's (whole disks).  Returns 0 or -EINVAL (logged). */
static int
read_snapshot (const char *sdir, const char *default_name, bool whole,
               struct isnap *s)
{
  CLEANUP_FREE char *info = NULL, *dpath = NULL, *ipath = NULL, *mpath = NULL;
  json_object *o = NULL, *disks = NULL;
  struct dom_xml *dx = NULL;
  const char *created, *mem;
  bool memory;
  int r = -EINVAL;

  dpath = xasprintf ("%s/domain.xml", sdir);
  ipath = xasprintf ("%s/info.json", sdir);
  mpath = xasprintf ("%s/memory", sdir);
  if ((s->domain_xml = read_small (dpath)) == NULL
      || dom_xml_parse (s->domain_xml, &dx) < 0)
    {
      log_error ("Import: '%s' is missing or not a domain's XML.", dpath);
      goto out;
    }
  info = read_small (ipath);
  if (info && (o = json_tokener_parse (info)) == NULL)
    {
      log_error ("Import: '%s' is not JSON.", ipath);
      goto out;
    }
  if (o == NULL && whole)
    {
      log_error ("Import: '%s' is missing.", ipath);
      goto out;
    }
  s->name = xstrdup (o && jstr (o, "name") ? jstr (o, "name") : default_name);
  s->parent = o && jstr (o, "parent") && *jstr (o, "parent")
                  ? xstrdup (jstr (o, "parent"))
                  : NULL;
  if (!whole)
    {
      free (s->parent);
      s->parent = NULL; /* one snapshot: a root */
    }
  s->created = time (NULL);
  if (o && (created = jstr (o, "created")) != NULL)
    {
      struct tm tm = { 0 };

      if (strptime (created, "%Y-%m-%dT%H:%M:%SZ", &tm))
        s->created = (long long)timegm (&tm);
    }
  mem = o ? jstr (o, "memory") : NULL;
  memory = mem ? strcmp (mem, "yes") == 0 : access (mpath, F_OK) == 0;
  if (memory && !is_memory_image (mpath))
    {
      log_error ("Import: snapshot '%s' had memory, and '%s' is missing or "
                 "not a memory image.",
                 s->name, mpath);
      goto out;
    }
  s->memory = memory ? xstrdup (mpath) : NULL;
  s->state = libvirt_state (o ? jstr (o, "vm_state") : NULL, memory);
  if (o)
    json_object_object_get_ex (o, "disks", &disks);

  s->disks = xcalloc (dx->ndisks ? dx->ndisks : 1, sizeof *s->disks);
  for (size_t i = 0; i < dx->ndisks; i++)
    {
      const char *t = dx->disks[i].target;
      struct idisk *d = &s->disks[s->ndisks++];
      const char *fmt = NULL;
      uint64_t want = 0;
      struct chain *c = NULL;

      d->target = xstrdup (t);
      for (size_t j = 0; disks && j < json_object_array_length (disks); j++)
        {
          json_object *dj = json_object_array_get_idx (disks, j), *v;

          if (jstr (dj, "target") && strcmp (jstr (dj, "target"), t) == 0)
            {
              fmt = jstr (dj, "format");
              if (json_object_object_get_ex (dj, "virtual_size", &v))
                want = (uint64_t)json_object_get_int64 (v);
            }
        }
      if (whole)
        {
          d->format
              = xstrdup (fmt && strcmp (fmt, "raw") == 0 ? "raw" : "qcow2");
          d->file = xasprintf ("%s/%s.%s", sdir, t, d->format);
        }
      else
        {
          d->file = xasprintf ("%s/%s.img", sdir, t);
          d->format = xstrdup ("raw");
          d->convert = true;
          if (access (d->file, F_OK) != 0)
            {
              free (d->file);
              d->file = xasprintf ("%s/%s.qcow2", sdir, t);
              free (d->format);
              d->format = xstrdup ("qcow2");
              d->convert = false;
            }
        }
      if (access (d->file, R_OK) != 0)
        {
          log_error ("Import: snapshot '%s' has no file for disk '%s' "
                     "('%s').",
                     s->name, t, d->file);
          goto out;
        }
      if (chain_probe (d->file, d->format, false, &c) < 0)
        {
          log_error ("Import: '%s' is not a %s volume.", d->file, d->format);
          goto out;
        }
      d->size = c->images[0].virtual_size;
      if ((s->parent == NULL) != (c->images[0].backing == NULL))
        {
          log_error ("Import: '%s' %s, and snapshot '%s' %s.", d->file,
                     c->images[0].backing ? "has a backing file"
                                          : "stands on nothing",
                     s->name, s->parent ? "has a parent" : "is a root");
          chain_free (c);
          goto out;
        }
      chain_free (c);
      if (want && want != d->size)
        {
          log_error ("Import: disk '%s' of snapshot '%s' is of %llu bytes, "
                     "not the %llu info.json says.",
                     t, s->name, (unsigned long long)d->size,
                     (unsigned long long)want);
          goto out;
        }
    }
  if (s->ndisks == 0)
    {
      log_error ("Import: snapshot '%s' has no disk.", s->name);
      goto out;
    }
  r = 0;
out:
  json_object_put (o);
  dom_xml_free (dx);
  return r;
}

static ssize_t
find_snap (const struct import *im, const char *name)
{
  for (size_t i = 0; i < im->nsnaps; i++)
    if (strcmp (im->snaps[i].name, name) == 0)
      return (ssize_t)i;
  return -1;
}

/* Read a whole VM's export DIR into IM. */
static int
read_vm (const char *dir, struct import *im)
{
  CLEANUP_FREE char *sdir = xasprintf ("%s/snapshots", dir);
  CLEANUP_FREE char *alink = xasprintf ("%s/active", dir);
  char target[512];
  DIR *d = opendir (sdir);
  struct dirent *e;
  ssize_t n;
  int r = 0;

  if (d == NULL)
    return -EINVAL;
  while (r == 0 && (e = readdir (d)) != NULL)
    {
      CLEANUP_FREE char *p = NULL;

      if (e->d_name[0] == '.')
        continue;
      if (im->nsnaps == IMPORT_MAX_SNAPSHOTS)
        {
          r = -EINVAL;
          break;
        }
      p = xasprintf ("%s/%s", sdir, e->d_name);
      im->snaps = xrealloc (im->snaps, (im->nsnaps + 1) * sizeof *im->snaps);
      memset (&im->snaps[im->nsnaps], 0, sizeof *im->snaps);
      r = read_snapshot (p, e->d_name, true, &im->snaps[im->nsnaps++]);
    }
  closedir (d);
  if (r < 0)
    return r;
  if (im->nsnaps == 0)
    {
      log_error ("Import: '%s' holds no snapshot.", sdir);
      return -EINVAL;
    }
  for (size_t i = 0; i < im->nsnaps; i++)
    if (im->snaps[i].parent && find_snap (im, im->snaps[i].parent) < 0)
      {
        log_error ("Import: the parent '%s' of snapshot '%s' is not in the "
                   "export: the chain is broken.",
                   im->snaps[i].parent, im->snaps[i].name);
        return -EINVAL;
      }
  n = readlink (alink, target, sizeof target - 1);
  if (n <= 10 || strncmp (target, "snapshots/", 10) != 0)
    {
      log_error ("Import: '%s' is not a link to snapshots/NAME.", alink);
      return -EINVAL;
    }
  target[n] = '\0';
  if ((n = find_snap (im, target + 10)) < 0)
    {
      log_error ("Import: 'active' names '%s', which is not in the export.",
                 target);
      return -EINVAL;
    }
  im->active = (size_t)n;
  return 0;
}

/* The directory NEWVM's files go to: in libvirt's default storage pool
 * (its target path), else DEFAULT_IMAGES. */
static char *
images_dir (virConnectPtr conn, const char *name)
{
  virStoragePoolPtr pool = virStoragePoolLookupByName (conn, "default");
  CLEANUP_FREE char *xml = pool ? virStoragePoolGetXMLDesc (pool, 0) : NULL;
  char *base = NULL, *a, *b;

  if (pool)
    virStoragePoolFree (pool);
  if (xml && (a = strstr (xml, "<path>")) && (b = strstr (a, "</path>")))
    base = xasprintf ("%.*s", (int)(b - a - 6), a + 6);
  else
    virResetLastError ();
  a = xasprintf ("%s/%s", base ? base : DEFAULT_IMAGES, name);
  free (base);
  return a;
}

/* Plan NEWVM's files, and check the room.  Returns 0 or -ENOSPC. */
static int
plan_files (struct import *im)
{
  uint64_t need = 0;
  struct stat st;

  for (size_t i = 0; i < im->nsnaps; i++)
    {
      struct isnap *s = &im->snaps[i];

      for (size_t k = 0; k < s->ndisks; k++)
        {
          struct idisk *d = &s->disks[k];
          CLEANUP_FREE char *stem = xasprintf ("%s/%s.%s.%s", im->dir,
                                               im->name, d->target, s->name);

          d->copy = new_volume_path (im->host, stem, strrchr (stem, '/') + 1,
                                     d->convert ? "qcow2" : d->format);
          if (stat (d->file, &st) == 0)
            need += (uint64_t)st.st_blocks * 512;
        }
      if (s->memory)
        {
          CLEANUP_FREE char *stem
              = xasprintf ("%s/%s.%s", im->dir, im->name, s->name);

          s->memory_copy = new_volume_path (im->host, stem,
                                            strrchr (stem, '/') + 1, "mem");
          if (stat (s->memory, &st) == 0)
            need += (uint64_t)st.st_size;
        }
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
                = xasprintf ("%s/%s.%s.from-%s", im->dir, im->name, d->target,
                             im->snaps[i].name);

            if (i == im->active)
              {
                free (d->overlay);
                d->overlay = NULL;
              }
            if (d->overlay == NULL)
              d->overlay = new_volume_path (im->host, stem,
                                            strrchr (stem, '/') + 1, "qcow2");
          }
      }
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

static char *
edit_saved (const char *xml, void *arg)
{
  const struct import *im = arg;
  struct dom_identity id = { im->name, im->uuid, im->old_name, im->dir };

  return dom_xml_clone (xml, &id, NULL, 0, NULL);
}

/* Where file PATH of NEWVM is made (malloc'd): PATH itself, or for a
 * remote host its name in the staging directory here. */
static char *
staged (const struct import *im, const char *path)
{
  if (im->stage == NULL)
    return xstrdup (path);
  return xasprintf ("%s/%s", im->stage, strrchr (path, '/') + 1);
}

/* A staged file DST goes to PATH on the remote host (backing files named
 * as they are there), and is removed here. */
static int
unstage (const struct import *im, const char *dst, const char *path)
{
  int r;

  if (im->stage == NULL)
    return 0;
  r = remote_upload (im->host, dst, path);
  unlink (dst);
  return r;
}

/* Copy the files of snapshot S, and give its volumes their parent's. */
static int
copy_snapshot (struct import *im, const struct isnap *s)
{
  const struct isnap *p
      = s->parent ? &im->snaps[find_snap (im, s->parent)] : NULL;
  int r = 0;

  for (size_t k = 0; k < s->ndisks && r == 0; k++)
    {
      const struct idisk *d = &s->disks[k];
      const struct idisk *pd = NULL;
      CLEANUP_FREE char *dst = staged (im, d->copy);

      for (size_t j = 0; p && j < p->ndisks; j++)
        if (strcmp (p->disks[j].target, d->target) == 0)
          pd = &p->disks[j];
      if ((r = create_private (dst)) < 0)
        log_error ("Import: cannot create '%s': %s.", dst, strerror (-r));
      else if (d->convert)
        {
          const char *argv[] = { "qemu-img", "convert", "-q",    "-f", "raw",
                                 "-O",       "qcow2",   d->file, dst,  NULL };
          r = run_volume_tool ("Import: qemu-img convert", argv, NULL);
        }
      else
        {
          const char *argv[] = { "cp", "--sparse=always", d->file, dst, NULL };
          r = run_volume_tool ("Import: cp", argv, NULL);
        }
      if (r == 0 && p && pd == NULL)
        {
          log_error ("Import: snapshot '%s' has disk '%s', its parent '%s' "
                     "has not.",
                     s->name, d->target, p->name);
          r = -EINVAL;
        }
      if (r == 0 && pd)
        {
          const char *argv[]
              = { "qemu-img", "rebase", "-u",       "-f", d->format, "-b",
                  pd->copy,   "-F",     pd->format, dst,  NULL };
          r = run_volume_tool ("Import: qemu-img rebase -u", argv, NULL);
        }
      if (r == 0)
        r = unstage (im, dst, d->copy);
    }
  if (r == 0 && s->memory)
    {
      CLEANUP_FREE char *dst = staged (im, s->memory_copy);

      r = save_image_copy (s->memory, dst, edit_saved, im);
      if (r == 0)
        r = unstage (im, dst, s->memory_copy);
    }
  return r;
}

/* Redefine snapshot S in DOM against NEWVM's files. */
static int
redefine (struct import *im, virDomainPtr dom, struct isnap *s, bool current)
{
  struct dom_identity id = { im->name, im->uuid, im->old_name, im->dir };
  struct disk_change *frozen = xcalloc (s->ndisks, sizeof *frozen);
  struct disk_change *overlays = xcalloc (s->ndisks, sizeof *overlays);
  CLEANUP_FREE char *domain = NULL, *xml = NULL;
  virDomainSnapshotPtr made = NULL;
  int r = -EINVAL;

  for (size_t k = 0; k < s->ndisks; k++)
    {
      const struct idisk *d = &s->disks[k];

      frozen[k] = (struct disk_change){ d->target, d->copy,
                                        d->convert ? "qcow2" : d->format };
      overlays[k] = (struct disk_change){ d->target, d->overlay, "qcow2" };
    }
  if ((domain = dom_xml_clone (s->domain_xml, &id, frozen, s->ndisks, NULL))
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
          host_file_unlink (im->host, im->snaps[i].disks[k].copy);
          if (i == im->active)
            host_file_unlink (im->host, im->snaps[i].disks[k].overlay);
        }
      if (im->snaps[i].memory_copy)
        host_file_unlink (im->host, im->snaps[i].memory_copy);
    }
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
  if (saved == NULL || (with = dom_xml_add_secrets (s->domain_xml, saved))
                           == NULL)
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
  struct dom_identity id = { im->name, im->uuid, NULL, im->dir };
  struct disk_change *ch = xcalloc (a->ndisks, sizeof *ch);
  struct vs_meta m = { 0 };
  CLEANUP_FREE char *xml = NULL;
  virDomainPtr dom = NULL;
  size_t left = im->nsnaps;
  int r = 0;

  id.old_name = im->old_name;
  for (size_t i = 0; i < im->nsnaps && r == 0; i++)
    r = copy_snapshot (im, &im->snaps[i]);
  for (size_t i = 0; i < im->nsnaps && r == 0; i++)
    add_saved_secrets (conn, &im->snaps[i]);
  for (size_t k = 0; k < a->ndisks && r == 0; k++)
    {
      const struct idisk *d = &a->disks[k];

      if (host_make_overlay (im->host, d->overlay, d->copy,
                             d->convert ? "qcow2" : d->format, 0)
          < 0)
        r = -EIO;
      ch[k] = (struct disk_change){ d->target, d->overlay, "qcow2" };
    }
  m.resume = a->memory ? a->name : NULL;
  if (r == 0)
    {
      xml = dom_xml_clone (a->domain_xml, &id, ch, a->ndisks, &m);
      if (xml == NULL || (dom = virDomainDefineXML (conn, xml)) == NULL)
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
          ssize_t p = s->parent ? find_snap (im, s->parent) : -1;

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
    roll_back (im, dom);
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
host_import (struct host *host, const char *dir, const char *name)
{
  virConnectPtr conn = NULL;
  virDomainPtr exists = NULL;
  struct import im = { .host = host, .name = name };
  CLEANUP_FREE char *sdir = NULL;
  struct stat st;
  int r;

  if ((r = snapshot_name_check (name)) < 0)
    {
      log_error ("'%s' is not a name for a VM.", name);
      return r;
    }
  if (stat (dir, &st) < 0 || !S_ISDIR (st.st_mode))
    {
      log_error ("Import: '%s' is not a directory.", dir);
      return -EINVAL;
    }
  if ((conn = host_conn (host)) == NULL)
    return -EIO;
  if ((exists = virDomainLookupByName (conn, name)) != NULL)
    {
      virDomainFree (exists);
      virConnectClose (conn);
      log_error ("A VM named '%s' exists.", name);
      return -EEXIST;
    }
  virResetLastError ();
  sdir = xasprintf ("%s/snapshots", dir);
  if (stat (sdir, &st) == 0 && S_ISDIR (st.st_mode))
    r = read_vm (dir, &im);
  else
    {
      CLEANUP_FREE char *copy = xstrdup (dir);

      im.snaps = xcalloc (1, sizeof *im.snaps);
      im.nsnaps = 1;
      r = read_snapshot (dir, basename (copy), false, &im.snaps[0]);
    }
  if (r == 0
      && (im.old_name = domain_name (im.snaps[im.active].domain_xml)) == NULL)
    r = -EINVAL;
  if (r == 0)
    {
      char uuid_buf[VIR_UUID_STRING_BUFLEN];

      clone_new_uuid (uuid_buf);
      memcpy (im.uuid, uuid_buf, sizeof im.uuid);
      im.dir = images_dir (conn, name);
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
      else if (r == -EEXIST)
        r = 0;
      else
        {
          log_error ("Import: cannot make '%s': %s.", im.dir, strerror (-r));
          r = -EIO;
        }
    }
  if (r == 0 && (r = plan_files (&im)) < 0)
    roll_back (&im, NULL);
  if (r == 0)
    {
      log_info ("Import: copying '%s' into '%s' for the new VM '%s'.", dir,
                im.dir, name);
      r = make (&im, conn);
    }
  if (r == 0)
    {
      struct vs_vm v = { .name = (char *)name, .host = host };

      memcpy (v.uuid, im.uuid, sizeof v.uuid);
      log_info ("VM '%s': imported from '%s' (%zu snapshots), at '%s'.", name,
                dir, im.nsnaps, im.snaps[im.active].name);
      host_sync (&v, false);
    }
  if (im.stage)
    {
      rmdir (im.stage);
      free (im.stage);
    }
  import_free (&im);
  virConnectClose (conn);
  return r;
}
