/* vmsnapfs: the verbs (snapshot/), as the filesystem calls them.  Each
 * returns 0 or -errno (the errnos of vmsnapfs(5)), logs its failure once, and
 * leaves the VM as it was when it fails.  One operation runs at a time on
 * a VM: another one meanwhile gets -EBUSY.  Each returns once the
 * published view shows its result. */
#ifndef VMSNAPFS_VERBS_H
#define VMSNAPFS_VERBS_H

#include <stdbool.h>

struct host;
struct vs_vm;

/* Register the verbs' hooks with the model (snapshot/verbs.c): once,
 * before host_start. */
void verbs_init (void);

/* Take snapshot NAME of VM: all disks at one instant, with the memory when
 * the VM runs and its snapshot mode is "memory". */
int host_snapshot_create (const struct vs_vm *vm, const char *name);

/* Delete snapshot NAME of VM by merging its volumes (live while the VM
 * runs), with its memory file.  Blocks until done; returns -EINTR when
 * INTERRUPTED (may be NULL) says so first, the merge going on.  -EBUSY for
 * a snapshot that preview, resume or stateless points to.  A snapshot
 * that several branches stand on is moved up into them (branch.c). */
int host_snapshot_delete (const struct vs_vm *vm, const char *name,
                          bool (*interrupted) (void));

/* Rename snapshot FROM of VM to TO: -EINVAL or -ENAMETOOLONG for a bad
 * name, -EEXIST when TO is taken, -EBUSY while a merge is under way or the
 * snapshot's whole disks are read. */
int host_snapshot_rename (const struct vs_vm *vm, const char *from,
                          const char *to);

/* Clone snapshot SNAP of VM into a new VM NAME, memory included (see
 * snapshot/clone/clone.c): returns once NAME is defined and its copy begun.
 * -EINVAL or -ENAMETOOLONG for a bad name, -EEXIST when a VM has it,
 * -ENOSPC when the copies would not fit. */
int host_clone (const struct vs_vm *vm, const char *snap, const char *name);

/* Import DIR, a directory copied out of the mount (a whole VM's, or one
 * snapshot's), as a new VM NAME (snapshot/import/import.c), DIR read with
 * WHO's rights, stopped when CANCEL (may be NULL) says WHO gave up.  -EINVAL
 * for a directory that is not one, missing a disk, of a wrong size or a
 * broken chain, holding what is not a regular file, or a domain libvirt
 * refuses; -EACCES for a file WHO may not read or a link that leaves DIR;
 * -EPERM for a domain that names host resources, WHO not root; -EEXIST
 * when a VM has the name or another import makes it; -ENOSPC; -EINTR when
 * stopped; nothing is left on a failure. */
struct caller;
int host_import (struct host *host, const char *dir, const char *name,
                 const struct caller *who, bool (*cancel) (void));

/* Limit merges to MIB_PER_S MiB/s (0: no limit). */
void merge_set_bandwidth (unsigned long mib_per_s);

/* After TRIES failures in a row (0: the default, 8), an instant clone's or
 * restore's job is tried again only every hour (or at the next start). */
void clone_set_tries (unsigned tries);
/* The pause before the next try of such a job that failed FAILS times in
 * a row (FAILS >= 1), COUNTED of them with libvirt answering, in seconds:
 * 5, doubled each time up to 60, then 3600 once COUNTED reaches the set
 * number of tries. */
unsigned clone_retry_pause (unsigned fails, unsigned counted);

/* Preview SNAP on VM (shut off): its disks on new volumes over SNAP's,
 * the state it had kept for undo; resume set where SNAP has memory. */
int host_preview (const struct vs_vm *vm, const char *snap);

/* Undo VM's preview: back to the kept state, exactly. */
int host_undo (const struct vs_vm *vm);

/* Make SNAP VM's active snapshot: commit the preview of SNAP, or revert to
 * SNAP (a preview and a commit in one step). */
int host_activate (const struct vs_vm *vm, const char *snap);

/* Make VM (shut off) stateless at SNAP: reverted to SNAP now, and again
 * after every run (stateless.c).  -EBUSY while it runs or previews. */
int host_stateless_set (const struct vs_vm *vm, const char *snap);

/* End VM's stateless mode (shut off), leaving it at its snapshot. */
int host_stateless_clear (const struct vs_vm *vm);

/* Forget VM's pending memory restore: the next start boots. */
int host_resume_clear (const struct vs_vm *vm);

#endif /* VMSNAPFS_VERBS_H */
