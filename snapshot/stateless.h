/* vmsnapfs: what stateless VMs (stateless.c) and preview/revert
 * (revert.c) share. */
#ifndef VMSNAPFS_SNAPSHOT_STATELESS_H
#define VMSNAPFS_SNAPSHOT_STATELESS_H

#include <stdbool.h>

#include "host.h"

struct dom_xml;

/* Whether a stop of DETAIL (virDomainEventStoppedDetailType), or a VM
 * shut off for REASON (virDomainShutoffReason), ends the VM's run: a
 * shutdown, a destroy, a crash, a failure (and an unknown reason, which
 * is what libvirtd gives every shut-off VM after its restart); not a save
 * or a migration, whose run resumes on the VM's volumes, nor libvirt's
 * revert to a snapshot.  Why a VM stopped, for a log line: "by ...". */
bool stop_ends_run (int detail);
bool shutoff_ends_run (int reason);
const char *stop_cause (int reason);

/* A stamp of the volumes DX gives VM (each one's path, inode, size and
 * modification time: a run that writes to one changes it), malloc'd; NULL
 * when one cannot be read or VM is on another host. */
char *stateless_stamp (const struct vs_vm *vm, const struct dom_xml *dx);

/* Revert stateless VM (shut off) to its snapshot again, unless it is there
 * already: its volumes are those the last revert left (the stamp it
 * recorded) and, for a snapshot with memory, the restore is pending.
 * Returns 0 when reverted, 1 when it was there already, 2 when it is left
 * as it is because its run goes on (a managed save image, or a stop that
 * does not end a run: logged), -ENOENT when it is no longer stateless, or
 * another -errno (revert.c). */
int host_rearm (const struct vs_vm *vm);

#endif /* VMSNAPFS_SNAPSHOT_STATELESS_H */
