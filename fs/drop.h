/* vmsnapfs: what the kernel holds of a VM, dropped when the VM changes
 * (fs/drop.c). */
#ifndef VMSNAPFS_DROP_H
#define VMSNAPFS_DROP_H

#include "fs.h" /* first: it picks the FUSE API version */

/* The session the kernel is told through (fs_session_new). */
void drop_set_session (struct fuse_session *se);

/* Start and stop the thread that drops each VM a second time. */
void drop_start (void);
void drop_stop (void);

/* VM (of directory HOST with several hosts, else HOST NULL) changed (see
 * host_on_vm_change): what the kernel holds of it is dropped now, and
 * again a moment later. */
void drop_vm (const char *host, const char *vm);

/* An operation through the mount changed what is under PATH: the VM it is
 * in (a path at the top, a clone's, names one) is dropped before the
 * reply, so that the caller's next look sees the change. */
void drop_touched (const char *path);

#endif /* VMSNAPFS_DROP_H */
