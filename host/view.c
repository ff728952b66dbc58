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
  v->reachable = h->down == NULL;
  pthread_mutex_unlock (&h->lock);
  v->status_len = strlen (v->status);
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

size_t
view_keep_read_since (const struct vs_host *cur, struct vs_host *v,
                      uint64_t since)
{
  size_t n = 0;

  for (size_t i = 0; i < v->nvms; i++)
    {
      struct vs_vm *vm = v->vms[i];
      const struct vs_vm *now
          = vm->shallow ? host_find_vm (cur, vm->name) : NULL;

      if (now && !now->shallow && now->deep_since >= since
          && strcmp (now->uuid, vm->uuid) == 0
          && now->def_hash == vm->def_hash)
        {
          v->vms[i] = vm_ref ((struct vs_vm *)now);
          vm_unref (vm);
          n++;
        }
    }
  return n;
}

uint64_t
host_refreshes (struct host *h)
{
  return __atomic_load_n (&h->refreshes, __ATOMIC_ACQUIRE);
}

/* Publish V, built from BASE, as H's view.  A VM host_deepen published
 * meanwhile stays deep where V took it from BASE (view_keep_deep).  With
 * no BASE, V read every VM from libvirt: a VM read whole since SINCE (full
 * refreshes begun) stays so where V has it as that read did
 * (view_keep_read_since); with SINCE 0 too (a host down), V as it is. */
static void
publish (struct host *h, const struct vs_host *base, uint64_t since,
         struct vs_host *v)
{
  struct vs_host *old;

  pthread_mutex_lock (&h->lock);
  old = h->view;
  if (base && old != base)
    view_keep_deep (base, old, v);
  else if (base == NULL && since > 0)
    view_keep_read_since (old, v, since);
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
          return 1;
        }
      pthread_mutex_unlock (&hst->lock);
      host_unref (v);
      host_put (old);
    }
}

/* Build a new view of H from libvirt, every VM read again (at the start,
 * at a reconnection, after lost events), each as deep as it was, and
 * publish it when it differs. */
bool
refresh (struct host *hst)
{
  virConnectPtr c = host_conn (hst);
  virDomainPtr *doms = NULL;
  struct vs_host *old, *h;
  uint64_t since;
  bool changed;
  int n;

  if (c == NULL)
    return false;
  /* Reads of VMs whole that begin from now on see what this one does. */
  since = __atomic_add_fetch (&hst->refreshes, 1, __ATOMIC_ACQ_REL);
  n = virConnectListAllDomains (c, &doms, 0);
  virConnectClose (c);
  if (n < 0)
    {
      log_error ("Cannot list the VMs of '%s': %s", hst->name, virt_error ());
      return false;
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
      return true;
    }
  log_debug ("Publishing a new view of '%s', every VM read again: %zu VMs.",
             hst->name, h->nvms);
  publish (hst, NULL, since, h);
  return true;
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
  log_debug ("VM '%s': built anew (%s).", vm->name,
             rebuild ? "an event" : "its snapshots changed");
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
  size_t changed = 0;

  if ((ndirty == 0 && nlooked == 0) || (c = host_conn (hst)) == NULL)
    return;
  old = host_get (hst);
  h = new_view (hst);
  h->vms = xcalloc (old->nvms + ndirty + 1, sizeof *h->vms);
  for (size_t i = 0; i < old->nvms; i++)
    h->vms[h->nvms++] = vm_ref (old->vms[i]);
  for (size_t i = 0; i < ndirty; i++)
    changed += update_vm (hst, c, h, dirty[i].uuid, true, dirty[i].reread);
  for (size_t i = 0; i < nlooked; i++)
    if (find_dirty (looked[i], dirty, ndirty) == NULL)
      changed += update_vm (hst, c, h, looked[i], false, false);
  virConnectClose (c);
  if (!changed)
    {
      host_unref (h);
      host_put (old);
      return;
    }
  qsort (h->vms, h->nvms, sizeof *h->vms, compare_vms);
  log_debug ("Publishing a new view of '%s', %zu VMs changed or new: %zu VMs.",
             hst->name, changed, h->nvms);
  publish (hst, old, 0, h);
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
  publish (h, NULL, 0, v);
}
