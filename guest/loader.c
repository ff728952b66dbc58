/* vmsnapfs: libguestfs, loaded when it is installed (see loader.h).
 *
 * As libvirt and nbdkit load their optional modules: dlopen once, dlsym
 * each function into a table, and nothing of the library linked.  The
 * library stays loaded for the daemon's life (its handles' appliances are
 * stopped at unmount; its own exit handlers close what is left).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "log.h"

/* The library's name, as libguestfs0 installs it. */
#define LIBGUESTFS "libguestfs.so.0"
#define INSTALL                                                               \
  "apt install libguestfs0 (and a kernel image, linux-image-amd64), then "    \
  "mount again"

struct guestfs_functions gfs;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *why; /* NULL once loaded */

static void
load (void)
{
  void *lib = dlopen (LIBGUESTFS, RTLD_NOW | RTLD_LOCAL);
  const char *missing = NULL;

  if (lib == NULL)
    {
      log_warning ("Guest files (files/) are off: libguestfs cannot be "
                   "loaded (%s); " INSTALL ".",
                   dlerror ());
      why = "guest files need libguestfs: " INSTALL;
      return;
    }
#define GUESTFS_LOAD(name)                                                    \
  if ((gfs.name = (__typeof__ (gfs.name))dlsym (lib, "guestfs_" #name))       \
      == NULL)                                                                \
    missing = "guestfs_" #name;
  GUESTFS_FUNCTIONS (GUESTFS_LOAD)
#undef GUESTFS_LOAD
  if (missing)
    {
      log_warning (
          "Guest files (files/) are off: %s has no %s, too old; " INSTALL ".",
          LIBGUESTFS, missing);
      why = "guest files need a newer libguestfs: " INSTALL;
      memset (&gfs, 0, sizeof gfs);
      dlclose (lib);
    }
}

int
guest_lib_load (const char **why_out)
{
  pthread_once (&once, load);
  *why_out = why;
  return why ? -ENOENT : 0;
}

ino_t
guest_ino (uint64_t snap, int64_t dev, int64_t ino)
{
  /* splitmix64 of the three */
  uint64_t x = snap ^ ((uint64_t)dev * 0x9e3779b97f4a7c15ULL)
               ^ ((uint64_t)ino * 0xbf58476d1ce4e5b9ULL);

  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return (ino_t)(x ^ (x >> 31));
}

void
guest_stat_from (uint64_t snap, const struct guestfs_statns *s,
                 struct stat *st)
{
  memset (st, 0, sizeof *st);
  st->st_ino = guest_ino (snap, s->st_dev, s->st_ino);
  st->st_mode = (mode_t)s->st_mode;
  st->st_nlink = (nlink_t)s->st_nlink;
  st->st_uid = (uid_t)s->st_uid;
  st->st_gid = (gid_t)s->st_gid;
  st->st_rdev = 0; /* a guest's device numbers mean nothing here */
  st->st_size = (off_t)s->st_size;
  st->st_blksize = 4096;
  st->st_blocks = (blkcnt_t)s->st_blocks;
  st->st_atim.tv_sec = s->st_atime_sec;
  st->st_atim.tv_nsec = s->st_atime_nsec;
  st->st_mtim.tv_sec = s->st_mtime_sec;
  st->st_mtim.tv_nsec = s->st_mtime_nsec;
  st->st_ctim.tv_sec = s->st_ctime_sec;
  st->st_ctim.tv_nsec = s->st_ctime_nsec;
}

int
guest_last_errno (guestfs_h *g)
{
  int e = gfs.last_errno (g);
  return e > 0 ? -e : -EIO;
}

void
guest_free_strings (char **v)
{
  for (size_t i = 0; v && v[i]; i++)
    free (v[i]);
  free (v);
}
