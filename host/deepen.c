/* vmsnapfs: a VM read whole when someone looks inside it (host_deepen):
 * the top of the tree shows shallow VMs (state and definition only); the
 * first look into one reads its snapshots, in a thread of its own that
 * the lookers share, and swaps the deep VM into the view of the moment
 * (view.c); the next few VMs are read ahead meanwhile, for a walk. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "log.h"
#include "util.h"

#include "build.h"
#include "conn.h"
#include "hostdef.h"

/* How many times host_deepen reads a VM that events keep building anew. */
#define DEEPEN_TRIES 5

/* Read VM whole and swap it into the view (host_deepen's work), on a
 * connection of its own (host_reader_take). */
static int
read_deep (const struct vs_vm *vm, bool ahead)
{
  struct host *hst = vm->host;
  virConnectPtr c = host_reader_take (hst);
  virDomainPtr dom = c ? virDomainLookupByUUIDString (c, vm->uuid) : NULL;
  bool gone = c && dom == NULL && virGetLastErrorCode () == VIR_ERR_NO_DOMAIN;
  int r = -EAGAIN;

  if (dom == NULL)
    {
      log_error ("VM '%s': cannot read its snapshots: %s", vm->name,
                 gone ? "libvirt has it no more"
                 : c  ? virt_error ()
                      : "not connected to libvirt (tried again)");
      host_reader_give (hst, c);
      return gone ? -ENOENT : -EIO;
    }
  /* Swapped into the view of the moment, which may be newer than VM's;
   * read again when the VM was built anew meanwhile (an event). */
  for (int tries = 0; r == -EAGAIN && tries < DEEPEN_TRIES; tries++)
    {
      struct vs_host *at = host_get (hst);
      ssize_t i = vm_index (at, vm->uuid);
      uint64_t since = host_refreshes (hst); /* before the read */
      struct vs_vm *deep;

      if (i < 0 || !at->vms[i]->shallow)
        r = 0; /* gone, or deep already */
      else if ((deep = build_vm_deeper (hst, dom, at->vms[i])) == NULL)
        r = -EIO;
      else
        {
          deep->ahead = ahead;
          deep->deep_since = since;
          r = view_put_deep (hst, at->vms[i], deep);
          vm_unref (deep);
        }
      host_put (at);
    }
  virDomainFree (dom);
  host_reader_give (hst, c);
  if (r == 1)
    log_debug ("VM '%s': read whole%s.", vm->name,
               ahead ? ", ahead of a walk" : "");
  if (r == -EAGAIN)
    log_debug ("VM '%s': changed at each of %d reads of its snapshots; "
               "left to the next.",
               vm->name, DEEPEN_TRIES);
  return r == -EAGAIN || r == 1 ? 0 : r;
}

/* Deepenings under way, one per VM: a thread of its own reads the VM
 * (read_deep), and whoever looks into it meanwhile waits for that read,
 * for HOST_DEEPEN_WAIT_MS at most.  A libvirtd that stops answering holds
 * that thread (until the keepalive closes the connection, or for good when
 * only its workers hang), never the looker: it gets EIO, and a look after
 * the read finds the VM whole.  deepen_lock guards the list; it is held
 * only to look at it, never across a libvirt call. */
struct deepening
{
  struct host *host;
  char uuid[VIR_UUID_STRING_BUFLEN];
  struct vs_vm *vm; /* the shallow VM read, referenced */
  bool ahead;       /* of a walk, nobody waiting */
  int result;
  bool done;
  unsigned refs; /* its thread's and each waiter's */
  struct deepening *next;
};

static pthread_mutex_t deepen_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t deepen_cond = PTHREAD_COND_INITIALIZER;
static struct deepening *deepenings;
static unsigned deepen_threads; /* running (host_stop waits for them) */

/* Drop a reference to D; call with deepen_lock held. */
static void
deepening_put (struct deepening *d)
{
  if (--d->refs > 0)
    return;
  vm_unref (d->vm);
  free (d);
}

static void *
deepen_main (void *arg)
{
  struct deepening *d = arg;
  int r = read_deep (d->vm, d->ahead);
  SCOPED_LOCK (&deepen_lock);

  d->result = r;
  d->done = true;
  for (struct deepening **p = &deepenings; *p; p = &(*p)->next)
    if (*p == d)
      {
        *p = d->next;
        break;
      }
  deepen_threads--;
  pthread_cond_broadcast (&deepen_cond);
  deepening_put (d);
  return NULL;
}

