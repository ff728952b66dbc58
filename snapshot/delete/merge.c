/* vmsnapfs: rmdir of a snapshot, by merge.
 *
 * Snapshot S made, on each disk, a new volume TOP over the volume BASE that
 * froze at S.  Deleting S commits TOP into BASE: BASE then holds what TOP
 * held, so S's own point in time is gone while every other snapshot, and
 * the VM, read exactly what they read before.  Whatever stood on TOP is
 * repointed at BASE, and TOP and S's memory file are deleted.
 *
 * - TOP in the running VM's chain: libvirt's block commit, the active-layer
 *   commit with a pivot when TOP is the volume the VM writes to.
 * - Otherwise (VM shut off, or TOP on a branch the VM does not run):
 *   qemu-img commit.
 *
 * Like vdsm's live merge, it is built to survive a crash of anything at any
 * point.  The merge is recorded in the VM's libvirt metadata before its
 * first step, with each disk's phase:
 *
 *   commit    TOP's data is going into BASE.  Redoing it is harmless: BASE
 *             is written by nothing else while TOP stands on it.
 *   repoint   BASE holds TOP's data, and the VM's chain no longer has TOP.
 *             What still names TOP (snapshot volumes of other branches, the
 *             state a preview keeps, the VM's definition) is pointed at BASE
 *             with metadata-only changes, then TOP is deleted.
 *
 * A phase ends when the actual chain says so (libvirt's live XML, or
 * qemu-img on the files), never on an event or a return code alone.  Then
 * the snapshot's metadata and memory file go, and the record last.  A
 * worker thread carries the merge, so an interrupted rmdir returns EINTR
 * while the merge goes on; a daemon that starts finds recorded merges and
 * carries them to their end.  A merge that fails leaves the VM's chain
 * whole and usable and the record marked failed: the snapshot shows
 * "status: failed", and the next rmdir of it tries again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "cleanup.h"
#include "export.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/conn.h"
#include "host/files.h"
#include "host/helperdom.h"
#include "host/jobs.h"
#include "host/refresh.h"
#include "host/vmop.h"

#include "snapshot/delete.h"
#include "snapshot/hooks.h"
#include "snapshot/shared.h"

/* How long a worker waits for a block job event before it looks anyway. */
#define MERGE_POLL_MS 500
/* How often a waiting rmdir checks whether it was interrupted. */
#define INTERRUPT_POLL_MS 100
/* How many times a block commit is started on one disk before the merge
 * is given up as failed. */
#define COMMIT_TRIES 3
/* How many steps in a row may fail on the VM's state changing under them
 * before the merge is given up. */
#define STATE_CHANGE_TRIES 20
/* Longest run of qemu-img commit or rebase. */
#define QEMU_IMG_TIMEOUT_MS (24 * 3600 * 1000)

/* The merges under way, for wake-ups, for an rmdir of a snapshot that is
 * merging already, and for a clean stop. */
static pthread_mutex_t workers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t workers_cond = PTHREAD_COND_INITIALIZER;
static struct merge *workers;
static bool stopping;
static uint64_t wakeups;

/* One merge under way, shared by its worker and the rmdir waiting for it. */
struct merge
{
  struct merge *next; /* in workers */
  int refs;
  struct vs_vm *vm;
  char *snapshot;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool done;
  int result;
  size_t ndisks;
  unsigned *tries; /* block commits started, per disk of the record */
  bool *merged;    /* the disk is done: TOP gone, nothing names it */
};

static void
merge_unref (struct merge *m)
{
  bool last;

  pthread_mutex_lock (&m->lock);
  last = --m->refs == 0;
  pthread_mutex_unlock (&m->lock);
  if (!last)
    return;
  vm_unref (m->vm);
  free (m->snapshot);
  free (m->tries);
  free (m->merged);
  pthread_mutex_destroy (&m->lock);
  pthread_cond_destroy (&m->cond);
  free (m);
}

void
merge_wake (void)
{
  SCOPED_LOCK (&workers_lock);
  wakeups++;
  pthread_cond_broadcast (&workers_cond);
}

