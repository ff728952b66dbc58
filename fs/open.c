/* vmsnapfs: open files of the tree (nodes.c has the types): a host file
 * the kernel reads itself where it can, a whole disk through its export,
 * a remote host's file through libvirt, a guest's file through
 * libguestfs, or content rendered or generated at open. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access.h"
#include "export.h"
#include "fs.h"
#include "guestfiles.h"
#include "host.h"
#include "log.h"
#include "remote.h"
#include "util.h"

#include "node-types.h"

/* Record the open H of N, which stands for the file of stat ST now (open
 * on FD, passed through with PASS): *CACHE becomes PAGE_CACHE_DROP when N
 * stood for another at its last open.  -EBUSY (logged) while opens from
 * before still read that one. */
static int
note_open (const struct node *n, int fd, const struct stat *st, bool pass,
           struct handle *h, enum page_cache *cache)
{
  bool same;

  if (backing_note_open (node_ino (n), fd, st, &same,
                         pass ? &h->backing : NULL)
      < 0)
    {
      log_error ("VM '%s': '%s' of snapshot '%s' stands for other bytes "
                 "since a merge, and opens from before it still read the "
                 "old ones: EBUSY until they are closed.",
                 n->vm->name, n->name, n->snap->name);
      return -EBUSY;
    }
  h->node = node_ino (n);
  h->noted = true;
  h->renewed = !same;
  if (!same)
    *cache = PAGE_CACHE_DROP;
  return 0;
}

/* Open host file FILE of N for H: the kernel reads it itself where it can
 * (*CACHE is PAGE_CACHE_HOST), or the daemon does. */
static int
open_host_file (const struct node *n, const char *file, struct handle *h,
                enum page_cache *cache)
{
  struct stat st;
  bool pass = passthrough_enabled ();
  int r;

  if ((h->fd = open (file, O_RDONLY | O_CLOEXEC)) < 0
      || fstat (h->fd, &st) < 0)
    return -errno;
  if ((r = note_open (n, h->fd, &st, pass, h, cache)) < 0)
    return r;
  if (h->backing > 0)
    {
      *cache = PAGE_CACHE_HOST;
      return 0;
    }
  /* Never cached by FUSE while the file may be passed through: the kernel
   * allows no cached open of a node beside a passed-through one. */
  if (pass)
    *cache = PAGE_CACHE_NONE;
  /* Backup tools read front to back: read ahead further. */
  posix_fadvise (h->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return 0;
}

/* Open the whole disk of N for H.  A delta stands for other bytes once a
 * merge below gave its snapshot another frozen volume. */
static int
open_whole_disk (const struct node *n, struct handle *h,
                 enum page_cache *cache)
{
  struct stat st;
  int r;

  if (n->type->delta)
    {
      if (stat (n->disk->volume, &st) < 0)
        {
          r = -errno;
          log_error ("VM '%s': the volume '%s' of snapshot '%s' cannot be "
                     "read: %s.",
                     n->vm->name, n->disk->volume, n->snap->name,
                     strerror (errno));
          return r;
        }
      if ((r = note_open (n, -1, &st, false, h, cache)) < 0)
        return r;
    }
  return export_open (n->snap->ino, n->disk->target, n->disk->volume,
                      n->disk->format, n->disk->virtual_size, is_delta (n),
                      &h->exp);
}

int
node_open (const struct node *n, const struct caller *c, int flags,
           struct handle **out, enum page_cache *cache)
{
  const struct node_type *t = n->type;
  struct handle *h;
  struct stat st, hs;
  int r = 0;

