/* vmsnapfs: the libvirt connections, their events, and the threads that
 * keep the published view of each host up to date.
 *
 * One struct host per connection (one per -o uri); its connection and
 * events are events.c's.  Threads:
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
#include "snapwatch.h"
#include "verbtable.h"

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
        {
          /* The read that connecting asked for (ensure_connected): not
           * made again by the refresh thread, over the VMs read whole
           * meanwhile, unless it fails. */
          pthread_mutex_lock (&h->lock);
          h->all_dirty = false;
          pthread_mutex_unlock (&h->lock);
          if (!refresh (h))
            {
              pthread_mutex_lock (&h->lock);
              h->all_dirty = true;
              pthread_cond_signal (&h->cond);
              pthread_mutex_unlock (&h->lock);
            }
        }
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
  host_readers_close (h);
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
