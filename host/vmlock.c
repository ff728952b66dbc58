/* vmsnapfs: one daemon at a time operates on a VM, across the daemons of
 * one machine (two mounts of a host, an instance of the systemd unit per
 * host, a daemon started while another runs).
 *
 * Operations that outlive a request (a merge, a clone's copy) are recorded
 * in the VM's metadata, and a daemon that starts carries on the ones it
 * finds there: the daemon that made them was killed.  Unless it was not:
 * it still runs beside the new one, and two workers would commit, pivot and
 * finish one merge.  So whoever operates on a VM holds an flock(2) on a
 * file named for the VM (its host's URI and its UUID) under
 * EXPORT_RUN_DIR: the kernel drops it when the holder exits, by a signal
 * too, and a record whose VM nobody holds is one to carry on.
 *
 * The file is removed when the lock is dropped, and a taker checks that
 * the file it locked is still the one of that name (the usual unlink-safe
 * lock file).  Daemons on other machines that use one remote host do not
 * see these locks. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "export.h"
#include "log.h"
#include "util.h"

#include "hostdef.h"
#include "vmlock.h"

/* The lock file of VM UUID of the host whose URI hashes to HOST ("*": a
 * glob of every host's) (malloc'd). */
static char *
lock_name (const char *uuid, const char *host)
{
  return xasprintf ("%s/vm-%s-%s.lock", EXPORT_RUN_DIR, uuid, host);
}

static char *
lock_path (const struct host *h, const char *uuid)
{
  char host[17];

  snprintf (host, sizeof host, "%016" PRIx64,
            hash_strings (h->uri ? h->uri : "", NULL));
  return lock_name (uuid, host);
}

/* The pid the holder wrote in the file at FD, or 0. */
static long
holder_of (int fd)
{
  char buf[32] = "";
  ssize_t n = pread (fd, buf, sizeof buf - 1, 0);

  return n > 0 ? strtol (buf, NULL, 10) : 0;
}

/* The locks lent to this daemon's operations (vm_lock_lend): few. */
struct lent
{
  char *path;
  int fd;
};
static pthread_mutex_t lent_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lent *lent;
static size_t nlent;

static bool
is_lent (const char *path)
{
  SCOPED_LOCK (&lent_lock);

  for (size_t i = 0; i < nlent; i++)
    if (strcmp (lent[i].path, path) == 0)
      return true;
  return false;
}

void
vm_lock_lend (const struct host *h, const char *uuid, int fd)
{
  SCOPED_LOCK (&lent_lock);

  if (fd < 0)
    return;
  lent = xrealloc (lent, (nlent + 1) * sizeof *lent);
  lent[nlent].path = lock_path (h, uuid);
  lent[nlent++].fd = fd;
}

/* Forget the loan of lock FD, if any. */
static void
unlend (int fd)
{
  SCOPED_LOCK (&lent_lock);

  for (size_t i = 0; i < nlent; i++)
    if (lent[i].fd == fd)
      {
        free (lent[i].path);
        lent[i] = lent[--nlent];
        return;
      }
}

/* Lock FD, waiting a little for a holder of a moment (another daemon's
 * vm_lock_held_anywhere): 0, or -1 with errno (EWOULDBLOCK: held). */
static int
take_soon (int fd)
{
  const struct timespec t = { 0, 20 * 1000 * 1000 };

  for (int k = 0;; k++)
    {
      if (flock (fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
      if (errno != EWOULDBLOCK || k == 5)
        return -1;
      nanosleep (&t, NULL);
    }
}

int
vm_lock_take (const struct host *h, const char *uuid, const char *name)
{
  CLEANUP_FREE char *path = lock_path (h, uuid);

  if (is_lent (path))
    return VM_LOCK_NONE; /* held by this daemon's job, which lends it */
  for (;;)
    {
      struct stat held, named;
      int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

      /* EXPORT_RUN_DIR is made at the start (export_init). */
      if (fd < 0)
        {
          /* Not a reason to refuse the operation: this daemon still
           * keeps its own one at a time. */
          log_warning ("VM '%s': cannot make the lock file '%s' (%m); other "
                       "vmsnapfs daemons on this machine do not see this "
                       "operation.",
                       name, path);
          return VM_LOCK_NONE;
        }
      if (take_soon (fd) < 0)
        {
          int e = errno;
          long pid = holder_of (fd);

          close (fd);
          if (e != EWOULDBLOCK)
            {
              log_warning ("VM '%s': cannot lock '%s': %s", name, path,
                           strerror (e));
              return VM_LOCK_NONE;
            }
          if (pid > 0)
            log_error ("VM '%s': another vmsnapfs (pid %ld) has an operation "
                       "under way on it.",
                       name, pid);
          else
            log_error ("VM '%s': another vmsnapfs has an operation under way "
                       "on it.",
                       name);
          return -EBUSY;
        }
      /* Locked: the file of that name still, or one removed by a holder
       * that dropped it meanwhile (then take the new one). */
      if (fstat (fd, &held) == 0 && stat (path, &named) == 0
          && held.st_ino == named.st_ino && held.st_dev == named.st_dev)
        {
          char pid[32];
          int n = snprintf (pid, sizeof pid, "%ld\n", (long)getpid ());

          if (ftruncate (fd, 0) < 0 || pwrite (fd, pid, (size_t)n, 0) != n)
            log_warning ("VM '%s': cannot write the lock file '%s': %m", name,
                         path);
          return fd;
        }
      close (fd);
    }
}

/* Whether some process holds the lock file PATH: a shared lock is tried,
 * and dropped at once. */
static bool
file_held (const char *path)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  bool held;

  if (fd < 0)
    return errno != ENOENT; /* no file: nobody holds it */
  held = flock (fd, LOCK_SH | LOCK_NB) < 0;
  close (fd);
  return held;
}

bool
vm_lock_held_anywhere (const char *uuid)
{
  CLEANUP_FREE char *pattern = lock_name (uuid, "*");
  glob_t g;
  bool held = false;

  if (glob (pattern, GLOB_NOSORT, NULL, &g) != 0)
    return false; /* none */
  for (size_t i = 0; i < g.gl_pathc && !held; i++)
    held = file_held (g.gl_pathv[i]);
  globfree (&g);
  return held;
}

void
vm_lock_drop (const struct host *h, const char *uuid, int fd)
{
  CLEANUP_FREE char *path = NULL;

  if (fd < 0)
    return;
  unlend (fd);
  path = lock_path (h, uuid);
  /* Removed while held: a taker that opened it checks the name again. */
  unlink (path);
  close (fd);
}