/* The deepening of VM under way, or a new one started (AHEAD of a walk);
 * with a reference for the caller, or NULL when no thread could start.
 * Call with deepen_lock held. */
static struct deepening *
deepening_get (const struct vs_vm *vm, bool ahead)
{
  struct deepening *d;
  pthread_attr_t attr;
  pthread_t t;
  int r;

  for (d = deepenings; d; d = d->next)
    if (d->host == vm->host && strcmp (d->uuid, vm->uuid) == 0)
      {
        d->refs++;
        return d;
      }
  d = xcalloc (1, sizeof *d);
  d->host = vm->host;
  snprintf (d->uuid, sizeof d->uuid, "%s", vm->uuid);
  d->vm = vm_ref ((struct vs_vm *)vm);
  d->ahead = ahead;
  d->refs = 2;
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  r = pthread_create (&t, &attr, deepen_main, d);
  pthread_attr_destroy (&attr);
  if (r != 0)
    {
      vm_unref (d->vm);
      free (d);
      return NULL;
    }
  d->next = deepenings;
  deepenings = d;
  deepen_threads++;
  return d;
}

/* How many VMs after one looked into while shallow are read whole ahead,
 * and how many reads may run at once for that.  A walk of the mount
 * (ls -lR, a backup tool, a file manager's search) goes into the VMs in
 * the top's order, one after the other, and a VM's read is mostly waits
 * for libvirt's answers, one a snapshot: read ahead, the waits of a few
 * VMs overlap, and the walk finds them whole.  A look into one VM costs
 * the read of DEEPEN_AHEAD more. */
#define DEEPEN_AHEAD 2
#define DEEPEN_AT_ONCE (DEEPEN_AHEAD + 2)

/* Start the reads of the DEEPEN_AHEAD VMs after VM, in the view's (name)
 * order, that are shallow and not read yet, unless DEEPEN_AT_ONCE reads
 * run already. */
static void
read_ahead (const struct vs_vm *vm)
{
  struct vs_host *at = host_get (vm->host);
  struct vs_vm *next[DEEPEN_AHEAD];
  ssize_t i = vm_slot (at, vm->name);
  size_t n = 0;

  for (size_t k = (size_t)i + 1; i >= 0 && k < at->nvms && n < DEEPEN_AHEAD;
       k++)
    if (at->vms[k]->shallow)
      next[n++] = vm_ref (at->vms[k]);
  host_put (at);
  pthread_mutex_lock (&deepen_lock);
  for (size_t k = 0; k < n; k++)
    {
      struct deepening *d;

      if (deepen_threads < DEEPEN_AT_ONCE
          && (d = deepening_get (next[k], true)))
        deepening_put (d); /* its thread holds it */
      vm_unref (next[k]);
    }
  pthread_mutex_unlock (&deepen_lock);
}

int
host_deepen (const struct vs_vm *vm)
{
  struct deepening *d;
  struct timespec until;
  bool done;
  int r;

  pthread_mutex_lock (&deepen_lock);
  d = deepening_get (vm, false);
  pthread_mutex_unlock (&deepen_lock);
  if (d == NULL)
    return read_deep (vm, false); /* no thread: in the caller's */
  read_ahead (vm);                /* while VM's read runs */
  pthread_mutex_lock (&deepen_lock);
  deadline_ms (&until, CLOCK_REALTIME, HOST_DEEPEN_WAIT_MS);
  while (!d->done
         && pthread_cond_timedwait (&deepen_cond, &deepen_lock, &until)
                != ETIMEDOUT)
    ;
  done = d->done;
  r = done ? d->result : -EIO;
  deepening_put (d);
  pthread_mutex_unlock (&deepen_lock);
  if (!done)
    log_error ("VM '%s': libvirt did not give its snapshots within %d s: "
               "EIO (they are read on, and show once it answers).",
               vm->name, HOST_DEEPEN_WAIT_MS / 1000);
  return r;
}

void
host_walk_on (struct vs_vm *vm)
{
  /* Read first: every look into a VM comes here, and most find none. */
  if (__atomic_load_n (&vm->ahead, __ATOMIC_RELAXED)
      && __atomic_exchange_n (&vm->ahead, false, __ATOMIC_RELAXED))
    read_ahead (vm);
}

void
host_deepen_wait (void)
{
  SCOPED_LOCK (&deepen_lock);

  while (deepen_threads > 0)
    pthread_cond_wait (&deepen_cond, &deepen_lock);
}
