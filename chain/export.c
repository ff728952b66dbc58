/* vmsnapfs: whole disks at a snapshot, served by qemu-nbd, read with
 * libnbd.  See export.h.
 *
 * Locks, in the order they nest: exports_lock, then an export's own lock;
 * never the other way.  exports_lock guards the list of exports, the holds
 * of frozen volumes, and (with the export's lock) each export's count of
 * opens, so that an export is freed only under it and with no open.  An
 * export's lock guards the fields below it in struct export, and is held
 * across the slow calls that fill them (qemu-img map, starting qemu-nbd);
 * whoever holds exports_lock only tries an export's lock, so that one slow
 * disk stalls no other.  A stat that reads a map (export_data_bytes,
 * export_extents) pins the export instead of opening it: it is not freed
 * meanwhile, and a merge waits for it as for a release.  Reads take neither
 * lock for their I/O: an open keeps its export. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libnbd.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "cleanup.h"
#include "export.h"
#include "export-internal.h"
#include "log.h"
#include "util.h"

static pthread_mutex_t exports_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reaper_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t released_cond = PTHREAD_COND_INITIALIZER; /* an open */
static struct export *exports;
/* The same, by snapshot: a stat finds its export without walking all of
 * them (20,000 snapshots, 20,000 exports). */
#define EXPORT_BUCKETS 4096
static struct export *by_snap[EXPORT_BUCKETS];
/* And by volume: a snapshot's whole disk is composed on the map of the one
 * below it (find_below). */
static struct export *by_volume[EXPORT_BUCKETS];
static pthread_t reaper;
static bool reaper_running, stopping;

/* --- the registry ------------------------------------------------------- */

static struct export **
bucket (uint64_t snap)
{
  return &by_snap[snap % EXPORT_BUCKETS];
}

static struct export **
vbucket (const char *volume)
{
  return &by_volume[hash_strings (volume, NULL) % EXPORT_BUCKETS];
}

/* The export of disk TARGET of snapshot SNAP on VOLUME, or NULL; call
 * with exports_lock held. */
static struct export *
lookup_export (uint64_t snap, const char *target, const char *volume)
{
  for (struct export *e = *bucket (snap); e; e = e->hnext)
    if (e->snap == snap && strcmp (e->target, target) == 0
        && strcmp (e->volume, volume) == 0)
      return e;
  return NULL;
}

static void
export_free (struct export *e)
{
  struct export **p;

  for (p = bucket (e->snap); *p != e; p = &(*p)->hnext)
    ;
  *p = e->hnext;
  for (p = vbucket (e->volume); *p != e; p = &(*p)->vnext)
    ;
  *p = e->vnext;
  stop_helper (e);
  drop_direct (e);
  map_free (e->map);
  map_free (e->changes);
  free (e->target);
  free (e->volume);
  free (e->format);
  free (e->sock);
  free (e->pidfile);
  pthread_mutex_destroy (&e->lock);
  pthread_cond_destroy (&e->cond);
  free (e);
}

/* The export of disk TARGET of snapshot SNAP on VOLUME, made when new;
 * call with exports_lock held. */
static struct export *
find_export (uint64_t snap, const char *target, const char *volume,
             const char *format)
{
  struct export *e, **p;
  bool stale = false;

  if ((e = lookup_export (snap, target, volume)) != NULL)
    return e;
  /* The disk's frozen volume is another since a merge below it: what was
   * kept of the old one goes, unless it is still open. */
  for (e = *bucket (snap); e; e = e->hnext)
    stale |= e->snap == snap && strcmp (e->target, target) == 0;
  for (p = &exports; stale && (e = *p);)
    if (e->snap == snap && strcmp (e->target, target) == 0 && e->opens == 0
        && e->pins == 0)
      {
        *p = e->next;
        export_free (e);
      }
    else
      p = &e->next;
  e = xcalloc (1, sizeof *e);
  e->snap = snap;
  e->target = xstrdup (target);
  e->volume = xstrdup (volume);
  e->format = xstrdup (format);
  e->sock = xasprintf ("%s/%d-%016" PRIx64 "-%s.sock", EXPORT_RUN_DIR,
                       (int)getpid (), snap, target);
  e->pidfile = xasprintf ("%s/%d-%016" PRIx64 "-%s.pid", EXPORT_RUN_DIR,
                          (int)getpid (), snap, target);
  pthread_mutex_init (&e->lock, NULL);
  pthread_cond_init (&e->cond, NULL);
  e->next = exports;
  exports = e;
  e->hnext = *bucket (snap);
  *bucket (snap) = e;
  e->vnext = *vbucket (volume);
  *vbucket (volume) = e;
  return e;
}

