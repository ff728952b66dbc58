/* vmsnapfs: what each node shows: its attributes (stat), the cache time
 * the kernel may keep them, a directory's entries and a link's target,
 * from its type (nodes.c, top.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "access.h"
#include "chain.h"
#include "export.h"
#include "fs.h"
#include "host.h"
#include "log.h"
#include "remote.h"
#include "statcache.h"

#include "node-types.h"

time_t
fleet_mtime (const struct vs_fleet *f)
{
  time_t t = 0;

  for (size_t i = 0; i < f->nhosts; i++)
    if (f->hosts[i]->mtime > t)
      t = f->hosts[i]->mtime;
  return t;
}

static time_t
node_mtime (const struct node *n)
{
  if (n->snap)
    return n->snap->created;
  if (n->vm)
    return n->vm->mtime;
  return n->host ? n->host->mtime : fleet_mtime (n->fleet);
}

/* The same for a file of a remote host, whose owner and mode are not
 * known here: root's (and the readers'), with its size, and its time the
 * snapshot's. */
static int
remote_perms (const struct node *n, struct stat *st, struct stat *hs)
{
  uint64_t size, allocation;
  int r
      = remote_stat (n->vm->host, n->type->host_file (n), &size, &allocation);

  if (r < 0)
    return r;
  memset (hs, 0, sizeof *hs);
  hs->st_size = (off_t)size;
  hs->st_blocks = (blkcnt_t)((allocation + 511) / 512);
  hs->st_mtim.tv_sec = n->snap->created;
  access_disk_attrs (0, 0, n->type->root_only ? S_IRUSR : 0440, st);
  return 0;
}

/* The data bytes of N's remote delta into *DATA, once its map was read
 * (a stat starts no helper domain on the host). */
static void
remote_data_bytes (const struct node *n, uint64_t *data)
{
  struct extent *ext;
  size_t next;

  if (remote_extents (n->vm->host, n->snap->ino, n->disk->volume,
                      n->disk->format, n->disk->virtual_size, is_delta (n),
                      false, &ext, &next)
      < 0)
    return;
  *data = 0;
  for (size_t i = 0; i < next; i++)
    *data += ext[i].length;
  free (ext);
}

/* The owner, group and mode N shows (access.h) into ST; for a host file,
 * its stat into *HS.  Returns 0 or -errno. */
int
node_perms (const struct node *n, struct stat *st, struct stat *hs)
{
  const struct node_type *t = n->type;
  mode_t mode = 0444;

  st->st_mode = t->mode;
  st->st_uid = st->st_gid = 0;
  if (t->verbs)
    access_verb_attrs (st);
  if (t->host_file && !vm_is_local (n->vm))
    return remote_perms (n, st, hs);
  if (t->host_file)
    {
      /* A local stat, no libvirt round trip: the file is what qemu and
       * libvirt wrote, complete or not yet. */
      int r = stat_cached (t->host_file (n), hs);
      if (r < 0)
        return r;
      if (!t->root_only)
        {
          access_disk_attrs (hs->st_uid, hs->st_gid, hs->st_mode, st);
          return 0;
        }
    }
  if (t->root_only)
    access_disk_attrs (0, 0, t->mode, st);
  else if (t->whole_disk || t->chain_perms)
    {
      /* Root's, and no wider than the narrowest file it is read from;
       * root's alone when none of them can be looked at. */
      bool seen = false;
      for (size_t i = 0; i < n->disk->nchain; i++)
        if (stat_cached (n->disk->chain[i], hs) == 0)
          {
            mode &= hs->st_mode;
            seen = true;
          }
      access_disk_attrs (0, 0, seen ? mode : S_IRUSR, st);
    }
  return 0;
}

bool
node_attrs_cheap (const struct node *n)
{
  uint64_t bytes;

  if (n->type->host_file)
    return vm_is_local (n->vm);
  if (n->type->guest)
    return true; /* each directory is listed with its attributes */
  /* A whole disk's, and the size of the list of its changes, once its map
   * was read. */
  if (n->type->whole_disk || n->type->size)
    return vm_is_local (n->vm)
           && export_data_bytes (n->snap->ino, n->disk->target,
                                 n->disk->volume, n->disk->format, false,
                                 is_delta (n), &bytes)
                  == 0;
  return true;
}

void
node_attrs_prepare (const struct node *n, const struct caller *c)
{
  struct stat st, hs;

  if (!(n->type->whole_disk || n->type->size) || !vm_is_local (n->vm)
      || node_perms (n, &st, &hs) < 0 || access_read (c, &st) < 0)
    return;
  (void)export_map_parse (n->snap->ino, n->disk->target, n->disk->volume,
                          n->disk->format);
}

/* Whether every file of N's chain is watched. */
static bool
chain_covered (const struct node *n)
{
  for (size_t i = 0; i < n->disk->nchain; i++)
    if (!hostwatch_covers (n->disk->chain[i]))
      return false;
  return true;
}