/* Sleep until a block job event or MERGE_POLL_MS; false when stopping. */
static bool
merge_sleep (void)
{
  struct timespec until;
  SCOPED_LOCK (&workers_lock);
  uint64_t seen = wakeups;

  deadline_ms (&until, CLOCK_REALTIME, MERGE_POLL_MS);
  while (!stopping && wakeups == seen)
    if (pthread_cond_timedwait (&workers_cond, &workers_lock, &until)
        == ETIMEDOUT)
      break;
  return !stopping;
}

static bool
is_stopping (void)
{
  SCOPED_LOCK (&workers_lock);
  return stopping;
}

/* --- the volumes, as the files say ------------------------------------ */

/* Run qemu-img with ARGV; it logs its own failure.  Stopped when the
 * daemon stops (-ESHUTDOWN): a commit is safe to run again, and the
 * record keeps the merge for the next start. */
static int
qemu_img (const struct vs_vm *vm, const char *const argv[])
{
  CLEANUP_FREE char *out = NULL;
  int r = run_capture_until (argv, 65536, QEMU_IMG_TIMEOUT_MS, is_stopping,
                             &out, NULL, NULL);

  if (r == -ECANCELED)
    return -ESHUTDOWN;
  if (r != 0)
    log_error ("VM '%s': the merge's qemu-img %s failed.", vm->name, argv[1]);
  return r == 0 ? 0 : -EIO;
}

/* --- what the VM runs on ------------------------------------------------ */

/* A look at the VM during a merge: its persistent definition, which holds
 * the record, and its disks' chains as they are now. */
struct look
{
  bool running;
  char *xml;           /* the persistent definition */
  struct dom_xml *def; /* parsed; def->meta is the record */
  struct dom_xml *run; /* the live definition while running, with chains */
};

static void
look_clear (struct look *l)
{
  free (l->xml);
  dom_xml_free (l->def);
  dom_xml_free (l->run);
  memset (l, 0, sizeof *l);
}

static const struct dom_disk *
find_disk (const struct dom_xml *dx, const char *target)
{
  for (size_t i = 0; i < dx->ndisks; i++)
    if (strcmp (dx->disks[i].target, target) == 0)
      return &dx->disks[i];
  return NULL;
}

/* The chain of a shut-off VM's disk SRC as the files of host H have it,
 * in DD. */
static int
probe_chain (struct host *h, const struct dom_disk *src, struct dom_disk *dd)
{
  struct chain *c = NULL;
  int r;

  if (src->format == NULL)
    {
      log_error ("Disk '%s' of the VM has no format in its definition: its "
                 "chain is not read.",
                 src->target);
      return -EIO;
    }
  if ((r = host_chain (h, src->source, src->format, true, &c)) < 0)
    return r;
  dd->target = xstrdup (src->target);
  dd->source = xstrdup (src->source);
  dd->format = xstrdup_null (src->format);
  dd->backing = xcalloc (c->n, sizeof *dd->backing);
  for (size_t i = 1; i < c->n; i++)
    dd->backing[dd->nbacking++] = xstrdup (c->images[i].filename);
  chain_free (c);
  return 0;
}

static int
look_at (const struct vs_vm *vm, virDomainPtr dom, struct look *l)
{
  int r;

  memset (l, 0, sizeof *l);
  l->running = virDomainIsActive (dom) == 1;
  if ((r = read_inactive (vm->name, dom, &l->xml, &l->def)) < 0)
    return r;
  if (l->running)
    {
      CLEANUP_FREE char *live = virDomainGetXMLDesc (dom, 0);

      if (live == NULL || dom_xml_parse (live, &l->run) < 0)
        {
          log_error ("VM '%s': cannot read its live definition: %s", vm->name,
                     virt_error ());
          return -EIO;
        }
      return 0;
    }
  /* Shut off: the chains are the files', whatever the XML recorded. */
  l->run = xcalloc (1, sizeof *l->run);
  l->run->disks = xcalloc (l->def->ndisks, sizeof *l->run->disks);
  for (size_t i = 0; i < l->def->ndisks; i++, l->run->ndisks++)
    if ((r = probe_chain (vm->host, &l->def->disks[i], &l->run->disks[i])) < 0)
      return r;
  return 0;
}

