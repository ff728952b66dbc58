/* vmsnapfs: the stat of host files, kept for a tenth of a second (see
 * statcache.h).
 *
 * A direct-mapped table: a path's hash picks its slot, and a newer path
 * of the same slot takes it.  Its size is fixed, so it needs no sweeping,
 * and a miss costs what the stat costs anyway. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "statcache.h"
#include "util.h"

#define SLOTS 4096 /* a power of two */
#define LOCKS 64   /* slots share LOCKS locks, striped */

struct slot
{
  char *path; /* NULL: empty */
  long long when;
  int err; /* 0, or the errno the stat gave */
  struct stat st;
};

static struct slot slots[SLOTS];
static pthread_mutex_t locks[LOCKS] = {
  [0 ... LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER,
};

int
stat_cached (const char *path, struct stat *st)
{
  size_t i = (size_t)hash_strings (path, NULL) & (SLOTS - 1);
  pthread_mutex_t *lock = &locks[i % LOCKS];
  struct slot *s = &slots[i];
  long long now = now_ms ();
  int err;

  pthread_mutex_lock (lock);
  if (s->path && now - s->when < STATCACHE_MS && strcmp (s->path, path) == 0)
    {
      err = s->err;
      *st = s->st;
      pthread_mutex_unlock (lock);
      return -err;
    }
  pthread_mutex_unlock (lock);

  err = stat (path, st) < 0 ? errno : 0;

  pthread_mutex_lock (lock);
  if (s->path == NULL || strcmp (s->path, path) != 0)
    {
      free (s->path);
      s->path = xstrdup (path);
    }
  s->when = now;
  s->err = err;
  s->st = *st;
  pthread_mutex_unlock (lock);
  return -err;
}

void
stat_cache_clear (void)
{
  for (size_t i = 0; i < SLOTS; i++)
    {
      pthread_mutex_lock (&locks[i % LOCKS]);
      free (slots[i].path);
      slots[i].path = NULL;
      pthread_mutex_unlock (&locks[i % LOCKS]);
    }
}
