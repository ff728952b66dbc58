/* vmsnapfs: snapshots defined again, by libvirt's REDEFINE of their own
 * XML edited (snapshot/redefine.c): a rename's steps, and a branch
 * point's deletion. */
#ifndef VMSNAPFS_SNAPSHOT_REDEFINE_H
#define VMSNAPFS_SNAPSHOT_REDEFINE_H

#include <libvirt/libvirt.h>

struct vs_vm;

/* Define snapshot XML (renamed NAME by snap_xml_rename unless NULL) on
 * DOM, VM's domain, again, with FLAGS added to REDEFINE.  0, or -EIO
 * (logged). */
int snapshot_redefine (const struct vs_vm *vm, virDomainPtr dom,
                       const char *xml, const char *name, unsigned flags);

/* Give every child of snapshot FROM the parent TO, or none when TO is
 * NULL (a rename's step 2, and a branch point's deletion).  0, or -EIO
 * (logged). */
int move_children (const struct vs_vm *vm, virDomainPtr dom, const char *from,
                   const char *to);

#endif /* VMSNAPFS_SNAPSHOT_REDEFINE_H */