/* The disk TARGET with its chain as the VM runs it, or would run it. */
static const struct dom_disk *
look_disk (const struct look *l, const char *target)
{
  return find_disk (l->run, target);
}

static bool
in_chain (const struct dom_disk *dd, const char *path)
{
  if (dd == NULL)
    return false;
  if (strcmp (dd->source, path) == 0)
    return true;
  for (size_t i = 0; i < dd->nbacking; i++)
    if (strcmp (dd->backing[i], path) == 0)
      return true;
  return false;
}

/* --- one disk: the commit phase ------------------------------------------ */

/* Commit MD's top into its base on VM's remote host, where what stands
 * on the top is found by L (helperdom.c). */
static int
commit_remote (const struct vs_vm *vm, const struct look *l,
               const struct merge_disk *md)
{
  size_t nvols, nkids;
  struct vol *vols = known_volumes (vm, l->def, md->target, &nvols);
  struct vol *kids = children_of (vm->host, vols, nvols, md->top, &nkids);
  int r;

  free (vols);
  if (nkids > 1)
    {
      log_error ("VM '%s': %zu volumes stand on '%s'; the merge stops.",
                 vm->name, nkids, md->top);
      free (kids);
      return -EIO;
    }
  r = helper_commit (vm, md, nkids ? kids[0].path : NULL,
                     nkids ? kids[0].format : NULL, merge_bandwidth (),
                     is_stopping);
  free (kids);
  return r;
}

/* Commit MD's top into its base with qemu-img: neither is in use.  On a
 * remote host, in a helper domain there (L says what stands on TOP). */
static int
commit_offline (const struct vs_vm *vm, const struct look *l,
                const struct merge_disk *md)
{
  char rate[32];
  const char *argv[16];
  size_t n = 0;

  if (md->top_format == NULL)
    {
      log_error ("VM '%s': the merge record names no format for '%s': it "
                 "is not read as any.",
                 vm->name, md->top);
      return -EIO;
    }
  if (!host_is_local (vm->host))
    return commit_remote (vm, l, md);
  argv[n++] = "qemu-img";
  argv[n++] = "commit";
  argv[n++] = "-q";
  argv[n++] = "-f";
  argv[n++] = md->top_format;
  argv[n++] = "-t";
  argv[n++] = "none";
  argv[n++] = "-d"; /* TOP is deleted afterwards: don't empty it */
  argv[n++] = "-b";
  argv[n++] = md->base;
  if (merge_bandwidth ())
    {
      snprintf (rate, sizeof rate, "%luM", merge_bandwidth ());
      argv[n++] = "-r";
      argv[n++] = rate;
    }
  argv[n++] = md->top;
  argv[n] = NULL;
  log_info ("VM '%s': committing '%s' into '%s' with qemu-img.", vm->name,
            md->top, md->base);
  return qemu_img (vm, argv);
}

/* Start a block commit of disk I on the running VM; ACTIVE when TOP is the
 * volume the VM writes to. */
static int
commit_live (struct merge *m, virDomainPtr dom, size_t i,
             const struct merge_disk *md, bool active)
{
  unsigned flags = active ? VIR_DOMAIN_BLOCK_COMMIT_ACTIVE : 0;

  if (++m->tries[i] > COMMIT_TRIES)
    {
      log_error ("VM '%s': block commits of disk '%s' ended %u times "
                 "without merging '%s'; giving up.",
                 m->vm->name, md->target, COMMIT_TRIES, md->top);
      return -EIO;
    }
  log_info ("VM '%s': %s commit of '%s' into '%s' on disk '%s'.", m->vm->name,
            active ? "active-layer" : "block", md->top, md->base, md->target);
  if (virDomainBlockCommit (dom, md->target, md->base, md->top,
                            merge_bandwidth (), flags)
      < 0)
    {
      log_error ("VM '%s': cannot start the block commit of disk '%s': %s",
                 m->vm->name, md->target, virt_error ());
      return -virt_errno ();
    }
  return 0;
}

/* Pivot disk DD to the base of its active commit once libvirt says it is
 * ready: the copy caught up, and the mirror ready in the XML.  A pivot
 * refused as not ready is tried again at the next look. */
