/* vmsnapfs: the libvirt connections, their events, and the threads that
 * keep the published view of each host up to date.
 *
 * One struct host per connection (one per -o uri).  Threads:
 *   - one event thread runs libvirt's default event loop for every
 *     connection.  Its callbacks only note which VM changed and wake that
 *     host's refresh thread.
 *   - each host has a refresh thread, so that a slow or dead host never
 *     delays another: it builds new views at once for a VM an event named,
 *     and every HOST_POLL_MS compares each VM's snapshot fingerprint
 *     (libvirt has no event for snapshots made or deleted by others).  It
 *     also connects, and reconnects with backoff when the connection drops
 *     (libvirtd restarted, the link gone: keepalive notices).
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
#include "internal.h"
#include "log.h"
#include "util.h"

/* Most VMs named by events between two refreshes; more means "all". */
#define MAX_DIRTY 64
/* Event callbacks registered on a connection. */
#define NCALLBACKS 5
/* The wait before connecting again to a host that did not answer: doubled
 * each time up to the most, so that a host back is seen within that. */
#define RECONNECT_FIRST_MS 500
#define RECONNECT_MAX_MS 4000

/* A VM to rebuild.  REREAD: read the XML of every snapshot again (a change
 * from outside); otherwise only new snapshots are read (after an
 * operation of vmsnapfs, which changes no other snapshot's XML). */
struct dirty
{
  char uuid[VIR_UUID_STRING_BUFLEN];
  bool reread;
};

struct host
{
  pthread_mutex_t lock;
  pthread_cond_t cond;
  char *name;
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
  bool thread;
  pthread_t refresh_thread;
  int callbacks[NCALLBACKS]; /* the connection's event callback ids */
  /* Connecting: the last failure (malloc'd) and since when; the wait
   * before the next try. */
  char *down;
  time_t down_since;
  unsigned backoff_ms;
  /* The recovery of operations under way (merges, renames, clones) runs
   * once, after the first connection. */
  bool recovered;
  bool recovering;
  pthread_t recover_thread;
};

static struct
{
  size_t n;
  struct host **hosts;
  bool several; /* the top level is one directory per host */
  bool events;
  bool stop;
  pthread_t event_thread;
} F;

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
        stateless_stopped (h, uuid);
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
  merge_wake ();
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
  /* Notice a dead libvirtd, or a dead link, within 15 s even when no call
   * is made. */
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
host_conn (struct host *h)
{
  SCOPED_LOCK (&h->lock);

  if (h->conn && !h->conn_lost)
    {
      virConnectRef (h->conn);
      return h->conn;
    }
  return NULL;
}

virConnectPtr
vm_conn (const struct vs_vm *vm)
{
  return host_conn (vm->host);
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
  struct vs_fleet *f = xmalloc (sizeof *f + F.n * sizeof f->hosts[0]);

  f->nhosts = F.n;
  for (size_t i = 0; i < F.n; i++)
    f->hosts[i] = host_get (F.hosts[i]);
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

bool
host_several (void)
{
  return F.several;
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

/* A new, empty view of H, as yet unpublished. */
static struct vs_host *
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

/* Publish V as H's view. */
static void
publish (struct host *h, struct vs_host *v)
{
  struct vs_host *old;

  pthread_mutex_lock (&h->lock);
  old = h->view;
  h->view = v;
  pthread_mutex_unlock (&h->lock);
  host_unref (old);
}

/* Build a new view of H from libvirt, reusing what has not changed, and
 * publish it when it differs.  DIRTY names the VMs to rebuild in full. */
static void
refresh (struct host *hst, bool all, const struct dirty *dirty, size_t ndirty)
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
      const struct dirty *d;
      struct vs_vm *vm = NULL;

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
      d = find_dirty (uuid, dirty, ndirty);
      if (prev && !all && !d && still_current (doms[i], prev))
        vm = vm_ref ((struct vs_vm *)prev);
      else if ((vm = build_vm (hst, doms[i], prev, all || !d || d->reread))
                   == NULL
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
  publish (hst, h);
  log_debug ("Published a new view of '%s': %zu VMs.", hst->name, h->nvms);
}

/* Publish H as unreachable: with several hosts, an empty directory with
 * its status; with one, the last state seen stays, with its status. */
static void
publish_down (struct host *h)
{
  struct vs_host *old = host_get (h), *v = new_view (h);

  if (!F.several && old->nvms > 0)
    {
      v->vms = xcalloc (old->nvms, sizeof *v->vms);
      for (size_t i = 0; i < old->nvms; i++)
        v->vms[v->nvms++] = vm_ref (old->vms[i]);
    }
  host_put (old);
  publish (h, v);
}

/* --- threads ---------------------------------------------------------- */

static void *
event_main (void *arg)
{
  (void)arg;
  while (!__atomic_load_n (&F.stop, __ATOMIC_ACQUIRE))
    if (virEventRunDefaultImpl () < 0)
      log_error ("The libvirt event loop failed: %s", virt_error ());
  return NULL;
}

/* Carry on the operations a previous daemon left under way on H's VMs:
 * run once, after the first connection, beside the refresh thread (they
 * wait for it). */
static void *
recover_main (void *arg)
{
  struct host *h = arg;
  struct vs_host *v = host_get (h);

  merge_recover (v);
  rename_recover (v);
  clone_recover (h);
  branch_recover (v);
  stateless_recover (v);
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
          refresh (h, all, dirty, ndirty);
          start_recovery (h);
        }

      pthread_mutex_lock (&h->lock);
      h->sync_done = serving;
      pthread_cond_broadcast (&h->synced);
    }
  pthread_cond_broadcast (&h->synced);
  pthread_mutex_unlock (&h->lock);
  return NULL;
}

