/* vmsnapfs: what several verbs share, below them all (snapshot/shared.c):
 * the rate their copies keep to, their worker threads, the check of a
 * snapshot name, a VM no view shows, and the loop of their recoveries. */
#ifndef VMSNAPFS_SNAPSHOT_SHARED_H
#define VMSNAPFS_SNAPSHOT_SHARED_H

#include <stdbool.h>

#include <libvirt/libvirt.h>

struct host;
struct vs_host;
struct vs_meta;
struct vs_vm;

/* The limit merge_set_bandwidth set (include/host.h), in MiB/s (0: none):
 * merges' commits, branch points' pulls and clones' copies keep to it. */
unsigned long merge_bandwidth (void);

/* Run FN (ARG) in a detached thread of its own: 0, or pthread_create's
 * error number (not logged). */
int worker_start (void *(*fn) (void *), void *arg);

/* Whether NAME is a valid name for a new snapshot of VM (as
 * snapshot_name_check says): 0, or its -errno, logged. */
int snapshot_name_valid (const struct vs_vm *vm, const char *name);

/* Whether VM may have its snapshots changed by a verb that WHAT says
 * ("snapshot 's1' cannot be taken"): 0, or -EBUSY (logged) while VM is a
 * clone whose job still runs (see its jobs): the job moves its disks. */
int clone_job_check (const struct vs_vm *vm, const char *what);

/* Make V, zeroed, a stand-in for VM NAME of UUID on host H that no view
 * shows (a clone or an import being made, a clone's source): enough for
 * lookup_domain, meta_read, meta_write, vm_op_begin and host_sync.  V
 * keeps NAME, not a copy. */
void vm_stand_in (struct vs_vm *v, struct host *h, const char *name,
                  const char *uuid);

/* Carry on what a previous daemon left under way on each VM of view H
 * that PENDING names, unless another operation on it is under way (another
 * vmsnapfs's): under VM's operation, if RECORDED still says so of the VM's
 * record, "VM 'NAME': WHAT" logged and CARRY (VM, DOM) run; then the VM
 * read again. */
void recover_each (const struct vs_host *h,
                   bool (*pending) (const struct vs_vm *vm),
                   bool (*recorded) (const struct vs_meta *m),
                   const char *what,
                   void (*carry) (const struct vs_vm *vm, virDomainPtr dom));

#endif /* VMSNAPFS_SNAPSHOT_SHARED_H */
