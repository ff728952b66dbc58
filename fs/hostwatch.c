/* vmsnapfs: the host files whose attributes the mount shows, watched, so
 * that the kernel may keep those attributes until one of them changes.
 *
 * A snapshot's frozen volume and memory file show their host file's
 * owner, mode, size and time, and its whole disks a mode no wider than
 * each file of their chain.  No view of libvirt's tells of a chmod, a
 * chown or a file rewritten on the host, yet SPEC promises it shows within
 * a second.  So the directories of those files are watched with inotify:
 * a change in one drops what the kernel holds of each VM that shows the
 * file (as a new view of the VM does), and until then the kernel keeps
 * the attributes (hostwatch_covers says where it may).
 *
 * Two paths to one directory (a symbolic link, a bind mount) are one
 * watch: inotify gives the second path the first one's descriptor.  Each
 * event is told under every path of the directory, and the directory's
 * end (IN_IGNORED) ends the watch of them all.
 *
 * Not seen: a file written without being closed (IN_MODIFY is left out:
 * every write of a running guest's own disk, in the same directories,
 * would wake the watch).  A frozen file is not written but by a merge,
 * which is an operation with a view of its own.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "host.h"
#include "log.h"
#include "remote.h"
#include "statcache.h"
#include "util.h"
#include "watcher.h"

/* What a watched directory is watched for: a file's attributes changed,
 * written and closed, made, renamed or removed. */
#define DIR_EVENTS                                                            \
  (IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM         \
   | IN_MOVED_TO | IN_ONLYDIR)

/* Most directories watched; beyond, files are not kept. */
#define MAX_DIRS 8192
/* The hash table of directories: a power of two, at least twice MAX_DIRS. */
#define SLOTS 16384

/* A directory's watch descriptor when it has none: it could not be
 * watched, or it was removed (then it is tried again when asked for). */
#define WD_NONE -1
#define WD_GONE -2

