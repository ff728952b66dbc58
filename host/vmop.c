/* vmsnapfs: an operation on a VM (vm_op_begin to vm_op_end): one at a
 * time per VM, in this daemon and across the daemons of this machine
 * (vmlock.c), with a connection of its own; the readers it stopped held
 * off until it ends; the VM's domain, definition and vmsnapfs's record in
 * libvirt; errors mapped to the errnos of vmsnapfs(5). */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "cleanup.h"
#include "export.h"
#include "guestfiles.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "conn.h"
#include "vmlock.h"
#include "vmop.h"

/* The VMs with an operation under way, by host and UUID (one VM may be
 * defined on two hosts).  Few at once: a list. */
struct busy
{
  const struct host *host;
  char uuid[VIR_UUID_STRING_BUFLEN];
  virConnectPtr conn; /* the operation's own (host_open_own), or NULL */
  uint64_t *held;     /* snapshots whose readers it stopped: no new ones */
  size_t nheld;
  int lock; /* vm_lock_take's, against other daemons */
};
static pthread_mutex_t busy_lock = PTHREAD_MUTEX_INITIALIZER;
static struct busy *busy;
static size_t nbusy;

static bool
is_busy (size_t i, const struct vs_vm *vm)
{
  return busy[i].host == vm->host && strcmp (busy[i].uuid, vm->uuid) == 0;
}

static ssize_t
find_busy (const struct vs_vm *vm)
{
  for (size_t i = 0; i < nbusy; i++)
    if (is_busy (i, vm))
      return (ssize_t)i;
  return -1;
}

int
vm_op_begin (const struct vs_vm *vm)
{
  virConnectPtr c;
  ssize_t i;
  int lock;

  pthread_mutex_lock (&busy_lock);
  if (find_busy (vm) >= 0)
    {
      pthread_mutex_unlock (&busy_lock);
      log_error ("VM '%s': another operation is under way.", vm->name);
      return -EBUSY;
    }
  busy = xrealloc (busy, (nbusy + 1) * sizeof *busy);
  busy[nbusy].host = vm->host;
  busy[nbusy].conn = NULL;
  busy[nbusy].held = NULL;
  busy[nbusy].nheld = 0;
  busy[nbusy].lock = VM_LOCK_NONE;
  strcpy (busy[nbusy++].uuid, vm->uuid);
  pthread_mutex_unlock (&busy_lock);

  /* Then another daemon's: an operation it carries, or a record of one it
   * was killed in (which it carries on at its start). */
  if ((lock = vm_lock_take (vm->host, vm->uuid, vm->name)) == -EBUSY)
    {
      vm_op_end (vm);
      return -EBUSY;
    }
  /* Opened outside the lock: a connection takes round trips. */
  c = host_open_own (vm->host);
  pthread_mutex_lock (&busy_lock);
  if ((i = find_busy (vm)) >= 0)
    {
      busy[i].conn = c;
      busy[i].lock = lock;
    }
  pthread_mutex_unlock (&busy_lock);
  return 0;
}

virConnectPtr
vm_op_conn (const struct vs_vm *vm)
{
  virConnectPtr c = NULL, dead = NULL;
  ssize_t i;

  pthread_mutex_lock (&busy_lock);
  if ((i = find_busy (vm)) >= 0 && (c = busy[i].conn) != NULL)
    {
      if (virConnectIsAlive (c) == 1)
        virConnectRef (c);
      else
        {
          dead = c; /* libvirtd restarted under the operation */
          busy[i].conn = c = NULL;
        }
    }
  pthread_mutex_unlock (&busy_lock);
  if (dead == NULL)
    return c;

  /* A new one, once the host answers again (the shared one meanwhile). */
  virConnectClose (dead);
  if ((c = host_open_own (vm->host)) == NULL)
    return NULL;
  pthread_mutex_lock (&busy_lock);
  if ((i = find_busy (vm)) >= 0 && busy[i].conn == NULL)
    {
      busy[i].conn = c;
      virConnectRef (c);
    }
  pthread_mutex_unlock (&busy_lock);
  return c;
}

bool
vm_op_busy (const struct vs_vm *vm)
{
  SCOPED_LOCK (&busy_lock);

  return find_busy (vm) >= 0;
}

void
vm_op_end (const struct vs_vm *vm)
{
  virConnectPtr c = NULL;
  int lock = VM_LOCK_NONE;
  ssize_t i;

  pthread_mutex_lock (&busy_lock);
  if ((i = find_busy (vm)) >= 0)
    {
      c = busy[i].conn;
      lock = busy[i].lock;
      free (busy[i].held);
      memmove (&busy[i], &busy[i + 1], (nbusy - (size_t)i - 1) * sizeof *busy);
      nbusy--;
    }
  pthread_mutex_unlock (&busy_lock);
  vm_lock_drop (vm->host, vm->uuid, lock);
  if (c)
    virConnectClose (c);
}

