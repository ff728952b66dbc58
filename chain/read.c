/* vmsnapfs: the reads of a whole disk: straight from the files of its
 * chain where qemu-img map says where the bytes lie, else through its
 * qemu-nbd helper (helper.c).  See export.c for the locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <libnbd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "export-internal.h"
#include "log.h"
#include "util.h"

/* qemu-img map tells where each run of a disk is stored: zeros, or plain
 * bytes at an offset of one file of the chain.  Those runs are read
 * straight from the files, with qemu-img's word for where they are; what
 * it gives no offset for (compressed clusters) goes through qemu-nbd.
 *
 * The map must be of the very files read.  They are opened first, the map
 * made, and the chain read again: the same files (same inodes) both times,
 * or no direct reads.  Then the files may change only as merges change
 * them, and a merge never moves a byte that a reader of this disk is
 * shown: it writes only where a newer image of the chain covers (a commit
 * into an image of it), or deletes files that stay open here, or rewrites
 * a header. */

void
drop_direct (struct export *e)
{
  for (uint32_t i = 0; i < e->nfds; i++)
    close (e->fds[i]);
  free (e->fds);
  e->fds = NULL;
  e->nfds = 0;
  map_free (e->place);
  e->place = NULL;
}

/* Whether C is the chain whose files E holds open. */
static bool
same_files (const struct export *e, const struct chain *c)
{
  struct stat a, b;

  if (c->n != e->nfds)
    return false;
  for (size_t i = 0; i < c->n; i++)
    if (fstat (e->fds[i], &a) < 0 || stat (c->images[i].filename, &b) < 0
        || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
      return false;
  return true;
}

/* Open E's chain for direct reads; call with E->lock held.  On any doubt,
 * E has no direct reads, and every read goes through qemu-nbd. */
void
open_direct (struct export *e)
{
  struct chain *c = NULL, *again = NULL;
  const char *why = NULL;

  e->direct_tried = true;
  if (chain_probe (e->volume, e->format, true, &c) < 0)
    why = "its chain cannot be read";
  for (size_t i = 0; why == NULL && i < c->n; i++)
    if (!c->images[i].own_data || c->images[i].filename[0] != '/')
      why = "an image of its chain keeps its data elsewhere";
  if (why == NULL)
    {
      e->fds = xcalloc (c->n, sizeof *e->fds);
      for (; e->nfds < c->n; e->nfds++)
        if ((e->fds[e->nfds]
             = open (c->images[e->nfds].filename, O_RDONLY | O_CLOEXEC))
            < 0)
          {
            why = "a file of its chain cannot be opened";
            break;
          }
    }
  if (why == NULL && map_probe (e->volume, e->format, &e->place) < 0)
    why = "it cannot be mapped";
  else if (why == NULL
           && (chain_probe (e->volume, e->format, true, &again) < 0
               || !same_files (e, again)))
    why = "its chain changed while it was mapped";
  else if (why == NULL && e->place->depths > e->nfds)
    why = "its map names images beyond its chain";
  chain_free (c);
  chain_free (again);
  if (why)
    {
      log_info ("Whole disk of '%s' read through qemu-nbd only: %s.",
                e->volume, why);
      drop_direct (e);
    }
}

/* Whether every run of E's data can be read directly. */
bool
all_direct (const struct export *e)
{
  if (e->place == NULL)
    return false;
  for (size_t i = 0; i < e->place->nruns; i++)
    if (e->place->runs[i].depth == RUN_ELSEWHERE)
      return false;
  return true;
}

/* Read SIZE bytes at OFF from the files, with no lock: the caller is a
 * reader, and E->place lives while E has one.  Returns 0, or -1 when part
 * of it is for qemu-nbd, or a read falls short. */
static int
read_direct (const struct export *e, char *buf, size_t size, uint64_t off)
{
  const struct run *run;
  size_t n;

  if (e->place == NULL || off + size > e->place->size)
    return -1;
  n = map_runs (e->place, off, size, &run);
  for (size_t i = 0; i < n; i++, run++)
    {
      uint64_t from = off > run->start ? off : run->start;
      uint64_t to = run->start + run->length;
      size_t len = (size_t)((to < off + size ? to : off + size) - from);
      char *dst = buf + (from - off);

      if (run->depth == RUN_ZERO)
        memset (dst, 0, len);
      else if (run->depth == RUN_ELSEWHERE)
        return -1;
      else if (pread_full (e->fds[run->depth], dst, len,
                           (off_t)(run->offset + (from - run->start)))
               != (ssize_t)len)
        return -1;
    }
  return 0;
}

/* Read SIZE bytes at OFF on connection H as several requests in flight:
 * qemu-nbd serves them in parallel, and a cold volume is read with the
 * depth that qemu-img convert gives it.  Returns 0 or -1. */
static int
pread_parallel (struct nbd_handle *h, char *buf, size_t size, uint64_t off)
{
  int64_t cookies[EXPORT_MAX_READ / EXPORT_CHUNK + 1];
  size_t n = 0;
  int r = 0;

  for (size_t done = 0; done < size && n < sizeof cookies / sizeof *cookies;
       done += EXPORT_CHUNK)
    {
      size_t len = size - done < EXPORT_CHUNK ? size - done : EXPORT_CHUNK;
      int64_t c = nbd_aio_pread (h, buf + done, len, off + done,
                                 NBD_NULL_COMPLETION, 0);
      if (c < 0)
        {
          r = -1;
          break;
        }
      cookies[n++] = c;
    }
  for (size_t i = 0; i < n; i++)
    {
      int done;

      while ((done = nbd_aio_command_completed (h, cookies[i])) == 0)
        if (nbd_poll (h, -1) < 0)
          return -1;
      if (done < 0)
        r = -1;
    }
  return r;
}

/* Read SIZE bytes of E's disk at OFF, all within it, into BUF.  Returns 0
 * or -EIO. */
int
read_disk (struct export *e, void *buf, size_t size, uint64_t off)
{
  int slot;

  if (read_direct (e, buf, size, off) == 0)
    return 0;
  for (int attempt = 0; attempt < 2; attempt++)
    {
      if (take_conn (e, &slot) < 0)
        return -EIO;
      if (pread_parallel (e->conn[slot], buf, size, off) == 0)
        {
          give_conn (e, slot, false);
          return 0;
        }
      log_warning ("Reading '%s' through qemu-nbd failed: %s", e->volume,
                   nbd_get_error ());
      give_conn (e, slot, true);
    }
  return -EIO;
}
