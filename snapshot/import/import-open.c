/* vmsnapfs: an export directory opened with its importer's rights
 * (import.h).
 *
 * The kernel checks the rights, not vmsnapfs: each open runs in a thread
 * that has taken the caller's file-system uid and gid and supplementary
 * groups (raw system calls, which change that thread's credentials alone;
 * glibc's wrappers would change every thread's).  So the caller's search
 * right on every directory up to the export, ACLs and the rest are the
 * kernel's own rules, and a file the caller cannot open is not opened.
 * The directory itself is opened through none of /proc's magic links
 * (openat2's RESOLVE_NO_MAGICLINKS: no /proc/self/fd/N, which would be
 * the daemon's own files, nor /proc/PID/root; where openat2 is missing,
 * O_NOFOLLOW: no link at its end), and so is a host file a domain boots
 * from; a plain symbolic link is followed with the caller's rights, as
 * the caller's own open would.  Names are resolved beneath the export's
 * directory (openat2's RESOLVE_BENEATH and RESOLVE_NO_MAGICLINKS: a link
 * that leaves it fails), opened without blocking
 * (a FIFO named domain.xml does not hang the worker), and only regular
 * files are taken.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "import.h"
#include "log.h"
#include "util.h"

struct as_call
{
  const struct caller *who;
  int (*fn) (void *);
  void *arg;
  int r;
};

static void *
as_caller_thread (void *p)
{
  struct as_call *a = p;
  const struct caller *c = a->who;
  size_t n = c->ngroups > 0 ? (size_t)c->ngroups : 0;

  /* Groups and group first, while this thread may still set them; the
   * uid last (the kernel then drops this thread's file capabilities).
   * The credentials end with the thread. */
  if (syscall (SYS_setgroups, n, c->groups) < 0)
    {
      log_error ("Cannot take the groups of uid %u to read as it does: %m.",
                 (unsigned)c->uid);
      a->r = -EIO;
      return NULL;
    }
  syscall (SYS_setfsgid, c->gid);
  syscall (SYS_setfsuid, c->uid);
  if ((uid_t)syscall (SYS_setfsuid, -1) != c->uid
      || (gid_t)syscall (SYS_setfsgid, -1) != c->gid)
    {
      log_error ("Cannot take the rights of uid %u to read as it does.",
                 (unsigned)c->uid);
      a->r = -EACCES;
      return NULL;
    }
  a->r = a->fn (a->arg);
  return NULL;
}

int
as_caller (const struct caller *c, int (*fn) (void *), void *arg)
{
  struct as_call a = { c, fn, arg, -EIO };
  pthread_t t;
  int e;

  if (c->uid == 0)
    return fn (arg);
  if ((e = pthread_create (&t, NULL, as_caller_thread, &a)) != 0)
    {
      log_error ("Cannot start a thread to read as uid %u: %s.",
                 (unsigned)c->uid, strerror (e));
      return -EAGAIN;
    }
  pthread_join (t, NULL);
  return a.r;
}

struct open_call
{
  const struct import_dir *x;
  const char *path;
  int flags;
  int fd;
  struct stat st;
};

/* Open PATH, absolute or relative to the current directory, with FLAGS,
 * through none of /proc's magic links (RESOLVE_NO_MAGICLINKS: they reach
 * another's files, or the daemon's own, past the permissions of a path);
 * where openat2 is missing, with O_NOFOLLOW (no link at its end).  The
 * descriptor, or -errno (-ELOOP: a magic link, or a link at the end where
 * openat2 is missing). */
static int
open_no_magic_links (const char *path, int flags)
{
  struct open_how how = {
    .flags = (uint64_t)(flags | O_CLOEXEC),
    .resolve = RESOLVE_NO_MAGICLINKS,
  };
  int fd = (int)syscall (SYS_openat2, AT_FDCWD, path, &how, sizeof how);

  if (fd < 0 && errno == ENOSYS)
    fd = open (path, flags | O_CLOEXEC | O_NOFOLLOW);
  return fd < 0 ? -errno : fd;
}

static int
open_top_fn (void *p)
{
  struct open_call *o = p;

  o->fd = open_no_magic_links (o->path, O_RDONLY | O_DIRECTORY);
  return o->fd < 0 ? o->fd : 0;
}

int
import_open_dir (struct import_dir *x, const char *path,
                 const struct caller *who)
{
  struct open_call o = { .path = path };
  int r = as_caller (who, open_top_fn, &o);

  x->fd = -1;
  x->path = path;
  x->who = who;
  if (r == -ELOOP || r == -EXDEV)
    {
      log_error ("Import: '%s' passes through one of /proc's links to "
                 "open files or roots (never followed): nothing is "
                 "imported.",
                 path);
      return -EACCES;
    }
  if (r == -EACCES || r == -EPERM)
    {
      log_error ("uid %u may not read '%s': nothing is imported.",
                 (unsigned)who->uid, path);
      return -EACCES;
    }
  if (r < 0)
    {
      log_error ("Import: '%s' is not a directory.", path);
      return -EINVAL;
    }
  x->fd = o.fd;
  return 0;
}

