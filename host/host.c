/* vmsnapfs: the libvirt connections, their events, and the threads that
 * keep the published view of each host up to date.
 *
 * One struct host per connection (one per -o uri).  Threads:
 *   - one event thread runs libvirt's default event loop for every
 *     connection.  Its callbacks only note which VM changed and wake that
 *     host's refresh thread.
 *   - each host has a refresh thread, so that a slow or dead host never
 *     delays another: it builds new views at once for a VM an event named,
 *     and every HOST_POLL_MS compares the snapshot fingerprint of the VMs
 *     looked at lately (libvirt has no event for snapshots made or deleted
 *     by others).  It also connects, and reconnects with backoff when the
 *     connection drops (libvirtd restarted, the link gone: keepalive
 *     notices).
 *   - a host on this machine has its snapshot files watched (snapwatch.c):
 *     its thread names the VMs whose snapshots changed, as events do, and
 *     only those are polled, for a few seconds after.
 *   - FUSE threads only take references to the views (fleet_get), and ask
 *     libvirt for block jobs when the jobs file is opened.
 *
 * A host's lock guards every member of it.  It is held only to read or
 * swap pointers, never across a libvirt call.
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
static void
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
static bool
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

/* --- threads ---------------------------------------------------------- */

static void *
event_main (void *arg)
{
  (void)arg;
  while (!__atomic_load_n (&fleet_state.stop, __ATOMIC_ACQUIRE))
    if (virEventRunDefaultImpl () < 0)
      log_error ("The libvirt event loop failed: %s", virt_error ());
  return NULL;
}

/* Carry on the operations a previous daemon left under way on H's VMs,
 * once: at the start for a host that answers then, else by a thread of
 * its own after its first connection (they wait for the refresh
 * thread). */
static void *
recover_main (void *arg)
{
  struct host *h = arg;
  struct vs_host *v = host_get (h);

  verbs_recover (h, v);
  host_put (v);
  return NULL;
}

static void
start_recovery (struct host *h)
{
  if (h->recovered)
    return;
  h->recovered = true;
  h->recovering
      = pthread_create (&h->recover_thread, NULL, recover_main, h) == 0;
  if (!h->recovering)
    log_error ("Cannot start the recovery of '%s'.", h->name);
}

static void *
refresh_main (void *arg)
{
  struct host *h = arg;
  struct dirty dirty[MAX_DIRTY];
  char (*looked)[VIR_UUID_STRING_BUFLEN] = NULL;
  size_t nlooked = 0;
  bool was_connected = true;
  unsigned wait_ms = HOST_POLL_MS;

  pthread_mutex_lock (&h->lock);
  while (!h->stop)
    {
      struct timespec until;
      size_t ndirty;
      uint64_t serving;
      bool all, connected;

      deadline_ms (&until, CLOCK_MONOTONIC, wait_ms);
      while (!h->stop && !h->all_dirty && h->ndirty == 0 && !h->conn_lost
             && h->sync_asked == h->sync_done
             && pthread_cond_timedwait (&h->cond, &h->lock, &until) == 0)
        ;
      if (h->stop)
        break;
      serving = h->sync_asked;
      all = h->all_dirty;
      ndirty = h->ndirty;
      memcpy (dirty, h->dirty, ndirty * sizeof dirty[0]);
      h->all_dirty = false;
      h->ndirty = 0;
      free (looked);
      looked = to_poll (h, &nlooked);
      pthread_mutex_unlock (&h->lock);

      connected = ensure_connected (h);
      if (connected != was_connected)
        {
          if (!connected)
            {
              log_warning ("libvirt at '%s' does not answer (%s); trying "
                           "again.",
                           h->uri, h->down);
              publish_down (h);
            }
          else
            log_info ("Host '%s' answers again.", h->name);
          was_connected = connected;
        }
      /* Back off while it does not answer: from the first wait to the
       * most, so that it is seen within that once back. */
      if (connected)
        h->backoff_ms = 0;
      else
        h->backoff_ms = h->backoff_ms == 0 ? RECONNECT_FIRST_MS
                        : h->backoff_ms * 2 > RECONNECT_MAX_MS
                            ? RECONNECT_MAX_MS
                            : h->backoff_ms * 2;
      wait_ms = connected ? HOST_POLL_MS : h->backoff_ms;
      if (connected)
        {
          if (all)
            refresh (h);
          else
            refresh_some (h, dirty, ndirty, looked, nlooked);
          start_recovery (h);
        }

      pthread_mutex_lock (&h->lock);
      h->sync_done = serving;
      pthread_cond_broadcast (&h->synced);
    }
  pthread_cond_broadcast (&h->synced);
  pthread_mutex_unlock (&h->lock);
  free (looked);
  return NULL;
}

static void
wake_event_loop (int timer, void *opaque)
{
  (void)opaque;
  virEventRemoveTimeout (timer);
}

/* A name for the host of URI when it does not answer: its address. */
static char *
name_from_uri (const char *uri)
{
  const char *p = strstr (uri, "://");
  size_t len;

  if (p == NULL || p[3] == '/')
    return xstrdup ("localhost");
  p += 3;
  if (strchr (p, '@') && strchr (p, '@') < strchr (p, '/'))
    p = strchr (p, '@') + 1;
  len = strcspn (p, "/?");
  return len ? xasprintf ("%.*s", (int)len, p) : xstrdup ("localhost");
}

