/* vmsnapfs: one daemon at a time on a VM, across the daemons of this
 * machine (vmlock.c). */
#ifndef VMSNAPFS_HOST_VMLOCK_H
#define VMSNAPFS_HOST_VMLOCK_H

#include <stdbool.h>

struct host;

/* The lock on VM UUID of host H, for the operations that vm_op_begin
 * starts and for a clone's copy.  Returns the lock's descriptor,
 * VM_LOCK_NONE when no lock could be made (logged; go on), or -EBUSY when
 * another daemon holds it (logged).  vm_lock_drop takes either of the
 * first two. */
#define VM_LOCK_NONE (-1)
int vm_lock_take (const struct host *h, const char *uuid, const char *name);
void vm_lock_drop (const struct host *h, const char *uuid, int fd);

/* Whether a daemon of this machine, this one too, holds a lock on a VM
 * UUID, of whichever host or spelling of its URI (a lock file that cannot
 * be read counts as held).  Its probe is a shared lock of a moment, which
 * a vm_lock_take meanwhile waits out. */
bool vm_lock_held_anywhere (const char *uuid);

/* Let this daemon's operations on VM UUID of H run beside the job that
 * holds its lock FD (a clone's, whose clone may start meanwhile): until FD
 * is dropped, vm_lock_take of UUID in this daemon returns VM_LOCK_NONE
 * (the lock is held), while other daemons still find it taken. */
void vm_lock_lend (const struct host *h, const char *uuid, int fd);

#endif /* VMSNAPFS_HOST_VMLOCK_H */
