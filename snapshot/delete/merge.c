/* vmsnapfs: rmdir of a snapshot, by merge: the workers (merge-step.c
 * takes each step).
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
 * A worker thread carries the merge, so an interrupted rmdir returns EINTR
 * while the merge goes on.
 *
 * Crash model (vdsm's live merge): delete.c writes the merge in the VM's
 * record (<vmsnapfs:merge>) before the first step, each disk in its
 * phase, and each step can be done again:
 *
 *   commit    TOP's data is going into BASE (BASE is written by nothing
 *             else while TOP stands on it);
 *   repoint   BASE holds TOP's data and the chain no longer has TOP: what
 *             still names TOP is pointed at BASE (metadata only), then
 *             TOP is deleted.
 *
 * A phase ends when the chain says so (libvirt's live XML, or qemu-img on
 * the files), never on an event or a return code alone; the record is
 * written as each commit phase ends.  Then the snapshot's metadata and
 * memory file go, and the record last.  The next daemon finds the record
 * and carries the merge to its end (merge_recover).  A merge that fails
 * leaves the chain whole and the record marked failed: "status: failed",
 * and the next rmdir tries again.  See doc/DESIGN.md, Crash models.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "log.h"
#include "merge.h"
#include "util.h"
#include "virxml.h"

#include "host/conn.h"
#include "host/refresh.h"
#include "host/vmop.h"

#include "snapshot/delete.h"
#include "snapshot/hooks.h"
#include "snapshot/shared.h"

/* How long a worker waits for a block job event before it looks anyway. */
#define MERGE_POLL_MS 500
/* How often a waiting rmdir checks whether it was interrupted. */
#define INTERRUPT_POLL_MS 100
/* How many steps in a row may fail on the VM's state changing under them
 * before the merge is given up. */
#define STATE_CHANGE_TRIES 20

/* The merges under way, for wake-ups, for an rmdir of a snapshot that is
 * merging already, and for a clean stop. */
static pthread_mutex_t workers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t workers_cond = PTHREAD_COND_INITIALIZER;
static struct merge *workers;
static bool stopping;
static uint64_t wakeups;

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
  m->stop = is_stopping;
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

/* Which merge VM's record names now, read under VM's operation lock: the
 * view VM comes from was read before the lock, and the daemon that held
 * the lock may have ended that merge meanwhile, marked it failed (the
 * next rmdir tries it again), begun another (carried on here), or the VM
 * been undefined.  The merge to carry on (malloc'd), or NULL for none;
 * when the record cannot be read (libvirtd restarting), the view's, as
 * merge_run waits for libvirt and checks the record at each step. */
static char *
merge_recorded (const struct vs_vm *vm)
{
  CLEANUP_DOMAIN virDomainPtr dom = NULL;
  struct vs_meta rec = { 0 };
  char *name = NULL;
  int r;

  if ((r = lookup_domain (vm, &dom)) == -ENOENT)
    return NULL; /* undefined meanwhile */
  if (r < 0 || meta_read (vm, dom, &rec) < 0)
    name = xstrdup (vm->merging);
  else if (rec.merge && !rec.merge_failed)
    {
      name = rec.merge;
      rec.merge = NULL;
    }
  vs_meta_clear (&rec);
  return name;
}

void
merge_recover (const struct vs_host *h)
{
  for (size_t i = 0; i < h->nvms; i++)
    {
      const struct vs_vm *vm = h->vms[i];
      struct merge *m;
      char *name;

      if (vm->merging == NULL || vm->merge_failed)
        continue;
      if (vm_op_begin (vm) < 0)
        {
          log_info ("VM '%s': the merge of snapshot '%s' is another "
                    "vmsnapfs's; left to it.",
                    vm->name, vm->merging);
          continue;
        }
      if ((name = merge_recorded (vm)) == NULL)
        {
          log_info ("VM '%s': the merge of snapshot '%s' is no longer under "
                    "way (another vmsnapfs ended it meanwhile, or marked it "
                    "failed); nothing to carry on.",
                    vm->name, vm->merging);
          vm_op_end (vm);
          host_sync (vm, true);
          continue;
        }
      log_info ("VM '%s': a merge of snapshot '%s' was under way; carrying "
                "it on.",
                vm->name, name);
      if ((m = merge_start (vm, name)) != NULL)
        merge_unref (m);
      free (name);
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