  *out = NULL;
  *cache = t->volatile_content ? PAGE_CACHE_NONE : PAGE_CACHE_KEEP;
  if (S_ISDIR (t->mode))
    return -EISDIR;
  if (((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) && !t->write)
    return -EROFS;
  /* The kernel checked the mode; a wrong mode in one place must still
   * not leak a disk's bytes, nor make root run qemu for anyone. */
  if (t->disk && (r = node_perms (n, &st, &hs)) == 0
      && (r = access_read (c, &st)) < 0)
    log_warning ("Refused uid %u a read of '%s' of snapshot '%s' of VM "
                 "'%s': not permitted by its mode.",
                 (unsigned)c->uid, n->name, n->snap->name, n->vm->name);
  if (r < 0)
    return r;
  if ((t->host_file || t->whole_disk || t->guest) && n->snap
      && snapshot_readers_held (n->vm, n->snap->ino))
    {
      log_error ("Refused an open of '%s' of snapshot '%s' of VM '%s': an "
                 "operation is about to change its volumes.",
                 n->name, n->snap->name, n->vm->name);
      return -EBUSY;
    }

  h = xcalloc (1, sizeof *h);
  h->fd = -1;
  if (t->guest && !t->render)
    r = guest_open (n, c, h);
  else if ((t->host_file || t->whole_disk) && !vm_is_local (n->vm))
    {
      /* Read through libvirt; pages from another open may be stale. */
      if (t->host_file)
        {
          h->len = (size_t)hs.st_size;
          r = remote_open (n->vm->host, t->host_file (n), &h->remote);
        }
      else if (t->delta)
        {
          h->len = (size_t)n->disk->virtual_size;
          r = remote_open_delta (n->vm->host, n->snap->ino, n->disk->volume,
                                 n->disk->format, n->disk->virtual_size,
                                 is_delta (n), &h->remote);
        }
      else
        {
          h->len = (size_t)n->disk->virtual_size;
          r = remote_open_disk (n->vm->host, node_ino (n), n->disk->volume,
                                n->disk->virtual_size, &h->remote);
        }
      *cache = PAGE_CACHE_DROP;
      if (r == 0 && !t->root_only)
        export_hold (h->held = n->snap->ino);
    }
  else if (t->host_file)
    {
      r = open_host_file (n, t->host_file (n), h, cache);
      /* A merge of the snapshot writes into its frozen volumes. */
      if (r == 0 && !t->root_only)
        export_hold (h->held = n->snap->ino);
    }
  else if (t->whole_disk)
    r = open_whole_disk (n, h, cache);
  else if (t->render)
    h->data = t->render (n, &h->len);
  else if (t->generate)
    r = t->generate (n, &h->data, &h->len);
  else
    r = -EINVAL; /* a link */

  if (r < 0)
    handle_close (h);
  else
    *out = h;
  return r;
}

void
handle_close (struct handle *h)
{
  if (h == NULL)
    return;
  if (h->noted)
    backing_end (h->node, h->backing > 0);
  if (h->held)
    export_unhold (h->held);
  if (h->fd >= 0)
    close (h->fd);
  if (h->exp)
    export_close (h->exp);
  remote_close (h->remote);
  guestfiles_close (h->gfile);
  free (h->data);
  free (h->path);
  free (h);
}

void
handle_flush (struct handle *h)
{
  if (h->exp)
    export_flush (h->exp);
}

ssize_t
handle_read (struct handle *h, char *buf, size_t size, off_t off)
{
  ssize_t n;

  if (h->exp)
    return export_pread (h->exp, buf, size, (uint64_t)off);
  if (h->gfile)
    return (size_t)off >= h->len ? 0
                                 : guestfiles_read (h->gfile, buf, size, off);
  if (h->remote)
    return (size_t)off >= h->len ? 0 : remote_read (h->remote, buf, size, off);
  if (h->fd >= 0)
    return (n = pread (h->fd, buf, size, off)) < 0 ? -errno : n;
  if ((size_t)off >= h->len)
    return 0;
  n = (ssize_t)(size < h->len - (size_t)off ? size : h->len - (size_t)off);
  memcpy (buf, h->data + off, (size_t)n);
  return n;
}

off_t
handle_seek (struct handle *h, off_t off, int whence)
{
  off_t r;

  if (off < 0 || (whence != SEEK_DATA && whence != SEEK_HOLE))
    return -EINVAL;
  if (h->exp)
    return (off_t)export_seek (h->exp, (uint64_t)off, whence == SEEK_DATA);
  if (h->fd >= 0)
    return (r = lseek (h->fd, off, whence)) < 0 ? -errno : r;
  if (h->remote
      && (r = (off_t)remote_seek (h->remote, (uint64_t)off,
                                  whence == SEEK_DATA))
             != -EOPNOTSUPP)
    return r;
  /* Generated content is all data. */
  if ((size_t)off >= h->len)
    return -ENXIO;
  return whence == SEEK_DATA ? off : (off_t)h->len;
}
