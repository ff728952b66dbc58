/* vmsnapfs: the files of a remote host, through libvirt's storage API:
 * the pools and volumes that reach them (storage.h), and what fs/ reads
 * of them (remote.h), a file or a whole disk's copy.  The verbs' work on
 * a host's files is files.c's.
 *
 * libvirt names a file of a remote host by its path there; its storage API
 * reaches a file only as a volume of an active pool.  So the directory of
 * each file asked for is made a pool: the pool that already has it as its
 * target, or a transient "dir" pool, "vmsnapfs-HASH", made for it (gone
 * when libvirtd restarts, found again by its target otherwise).  A pool
 * lists the files it saw at its last refresh: a lookup that fails
 * refreshes the pool once and asks again.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "cleanup.h"
#include "log.h"
#include "remote.h"
#include "util.h"

#include "conn.h"
#include "files.h"
#include "remotedelta.h"
#include "storage.h"
#include "xmldoc.h"

/* A read a little ahead of the stream waits this long, at most, for the
 * reads before it: the kernel sends its read-ahead in order, but the FUSE
 * threads that take them may come in any order, and a new stream for each
 * would cost a round trip and the data in flight. */
#define AHEAD_BYTES (16 * 1024 * 1024)
#define AHEAD_WAIT_MS 100

bool
vm_is_local (const struct vs_vm *vm)
{
  return vm->host == NULL || host_is_local (vm->host);
}

/* The pool whose target is DIR on C, made when there is none.  NULL when
 * it cannot be (logged). */
virStoragePoolPtr
pool_for_dir (virConnectPtr c, const char *dir)
{
  char name[32];
  CLEANUP_FREE char *xml = NULL;
  virStoragePoolPtr p = virStoragePoolLookupByTargetPath (c, dir);

  if (p)
    {
      if (virStoragePoolIsActive (p) != 1 && virStoragePoolCreate (p, 0) < 0)
        log_warning ("The pool of '%s' cannot be started: %s", dir,
                     virt_error ());
      return p;
    }
  snprintf (name, sizeof name, "vmsnapfs-%016" PRIx64,
            hash_strings (dir, NULL));
  xml = dir_pool_xml (name, dir, 0);
  if ((p = virStoragePoolCreateXML (c, xml, 0)) == NULL
      && (p = virStoragePoolLookupByName (c, name)) == NULL)
    log_error ("Cannot make '%s' a storage pool on the remote host: %s", dir,
               virt_error ());
  else
    log_debug ("Directory '%s' of a remote host is pool '%s'.", dir, name);
  return p;
}

/* The volume of file PATH on C, or NULL: -ENOENT or -EIO in *ERR. */
virStorageVolPtr
volume_of (virConnectPtr c, const char *path, int *err)
{
  CLEANUP_FREE char *copy = xstrdup (path);
  virStoragePoolPtr pool;
  virStorageVolPtr v = virStorageVolLookupByPath (c, path);

  if (v)
    return v;
  if ((pool = pool_for_dir (c, dirname (copy))) == NULL)
    {
      *err = -EIO;
      return NULL;
    }
  if (virStoragePoolRefresh (pool, 0) < 0)
    log_warning ("Cannot refresh the pool of '%s': %s", path, virt_error ());
  virStoragePoolFree (pool);
  if ((v = virStorageVolLookupByPath (c, path)) == NULL)
    *err = virGetLastErrorCode () == VIR_ERR_NO_STORAGE_VOL ? -ENOENT : -EIO;
  return v;
}

int
remote_stat (struct host *h, const char *path, uint64_t *size,
             uint64_t *allocation)
{
  virConnectPtr c = host_conn (h);
  virStorageVolPtr v;
  virStorageVolInfo info;
  int r = -EIO;

  if (c == NULL)
    return -EIO;
  if ((v = volume_of (c, path, &r)) != NULL)
    {
      /* The file's own size, not a qcow2's virtual size: with PHYSICAL,
       * libvirt gives it in the allocation field. */
      if (virStorageVolGetInfoFlags (v, &info, VIR_STORAGE_VOL_GET_PHYSICAL)
          == 0)
        {
          *size = info.allocation;
          r = 0;
        }
      if (r == 0 && virStorageVolGetInfo (v, &info) == 0)
        *allocation = info.allocation;
      else if (r == 0)
        r = -EIO;
      if (r < 0)
        log_error ("Cannot read the size of remote file '%s': %s", path,
                   virt_error ());
      virStorageVolFree (v);
    }
  virConnectClose (c);
  return r;
}

/* Remove file PATH of H (files.h): here, for a whole disk's copy below
 * is removed so. */
int
host_file_unlink (struct host *h, const char *path)
{
  virConnectPtr c;
  virStorageVolPtr v;
  int r = -EIO;

  if (host_is_local (h))
    return unlink (path) < 0 ? -errno : 0;
  if ((c = host_conn (h)) == NULL)
    return -EIO;
  if ((v = volume_of (c, path, &r)) != NULL)
    {
      r = virStorageVolDelete (v, 0) < 0 ? -EIO : 0;
      if (r < 0)
        log_error ("Cannot remove remote file '%s': %s", path, virt_error ());
      virStorageVolFree (v);
    }
  virConnectClose (c);
  return r;
}

