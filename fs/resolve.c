/* vmsnapfs: paths resolved in the current view (see resolve.h), reading
 * a VM whole the first time someone looks inside it, and the registry of
 * open handles by path, which renames follow.
 *
 * opened_lock guards the handles' paths; it is held briefly, never while
 * a path is resolved (a resolve may read a VM from libvirt).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "host.h"
#include "resolve.h"
#include "util.h"

#include "node-types.h"

/* A VM is built shallow until someone looks inside it (the top of the
 * tree needs its name and state only): N is inside VM (INSIDE), so read
 * the rest of it now if need be.  Returns 1 when it was read (resolve
 * again, in the view that has it), 0 when nothing was to read, or
 * host_deepen's error. */
static int
deepen (const struct node *n, bool inside)
{
  int r;

  if (!inside)
    return 0;
  vm_looked (n->vm); /* keep it checked for a while */
  if (!n->vm->shallow)
    {
      host_walk_on ((struct vs_vm *)n->vm);
      return 0;
    }
  return (r = host_deepen (n->vm)) < 0 ? r : 1;
}

/* Resolve PATH in the current view, or with NAME its parent (pointing
 * *NAME at its last name); the caller releases N.  LISTING: for a listing
 * of it.  A VM is looked inside by a path below it (found or not), a
 * listing of it, or a verb in it. */
static int
resolve_at (const char *path, struct node *n, const char **name, bool listing)
{
  for (int tries = 0;; tries++)
    {
      struct vs_fleet *f = fleet_get ();
      int r = name ? resolve_parent_in (f, path, n, name)
                   : node_resolve (f, path, n);
      bool inside = n->vm && (name || r < 0 || n->type != &t_vm || listing);
      int d = deepen (n, inside && tries == 0);

      n->fleet = f;
      if (d != 0 && tries == 0)
        {
          free (n->gpath);
          fleet_put (f);
          if (d < 0)
            return d;
          fs_request_renew (); /* what follows is of the deeper view */
          continue;
        }
      if (r < 0)
        fleet_put (f); /* node_resolve freed N's guest path */
      return r;
    }
}

int
resolve_in (const char *path, struct node *n, bool listing)
{
  return resolve_at (path, n, NULL, listing);
}

int
resolve_path (const char *path, struct node *n)
{
  return resolve_in (path, n, false);
}

void
node_release (struct node *n)
{
  free (n->gpath);
  n->gpath = NULL;
  fleet_put ((struct vs_fleet *)n->fleet);
}

/* Operations on open files and directories get no path from libfuse
 * (lowlevel.c): they find theirs in the handle, the one it was opened by,
 * which a rename of a snapshot above it changes. */
static pthread_mutex_t opened_lock = PTHREAD_MUTEX_INITIALIZER;
static struct handle *opened;

uint64_t
opened_add (struct handle *h, const char *path)
{
  SCOPED_LOCK (&opened_lock);

  h->path = xstrdup (path);
  h->prev = NULL;
  h->next = opened;
  if (opened)
    opened->prev = h;
  opened = h;
  return (uintptr_t)h;
}

void
opened_close (struct handle *h)
{
  pthread_mutex_lock (&opened_lock);
  if (h->prev)
    h->prev->next = h->next;
  else
    opened = h->next;
  if (h->next)
    h->next->prev = h->prev;
  pthread_mutex_unlock (&opened_lock);
  handle_close (h);
}

/* FROM is now TO: so are the paths below it. */
void
opened_rename (const char *from, const char *to)
{
  SCOPED_LOCK (&opened_lock);
  size_t len = strlen (from);

  for (struct handle *h = opened; h; h = h->next)
    if (strncmp (h->path, from, len) == 0
        && (h->path[len] == '/' || h->path[len] == '\0'))
      {
        char *path = xasprintf ("%s%s", to, h->path + len);

        free (h->path);
        h->path = path;
      }
}

/* Resolve PATH, or the path of the open FI when libfuse gives none;
 * LISTING as for resolve_in. */
int
resolve_open (const char *path, const struct fuse_file_info *fi,
              struct node *n, bool listing)
{
  char *p = open_path (path, fi);
  int r = resolve_in (p, n, listing);

  free (p);
  return r;
}

/* A copy of PATH, or of the path of the open FI when libfuse gives none. */
char *
open_path (const char *path, const struct fuse_file_info *fi)
{
  SCOPED_LOCK (&opened_lock);

  return xstrdup (path ? path : ((struct handle *)(uintptr_t)fi->fh)->path);
}

/* Resolve PATH's parent in view F into N, and point *NAME at its last
 * name. */
int
resolve_parent_in (const struct vs_fleet *f, const char *path, struct node *n,
                   const char **name)
{
  char *parent = xstrdup (path), *slash = strrchr (parent, '/');
  int r;

  *name = strrchr (path, '/') + 1;
  slash[slash == parent ? 1 : 0] = '\0';
  r = node_resolve (f, parent, n);
  free (parent);
  return r;
}

/* The same in the current view; the caller releases N.  A verb acts
 * inside the VM it is in: that VM is read whole first. */
int
resolve_parent (const char *path, struct node *n, const char **name)
{
  return resolve_at (path, n, name, false);
}
