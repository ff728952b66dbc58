/* vmsnapfs: an import's copies (import.h): each snapshot's files copied
 * from the export into NEWVM's, made O_EXCL and recorded first
 * (import-record.c), the disks read only as raw bytes through the
 * descriptor opened with the importer's rights, each volume given its
 * parent's copy as its backing file, the memory images with NEWVM's
 * domain in their header (saveimage.c); on a remote host, made here first
 * and then copied there through libvirt.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "import.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/files.h"
#include "host/ops.h"
#include "host/saveimage.h"

struct disk_change *
import_frozen_disks (const struct isnap *s)
{
  struct disk_change *frozen = xcalloc (s->ndisks, sizeof *frozen);

  for (size_t k = 0; k < s->ndisks; k++)
    {
      const struct idisk *d = &s->disks[k];

      frozen[k] = (struct disk_change){ d->target, d->copy,
                                        d->convert ? "qcow2" : d->format };
    }
  return frozen;
}

struct saved
{
  struct import *im;
  const struct isnap *s;
};

/* The domain in snapshot S's memory image made NEWVM's, its disks the
 * copies; NULL when the caller may not define it (IM->refused set). */
static char *
edit_saved (const char *xml, void *arg)
{
  struct saved *sv = arg;
  struct import *im = sv->im;
  CLEANUP_FREE struct disk_change *frozen = import_frozen_disks (sv->s);
  char *out = import_domain_xml (im, xml, frozen, sv->s->ndisks, NULL);

  if (out && (im->refused = import_domain_ok (im, sv->s, out)) < 0)
    {
      free (out);
      return NULL;
    }
  return out;
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

int
import_interrupted (const struct import *im)
{
  if (im->cancel == NULL || !im->cancel ())
    return 0;
  log_info ("Import: '%s' interrupted by its caller; nothing is kept.",
            im->name);
  return -EINTR;
}

int
import_claim (struct import *im, const char *path, bool *made)
{
  int r;

  if (im->stage)
    return 0;
  if ((r = create_private (path)) < 0)
    {
      log_error ("Import: cannot make '%s': %s.", path, strerror (-r));
      return r;
    }
  *made = true;
  return import_record_file (im, path);
}

/* Copy the file as it is: its first D->file.size bytes (its length when
 * read), no more data than the room measured (D->file.bytes), holes and
 * blocks of zeros left holes. */
static int
copy_as_is (const struct import *im, const struct idisk *d, int fd,
            const char *dst)
{
  CLEANUP_CLOSE int out
      = open (dst, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  int e;

  if (out >= 0
      && copy_sparse (fd, out, d->file.size, d->file.bytes, im->cancel) == 0)
    return 0;
  if ((e = errno) == ECANCELED)
    return -ESHUTDOWN;
  if (e == EFBIG)
    log_error ("Import: '%s' holds more data than measured for the room "
               "(%llu bytes): it changed during the import; nothing is "
               "imported.",
               d->file.shown, (unsigned long long)d->file.bytes);
  else if (e == EIO)
    log_error ("Import: '%s' is shorter than the %llu bytes measured: it "
               "changed during the import; nothing is imported.",
               d->file.shown, (unsigned long long)d->file.size);
  else
    log_error ("Import: cannot copy '%s' to '%s': %s.", d->file.shown, dst,
               strerror (e));
  return e == ENOSPC ? -ENOSPC : -EIO;
}

/* Copy disk D of the export, open on FD, to DST: a whole raw disk made a
 * qcow2 volume, else the file as it is.  qemu-img reads the export only as
 * raw bytes, and no more than its length when read (the raw driver's
 * size); a qcow2's header is read by hand (import-read.c).  Stopped when
 * IM's caller gives up (-ESHUTDOWN); -EIO when the file's length changed
 * (logged). */
static int
copy_disk (const struct import *im, const struct idisk *d, int fd,
           const char *dst)
{
  CLEANUP_FREE char *src = NULL;
  int r;

  if (!d->convert)
    r = copy_as_is (im, d, fd, dst);
  else if (d->file.size % 512 != 0)
    {
      log_error ("Import: '%s' is no whole disk: %llu bytes, not a whole "
                 "number of 512-byte sectors.",
                 d->file.shown, (unsigned long long)d->file.size);
      return -EINVAL;
    }
  else
    {
      const char *argv[] = { "qemu-img", "convert", "-q", "--image-opts", NULL,
                             "-O",       "qcow2",   dst,  NULL };

      src = xasprintf ("driver=raw,size=%llu,file.driver=file,"
                       "file.filename=/dev/fd/%d",
                       (unsigned long long)d->file.size, fd);
      argv[4] = src;
      r = run_volume_tool_fd ("Import: qemu-img convert", argv, fd,
                              im->cancel);
    }
  return r < 0 ? r : import_same_size (fd, d->file.shown, d->file.size);
}

/* Whether the copy DST of a qcow2 volume is one of its own (no external
 * data file: its author may have changed it since it was read): 0 or
 * -EINVAL (logged). */
static int
check_copy (const struct idisk *d, const char *dst)
{
  CLEANUP_CLOSE int fd = open (dst, O_RDONLY | O_CLOEXEC);
  uint64_t size;
  bool backing;

  if (fd >= 0 && import_qcow2_header (fd, &size, &backing) == 0)
    return 0;
  log_error ("Import: '%s' is not a qcow2 volume of its own (no external "
             "data file).",
             d->file.shown);
  return -EINVAL;
}

int
import_copy_snapshot (struct import *im, struct isnap *s)
{
  const struct isnap *p
      = s->parent ? &im->snaps[import_find_snap (im, s->parent)] : NULL;
  int r = 0;

  /* An instant restore's disks are served (import-pull.c). */
  for (size_t k = 0; k < s->ndisks && r == 0 && !im->instant; k++)
    {
      struct idisk *d = &s->disks[k];
      const struct idisk *pd = NULL;
      CLEANUP_FREE char *dst = staged (im, d->copy);
      CLEANUP_CLOSE int fd = import_reopen (&im->x, &d->file);

      for (size_t j = 0; p && j < p->ndisks; j++)
        if (strcmp (p->disks[j].target, d->target) == 0)
          pd = &p->disks[j];
      if ((r = fd) >= 0 && (r = import_claim (im, d->copy, &d->made)) == 0
          && (r = copy_disk (im, d, fd, dst)) == -ESHUTDOWN)
        r = import_interrupted (im) < 0 ? -EINTR : -EIO;
      if (r == 0 && !d->convert && strcmp (d->format, "qcow2") == 0)
        r = check_copy (d, dst);
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
      else if (r == 0 && !d->convert && strcmp (d->format, "qcow2") == 0)
        {
          /* A root: no backing file, whatever the header says now. */
          const char *argv[] = { "qemu-img", "rebase", "-u", "-f", "qcow2",
                                 "-b",       "",       dst,  NULL };
          r = run_volume_tool ("Import: qemu-img rebase -u", argv, NULL);
        }
      if (r == 0 && (r = unstage (im, dst, d->copy)) == 0)
        d->made = true;
    }
  if (r == 0 && s->memory.rel)
    {
      CLEANUP_FREE char *dst = staged (im, s->memory_copy);
      CLEANUP_CLOSE int fd = import_reopen (&im->x, &s->memory);
      struct saved sv = { im, s };

      if ((r = fd) >= 0
          && (r = import_claim (im, s->memory_copy, &s->memory_made)) == 0)
        r = save_image_copy_fd (fd, s->memory.shown, dst, im->stage == NULL,
                                s->memory.size, im->cancel, edit_saved, &sv);
      if (r == 0)
        r = import_same_size (fd, s->memory.shown, s->memory.size);
      if (r == -ESHUTDOWN)
        r = import_interrupted (im) < 0 ? -EINTR : -EIO;
      if (r < 0 && im->refused < 0)
        r = im->refused;
      if (r == 0 && (r = unstage (im, dst, s->memory_copy)) == 0)
        s->memory_made = true;
    }
  return r;
}

/* Copy host file B->from, open on FD, into DST (B->copy or its staged
 * name, made empty): no more than its length when planned, and -EIO when
 * it has another now; stopped when IM's caller gives up.  0, -EINTR or
 * -EIO (logged). */
static int
copy_bytes (const struct import *im, int fd, const struct iboot *b,
            const char *dst)
{
  CLEANUP_CLOSE int out = open (
      dst, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);

  if (out >= 0 && copy_fd_max (fd, out, b->size, im->cancel) == 0
      && fsync (out) == 0)
    return import_same_size (fd, b->from, b->size);
  if (errno == ECANCELED && import_interrupted (im) < 0)
    return -EINTR;
  log_error ("Import: cannot copy '%s' to '%s': %m.", b->from, dst);
  return -EIO;
}

int
import_copy_boots (struct import *im)
{
  int r = 0;

  im->boots_copied = true;
  for (size_t i = 0; i < im->nboots && r == 0; i++)
    {
      struct iboot *b = &im->boots[i];
      CLEANUP_FREE char *dst = staged (im, b->copy);
      CLEANUP_CLOSE int fd = -1;

      if ((r = import_claim (im, b->copy, &b->made)) < 0)
        break;
      if ((fd = import_host_open (b->from, im->x.who)) < 0)
        {
          log_error ("Import: uid %u may not read '%s' (%s) any more.",
                     (unsigned)im->x.who->uid, b->from, b->kind);
          r = -EPERM;
        }
      else if ((r = copy_bytes (im, fd, b, dst)) == 0
               && (r = unstage (im, dst, b->copy)) == 0)
        b->made = true;
    }
  return r;
}
