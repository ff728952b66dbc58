/* vmsnapfs: an instant clone (clone.c): the clone runs on a thin top over
 * its source's snapshot while a block pull fills its copy, then its disk
 * moves onto the copy.  As done here; clone-remote.c says what differs on
 * a remote host.
 *
 * For each disk TARGET of snapshot NAME, with its frozen volume FROZEN:
 *
 *   - the copy NEWVM.TARGET.qcow2, a thin volume over FROZEN (the same
 *     virtual size, FROZEN's format recorded): the frozen volume of the
 *     clone's snapshot NAME, kept out of the clone's running chain so that
 *     it can be written;
 *   - the top NEWVM.TARGET.NAME.thin.qcow2, another thin volume over
 *     FROZEN: the clone's disk until its copy is whole;
 *   - NEWVM.TARGET.qcow2.pull, a third thin volume over FROZEN, is filled
 *     by a block pull in a paused helper domain (host/helperdom.c), whether
 *     the clone runs or not; once it stands alone and the helper has
 *     closed it, it is renamed onto the copy, which then stands alone.
 *     The copy, which readers of the clone's snapshot read, is never
 *     written: qemu ends a pull by giving the file it filled a header
 *     without its backing file before all of its tables reach that file,
 *     and a reader of the file in between reads zeros where they lag;
 *   - the switch: the top's data (what the clone wrote) must end on the
 *     copy.  Shut off: the top is rebased onto the copy without a copy of
 *     data (the data are the same), renamed NEWVM.TARGET.NAME.qcow2, and
 *     the clone's disk made that file.  Running: a shallow block copy of
 *     the top into a new NEWVM.TARGET.NAME.qcow2 over the copy, pivoted
 *     when ready; the top is removed.  Both under the clone's operation
 *     (vm_op_begin), so that no start or stop through vmsnapfs meets it;
 *     a start or stop by someone else is seen by the next look, and the
 *     switch is done again the other way;
 *   - the end: readers of the clone's snapshot that began before the
 *     renames, and so read the source's files, are released first, an open
 *     one waited for (the source stays pinned meanwhile).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "cleanup.h"
#include "clone-copy.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/build.h"
#include "host/conn.h"
#include "host/files.h"
#include "host/helperdom.h"
#include "host/ops.h"
#include "host/refresh.h"
#include "host/space.h"
#include "host/vmop.h"

#include "snapshot/shared.h"

/* How often a block copy is looked at, in milliseconds. */
#define SWITCH_POLL_MS 200
/* How often an open of the clone's snapshot is looked at, at the end. */
#define RELEASE_POLL_MS 5000
/* Less free room than this beside a pull's file that did not end: the
 * file system is full (a failed write stopped the pull). */
#define PULL_ROOM_MIN (16ULL << 20)

static void
pause_ms (long ms)
{
  struct timespec t = { ms / 1000, (ms % 1000) * 1000 * 1000 };

  nanosleep (&t, NULL);
}

size_t
clone_copies_at_start (const struct clone *c)
{
  return host_is_local (c->host) ? c->rec.nclone : 0;
}

int
clone_make_thin (struct clone *c)
{
  for (size_t i = 0; i < c->rec.nclone; i++)
    {
      const struct clone_disk *d = &c->rec.clone_disks[i];
      CLEANUP_FREE char *top = clone_thin_top (d);
      CLEANUP_FREE char *part = xasprintf ("%s.part", d->copy);

      if (host_is_local (c->host))
        unlink (part); /* a whole copy an older vmsnapfs began */
      if ((!host_file_exists (c->host, d->copy)
           && host_make_overlay (c->host, d->copy, d->source, d->format, 0)
                  < 0)
          || (!host_file_exists (c->host, top)
              && !host_file_exists (c->host, d->overlay)
              && host_make_overlay (c->host, top, d->source, d->format, 0)
                     < 0))
        {
          log_error ("VM '%s': cannot make the volumes of '%s' over '%s'.",
                     c->name, d->target, d->source);
          return -EIO;
        }
    }
  return clone_copy_memory (c);
}

