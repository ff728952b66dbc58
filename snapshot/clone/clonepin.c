/* vmsnapfs: a clone's pin on its source VM.
 *
 * While a clone copies snapshot S of VM, VM's snapshots are not merged
 * (a merge below S changes the volumes S's chain reads) nor renamed (the
 * clone's last step reads S by its name).  Every vmsnapfs that may be
 * asked (another daemon of this machine or of another one, this one after
 * a restart, before its recovery has carried the clone on) must see it,
 * so the pin is in VM's record in libvirt: <vmsnapfs:pin snapshot=S
 * clone=NAME uuid=UUID/>, written under VM's operation lock before the
 * clone is defined, and checked under that lock by rmdir and mv.
 *
 * The clone's own record says whether the copy still needs S: a pin holds
 * while the clone it names is defined with its record of a copy from S.
 * The pin is dropped when the clone is finished or rolled back; one left
 * by a daemon killed in between is stale (its clone gone, or finished),
 * ignored by the checks, and dropped by the next write of VM's record
 * after a check, or by the recovery (clone_recover).  See doc/DESIGN.md,
 * Crash models.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/conn.h"
#include "host/refresh.h"
#include "host/vmop.h"

#include "snapshot/clone.h"
#include "snapshot/shared.h"

/* How long a clone waits for its source's other operation to end to drop
 * its pin, and how often it asks again. */
#define UNPIN_TRIES 100
#define UNPIN_RETRY_MS 300

/* Whether pin P of SOURCE still holds: 1, 0 (stale), or -EIO (logged). */
static int
pin_holds (virConnectPtr conn, const struct vs_vm *source,
           const struct clone_pin *p)
{
  CLEANUP_DOMAIN virDomainPtr d = virDomainLookupByUUIDString (conn, p->uuid);
  struct vs_vm v;
  struct vs_meta m = { 0 };
  int r;

  if (d == NULL)
    {
      int e = virGetLastErrorCode ();

      if (e == VIR_ERR_NO_DOMAIN || e == VIR_ERR_INVALID_ARG)
        return 0; /* gone, or no UUID at all */
      log_error ("VM '%s': cannot look up its clone '%s': %s", source->name,
                 p->clone, virt_error ());
      return -EIO;
    }
  vm_stand_in (&v, source->host, p->clone, p->uuid);
  if ((r = meta_read (&v, d, &m)) < 0)
    return r;
  r = m.clone_vm && strcmp (m.clone_snapshot, p->snapshot) == 0;
  vs_meta_clear (&m);
  return r;
}

/* Drop the stale pins of SOURCE's record M; the index of the first that
 * holds into *HELD (M->npins: none).  0 or -EIO. */
static int
prune (virConnectPtr conn, const struct vs_vm *source, struct vs_meta *m,
       size_t *held)
{
  bool found = false;

  for (size_t i = 0; i < m->npins;)
    {
      int r = pin_holds (conn, source, &m->pins[i]);

      if (r < 0)
        return r;
      if (r == 1)
        {
          if (!found)
            *held = i;
          found = true;
          i++;
          continue;
        }
      log_info ("VM '%s': the clone '%s' no longer copies from it; its pin "
                "is dropped.",
                source->name, m->pins[i].clone);
      vs_meta_drop_pin (m, i);
    }
  if (!found)
    *held = m->npins;
  return 0;
}

int
clone_pins_check (const struct vs_vm *vm, virDomainPtr dom, struct vs_meta *m,
                  const char *what)
{
  size_t i;
  int r = prune (virDomainGetConnect (dom), vm, m, &i);

  if (r < 0)
    return r;
  if (i == m->npins)
    return 0;
  log_error ("VM '%s': %s while the clone '%s' is copied from its snapshot "
             "'%s'.",
             vm->name, what, m->pins[i].clone, m->pins[i].snapshot);
  return -EBUSY;
}

/* Whether M has a pin of the clone of UUID: its index, or M->npins. */
static size_t
find_pin (const struct vs_meta *m, const char *uuid)
{
  size_t i;

  for (i = 0; i < m->npins; i++)
    if (strcmp (m->pins[i].uuid, uuid) == 0)
      break;
  return i;
}

