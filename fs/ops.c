/* vmsnapfs: the FUSE operations, by path (lowlevel.c answers the kernel
 * with them).
 *
 * Thread model.  FUSE's multithreaded loop runs these handlers on several
 * worker threads at once.  Each handler takes a reference to the current
 * view of the host (host_get), resolves the path in it, and drops the
 * reference before it returns: the view is immutable, so handlers share it
 * without locks.  An open file holds no reference to the view: it holds the
 * host file's descriptor, or a copy of its content.  The threads of the
 * libvirt side are described in host/host.c and doc/DESIGN.md.
 *
 * Locks of the FUSE side, each held briefly and alone: inodes.c's
 * table_lock (the kernel's node ids), resolve.c's opened_lock (the open
 * handles' paths), links.c's (temporary links), backing.c's (which host
 * file each node stands for), changes.c's (the count of VM changes),
 * hostwatch.c's (the watched directories), drop.c's redrop_lock (the VMs
 * to drop again a moment later), and export.c's exports_lock, then an
 * export's own lock (see there).  Paths are resolved in resolve.c; the
 * request a thread serves is kept in request.c.
 *
 * Handlers are thin: they resolve, call the node's type (nodes.c), and
 * return 0 or -errno.  Operations that change a VM (a command written to
 * state, mkdir of a snapshot) run in the calling worker thread and return
 * once the view shows their result; one runs at a time per VM (see
 * host/vmop.c), so other workers stay free for other VMs.  Frozen files are
 * served from the host file's descriptor without a copy (read_buf with an fd
 * buffer); whole disks from a per-thread memfd (see reply.c).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "cleanup.h"
#include "fs.h"
#include "host.h"
#include "log.h"
#include "util.h"

#include "node-types.h"
#include "reply.h"
#include "resolve.h"

/* A verb begins on PATH: its failure is logged in one line, with the VM
 * the path is in and what in it the verb acted on (log_verb_begin); that
 * is set in *WHAT ("snapshots/x" of "/web/snapshots/x"). */
static void
verb_begin (const char *path, const char **what)
{
  const char *p = path + (path[0] == '/');
  struct vs_fleet *f = fleet_get ();
  /* With several hosts, the VM is named "HOST/VM". */
  size_t n = strcspn (p, "/");
  char vm[512];

  if (f->nhosts > 1 && p[n] == '/')
    n += 1 + strcspn (p + n + 1, "/");
  fleet_put (f);
  if (p[n] == '\0' || n >= sizeof vm)
    {
      *what = path; /* at the top: no VM */
      log_verb_begin (NULL);
      return;
    }
  snprintf (vm, sizeof vm, "%.*s", (int)n, p);
  *what = p + n + 1;
  log_verb_begin (vm);
}

/* The verb VERB on WHAT (and MORE, when not NULL) ended with R. */
static int
verb_end (int r, const char *verb, const char *what, const char *more)
{
  char *w = more ? xasprintf ("%s %s", what, more) : NULL;

  log_verb_end (r, verb, w ? w : what);
  free (w);
  return r;
}

/* Whether the caller may use the verbs (access.h): asked before anything
 * is done, so that no one else makes root call libvirt.  Returns 0 or
 * -EACCES (logged). */
static int
may_act (const char *verb, const char *path)
{
  struct caller c;

  caller_current (&c, true);
  if (access_verb (&c) == 0)
    return 0;
  log_warning ("Refused uid %u the %s of '%s': only root and the operators "
               "group may.",
               (unsigned)c.uid, verb, path);
  return -EACCES;
}

static void *
op_init (struct fuse_conn_info *conn, struct fuse_config *cfg)
{
  (void)cfg; /* lowlevel.c's: the inode numbers are the tree's, pages
              * are kept or dropped per open (node_open says which) */
  /* A frozen file never changes, an open whose name stands for another
   * file now drops the pages, and the files that do change are opened with
   * direct_io: the kernel need not check attributes before cached reads. */
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  /* Requests are read, not spliced: passthrough's hooks see them. */
  conn->want &= ~FUSE_CAP_SPLICE_READ;
  if (conn->capable & FUSE_CAP_SPLICE_WRITE)
    conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
  conn->max_readahead = 1024 * 1024;
  /* The largest request, reads included: 512 KiB.  A reply must fit in a
   * pipe to be spliced, and pipes stop at 1 MiB (pipe-max-size): a 1 MiB
   * reply with its header fell back to a copy, ten times slower. */
  conn->max_write = 512 * 1024;
  return NULL;
}

/* How long the kernel may keep the attributes this thread gave last (see
 * node_cache_time), and of which VM they are: lowlevel.c reads them after
 * each getattr, and after each entry of a listing that gives attributes. */
