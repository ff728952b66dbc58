/* vmsnapfs: a host's connection and its events (the threads that use
 * them are host.c's): connecting and reconnecting, libvirt's event
 * callbacks and the watch of snapshot files, which only note the VMs to
 * rebuild and wake the host's refresh thread; the VMs looked at lately;
 * host_sync's wait for a view that shows a change.  A host's lock guards
 * every member of it, held only to read or swap pointers, never across a
 * libvirt call. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "log.h"
#include "util.h"

#include "conn.h"
#include "hostdef.h"
#include "refresh.h"
#include "snapwatch.h"
#include "verbtable.h"

/* --- events ----------------------------------------------------------- */

/* Note UUID for the next refresh; call with H->lock held. */
static void
add_dirty (struct host *h, const char *uuid, bool reread)
{
  for (size_t i = 0; i < h->ndirty; i++)
    if (strcmp (h->dirty[i].uuid, uuid) == 0)
      {
        h->dirty[i].reread |= reread;
        return;
      }
  if (h->ndirty == MAX_DIRTY)
    {
      h->all_dirty = true;
      return;
    }
  strcpy (h->dirty[h->ndirty].uuid, uuid);
  h->dirty[h->ndirty++].reread = reread;
}

static void
mark_dirty (struct host *h, virDomainPtr dom)
{
  char uuid[VIR_UUID_STRING_BUFLEN];
  SCOPED_LOCK (&h->lock);

  if (dom == NULL || virDomainGetUUIDString (dom, uuid) < 0)
    h->all_dirty = true;
  else
    add_dirty (h, uuid, true);
  pthread_cond_signal (&h->cond);
}

void
host_sync (const struct vs_vm *vm, bool reread)
{
  struct host *h = vm->host;
  uint64_t ticket;
  struct timespec until;
  SCOPED_LOCK (&h->lock);

  add_dirty (h, vm->uuid, reread);
  ticket = ++h->sync_asked;
  pthread_cond_signal (&h->cond);
  /* Bounded: a refresh stuck on a libvirtd that does not answer must not
   * hold the FUSE worker that waits here. */
  deadline_ms (&until, CLOCK_REALTIME, HOST_SYNC_WAIT_MS);
  while (h->thread && !h->stop && h->sync_done < ticket)
    if (pthread_cond_timedwait (&h->synced, &h->lock, &until) == ETIMEDOUT)
      {
        log_warning ("VM '%s': the view did not catch up within %d s; it "
                     "will show the change when libvirt answers.",
                     vm->name, HOST_SYNC_WAIT_MS / 1000);
        break;
      }
}

/* Note UUID in R as seen now; call with its host's lock held. */
static void
note_recent (struct recent *r, const char *uuid)
{
  long long now = now_ms ();
  size_t oldest = 0;

  for (size_t i = 0; i < r->n; i++)
    {
      if (strcmp (r->vms[i].uuid, uuid) == 0)
        {
          r->vms[i].at = now;
          return;
        }
      if (r->vms[i].at < r->vms[oldest].at)
        oldest = i;
    }
  if (r->n < MAX_LOOKED)
    {
      r->vms = xrealloc (r->vms, (r->n + 1) * sizeof *r->vms);
      oldest = r->n++;
    }
  strcpy (r->vms[oldest].uuid, uuid);
  r->vms[oldest].at = now;
}

/* The VMs of R noted within HOST_LOOK_MS (malloc'd UUIDs, *N set), the
 * others forgotten. */
static char (*recent_uuids (struct recent *r,
                            size_t *n))[VIR_UUID_STRING_BUFLEN]
{
  long long since = now_ms () - HOST_LOOK_MS;
  char (*uuids)[VIR_UUID_STRING_BUFLEN];
  size_t k = 0;

  for (size_t i = 0; i < r->n; i++)
    if (r->vms[i].at >= since)
      r->vms[k++] = r->vms[i];
  r->n = k;
  uuids = xcalloc (k ? k : 1, sizeof *uuids);
  for (size_t i = 0; i < k; i++)
    strcpy (uuids[i], r->vms[i].uuid);
  *n = k;
  return uuids;
}

/* With the snapshot files watched, a look costs nothing: the watch tells
 * of every change. */
void
vm_looked (const struct vs_vm *vm)
{
  struct host *h = vm->host;

  if (h == NULL || snapwatch_complete (h->watch))
    return;
  SCOPED_LOCK (&h->lock);
  note_recent (&h->looked, vm->uuid);
}

/* Polled: with the snapshot files watched, the VMs whose files changed
 * lately (libvirt writes a file before its own list may show the change:
 * the next polls catch what the first rebuild missed); else the VMs
 * looked at lately.  Call with H->lock held. */
char (*to_poll (struct host *h, size_t *n))[VIR_UUID_STRING_BUFLEN]
{
  if (snapwatch_complete (h->watch))
    {
      h->looked.n = 0;
      return recent_uuids (&h->changed, n);
    }
  return recent_uuids (&h->looked, n);
}

/* The watch saw the snapshot files of VM NAME change (NULL: of any). */
static void
on_snapshot_files (void *opaque, const char *name)
{
  struct host *h = opaque;
  struct vs_host *v = host_get (h);
  const struct vs_vm *vm = name ? host_find_vm (v, name) : NULL;

  log_debug ("Snapshot files of VM '%s' changed.", name ? name : "(any)");
  pthread_mutex_lock (&h->lock);
  if (name == NULL)
    h->all_dirty = true;
  else if (vm)
    {
      add_dirty (h, vm->uuid, true);
      note_recent (&h->changed, vm->uuid);
    }
  /* A VM not in the view yet comes with its own event. */
  pthread_cond_signal (&h->cond);
  pthread_mutex_unlock (&h->lock);
  host_put (v);
}

