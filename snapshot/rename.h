/* vmsnapfs: what other verbs use of rename.c. */
#ifndef VMSNAPFS_SNAPSHOT_RENAME_H
#define VMSNAPFS_SNAPSHOT_RENAME_H

#include <libvirt/libvirt.h>

#include "host.h"

/* Give every child of snapshot FROM the parent TO, or none when TO is
 * NULL (a rename's step 2, and a branch point's deletion, branch.c). */
int move_children (const struct vs_vm *vm, virDomainPtr dom, const char *from,
                   const char *to);

#endif /* VMSNAPFS_SNAPSHOT_RENAME_H */