/* --- reading ------------------------------------------------------------- */

/* A new open of file PATH, reading nothing yet. */
static struct remote_file *
file_new (const char *path)
{
  struct remote_file *f = xcalloc (1, sizeof *f);

  pthread_mutex_init (&f->lock, NULL);
  pthread_cond_init (&f->moved, NULL);
  f->path = xstrdup (path);
  return f;
}

int
remote_open (struct host *h, const char *path, struct remote_file **out)
{
  struct remote_file *f;
  virConnectPtr c = host_open_own (h); /* its stream waits long */
  virStorageVolPtr v;
  int r = -EIO;

  if (c == NULL)
    return -EIO;
  if ((v = volume_of (c, path, &r)) == NULL)
    {
      virConnectClose (c);
      return r;
    }
  f = file_new (path);
  f->conn = c;
  f->vol = v;
  *out = f;
  return 0;
}

static void
end_stream (struct remote_file *f)
{
  if (f->st == NULL)
    return;
  if (f->eof)
    virStreamFinish (f->st);
  else
    virStreamAbort (f->st);
  virStreamFree (f->st);
  f->st = NULL;
}

/* Start a download of F from OFF to its end. */
static int
start_stream (struct remote_file *f, uint64_t off)
{
  end_stream (f);
  f->st = virStreamNew (f->conn, 0);
  if (f->st == NULL
      || virStorageVolDownload (f->vol, f->st, off, 0,
                                VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
             < 0)
    {
      log_error ("Cannot read remote file '%s': %s", f->path, virt_error ());
      if (f->st)
        virStreamFree (f->st);
      f->st = NULL;
      return -EIO;
    }
  f->pos = off;
  f->hole = 0;
  f->eof = false;
  return 0;
}

ssize_t
remote_read (struct remote_file *f, char *buf, size_t size, off_t off)
{
  size_t done = 0;
  struct timespec until;
  SCOPED_LOCK (&f->lock);

  if (f->delta)
    return delta_pread (f->delta, buf, size, (uint64_t)off);
  deadline_ms (&until, CLOCK_REALTIME, AHEAD_WAIT_MS);
  while (f->st != NULL && !f->eof && (uint64_t)off > f->pos
         && (uint64_t)off - f->pos <= AHEAD_BYTES
         && pthread_cond_timedwait (&f->moved, &f->lock, &until) == 0)
    ;
  if (f->st != NULL && (uint64_t)off != f->pos)
    log_debug ("Remote file '%s': a read at %lld, the stream at %" PRIu64
               ": a new stream.",
               f->path, (long long)off, f->pos);
  if (f->st == NULL || (uint64_t)off != f->pos)
    if (start_stream (f, off) < 0)
      return -EIO;
  while (done < size && !f->eof)
    {
      size_t want = size - done > RECV_CHUNK ? RECV_CHUNK : size - done;
      int n;

      if (f->hole > 0)
        {
          size_t z = f->hole < want ? f->hole : want;

          memset (buf + done, 0, z);
          f->hole -= z;
          f->pos += z;
          done += z;
          continue;
        }
      n = virStreamRecvFlags (f->st, buf + done, want,
                              VIR_STREAM_RECV_STOP_AT_HOLE);
      if (n == -3)
        {
          long long len = 0;

          if (virStreamRecvHole (f->st, &len, 0) < 0 || len < 0)
            n = -1;
          else
            {
              f->hole = (uint64_t)len;
              continue;
            }
        }
      if (n < 0)
        {
          log_error ("Reading remote file '%s' at %" PRIu64 " failed (%d, "
                     "hole %" PRIu64 ", want %zu): %s",
                     f->path, f->pos, n, f->hole, want, virt_error ());
          end_stream (f);
          return done > 0 ? (ssize_t)done : -EIO;
        }
      if (n == 0)
        {
          f->eof = true;
          break;
        }
      f->pos += n;
      done += n;
    }
  pthread_cond_broadcast (&f->moved);
  return done;
}

static void disk_unref (struct remote_disk *d);

void
remote_close (struct remote_file *f)
{
  if (f == NULL)
    return;
  end_stream (f);
  disk_unref (f->disk);
  delta_close (f->delta);
  if (f->vol)
    virStorageVolFree (f->vol);
  if (f->conn)
    virConnectClose (f->conn);
  pthread_mutex_destroy (&f->lock);
  pthread_cond_destroy (&f->moved);
  free (f->path);
  free (f);
}

/* --- whole disks ------------------------------------------------------- */

/* A raw copy of a chain on a remote host, for its readers. */
struct remote_disk
{
  struct remote_disk *next;
  struct host *host;
  uint64_t key;
  char *copy; /* its path there */
  int refs;
  bool done; /* made, or failed (ERR) */
  int err;
};

static pthread_mutex_t disks_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t disks_cond = PTHREAD_COND_INITIALIZER;
static struct remote_disk *disks;

static void
disk_unref (struct remote_disk *d)
{
  struct remote_disk **p;

  if (d == NULL)
    return;
  pthread_mutex_lock (&disks_lock);
  if (--d->refs > 0)
    {
      pthread_mutex_unlock (&disks_lock);
      return;
    }
  for (p = &disks; *p != d; p = &(*p)->next)
    ;
  *p = d->next;
  pthread_mutex_unlock (&disks_lock);
  if (d->err == 0 && host_file_unlink (d->host, d->copy) == 0)
    log_debug ("Removed the copy '%s'.", d->copy);
  free (d->copy);
  free (d);
}

/* Make DST on C a whole copy of the disk whose frozen volume is SRC, its
 * chain read through, as FORMAT of CAPACITY bytes (libvirt runs qemu-img
 * convert there); a DST there already is replaced (one a killed daemon
 * left).  Returns 0 or -errno (logged). */
static int
copy_whole (virConnectPtr c, const char *src, const char *dst,
            const char *format, uint64_t capacity)
{
  CLEANUP_FREE char *dir = xstrdup (dst), *xml = NULL;
  const char *name = strrchr (dst, '/') + 1;
  virStorageVolPtr from, old, made = NULL;
  virStoragePoolPtr pool;
  int r = -EIO;

  if ((from = volume_of (c, src, &r)) == NULL)
    return r;
  if ((pool = pool_for_dir (c, dirname (dir))) == NULL)
    {
      virStorageVolFree (from);
      return -EIO;
    }
  if ((old = virStorageVolLookupByName (pool, name)) != NULL)
    {
      virStorageVolDelete (old, 0);
      virStorageVolFree (old);
    }
  xml = volume_xml (name, capacity, format, NULL, NULL);
  made = virStorageVolCreateXMLFrom (pool, xml, from, 0);
  if (made == NULL)
    {
      r = strstr (virt_error (), "No space") ? -ENOSPC : -EIO;
      log_error ("Cannot copy '%s' into '%s' on its host: %s", src, dst,
                 virt_error ());
    }
  else
    {
      virStorageVolFree (made);
      r = 0;
    }
  virStorageVolFree (from);
  virStoragePoolFree (pool);
  return r;
}

int
remote_copy_whole (struct host *h, const char *src, const char *dst,
                   const char *format, uint64_t capacity)
{
  virConnectPtr c = host_open_own (h); /* a long call */
  int r = c ? copy_whole (c, src, dst, format, capacity) : -EIO;

  if (c)
    virConnectClose (c);
  return r;
}

/* Make D's copy of VOLUME on C, raw.  Returns 0 or -errno (logged). */
static int
make_copy (virConnectPtr c, struct remote_disk *d, const char *volume,
           uint64_t virtual_size)
{
  log_info ("Copying the whole disk of '%s' into '%s' on its host, to read "
            "it.",
            volume, d->copy);
  return copy_whole (c, volume, d->copy, "raw", virtual_size);
}

int
remote_open_disk (struct host *h, uint64_t key, const char *volume,
                  uint64_t virtual_size, struct remote_file **out)
{
  struct remote_disk *d;
  bool first = false;
  int r;

  pthread_mutex_lock (&disks_lock);
  for (d = disks; d; d = d->next)
    if (d->host == h && d->key == key)
      break;
  if (d == NULL)
    {
      CLEANUP_FREE char *dir = xstrdup (volume);

      d = xcalloc (1, sizeof *d);
      d->host = h;
      d->key = key;
      d->copy = xasprintf ("%s/vmsnapfs-export-%016" PRIx64 ".img",
                           dirname (dir), key);
      d->next = disks;
      disks = d;
      first = true;
    }
  d->refs++;
  pthread_mutex_unlock (&disks_lock);

  if (first)
    {
      virConnectPtr c = host_open_own (h); /* a long call */
      int e = c ? make_copy (c, d, volume, virtual_size) : -EIO;

      if (c)
        virConnectClose (c);
      pthread_mutex_lock (&disks_lock);
      d->err = e;
      d->done = true;
      pthread_cond_broadcast (&disks_cond);
      pthread_mutex_unlock (&disks_lock);
    }
  pthread_mutex_lock (&disks_lock);
  while (!d->done)
    pthread_cond_wait (&disks_cond, &disks_lock);
  r = d->err;
  pthread_mutex_unlock (&disks_lock);
  if (r == 0 && (r = remote_open (h, d->copy, out)) == 0)
    {
      (*out)->disk = d;
      return 0;
    }
  disk_unref (d);
  return r;
}

/* --- what changed, over NBD -------------------------------------------- */

int
remote_open_delta (struct host *h, uint64_t key, const char *volume,
                   const char *format, uint64_t size, bool delta,
                   struct remote_file **out)
{
  struct delta_reader *d;
  struct remote_file *f;
  int r;

  if ((r = delta_open (h, key, volume, format, size, delta, &d)) < 0)
    return r;
  f = file_new (volume);
  f->delta = d;
  *out = f;
  return 0;
}

int64_t
remote_seek (struct remote_file *f, uint64_t off, bool data)
{
  return f->delta ? delta_seek (f->delta, off, data) : -EOPNOTSUPP;
}
