/* vmsnapfs: stateless VMs (`ln -sfn snapshots/NAME VM/stateless`).
 *
 * A stateless VM begins every run at snapshot NAME, as oVirt's stateless
 * VMs and pools do.  It is built from revert: making a VM stateless
 * reverts it to NAME (its disks on new, empty volumes over NAME's frozen
 * ones, "resume NAME" where NAME has memory) and records NAME in the VM's
 * metadata (<vmsnapfs:stateless snapshot=NAME/>); each time the VM stops,
 * it is reverted to NAME again, which drops the volumes that run wrote
 * (but those a snapshot taken during the run stands on).  So whatever
 * starts it next (a start through VM/state restores NAME's memory; virsh
 * boots from NAME's disks) starts at NAME.
 *
 * The stops are seen in libvirt's lifecycle events; a stop the daemon did
 * not see (it was not running) is made good when it starts: every
 * stateless VM found shut off is reverted again, unless it is where the
 * last revert left it.  A revert records a stamp of the volumes it made
 * (their inodes, sizes and times: a run that writes changes them), and a
 * VM whose volumes still have it, with its memory restore still pending,
 * is left alone.  So is a stop that every vmsnapfs of the host sees: the
 * first to take the VM's lock reverts it, the others find it done.
 *
 * Only a stop that ends a run (a shutdown, a destroy, a crash, a failure
 * of qemu) re-arms the VM.  A save (managed or to a file) and a migration
 * stop it too, but its run goes on later, or elsewhere, on the volumes it
 * has now: those stops, by the event's detail or by the reason libvirt
 * gives a VM found shut off, leave it as it is, and so does a managed
 * save image (revert.c refuses with it).  A revert by libvirt to one of
 * its snapshots is not the end of a run either; vmsnapfs's own revert
 * needs the VM shut off and defines it anew, which stops nothing: no
 * re-arm follows from a re-arm.  Which stops end a run, and the stamp,
 * are runs.c's.
 *
 * Crash model: the record names the snapshot (<vmsnapfs:stateless>) and
 * the stamp of the last revert.  A re-arm's revert writes both with the
 * disks; `ln -sfn ... stateless` writes the name after its revert, so a
 * daemon killed between the two leaves the VM reverted, not stateless.  A
 * stop no daemon saw is made good by the next daemon: every stateless VM
 * it finds shut off is queued (stateless_recover) and reverted unless its
 * volumes still have the stamp.  See doc/DESIGN.md, Crash models.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/build.h"
#include "host/conn.h"
#include "host/ops.h"
#include "host/refresh.h"
#include "host/vmop.h"

#include "snapshot/hooks.h"
#include "snapshot/revert.h"
#include "snapshot/runs.h"
#include "snapshot/shared.h"

/* How long a revert waits for the VM's other operation to end, and how
 * often it asks again. */
#define REARM_TRIES 100
#define REARM_RETRY_MS 300

static int
set_stateless (struct vs_meta *m, const char *snap)
{
  free (m->stateless);
  m->stateless = snap ? xstrdup (snap) : NULL;
  return 0;
}

int
host_stateless_set (const struct vs_vm *vm, const char *snap)
{
  int r;

  if ((r = clone_job_check (vm, "it cannot be made stateless")) < 0)
    return r;
  if (vm->preview)
    {
      log_error ("VM '%s': snapshot '%s' is being previewed; undo or commit "
                 "that first.",
                 vm->name, vm->preview);
      return -EBUSY;
    }
  if ((r = host_activate (vm, snap)) < 0)
    return r;
  if ((r = meta_update (vm, set_stateless, snap)) == 0)
    {
      log_info ("VM '%s': stateless: every start begins at snapshot '%s'.",
                vm->name, snap);
      host_sync (vm, false);
    }
  return r;
}

int
host_stateless_clear (const struct vs_vm *vm)
{
  CLEANUP_DOMAIN virDomainPtr dom = NULL;
  int r, state, reason;

  if (vm->stateless == NULL)
    return -ENOENT;
  if ((r = lookup_domain (vm, &dom)) < 0)
    return r;
  if (virDomainGetState (dom, &state, &reason, 0) < 0)
    return -EIO;
  if (state != VIR_DOMAIN_SHUTOFF)
    {
      log_error ("VM '%s': it is %s; stateless ends with the VM shut off.",
                 vm->name, domain_state_word (state));
      return -EBUSY;
    }
  if ((r = meta_update (vm, set_stateless, NULL)) == 0)
    {
      log_info ("VM '%s': no longer stateless; it stays at '%s'.", vm->name,
                vm->stateless);
      host_sync (vm, false);
    }
  return r;
}

/* --- after each run ------------------------------------------------------ */

