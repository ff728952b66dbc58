/* vmsnapfs: the stat of host files, kept for a tenth of a second.
 *
 * A listing of a VM's snapshots shows each whole disk no wider than every
 * file of its chain, and the chains of one VM share their files: twenty
 * snapshots stat the base twenty times each.  A short memory makes that
 * one stat, and stays well inside the kernel's own attribute cache
 * (0.3 s), so a chmod on the host still shows within SPEC's second. */
#ifndef VMSNAPFS_STATCACHE_H
#define VMSNAPFS_STATCACHE_H

#include <sys/stat.h>

/* How long an answer is kept, in milliseconds. */
#define STATCACHE_MS 100

/* stat(2) of PATH into ST, or the answer of one made in the last
 * STATCACHE_MS.  Returns 0 or -errno (a failure is kept too). */
int stat_cached (const char *path, struct stat *st);

/* Forget every answer (unit tests). */
void stat_cache_clear (void);

#endif /* VMSNAPFS_STATCACHE_H */
