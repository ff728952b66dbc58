/* vmsnapfs: the kernel's inodes (fs/inodes.c): which node id the kernel
 * knows which path by, and how many lookups of it it holds.
 *
 * The kernel names files by node ids, the rest of fs/ by paths in a view
 * of the hosts.  Each node id stands for a name in a directory; the path
 * is built by walking up.  An id lives from the first reply that gives it
 * (a lookup, an entry of a listing, a mkdir or symlink) until the kernel
 * forgets every one of those replies.  A name removed or renamed over is
 * unhashed: its id stays until forgotten, with no path (its open files go
 * on, by their handles).
 */
#ifndef VMSNAPFS_INODES_H
#define VMSNAPFS_INODES_H

#include <stdint.h>
#include <sys/types.h>

/* The id of NAME in directory PARENT, whose files are of type TYPE
 * (S_IFMT bits), made if need be, with one more lookup counted.  A name
 * whose type changed (a link that became a clone's directory) gets a new
 * id.  With NAME NULL: an id of no name (for a reply that must not stay).
 * An id made here is born at BORN (a number the caller counts up: see
 * inodes_below). */
uint64_t inodes_lookup (uint64_t parent, const char *name, mode_t type,
                        uint64_t born);

/* The kernel forgot N lookups of ID. */
void inodes_forget (uint64_t id, uint64_t n);

/* ID's path ("/" for the root, "/a/b" below), malloc'd, or NULL when it
 * has none now (removed); with NAME, the path of NAME in directory ID. */
char *inodes_path (uint64_t id, const char *name);

/* NAME in PARENT was removed: no path finds its id any longer. */
void inodes_unhash (uint64_t parent, const char *name);

/* NAME in PARENT is now NEWNAME in NEWPARENT (what was there is
 * removed). */
void inodes_rename (uint64_t parent, const char *name, uint64_t newparent,
                    const char *newname);

/* The ids of NAME in the top directory, or in directory HOST of it, and
 * of everything under it the kernel holds, born before BORN_BEFORE: in
 * *IDS (malloc'd, or NULL when none), their number returned. */
size_t inodes_below (const char *host, const char *name, uint64_t born_before,
                     uint64_t **ids);

/* How many ids the table holds (for the tests), and all of them freed. */
size_t inodes_count (void);
void inodes_clear (void);

#endif /* VMSNAPFS_INODES_H */
