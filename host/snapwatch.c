/* vmsnapfs: snapshots made, deleted or changed by others, seen on this
 * machine without asking libvirt.
 *
 * libvirt has no event for a snapshot made, deleted or redefined by
 * someone else, nor for another current snapshot.  But on this machine its
 * qemu driver keeps each VM's snapshots as files, one per snapshot, in a
 * directory named after the VM (/var/lib/libvirt/qemu/snapshot/VM/NAME.xml
 * for qemu:///system), and writes them for each of those changes: NAME.xml
 * is written as NAME.xml.new and renamed over NAME.xml, removed with the
 * snapshot, and the current snapshot's file says it is (so a new current
 * one rewrites two files).  An inotify watch on each of those directories
 * names the VM that changed, at once, and costs nothing while nothing
 * changes, however many VMs the host has.
 *
 * A watch can be incomplete: a directory that cannot be watched (no
 * inotify watches left, no permission) or the top one gone.  Then
 * snapwatch_complete says so and host.c polls, as for a remote host.
 * Events lost to a full queue (IN_Q_OVERFLOW) name every VM.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "watcher.h"

#include "snapwatch.h"

/* What each VM's directory is watched for: a file renamed into place,
 * written in place, removed or renamed away. */
#define VM_DIR_EVENTS                                                         \
  (IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR)
/* And the top one: a VM's directory made, removed or renamed; itself gone. */
#define TOP_DIR_EVENTS                                                        \
  (IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF       \
   | IN_MOVE_SELF | IN_ONLYDIR)

struct watched
{
  int wd;
  char *name; /* the VM's, as its directory is named */
};

struct snapwatch
{
  char *dir;
  struct watcher watch;
  int top_wd;
  struct watched *vms; /* the thread's alone once it runs */
  size_t nvms, cap;
  bool complete;
  snapwatch_fn *fn;
  void *opaque;
};

char *
snapwatch_dir_for (const char *uri)
{
  size_t len = uri ? strcspn (uri, "?") : 0;
  const char *base;

  if (len == strlen ("qemu:///system")
      && strncmp (uri, "qemu:///system", len) == 0)
    return xstrdup ("/var/lib/libvirt/qemu/snapshot");
  if (len != strlen ("qemu:///session")
      || strncmp (uri, "qemu:///session", len) != 0)
    return NULL;
  if ((base = getenv ("XDG_CONFIG_HOME")) && *base)
    return xasprintf ("%s/libvirt/qemu/snapshot", base);
  if ((base = getenv ("HOME")) && *base)
    return xasprintf ("%s/.config/libvirt/qemu/snapshot", base);
  return NULL;
}

static void
set_incomplete (struct snapwatch *w, const char *why, const char *name)
{
  if (__atomic_exchange_n (&w->complete, false, __ATOMIC_ACQ_REL))
    log_warning ("Snapshots made by others are seen by polling from now "
                 "on: cannot watch '%s%s%s' (%s).",
                 w->dir, name ? "/" : "", name ? name : "", why);
}

static struct watched *
find_wd (struct snapwatch *w, int wd)
{
  for (size_t i = 0; i < w->nvms; i++)
    if (w->vms[i].wd == wd)
      return &w->vms[i];
  return NULL;
}

/* Watch the directory of VM NAME. */
static void
watch_vm (struct snapwatch *w, const char *name)
{
  char *path = xasprintf ("%s/%s", w->dir, name);
  int wd = inotify_add_watch (w->watch.ifd, path, VM_DIR_EVENTS);
  struct watched *v;

  free (path);
  if (wd < 0)
    {
      /* Gone meanwhile, or not a directory: nothing of a VM to watch. */
      if (errno != ENOENT && errno != ENOTDIR)
        set_incomplete (w, strerror (errno), name);
      return;
    }
  /* One directory renamed keeps its watch, under its new name. */
  if ((v = find_wd (w, wd)) != NULL)
    {
      free (v->name);
      v->name = xstrdup (name);
      return;
    }
  if (w->nvms == w->cap)
    {
      w->cap = w->cap ? 2 * w->cap : 64;
      w->vms = xrealloc (w->vms, w->cap * sizeof *w->vms);
    }
  w->vms[w->nvms].wd = wd;
  w->vms[w->nvms++].name = xstrdup (name);
}

