/* vmsnapfs: an instant restore's job, run as an instant clone's
 * (clone-pull.c).
 *
 * A restore on this machine (snapshot/import/import-pull.c) defines the
 * new VM on thin tops over a backup's chains, served read-only over NBD by
 * a qemu-storage-daemon (chain/serve.c), and its copies are thin volumes
 * over the same; its record is a clone's whose source is the backup's
 * directory (an absolute path: no VM's name) and whose disks' sources are
 * the server's exports.  The job is the clone's: a pull fills each copy,
 * then each disk moves onto its copy, and the record is dropped; then the
 * server is stopped, and the log says the directory may be removed.  No
 * pin: the backup is no VM of the host.  The server outlives a killed
 * daemon (the VM reads through it), and the next daemon carries the job
 * on; a server gone (the host restarted) cannot be started again without
 * its caller's rights: the VM is left as it is, recorded, and may not
 * start (host/ops.c).
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "cleanup.h"
#include "clone-copy.h"
#include "log.h"
#include "serve.h"
#include "util.h"
#include "virxml.h"

#include "host/vmlock.h"
#include "host/vmop.h"

#include "snapshot/clone.h"
#include "snapshot/shared.h"

bool
clone_is_restore (const struct vs_meta *m)
{
  return m->clone_vm && m->clone_vm[0] == '/';
}

bool
clone_restore_served (const char *name, const char *uuid, const char *dir)
{
  CLEANUP_FREE char *sock = serve_sock (uuid);

  if (serve_alive (0, sock))
    return true;
  log_error ("VM '%s': the backup's export is gone (the host restarted?); "
             "it cannot run or be restored until '%s' is imported again: "
             "remove it, then `ln -s %s` anew.",
             name, dir, dir);
  return false;
}

/* Restore C is whole (R 0) or gone: its server stopped, and the log says
 * so. */
static void
restore_done (struct clone *c, int r)
{
  CLEANUP_FREE char *sock = serve_sock (c->uuid);

  serve_stop (0, sock);
  if (r == 0)
    log_info ("VM '%s': restored; %s may be removed.", c->name,
              c->rec.clone_vm);
}

static bool
restore_served (struct clone *c)
{
  return clone_restore_served (c->name, c->uuid, c->rec.clone_vm);
}

int
clone_restore_carry (struct clone *c)
{
  if (!clone_restore_served (c->name, c->uuid, c->rec.clone_vm))
    return -ENOENT;
  c->done = restore_done;
  c->may_go_on = restore_served;
  return clone_copy_start (c);
}

int
clone_restore_start (struct host *h, const char *name, const char *uuid,
                     const struct vs_meta *m, int lock)
{
  struct clone *c = xcalloc (1, sizeof *c);

  /* NEWVM's own lock, taken and lent by the import before its server
   * started (so that NEWVM may start while the job runs, as an instant
   * clone's, clone.c), is the job's from here. */
  c->lock = lock;
  c->name = xstrdup (name);
  c->host = h;
  memcpy (c->uuid, uuid, sizeof c->uuid);
  c->rec.clone_vm = xstrdup (m->clone_vm);
  c->rec.clone_snapshot = xstrdup (m->clone_snapshot);
  c->rec.nclone = m->nclone;
  c->rec.clone_disks = xcalloc (m->nclone, sizeof *c->rec.clone_disks);
  for (size_t i = 0; i < m->nclone; i++)
    {
      const struct clone_disk *f = &m->clone_disks[i];

      c->rec.clone_disks[i] = (struct clone_disk){
        xstrdup (f->target), xstrdup (f->source),  xstrdup (f->format),
        xstrdup (f->copy),   xstrdup (f->overlay),
      };
    }
  c->thin = true;
  c->thin_job = clone_thin_job;
  c->done = restore_done;
  c->may_go_on = restore_served;
  c->need = xcalloc (m->nclone ? m->nclone : 1, sizeof *c->need);
  if (clone_copy_start (c) < 0)
    {
      clone_free (c);
      return -EIO;
    }
  return 0;
}

/* Whether the server of UUID still serves a restore: its VM is being
 * imported, or its job run, by a daemon of this machine (which holds the
 * VM's lock from before the server starts until after it stops, whatever
 * the spelling of its host's URI), or its VM is recorded on H as
 * restoring (its job to be carried on).  What libvirt cannot say counts
 * as in use: the VM may run on it. */
static bool
serves_a_restore (struct host *h, virConnectPtr conn, const char *uuid)
{
  struct vs_meta m = { 0 };
  virDomainPtr dom;
  struct vs_vm v;
  bool used;

  if (vm_lock_held_anywhere (uuid))
    return true;
  if ((dom = virDomainLookupByUUIDString (conn, uuid)) == NULL)
    {
      used = virGetLastErrorCode () != VIR_ERR_NO_DOMAIN;
      virResetLastError ();
      return used;
    }
  vm_stand_in (&v, h, virDomainGetName (dom), uuid);
  used = meta_read (&v, dom, &m) < 0 || clone_is_restore (&m);
  vs_meta_clear (&m);
  virDomainFree (dom);
  return used;
}

void
clone_restore_sweep (struct host *h, virConnectPtr conn)
{
  DIR *d = opendir (SERVE_RUN_DIR);
  struct dirent *de;

  if (d == NULL)
    return;
  while ((de = readdir (d)) != NULL)
    {
      size_t len = strlen (de->d_name);
      CLEANUP_FREE char *uuid = NULL, *sock = NULL;

      if (len != VIR_UUID_STRING_BUFLEN - 1 + 5
          || strcmp (de->d_name + len - 5, ".sock") != 0)
        continue;
      uuid = xasprintf ("%.*s", (int)(len - 5), de->d_name);
      if (serves_a_restore (h, conn, uuid))
        continue;
      sock = serve_sock (uuid);
      if (serve_alive (0, sock))
        log_info ("The backup's server of a restore that ended or was cut "
                  "short (VM %s) is stopped.",
                  uuid);
      serve_stop (0, sock); /* or its files removed */
    }
  closedir (d);
}
