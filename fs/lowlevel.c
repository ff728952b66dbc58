/* vmsnapfs: FUSE's low-level protocol, answered with the path operations
 * of ops.c.
 *
 * The kernel names files by node ids (inodes.c keeps which path each
 * stands for); ops.c works on paths.  This file turns one into the other,
 * as libfuse's high-level API would, and gives what that API cannot:
 *
 *   - a cache time per reply (node_cache_time): a moment for what may
 *     change unseen, an hour for what a VM shows from its view (its
 *     directory, state, snapshots, info) and for host files' attributes
 *     while they are watched (hostwatch.c).  When a VM's view changes (a
 *     snapshot made or deleted elsewhere, a merge done) or an operation
 *     through the mount changed it, the kernel is told to drop what it
 *     holds of that VM (drop_vm, drop.c): attributes and pages, from the
 *     thread that published the view or that did the operation, and
 *     again a moment later from a thread of its own.  Names it still
 *     holds are looked at again with the attributes, by path.  Only
 *     inodes are dropped, never names: dropping a name takes its
 *     directory's lock, which an rmdir holds while it waits for the view
 *     that would drop it;
 *   - a link made at the top is a clone's directory at once, and the
 *     kernel takes nothing but a link in reply to symlink(2): that reply
 *     is a link under an id of no name, with no cache time, so that the
 *     next look finds the directory under an id of its own.  (The
 *     high-level API needed the global timeouts set to 0 for that one
 *     reply, and a thread to drop the entry after.)
 *
 * No operation holds a lock on a path: an rmdir or rename waits for the
 * release of files below it (export_release_snapshot), which must not
 * wait for it.  Operations on open files are given no path: ops.c finds
 * theirs in the open's handle, which renames follow.
 *
 * Each handler runs on a worker thread of libfuse's loop; the request it
 * serves is kept for the thread (request.c), where ops.c finds its
 * caller and whether it was interrupted.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "drop.h"
#include "fs.h"
#include "host.h"
#include "inodes.h"
#include "request.h"
#include "util.h"

/* An entry of a listing whose inode number is not given (as libfuse's). */
#define UNKNOWN_INO 0xffffffff

static const struct fuse_operations *ops;
static struct fuse_session *session;

/* How long the kernel may keep the attributes just given (see
 * fs_cache_time, and changes_at_begin in request.c). */
static double
cache_time (void)
{
  uint64_t vm;
  double t = fs_cache_time (&vm);

  if (t > NODE_CACHE_CHANGING && changes_since (fs_request_changes (), vm))
    return NODE_CACHE_CHANGING;
  return t;
}

static void
ll_init (void *data, struct fuse_conn_info *conn)
{
  (void)data;
  ops->init (conn, NULL);
  hostwatch_start (drop_vm);
  drop_start ();
}

static void
ll_destroy (void *data)
{
  (void)data;
  hostwatch_stop (); /* it drops VMs, as the redrops do */
  drop_stop ();
  inodes_clear ();
}

/* An entry for PATH, NAME in PARENT, just looked up or made: its
 * attributes and a counted id in *E.  Returns 0 or -errno. */
static int
entry_of (fuse_ino_t parent, const char *name, const char *path,
          struct fuse_entry_param *e)
{
  int r;

  memset (e, 0, sizeof *e);
  if ((r = ops->getattr (path, &e->attr, NULL)) < 0)
    return r;
  e->ino
      = inodes_lookup (parent, name, e->attr.st_mode, fs_request_changes ());
  e->entry_timeout = e->attr_timeout = cache_time ();
  return 0;
}

/* Reply to a request that made or found NAME in PARENT (R: how that
 * went). */
static void
reply_entry (fuse_req_t req, int r, fuse_ino_t parent, const char *name,
             const char *path)
{
  struct fuse_entry_param e;

  if (r == 0)
    r = entry_of (parent, name, path, &e);
  if (r < 0)
    fuse_reply_err (req, -r);
  else if (fuse_reply_entry (req, &e) != 0)
    inodes_forget (e.ino, 1); /* the caller gave up */
}

static void
ll_lookup (fuse_req_t req, fuse_ino_t parent, const char *name)
{
  char *path = inodes_path (parent, name);

  fs_request_begin (req);
  reply_entry (req, path ? 0 : -ENOENT, parent, name, path);
  free (path);
}

static void
ll_forget (fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
  inodes_forget (ino, nlookup);
  fuse_reply_none (req);
}

static void
ll_forget_multi (fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
  for (size_t i = 0; i < count; i++)
    inodes_forget (f[i].ino, f[i].nlookup);
  fuse_reply_none (req);
}

/* The path of INO for an operation that has an open file FI or not: with
 * one, ops.c finds it in the handle (NULL); without, INO's, or NULL with
 * *R = -ENOENT when it was removed. */