static void
unwatch_vm (struct snapwatch *w, int wd)
{
  struct watched *v = find_wd (w, wd);

  if (v == NULL)
    return;
  free (v->name);
  *v = w->vms[--w->nvms];
}

/* Whether NAME is one of libvirt's snapshot files, not a file on its way
 * (NAME.xml.new). */
static bool
snapshot_file (const char *name)
{
  size_t len = strlen (name);

  return len > 4 && strcmp (name + len - 4, ".xml") == 0;
}

static void
handle (void *opaque, const struct inotify_event *e, bool failed)
{
  struct snapwatch *w = opaque;
  struct watched *v;

  if (e == NULL)
    {
      if (failed)
        {
          set_incomplete (w, "no more events", NULL);
          w->fn (w->opaque, NULL);
        }
      return;
    }
  if (e->mask & IN_Q_OVERFLOW)
    {
      w->fn (w->opaque, NULL);
      return;
    }
  if (e->wd == w->top_wd)
    {
      if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
        {
          set_incomplete (w, "it is gone", NULL);
          w->fn (w->opaque, NULL);
          return;
        }
      if (e->len == 0 || !(e->mask & IN_ISDIR))
        return;
      if (e->mask & (IN_CREATE | IN_MOVED_TO))
        watch_vm (w, e->name); /* before its files are read again */
      w->fn (w->opaque, e->name);
      return;
    }
  if (e->mask & IN_IGNORED)
    {
      unwatch_vm (w, e->wd);
      return;
    }
  if (e->len > 0 && snapshot_file (e->name) && (v = find_wd (w, e->wd)))
    w->fn (w->opaque, v->name);
}

static void
free_watch (struct snapwatch *w)
{
  watcher_stop (&w->watch);
  for (size_t i = 0; i < w->nvms; i++)
    free (w->vms[i].name);
  free (w->vms);
  free (w->dir);
  free (w);
}

struct snapwatch *
snapwatch_start (const char *dir, snapwatch_fn *fn, void *opaque)
{
  struct snapwatch *w = xcalloc (1, sizeof *w);
  int r;
  DIR *d;
  struct dirent *de;

  w->dir = xstrdup (dir);
  w->fn = fn;
  w->opaque = opaque;
  w->complete = true;
  if ((r = watcher_init (&w->watch)) < 0)
    errno = -r;
  if (r < 0
      || (w->top_wd = inotify_add_watch (w->watch.ifd, dir, TOP_DIR_EVENTS))
             < 0)
    {
      log_info ("Snapshots made by others are seen by polling: cannot watch "
                "'%s' (%s).",
                dir, strerror (errno));
      goto fail;
    }
  /* The top first, then what is in it: a VM's directory made between the
   * two is watched twice, which is one watch. */
  if ((d = opendir (dir)) == NULL)
    goto fail;
  while ((de = readdir (d)) != NULL)
    if (de->d_name[0] != '.'
        && (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN))
      watch_vm (w, de->d_name);
  closedir (d);
  if (!w->complete)
    goto fail;
  if (watcher_start (&w->watch, handle, w) < 0)
    goto fail;
  log_debug ("Watching '%s' for snapshots made by others (%zu VMs).", dir,
             w->nvms);
  return w;

fail:
  free_watch (w);
  return NULL;
}

bool
snapwatch_complete (const struct snapwatch *w)
{
  return w && __atomic_load_n (&w->complete, __ATOMIC_ACQUIRE);
}

void
snapwatch_stop (struct snapwatch *w)
{
  if (w != NULL)
    free_watch (w);
}
