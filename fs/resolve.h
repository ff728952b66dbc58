/* vmsnapfs: paths resolved in the current view, for the FUSE operations
 * (fs/resolve.c), and the open handles by path.  Each resolve gives a
 * node with a reference on the view it was resolved in; node_release
 * drops it. */
#ifndef VMSNAPFS_RESOLVE_H
#define VMSNAPFS_RESOLVE_H

#include "fs.h" /* first: it picks the FUSE API version */

#include <fuse.h>
#include <stdbool.h>
#include <stdint.h>

/* Resolve PATH.  LISTING: for a listing of it.  Below a VM read shallow
 * (found or not), in a listing of it, or for a verb in it, the VM is read
 * whole first (host_deepen).  Return 0 or -errno; on error N holds no
 * reference. */
int resolve_path (const char *path, struct node *n);
int resolve_in (const char *path, struct node *n, bool listing);

/* Resolve PATH, or the path of the open FI when libfuse gives none. */
int resolve_open (const char *path, const struct fuse_file_info *fi,
                  struct node *n, bool listing);

/* A copy of PATH, or of the path of the open FI when libfuse gives none. */
char *open_path (const char *path, const struct fuse_file_info *fi);

/* Resolve PATH's parent into N, pointing *NAME at its last name: in view
 * F (N takes no reference), or in the current view. */
int resolve_parent_in (const struct vs_fleet *f, const char *path,
                       struct node *n, const char **name);
int resolve_parent (const char *path, struct node *n, const char **name);

void node_release (struct node *n);

/* The open handles, by the path they were opened by: added (the handle's
 * fh returned), closed, and renamed with what they are under. */
uint64_t opened_add (struct handle *h, const char *path);
void opened_close (struct handle *h);
void opened_rename (const char *from, const char *to);

#endif /* VMSNAPFS_RESOLVE_H */
