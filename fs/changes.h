/* vmsnapfs: the changes of VMs told to the kernel, counted (fs/changes.c).
 *
 * Each change of a VM's view that the kernel is told of gets a number, one
 * more than the last.  A request notes the count when it begins; a reply
 * that a change of its VM may have overtaken (resolved in the view before
 * the change, sent after the kernel was told) gets a moment's cache time,
 * not an hour's (see request.c).  That question is asked for each entry
 * of a listing, so it is answered without a lock or a scan: each VM's key
 * (fs_vm_key) falls in one of CHANGE_SLOTS slots, which keeps the number
 * of the latest change of any VM in it.  Two VMs in one slot make an
 * answer "changed" that was not, a moment's cache time; never the
 * reverse.
 */
#ifndef VMSNAPFS_CHANGES_H
#define VMSNAPFS_CHANGES_H

#include <stdbool.h>
#include <stdint.h>

#define CHANGE_SLOTS 8192

/* Count a change of the VM of KEY; returns its number. */
uint64_t changes_count (uint64_t key);

/* The number of the last change counted (0: none yet). */
uint64_t changes_now (void);

/* Whether a change of the VM of KEY (0: of any VM) was counted after the
 * one numbered SINCE. */
bool changes_since (uint64_t since, uint64_t key);

#endif /* VMSNAPFS_CHANGES_H */
