/* vmsnapfs: block jobs on a remote host's VM that is shut off, run in a
 * paused helper domain (helperdom.c). */
#ifndef VMSNAPFS_HOST_HELPERDOM_H
#define VMSNAPFS_HOST_HELPERDOM_H

#include <stdbool.h>

#include <libvirt/libvirt.h>

#include "host.h"

/* The helper domains' names; never shown. */
#define HELPER_PREFIX "vmsnapfs-commit-"

/* Commit MD's top into its base on VM's remote host, VM shut off: its
 * disk CHILD (of CHILD_FORMAT), the one volume standing on the top, whose
 * backing file the commit rewrites; or with none, the top itself, pivoted
 * to the base.  Returns 0, -ESHUTDOWN when STOP says so first, or -EIO
 * (logged). */
struct merge_disk;
int helper_commit (const struct vs_vm *vm, const struct merge_disk *md,
                   const char *child, const char *child_format,
                   unsigned long bandwidth, bool (*stop) (void));
/* Where a helper's block job is, told to a follower with its ARG. */
typedef void (*helper_note_fn) (void *arg, const virDomainBlockJobInfo *info);
/* The same for a block pull into volume PATH (FORMAT) of disk TARGET, down
 * to BASE (NULL: everything): PATH then reads as before, standing on BASE
 * (a branch point's deletion, a clone's copy made whole).  NOTE (unless
 * NULL) is told where the pull is, with ARG.  0, -ESHUTDOWN when STOP
 * (unless NULL) says so first, or -EIO (logged). */
int helper_pull (const struct vs_vm *vm, const char *target, const char *path,
                 const char *format, const char *base, unsigned long bandwidth,
                 bool (*stop) (void), helper_note_fn note, void *arg);

/* Copy what volume TOP (FORMAT) of disk TARGET holds above its backing
 * file into DEST, a qcow2 volume made over the same data (a shallow block
 * copy, ended without a pivot once in step: DEST then holds a consistent
 * copy; TOP is only read).  0, -ESHUTDOWN when STOP (unless NULL) says so
 * first, or -EIO (logged). */
int helper_copy (const struct vs_vm *vm, const char *target, const char *top,
                 const char *format, const char *dest, bool (*stop) (void));

#endif /* VMSNAPFS_HOST_HELPERDOM_H */