static char *
path_for (fuse_ino_t ino, struct fuse_file_info *fi, int *r)
{
  char *path = fi ? NULL : inodes_path (ino, NULL);

  *r = fi || path ? 0 : -ENOENT;
  return path;
}

/* Reply with the attributes of PATH or of the open FI, unless R (how the
 * request went so far) is an error; PATH is freed. */
static void
reply_attr (fuse_req_t req, int r, char *path, struct fuse_file_info *fi)
{
  struct stat st;

  if (r == 0)
    r = ops->getattr (path, &st, fi);
  if (r < 0)
    fuse_reply_err (req, -r);
  else
    fuse_reply_attr (req, &st, cache_time ());
  free (path);
}

static void
ll_getattr (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  int r;
  char *path = path_for (ino, fi, &r);

  fs_request_begin (req);
  reply_attr (req, r, path, fi);
}

/* Only a truncation does anything (a shell's "echo word > file"); modes,
 * owners and times are read-only. */
static void
ll_setattr (fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
            struct fuse_file_info *fi)
{
  int r;
  char *path = path_for (ino, fi, &r);

  fs_request_begin (req);
  if (r == 0 && (to_set & FUSE_SET_ATTR_MODE))
    r = ops->chmod (path, attr->st_mode, fi);
  if (r == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
    r = ops->chown (path, attr->st_uid, attr->st_gid, fi);
  if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE))
    r = ops->truncate (path, attr->st_size, fi);
  if (r == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)))
    r = ops->utimens (path, NULL, fi);
  reply_attr (req, r, path, fi);
}

static void
ll_readlink (fuse_req_t req, fuse_ino_t ino)
{
  char buf[PATH_MAX + 1];
  int r;
  char *path = path_for (ino, NULL, &r);

  fs_request_begin (req);
  if (r == 0)
    r = ops->readlink (path, buf, sizeof buf);
  if (r < 0)
    fuse_reply_err (req, -r);
  else
    fuse_reply_readlink (req, buf);
  free (path);
}

static void
ll_mkdir (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
  char *path = inodes_path (parent, name);

  int r = -ENOENT;

  fs_request_begin (req);
  if (path && (r = ops->mkdir (path, mode)) == 0)
    drop_touched (path);
  reply_entry (req, r, parent, name, path);
  free (path);
}

static void
ll_mknod (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
          dev_t rdev)
{
  char *path = inodes_path (parent, name);

  fs_request_begin (req);
  reply_entry (req, path ? ops->mknod (path, mode, rdev) : -ENOENT, parent,
               name, path);
  free (path);
}

/* A link made: the kernel takes nothing but a link in reply (else EIO).
 * One made at the top is a clone, a directory at once: the reply is a
 * link of no name and no cache time, so that the next look finds the
 * directory under an id of its own. */
static void
ll_symlink (fuse_req_t req, const char *target, fuse_ino_t parent,
            const char *name)
{
  char *path = inodes_path (parent, name);
  struct fuse_entry_param e;
  int r = -ENOENT;

  fs_request_begin (req);
  if (path && (r = ops->symlink (target, path)) == 0)
    drop_touched (path);
  if (path == NULL || r < 0 || (r = entry_of (parent, name, path, &e)) < 0)
    {
      fuse_reply_err (req, path ? -r : ENOENT);
      free (path);
      return;
    }
  if (!S_ISLNK (e.attr.st_mode))
    {
      inodes_forget (e.ino, 1);
      e.ino = inodes_lookup (parent, NULL, S_IFLNK, fs_request_changes ());
      e.attr.st_mode = S_IFLNK | 0777;
      e.attr.st_nlink = 1;
      e.attr.st_size = (off_t)strlen (target);
      e.entry_timeout = e.attr_timeout = 0;
    }
  if (fuse_reply_entry (req, &e) != 0)
    inodes_forget (e.ino, 1);
  free (path);
}

static void
ll_link (fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
         const char *newname)
{
  char *from = inodes_path (ino, NULL), *to = inodes_path (newparent, newname);

  fs_request_begin (req);
  reply_entry (req, from && to ? ops->link (from, to) : -ENOENT, newparent,
               newname, to);
  free (from);
  free (to);
}

/* unlink or rmdir (OP) of NAME in PARENT. */
static void
remove_name (fuse_req_t req, fuse_ino_t parent, const char *name,
             int (*op) (const char *))
{
  char *path = inodes_path (parent, name);
  int r = -ENOENT;

  fs_request_begin (req);
  if (path && (r = op (path)) == 0)
    {
      inodes_unhash (parent, name);
      drop_touched (path);
    }
  fuse_reply_err (req, -r);
  free (path);
}