static __thread double cache_time = NODE_CACHE_CHANGING;
static __thread uint64_t cache_vm;

double
fs_cache_time (uint64_t *vm)
{
  *vm = cache_vm;
  return cache_time;
}

/* Set them for N. */
static void
note_cache_time (const struct node *n)
{
  cache_time = node_cache_time (n);
  cache_vm = n->vm ? fs_vm_key (n->fleet->nhosts > 1 ? n->host->name : NULL,
                                n->vm->name)
                   : 0;
}

static int
op_getattr (const char *path, struct stat *st, struct fuse_file_info *fi)
{
  struct node n;
  struct caller c;
  int r;

  if ((r = resolve_open (path, fi, &n, false)) < 0)
    return r;
  caller_current (&c, node_guarded (&n));
  /* First: it may start watching the host files the attributes come
   * from, and a change after that is seen.  Again after, when the stat
   * read what makes the attributes final (a whole disk's map). */
  note_cache_time (&n);
  r = node_getattr (&n, &c, st);
  if (r == 0 && cache_time < NODE_CACHE_FROZEN)
    note_cache_time (&n);
  node_release (&n);
  return r;
}

/* A listing, given by offsets: libfuse passes attributes on (READDIRPLUS)
 * only so.  Entry K (from 1) is at offset K. */
struct fill_ctx
{
  void *buf;
  fuse_fill_dir_t filler;
  const struct node *dir;
  char *path; /* DIR's, when the listing gives attributes */
  off_t at;   /* the offset of the last entry seen */
  off_t from; /* the entries up to this one were given before */
};

/* The attributes of NAME in CTX's directory, for a listing that gives
 * them (READDIRPLUS): one reply for the directory instead of a lookup an
 * entry, which is most of what ls -lR of many snapshots cost.  Only where
 * they come cheaply: a whole disk's from a map the daemon reads from its
 * volumes' headers (node_attrs_prepare), never one qemu-img would make,
 * nor a remote file's, a libvirt call: a listing must not wait for them.  Returns 0, or -1
 * to leave them to the kernel's lookup. */
static int
child_attrs (const struct fill_ctx *ctx, const char *name, struct stat *st)
{
  char *p
      = xasprintf ("%s/%s", strcmp (ctx->path, "/") ? ctx->path : "", name);
  struct node n;
  struct caller c;
  int r = node_resolve (ctx->dir->fleet, p, &n);

  free (p);
  if (r < 0)
    return -1;
  caller_current (&c, node_guarded (&n));
  node_attrs_prepare (&n, &c);
  if (!node_attrs_cheap (&n))
    return -1;
  note_cache_time (&n);
  return node_getattr (&n, &c, st) < 0 ? -1 : 0;
}

static int
fill (void *opaque, const char *name, const struct stat *st)
{
  struct fill_ctx *ctx = opaque;
  struct stat full;

  if (++ctx->at <= ctx->from)
    return 0;
  /* A guest's directory was listed with its entries' attributes (its
   * fixed children, .vmsnapfs-error, carry none: no links). */
  if (ctx->path && st && ctx->dir->type->guest && st->st_nlink)
    {
      cache_time = NODE_CACHE_CHANGING;
      return ctx->filler (ctx->buf, name, st, ctx->at, FUSE_FILL_DIR_PLUS);
    }
  if (ctx->path && st && child_attrs (ctx, name, &full) == 0)
    return ctx->filler (ctx->buf, name, &full, ctx->at, FUSE_FILL_DIR_PLUS);
  return ctx->filler (ctx->buf, name, st, ctx->at, 0);
}

static int
op_readdir (const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
            struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
  struct fill_ctx ctx = { buf, filler, NULL, NULL, 0, off };
  struct node n;
  int r;

  if ((r = resolve_open (path, fi, &n, true)) < 0)
    return r;
  ctx.dir = &n;
  if (flags & FUSE_READDIR_PLUS)
    ctx.path = open_path (path, fi);
  if (fill (&ctx, ".", NULL) == 0 && fill (&ctx, "..", NULL) == 0)
    r = node_readdir (&n, fill, &ctx);
  else
    r = 0; /* the buffer is full */
  free (ctx.path);
  node_release (&n);
  return r;
}

static int
op_readlink (const char *path, char *buf, size_t size)
{
  struct node n;
  int r;

  if ((r = resolve_path (path, &n)) < 0)
    return r;
  r = node_readlink (&n, buf, size);
  node_release (&n);
  return r;
}

/* df: the room where the snapshots of the VM the path is in (of any VM,
 * above them) would be written; see host_statfs. */
