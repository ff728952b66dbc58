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
 * Not seen: a file written without being closed (IN_MODIFY is left out:
 * every write of a running guest's own disk, in the same directories,
 * would wake the watch).  A frozen file is not written but by a merge,
 * which is an operation with a view of its own.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "fs.h"
#include "host.h"
#include "log.h"
#include "remote.h"
#include "statcache.h"
#include "util.h"

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
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct dir dirs[SLOTS];
static size_t ndirs;
static int ifd = -1, stopfd = -1;
static bool running, broken;
static pthread_t thread;
static hostwatch_fn *changed;

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
  d->wd = inotify_add_watch (ifd, d->path, DIR_EVENTS);
  /* A stat kept from before the watch may be of before a change it did
   * not see. */
  stat_cache_clear ();
  if (d->wd < 0)
    {
      log_debug ("Cannot watch '%s' (%s): its files' attributes are "
                 "asked for again each time.",
                 d->path, strerror (errno));
      d->wd = WD_NONE;
    }
}

static struct dir *
slot_of_wd (int wd)
{
  for (size_t i = 0; i < SLOTS; i++)
    if (dirs[i].path && dirs[i].wd == wd)
      return &dirs[i];
  return NULL;
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

/* The events in BUF (LEN bytes) as the paths they name, into *PATHS (*N);
 * true when one says events were lost. */
static bool
paths_of (const char *buf, size_t len, char ***paths, size_t *n)
{
  bool lost = false;

  pthread_mutex_lock (&lock);
  for (const char *q = buf; q < buf + len;)
    {
      const struct inotify_event *e = (const void *)q;
      struct dir *d;

      q += sizeof *e + e->len;
      if (e->mask & IN_Q_OVERFLOW)
        lost = true;
      else if ((d = slot_of_wd (e->wd)) == NULL)
        continue;
      else if (e->mask & IN_IGNORED)
        d->wd = WD_GONE; /* the directory is gone (or unmounted) */
      else if (e->len > 0)
        {
          *paths = xrealloc (*paths, (*n + 1) * sizeof **paths);
          (*paths)[(*n)++] = xasprintf ("%s/%s", d->path, e->name);
        }
    }
  pthread_mutex_unlock (&lock);
  return lost;
}

static void *
watch_main (void *arg)
{
  char buf[64 * (sizeof (struct inotify_event) + NAME_MAX + 1)]
      __attribute__ ((aligned (__alignof__(struct inotify_event))));

  (void)arg;
  for (;;)
    {
      struct pollfd p[2] = { { .fd = ifd, .events = POLLIN },
                             { .fd = stopfd, .events = POLLIN } };
      char **paths = NULL;
      size_t n = 0;
      bool lost = false;
      ssize_t len;

      if (poll (p, 2, -1) < 0 && errno != EINTR)
        break;
      if (p[1].revents)
        break;
      while ((len = read (ifd, buf, sizeof buf)) > 0)
        lost |= paths_of (buf, (size_t)len, &paths, &n);
      if (lost || n > 0)
        files_changed (lost ? NULL : paths, n);
      for (size_t i = 0; i < n; i++)
        free (paths[i]);
      free (paths);
    }
  pthread_mutex_lock (&lock);
  broken = true; /* from now on nothing is covered */
  pthread_mutex_unlock (&lock);
  return NULL;
}

void
hostwatch_start (hostwatch_fn *fn)
{
  changed = fn;
  ifd = inotify_init1 (IN_CLOEXEC | IN_NONBLOCK);
  stopfd = eventfd (0, EFD_CLOEXEC);
  if (ifd < 0 || stopfd < 0
      || pthread_create (&thread, NULL, watch_main, NULL) != 0)
    {
      log_info ("Host files are not watched (%s): their attributes are "
                "asked for again each time.",
                strerror (errno));
      return;
    }
  running = true;
}

void
hostwatch_stop (void)
{
  uint64_t one = 1;

  if (running && write (stopfd, &one, sizeof one) == sizeof one)
    pthread_join (thread, NULL);
  running = false;
  if (ifd >= 0)
    close (ifd);
  if (stopfd >= 0)
    close (stopfd);
  ifd = stopfd = -1;
  for (size_t i = 0; i < SLOTS; i++)
    {
      free (dirs[i].path);
      dirs[i].path = NULL;
    }
  ndirs = 0;
  broken = false;
}