static void
ll_unlink (fuse_req_t req, fuse_ino_t parent, const char *name)
{
  remove_name (req, parent, name, ops->unlink);
}

static void
ll_rmdir (fuse_req_t req, fuse_ino_t parent, const char *name)
{
  remove_name (req, parent, name, ops->rmdir);
}

static void
ll_rename (fuse_req_t req, fuse_ino_t parent, const char *name,
           fuse_ino_t newparent, const char *newname, unsigned int flags)
{
  char *from = inodes_path (parent, name);
  char *to = inodes_path (newparent, newname);
  int r = -ENOENT;

  fs_request_begin (req);
  if (from && to && (r = ops->rename (from, to, flags)) == 0)
    {
      inodes_rename (parent, name, newparent, newname);
      drop_touched (from);
      drop_touched (to);
    }
  fuse_reply_err (req, -r);
  free (from);
  free (to);
}

static void
ll_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  int r;
  char *path = path_for (ino, NULL, &r);

  fs_request_begin (req);
  if (r == 0)
    r = ops->open (path, fi);
  /* The node stands for other bytes: its size too, maybe (its pages go
   * with the reply). */
  if (r == 0 && fs_open_renewed ())
    fuse_lowlevel_notify_inval_inode (session, ino, -1, 0);
  if (r < 0)
    fuse_reply_err (req, -r);
  else if (fuse_reply_open (req, fi) != 0)
    ops->release (NULL, fi); /* the caller gave up */
  free (path);
}

static void
ll_create (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
           struct fuse_file_info *fi)
{
  char *path = inodes_path (parent, name);
  int r;

  fs_request_begin (req);
  r = path ? ops->create (path, mode, fi) : -ENOENT;
  /* ops.c makes nothing: a read-only file system. */
  fuse_reply_err (req, r < 0 ? -r : EROFS);
  free (path);
}

static void
ll_read (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
         struct fuse_file_info *fi)
{
  struct fuse_bufvec *bv = NULL;
  int r;

  (void)ino;
  fs_request_begin (req);
  if ((r = ops->read_buf (NULL, &bv, size, off, fi)) < 0)
    {
      fuse_reply_err (req, -r);
      return;
    }
  fuse_reply_data (req, bv, FUSE_BUF_SPLICE_MOVE);
  for (size_t i = 0; i < bv->count; i++)
    if (!(bv->buf[i].flags & FUSE_BUF_IS_FD))
      free (bv->buf[i].mem);
  free (bv);
}

static void
ll_write (fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
          off_t off, struct fuse_file_info *fi)
{
  int r;

  fs_request_begin (req);
  if ((r = ops->write (NULL, buf, size, off, fi)) < 0)
    fuse_reply_err (req, -r);
  else
    {
      char *path = inodes_path (ino, NULL);

      if (path)
        drop_touched (path); /* a command to a VM */
      free (path);
      fuse_reply_write (req, (size_t)r);
    }
}

static void
ll_flush (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  (void)ino;
  fs_request_begin (req);
  fuse_reply_err (req, -ops->flush (NULL, fi));
}

static void
ll_release (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  (void)ino;
  fs_request_begin (req);
  if (fi->flush)
    ops->flush (NULL, fi);
  ops->release (NULL, fi);
  fuse_reply_err (req, 0);
}

static void
ll_poll (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
         struct fuse_pollhandle *ph)
{
  unsigned revents = 0;
  int r;

  (void)ino;
  fs_request_begin (req);
  if ((r = ops->poll (NULL, fi, ph, &revents)) < 0)
    fuse_reply_err (req, -r);
  else
    fuse_reply_poll (req, revents);
}

static void
ll_lseek (fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
          struct fuse_file_info *fi)
{
  off_t r;

  (void)ino;
  fs_request_begin (req);
  if ((r = ops->lseek (NULL, off, whence, fi)) < 0)
    fuse_reply_err (req, (int)-r);
  else
    fuse_reply_lseek (req, r);
}

static void
ll_statfs (fuse_req_t req, fuse_ino_t ino)
{
  struct statvfs st;
  char *path = inodes_path (ino, NULL);

  fs_request_begin (req);
  memset (&st, 0, sizeof st);
  ops->statfs (path, &st);
  fuse_reply_statfs (req, &st);
  free (path);
}

/* A listing's reply, filled by ops.c's readdir through fill_entry. */
struct listing
{
  fuse_req_t req;
  fuse_ino_t dir;
  bool plus; /* READDIRPLUS: entries with attributes */
  char *buf;
  size_t size, len;
};

static bool
is_dot (const char *name)
{
  return strcmp (name, ".") == 0 || strcmp (name, "..") == 0;
}

