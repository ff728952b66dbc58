/* vmsnapfs: which host file each frozen file of the mount stands for, and
 * the backing file the kernel reads it through.
 *
 * Guarded by its own lock, taken alone.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "export.h"
#include "fs.h"
#include "util.h"

/* A name can come to stand for another host file: after a merge, the
 * frozen volume of the snapshot above the merged one is the merged one's
 * base, often of the very same size.  The kernel keeps a file's pages from
 * one open to the next, so each open of a host file compares it with the
 * file the name stood for at its last open, and has the pages dropped when
 * they differ.
 *
 * With passthrough, the kernel reads the host file itself, through one
 * backing file per node at a time, which every open of the node must use:
 * the opens of a node share one, and an open of a node that another file
 * is passed through for waits for those opens (backing_note_open).
 *
 * An open-addressing table: node inode -> file identity. */
struct seen
{
  uint64_t node; /* 0: a free slot */
  uint64_t file;
  uint64_t passed;  /* the file passed through for NODE's opens... */
  uint32_t passing; /* ...by so many of them... */
  int backing;      /* ...as this backing id: one for them all */
};

/* Nodes remembered before those with no open are forgotten. */
#define SEEN_KEEP 4096

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t passed_cond = PTHREAD_COND_INITIALIZER; /* passing 0 */
static struct seen *seen;
static size_t seen_used, seen_cap; /* seen_cap: 0 or a power of two */

static struct seen *
seen_slot (struct seen *table, size_t cap, uint64_t node)
{
  size_t i = (size_t)node & (cap - 1);

  while (table[i].node != 0 && table[i].node != node)
    i = (i + 1) & (cap - 1);
  return &table[i];
}

/* NODE's entry, made when new; call with seen_lock held. */
static struct seen *
seen_entry (uint64_t node)
{
  struct seen *s;

  if (2 * (seen_used + 1) > seen_cap)
    {
      /* Full: past SEEN_KEEP nodes, forget those no open passes through
       * (their next open drops the pages: an unknown node is never taken
       * for the same file); else grow. */
      bool prune = seen_used >= SEEN_KEEP;
      size_t keep = 0, cap = 64;
      struct seen *table;

      for (size_t i = 0; i < seen_cap; i++)
        if (seen[i].node && (!prune || seen[i].passing > 0))
          keep++;
      while (cap < 2 * (keep + 1) || (!prune && cap <= seen_cap))
        cap *= 2;
      table = xcalloc (cap, sizeof *table);
      for (size_t i = 0; i < seen_cap; i++)
        if (seen[i].node && (!prune || seen[i].passing > 0))
          *seen_slot (table, cap, seen[i].node) = seen[i];
      free (seen);
      seen = table;
      seen_cap = cap;
      seen_used = keep;
    }
  s = seen_slot (seen, seen_cap, node);
  if (s->node == 0)
    {
      seen_used++;
      s->node = node;
    }
  return s;
}

/* Record that NODE now stands for host file FD, and set *SAME to whether
 * it stood for the same one at its last open (false when it is not known).
 * When *BACKING is not NULL, pass the file through if it can be: *BACKING is
 * the backing id, held until backing_end, or 0.  Returns 0, or -EBUSY when
 * opens of NODE still have another file passed through: the kernel takes
 * neither another backing file for the node nor an open without one.
 * Those just closed are waited for: the kernel reports their release a
 * moment later. */
int
backing_note_open (uint64_t node, int fd, const struct stat *st, bool *same,
                   int *backing)
{
  SCOPED_LOCK (&seen_lock);
  char id[96];
  uint64_t file;
  struct seen *s;
  struct timespec until;

  snprintf (id, sizeof id, "%ju:%ju:%jd:%jd.%09ld", (uintmax_t)st->st_dev,
            (uintmax_t)st->st_ino, (intmax_t)st->st_size,
            (intmax_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
  file = hash_strings (id, NULL);
  deadline_ms (&until, CLOCK_REALTIME, EXPORT_RELEASE_WAIT_MS);
  while ((s = seen_entry (node))->passing > 0 && s->passed != file)
    if (pthread_cond_timedwait (&passed_cond, &seen_lock, &until) == ETIMEDOUT
        && (s = seen_entry (node))->passing > 0 && s->passed != file)
      return -EBUSY;
  *same = s->file == file; /* a node not known: its pages are dropped */
  s->file = file;
  if (backing == NULL)
    return 0;
  if (s->passing == 0)
    {
      if ((s->backing = passthrough_open (fd)) <= 0)
        {
          *backing = 0;
          return 0;
        }
      s->passed = file;
    }
  s->passing++;
  *backing = s->backing;
  return 0;
}

/* An open of NODE whose file was passed through is released. */
void
backing_end (uint64_t node)
{
  SCOPED_LOCK (&seen_lock);
  struct seen *s = seen_entry (node);

  if (--s->passing == 0)
    {
      passthrough_close (s->backing);
      s->backing = 0;
      pthread_cond_broadcast (&passed_cond);
    }
}
