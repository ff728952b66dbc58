/* vmsnapfs: the views of a host: built from libvirt, reusing what has not
 * changed, and published in one pointer swap (see host.c for the threads
 * that call this).
 */
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
#include "helperdom.h"
#include "hostdef.h"
#include "vmop.h"

/* --- the view --------------------------------------------------------- */

/* How many times host_deepen reads a VM that events keep building anew. */
#define DEEPEN_TRIES 5

struct vs_host *
host_get (struct host *h)
{
  SCOPED_LOCK (&h->lock);

  __atomic_add_fetch (&h->view->refs, 1, __ATOMIC_RELAXED);
  return h->view;
}

void
host_put (struct vs_host *h)
{
  host_unref (h);
}

struct vs_fleet *
fleet_get (void)
{
  struct vs_fleet *f
      = xmalloc (sizeof *f + fleet_state.n * sizeof f->hosts[0]);

  f->nhosts = fleet_state.n;
  for (size_t i = 0; i < fleet_state.n; i++)
    f->hosts[i] = host_get (fleet_state.hosts[i]);
  return f;
}

void
fleet_put (struct vs_fleet *f)
{
  if (f == NULL)
    return;
  for (size_t i = 0; i < f->nhosts; i++)
    host_put (f->hosts[i]);
  free (f);
}

static int
compare_vms (const void *a, const void *b)
{
  return strcmp ((*(struct vs_vm *const *)a)->name,
                 (*(struct vs_vm *const *)b)->name);
}

static const struct dirty *
find_dirty (const char *uuid, const struct dirty *dirty, size_t ndirty)
{
  for (size_t i = 0; i < ndirty; i++)
    if (strcmp (dirty[i].uuid, uuid) == 0)
      return &dirty[i];
  return NULL;
}

/* Decide whether OLD, the view of DOM, still holds as far as no event
 * tells: its snapshot names and current snapshot, two round trips (its
 * state comes by lifecycle events).  A shallow view holds no snapshots. */
static bool
still_current (virDomainPtr dom, const struct vs_vm *old)
{
  return old->shallow || snapshot_fingerprint (dom) == old->snap_fingerprint;
}

/* Whether a rebuild of PREV reads its snapshots: when PREV did. */
static bool
keep_deep (const struct vs_vm *prev)
{
  return prev && !prev->shallow;
}

ssize_t
vm_index (const struct vs_host *h, const char *uuid)
{
  for (size_t i = 0; i < h->nvms; i++)
    if (strcmp (h->vms[i]->uuid, uuid) == 0)
      return (ssize_t)i;
  return -1;
}