struct dir
{
  char *path; /* NULL: an empty slot; slots are never emptied */
  int wd;
  struct dir *same; /* the next path watched as WD (one directory) */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct dir dirs[SLOTS];
static size_t ndirs;
/* The same by watch descriptor (the kernel numbers them from 1): the
 * first path of each, the others following it by SAME. */
static struct dir **by_wd;
static size_t nby_wd;
static struct watcher watch = { .ifd = -1, .stopfd = -1 };
static bool running, broken;
static hostwatch_fn *changed;

/* What the thread gathers of one batch of events: the paths named, and
 * whether events were lost. */
static char **batch;
static size_t nbatch;
static bool batch_lost;

/* The slot of directory PATH, or the empty one it would take.
 * Call with LOCK held. */
static struct dir *
slot_of (const char *path)
{
  size_t i = (size_t)hash_strings (path, NULL) & (SLOTS - 1);

  while (dirs[i].path && strcmp (dirs[i].path, path) != 0)
    i = (i + 1) & (SLOTS - 1);
  return &dirs[i];
}

/* Watch D (its path set); WD_NONE when it cannot be. */
static void
add_watch (struct dir *d)
{
  d->wd = inotify_add_watch (watch.ifd, d->path, DIR_EVENTS);
  /* A stat kept from before the watch may be of before a change it did
   * not see. */
  stat_cache_clear ();
  if (d->wd < 0)
    {
      log_debug ("Cannot watch '%s' (%s): its files' attributes are "
                 "asked for again each time.",
                 d->path, strerror (errno));
      d->wd = WD_NONE;
      return;
    }
  if ((size_t)d->wd >= nby_wd)
    {
      size_t n = 2 * (size_t)d->wd + 16;

      by_wd = xrealloc (by_wd, n * sizeof *by_wd);
      memset (by_wd + nby_wd, 0, (n - nby_wd) * sizeof *by_wd);
      nby_wd = n;
    }
  /* Another path to a directory watched already: one watch. */
  d->same = by_wd[d->wd];
  by_wd[d->wd] = d;
}

/* The directory watched as WD, or NULL.  Call with LOCK held. */
static struct dir *
slot_of_wd (int wd)
{
  return wd >= 0 && (size_t)wd < nby_wd ? by_wd[wd] : NULL;
}

bool
hostwatch_covers (const char *path)
{
  const char *slash = strrchr (path, '/');
  size_t len = slash ? (size_t)(slash - path) : 0;
  char dir[PATH_MAX];
  struct dir *d;
  bool ok = false;

  if (len == 0 || len >= sizeof dir || path[0] != '/')
    return false;
  memcpy (dir, path, len);
  dir[len] = '\0';
  pthread_mutex_lock (&lock);
  if (running && !broken)
    {
      d = slot_of (dir);
      if (d->path == NULL && ndirs < MAX_DIRS)
        {
          d->path = xstrdup (dir);
          ndirs++;
          add_watch (d);
        }
      else if (d->path && d->wd == WD_GONE)
        add_watch (d);
      ok = d->path && d->wd >= 0;
    }
  pthread_mutex_unlock (&lock);
  return ok;
}

/* Whether any of the N paths PATHS is PATH. */
static bool
among (const char *path, char **paths, size_t n)
{
  if (path == NULL)
    return false;
  for (size_t i = 0; i < n; i++)
    if (strcmp (paths[i], path) == 0)
      return true;
  return false;
}

/* Whether VM shows a file of PATHS (N; NULL: any). */
static bool
shows (const struct vs_vm *vm, char **paths, size_t n)
{
  if (paths == NULL)
    return true;
  for (size_t s = 0; s < vm->nsnaps; s++)
    {
      const struct vs_snapshot *snap = vm->snaps[s];

      if (among (snap->memory_file, paths, n))
        return true;
      for (size_t d = 0; d < snap->ndisks; d++)
        {
          /* The volume heads its chain, when the chain could be read. */
          if (among (snap->disks[d].volume, paths, n))
            return true;
          for (size_t c = 0; c < snap->disks[d].nchain; c++)
            if (among (snap->disks[d].chain[c], paths, n))
              return true;
        }
    }
  return false;
}

/* The files PATHS (N of them; NULL: any) changed: what the daemon and the
 * kernel hold of their attributes goes. */
static void
files_changed (char **paths, size_t n)
{
  struct vs_fleet *f = fleet_get ();

  stat_cache_clear ();
  for (size_t h = 0; h < f->nhosts; h++)
    for (size_t v = 0; v < f->hosts[h]->nvms; v++)
      {
        const struct vs_vm *vm = f->hosts[h]->vms[v];

        if (vm_is_local (vm) && shows (vm, paths, n))
          changed (f->nhosts > 1 ? f->hosts[h]->name : NULL, vm->name);
      }
  fleet_put (f);
}

/* One event E (see watcher_fn): its path gathered; at the end of a
 * batch, the files named changed. */
static void
on_event (void *opaque, const struct inotify_event *e, bool failed)
{
  struct dir *d;

  (void)opaque;
  if (e == NULL)
    {
      if (failed)
        {
          pthread_mutex_lock (&lock);
          broken = true; /* from now on nothing is covered */
          pthread_mutex_unlock (&lock);
          batch_lost = true;
        }
      if (batch_lost || nbatch > 0)
        files_changed (batch_lost ? NULL : batch, nbatch);
      for (size_t i = 0; i < nbatch; i++)
        free (batch[i]);
      free (batch);
      batch = NULL;
      nbatch = 0;
      batch_lost = false;
      return;
    }
  pthread_mutex_lock (&lock);
  if (e->mask & IN_Q_OVERFLOW)
    batch_lost = true;
  else if ((d = slot_of_wd (e->wd)) != NULL && (e->mask & IN_IGNORED))
    {
      /* The directory is gone (or unmounted), under every path. */
      by_wd[e->wd] = NULL;
      for (struct dir *next; d; d = next)
        {
          next = d->same;
          d->wd = WD_GONE;
          d->same = NULL;
        }
    }
  else if (e->len > 0)
    for (; d; d = d->same)
      {
        batch = xrealloc (batch, (nbatch + 1) * sizeof *batch);
        batch[nbatch++] = xasprintf ("%s/%s", d->path, e->name);
      }
  pthread_mutex_unlock (&lock);
}

void
hostwatch_start (hostwatch_fn *fn)
{
  int r;

  changed = fn;
  if ((r = watcher_init (&watch)) < 0
      || (r = watcher_start (&watch, on_event, NULL)) < 0)
    {
      log_info ("Host files are not watched (%s): their attributes are "
                "asked for again each time.",
                strerror (-r));
      watcher_stop (&watch);
      return;
    }
  running = true;
}

void
hostwatch_stop (void)
{
  watcher_stop (&watch);
  running = false;
  for (size_t i = 0; i < SLOTS; i++)
    {
      free (dirs[i].path);
      dirs[i].path = NULL;
      dirs[i].same = NULL;
    }
  ndirs = 0;
  free (by_wd);
  by_wd = NULL;
  nby_wd = 0;
  broken = false;
}