int
lookup_domain (const struct vs_vm *vm, virDomainPtr *dom)
{
  virConnectPtr c = vm_conn (vm);
  bool gone;

  *dom = NULL;
  if (c == NULL)
    {
      log_error ("VM '%s': libvirt is not connected.", vm->name);
      return -EIO;
    }
  *dom = virDomainLookupByUUIDString (c, vm->uuid);
  if (*dom)
    {
      virConnectClose (c);
      return 0;
    }
  /* Read before the close, which may reset it. */
  gone = virGetLastErrorCode () == VIR_ERR_NO_DOMAIN;
  log_error ("VM '%s' cannot be found in libvirt: %s", vm->name,
             virt_error ());
  virConnectClose (c);
  return gone ? -ENOENT : -EIO;
}

virConnectPtr
vm_conn (const struct vs_vm *vm)
{
  virConnectPtr c = vm_op_conn (vm);

  return c ? c : host_conn (vm->host);
}

int
read_inactive (const char *vm, virDomainPtr dom, char **xml_out,
               struct dom_xml **dx)
{
  /* With its secrets (VNC and SPICE passwords): what is read here is
   * defined again, and never shown. */
  char *xml = virDomainGetXMLDesc (dom, VIR_DOMAIN_XML_INACTIVE
                                            | VIR_DOMAIN_XML_SECURE);

  *dx = NULL;
  if (xml_out)
    *xml_out = NULL;
  if (xml == NULL || dom_xml_parse (xml, dx) < 0)
    {
      log_error ("VM '%s': cannot read its definition: %s", vm,
                 xml ? "the XML is not valid" : virt_error ());
      free (xml);
      return -EIO;
    }
  if (xml_out)
    *xml_out = xml;
  else
    free (xml);
  return 0;
}

int
meta_read (const struct vs_vm *vm, virDomainPtr dom, struct vs_meta *meta)
{
  struct dom_xml *dx;
  int r = read_inactive (vm->name, dom, NULL, &dx);

  if (r < 0)
    return r;
  *meta = dx->meta;
  memset (&dx->meta, 0, sizeof dx->meta);
  dom_xml_free (dx);
  return 0;
}

int
meta_write (const struct vs_vm *vm, virDomainPtr dom,
            const struct vs_meta *meta)
{
  CLEANUP_FREE char *xml = vs_meta_format (meta);
  unsigned flags = VIR_DOMAIN_AFFECT_CONFIG;

  /* In the persistent definition, and in the live one while it runs, so
   * that it survives restarts of the VM and of the daemon. */
  if (virDomainIsActive (dom) == 1)
    flags |= VIR_DOMAIN_AFFECT_LIVE;
  if (virDomainSetMetadata (dom, VIR_DOMAIN_METADATA_ELEMENT, xml,
                            VMSNAPFS_XMLNS_PREFIX, VMSNAPFS_XMLNS, flags)
      < 0)
    {
      log_error ("VM '%s': cannot write vmsnapfs's metadata: %s", vm->name,
                 virt_error ());
      return -virt_errno ();
    }
  return 0;
}

int
define_changed (const struct vs_vm *vm, const char *xml,
                const struct disk_change *changes, size_t n,
                const struct vs_meta *meta)
{
  CLEANUP_FREE char *def = dom_xml_edit (xml, changes, n, meta);
  virConnectPtr c = vm_conn (vm);
  virDomainPtr d = NULL;

  if (def && c)
    d = virDomainDefineXML (c, def);
  if (c)
    virConnectClose (c);
  if (d == NULL)
    {
      log_error ("VM '%s': cannot define its new state: %s", vm->name,
                 def ? virt_error () : "its XML cannot be edited");
      return -EIO;
    }
  virDomainFree (d);
  return 0;
}

int
release_readers (const struct vs_vm *vm, uint64_t snap, bool volumes)
{
  ssize_t i;
  int r;

  /* New readers first: one that came between the release and the view
   * that shows the change would read the volumes as they change. */
  pthread_mutex_lock (&busy_lock);
  if ((i = find_busy (vm)) >= 0)
    {
      busy[i].held = xrealloc (busy[i].held,
                               (busy[i].nheld + 1) * sizeof *busy[i].held);
      busy[i].held[busy[i].nheld++] = snap;
    }
  pthread_mutex_unlock (&busy_lock);
  r = export_release_snapshot (snap, volumes);
  return r < 0 ? r
               : guestfiles_release_snapshot (snap, EXPORT_RELEASE_WAIT_MS);
}

bool
snapshot_readers_held (const struct vs_vm *vm, uint64_t snap)
{
  SCOPED_LOCK (&busy_lock);
  ssize_t i = find_busy (vm);

  for (size_t k = 0; i >= 0 && k < busy[i].nheld; k++)
    if (busy[i].held[k] == snap)
      return true;
  return false;
}
