/* vmsnapfs: where libguestfs keeps a handle's temporary files.
 *
 * libguestfs adds a read-only drive through an overlay it writes in its
 * temporary directory, and removes that directory at guestfs_close.  A
 * daemon killed with SIGKILL never closes: its appliance dies (the
 * recovery process), its directory stays.  So each daemon gives libguestfs
 * a directory of its own, $TMPDIR/vmsnapfs-guestfs.XXXXXX, holding a lock
 * on a file in it for as long as it runs; the next daemon removes, as it
 * starts (guestfiles_configure), the directories whose lock nobody holds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guestfiles.h"
#include "log.h"
#include "util.h"

#define PREFIX "vmsnapfs-guestfs."
#define LOCK_NAME "lock"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char *ours; /* this daemon's directory, or NULL */
static int lock_fd = -1;

static int
remove_entry (const char *path, const struct stat *st, int type,
              struct FTW *ftw)
{
  (void)st;
  (void)ftw;
  if ((type == FTW_DP ? rmdir (path) : unlink (path)) < 0 && errno != ENOENT)
    log_warning ("Could not remove '%s', left by a daemon that died: %m",
                 path);
  return 0;
}

/* Whether directory DIR's lock is held by a daemon that runs. */
static bool
lock_held (const char *dir)
{
  char *lock = xasprintf ("%s/" LOCK_NAME, dir);
  int fd = open (lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  bool held = true; /* no lock file yet: a daemon is making it */

  free (lock);
  if (fd >= 0)
    {
      held = flock (fd, LOCK_EX | LOCK_NB) < 0;
      close (fd);
    }
  return held;
}

static const char *
tmp_base (void)
{
  const char *t = getenv ("TMPDIR");

  return t && *t ? t : "/tmp";
}

void
guest_tmpdir_sweep (const char *base)
{
  DIR *d;
  struct dirent *e;

  if (base == NULL)
    base = tmp_base ();
  if ((d = opendir (base)) == NULL)
    return;
  while ((e = readdir (d)) != NULL)
    {
      struct stat st;
      char *path;

      if (strncmp (e->d_name, PREFIX, strlen (PREFIX)) != 0)
        continue;
      path = xasprintf ("%s/%s", base, e->d_name);
      /* Ours alone, and never through a link. */
      if (lstat (path, &st) == 0 && S_ISDIR (st.st_mode)
          && st.st_uid == geteuid () && (ours == NULL || strcmp (path, ours))
          && !lock_held (path))
        {
          log_info ("Removing '%s', left by a daemon that died.", path);
          nftw (path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
      free (path);
    }
  closedir (d);
}

static void
make_ours (void)
{
  char *dir = xasprintf ("%s/" PREFIX "XXXXXX", tmp_base ());
  char *tmp, *lock;
  int r;

  if (mkdtemp (dir) == NULL)
    {
      log_warning ("Could not make a directory for libguestfs in '%s' (%m): "
                   "it uses its own.",
                   tmp_base ());
      free (dir);
      return;
    }
  /* Locked before it has its name: a sweep finds no lock file, or a
   * locked one. */
  tmp = xasprintf ("%s/" LOCK_NAME ".new", dir);
  lock = xasprintf ("%s/" LOCK_NAME, dir);
  lock_fd = open (tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  r = lock_fd < 0 ? -1 : flock (lock_fd, LOCK_EX | LOCK_NB);
  if (r == 0)
    r = rename (tmp, lock);
  free (tmp);
  free (lock);
  if (r < 0)
    {
      log_warning ("Could not lock '%s' (%m): libguestfs uses its own "
                   "directory.",
                   dir);
      if (lock_fd >= 0)
        close (lock_fd);
      lock_fd = -1;
      nftw (dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
      free (dir);
      return;
    }
  ours = dir;
}

const char *
guest_tmpdir (void)
{
  pthread_once (&once, make_ours);
  return ours;
}

void
guest_tmpdir_remove (void)
{
  if (ours == NULL)
    return;
  nftw (ours, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  close (lock_fd);
  lock_fd = -1;
  free (ours);
  ours = NULL;
}