static void
wake_event_loop (int timer, void *opaque)
{
  (void)opaque;
  virEventRemoveTimeout (timer);
}

const char *
host_name (const struct host *h)
{
  return h->name;
}

bool
host_is_local (const struct host *h)
{
  const char *rest = h->uri ? strstr (h->uri, "://") : NULL;

  /* "qemu:///system": no host between "//" and the path. */
  return rest && rest[3] == '/';
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
        taken |= strcmp (F.hosts[i]->name, name) == 0;
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

int
host_start (const char *const *names, const char *const *uris, size_t n)
{
  virt_init ();
  F.n = n;
  F.several = n > 1;
  F.hosts = xcalloc (n, sizeof *F.hosts);
  for (size_t i = 0; i < n; i++)
    {
      struct host *h = F.hosts[i] = host_new (names[i], uris[i], i);

      if (h->conn == NULL && !F.several)
        {
          log_error ("Cannot connect to libvirt at '%s': %s", uris[i],
                     h->down);
          return -1;
        }
      if (h->conn)
        refresh (h, true, NULL, 0);
      else
        log_warning ("Host '%s' (%s) does not answer: %s.  It shows as "
                     "unreachable and is tried again.",
                     h->name, h->uri, h->down);
      if (F.several)
        log_info ("Host '%s': %s.", h->name, h->uri);
    }

  if (pthread_create (&F.event_thread, NULL, event_main, NULL) != 0)
    {
      log_error ("Cannot start the libvirt event thread.");
      return -1;
    }
  F.events = true;
  stateless_start ();
  for (size_t i = 0; i < n; i++)
    {
      struct host *h = F.hosts[i];

      if (pthread_create (&h->refresh_thread, NULL, refresh_main, h) != 0)
        {
          log_error ("Cannot start the refresh thread of '%s'.", h->name);
          return -1;
        }
      h->thread = true;
      if (h->conn)
        start_recovery (h);
    }
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
  stateless_stop ();
  merge_stop ();
  clone_stop ();
  for (size_t i = 0; i < F.n; i++)
    {
      struct host *h = F.hosts[i];

      pthread_mutex_lock (&h->lock);
      h->stop = true;
      pthread_cond_broadcast (&h->cond);
      pthread_cond_broadcast (&h->synced);
      pthread_mutex_unlock (&h->lock);
      if (h->thread)
        pthread_join (h->refresh_thread, NULL);
      h->thread = false;
    }
  if (F.events)
    {
      __atomic_store_n (&F.stop, true, __ATOMIC_RELEASE);
      virEventAddTimeout (0, wake_event_loop, NULL, NULL);
      pthread_join (F.event_thread, NULL);
      F.events = false;
    }
  for (size_t i = 0; i < F.n; i++)
    host_free (F.hosts[i]);
  free (F.hosts);
  F.hosts = NULL;
  F.n = 0;
}