/* Fill the copy of disk I of C, whose domain is DOM, from its backing
 * chain: here, pull into its pull file (made over the copy's source, or
 * the one an earlier run left, put back on it), then rename that onto the
 * copy; on a remote host, clone-remote.c's way. */
static int
pull (struct clone *c, virDomainPtr dom, size_t i)
{
  const struct clone_disk *d = &c->rec.clone_disks[i];
  virDomainBlockJobInfo info = { .type = VIR_DOMAIN_BLOCK_JOB_TYPE_PULL };
  CLEANUP_FREE char *pulled = clone_pull_file (d);
  struct vs_vm v;
  bool alone;
  int r;

  if (!host_is_local (c->host))
    return clone_remote_pull (c, dom, i);
  if (clone_stands_alone (c->host, d->copy, &alone, &info.end) < 0)
    return -EIO;
  if (alone)
    info.cur = info.end;
  clone_show_pull (c, i, &info);
  if (alone)
    return 0;
  if (access (pulled, F_OK) == 0)
    {
      /* An earlier run's: its helper may have died after the pull's end
       * and before its tables reached the file, which then stands alone
       * and lacks data.  Put back on its source, it is pulled again, which
       * copies only what it lacks. */
      const char *argv[]
          = { "qemu-img", "rebase",  "-q", "-u",      "-f",   "qcow2",
              "-F",       d->format, "-b", d->source, pulled, NULL };

      if ((r = run_volume_tool ("The clone's qemu-img rebase", argv, NULL))
          < 0)
        return r;
    }
  else if (host_make_overlay (c->host, pulled, d->source, d->format, 0) < 0)
    {
      log_error ("VM '%s': cannot make '%s' over '%s'.", c->name, pulled,
                 d->source);
      return -EIO;
    }
  vm_stand_in (&v, c->host, c->name, c->uuid);
  log_info ("VM '%s': pulling '%s' of snapshot '%s' into '%s'.", c->name,
            d->target, c->rec.clone_snapshot, pulled);
  if ((r
       = helper_pull (&v, d->target, pulled, "qcow2", NULL, merge_bandwidth (),
                      clone_is_stopping, clone_note_pull, c))
      < 0)
    return r;
  if (clone_stands_alone (c->host, pulled, &alone, &info.end) < 0 || !alone)
    {
      /* qemu ends a pull that fails a write as one that ends. */
      if (!room_beside (pulled, PULL_ROOM_MIN))
        log_error ("VM '%s': the pull into '%s' stopped before its end: the "
                   "file system it is on is full.",
                   c->name, pulled);
      else
        log_error ("VM '%s': the pull into '%s' ended, and it does not "
                   "stand alone.",
                   c->name, pulled);
      return -EIO;
    }
  if (rename (pulled, d->copy) < 0)
    {
      log_error ("VM '%s': cannot rename '%s' onto '%s': %m", c->name, pulled,
                 d->copy);
      return -EIO;
    }
  info.cur = info.end;
  clone_show_pull (c, i, &info);
  return 0;
}

/* The clone DOM shut off: the top of D, now the same data over the copy,
 * becomes the clone's disk as the overlay (renamed here, copied into it in
 * a helper on a remote host: -EAGAIN when the clone started meanwhile);
 * XML is the domain's persistent one. */
static int
switch_offline (const struct vs_vm *v, virDomainPtr dom,
                const struct clone_disk *d, const char *top, const char *xml)
{
  const char *argv[] = { "qemu-img", "rebase", "-q", "-u",    "-f", "qcow2",
                         "-F",       "qcow2",  "-b", d->copy, top,  NULL };
  struct disk_change ch = { d->target, d->overlay, "qcow2" };
  int r;

  if (!host_is_local (v->host) && host_file_exists (v->host, top))
    {
      if ((r = clone_remote_move (v, d, top)) < 0)
        return r;
      /* Started meanwhile by someone else, on its top: the copy just made
       * lacks what it writes now; the next look moves it live. */
      if (virDomainIsActive (dom) != 0)
        return -EAGAIN;
    }
  else if (host_is_local (v->host) && access (top, F_OK) == 0)
    {
      if ((r = run_volume_tool ("The clone's qemu-img rebase", argv, NULL))
          < 0)
        return r;
      if (rename (top, d->overlay) < 0)
        {
          log_error ("VM '%s': cannot rename '%s': %m", v->name, top);
          return -EIO;
        }
    }
  else if (!host_file_exists (v->host, d->overlay))
    {
      log_error ("VM '%s': its disk '%s' is gone.", v->name, top);
      return -EIO;
    }
  return define_changed (v, xml, &ch, 1, NULL);
}