/* The directory name of H: NAME when given, else libvirt's host name, else
 * the URI's address; one already taken gets "-2", "-3"... */
static char *
choose_name (const char *given, virConnectPtr c, const char *uri, size_t nth)
{
  char *base = given ? xstrdup (given) : NULL, *name;

  if (base == NULL && c)
    base = virConnectGetHostname (c);
  if (base == NULL)
    base = name_from_uri (uri);
  for (char *q = base; *q; q++)
    if (*q == '/')
      *q = '_';
  name = xstrdup (base);
  for (int k = 2;; k++)
    {
      bool taken = false;

      for (size_t i = 0; i < nth; i++)
        taken |= strcmp (fleet_state.hosts[i]->name, name) == 0;
      if (!taken)
        break;
      free (name);
      name = xasprintf ("%s-%d", base, k);
    }
  free (base);
  return name;
}

static struct host *
host_new (const char *given, const char *uri, size_t nth)
{
  struct host *h = xcalloc (1, sizeof *h);
  pthread_condattr_t attr;

  pthread_mutex_init (&h->lock, NULL);
  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  pthread_cond_init (&h->cond, &attr);
  pthread_condattr_destroy (&attr);
  pthread_cond_init (&h->synced, NULL);
  memset (h->callbacks, -1, sizeof h->callbacks);
  h->uri = xstrdup (uri);
  ensure_connected (h);
  h->name = choose_name (given, h->conn, uri, nth);
  h->view = new_view (h);
  return h;
}

/* Watch H's snapshot files when they are on this machine, before its
 * first view is read: what changes after is seen. */
static void
watch_snapshot_files (struct host *h)
{
  char *dir = snapwatch_dir_for (h->uri);

  if (dir)
    h->watch = snapwatch_start (dir, on_snapshot_files, h);
  free (dir);
}

int
host_start (const char *const *names, const char *const *uris, size_t n)
{
  virt_init ();
  fleet_state.n = n;
  fleet_state.several = n > 1;
  fleet_state.hosts = xcalloc (n, sizeof *fleet_state.hosts);
  for (size_t i = 0; i < n; i++)
    {
      struct host *h = fleet_state.hosts[i] = host_new (names[i], uris[i], i);

      if (h->conn == NULL && !fleet_state.several)
        {
          log_error ("Cannot connect to libvirt at '%s': %s", uris[i],
                     h->down);
          return -1;
        }
      watch_snapshot_files (h);
      if (h->conn)
        refresh (h);
      else
        log_warning ("Host '%s' (%s) does not answer: %s.  It shows as "
                     "unreachable and is tried again.",
                     h->name, h->uri, h->down);
      if (fleet_state.several)
        log_info ("Host '%s': %s.", h->name, h->uri);
    }

  if (pthread_create (&fleet_state.event_thread, NULL, event_main, NULL) != 0)
    {
      log_error ("Cannot start the libvirt event thread.");
      return -1;
    }
  fleet_state.events = true;
  verbs_start ();
  for (size_t i = 0; i < n; i++)
    {
      struct host *h = fleet_state.hosts[i];

      h->recovered = h->conn != NULL; /* here, below */
      if (pthread_create (&h->refresh_thread, NULL, refresh_main, h) != 0)
        {
          log_error ("Cannot start the refresh thread of '%s'.", h->name);
          return -1;
        }
      h->thread = true;
    }
  /* The hosts that answer now: their operations under way are carried on
   * before the mount serves anything, as a daemon that restarts finds
   * them; a host that answers later, by its refresh thread. */
  for (size_t i = 0; i < n; i++)
    if (fleet_state.hosts[i]->conn)
      recover_main (fleet_state.hosts[i]);
  return 0;
}

static void
host_free (struct host *h)
{
  if (h->recovering)
    pthread_join (h->recover_thread, NULL);
  if (h->conn)
    drop_connection (h->conn, h->callbacks);
  host_unref (h->view);
  free (h->looked.vms);
  free (h->changed.vms);
  free (h->down);
  free (h->name);
  free (h->uri);
  pthread_cond_destroy (&h->cond);
  pthread_cond_destroy (&h->synced);
  pthread_mutex_destroy (&h->lock);
  free (h);
}

void
host_stop (void)
{
  host_deepen_wait ();
  verbs_stop ();
  for (size_t i = 0; i < fleet_state.n; i++)
    {
      struct host *h = fleet_state.hosts[i];

      pthread_mutex_lock (&h->lock);
      h->stop = true;
      pthread_cond_broadcast (&h->cond);
      pthread_cond_broadcast (&h->synced);
      pthread_mutex_unlock (&h->lock);
      if (h->thread)
        pthread_join (h->refresh_thread, NULL);
      h->thread = false;
      snapwatch_stop (h->watch);
      h->watch = NULL;
    }
  if (fleet_state.events)
    {
      __atomic_store_n (&fleet_state.stop, true, __ATOMIC_RELEASE);
      virEventAddTimeout (0, wake_event_loop, NULL, NULL);
      pthread_join (fleet_state.event_thread, NULL);
      fleet_state.events = false;
    }
  for (size_t i = 0; i < fleet_state.n; i++)
    host_free (fleet_state.hosts[i]);
  free (fleet_state.hosts);
  fleet_state.hosts = NULL;
  fleet_state.n = 0;
}