/* How far get_map goes for a map not read yet: not at all (-EAGAIN),
 * only as far as the volumes' own headers and tables here (-EAGAIN when
 * they are not enough), or to qemu-img. */
enum map_make
{
  MAP_KNOWN,
  MAP_PARSE,
  MAP_PROBE,
};

/* The export of disk TARGET of snapshot SNAP on VOLUME, pinned: not freed
 * meanwhile, and a merge waits for it as for a release.  With PROBE, made
 * when new; without, -EAGAIN when there is none. */
static int
pin (uint64_t snap, const char *target, const char *volume, const char *format,
     bool probe, struct export **out)
{
  SCOPED_LOCK (&exports_lock);
  struct export *e = probe ? find_export (snap, target, volume, format)
                           : lookup_export (snap, target, volume);

  if (e == NULL)
    return -EAGAIN;
  e->pins++;
  *out = e;
  return 0;
}

static void
unpin (struct export *e)
{
  SCOPED_LOCK (&exports_lock);

  if (--e->pins == 0)
    pthread_cond_broadcast (&released_cond);
}

/* The map E's is composed on: that of the export whose volume is E's
 * backing file (the snapshot before, mostly), already read, and E's own
 * volume's.  A chain of N snapshots reads N volumes' maps so, not N(N+1)/2. */
struct below
{
  struct export *export; /* pinned */
  const struct map *map; /* its, fixed while it is pinned */
  struct volmap *top;
};

