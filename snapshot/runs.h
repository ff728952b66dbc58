/* vmsnapfs: when a VM's run ends, and what the last revert left
 * (snapshot/runs.c), for revert.c and stateless.c. */
#ifndef VMSNAPFS_SNAPSHOT_RUNS_H
#define VMSNAPFS_SNAPSHOT_RUNS_H

#include <stdbool.h>

struct vs_vm;
struct dom_xml;

/* The reason a VM stays shut off after a stop of DETAIL
 * (virDomainEventStoppedDetailType), as virDomainShutoffReason; -1 for a
 * detail this code does not know. */
int stop_reason (int detail);

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

#endif /* VMSNAPFS_SNAPSHOT_RUNS_H */