static int
open_fn (void *p)
{
  struct open_call *o = p;
  struct open_how how = {
    .flags
    = (uint64_t)(O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | o->flags),
    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
  };

  o->fd = (int)syscall (SYS_openat2, o->x->fd, o->path, &how, sizeof how);
  if (o->fd < 0)
    return -errno;
  if (fstat (o->fd, &o->st) < 0)
    return -errno;
  return 0;
}

int
import_open_beneath (const struct import_dir *x, const char *rel, int flags,
                     struct stat *st)
{
  struct open_call o = { x, rel, flags, -1, { 0 } };
  int r = as_caller (x->who, open_fn, &o);

  if (r == 0 && !(flags & O_DIRECTORY) && !S_ISREG (o.st.st_mode))
    r = -EINVAL;
  if (r < 0 && o.fd >= 0)
    close (o.fd);
  switch (r)
    {
    case 0:
      *st = o.st;
      return o.fd;
    case -ENOENT:
    case -ENOTDIR:
      return -ENOENT;
    case -EACCES:
    case -EPERM:
    case -EXDEV: /* a link that leaves the directory */
    case -ELOOP:
      log_error ("uid %u may not read '%s/%s' (or it is a link that leaves "
                 "the directory): nothing is imported.",
                 (unsigned)x->who->uid, x->path, rel);
      return -EACCES;
    case -EINVAL:
      log_error ("Import: '%s/%s' is not a regular file.", x->path, rel);
      return -EINVAL;
    default:
      log_error ("Import: cannot open '%s/%s': %s.", x->path, rel,
                 strerror (-r));
      return r == -ENOSYS ? -EIO : r;
    }
}

int
import_open (const struct import_dir *x, const char *rel, struct stat *st)
{
  return import_open_beneath (x, rel, 0, st);
}

int
import_reopen (const struct import_dir *x, const struct xfile *f)
{
  struct stat st;
  int fd = import_open (x, f->rel, &st);

  if (fd == -ENOENT)
    log_error ("Import: '%s' went away during the import.", f->shown);
  if (fd >= 0 && (st.st_dev != f->dev || st.st_ino != f->ino))
    {
      log_error ("Import: '%s' was replaced during the import.", f->shown);
      close (fd);
      return -EINVAL;
    }
  return fd == -ENOENT ? -EINVAL : fd;
}

int
import_same_size (int fd, const char *shown, uint64_t size)
{
  struct stat st = { 0 };

  if (fstat (fd, &st) == 0 && (uint64_t)st.st_size == size)
    return 0;
  log_error ("Import: '%s' changed its size during the import (%llu bytes "
             "measured, %lld now): no more than measured is copied, and "
             "nothing is imported.",
             shown, (unsigned long long)size, (long long)st.st_size);
  return -EIO;
}

static int
open_host_fn (void *p)
{
  struct open_call *o = p;

  o->fd = open_no_magic_links (o->path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  if (o->fd < 0)
    return o->fd;
  if (fstat (o->fd, &o->st) < 0)
    return -errno;
  return S_ISREG (o->st.st_mode) ? 0 : -EINVAL;
}

int
import_host_open (const char *path, const struct caller *who)
{
  struct open_call o = { .path = path, .fd = -1 };

  if (import_host_file_ok (path, (void *)who) < 0
      || as_caller (who, open_host_fn, &o) < 0)
    {
      if (o.fd >= 0)
        close (o.fd);
      return -EPERM;
    }
  return o.fd;
}

int
import_host_file_ok (const char *path, void *arg)
{
  const struct caller *who = arg;
  struct open_call o = { .path = path, .fd = -1 };
  CLEANUP_FREE char *p = xstrdup (path);
  struct stat st;
  char *slash = p;
  int r;

  if (path[0] != '/' || strstr (path, "//") || strstr (path, "/./")
      || strstr (path, "/../"))
    return -EPERM;
  /* Each directory from / down: no link, root's, writable by no one
   * else; so that no one else can put another file under this name. */
  while ((slash = strchr (slash + 1, '/')) != NULL)
    {
      *slash = '\0';
      if (lstat (p, &st) < 0 || !S_ISDIR (st.st_mode) || st.st_uid != 0
          || (st.st_mode & (S_IWGRP | S_IWOTH)))
        return -EPERM;
      *slash = '/';
    }
  if (lstat (p, &st) < 0 || !S_ISREG (st.st_mode))
    return -EPERM;
  r = as_caller (who, open_host_fn, &o);
  if (o.fd >= 0)
    close (o.fd);
  return r < 0 ? -EPERM : 0;
}
