/* vmsnapfs: the file system: paths to nodes, and the FUSE operations.
 *
 * The only header that includes <fuse.h>.  This module never calls
 * libvirt: it reads the view of host.h, which only the files that read
 * the view include.
 */
#ifndef VMSNAPFS_FS_H
#define VMSNAPFS_FS_H

/* 3.12: the loop configuration with max_threads. */
#define FUSE_USE_VERSION 312
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "access.h"

/* The model of the hosts (host.h), included by the files of fs/ that
 * read it. */
struct vs_fleet;
struct vs_host;
struct vs_vm;
struct vs_snapshot;
struct vs_disk;
struct node_type;

/* A path resolved against one view of the hosts. */
struct node
{
  const struct node_type *type;
  const struct vs_fleet *fleet;
  const struct vs_host *host;     /* from the host's directory down */
  const struct vs_vm *vm;         /* from the VM directory down */
  const struct vs_snapshot *snap; /* from the snapshot directory down */
  const struct vs_disk *disk;     /* a frozen volume */
  char name[256];                 /* the last component of the path */
  char *gpath; /* below files/: the path in the guest (malloc'd), or NULL */
};

/* Resolve PATH ("/VM/snapshots/NAME/info", or "/HOST/VM/..." with several
 * hosts) in view F (fs/top.c).  Returns 0, -ENOENT, or -ENOTDIR (a
 * component below a file). */
int node_resolve (const struct vs_fleet *f, const char *path, struct node *n);

/* The newest of F's hosts' views' times (fs/attrs.c). */
time_t fleet_mtime (const struct vs_fleet *f);

/* Fill ST for N, as caller C sees it (NULL: root); see access.h.  This,
 * and what follows up to node_readlink: fs/attrs.c. */
int node_getattr (const struct node *n, const struct caller *c,
                  struct stat *st);

/* Whether N holds a disk's or memory's bytes: who asks matters. */
bool node_guarded (const struct node *n);

/* For a listing that gives attributes: make the map behind N's size (a
 * whole disk, a list of changes) in the daemon, for caller C who may read
 * N, when the volumes' headers are enough; otherwise nothing is done, and
 * the kernel's lookup reads them later as a stat does. */
struct caller;
void node_attrs_prepare (const struct node *n, const struct caller *c);

/* Whether N's attributes come without a subprocess or a libvirt call. */
bool node_attrs_cheap (const struct node *n);

/* How long the kernel may keep N's name and attributes, in seconds.  What
 * nothing tells of (the top, a remote host's VMs, a guest's files) is kept
 * a moment: changes made outside vmsnapfs must show within a second
 * (SPEC).  What a VM on this machine shows from its view (its directory,
 * state, links, snapshots/, each snapshot's directory, info, domain.xml)
 * changes only with a new view, and the kernel is told then
 * (host_on_vm_change): it is kept an hour, which bounds a reply the kernel
 * took in after both drops.  So is what shows a host file's stat (a
 * volume's mode follows the host's) when the files are watched
 * (hostwatch_covers), else a moment. */
#define NODE_CACHE_CHANGING 0.3
#define NODE_CACHE_FROZEN 3600.0
double node_cache_time (const struct node *n);

/* The host files whose attributes the mount shows, watched (hostwatch.c):
 * FN (host, vm) is called, from the watch's thread, for each VM that shows
 * a file that changed (HOST: its directory with several hosts, else
 * NULL).  Whether PATH's directory is watched (made so now if it can be):
 * only then may the kernel keep what shows PATH's attributes. */
typedef void hostwatch_fn (const char *host, const char *vm);
void hostwatch_start (hostwatch_fn *fn);
void hostwatch_stop (void);
bool hostwatch_covers (const char *path);

/* Call FILL (name, stat) for each entry of directory N.  Returns 0 or
 * -ENOTDIR. */
int node_readdir (const struct node *n,
                  int (*fill) (void *ctx, const char *name,
                               const struct stat *st),
                  void *ctx);

/* The target of link N into BUF.  Returns 0, or -EINVAL for no link. */
int node_readlink (const struct node *n, char *buf, size_t size);

/* An open file. */
struct export;
struct handle
{
  int fd; /* a frozen file, read straight from the host; or -1 */
  struct export_reader *exp; /* or a whole disk (export.h); or NULL */
  char *data;                /* or the whole content */
  size_t len;
  char *path; /* what it was opened by, renames followed (fs/resolve.c) */
  struct handle *prev, *next; /* the open handles (fs/resolve.c) */
  int backing;   /* the kernel reads the frozen file itself: its id, or 0 */
  bool noted;    /* recorded with backing_note_open... */
  bool renewed;  /* ...as standing for another file than at its last open */
  uint64_t node; /* with NOTED, the node's inode */
  uint64_t held; /* a frozen volume: its snapshot, held open (export.h) */
  struct remote_file *remote;    /* or a remote host's file (remote.h), of
                                    LEN bytes */
  struct guestfiles_file *gfile; /* or a guest's file (guestfiles.h), of
                                    LEN bytes */
};

/* Read SIZE bytes at OFF of H into BUF.  Returns the count or -errno. */
ssize_t handle_read (struct handle *h, char *buf, size_t size, off_t off);

/* A close(2) of a descriptor of H (FUSE's flush). */
void handle_flush (struct handle *h);

/* lseek(2) on H for SEEK_DATA and SEEK_HOLE: the offset, or -ENXIO. */
off_t handle_seek (struct handle *h, off_t off, int whence);

