/* vmsnapfs: an export directory read (import.h): each snapshot's
 * domain.xml, info.json, disks and memory, and the link 'active', checked
 * as they are read; every file opened with the importer's rights
 * (import-open.c).  The disk images are never given to qemu-img here: a
 * qcow2's header is read by hand, so the files its author names in it (a
 * backing file, an external data file) are never opened.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "import.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

/* Open REL of X into F (its name, identity and size kept): the
 * descriptor, or as import_open. */
static int
xfile_open (const struct import_dir *x, const char *rel, struct xfile *f)
{
  struct stat st;
  int fd = import_open (x, rel, &st);

  free (f->rel);
  free (f->shown);
  f->rel = xstrdup (rel);
  f->shown = xasprintf ("%s/%s", x->path, rel);
  if (fd >= 0)
    {
      f->dev = st.st_dev;
      f->ino = st.st_ino;
      f->size = (uint64_t)st.st_size;
      f->bytes = data_bytes (fd, f->size);
    }
  return fd;
}

static void
xfile_clear (struct xfile *f)
{
  free (f->rel);
  free (f->shown);
  f->rel = f->shown = NULL;
}

/* The contents of REL in X into *OUT (malloc'd, NUL-terminated): 0,
 * -ENOENT, -EINVAL (over IMPORT_MAX_TEXT, or past what X may still read
 * in all: logged "too large"), or as import_open. */
