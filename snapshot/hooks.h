/* vmsnapfs: the verbs' hooks that snapshot/verbs.c registers with the
 * model (host/verbtable.h); nothing else calls them. */
#ifndef VMSNAPFS_SNAPSHOT_HOOKS_H
#define VMSNAPFS_SNAPSHOT_HOOKS_H

#include <stddef.h>

#include <libvirt/libvirt.h>

#include "host.h"

/* Merges (merge.c): wake the workers on a block job event; carry on the
 * merges a previous daemon recorded; stop the workers, their merges left
 * recorded for the next start. */
void merge_wake (void);
void merge_recover (const struct vs_host *h);
void merge_stop (void);

/* Finish the renames of snapshots a previous daemon recorded (rename.c). */
void rename_recover (const struct vs_host *h);

/* Clones (clone/clone.c): carry on the clones a previous daemon began;
 * (clone/clone-copy.c) stop their copies; the copies' progress for the
 * jobs files of the clone with UUID: up to MAX jobs into TARGETS
 * (malloc'd), INFOS and SNAPS (malloc'd), their count returned. */
void clone_recover (struct host *h);
void clone_stop (void);
size_t clone_jobs (const char *uuid, size_t max, char **targets,
                   virDomainBlockJobInfo *infos, char **snaps);

/* Roll back every import of local host H cut short (import-record.c). */
void import_recover (struct host *h);

/* Finish the deletions of branch points a previous daemon began
 * (branch.c). */
void branch_recover (const struct vs_host *h);

/* Stateless VMs (stateless.c): revert VM UUID of host H to its snapshot
 * after a stop (an event of DETAIL, virDomainEventStoppedDetailType; -1:
 * not known) that ends its run; start the thread that does it; queue the
 * stateless VMs of view V that stopped while the daemon was away; stop the
 * thread. */
void stateless_stopped (struct host *h, const char *uuid, int detail);
void stateless_start (void);
void stateless_recover (const struct vs_host *v);
void stateless_stop (void);

#endif /* VMSNAPFS_SNAPSHOT_HOOKS_H */
