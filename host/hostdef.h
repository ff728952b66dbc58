/* vmsnapfs: a libvirt connection as the model's files share it: conn.c
 * (the connection as every thread uses it), events.c (connecting, events),
 * host.c (threads), view.c and deepen.c (the views built from it);
 * nothing else sees it. */
#ifndef VMSNAPFS_HOSTDEF_H
#define VMSNAPFS_HOSTDEF_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include <libvirt/libvirt.h>

#include "host.h"

/* Most VMs named by events between two refreshes; more means "all". */
#define MAX_DIRTY 64
/* A VM someone looked inside is checked against libvirt at each poll for
 * this long after; the others only when an event names them. */
#define HOST_LOOK_MS 3000
/* Most VMs tracked as looked at; more are dropped oldest first. */
#define MAX_LOOKED 4096
/* Event callbacks registered on a connection. */
#define NCALLBACKS 5
/* The wait before connecting again to a host that did not answer: doubled
 * each time up to the most, so that a host back is seen within that. */
#define RECONNECT_FIRST_MS 500
#define RECONNECT_MAX_MS 4000
/* The keepalive of every connection: a ping after HOST_KEEPALIVE_S
 * seconds of silence, then every HOST_KEEPALIVE_S, and the connection is
 * closed (its calls fail) when HOST_KEEPALIVE_COUNT pings in a row get no
 * answer: a libvirtd that stops answering is given up within the sum. */
#define HOST_KEEPALIVE_S 5
#define HOST_KEEPALIVE_COUNT 3
/* The longest a look into a VM waits for its first full read: an
 * interval past the keepalive's time, so that a libvirtd that stops
 * answering fails the read first (with libvirt's error); this bounds the
 * look where libvirtd answers the pings but not the calls (its workers
 * hang). */
#define HOST_DEEPEN_WAIT_MS                                                   \
  (HOST_KEEPALIVE_S * (HOST_KEEPALIVE_COUNT + 2) * 1000)
/* The most connections of a host kept idle for reads of VMs whole: as
 * many as such reads run at once (host/deepen.c). */
#define HOST_READERS 4

/* A VM to rebuild.  REREAD: read the XML of every snapshot again (a change
 * from outside); otherwise only new snapshots are read (after an
 * operation of vmsnapfs, which changes no other snapshot's XML). */
struct dirty
{
  char uuid[VIR_UUID_STRING_BUFLEN];
  bool reread;
};

/* VMs by UUID, each with when it was last noted. */
struct recent
{
  struct recent_vm
  {
    char uuid[VIR_UUID_STRING_BUFLEN];
    long long at;
  } * vms;
  size_t n;
};

struct host
{
  pthread_mutex_t lock;
  pthread_cond_t cond;
  char *name;
  char *uri;
  virConnectPtr conn; /* NULL while disconnected */
  bool conn_lost;     /* the close callback fired */
  /* Connections of reads of VMs whole, idle (host_reader_take). */
  virConnectPtr readers[HOST_READERS];
  size_t nreaders;
  struct vs_host *view; /* the published view */
  struct dirty dirty[MAX_DIRTY];
  size_t ndirty;
  bool all_dirty;
  uint64_t refreshes;  /* full refreshes begun (atomic; view.c) */
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
  /* The VMs looked inside lately, by UUID, and when; those whose
   * snapshot files changed lately (seen by the watch). */
  struct recent looked, changed;
  /* libvirt's snapshot files of a host on this machine, watched: then
   * only the VMs in CHANGED are polled, not those LOOKED at (snapwatch.c;
   * NULL elsewhere). */
  struct snapwatch *watch;
  /* The recovery of operations under way (merges, renames, clones) runs
   * once, after the first connection. */
  bool recovered;
  bool recovering;
  pthread_t recover_thread;
};

struct fleet_state
{
  size_t n;
  struct host **hosts;
  bool several; /* the top level is one directory per host */
  bool events;
  bool stop;
  pthread_t event_thread;
};
extern struct fleet_state fleet_state;

/* events.c: make sure H has a live connection, its events registered;
 * reconnect when it was lost (true when connected).  Drop connection C
 * and its event callbacks IDS.  Watch H's snapshot files when they are on
 * this machine, before its first view is read: what changes after is
 * seen. */
bool ensure_connected (struct host *h);
void drop_connection (virConnectPtr c, const int ids[static NCALLBACKS]);
void watch_snapshot_files (struct host *h);

/* conn.c: set libvirt up, once (its error handler, its event loop). */
void virt_init (void);

/* view.c: a new, empty view of H; build and publish H's view from libvirt
 * (every VM read again; false when libvirt could not list them), or from
 * DIRTY and the VMs LOOKED at lately only; publish H as unreachable. events.c:
 * the VMs of H to poll now, those looked at or changed lately (malloc'd, *N
 * set; call with H->lock held). */
struct vs_host *new_view (struct host *h);
bool refresh (struct host *hst);
void refresh_some (struct host *hst, const struct dirty *dirty, size_t ndirty,
                   char (*looked)[VIR_UUID_STRING_BUFLEN], size_t nlooked);
void publish_down (struct host *h);

/* Put DEEP, a VM read whole, in H's view in place of SEEN, the shallow VM
 * it was read for (view.c): 1 when put, 0 when the VM is gone or deep
 * already; -EAGAIN when the view has it built anew since (an event), for
 * DEEP may show what was before. */
int view_put_deep (struct host *hst, const struct vs_vm *seen,
                   struct vs_vm *deep);
/* deepen.c: wait until no thread reads a VM whole for host_deepen (at
 * host_stop: they use the hosts). */
void host_deepen_wait (void);
char (*to_poll (struct host *h, size_t *n))[VIR_UUID_STRING_BUFLEN];

#endif /* VMSNAPFS_HOSTDEF_H */
