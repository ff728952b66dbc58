/* vmsnapfs: what rmdir of a snapshot is made of (snapshot/delete/),
 * shared by its files: the plan (plan.c), the merge (merge.c) and a
 * branch point's deletion (branch.c). */
#ifndef VMSNAPFS_SNAPSHOT_DELETE_H
#define VMSNAPFS_SNAPSHOT_DELETE_H

#include <stdbool.h>
#include <stddef.h>

#include <libvirt/libvirt.h>

#include "host.h"

struct vs_meta;
struct dom_xml;

/* A merge's worker (merge.c), for rmdir (delete.c): start one for the
 * merge recorded for VM, which holds VM's operation lock and drops it when
 * done (a reference for the caller, or NULL, the lock dropped); the one
 * under way for snapshot NAME of VM (a reference, or NULL); wait for M to
 * end, or for INTERRUPTED to say so (-EINTR), dropping the reference. */
struct merge;
struct merge *merge_start (const struct vs_vm *vm, const char *snapshot);
struct merge *merge_find (const struct vs_vm *vm, const char *name);
int merge_wait (struct merge *m, bool (*interrupted) (void));

/* A volume of a disk, and its backing file where the view knows it. */
struct vol
{
  const char *path;
  const char *format;  /* NULL: unknown, never read */
  const char *backing; /* NULL: unknown, to be read from the file */
};

/* Every volume of disk TARGET that vmsnapfs knows of (plan.c): the
 * volumes of all the VM's snapshots (an overlay's backing file is its
 * snapshot's frozen volume, read when the view was built), the disk's
 * source in the definition DX, and the volumes a preview keeps.  May
 * repeat; *N set; a malloc'd array of their strings. */
struct vol *known_volumes (const struct vs_vm *vm, const struct dom_xml *dx,
                           const char *target, size_t *n);

/* The volumes among VOLS whose backing file is PARENT, without repeats,
 * each with its format (a malloc'd array of VOLS's strings), *N set.  The
 * view tells which may be; the file has the last word. */
struct vol *children_of (struct host *h, const struct vol *vols, size_t nvols,
                         const char *parent, size_t *n);

/* Fill the record M for deleting SNAP (as libvirt and the files have it
 * now), checking that no branch but TOP's stands on any BASE.  Returns 0,
 * -EMLINK when another does (a branch point: branch.c deletes it), or
 * -EIO (logged). */
int merge_plan (const struct vs_vm *vm, const struct vs_snapshot *snap,
                const struct dom_xml *dx, struct vs_meta *m);

/* Branch points (branch.c): plan the deletion of SNAP, whose frozen
 * volumes other branches stand on, into M (its branch fields): -EBUSY,
 * -ENOSPC or -EIO (logged) when it cannot be done; run the deletion M's
 * record in DOM says (again). */
int branch_plan (const struct vs_vm *vm, virDomainPtr dom,
                 const struct vs_snapshot *snap, const struct dom_xml *dx,
                 struct vs_meta *m);
int branch_run (const struct vs_vm *vm, virDomainPtr dom);

#endif /* VMSNAPFS_SNAPSHOT_DELETE_H */
