/* vmsnapfs: the libvirt connection, its events, and the thread that keeps
 * the published view of the host up to date.
 *
 * Threads:
 *   - the event thread runs libvirt's default event loop.  Its callbacks
 *     only note which VM changed and wake the refresh thread.
 *   - the refresh thread builds new views: at once for a VM an event named,
 *     and every HOST_POLL_MS it compares each VM's snapshot fingerprint
 *     (libvirt has no event for snapshots made or deleted by others).  It
 *     also reconnects when the connection drops (libvirtd restarted).
 *   - FUSE threads only take a reference to the view (host_get), and ask
 *     libvirt for block jobs when the jobs file is opened.
 *
 * H.lock guards every member of H.  It is held only to read or swap
 * pointers, never across a libvirt call.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "internal.h"
#include "log.h"
#include "util.h"

/* Most VMs named by events between two refreshes; more means "all". */
#define MAX_DIRTY 64
/* Event callbacks registered on a connection. */
#define NCALLBACKS 5

/* A VM to rebuild.  REREAD: read the XML of every snapshot again (a change
 * from outside); otherwise only new snapshots are read (after an
 * operation of vmsnapfs, which changes no other snapshot's XML). */
struct dirty
{
  char uuid[VIR_UUID_STRING_BUFLEN];
  bool reread;
};

static struct
{
  pthread_mutex_t lock;
  pthread_cond_t cond;
  char *uri;
  virConnectPtr conn;   /* NULL while disconnected */
  bool conn_lost;       /* the close callback fired */
  struct vs_host *view; /* the published view */
  struct dirty dirty[MAX_DIRTY];
  size_t ndirty;
  bool all_dirty;
  uint64_t sync_asked; /* host_sync tickets handed out */
  uint64_t sync_done;  /* tickets served by a published view */
  pthread_cond_t synced;
  bool stop;
  bool threads;
  pthread_t event_thread, refresh_thread;
  int callbacks[NCALLBACKS]; /* the connection's event callback ids */
} H = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void
quiet_error (void *opaque, virErrorPtr err)
{
  (void)opaque;
  (void)err; /* each caller logs libvirt's errors where it has context */
}

static void
virt_init_once (void)
{
  virInitialize ();
  virSetErrorFunc (NULL, quiet_error);
  virEventRegisterDefaultImpl ();
}

static void
virt_init (void)
{
  static pthread_once_t once = PTHREAD_ONCE_INIT;

  pthread_once (&once, virt_init_once);
}

int
host_check_uri (const char *uri)
{
  virConnectPtr c;

  virt_init ();
  c = virConnectOpen (uri);
  if (c == NULL)
    {
      fprintf (stderr, "vmsnapfs: cannot connect to libvirt at '%s': %s\n",
               uri, virt_error ());
      return -1;
    }
  virConnectClose (c);
  return 0;
}

/* --- events ----------------------------------------------------------- */

/* Note UUID for the next refresh; call with H.lock held. */
static void
add_dirty (const char *uuid, bool reread)
{
  for (size_t i = 0; i < H.ndirty; i++)
    if (strcmp (H.dirty[i].uuid, uuid) == 0)
      {
        H.dirty[i].reread |= reread;
        return;
      }
  if (H.ndirty == MAX_DIRTY)
    {
      H.all_dirty = true;
      return;
    }
  strcpy (H.dirty[H.ndirty].uuid, uuid);
  H.dirty[H.ndirty++].reread = reread;
}

static void
mark_dirty (virDomainPtr dom)
{
  char uuid[VIR_UUID_STRING_BUFLEN];
  SCOPED_LOCK (&H.lock);

  if (dom == NULL || virDomainGetUUIDString (dom, uuid) < 0)
    H.all_dirty = true;
  else
    add_dirty (uuid, true);
  pthread_cond_signal (&H.cond);
}

void
host_sync (const struct vs_vm *vm, bool reread)
{
  uint64_t ticket;
  struct timespec until;
  SCOPED_LOCK (&H.lock);

  add_dirty (vm->uuid, reread);
  ticket = ++H.sync_asked;
  pthread_cond_signal (&H.cond);
  /* Bounded: a refresh stuck on a libvirtd that does not answer must not
   * hold the FUSE worker that waits here. */
  deadline_ms (&until, CLOCK_REALTIME, HOST_SYNC_WAIT_MS);
  while (H.threads && !H.stop && H.sync_done < ticket)
    if (pthread_cond_timedwait (&H.synced, &H.lock, &until) == ETIMEDOUT)
      {
        log_warning ("VM '%s': the view did not catch up within %d s; it "
                     "will show the change when libvirt answers.",
                     vm->name, HOST_SYNC_WAIT_MS / 1000);
        break;
      }
}

static void
on_lifecycle (virConnectPtr c, virDomainPtr dom, int event, int detail,
              void *opaque)
{
  (void)c, (void)opaque;
  log_debug ("Event: lifecycle %d/%d of VM '%s'.", event, detail,
             virDomainGetName (dom));
  mark_dirty (dom);
  if (event == VIR_DOMAIN_EVENT_STOPPED)
    {
      char uuid[VIR_UUID_STRING_BUFLEN];

      if (virDomainGetUUIDString (dom, uuid) == 0)
        stateless_stopped (uuid);
    }
}

