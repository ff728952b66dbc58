/* vmsnapfs: what stateless VMs (stateless.c) use of preview and revert
 * (revert.c), beside host_activate (verbs.h). */
#ifndef VMSNAPFS_SNAPSHOT_REVERT_H
#define VMSNAPFS_SNAPSHOT_REVERT_H

#include "host.h"

/* Revert stateless VM (shut off) to its snapshot again, unless it is there
 * already: its volumes are those the last revert left (the stamp it
 * recorded) and, for a snapshot with memory, the restore is pending.
 * Returns 0 when reverted, 1 when it was there already, 2 when it is left
 * as it is because its run goes on (a managed save image, or a stop that
 * does not end a run: logged), -ENOENT when it is no longer stateless, or
 * another -errno (revert.c). */
int host_rearm (const struct vs_vm *vm);

#endif /* VMSNAPFS_SNAPSHOT_REVERT_H */