static bool
same_file (const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino
         && a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec
         && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static bool
has_map (struct export *e)
{
  bool has;

  if (pthread_mutex_trylock (&e->lock) != 0)
    return true; /* busy: get_map will not wait for it */
  has = e->map != NULL;
  pthread_mutex_unlock (&e->lock);
  return has;
}

/* Find what E's map may be composed on into *B, or nothing (B->export
 * NULL); without E's lock, as exports_lock is taken. */
static void
find_below (struct export *e, struct below *b)
{
  CLEANUP_FREE char *path = NULL;
  struct stat st;

  *b = (struct below){ NULL, NULL, NULL };
  if (volmap_get (e->volume, e->format, &b->top) < 0)
    return;
  if ((path = volmap_backing_path (e->volume, b->top)) == NULL
      || b->top->backing_format == NULL || stat (path, &st) < 0)
    return;
  SCOPED_LOCK (&exports_lock);
  /* The same name may be another file now (a snapshot deleted and made
   * again): the export's map must be of the file there. */
  for (struct export *x = *vbucket (path); x && b->map == NULL; x = x->vnext)
    if (strcmp (x->volume, path) == 0
        && strcmp (x->format, b->top->backing_format) == 0
        && pthread_mutex_trylock (&x->lock) == 0)
      {
        if (x->map && x->mapped_ok && same_file (&x->mapped, &st))
          {
            b->map = x->map;
            b->export = x;
            x->pins++;
          }
        pthread_mutex_unlock (&x->lock);
      }
}

static void
put_below (struct below *b)
{
  if (b->export)
    unpin (b->export);
  if (b->top)
    volmap_put (b->top);
}

/* E's map composed with no process, into E->map: on B when it has one,
 * else from every volume of its chain.  Returns 0 or -errno. */
static int
compose (struct export *e, const struct below *b)
{
  if (b->map)
    return map_compose_over (b->top, b->map, &e->map);
  return map_compose_file (e->volume, e->format, &e->map);
}

/* E's map, read once (composed from its volumes' maps, no process where
 * they can be read here); the map of its changes when DELTA.  Short of
 * MAP_PROBE, not waited for while E is busy: -EAGAIN. */
static int
get_map (struct export *e, bool delta, enum map_make make,
         const struct map **m)
{
  struct below b = { NULL, NULL, NULL };
  int r = 0;

  if (make == MAP_PARSE && !has_map (e))
    find_below (e, &b);
  if (make != MAP_PROBE && pthread_mutex_trylock (&e->lock) != 0)
    {
      put_below (&b);
      return -EAGAIN;
    }
  if (make == MAP_PROBE)
    pthread_mutex_lock (&e->lock);
  if (e->map == NULL && make != MAP_KNOWN)
    {
      struct stat st;
      bool known = stat (e->volume, &st) == 0;

      if (make == MAP_PROBE)
        r = map_whole (e->volume, e->format, &e->map);
      else if (compose (e, &b) < 0)
        r = -EAGAIN;
      if (r == 0 && known)
        {
          e->mapped = st;
          e->mapped_ok = true;
        }
    }
  else if (e->map == NULL)
    r = -EAGAIN;
  if (r == 0 && delta && e->changes == NULL)
    e->changes = map_changes (e->map);
  if (r == 0)
    *m = delta ? e->changes : e->map;
  pthread_mutex_unlock (&e->lock);
  put_below (&b);
  return r;
}

/* One open of a whole disk. */
struct export_reader
{
  struct export *e;
  bool active; /* counted in E's readers */
  bool delta;  /* reads what changed, holes elsewhere */
};

int
export_open (uint64_t snap, const char *target, const char *volume,
             const char *format, uint64_t size, bool delta,
             struct export_reader **out)
{
  struct export_reader *reader = xmalloc (sizeof *reader);
  struct export *e;
  const struct map *m;
  bool direct;
  int r, slot;

  pthread_mutex_lock (&exports_lock);
  e = find_export (snap, target, volume, format);
  e->size = size;
  pthread_mutex_lock (&e->lock);
  e->readers++;
  e->opens++;
  pthread_mutex_unlock (&e->lock);
  pthread_mutex_unlock (&exports_lock);
  *reader = (struct export_reader){ e, true, delta };

  pthread_mutex_lock (&e->lock);
  if (!e->direct_tried)
    open_direct (e);
  direct = all_direct (e);
  /* The same disk: the map of its files is its map, one qemu-img less. */
  if (e->map == NULL && e->place)
    e->map = map_dup (e->place);
  pthread_mutex_unlock (&e->lock);
  if ((r = get_map (e, delta, MAP_PROBE, &m)) < 0)
    goto fail;
  /* qemu-nbd started now when it will be needed, so that an open fails
   * rather than a read. */
  if (!direct)
    {
      if ((r = take_conn (e, &slot)) < 0)
        goto fail;
      give_conn (e, slot, false);
    }
  *out = reader;
  return 0;

fail:
  export_close (reader);
  return r;
}

/* R no longer counts as a reader; call with R->e->lock held. */
static void
deactivate (struct export_reader *r)
{
  if (r->active)
    r->e->readers--;
  r->active = false;
}

void
export_flush (struct export_reader *r)
{
  SCOPED_LOCK (&r->e->lock);

  deactivate (r);
}

void
export_close (struct export_reader *r)
{
  struct export *e = r->e;

  /* exports_lock first, as everywhere: export_release_snapshot waits on
   * it for the last release. */
  pthread_mutex_lock (&exports_lock);
  pthread_mutex_lock (&e->lock);
  deactivate (r);
  if (--e->opens == 0)
    {
      e->idle_since = time (NULL);
      pthread_cond_broadcast (&released_cond);
    }
  pthread_mutex_unlock (&e->lock);
  pthread_mutex_unlock (&exports_lock);
  free (r);
}

/* Read as read_disk, what changed only: zeros where the frozen volume
 * holds nothing itself. */
static int
read_changes (struct export *e, char *buf, size_t size, uint64_t off)
{
  const struct map *c;
  uint64_t end = off + size;

  if (get_map (e, true, MAP_PROBE, &c) < 0)
    return -EIO;
  while (off < end)
    {
      int64_t data = map_seek (c, off, true), hole;

      if (data < 0 || (uint64_t)data >= end)
        {
          memset (buf, 0, end - off); /* unchanged to the end */
          return 0;
        }
      memset (buf, 0, (uint64_t)data - off);
      buf += (uint64_t)data - off;
      off = (uint64_t)data;
      hole = map_seek (c, off, false);
      if (hole < 0 || (uint64_t)hole > end)
        hole = (int64_t)end;
      if (read_disk (e, buf, (uint64_t)hole - off, off) < 0)
        return -EIO;
      buf += (uint64_t)hole - off;
      off = (uint64_t)hole;
    }
  return 0;
}

ssize_t
export_pread (struct export_reader *r, void *buf, size_t size, uint64_t off)
{
  struct export *e = r->e;

  /* Perhaps a read through a duplicate of a descriptor closed before. */
  pthread_mutex_lock (&e->lock);
  if (!r->active)
    e->readers++;
  r->active = true;
  pthread_mutex_unlock (&e->lock);
  if (off >= e->size)
    return 0;
  if (size > e->size - off)
    size = e->size - off;
  if (size > EXPORT_MAX_READ)
    size = EXPORT_MAX_READ;
  if ((r->delta ? read_changes (e, buf, size, off)
                : read_disk (e, buf, size, off))
      < 0)
    return -EIO;
  return (ssize_t)size;
}

int64_t
export_seek (struct export_reader *r, uint64_t off, bool data)
{
  const struct map *m;

  if (get_map (r->e, r->delta, MAP_PROBE, &m) < 0)
    return -EIO;
  return map_seek (m, off, data);
}

int
export_data_bytes (uint64_t snap, const char *target, const char *volume,
                   const char *format, bool probe, bool delta, uint64_t *bytes)
{
  const struct map *m;
  struct export *e;
  int r;

  if ((r = pin (snap, target, volume, format, probe, &e)) < 0)
    return r;
  if ((r = get_map (e, delta, probe ? MAP_PROBE : MAP_KNOWN, &m)) == 0)
    *bytes = m->data_bytes;
  unpin (e);
  return r;
}

int
export_map_parse (uint64_t snap, const char *target, const char *volume,
                  const char *format)
{
  const struct map *m;
  struct export *e;
  int r;

  if ((r = pin (snap, target, volume, format, true, &e)) < 0)
    return r;
  r = get_map (e, false, MAP_PARSE, &m);
  unpin (e);
  return r;
}

int
export_extents (uint64_t snap, const char *target, const char *volume,
                const char *format, bool probe, bool delta,
                struct extent **out, size_t *n)
{
  const struct map *m;
  struct export *e;
  int r;

  *out = NULL;
  *n = 0;
  if ((r = pin (snap, target, volume, format, probe, &e)) < 0)
    return r;
  if ((r = get_map (e, delta, probe ? MAP_PROBE : MAP_KNOWN, &m)) == 0)
    {
      *out = xmalloc (m->n * sizeof **out + 1);
      for (size_t i = 0; i < m->n; i++)
        if (m->extents[i].data)
          (*out)[(*n)++] = m->extents[i];
    }
  unpin (e);
  return r;
}

/* Whether the whole disks of snapshot SNAP are open: 2 when one is read
 * (an open not closed since it last read), 1 when what is open was closed
 * and waits for its release, or a stat reads its map, or it is busy; 0
 * when none is; call with exports_lock held. */
static int
snapshot_open (uint64_t snap, const char **target)
{
  int open = 0;

  for (struct export *e = exports; e; e = e->next)
    if (e->snap == snap)
      {
        int this;

        if (pthread_mutex_trylock (&e->lock) != 0)
          this = 1;
        else
          {
            this = e->opens > 0 && e->readers > 0 ? 2
                   : e->opens > 0 || e->pins > 0  ? 1
                                                  : 0;
            pthread_mutex_unlock (&e->lock);
          }

        if (this > open)
          {
            open = this;
            *target = e->target;
          }
      }
  return open;
}

/* Opens of frozen volumes, by snapshot: a short list, guarded by
 * exports_lock. */
struct hold
{
  uint64_t snap;
  unsigned opens;
};
static struct hold *holds;
static size_t nholds;

void
export_hold (uint64_t snap)
{
  SCOPED_LOCK (&exports_lock);

  for (size_t i = 0; i < nholds; i++)
    if (holds[i].snap == snap)
      {
        holds[i].opens++;
        return;
      }
  holds = xrealloc (holds, (nholds + 1) * sizeof *holds);
  holds[nholds++] = (struct hold){ snap, 1 };
}

void
export_unhold (uint64_t snap)
{
  SCOPED_LOCK (&exports_lock);

  for (size_t i = 0; i < nholds; i++)
    if (holds[i].snap == snap && --holds[i].opens == 0)
      {
        holds[i] = holds[--nholds];
        pthread_cond_broadcast (&released_cond);
        return;
      }
}

/* How many opens of SNAP's frozen volumes there are; call with
 * exports_lock held. */
static unsigned
held (uint64_t snap)
{
  for (size_t i = 0; i < nholds; i++)
    if (holds[i].snap == snap)
      return holds[i].opens;
  return 0;
}

int
export_release_snapshot (uint64_t snap, bool volumes)
{
  SCOPED_LOCK (&exports_lock);
  struct export **p = &exports;
  struct timespec until;
  const char *target = NULL;
  int open;

  /* Frozen volumes: a merge writes into them.  Opens just closed are
   * waited for, as below. */
  deadline_ms (&until, CLOCK_REALTIME, EXPORT_RELEASE_WAIT_MS);
  while (volumes && held (snap) > 0)
    if (pthread_cond_timedwait (&released_cond, &exports_lock, &until)
            == ETIMEDOUT
        && held (snap) > 0)
      {
        log_error ("A frozen volume of the snapshot is open: a merge would "
                   "write into it under its readers.");
        return -EBUSY;
      }

  /* The kernel reports the release of an open after close(2) returns: a
   * reader that has just closed is waited for, a descriptor still open
   * (a duplicate of one that was closed, say) is not. */
  while ((open = snapshot_open (snap, &target)) == 1)
    if (pthread_cond_timedwait (&released_cond, &exports_lock, &until)
        == ETIMEDOUT)
      {
        open = snapshot_open (snap, &target);
        break;
      }
  if (open > 0)
    {
      log_error ("The whole disk '%s' of the snapshot is open: its volumes "
                 "must not change under its readers.",
                 target);
      return -EBUSY;
    }
  while (*p)
    {
      struct export *e = *p;

      if (e->snap == snap)
        {
          *p = e->next;
          export_free (e);
        }
      else
        p = &e->next;
    }
  return 0;
}

/* --- idle helpers, strays, exit ----------------------------------------- */

static void *
reaper_main (void *arg)
{
  SCOPED_LOCK (&exports_lock);

  (void)arg;
  while (!stopping)
    {
      struct timespec until;

      deadline_ms (&until, CLOCK_REALTIME, 2000);
      pthread_cond_timedwait (&reaper_cond, &exports_lock, &until);
      for (struct export *e = exports; e; e = e->next)
        {
          /* A busy one is not idle. */
          if (pthread_mutex_trylock (&e->lock) != 0)
            continue;
          if ((e->pid || e->place) && e->opens == 0
              && time (NULL) - e->idle_since >= EXPORT_IDLE_S)
            {
              stop_helper (e);
              drop_direct (e);
              e->direct_tried = false;
            }
          pthread_mutex_unlock (&e->lock);
        }
    }
  return NULL;
}

int
export_init (void)
{
  if (mkdir (EXPORT_RUN_DIR, 0700) < 0 && errno != EEXIST)
    {
      log_error ("Cannot make '%s': %m", EXPORT_RUN_DIR);
      return -errno;
    }
  sweep_strays ();
  volstore_set_dir (VOLSTORE_DIR);
  stopping = false;
  if (pthread_create (&reaper, NULL, reaper_main, NULL) != 0)
    return -EAGAIN;
  reaper_running = true;
  return 0;
}

void
export_shutdown (void)
{
  pthread_mutex_lock (&exports_lock);
  stopping = true;
  pthread_cond_broadcast (&reaper_cond);
  pthread_mutex_unlock (&exports_lock);
  if (reaper_running)
    pthread_join (reaper, NULL);
  reaper_running = false;
  pthread_mutex_lock (&exports_lock);
  while (exports)
    {
      struct export *e = exports;
      exports = e->next;
      export_free (e);
    }
  pthread_mutex_unlock (&exports_lock);
  volcache_forget ();
  volstore_set_dir (NULL);
}