/* One entry, at offset OFF; returns 1 when the reply is full. */
static int
fill_entry (void *opaque, const char *name, const struct stat *st, off_t off,
            enum fuse_fill_dir_flags flags)
{
  struct listing *l = opaque;
  size_t left = l->size - l->len, need;

  if (!l->plus)
    {
      struct stat s = { .st_ino = UNKNOWN_INO };

      if (st)
        s = *st;
      need = fuse_add_direntry (l->req, l->buf + l->len, left, name, &s, off);
    }
  else
    {
      struct fuse_entry_param e = { .ino = 0 };

      /* Sized first: an id is counted only for an entry sent. */
      if ((need = fuse_add_direntry_plus (l->req, NULL, 0, name, NULL, 0))
          > left)
        return 1;
      if (st && (flags & FUSE_FILL_DIR_PLUS) && !is_dot (name))
        {
          e.attr = *st;
          e.ino = inodes_lookup (l->dir, name, st->st_mode,
                                 fs_request_changes ());
          e.entry_timeout = e.attr_timeout = cache_time ();
        }
      else
        {
          e.attr.st_ino = st ? st->st_ino : UNKNOWN_INO;
          e.attr.st_mode = st ? st->st_mode : 0;
        }
      need = fuse_add_direntry_plus (l->req, l->buf + l->len, left, name, &e,
                                     off);
    }
  if (need > left)
    return 1;
  l->len += need;
  return 0;
}

static void
list (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
      struct fuse_file_info *fi, bool plus)
{
  struct listing l = { req, ino, plus, NULL, size, 0 };
  int r;
  char *path = path_for (ino, NULL, &r);

  fs_request_begin (req);
  (void)fi; /* no handle: directories are not opened (see above) */
  if (r == 0)
    {
      l.buf = xmalloc (size ? size : 1);
      r = ops->readdir (path, &l, fill_entry, off, NULL,
                        plus ? FUSE_READDIR_PLUS : 0);
    }
  if (r < 0)
    fuse_reply_err (req, -r);
  else
    fuse_reply_buf (req, l.buf, l.len);
  free (l.buf);
  free (path);
}

/* A directory opens if it is there: its listings name it by id.  (Not
 * opening them at all, ENOSYS, would save two requests a directory, but
 * the kernel then caches every listing until the directory's mtime
 * changes: a snapshot made elsewhere would not show.) */
static void
ll_opendir (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  struct stat st;
  int r;
  char *path = path_for (ino, NULL, &r);

  fs_request_begin (req);
  if (r == 0)
    r = ops->getattr (path, &st, NULL);
  if (r == 0 && !S_ISDIR (st.st_mode))
    r = -ENOTDIR;
  fi->fh = 0;
  /* A listing below a VM changes only with a new view of the VM, and the
   * kernel is told then (drop_vm drops its pages): it keeps it.  Its
   * entries carry no attributes, but their names and attributes are kept
   * as long (see node_cache_time), so an ls -l of it asks for nothing but
   * the open and the release. */
  if (r == 0 && cache_time () >= NODE_CACHE_FROZEN)
    fi->cache_readdir = fi->keep_cache = 1;
  if (r < 0)
    fuse_reply_err (req, -r);
  else
    fuse_reply_open (req, fi);
  free (path);
}

static void
ll_readdir (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
            struct fuse_file_info *fi)
{
  list (req, ino, size, off, fi, false);
}

static void
ll_readdirplus (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                struct fuse_file_info *fi)
{
  list (req, ino, size, off, fi, true);
}

static const struct fuse_lowlevel_ops lowlevel_ops = {
  .init = ll_init,
  .destroy = ll_destroy,
  .lookup = ll_lookup,
  .forget = ll_forget,
  .forget_multi = ll_forget_multi,
  .getattr = ll_getattr,
  .setattr = ll_setattr,
  .readlink = ll_readlink,
  .mknod = ll_mknod,
  .mkdir = ll_mkdir,
  .unlink = ll_unlink,
  .rmdir = ll_rmdir,
  .symlink = ll_symlink,
  .rename = ll_rename,
  .link = ll_link,
  .open = ll_open,
  .read = ll_read,
  .write = ll_write,
  .flush = ll_flush,
  .release = ll_release,
  .statfs = ll_statfs,
  .create = ll_create,
  .poll = ll_poll,
  .opendir = ll_opendir,
  .readdir = ll_readdir,
  .readdirplus = ll_readdirplus,
  .lseek = ll_lseek,
};

struct fuse_session *
fs_session_new (struct fuse_args *args)
{
  ops = fs_operations ();
  host_on_vm_change (drop_vm);
  session = fuse_session_new (args, &lowlevel_ops, sizeof lowlevel_ops, NULL);
  drop_set_session (session);
  return session;
}