/* Render H's status file into V. */
static void
render_status (struct host *h, struct vs_host *v)
{
  char since[32] = "";
  struct tm tm;

  pthread_mutex_lock (&h->lock);
  if (h->down)
    {
      gmtime_r (&h->down_since, &tm);
      strftime (since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
      v->status = xasprintf ("uri: %s\nstate: unreachable\nsince: %s\n"
                             "error: %s\n",
                             h->uri, since, h->down);
    }
  else
    v->status = xasprintf ("uri: %s\nstate: connected\n", h->uri);
  pthread_mutex_unlock (&h->lock);
  v->status_len = strlen (v->status);
  v->reachable = h->down == NULL;
}

/* Who is told of VMs whose view changed (host_on_vm_change). */
static void (*vm_change_fn) (const char *host, const char *vm);

void
host_on_vm_change (void (*fn) (const char *host, const char *vm))
{
  vm_change_fn = fn;
}

/* Tell of each VM of OLD that V, which replaces it, has not as it was:
 * changed (another vs_vm), renamed, or gone.  Both are sorted by name. */
static void
tell_changes (const struct vs_host *old, const struct vs_host *v)
{
  const char *host = fleet_state.several ? v->name : NULL;
  size_t j = 0;

  if (vm_change_fn == NULL || old == NULL)
    return;
  for (size_t i = 0; i < old->nvms; i++)
    {
      int c = 1;

      while (j < v->nvms
             && (c = strcmp (v->vms[j]->name, old->vms[i]->name)) < 0)
        j++;
      if (c != 0 || v->vms[j] != old->vms[i])
        vm_change_fn (host, old->vms[i]->name);
    }
}

/* A new, empty view of H, as yet unpublished. */
struct vs_host *
new_view (struct host *h)
{
  struct vs_host *v = xcalloc (1, sizeof *v);

  v->refs = 1;
  v->host = h;
  v->name = h->name;
  v->ino = hash_strings ("host", h->name, NULL);
  v->mtime = time (NULL);
  render_status (h, v);
  return v;
}

/* One more reference to V, which the publisher holds while it tells of
 * the changes: once published, a newer view (a VM read whole by another
 * thread) may replace it and drop the view's own. */
static void
held (struct vs_host *v)
{
  __atomic_add_fetch (&v->refs, 1, __ATOMIC_RELAXED);
}

/* Publish V as H's view. */
static void
publish (struct host *h, struct vs_host *v)
{
  struct vs_host *old;

  pthread_mutex_lock (&h->lock);
  old = h->view;
  h->view = v;
  held (v);
  pthread_mutex_unlock (&h->lock);
  tell_changes (old, v);
  host_unref (v);
  host_unref (old);
}

size_t
view_keep_deep (const struct vs_host *base, const struct vs_host *cur,
                struct vs_host *v)
{
  size_t n = 0;

  for (size_t i = 0; i < v->nvms; i++)
    {
      struct vs_vm *vm = v->vms[i];
      ssize_t b = vm->shallow ? vm_index (base, vm->uuid) : -1;
      ssize_t j = b >= 0 && base->vms[b] == vm ? vm_index (cur, vm->uuid) : -1;

      if (j >= 0 && !cur->vms[j]->shallow
          && strcmp (cur->vms[j]->name, vm->name) == 0)
        {
          v->vms[i] = vm_ref (cur->vms[j]);
          vm_unref (vm);
          n++;
        }
    }
  return n;
}

/* Publish V, built from BASE, as H's view.  A VM host_deepen published
 * meanwhile stays deep where V took it from BASE (view_keep_deep). */
static void
publish_from (struct host *h, const struct vs_host *base, struct vs_host *v)
{
  struct vs_host *old;

  pthread_mutex_lock (&h->lock);
  old = h->view;
  if (old != base)
    view_keep_deep (base, old, v);
  h->view = v;
  held (v);
  pthread_mutex_unlock (&h->lock);
  tell_changes (old, v);
  host_unref (v);
  host_unref (old);
}

int
view_put_deep (struct host *hst, const struct vs_vm *seen, struct vs_vm *deep)
{
  for (;;)
    {
      struct vs_host *old = host_get (hst), *v;
      ssize_t i = vm_index (old, deep->uuid);

      if (i < 0 || !old->vms[i]->shallow || old->vms[i] != seen)
        {
          bool changed = i >= 0 && old->vms[i]->shallow;

          host_put (old); /* gone, deep already, or built anew */
          return changed ? -EAGAIN : 0;
        }
      v = new_view (hst);
      v->vms = xcalloc (old->nvms, sizeof *v->vms);
      for (size_t k = 0; k < old->nvms; k++)
        v->vms[v->nvms++] = vm_ref (k == (size_t)i ? deep : old->vms[k]);
      pthread_mutex_lock (&hst->lock);
      if (hst->view == old)
        {
          hst->view = v;
          pthread_mutex_unlock (&hst->lock);
          host_unref (old); /* the view's */
          host_put (old);
          return 0;
        }
      pthread_mutex_unlock (&hst->lock);
      host_unref (v);
      host_put (old);
    }
}

/* Read VM whole and swap it into the view (host_deepen's work). */
static int
read_deep (const struct vs_vm *vm)
{
  struct host *hst = vm->host;
  virConnectPtr c = vm_conn (vm);
  virDomainPtr dom = c ? virDomainLookupByUUIDString (c, vm->uuid) : NULL;
  /* Read before the close, which resets it. */
  bool gone = c && dom == NULL && virGetLastErrorCode () == VIR_ERR_NO_DOMAIN;
  int r = -EAGAIN;

  if (dom == NULL)
    log_error ("VM '%s': cannot read its snapshots: %s", vm->name,
               gone ? "libvirt has it no more"
               : c  ? virt_error ()
                    : "not connected to libvirt (tried again)");
  if (c)
    virConnectClose (c);
  if (dom == NULL)
    return gone ? -ENOENT : -EIO;
  /* Swapped into the view of the moment, which may be newer than VM's;
   * read again when the VM was built anew meanwhile (an event). */
  for (int tries = 0; r == -EAGAIN && tries < DEEPEN_TRIES; tries++)
    {
      struct vs_host *at = host_get (hst);
      ssize_t i = vm_index (at, vm->uuid);
      struct vs_vm *deep;

      if (i < 0 || !at->vms[i]->shallow)
        r = 0; /* gone, or deep already */
      else if ((deep = build_vm (hst, dom, at->vms[i], false, true)) == NULL)
        r = -EIO;
      else
        {
          r = view_put_deep (hst, at->vms[i], deep);
          vm_unref (deep);
        }
      host_put (at);
    }
  virDomainFree (dom);
  if (r == -EAGAIN)
    log_debug ("VM '%s': changed at each of %d reads of its snapshots; "
               "left to the next.",
               vm->name, DEEPEN_TRIES);
  return r == -EAGAIN ? 0 : r;
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
  int r = read_deep (d->vm);
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

/* The deepening of VM under way, or a new one started; with a reference
 * for the caller, or NULL when no thread could start.  Call with
 * deepen_lock held. */
static struct deepening *
deepening_get (const struct vs_vm *vm)
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

int
host_deepen (const struct vs_vm *vm)
{
  struct deepening *d;
  struct timespec until;
  bool done;
  int r;

  pthread_mutex_lock (&deepen_lock);
  if ((d = deepening_get (vm)) == NULL)
    {
      pthread_mutex_unlock (&deepen_lock);
      return read_deep (vm); /* no thread: in the caller's */
    }
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
host_deepen_wait (void)
{
  SCOPED_LOCK (&deepen_lock);

  while (deepen_threads > 0)
    pthread_cond_wait (&deepen_cond, &deepen_lock);
}

/* Build a new view of H from libvirt, every VM read again (at the start,
 * at a reconnection, after lost events), each as deep as it was, and
 * publish it when it differs. */
void
refresh (struct host *hst)
{
  virConnectPtr c = host_conn (hst);
  virDomainPtr *doms = NULL;
  struct vs_host *old, *h;
  bool changed;
  int n;

  if (c == NULL)
    return;
  n = virConnectListAllDomains (c, &doms, 0);
  virConnectClose (c);
  if (n < 0)
    {
      log_error ("Cannot list the VMs of '%s': %s", hst->name, virt_error ());
      return;
    }

  old = host_get (hst);
  h = new_view (hst);
  h->vms = xcalloc (n, sizeof *h->vms);
  for (int i = 0; i < n; i++)
    {
      char uuid[VIR_UUID_STRING_BUFLEN] = "";
      const struct vs_vm *prev
          = host_find_vm (old, virDomainGetName (doms[i]));
      struct vs_vm *vm;

      virDomainGetUUIDString (doms[i], uuid);
      if (strncmp (virDomainGetName (doms[i]), HELPER_PREFIX,
                   strlen (HELPER_PREFIX))
          == 0)
        {
          virDomainFree (doms[i]);
          continue; /* a merge's helper (helperdom.c) */
        }
      if (prev && strcmp (prev->uuid, uuid) != 0)
        prev = NULL; /* the same name, another VM */
      if ((vm = build_vm (hst, doms[i], prev, true, keep_deep (prev))) == NULL
          && prev)
        vm = vm_ref ((struct vs_vm *)prev); /* keep the last good view */
      if (vm)
        h->vms[h->nvms++] = vm;
      virDomainFree (doms[i]);
    }
  free (doms);
  qsort (h->vms, h->nvms, sizeof *h->vms, compare_vms);

  changed = h->nvms != old->nvms || h->reachable != old->reachable;
  for (size_t i = 0; !changed && i < h->nvms; i++)
    changed = h->vms[i] != old->vms[i];
  host_put (old);
  if (!changed)
    {
      host_unref (h);
      return;
    }
  log_debug ("Publishing a new view of '%s': %zu VMs.", hst->name, h->nvms);
  publish (hst, h);
}

/* Take VM UUID of the new view H a step: rebuilt (REBUILD, reading every
 * snapshot's XML again with REREAD), or checked (two round trips) and
 * rebuilt when it changed; removed when libvirt has it no more, added when
 * new.  The check is not made while an operation of vmsnapfs is under way
 * on the VM (its end rebuilds it): libvirt may keep the VM locked
 * meanwhile (a snapshot of a VM whose qemu hangs), and every other VM
 * would wait.  Returns whether H changed. */
static bool
update_vm (struct host *hst, virConnectPtr c, struct vs_host *h,
           const char *uuid, bool rebuild, bool reread)
{
  ssize_t i = vm_index (h, uuid);
  const struct vs_vm *prev = i >= 0 ? h->vms[i] : NULL;
  struct vs_vm *vm = NULL;
  virDomainPtr dom;

  if (!rebuild && prev && vm_op_busy (prev))
    return false;
  if ((dom = virDomainLookupByUUIDString (c, uuid)) == NULL)
    {
      if (virGetLastErrorCode () != VIR_ERR_NO_DOMAIN || i < 0)
        return false;
      vm_unref (h->vms[i]);
      memmove (&h->vms[i], &h->vms[i + 1],
               (h->nvms - (size_t)i - 1) * sizeof *h->vms);
      h->nvms--;
      return true;
    }
  if (strncmp (virDomainGetName (dom), HELPER_PREFIX, strlen (HELPER_PREFIX))
          == 0
      || (!rebuild && prev && strcmp (prev->name, virDomainGetName (dom)) == 0
          && still_current (dom, prev)))
    {
      virDomainFree (dom);
      return false;
    }
  vm = build_vm (hst, dom, prev, rebuild ? reread : true, keep_deep (prev));
  virDomainFree (dom);
  if (vm == NULL)
    return false; /* the last good view stays */
  if (i >= 0)
    {
      vm_unref (h->vms[i]);
      h->vms[i] = vm;
    }
  else
    h->vms[h->nvms++] = vm;
  return true;
}

/* Bring H's view up to date without asking libvirt about every VM: the
 * VMs DIRTY names (an event) are rebuilt, those LOOKED names (someone
 * looked inside them lately) checked, and the others kept as they are:
 * nothing is asked of libvirt for a VM nobody looks at and no event
 * names. */
void
refresh_some (struct host *hst, const struct dirty *dirty, size_t ndirty,
              char (*looked)[VIR_UUID_STRING_BUFLEN], size_t nlooked)
{
  virConnectPtr c;
  struct vs_host *old, *h;
  bool changed = false;

  if ((ndirty == 0 && nlooked == 0) || (c = host_conn (hst)) == NULL)
    return;
  old = host_get (hst);
  h = new_view (hst);
  h->vms = xcalloc (old->nvms + ndirty + 1, sizeof *h->vms);
  for (size_t i = 0; i < old->nvms; i++)
    h->vms[h->nvms++] = vm_ref (old->vms[i]);
  for (size_t i = 0; i < ndirty; i++)
    changed |= update_vm (hst, c, h, dirty[i].uuid, true, dirty[i].reread);
  for (size_t i = 0; i < nlooked; i++)
    if (find_dirty (looked[i], dirty, ndirty) == NULL)
      changed |= update_vm (hst, c, h, looked[i], false, false);
  virConnectClose (c);
  if (!changed)
    {
      host_unref (h);
      host_put (old);
      return;
    }
  qsort (h->vms, h->nvms, sizeof *h->vms, compare_vms);
  log_debug ("Publishing a new view of '%s': %zu VMs.", hst->name, h->nvms);
  publish_from (hst, old, h);
  host_put (old);
}

/* Publish H as unreachable: with several hosts, an empty directory with
 * its status; with one, the last state seen stays, with its status. */
void
publish_down (struct host *h)
{
  struct vs_host *old = host_get (h), *v = new_view (h);

  if (!fleet_state.several && old->nvms > 0)
    {
      v->vms = xcalloc (old->nvms, sizeof *v->vms);
      for (size_t i = 0; i < old->nvms; i++)
        v->vms[v->nvms++] = vm_ref (old->vms[i]);
    }
  host_put (old);
  publish (h, v);
}
