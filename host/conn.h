/* vmsnapfs: libvirt as the model uses it (conn.c): its errors, the
 * cleanup of its objects, and the hosts' connections. */
#ifndef VMSNAPFS_HOST_CONN_H
#define VMSNAPFS_HOST_CONN_H

#include <stdbool.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "host.h"

static inline void
cleanup_domain (virDomainPtr *d)
{
  if (*d)
    virDomainFree (*d);
}
#define CLEANUP_DOMAIN __attribute__ ((cleanup (cleanup_domain)))

static inline void
cleanup_snapshot (virDomainSnapshotPtr *s)
{
  if (*s)
    virDomainSnapshotFree (*s);
}
#define CLEANUP_SNAPSHOT __attribute__ ((cleanup (cleanup_snapshot)))

/* libvirt's last error in this thread, as a sentence fragment. */
static inline const char *
virt_error (void)
{
  const char *m = virGetLastErrorMessage ();
  return m ? m : "unknown libvirt error";
}

/* The errno for libvirt's last error in this thread: ENOSPC, EEXIST,
 * EAGAIN (guest agent), EBUSY (VM state), or EIO. */
int virt_errno (void);

/* Host H's connection, with a reference the caller drops with
 * virConnectClose; NULL while disconnected.  (vm_conn, vmop.h, gives a
 * VM's, which is its operation's own while one is under way.) */
virConnectPtr host_conn (struct host *h);

/* A connection to H of the caller's own (closed with virConnectClose), or
 * NULL when H is not connected or refuses.  With libvirt 9.0's client, a
 * call made on a connection while another thread waits there for a long
 * call (a snapshot of a VM whose qemu hangs, a copy of a whole volume) can
 * wait for the keepalive's next tick, 5 s: long calls go on connections
 * of their own, and the shared one carries short calls and events.  Each
 * operation on a VM (vm_op_begin to vm_op_end) has one, which vm_conn
 * gives for that VM meanwhile (vm_op_conn), in any thread. */
virConnectPtr host_open_own (struct host *h);

/* A connection to H of the caller's own for reading VMs whole, idle one
 * kept from before or a new one; NULL as host_open_own.  Given back with
 * host_reader_give (C may be NULL), which keeps it while it is alive and
 * fewer than HOST_READERS are kept.  With libvirt 9.0's client, calls of
 * several threads at once on one connection cost more CPU each than in
 * turn (its event loop passes the socket between them): a walk reads a
 * few VMs at once, each on a connection of its own. */
virConnectPtr host_reader_take (struct host *h);
void host_reader_give (struct host *h, virConnectPtr c);

/* Close the connections H keeps idle for reads. */
void host_readers_close (struct host *h);

/* Whether the mount shows several hosts, one directory each; H's
 * directory name. */
bool host_several (void);
const char *host_name (const struct host *h);

/* Whether H's URI names this machine: the host files its view names can
 * be looked at here. */
bool host_is_local (const struct host *h);

#endif /* VMSNAPFS_HOST_CONN_H */
