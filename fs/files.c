/* vmsnapfs: VM/snapshots/NAME/files/, the guest's own files at the
 * snapshot, read-only (the backend is guest/files.c, guestfiles.h).
 *
 * Below files/, a node carries its path in the guest (n->gpath: "/etc",
 * NULL for files/ itself) and one of four types by the guest's mode:
 * directory, regular file, link, anything else (shown, never opened).
 * Nothing starts until a path below files/ is looked up or files/ is
 * listed.  files/ itself is root's and the readers' (access.h): the
 * guest's owners and modes are shown below it as they are.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "access.h"
#include "guestfiles.h"
#include "host.h"
#include "log.h"
#include "remote.h"
#include "util.h"

#include "node-types.h"

static bool
has_files (const struct node *n)
{
  return vm_is_local (n->vm) && n->snap->ndisks > 0
         && strcmp (n->snap->status, "ok") == 0;
}

/* The snapshot's handle, started if need be. */
static int
get (const struct node *n, struct guestfiles **out)
{
  struct guest_drive *d = xcalloc (n->snap->ndisks, sizeof *d);
  char *label
      = xasprintf ("VM '%s', snapshot '%s'", n->vm->name, n->snap->name);
  size_t k = 0;
  int r;

  if (snapshot_readers_held (n->vm, n->snap->ino))
    {
      log_error ("%s: its files are not read now: an operation is about to "
                 "change its volumes.",
                 label);
      free (d);
      free (label);
      return -EBUSY;
    }
  /* The disks frozen at the snapshot, in the guest's order. */
  for (size_t i = 0; i < n->snap->ndisks; i++)
    if (n->snap->disks[i].volume && n->snap->disks[i].format)
      {
        d[k].path = n->snap->disks[i].volume;
        d[k].format = n->snap->disks[i].format;
        d[k++].target = n->snap->disks[i].target;
      }
  r = guestfiles_get (n->snap->ino, d, k, label, out);
  free (d);
  free (label);
  return r;
}

static const char *
gpath (const struct node *n)
{
  return n->gpath ? n->gpath : "/";
}

extern const struct node_type t_gdir, t_gfile, t_glink, t_gother;

static const struct node_type *
type_of (mode_t mode)
{
  if (S_ISDIR (mode))
    return &t_gdir;
  if (S_ISREG (mode))
    return &t_gfile;
  if (S_ISLNK (mode))
    return &t_glink;
  return &t_gother;
}

/* NAME in the guest directory N is: N becomes it. */
static int
lookup_guest (const char *name, struct node *n)
{
  struct guestfiles *gf;
  char *path = xasprintf ("%s/%s", n->gpath ? n->gpath : "", name);
  struct stat st;
  int r;

  if ((r = get (n, &gf)) == 0)
    {
      r = guestfiles_stat (gf, path, &st);
      guestfiles_put (gf);
    }
  if (r < 0)
    {
      free (path);
      return r;
    }
  free (n->gpath);
  n->gpath = path;
  n->type = type_of (st.st_mode);
  return 0;
}

static void
list_guest (const struct node *n,
            int (*fill) (void *, const char *, const struct stat *), void *ctx)
{
  struct guestfiles *gf;

  if (get (n, &gf) < 0)
    return;
  guestfiles_list (gf, gpath (n), fill, ctx);
  guestfiles_put (gf);
}

static char *
link_guest (const struct node *n)
{
  struct guestfiles *gf;
  char *target = NULL;

  if (get (n, &gf) == 0)
    {
      guestfiles_readlink (gf, gpath (n), &target);
      guestfiles_put (gf);
    }
  return target ? target : xstrdup ("");
}

/* Why some file systems show nothing, or that libguestfs did not start:
 * malloc'd, or NULL when every one shows. */
static char *
errors_of (const struct node *n)
{
  struct guestfiles *gf;
  char *e;

  if (get (n, &gf) < 0)
    return xstrdup ("libguestfs did not start: see the daemon's log\n");
  e = guestfiles_errors (gf);
  guestfiles_put (gf);
  return e;
}

static bool
has_errors (const struct node *n)
{
  char *e = errors_of (n);

  free (e);
  return e != NULL;
}

static char *
render_errors (const struct node *n, size_t *len)
{
  char *e = errors_of (n);

  *len = e ? strlen (e) : 0;
  return e ? e : xstrdup ("");
}

/* Why some file systems show nothing, when some do not. */
static const struct node_type t_gerrors = { .mode = S_IFREG | 0444,
                                            .exists = has_errors,
                                            .render = render_errors,
                                            .guest = true };

static const struct child files_children[] = {
  { ".vmsnapfs-error", &t_gerrors },
  { NULL, NULL },
};

/* Hidden unless the mount says files=visible, as ZFS's .zfs with
 * snapdir=hidden: ls -R, find, du and a backup of a snapshot's directory
 * would otherwise start an appliance for every snapshot, and copy every
 * guest file besides its disks. */
bool files_listed;

const struct node_type t_files = { .mode = S_IFDIR | 0500,
                                   .exists = has_files,
                                   .listed_if = &files_listed,
                                   .children = files_children,
                                   .lookup = lookup_guest,
                                   .named = &t_gdir,
                                   .list = list_guest,
                                   .guest = true };
const struct node_type t_gdir = { .mode = S_IFDIR | 0555,
                                  .lookup = lookup_guest,
                                  .named = &t_gdir,
                                  .list = list_guest,
                                  .guest = true };
const struct node_type t_gfile = { .mode = S_IFREG | 0444, .guest = true };
const struct node_type t_glink
    = { .mode = S_IFLNK | 0777, .link = link_guest, .guest = true };
const struct node_type t_gother = { .mode = S_IFIFO | 0444, .guest = true };

int
guest_getattr (const struct node *n, struct stat *st, uint64_t ino)
{
  struct guestfiles *gf;
  int r;

  memset (st, 0, sizeof *st);
  if (n->type == &t_files || n->type == &t_gerrors)
    {
      /* files/ itself: no look inside it yet. */
      st->st_mode = n->type->mode;
      st->st_ino = ino;
      st->st_nlink = S_ISDIR (n->type->mode) ? 2 : 1;
      st->st_mtime = st->st_ctime = st->st_atime = n->snap->created;
      st->st_blksize = 4096;
      if (n->type == &t_files)
        access_files_attrs (st);
      else
        {
          size_t len;
          free (render_errors (n, &len));
          st->st_size = (off_t)len;
        }
      return 0;
    }
  if ((r = get (n, &gf)) < 0)
    return r;
  r = guestfiles_stat (gf, gpath (n), st);
  guestfiles_put (gf);
  return r;
}

int
guest_open (const struct node *n, const struct caller *c, struct handle *h)
{
  struct guestfiles *gf;
  struct stat st;
  int r;

  if ((r = access_files (c)) < 0)
    {
      log_warning ("Refused uid %u a read of '%s' in the files of snapshot "
                   "'%s' of VM '%s': only root and the readers may.",
                   (unsigned)c->uid, gpath (n), n->snap->name, n->vm->name);
      return r;
    }
  if (n->type != &t_gfile)
    return -EACCES; /* a device, a pipe, a socket: shown, not opened */
  if ((r = get (n, &gf)) < 0)
    return r;
  if ((r = guestfiles_stat (gf, gpath (n), &st)) == 0)
    {
      h->len = (size_t)st.st_size;
      r = guestfiles_open (gf, gpath (n), &h->gfile);
    }
  guestfiles_put (gf);
  return r;
}