static int
op_statfs (const char *path, struct statvfs *st)
{
  struct node n;

  if (path == NULL || resolve_path (path, &n) < 0)
    {
      struct vs_fleet *f = fleet_get ();

      fleet_statfs (f, st);
      fleet_put (f);
    }
  else
    {
      if (n.host)
        host_statfs (n.host, n.vm, st);
      else
        fleet_statfs (n.fleet, st);
      node_release (&n);
    }
  st->f_namemax = NAME_MAX;
  if (st->f_bsize == 0)
    st->f_bsize = st->f_frsize = 4096;
  return 0;
}

/* Whether the last open of this thread stands for another file than the
 * node's last open (lowlevel.c drops the node's attributes then). */
static __thread bool open_renewed;

bool
fs_open_renewed (void)
{
  return open_renewed;
}

static int
op_open (const char *path, struct fuse_file_info *fi)
{
  struct handle *h;
  struct node n;
  enum page_cache cache;
  struct caller c;
  int r;

  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
    if ((r = may_act ("write", path)) < 0)
      return r;
  if ((r = resolve_path (path, &n)) < 0)
    return r;
  caller_current (&c, node_guarded (&n));
  open_renewed = false;
  r = node_open (&n, &c, fi->flags, &h, &cache);
  node_release (&n);
  if (r < 0)
    {
      if (r == -EROFS)
        log_debug ("Refused a write open of '%s': read-only.", path);
      return r;
    }
  open_renewed = h->renewed;
  fi->fh = opened_add (h, path);
  fi->direct_io = cache == PAGE_CACHE_NONE;
  fi->keep_cache = cache == PAGE_CACHE_KEEP;
  if (cache == PAGE_CACHE_HOST)
    passthrough_reply (h->backing);
  return 0;
}

static int
op_read_buf (const char *path, struct fuse_bufvec **bufp, size_t size,
             off_t off, struct fuse_file_info *fi)
{
  (void)path;
  return reply_read ((struct handle *)(uintptr_t)fi->fh, bufp, size, off);
}

/* poll(2), as Go programs (restic) do on every file they open: files are
 * always ready.  libfuse 3.14 leaks the poll handle of a file system that
 * has no poll: this one is freed here. */
static int
op_poll (const char *path, struct fuse_file_info *fi,
         struct fuse_pollhandle *ph, unsigned *reventsp)
{
  (void)path, (void)fi;
  if (ph)
    fuse_pollhandle_destroy (ph);
  *reventsp = POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;
  return 0;
}

/* SEEK_DATA and SEEK_HOLE (the kernel does the others itself): holes of
 * whole disks, and of the host files under snapshots/. */
static off_t
op_lseek (const char *path, off_t off, int whence, struct fuse_file_info *fi)
{
  (void)path;
  return handle_seek ((struct handle *)(uintptr_t)fi->fh, off, whence);
}

/* Every close(2): a whole disk's reader may be gone before its release,
 * which the kernel sends later. */
static int
op_flush (const char *path, struct fuse_file_info *fi)
{
  (void)path;
  handle_flush ((struct handle *)(uintptr_t)fi->fh);
  return 0;
}

static int
op_release (const char *path, struct fuse_file_info *fi)
{
  (void)path;
  opened_close ((struct handle *)(uintptr_t)fi->fh);
  return 0;
}

static int
op_write (const char *path, const char *buf, size_t size, off_t off,
          struct fuse_file_info *fi)
{
  char *at = open_path (path, fi);
  const char *what;
  struct node n;
  int r;

  verb_begin (at, &what);
  if ((r = may_act ("write", at)) < 0)
    ;
  else if (off != 0)
    {
      /* One command in one write(2), from the start: not a second part,
       * nor an append. */
      log_error ("Refused a write at offset %jd: a command is one write at "
                 "the start.",
                 (intmax_t)off);
      r = -EINVAL;
    }
  else if ((r = resolve_path (at, &n)) == 0)
    {
      r = node_write (&n, buf, size);
      node_release (&n);
    }
  verb_end (r, "write", what, NULL);
  free (at);
  return r < 0 ? r : (int)size;
}

/* Call FN, verb VERB, with PATH's parent directory and last name. */
static int
on_parent (const char *verb, const char *path,
           int (*fn) (const struct node *, const char *))
{
  const char *name, *what;
  struct node n;
  int r;

  verb_begin (path, &what);
  if ((r = may_act (verb, path)) < 0)
    return verb_end (r, verb, what, NULL);
  if ((r = resolve_parent (path, &n, &name)) < 0)
    return verb_end (r, verb, what, NULL);
  r = fn (&n, name);
  node_release (&n);
  verb_end (r, verb, what, NULL);
  return r;
}

static int
op_mkdir (const char *path, mode_t mode)
{
  (void)mode;
  return on_parent ("mkdir", path, node_mkdir);
}

