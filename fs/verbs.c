/* vmsnapfs: the verbs that change things, on nodes: a command written to
 * a file, mkdir, links, renames, rm and rmdir.  Each checks where it is
 * and hands the change to snapshot/ (host.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "host.h"
#include "links.h"
#include "log.h"
#include "node-types.h"

/* --- changes ---------------------------------------------------------- */

bool
node_writable (const struct node *n)
{
  return n->type->write != NULL;
}

int
node_write (const struct node *n, const char *buf, size_t len)
{
  char command[64];
  int r;

  if (!n->type->write)
    return -EROFS;
  /* One word, with or without a newline, in one write. */
  if (len > 0 && buf[len - 1] == '\n')
    len--;
  if (len == 0 || len >= sizeof command || memchr (buf, '\0', len)
      || memchr (buf, '\n', len))
    return -EINVAL;
  memcpy (command, buf, len);
  command[len] = '\0';
  r = n->type->write (n, command);
  return r < 0 ? r : 0;
}

int
node_mkdir (const struct node *parent, const char *name)
{
  if (!S_ISDIR (parent->type->mode))
    return -ENOTDIR;
  if (parent->type->guest)
    return -EROFS; /* a snapshot's files are read-only */
  if (!parent->type->mkdir)
    return -EPERM;
  return parent->type->mkdir (parent, name);
}

/* The snapshot of VM that TARGET names: "snapshots/NAME", with an optional
 * "./" before and "/" after.  NULL when it names none. */
static const struct vs_snapshot *
link_target (const struct vs_vm *vm, const char *target)
{
  char name[256];
  size_t len;

  if (strncmp (target, "./", 2) == 0)
    target += 2;
  if (strncmp (target, "snapshots/", 10) != 0)
    return NULL;
  target += 10;
  len = strcspn (target, "/");
  if (len == 0 || len >= sizeof name
      || strspn (target + len, "/") != strlen (target + len))
    return NULL;
  memcpy (name, target, len);
  name[len] = '\0';
  return vm_find_snapshot (vm, name);
}

/* What a link named NAME to SNAP does in VM's directory. */
static int
make_link (const struct vs_vm *vm, const char *name, const char *snap)
{
  if (strcmp (name, "preview") == 0)
    return host_preview (vm, snap);
  if (strcmp (name, "active") == 0)
    return host_activate (vm, snap);
  if (strcmp (name, "stateless") == 0)
    return host_stateless_set (vm, snap);
  return -EINVAL;
}

static char *mountpoint;

void
node_set_mountpoint (const char *path)
{
  free (mountpoint);
  mountpoint = strdup (path);
}

/* With several hosts, step TARGET (within the mount, from the top) past
 * its host's directory, which must be ROOT's: a clone stays on its host.
 * Returns 0, or -EXDEV (logged). */
static int
skip_host (const struct node *root, const char **target)
{
  size_t len = strcspn (*target, "/");

  if (root->fleet->nhosts == 1)
    return 0;
  if (strlen (root->host->name) != len
      || strncmp (*target, root->host->name, len) != 0)
    {
      log_error ("'%s' is on another host than '%s': a clone stays on the "
                 "host of its snapshot.",
                 *target, root->host->name);
      return -EXDEV;
    }
  *target += len + ((*target)[len] == '/');
  return 0;
}

/* Whether the caller of the FUSE request this thread serves gave up on it
 * (a signal, Ctrl-C). */
static bool
request_interrupted (void)
{
  return fuse_req_interrupted (fs_request ()) != 0;
}

/* A link NAME -> TARGET at the top (or in a host's directory): a clone of
 * the snapshot TARGET names, "VM/snapshots/SNAP" relative to the mount or
 * absolute within it ("../HOST/VM/snapshots/SNAP" or absolute with
 * several hosts); an import of a directory outside the mount. */
