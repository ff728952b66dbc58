/* vmsnapfs: snapshots defined again (redefine.h).
 *
 * libvirt cannot rename a snapshot nor give it another parent: its XML,
 * edited, is defined again over it (REDEFINE), metadata only; the volumes
 * and the memory file stay as they are.  A rename (rename.c) and a branch
 * point's deletion (delete/branch.c) move children so.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "host.h"
#include "log.h"
#include "virxml.h"

#include "host/conn.h"

#include "snapshot/redefine.h"

int
snapshot_redefine (const struct vs_vm *vm, virDomainPtr dom, const char *xml,
                   const char *name, unsigned flags)
{
  CLEANUP_FREE char *def = snap_xml_rename (xml, name);
  virDomainSnapshotPtr s = NULL;

  if (def)
    s = virDomainSnapshotCreateXML (
        dom, def, VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE | flags);
  if (s == NULL)
    {
      log_error ("VM '%s': cannot define snapshot '%s' again: %s", vm->name,
                 name ? name : "(a child)",
                 def ? virt_error () : "its XML cannot be edited");
      return -EIO;
    }
  virDomainSnapshotFree (s);
  return 0;
}

int
move_children (const struct vs_vm *vm, virDomainPtr dom, const char *from,
               const char *to)
{
  virDomainSnapshotPtr *all = NULL;
  int n = virDomainListAllSnapshots (dom, &all, 0), r = 0;

  if (n < 0)
    {
      log_error ("VM '%s': cannot list its snapshots: %s", vm->name,
                 virt_error ());
      return -EIO;
    }
  for (int i = 0; i < n; i++)
    {
      CLEANUP_FREE char *xml = NULL;
      struct snap_xml *sx = NULL;

      if (r == 0
          && (xml = virDomainSnapshotGetXMLDesc (
                  all[i], VIR_DOMAIN_SNAPSHOT_XML_SECURE))
          && snap_xml_parse (xml, &sx) == 0 && sx->parent
          && strcmp (sx->parent, from) == 0)
        {
          CLEANUP_FREE char *moved = snap_xml_reparent (xml, to);

          r = moved ? snapshot_redefine (vm, dom, moved, NULL, 0) : -EIO;
        }
      else if (r == 0 && xml == NULL)
        {
          log_error ("VM '%s': cannot read a snapshot: %s", vm->name,
                     virt_error ());
          r = -EIO;
        }
      snap_xml_free (sx);
      virDomainSnapshotFree (all[i]);
    }
  free (all);
  return r;
}