/* Whether opens of N from before a merge still read another host file
 * (backing_stale): its attributes are theirs until they are closed. */
static bool
host_file_stale (const struct node *n)
{
  struct stat hs;

  return stat_cached (n->type->host_file (n), &hs) == 0
         && backing_stale (node_ino (n), &hs);
}

double
node_cache_time (const struct node *n)
{
  const struct node_type *t = n->type;

  /* Below a VM, what is rendered comes from the view, and what is
   * generated at open shows no size or one from a disk's map: a new view
   * is all that changes them.  What shows a host file's stat (a volume,
   * memory, a whole disk's mode from its chain) follows that file, which
   * no view tells of: kept only while the file is watched, so that a chmod
   * on the host shows within a second, and not while opens from before a
   * merge show the file they read; a size from a disk's map, once the map
   * was read. */
  if (n->vm == NULL || !vm_is_local (n->vm) || t->guest || t == &t_temp_link)
    return NODE_CACHE_CHANGING;
  if (n->snap == NULL)
    return NODE_CACHE_FROZEN;
  if (t->host_file
      && (!hostwatch_covers (t->host_file (n)) || host_file_stale (n)))
    return NODE_CACHE_CHANGING;
  if ((t->whole_disk || t->chain_perms) && !chain_covered (n))
    return NODE_CACHE_CHANGING;
  if ((t->whole_disk || t->size) && !node_attrs_cheap (n))
    return NODE_CACHE_CHANGING;
  return NODE_CACHE_FROZEN;
}

bool
node_guarded (const struct node *n)
{
  return n->type->disk;
}

int
node_getattr (const struct node *n, const struct caller *c, struct stat *st)
{
  const struct node_type *t = n->type;
  struct stat hs;
  int r;

  if (t->guest)
    return guest_getattr (n, st, node_ino (n));
  memset (st, 0, sizeof *st);
  if ((r = node_perms (n, st, &hs)) < 0)
    return r;
  st->st_ino = node_ino (n);
  st->st_nlink = S_ISDIR (t->mode) ? 2 : 1;
  st->st_mtime = st->st_ctime = st->st_atime = node_mtime (n);
  st->st_blksize = 4096;
  if (t->host_file)
    {
      if (vm_is_local (n->vm))
        backing_stale (st->st_ino, &hs);
      st->st_size = hs.st_size;
      st->st_blocks = hs.st_blocks;
      st->st_mtim = st->st_ctim = st->st_atim = hs.st_mtim;
    }
  else if (t->whole_disk)
    {
      /* Holes are not counted: sparse-aware tools skip them.  qemu-img
       * reads them for a caller who may read the disk; anyone else sees
       * what was read before, or the disk as full. */
      uint64_t data = n->disk->virtual_size;
      bool may = c == NULL || access_read (c, st) == 0;
      if (vm_is_local (n->vm)
          && export_data_bytes (n->snap->ino, n->disk->target, n->disk->volume,
                                n->disk->format, may, is_delta (n), &data)
                 < 0
          && may)
        log_warning ("The holes of '%s' cannot be read; it shows as "
                     "full.",
                     n->disk->volume);
      else if (!vm_is_local (n->vm) && t->delta)
        remote_data_bytes (n, &data);
      st->st_size = (off_t)n->disk->virtual_size;
      st->st_blocks = (blkcnt_t)((data + 511) / 512);
    }
  else if (t->size)
    {
      /* Read as a whole disk's map is: for a caller who may read it. */
      uint64_t size = 0;

      t->size (n, c == NULL || access_read (c, st) == 0, &size);
      st->st_size = (off_t)size;
      st->st_blocks = (blkcnt_t)((size + 511) / 512);
    }
  else if (t->render)
    {
      size_t len;
      free (t->render (n, &len));
      st->st_size = len;
      st->st_blocks = (len + 511) / 512;
    }
  else if (t->link)
    {
      char *target = t->link (n);
      st->st_size = strlen (target);
      free (target);
    }
  return 0;
}

int
node_readdir (const struct node *n,
              int (*fill) (void *, const char *, const struct stat *),
              void *ctx)
{
  const struct node_type *t = n->type;

  if (!S_ISDIR (t->mode))
    return -ENOTDIR;
  for (const struct child *c = t->children; c && c->name; c++)
    {
      struct node child = *n;
      struct stat st;

      child.type = c->type;
      if (c->type->unlisted || (c->type->listed_if && !*c->type->listed_if)
          || (c->type->exists && !c->type->exists (&child)))
        continue;
      memset (&st, 0, sizeof st);
      st.st_ino = node_ino (&child);
      st.st_mode = c->type->mode;
      if (fill (ctx, c->name, &st))
        return 0;
    }
  if (t->list)
    t->list (n, fill, ctx);
  return 0;
}

int
node_readlink (const struct node *n, char *buf, size_t size)
{
  char *target;

  if (!n->type->link || size == 0)
    return -EINVAL;
  target = n->type->link (n);
  snprintf (buf, size, "%s", target);
  free (target);
  return 0;
}
