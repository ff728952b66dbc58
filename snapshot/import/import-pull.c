/* vmsnapfs: an instant restore: the new VM runs on its backup's files,
 * served over NBD, while their data moves into its own volumes.
 *
 * On this machine, for a backup of one snapshot (its disks whole, raw
 * images: a qcow2 volume's header could name a file for the server to
 * open): each
 * disk's file is opened with the caller's rights (import-open.c) and its
 * descriptor handed to a qemu-storage-daemon (chain/serve.c), which serves
 * it read-only, as the format info.json gives and with no backing, on a
 * socket of NEWVM's in the run directory that only root and qemu's group
 * reach.  NEWVM's copy of each disk is a thin volume over that export
 * (backing format raw), and NEWVM's disk a thin top over the same; its
 * record is an instant clone's whose source is the backup's directory
 * (snapshot/clone/clone-restore.c): NEWVM is defined and `ln` returns, and
 * a job pulls each copy whole and moves each disk onto it, as a clone's
 * does.  The backup's directory must stay until then: NEWVM/jobs shows the
 * pull, and the log says when it may be removed.  The memory, when there
 * is some, is copied before `ln` returns (its size is the guest's RAM's).
 *
 * A failure before NEWVM is whole rolls the import back as before (the
 * files are the import's record's), the server stopped.  A backup of
 * several snapshots, and a remote host, are copied first, as before.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "serve.h"
#include "util.h"
#include "virxml.h"

#include "host/conn.h"
#include "host/files.h"
#include "host/vmlock.h"

#include "snapshot/clone.h"

#include "import.h"

/* The served disks of an instant restore. */
struct instant
{
  char *sock;
  pid_t pid;
  size_t n;
  char **sources; /* each disk's export, as a backing file */
  char **tops;    /* each disk's thin top: NEWVM's disk until the switch */
  bool *tops_made;
  int lock; /* NEWVM's, from before the server starts (vmlock.h) */
};

bool
import_can_serve (const struct import *im)
{
  const struct isnap *a = &im->snaps[im->active];

  if (im->stage || im->nsnaps != 1 || !host_is_local (im->host)
      || im->x.path[0] != '/')
    return false;
  /* Raw disks only: the server, root's, would open by name a file a
   * qcow2 header names (a data file), and the header is the caller's to
   * rewrite after the import has read it.  A raw file is served as bytes,
   * nothing in it read as a name. */
  /* A size the server's raw size option takes (whole sectors); else the
   * copy refuses it (EINVAL). */
  for (size_t k = 0; k < a->ndisks; k++)
    if (!a->disks[k].convert || a->disks[k].file.size == 0
        || a->disks[k].file.size % 512 != 0
        || strspn (a->disks[k].target, "abcdefghijklmnopqrstuvwxyz0123456789")
               != strlen (a->disks[k].target))
      return false;
  return true;
}

/* The group qemu runs in, from libvirt's DAC base label ("+UID:+GID"), into
 * *GID: 0 or -EIO (logged). */
static int
qemu_gid (virConnectPtr conn, gid_t *gid)
{
  CLEANUP_FREE char *caps = virConnectGetCapabilities (conn);
  const char *p = caps ? strstr (caps, "<model>dac</model>") : NULL;
  unsigned long uid, g;

  if (p && (p = strstr (p, "<baselabel")) && (p = strchr (p, '>'))
      && sscanf (p + 1, "+%lu:+%lu", &uid, &g) == 2)
    {
      *gid = (gid_t)g;
      return 0;
    }
  log_error ("Import: cannot tell which group qemu runs in (libvirt's DAC "
             "base label).");
  return -EIO;
}

/* The thin top over the copy of disk D (malloc'd): as a clone's. */
static char *
top_of (const struct idisk *d)
{
  struct clone_disk cd = { .overlay = d->overlay };

  return clone_thin_top (&cd);
}