/* What the kernel may do with the pages of an open file. */
enum page_cache
{
  PAGE_CACHE_KEEP, /* keep them from the last open: the same file */
  PAGE_CACHE_DROP, /* drop them: the name stands for another file now */
  PAGE_CACHE_NONE, /* cache nothing: the content changes between reads */
  PAGE_CACHE_HOST, /* the kernel reads the host file (passthrough) */
};

/* Open N read-only for caller C, and say in *CACHE what the kernel may
 * cache.  Returns 0, -EISDIR, -EROFS for a write, -EACCES where C may not
 * read N, or -errno. */
int node_open (const struct node *n, const struct caller *c, int flags,
               struct handle **h, enum page_cache *cache);
void handle_close (struct handle *h);

/* FUSE passthrough (fs/passthrough.c): reads of an open file made by the
 * kernel from a host file.  passthrough_setup installs the hooks in
 * libfuse's session before it reads a request: 0 or -EIO. */
int passthrough_setup (struct fuse_session *se);
/* The hooks themselves, with DEV the /dev/fuse that backing files are
 * registered on (for the unit tests). */
const struct fuse_custom_io *passthrough_io (int dev);
/* Whether the kernel took passthrough at its INIT; not offered to it
 * after passthrough_refuse (-o passthrough=off). */
bool passthrough_enabled (void);
void passthrough_refuse (void);
/* A backing id for host file FD, or 0 when it cannot have one. */
int passthrough_open (int fd);
/* The reply to the OPEN this thread is answering names BACKING. */
void passthrough_reply (int backing);
void passthrough_close (int backing);

/* Which file each node stands for (fs/backing.c).  Record an open of
 * node NODE (its inode), which now stands for the file of stat ST (open
 * on FD, or -1), and set *SAME to whether it stood for the same file at
 * its last open (false when not known: the first open, or one after the
 * node was forgotten).  With BACKING, pass FD through where the kernel
 * can: *BACKING is the backing id, or 0.  Returns 0, or -EBUSY when opens
 * of NODE from before still read another file (those just closed are
 * waited for, EXPORT_RELEASE_WAIT_MS): they read it through the kernel's
 * pages of the node, or its one backing file. */
int backing_note_open (uint64_t node, int fd, const struct stat *st,
                       bool *same, int *backing);
/* An open recorded is released; PASSED: it had a backing id. */
void backing_end (uint64_t node, bool passed);
/* Whether opens of NODE still read another file than the one of stat ST
 * (NODE's now): then ST's size, blocks and time become that file's, as
 * the kernel reads it for them. */
bool backing_stale (uint64_t node, struct stat *st);

/* Whether N takes commands written to it. */
bool node_writable (const struct node *n);

/* Write a command (one word, an optional newline) to N.  Returns 0,
 * -EINVAL for a command it does not know, -EROFS for a file that takes
 * none, or the operation's -errno. */
int node_write (const struct node *n, const char *buf, size_t len);

/* Make NAME in directory PARENT: a snapshot in VM/snapshots.  Returns 0,
 * -EPERM where nothing can be made, or the operation's -errno. */
int node_mkdir (const struct node *parent, const char *name);

/* symlink(TARGET, DIR/NAME): in a VM directory, NAME "preview" previews
 * and "active" commits or reverts to the snapshot TARGET names
 * ("snapshots/NAME"); any other name is a temporary link, for ln -sfn.
 * Returns 0 or -errno (-EINVAL for a target that is no snapshot). */
/* The mount point's real path, for link targets given absolute. */
void node_set_mountpoint (const char *path);

int node_symlink (const struct node *dir, const char *name,
                  const char *target);

/* rename(FROM_DIR/FROM, TO_DIR/TO): a temporary link renamed over
 * "preview" or "active" does what symlink does.  Anything else: -EXDEV
 * across VMs, -EINVAL within one. */
int node_rename (const struct node *from_dir, const char *from,
                 const struct node *to_dir, const char *to);

/* unlink(DIR/NAME): "preview" undoes the preview, "resume" forgets the
 * memory restore, a temporary link goes. */
int node_unlink (const struct node *dir, const char *name);

/* rmdir(DIR/NAME). */
int node_rmdir (const struct node *dir, const char *name);

/* The caller of the FUSE request this thread serves (fs/request.c): its uid
 * and group, and with GROUPS its supplementary groups (read from /proc by
 * libfuse). */
void caller_current (struct caller *c, bool groups);

/* The FUSE operations of vmsnapfs, by path (fs/ops.c). */
const struct fuse_operations *fs_operations (void);

/* The session that answers FUSE's low-level protocol with them
 * (fs/lowlevel.c), as fuse_session_new makes it: NULL for options it does
 * not know (it says which). */
struct fuse_session *fs_session_new (struct fuse_args *args);

/* How long the kernel may keep the attributes the last getattr of this
 * thread gave, or the last entry its listing gave them for (ops.c), and
 * in *VM which VM they are of (fs_vm_key; 0: none). */
double fs_cache_time (uint64_t *vm);

/* Whether the last open this thread made stands for another file than
 * the node's open before (a merge below): the kernel's attributes of the
 * node are stale (ops.c). */
bool fs_open_renewed (void);

/* A key for VM (of HOST's directory with several hosts, else HOST NULL),
 * as a change of it is told (host_on_vm_change): never 0. */
uint64_t fs_vm_key (const char *host, const char *vm);

/* The FUSE request the calling worker thread serves (fs/request.c). */
fuse_req_t fs_request (void);

/* The calling thread's request goes on in a view taken after this call
 * (it published a deeper view of a VM itself): the changes told so far
 * cannot have overtaken what it gives from there (see request.c). */
void fs_request_renew (void);

#endif /* VMSNAPFS_FS_H */