static void
pivot_when_ready (const struct vs_vm *vm, virDomainPtr dom,
                  const struct dom_disk *dd, const virDomainBlockJobInfo *info)
{
  if (info->type != VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT
      || info->cur != info->end || !dd->mirror_ready)
    return;
  if (virDomainBlockJobAbort (dom, dd->target,
                              VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
      < 0)
    log_info ("VM '%s': the pivot of disk '%s' was refused (%s); trying "
              "again.",
              vm->name, dd->target, virt_error ());
  else
    log_info ("VM '%s': disk '%s' pivoted to '%s'.", vm->name, dd->target,
              dd->backing && dd->nbacking ? dd->backing[0] : "its base");
}

/* MD's top is not in DD's chain: committed live (the VM runs on BASE), or
 * TOP is on a branch the VM does not run, and then neither is in use. */
static int
commit_off_chain (const struct vs_vm *vm, const struct look *l,
                  const struct dom_disk *dd, const struct merge_disk *md)
{
  if (in_chain (dd, md->base))
    return 1;
  return commit_offline (vm, l, md) < 0 ? -EIO : 1;
}

/* Take the commit phase of disk I a step further.  Returns 1 when BASE
 * holds TOP's data and the VM no longer runs on TOP, 0 while a block job
 * runs, or -errno. */
static int
step_commit (struct merge *m, virDomainPtr dom, const struct look *l, size_t i,
             const struct merge_disk *md)
{
  const struct dom_disk *dd = look_disk (l, md->target);
  struct look again = { 0 };
  virDomainBlockJobInfo info;
  int j, r;

  if (!in_chain (dd, md->top))
    return commit_off_chain (m->vm, l, dd, md);
  if (!l->running)
    return commit_offline (m->vm, l, md) < 0 ? -EIO : 1;
  if ((j = virDomainGetBlockJobInfo (dom, md->target, &info, 0)) < 0)
    {
      log_info ("VM '%s': cannot read the block job of disk '%s': %s",
                m->vm->name, md->target, virt_error ());
      return -virt_errno ();
    }
  if (j > 0)
    {
      job_note (m->vm->uuid, md->target, &info, NULL);
      pivot_when_ready (m->vm, dom, dd, &info);
      return 0;
    }
  /* No job: but the look came before the question, and a commit that
   * ended in between has changed the chain since.  Judge from a chain read
   * after the answer; libvirt updates the chain before it drops the job. */
  if ((r = look_at (m->vm, dom, &again)) == 0)
    {
      if (!again.running)
        r = 0; /* stopped meanwhile: the next step sees it shut off */
      else if (!in_chain ((dd = look_disk (&again, md->target)), md->top))
        r = commit_off_chain (m->vm, &again, dd, md);
      else
        r = commit_live (m, dom, i, md, strcmp (dd->source, md->top) == 0);
    }
  look_clear (&again);
  return r;
}

/* --- one disk: the repoint phase ----------------------------------------- */

/* Point disk TARGET of the persistent definition XML at SOURCE, dropping
 * the backing chain it recorded. */
static int
define_disk (const struct vs_vm *vm, const char *xml, const char *target,
             const char *source, const char *format)
{
  const struct disk_change ch = { target, source, format };

  return define_changed (vm, xml, &ch, 1, NULL);
}

/* Point what still stands on MD's top at its base, with metadata-only
 * changes (BASE holds the data already), then delete TOP.  Each step can
 * be done again. */
static int
step_repoint (const struct vs_vm *vm, virDomainPtr dom, struct look *l,
              struct merge_disk *md)
{
  struct vs_meta *rec = &l->def->meta;
  const struct dom_disk *dd = find_disk (l->def, md->target);
  size_t nvols, nkids;
  struct vol *vols = known_volumes (vm, l->def, md->target, &nvols);
  struct vol *kids = children_of (vm->host, vols, nvols, md->top, &nkids);
  int r = 0;

  free (vols);
  if (nkids > 0 && !host_is_local (vm->host))
    {
      /* The helper's commit rewrote the backing file of the one volume on
       * TOP; anything else would need qemu-img on the host. */
      log_error ("VM '%s': '%s' still stands on '%s' on the remote host.",
                 vm->name, kids[0].path, md->top);
      r = -EIO;
    }
  for (size_t k = 0; k < nkids && r == 0; k++)
    {
      const char *argv[]
          = { "qemu-img", "rebase",       "-q",         "-u",
              "-f",       kids[k].format, "-b",         md->base,
              "-F",       md->format,     kids[k].path, NULL };

      log_info ("VM '%s': '%s' now stands on '%s'.", vm->name, kids[k].path,
                md->base);
      r = qemu_img (vm, argv);
    }
  free (kids);
  for (size_t k = 0; k < rec->ndisks && r == 0; k++)
    if (strcmp (rec->disks[k].kept, md->top) == 0)
      {
        free (rec->disks[k].kept);
        rec->disks[k].kept = xstrdup (md->base);
        free (rec->disks[k].format);
        rec->disks[k].format = xstrdup (md->format);
        r = meta_write (vm, dom, rec);
      }
  /* The definition: its disk on BASE, and no recorded chain naming TOP
   * (libvirt would look for TOP when it starts the VM, and an offline
   * snapshot would inherit the chain).  Read again: another disk's step
   * may have defined it since the look (found by the chaos campaign). */
  if (r == 0 && in_chain (dd, md->top))
    {
      CLEANUP_FREE char *xml = NULL;
      struct dom_xml *now = NULL;

      if ((r = read_inactive (vm->name, dom, &xml, &now)) == 0
          && (dd = find_disk (now, md->target)) && in_chain (dd, md->top))
        r = define_disk (
            vm, xml, md->target,
            strcmp (dd->source, md->top) == 0 ? md->base : dd->source,
            strcmp (dd->source, md->top) == 0 ? md->format : dd->format);
      dom_xml_free (now);
    }
  if (r < 0)
    return r;
  if ((r = host_file_unlink (vm->host, md->top)) == 0)
    log_info ("VM '%s': deleted the merged volume '%s'.", vm->name, md->top);
  else if (r != -ENOENT)
    log_warning ("VM '%s': cannot delete '%s': %s", vm->name, md->top,
                 strerror (-r));
  return 0;
}

/* --- the whole merge ------------------------------------------------------
 */

/* The snapshot's metadata, its memory file, then the record. */
static int
finish (const struct vs_vm *vm, virDomainPtr dom, struct vs_meta *rec)
{
  CLEANUP_SNAPSHOT virDomainSnapshotPtr s
      = virDomainSnapshotLookupByName (dom, rec->merge, 0);

  if (s
      && virDomainSnapshotDelete (s, VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
             < 0)
    {
      log_error ("VM '%s': cannot delete the metadata of snapshot '%s': %s",
                 vm->name, rec->merge, virt_error ());
      return -virt_errno ();
    }
  if (rec->merge_memory)
    {
      int e = host_file_unlink (vm->host, rec->merge_memory);

      if (e < 0 && e != -ENOENT)
        log_warning ("VM '%s': cannot delete '%s': %s", vm->name,
                     rec->merge_memory, strerror (-e));
    }
  log_info ("VM '%s': snapshot '%s' deleted.", vm->name, rec->merge);
  free (rec->merge);
  rec->merge = NULL;
  return meta_write (vm, dom, rec);
}

/* Take the merge a step further.  Returns 1 when it is over and the record
 * gone, 0 to look again later, or -errno. */
static int
merge_step (struct merge *m, virDomainPtr dom)
{
  struct look l;
  struct vs_meta *rec;
  bool all = true;
  int r;

  if ((r = look_at (m->vm, dom, &l)) < 0)
    goto out;
  rec = &l.def->meta;
  if (rec->merge == NULL || strcmp (rec->merge, m->snapshot) != 0)
    {
      log_error ("VM '%s': the merge of '%s' is no longer recorded.",
                 m->vm->name, m->snapshot);
      r = -EIO;
      goto out;
    }
  if (m->tries == NULL)
    {
      m->ndisks = rec->nmerge;
      m->tries = xcalloc (m->ndisks, sizeof *m->tries);
      m->merged = xcalloc (m->ndisks, sizeof *m->merged);
    }
  for (size_t i = 0; i < m->ndisks && i < rec->nmerge && r >= 0; i++)
    {
      struct merge_disk *md = &rec->merge_disks[i];

      if (m->merged[i])
        continue;
      if (!md->committed)
        {
          if ((r = step_commit (m, dom, &l, i, md)) != 1)
            {
              all = false;
              continue;
            }
          md->committed = true;
          if ((r = meta_write (m->vm, dom, rec)) < 0)
            break;
        }
      if ((r = step_repoint (m->vm, dom, &l, md)) == 0)
        m->merged[i] = true;
    }
  if (r >= 0 && all)
    r = finish (m->vm, dom, rec) < 0 ? -EIO : 1;
out:
  look_clear (&l);
  return r;
}

/* Mark the record failed: the VM's chain stays whole, the snapshot shows
 * "status: failed", and the next rmdir tries again. */
static void
mark_failed (const struct vs_vm *vm, virDomainPtr dom)
{
  struct vs_meta rec = { 0 };

  if (meta_read (vm, dom, &rec) == 0 && rec.merge)
    {
      rec.merge_failed = true;
      meta_write (vm, dom, &rec);
    }
  vs_meta_clear (&rec);
}

/* Whether VM's libvirt answers: errors while it does not are waited out. */
static bool
connected (const struct vs_vm *vm)
{
  virConnectPtr c = vm_conn (vm);
  bool alive = c && virConnectIsAlive (c) == 1;

  if (c)
    virConnectClose (c);
  return alive;
}

/* Carry M to its end.  Returns 0, -ESHUTDOWN when the daemon stops first
 * (the record stays for the next start), or -errno. */
static int
merge_run (struct merge *m)
{
  unsigned changed = 0;
  bool was_running, gone;
  int r;

  for (;;)
    {
      CLEANUP_DOMAIN virDomainPtr dom = NULL;
      virConnectPtr c = vm_conn (m->vm);

      if (is_stopping ())
        return -ESHUTDOWN;
      if (c == NULL)
        {
          /* libvirtd restarts: the block job goes on in qemu. */
          merge_sleep ();
          continue;
        }
      dom = virDomainLookupByUUIDString (c, m->vm->uuid);
      /* Read before the close, which may reset it. */
      gone = dom == NULL && virGetLastErrorCode () == VIR_ERR_NO_DOMAIN;
      virConnectClose (c);
      if (dom == NULL && !gone)
        {
          /* The connection failed under the call (libvirtd restarting):
           * the VM and its block job are where they were; look again. */
          merge_sleep ();
          continue;
        }
      if (dom == NULL)
        {
          log_error ("VM '%s' is gone; its merge of '%s' ends.", m->vm->name,
                     m->snapshot);
          return -ENOENT;
        }
      was_running = virDomainIsActive (dom) == 1;
      if ((r = merge_step (m, dom)) == 1)
        return 0;
      if (r < 0 && is_stopping ())
        return -ESHUTDOWN; /* not failed: carried on at the next start */
      /* The VM stopped or started under a step ("domain is not running",
       * or qemu gone mid-call): the next look sees it in its new state. */
      if (r < 0 && r != -ENOENT
          && (r == -EBUSY || (virDomainIsActive (dom) == 1) != was_running)
          && ++changed <= STATE_CHANGE_TRIES)
        {
          merge_sleep ();
          continue;
        }
      if (r >= 0)
        changed = 0;
      if (r < 0 && connected (m->vm))
        {
          mark_failed (m->vm, dom);
          return r;
        }
      merge_sleep ();
    }
}

static void *
worker_main (void *arg)
{
  struct merge *m = arg;
  int r = merge_run (m);

  if (r < 0 && r != -ESHUTDOWN)
    log_error ("VM '%s': the merge of snapshot '%s' failed; the snapshot is "
               "kept with status 'failed', and rmdir tries again.",
               m->vm->name, m->snapshot);
  if (r != -ESHUTDOWN)
    host_sync (m->vm, true);
  vm_op_end (m->vm);
  pthread_mutex_lock (&m->lock);
  m->done = true;
  m->result = r;
  pthread_cond_broadcast (&m->cond);
  pthread_mutex_unlock (&m->lock);
  pthread_mutex_lock (&workers_lock);
  for (struct merge **p = &workers; *p; p = &(*p)->next)
    if (*p == m)
      {
        *p = m->next;
        break;
      }
  pthread_cond_broadcast (&workers_cond);
  pthread_mutex_unlock (&workers_lock);
  merge_unref (m);
  return NULL;
}

/* Start a worker carrying the merge recorded for VM, which holds VM's
 * operation lock and drops it when done.  Returns the merge with a
 * reference for the caller, or NULL (the lock dropped). */
struct merge *
merge_start (const struct vs_vm *vm, const char *snapshot)
{
  struct merge *m = xcalloc (1, sizeof *m);
  int e;

  m->refs = 2;
  m->vm = vm_ref ((struct vs_vm *)vm);
  m->snapshot = xstrdup (snapshot);
  pthread_mutex_init (&m->lock, NULL);
  pthread_cond_init (&m->cond, NULL);
  pthread_mutex_lock (&workers_lock);
  m->next = workers;
  workers = m;
  pthread_mutex_unlock (&workers_lock);
  if ((e = worker_start (worker_main, m)) != 0)
    {
      log_error ("VM '%s': cannot start the merge worker: %s", vm->name,
                 strerror (e));
      pthread_mutex_lock (&workers_lock);
      workers = m->next;
      pthread_mutex_unlock (&workers_lock);
      vm_op_end (vm);
      m->refs = 1;
      merge_unref (m);
      return NULL;
    }
  return m;
}

/* The merge under way of snapshot NAME of VM, with a reference, or NULL. */
struct merge *
merge_find (const struct vs_vm *vm, const char *name)
{
  SCOPED_LOCK (&workers_lock);

  for (struct merge *m = workers; m; m = m->next)
    if (strcmp (m->vm->uuid, vm->uuid) == 0 && strcmp (m->snapshot, name) == 0)
      {
        pthread_mutex_lock (&m->lock);
        m->refs++;
        pthread_mutex_unlock (&m->lock);
        return m;
      }
  return NULL;
}

/* Wait for M to end, or for INTERRUPTED to say so (-EINTR); drops the
 * reference. */
int
merge_wait (struct merge *m, bool (*interrupted) (void))
{
  int r;

  pthread_mutex_lock (&m->lock);
  while (!m->done)
    {
      struct timespec until;

      deadline_ms (&until, CLOCK_REALTIME, INTERRUPT_POLL_MS);
      pthread_cond_timedwait (&m->cond, &m->lock, &until);
      if (!m->done && interrupted && interrupted ())
        {
          log_info ("VM '%s': rmdir of '%s' interrupted; the merge goes on.",
                    m->vm->name, m->snapshot);
          break;
        }
    }
  r = !m->done || m->result == -ESHUTDOWN ? -EINTR : m->result;
  pthread_mutex_unlock (&m->lock);
  merge_unref (m);
  if (r == -ENOENT || r == -EINTR || r == -ENOSPC)
    return r;
  return r < 0 ? -EIO : 0;
}

/* --- recovery and stop -----------------------------------------------------
 */

void
merge_recover (const struct vs_host *h)
{

  for (size_t i = 0; i < h->nvms; i++)
    {
      const struct vs_vm *vm = h->vms[i];
      struct merge *m;

      if (vm->merging == NULL || vm->merge_failed)
        continue;
      if (vm_op_begin (vm) < 0)
        {
          log_info ("VM '%s': the merge of snapshot '%s' is another "
                    "vmsnapfs's; left to it.",
                    vm->name, vm->merging);
          continue;
        }
      log_info ("VM '%s': a merge of snapshot '%s' was under way; carrying "
                "it on.",
                vm->name, vm->merging);
      if ((m = merge_start (vm, vm->merging)) != NULL)
        merge_unref (m);
    }
}

void
merge_stop (void)
{
  SCOPED_LOCK (&workers_lock);

  stopping = true;
  pthread_cond_broadcast (&workers_cond);
  while (workers)
    pthread_cond_wait (&workers_cond, &workers_lock);
}
