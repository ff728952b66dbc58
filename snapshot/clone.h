/* vmsnapfs: what other verbs use of clones (snapshot/clone/: a new VM's
 * UUID, clone-xml.c; the pins, clonepin.c). */
#ifndef VMSNAPFS_SNAPSHOT_CLONE_H
#define VMSNAPFS_SNAPSHOT_CLONE_H

#include <stdbool.h>

#include <libvirt/libvirt.h>

#include "host.h"

struct vs_meta;

/* A new random UUID (version 4) for a new VM. */
void clone_new_uuid (char out[VIR_UUID_STRING_BUFLEN]);

/* A clone's pin on its source VM (clonepin.c), which keeps the source's
 * snapshots from being merged or renamed while the clone copies from one.
 * With VM's operation under way (DOM, VM's domain): pin snapshot SNAPSHOT
 * for the clone NAME of UUID, before the clone is defined; drop that pin
 * again (a clone that failed at once); and check VM's record M for a pin
 * that holds, for a verb that would do WHAT ("snapshot 's1' cannot be
 * deleted"): -EBUSY (logged, naming the clone) when one does, 0 when none
 * does, the stale ones (their clones gone or finished) dropped from M for
 * the caller's next write of it, or -EIO.  Without the operation: drop the
 * pin of the clone of UUID from the record of its source (SOURCE_UUID,
 * SOURCE_NAME) when the clone is over, waiting for the source's other
 * operation to end or for STOP (a stale pin is left when it does not);
 * make sure the source of a clone being carried on is pinned; drop the
 * stale pins of DOM at the start (the recovery). */
int clone_pin (const struct vs_vm *vm, virDomainPtr dom, const char *snapshot,
               const char *name, const char *uuid);
int clone_unpin_locked (const struct vs_vm *vm, virDomainPtr dom,
                        const char *uuid);
int clone_pins_check (const struct vs_vm *vm, virDomainPtr dom,
                      struct vs_meta *m, const char *what);
void clone_unpin (struct host *h, const char *source_uuid,
                  const char *source_name, const char *uuid,
                  bool (*stop) (void));
int clone_pin_ensure (struct host *h, const char *source_uuid,
                      const char *source_name, const char *snapshot,
                      const char *name, const char *uuid);
void clone_pins_prune (struct host *h, virDomainPtr dom);

/* The temporary top of an instant clone's disk D (clone-copy.h). */
struct clone_disk;
char *clone_thin_top (const struct clone_disk *d);

/* Whether record M is a restore's (snapshot/import/import-pull.c): a
 * clone whose source is a backup's directory, served over NBD. */
bool clone_is_restore (const struct vs_meta *m);

/* Whether the server of the restore UUID (NAME, from backup DIR) runs;
 * if not, logged. */
bool clone_restore_served (const char *name, const char *uuid,
                           const char *dir);

/* Start the job of the restore NAME (UUID) of H, recorded as M (copied):
 * its copies pulled from the backup's server, its disks moved onto them.
 * LOCK, NAME's lock taken and lent (vm_lock_lend) by the import, is the
 * job's from here, whatever the result.  0, or -EIO (logged). */
int clone_restore_start (struct host *h, const char *name, const char *uuid,
                         const struct vs_meta *m, int lock);

#endif /* VMSNAPFS_SNAPSHOT_CLONE_H */