static int
read_small (const struct import_dir *x, const char *rel, char **out)
{
  CLEANUP_FREE char *buf = NULL;
  CLEANUP_CLOSE int fd = -1;
  struct stat st;
  size_t len = 0, cap = 0;
  ssize_t n = 1;

  *out = NULL;
  if ((fd = import_open (x, rel, &st)) < 0)
    return fd;
  while (n > 0 && len <= IMPORT_MAX_TEXT
         && (uint64_t)st.st_size <= IMPORT_MAX_TEXT)
    {
      if (len + 4096 + 1 > cap)
        buf = xrealloc (buf, cap = (cap + 4096) * 2);
      n = read (fd, buf + len, 4096);
      if (n < 0 && errno == EINTR)
        {
          n = 1;
          continue;
        }
      if (n < 0)
        return -EIO;
      len += (size_t)n;
    }
  if (len > IMPORT_MAX_TEXT || (uint64_t)st.st_size > IMPORT_MAX_TEXT)
    {
      log_error ("Import: '%s/%s' is too large (over %d KiB): nothing is "
                 "imported.",
                 x->path, rel, IMPORT_MAX_TEXT / 1024);
      return -EINVAL;
    }
  if (x->read_left && len > *x->read_left)
    {
      log_error ("Import: '%s' is too large: its XML and JSON pass %d MiB "
                 "in all (at '%s'); nothing is imported.",
                 x->path, IMPORT_MAX_READ >> 20, rel);
      return -EINVAL;
    }
  if (x->read_left)
    *x->read_left -= len;
  buf[len] = '\0';
  *out = buf;
  buf = NULL;
  return 0;
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

static uint64_t
be (const unsigned char *p, int n)
{
  uint64_t v = 0;

  for (int i = 0; i < n; i++)
    v = (v << 8) | p[i];
  return v;
}

#define QCOW2_INCOMPAT_DATA_FILE (1ULL << 2)

int
import_qcow2_header (int fd, uint64_t *size, bool *backing)
{
  unsigned char h[104] = { 0 };
  ssize_t n = pread_full (fd, h, sizeof h, 0);
  uint64_t version = be (h + 4, 4);

  if (n < 72 || be (h, 4) != 0x514649fb || version < 2 || version > 3)
    return -EINVAL;
  if (version == 3 && (n < 104 || (be (h + 72, 8) & QCOW2_INCOMPAT_DATA_FILE)))
    return -EINVAL;
  *backing = be (h + 8, 8) != 0;
  *size = be (h + 24, 8);
  return 0;
}

/* Open disk TARGET of snapshot S in directory SDIR ("" or "DIR/") into D:
 * its file (TARGET.FORMAT for a whole VM, else TARGET.img or
 * TARGET.qcow2), size and whether it has a backing file. */
static int
read_disk (const struct import_dir *x, const char *sdir, bool whole,
           const char *fmt, const struct isnap *s, struct idisk *d,
           bool *backing)
{
  CLEANUP_FREE char *rel = NULL;
  CLEANUP_CLOSE int fd = -1;
  struct stat st;

  d->format = xstrdup (whole && fmt && strcmp (fmt, "raw") == 0 ? "raw"
                       : whole                                  ? "qcow2"
                                                                : "raw");
  d->convert = !whole;
  rel = xasprintf ("%s%s.%s", sdir, d->target, whole ? d->format : "img");
  fd = xfile_open (x, rel, &d->file);
  if (fd == -ENOENT && !whole)
    {
      free (rel);
      rel = xasprintf ("%s%s.qcow2", sdir, d->target);
      free (d->format);
      d->format = xstrdup ("qcow2");
      d->convert = false;
      fd = xfile_open (x, rel, &d->file);
    }
  if (fd == -ENOENT)
    {
      log_error ("Import: snapshot '%s' has no file for disk '%s' "
                 "('%s').",
                 s->name, d->target, d->file.shown);
      return -EINVAL;
    }
  if (fd < 0)
    return fd;
  *backing = false;
  if (strcmp (d->format, "raw") == 0)
    {
      fstat (fd, &st);
      d->size = (uint64_t)st.st_size;
    }
  else if (import_qcow2_header (fd, &d->size, backing) < 0)
    {
      log_error ("Import: '%s' is not a qcow2 volume of its own (no "
                 "external data file).",
                 d->file.shown);
      return -EINVAL;
    }
  return 0;
}

/* Whether REL of X is a memory image libvirt wrote (its magic), kept in
 * F: 0, -EBADMSG, or as import_open. */
static int
read_memory (const struct import_dir *x, const char *rel, struct xfile *f)
{
  CLEANUP_CLOSE int fd = xfile_open (x, rel, f);
  char magic[16];

  if (fd < 0)
    return fd;
  f->bytes = f->size; /* copied whole */
  return pread_full (fd, magic, 16, 0) == 16
                 && memcmp (magic, "LibvirtQemudSave", 16) == 0
             ? 0
             : -EBADMSG;
}

/* Whether NAME, a snapshot's name in the export (info.json's, or its
 * directory's), passes mkdir's check (snapshot_name_check): 0, or -EINVAL
 * (logged), whatever the check says, before it is used at all. */
static int
name_ok (const struct import_dir *x, const char *file, const char *name)
{
  CLEANUP_FREE char *shown = NULL;

  if (snapshot_name_check (name) == 0)
    return 0;
  shown = printable (name);
  log_error ("Import: '%s/%s' names a snapshot '%.200s%s', not a valid name "
             "(1 to %d bytes of UTF-8 without '/' or control characters, "
             "not starting with '.'): nothing is imported.",
             x->path, file, shown, strlen (shown) > 200 ? "..." : "",
             SNAPSHOT_NAME_MAX);
  return -EINVAL;
}

/* Read snapshot directory SDIR ("" for the top, else "snapshots/NAME/")
 * into S: DEFAULT_NAME when info.json names none, WHOLE for a whole VM's
 * export (frozen volumes), else one snapshot's (whole disks).  Returns 0,
 * -EINVAL or -EACCES (logged). */
static int
read_snapshot (const struct import_dir *x, const char *sdir,
               const char *default_name, bool whole, struct isnap *s)
{
  CLEANUP_FREE char *info = NULL, *dpath = NULL, *ipath = NULL, *mpath = NULL;
  json_object *o = NULL, *disks = NULL;
  struct dom_xml *dx = NULL;
  const char *created, *mem;
  bool memory;
  int r, e;

  dpath = xasprintf ("%sdomain.xml", sdir);
  ipath = xasprintf ("%sinfo.json", sdir);
  mpath = xasprintf ("%smemory", sdir);
  if ((r = read_small (x, dpath, &s->domain_xml)) == -EACCES || r == -EINVAL)
    goto out;
  if (r < 0 || dom_xml_parse (s->domain_xml, &dx) < 0)
    {
      log_error ("Import: '%s/%s' is missing or not a domain's XML.", x->path,
                 dpath);
      r = -EINVAL;
      goto out;
    }
  r = -EINVAL;
  if ((e = read_small (x, ipath, &info)) == -EACCES || e == -EINVAL)
    {
      r = e;
      goto out;
    }
  if (info && (o = json_tokener_parse (info)) == NULL)
    {
      log_error ("Import: '%s/%s' is not JSON.", x->path, ipath);
      goto out;
    }
  if (o == NULL && whole)
    {
      log_error ("Import: '%s/%s' is missing.", x->path, ipath);
      goto out;
    }
  s->name = xstrdup (o && jstr (o, "name") ? jstr (o, "name") : default_name);
  s->parent = whole && o && jstr (o, "parent") && *jstr (o, "parent")
                  ? xstrdup (jstr (o, "parent"))
                  : NULL; /* one snapshot: a root */
  if (name_ok (x, ipath, s->name) < 0
      || (s->parent && name_ok (x, ipath, s->parent) < 0))
    goto out;
  s->created = time (NULL);
  if (o && (created = jstr (o, "created")) != NULL)
    {
      struct tm tm = { 0 };

      if (strptime (created, "%Y-%m-%dT%H:%M:%SZ", &tm))
        s->created = (long long)timegm (&tm);
    }
  mem = o ? jstr (o, "memory") : NULL;
  e = read_memory (x, mpath, &s->memory);
  memory = mem ? strcmp (mem, "yes") == 0 : e != -ENOENT;
  if (e == -EACCES || e == -EINVAL)
    {
      r = e;
      goto out;
    }
  if (memory && e < 0)
    {
      log_error ("Import: snapshot '%s' had memory, and '%s/%s' is missing "
                 "or not a memory image.",
                 s->name, x->path, mpath);
      goto out;
    }
  if (!memory)
    xfile_clear (&s->memory);
  s->state = libvirt_state (o ? jstr (o, "vm_state") : NULL, memory);
  if (o)
    json_object_object_get_ex (o, "disks", &disks);

  s->disks = xcalloc (dx->ndisks ? dx->ndisks : 1, sizeof *s->disks);
  for (size_t i = 0; i < dx->ndisks; i++)
    {
      const char *t = dx->disks[i].target, *fmt = NULL;
      struct idisk *d = &s->disks[s->ndisks++];
      uint64_t want = 0;
      bool backing;

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
      if ((e = read_disk (x, sdir, whole, fmt, s, d, &backing)) < 0)
        {
          r = e;
          goto out;
        }
      if ((s->parent != NULL) != backing)
        {
          log_error ("Import: '%s' %s, and snapshot '%s' %s.", d->file.shown,
                     backing ? "has a backing file" : "stands on nothing",
                     s->name, s->parent ? "has a parent" : "is a root");
          goto out;
        }
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

ssize_t
import_find_snap (const struct import *im, const char *name)
{
  for (size_t i = 0; i < im->nsnaps; i++)
    if (strcmp (im->snaps[i].name, name) == 0)
      return (ssize_t)i;
  return -1;
}

struct link_call
{
  const struct import_dir *x;
  char target[512];
  ssize_t n;
};

static int
readlink_fn (void *p)
{
  struct link_call *l = p;

  l->n = readlinkat (l->x->fd, "active", l->target, sizeof l->target - 1);
  return l->n < 0 ? -errno : 0;
}

/* Which snapshot the whole VM's export IM->x was at: its link 'active'. */
static int
read_active (struct import *im)
{
  struct link_call l = { .x = &im->x };
  ssize_t n;

  if (as_caller (im->x.who, readlink_fn, &l) < 0 || l.n <= 10
      || strncmp (l.target, "snapshots/", 10) != 0)
    {
      log_error ("Import: '%s/active' is not a link to snapshots/NAME.",
                 im->x.path);
      return -EINVAL;
    }
  l.target[l.n] = '\0';
  if ((n = import_find_snap (im, l.target + 10)) < 0)
    {
      log_error ("Import: 'active' names '%s', which is not in the export.",
                 l.target);
      return -EINVAL;
    }
  im->active = (size_t)n;
  return 0;
}

/* Read a whole VM's export, its directory snapshots/ open on SFD, into
 * IM. */
static int
read_vm (struct import *im, int sfd)
{
  DIR *d = fdopendir (sfd);
  struct dirent *e;
  int r = 0;

  if (d == NULL)
    {
      close (sfd);
      return -EIO;
    }
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
      p = xasprintf ("snapshots/%s/", e->d_name);
      im->snaps = xrealloc (im->snaps, (im->nsnaps + 1) * sizeof *im->snaps);
      memset (&im->snaps[im->nsnaps], 0, sizeof *im->snaps);
      r = read_snapshot (&im->x, p, e->d_name, true, &im->snaps[im->nsnaps++]);
    }
  closedir (d);
  if (r < 0)
    return r;
  if (im->nsnaps == 0)
    {
      log_error ("Import: '%s/snapshots' holds no snapshot.", im->x.path);
      return -EINVAL;
    }
  for (size_t i = 0; i < im->nsnaps; i++)
    if (im->snaps[i].parent && import_find_snap (im, im->snaps[i].parent) < 0)
      {
        log_error ("Import: the parent '%s' of snapshot '%s' is not in the "
                   "export: the chain is broken.",
                   im->snaps[i].parent, im->snaps[i].name);
        return -EINVAL;
      }
  return read_active (im);
}

int
import_read (struct import *im, const char *name)
{
  struct stat st;
  int sfd;

  im->read_left = IMPORT_MAX_READ;
  im->x.read_left = &im->read_left;
  sfd = import_open_beneath (&im->x, "snapshots", O_DIRECTORY, &st);
  if (sfd >= 0)
    return read_vm (im, sfd);
  if (sfd != -ENOENT)
    return sfd;
  im->snaps = xcalloc (1, sizeof *im->snaps);
  im->nsnaps = 1;
  return read_snapshot (&im->x, "", name, false, &im->snaps[0]);
}

void
import_free (struct import *im)
{
  for (size_t i = 0; i < im->nsnaps; i++)
    {
      struct isnap *s = &im->snaps[i];

      for (size_t k = 0; k < s->ndisks; k++)
        {
          free (s->disks[k].target);
          xfile_clear (&s->disks[k].file);
          free (s->disks[k].format);
          free (s->disks[k].copy);
          free (s->disks[k].overlay);
        }
      free (s->disks);
      free (s->name);
      free (s->parent);
      free (s->domain_xml);
      xfile_clear (&s->memory);
      free (s->memory_copy);
    }
  free (im->snaps);
  for (size_t i = 0; im->emulators && im->emulators[i]; i++)
    free (im->emulators[i]);
  free (im->emulators);
  free (im->old_name);
  free (im->dir);
  if (im->x.fd >= 0)
    close (im->x.fd);
}
