/* vmsnapfs: links made under a temporary name in a VM directory (ln -sfn),
 * kept in memory until renamed or removed. */
#ifndef VMSNAPFS_LINKS_H
#define VMSNAPFS_LINKS_H

/* Remember link NAME in the directory of the VM with UUID, to SNAPSHOT.
 * Returns 0 or -EEXIST. */
int temp_link_add (const char *uuid, const char *name, const char *snapshot);

/* The snapshot that link NAME points to (malloc'd), or NULL. */
char *temp_link_get (const char *uuid, const char *name);

/* Forget link NAME.  Returns 0 or -ENOENT. */
int temp_link_remove (const char *uuid, const char *name);

#endif /* VMSNAPFS_LINKS_H */