/* Whether the block job on disk TARGET of DOM has a mirror ready. */
static bool
mirror_ready (virDomainPtr dom, const char *target)
{
  CLEANUP_FREE char *xml = virDomainGetXMLDesc (dom, 0);
  struct dom_xml *dx = NULL;
  bool ready = false;

  if (xml && dom_xml_parse (xml, &dx) == 0)
    for (size_t k = 0; k < dx->ndisks; k++)
      if (strcmp (dx->disks[k].target, target) == 0)
        ready = dx->disks[k].mirror_ready;
  dom_xml_free (dx);
  return ready;
}

/* End the block job on disk TARGET of DOM (none: nothing), without a
 * pivot, and wait for it to be gone. */
static void
abort_job (virDomainPtr dom, const char *target)
{
  virDomainBlockJobInfo info;

  virDomainBlockJobAbort (dom, target, 0);
  for (int k = 0; k < 300; k++)
    {
      if (virDomainGetBlockJobInfo (dom, target, &info, 0) <= 0)
        return;
      pause_ms (SWITCH_POLL_MS);
    }
}

/* Running: a shallow copy of the top of D into a new overlay over the copy,
 * pivoted; -EAGAIN when the clone stopped meanwhile.  A transient job
 * (libvirt copies a persistent domain's disk only so): the persistent
 * definition is the caller's to change. */