static int
op_symlink (const char *target, const char *path)
{
  const char *name, *what;
  char *arrow = xasprintf ("-> %s", target);
  struct node n;
  int r;

  verb_begin (path, &what);
  if ((r = may_act ("symlink", path)) == 0
      && (r = resolve_parent (path, &n, &name)) == 0)
    {
      r = node_symlink (&n, name, target);
      node_release (&n);
    }
  verb_end (r, "symlink", what, arrow);
  free (arrow);
  return r;
}

static int
op_unlink (const char *path)
{
  return on_parent ("unlink", path, node_unlink);
}

static int
op_rmdir (const char *path)
{
  return on_parent ("rmdir", path, node_rmdir);
}

/* PATH within its VM: "snapshots/x" of "/web/snapshots/x". */
static const char *
to_name_of (const char *path)
{
  const char *in_vm = strchr (path + 1, '/');

  return in_vm ? in_vm + 1 : path;
}

static int
op_rename (const char *from, const char *to, unsigned int flags)
{
  const char *from_name, *to_name, *what;
  char *arrow = xasprintf ("-> %s", to_name_of (to));
  struct node f, t;
  int r;

  verb_begin (from, &what);
  if ((r = may_act ("rename", from)) < 0)
    goto out;
  if (flags & ~RENAME_NOREPLACE)
    {
      log_error ("Renames that exchange (RENAME_EXCHANGE) are not "
                 "supported.");
      r = -EINVAL;
      goto out;
    }
  /* Both in one view: in two, a refresh between them would make one VM
   * look like two (EXDEV, and mv would copy: mkdir, a new snapshot).  The
   * VM of TO read whole first (resolve_parent), then FROM's. */
  if (resolve_parent (to, &t, &to_name) == 0)
    node_release (&t);
  if ((r = resolve_parent (from, &f, &from_name)) < 0)
    goto out;
  if ((flags & RENAME_NOREPLACE) && node_resolve (f.fleet, to, &t) == 0)
    {
      log_error ("'%s' exists (RENAME_NOREPLACE).", to_name_of (to));
      r = -EEXIST;
    }
  else if ((r = resolve_parent_in (f.fleet, to, &t, &to_name)) == 0)
    {
      r = node_rename (&f, from_name, &t, to_name);
      if (r == 0)
        opened_rename (from, to);
    }
  node_release (&f);
out:
  verb_end (r, "rename", what, arrow);
  free (arrow);
  return r;
}

static int
op_link (const char *from, const char *to)
{
  (void)from, (void)to;
  return -EPERM;
}

static int
op_create (const char *path, mode_t mode, struct fuse_file_info *fi)
{
  (void)path, (void)mode, (void)fi;
  return -EROFS;
}

/* Device nodes, FIFOs and sockets: no more than files. */
static int
op_mknod (const char *path, mode_t mode, dev_t dev)
{
  (void)path, (void)mode, (void)dev;
  return -EROFS;
}

/* Truncation is part of a shell's "echo word > file": files that take
 * commands accept it and ignore it. */
static int
op_truncate (const char *path, off_t size, struct fuse_file_info *fi)
{
  struct node n;
  int r;

  (void)size;
  if ((r = resolve_open (path, fi, &n, false)) < 0)
    return r;
  r = !node_writable (&n) ? -EROFS
                          : may_act ("truncate", path ? path : "an open file");
  node_release (&n);
  return r;
}

static int
op_chmod (const char *path, mode_t mode, struct fuse_file_info *fi)
{
  (void)path, (void)mode, (void)fi;
  return -EROFS;
}

static int
op_chown (const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
  (void)path, (void)uid, (void)gid, (void)fi;
  return -EROFS;
}

static int
op_utimens (const char *path, const struct timespec tv[2],
            struct fuse_file_info *fi)
{
  (void)path, (void)tv, (void)fi;
  return -EROFS;
}

static const struct fuse_operations operations = {
  .init = op_init,
  .getattr = op_getattr,
  .readlink = op_readlink,
  .statfs = op_statfs,
  .readdir = op_readdir,
  .open = op_open,
  .read_buf = op_read_buf,
  .lseek = op_lseek,
  .poll = op_poll,
  .write = op_write,
  .release = op_release,
  .mkdir = op_mkdir,
  .rmdir = op_rmdir,
  .flush = op_flush,
  .unlink = op_unlink,
  .symlink = op_symlink,
  .link = op_link,
  .rename = op_rename,
  .create = op_create,
  .mknod = op_mknod,
  .truncate = op_truncate,
  .chmod = op_chmod,
  .chown = op_chown,
  .utimens = op_utimens,
};

const struct fuse_operations *
fs_operations (void)
{
  return &operations;
}