static void
on_metadata (virConnectPtr c, virDomainPtr dom, int type, const char *ns,
             void *opaque)
{
  (void)c, (void)type, (void)ns, (void)opaque;
  mark_dirty (dom);
}

static void
on_block_job (virConnectPtr c, virDomainPtr dom, const char *disk, int type,
              int status, void *opaque)
{
  (void)c, (void)opaque;
  log_debug ("Event: block job %d on '%s' of VM '%s': status %d.", type, disk,
             virDomainGetName (dom), status);
  mark_dirty (dom);
  merge_wake ();
}

static void
on_device (virConnectPtr c, virDomainPtr dom, const char *alias, void *opaque)
{
  (void)c, (void)alias, (void)opaque;
  mark_dirty (dom);
}

static void
on_close (virConnectPtr c, int reason, void *opaque)
{
  (void)c, (void)opaque;
  log_warning ("The connection to libvirt closed (reason %d).", reason);
  SCOPED_LOCK (&H.lock);
  H.conn_lost = true;
  pthread_cond_signal (&H.cond);
}

/* Register the event callbacks on C; their ids into IDS. */
static void
register_events (virConnectPtr c, int ids[static NCALLBACKS])
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
                                                 events[i].cb, NULL, NULL);
      if (ids[i] < 0)
        log_warning ("Cannot register for libvirt event %d: %s", events[i].id,
                     virt_error ());
    }
  if (virConnectRegisterCloseCallback (c, on_close, NULL, NULL) < 0)
    log_warning ("Cannot register for the closing of the connection: %s",
                 virt_error ());
  /* Notice a dead libvirtd within 15 s even when no call is made. */
  virConnectSetKeepAlive (c, 5, 3);
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

virConnectPtr
host_conn (void)
{
  SCOPED_LOCK (&H.lock);

  if (H.conn && !H.conn_lost)
    {
      virConnectRef (H.conn);
      return H.conn;
    }
  return NULL;
}

/* Make sure there is a live connection; reconnect when it was lost.
 * Returns true when connected. */
static bool
ensure_connected (void)
{
  virConnectPtr old = NULL, c;
  int ids[NCALLBACKS], old_ids[NCALLBACKS];
  bool lost;

  pthread_mutex_lock (&H.lock);
  lost = H.conn == NULL || H.conn_lost;
  pthread_mutex_unlock (&H.lock);
  if (!lost && virConnectIsAlive (H.conn) == 1)
    return true;

  c = virConnectOpen (H.uri);
  if (c == NULL)
    return false;
  register_events (c, ids);
  pthread_mutex_lock (&H.lock);
  old = H.conn;
  /* The old connection's ids go with it: each connection numbers its
   * own callbacks. */
  memcpy (old_ids, H.callbacks, sizeof old_ids);
  memcpy (H.callbacks, ids, sizeof ids);
  H.conn = c;
  H.conn_lost = false;
  H.all_dirty = true;
  pthread_mutex_unlock (&H.lock);
  if (old)
    {
      drop_connection (old, old_ids);
      log_info ("Reconnected to libvirt at '%s'.", H.uri);
    }
  return true;
}

/* --- the view --------------------------------------------------------- */

struct vs_host *
host_get (void)
{
  SCOPED_LOCK (&H.lock);

  __atomic_add_fetch (&H.view->refs, 1, __ATOMIC_RELAXED);
  return H.view;
}

void
host_put (struct vs_host *h)
{
  host_unref (h);
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

/* Decide whether OLD, the view of DOM, still holds; two round trips. */
static bool
still_current (virDomainPtr dom, const struct vs_vm *old)
{
  int state, reason;

  return virDomainGetState (dom, &state, &reason, 0) == 0
         && strcmp (domain_state_word (state), old->state) == 0
         && snapshot_fingerprint (dom) == old->snap_fingerprint;
}

/* Build a new view from libvirt, reusing what has not changed, and publish
 * it when it differs.  DIRTY names the VMs to rebuild in full. */
static void
refresh (bool all, const struct dirty *dirty, size_t ndirty)
{
  virConnectPtr c = host_conn ();
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
      log_error ("Cannot list the VMs: %s", virt_error ());
      return;
    }

  old = host_get ();
  h = xcalloc (1, sizeof *h);
  h->refs = 1;
  h->vms = xcalloc (n, sizeof *h->vms);
  for (int i = 0; i < n; i++)
    {
      char uuid[VIR_UUID_STRING_BUFLEN] = "";
      const struct vs_vm *prev
          = host_find_vm (old, virDomainGetName (doms[i]));
      const struct dirty *d;
      struct vs_vm *vm = NULL;

      virDomainGetUUIDString (doms[i], uuid);
      if (prev && strcmp (prev->uuid, uuid) != 0)
        prev = NULL; /* the same name, another VM */
      d = find_dirty (uuid, dirty, ndirty);
      if (prev && !all && !d && still_current (doms[i], prev))
        vm = vm_ref ((struct vs_vm *)prev);
      else if ((vm = build_vm (doms[i], prev, all || !d || d->reread)) == NULL
               && prev)
        vm = vm_ref ((struct vs_vm *)prev); /* keep the last good view */
      if (vm)
        h->vms[h->nvms++] = vm;
      virDomainFree (doms[i]);
    }
  free (doms);
  qsort (h->vms, h->nvms, sizeof *h->vms, compare_vms);

  changed = h->nvms != old->nvms;
  for (size_t i = 0; !changed && i < h->nvms; i++)
    changed = h->vms[i] != old->vms[i];
  host_put (old);
  if (!changed)
    {
      host_unref (h);
      return;
    }
  h->mtime = time (NULL);
  pthread_mutex_lock (&H.lock);
  old = H.view;
  H.view = h;
  pthread_mutex_unlock (&H.lock);
  host_unref (old);
  log_debug ("Published a new view: %zu VMs.", h->nvms);
}

