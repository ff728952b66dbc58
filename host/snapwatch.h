/* vmsnapfs: snapshots made, deleted or changed by others, seen in
 * libvirt's files on this machine (snapwatch.c). */
#ifndef VMSNAPFS_HOST_SNAPWATCH_H
#define VMSNAPFS_HOST_SNAPWATCH_H

#include <stdbool.h>

/* The directory where libvirt at URI keeps them (malloc'd), or NULL when
 * it is not on this machine or not known.  Watch DIR: FN (OPAQUE, VM) is
 * called from a thread of the watch, VM the name of a VM whose snapshots
 * changed, or NULL for "any".  Returns NULL when DIR cannot be watched
 * (logged).  snapwatch_complete: whether every change is still seen (else
 * poll). */
typedef void snapwatch_fn (void *opaque, const char *vm);
struct snapwatch;
char *snapwatch_dir_for (const char *uri);
struct snapwatch *snapwatch_start (const char *dir, snapwatch_fn *fn,
                                   void *opaque);
bool snapwatch_complete (const struct snapwatch *w);
void snapwatch_stop (struct snapwatch *w);

#endif /* VMSNAPFS_HOST_SNAPWATCH_H */