struct rearm
{
  struct rearm *next;
  struct host *host;
  char uuid[VIR_UUID_STRING_BUFLEN];
  int detail; /* the stop's (virDomainEventStoppedDetailType), or -1 */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct rearm *queue;
static bool stopping, running;
static pthread_t thread;

/* Whether VM UUID of H runs (or cannot be asked). */
static bool
is_running (struct host *h, const char *uuid)
{
  virConnectPtr c = host_conn (h);
  virDomainPtr d;
  bool active = false;

  if (c == NULL)
    return false;
  if ((d = virDomainLookupByUUIDString (c, uuid)) != NULL)
    {
      active = virDomainIsActive (d) != 0;
      virDomainFree (d);
    }
  virConnectClose (c);
  return active;
}

/* VM UUID of view H, or NULL. */
static const struct vs_vm *
find_vm (const struct vs_host *h, const char *uuid)
{
  ssize_t i = vm_index (h, uuid);

  return i < 0 ? NULL : h->vms[i];
}

/* Revert the stateless VM UUID of HOST to its snapshot, if it is one and
 * is shut off; another operation under way is waited for.  Returns whether
 * it is done (or not needed). */
static bool
rearm (struct host *host, const char *uuid, int detail)
{
  struct vs_host *h = host_get (host);
  const struct vs_vm *vm = find_vm (h, uuid);
  bool done = true;

  if (detail >= 0 && !stop_ends_run (detail))
    {
      if (vm && vm->stateless)
        log_info ("VM '%s': stateless: it stopped %s, which does not end "
                  "its run; left as it is.",
                  vm->name, stop_cause (stop_reason (detail)));
      host_put (h);
      return true;
    }
  /* Its snapshots are needed: a VM nobody looked at yet (as each one is
   * when the daemon starts) is read whole first. */
  if (vm && vm->stateless && vm->shallow)
    {
      int r = host_deepen (vm);

      host_put (h);
      h = host_get (host);
      vm = r == 0 ? find_vm (h, uuid) : NULL;
    }
  if (vm && vm->stateless)
    {
      int r = host_rearm (vm);

      if (r == 0)
        log_info ("VM '%s': stateless: back at snapshot '%s' for its next "
                  "start.",
                  vm->name, vm->stateless);
      else if (r == 1)
        log_info ("VM '%s': stateless: at snapshot '%s' already (no run "
                  "since its last revert, or another vmsnapfs reverted it).",
                  vm->name, vm->stateless);
      else if (r == -EBUSY)
        done = false; /* running again, or another operation: later */
      /* r == 2: saved, or migrated: left as it is (logged). */
    }
  host_put (h);
  return done;
}

static void *
rearm_main (void *arg)
{
  (void)arg;
  pthread_mutex_lock (&lock);
  while (!stopping)
    {
      struct rearm *q = queue;
      struct timespec until;

      if (q == NULL)
        {
          pthread_cond_wait (&cond, &lock);
          continue;
        }
      queue = q->next;
      pthread_mutex_unlock (&lock);
      for (int i = 0;
           i < REARM_TRIES && !rearm (q->host, q->uuid, q->detail); i++)
        {
          pthread_mutex_lock (&lock);
          deadline_ms (&until, CLOCK_REALTIME, REARM_RETRY_MS);
          if (!stopping)
            pthread_cond_timedwait (&cond, &lock, &until);
          pthread_mutex_unlock (&lock);
          if (is_running (q->host, q->uuid))
            break; /* started again: its next stop comes here again */
        }
      free (q);
      pthread_mutex_lock (&lock);
    }
  pthread_mutex_unlock (&lock);
  return NULL;
}

void
stateless_stopped (struct host *h, const char *uuid, int detail)
{
  struct rearm *q = xcalloc (1, sizeof *q);
  SCOPED_LOCK (&lock);

  q->host = h;
  q->detail = detail;
  snprintf (q->uuid, sizeof q->uuid, "%s", uuid);
  q->next = queue;
  queue = q;
  pthread_cond_signal (&cond);
}

void
stateless_start (void)
{
  pthread_mutex_lock (&lock);
  stopping = false;
  running = pthread_create (&thread, NULL, rearm_main, NULL) == 0;
  pthread_mutex_unlock (&lock);
  if (!running)
    log_error ("Cannot start the thread of stateless VMs.");
}

void
stateless_recover (const struct vs_host *h)
{
  /* Stops while the daemon was away. */
  for (size_t i = 0; i < h->nvms; i++)
    if (h->vms[i]->stateless && strcmp (h->vms[i]->state, "shut_off") == 0)
      stateless_stopped (h->host, h->vms[i]->uuid, -1);
}

void
stateless_stop (void)
{
  pthread_mutex_lock (&lock);
  stopping = true;
  pthread_cond_broadcast (&cond);
  pthread_mutex_unlock (&lock);
  if (running)
    pthread_join (thread, NULL);
  running = false;
  while (queue)
    {
      struct rearm *q = queue;

      queue = q->next;
      free (q);
    }
}
