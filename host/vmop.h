/* vmsnapfs: an operation on a VM (vmop.c): one at a time, with a
 * connection of its own; the VM's domain, its definition and vmsnapfs's
 * record in libvirt. */
#ifndef VMSNAPFS_HOST_VMOP_H
#define VMSNAPFS_HOST_VMOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

#include "host.h"

struct vs_meta;
struct dom_xml;
struct disk_change;

/* Begin an operation on VM: -EBUSY when another one is under way.  End
 * it after host_sync: the next operation may plan from the view, which
 * then shows this one's result. */
int vm_op_begin (const struct vs_vm *vm);
void vm_op_end (const struct vs_vm *vm);
/* Whether an operation on VM is under way. */
bool vm_op_busy (const struct vs_vm *vm);

/* VM's host's connection (host_conn), or during VM's operation the
 * operation's own (vm_op_conn), with a reference the caller drops with
 * virConnectClose; NULL while disconnected. */
virConnectPtr vm_conn (const struct vs_vm *vm);
virConnectPtr vm_op_conn (const struct vs_vm *vm);

/* Look VM up again in libvirt, into *DOM.  Returns 0, -ENOENT when libvirt
 * has no such VM (undefined meanwhile), or -EIO when libvirt cannot be
 * asked (not connected); logged. */
int lookup_domain (const struct vs_vm *vm, virDomainPtr *dom);

/* Stop what reads snapshot SNAP's files before they change: its whole
 * disks' helpers, with VOLUMES its frozen volumes' opens, and the reader
 * of its guest files (export.h, guestfiles.h); VM's operation, under way,
 * keeps new ones out until it ends (snapshot_readers_held).  0, or -EBUSY
 * (logged) when one of them is open. */
int release_readers (const struct vs_vm *vm, uint64_t snap, bool volumes);

/* Read and parse DOM's persistent definition into *DX, and keep its XML in
 * *XML unless XML is NULL.  Returns 0 or -EIO (logged). */
int read_inactive (const char *vm, virDomainPtr dom, char **xml,
                   struct dom_xml **dx);

/* Read vmsnapfs's record from DOM's persistent definition into META. */
int meta_read (const struct vs_vm *vm, virDomainPtr dom, struct vs_meta *meta);

/* Make META vmsnapfs's record in DOM (persistent, and live if running). */
int meta_write (const struct vs_vm *vm, virDomainPtr dom,
                const struct vs_meta *meta);

/* Define VM anew from its persistent XML: disks per CHANGES (N of them),
 * and vmsnapfs's record META unless NULL.  Returns 0 or -EIO (logged). */
int define_changed (const struct vs_vm *vm, const char *xml,
                    const struct disk_change *changes, size_t n,
                    const struct vs_meta *meta);

#endif /* VMSNAPFS_HOST_VMOP_H */