/* What to do to a source's record under its lock: */
struct edit
{
  enum
  {
    ENSURE, /* add the pin of UUID (SNAPSHOT, NAME) unless it is there */
    UNPIN,  /* drop the pin of UUID */
    PRUNE,  /* drop the stale pins */
  } what;
  const char *uuid, *snapshot, *name;
};

/* Do E to the record of VM (DOM), its operation under way: 0 or -errno. */
static int
edit_locked (const struct vs_vm *vm, virDomainPtr dom, const struct edit *e)
{
  struct vs_meta m = { 0 };
  size_t i, before;
  int r;

  if ((r = meta_read (vm, dom, &m)) < 0)
    return r;
  before = m.npins;
  i = e->uuid ? find_pin (&m, e->uuid) : m.npins;
  if (e->what == UNPIN && i < m.npins)
    vs_meta_drop_pin (&m, i);
  else if (e->what == ENSURE && i == m.npins)
    vs_meta_add_pin (&m, e->snapshot, e->name, e->uuid);
  else if (e->what == PRUNE)
    r = prune (virDomainGetConnect (dom), vm, &m, &i);
  if (r == 0 && m.npins != before)
    r = meta_write (vm, dom, &m);
  vs_meta_clear (&m);
  return r;
}

/* The same, with VM's operation begun and ended here: -EBUSY (logged by
 * vm_op_begin) when another one is under way. */
static int
edit (const struct vs_vm *vm, const struct edit *e)
{
  CLEANUP_DOMAIN virDomainPtr dom = NULL;
  int r;

  if ((r = vm_op_begin (vm)) < 0)
    return r;
  if ((r = lookup_domain (vm, &dom)) == 0)
    r = edit_locked (vm, dom, e);
  host_sync (vm, false);
  vm_op_end (vm);
  return r;
}

int
clone_pin (const struct vs_vm *vm, virDomainPtr dom, const char *snapshot,
           const char *name, const char *uuid)
{
  struct edit e
      = { .what = ENSURE, .uuid = uuid, .snapshot = snapshot, .name = name };

  return edit_locked (vm, dom, &e);
}

int
clone_unpin_locked (const struct vs_vm *vm, virDomainPtr dom, const char *uuid)
{
  struct edit e = { .what = UNPIN, .uuid = uuid };

  return edit_locked (vm, dom, &e);
}

void
clone_unpin (struct host *h, const char *source_uuid, const char *source_name,
             const char *uuid, bool (*stop) (void))
{
  struct vs_vm v;
  struct edit e = { .what = UNPIN, .uuid = uuid };
  int r = -EBUSY;

  vm_stand_in (&v, h, source_name, source_uuid);
  for (int i = 0; i < UNPIN_TRIES; i++)
    {
      struct timespec t = { 0, UNPIN_RETRY_MS * 1000000L };

      if ((r = edit (&v, &e)) != -EBUSY || stop ())
        break;
      nanosleep (&t, NULL);
    }
  if (r < 0 && r != -ENOENT)
    log_info ("VM '%s': the pin of its finished clone is left in its "
              "record; the next rmdir or mv of its snapshots finds it stale "
              "and drops it.",
              source_name);
}

int
clone_pin_ensure (struct host *h, const char *source_uuid,
                  const char *source_name, const char *snapshot,
                  const char *name, const char *uuid)
{
  struct edit e
      = { .what = ENSURE, .uuid = uuid, .snapshot = snapshot, .name = name };
  struct vs_vm v;
  CLEANUP_DOMAIN virDomainPtr dom = NULL;
  struct vs_meta m = { 0 };
  bool pinned;
  int r;

  /* Pinned as a rule: then the source's lock is not needed. */
  vm_stand_in (&v, h, source_name, source_uuid);
  if ((r = lookup_domain (&v, &dom)) < 0 || (r = meta_read (&v, dom, &m)) < 0)
    return r;
  pinned = find_pin (&m, uuid) < m.npins;
  vs_meta_clear (&m);
  return pinned ? 0 : edit (&v, &e);
}

void
clone_pins_prune (struct host *h, virDomainPtr dom)
{
  char uuid[VIR_UUID_STRING_BUFLEN] = "";
  struct vs_vm v;
  struct edit e = { .what = PRUNE };

  virDomainGetUUIDString (dom, uuid);
  vm_stand_in (&v, h, virDomainGetName (dom), uuid);
  edit (&v, &e);
}
