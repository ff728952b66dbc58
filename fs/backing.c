/* vmsnapfs: which file each frozen file of the mount stands for, and
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

/* A name can come to stand for other bytes: after a merge, the frozen
 * volume of the snapshot above the merged one is the merged one's base,
 * often of the very same size, and its delta is against another parent.
 * The kernel keeps a file's pages from one open to the next, one cache per
 * node shared by all its opens, so each open compares the file the node
 * stands for (a host file, or a delta's frozen volume) with the one it
 * stood for at its last open, and has the pages dropped when they differ.
 *
 * Opens from before keep reading the old file, through the kernel's pages
 * of the node: a new open beside them would read their pages, or they its.
 * So an open of a node whose opens still read another file waits for them
 * (backing_note_open), and until they are closed the node shows their
 * file's size (backing_stale), which bounds what the kernel reads.  With
 * passthrough the kernel reads the host file itself, through one backing
 * file per node, which every open of the node must use: the same rule.
 *
 * An open-addressing table: node inode -> file identity. */
struct seen
{
  uint64_t node;    /* 0: a free slot */
  uint64_t file;    /* the file at its last open */
  uint32_t opens;   /* opens not released, all of FILE... */
  uint32_t passing; /* ...so many of them passed through... */
  int backing;      /* ...as this backing id: one for them all */
  off_t size;       /* FILE's size, blocks and time at its last open */
  blkcnt_t blocks;
  struct timespec mtim;
};

/* Nodes remembered before those with no open are forgotten. */
#define SEEN_KEEP 4096

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t released_cond = PTHREAD_COND_INITIALIZER; /* opens 0 */
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
      /* Full: past SEEN_KEEP nodes, forget those with no open (their
       * next open drops the pages: an unknown node is never taken for the
       * same file); else grow. */
      bool prune = seen_used >= SEEN_KEEP;
      size_t keep = 0, cap = 64;
      struct seen *table;

      for (size_t i = 0; i < seen_cap; i++)
        if (seen[i].node && (!prune || seen[i].opens > 0))
          keep++;
      while (cap < 2 * (keep + 1) || (!prune && cap <= seen_cap))
        cap *= 2;
      table = xcalloc (cap, sizeof *table);
      for (size_t i = 0; i < seen_cap; i++)
        if (seen[i].node && (!prune || seen[i].opens > 0))
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

/* NODE's entry, or NULL when it has none; call with seen_lock held. */
static struct seen *
seen_find (uint64_t node)
{
  struct seen *s;

  if (seen_cap == 0)
    return NULL;
  s = seen_slot (seen, seen_cap, node);
  return s->node ? s : NULL;
}

/* The identity of the file of stat ST. */
static uint64_t
file_id (const struct stat *st)
{
  char id[96];

  snprintf (id, sizeof id, "%ju:%ju:%jd:%jd.%09ld", (uintmax_t)st->st_dev,
            (uintmax_t)st->st_ino, (intmax_t)st->st_size,
            (intmax_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
  return hash_strings (id, NULL);
}

/* Whether the opens of S read another file than FILE; call with
 * seen_lock held. */
static bool
stale (const struct seen *s, uint64_t file)
{
  return s && s->opens > 0 && s->file != file;
}

int
backing_note_open (uint64_t node, int fd, const struct stat *st, bool *same,
                   int *backing)
{
  SCOPED_LOCK (&seen_lock);
  uint64_t file = file_id (st);
  struct seen *s;
  struct timespec until;

  /* Those just closed are waited for: the kernel reports their release a
   * moment later. */
  deadline_ms (&until, CLOCK_REALTIME, EXPORT_RELEASE_WAIT_MS);
  while (stale (s = seen_entry (node), file))
    if (pthread_cond_timedwait (&released_cond, &seen_lock, &until)
            == ETIMEDOUT
        && stale (s = seen_entry (node), file))
      return -EBUSY;
  *same = s->file == file; /* a node not known: its pages are dropped */
  s->file = file;
  s->size = st->st_size;
  s->blocks = st->st_blocks;
  s->mtim = st->st_mtim;
  s->opens++;
  if (backing == NULL)
    return 0;
  *backing = 0;
  if (s->passing == 0 && (s->backing = passthrough_open (fd)) <= 0)
    return 0;
  s->passing++;
  *backing = s->backing;
  return 0;
}

void
backing_end (uint64_t node, bool passed)
{
  SCOPED_LOCK (&seen_lock);
  struct seen *s = seen_entry (node);

  if (passed && --s->passing == 0)
    {
      passthrough_close (s->backing);
      s->backing = 0;
    }
  if (--s->opens == 0)
    pthread_cond_broadcast (&released_cond);
}

bool
backing_stale (uint64_t node, struct stat *st)
{
  SCOPED_LOCK (&seen_lock);
  struct seen *s = seen_find (node);

  if (!stale (s, file_id (st)))
    return false;
  st->st_size = s->size;
  st->st_blocks = s->blocks;
  st->st_mtim = s->mtim;
  return true;
}
