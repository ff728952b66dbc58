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

virConnectPtr
host_reader_take (struct host *h)
{
  for (;;)
    {
      virConnectPtr c = NULL;

      pthread_mutex_lock (&h->lock);
      if (h->nreaders > 0)
        c = h->readers[--h->nreaders];
      pthread_mutex_unlock (&h->lock);
      if (c == NULL)
        return host_open_own (h);
      if (virConnectIsAlive (c) == 1)
        return c;
      virConnectClose (c); /* libvirtd restarted, or the link broke */
    }
}

void
host_reader_give (struct host *h, virConnectPtr c)
{
  if (c == NULL)
    return;
  if (virConnectIsAlive (c) == 1)
    {
      SCOPED_LOCK (&h->lock);

      if (h->nreaders < HOST_READERS && !h->stop)
        {
          h->readers[h->nreaders++] = c;
          return;
        }
    }
  virConnectClose (c);
}

void
host_readers_close (struct host *h)
{
  pthread_mutex_lock (&h->lock);
  while (h->nreaders > 0)
    {
      virConnectPtr c = h->readers[--h->nreaders];

      pthread_mutex_unlock (&h->lock);
      virConnectClose (c);
      pthread_mutex_lock (&h->lock);
    }
  pthread_mutex_unlock (&h->lock);
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