static void
on_lifecycle (virConnectPtr c, virDomainPtr dom, int event, int detail,
              void *opaque)
{
  struct host *h = opaque;

  (void)c;
  log_debug ("Event: lifecycle %d/%d of VM '%s'.", event, detail,
             virDomainGetName (dom));
  mark_dirty (h, dom);
  if (event == VIR_DOMAIN_EVENT_STOPPED)
    {
      char uuid[VIR_UUID_STRING_BUFLEN];

      if (virDomainGetUUIDString (dom, uuid) == 0)
        verbs_vm_stopped (h, uuid, detail);
    }
}

static void
on_metadata (virConnectPtr c, virDomainPtr dom, int type, const char *ns,
             void *opaque)
{
  (void)c, (void)type, (void)ns;
  mark_dirty (opaque, dom);
}

static void
on_block_job (virConnectPtr c, virDomainPtr dom, const char *disk, int type,
              int status, void *opaque)
{
  (void)c;
  log_debug ("Event: block job %d on '%s' of VM '%s': status %d.", type, disk,
             virDomainGetName (dom), status);
  mark_dirty (opaque, dom);
  verbs_block_job ();
}

static void
on_device (virConnectPtr c, virDomainPtr dom, const char *alias, void *opaque)
{
  (void)c, (void)alias;
  mark_dirty (opaque, dom);
}

static void
on_close (virConnectPtr c, int reason, void *opaque)
{
  struct host *h = opaque;

  (void)c;
  log_warning ("The connection to libvirt at '%s' closed (reason %d).", h->uri,
               reason);
  SCOPED_LOCK (&h->lock);
  h->conn_lost = true;
  pthread_cond_signal (&h->cond);
}

/* Register the event callbacks of H on C; their ids into IDS. */
static void
register_events (struct host *h, virConnectPtr c, int ids[static NCALLBACKS])
{
  static const struct
  {
    int id;
    virConnectDomainEventGenericCallback cb;
  } events[] = {
    { VIR_DOMAIN_EVENT_ID_LIFECYCLE,
      VIR_DOMAIN_EVENT_CALLBACK (on_lifecycle) },
    { VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
      VIR_DOMAIN_EVENT_CALLBACK (on_metadata) },
    { VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2,
      VIR_DOMAIN_EVENT_CALLBACK (on_block_job) },
    { VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
      VIR_DOMAIN_EVENT_CALLBACK (on_device) },
    { VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
      VIR_DOMAIN_EVENT_CALLBACK (on_device) },
  };

  for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
    {
      ids[i] = virConnectDomainEventRegisterAny (c, NULL, events[i].id,
                                                 events[i].cb, h, NULL);
      if (ids[i] < 0)
        log_warning ("Cannot register for libvirt event %d: %s", events[i].id,
                     virt_error ());
    }
  if (virConnectRegisterCloseCallback (c, on_close, h, NULL) < 0)
    log_warning ("Cannot register for the closing of the connection: %s",
                 virt_error ());
  /* Notice a dead libvirtd, or a dead link, even when no call is made;
   * a call that waits on one fails then. */
  virConnectSetKeepAlive (c, HOST_KEEPALIVE_S, HOST_KEEPALIVE_COUNT);
}

/* Deregister C's callbacks, IDS, and close C. */
void
drop_connection (virConnectPtr c, const int ids[static NCALLBACKS])
{
  for (size_t i = 0; i < NCALLBACKS; i++)
    if (ids[i] >= 0)
      virConnectDomainEventDeregisterAny (c, ids[i]);
  virConnectUnregisterCloseCallback (c, on_close);
  virConnectClose (c);
}

/* Note why H cannot be reached, the first time it fails. */
static void
note_down (struct host *h, const char *why)
{
  SCOPED_LOCK (&h->lock);

  if (h->down == NULL)
    h->down_since = time (NULL);
  free (h->down);
  h->down = xstrdup (why);
}

/* Make sure H has a live connection; reconnect when it was lost.  Returns
 * true when connected. */
bool
ensure_connected (struct host *h)
{
  virConnectPtr old = NULL, c;
  int ids[NCALLBACKS], old_ids[NCALLBACKS];
  bool lost;

  pthread_mutex_lock (&h->lock);
  lost = h->conn == NULL || h->conn_lost;
  pthread_mutex_unlock (&h->lock);
  if (!lost && virConnectIsAlive (h->conn) == 1)
    return true;

  c = virConnectOpen (h->uri);
  if (c == NULL)
    {
      note_down (h, virt_error ());
      return false;
    }
  register_events (h, c, ids);
  pthread_mutex_lock (&h->lock);
  old = h->conn;
  /* The old connection's ids go with it: each connection numbers its
   * own callbacks. */
  memcpy (old_ids, h->callbacks, sizeof old_ids);
  memcpy (h->callbacks, ids, sizeof ids);
  h->conn = c;
  h->conn_lost = false;
  h->all_dirty = true;
  free (h->down);
  h->down = NULL;
  pthread_mutex_unlock (&h->lock);
  if (old)
    {
      drop_connection (old, old_ids);
      log_info ("Reconnected to libvirt at '%s'.", h->uri);
    }
  return true;
}

/* Watch H's snapshot files when they are on this machine, before its
 * first view is read: what changes after is seen. */
void
watch_snapshot_files (struct host *h)
{
  char *dir = snapwatch_dir_for (h->uri);

  if (dir)
    h->watch = snapwatch_start (dir, on_snapshot_files, h);
  free (dir);
}
