/* vmsnapfs: the top of the tree, and paths resolved from it.
 *
 * A host's directory (t_root) holds its VMs (nodes.c's t_vm each).  With
 * one host the top is the host's directory.  With
 * several (-o uri given more than once, -o hosts), the top holds one
 * directory per host, named as the host is, each of them a t_root with a
 * "status" file beside the VMs that says whether the host answers.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "host.h"
#include "util.h"

#include "node-types.h"

/* The inode numbers of the top's nodes. */
static uint64_t
fleet_ino (const struct node *n)
{
  (void)n;
  return 1;
}

static uint64_t
root_ino (const struct node *n)
{
  return n->fleet->nhosts > 1 ? n->host->ino : 1;
}

static uint64_t
status_ino (const struct node *n)
{
  return child_ino (n->host->ino, "status");
}

static int
lookup_vm (const char *name, struct node *n)
{
  return (n->vm = host_find_vm (n->host, name)) ? 0 : -ENOENT;
}

static void
list_vms (const struct node *n,
          int (*fill) (void *, const char *, const struct stat *), void *ctx)
{
  for (size_t i = 0; i < n->host->nvms; i++)
    {
      struct stat st
          = { .st_ino = n->host->vms[i]->ino, .st_mode = S_IFDIR | 0555 };
      if (fill (ctx, n->host->vms[i]->name, &st))
        return;
    }
}

static int
lookup_host (const char *name, struct node *n)
{
  for (size_t i = 0; i < n->fleet->nhosts; i++)
    if (strcmp (n->fleet->hosts[i]->name, name) == 0)
      {
        n->host = n->fleet->hosts[i];
        return 0;
      }
  return -ENOENT;
}

static void
list_hosts (const struct node *n,
            int (*fill) (void *, const char *, const struct stat *), void *ctx)
{
  for (size_t i = 0; i < n->fleet->nhosts; i++)
    {
      struct stat st
          = { .st_ino = n->fleet->hosts[i]->ino, .st_mode = S_IFDIR | 0755 };
      if (fill (ctx, n->fleet->hosts[i]->name, &st))
        return;
    }
}

/* A host's status is shown with several hosts, unless a VM has the name. */
static bool
has_status (const struct node *n)
{
  return n->fleet->nhosts > 1 && host_find_vm (n->host, "status") == NULL;
}

static char *
render_status (const struct node *n, size_t *len)
{
  char *s = xmalloc (n->host->status_len + 1);

  memcpy (s, n->host->status, n->host->status_len + 1);
  *len = n->host->status_len;
  return s;
}

const struct node_type t_host_status = { .mode = S_IFREG | 0444,
                                         .exists = has_status,
                                         .render = render_status,
                                         .volatile_content = true,
                                         .ino = status_ino };

/* The VMs of a host: the top, or a host's directory with several.  Links
 * there make clones and imports: operators may write. */
static const struct child host_children[] = {
  { "status", &t_host_status },
  { NULL, NULL },
};
const struct node_type t_root = { .mode = S_IFDIR | 0755,
                                  .children = host_children,
                                  .lookup = lookup_vm,
                                  .named = &t_vm,
                                  .list = list_vms,
                                  .verbs = true,
                                  .ino = root_ino };

const struct node_type t_fleet = { .mode = S_IFDIR | 0555,
                                   .lookup = lookup_host,
                                   .named = &t_root,
                                   .list = list_hosts,
                                   .ino = fleet_ino };

static int
resolve_child (struct node *n, const char *name)
{
  const struct node_type *parent = n->type;

  if (!S_ISDIR (parent->mode))
    return -ENOTDIR;
  for (const struct child *c = parent->children; c && c->name; c++)
    if (strcmp (c->name, name) == 0)
      {
        n->type = c->type;
        if (!c->type->exists || c->type->exists (n))
          return 0;
        n->type = parent; /* hidden: perhaps a named child has the name */
        break;
      }
  if (parent->lookup && parent->lookup (name, n) == 0)
    {
      if (n->type == parent) /* else the lookup chose */
        n->type = parent->named;
      return 0;
    }
  return -ENOENT;
}

int
node_resolve (const struct vs_fleet *f, const char *path, struct node *n)
{
  char comp[NAME_MAX + 1];

  memset (n, 0, sizeof *n);
  n->fleet = f;
  if (f->nhosts == 1)
    {
      n->type = &t_root;
      n->host = f->hosts[0];
    }
  else
    n->type = &t_fleet;
  for (const char *p = path; *p;)
    {
      size_t len;
      int r;

      p += strspn (p, "/");
      len = strcspn (p, "/");
      if (len == 0)
        break;
      if (len > NAME_MAX)
        return -ENOENT;
      memcpy (comp, p, len);
      comp[len] = '\0';
      p += len;
      if ((r = resolve_child (n, comp)) < 0)
        {
          free (n->gpath);
          n->gpath = NULL;
          return r;
        }
      memcpy (n->name, comp, len + 1);
    }
  return 0;
}