/* --- threads ---------------------------------------------------------- */

static void *
event_main (void *arg)
{
  (void)arg;
  while (!__atomic_load_n (&H.stop, __ATOMIC_ACQUIRE))
    if (virEventRunDefaultImpl () < 0)
      log_error ("The libvirt event loop failed: %s", virt_error ());
  return NULL;
}

static void *
refresh_main (void *arg)
{
  struct dirty dirty[MAX_DIRTY];
  bool was_connected = true;

  (void)arg;
  pthread_mutex_lock (&H.lock);
  while (!H.stop)
    {
      struct timespec until;
      size_t ndirty;
      uint64_t serving;
      bool all, connected;

      deadline_ms (&until, CLOCK_MONOTONIC, HOST_POLL_MS);
      while (!H.stop && !H.all_dirty && H.ndirty == 0 && !H.conn_lost
             && H.sync_asked == H.sync_done
             && pthread_cond_timedwait (&H.cond, &H.lock, &until) == 0)
        ;
      if (H.stop)
        break;
      serving = H.sync_asked;
      all = H.all_dirty;
      ndirty = H.ndirty;
      memcpy (dirty, H.dirty, ndirty * sizeof dirty[0]);
      H.all_dirty = false;
      H.ndirty = 0;
      pthread_mutex_unlock (&H.lock);

      connected = ensure_connected ();
      if (connected != was_connected)
        {
          if (!connected)
            log_warning ("libvirt at '%s' does not answer; the tree shows "
                         "the last state seen until it does.",
                         H.uri);
          was_connected = connected;
        }
      if (connected)
        refresh (all, dirty, ndirty);

      pthread_mutex_lock (&H.lock);
      H.sync_done = serving;
      pthread_cond_broadcast (&H.synced);
    }
  pthread_cond_broadcast (&H.synced);
  pthread_mutex_unlock (&H.lock);
  return NULL;
}

static void
wake_event_loop (int timer, void *opaque)
{
  (void)opaque;
  virEventRemoveTimeout (timer);
}

bool
host_is_local (void)
{
  const char *rest = H.uri ? strstr (H.uri, "://") : NULL;

  /* "qemu:///system": no host between "//" and the path. */
  return rest && rest[3] == '/';
}

int
host_start (const char *uri)
{
  pthread_condattr_t attr;

  virt_init ();
  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  pthread_cond_init (&H.cond, &attr);
  pthread_condattr_destroy (&attr);
  pthread_cond_init (&H.synced, NULL);
  memset (H.callbacks, -1, sizeof H.callbacks);

  H.uri = xstrdup (uri);
  H.view = xcalloc (1, sizeof *H.view);
  H.view->refs = 1;
  H.view->mtime = time (NULL);
  if (!ensure_connected ())
    {
      log_error ("Cannot connect to libvirt at '%s': %s", uri, virt_error ());
      return -1;
    }
  refresh (true, NULL, 0);

  if (pthread_create (&H.event_thread, NULL, event_main, NULL) != 0
      || pthread_create (&H.refresh_thread, NULL, refresh_main, NULL) != 0)
    {
      log_error ("Cannot start the libvirt threads.");
      return -1;
    }
  H.threads = true;
  merge_recover ();
  rename_recover ();
  clone_recover ();
  branch_recover ();
  stateless_start ();
  return 0;
}

void
host_stop (void)
{
  stateless_stop ();
  merge_stop ();
  clone_stop ();
  pthread_mutex_lock (&H.lock);
  H.stop = true;
  pthread_cond_signal (&H.cond);
  pthread_mutex_unlock (&H.lock);
  if (H.threads)
    {
      __atomic_store_n (&H.stop, true, __ATOMIC_RELEASE);
      virEventAddTimeout (0, wake_event_loop, NULL, NULL);
      pthread_join (H.refresh_thread, NULL);
      pthread_join (H.event_thread, NULL);
      H.threads = false;
    }
  if (H.conn)
    drop_connection (H.conn, H.callbacks);
  H.conn = NULL;
  host_unref (H.view);
  H.view = NULL;
  free (H.uri);
  H.uri = NULL;
}
