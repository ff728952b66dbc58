/* vmsnapfs: each volume's own map (volmap.c), read once for each state of
 * its file: the key is the file's device, inode, size and modification
 * time, which every write to a volume changes (a merge's commit into a
 * frozen volume, qemu's writes to an active one).  A frozen volume is
 * read once in the daemon's life however many chains share it.
 *
 * Locking: cache_lock guards the table; it is a leaf, never held across
 * the read of a volume.  A volume being read has an entry marked so, and
 * whoever asks for it meanwhile waits for that read (read_cond). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "cleanup.h"
#include "util.h"

#define CACHE_BUCKETS 16384

#define key volstore_key

struct entry
{
  struct entry *next;
  struct key key;
  struct volmap *v; /* a reference; NULL while being read */
  bool reading;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t read_cond = PTHREAD_COND_INITIALIZER;
static struct entry *table[CACHE_BUCKETS];

static struct entry **
bucket_of (const struct key *k)
{
  return &table[(k->dev * 31 + k->ino) % CACHE_BUCKETS];
}

static bool
same_key (const struct key *a, const struct key *b)
{
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size
         && a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns
         && a->raw == b->raw;
}

static void
key_of (const struct stat *st, bool raw, struct key *k)
{
  *k = (struct key){ (uint64_t)st->st_dev,         (uint64_t)st->st_ino,
                     (uint64_t)st->st_size,        (int64_t)st->st_mtim.tv_sec,
                     (int64_t)st->st_mtim.tv_nsec, raw };
}

void
volmap_put (struct volmap *v)
{
  if (v && __atomic_sub_fetch (&v->refs, 1, __ATOMIC_ACQ_REL) == 0)
    volmap_free (v);
}

static struct volmap *
ref (struct volmap *v)
{
  __atomic_add_fetch (&v->refs, 1, __ATOMIC_ACQ_REL);
  return v;
}

/* Remove E from its bucket and drop it; call with cache_lock held. */
static void
drop_entry (struct entry **p)
{
  struct entry *e = *p;

  *p = e->next;
  volmap_put (e->v);
  free (e);
}

/* The entry of K, or a new one marked as being read (*MINE); the entries
 * of older states of the same file go.  Waits while another thread reads
 * it.  Call with cache_lock held. */
static struct entry *
claim (const struct key *k, bool *mine)
{
  struct entry **p, *e;

  *mine = false;
  for (;;)
    {
      for (p = bucket_of (k); (e = *p) != NULL;)
        if (same_key (&e->key, k))
          break;
        else if (e->key.dev == k->dev && e->key.ino == k->ino && !e->reading)
          drop_entry (p); /* the file changed since */
        else
          p = &e->next;
      if (e == NULL)
        {
          e = xcalloc (1, sizeof *e);
          e->key = *k;
          e->reading = *mine = true;
          e->next = *bucket_of (k);
          *bucket_of (k) = e;
          return e;
        }
      if (!e->reading)
        return e;
      pthread_cond_wait (&read_cond, &cache_lock);
    }
}

/* The map of the file whose state is ST, when read already: one stat of
 * a volume that a walk meets again (in every chain above it) instead of an
 * open, a stat and a close.  NULL when not read, or being read. */
static struct volmap *
known (const struct stat *st, bool raw)
{
  SCOPED_LOCK (&cache_lock);
  struct key k;

  key_of (st, raw, &k);
  for (struct entry *e = *bucket_of (&k); e; e = e->next)
    if (same_key (&e->key, &k))
      return e->reading ? NULL : ref (e->v);
  return NULL;
}

int
volmap_get (const char *path, const char *format, struct volmap **out)
{
  CLEANUP_CLOSE int fd = -1;
  struct stat st, after;
  struct volmap *v = NULL;
  struct entry *e;
  struct key k;
  bool mine, saved = false;
  int r;

  *out = NULL;
  if (stat (path, &st) == 0
      && (*out = known (&st, strcmp (format, "raw") == 0)) != NULL)
    return 0;
  if ((fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
    return -errno;
  if (fstat (fd, &st) < 0)
    return -errno;
  key_of (&st, strcmp (format, "raw") == 0, &k);
  pthread_mutex_lock (&cache_lock);
  e = claim (&k, &mine);
  if (!mine)
    {
      *out = ref (e->v);
      pthread_mutex_unlock (&cache_lock);
      return 0;
    }
  pthread_mutex_unlock (&cache_lock);

  if ((v = volstore_load (&k)) != NULL)
    r = 0;
  else if ((r = volmap_read (fd, format, &v)) == 0)
    saved = true;
  /* Changed while it was read: not kept, not trusted. */
  if (r == 0
      && (fstat (fd, &after) < 0 || after.st_size != st.st_size
          || after.st_mtim.tv_sec != st.st_mtim.tv_sec
          || after.st_mtim.tv_nsec != st.st_mtim.tv_nsec))
    {
      volmap_free (v);
      r = -EAGAIN;
    }
  if (r == 0 && saved)
    volstore_save (&k, v);
  pthread_mutex_lock (&cache_lock);
  e->reading = false;
  if (r == 0)
    {
      v->dev = k.dev;
      v->ino = k.ino;
      v->refs = 1;
      e->v = v;
      *out = ref (v);
    }
  else
    for (struct entry **p = bucket_of (&k); *p; p = &(*p)->next)
      if (*p == e)
        {
          drop_entry (p); /* asked again next time */
          break;
        }
  pthread_cond_broadcast (&read_cond);
  pthread_mutex_unlock (&cache_lock);
  return r;
}

void
volcache_forget (void)
{
  SCOPED_LOCK (&cache_lock);

  for (size_t i = 0; i < CACHE_BUCKETS; i++)
    for (struct entry **p = &table[i]; *p;)
      if ((*p)->reading)
        p = &(*p)->next;
      else
        drop_entry (p);
}
