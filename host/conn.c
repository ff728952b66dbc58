/* vmsnapfs: the hosts' libvirt connections as every thread uses them:
 * libvirt set up once, H's shared connection (events.c connects and
 * reconnects it), connections of a caller's own, what H is called and
 * where it is. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"

#include "conn.h"
#include "hostdef.h"

struct fleet_state fleet_state;

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

void
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
host_open_own (struct host *h)
{
  virConnectPtr c;
  bool up;

  pthread_mutex_lock (&h->lock);
  up = h->conn && !h->conn_lost;
  pthread_mutex_unlock (&h->lock);
  if (!up || (c = virConnectOpen (h->uri)) == NULL)
    return NULL;
  virConnectSetKeepAlive (c, HOST_KEEPALIVE_S, HOST_KEEPALIVE_COUNT);
  return c;
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

bool
host_several (void)
{
  return fleet_state.several;
}

int
virt_errno (void)
{
  virErrorPtr e = virGetLastError ();
  const char *m = e && e->message ? e->message : "";

  if (strstr (m, strerror (ENOSPC)))
    return ENOSPC;
  if (e
      && (e->code == VIR_ERR_AGENT_UNRESPONSIVE
          || e->code == VIR_ERR_AGENT_UNSYNCED || strstr (m, "guest agent")))
    return EAGAIN;
  if (e && e->code == VIR_ERR_OPERATION_INVALID)
    return EBUSY; /* "domain is not running", "is already running"... */
  return EIO;
}
