/* vmsnapfs: an instant clone on a remote host (clone-pull.c), its files
 * reached through libvirt alone.
 *
 * Here, a clone's pull fills a file of its own, renamed onto the copy once
 * whole, so that the copy that readers of the clone's snapshot read is
 * never written.  libvirt renames no file.  So on a remote host the pull
 * fills the copy itself, and nothing reads the copy meanwhile: until it is
 * whole, the clone's snapshot NAME names as the frozen volume of each disk
 * the source's own frozen volume (the same data, pinned, never written);
 * once the helper domain that filled a copy is gone (it closed the file:
 * every table of it is written), NAME is defined again, naming that copy.
 *
 * NAME is the mark the next daemon reads: a disk whose frozen volume in
 * NAME is its copy is pulled.  A copy that stands alone and that NAME
 * does not name was pulled by a daemon killed before it saw its helper
 * end, and may lack tables: it is made anew and pulled again.  A copy
 * still over the source is pulled again, which copies what it lacks.
 *
 * Shut off, the clone's disk moves from its top onto the overlay by a
 * shallow block copy of the top into the overlay, made over the copy, in a
 * paused helper domain (here qemu-img rebases the top, which it renames).
 */
#include <errno.h>

#include "chain.h"
#include "clone-copy.h"
#include "log.h"
#include "util.h"

#include "host/files.h"
#include "host/helperdom.h"
#include "host/ops.h"

#include "snapshot/shared.h"

int
clone_remote_pull (struct clone *c, virDomainPtr dom, size_t i)
{
  const struct clone_disk *d = &c->rec.clone_disks[i];
  virDomainBlockJobInfo info = { .type = VIR_DOMAIN_BLOCK_JOB_TYPE_PULL };
  struct vs_vm v;
  size_t named;
  bool alone = false;
  int r;

  if (clone_copies_named (c, dom, &named) < 0)
    return -EIO;
  if (named > i)
    return 0;
  if (host_file_exists (c->host, d->copy)
      && clone_stands_alone (c->host, d->copy, &alone, &info.end) < 0)
    return -EIO;
  if (alone)
    {
      log_info ("VM '%s': '%s' was pulled by a daemon that did not see it "
                "closed; it is made anew.",
                c->name, d->copy);
      if (host_file_unlink (c->host, d->copy) < 0)
        return -EIO;
    }
  if (!host_file_exists (c->host, d->copy)
      && host_make_overlay (c->host, d->copy, d->source, d->format, 0) < 0)
    {
      log_error ("VM '%s': cannot make '%s' over '%s'.", c->name, d->copy,
                 d->source);
      return -EIO;
    }
  clone_show_pull (c, i, &info);
  vm_stand_in (&v, c->host, c->name, c->uuid);
  log_info ("VM '%s': pulling '%s' of snapshot '%s' into '%s' on its host.",
            c->name, d->target, c->rec.clone_snapshot, d->copy);
  if ((r = helper_pull (&v, d->target, d->copy, "qcow2", NULL,
                        merge_bandwidth (), clone_is_stopping, clone_note_pull,
                        c))
      < 0)
    return r;
  if (clone_stands_alone (c->host, d->copy, &alone, &info.end) < 0 || !alone)
    {
      log_error ("VM '%s': the pull into '%s' ended, and it does not stand "
                 "alone.",
                 c->name, d->copy);
      return -EIO;
    }
  info.cur = info.end;
  clone_show_pull (c, i, &info);
  return clone_define_snapshot (c, dom, i + 1);
}

int
clone_remote_move (const struct vs_vm *v, const struct clone_disk *d,
                   const char *top)
{
  if (!host_file_exists (v->host, d->overlay)
      && host_make_overlay (v->host, d->overlay, d->copy, "qcow2", 0) < 0)
    return -EIO;
  /* An overlay a killed daemon began to fill is filled again: with the
   * same data. */
  return helper_copy (v, d->target, top, "qcow2", d->overlay,
                      clone_is_stopping);
}