static int
switch_live (const struct vs_vm *v, virDomainPtr dom,
             const struct clone_disk *d)
{
  CLEANUP_FREE char *dest = copy_dest_xml (d->overlay, "qcow2");
  virDomainBlockJobInfo info;
  int j;

  abort_job (dom, d->target); /* one a killed daemon began */
  /* An overlay left by a try cut short, here or in a helper (clone-
   * remote.c), is made anew: the clone's definition names its top, and a
   * remote host makes no volume over one of the same name. */
  host_file_unlink (v->host, d->overlay);
  if (host_make_overlay (v->host, d->overlay, d->copy, "qcow2", 0) < 0)
    return -EIO;
  if (virDomainBlockCopy (dom, d->target, dest, NULL, 0,
                          VIR_DOMAIN_BLOCK_COPY_SHALLOW
                              | VIR_DOMAIN_BLOCK_COPY_REUSE_EXT
                              | VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB)
      < 0)
    {
      CLEANUP_FREE char *why = xstrdup (virt_error ());

      if (virDomainIsActive (dom) != 1)
        return -EAGAIN;
      log_error ("VM '%s': cannot copy its disk '%s' onto '%s': %s", v->name,
                 d->target, d->overlay, why);
      return -EIO;
    }
  for (;;)
    {
      if (clone_is_stopping ())
        {
          abort_job (dom, d->target);
          return -ESHUTDOWN;
        }
      if ((j = virDomainGetBlockJobInfo (dom, d->target, &info, 0)) <= 0)
        return virDomainIsActive (dom) != 1 ? -EAGAIN : -EIO;
      if (info.cur == info.end && mirror_ready (dom, d->target)
          && virDomainBlockJobAbort (dom, d->target,
                                     VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
                 == 0)
        return 0;
      pause_ms (SWITCH_POLL_MS);
    }
}

/* Move disk D of the clone DOM onto its copy, once, under the clone's
 * operation: 0, -EAGAIN (to look again), or -errno (logged). */
static int
switch_once (struct clone *c, const struct vs_vm *v, virDomainPtr dom,
             const struct clone_disk *d)
{
  CLEANUP_FREE char *top = clone_thin_top (d);
  CLEANUP_FREE char *xml = NULL;
  struct dom_xml *dx = NULL;
  const char *source = NULL;
  int r;

  if (read_inactive (c->name, dom, &xml, &dx) < 0)
    return -EIO;
  for (size_t k = 0; k < dx->ndisks; k++)
    if (strcmp (dx->disks[k].target, d->target) == 0)
      source = dx->disks[k].source;
  if (source && strcmp (source, d->overlay) == 0)
    r = 0; /* moved; the top may be left */
  else if (source == NULL || strcmp (source, top) != 0)
    {
      log_error ("VM '%s': its disk '%s' is neither '%s' nor '%s'.", c->name,
                 d->target, top, d->overlay);
      r = -EIO;
    }
  else if (virDomainIsActive (dom) != 1)
    r = switch_offline (v, dom, d, top, xml);
  else if ((r = switch_live (v, dom, d)) == 0)
    {
      /* libvirt may have left the persistent definition on the top. */
      struct disk_change ch = { d->target, d->overlay, "qcow2" };

      r = define_changed (v, xml, &ch, 1, NULL);
    }
  dom_xml_free (dx);
  if (r == 0 && host_file_unlink (c->host, top) == 0)
    log_info ("VM '%s': its disk '%s' stands on its own copy; removed '%s'.",
              c->name, d->target, top);
  return r;
}

/* Move disk I of C onto its copy, waiting for the clone's other
 * operations (a start, a stop) to end. */
static int
switch_disk (struct clone *c, virDomainPtr dom, size_t i)
{
  struct vs_vm v;
  int r;

  vm_stand_in (&v, c->host, c->name, c->uuid);
  for (;;)
    {
      if (clone_is_stopping ())
        return -ESHUTDOWN;
      if (vm_op_busy (&v) || (r = vm_op_begin (&v)) == -EBUSY)
        {
          pause_ms (1000);
          continue;
        }
      if (r < 0)
        return r;
      r = switch_once (c, &v, dom, &c->rec.clone_disks[i]);
      host_sync (&v, false);
      vm_op_end (&v);
      if (r != -EAGAIN)
        return r;
    }
}

/* The end: a reader of the clone's snapshot that began before its copies
 * were renamed reads its source's files (a copy thin over them, or a
 * restore's exports), which may change, or stop, once the job ends.  Its
 * whole disks' and guest files' readers are released (release_readers),
 * an open one waited for. */
static int
release_source_readers (struct clone *c, virDomainPtr dom)
{
  struct vs_snapshot *s;
  struct vs_vm v;
  bool told = false;
  int r;

  vm_stand_in (&v, c->host, c->name, c->uuid);
  if ((s = snapshot_read (dom, &v, c->rec.clone_snapshot)) == NULL)
    return -EIO;
  for (;;)
    {
      if (clone_is_stopping ())
        {
          r = -ESHUTDOWN;
          break;
        }
      if (vm_op_busy (&v) || (r = vm_op_begin (&v)) == -EBUSY)
        {
          pause_ms (1000);
          continue;
        }
      if (r < 0)
        break;
      r = release_readers (&v, s->ino, false);
      vm_op_end (&v);
      if (r != -EBUSY)
        break;
      if (!told)
        log_info ("VM '%s': its snapshot '%s' is open, read from '%s'; the "
                  "job ends once it is closed.",
                  c->name, c->rec.clone_snapshot, c->rec.clone_vm);
      told = true;
      pause_ms (RELEASE_POLL_MS);
    }
  snapshot_unref (s);
  return r;
}

int
clone_thin_job (struct clone *c, virDomainPtr dom)
{
  int r;

  if ((r = clone_make_thin (c)) < 0
      || (r = clone_define_snapshot (c, dom, clone_copies_at_start (c))) < 0)
    return r;
  for (size_t i = 0; r == 0 && i < c->rec.nclone; i++)
    r = pull (c, dom, i);
  for (size_t i = 0; r == 0 && i < c->rec.nclone; i++)
    r = switch_disk (c, dom, i);
  if (r == 0)
    r = release_source_readers (c, dom);
  return r;
}