int
import_serve (struct import *im, virConnectPtr conn)
{
  struct isnap *a = &im->snaps[im->active];
  struct instant *in = xcalloc (1, sizeof *in);
  struct serve_layer *l = xcalloc (a->ndisks, sizeof *l);
  gid_t gid = 0;
  int r;

  im->instant = in;
  in->n = a->ndisks;
  in->sources = xcalloc (in->n, sizeof *in->sources);
  in->tops = xcalloc (in->n, sizeof *in->tops);
  in->tops_made = xcalloc (in->n, sizeof *in->tops_made);
  in->sock = serve_sock (im->uuid);
  for (size_t k = 0; k < in->n; k++)
    l[k].fd = -1;
  /* NEWVM's lock, held from before its server starts until the job has
   * stopped it: another daemon that starts meanwhile does not take the
   * server for one left behind (clone_restore_sweep).  Lent: NEWVM's
   * operations in this daemon go on beside the job. */
  if ((r = in->lock = vm_lock_take (im->host, im->uuid, im->name)) < 0)
    {
      /* Without it, the server would be another daemon's to stop. */
      log_error ("Import: '%s' cannot be restored at once without its "
                 "lock.",
                 im->name);
      in->lock = VM_LOCK_NONE;
      r = r == -EBUSY ? -EBUSY : -EIO;
    }
  else
    {
      vm_lock_lend (im->host, im->uuid, in->lock);
      r = qemu_gid (conn, &gid);
    }
  for (size_t k = 0; k < in->n && r == 0; k++)
    {
      const struct idisk *d = &a->disks[k];

      /* The size measured when the export was read, as a copy's: a file
       * that changed since is EIO, one that changes later is served at
       * that size. */
      if ((r = l[k].fd = import_reopen (&im->x, &d->file)) >= 0)
        r = import_same_size (l[k].fd, d->file.shown, d->file.size);
      l[k].size = d->file.size;
      l[k].format = d->convert ? "raw" : d->format;
      l[k].below = -1;
      l[k].name = d->target;
    }
  if (r == 0)
    r = serve_start (in->sock, gid, l, in->n, &in->pid);
  for (size_t k = 0; k < in->n; k++)
    if (l[k].fd >= 0)
      close (l[k].fd);
  free (l);
  for (size_t k = 0; k < in->n && r == 0; k++)
    {
      struct idisk *d = &a->disks[k];

      in->sources[k] = serve_backing (in->sock, d->target);
      in->tops[k] = top_of (d);
      if ((r = import_claim (im, d->copy, &d->made)) < 0
          || (r = import_claim (im, in->tops[k], &in->tops_made[k])) < 0)
        break;
      if (host_make_overlay (im->host, d->copy, in->sources[k], "raw", 0) < 0
          || host_make_overlay (im->host, in->tops[k], in->sources[k], "raw",
                                0)
                 < 0)
        {
          log_error ("Import: cannot make the volumes of '%s' over the "
                     "backup's '%s'.",
                     d->target, d->file.shown);
          r = -EIO;
        }
    }
  return r;
}

void
import_served_disks (const struct import *im, struct disk_change *ch,
                     struct vs_meta *m)
{
  const struct isnap *a = &im->snaps[im->active];
  const struct instant *in = im->instant;

  m->clone_vm = (char *)im->x.path;
  m->clone_snapshot = a->name;
  m->nclone = in->n;
  m->clone_disks = xcalloc (in->n, sizeof *m->clone_disks);
  for (size_t k = 0; k < in->n; k++)
    {
      const struct idisk *d = &a->disks[k];

      ch[k] = (struct disk_change){ d->target, in->tops[k], "qcow2" };
      m->clone_disks[k] = (struct clone_disk){
        d->target, in->sources[k], (char *)"raw", d->copy, d->overlay,
      };
    }
}

int
import_pull_start (struct import *im, const struct vs_meta *m)
{
  int r = clone_restore_start (im->host, im->name, im->uuid, m,
                               im->instant->lock);

  im->instant->lock = VM_LOCK_NONE; /* the job's */

  if (r == 0)
    log_info ("VM '%s': it runs on '%s' until its volumes are whole (see "
              "its jobs); the directory must stay until then.",
              im->name, im->x.path);
  return r;
}

void
import_serve_stop (struct import *im)
{
  struct instant *in = im->instant;

  if (in == NULL)
    return;
  for (size_t k = 0; k < in->n; k++)
    if (in->tops_made[k] && in->tops[k])
      host_file_unlink (im->host, in->tops[k]);
  if (in->pid > 0)
    serve_stop (in->pid, in->sock);
}

void
import_serve_end (struct import *im)
{
  struct instant *in = im->instant;

  if (in == NULL)
    return;
  vm_lock_drop (im->host, im->uuid, in->lock);
  for (size_t k = 0; k < in->n; k++)
    {
      free (in->sources[k]);
      free (in->tops[k]);
    }
  free (in->sources);
  free (in->tops);
  free (in->tops_made);
  free (in->sock);
  free (in);
  im->instant = NULL;
}