static int
top_link (const struct node *root, const char *name, const char *target)
{
  size_t mlen = mountpoint ? strlen (mountpoint) : 0;
  const struct vs_snapshot *snap;
  const struct vs_vm *vm;
  struct vs_host *view = NULL;
  char vmname[256];
  size_t len;
  int r;

  if (target[0] == '/')
    {
      if (mlen == 0 || strncmp (target, mountpoint, mlen) != 0
          || target[mlen] != '/')
        {
          if (host_find_vm (root->host, name))
            {
              log_error ("A VM named '%s' exists.", name);
              return -EEXIST;
            }
          struct caller c;

          /* An import: the files are read with the caller's rights. */
          caller_current (&c, true);
          return host_import (root->host->host, target, name, &c,
                              request_interrupted);
        }
      target += mlen + 1;
      if ((r = skip_host (root, &target)) < 0)
        return r;
    }
  else if (root->fleet->nhosts > 1 && strncmp (target, "../", 3) == 0)
    {
      target += 3;
      if ((r = skip_host (root, &target)) < 0)
        return r;
    }
  while (strncmp (target, "./", 2) == 0)
    target += 2;
  len = strcspn (target, "/");
  if (len == 0 || len >= sizeof vmname || target[len] != '/')
    {
      log_error ("'%s' is not a snapshot (VM/snapshots/NAME): there is "
                 "nothing to clone.",
                 target);
      return -EINVAL;
    }
  memcpy (vmname, target, len);
  vmname[len] = '\0';
  if ((vm = host_find_vm (root->host, vmname)) != NULL && vm->shallow)
    {
      /* Its snapshots are read now, into a newer view. */
      if ((r = host_deepen (vm)) < 0)
        return r;
      view = host_get (root->host->host);
      vm = host_find_vm (view, vmname);
    }
  if (vm == NULL || (snap = link_target (vm, target + len + 1)) == NULL)
    {
      log_error ("'%s' is not a snapshot (VM/snapshots/NAME): there is "
                 "nothing to clone.",
                 target);
      r = -EINVAL;
    }
  else if (host_find_vm (root->host, name))
    {
      log_error ("A VM named '%s' exists.", name);
      r = -EEXIST;
    }
  else
    r = host_clone (vm, snap->name, name);
  if (view)
    host_put (view);
  return r;
}

int
node_symlink (const struct node *dir, const char *name, const char *target)
{
  const struct vs_snapshot *snap;

  if (dir->type == &t_root)
    return top_link (dir, name, target);
  if (dir->type != &t_vm)
    {
      log_error ("Links are made in a VM's directory only.");
      return S_ISDIR (dir->type->mode) ? -EROFS : -ENOTDIR;
    }
  if (strcmp (name, "resume") == 0)
    {
      log_error ("resume is set by a preview, not by hand.");
      return -EPERM;
    }
  if ((snap = link_target (dir->vm, target)) == NULL)
    {
      log_error ("VM '%s': '%s' is not one of its snapshots "
                 "(snapshots/NAME).",
                 dir->vm->name, target);
      return -EINVAL;
    }
  if (strcmp (name, "preview") == 0 || strcmp (name, "active") == 0
      || strcmp (name, "stateless") == 0)
    return make_link (dir->vm, name, snap->name);
  return temp_link_add (dir->vm->uuid, name, snap->name);
}

int
node_rename (const struct node *from_dir, const char *from,
             const struct node *to_dir, const char *to)
{
  char *snap;
  int r;

  if (from_dir->vm != to_dir->vm
      && (from_dir->vm == NULL || to_dir->vm == NULL
          || strcmp (from_dir->host->name, to_dir->host->name) != 0
          || strcmp (from_dir->vm->uuid, to_dir->vm->uuid) != 0))
    return -EXDEV;
  if (from_dir->type->guest || to_dir->type->guest)
    return -EROFS;
  if (from_dir->type == &t_snapshots && to_dir->type == &t_snapshots)
    return host_snapshot_rename (from_dir->vm, from, to);
  if (from_dir->type != &t_vm || to_dir->type != &t_vm
      || (snap = temp_link_get (from_dir->vm->uuid, from)) == NULL)
    {
      log_error ("Only a snapshot's directory within snapshots/, or a link "
                 "just made in a VM's directory, can be renamed.");
      return -EINVAL;
    }
  r = make_link (from_dir->vm, to, snap);
  if (r == 0)
    temp_link_remove (from_dir->vm->uuid, from);
  free (snap);
  return r;
}

int
node_unlink (const struct node *dir, const char *name)
{
  if (dir->type->guest)
    return -EROFS;
  if (dir->type == &t_snapshot)
    {
      /* File managers that empty a folder before they remove it (libfm,
       * Thunar) come here first: one clear line, and nothing removed. */
      log_error ("VM '%s': the files of snapshot '%s' are not removed one "
                 "by one: rmdir snapshots/%s deletes the snapshot (a "
                 "merge).",
                 dir->vm->name, dir->snap->name, dir->snap->name);
      return -EROFS;
    }
  if (dir->type != &t_vm)
    return S_ISDIR (dir->type->mode) ? -EROFS : -ENOTDIR;
  if (strcmp (name, "preview") == 0)
    return dir->vm->preview ? host_undo (dir->vm) : -ENOENT;
  if (strcmp (name, "resume") == 0)
    return dir->vm->resume ? host_resume_clear (dir->vm) : -ENOENT;
  if (strcmp (name, "stateless") == 0)
    return host_stateless_clear (dir->vm);
  if (temp_link_remove (dir->vm->uuid, name) == 0)
    return 0;
  log_error ("VM '%s': '%s' cannot be removed (rm preview undoes a preview, "
             "rm resume drops a memory restore).",
             dir->vm->name, name);
  return -EPERM;
}

int
node_rmdir (const struct node *dir, const char *name)
{
  if (dir->type != &t_snapshots)
    return -EROFS;
  return host_snapshot_delete (dir->vm, name, request_interrupted);
}
